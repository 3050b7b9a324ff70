#!/bin/bash
# clients.sh: unmodified clients on the TAS side against Linux servers in the
# peer namespace: curl (files checked by sha256), wrk (no socket errors),
# redis-benchmark and redis-cli (a 1 MB value back byte-equal), iperf3 -c in
# both directions (-R).
source "$(dirname "$0")/lib.sh"
test_init clients
need_tool nginx curl wrk redis-server redis-cli redis-benchmark iperf3
bed_up

WRK_SECS=$((QUICK ? 5 : 10))
IPERF_SECS=$((QUICK ? 2 : 5))
N=$((QUICK ? 2000 : 10000))

mkdir -p "$WORK/www"
head -c 1K /dev/urandom >"$WORK/www/1k"
head -c 1M /dev/urandom >"$WORK/www/1m"
head -c 64M /dev/urandom >"$WORK/www/64m"
cat >"$WORK/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    default_type application/octet-stream;
    server {
        listen 8080;
        root $WORK/www;
    }
}
CONF
bg_on peer "$WORK/nginx.log" nginx -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log"
bg_on peer "$WORK/redis.log" redis-server --port 6379 --bind 0.0.0.0 --protected-mode no \
    --save '' --appendonly no --dir "$WORK"
bg_on peer "$WORK/iperf3-server.log" iperf3 -s -p 5201 --forceflush
wait_port tas "$PEER_IP" 8080
wait_port tas "$PEER_IP" 6379
wait_log "$WORK/iperf3-server.log" "Server listening on 5201"

note "curl"
curl_check tas "http://$PEER_IP:8080" "$WORK/www" 1k 1m 64m
wrk_check tas "http://$PEER_IP:8080/1k" "$WRK_SECS"

note "redis-benchmark -c 50 -n $N, redis-cli"
on_tas 180 redis-benchmark -h "$PEER_IP" -p 6379 -c 50 -n "$N" -q >"$WORK/bench.out" 2>&1
rc=$?
done_tests=$(tr '\r' '\n' <"$WORK/bench.out" | grep -c 'requests per second')
if ((rc != 0)); then
    fail "redis-benchmark: exit status $rc"
elif grep -Eqi 'error|ERR ' "$WORK/bench.out"; then
    fail "redis-benchmark: $(grep -Ei -m1 'error|ERR ' "$WORK/bench.out")"
elif ((done_tests < 15)); then
    fail "redis-benchmark: only $done_tests tests finished"
else
    pass "redis-benchmark default suite: $done_tests tests"
fi
head -c 1M /dev/urandom >"$WORK/value"
reply=$(on_tas 30 redis-cli -h "$PEER_IP" -x SET big <"$WORK/value")
if [[ $reply == OK ]]; then pass "redis-cli SET 1 MB value"; else fail "redis-cli SET 1 MB value: '$reply'"; fi
on_tas 30 redis-cli -h "$PEER_IP" --raw GET big | head -c -1 >"$WORK/value.got"
check_same "redis-cli GET 1 MB value" "$WORK/value" "$WORK/value.got"

note "iperf3 -c"
on_tas 60 iperf3 -c "$PEER_IP" -p 5201 -t "$IPERF_SECS" -J >"$WORK/iperf3.json"
iperf_check "iperf3 -c (TAS sends)" "$WORK/iperf3.json" 1
on_tas 60 iperf3 -c "$PEER_IP" -p 5201 -t "$IPERF_SECS" -R -J >"$WORK/iperf3-R.json"
iperf_check "iperf3 -c -R (TAS receives)" "$WORK/iperf3-R.json" 1
finish
