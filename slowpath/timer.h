/* timer.h - one-shot timers kept in a binary min-heap.
 *
 * Each connection embeds one struct sp_timer (handshake retransmission,
 * control interval or TIME_WAIT expiry depending on its state); the event
 * loop arms a single timerfd for the earliest deadline.  Deadlines are
 * CLOCK_MONOTONIC microseconds.
 */
#ifndef SP_TIMER_H
#define SP_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#define TIMER_NOT_QUEUED UINT32_MAX

struct sp_timer {
    uint64_t deadline_us;
    uint32_t heap_idx;        /* TIMER_NOT_QUEUED when not armed */
};

struct timer_heap {
    struct sp_timer **h;
    uint32_t n;
    uint32_t cap;
};

int timer_heap_init(struct timer_heap *th, uint32_t cap);
void timer_heap_destroy(struct timer_heap *th);

static inline void timer_init(struct sp_timer *t)
{
    t->heap_idx = TIMER_NOT_QUEUED;
    t->deadline_us = 0;
}

static inline bool timer_armed(const struct sp_timer *t)
{
    return t->heap_idx != TIMER_NOT_QUEUED;
}

/* (Re)arms t for deadline_us.  Returns -ENOMEM if the heap cannot grow. */
int timer_arm(struct timer_heap *th, struct sp_timer *t, uint64_t deadline_us);
void timer_cancel(struct timer_heap *th, struct sp_timer *t);

/* The earliest timer, or NULL. */
static inline struct sp_timer *timer_first(const struct timer_heap *th)
{
    return th->n ? th->h[0] : NULL;
}

/* Removes and returns the earliest timer if it is due at now. */
struct sp_timer *timer_pop_due(struct timer_heap *th, uint64_t now_us);

#endif /* SP_TIMER_H */
