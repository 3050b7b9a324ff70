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

curl_check peer "http://$TAS_IP:8080" "$WORK/www" empty 1k 1m 64m
wrk_check peer "http://$TAS_IP:8080/1k" "$WRK_SECS"
finish
