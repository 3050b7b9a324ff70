# lib.sh: helpers shared by the integration tests (sourced, not run).
#
# A test calls test_init NAME, bed_up [tas-testbed up options], then runs
# programs with on_tas/on_peer (foreground, bounded) or bg_on (background), checks
# results with pass/fail/check_same, and ends with finish.  The EXIT trap
# stops background programs, prints log tails if anything failed and takes
# the bed down, whatever happened.
#
# Environment: TAS_MODE (tas|linux, default tas), TAS_BUILD (build dir,
# default REPO/build), TESTBED (tas-testbed, default the source-tree copy),
# QUICK=1 for shorter runs.

set -uo pipefail

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LIB_DIR/../.." && pwd)
TAS_MODE=${TAS_MODE:-tas}
TAS_BUILD=$(realpath -m "${TAS_BUILD:-$REPO_DIR/build}")
TESTBED=${TESTBED:-$REPO_DIR/tools/testbed/tas-testbed}
QUICK=${QUICK:-0}
[[ $QUICK == 1 ]] || QUICK=0
BULK=$TAS_BUILD/tests/integration/bulk
ECHO_MANY=$TAS_BUILD/tests/integration/echo-many

# Debian's interpreter for the JSON checks: they need nothing but its
# standard library, and a version manager's shim first in PATH (pyenv)
# costs about half a second a start on a loaded machine.
if [[ -x /usr/bin/python3 ]]; then
    python3() { /usr/bin/python3 "$@"; }
fi

PASSES=0
FAILS=0
BG_PIDS=()
BED=""
BED_IS_UP=0
WORK=""
TEST_NAME=""

pass() { echo "PASS: $*"; PASSES=$((PASSES + 1)); }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
# fatal: a failure after which the test cannot go on.
fatal() { fail "$*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
note() { echo "---- $*"; }

# test_init NAME: checks, a work dir, a unique bed name and the EXIT trap.
test_init() {
    TEST_NAME=$1
    ((EUID == 0)) || skip "$TEST_NAME needs root (network namespaces)"
    [[ $TAS_MODE =~ ^(tas|linux)$ ]] || { echo "FAIL: TAS_MODE must be tas or linux"; exit 1; }
    [[ -x $TESTBED ]] || { echo "FAIL: no test bed script at $TESTBED"; exit 1; }
    WORK=$(mktemp -d "/tmp/tas-it-$TEST_NAME.XXXXXX")
    chmod 755 "$WORK"   # servers that drop privileges read files here
    BED=it$((RANDOM % 100))-$$
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    note "$TEST_NAME: mode $TAS_MODE, bed $BED, work dir $WORK$( ((QUICK)) && echo ', QUICK')"
}

# need_tool BIN...: skip the test when a program it drives is not installed.
need_tool() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || skip "$t is not installed"
    done
}

# need_built FILE...: the test helpers built by meson.
need_built() {
    local f
    for f in "$@"; do
        [[ -x $f ]] || { echo "FAIL: $f is not built (ninja -C $TAS_BUILD, or set TAS_BUILD)"; exit 1; }
    done
}

# bed_up [OPTIONS]: bring the bed up and load its KEY=VALUE description.
bed_up() {
    if ! "$TESTBED" up "$BED" --mode "$TAS_MODE" --build "$TAS_BUILD" "$@" >"$WORK/bed.env" 2>"$WORK/bed-up.err"; then
        fatal "tas-testbed up $BED $*"
    fi
    BED_IS_UP=1
    # shellcheck source=/dev/null
    source "$WORK/bed.env"
    read -ra TAS_X <<<"$TAS_EXEC"
    read -ra PEER_X <<<"$PEER_EXEC"
    note "bed up: TAS $TAS_IP in $TAS_NS, peer $PEER_IP in $PEER_NS"
}

# on_tas SECS CMD... / on_peer SECS CMD...: run CMD on that side (under
# tas-run where that side is TAS), killed after SECS.  on SIDE SECS CMD...
# does the same with the side as argument.  The timeout is outside the
# namespace prefix, so only CMD itself runs under tas-run.
on() {
    local side=$1 secs=$2
    shift 2
    local -n prefix=${side^^}_X
    timeout -k 5 "$secs" "${prefix[@]}" "$@"
}
on_tas() { on tas "$@"; }
on_peer() { on peer "$@"; }
ip_of() { if [[ $1 == tas ]]; then echo "$TAS_IP"; else echo "$PEER_IP"; fi; }

# peer_tcp_counter NAME: the peer namespace's TCP counter NAME from
# /proc/net/snmp (RetransSegs, InSegs, ...): what a Linux peer's kernel saw.
peer_tcp_counter() {
    on_peer 5 awk -v name="$1" '/^Tcp:/ { if (!n++) { for (i = 1; i <= NF; i++) col[$i] = i } else print $col[name] }' \
        /proc/net/snmp
}

# bg_on SIDE LOG CMD...: start CMD in the background; its pid is in BG_PID.
bg_on() {
    local side=$1 logfile=$2
    shift 2
    local -n prefix=${side^^}_X
    # Emptied here, not only by the child's redirection: a wait_log right
    # after must not find the previous run's lines in a reused log.
    : >"$logfile"
    "${prefix[@]}" "$@" </dev/null >"$logfile" 2>&1 &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# bg_forget PID: a reaped background program leaves BG_PIDS, so that the
# clean-up of a long test never signals a pid the system has reused.
bg_forget() {
    local keep=() p
    for p in "${BG_PIDS[@]}"; do
        [[ $p == "$1" ]] || keep+=("$p")
    done
    BG_PIDS=("${keep[@]}")
}

# wait_bg PID SECS: wait for a background program; its exit status, or 124
# (and it is killed) when it runs past SECS.
wait_bg() {
    local pid=$1 secs=$2 i rc
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        bg_forget "$pid"
        return 124
    fi
    wait "$pid"
    rc=$?
    bg_forget "$pid"
    return $rc
}

# stop_bg PID: stop a background server and reap it.
stop_bg() {
    kill -TERM "$1" 2>/dev/null || true
    wait_bg "$1" 10 >/dev/null 2>&1 || true
}

# wait_port SIDE IP PORT [SECS]: wait until a TCP connection from SIDE to
# IP:PORT succeeds (the probe connects and closes without sending).
wait_port() {
    local side=$1 ip=$2 port=$3 secs=${4:-20} i
    for ((i = 0; i < secs * 5; i++)); do
        if on "$side" 2 bash -c "exec 3<>/dev/tcp/$ip/$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    fatal "nothing listens on $ip:$port (seen from the $side side) after ${secs}s"
}

# wait_log FILE PATTERN [SECS]: wait until a server's log shows PATTERN, for
# servers that a probe connection would disturb (iperf3 takes one as a test).
wait_log() {
    local file=$1 pattern=$2 secs=${3:-20} i
    for ((i = 0; i < secs * 20; i++)); do
        grep -q -- "$pattern" "$file" 2>/dev/null && return 0
        sleep 0.05
    done
    fatal "'$pattern' did not appear in $file after ${secs}s"
}

# fp_telemetry CMD: the value of one command on the TAS side's fast-path
# telemetry socket (TAS_TELEMETRY from the bed), as JSON on stdout.
fp_telemetry() {
    python3 - "$TAS_TELEMETRY" "$1" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(5)
s.connect(sys.argv[1])
hello = json.loads(s.recv(65536))
s.send(sys.argv[2].encode())
json.dump(json.loads(s.recv(hello["max_output_len"]))[sys.argv[2]], sys.stdout)
PY
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# check_same LABEL EXPECTED_FILE ACTUAL_FILE: sha256 of both must match.
check_same() {
    local want got
    want=$(sha_of "$2")
    got=$(sha_of "$3" 2>/dev/null || echo missing)
    if [[ $want == "$got" ]]; then
        pass "$1 (sha256 $want, $(stat -c %s "$3") bytes)"
    else
        fail "$1: sha256 $got, expected $want"
    fi
}

# check_rc LABEL RC: an exit status that must be 0.
check_rc() {
    if (($2 == 0)); then pass "$1"; else fail "$1 (exit status $2)"; fi
}

# bulk_transfer FROM TO BYTES FLOWS PORT LABEL: `bulk send` on side FROM to
# `bulk recv` on side TO; both sides' per-flow sha256 must agree.
bulk_transfer() {
    local from=$1 to=$2 bytes=$3 flows=$4 port=$5 label=$6
    local out=$WORK/bulk-$from-$to-$port t0 rc recv_pid
    t0=$SECONDS
    bg_on "$to" "$out.recv" "$BULK" recv "$port" "$flows"
    recv_pid=$BG_PID
    wait_port "$from" "$(ip_of "$to")" "$port"
    on "$from" 240 "$BULK" send "$(ip_of "$to")" "$port" "$bytes" "$flows" "$RANDOM" \
        >"$out.send" 2>"$out.send.err"
    rc=$?
    if ((rc != 0)); then
        cat "$out.send.err"
        stop_bg "$recv_pid"
        fail "$label: sender exit status $rc"
        return
    fi
    wait_bg "$recv_pid" 60
    rc=$?
    if ((rc != 0)); then
        cat "$out.recv"
        fail "$label: receiver exit status $rc"
        return
    fi
    if [[ $(wc -l <"$out.send") -ne $flows ]]; then
        fail "$label: sender reported $(wc -l <"$out.send") of $flows flows"
    elif ! cmp -s "$out.send" "$out.recv"; then
        diff "$out.send" "$out.recv" | head -n 10
        fail "$label: per-flow sha256 differ"
    else
        pass "$label: $bytes bytes in $flows flows, every flow's sha256 equal ($((SECONDS - t0))s)"
    fi
}

# iperf_check LABEL JSON_FILE STREAMS: iperf3 -J output of a completed test
# with STREAMS streams connected, data sent and received and no error.
iperf_check() {
    local verdict
    verdict=$(python3 - "$2" "$3" <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except ValueError as e:
    print("no JSON result (%s)" % e); sys.exit()
if "error" in r:
    print("iperf3 error: " + r["error"]); sys.exit()
end = r.get("end", {})
sent = end.get("sum_sent", {}).get("bytes", 0)
recv = end.get("sum_received", {}).get("bytes", 0)
streams = len(r.get("start", {}).get("connected", []))
if streams != int(sys.argv[2]):
    print("%d streams connected, expected %s" % (streams, sys.argv[2])); sys.exit()
if sent == 0 or recv == 0:
    print("sent %d received %d bytes" % (sent, recv)); sys.exit()
print("ok %d streams, %d bytes received, %.0f Mbit/s"
      % (streams, recv, end["sum_received"]["bits_per_second"] / 1e6))
EOF
)
    if [[ $verdict == ok* ]]; then pass "$1: ${verdict#ok }"; else fail "$1: $verdict"; fi
}

# curl_check SIDE URL_BASE DIR FILE...: GET each FILE from URL_BASE with curl
# on SIDE; each must arrive equal (sha256) to DIR/FILE.
curl_check() {
    local side=$1 base=$2 dir=$3 f rc
    shift 3
    for f in "$@"; do
        on "$side" 60 curl -sS --fail -o "$WORK/got-$f" "$base/$f"
        rc=$?
        if ((rc == 0)); then
            check_same "curl GET /$f" "$dir/$f" "$WORK/got-$f"
        else
            fail "curl GET /$f: exit status $rc"
        fi
    done
}

# wrk_check SIDE URL SECS: wrk -t2 -c100 for SECS on SIDE; no socket error,
# no non-2xx reply, some requests completed.
wrk_check() {
    local side=$1 url=$2 secs=$3 rc
    note "wrk -t2 -c100 -d${secs}s"
    on "$side" $((secs + 30)) wrk -t2 -c100 -d"${secs}s" --timeout 5s "$url" \
        >"$WORK/wrk.out" 2>&1
    rc=$?
    cat "$WORK/wrk.out"
    if ((rc != 0)); then
        fail "wrk: exit status $rc"
    elif grep -Eq 'Socket errors|Non-2xx' "$WORK/wrk.out"; then
        fail "wrk: $(grep -E 'Socket errors|Non-2xx' "$WORK/wrk.out" | xargs)"
    elif ! grep -Eq 'Requests/sec: +[1-9]' "$WORK/wrk.out"; then
        fail "wrk: no requests completed"
    else
        pass "wrk -c100: $(grep -E 'requests in' "$WORK/wrk.out" | xargs), no socket errors"
    fi
}

# dump_logs: tails of every log of this test and of the bed.
dump_logs() {
    local f
    for f in "$WORK"/*.log "$WORK"/*.err "$WORK"/*.out ${LOG_DIR:+"$LOG_DIR"/*}; do
        [[ -s $f ]] || continue
        echo "----- $f (last 20 lines) -----"
        tail -n 20 "$f"
    done
}

cleanup() {
    local rc=$? pid
    trap - EXIT
    for pid in "${BG_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    if ((rc != 0 && rc != 77 || FAILS > 0)); then
        dump_logs
    fi
    if ((BED_IS_UP)); then
        "$TESTBED" down "$BED" >/dev/null 2>&1 || echo "FAIL: tas-testbed down $BED"
    fi
    wait 2>/dev/null
    if ((rc == 77)); then
        rm -rf "$WORK"
        echo "RESULT: $TEST_NAME ($TAS_MODE): SKIP"
    elif ((rc != 0 || FAILS > 0)); then
        echo "RESULT: $TEST_NAME ($TAS_MODE): FAIL ($PASSES passed, $FAILS failed; work dir $WORK kept)"
        ((rc == 0)) && rc=1
    else
        rm -rf "$WORK"
        echo "RESULT: $TEST_NAME ($TAS_MODE): PASS ($PASSES checks)"
    fi
    exit "$rc"
}

# finish: end the test; it passes only with no failure and at least a check.
finish() {
    ((PASSES > 0)) || fatal "no check ran"
    ((FAILS == 0)) || exit 1
    exit 0
}
