#!/bin/bash
# applimits.sh: each per-application limit of the slow path, hit through
# the real path by a program under tas-run on the namespace test bed, gives
# its documented errno and one line from libtas that names the setting,
# while the service keeps serving another application (docs/operations.md,
# "Limits per application").
#
# Bed 1 (--max-app-flows 8 --max-ctx 3 --max-flows 24):
#   contexts      limitapp creates contexts: the 4th is refused, EMFILE, max-ctx
#   passive       a TAS listener accepts 8 of 10 connections from the peer, the
#                 others are reset, the slow path logs max-app-flows
#   active        limitapp connects 8 times, the 9th connect() is EMFILE,
#                 max-app-flows, while a bulk transfer of another application
#                 completes intact
#   service-wide  the flow table (24) fills up: connect() is ENFILE, max-flows
# Bed 2 (--rx-buf 8K --tx-buf 8K --app-mem 48K):
#   payload       3 connections fill 48K of rings, the 4th connect() is
#                 ENOBUFS, app-mem, while a bulk transfer completes intact
source "$(dirname "$0")/../integration/lib.sh"
test_init ops-applimits
[[ $TAS_MODE == tas ]] || skip "the limits are TAS's"
LIMITAPP=$TAS_BUILD/tests/ops/limitapp
need_built "$LIMITAPP" "$BULK"
need_tool python3 ss

# expect_line FILE PATTERN SECS LABEL: the program's output shows PATTERN.
expect_line() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -q -- "$2" "$1" 2>/dev/null && { pass "$4: $(grep -m1 -- "$2" "$1")"; return 0; }
        sleep 0.1
    done
    fail "$4: no '$2' in $(basename "$1"): $(tr '\n' '|' <"$1")"
    return 1
}

# explained FILE KEY LABEL: libtas said once, in one line, which setting
# refused the program (connect programs were refused twice).
explained() {
    local lines
    lines=$(grep 'libtas\[[0-9]*\]: the TAS service refused' "$1")
    if [[ $(wc -l <<<"$lines") == 1 && $lines == *"(its $2 setting): "* ]]; then
        pass "$3: $lines"
    else
        fail "$3: libtas should name $2 once, said: $(tr '\n' '|' <<<"$lines")"
    fi
}

# connect_until_refused LOG COUNT: limitapp under tas-run connects to the
# peer's listener (port 9100) until refused; waits for its report.
connect_until_refused() {
    bg_on tas "$1" "$LIMITAPP" connect "$PEER_IP" 9100 "$2"
    LAST=$BG_PID
    expect_line "$1" '^holding' 20 "$(basename "$1" .log) reports" >/dev/null
}

# other_app_served PORT LABEL: a second application receives a transfer.
other_app_served() {
    bulk_transfer peer tas $((4 << 20)) 2 "$1" "$2"
}

# flow_ids_held: connections that hold a flow id of the service's table
# (tasctl also lists handshakes and TIME_WAIT, which hold none).
flow_ids_held() {
    "${CTL[@]}" --json flows |
        python3 -c 'import json,sys; print(sum("flow_id" in f for f in json.load(sys.stdin)["flows"]))'
}

bed_up --slowpath-args "--max-app-flows 8 --max-ctx 3 --max-flows 24"
read -ra CTL <<<"$TASCTL"
bg_on peer "$WORK/peer-listener.log" "$LIMITAPP" listen 9100
wait_log "$WORK/peer-listener.log" listening

note "contexts: max-ctx 3"
on_tas 20 "$LIMITAPP" contexts 10 >"$WORK/contexts.log" 2>&1
check_rc "limitapp contexts exits" $?
expect_line "$WORK/contexts.log" '^contexts 3$' 1 "three contexts created"
expect_line "$WORK/contexts.log" '^context 4: EMFILE$' 1 "the fourth context is refused"
explained "$WORK/contexts.log" max-ctx "contexts"

note "passive opens: max-app-flows 8"
bg_on tas "$WORK/listener.log" "$LIMITAPP" listen 9200
listener=$BG_PID
wait_log "$WORK/listener.log" listening
bg_on peer "$WORK/peer-client.log" "$LIMITAPP" connect "$TAS_IP" 9200 10
peer_client=$BG_PID
expect_line "$WORK/peer-client.log" '^holding' 20 "peer client reports" >/dev/null
expect_line "$WORK/listener.log" '^accepted 8$' 5 "the listener accepted 8"
grep -q '^accepted 9$' "$WORK/listener.log" && fail "the listener accepted a 9th connection"
# The peer's kernel may see a reset before its connect() returns (connect
# fails, limitapp tries once more and stops) or after: either way only the
# 8 accepted connections may stay established on the peer.
tries=$(awk '/^connected/ {n += $2} /^connect [0-9]+:/ || /^again:/ {n++} END {print n + 0}' \
    "$WORK/peer-client.log")
for _ in $(seq 50); do
    open=$(ip netns exec "$PEER_NS" ss -Htn state established dst "$TAS_IP:9200" | wc -l)
    ((open == 8)) && break
    sleep 0.1
done
if ((tries >= 10 && open == 8)); then
    pass "of the peer's $tries connections the 8 accepted stay, the others are reset: $(tr '\n' ' ' <"$WORK/peer-client.log")"
else
    fail "the peer tried $tries connections, $open stay established, expected 8: $(tr '\n' ' ' <"$WORK/peer-client.log")"
fi
grep -q 'refused by max-app-flows (8)' "$LOG_DIR/tas-slowpath.log" &&
    pass "the slow path logs: $(grep -m1 'refused by max-app-flows' "$LOG_DIR/tas-slowpath.log")" ||
    fail "no max-app-flows refusal in the slow path's log"

note "active opens: max-app-flows 8, another application served meanwhile"
connect_until_refused "$WORK/active.log" 20
active=$LAST
expect_line "$WORK/active.log" '^connected 8$' 1 "8 connections"
expect_line "$WORK/active.log" '^connect 9: EMFILE$' 1 "the 9th connect() fails"
expect_line "$WORK/active.log" '^again: EMFILE$' 1 "and so does the next"
explained "$WORK/active.log" max-app-flows "active opens"
other_app_served 9300 "another application at max-app-flows' time"

note "the service's table: max-flows 24"
for _ in $(seq 50); do
    held=$(flow_ids_held)
    ((held == 16)) && break
    sleep 0.1
done
((held == 16)) && pass "the two applications at max-app-flows hold 16 of 24 flow ids" ||
    fail "$held flow ids held, expected the two applications' 16"
connect_until_refused "$WORK/table.log" 20
expect_line "$WORK/table.log" '^connected 8$' 1 "8 more connections fill the table"
expect_line "$WORK/table.log" '^connect 9: ENFILE$' 1 "then connect() fails"
expect_line "$WORK/table.log" '^again: ENFILE$' 1 "and so does the next"
explained "$WORK/table.log" max-flows "service-wide"
kill -0 "$listener" "$active" 2>/dev/null && pass "the applications at their limits keep running" ||
    fail "an application at its limit died"

"$TESTBED" down "$BED" >/dev/null 2>&1 || fail "tas-testbed down $BED"
BED_IS_UP=0
BED=${BED}b
bed_up --slowpath-args "--rx-buf 8K --tx-buf 8K --app-mem 48K"
read -ra CTL <<<"$TASCTL"
bg_on peer "$WORK/peer-listener2.log" "$LIMITAPP" listen 9100
wait_log "$WORK/peer-listener2.log" listening

note "payload memory: app-mem 48K, 16K of rings a connection"
connect_until_refused "$WORK/payload.log" 20
expect_line "$WORK/payload.log" '^connected 3$' 1 "3 connections fill app-mem"
expect_line "$WORK/payload.log" '^connect 4: ENOBUFS$' 1 "the 4th connect() fails"
expect_line "$WORK/payload.log" '^again: ENOBUFS$' 1 "and so does the next"
explained "$WORK/payload.log" app-mem "payload memory"
other_app_served 9300 "another application at app-mem's time"
finish
