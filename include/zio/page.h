/* Page arithmetic for libzio.
 *
 * zIO elides copies only at page granularity: the part of a destination
 * buffer made of whole pages (the core) can be left unmapped and tracked,
 * the partial pages at either end (the fringes) are always copied.  These
 * helpers are shared by the library and its unit tests. */
#ifndef ZIO_PAGE_H
#define ZIO_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZIO_PAGE_SIZE 4096UL
#define ZIO_PAGE_MASK (~(ZIO_PAGE_SIZE - 1))

static inline uintptr_t zio_page_down(uintptr_t addr)
{
    return addr & ZIO_PAGE_MASK;
}

static inline uintptr_t zio_page_up(uintptr_t addr)
{
    return (addr + ZIO_PAGE_SIZE - 1) & ZIO_PAGE_MASK;
}

/* How a copy of len bytes to dst splits into head fringe, core, tail fringe. */
struct zio_split {
    uintptr_t core_start;   /* first byte of the first whole page */
    uintptr_t core_end;     /* one past the last whole page */
    size_t head_len;        /* bytes before core_start */
    size_t tail_len;        /* bytes after core_end */
};

bool zio_split_copy(uintptr_t dst, size_t len, struct zio_split *split);

#endif
