/* timer.c - binary min-heap of timers with back-pointers, so re-arming and
 * cancelling a connection's timer is O(log n) without searching. */
#include <errno.h>
#include <stdlib.h>

#include "timer.h"

int timer_heap_init(struct timer_heap *th, uint32_t cap)
{
    th->n = 0;
    th->cap = cap ? cap : 64;
    th->h = malloc(th->cap * sizeof(*th->h));
    return th->h ? 0 : -ENOMEM;
}

void timer_heap_destroy(struct timer_heap *th)
{
    for (uint32_t i = 0; i < th->n; i++)
        th->h[i]->heap_idx = TIMER_NOT_QUEUED;
    free(th->h);
    th->h = NULL;
    th->n = th->cap = 0;
}

static void heap_place(struct timer_heap *th, uint32_t i, struct sp_timer *t)
{
    th->h[i] = t;
    t->heap_idx = i;
}

static void sift_up(struct timer_heap *th, uint32_t i)
{
    struct sp_timer *t = th->h[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (th->h[parent]->deadline_us <= t->deadline_us)
            break;
        heap_place(th, i, th->h[parent]);
        i = parent;
    }
    heap_place(th, i, t);
}

static void sift_down(struct timer_heap *th, uint32_t i)
{
    struct sp_timer *t = th->h[i];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= th->n)
            break;
        if (child + 1 < th->n &&
            th->h[child + 1]->deadline_us < th->h[child]->deadline_us)
            child++;
        if (t->deadline_us <= th->h[child]->deadline_us)
            break;
        heap_place(th, i, th->h[child]);
        i = child;
    }
    heap_place(th, i, t);
}

int timer_arm(struct timer_heap *th, struct sp_timer *t, uint64_t deadline_us)
{
    if (timer_armed(t)) {
        uint64_t old = t->deadline_us;
        t->deadline_us = deadline_us;
        if (deadline_us < old)
            sift_up(th, t->heap_idx);
        else
            sift_down(th, t->heap_idx);
        return 0;
    }
    if (th->n == th->cap) {
        struct sp_timer **grown = realloc(th->h, 2 * th->cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        th->h = grown;
        th->cap *= 2;
    }
    t->deadline_us = deadline_us;
    th->h[th->n] = t;
    t->heap_idx = th->n++;
    sift_up(th, t->heap_idx);
    return 0;
}

void timer_cancel(struct timer_heap *th, struct sp_timer *t)
{
    if (!timer_armed(t))
        return;
    uint32_t i = t->heap_idx;
    t->heap_idx = TIMER_NOT_QUEUED;
    th->n--;
    if (i == th->n)
        return;
    struct sp_timer *last = th->h[th->n];
    heap_place(th, i, last);
    if (i > 0 && th->h[(i - 1) / 2]->deadline_us > last->deadline_us)
        sift_up(th, i);
    else
        sift_down(th, i);
}

struct sp_timer *timer_pop_due(struct timer_heap *th, uint64_t now_us)
{
    struct sp_timer *t = timer_first(th);
    if (!t || t->deadline_us > now_us)
        return NULL;
    timer_cancel(th, t);
    return t;
}
