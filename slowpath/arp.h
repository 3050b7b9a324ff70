/* arp.h - the neighbour cache: IPv4 address -> MAC for next hops on link.
 *
 * Frames that wait for a resolution are parked on their entry and handed
 * back once the reply arrives (or dropped when it never does).  Resolved
 * entries past their age stay usable while a refresh request goes out, so a
 * busy neighbour never stalls traffic on a cache timeout.
 */
#ifndef SP_ARP_H
#define SP_ARP_H

#include <stdbool.h>
#include <stdint.h>

#include "list.h"

#define ARP_MAX_PENDING      8u       /* frames parked per entry */
#define ARP_MAX_REQUESTS     3u       /* unanswered requests before giving up */
#define ARP_RETRY_US         1000000u

enum arp_state {
    ARP_FREE = 0,
    ARP_INCOMPLETE,           /* request sent, no answer yet */
    ARP_REACHABLE,
};

struct arp_pending {
    struct list_node node;
    uint16_t len;
    uint8_t frame[];
};

struct arp_entry {
    uint32_t ip;              /* network order */
    uint8_t mac[6];
    uint8_t state;            /* enum arp_state */
    uint8_t requests;         /* sent since the last answer */
    uint64_t updated_us;      /* last answer */
    uint64_t requested_us;    /* last request */
    unsigned n_pending;
    struct list_node pending;
};

struct arp_cache {
    struct arp_entry *e;
    uint32_t mask;            /* open addressing, capacity = mask + 1 */
    uint32_t used;
    uint64_t timeout_us;
};

enum arp_result {
    ARP_RESOLVED,             /* mac filled in */
    ARP_RESOLVED_REFRESH,     /* mac filled in; also send a request now */
    ARP_SEND_REQUEST,         /* unknown: send a request now */
    ARP_WAITING,              /* a request is outstanding */
    ARP_FULL,                 /* no room for another neighbour */
};

int arp_cache_init(struct arp_cache *c, uint32_t capacity, uint64_t timeout_us);
void arp_cache_free(struct arp_cache *c);

/* Looks ip up for sending at time now; creates an incomplete entry when
 * needed and tells the caller whether to send a request. */
enum arp_result arp_resolve(struct arp_cache *c, uint32_t ip, uint64_t now,
                            uint8_t mac[6]);

/* Parks a copy of frame until ip resolves; false when it cannot (no entry,
 * too many parked, no memory). */
bool arp_park(struct arp_cache *c, uint32_t ip, const void *frame, uint16_t len);

/* Records ip -> mac (from an ARP packet).  create: the packet was addressed
 * to us, so a new entry is worth making (RFC 826); otherwise only existing
 * entries are updated.  Parked frames now sendable are moved to ready. */
void arp_learn(struct arp_cache *c, uint32_t ip, const uint8_t mac[6],
               bool create, uint64_t now, struct list_node *ready);

/* Periodic work: addresses that need another request are returned in
 * retry[] (at most max), entries that gave up are freed with their parked
 * frames.  Returns the number of addresses in retry. */
unsigned arp_tick(struct arp_cache *c, uint64_t now, uint32_t *retry, unsigned max);

#endif /* SP_ARP_H */
