/* payload.c - first-fit allocation over a sorted array of free extents.
 *
 * Rings of one size dominate, so the array stays short (freed rings merge
 * with their neighbours) and a linear first-fit scan plus a binary search on
 * free is cheap for a path that runs once per connection. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "payload.h"

static uint64_t round_up(uint64_t v)
{
    return (v + PAYLOAD_ALIGN - 1) & ~(uint64_t)(PAYLOAD_ALIGN - 1);
}

int payload_init(struct payload_alloc *a, uint64_t size)
{
    memset(a, 0, sizeof(*a));
    a->cap = 16;
    a->free = malloc(a->cap * sizeof(*a->free));
    if (!a->free)
        return -ENOMEM;
    a->size = size & ~(uint64_t)(PAYLOAD_ALIGN - 1);
    if (a->size > 0)
        a->free[a->n_free++] = (struct payload_extent){ 0, a->size };
    return 0;
}

void payload_destroy(struct payload_alloc *a)
{
    free(a->free);
    memset(a, 0, sizeof(*a));
}

int64_t payload_alloc(struct payload_alloc *a, uint64_t len)
{
    len = round_up(len);
    if (len == 0)
        return -1;
    for (uint32_t i = 0; i < a->n_free; i++) {
        struct payload_extent *e = &a->free[i];
        if (e->len < len)
            continue;
        uint64_t off = e->off;
        e->off += len;
        e->len -= len;
        if (e->len == 0) {
            memmove(e, e + 1, (a->n_free - i - 1) * sizeof(*e));
            a->n_free--;
        }
        a->in_use += len;
        return (int64_t)off;
    }
    return -1;
}

/* Index of the first free extent starting after off. */
static uint32_t first_after(const struct payload_alloc *a, uint64_t off)
{
    uint32_t lo = 0, hi = a->n_free;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a->free[mid].off <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void payload_free(struct payload_alloc *a, uint64_t off, uint64_t len)
{
    len = round_up(len);
    uint32_t i = first_after(a, off);
    struct payload_extent *prev = i > 0 ? &a->free[i - 1] : NULL;
    struct payload_extent *next = i < a->n_free ? &a->free[i] : NULL;
    bool joins_prev = prev && prev->off + prev->len == off;
    bool joins_next = next && off + len == next->off;

    if (joins_prev && joins_next) {
        prev->len += len + next->len;
        memmove(next, next + 1, (a->n_free - i - 1) * sizeof(*next));
        a->n_free--;
    } else if (joins_prev) {
        prev->len += len;
    } else if (joins_next) {
        next->off = off;
        next->len += len;
    } else {
        if (a->n_free == a->cap) {
            /* Cannot fail the caller: growing only happens with heavy
             * fragmentation, and on allocation failure the extent is leaked
             * rather than corrupting the list. */
            struct payload_extent *grown =
                realloc(a->free, 2 * a->cap * sizeof(*grown));
            if (!grown)
                return;
            a->free = grown;
            a->cap *= 2;
        }
        memmove(&a->free[i + 1], &a->free[i], (a->n_free - i) * sizeof(*a->free));
        a->free[i] = (struct payload_extent){ off, len };
        a->n_free++;
    }
    a->in_use -= len;
}
