#!/bin/bash
# servers-memcached.sh: unmodified memcached on the TAS side, Linux clients
# from libmemcached-tools in the peer namespace: the memccapable protocol
# conformance suite, values of several sizes stored and read back byte-equal,
# and memcaslap load with every GET verified.
source "$(dirname "$0")/lib.sh"
test_init memcached
need_tool memcached memccapable memccp memccat memcaslap
bed_up

SLAP_SECS=$((QUICK ? 3 : 10))
SERVERS=$TAS_IP:11211

bg_on tas "$WORK/memcached.log" memcached -u root -l 0.0.0.0 -p 11211 -U 0 -t 2 -c 4096 -m 1024
wait_port peer "$TAS_IP" 11211

note "memccapable (protocol conformance, ascii and binary)"
on_peer 120 memccapable -h "$TAS_IP" -p 11211 >"$WORK/capable.out" 2>&1
rc=$?
if ((rc == 0)) && grep -q 'All tests passed' "$WORK/capable.out"; then
    pass "memccapable: $(grep -c '\[pass\]' "$WORK/capable.out") tests passed"
else
    grep -v '\[pass\]' "$WORK/capable.out"
    fail "memccapable: exit status $rc"
fi

note "values stored with memccp, read back with memccat"
mkdir -p "$WORK/values"
for size in 1 1000 100000 1000000; do
    head -c "$size" /dev/urandom >"$WORK/values/v$size"
done
(cd "$WORK/values" && on_peer 30 memccp --servers="$SERVERS" v1 v1000 v100000 v1000000)
check_rc "memccp of 4 values" $?
for size in 1 1000 100000 1000000; do
    # memccat prints the value followed by one newline.
    on_peer 30 memccat --servers="$SERVERS" "v$size" | head -c -1 >"$WORK/got-v$size"
    check_same "memccat value of $size bytes" "$WORK/values/v$size" "$WORK/got-v$size"
done

note "memcaslap, 32 connections, ${SLAP_SECS}s, every GET verified"
on_peer $((SLAP_SECS + 30)) memcaslap -s "$SERVERS" -t "${SLAP_SECS}s" -c 32 -T 2 \
    --verify=1.0 >"$WORK/slap.out" 2>&1
rc=$?
gets=$(awk '/^cmd_get:/ {print $2}' "$WORK/slap.out")
bad=$(awk '/^(verify_failed|verify_misses):/ {n += $2} END {print n + 0}' "$WORK/slap.out")
if ((rc != 0)); then
    fail "memcaslap: exit status $rc"
elif ((${gets:-0} == 0)); then
    fail "memcaslap: no GET completed"
elif ((bad != 0)); then
    fail "memcaslap: $bad GETs returned wrong or no values"
else
    pass "memcaslap: $gets GETs, all values verified"
fi
finish
