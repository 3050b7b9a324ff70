/* flow.h - the fast path's private per-flow state.
 *
 * struct tas_flow in the service region is shared with the slow path, which
 * could (by a bug) rewrite any of it at any time.  Everything the fast path
 * uses to address memory or to find a flow is therefore copied here at
 * install time, after validation, and never re-read from shared memory:
 * the 4-tuple (hash key), where the flow's rings are and the owning
 * application and context.  The dynamic TCP state (sequence numbers, ring
 * positions, counters) stays in struct tas_flow, where the slow path reads
 * it, and ring positions are bounds-checked on every use.
 */
#ifndef FP_FLOW_H
#define FP_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include <tas/abi.h>

struct fp_app;
struct fp_ctx;

enum fp_flow_state {
    FP_FLOW_FREE = 0,     /* not installed */
    FP_FLOW_ACTIVE,       /* installed and served */
    FP_FLOW_STOPPED,      /* installed, but an RST stopped it: exceptions only */
};

struct fp_flow {
    /* lookup key, network order */
    uint32_t local_ip;
    uint32_t remote_ip;
    uint16_t local_port;
    uint16_t remote_port;
    uint32_t hash_next;        /* flow table chain, TAS_INVALID_FLOW ends it */

    uint8_t  state;            /* enum fp_flow_state */
    uint8_t  segs_unacked;     /* in-order segments received since our last ACK */
    uint8_t  ack_now;          /* an ACK is owed before the end of this round */
    uint8_t  fin_in_snd_max;   /* our FIN was sent: snd_max counts it */
    uint16_t seg_payload_max;  /* payload per segment: mss, capped by the MTU */
    uint8_t  dirty;            /* queued on the core's notify list */
    uint8_t  waiting;          /* on a context's backlog: its RX queue was full */
    uint8_t  rcv_wscale;       /* validated copies: a shift must stay < 32 */
    uint8_t  snd_wscale;
    uint8_t  cwr_pending;      /* peer echoed CE: tell it with CWR on our next data */
    uint8_t  ack_delayed;      /* on the core's delayed-ACK list */

    uint8_t *rx_ring;          /* validated at install: inside the app region */
    uint8_t *tx_ring;
    uint32_t rx_size;
    uint32_t tx_size;
    struct fp_app *app;
    struct fp_ctx *ctx;

    uint32_t snd_max;          /* highest sequence number sent, plus one */
    uint32_t adv_edge;         /* right edge of the window we last advertised */
    uint32_t recover;          /* highest sequence sent at the last rewind */
    uint32_t oow_ack_us;       /* when we last answered an unacceptable segment */
    uint32_t ack_due_us;       /* while ack_delayed: when the ACK must go */

    /* what the owning context has not been told yet */
    uint32_t note_rx_pos;
    uint32_t note_rx_bytes;
    uint32_t note_tx_bytes;
    uint32_t note_flags;       /* TAS_APP_RX_F_* */

    uint64_t pace_tat;         /* pacing: theoretical arrival time (tsc) */
};

_Static_assert(sizeof(struct fp_flow) <= 2 * TAS_CACHE_LINE,
               "the private per-flow state must stay within two cache lines");

#endif /* FP_FLOW_H */
