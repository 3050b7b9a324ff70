#!/bin/bash
# slow-reader.sh: a receiver that stops reading shuts its window on a TAS
# sender for longer than the sender would wait on unanswered
# retransmissions (--max-retries 3 with a 50 ms minimum RTO: under a
# second).  Window probes the receiver answers must keep the connections
# alive, and once it reads again every flow must arrive intact.  With TAS on
# both ends (TAS_MODE=tas) the receiver drops the probe byte while its ring
# is full, so the sender must resend it as soon as the window opens.
source "$(dirname "$0")/lib.sh"
test_init slow-reader
need_built "$BULK"
bed_args=(--slowpath-args "--max-retries 3")
[[ $TAS_MODE == tas ]] && bed_args+=(--peer tas)
bed_up "${bed_args[@]}"

FLOWS=4
BYTES=$(((QUICK ? 4 : 16) << 20))
HOLD_SECS=6
PORT=7005

# The receiver reads nothing while $hold exists: created only after the
# port probe, which must be read to be closed.
hold=$WORK/hold
bg_on peer "$WORK/recv.log" "$BULK" recv "$PORT" "$FLOWS" "$hold"
receiver=$BG_PID
wait_port tas "$PEER_IP" "$PORT"
touch "$hold"
bg_on tas "$WORK/send.log" "$BULK" send "$PEER_IP" "$PORT" "$BYTES" "$FLOWS" "$RANDOM"
sender=$BG_PID
sleep "$HOLD_SECS"

if [[ $TAS_MODE == tas ]]; then
    # Most timeouts any flow has had: the window probes of the hold.
    probes=$($TASCTL --json flows | /usr/bin/python3 -c '
import json, sys
print(max((f.get("timeouts", 0) for f in json.load(sys.stdin)["flows"]), default=0))')
    if ((probes > 3)); then
        pass "window shut for ${HOLD_SECS}s: $probes probes on a flow, more than --max-retries 3"
    else
        fail "window shut for ${HOLD_SECS}s: only $probes probes on any flow (expected more than 3)"
    fi
fi
rm -f "$hold"

wait_bg "$sender" 60
send_rc=$?
wait_bg "$receiver" 60
recv_rc=$?
grep '^flow ' "$WORK/send.log" >"$WORK/send.sums"
grep '^flow ' "$WORK/recv.log" >"$WORK/recv.sums"
if ((send_rc != 0 || recv_rc != 0)); then
    fail "after a ${HOLD_SECS}s hold: sender exit status $send_rc, receiver $recv_rc"
elif [[ $(wc -l <"$WORK/send.sums") -ne $FLOWS ]] || ! cmp -s "$WORK/send.sums" "$WORK/recv.sums"; then
    diff "$WORK/send.sums" "$WORK/recv.sums" | head -n 10
    fail "after a ${HOLD_SECS}s hold: per-flow sha256 differ"
else
    pass "after a ${HOLD_SECS}s hold: $BYTES bytes in $FLOWS flows, every flow's sha256 equal"
fi
finish
