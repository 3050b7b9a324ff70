#!/bin/bash
# interop-tas.sh: TAS talking to TAS (--peer tas): iperf3 and sha256-checked
# bulk transfers with 100 flows in both directions.  There is nothing of TAS
# to test in linux mode, so it is skipped there.
source "$(dirname "$0")/lib.sh"
test_init interop-tas
[[ $TAS_MODE == tas ]] || skip "TAS <-> TAS needs TAS_MODE=tas"
need_tool iperf3
need_built "$BULK"
bed_up --peer tas

FLOWS=100
SECS=$((QUICK ? 2 : 5))
BYTES=$(((QUICK ? 32 : 256) << 20))

bg_on tas "$WORK/iperf3-server.log" iperf3 -s -p 5201 --forceflush
server=$BG_PID
wait_log "$WORK/iperf3-server.log" "Server listening on 5201"
on_peer 60 iperf3 -c "$TAS_IP" -p 5201 -P "$FLOWS" -t "$SECS" -J >"$WORK/iperf3.json"
iperf_check "iperf3 TAS peer -> TAS, $FLOWS flows" "$WORK/iperf3.json" "$FLOWS"
on_peer 60 iperf3 -c "$TAS_IP" -p 5201 -P "$FLOWS" -t "$SECS" -R -J >"$WORK/iperf3-reverse.json"
iperf_check "iperf3 TAS -> TAS peer (-R), $FLOWS flows" "$WORK/iperf3-reverse.json" "$FLOWS"
stop_bg "$server"

bulk_transfer peer tas "$BYTES" "$FLOWS" 7001 "bulk TAS peer -> TAS"
bulk_transfer tas peer "$BYTES" "$FLOWS" 7002 "bulk TAS -> TAS peer"
finish
