#!/bin/bash
# servers-redis.sh: unmodified redis-server on the TAS side, Linux redis
# clients in the peer namespace: the redis-benchmark default suite with 50
# clients, a 1 MB value SET then GET byte-equal, and a BGSAVE (fork) while
# 50 clients keep the server busy.
source "$(dirname "$0")/lib.sh"
test_init redis
need_tool redis-server redis-cli redis-benchmark
bed_up

N=$((QUICK ? 2000 : 10000))
rcli() { on_peer 30 redis-cli -h "$TAS_IP" -p 6379 "$@"; }

bg_on tas "$WORK/redis.log" redis-server --port 6379 --bind 0.0.0.0 \
    --protected-mode no --save '' --appendonly no --dir "$WORK" --dbfilename dump.rdb
wait_port peer "$TAS_IP" 6379

# bench_check LABEL FILE MIN_TESTS: every test of redis-benchmark -q done.
bench_check() {
    local finished
    tr '\r' '\n' <"$2" | grep 'requests per second' >"$2.results"
    finished=$(wc -l <"$2.results")
    if grep -Eqi 'error|ERR ' "$2"; then
        fail "$1: $(grep -Ei -m1 'error|ERR ' "$2")"
    elif ((finished < $3)); then
        fail "$1: only $finished tests finished"
    else
        pass "$1: $finished tests ($(head -n1 "$2.results" | cut -d, -f1))"
    fi
}

note "redis-benchmark default suite, -c 50 -n $N"
on_peer 180 redis-benchmark -h "$TAS_IP" -p 6379 -c 50 -n "$N" -q >"$WORK/bench.out" 2>&1
check_rc "redis-benchmark exit status" $?
bench_check "redis-benchmark default suite" "$WORK/bench.out" 15

note "1 MB value"
head -c 1M /dev/urandom >"$WORK/value"
reply=$(rcli -x SET big <"$WORK/value")
if [[ $reply == OK ]]; then pass "SET 1 MB value"; else fail "SET 1 MB value: '$reply'"; fi
# --raw prints the value followed by one newline.
rcli --raw GET big | head -c -1 >"$WORK/value.got"
check_same "GET 1 MB value" "$WORK/value" "$WORK/value.got"

note "BGSAVE while 50 clients are busy"
# clients: connected clients other than the redis-cli that asks.
clients() { rcli INFO clients | tr -d '\r' | awk -F: '/^connected_clients:/ {print $2 - 1}'; }
# clients_up_to_50 TRIES: the count once it reaches 50, or the last count
# after TRIES looks 0.1 s apart.
clients_up_to_50() {
    local n i
    for ((i = 0; i < $1; i++)); do
        n=$(clients)
        ((n >= 50)) && break
        sleep 0.1
    done
    echo "$n"
}
bg_on peer "$WORK/bench-bgsave.out" redis-benchmark -h "$TAS_IP" -p 6379 -c 50 -n "$N" \
    -t set,get,lpush -q -l
bench=$BG_PID
before=$(clients_up_to_50 100)
reply=$(rcli BGSAVE)
if [[ $reply == "Background saving started" ]]; then pass "BGSAVE started"; else fail "BGSAVE: '$reply'"; fi
for ((i = 0; i < 600; i++)); do
    rcli INFO persistence | grep -q '^rdb_bgsave_in_progress:0' && break
    sleep 0.1
done
if rcli INFO persistence | grep -q '^rdb_last_bgsave_status:ok' && [[ -s $WORK/dump.rdb ]]; then
    pass "BGSAVE finished, dump.rdb $(stat -c %s "$WORK/dump.rdb") bytes"
else
    fail "BGSAVE did not finish with status ok"
fi
# redis-benchmark -l opens 50 new connections for each test of its loop:
# a look that falls between two tests sees fewer, so look up to 2 s.
after=$(clients_up_to_50 20)
if ((before >= 50 && after >= 50)) && kill -0 "$bench" 2>/dev/null; then
    pass "$before clients connected before and $after after BGSAVE"
else
    fail "clients connected: $before before, $after after BGSAVE (want 50)"
fi
# BGSAVE can be over before the first test of the loop is: let one finish
# (bounded), so the check below does not depend on the machine's speed.
for ((i = 0; i < 300; i++)); do
    tr '\r' '\n' <"$WORK/bench-bgsave.out" | grep -q 'requests per second' && break
    kill -0 "$bench" 2>/dev/null || break
    sleep 0.1
done
stop_bg "$bench"
bench_check "redis-benchmark -l during BGSAVE" "$WORK/bench-bgsave.out" 1
rcli --raw GET big | head -c -1 >"$WORK/value.got2"
check_same "GET 1 MB value after BGSAVE" "$WORK/value" "$WORK/value.got2"
finish
