/* tcp.h - the per-flow TCP logic of the fast path, free of I/O.
 *
 * fp_tcp_rx applies one received segment to a flow: RST and PAWS checks,
 * the acceptability of its sequence number and ACK field (RFC 9293, RFC
 * 5961: blind RSTs and forged ACKs get a rate-limited challenge ACK),
 * acknowledgement processing (freeing TX bytes, duplicate ACKs and fast
 * retransmit, the peer's window, RTT from timestamps, ECN), in-order and
 * out-of-order payload placement into the application's RX ring, and the
 * peer's FIN.  The fp_tx_* functions do the arithmetic of sending: how much
 * may go, where it is in the TX ring, what the window field says.  Both work
 * on struct tas_flow (shared, dynamic state) plus struct fp_flow (private,
 * validated geometry) and leave packets, mbufs and queues to the caller,
 * which is what makes them unit-testable.
 *
 * Ring positions in struct tas_flow live in shared memory; fp_flow_sane
 * checks them before each use so a corrupted flow is stopped rather than
 * followed outside its rings.
 */
#ifndef FP_TCP_H
#define FP_TCP_H

#include <stdbool.h>
#include <stdint.h>

#include <tas/abi.h>

#include "flow.h"
#include "packet.h"

struct fp_rx_result {
    uint8_t  drop;            /* enum tas_drop_reason, TAS_DROP__COUNT: none */
    bool exception;           /* hand the frame to the slow path */
    bool rst;                 /* acceptable RST: the flow is stopped */
    bool fin_rcvd;            /* peer's FIN accepted */
    bool fin_acked;           /* our FIN acknowledged */
    bool fast_retx;           /* third duplicate ACK: rewound to snd_una */
    bool tx_progress;         /* acked, window moved or rewound: try sending */
    bool notify;              /* p->note_* changed: tell the context */
    bool challenge_ack;       /* the ACK owed is a rate-limited challenge ACK */
};

/* Applies segment s (already matched to this active flow) at time now_us of
 * the TCP timestamp clock.  Afterwards p->ack_now says an ACK must go out
 * at once and p->segs_unacked counts in-order segments not yet ACKed. */
void fp_tcp_rx(struct tas_flow *f, struct fp_flow *p, const struct fp_seg *s,
               uint32_t now_us, struct fp_rx_result *res);

/* Are the ring positions of f consistent with its rings? */
bool fp_flow_sane(const struct tas_flow *f, const struct fp_flow *p);

/* Payload bytes the next data segment may carry now (0: none). */
uint32_t fp_tx_next_len(const struct tas_flow *f, const struct fp_flow *p);
/* Does the segment carrying the next len queued bytes (0: none) also carry
 * our FIN, because the FIN is pending and those are the last bytes? */
bool fp_tx_fin_due(const struct tas_flow *f, uint32_t len);
/* Has the flow anything to send that the peer's window or cwnd allows? */
bool fp_tx_has_work(const struct tas_flow *f, const struct fp_flow *p);
/* TX ring position of the next byte to send. */
uint32_t fp_tx_send_pos(const struct tas_flow *f, const struct fp_flow *p);
/* Account a segment of len payload bytes (and a FIN) just sent. */
void fp_tx_advance(struct tas_flow *f, struct fp_flow *p, uint32_t len, bool fin);
/* Go back to the first unacknowledged byte (fast retransmit, RTO). */
void fp_tx_rewind(struct tas_flow *f, struct fp_flow *p);

/* The window field for our next segment. */
uint16_t fp_rx_window_field(const struct tas_flow *f, const struct fp_flow *p);
/* Record that a segment acknowledging rcv_nxt with fp_rx_window_field just
 * went out: nothing is owed any more. */
void fp_ack_sent(const struct tas_flow *f, struct fp_flow *p);
/* After the application freed RX space: is the new window worth a window
 * update (the advertised one was below an MSS, or it grew by a quarter of
 * the ring)? */
bool fp_rx_window_update_due(const struct tas_flow *f, const struct fp_flow *p);

/* Copies between payload and a ring of `size` bytes starting at pos < size;
 * len <= size. */
void fp_ring_write(uint8_t *ring, uint32_t size, uint32_t pos,
                   const uint8_t *src, uint32_t len);
void fp_ring_read(const uint8_t *ring, uint32_t size, uint32_t pos,
                  uint8_t *dst, uint32_t len);

#endif /* FP_TCP_H */
