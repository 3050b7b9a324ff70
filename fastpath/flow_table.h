/* flow_table.h - 4-tuple -> flow id lookup for established flows.
 *
 * A chained hash table private to the fast path.  Chains link through
 * struct fp_flow.hash_next so the table itself is one array of bucket heads,
 * sized at attach time from the service geometry; lookups, inserts and
 * removals never allocate.  Only the fast path core that owns the table
 * touches it (installs and removals arrive as commands on that core).
 */
#ifndef FP_FLOW_TABLE_H
#define FP_FLOW_TABLE_H

#include <stdint.h>

#include "flow.h"

struct fp_flow_table {
    uint32_t *buckets;
    uint32_t mask;             /* bucket count - 1 */
    struct fp_flow *flows;     /* indexed by flow id */
    uint32_t max_flows;
    uint32_t count;            /* flows linked; read by other threads (telemetry) */
};

/* Returns 0 or -ENOMEM.  flows must hold max_flows entries. */
int fp_flow_table_init(struct fp_flow_table *t, struct fp_flow *flows,
                       uint32_t max_flows);
void fp_flow_table_free(struct fp_flow_table *t);

/* Flow id for the 4-tuple (network order, as seen from this host), or
 * TAS_INVALID_FLOW. */
uint32_t fp_flow_table_lookup(const struct fp_flow_table *t, uint32_t local_ip,
                              uint32_t remote_ip, uint16_t local_port,
                              uint16_t remote_port);

/* The 4-tuple's bucket: its value is the first flow of the chain
 * (TAS_INVALID_FLOW if none), usually the one a lookup will find.  For a
 * burst of segments, so that the caller can prefetch the bucket, then the
 * flow it names, before it looks up anything. */
const uint32_t *fp_flow_table_bucket(const struct fp_flow_table *t, uint32_t local_ip,
                                     uint32_t remote_ip, uint16_t local_port,
                                     uint16_t remote_port);

/* Links flow id under the key already stored in flows[id].  Returns 0, or
 * -EEXIST when another flow has the same 4-tuple. */
int fp_flow_table_insert(struct fp_flow_table *t, uint32_t id);

/* Unlinks flow id; a flow that is not linked is left alone. */
void fp_flow_table_remove(struct fp_flow_table *t, uint32_t id);

/* Flows linked now; safe to call from any thread. */
uint32_t fp_flow_table_count(const struct fp_flow_table *t);

#endif /* FP_FLOW_TABLE_H */
