/* Dormant spans: memory libzio keeps registered with userfaultfd although
 * no tracked page is in it any more.
 *
 * Unregistering a range costs a walk and rewrite of its VMAs (about as much
 * as a 512 KB memcpy on the machine measured in docs/zio.md), and the
 * memory is usually registered again at once: allocators hand the block
 * just freed to the next large copy, and the program reads its next input
 * into the buffer it just released.  So memory whose tracked pages go
 * stays registered and is recorded here.  A registered page that is not
 * mapped sends its first touch through the handler thread; when that
 * happens the engine unregisters the span touched, and when a read() is
 * about to fill such pages, or the memory is unmapped, it unregisters the
 * part of the spans the call covers.  Spans may hold pages
 * that became tracked again; the engine never unregisters those.
 * Callers serialize access. */
#ifndef ZIO_DORMANT_H
#define ZIO_DORMANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZIO_DORMANT_MAX 1024

struct zio_span {
    uintptr_t start, end;
};

struct zio_dormant {
    struct zio_span spans[ZIO_DORMANT_MAX];
    size_t n;
};

/* Adds [start, end), merged with the spans it overlaps.  False when the
 * table is full: the caller must then unregister the range itself. */
bool zio_dormant_add(struct zio_dormant *d, uintptr_t start, uintptr_t end);

/* True when some span overlaps [start, end). */
bool zio_dormant_overlaps(const struct zio_dormant *d, uintptr_t start, uintptr_t end);

/* Removes one span overlapping [start, end) and returns it.  False if none. */
bool zio_dormant_take(struct zio_dormant *d, uintptr_t start, uintptr_t end,
                      struct zio_span *out);

/* Removes from one span overlapping [start, end) the part inside it and
 * returns that part; the span's parts outside stay.  When that would split
 * the span and the table is full, the whole span goes and is returned.
 * False if no span overlaps. */
bool zio_dormant_cut(struct zio_dormant *d, uintptr_t start, uintptr_t end,
                     struct zio_span *out);

#endif
