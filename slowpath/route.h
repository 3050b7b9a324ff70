/* route.h - the instance's IPv4 routing table: the connected prefix, extra
 * routes and a default gateway, looked up by longest prefix. */
#ifndef SP_ROUTE_H
#define SP_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#define ROUTE_MAX 32

struct route {
    uint32_t net;                 /* network order, host bits zero */
    uint8_t prefix_len;
    uint32_t via;                 /* network order; 0 = on link */
};

struct route_table {
    struct route r[ROUTE_MAX + 2];
    unsigned n;
};

static inline uint32_t route_mask(uint8_t prefix_len)
{
    return prefix_len == 0 ? 0 : ~0u << (32 - prefix_len);
}

void route_table_init(struct route_table *t);

/* Adds a route; a gateway must be on link through a route already added.
 * Returns 0, -EEXIST for a duplicate prefix, -ENETUNREACH for a gateway that
 * is not on link, -ENOSPC when the table is full. */
int route_add(struct route_table *t, uint32_t net, uint8_t prefix_len,
              uint32_t via);

/* The IPv4 address whose MAC frames to dst go to, or 0 when unroutable. */
uint32_t route_next_hop(const struct route_table *t, uint32_t dst);

#endif /* SP_ROUTE_H */
