#!/bin/bash
# synflood.sh: acceptance 5 of issue 4.  hping3 floods redis-server (under
# tas-run) with SYNs from a second address of the peer, port after port, for SECS seconds
# (30, as the acceptance asks; SYNFLOOD_SECS overrides) while redis-benchmark drives it from
# the peer and redis-cli opens a new connection for PING after PING.  The
# flood fills the listener's half-open queue, so the slow path answers with
# SYN cookies: every PING succeeds, redis-benchmark reports no error, the
# status counts cookies sent and accepted, and both daemons keep their pids.
# hping3 runs with --flood, as fast as the machine lets it (about 200,000
# SYNs/s on the 2-core VM while the rest of the test shares the cores).
source "$(dirname "$0")/../integration/lib.sh"
test_init ops-synflood
[[ $TAS_MODE == tas ]] || skip "SYN cookies of the TAS slow path need TAS on the bed"
need_tool python3 hping3 redis-server redis-cli redis-benchmark
SECS=${SYNFLOOD_SECS:-30}
bed_up
read -ra CTL <<<"$TASCTL"

status_field() {
    "${CTL[@]}" --json status | python3 -c '
import json, sys
r = json.load(sys.stdin)
for k in sys.argv[1:]:
    r = r[k] if isinstance(r, dict) else r
print(r)' "$@"
}

bg_on tas "$WORK/redis.log" redis-server --port 6379 --bind 0.0.0.0 \
    --protected-mode no --save '' --appendonly no --dir "$WORK"
redis=$BG_PID
wait_port peer "$TAS_IP" 6379
pids="$(status_field pid) $(status_field fastpath pid)"
sent0=$(status_field syncookies sent)

# The peer's kernel answers the SYN-ACKs to hping3's ports with bare RSTs
# (no ACK flag), which would empty the half-open queue for us; drop them so
# the flood really holds it full, as a flood from spoofed addresses would.
# The clients' own connections end with FIN or RST|ACK and pass.
on_peer 10 nft -f - <<'NFT' || fatal "nft rules on the peer"
table inet synflood {
    chain out {
        type filter hook output priority 0;
        tcp dport 6379 tcp flags & (rst | ack) == rst drop
    }
}
NFT

# The flood comes from an address of its own: hping3 walks through every
# source port, and from the clients' address it would hit the 4-tuples of
# their live and closing connections, which is not a flood but a peer
# tampering with its own connections.
FLOOD_IP=${PEER_IP%.*}.3
on_peer 5 ip addr add "$FLOOD_IP/24" dev "$PEER_DEV" || fatal "second peer address"
note "SYN flood for ${SECS}s with hping3 -S --flood from $FLOOD_IP, port after port"
bg_on peer "$WORK/hping.log" timeout "$SECS" hping3 -S -p 6379 --flood -s 20000 -a "$FLOOD_IP" \
    -q "$TAS_IP"
hping=$BG_PID
# redis-benchmark runs round after round for as long as the flood lasts
bg_on peer "$WORK/bench.out" timeout $((SECS + 60)) bash -c \
    'end=$((SECONDS + $0)); while ((SECONDS < end)); do
         redis-benchmark -h "$1" -p 6379 -c 10 -n 20000 -t set,get,incr -q || exit
     done' "$SECS" "$TAS_IP"
bench=$BG_PID

# A client's SYN competes with the flood's for the way to the slow path
# and may be dropped like theirs; the client's kernel sends it again after
# 1 s, 2 s more, 4 s more.  10 s per PING allows three such drops.
pings=0 failed=0 slowest_ms=0
while kill -0 "$hping" 2>/dev/null; do
    t0=$(date +%s%N)
    reply=$(on_peer 10 redis-cli -h "$TAS_IP" -p 6379 PING 2>&1)
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    (( ms > slowest_ms )) && slowest_ms=$ms
    pings=$((pings + 1))
    if [[ $reply != PONG ]]; then
        failed=$((failed + 1))
        echo "PING $pings: '$reply' after $ms ms"
    fi
    sleep 0.2
done
wait_bg "$hping" 10
(( pings >= SECS )) && (( failed == 0 )) &&
    pass "redis-cli PING on a new connection during the flood: $pings of $pings answered, the slowest in $slowest_ms ms" ||
    fail "redis-cli PING during the flood: $failed of $pings failed"

wait_bg "$bench" $((SECS + 60))
check_rc "redis-benchmark during the flood" $?
if grep -Eqi 'error|ERR ' "$WORK/bench.out"; then
    fail "redis-benchmark during the flood: $(grep -Ei -m1 'error|ERR ' "$WORK/bench.out")"
else
    pass "redis-benchmark during the flood: $(tr '\r' '\n' <"$WORK/bench.out" | grep -c 'requests per second') tests, no error"
fi

sent=$(( $(status_field syncookies sent) - sent0 ))
accepted=$(status_field syncookies accepted)
note "SYN cookies sent $sent, accepted $accepted"
(( sent > 1000 )) && pass "the slow path answered the flood with $sent SYN cookies" ||
    fail "only $sent SYN cookies sent: the flood never filled the half-open queue"
(( accepted > 0 )) && pass "$accepted connections opened from a SYN cookie" ||
    fail "no connection opened from a SYN cookie"
kill -0 "$redis" 2>/dev/null && pass "redis-server still running" || fail "redis-server died"
now="$(status_field pid) $(status_field fastpath pid)"
[[ $now == "$pids" ]] && pass "slow path and fast path kept their pids ($pids)" ||
    fail "daemon pids changed: $pids -> $now"
finish
