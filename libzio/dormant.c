/* Dormant spans (see include/zio/dormant.h): a small unsorted table of
 * disjoint spans, because it holds at most ZIO_DORMANT_MAX of them and is
 * consulted a few times per elided copy. */
#include "zio/dormant.h"

static bool overlap(const struct zio_span *s, uintptr_t start, uintptr_t end)
{
    return s->start < end && start < s->end;
}

static void remove_at(struct zio_dormant *d, size_t i)
{
    d->spans[i] = d->spans[--d->n];
}

bool zio_dormant_add(struct zio_dormant *d, uintptr_t start, uintptr_t end)
{
    size_t i = 0;

    if (start >= end)
        return true;
    /* Absorb every span that overlaps or touches the new one. */
    while (i < d->n) {
        struct zio_span *s = &d->spans[i];

        if (s->start <= end && start <= s->end) {
            if (s->start < start)
                start = s->start;
            if (s->end > end)
                end = s->end;
            remove_at(d, i);
        } else {
            i++;
        }
    }
    if (d->n == ZIO_DORMANT_MAX)
        return false;
    d->spans[d->n++] = (struct zio_span){ start, end };
    return true;
}

bool zio_dormant_overlaps(const struct zio_dormant *d, uintptr_t start, uintptr_t end)
{
    for (size_t i = 0; i < d->n; i++) {
        if (overlap(&d->spans[i], start, end))
            return true;
    }
    return false;
}

bool zio_dormant_take(struct zio_dormant *d, uintptr_t start, uintptr_t end,
                      struct zio_span *out)
{
    for (size_t i = 0; i < d->n; i++) {
        if (overlap(&d->spans[i], start, end)) {
            *out = d->spans[i];
            remove_at(d, i);
            return true;
        }
    }
    return false;
}
