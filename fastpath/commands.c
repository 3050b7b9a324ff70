/* commands.c - a core's two queues with the slow path: commands in (flow
 * install and removal, FIN, retransmit, context moves, raw frames to send,
 * application detach) and exceptions out (frames the fast path does not
 * handle, flow events, application faults, command completions).
 *
 * A flow is installed only after the slow path's description of it has been
 * copied and checked: rings inside the owning application's payload area,
 * positions inside the rings, a known context, a sane MSS.  The checked
 * geometry goes into the private struct fp_flow.
 */
#include <stdio.h>
#include <string.h>

#include "fastpath.h"
#include "tcp.h"

#define CMD_BATCH 32
/* Exception slots kept free of packets so events and completions, which
 * the slow path's state depends on, find room when packets flood in. */
#define EXC_RESERVED_SLOTS 16u
#define MIN_MSS 64u

static uint32_t exc_free_slots(const struct tas_ring *r)
{
    uint32_t tail = __atomic_load_n(&r->sh->tail, __ATOMIC_ACQUIRE);
    uint32_t used = r->local - tail;
    return used > r->mask + 1 ? 0 : r->mask + 1 - used;
}

static struct tas_svc_msg *exc_slot(struct fp_core *c, bool control)
{
    uint32_t reserve = control ? 0 : EXC_RESERVED_SLOTS;
    if (exc_free_slots(&c->exc) <= reserve) {
        c->stats->drops[TAS_DROP_EXC_QUEUE_FULL]++;
        return NULL;
    }
    return tas_ring_prod_slot(&c->exc);
}

static void exc_commit(struct fp_core *c)
{
    tas_ring_prod_commit(&c->exc);
    c->sp_kick_pending = true;
}

static void exc_control(struct fp_core *c, uint16_t kind, uint32_t flow_id,
                        uint32_t app_id, uint32_t arg, uint64_t cookie)
{
    struct tas_svc_msg *m = exc_slot(c, true);
    if (!m)
        return;
    m->kind = kind;
    m->len = 0;
    m->flow_id = flow_id;
    m->app_id = app_id;
    m->arg = arg;
    m->cookie = cookie;
    exc_commit(c);
}

void fp_exc_packet(struct fp_core *c, const uint8_t *frame, uint32_t len,
                   uint32_t flow_id)
{
    if (len > TAS_SVC_FRAME_MAX) {
        /* only a jumbo frame is this long, and no exception needs one */
        c->stats->drops[TAS_DROP_IP_HDR]++;
        return;
    }
    struct tas_svc_msg *m = exc_slot(c, false);
    if (!m)
        return;
    m->kind = TAS_EXC_PACKET;
    m->len = (uint16_t)len;
    m->flow_id = flow_id;
    m->app_id = 0;
    m->arg = 0;
    m->cookie = 0;
    memcpy(m->frame, frame, len);
    exc_commit(c);
    c->stats->exc_pkts++;
}

void fp_exc_event(struct fp_core *c, uint32_t flow_id, enum tas_flow_event ev)
{
    exc_control(c, TAS_EXC_FLOW_EVENT, flow_id, fp.sflows[flow_id].app_id, ev, 0);
}

void fp_exc_app_fault(struct fp_core *c, uint32_t app_id, enum tas_drop_reason r)
{
    exc_control(c, TAS_EXC_APP_FAULT, TAS_INVALID_FLOW, app_id, r, 0);
}

void fp_flow_stop(uint32_t id, const char *why)
{
    fprintf(stderr, "tas-fastpath: flow %u stopped: %s\n", id, why);
    fp.flows[id].state = FP_FLOW_STOPPED;
    fp.sflows[id].flags &= (uint16_t)~TAS_FLOW_F_ACTIVE;
}

void fp_flow_remove(uint32_t id)
{
    struct fp_flow *p = &fp.flows[id];
    if (p->state == FP_FLOW_FREE)
        return;
    fp_flow_table_remove(&fp.table, id);
    p->state = FP_FLOW_FREE;
    fp.sflows[id].flags &= (uint16_t)~TAS_FLOW_F_ACTIVE;
}

static const char *check_flow(const struct tas_flow *s, const struct fp_app *app)
{
    if (!app)
        return "unknown application";
    if (app->detached)
        return "application detached";
    if (s->ctx_id >= app->geo.max_ctx || !app->ctx[s->ctx_id].live)
        return "unknown context";
    if (s->local_ip != fp.local.ip)
        return "local address is not ours";
    if (!fp_app_payload_ok(app, s->rx_base, s->rx_size) ||
        !fp_app_payload_ok(app, s->tx_base, s->tx_size))
        return "rings outside the application's payload area";
    if (s->rx_head >= s->rx_size || s->rx_avail > s->rx_size ||
        s->ooo_len > s->rx_avail)
        return "RX ring positions out of bounds";
    if (s->tx_head >= s->tx_size || (uint64_t)s->tx_sent + s->tx_avail > s->tx_size)
        return "TX ring positions out of bounds";
    if (s->mss < MIN_MSS)
        return "MSS too small";
    if (s->rcv_wscale > TAS_TCP_WSCALE_MAX || s->snd_wscale > TAS_TCP_WSCALE_MAX)
        return "window scale too large";
    return NULL;
}

static void install_flow(struct fp_core *c, uint32_t id)
{
    struct fp_flow *p = &fp.flows[id];
    if (p->state != FP_FLOW_FREE) {
        fprintf(stderr, "tas-fastpath: install of flow %u refused: already "
                "installed\n", id);
        return;
    }
    /* check a copy: the shared one could change under the checks */
    struct tas_flow s;
    memcpy(&s, &fp.sflows[id], sizeof(s));
    struct fp_app *app = fp_app_find(s.app_id);
    const char *err = check_flow(&s, app);
    if (err) {
        fprintf(stderr, "tas-fastpath: install of flow %u refused: %s\n", id, err);
        return;
    }

    p->local_ip = s.local_ip;
    p->remote_ip = s.remote_ip;
    p->local_port = s.local_port;
    p->remote_port = s.remote_port;
    if (fp_flow_table_insert(&fp.table, id) != 0) {
        fprintf(stderr, "tas-fastpath: install of flow %u refused: another flow "
                "has the same addresses and ports\n", id);
        return;
    }
    /* mss already excludes the options; the MTU must fit them too */
    uint32_t mtu_room = fp.mtu - 40u -
                        ((s.flags & TAS_FLOW_F_TIMESTAMPS) ? FP_TS_OPT_LEN : 0);
    p->seg_payload_max = (uint16_t)(s.mss < mtu_room ? s.mss : mtu_room);
    p->rcv_wscale = s.rcv_wscale;
    p->snd_wscale = s.snd_wscale;
    p->rx_ring = app->base + s.rx_base;
    p->tx_ring = app->base + s.tx_base;
    p->rx_size = s.rx_size;
    p->tx_size = s.tx_size;
    p->app = app;
    p->ctx = &app->ctx[s.ctx_id];
    p->snd_max = s.snd_una + s.tx_sent;
    p->recover = s.snd_una - 1;
    p->fin_in_snd_max = 0;
    p->segs_unacked = 0;
    p->ack_now = 0;
    p->note_rx_bytes = p->note_tx_bytes = p->note_flags = 0;
    p->pace_tat = 0;
    p->cwr_pending = 0;
    p->oow_ack_us = 0;
    p->state = FP_FLOW_ACTIVE;
    /* until our first segment, assume the slow path advertised it all */
    p->adv_edge = s.rcv_nxt + s.rx_avail;

    struct tas_flow *f = &fp.sflows[id];
    f->flags |= TAS_FLOW_F_ACTIVE;
    if (fp_tx_has_work(f, p))
        fp_sched_ready(&c->sched, id);
}

static void set_ctx(uint32_t id, uint32_t ctx_id)
{
    struct fp_flow *p = &fp.flows[id];
    if (p->state == FP_FLOW_FREE || ctx_id >= p->app->geo.max_ctx ||
        !p->app->ctx[ctx_id].live) {
        fprintf(stderr, "tas-fastpath: flow %u: move to context %u refused\n",
                id, ctx_id);
        return;
    }
    p->ctx = &p->app->ctx[ctx_id];
    fp.sflows[id].ctx_id = ctx_id;
}

static void detach_app(struct fp_core *c, uint32_t app_id)
{
    struct fp_app *app = fp_app_find(app_id);
    if (!app)
        return;
    app->detached = true;
    fp_core_drop_app(c, app);
}

/* Executes one command; returns false if it must wait (no room to answer). */
static bool run_command(struct fp_core *c, const struct tas_svc_msg *m,
                        const uint8_t *frame)
{
    uint32_t id = m->flow_id;
    bool flow_ok = id < fp.geo.max_flows;
    bool active = flow_ok && fp.flows[id].state == FP_FLOW_ACTIVE;

    switch (m->kind) {
    case TAS_CMD_FLOW_INSTALL:
        if (flow_ok)
            install_flow(c, id);
        break;
    case TAS_CMD_FLOW_REMOVE:
    case TAS_CMD_FLOW_ABORT:
        if (exc_free_slots(&c->exc) == 0)
            return false;
        if (active && m->kind == TAS_CMD_FLOW_ABORT)
            fp_tx_rst(c, id);
        if (flow_ok)
            fp_flow_remove(id);
        exc_control(c, TAS_EXC_CMD_DONE, id, m->app_id, 0, m->cookie);
        break;
    case TAS_CMD_FLOW_FIN:
        if (active) {
            fp.sflows[id].flags |= TAS_FLOW_F_FIN_PENDING;
            fp_sched_ready(&c->sched, id);
        }
        break;
    case TAS_CMD_FLOW_RETRANSMIT:
        if (active) {
            fp_tx_rewind(&fp.sflows[id], &fp.flows[id]);
            fp_sched_ready(&c->sched, id);
        }
        break;
    case TAS_CMD_FLOW_SET_CTX:
        if (flow_ok)
            set_ctx(id, m->arg);
        break;
    case TAS_CMD_TX_FRAME:
        if (m->len >= sizeof(struct tas_eth_hdr) && m->len <= TAS_SVC_FRAME_MAX)
            fp_tx_raw(c, frame, m->len);
        break;
    case TAS_CMD_APP_DETACH:
        detach_app(c, m->app_id);
        break;
    case TAS_CMD_RX_FRAME:
        if (m->len <= TAS_SVC_FRAME_MAX)
            fp_rx_returned(c, frame, m->len);
        break;
    default:
        fprintf(stderr, "tas-fastpath: unknown command %u from the slow path "
                "ignored\n", m->kind);
        break;
    }
    return true;
}

unsigned fp_cmd_poll(struct fp_core *c)
{
    unsigned n;
    for (n = 0; n < CMD_BATCH; n++) {
        void *slot;
        enum tas_ring_status st = tas_ring_cons_peek(&c->cmd, &slot);
        if (st == TAS_RING_EMPTY)
            break;
        if (st == TAS_RING_CORRUPT) {
            fp.quit_reason = "the slow path's command queue is corrupt";
            fp.quit = true;
            break;
        }
        /* Check a copy of the header; the frame of TX_FRAME is copied
         * straight out of the slot, whose length we have checked. */
        struct tas_svc_msg m;
        memcpy(&m, slot, sizeof(m));
        if (!run_command(c, &m, ((const struct tas_svc_msg *)slot)->frame))
            break;
        tas_ring_cons_release(&c->cmd);
    }
    return n;
}
