/* app.c - checks on application queue entries and region geometry; see app.h. */
#include "app.h"

enum fp_entry_verdict fp_app_entry_check(const struct tas_app_tx_entry *e,
                                         const struct fp_app *app,
                                         const struct fp_flow *flows,
                                         const struct tas_flow *sflows,
                                         uint32_t max_flows)
{
    if (e->flow_id >= max_flows || (e->flags & ~TAS_APP_TX_F_REWIND) != 0)
        return FP_ENTRY_BAD;
    const struct fp_flow *p = &flows[e->flow_id];
    if (p->app != app)
        return FP_ENTRY_BAD;
    /* The application learns of an RST or a removal after the fact, so it
     * may still post for a flow of its own that we stopped. */
    if (p->state != FP_FLOW_ACTIVE)
        return FP_ENTRY_STALE;
    const struct tas_flow *f = &sflows[e->flow_id];
    if ((e->flags & TAS_APP_TX_F_REWIND) && (f->tx_avail != 0 || f->tx_sent != 0))
        return FP_ENTRY_BAD;
    if (e->tx_bytes > p->tx_size - f->tx_avail - f->tx_sent)
        return FP_ENTRY_BAD;
    if (e->rx_bytes > p->rx_size - f->rx_avail - p->note_rx_bytes)
        return FP_ENTRY_BAD;
    return FP_ENTRY_OK;
}

static bool pow2(uint32_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

bool fp_app_geometry_ok(const struct tas_app_geometry *g, uint64_t region_size)
{
    if (g->size > region_size || g->size > (1ull << 32) ||
        g->size < sizeof(struct tas_app_header))
        return false;
    if (!pow2(g->ring_slots) || g->ring_slots > (1u << 20) || g->max_ctx == 0 ||
        g->max_ctx > 65536)
        return false;
    if (g->ctx_stride < tas_app_ctx_stride(g->ring_slots) ||
        g->ctx_off % TAS_CACHE_LINE || g->ctx_stride % TAS_CACHE_LINE ||
        g->ctx_off < sizeof(struct tas_app_header))
        return false;
    uint64_t ctx_end = g->ctx_off + (uint64_t)g->max_ctx * g->ctx_stride;
    if (ctx_end > g->payload_off || g->payload_off > g->size ||
        g->payload_size > g->size - g->payload_off)
        return false;
    return true;
}

bool fp_app_payload_ok(const struct fp_app *a, uint32_t base, uint32_t size)
{
    uint64_t start = a->geo.payload_off, end = start + a->geo.payload_size;
    return size != 0 && base >= start && (uint64_t)base + size <= end;
}

bool fp_svc_geometry_ok(const struct tas_svc_geometry *g, uint64_t region_size)
{
    if (g->size > region_size || g->cores == 0 || g->cores > TAS_MAX_FP_CORES)
        return false;
    if (!pow2(g->ring_slots) || g->ring_slots > (1u << 16) || g->max_flows == 0 ||
        g->max_flows >= TAS_INVALID_FLOW)
        return false;
    uint64_t need = 2 * sizeof(struct tas_ring_shared) +
                    2ull * g->ring_slots * TAS_SVC_SLOT_SIZE;
    if (g->queue_stride < need || g->queues_off < sizeof(struct tas_svc_header) ||
        g->queues_off % TAS_CACHE_LINE || g->queue_stride % TAS_CACHE_LINE)
        return false;
    uint64_t queues_end = g->queues_off + (uint64_t)g->cores * g->queue_stride;
    if (queues_end > g->size || g->flows_off < queues_end ||
        g->flows_off % TAS_CACHE_LINE)
        return false;
    return (uint64_t)g->max_flows * sizeof(struct tas_flow) <= g->size - g->flows_off;
}
