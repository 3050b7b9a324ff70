/* fuzz_app_queue.c - libFuzzer target for the fast path's reader of an
 * application's TX queue: the ring protocol of include/tas/ring.h on a
 * shared area the application controls entirely, and the validation of
 * every entry (fp_app_entry_check) before the fast path acts on it.
 *
 * Input: the ring's shared head and tail, then its slots, then an
 * application region geometry.  The target drains the ring as the fast
 * path's poll loop does (peek, copy out, release, check), applies accepted
 * entries to a small flow table the way the fast path does, and aborts if
 * an accepted entry would let the fast path send or announce more than a
 * flow's rings hold, or if a corrupt head is not recognised.  The geometry
 * goes through fp_app_geometry_ok; one it accepts must keep every context's
 * rings and the payload area inside the region.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tas/abi.h>
#include <tas/ring.h>

#include "app.h"
#include "flow.h"

#define SLOTS 16u
#define FLOWS 8u
#define RING_SIZE 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Flows 0-4 belong to the fuzzed application (4 is stopped), 5 to another
 * one, 6-7 are free; the rings are half used. */
static void make_flows(struct fp_app *mine, struct fp_app *other,
                       struct fp_flow *p, struct tas_flow *f)
{
    memset(p, 0, sizeof(*p) * FLOWS);
    memset(f, 0, sizeof(*f) * FLOWS);
    for (uint32_t i = 0; i < 6; i++) {
        p[i].app = i == 5 ? other : mine;
        p[i].state = i == 4 ? FP_FLOW_STOPPED : FP_FLOW_ACTIVE;
        p[i].rx_size = p[i].tx_size = RING_SIZE;
        f[i].tx_avail = RING_SIZE / 4;
        f[i].tx_sent = RING_SIZE / 4;
        f[i].rx_avail = RING_SIZE / 2;
    }
}

static void drain(const uint8_t *data, size_t size, struct fp_app *app,
                  struct fp_flow *p, struct tas_flow *f)
{
    struct tas_ring_shared sh;
    uint8_t slots[SLOTS * sizeof(struct tas_app_tx_entry)];
    memset(&sh, 0, sizeof(sh));
    memset(slots, 0, sizeof(slots));
    memcpy(&sh.head, data, 4);
    memcpy(&sh.tail, data + 4, 4);
    size_t n = size - 8 < sizeof(slots) ? size - 8 : sizeof(slots);
    memcpy(slots, data + 8, n);

    struct tas_ring r;
    tas_ring_init_view(&r, &sh, slots, SLOTS, sizeof(struct tas_app_tx_entry), false);
    for (unsigned i = 0; i < 2 * SLOTS; i++) {
        void *slot;
        enum tas_ring_status st = tas_ring_cons_peek(&r, &slot);
        if (st == TAS_RING_EMPTY)
            return;
        if (st == TAS_RING_CORRUPT) {
            if (sh.head - r.local <= SLOTS)
                abort();
            return;
        }
        if ((uint8_t *)slot < slots || (uint8_t *)slot >= slots + sizeof(slots))
            abort();
        struct tas_app_tx_entry e;
        memcpy(&e, slot, sizeof(e));
        tas_ring_cons_release(&r);
        if (fp_app_entry_check(&e, app, p, f, FLOWS) != FP_ENTRY_OK)
            continue;
        if (e.flow_id >= FLOWS || p[e.flow_id].app != app)
            abort();
        struct tas_flow *fl = &f[e.flow_id];
        if ((e.flags & TAS_APP_TX_F_REWIND) && (fl->tx_avail != 0 || fl->tx_sent != 0))
            abort();
        fl->tx_avail += e.tx_bytes;
        fl->rx_avail += e.rx_bytes;
        if ((uint64_t)fl->tx_avail + fl->tx_sent > RING_SIZE ||
            (uint64_t)fl->rx_avail + p[e.flow_id].note_rx_bytes > RING_SIZE)
            abort();
    }
}

static void check_geometry(const uint8_t *data, size_t size)
{
    struct tas_app_geometry g;
    if (size < sizeof(g) + sizeof(uint64_t))
        return;
    memcpy(&g, data, sizeof(g));
    uint64_t region;
    memcpy(&region, data + sizeof(g), sizeof(region));
    if (!fp_app_geometry_ok(&g, region))
        return;
    uint64_t ctx_end = g.ctx_off + (uint64_t)g.max_ctx * g.ctx_stride;
    if (g.size > region || ctx_end > g.size || g.payload_off + g.payload_size > g.size ||
        g.ctx_stride < tas_app_ctx_stride(g.ring_slots))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fp_flow p[FLOWS];
    static struct tas_flow f[FLOWS];
    struct fp_app mine = { .id = 0 }, other = { .id = 1 };
    if (size < 8)
        return 0;
    make_flows(&mine, &other, p, f);
    drain(data, size, &mine, p, f);
    size_t ring_part = 8 + SLOTS * sizeof(struct tas_app_tx_entry);
    if (size > ring_part)
        check_geometry(data + ring_part, size - ring_part);
    return 0;
}
