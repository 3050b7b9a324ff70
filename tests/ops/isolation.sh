#!/bin/bash
# isolation.sh: acceptance 3 of issue 4.  While a victim application under
# tas-run receives a bulk transfer and a second one (holdconn) listens,
# `isolate` registers as another application and goes after the victim's
# flows, the listener's port and listener ids, and the service's memory
# (see isolate.c): every attempt is refused with the expected error, each
# TX queue entry it posts for a flow not its own is counted by the fast path
# as app_bad_entry and gets it disconnected, the victim's transfer arrives
# intact and neither daemon restarts.
source "$(dirname "$0")/../integration/lib.sh"
test_init ops-isolation
[[ $TAS_MODE == tas ]] || skip "application isolation needs TAS on the bed"
ISOLATE=$TAS_BUILD/tests/ops/isolate
HOLDCONN=$TAS_BUILD/tests/ops/holdconn
need_built "$ISOLATE" "$HOLDCONN" "$BULK"
need_tool python3
PORT=7300
LISTEN_PORT=7301
FLOWS=4
bed_up
read -ra CTL <<<"$TASCTL"
fp_pid=$(cat "$TAS_RUN_DIR/fastpath.pid")

bad_entries() {
    "${CTL[@]}" --json status |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["drops"]["app_bad_entry"])'
}

# bulk closes its listener once its flows are in, so the port under attack
# is one that holdconn keeps listening on.
bg_on tas "$WORK/holder.log" "$HOLDCONN" server "$LISTEN_PORT" 1000000
wait_log "$WORK/holder.log" listening
holder=$BG_PID
bg_on tas "$WORK/recv.out" "$BULK" recv "$PORT" "$FLOWS"
recv=$BG_PID
wait_port peer "$TAS_IP" "$PORT"
bg_on peer "$WORK/send.out" "$BULK" send "$TAS_IP" "$PORT" $((256 << 20)) "$FLOWS" "$RANDOM"
send=$BG_PID

# wait_port's probe may still be listed among them: it is the victim's too.
victims=()
for ((i = 0; i < 50 && ${#victims[@]} < FLOWS; i++)); do
    sleep 0.1
    mapfile -t victims < <("${CTL[@]}" --json flows --app "$recv" |
        python3 -c 'import json,sys; [print(f["flow_id"]) for f in json.load(sys.stdin)["flows"] if f["state"] == "ESTABLISHED"]')
done
((${#victims[@]} >= FLOWS)) || fatal "tasctl shows ${#victims[@]} of the victim's $FLOWS flows"
note "victim pid $recv, flows ${victims[*]}"

before=$(bad_entries)
"$ISOLATE" "$TAS_RUN_DIR" "$LISTEN_PORT" "${victims[@]}" >"$WORK/isolate.log" 2>&1
rc=$?
kill -0 "$send" 2>/dev/null || fail "the victim's transfer ended before the attack did: make it longer"
grep -E '^(ok|FAIL):' "$WORK/isolate.log" | sed 's/^/    /'
check_rc "$(tail -n1 "$WORK/isolate.log")" "$rc"
posted=$(sed -n 's/^bad entries posted //p' "$WORK/isolate.log")
sleep 0.2
after=$(bad_entries)
if [[ -n $posted ]] && ((after - before == posted)); then
    pass "app_bad_entry drops grew by $posted, one per entry posted ($before -> $after)"
else
    fail "app_bad_entry drops grew by $((after - before)), expected ${posted:-?}"
fi

wait_bg "$send" 120
rc=$?
wait_bg "$recv" 30
if ((rc == 0)) && cmp -s "$WORK/send.out" "$WORK/recv.out" &&
    (($(wc -l <"$WORK/recv.out") == FLOWS)); then
    pass "victim's concurrent 256 MiB transfer in $FLOWS flows intact"
else
    fail "victim's transfer (sender exit $rc)"
    diff "$WORK/send.out" "$WORK/recv.out" | head -5
fi
"${CTL[@]}" --json apps >"$WORK/apps.json"
python3 -c 'import json,sys; sys.exit(0 if [a["pid"] for a in json.load(open(sys.argv[1]))["apps"]] == [int(sys.argv[2])] else 1)' \
    "$WORK/apps.json" "$holder" &&
    pass "no attacker registration left behind" || fail "applications left: $(cat "$WORK/apps.json")"
[[ $(cat "$TAS_RUN_DIR/fastpath.pid") == "$fp_pid" ]] && kill -0 "$fp_pid" 2>/dev/null &&
    pass "the fast path never restarted (pid $fp_pid)" || fail "the fast path restarted or died"
finish
