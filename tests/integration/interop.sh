#!/bin/bash
# interop.sh: bulk data between the TAS side and a Linux peer, both ways.
# Unmodified iperf3 on the TAS side (server, then client) with 100 parallel
# flows, then `bulk` with 100 flows whose every byte is checked by sha256.
source "$(dirname "$0")/lib.sh"
test_init interop
need_tool iperf3
need_built "$BULK"
bed_up

FLOWS=100
SECS=$((QUICK ? 2 : 5))
BYTES=$(((QUICK ? 32 : 256) << 20))

note "iperf3 -s on the TAS side, iperf3 -c -P $FLOWS from the peer"
bg_on tas "$WORK/iperf3-server-tas.log" iperf3 -s -p 5201 --forceflush
server=$BG_PID
wait_log "$WORK/iperf3-server-tas.log" "Server listening on 5201"
on_peer 60 iperf3 -c "$TAS_IP" -p 5201 -P "$FLOWS" -t "$SECS" -J >"$WORK/iperf3-peer-to-tas.json"
iperf_check "iperf3 peer -> TAS, $FLOWS flows" "$WORK/iperf3-peer-to-tas.json" "$FLOWS"
stop_bg "$server"

note "iperf3 -s on the peer, iperf3 -c -P $FLOWS on the TAS side"
bg_on peer "$WORK/iperf3-server-peer.log" iperf3 -s -p 5202 --forceflush
server=$BG_PID
wait_log "$WORK/iperf3-server-peer.log" "Server listening on 5202"
on_tas 60 iperf3 -c "$PEER_IP" -p 5202 -P "$FLOWS" -t "$SECS" -J >"$WORK/iperf3-tas-to-peer.json"
iperf_check "iperf3 TAS -> peer, $FLOWS flows" "$WORK/iperf3-tas-to-peer.json" "$FLOWS"
stop_bg "$server"

note "bulk, sha256 per flow"
bulk_transfer peer tas "$BYTES" "$FLOWS" 7001 "bulk peer -> TAS"
bulk_transfer tas peer "$BYTES" "$FLOWS" 7002 "bulk TAS -> peer"
finish
