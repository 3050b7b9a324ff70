#!/bin/bash
# servers-sockperf.sh: unmodified sockperf server on the TAS side, the Linux
# sockperf client in the peer namespace, in ping-pong mode (latency; sockperf
# checks sequence numbers: no drop, duplicate or reordering allowed) and in
# throughput mode.
source "$(dirname "$0")/lib.sh"
test_init sockperf
need_tool sockperf
bed_up

SECS=$((QUICK ? 2 : 5))
bg_on tas "$WORK/sockperf-server.log" sockperf server --tcp -i 0.0.0.0 -p 11111
server=$BG_PID
wait_port peer "$TAS_IP" 11111

note "sockperf ping-pong, 64 byte messages, ${SECS}s"
on_peer $((SECS + 30)) sockperf ping-pong --tcp -i "$TAS_IP" -p 11111 -t "$SECS" -m 64 \
    >"$WORK/pingpong.out" 2>&1
rc=$?
received=$(grep -F '[Valid Duration]' "$WORK/pingpong.out" | grep -o 'ReceivedMessages=[0-9]*' | cut -d= -f2)
if ((rc != 0)); then
    fail "sockperf ping-pong: exit status $rc"
elif ((${received:-0} == 0)); then
    fail "sockperf ping-pong: no message came back"
elif ! grep -q '# dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0' \
    "$WORK/pingpong.out"; then
    fail "sockperf ping-pong: $(grep 'dropped messages' "$WORK/pingpong.out")"
else
    pass "sockperf ping-pong: $received round trips, $(grep -o 'Latency is [0-9.]* usec' "$WORK/pingpong.out")"
fi

note "sockperf throughput, 1400 byte messages, ${SECS}s"
on_peer $((SECS + 30)) sockperf throughput --tcp -i "$TAS_IP" -p 11111 -t "$SECS" -m 1400 \
    >"$WORK/throughput.out" 2>&1
rc=$?
rate=$(grep -o 'Message Rate is [0-9]*' "$WORK/throughput.out" | awk '{print $4}')
if ((rc != 0)); then
    fail "sockperf throughput: exit status $rc"
elif ((${rate:-0} == 0)); then
    fail "sockperf throughput: no message rate reported"
else
    pass "sockperf throughput: $rate msg/s, $(grep -o 'BandWidth is [0-9.]* MBps' "$WORK/throughput.out")"
fi
# The server must have survived both clients.
if kill -0 "$server" 2>/dev/null; then pass "sockperf server still running"; else fail "sockperf server exited"; fi
finish
