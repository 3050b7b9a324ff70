/* flow_table.c - 4-tuple hash table of installed flows; see flow_table.h. */
#include <errno.h>
#include <stdlib.h>

#include "flow_table.h"

/* A multiply-xorshift mix: cheap, and spreads the few bits that differ
 * between flows of one server (the remote port and address). */
static uint32_t tuple_hash(uint32_t local_ip, uint32_t remote_ip,
                           uint16_t local_port, uint16_t remote_port)
{
    uint64_t h = ((uint64_t)remote_ip << 32 | local_ip) * 0x9e3779b97f4a7c15ull;
    h ^= ((uint64_t)remote_port << 16 | local_port) * 0xc2b2ae3d27d4eb4full;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return (uint32_t)(h ^ h >> 32);
}

int fp_flow_table_init(struct fp_flow_table *t, struct fp_flow *flows,
                       uint32_t max_flows)
{
    uint32_t n = 16;
    while (n < max_flows && n < (1u << 31))
        n <<= 1;
    t->buckets = malloc(sizeof(uint32_t) * n);
    if (!t->buckets)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        t->buckets[i] = TAS_INVALID_FLOW;
    t->mask = n - 1;
    t->flows = flows;
    t->max_flows = max_flows;
    t->count = 0;
    for (uint32_t i = 0; i < max_flows; i++)
        flows[i].hash_next = TAS_INVALID_FLOW;
    return 0;
}

void fp_flow_table_free(struct fp_flow_table *t)
{
    free(t->buckets);
    t->buckets = NULL;
}

static uint32_t *bucket_of(const struct fp_flow_table *t, uint32_t local_ip,
                           uint32_t remote_ip, uint16_t local_port, uint16_t remote_port)
{
    return &t->buckets[tuple_hash(local_ip, remote_ip, local_port, remote_port) & t->mask];
}

static uint32_t *bucket_of_flow(const struct fp_flow_table *t, const struct fp_flow *f)
{
    return bucket_of(t, f->local_ip, f->remote_ip, f->local_port, f->remote_port);
}

const uint32_t *fp_flow_table_bucket(const struct fp_flow_table *t, uint32_t local_ip,
                                     uint32_t remote_ip, uint16_t local_port,
                                     uint16_t remote_port)
{
    return bucket_of(t, local_ip, remote_ip, local_port, remote_port);
}

uint32_t fp_flow_table_lookup(const struct fp_flow_table *t, uint32_t local_ip,
                              uint32_t remote_ip, uint16_t local_port,
                              uint16_t remote_port)
{
    uint32_t id = *bucket_of(t, local_ip, remote_ip, local_port, remote_port);
    while (id != TAS_INVALID_FLOW) {
        const struct fp_flow *f = &t->flows[id];
        if (f->remote_ip == remote_ip && f->remote_port == remote_port &&
            f->local_port == local_port && f->local_ip == local_ip)
            return id;
        id = f->hash_next;
    }
    return TAS_INVALID_FLOW;
}

int fp_flow_table_insert(struct fp_flow_table *t, uint32_t id)
{
    struct fp_flow *f = &t->flows[id];
    if (fp_flow_table_lookup(t, f->local_ip, f->remote_ip, f->local_port,
                             f->remote_port) != TAS_INVALID_FLOW)
        return -EEXIST;
    uint32_t *head = bucket_of_flow(t, f);
    f->hash_next = *head;
    *head = id;
    __atomic_store_n(&t->count, t->count + 1, __ATOMIC_RELAXED);
    return 0;
}

void fp_flow_table_remove(struct fp_flow_table *t, uint32_t id)
{
    uint32_t *link = bucket_of_flow(t, &t->flows[id]);
    while (*link != TAS_INVALID_FLOW) {
        if (*link == id) {
            *link = t->flows[id].hash_next;
            t->flows[id].hash_next = TAS_INVALID_FLOW;
            __atomic_store_n(&t->count, t->count - 1, __ATOMIC_RELAXED);
            return;
        }
        link = &t->flows[*link].hash_next;
    }
}

uint32_t fp_flow_table_count(const struct fp_flow_table *t)
{
    return __atomic_load_n(&t->count, __ATOMIC_RELAXED);
}
