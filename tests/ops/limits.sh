#!/bin/bash
# limits.sh: per-application limits give clear errors.  A slow path of its
# own (no fast path, no network: registration needs neither) runs with
# --max-apps 2; `toomany` holds two connections and checks that a third
# application's REGISTER is answered with EUSERS, not a closed socket, and
# that a program under tas-run then says why it was refused.
set -u
BUILD=${TAS_BUILD:?TAS_BUILD names the build directory}
SLOWPATH=$BUILD/slowpath/tas-slowpath
TOOMANY=$BUILD/tests/ops/toomany
TAS_RUN=$BUILD/tools/tas/tas-run
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root (run directory, mlock)"; exit 77; }
WORK=$(mktemp -d /tmp/tas-ops-limits.XXXXXX)
FAILS=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
cleanup() {
    [[ -n ${SP_PID:-} ]] && kill "$SP_PID" 2>/dev/null && wait "$SP_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

"$SLOWPATH" --foreground --run-dir "$WORK" --ip 10.231.157.1/24 --max-apps 2 \
    --log "$WORK/slowpath.log" >"$WORK/slowpath.out" 2>&1 &
SP_PID=$!
for _ in $(seq 50); do [[ -S $WORK/sp.sock ]] && break; sleep 0.1; done
[[ -S $WORK/sp.sock ]] || { echo "FAIL: no sp.sock: $(cat "$WORK/slowpath.out")"; exit 1; }

out=$(timeout 10 "$TOOMANY" "$WORK" 2)
[[ $? == 0 ]] && pass "$out" || fail "third application: $out"

out=$(TAS_RUN_DIR=$WORK timeout 10 "$TOOMANY" "$WORK" 2 \
    "$TAS_RUN" bash -c 'exec 3<>/dev/tcp/10.231.157.2/9' 2>&1)
if grep -q "refused this program.*max-apps" <<<"$out"; then
    pass "libtas explains the refusal: $(grep -m1 'refused this program' <<<"$out")"
else
    fail "libtas under a full table said: $out"
fi
grep -q "too many applications (--max-apps 2)" "$WORK/slowpath.log" "$WORK/slowpath.out" &&
    pass "the slow path logs the refusal" || fail "no refusal in the slow path's log"
kill -0 "$SP_PID" && pass "the slow path keeps running" || fail "the slow path exited"
(( FAILS == 0 )) && echo "RESULT: ops-limits: PASS" || echo "RESULT: ops-limits: FAIL ($FAILS)"
exit $((FAILS > 0))
