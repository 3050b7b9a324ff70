#!/bin/bash
# hostile-stateful.sh: acceptance 4 of issue 4, the stateful classes.
# While iperf3 runs from the peer to a server under tas-run (reverse mode,
# so TAS sends and its rcv_nxt stays put for the generator to aim at) and a
# second connection sits with its receive window closed (bulk recv holding
# its reads), hostile_stateful.py in the peer namespace forges segments
# from the connections' sequence numbers: data far outside the window, ACKs
# of unsent data and from the far past, blind in-window RST, SYN and data,
# an RST outside the window, repeated options and zero-window probes.  Each
# class is dropped and counted under its reason, answered with the
# rate-limited challenge ACK or window-0 ACK the RFCs ask for (seen by a
# sniffer on the peer), and resets nothing; then both transfers complete
# intact and the fast path never restarted.
source "$(dirname "$0")/../integration/lib.sh"
test_init ops-hostile-stateful
[[ $TAS_MODE == tas ]] || skip "drop counters need TAS on the bed"
SCAPY=/usr/bin/python3
$SCAPY -c 'import scapy' 2>/dev/null || skip "python3-scapy is not installed"
need_tool iperf3
need_built "$BULK"
GEN=$(dirname "$0")/hostile_stateful.py
COUNT=100
PROBE_PORT=5301
bed_up
[[ -n $TASCTL ]] || fatal "the bed has no tasctl"
read -ra CTL <<<"$TASCTL"
fp_pid=$(cat "$TAS_RUN_DIR/fastpath.pid")
mac=$("${CTL[@]}" --json status | $SCAPY -c 'import json,sys; print(json.load(sys.stdin)["fastpath"]["mac"])')

# the connection whose window closes: bulk recv reads nothing while $hold exists
hold=$WORK/hold
touch "$hold"
bg_on tas "$WORK/bulk-recv.out" "$BULK" recv "$PROBE_PORT" 1 "$hold"
recv_pid=$BG_PID
wait_port peer "$TAS_IP" "$PROBE_PORT"
bg_on peer "$WORK/bulk-send.out" "$BULK" send "$TAS_IP" "$PROBE_PORT" 4000000 1 "$RANDOM"
send_pid=$BG_PID

bg_on tas "$WORK/iperf-server.log" iperf3 -s -1 --forceflush -J
server=$BG_PID
sleep 1
bg_on peer "$WORK/iperf-client.log" iperf3 -c "$TAS_IP" -R -b 500K -l 1K -t 45 -J
client=$BG_PID
sleep 2

ip netns exec "$PEER_NS" $SCAPY "$GEN" "$PEER_DEV" "$TAS_IP" "$mac" "$COUNT" "$TASCTL" 5201 \
    "$PROBE_PORT" >"$WORK/generator.out" 2>&1
gen_rc=$?
while read -r verdict what; do
    case $verdict in
    PASS:) pass "$what" ;;
    FAIL:) fail "$what" ;;
    *) echo "$verdict $what" ;;
    esac
done <"$WORK/generator.out"
check_rc "hostile_stateful.py" "$gen_rc"

rm -f "$hold"
wait_bg "$send_pid" 60
check_rc "bulk sender finished after the probes" $?
wait_bg "$recv_pid" 30
check_rc "bulk receiver finished" $?
if cmp -s "$WORK/bulk-send.out" "$WORK/bulk-recv.out"; then
    pass "the probed connection's data arrived intact: $(cat "$WORK/bulk-recv.out")"
else
    fail "the probed connection's data differ: sent $(cat "$WORK/bulk-send.out"), got $(cat "$WORK/bulk-recv.out")"
fi
wait_bg "$client" 90
check_rc "iperf3 client finished" $?
wait_bg "$server" 10
iperf_check "iperf3 transfer (TAS to peer) during the hostile segments" "$WORK/iperf-client.log" 1
[[ $(cat "$TAS_RUN_DIR/fastpath.pid") == "$fp_pid" ]] && kill -0 "$fp_pid" 2>/dev/null &&
    pass "the fast path never restarted (pid $fp_pid)" || fail "the fast path restarted or died"
finish
