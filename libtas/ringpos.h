/* ringpos.h - positions in a flow's payload ring.
 *
 * Each flow has an RX and a TX byte ring of any size (not necessarily a power
 * of two) inside the application region.  libtas keeps a position in
 * [0, size) and a byte count per ring; these helpers advance a position and
 * split a byte range that wraps into its two pieces.  Kept apart from the
 * rest so the arithmetic is unit-tested on its own.
 */
#ifndef LIBTAS_RINGPOS_H
#define LIBTAS_RINGPOS_H

#include <stdint.h>

struct ringpos_span {
    uint32_t off;
    uint32_t len;
};

/* pos < size and n <= size: the position n bytes further on. */
static inline uint32_t ringpos_advance(uint32_t pos, uint32_t n, uint32_t size)
{
    uint64_t p = (uint64_t)pos + n;
    return (uint32_t)(p >= size ? p - size : p);
}

/* Split len bytes starting at pos (pos < size, len <= size) into at most
 * two spans; returns how many are non-empty. */
static inline int ringpos_spans(uint32_t pos, uint32_t len, uint32_t size,
                                struct ringpos_span span[2])
{
    uint32_t first = size - pos < len ? size - pos : len;

    span[0].off = pos;
    span[0].len = first;
    span[1].off = 0;
    span[1].len = len - first;
    return (first > 0) + (len > first);
}

#endif /* LIBTAS_RINGPOS_H */
