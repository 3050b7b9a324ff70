/* payload.h - allocator for the payload area of an application region.
 *
 * Every flow needs an RX and a TX ring carved out of its application's
 * payload area; they are returned when the flow is gone.  Extents are
 * page-aligned so freed rings can be given back to the kernel (the memfd is
 * sparse) and so no two flows share a page.
 */
#ifndef SP_PAYLOAD_H
#define SP_PAYLOAD_H

#include <stdint.h>

#define PAYLOAD_ALIGN 4096u

struct payload_extent {
    uint64_t off;
    uint64_t len;
};

struct payload_alloc {
    struct payload_extent *free;  /* sorted by offset, never adjacent */
    uint32_t n_free;
    uint32_t cap;
    uint64_t size;
    uint64_t in_use;
};

int payload_init(struct payload_alloc *a, uint64_t size);
void payload_destroy(struct payload_alloc *a);

/* Offset (relative to the payload area) of len bytes, or -1 when full. */
int64_t payload_alloc(struct payload_alloc *a, uint64_t len);

/* Returns an extent obtained from payload_alloc with the same len. */
void payload_free(struct payload_alloc *a, uint64_t off, uint64_t len);

#endif /* SP_PAYLOAD_H */
