#!/bin/bash
# churn.sh: "a long-running service with applications coming and going for
# hours leaks nothing" (issue 4).  One bed, one slow path and fast path for
# the whole run; in a loop, applications under tas-run
#   - accept and echo (echo-many server, the peer connects 20 times) and
#     connect and get echoed (echo-many client to the peer), both exiting
#     normally;
#   - receive or send a 2 MiB bulk transfer (direction alternates), sha256
#     checked;
#   - accept 50 connections and are killed with SIGKILL (holdconn server);
#   - open 50 connections and are terminated with SIGTERM while holding
#     them (holdconn client: no close(), the process just ends).
# After each cycle the service must go idle (no application, no buffer, no
# connection but TIME_WAIT, no flow in the fast path) and the daemons' RSS
# and counters are sampled (tasctl, DPDK telemetry).  After the warm-up
# (WARMUP_CYCLES) the RSS of each daemon must stay within RSS_SLACK of the
# warm-up's level; counters must return to zero every cycle.
#
# CHURN_SECONDS (default 60, 7200 with OPS_NIGHTLY=1) bounds the loop.
# Samples go to WORK/samples.csv, one a cycle; a line is printed every
# PRINT_EVERY seconds.
source "$(dirname "$0")/../integration/lib.sh"
test_init ops-churn
[[ $TAS_MODE == tas ]] || skip "application churn is about TAS's clean-up"
HOLDCONN=$TAS_BUILD/tests/ops/holdconn
need_built "$HOLDCONN" "$BULK" "$ECHO_MANY"
need_tool python3
SECS=${CHURN_SECONDS:-$(( ${OPS_NIGHTLY:-0} == 1 ? 7200 : 60 ))}
[[ $SECS =~ ^[1-9][0-9]*$ ]] || fatal "CHURN_SECONDS must be a positive number, not '$SECS'"
WARMUP_CYCLES=3
RSS_SLACK=$((4 << 20))
PRINT_EVERY=$((SECS > 600 ? 60 : 10))
ulimit -n 4096
# TIME_WAIT of 1 s lets the flow table empty between cycles, so its
# entries are counted as a leak if they stay.
bed_up --slowpath-args "--time-wait-ms 1000"
read -ra CTL <<<"$TASCTL"
CYCLE_FAILS=0

cycle_fail() {
    fail "cycle $CYCLE: $*"
    CYCLE_FAILS=$((CYCLE_FAILS + 1))
}

# sample: one CSV line of the service's state:
# seconds,cycle,sp_rss,fp_rss,apps,buffer_bytes,flows,time_wait,fp_flows,fp_pid
sample() {
    "${CTL[@]}" --json status >"$WORK/status.json" &&
        "${CTL[@]}" --json flows >"$WORK/flows.json" &&
        fp_telemetry /tas/stats >"$WORK/tel.json" &&
        python3 - "$WORK" "$SECONDS" "$CYCLE" <<'PY'
import json, sys
w = sys.argv[1]
st = json.load(open(w + "/status.json"))
flows = json.load(open(w + "/flows.json"))["flows"]
tel = json.load(open(w + "/tel.json"))
tw = sum(f["state"] == "TIME_WAIT" for f in flows)
print(",".join(str(v) for v in (sys.argv[2], sys.argv[3], st["memory"]["slowpath_rss_bytes"],
      st["fastpath"]["rss_bytes"], st["apps"], st["memory"]["app_buffer_bytes"], len(flows), tw,
      tel["flows"], tel["pid"])))
PY
}

# idle_sample SECS: wait until the service is idle (no app, no buffer, only
# TIME_WAIT connections, no fast-path flow), then print the sample.
idle_sample() {
    local i line
    for ((i = 0; i < $1 * 10; i++)); do
        line=$(sample) || return 1
        IFS=, read -r _ _ _ _ apps buf flows tw fpf _ <<<"$line"
        if ((apps == 0 && buf == 0 && flows == tw && fpf == 0)); then
            echo "$line"
            return 0
        fi
        sleep 0.1
    done
    echo "$line"
    return 1
}

# expect_rc RC LABEL: a step's exit status must be 0.
expect_rc() { (($1 == 0)) || cycle_fail "$2 (exit status $1)"; }

echo_both_ways() {
    local port=$1 pid rc
    bg_on tas "$WORK/echo-srv.log" "$ECHO_MANY" server "$port" 20
    pid=$BG_PID
    wait_port peer "$TAS_IP" "$port"
    on peer 30 "$ECHO_MANY" client "$TAS_IP" "$port" 20 4096 >"$WORK/echo-cli.log" 2>&1
    expect_rc $? "echo-many client on the peer"
    wait_bg "$pid" 20
    expect_rc $? "echo-many server under tas-run"

    bg_on peer "$WORK/echo-srv2.log" "$ECHO_MANY" server $((port + 1)) 20
    pid=$BG_PID
    wait_port tas "$PEER_IP" $((port + 1))
    on tas 30 "$ECHO_MANY" client "$PEER_IP" $((port + 1)) 20 4096 >"$WORK/echo-cli2.log" 2>&1
    expect_rc $? "echo-many client under tas-run"
    wait_bg "$pid" 20
    expect_rc $? "echo-many server on the peer"
}

bulk_one_way() {
    local port=$1 from=peer to=tas recv rc
    ((CYCLE % 2)) && from=tas to=peer
    bg_on "$to" "$WORK/bulk.recv" "$BULK" recv "$port" 2
    recv=$BG_PID
    wait_port "$from" "$(ip_of "$to")" "$port"
    on "$from" 60 "$BULK" send "$(ip_of "$to")" "$port" $((2 << 20)) 2 "$CYCLE" \
        >"$WORK/bulk.send" 2>"$WORK/bulk.err"
    expect_rc $? "bulk send $from -> $to"
    wait_bg "$recv" 30
    expect_rc $? "bulk recv on $to"
    cmp -s "$WORK/bulk.send" "$WORK/bulk.recv" && (($(wc -l <"$WORK/bulk.recv") == 2)) ||
        cycle_fail "bulk $from -> $to: per-flow sha256 differ"
}

# hold_and_end VICTIM PORT: holdconn holds 50 connections between the two
# sides, and the TAS side's end goes away without closing them: VICTIM
# "server" accepted them and is killed with SIGKILL (each peer must see the
# connection end), "client" opened them and is ended with SIGTERM.
hold_and_end() {
    local victim=$1 port=$2 srv=peer cli=tas host=$PEER_IP server client
    [[ $victim == server ]] && srv=tas cli=peer host=$TAS_IP
    bg_on "$srv" "$WORK/hold-srv.log" "$HOLDCONN" server "$port" 50
    server=$BG_PID
    wait_log "$WORK/hold-srv.log" listening
    bg_on "$cli" "$WORK/hold-cli.log" "$HOLDCONN" client "$host" "$port" 50 2000
    client=$BG_PID
    wait_log "$WORK/hold-srv.log" "holding 50" 20
    if [[ $victim == server ]]; then
        kill -USR1 "$client"
        kill -KILL "$server"
        wait "$server" 2>/dev/null
        bg_forget "$server"
        wait_bg "$client" 10
        expect_rc $? "peers of the killed application all closed: $(tail -n1 "$WORK/hold-cli.log")"
    else
        kill -TERM "$client"
        wait "$client" 2>/dev/null
        bg_forget "$client"
        stop_bg "$server"
    fi
}

echo "seconds,cycle,sp_rss,fp_rss,apps,buffer_bytes,flows,time_wait,fp_flows,fp_pid" \
    >"$WORK/samples.csv"
note "churn for ${SECS}s: samples every cycle, printed every ${PRINT_EVERY}s"
CYCLE=0
start=$SECONDS
last_print=-$PRINT_EVERY
fp_pid=$(cat "$TAS_RUN_DIR/fastpath.pid")
while ((SECONDS - start < SECS)); do
    CYCLE=$((CYCLE + 1))
    base_port=$((20000 + (CYCLE % 400) * 10))
    echo_both_ways "$base_port"
    bulk_one_way $((base_port + 2))
    hold_and_end server $((base_port + 3))
    hold_and_end client $((base_port + 4))
    if ! line=$(idle_sample 10); then
        cycle_fail "the service did not go idle: $line (apps, buffers, flows, TIME_WAIT, fp flows)"
        "${CTL[@]}" flows | head -20
    fi
    echo "$line" >>"$WORK/samples.csv"
    if ((SECONDS - last_print >= PRINT_EVERY)); then
        echo "sample: $line"
        last_print=$SECONDS
    fi
    ((CYCLE_FAILS > 10)) && fatal "more than 10 failures, giving up"
done
((CYCLE_FAILS == 0)) && pass "$CYCLE cycles in $((SECONDS - start))s: every transfer intact, every peer of a killed application closed, the service idle after each cycle"

python3 - "$WORK/samples.csv" "$WARMUP_CYCLES" "$RSS_SLACK" "$fp_pid" >"$WORK/verdict.out" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
warm, slack, fp_pid = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if len(rows) <= warm:
    print(f"FAIL: only {len(rows)} cycles, fewer than the warm-up of {warm}")
    sys.exit()
base, last = rows[warm - 1], rows[-1]
mib = lambda b: f"{int(b) / 2**20:.1f} MiB"
for k, name in (("sp_rss", "slow path"), ("fp_rss", "fast path")):
    peak = max(int(r[k]) for r in rows[warm:])
    ok = peak <= int(base[k]) + slack
    print(f"{'PASS' if ok else 'FAIL'}: {name} RSS after the warm-up {mib(base[k])}, "
          f"end {mib(last[k])}, peak {mib(peak)} over {len(rows) - warm} cycles "
          f"(slack {mib(slack)})")
print(f"{'PASS' if all(r['fp_pid'] == fp_pid for r in rows) else 'FAIL'}: the fast path "
      f"kept pid {fp_pid}")
tw = max(int(r["time_wait"]) for r in rows)
busy = [r["cycle"] for r in rows if (r["apps"], r["buffer_bytes"], r["fp_flows"]) != ("0", "0", "0")
        or r["flows"] != r["time_wait"]]
print(f"{'FAIL' if busy else 'PASS'}: counters back to zero after every cycle (apps, buffer "
      f"bytes, fast-path flows, connections but TIME_WAIT; at most {tw} in TIME_WAIT)"
      + (f"; not after cycles {', '.join(busy[:10])}" if busy else ""))
PY
while read -r verdict text; do
    if [[ $verdict == PASS: ]]; then pass "$text"; else fail "$text"; fi
done <"$WORK/verdict.out"
finish
