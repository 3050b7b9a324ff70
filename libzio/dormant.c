/* Dormant spans (see include/zio/dormant.h): an array of disjoint spans
 * sorted by address.  A program with many large buffers frees them into
 * many distinct places, so the table holds up to ZIO_DORMANT_MAX spans and
 * is searched by bisection: it is consulted on every large read() while
 * any span exists.  Spans that merely touch are kept apart, so that a
 * fault in one freed block releases that block, not its neighbours. */
#include <string.h>

#include "zio/dormant.h"

/* Index of the first span ending after addr (d->n if none). */
static size_t first_ending_after(const struct zio_dormant *d, uintptr_t addr)
{
    size_t lo = 0, hi = d->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (d->spans[mid].end > addr)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* The index of a span overlapping [start, end), or d->n if none. */
static size_t find_overlap(const struct zio_dormant *d, uintptr_t start, uintptr_t end)
{
    size_t i = first_ending_after(d, start);

    return i < d->n && d->spans[i].start < end ? i : d->n;
}

static void remove_range(struct zio_dormant *d, size_t from, size_t to)
{
    memmove(&d->spans[from], &d->spans[to], (d->n - to) * sizeof(d->spans[0]));
    d->n -= to - from;
}

static bool insert_at(struct zio_dormant *d, size_t i, uintptr_t start, uintptr_t end)
{
    if (d->n == ZIO_DORMANT_MAX)
        return false;
    memmove(&d->spans[i + 1], &d->spans[i], (d->n - i) * sizeof(d->spans[0]));
    d->spans[i] = (struct zio_span){ start, end };
    d->n++;
    return true;
}

bool zio_dormant_add(struct zio_dormant *d, uintptr_t start, uintptr_t end)
{
    size_t first, last;

    if (start >= end)
        return true;
    first = first_ending_after(d, start);
    for (last = first; last < d->n && d->spans[last].start < end; last++)
        ;
    if (first == last)
        return insert_at(d, first, start, end);
    /* Absorb every span the new one overlaps into the first of them. */
    if (d->spans[first].start < start)
        start = d->spans[first].start;
    if (d->spans[last - 1].end > end)
        end = d->spans[last - 1].end;
    d->spans[first] = (struct zio_span){ start, end };
    remove_range(d, first + 1, last);
    return true;
}

bool zio_dormant_overlaps(const struct zio_dormant *d, uintptr_t start, uintptr_t end)
{
    return find_overlap(d, start, end) < d->n;
}

bool zio_dormant_take(struct zio_dormant *d, uintptr_t start, uintptr_t end,
                      struct zio_span *out)
{
    size_t i = find_overlap(d, start, end);

    if (i == d->n)
        return false;
    *out = d->spans[i];
    remove_range(d, i, i + 1);
    return true;
}

bool zio_dormant_cut(struct zio_dormant *d, uintptr_t start, uintptr_t end,
                     struct zio_span *out)
{
    size_t i = find_overlap(d, start, end);
    struct zio_span *span;
    bool left, right;

    if (i == d->n)
        return false;
    span = &d->spans[i];
    out->start = span->start > start ? span->start : start;
    out->end = span->end < end ? span->end : end;
    left = span->start < out->start;
    right = out->end < span->end;
    if (left && right) {
        /* A full table cannot split the span: the whole of it goes. */
        if (!insert_at(d, i + 1, out->end, span->end)) {
            *out = *span;
            remove_range(d, i, i + 1);
            return true;
        }
        span->end = out->start;
    } else if (left) {
        span->end = out->start;
    } else if (right) {
        span->start = out->end;
    } else {
        remove_range(d, i, i + 1);
    }
    return true;
}
