/* conntab.h - the slow path's connection lookup by 4-tuple.
 *
 * Holds every connection the slow path knows (half-open, connecting,
 * installed, TIME_WAIT) so exception segments find their connection.  The
 * fast path has its own table for installed flows; this one is never
 * touched per data packet.  Chained hashing with a keyed hash so a peer
 * cannot aim all its SYNs at one bucket.
 */
#ifndef SP_CONNTAB_H
#define SP_CONNTAB_H

#include <stdbool.h>
#include <stdint.h>

struct conn_key {
    uint32_t local_ip, remote_ip;     /* network order */
    uint16_t local_port, remote_port; /* network order */
};

struct conn_hnode {
    struct conn_hnode *next;
    struct conn_key key;
};

struct conntab {
    struct conn_hnode **buckets;
    uint32_t mask;
    uint32_t count;
    uint32_t secret;
};

int conntab_init(struct conntab *t, uint32_t expected, uint32_t secret);
void conntab_destroy(struct conntab *t);

static inline bool conn_key_eq(const struct conn_key *a, const struct conn_key *b)
{
    return a->local_ip == b->local_ip && a->remote_ip == b->remote_ip &&
           a->local_port == b->local_port && a->remote_port == b->remote_port;
}

struct conn_hnode *conntab_find(const struct conntab *t, const struct conn_key *k);

/* Inserts n (n->key set); -EEXIST if the 4-tuple is taken. */
int conntab_insert(struct conntab *t, struct conn_hnode *n);
void conntab_remove(struct conntab *t, struct conn_hnode *n);

#endif /* SP_CONNTAB_H */
