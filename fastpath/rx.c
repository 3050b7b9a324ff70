/* rx.c - the receive side of a core: a burst of frames from the port (and
 * those the core sent to its own address), each validated, matched to a
 * flow and applied to it, or handed to the slow path, or dropped and
 * counted.  Segments the slow path returns once their flow is installed
 * take the same way.  ACKs are sent at once when TCP needs them
 * now (out of order, duplicates, every second segment); otherwise the end
 * of the round, with the context notifications, decides (core.c: a lone
 * segment's ACK may wait for the reply to carry it).
 */
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "fastpath.h"
#include "tcp.h"

static unsigned rx_csum_flags(const struct rte_mbuf *m)
{
    unsigned flags = 0;
    switch (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) {
    case RTE_MBUF_F_RX_IP_CKSUM_GOOD: flags |= FP_RXCSUM_IP_GOOD; break;
    case RTE_MBUF_F_RX_IP_CKSUM_BAD:  flags |= FP_RXCSUM_IP_BAD;  break;
    default: break;
    }
    switch (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) {
    case RTE_MBUF_F_RX_L4_CKSUM_GOOD: flags |= FP_RXCSUM_TCP_GOOD; break;
    case RTE_MBUF_F_RX_L4_CKSUM_BAD:  flags |= FP_RXCSUM_TCP_BAD;  break;
    default: break;
    }
    return flags;
}

static void report_rx_result(struct fp_core *c, uint32_t id,
                             const struct fp_rx_result *res)
{
    if (res->drop != TAS_DROP__COUNT)
        c->stats->drops[res->drop]++;
    if (res->fast_retx)
        c->stats->fast_retransmits++;
    if (res->challenge_ack)
        c->stats->challenge_acks++;
    if (res->rst)
        fp_exc_event(c, id, TAS_FLOW_EV_RST_RCVD);
    if (res->fin_rcvd)
        fp_exc_event(c, id, TAS_FLOW_EV_FIN_RCVD);
    if (res->fin_acked)
        fp_exc_event(c, id, TAS_FLOW_EV_FIN_ACKED);
}

/* What the fast path does not handle goes to the slow path, except a
 * frame the slow path returned: that one is dropped, so none circulates. */
static void pass_up(struct fp_core *c, const uint8_t *frame, uint32_t len,
                    uint32_t id, bool returned)
{
    if (returned)
        c->stats->drops[TAS_DROP_NOT_SERVED]++;
    else
        fp_exc_packet(c, frame, len, id);
}

static void handle_segment(struct fp_core *c, const struct fp_seg *seg,
                           const uint8_t *frame, uint32_t len, bool returned)
{
    uint32_t id = fp_flow_table_lookup(&fp.table, seg->local_ip, seg->remote_ip,
                                       seg->local_port, seg->remote_port);
    if (id == TAS_INVALID_FLOW || fp.flows[id].state != FP_FLOW_ACTIVE) {
        pass_up(c, frame, len, id, returned);
        return;
    }
    struct tas_flow *f = &fp.sflows[id];
    struct fp_flow *p = &fp.flows[id];
    if (!fp_flow_sane(f, p)) {
        fp_flow_stop(id, "ring positions out of bounds");
        pass_up(c, frame, len, id, returned);
        return;
    }

    struct fp_rx_result res;
    fp_tcp_rx(f, p, seg, c->now_us, &res);
    if (res.exception) {
        pass_up(c, frame, len, id, returned);
        return;
    }
    report_rx_result(c, id, &res);
    if (res.tx_progress && fp_tx_has_work(f, p))
        fp_sched_ready(&c->sched, id);
    if (p->ack_now || p->segs_unacked >= 2) {
        if (p->state == FP_FLOW_ACTIVE)
            fp_tx_ack(c, id);
    }
    if (res.notify || p->segs_unacked)
        fp_core_notify(c, id);
}

/* One received frame between parsing and handling. */
struct rx_frame {
    const uint8_t *data;
    uint32_t len;
    enum fp_verdict verdict;
    enum tas_drop_reason reason;    /* FP_PKT_DROP */
    struct fp_seg seg;              /* FP_PKT_TCP */
    const uint32_t *bucket;         /* FP_PKT_TCP in a burst: its flow-table bucket */
};

static void parse(struct rx_frame *f, const uint8_t *data, uint32_t len, unsigned csum_flags)
{
    f->data = data;
    f->len = len;
    f->verdict = fp_parse_frame(data, len, &fp.local, csum_flags, &f->seg, &f->reason);
}

static void dispatch(struct fp_core *c, const struct rx_frame *f, bool returned)
{
    switch (f->verdict) {
    case FP_PKT_TCP:
        handle_segment(c, &f->seg, f->data, f->len, returned);
        break;
    case FP_PKT_EXCEPTION:
        pass_up(c, f->data, f->len, TAS_INVALID_FLOW, returned);
        break;
    case FP_PKT_DROP:
        c->stats->drops[f->reason]++;
        break;
    }
}

/* With thousands of flows, each segment's flow-table bucket, flow state
 * and shared flow record are cache misses, and taken one segment at a time
 * they add up one after another.  A burst is parsed first, then every
 * segment's bucket is prefetched, then the flows the buckets lead to, and
 * only then is each segment handled, in order, with its misses overlapped
 * with its neighbours'. */
static void prefetch_flow_state(const uint32_t *bucket)
{
    uint32_t id = *bucket;

    if (id == TAS_INVALID_FLOW)
        return;
    rte_prefetch0(&fp.flows[id]);
    rte_prefetch0((const char *)&fp.flows[id] + RTE_CACHE_LINE_SIZE);
    rte_prefetch0(&fp.sflows[id]);
    rte_prefetch0((const char *)&fp.sflows[id] + RTE_CACHE_LINE_SIZE);
}

static void receive_burst(struct fp_core *c, struct rte_mbuf **pkts, unsigned n)
{
    struct rx_frame frames[FP_RX_BURST];

    for (unsigned i = 0; i < n; i++) {
        struct rte_mbuf *m = pkts[i];

        if (i + 1 < n)
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
        c->stats->rx_pkts++;
        c->stats->rx_bytes += m->pkt_len;
        /* frames never span mbufs at our MTU; one that does is not ours */
        if (m->nb_segs != 1) {
            frames[i].verdict = FP_PKT_DROP;
            frames[i].reason = TAS_DROP_IP_HDR;
            continue;
        }
        parse(&frames[i], rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m),
              rx_csum_flags(m));
        if (frames[i].verdict == FP_PKT_TCP) {
            const struct fp_seg *seg = &frames[i].seg;

            frames[i].bucket = fp_flow_table_bucket(&fp.table, seg->local_ip, seg->remote_ip,
                                                    seg->local_port, seg->remote_port);
            rte_prefetch0(frames[i].bucket);
        }
    }
    for (unsigned i = 0; i < n; i++)
        if (frames[i].verdict == FP_PKT_TCP)
            prefetch_flow_state(frames[i].bucket);
    for (unsigned i = 0; i < n; i++)
        dispatch(c, &frames[i], false);
}

/* A segment that reached us before its flow's install: the slow path
 * returns it behind the install (TAS_CMD_RX_FRAME).  Its checksums are
 * checked again; the frame came through another process's memory. */
void fp_rx_returned(struct fp_core *c, const uint8_t *frame, uint32_t len)
{
    struct rx_frame f;

    parse(&f, frame, len, 0);
    dispatch(c, &f, true);
}

/* Frames the core sent to its own address, as if they had arrived: all
 * that the last round queued, so a fast local sender cannot overrun them. */
static unsigned receive_looped(struct fp_core *c)
{
    unsigned done, queued = c->loop_count;

    for (done = 0; done < queued;) {
        struct rte_mbuf *pkts[FP_RX_BURST];
        unsigned n = queued - done < FP_RX_BURST ? queued - done : FP_RX_BURST;

        for (unsigned i = 0; i < n; i++) {
            pkts[i] = c->loop[c->loop_head];
            c->loop_head = (c->loop_head + 1) % FP_LOOP_SLOTS;
            c->loop_count--;
        }
        receive_burst(c, pkts, n);
        rte_pktmbuf_free_bulk(pkts, n);
        done += n;
    }
    return done;
}

unsigned fp_rx_poll(struct fp_core *c)
{
    struct rte_mbuf *pkts[FP_RX_BURST];
    unsigned looped = c->loop_count ? receive_looped(c) : 0;
    uint16_t n = rte_eth_rx_burst(c->port, c->queue, pkts, FP_RX_BURST);
    if (n == 0)
        return looped;
    receive_burst(c, pkts, n);
    rte_pktmbuf_free_bulk(pkts, n);
    return looped + n;
}
