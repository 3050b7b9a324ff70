#!/bin/bash
# telemetry.sh: the fast path's counters on DPDK's telemetry socket
# (/tas/stats, /tas/drops; fastpath/telemetry.c) agree with what tasctl
# reads from the slow path.  The bed's fast path carries a transfer, holds
# connections and drops broadcast pings (not_for_us); then each counter is
# read from telemetry, tasctl, telemetry again, and tasctl's value must lie
# between the two telemetry readings (the fast path keeps counting idle
# cycles meanwhile).  Flows installed in the fast path must equal the
# connections tasctl lists as ESTABLISHED.
source "$(dirname "$0")/../integration/lib.sh"
test_init ops-telemetry
[[ $TAS_MODE == tas ]] || skip "DPDK telemetry needs TAS on the bed"
HOLDCONN=$TAS_BUILD/tests/ops/holdconn
need_built "$HOLDCONN" "$BULK"
need_tool python3 ping
HELD=20
bed_up
read -ra CTL <<<"$TASCTL"
[[ -n ${TAS_TELEMETRY:-} ]] || fatal "tas-testbed up printed no TAS_TELEMETRY= line"

# telemetry CMD OUT: one command's value, as JSON in OUT.
telemetry() { fp_telemetry "$1" >"$2"; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

for _ in $(seq 50); do [[ -S $TAS_TELEMETRY ]] && break; sleep 0.1; done
telemetry / "$WORK/list.json" && grep -q "\"/tas/stats\"" "$WORK/list.json" && grep -q "\"/tas/drops\"" "$WORK/list.json"
check_rc "telemetry socket $TAS_TELEMETRY lists /tas/stats and /tas/drops" $?

bulk_transfer peer tas $((8 << 20)) 2 7100 "8 MiB to TAS in 2 flows"
bg_on tas "$WORK/holder.log" "$HOLDCONN" server 9000 "$HELD"
holder=$BG_PID
wait_log "$WORK/holder.log" listening
bg_on peer "$WORK/client.log" "$HOLDCONN" client "$TAS_IP" 9000 "$HELD" 2000
wait_log "$WORK/holder.log" "holding $HELD" 20
on peer 10 ping -b -c 5 -i 0.2 "${TAS_IP%.*}.255" >/dev/null 2>&1
sleep 0.5

telemetry /tas/stats "$WORK/tel1.json" && telemetry /tas/drops "$WORK/drops1.json" &&
    "${CTL[@]}" --json stats >"$WORK/stats.json" && "${CTL[@]}" --json flows >"$WORK/flows.json" &&
    telemetry /tas/stats "$WORK/tel2.json" && telemetry /tas/drops "$WORK/drops2.json"
check_rc "telemetry, tasctl, telemetry" $?

python3 - "$WORK" "$HELD" >"$WORK/compare.out" 2>&1 <<'PY'
import json, sys
w = sys.argv[1]
load = lambda n: json.load(open(f"{w}/{n}.json"))
t1, t2, d1, d2 = load("tel1"), load("tel2"), load("drops1"), load("drops2")
stats, flows = load("stats"), load("flows")["flows"]
ctl = stats["total"]
for k in ["busy_cycles", "idle_cycles", "rx_cycles", "tx_cycles"]:
    ctl[k] = sum(c[k] for c in stats["cores"])
keys = ["rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "exception_packets",
        "fast_retransmits", "dropped", "busy_cycles", "idle_cycles", "rx_cycles", "tx_cycles"]
bad = [f"{k}: {t1[k]} <= {ctl[k]} <= {t2[k]}" for k in keys if not t1[k] <= ctl[k] <= t2[k]]
bad += [f"drops {r}: {d1[r]} <= {ctl['drops'][r]} <= {d2[r]}"
        for r in ctl["drops"] if not d1[r] <= ctl["drops"][r] <= d2[r]]
print(("FAIL: " + "; ".join(bad)) if bad else
      f"PASS: {len(keys)} counters and {len(ctl['drops'])} drop reasons agree "
      f"(rx {ctl['rx_packets']} pkts, tx {ctl['tx_packets']} pkts, dropped {ctl['dropped']})")
ok = t2["rx_packets"] > 5000 and d2["not_for_us"] >= 5 and t2["dropped"] == sum(d2.values())
print(f"{'PASS' if ok else 'FAIL'}: the transfer and the 5 broadcast pings are counted "
      f"(rx {t2['rx_packets']}, not_for_us {d2['not_for_us']}, dropped {t2['dropped']} "
      f"= sum of /tas/drops {sum(d2.values())})")
per = lambda c, p: c // p if p else 0
ok = (t2["cycles_per_packet"] == per(t2["busy_cycles"], t2["rx_packets"] + t2["tx_packets"]) and
      t2["rx_cycles_per_packet"] == per(t2["rx_cycles"], t2["rx_packets"]) and
      t2["tx_cycles_per_packet"] == per(t2["tx_cycles"], t2["tx_packets"]) and
      t2["rx_cycles_per_packet"] > 0 and t2["tsc_hz"] > 0)
print(f"{'PASS' if ok else 'FAIL'}: cycles per packet {t2['cycles_per_packet']} "
      f"(rx {t2['rx_cycles_per_packet']}, tx {t2['tx_cycles_per_packet']}) from the cycle counters")
est = sum(f["state"] == "ESTABLISHED" for f in flows)
ok = t1["flows"] == t2["flows"] == est == int(sys.argv[2])
print(f"{'PASS' if ok else 'FAIL'}: flows in the fast path {t1['flows']}, {t2['flows']}; "
      f"ESTABLISHED in tasctl {est}; held {sys.argv[2]}")
PY
if (($? != 0)); then
    fail "comparison script: $(tail -n 3 "$WORK/compare.out")"
else
    while read -r verdict text; do
        if [[ $verdict == PASS: ]]; then pass "$text"; else fail "$text"; fi
    done <"$WORK/compare.out"
fi

stop_bg "$holder"
for _ in $(seq 50); do
    telemetry /tas/stats "$WORK/tel3.json"
    got=$(field "$WORK/tel3.json" flows)
    [[ $got == 0 ]] && break
    sleep 0.1
done
[[ $got == 0 ]] && pass "holder stopped: no flow left in the fast path" ||
    fail "holder stopped: $got flows left in the fast path"
[[ $(field "$WORK/tel3.json" pid) == "$(cat "$TAS_RUN_DIR/fastpath.pid")" ]] && pass "/tas/stats pid is the fast path's" ||
    fail "/tas/stats pid differs from $TAS_RUN_DIR/fastpath.pid"
finish
