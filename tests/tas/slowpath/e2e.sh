#!/bin/bash
# e2e.sh - end-to-end check of tas-slowpath with the real fast path and a
# Linux peer: ARP and ping, RST for a closed port, a passive and an active
# connection carrying checked bytes (libtas + socat), the orderly close into
# TIME_WAIT, and the clean-up of a killed application (the peer sees a RST).
#
# usage: e2e.sh TAS_SLOWPATH TAS_FASTPATH LIBTAS_SO
# Needs root.  Exit 77 (skipped) without root, fast path, libtas or socat.
# Everything lives in two namespaces of its own on 10.231.X.0/24 (X random
# in 100-199) and is removed on exit, whatever happens.
set -uo pipefail

SP=$1 FP=$2 LIBTAS=$3
skip() { echo "e2e: skipped: $*"; exit 77; }
[[ $(id -u) == 0 ]] || skip "needs root"
[[ -x $FP ]] || skip "no tas-fastpath at $FP"
[[ -f $LIBTAS ]] || skip "no libtas.so at $LIBTAS"
command -v socat >/dev/null || skip "no socat"
command -v python3 >/dev/null || skip "no python3"

X=$((100 + RANDOM % 100))
NAME=spe2e$$
TNS=$NAME-t PNS=$NAME-p
TDEV=spe$$t PDEV=spe$$p
TAS_IP=10.231.$X.1 PEER_IP=10.231.$X.2
WORK=$(mktemp -d /tmp/sp-e2e.XXXXXX)
RUN=$WORK/run
FAILED=0

# `ip netns exec` forks, so processes are found and stopped through the
# namespaces, which hold nothing but what this script started.
ns_pids() { ip netns pids "$1" 2>/dev/null; }
ns_pid_of() {
    for p in $(ns_pids "$1"); do
        [[ $(cat "/proc/$p/comm" 2>/dev/null) == "$2" ]] && echo "$p"
    done
}

cleanup() {
    for ns in "$TNS" "$PNS"; do
        for pid in $(ns_pids "$ns"); do kill "$pid" 2>/dev/null; done
    done
    sleep 0.5
    for ns in "$TNS" "$PNS"; do
        for pid in $(ns_pids "$ns"); do kill -9 "$pid" 2>/dev/null; done
    done
    ip netns del "$TNS" 2>/dev/null
    ip netns del "$PNS" 2>/dev/null
    rm -rf "/var/run/dpdk/$NAME"
    if ((FAILED)); then
        echo "--- slow path log"; cat "$WORK/sp.log"
        echo "--- fast path log"; tail -20 "$WORK/fp.log"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "e2e: FAIL: $*"; FAILED=1; exit 1; }
pass() { echo "e2e: ok: $*"; }
in_tas() { ip netns exec "$TNS" "$@"; }
in_peer() { ip netns exec "$PNS" "$@"; }
tas_app() { in_tas env TAS_RUN_DIR="$RUN" LD_PRELOAD="$LIBTAS" "$@"; }
# Waits until the slow path has seen a listen() on port $1.
await_listen() {
    for _ in $(seq 100); do
        grep -q "listens on port $1 " "$WORK/sp.log" && return
        sleep 0.1
    done
    fail "no listener on port $1"
}

ip netns add "$TNS" && ip netns add "$PNS" || fail "cannot create namespaces"
ip link add "$TDEV" type veth peer name "$PDEV"
ip link set "$TDEV" netns "$TNS"
ip link set "$PDEV" netns "$PNS"
for ns in "$TNS" "$PNS"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip netns exec "$ns" ip link set lo up
done
in_peer ip addr add "$PEER_IP/24" dev "$PDEV"
in_tas ip link set "$TDEV" up
in_peer ip link set "$PDEV" up
in_tas ethtool -K "$TDEV" tx off tso off gso off gro off rx off >/dev/null 2>&1
in_peer ethtool -K "$PDEV" tx off tso off gso off gro off rx off >/dev/null 2>&1

in_tas "$SP" --foreground --run-dir "$RUN" --ip "$TAS_IP/24" --time-wait-ms 500 \
    --log-level debug >"$WORK/sp.log" 2>&1 &
for _ in $(seq 50); do [[ -S $RUN/fp.sock ]] && break; sleep 0.1; done
[[ -S $RUN/fp.sock ]] || fail "slow path did not create fp.sock"
SP_PID=$(ns_pid_of "$TNS" tas-slowpath)
in_tas "$FP" --no-huge -m 512 --no-pci --file-prefix "$NAME" \
    --vdev "net_af_packet0,iface=$TDEV" -l 0 -- --run-dir "$RUN" \
    --idle-sleep-us 200 >"$WORK/fp.log" 2>&1 &
for _ in $(seq 300); do grep -q "fast path attached" "$WORK/sp.log" && break; sleep 0.1; done
grep -q "fast path attached" "$WORK/sp.log" || fail "fast path did not attach"
pass "fast path attached"

# The fast path finishes its set-up after attaching: give it a moment.
for _ in $(seq 20); do in_peer ping -c 1 -W 1 "$TAS_IP" >/dev/null && break; done
in_peer ping -c 3 -i 0.2 -W 2 "$TAS_IP" >/dev/null || fail "ping"
pass "ping (ARP and ICMP echo)"

out=$(in_peer socat -T2 - "TCP:$TAS_IP:9" </dev/null 2>&1)
[[ $out == *"refused"* ]] || fail "closed port not refused: $out"
pass "RST for a closed port"

# Many times the flow's rings, so both directions wrap them and the
# application sleeps and is woken for data and for room again and again.
# The echo servers are socat with cat behind a socketpair, not socat PIPE:
# socat writes up to 8 KB into its pipe once poll says it has room (4 KB
# will do) and, blocked there, never drains the pipe it fills.  A TCP send
# side that fills now and then (TAS's 64 KB rings) deadlocks it.
head -c 1048576 /dev/urandom >"$WORK/data"

# passive open: echo server under TAS, Linux client
tas_app socat -T5 TCP-LISTEN:7000,reuseaddr EXEC:cat 2>"$WORK/srv.log" &
await_listen 7000
in_peer socat -T3 -t3 - "TCP:$TAS_IP:7000" <"$WORK/data" >"$WORK/echo1" ||
    fail "client to the TAS server"
cmp -s "$WORK/data" "$WORK/echo1" || fail "echo through a passive open differs"
pass "passive open, 1 MB echoed"

# active open: Linux echo server, client under TAS
in_peer socat -T5 TCP-LISTEN:7001,reuseaddr EXEC:cat &
sleep 0.5
tas_app socat -T3 -t3 - "TCP:$PEER_IP:7001" <"$WORK/data" >"$WORK/echo2" ||
    fail "TAS client to the Linux server"
cmp -s "$WORK/data" "$WORK/echo2" || fail "echo through an active open differs"
pass "active open, 1 MB echoed"
sleep 1
grep -q "TIME_WAIT" "$WORK/sp.log" || fail "no connection went through TIME_WAIT"
pass "orderly close through TIME_WAIT"

# a killed application: its peer sees a RST
tas_app socat TCP-LISTEN:7002,reuseaddr PIPE 2>/dev/null &
await_listen 7002
app=$(ns_pid_of "$TNS" socat)
in_peer python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 7002), timeout=10)
s.sendall(b"hello")
s.recv(5)
print("connected", flush=True)
try:
    print("eof" if not s.recv(10) else "data")
except ConnectionResetError:
    print("reset")
' "$TAS_IP" >"$WORK/kill.out" 2>&1 &
client=$!
for _ in $(seq 100); do grep -q connected "$WORK/kill.out" && break; sleep 0.1; done
kill -9 "$app"
wait "$client"
grep -q reset "$WORK/kill.out" || fail "peer of a killed app saw no RST: $(cat "$WORK/kill.out")"
grep -q "cleaned up" "$WORK/sp.log" || fail "killed application not cleaned up"
pass "killed application: peer reset, state reclaimed"

# A clean exit, and nothing from the sanitizers when built with them.
kill -TERM "$SP_PID"
for _ in $(seq 50); do [[ -d /proc/$SP_PID ]] || break; sleep 0.1; done
[[ -d /proc/$SP_PID ]] && fail "slow path did not exit on SIGTERM"
grep -q "shutting down" "$WORK/sp.log" || fail "slow path did not shut down in order"
if grep -qE "AddressSanitizer|LeakSanitizer|runtime error" "$WORK/sp.log"; then
    fail "sanitizer report in the slow path's log"
fi
pass "slow path shut down cleanly"

echo "e2e: all passed"
