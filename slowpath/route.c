/* route.c - longest-prefix match over a handful of routes.  The table is
 * tiny (connected prefix, default gateway, a few --route entries) and only
 * consulted when a connection or a reply to an exception is set up, so a
 * linear scan is the simplest correct choice. */
#include <errno.h>
#include <arpa/inet.h>
#include <stddef.h>

#include "route.h"

void route_table_init(struct route_table *t)
{
    t->n = 0;
}

static const struct route *route_lookup(const struct route_table *t, uint32_t dst)
{
    const struct route *best = NULL;
    uint32_t d = ntohl(dst);
    for (unsigned i = 0; i < t->n; i++) {
        const struct route *r = &t->r[i];
        if ((d & route_mask(r->prefix_len)) != ntohl(r->net))
            continue;
        if (!best || r->prefix_len > best->prefix_len)
            best = r;
    }
    return best;
}

int route_add(struct route_table *t, uint32_t net, uint8_t prefix_len,
              uint32_t via)
{
    if (prefix_len > 32)
        return -EINVAL;
    net = htonl(ntohl(net) & route_mask(prefix_len));
    for (unsigned i = 0; i < t->n; i++)
        if (t->r[i].net == net && t->r[i].prefix_len == prefix_len)
            return -EEXIST;
    if (via != 0) {
        const struct route *g = route_lookup(t, via);
        if (!g || g->via != 0)
            return -ENETUNREACH;
    }
    if (t->n >= sizeof(t->r) / sizeof(t->r[0]))
        return -ENOSPC;
    t->r[t->n++] = (struct route){ .net = net, .prefix_len = prefix_len, .via = via };
    return 0;
}

uint32_t route_next_hop(const struct route_table *t, uint32_t dst)
{
    const struct route *r = route_lookup(t, dst);
    if (!r)
        return 0;
    return r->via ? r->via : dst;
}
