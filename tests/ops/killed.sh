#!/bin/bash
# killed.sh: acceptance 1 of issue 4.  An application under tas-run holding
# CONNS open connections is killed with SIGKILL while a second application
# receives a bulk transfer: within 2 s every peer connection sees FIN or
# RST, tasctl shows the killed application's flows and memory gone, and the
# transfer completes intact.  Repeated ROUNDS times: the daemons' memory
# (RSS) and internal counters (apps, flows, buffer bytes) return to the
# baseline taken after the first round.
# ROUNDS is 50 by default (the acceptance's count; about 1.5 s a round),
# 200 with OPS_NIGHTLY=1 (inside the test's 600 s); KILL_ROUNDS overrides both.
source "$(dirname "$0")/../integration/lib.sh"
test_init ops-killed
[[ $TAS_MODE == tas ]] || skip "kill -9 of a TAS application needs TAS on the bed"
HOLDCONN=$TAS_BUILD/tests/ops/holdconn
need_built "$HOLDCONN" "$BULK"
need_tool python3
CONNS=1000
ROUNDS=${KILL_ROUNDS:-$(( ${OPS_NIGHTLY:-0} == 1 ? 200 : 50 ))}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || fatal "KILL_ROUNDS must be a positive number, not '$ROUNDS'"
RSS_SLACK=$((4 << 20))      # allocator noise, not a leak per round
ulimit -n 8192
bed_up
read -ra CTL <<<"$TASCTL"

# status_of EXPR: a Python expression over `tasctl --json status` (r).
status_of() {
    "${CTL[@]}" --json status >"$WORK/status.json" &&
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
            "$WORK/status.json" "$1"
}

# tasctl_until SECS EXPR: polls tasctl every 50 ms from one Python process
# (cheaper than one per poll on a loaded machine) until EXPR holds; EXPR
# sees st (status), apps and flows (all of them).  On a timeout it prints
# what it saw last and returns 1.
tasctl_until() {
    python3 - "$1" "$2" "${CTL[@]}" <<'PY'
import json, subprocess, sys, time
secs, expr, ctl = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
q = lambda what: json.loads(subprocess.run(ctl + ["--json", what], check=True,
                                           capture_output=True).stdout)
deadline = time.monotonic() + secs
while True:
    st, apps, flows = q("status"), q("apps")["apps"], q("flows")["flows"]
    if eval(expr):
        sys.exit(0)
    if time.monotonic() > deadline:
        print(f"apps {[a['pid'] for a in apps]}, buffer bytes {st['memory']['app_buffer_bytes']}, "
              f"connections {sorted(set(f['state'] for f in flows))} ({len(flows)})")
        sys.exit(1)
    time.sleep(0.05)
PY
}

round() {
    local r=$1 port=$((7000 + $1)) holder client recv send rc out
    bg_on tas "$WORK/holder.log" "$HOLDCONN" server 9000 "$CONNS"
    holder=$BG_PID
    wait_log "$WORK/holder.log" listening
    bg_on peer "$WORK/client.log" "$HOLDCONN" client "$TAS_IP" 9000 "$CONNS" 2000
    client=$BG_PID
    wait_log "$WORK/client.log" "established $CONNS" 60
    wait_log "$WORK/holder.log" "holding $CONNS" 10
    [[ $(cat "/proc/$holder/comm" 2>/dev/null) == holdconn ]] ||
        fatal "round $r: pid $holder is not the holdconn process"

    bg_on tas "$WORK/recv.out" "$BULK" recv "$port" 4
    recv=$BG_PID
    wait_port peer "$TAS_IP" "$port"
    bg_on peer "$WORK/send.out" "$BULK" send "$TAS_IP" "$port" $((48 << 20)) 4 "$RANDOM"
    send=$BG_PID
    sleep 0.3

    kill -USR1 "$client"
    kill -KILL "$holder"
    wait_bg "$client" 10
    rc=$?
    if ((rc == 0)); then
        pass "round $r: $(tail -n1 "$WORK/client.log")"
    else
        fail "round $r: peers not all closed in 2 s: $(tail -n1 "$WORK/client.log")"
    fi
    wait "$holder" 2>/dev/null
    if out=$(tasctl_until 3 "not any(f.get('pid') == $holder for f in flows) and all(a['pid'] != $holder for a in apps)"); then
        pass "round $r: tasctl lists neither the killed application nor its flows"
    else
        fail "round $r: killed application still in tasctl: $out"
    fi

    wait_bg "$send" 120
    rc=$?
    wait_bg "$recv" 30
    if ((rc == 0)) && cmp -s "$WORK/send.out" "$WORK/recv.out" &&
        (($(wc -l <"$WORK/recv.out") == 4)); then
        pass "round $r: concurrent 48 MiB transfer in 4 flows intact"
    else
        fail "round $r: concurrent transfer (sender exit $rc)"
        diff "$WORK/send.out" "$WORK/recv.out" | head -5
    fi
}

# IDLE: no application, buffer or connection left but those in TIME_WAIT
# (2 MSL of legitimate state, without application or rings).
IDLE='st["apps"] == 0 and st["memory"]["app_buffer_bytes"] == 0 and all(f["state"] == "TIME_WAIT" for f in flows)'

for ((r = 1; r <= ROUNDS; r++)); do
    round "$r"
    out=$(tasctl_until 10 "$IDLE") || fail "round $r: service not idle afterwards: $out"
    if ((r == 1)); then
        base=$(status_of 'r["memory"]["slowpath_rss_bytes"], r["fastpath"]["rss_bytes"]')
        note "baseline after round 1 (slow path RSS, fast path RSS): $base"
    fi
done
now=$(status_of 'r["memory"]["slowpath_rss_bytes"], r["fastpath"]["rss_bytes"]')
note "after round $ROUNDS: $now"
if python3 -c 'import sys; b=eval(sys.argv[1]); n=eval(sys.argv[2]); sys.exit(0 if all(y <= x + int(sys.argv[3]) for x, y in zip(b, n)) else 1)' \
    "$base" "$now" "$RSS_SLACK"; then
    pass "RSS back to baseline after $ROUNDS rounds: $base -> $now (slack $RSS_SLACK)"
else
    fail "RSS grew: $base -> $now"
fi
[[ $(status_of 'r["fastpath"]["pid"]') == "$(cat "$TAS_RUN_DIR/fastpath.pid")" ]] &&
    pass "the fast path never restarted" || fail "the fast path restarted"
finish
