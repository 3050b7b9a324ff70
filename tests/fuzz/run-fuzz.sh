#!/bin/bash
# run-fuzz.sh FUZZER SEEDS: run a libFuzzer target for a bounded time on a
# scratch copy of its seed corpus; 20 s, or 600 s with OPS_NIGHTLY=1
# (FUZZ_SECONDS overrides both).  A finding fails the test and is kept in
# the work directory, whose path is printed.
set -uo pipefail
fuzzer=$1 seeds=$2
secs=${FUZZ_SECONDS:-$(( ${OPS_NIGHTLY:-0} == 1 ? 600 : 20 ))}
work=$(mktemp -d "/tmp/tas-fuzz-$(basename "$fuzzer").XXXXXX")
mkdir "$work/corpus"
[[ -d $seeds ]] && cp "$seeds"/* "$work/corpus/" 2>/dev/null
cd "$work" || exit 1
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/" "$work/corpus" >"$work/fuzz.log" 2>&1
rc=$?
tail -n 15 "$work/fuzz.log"
if ((rc == 0)); then
    echo "PASS: $(basename "$fuzzer"): no finding in ${secs}s"
    rm -rf "$work"
else
    echo "FAIL: $(basename "$fuzzer") exit $rc; log and reproducer in $work"
fi
exit $rc
