/* arp.c - neighbour cache with open addressing (linear probing, deletion by
 * backward shift) so lookups touch one or two cache lines and need no
 * allocation; only parked frames are allocated, on the uncommon path. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arp.h"

static uint32_t arp_hash(uint32_t ip)
{
    uint32_t h = ip * 0x9e3779b1u;
    return h ^ (h >> 16);
}

int arp_cache_init(struct arp_cache *c, uint32_t capacity, uint64_t timeout_us)
{
    uint32_t n = 16;
    while (n < capacity * 2)
        n <<= 1;
    c->e = calloc(n, sizeof(*c->e));
    if (!c->e)
        return -ENOMEM;
    c->mask = n - 1;
    c->used = 0;
    c->timeout_us = timeout_us;
    return 0;
}

static void arp_drop_pending(struct arp_entry *e)
{
    struct list_node *n;
    while ((n = list_pop_head(&e->pending)) != NULL)
        free(container_of(n, struct arp_pending, node));
    e->n_pending = 0;
}

void arp_cache_free(struct arp_cache *c)
{
    for (uint32_t i = 0; i <= c->mask; i++)
        if (c->e[i].state != ARP_FREE)
            arp_drop_pending(&c->e[i]);
    free(c->e);
    c->e = NULL;
}

static struct arp_entry *arp_find(struct arp_cache *c, uint32_t ip)
{
    for (uint32_t i = arp_hash(ip) & c->mask;; i = (i + 1) & c->mask) {
        struct arp_entry *e = &c->e[i];
        if (e->state == ARP_FREE)
            return NULL;
        if (e->ip == ip)
            return e;
    }
}

/* Keeps the table at most half full so probes stay short and always end. */
static struct arp_entry *arp_insert(struct arp_cache *c, uint32_t ip)
{
    if (c->used + 1 > (c->mask + 1) / 2)
        return NULL;
    uint32_t i = arp_hash(ip) & c->mask;
    while (c->e[i].state != ARP_FREE)
        i = (i + 1) & c->mask;
    struct arp_entry *e = &c->e[i];
    memset(e, 0, sizeof(*e));
    e->ip = ip;
    e->state = ARP_INCOMPLETE;
    list_init(&e->pending);
    c->used++;
    return e;
}

/* Backward-shift deletion keeps every remaining entry reachable from its
 * home slot without tombstones. */
static void arp_delete(struct arp_cache *c, struct arp_entry *victim)
{
    arp_drop_pending(victim);
    uint32_t hole = (uint32_t)(victim - c->e);
    uint32_t i = hole;
    for (;;) {
        i = (i + 1) & c->mask;
        struct arp_entry *e = &c->e[i];
        if (e->state == ARP_FREE)
            break;
        uint32_t home = arp_hash(e->ip) & c->mask;
        /* e may move into the hole if its home is not in (hole, i]. */
        if (((i - home) & c->mask) >= ((i - hole) & c->mask)) {
            c->e[hole] = *e;
            struct arp_entry *moved = &c->e[hole];
            /* The pending list head moved: re-anchor its neighbours. */
            if (list_empty(&e->pending)) {
                list_init(&moved->pending);
            } else {
                moved->pending.next->prev = &moved->pending;
                moved->pending.prev->next = &moved->pending;
            }
            hole = i;
        }
    }
    c->e[hole].state = ARP_FREE;
    c->used--;
}

enum arp_result arp_resolve(struct arp_cache *c, uint32_t ip, uint64_t now,
                            uint8_t mac[6])
{
    struct arp_entry *e = arp_find(c, ip);
    if (!e) {
        e = arp_insert(c, ip);
        if (!e)
            return ARP_FULL;
        e->requests = 1;
        e->requested_us = now;
        return ARP_SEND_REQUEST;
    }
    if (e->state == ARP_INCOMPLETE)
        return ARP_WAITING;
    memcpy(mac, e->mac, 6);
    if (now - e->updated_us >= c->timeout_us &&
        (e->requests == 0 || now - e->requested_us >= ARP_RETRY_US)) {
        e->requests++;
        e->requested_us = now;
        return ARP_RESOLVED_REFRESH;
    }
    return ARP_RESOLVED;
}

bool arp_park(struct arp_cache *c, uint32_t ip, const void *frame, uint16_t len)
{
    struct arp_entry *e = arp_find(c, ip);
    if (!e || e->state != ARP_INCOMPLETE || e->n_pending >= ARP_MAX_PENDING)
        return false;
    struct arp_pending *p = malloc(sizeof(*p) + len);
    if (!p)
        return false;
    p->len = len;
    memcpy(p->frame, frame, len);
    list_insert_tail(&e->pending, &p->node);
    e->n_pending++;
    return true;
}

void arp_learn(struct arp_cache *c, uint32_t ip, const uint8_t mac[6],
               bool create, uint64_t now, struct list_node *ready)
{
    struct arp_entry *e = arp_find(c, ip);
    if (!e) {
        if (!create)
            return;
        e = arp_insert(c, ip);
        if (!e)
            return;
    }
    memcpy(e->mac, mac, 6);
    e->state = ARP_REACHABLE;
    e->requests = 0;
    e->updated_us = now;
    struct list_node *n;
    while ((n = list_pop_head(&e->pending)) != NULL)
        list_insert_tail(ready, n);
    e->n_pending = 0;
}

unsigned arp_tick(struct arp_cache *c, uint64_t now, uint32_t *retry, unsigned max)
{
    unsigned n = 0;
    uint32_t i = 0;
    while (i <= c->mask) {
        struct arp_entry *e = &c->e[i];
        bool outstanding = e->state == ARP_INCOMPLETE ||
                           (e->state == ARP_REACHABLE && e->requests > 0);
        if (!outstanding || now - e->requested_us < ARP_RETRY_US) {
            i++;
            continue;
        }
        if (e->requests >= ARP_MAX_REQUESTS) {
            /* The neighbour is gone: forget it; deletion may shift another
             * entry into slot i, so look at it again. */
            arp_delete(c, e);
            continue;
        }
        if (n < max) {
            e->requests++;
            e->requested_us = now;
            retry[n++] = e->ip;
        }
        i++;
    }
    return n;
}
