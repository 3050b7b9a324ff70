/* tx.c - building and queueing the segments a core sends: data segments
 * cut from a flow's TX ring within its window, rate and batch, pure ACKs
 * and window updates, RSTs for aborted flows, and the slow path's raw
 * frames; those for our own address go back to our receive side.  Also the
 * polling of applications' TX queues, which is what feeds data into flows.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <rte_mbuf.h>

#include "fastpath.h"
#include "tcp.h"

#define FLOW_BATCH_SEGS 16     /* segments one flow may send before others get a turn */
#define CTX_BATCH_ENTRIES 64
#define PACE_BURST_SEGS 4      /* burst a paced flow may send at once */

/* Is frame m addressed to this instance's own IP address? */
static bool to_ourselves(const struct rte_mbuf *m)
{
    const struct tas_eth_hdr *eth = rte_pktmbuf_mtod(m, const struct tas_eth_hdr *);
    const struct tas_ip_hdr *ip = (const void *)(eth + 1);
    return m->data_len >= sizeof(*eth) + sizeof(*ip) &&
           eth->type == htons(TAS_ETHERTYPE_IP) && ip->dst == fp.local.ip;
}

/* A connection between two applications of this instance never reaches
 * the wire: its frames go straight to our receive side, which trusts the
 * checksums (we or the slow path made them, possibly leaving them to a
 * NIC) and whatever destination MAC they carry. */
static void loop_back(struct fp_core *c, struct rte_mbuf *m)
{
    if (c->loop_count == FP_LOOP_SLOTS) {
        c->stats->drops[TAS_DROP_TX_NO_MBUF]++;
        rte_pktmbuf_free(m);
        return;
    }
    memcpy(rte_pktmbuf_mtod(m, struct tas_eth_hdr *)->dst, fp.local.mac, TAS_ETH_ALEN);
    m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
    c->loop[(c->loop_head + c->loop_count) % FP_LOOP_SLOTS] = m;
    c->loop_count++;
}

static void queue_mbuf(struct fp_core *c, struct rte_mbuf *m)
{
    c->stats->tx_pkts++;
    c->stats->tx_bytes += m->pkt_len;
    if (to_ourselves(m)) {
        loop_back(c, m);
        return;
    }
    c->tx_batch[c->tx_count++] = m;
    if (c->tx_count == FP_TX_BURST)
        fp_tx_flush(c);
}

static struct rte_mbuf *alloc_mbuf(struct fp_core *c)
{
    struct rte_mbuf *m = rte_pktmbuf_alloc(c->pool);
    if (!m)
        c->stats->drops[TAS_DROP_TX_NO_MBUF]++;
    return m;
}

/* Our next sequence number: a FIN sent and not yet acknowledged counts. */
static uint32_t snd_nxt(const struct tas_flow *f)
{
    uint32_t fin = (f->flags & (TAS_FLOW_F_FIN_SENT | TAS_FLOW_F_FIN_PENDING)) ==
                   (TAS_FLOW_F_FIN_SENT | TAS_FLOW_F_FIN_PENDING);
    return f->snd_una + f->tx_sent + fin;
}

/* Sends one segment of flow id: seq, TCP flags beyond ACK, and len payload
 * bytes from the TX ring at pos.  Returns false if no mbuf was free. */
static bool send_segment(struct fp_core *c, uint32_t id, uint32_t seq,
                         uint8_t flags, uint32_t pos, uint32_t len)
{
    const struct tas_flow *f = &fp.sflows[id];
    struct fp_flow *p = &fp.flows[id];
    struct rte_mbuf *m = alloc_mbuf(c);
    if (!m)
        return false;

    struct fp_seg_hdr h = {
        .src_mac = fp.local.mac,
        .dst_mac = f->remote_mac,
        .src_ip = p->local_ip,
        .dst_ip = p->remote_ip,
        .src_port = p->local_port,
        .dst_port = p->remote_port,
        .seq = seq,
        .ack = f->rcv_nxt,
        .win = fp_rx_window_field(f, p),
        .flags = (uint8_t)(flags | TAS_TCP_ACK),
        .ip_id = c->ip_id++,
        .has_ts = (f->flags & TAS_FLOW_F_TIMESTAMPS) != 0,
        .ts_val = c->now_us,
        .ts_ecr = f->ts_recent,
        .payload_len = len,
    };
    if (f->flags & TAS_FLOW_F_ECE_PENDING)
        h.flags |= TAS_TCP_ECE;
    /* RFC 3168: only data segments are ECN-capable and carry CWR */
    if ((f->flags & TAS_FLOW_F_ECN) && len > 0) {
        h.tos = TAS_IP_ECN_ECT0;
        if (p->cwr_pending) {
            h.flags |= TAS_TCP_CWR;
            p->cwr_pending = 0;
        }
    }

    uint8_t *buf = rte_pktmbuf_mtod(m, uint8_t *);
    size_t hdr_len = fp_build_seg_hdr(buf, &h);
    if (len)
        fp_ring_read(p->tx_ring, p->tx_size, pos, buf + hdr_len, len);
    m->data_len = (uint16_t)(hdr_len + len);
    m->pkt_len = m->data_len;

    if (fp.offloads & TAS_OFFLOAD_TCP_CSUM) {
        struct tas_ip_hdr *ip = (void *)(buf + sizeof(struct tas_eth_hdr));
        struct tas_tcp_hdr *tcp = (void *)(ip + 1);
        ip->csum = 0;                 /* the NIC fills both in */
        /* some drivers (net_tap) need l4_len even without TSO */
        m->l2_len = sizeof(struct tas_eth_hdr);
        m->l3_len = sizeof(struct tas_ip_hdr);
        m->l4_len = hdr_len - m->l2_len - m->l3_len;
        m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM |
                       RTE_MBUF_F_TX_TCP_CKSUM;
        tcp->csum = fp_tcp_pseudo_csum(h.src_ip, h.dst_ip, (uint32_t)m->l4_len + len);
    } else {
        fp_tcp_csum_finish(buf, hdr_len, len);
    }
    queue_mbuf(c, m);
    fp_ack_sent(f, p);
    return true;
}

void fp_tx_ack(struct fp_core *c, uint32_t id)
{
    const struct tas_flow *f = &fp.sflows[id];
    send_segment(c, id, snd_nxt(f), 0, 0, 0);
}

void fp_tx_rst(struct fp_core *c, uint32_t id)
{
    const struct tas_flow *f = &fp.sflows[id];
    send_segment(c, id, snd_nxt(f), TAS_TCP_RST, 0, 0);
}

void fp_tx_raw(struct fp_core *c, const uint8_t *frame, uint32_t len)
{
    struct rte_mbuf *m = alloc_mbuf(c);
    if (!m)
        return;
    char *dst = rte_pktmbuf_append(m, (uint16_t)len);
    if (!dst) {
        rte_pktmbuf_free(m);
        c->stats->drops[TAS_DROP_TX_NO_MBUF]++;
        return;
    }
    memcpy(dst, frame, len);
    queue_mbuf(c, m);
}

/* Sends what flow id may send now: data within window and cwnd, then the
 * FIN once the ring has drained; a paced flow parks on the timing wheel
 * when it is ahead of its rate. */
void fp_tx_flow(struct fp_core *c, uint32_t id)
{
    struct tas_flow *f = &fp.sflows[id];
    struct fp_flow *p = &fp.flows[id];

    if (p->state != FP_FLOW_ACTIVE)
        return;
    if (!fp_flow_sane(f, p)) {
        fp_flow_stop(id, "ring positions out of bounds");
        return;
    }
    for (int n = 0; n < FLOW_BATCH_SEGS; n++) {
        uint32_t len = fp_tx_next_len(f, p);
        bool fin = fp_tx_fin_due(f, len);
        if (len == 0 && !fin)
            return;

        uint32_t rate = f->rate_kbps;
        if (rate != 0) {
            uint64_t burst = fp_pace_cycles(PACE_BURST_SEGS * p->seg_payload_max,
                                            rate, fp.tsc_hz);
            uint64_t due = fp_pace_due(p->pace_tat, burst);
            if (due > c->now_tsc) {
                fp_sched_park(&c->sched, id, due);
                return;
            }
        }
        if (!send_segment(c, id, f->snd_una + f->tx_sent,
                          fin ? TAS_TCP_FIN | TAS_TCP_PSH : (len ? TAS_TCP_PSH : 0),
                          fp_tx_send_pos(f, p), len))
            break;
        fp_tx_advance(f, p, len, fin);
        if (rate != 0)
            fp_pace_charge(&p->pace_tat, c->now_tsc,
                           fp_pace_cycles(len + (uint32_t)FP_HDRS_LEN, rate, fp.tsc_hz));
    }
    if (fp_tx_has_work(f, p))
        fp_sched_ready(&c->sched, id);
}

static void apply_entry(struct fp_core *c, const struct tas_app_tx_entry *e)
{
    struct tas_flow *f = &fp.sflows[e->flow_id];
    struct fp_flow *p = &fp.flows[e->flow_id];

    if (e->flags & TAS_APP_TX_F_REWIND)
        f->tx_head = 0;
    if (e->tx_bytes) {
        f->tx_avail += e->tx_bytes;
        fp_sched_ready(&c->sched, e->flow_id);
    }
    if (e->rx_bytes) {
        f->rx_avail += e->rx_bytes;
        if (fp_rx_window_update_due(f, p))
            fp_tx_ack(c, e->flow_id);
    }
}

/* Counts a bad entry; the slow path hears of the first one only, so an
 * application spewing garbage cannot flood the exception queue. */
static void report_fault(struct fp_core *c, struct fp_ctx *ctx)
{
    c->stats->drops[TAS_DROP_APP_BAD_ENTRY]++;
    if (!ctx->faulted) {
        ctx->faulted = true;
        fp_exc_app_fault(c, ctx->app->id, TAS_DROP_APP_BAD_ENTRY);
    }
}

/* Drains up to a batch of entries from one context's TX queue. */
static unsigned poll_ctx(struct fp_core *c, struct fp_ctx *ctx)
{
    unsigned n;
    for (n = 0; n < CTX_BATCH_ENTRIES; n++) {
        void *slot;
        enum tas_ring_status st = tas_ring_cons_peek(&ctx->tx, &slot);
        if (st == TAS_RING_EMPTY)
            break;
        if (st == TAS_RING_CORRUPT) {
            fprintf(stderr, "tas-fastpath: app %u context %u: TX queue head is "
                    "corrupt; no longer polled\n", ctx->app->id, ctx->id);
            ctx->live = false;
            report_fault(c, ctx);
            break;
        }
        struct tas_app_tx_entry e;
        memcpy(&e, slot, sizeof(e));
        tas_ring_cons_release(&ctx->tx);

        enum fp_entry_verdict v = fp_app_entry_check(&e, ctx->app, fp.flows,
                                                     fp.sflows, fp.geo.max_flows);
        /* The application may act on CONNECTED or ACCEPT before we have
         * run the INSTALL the slow path queued ahead of it: run what is
         * pending before judging an entry for a flow we do not serve. */
        while (v != FP_ENTRY_OK && fp_cmd_poll(c) > 0)
            v = fp_app_entry_check(&e, ctx->app, fp.flows, fp.sflows,
                                   fp.geo.max_flows);
        switch (v) {
        case FP_ENTRY_OK:
            apply_entry(c, &e);
            break;
        case FP_ENTRY_STALE:
            break;
        case FP_ENTRY_BAD:
            report_fault(c, ctx);
            break;
        }
    }
    return n;
}

/* One round of transmit work: new application requests, then flows whose
 * pacing time has come, then every flow ready to send. */
unsigned fp_tx_poll(struct fp_core *c)
{
    unsigned work = 0;
    for (uint32_t i = 0; i < c->nctxs; i++)
        if (c->ctxs[i]->live)
            work += poll_ctx(c, c->ctxs[i]);

    fp_sched_expire(&c->sched, c->now_tsc);
    uint32_t id, turns = 0;
    struct fp_idfifo round;
    fp_sched_begin_round(&c->sched, &round);
    while ((id = fp_sched_pop_round(&c->sched, &round)) != TAS_INVALID_FLOW) {
        fp_tx_flow(c, id);
        turns++;
    }
    return work + turns;
}
