/* tx_sched.h - which flow transmits next: the ready FIFO, per-flow pacing and a
 * timing wheel for paced flows that must wait.
 *
 * A flow with sendable data is queued on the ready FIFO; the TX loop pops
 * flows round-robin, sends a bounded batch from each and requeues it when it
 * has more.  A flow with a rate limit is paced with a virtual clock (GCRA,
 * equivalent to a token bucket whose depth is the burst allowance): sending
 * n bytes moves its theoretical arrival time by n bytes' worth of cycles,
 * and while that time is ahead of now by more than the burst allowance the
 * flow parks on the timing wheel until it is due.  Every operation is O(1);
 * nothing allocates after fp_sched_init.
 *
 * A flow is on at most one list at a time (they share one link array).
 * Removing a flow does not unlink it: the TX loop checks each popped flow is
 * still active, which keeps removal O(1) as well.
 */
#ifndef FP_TX_SCHED_H
#define FP_TX_SCHED_H

#include <stdbool.h>
#include <stdint.h>

/* FIFO of flow ids linked through an external next[] array. */
struct fp_idfifo {
    uint32_t head;
    uint32_t tail;
};

void fp_idfifo_init(struct fp_idfifo *q);
bool fp_idfifo_empty(const struct fp_idfifo *q);
void fp_idfifo_push(struct fp_idfifo *q, uint32_t *next, uint32_t id);
/* Oldest id, or TAS_INVALID_FLOW when empty. */
uint32_t fp_idfifo_pop(struct fp_idfifo *q, uint32_t *next);

enum fp_sched_where { FP_SCHED_NONE = 0, FP_SCHED_READY, FP_SCHED_WHEEL };

#define FP_WHEEL_SLOTS 1024u   /* ~1 ms horizon at ~1 us slots */

struct fp_sched {
    uint32_t *next;            /* link per flow */
    uint8_t *where;            /* enum fp_sched_where per flow */
    struct fp_idfifo ready;
    struct fp_idfifo wheel[FP_WHEEL_SLOTS];
    uint32_t wheel_count;      /* flows parked on the wheel */
    unsigned slot_shift;       /* log2 of cycles per slot */
    uint64_t wheel_now;        /* absolute slot number the wheel is at */
};

/* Returns 0 or -ENOMEM. */
int fp_sched_init(struct fp_sched *s, uint32_t max_flows, uint64_t tsc_hz,
                  uint64_t now);
void fp_sched_free(struct fp_sched *s);

/* Queue flow id to send; no-op if it is already queued or parked. */
void fp_sched_ready(struct fp_sched *s, uint32_t id);
/* Takes the ready FIFO as one round of work: flows made ready while the
 * round is served (a flow with more to send requeues itself) wait for the
 * next round, so each gets one turn per round. */
void fp_sched_begin_round(struct fp_sched *s, struct fp_idfifo *round);
/* Next flow of the round, or TAS_INVALID_FLOW when it is done. */
uint32_t fp_sched_pop_round(struct fp_sched *s, struct fp_idfifo *round);
/* Park flow id (not queued anywhere) until tsc time `due`. */
void fp_sched_park(struct fp_sched *s, uint32_t id, uint64_t due);
/* Move the flows parked up to `now` onto the ready FIFO. */
void fp_sched_expire(struct fp_sched *s, uint64_t now);
bool fp_sched_idle(const struct fp_sched *s);

/* Cycles that sending `bytes` at rate_kbps takes (rate_kbps > 0). */
uint64_t fp_pace_cycles(uint32_t bytes, uint32_t rate_kbps, uint64_t tsc_hz);
/* Time from which a flow with theoretical arrival time tat may send, given
 * a burst allowance of `burst` cycles; <= now means it may send now. */
uint64_t fp_pace_due(uint64_t tat, uint64_t burst);
/* Account `cycles` of sending at time now. */
void fp_pace_charge(uint64_t *tat, uint64_t now, uint64_t cycles);

#endif /* FP_TX_SCHED_H */
