#!/bin/bash
# servers-nginx.sh: unmodified nginx on the TAS side, Linux curl and wrk in
# the peer namespace.  Files of 0 B, 1 KB, 1 MB and 64 MB must arrive with
# equal sha256; wrk -t2 -c100 must see no socket error and no non-2xx reply.
# nginx runs as one process (master_process off): libtas does not serve a
# listening socket to forked workers (docs/libtas.md, "fork"), so the
# master/worker model is not supported yet.
source "$(dirname "$0")/lib.sh"
test_init nginx
need_tool nginx curl wrk
bed_up

WRK_SECS=$((QUICK ? 5 : 30))
mkdir -p "$WORK/www"
: >"$WORK/www/empty"
head -c 1K /dev/urandom >"$WORK/www/1k"
head -c 1M /dev/urandom >"$WORK/www/1m"
head -c 64M /dev/urandom >"$WORK/www/64m"
cat >"$WORK/nginx.conf" <<CONF
master_process off;
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    server {
        listen 8080;
        root $WORK/www;
    }
}
CONF

bg_on tas "$WORK/nginx.log" nginx -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log"
wait_port peer "$TAS_IP" 8080

for f in empty 1k 1m 64m; do
    on_peer 60 curl -sS --fail -o "$WORK/got-$f" "http://$TAS_IP:8080/$f"
    rc=$?
    if ((rc == 0)); then
        check_same "curl GET /$f" "$WORK/www/$f" "$WORK/got-$f"
    else
        fail "curl GET /$f: exit status $rc"
    fi
done

note "wrk -t2 -c100 -d${WRK_SECS}s"
on_peer $((WRK_SECS + 30)) wrk -t2 -c100 -d"${WRK_SECS}s" --timeout 5s \
    "http://$TAS_IP:8080/1k" >"$WORK/wrk.out" 2>&1
rc=$?
cat "$WORK/wrk.out"
if ((rc != 0)); then
    fail "wrk: exit status $rc"
elif grep -q 'Socket errors' "$WORK/wrk.out"; then
    fail "wrk: $(grep 'Socket errors' "$WORK/wrk.out")"
elif grep -q 'Non-2xx' "$WORK/wrk.out"; then
    fail "wrk: $(grep 'Non-2xx' "$WORK/wrk.out")"
elif ! grep -Eq 'Requests/sec: +[1-9]' "$WORK/wrk.out"; then
    fail "wrk: no requests completed"
else
    pass "wrk -c100: $(grep -E 'requests in' "$WORK/wrk.out" | xargs), no socket errors"
fi
finish
