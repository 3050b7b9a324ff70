/* Unit tests for the per-flow TCP logic: segment acceptance, out-of-order
 * handling, ACK processing, fast retransmit, RST/FIN, the RFC 5961 checks
 * and their rate-limited challenge ACKs, the receive window, and the
 * send-side arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tcp.h"

#define RX_SIZE 1000u
#define TX_SIZE 4000u
#define RCV_ISN 5000u
#define SND_ISN 9000u

static struct tas_flow f;
static struct fp_flow p;
static uint8_t rx_ring[RX_SIZE];
static uint8_t tx_ring[TX_SIZE];
static uint8_t data[8192];   /* covers every sequence offset the tests use */
static struct fp_rx_result res;
static uint32_t now_us;

static int setup(void **state)
{
    (void)state;
    memset(&f, 0, sizeof(f));
    memset(&p, 0, sizeof(p));
    memset(rx_ring, 0, sizeof(rx_ring));
    for (unsigned i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + 1);
    f.flags = TAS_FLOW_F_ACTIVE;
    f.rx_size = RX_SIZE;
    f.rx_avail = RX_SIZE;
    f.rcv_nxt = RCV_ISN;
    f.tx_size = TX_SIZE;
    f.snd_una = SND_ISN;
    f.snd_wnd = 10000;
    f.mss = 100;
    p.state = FP_FLOW_ACTIVE;
    p.rx_ring = rx_ring;
    p.tx_ring = tx_ring;
    p.rx_size = RX_SIZE;
    p.tx_size = TX_SIZE;
    p.seg_payload_max = 100;
    p.snd_max = SND_ISN;
    p.recover = SND_ISN - 1;
    now_us = 10000000;
    return 0;
}

/* Payload bytes are data[seq - RCV_ISN ...]: a stream the tests can check. */
static void rx(uint32_t seq, uint32_t len, uint8_t flags)
{
    struct fp_seg s = {
        .seq = seq, .ack = f.snd_una, .win = 10000, .flags = flags | TAS_TCP_ACK,
        .payload = data + (seq - RCV_ISN), .len = len,
    };
    fp_tcp_rx(&f, &p, &s, now_us, &res);
}

static void ack(uint32_t ackno, uint16_t win, uint8_t flags)
{
    struct fp_seg s = { .seq = f.rcv_nxt, .ack = ackno, .win = win,
                        .flags = flags | TAS_TCP_ACK };
    fp_tcp_rx(&f, &p, &s, now_us, &res);
}

/* Queues and "sends" n bytes the way the TX path does. */
static void send_bytes(uint32_t n)
{
    f.tx_avail += n;
    while (fp_tx_next_len(&f, &p) > 0)
        fp_tx_advance(&f, &p, fp_tx_next_len(&f, &p), false);
}

static void test_in_order_data(void **state)
{
    (void)state;
    rx(RCV_ISN, 300, 0);
    assert_int_equal(res.drop, TAS_DROP__COUNT);
    assert_true(res.notify);
    assert_int_equal(f.rcv_nxt, RCV_ISN + 300);
    assert_int_equal(f.rx_head, 300);
    assert_int_equal(f.rx_avail, RX_SIZE - 300);
    assert_int_equal(p.note_rx_pos, 0);
    assert_int_equal(p.note_rx_bytes, 300);
    assert_int_equal(p.segs_unacked, 1);
    assert_false(p.ack_now);
    assert_memory_equal(rx_ring, data, 300);
    rx(RCV_ISN + 300, 100, 0);
    assert_int_equal(p.note_rx_bytes, 400);   /* one notification for both */
    assert_int_equal(p.segs_unacked, 2);
}

static void test_ring_wraps(void **state)
{
    (void)state;
    f.rx_head = 900;                    /* the app holds 10 bytes before this */
    f.rx_avail = RX_SIZE - 10;
    rx(RCV_ISN, 250, 0);
    assert_int_equal(f.rx_head, 150);
    assert_memory_equal(rx_ring + 900, data, 100);
    assert_memory_equal(rx_ring, data + 100, 150);
    assert_int_equal(p.note_rx_pos, 900);
}

static void test_empty_ring_starts_again(void **state)
{
    (void)state;
    f.rx_head = 900;                    /* the app gave back every byte */
    rx(RCV_ISN, 250, 0);
    assert_int_equal(p.note_rx_pos, 0);
    assert_int_equal(f.rx_head, 250);
    assert_memory_equal(rx_ring, data, 250);
    rx(RCV_ISN + 250, 50, 0);           /* not empty now: follows on */
    assert_int_equal(f.rx_head, 300);
    assert_memory_equal(rx_ring + 250, data + 250, 50);
}

static void test_ring_with_held_data_does_not_start_again(void **state)
{
    (void)state;
    f.rx_head = 900;                    /* every byte given back, but an */
    f.ooo_start = RCV_ISN + 20;         /* interval waits at 920 */
    f.ooo_len = 30;
    memcpy(rx_ring + 920, data + 20, 30);
    rx(RCV_ISN, 20, 0);
    assert_int_equal(p.note_rx_pos, 900);
    assert_int_equal(f.rcv_nxt, RCV_ISN + 50);
    assert_int_equal(f.rx_head, 950);
    assert_memory_equal(rx_ring + 900, data, 50);
}

static void test_out_of_order_merge(void **state)
{
    (void)state;
    rx(RCV_ISN + 200, 100, 0);          /* hole of 200 */
    assert_true(p.ack_now);
    assert_int_equal(f.rcv_nxt, RCV_ISN);
    assert_int_equal(f.ooo_start, RCV_ISN + 200);
    assert_int_equal(f.ooo_len, 100);
    rx(RCV_ISN + 300, 50, 0);           /* extends the interval */
    assert_int_equal(f.ooo_len, 150);
    rx(RCV_ISN + 600, 50, 0);           /* a second interval is not kept */
    assert_int_equal(res.drop, TAS_DROP_OUT_OF_WINDOW);
    assert_int_equal(f.ooo_len, 150);
    p.ack_now = 0;
    rx(RCV_ISN, 200, 0);                /* fills the hole */
    assert_int_equal(f.rcv_nxt, RCV_ISN + 350);
    assert_int_equal(f.ooo_len, 0);
    assert_int_equal(f.rx_avail, RX_SIZE - 350);
    assert_int_equal(p.note_rx_bytes, 350);
    assert_true(p.ack_now);
    assert_memory_equal(rx_ring, data, 350);
}

static void test_trim_and_window(void **state)
{
    (void)state;
    rx(RCV_ISN, 100, 0);
    rx(RCV_ISN + 50, 100, 0);           /* half old */
    assert_int_equal(f.rcv_nxt, RCV_ISN + 150);
    assert_memory_equal(rx_ring, data, 150);
    p.ack_now = 0;
    rx(RCV_ISN, 100, 0);                /* all old: re-ACK */
    assert_true(p.ack_now);
    assert_int_equal(f.rcv_nxt, RCV_ISN + 150);
    /* more than the ring holds: the excess is dropped and counted */
    rx(RCV_ISN + 150, 900, 0);
    assert_int_equal(res.drop, TAS_DROP_RX_RING_FULL);
    assert_int_equal(f.rcv_nxt, RCV_ISN + RX_SIZE);
    assert_int_equal(f.rx_avail, 0);
    /* zero window: data is not acceptable, an ACK is due */
    p.ack_now = 0;
    rx(RCV_ISN + RX_SIZE, 10, 0);
    assert_int_equal(res.drop, TAS_DROP_RX_RING_FULL);
    assert_true(p.ack_now);
    rx(RCV_ISN + 5000, 10, 0);
    assert_int_equal(res.drop, TAS_DROP_OUT_OF_WINDOW);
}

static void test_ack_frees_tx_and_counts(void **state)
{
    (void)state;
    f.flags |= TAS_FLOW_F_TIMESTAMPS;
    send_bytes(1000);
    assert_int_equal(f.tx_sent, 1000);
    assert_int_equal(p.snd_max, SND_ISN + 1000);
    struct fp_seg s = { .seq = RCV_ISN, .ack = SND_ISN + 400, .win = 10000,
                        .flags = TAS_TCP_ACK | TAS_TCP_ECE, .has_ts = 1,
                        .ts_val = 1, .ts_ecr = 1000 };
    fp_tcp_rx(&f, &p, &s, 1250, &res);
    assert_true(res.notify);
    assert_int_equal(f.snd_una, SND_ISN + 400);
    assert_int_equal(f.tx_head, 400);
    assert_int_equal(f.tx_sent, 600);
    assert_int_equal(f.cnt_acked_bytes, 400);
    assert_int_equal(f.cnt_ecn_bytes, 400);
    assert_int_equal(p.note_tx_bytes, 400);
    assert_int_equal(f.rtt_us, 250);
    assert_int_equal(f.ts_recent, 1);
    /* beyond what was sent: dropped, ACK due */
    ack(SND_ISN + 5000, 10000, 0);
    assert_int_equal(res.drop, TAS_DROP_BAD_ACK);
    assert_int_equal(f.snd_una, SND_ISN + 400);
}

static void test_window_scaling_and_limits(void **state)
{
    (void)state;
    p.snd_wscale = 2;
    ack(SND_ISN, 50, 0);
    assert_int_equal(f.snd_wnd, 200);
    f.tx_avail = 1000;
    assert_int_equal(fp_tx_next_len(&f, &p), 100);      /* MSS */
    f.tx_sent = 150;
    assert_int_equal(fp_tx_next_len(&f, &p), 50);       /* window */
    f.cwnd = 120;
    assert_int_equal(fp_tx_next_len(&f, &p), 0);        /* cwnd */
    f.cwnd = 0;
    f.tx_sent = 0;
    f.tx_avail = 30;
    assert_int_equal(fp_tx_next_len(&f, &p), 30);       /* data */
    ack(SND_ISN, 0, 0);                                 /* window closes */
    assert_int_equal(fp_tx_next_len(&f, &p), 1);        /* probe */
    fp_tx_advance(&f, &p, 1, false);
    assert_int_equal(fp_tx_next_len(&f, &p), 0);        /* one probe at a time */
}

static void test_fast_retransmit_after_three_dupacks(void **state)
{
    (void)state;
    send_bytes(500);
    ack(SND_ISN + 100, 10000, 0);
    for (int i = 0; i < 2; i++) {
        ack(SND_ISN + 100, 10000, 0);
        assert_false(res.fast_retx);
    }
    ack(SND_ISN + 100, 10000, 0);
    assert_true(res.fast_retx);
    assert_int_equal(f.cnt_fast_retx, 1);
    assert_int_equal(f.tx_sent, 0);
    assert_int_equal(f.tx_avail, 400);
    assert_int_equal(fp_tx_send_pos(&f, &p), 100);
    /* resend one segment; the rest of the window's duplicates (hundreds on
     * a large window) do not rewind again */
    fp_tx_advance(&f, &p, 100, false);
    for (int i = 0; i < 300; i++)
        ack(SND_ISN + 100, 10000, 0);
    assert_int_equal(f.cnt_fast_retx, 1);
    assert_int_equal(f.tx_sent, 100);
    /* an ACK covering data sent before the rewind */
    ack(SND_ISN + 450, 10000, 0);
    assert_int_equal(f.cnt_acked_bytes, 450);
    assert_int_equal(f.tx_sent, 0);
    assert_int_equal(f.tx_avail, 50);
    assert_int_equal(fp_tx_send_pos(&f, &p), 450);
}

static void test_no_new_fast_retransmit_before_recovery_point(void **state)
{
    (void)state;
    send_bytes(1000);
    for (int i = 0; i < 4; i++)
        ack(SND_ISN + 100, 10000, 0);
    assert_int_equal(f.cnt_fast_retx, 1);
    /* the resent copies reach the peer: ACKs below the point of the rewind,
     * then duplicates of them, start no second go-back */
    fp_tx_advance(&f, &p, 800, false);
    ack(SND_ISN + 600, 10000, 0);
    assert_int_equal(f.tx_sent, 300);
    for (int i = 0; i < 4; i++)
        ack(SND_ISN + 600, 10000, 0);
    assert_int_equal(f.cnt_fast_retx, 1);
    /* past the recovery point, a new loss is a new event */
    send_bytes(400);
    ack(SND_ISN + 1100, 10000, 0);
    for (int i = 0; i < 3; i++)
        ack(SND_ISN + 1100, 10000, 0);
    assert_int_equal(f.cnt_fast_retx, 2);
}

static void test_dupack_needs_outstanding_data(void **state)
{
    (void)state;
    for (int i = 0; i < 5; i++)
        ack(SND_ISN, 10000, 0);
    assert_false(res.fast_retx);
    assert_int_equal(f.dupacks, 0);
}

static void test_fin_both_ways(void **state)
{
    (void)state;
    rx(RCV_ISN, 100, TAS_TCP_FIN);
    assert_true(res.fin_rcvd);
    assert_int_equal(f.rcv_nxt, RCV_ISN + 101);
    assert_true(f.flags & TAS_FLOW_F_FIN_RCVD);
    assert_int_equal(p.note_flags, TAS_APP_RX_F_FIN);
    assert_true(p.ack_now);

    f.flags |= TAS_FLOW_F_FIN_PENDING;
    f.tx_avail = 50;
    assert_false(fp_tx_fin_due(&f, 0));
    assert_false(fp_tx_fin_due(&f, 40));
    assert_true(fp_tx_fin_due(&f, 50));               /* rides on the last data */
    fp_tx_advance(&f, &p, 50, true);
    assert_false(fp_tx_fin_due(&f, 0));
    assert_int_equal(p.snd_max, SND_ISN + 51);
    ack(SND_ISN + 50, 10000, 0);
    assert_false(res.fin_acked);
    ack(SND_ISN + 51, 10000, 0);
    assert_true(res.fin_acked);
    assert_int_equal(f.cnt_acked_bytes, 50);         /* the FIN is not data */
    assert_int_equal(f.snd_una, SND_ISN + 51);
    assert_false(f.flags & TAS_FLOW_F_FIN_PENDING);
}

static void test_out_of_order_fin_not_taken(void **state)
{
    (void)state;
    rx(RCV_ISN + 100, 10, TAS_TCP_FIN);
    assert_false(res.fin_rcvd);
    assert_false(f.flags & TAS_FLOW_F_FIN_RCVD);
}

static void test_rst_rules(void **state)
{
    (void)state;
    rx(RCV_ISN + 10, 0, TAS_TCP_RST);     /* in window: challenge ACK */
    assert_false(res.rst);
    assert_int_equal(res.drop, TAS_DROP_RST_IN_WINDOW);
    assert_true(res.challenge_ack);
    assert_true(p.ack_now);
    assert_int_equal(p.state, FP_FLOW_ACTIVE);
    p.ack_now = 0;
    rx(RCV_ISN + 5000, 0, TAS_TCP_RST);   /* outside: dropped silently */
    assert_false(res.rst);
    assert_int_equal(res.drop, TAS_DROP_OUT_OF_WINDOW);
    assert_false(res.challenge_ack);
    assert_false(p.ack_now);
    rx(RCV_ISN, 0, TAS_TCP_RST);          /* exact: reset */
    assert_true(res.rst);
    assert_int_equal(p.state, FP_FLOW_STOPPED);
    assert_false(f.flags & TAS_FLOW_F_ACTIVE);
}

static void test_unacceptable_acks_rate_limited(void **state)
{
    (void)state;
    rx(RCV_ISN + 5000, 0, 0);             /* pure ACK, far out of window */
    assert_true(p.ack_now);
    p.ack_now = 0;
    now_us += 1000;
    rx(RCV_ISN + 5000, 0, 0);             /* again soon after: no ACK war */
    assert_false(p.ack_now);
    rx(RCV_ISN + 10, 0, TAS_TCP_RST);     /* challenge ACKs count too */
    assert_false(p.ack_now);
    rx(RCV_ISN + 1000, 10, 0);            /* data beyond the window is answered */
    assert_true(p.ack_now);
    p.ack_now = 0;
    now_us += 500000;
    rx(RCV_ISN + 5000, 0, 0);
    assert_true(p.ack_now);
}

/* Ten bytes at a sequence number far from the stream rx() knows. */
static void rx_far(uint32_t seq)
{
    struct fp_seg s = { .seq = seq, .ack = f.snd_una, .win = 10000,
                        .flags = TAS_TCP_ACK, .payload = data, .len = 10 };
    fp_tcp_rx(&f, &p, &s, now_us, &res);
}

/* Segments a blind attacker sends from far away get one ACK per interval,
 * while a true peer's retransmission just behind rcv_nxt is answered at once. */
static void test_far_data_rate_limited(void **state)
{
    (void)state;
    rx(RCV_ISN, 100, 0);
    p.ack_now = 0;
    rx_far(RCV_ISN + (1u << 30));      /* far ahead */
    assert_int_equal(res.drop, TAS_DROP_OUT_OF_WINDOW);
    assert_true(res.challenge_ack);
    assert_true(p.ack_now);
    p.ack_now = 0;
    now_us += 1000;
    rx_far(RCV_ISN + (1u << 30));
    assert_int_equal(res.drop, TAS_DROP_OUT_OF_WINDOW);
    assert_false(p.ack_now);
    rx_far(RCV_ISN - (1u << 30));      /* far behind */
    assert_int_equal(res.drop, TAS_DROP_OUT_OF_WINDOW);
    assert_false(p.ack_now);
    rx(RCV_ISN, 50, 0);                   /* a retransmission: answered now */
    assert_true(p.ack_now);
    assert_false(res.challenge_ack);
    assert_int_equal(f.rcv_nxt, RCV_ISN + 100);
    rx(RCV_ISN + 100, 0, TAS_TCP_FIN);
    assert_true(res.fin_rcvd);
    p.ack_now = 0;
    rx(RCV_ISN + 100, 0, TAS_TCP_FIN);    /* the FIN again: our ACK was lost */
    assert_int_equal(res.drop, TAS_DROP_OUT_OF_WINDOW);
    assert_true(p.ack_now);
}

/* RFC 5961 section 5: the ACK field must lie in [snd_una - tx_size,
 * snd_max]; data carried by any other is dropped with a challenge ACK. */
static void test_ack_acceptability(void **state)
{
    (void)state;
    send_bytes(1000);
    struct fp_seg s = { .seq = RCV_ISN, .ack = SND_ISN - TX_SIZE, .win = 10000,
                        .flags = TAS_TCP_ACK, .payload = data, .len = 10 };
    fp_tcp_rx(&f, &p, &s, now_us, &res);  /* the oldest acceptable */
    assert_int_equal(res.drop, TAS_DROP__COUNT);
    assert_int_equal(f.rcv_nxt, RCV_ISN + 10);
    assert_int_equal(f.snd_una, SND_ISN);
    p.ack_now = 0;
    s.seq = f.rcv_nxt;
    s.payload = data + 10;
    s.ack = SND_ISN - TX_SIZE - 1;        /* one further back */
    fp_tcp_rx(&f, &p, &s, now_us, &res);
    assert_int_equal(res.drop, TAS_DROP_BAD_ACK);
    assert_true(res.challenge_ack);
    assert_true(p.ack_now);
    assert_int_equal(f.rcv_nxt, RCV_ISN + 10);
    assert_int_equal(f.rx_avail, RX_SIZE - 10);
    p.ack_now = 0;
    s.ack = SND_ISN - (1u << 30);         /* far in the past, again soon */
    fp_tcp_rx(&f, &p, &s, now_us, &res);
    assert_int_equal(res.drop, TAS_DROP_BAD_ACK);
    assert_false(p.ack_now);
    s.ack = p.snd_max + 1;                /* data never sent */
    fp_tcp_rx(&f, &p, &s, now_us, &res);
    assert_int_equal(res.drop, TAS_DROP_BAD_ACK);
    assert_int_equal(f.tx_sent, 1000);
    assert_int_equal(f.rcv_nxt, RCV_ISN + 10);
    s.ack = p.snd_max;                    /* everything sent */
    fp_tcp_rx(&f, &p, &s, now_us, &res);
    assert_int_equal(res.drop, TAS_DROP__COUNT);
    assert_int_equal(f.snd_una, SND_ISN + 1000);
    assert_int_equal(f.rcv_nxt, RCV_ISN + 20);
    s.seq = f.rcv_nxt;
    s.payload = data + 20;
    s.ack = SND_ISN + 500;                /* older than snd_una, within bound */
    s.win = 1;
    fp_tcp_rx(&f, &p, &s, now_us, &res);
    assert_int_equal(res.drop, TAS_DROP__COUNT);
    assert_int_equal(f.rcv_nxt, RCV_ISN + 30);
    assert_int_equal(f.snd_una, SND_ISN + 1000);
    assert_int_equal(f.snd_wnd, 10000);   /* its window is stale */
    assert_memory_equal(rx_ring, data, 30);
}

/* With a window scale the field rounds rx_avail down: once it says zero,
 * a probe at rcv_nxt finds no room although a few ring bytes are free. */
static void test_zero_window_probe(void **state)
{
    (void)state;
    p.rcv_wscale = 4;
    fp_ack_sent(&f, &p);                  /* advertises 992 of 1000 */
    for (uint32_t off = 0; off < 900; off += 100)
        rx(RCV_ISN + off, 100, 0);
    rx(RCV_ISN + 900, 100, 0);            /* 100 of the 100 free: 96 fit */
    assert_int_equal(res.drop, TAS_DROP_RX_RING_FULL);
    assert_int_equal(f.rcv_nxt, RCV_ISN + 996);
    assert_int_equal(f.rx_avail, 4);
    assert_int_equal(fp_rx_window_field(&f, &p), 0);
    fp_ack_sent(&f, &p);
    p.ack_now = 0;
    rx(RCV_ISN + 996, 1, 0);              /* the probe */
    assert_int_equal(res.drop, TAS_DROP_RX_RING_FULL);
    assert_true(p.ack_now);
    assert_false(res.challenge_ack);
    assert_int_equal(f.rcv_nxt, RCV_ISN + 996);
    assert_int_equal(f.rx_avail, 4);
    f.rx_avail += 500;                    /* the app reads: the flow goes on */
    rx(RCV_ISN + 996, 100, 0);
    assert_int_equal(res.drop, TAS_DROP__COUNT);
    assert_int_equal(f.rcv_nxt, RCV_ISN + 1096);
}

/* The sending side of a shut window: answers that keep it shut are counted
 * for the slow path's persist timer and are no duplicate ACKs; the ACK that
 * opens it without taking the probe byte sends that byte again first (it
 * left a hole the receiver cannot fill otherwise). */
static void test_window_opens_after_dropped_probe(void **state)
{
    (void)state;
    f.tx_avail = 300;
    ack(SND_ISN, 0, 0);                                 /* window shut */
    assert_int_equal(fp_tx_next_len(&f, &p), 1);
    fp_tx_advance(&f, &p, 1, false);                    /* the probe */
    for (int i = 0; i < 5; i++) {
        ack(SND_ISN, 0, 0);                             /* dropped, answered */
        assert_false(res.fast_retx);
    }
    assert_int_equal(f.zero_wnd_acks, 6);
    assert_int_equal(f.cnt_fast_retx, 0);
    assert_int_equal(f.tx_sent, 1);

    ack(SND_ISN, 10000, 0);                             /* window opens */
    assert_true(res.tx_progress);
    assert_int_equal(f.tx_sent, 0);
    assert_int_equal(f.tx_avail, 300);
    assert_int_equal(fp_tx_send_pos(&f, &p), f.tx_head);
    assert_int_equal(fp_tx_next_len(&f, &p), 100);
    assert_int_equal(f.zero_wnd_acks, 6);
}

/* A probe the receiver took is acknowledged and not sent again. */
static void test_window_opens_after_taken_probe(void **state)
{
    (void)state;
    f.tx_avail = 300;
    ack(SND_ISN, 0, 0);
    fp_tx_advance(&f, &p, fp_tx_next_len(&f, &p), false);
    ack(SND_ISN + 1, 10000, 0);
    assert_int_equal(f.snd_una, SND_ISN + 1);
    assert_int_equal(f.tx_sent, 0);
    assert_int_equal(f.tx_avail, 299);
    assert_int_equal(fp_tx_send_pos(&f, &p), 1);
}

/* A window once advertised is not taken back by the rounding of a later
 * field ("shrinking the window", RFC 9293 section 3.8.6). */
static void test_window_never_shrinks(void **state)
{
    (void)state;
    p.rcv_wscale = 4;
    fp_ack_sent(&f, &p);                  /* right edge RCV_ISN + 992 */
    rx(RCV_ISN, 10, 0);                   /* the field now says 976 more */
    assert_int_equal((uint32_t)fp_rx_window_field(&f, &p) << 4, 976);
    rx(RCV_ISN + 980, 12, 0);             /* up to the promised edge */
    assert_int_equal(res.drop, TAS_DROP__COUNT);
    assert_int_equal(f.ooo_start, RCV_ISN + 980);
    assert_int_equal(f.ooo_len, 12);
    rx(RCV_ISN + 992, 4, 0);              /* beyond it: ring space, no window */
    assert_int_equal(res.drop, TAS_DROP_OUT_OF_WINDOW);
    assert_int_equal(f.ooo_len, 12);
}

static void test_syn_and_urg_go_to_slow_path(void **state)
{
    (void)state;
    rx(RCV_ISN, 0, TAS_TCP_SYN);
    assert_true(res.exception);
    rx(RCV_ISN, 10, TAS_TCP_URG);
    assert_true(res.exception);
    assert_int_equal(f.rcv_nxt, RCV_ISN);
}

static void test_paws_and_ts_recent(void **state)
{
    (void)state;
    f.flags |= TAS_FLOW_F_TIMESTAMPS;
    f.ts_recent = 100;
    struct fp_seg s = { .seq = RCV_ISN, .ack = SND_ISN, .win = 100,
                        .flags = TAS_TCP_ACK, .has_ts = 1, .ts_val = 99,
                        .payload = data, .len = 10 };
    fp_tcp_rx(&f, &p, &s, 0, &res);
    assert_int_equal(res.drop, TAS_DROP_OUT_OF_WINDOW);
    assert_int_equal(f.rcv_nxt, RCV_ISN);
    s.ts_val = 150;
    fp_tcp_rx(&f, &p, &s, 0, &res);
    assert_int_equal(f.rcv_nxt, RCV_ISN + 10);
    assert_int_equal(f.ts_recent, 150);
}

static void test_ecn_echo(void **state)
{
    (void)state;
    f.flags |= TAS_FLOW_F_ECN;
    struct fp_seg s = { .seq = RCV_ISN, .ack = SND_ISN, .win = 100,
                        .flags = TAS_TCP_ACK, .ce = 1, .payload = data, .len = 10 };
    fp_tcp_rx(&f, &p, &s, 0, &res);
    assert_true(f.flags & TAS_FLOW_F_ECE_PENDING);
    assert_true(p.ack_now);
    s.seq += 10;
    s.ce = 0;
    s.flags |= TAS_TCP_CWR;
    fp_tcp_rx(&f, &p, &s, 0, &res);
    assert_false(f.flags & TAS_FLOW_F_ECE_PENDING);
    assert_false(p.cwr_pending);
    ack(SND_ISN, 100, TAS_TCP_ECE);     /* the peer saw CE on our data */
    assert_true(p.cwr_pending);
}

static void test_window_field_and_updates(void **state)
{
    (void)state;
    p.rcv_wscale = 2;
    assert_int_equal(fp_rx_window_field(&f, &p), RX_SIZE >> 2);
    fp_ack_sent(&f, &p);
    assert_int_equal(p.adv_edge, RCV_ISN + RX_SIZE);
    rx(RCV_ISN, 960, 0);                 /* nearly fills the ring */
    fp_ack_sent(&f, &p);
    assert_int_equal(p.adv_edge, RCV_ISN + 960 + 40);
    f.rx_avail += 20;                    /* app frees a little: window < MSS */
    assert_true(fp_rx_window_update_due(&f, &p));
    fp_ack_sent(&f, &p);
    f.rx_avail += 200;                   /* still below an MSS advertised */
    assert_true(fp_rx_window_update_due(&f, &p));
    fp_ack_sent(&f, &p);
    f.rx_avail += 100;                   /* grows by less than a quarter */
    assert_false(fp_rx_window_update_due(&f, &p));
    f.rx_avail += 200;
    assert_true(fp_rx_window_update_due(&f, &p));
}

static void test_sanity_check(void **state)
{
    (void)state;
    assert_true(fp_flow_sane(&f, &p));
    f.rx_head = RX_SIZE;
    assert_false(fp_flow_sane(&f, &p));
    f.rx_head = 0;
    f.tx_sent = 3000;
    f.tx_avail = 1001;
    assert_false(fp_flow_sane(&f, &p));
    f.tx_avail = 1000;
    assert_true(fp_flow_sane(&f, &p));
    f.ooo_len = RX_SIZE + 1;
    assert_false(fp_flow_sane(&f, &p));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup(name, setup)
    const struct CMUnitTest tests[] = {
        T(test_in_order_data),
        T(test_ring_wraps),
        T(test_empty_ring_starts_again),
        T(test_ring_with_held_data_does_not_start_again),
        T(test_out_of_order_merge),
        T(test_trim_and_window),
        T(test_ack_frees_tx_and_counts),
        T(test_window_scaling_and_limits),
        T(test_fast_retransmit_after_three_dupacks),
        T(test_no_new_fast_retransmit_before_recovery_point),
        T(test_dupack_needs_outstanding_data),
        T(test_fin_both_ways),
        T(test_out_of_order_fin_not_taken),
        T(test_rst_rules),
        T(test_unacceptable_acks_rate_limited),
        T(test_far_data_rate_limited),
        T(test_ack_acceptability),
        T(test_zero_window_probe),
        T(test_window_opens_after_dropped_probe),
        T(test_window_opens_after_taken_probe),
        T(test_window_never_shrinks),
        T(test_syn_and_urg_go_to_slow_path),
        T(test_paws_and_ts_recent),
        T(test_ecn_echo),
        T(test_window_field_and_updates),
        T(test_sanity_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
