#!/bin/bash
# tasctl.sh: tasctl reaches a test bed's slow path through the TASCTL= line
# of `tas-testbed up`, reports the fast path, an application and its flows
# (human and --json), and gives scripts the exit codes it promises.
source "$(dirname "$0")/../integration/lib.sh"
test_init ops-tasctl
[[ $TAS_MODE == tas ]] || skip "tasctl needs TAS on the bed"
need_tool iperf3 python3
bed_up
[[ -n ${TASCTL:-} ]] || fatal "tas-testbed up printed no TASCTL= line"
read -ra CTL <<<"$TASCTL"

# json_get FILE EXPR: a Python expression over the parsed reply r.
json_get() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

"${CTL[@]}" wait --timeout 10
check_rc "tasctl wait: the fast path is attached" $?

"${CTL[@]}" --json status >"$WORK/status.json"
check_rc "tasctl --json status" $?
got=$(json_get "$WORK/status.json" 'r["address"], r["fastpath"]["attached"], len(r["fastpath"]["cores"])')
if [[ $got == "('$TAS_IP/24', True, 1)" ]]; then
    pass "status: address, attached fast path with one core ($got)"
else
    fail "status: got $got"
fi

bg_on tas "$WORK/iperf-server.log" iperf3 -s -1 --forceflush
server=$BG_PID
wait_log "$WORK/iperf-server.log" "Server listening"
bg_on peer "$WORK/iperf-client.log" iperf3 -c "$TAS_IP" -t 3
client=$BG_PID
sleep 1.5
app_pid=$(pgrep -P "$server" -x iperf3 || echo "$server")
"${CTL[@]}" --json apps >"$WORK/apps.json"
"${CTL[@]}" --json flows --app "$app_pid" >"$WORK/flows.json"
"${CTL[@]}" --json flows --app 1 >"$WORK/flows-none.json"
"${CTL[@]}" status >"$WORK/status.txt"
"${CTL[@]}" flows >"$WORK/flows.txt"
"${CTL[@]}" apps >"$WORK/apps.txt"
"${CTL[@]}" stats >"$WORK/stats.txt"
check_rc "human output of status, flows, apps, stats" $?
cat "$WORK/status.txt" "$WORK/flows.txt"

got=$(json_get "$WORK/apps.json" '[a["pid"] for a in r["apps"]]')
[[ $got == "[$app_pid]" ]] && pass "apps: iperf3 (pid $app_pid) is the one application" ||
    fail "apps: pids $got, expected [$app_pid]"
got=$(json_get "$WORK/flows.json" 'sorted(set((f["state"], f["remote"].split(":")[0]) for f in r["flows"]))')
[[ $got == "[('ESTABLISHED', '$PEER_IP')]" ]] && pass "flows --app: established flows from $PEER_IP" ||
    fail "flows --app $app_pid: $got"
got=$(json_get "$WORK/flows.json" 'max(f.get("rx_bytes", 0) for f in r["flows"]) > 0 and all("rtt_us" in f for f in r["flows"])')
[[ $got == True ]] && pass "flows: bytes and RTT reported" || fail "flows: no bytes or RTT"
got=$(json_get "$WORK/flows-none.json" 'len(r["flows"])')
[[ $got == 0 ]] && pass "flows --app of another pid: none" || fail "flows --app 1: $got flows"
grep -q "ESTABLISHED" "$WORK/flows.txt" && grep -q "core 0" "$WORK/status.txt" &&
    grep -q "cycles/packet" "$WORK/stats.txt" && pass "human tables carry the same facts" ||
    fail "human output incomplete"
wait_bg "$client" 20
check_rc "iperf3 transfer while tasctl looked" $?
wait_bg "$server" 10

"${CTL[@]}" --json status >"$WORK/status-after.json"
got=$(json_get "$WORK/status-after.json" 'r["apps"], r["memory"]["app_buffer_bytes"], r["counters"]["rx_packets"] > 0')
[[ $got == "(0, 0, True)" ]] && pass "after iperf3 exited: no app, no buffers, packets counted" ||
    fail "after iperf3 exited: apps, buffers, counted = $got"

# Exit codes scripts rely on.
"${CTL[0]}" --run-dir "$WORK/nothing-here" status 2>/dev/null
rc=$?; ((rc == 3)) && pass "no daemon: exit 3" || fail "no daemon: exit $rc"
setpriv --reuid=65534 --regid=65534 --clear-groups "${CTL[@]}" status 2>/dev/null
rc=$?; ((rc == 4)) && pass "unprivileged user: exit 4" || fail "unprivileged user: exit $rc"
"${CTL[@]}" frobnicate 2>/dev/null
rc=$?; ((rc == 2)) && pass "unknown command: exit 2" || fail "unknown command: exit $rc"
"${CTL[0]}" --run-dir "$WORK/nothing-here" wait --timeout 0.3 2>/dev/null
rc=$?; ((rc == 5)) && pass "wait without a service: exit 5" || fail "wait without a service: exit $rc"
finish
