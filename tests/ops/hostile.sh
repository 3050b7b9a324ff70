#!/bin/bash
# hostile.sh: acceptance 4 of issue 4 (stateless classes).  While iperf3
# sends from the peer to a server under tas-run, scapy in the peer namespace
# sends each malformed class of hostile.py: every class is dropped by the
# fast path and counted under a drop reason, the transfer completes, and
# the fast path never restarts.
source "$(dirname "$0")/../integration/lib.sh"
test_init ops-hostile
[[ $TAS_MODE == tas ]] || skip "drop counters need TAS on the bed"
SCAPY=/usr/bin/python3
$SCAPY -c 'import scapy' 2>/dev/null || skip "python3-scapy is not installed"
need_tool iperf3
HOSTILE=$(dirname "$0")/hostile.py
COUNT=200
bed_up
read -ra CTL <<<"$TASCTL"
fp_pid=$(cat "$TAS_RUN_DIR/fastpath.pid")
mac=$("${CTL[@]}" --json status | $SCAPY -c 'import json,sys; print(json.load(sys.stdin)["fastpath"]["mac"])')

drops() { "${CTL[@]}" --json status | $SCAPY -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["counters"]["drops"]))'; }

bg_on tas "$WORK/iperf-server.log" iperf3 -s -1 --forceflush -J
server=$BG_PID
sleep 1
bg_on peer "$WORK/iperf-client.log" iperf3 -c "$TAS_IP" -t 8 -J
client=$BG_PID
sleep 1
for class in $($SCAPY "$HOSTILE" --list); do
    before=$(drops)
    ip netns exec "$PEER_NS" $SCAPY "$HOSTILE" "$PEER_DEV" "$PEER_IP" "$TAS_IP" "$mac" 5201 \
        "$COUNT" "$class" || fail "$class: scapy failed"
    sleep 0.3
    after=$(drops)
    verdict=$($SCAPY -c '
import json, sys
b, a, n = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
grew = {k: a[k] - b[k] for k in a if a[k] - b[k] >= n}
print(",".join("%s+%d" % kv for kv in grew.items()) or "none")' "$before" "$after" "$COUNT")
    if [[ $verdict != none ]]; then
        pass "$class x$COUNT: dropped, counted as $verdict"
    else
        fail "$class x$COUNT: no drop reason grew by $COUNT ($before -> $after)"
    fi
done
wait_bg "$client" 30
check_rc "iperf3 client finished" $?
wait_bg "$server" 10
iperf_check "iperf3 transfer during the hostile frames" "$WORK/iperf-client.log" 1
[[ $(cat "$TAS_RUN_DIR/fastpath.pid") == "$fp_pid" ]] && kill -0 "$fp_pid" 2>/dev/null &&
    pass "the fast path never restarted (pid $fp_pid)" || fail "the fast path restarted or died"
finish
