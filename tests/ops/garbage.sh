#!/bin/bash
# garbage.sh: acceptance 2 of issue 4.  While redis-server runs under
# tas-run and redis-benchmark drives it from the peer namespace, `garbage`
# registers ROUNDS times as an application and writes random garbage into
# its own queues, rings, region and control messages (see garbage.c),
# being thrown out and coming back.  redis-benchmark sees no error, redis
# answers afterwards, both daemons keep their pids and nothing of the
# garbage writer is left registered.
# ROUNDS is 2,000 by default and 20,000 with OPS_NIGHTLY=1.
source "$(dirname "$0")/../integration/lib.sh"
test_init ops-garbage
[[ $TAS_MODE == tas ]] || skip "garbage in TAS queues needs TAS on the bed"
GARBAGE=$TAS_BUILD/tests/ops/garbage
need_built "$GARBAGE"
need_tool python3 redis-server redis-cli redis-benchmark
ROUNDS=$(( ${OPS_NIGHTLY:-0} == 1 ? 20000 : 2000 ))
SEED=${OPS_SEED:-$RANDOM}
bed_up
read -ra CTL <<<"$TASCTL"

daemon_pids() {
    "${CTL[@]}" --json status |
        python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["pid"], r["fastpath"]["pid"])'
}

bg_on tas "$WORK/redis.log" redis-server --port 6379 --bind 0.0.0.0 \
    --protected-mode no --save '' --appendonly no --dir "$WORK"
redis=$BG_PID
wait_port peer "$TAS_IP" 6379
pids=$(daemon_pids)
note "daemons (slow path, fast path): $pids; garbage seed $SEED, $ROUNDS rounds"

bg_on tas "$WORK/garbage.log" "$GARBAGE" "$TAS_RUN_DIR" "$ROUNDS" "$SEED"
garbage=$BG_PID
runs=0
while kill -0 "$garbage" 2>/dev/null; do
    on_peer 60 redis-benchmark -h "$TAS_IP" -p 6379 -c 20 -n 20000 -t set,get,incr,lpush,lrange_100 \
        -q >>"$WORK/bench.out" 2>&1 || fail "redis-benchmark run $((runs + 1)) exited $?"
    runs=$((runs + 1))
done
wait_bg "$garbage" 10
rc=$?
check_rc "garbage writer: $(tail -n1 "$WORK/garbage.log")" "$rc"
if grep -Eqi 'error|ERR ' "$WORK/bench.out"; then
    fail "redis-benchmark during the garbage: $(grep -Ei -m1 'error|ERR ' "$WORK/bench.out")"
else
    pass "redis-benchmark during the garbage: $runs runs, $(tr '\r' '\n' <"$WORK/bench.out" | grep -c 'requests per second') tests, no error"
fi
reply=$(on_peer 10 redis-cli -h "$TAS_IP" -p 6379 PING)
[[ $reply == PONG ]] && pass "redis answers PING afterwards" || fail "redis PING afterwards: '$reply'"
kill -0 "$redis" 2>/dev/null && pass "redis-server still running" || fail "redis-server died"
now=$(daemon_pids)
[[ $now == "$pids" ]] && pass "slow path and fast path kept their pids ($pids)" ||
    fail "daemon pids changed: $pids -> $now"
"${CTL[@]}" --json apps >"$WORK/apps.json"
python3 -c 'import json,sys; sys.exit(0 if [a["pid"] for a in json.load(open(sys.argv[1]))["apps"]] == [int(sys.argv[2])] else 1)' \
    "$WORK/apps.json" "$redis" &&
    pass "only redis-server is registered" || fail "applications left: $(cat "$WORK/apps.json")"
finish
