#!/bin/bash
# manyconn.sh: 10,000 concurrent connections from the Linux peer to one
# echo server on the TAS side (echo-many): all open at once, each echoes its
# own data intact, and all are closed cleanly on both ends.
source "$(dirname "$0")/lib.sh"
test_init manyconn
need_built "$ECHO_MANY"
CONNS=$((QUICK ? 2000 : 10000))
# Each end holds every connection open at once.  Ask for 65536 open files;
# without CAP_SYS_RESOURCE the hard limit is as far as we can go.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) >= CONNS + 64)) || fatal "open file limit $(ulimit -n) is below $((CONNS + 64))"
bed_up

bg_on tas "$WORK/server.out" "$ECHO_MANY" server 9000 "$CONNS"
server=$BG_PID
wait_port peer "$TAS_IP" 9000
t0=$SECONDS
on_peer 240 "$ECHO_MANY" client "$TAS_IP" 9000 "$CONNS" 256 >"$WORK/client.out" 2>&1
rc=$?
cat "$WORK/client.out"
check_rc "client: $CONNS connections established at once, echoed and closed ($((SECONDS - t0))s)" $rc
wait_bg "$server" 30
rc=$?
cat "$WORK/server.out"
check_rc "server: $CONNS connections closed cleanly, none failed" $rc
most=$(grep -o 'most open at once [0-9]*' "$WORK/server.out" | awk '{print $5}')
if ((${most:-0} >= CONNS)); then
    pass "server: $most connections open at once"
else
    fail "server: at most ${most:-?} connections open at once, expected $CONNS"
fi
finish
