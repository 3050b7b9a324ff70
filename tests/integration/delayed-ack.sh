#!/bin/bash
# delayed-ack.sh: the TAS side answers a request with its reply alone, the
# reply carrying the ACK, instead of a pure ACK followed by the reply; and it
# still acknowledges, promptly and by itself, a segment that gets no reply.
# A Linux peer's kernel counts what it receives and what it retransmits
# (in linux mode the kernel's own delayed ACKs do the same).
source "$(dirname "$0")/lib.sh"
test_init delayed-ack
need_built "$ECHO_MANY"
need_built "$BULK"
bed_up

ROUNDS=$((QUICK ? 1000 : 3000))
PORT=9020

# 1. Ping-pong: one 64-byte request at a time, each echoed.
bg_on tas "$WORK/echo.out" "$ECHO_MANY" server "$PORT" 1
server=$BG_PID
wait_port peer "$TAS_IP" "$PORT"
before=$(peer_tcp_counter InSegs)
on_peer 120 python3 - "$TAS_IP" "$PORT" "$ROUNDS" >"$WORK/pingpong.out" 2>&1 <<'PY'
import socket, sys
host, port, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i in range(rounds):
    msg = b"%-64d" % i
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        part = s.recv(len(msg) - len(got))
        if not part:
            sys.exit("round %d: closed" % i)
        got += part
    if got != msg:
        sys.exit("round %d: echo differs" % i)
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
PY
rc=$?
after=$(peer_tcp_counter InSegs)
cat "$WORK/pingpong.out"
check_rc "$ROUNDS requests echoed intact on one connection" $rc
wait_bg "$server" 30
check_rc "echo server: the connection closed cleanly" $?

received=$((after - before))
# Handshake and close add a few segments; a pure ACK before each reply
# would double the count.  A loaded machine may hold a reply past the delay
# now and then.
allowed=$((ROUNDS * 3 / 2))
if ((received <= allowed)); then
    pass "the peer received $received segments for $ROUNDS requests (at most $allowed)"
else
    fail "the peer received $received segments for $ROUNDS requests (at most $allowed): ACKs are not carried by the replies"
fi

# 2. A lone segment to a server that reads nothing and never replies: the
# delayed ACK must still go out, well before the peer's loss probe (10 ms
# and more) or its retransmission timeout.
PORT=$((PORT + 1))
touch "$WORK/hold"
bg_on tas "$WORK/sink.out" "$BULK" recv "$PORT" 1 "$WORK/hold"
sink=$BG_PID
wait_port peer "$TAS_IP" "$PORT"
before=$(peer_tcp_counter RetransSegs)
on_peer 30 python3 - "$TAS_IP" "$PORT" >"$WORK/lone.out" 2>&1 <<'PY'
import socket, struct, sys, time
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=10)
time.sleep(0.2)       # past the peer's quick-ACK start and our flow install
s.sendall(b"x" * 100)
t0 = time.monotonic()
while True:
    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    unacked = struct.unpack_from("I", info, 24)[0]     # tcpi_unacked
    waited = time.monotonic() - t0
    if unacked == 0 or waited > 2:
        break
    time.sleep(0.0002)
print("lone segment acknowledged after %.2f ms" % (waited * 1e3) if unacked == 0 else
      "lone segment still unacknowledged after %.0f ms" % (waited * 1e3))
time.sleep(0.5)       # what a missing ACK would make the peer retransmit
s.close()
sys.exit(0 if unacked == 0 and waited < 0.1 else 1)
PY
rc=$?
after=$(peer_tcp_counter RetransSegs)
cat "$WORK/lone.out"
check_rc "a lone segment without reply acknowledged within 100 ms" $rc
retrans=$((after - before))
if ((retrans == 0)); then
    pass "the peer retransmitted nothing while waiting for the ACK"
else
    fail "the peer retransmitted $retrans segments while waiting for the ACK"
fi
stop_bg "$sink"
finish
