#!/bin/bash
# impaired.sh: a 256 MB transfer completes intact in both directions under
# 1% random loss (nftables on the peer's veth) and under reordering and
# duplication (the impairment bridge).  The impairment counters must show
# that frames were actually dropped, reordered and duplicated.
source "$(dirname "$0")/lib.sh"
test_init impaired
need_built "$BULK"
bed_up --impair-bridge

BYTES=$(((QUICK ? 32 : 256) << 20))

# counter NAME: a bridge counter summed over both directions.
counter() {
    "$TESTBED" impair "$BED" --show | grep -o "$1=[0-9]*" | cut -d= -f2 |
        awk '{n += $1} END {print n + 0}'
}

note "1% loss"
"$TESTBED" impair "$BED" --loss 1 || fatal "tas-testbed impair --loss 1"
bulk_transfer peer tas "$BYTES" 1 7001 "1% loss: bulk peer -> TAS"
bulk_transfer tas peer "$BYTES" 1 7002 "1% loss: bulk TAS -> peer"
dropped=$(counter loss_dropped)
if ((dropped > 0)); then pass "1% loss: $dropped packets dropped"; else fail "1% loss: no packet was dropped"; fi

note "reordering 3% and duplication 1%"
"$TESTBED" impair "$BED" --clear || fatal "tas-testbed impair --clear"
"$TESTBED" impair "$BED" --reorder 3 --dup 1 || fatal "tas-testbed impair --reorder 3 --dup 1"
bulk_transfer peer tas "$BYTES" 1 7003 "reorder+dup: bulk peer -> TAS"
bulk_transfer tas peer "$BYTES" 1 7004 "reorder+dup: bulk TAS -> peer"
reordered=$(counter reordered)
duplicated=$(counter duplicated)
if ((reordered > 0 && duplicated > 0)); then
    pass "reorder+dup: $reordered frames reordered, $duplicated duplicated"
else
    fail "reorder+dup: $reordered frames reordered, $duplicated duplicated"
fi
finish
