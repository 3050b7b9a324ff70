/* conntab.c - chained hash table over 4-tuples, sized once for the
 * configured number of flows (half-open and TIME_WAIT entries share it, so
 * chains may grow a little beyond one entry under a SYN flood). */
#include <errno.h>
#include <stdlib.h>

#include "conntab.h"

int conntab_init(struct conntab *t, uint32_t expected, uint32_t secret)
{
    uint32_t n = 64;
    while (n < expected && n < (1u << 24))
        n <<= 1;
    t->buckets = calloc(n, sizeof(*t->buckets));
    if (!t->buckets)
        return -ENOMEM;
    t->mask = n - 1;
    t->count = 0;
    t->secret = secret;
    return 0;
}

void conntab_destroy(struct conntab *t)
{
    free(t->buckets);
    t->buckets = NULL;
}

static uint32_t conn_hash(const struct conntab *t, const struct conn_key *k)
{
    uint64_t h = ((uint64_t)k->remote_ip << 32 | k->local_ip) ^
                 ((uint64_t)t->secret << 32 | t->secret);
    h ^= ((uint64_t)k->remote_port << 16 | k->local_port) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    return (uint32_t)h & t->mask;
}

struct conn_hnode *conntab_find(const struct conntab *t, const struct conn_key *k)
{
    for (struct conn_hnode *n = t->buckets[conn_hash(t, k)]; n; n = n->next)
        if (conn_key_eq(&n->key, k))
            return n;
    return NULL;
}

int conntab_insert(struct conntab *t, struct conn_hnode *n)
{
    if (conntab_find(t, &n->key))
        return -EEXIST;
    struct conn_hnode **b = &t->buckets[conn_hash(t, &n->key)];
    n->next = *b;
    *b = n;
    t->count++;
    return 0;
}

void conntab_remove(struct conntab *t, struct conn_hnode *n)
{
    for (struct conn_hnode **p = &t->buckets[conn_hash(t, &n->key)]; *p; p = &(*p)->next) {
        if (*p == n) {
            *p = n->next;
            n->next = NULL;
            t->count--;
            return;
        }
    }
}
