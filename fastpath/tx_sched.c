/* tx_sched.c - ready FIFO, pacing clock and timing wheel; see tx_sched.h. */
#include <errno.h>
#include <stdlib.h>

#include <tas/abi.h>

#include "tx_sched.h"

void fp_idfifo_init(struct fp_idfifo *q)
{
    q->head = q->tail = TAS_INVALID_FLOW;
}

bool fp_idfifo_empty(const struct fp_idfifo *q)
{
    return q->head == TAS_INVALID_FLOW;
}

void fp_idfifo_push(struct fp_idfifo *q, uint32_t *next, uint32_t id)
{
    next[id] = TAS_INVALID_FLOW;
    if (q->head == TAS_INVALID_FLOW)
        q->head = id;
    else
        next[q->tail] = id;
    q->tail = id;
}

uint32_t fp_idfifo_pop(struct fp_idfifo *q, uint32_t *next)
{
    uint32_t id = q->head;
    if (id != TAS_INVALID_FLOW) {
        q->head = next[id];
        if (q->head == TAS_INVALID_FLOW)
            q->tail = TAS_INVALID_FLOW;
    }
    return id;
}

int fp_sched_init(struct fp_sched *s, uint32_t max_flows, uint64_t tsc_hz,
                  uint64_t now)
{
    s->next = malloc(sizeof(*s->next) * max_flows);
    s->where = calloc(max_flows, sizeof(*s->where));
    if (!s->next || !s->where) {
        fp_sched_free(s);
        return -ENOMEM;
    }
    fp_idfifo_init(&s->ready);
    for (unsigned i = 0; i < FP_WHEEL_SLOTS; i++)
        fp_idfifo_init(&s->wheel[i]);
    s->wheel_count = 0;
    /* slots of the largest power of two of cycles not above a microsecond */
    s->slot_shift = 0;
    while ((2ull << s->slot_shift) <= tsc_hz / 1000000)
        s->slot_shift++;
    s->wheel_now = now >> s->slot_shift;
    return 0;
}

void fp_sched_free(struct fp_sched *s)
{
    free(s->next);
    free(s->where);
    s->next = NULL;
    s->where = NULL;
}

void fp_sched_ready(struct fp_sched *s, uint32_t id)
{
    if (s->where[id] != FP_SCHED_NONE)
        return;
    s->where[id] = FP_SCHED_READY;
    fp_idfifo_push(&s->ready, s->next, id);
}

void fp_sched_begin_round(struct fp_sched *s, struct fp_idfifo *round)
{
    *round = s->ready;
    fp_idfifo_init(&s->ready);
}

uint32_t fp_sched_pop_round(struct fp_sched *s, struct fp_idfifo *round)
{
    uint32_t id = fp_idfifo_pop(round, s->next);
    if (id != TAS_INVALID_FLOW)
        s->where[id] = FP_SCHED_NONE;
    return id;
}

void fp_sched_park(struct fp_sched *s, uint32_t id, uint64_t due)
{
    uint64_t slot = due >> s->slot_shift;
    /* Past the horizon: park at its end; the flow is parked again when it
     * comes round too early. */
    if (slot <= s->wheel_now)
        slot = s->wheel_now + 1;
    else if (slot - s->wheel_now >= FP_WHEEL_SLOTS)
        slot = s->wheel_now + FP_WHEEL_SLOTS - 1;
    s->where[id] = FP_SCHED_WHEEL;
    fp_idfifo_push(&s->wheel[slot % FP_WHEEL_SLOTS], s->next, id);
    s->wheel_count++;
}

void fp_sched_expire(struct fp_sched *s, uint64_t now)
{
    uint64_t target = now >> s->slot_shift;
    if (s->wheel_count == 0) {
        s->wheel_now = target;
        return;
    }
    /* Walking more than one revolution would revisit the same slots. */
    if (target - s->wheel_now > FP_WHEEL_SLOTS)
        s->wheel_now = target - FP_WHEEL_SLOTS;
    while (s->wheel_now < target && s->wheel_count > 0) {
        s->wheel_now++;
        struct fp_idfifo *slot = &s->wheel[s->wheel_now % FP_WHEEL_SLOTS];
        uint32_t id;
        while ((id = fp_idfifo_pop(slot, s->next)) != TAS_INVALID_FLOW) {
            s->wheel_count--;
            s->where[id] = FP_SCHED_READY;
            fp_idfifo_push(&s->ready, s->next, id);
        }
    }
    s->wheel_now = target;
}

bool fp_sched_idle(const struct fp_sched *s)
{
    return fp_idfifo_empty(&s->ready) && s->wheel_count == 0;
}

uint64_t fp_pace_cycles(uint32_t bytes, uint32_t rate_kbps, uint64_t tsc_hz)
{
    /* bytes * 8 bits / (rate_kbps * 1000 bits/s) seconds, in cycles; the
     * product fits in 64 bits for any 32-bit byte count below ~2^26. */
    return (uint64_t)bytes * 8 * tsc_hz / ((uint64_t)rate_kbps * 1000);
}

uint64_t fp_pace_due(uint64_t tat, uint64_t burst)
{
    return tat > burst ? tat - burst : 0;
}

void fp_pace_charge(uint64_t *tat, uint64_t now, uint64_t cycles)
{
    if (*tat < now)
        *tat = now;
    *tat += cycles;
}
