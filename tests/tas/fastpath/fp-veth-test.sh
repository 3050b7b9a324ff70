#!/bin/bash
# fp-veth-test.sh - end-to-end test of tas-fastpath with the fake slow path.
#
# Builds namespace fptA (tas-fastpath on veth fpa0 through net_af_packet)
# and fptB (a Linux peer on fpb0, 10.231.147.2), then: the peer pings the
# fast path's address (ARP and ICMP go up as exceptions and fake-sp
# answers), and fake-sp streams BYTES through an established flow to a
# socat echo server in fptB and checks every byte that comes back; then
# the same stream between two flows of the fast path's own address, which
# never leave it; after the first stream, a segment returned for the
# removed flow must be dropped, not passed up again.  Everything is torn
# down on exit, also on failure.
#
#   fp-veth-test.sh BUILD_DIR [BYTES] [extra tas-fastpath options]
set -u
((EUID == 0)) || { echo "SKIP: needs root"; exit 77; }
command -v socat >/dev/null || { echo "SKIP: socat missing"; exit 77; }
BUILD=$(realpath "${1:?usage: $0 BUILD_DIR [BYTES] [fast path options]}")
BYTES=${2:-10000000}
shift $(( $# >= 2 ? 2 : 1 ))
FP_ARGS=("$@")
NET=10.231.147
RUN=$(mktemp -d /tmp/fpt-run.XXXXXX)
FP_PID= SP_PID= ECHO_PID=

cleanup() {
    for pid in $FP_PID $SP_PID $ECHO_PID; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del fptA 2>/dev/null
    ip netns del fptB 2>/dev/null
    rm -rf "$RUN"
}
trap cleanup EXIT

ip netns add fptA
ip netns add fptB
ip link add fpa0 netns fptA type veth peer name fpb0 netns fptB
for side in "fptA fpa0" "fptB fpb0"; do
    read -r ns dev <<< "$side"
    ip netns exec "$ns" ethtool -K "$dev" tx off tso off gso off gro off rx off >/dev/null 2>&1
    ip netns exec "$ns" ip link set "$dev" up
    ip netns exec "$ns" ip link set lo up
done
ip netns exec fptB ip addr add $NET.2/24 dev fpb0
PEER_MAC=$(ip netns exec fptB cat /sys/class/net/fpb0/address)

# start_fast_path: tas-fastpath on fpa0, attached to the fake-sp of $RUN.
start_fast_path() {
    : > "$RUN/fp.log"
    ip netns exec fptA "$BUILD/fastpath/tas-fastpath" --no-huge -m 512 --no-pci \
        --file-prefix fpt$$ --vdev net_af_packet0,iface=fpa0 -l 0 \
        --log-level=lib.eal:warning -- --run-dir "$RUN" "${FP_ARGS[@]}" \
        > "$RUN/fp.log" 2>&1 &
    FP_PID=$!
    for _ in $(seq 100); do
        grep -q "attached" "$RUN/fp.log" && return 0
        sleep 0.1
    done
    echo "tas-fastpath did not attach:"; cat "$RUN/fp.log"; echo FAIL; exit 1
}

# finish_run: wait for fake-sp, show what both said; fails the test if
# fake-sp did.
finish_run() {
    wait $SP_PID; local rc=$?; SP_PID=
    cat "$RUN/sp.err" "$RUN/sp.out"
    sleep 0.5
    kill -INT $FP_PID 2>/dev/null; wait $FP_PID; FP_PID=
    echo "--- tas-fastpath log"; cat "$RUN/fp.log"
    [ $rc -eq 0 ] || ok=0
}

ok=1
echo "=== ping and echo with a Linux peer"
# EXEC:cat, not PIPE: socat can fill its own pipe and stop (see ../slowpath/e2e.sh).
ip netns exec fptB socat TCP-LISTEN:5001,reuseaddr EXEC:cat &
ECHO_PID=$!
"$BUILD/tests/tas/fastpath/fake-sp" --run-dir "$RUN" --ip $NET.1 --peer $NET.2 \
    --peer-mac "$PEER_MAC" --peer-port 5001 --bytes "$BYTES" --ping-wait 4 \
    > "$RUN/sp.out" 2> "$RUN/sp.err" &
SP_PID=$!
start_fast_path
if ip netns exec fptB ping -c 3 -i 0.3 -W 1 $NET.1 > "$RUN/ping.out"; then
    echo "ping: $(grep -o '[0-9]* received' "$RUN/ping.out")"
else
    echo "ping: FAILED"; cat "$RUN/ping.out"; ok=0
fi
finish_run

echo "=== echo between two flows of the instance's own address"
"$BUILD/tests/tas/fastpath/fake-sp" --run-dir "$RUN" --ip $NET.1 --loopback \
    --bytes "$BYTES" > "$RUN/sp.out" 2> "$RUN/sp.err" &
SP_PID=$!
start_fast_path
finish_run

[ $ok -eq 1 ] && echo "PASS" || { echo "FAIL"; exit 1; }
