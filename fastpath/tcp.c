/* tcp.c - per-flow TCP receive and send arithmetic; see tcp.h. */
#include <string.h>

#include <tas/wire.h>

#include "tcp.h"

#define DUPACK_THRESHOLD 3
#define RTT_SAMPLE_MAX_US 60000000u   /* anything longer is a bogus echo */
#define OOW_ACK_GAP_US 500000u        /* see unacceptable_ack */

static uint32_t wrap(uint32_t pos, uint32_t size)
{
    return pos >= size ? pos - size : pos;
}

void fp_ring_write(uint8_t *ring, uint32_t size, uint32_t pos,
                   const uint8_t *src, uint32_t len)
{
    uint32_t first = size - pos < len ? size - pos : len;
    memcpy(ring + pos, src, first);
    memcpy(ring, src + first, len - first);
}

void fp_ring_read(const uint8_t *ring, uint32_t size, uint32_t pos,
                  uint8_t *dst, uint32_t len)
{
    uint32_t first = size - pos < len ? size - pos : len;
    memcpy(dst, ring + pos, first);
    memcpy(dst + first, ring, len - first);
}

bool fp_flow_sane(const struct tas_flow *f, const struct fp_flow *p)
{
    return f->rx_head < p->rx_size && f->rx_avail <= p->rx_size &&
           f->ooo_len <= f->rx_avail &&
           f->tx_head < p->tx_size && f->tx_sent <= p->tx_size &&
           f->tx_avail <= p->tx_size - f->tx_sent;
}

/* Bytes the peer may send from rcv_nxt on: what we advertised and have not
 * taken back (we never shrink a window), else what the window field would
 * say now, never more than the ring holds.  Not rx_avail itself: the field
 * rounds rx_avail down by the window scale, and a probe at a window
 * advertised as zero must not slip into the bytes that rounding hid. */
static uint32_t rx_window(const struct tas_flow *f, const struct fp_flow *p)
{
    uint32_t wnd = (uint32_t)fp_rx_window_field(f, p) << p->rcv_wscale;
    int32_t promised = (int32_t)(p->adv_edge - f->rcv_nxt);
    if (promised > 0 && (uint32_t)promised > wnd)
        wnd = (uint32_t)promised;
    return wnd < f->rx_avail ? wnd : f->rx_avail;
}

/* RFC 9293 segment acceptability against our receive window wnd, with the
 * allowance for a zero window that lets ACKs through at rcv_nxt. */
static bool seq_acceptable(const struct tas_flow *f, uint32_t wnd, uint32_t seq,
                           uint32_t seg_len)
{
    if (wnd == 0)
        return seq == f->rcv_nxt;
    if (seg_len == 0)
        return tas_seq_in(seq, f->rcv_nxt, wnd);
    return tas_seq_in(seq, f->rcv_nxt, wnd) ||
           tas_seq_in(seq + seg_len - 1, f->rcv_nxt, wnd);
}

/* RFC 5961 section 5: an ACK is acceptable from SND.UNA - MAX.SND.WND up
 * to what we sent.  For MAX.SND.WND we take the send buffer: no more than
 * tx_size bytes are ever unacknowledged, so an ACK further back than that
 * was overtaken by a whole buffer of later ACKs and carries nothing; a
 * blind attacker has to hit a 1 in 2^32 / tx_size chance instead of 1 in 2. */
static bool ack_acceptable(const struct tas_flow *f, const struct fp_flow *p,
                           uint32_t ack)
{
    return tas_seq_le(ack, p->snd_max) && tas_seq_ge(ack, f->snd_una - p->tx_size);
}

static void note_rx(struct tas_flow *f, struct fp_flow *p, uint32_t n)
{
    if (p->note_rx_bytes == 0)
        p->note_rx_pos = f->rx_head;
    p->note_rx_bytes += n;
    f->rcv_nxt += n;
    f->rx_head = wrap(f->rx_head + n, p->rx_size);
    f->rx_avail -= n;
}

static void process_ack(struct tas_flow *f, struct fp_flow *p,
                        const struct fp_seg *s, uint32_t now_us,
                        struct fp_rx_result *res)
{
    uint32_t old_wnd = f->snd_wnd;
    uint32_t new_wnd = (uint32_t)s->win << p->snd_wscale;

    if (tas_seq_gt(s->ack, f->snd_una)) {
        uint32_t n = s->ack - f->snd_una;
        bool fin = p->fin_in_snd_max && s->ack == p->snd_max;
        if (fin)
            n--;
        if (n <= f->tx_sent) {
            f->tx_sent -= n;
        } else {
            /* acknowledges bytes sent before a rewind */
            f->tx_avail -= n - f->tx_sent;
            f->tx_sent = 0;
        }
        f->tx_head = wrap(f->tx_head + n, p->tx_size);
        f->snd_una = s->ack;
        f->dupacks = 0;
        f->cnt_acked_bytes += n;
        if (s->flags & TAS_TCP_ECE)
            f->cnt_ecn_bytes += n;
        if (s->has_ts && s->ts_ecr != 0 && (f->flags & TAS_FLOW_F_TIMESTAMPS)) {
            uint32_t sample = now_us - s->ts_ecr;
            if (sample < RTT_SAMPLE_MAX_US)
                f->rtt_us = f->rtt_us ? f->rtt_us - f->rtt_us / 8 + sample / 8 : sample;
        }
        if (n) {
            p->note_tx_bytes += n;
            res->notify = true;
        }
        if (fin) {
            f->flags &= (uint16_t)~TAS_FLOW_F_FIN_PENDING;
            f->flags |= TAS_FLOW_F_FIN_SENT;
            res->fin_acked = true;
        }
        res->tx_progress = true;
    } else if (s->ack == f->snd_una && s->len == 0 && new_wnd == old_wnd &&
               new_wnd != 0 && !(s->flags & TAS_TCP_FIN) && f->tx_sent > 0) {
        /* Saturates, so the rest of a window's duplicates do not rewind
         * again.  And as in NewReno (RFC 6582), duplicates of what was sent
         * before the last rewind (the copies it resent) start no new one:
         * only once snd_una has passed that recovery point. */
        if (f->dupacks < UINT8_MAX && ++f->dupacks == DUPACK_THRESHOLD &&
            tas_seq_gt(f->snd_una, p->recover)) {
            fp_tx_rewind(f, p);
            f->cnt_fast_retx++;
            res->fast_retx = true;
            res->tx_progress = true;
        }
    }
    /* an ACK older than snd_una may carry a stale window */
    if (!tas_seq_ge(s->ack, f->snd_una))
        return;
    f->snd_wnd = new_wnd;
    if (new_wnd > old_wnd)
        res->tx_progress = true;
    if (new_wnd == 0) {
        /* The receiver answered while its window stays shut: alive, so
         * the slow path's persist timer keeps probing instead of giving up. */
        f->zero_wnd_acks++;
    } else if (old_wnd == 0 && s->ack == f->snd_una && f->tx_sent > 0) {
        /* The window opened without taking what we sent while it was shut
         * (the probe byte): the receiver dropped it, so it goes again now
         * rather than leave a hole only a backed-off RTO would fill. */
        fp_tx_rewind(f, p);
    }
}

static void merge_ooo(struct tas_flow *f, struct fp_flow *p)
{
    if (f->ooo_len == 0 || tas_seq_gt(f->ooo_start, f->rcv_nxt))
        return;
    uint32_t end = f->ooo_start + f->ooo_len;
    if (tas_seq_gt(end, f->rcv_nxt))
        note_rx(f, p, end - f->rcv_nxt);
    f->ooo_len = 0;
    p->ack_now = 1;
}

/* Keeps [seq, seq+len) as the out-of-order interval if it is the first or
 * touches the one kept; returns false if it must be dropped. */
static bool keep_ooo(struct tas_flow *f, uint32_t seq, uint32_t len)
{
    if (f->ooo_len == 0) {
        f->ooo_start = seq;
        f->ooo_len = len;
        return true;
    }
    uint32_t end = seq + len, ooo_end = f->ooo_start + f->ooo_len;
    if (tas_seq_gt(seq, ooo_end) || tas_seq_gt(f->ooo_start, end))
        return false;
    uint32_t start = tas_seq_lt(seq, f->ooo_start) ? seq : f->ooo_start;
    uint32_t stop = tas_seq_gt(end, ooo_end) ? end : ooo_end;
    f->ooo_start = start;
    f->ooo_len = stop - start;
    return true;
}

/* An empty RX ring starts again at its beginning, so that a connection
 * exchanging small messages writes the same few cache lines over and over
 * instead of sweeping its whole ring through the caches; with thousands of
 * connections that sweep is what receiving costs (docs/fastpath.md).  Empty:
 * the application gave back every byte and nothing waits out of order.  The
 * notification of the next bytes carries the new position. */
static void rewind_empty_rx(struct tas_flow *f, const struct fp_flow *p)
{
    if (f->rx_avail == p->rx_size && f->ooo_len == 0)
        f->rx_head = 0;
}

static void process_payload(struct tas_flow *f, struct fp_flow *p, uint32_t wnd,
                            const struct fp_seg *s, struct fp_rx_result *res)
{
    uint32_t seq = s->seq, len = s->len;
    const uint8_t *data = s->payload;

    if (tas_seq_lt(seq, f->rcv_nxt)) {
        uint32_t skip = f->rcv_nxt - seq;
        if (skip >= len) {
            p->ack_now = 1;          /* a retransmission we have: re-ACK */
            return;
        }
        seq += skip;
        data += skip;
        len -= skip;
    }
    if (f->flags & TAS_FLOW_F_FIN_RCVD) {
        res->drop = TAS_DROP_OUT_OF_WINDOW;
        p->ack_now = 1;
        return;
    }
    rewind_empty_rx(f, p);
    uint32_t off = seq - f->rcv_nxt;
    if (off >= wnd) {
        res->drop = wnd ? TAS_DROP_OUT_OF_WINDOW : TAS_DROP_RX_RING_FULL;
        p->ack_now = 1;
        return;
    }
    if (len > wnd - off) {
        res->drop = TAS_DROP_RX_RING_FULL;
        len = wnd - off;
        p->ack_now = 1;
    }
    if (off > 0 && !keep_ooo(f, seq, len)) {
        res->drop = TAS_DROP_OUT_OF_WINDOW;
        p->ack_now = 1;
        return;
    }
    fp_ring_write(p->rx_ring, p->rx_size, wrap(f->rx_head + off, p->rx_size),
                  data, len);
    if (off > 0) {
        p->ack_now = 1;              /* duplicate ACK tells the peer of the hole */
        return;
    }
    note_rx(f, p, len);
    merge_ooo(f, p);
    p->segs_unacked++;
    res->notify = true;
}

/* The ACK owed for a segment we could not accept (RFC 9293), or the
 * challenge ACK of RFC 5961 for a blind RST or a bad ACK field: at most one
 * per interval, since two ends that each find the other's ACKs
 * unacceptable would otherwise ACK each other forever, and a flood of
 * forged segments would get a flood of ACKs (RFC 5961 section 7, as Linux
 * does). */
static void challenge_ack(struct fp_flow *p, uint32_t now_us, struct fp_rx_result *res)
{
    if (now_us - p->oow_ack_us < OOW_ACK_GAP_US)
        return;
    p->oow_ack_us = now_us;
    p->ack_now = 1;
    res->challenge_ack = true;
}

/* Data or a FIN outside the window but no more than a ring's size from
 * rcv_nxt is what a true peer sends (a retransmission our lost ACK caused,
 * a probe past a closed window): it gets its answer at once. */
static void unacceptable_ack(const struct tas_flow *f, struct fp_flow *p,
                             const struct fp_seg *s, uint32_t now_us,
                             struct fp_rx_result *res)
{
    if ((s->len > 0 || (s->flags & TAS_TCP_FIN)) &&
        tas_seq_in(s->seq, f->rcv_nxt - p->rx_size, 2 * p->rx_size + 1))
        p->ack_now = 1;
    else
        challenge_ack(p, now_us, res);
}

void fp_tcp_rx(struct tas_flow *f, struct fp_flow *p, const struct fp_seg *s,
               uint32_t now_us, struct fp_rx_result *res)
{
    memset(res, 0, sizeof(*res));
    res->drop = TAS_DROP__COUNT;

    if (s->flags & (TAS_TCP_SYN | TAS_TCP_URG)) {
        res->exception = true;
        return;
    }
    bool ts_flow = f->flags & TAS_FLOW_F_TIMESTAMPS;
    if (ts_flow && s->has_ts && !(s->flags & TAS_TCP_RST) &&
        tas_seq_lt(s->ts_val, f->ts_recent)) {
        res->drop = TAS_DROP_OUT_OF_WINDOW;      /* PAWS */
        unacceptable_ack(f, p, s, now_us, res);
        return;
    }
    uint32_t wnd = rx_window(f, p);
    if (s->flags & TAS_TCP_RST) {
        /* RFC 5961: only an exact match resets, in-window gets a challenge */
        if (s->seq == f->rcv_nxt) {
            f->flags &= (uint16_t)~TAS_FLOW_F_ACTIVE;
            p->state = FP_FLOW_STOPPED;
            res->rst = true;
        } else if (tas_seq_in(s->seq, f->rcv_nxt, wnd)) {
            res->drop = TAS_DROP_RST_IN_WINDOW;
            challenge_ack(p, now_us, res);
        } else {
            res->drop = TAS_DROP_OUT_OF_WINDOW;
        }
        return;
    }
    uint32_t seg_len = s->len + ((s->flags & TAS_TCP_FIN) ? 1 : 0);
    if (!seq_acceptable(f, wnd, s->seq, seg_len)) {
        res->drop = TAS_DROP_OUT_OF_WINDOW;
        unacceptable_ack(f, p, s, now_us, res);
        return;
    }
    if (!(s->flags & TAS_TCP_ACK)) {
        res->drop = TAS_DROP_TCP_HDR;
        return;
    }
    if (!ack_acceptable(f, p, s->ack)) {
        res->drop = TAS_DROP_BAD_ACK;
        challenge_ack(p, now_us, res);
        return;
    }
    /* RFC 7323: remember the TSval of a segment starting at or before the
     * edge we acknowledge */
    if (ts_flow && s->has_ts && tas_seq_le(s->seq, f->rcv_nxt))
        f->ts_recent = s->ts_val;
    if (f->flags & TAS_FLOW_F_ECN) {
        /* RFC 3168: the slow path reacts to the ECE-marked bytes counted
         * below; CWR on our next data segment stops the peer echoing */
        if (s->flags & TAS_TCP_ECE)
            p->cwr_pending = 1;
        if (s->flags & TAS_TCP_CWR)
            f->flags &= (uint16_t)~TAS_FLOW_F_ECE_PENDING;
        if (s->ce) {
            f->flags |= TAS_FLOW_F_ECE_PENDING;
            p->ack_now = 1;
        }
    }

    process_ack(f, p, s, now_us, res);
    if (s->len)
        process_payload(f, p, wnd, s, res);

    if ((s->flags & TAS_TCP_FIN) && !(f->flags & TAS_FLOW_F_FIN_RCVD) &&
        f->rcv_nxt == s->seq + s->len && res->drop == TAS_DROP__COUNT) {
        f->rcv_nxt++;
        f->flags |= TAS_FLOW_F_FIN_RCVD;
        p->note_flags |= TAS_APP_RX_F_FIN;
        p->ack_now = 1;
        res->fin_rcvd = true;
        res->notify = true;
    }
}

static uint32_t send_limit(const struct tas_flow *f)
{
    uint32_t limit = f->snd_wnd;
    if (f->cwnd != 0 && f->cwnd < limit)
        limit = f->cwnd;
    return limit;
}

uint32_t fp_tx_next_len(const struct tas_flow *f, const struct fp_flow *p)
{
    /* Zero window: one byte probes it, and the slow path's retransmission
     * timer repeats the probe with backoff (the persist timer of RFC 9293)
     * until the peer opens the window or the flow times out. */
    if (f->snd_wnd == 0 && f->tx_sent == 0)
        return f->tx_avail ? 1 : 0;
    uint32_t limit = send_limit(f);
    if (limit <= f->tx_sent)
        return 0;
    uint32_t n = limit - f->tx_sent;
    if (n > f->tx_avail)
        n = f->tx_avail;
    if (n > p->seg_payload_max)
        n = p->seg_payload_max;
    return n;
}

bool fp_tx_fin_due(const struct tas_flow *f, uint32_t len)
{
    return (f->flags & (TAS_FLOW_F_FIN_PENDING | TAS_FLOW_F_FIN_SENT)) ==
               TAS_FLOW_F_FIN_PENDING && f->tx_avail == len;
}

bool fp_tx_has_work(const struct tas_flow *f, const struct fp_flow *p)
{
    return fp_tx_next_len(f, p) > 0 || fp_tx_fin_due(f, 0);
}

uint32_t fp_tx_send_pos(const struct tas_flow *f, const struct fp_flow *p)
{
    return wrap(f->tx_head + f->tx_sent, p->tx_size);
}

void fp_tx_advance(struct tas_flow *f, struct fp_flow *p, uint32_t len, bool fin)
{
    f->tx_sent += len;
    f->tx_avail -= len;
    uint32_t end = f->snd_una + f->tx_sent;
    if (fin) {
        f->flags |= TAS_FLOW_F_FIN_SENT;
        end++;
        p->fin_in_snd_max = 1;
    }
    if (tas_seq_gt(end, p->snd_max))
        p->snd_max = end;
}

void fp_tx_rewind(struct tas_flow *f, struct fp_flow *p)
{
    p->recover = p->snd_max - 1;
    f->tx_avail += f->tx_sent;
    f->tx_sent = 0;
    /* an unacknowledged FIN goes again after the data */
    if (f->flags & TAS_FLOW_F_FIN_PENDING)
        f->flags &= (uint16_t)~TAS_FLOW_F_FIN_SENT;
}

uint16_t fp_rx_window_field(const struct tas_flow *f, const struct fp_flow *p)
{
    uint32_t w = f->rx_avail >> p->rcv_wscale;
    return w > 0xffff ? 0xffff : (uint16_t)w;
}

void fp_ack_sent(const struct tas_flow *f, struct fp_flow *p)
{
    p->adv_edge = f->rcv_nxt + ((uint32_t)fp_rx_window_field(f, p) << p->rcv_wscale);
    p->segs_unacked = 0;
    p->ack_now = 0;
}

bool fp_rx_window_update_due(const struct tas_flow *f, const struct fp_flow *p)
{
    uint32_t now = (uint32_t)fp_rx_window_field(f, p) << p->rcv_wscale;
    int32_t advertised = (int32_t)(p->adv_edge - f->rcv_nxt);
    if (advertised < 0)
        advertised = 0;
    if (now <= (uint32_t)advertised)
        return false;
    return (uint32_t)advertised < p->seg_payload_max ||
           now - (uint32_t)advertised >= p->rx_size / 4;
}
