/* abi.h - the shared-memory contract between tas-slowpath, tas-fastpath and
 * applications (libtas).  Nothing outside include/ defines a layout that
 * crosses a process boundary.
 *
 * Two kinds of region, both memfds created by the slow path and handed over
 * by fd passing (never found by name):
 *
 *   service region   slow path + fast path.  Header, per-core queues between
 *                    the two daemons, and the flow table (struct tas_flow).
 *                    Applications never see it.
 *
 *   app region       one per application: slow path + fast path + that one
 *                    application.  Per-context queues and the payload area
 *                    holding every flow's RX and TX ring.
 *
 * All offsets are bytes from the start of their region.  Geometry is fixed
 * by the slow path when it creates a region and sent to the other processes
 * in the control messages of ctl.h; readers take geometry from those
 * messages, never from the (writable) region itself.  Every value an
 * application writes is untrusted: the fast path checks each one.
 */
#ifndef TAS_ABI_H
#define TAS_ABI_H

#include <stdint.h>

#include "ring.h"

#define TAS_ABI_VERSION 1u
#define TAS_SVC_MAGIC   0x5441535356430001ull   /* "TASSVC" v1 */
#define TAS_APP_MAGIC   0x5441534150500001ull   /* "TASAPP" v1 */

#define TAS_MAX_FP_CORES     16u
#define TAS_INVALID_FLOW     UINT32_MAX

/* ------------------------------------------------------------------------ */
/* Service region                                                            */
/* ------------------------------------------------------------------------ */

/* Why the fast path dropped a packet or refused an application request.
 * Indexes into tas_fp_core_stats.drops. */
enum tas_drop_reason {
    TAS_DROP_RUNT = 0,        /* shorter than the headers it claims */
    TAS_DROP_NOT_IPV4,
    TAS_DROP_IP_HDR,          /* bad version/IHL/total length/fragment */
    TAS_DROP_IP_CSUM,
    TAS_DROP_NOT_FOR_US,      /* wrong destination MAC or IP */
    TAS_DROP_TCP_HDR,         /* bad data offset, malformed options */
    TAS_DROP_TCP_CSUM,
    TAS_DROP_OUT_OF_WINDOW,
    TAS_DROP_RX_RING_FULL,    /* payload beyond the application's buffer */
    TAS_DROP_EXC_QUEUE_FULL,  /* slow path not keeping up */
    TAS_DROP_APP_BAD_ENTRY,   /* application queue entry failed validation */
    TAS_DROP_TX_NO_MBUF,
    TAS_DROP_BAD_ACK,         /* ACK field outside [snd_una - tx_size, snd_max] */
    TAS_DROP_RST_IN_WINDOW,   /* RST in the window but not at rcv_nxt (RFC 5961) */
    TAS_DROP_NOT_SERVED,      /* returned by the slow path, the flow not served */
    TAS_DROP__COUNT
};

/* Per fast-path core counters; written by that core only, read by anyone. */
struct tas_fp_core_stats {
    _Alignas(TAS_CACHE_LINE) uint64_t rx_pkts;
    uint64_t rx_bytes;
    uint64_t tx_pkts;
    uint64_t tx_bytes;
    uint64_t exc_pkts;        /* handed to the slow path */
    uint64_t busy_cycles;     /* rdtsc time spent in iterations doing work */
    uint64_t idle_cycles;
    uint64_t rx_cycles;       /* rdtsc time in RX processing */
    uint64_t tx_cycles;       /* rdtsc time in TX processing */
    uint64_t fast_retransmits;
    uint64_t challenge_acks;  /* rate-limited ACKs answering unacceptable segments */
    uint64_t drops[TAS_DROP__COUNT];
};

/* Written once by the fast path when it attaches, read by the slow path. */
struct tas_svc_header {
    uint64_t magic;
    uint32_t abi_version;
    uint32_t fp_ready;        /* set (release) after the fields below */
    uint8_t  fp_mac[6];
    uint16_t fp_mtu;
    uint32_t fp_cores;
    uint32_t fp_pid;
    uint64_t tsc_hz;
    uint32_t fp_offloads;     /* TAS_OFFLOAD_* the port really has */
    uint32_t reserved;
    struct tas_fp_core_stats core[TAS_MAX_FP_CORES];
};

#define TAS_OFFLOAD_IPV4_CSUM  (1u << 0)
#define TAS_OFFLOAD_TCP_CSUM   (1u << 1)

/* Slot of a fast path <-> slow path ring (both directions). */
#define TAS_SVC_SLOT_SIZE  2048u
#define TAS_SVC_FRAME_MAX  (TAS_SVC_SLOT_SIZE - sizeof(struct tas_svc_msg))

enum tas_svc_msg_kind {
    /* fast path -> slow path */
    TAS_EXC_PACKET = 1,       /* a frame the fast path does not handle */
    TAS_EXC_FLOW_EVENT,       /* flow_id, event = TAS_FLOW_EV_* */
    TAS_EXC_APP_FAULT,        /* app_id sent garbage; arg = drop reason */
    TAS_EXC_CMD_DONE,         /* completion of a command with want_done */

    /* slow path -> fast path */
    TAS_CMD_FLOW_INSTALL = 64,/* tas_flow[flow_id] initialised: start serving */
    TAS_CMD_FLOW_REMOVE,      /* stop serving flow_id; completes with CMD_DONE */
    TAS_CMD_FLOW_FIN,         /* send FIN once the TX ring has drained */
    TAS_CMD_FLOW_RETRANSMIT,  /* RTO: go back to the first unacknowledged byte */
    TAS_CMD_FLOW_SET_CTX,     /* flow_id now reports to context arg */
    TAS_CMD_FLOW_ABORT,       /* send RST now and stop serving (like REMOVE) */
    TAS_CMD_TX_FRAME,         /* transmit frame[len] as is (ARP, SYN-ACK, RST) */
    TAS_CMD_APP_DETACH,       /* app_id is gone: drop its contexts' queues */
    TAS_CMD_RX_FRAME,         /* frame[len], passed up before flow_id was
                                 installed: handle it as received, never
                                 pass it up again */
};

enum tas_flow_event {
    TAS_FLOW_EV_FIN_RCVD = 1, /* peer's FIN accepted in order */
    TAS_FLOW_EV_FIN_ACKED,    /* our FIN was acknowledged */
    TAS_FLOW_EV_RST_RCVD,     /* acceptable RST received; flow stopped */
};

struct tas_svc_msg {
    uint16_t kind;            /* enum tas_svc_msg_kind */
    uint16_t len;             /* frame bytes following the header */
    uint32_t flow_id;         /* or TAS_INVALID_FLOW */
    uint32_t app_id;
    uint32_t arg;             /* event, reason, context: see kind */
    uint64_t cookie;          /* echoed in CMD_DONE */
    uint8_t  frame[];
};

/* Flow state shared by the fast path (owner of the dynamic fields) and the
 * slow path (initialises it before INSTALL, sets the congestion limits,
 * reads the counters).  Two cache lines: the first holds what every received
 * segment touches, the second what sending and acknowledging touch.  The fast
 * path keeps whatever else it needs (hash linkage, pacing clock) privately.
 * Sequence numbers are host order; addresses and ports network order;
 * rx_base/tx_base are offsets in the owning application's region. */
struct tas_flow {
    _Alignas(TAS_CACHE_LINE) uint32_t local_ip;
    uint32_t remote_ip;
    uint16_t local_port;
    uint16_t remote_port;
    uint8_t  remote_mac[6];
    uint16_t flags;                   /* TAS_FLOW_F_* */
    uint32_t app_id;
    uint32_t ctx_id;
    uint32_t rx_base;
    uint32_t rx_size;
    uint32_t rx_head;                 /* ring position of rcv_nxt */
    uint32_t rx_avail;                /* free bytes in the RX ring */
    uint32_t rcv_nxt;
    uint32_t ooo_start;               /* one out-of-order interval (seq) */
    uint32_t ooo_len;                 /* 0: none */
    uint32_t ts_recent;               /* peer's last TSval, echoed */
    uint8_t  rcv_wscale;              /* shift for our window field */
    uint8_t  snd_wscale;              /* shift for the peer's window field */
    uint8_t  dupacks;
    uint8_t  zero_wnd_acks;           /* ACKs keeping snd_wnd at 0 (wrapping):
                                         the slow path's persist timer */

    _Alignas(TAS_CACHE_LINE) uint64_t opaque;                  /* application's handle, echoed in events */
    uint32_t tx_base;
    uint32_t tx_size;
    uint32_t tx_head;                 /* ring position of snd_una */
    uint32_t tx_sent;                 /* bytes sent, not yet acknowledged */
    uint32_t tx_avail;                /* bytes queued by the app, not yet sent */
    uint32_t snd_una;
    uint32_t snd_wnd;                 /* peer's window in bytes (scaled) */
    uint32_t cwnd;                    /* slow path limit on bytes in flight; 0 = none */
    uint32_t rate_kbps;               /* slow path pacing rate; 0 = unpaced */
    uint32_t rtt_us;                  /* smoothed RTT from timestamps */
    uint16_t mss;                     /* payload bytes per segment: the peer's
                                         MSS less 12 when timestamps are on */
    uint16_t pad1;
    /* counters the slow path samples each control interval (wrapping) */
    uint32_t cnt_acked_bytes;
    uint32_t cnt_ecn_bytes;
    uint32_t cnt_fast_retx;
};

#define TAS_FLOW_F_ACTIVE      (1u << 0)  /* fast path serves it */
#define TAS_FLOW_F_TIMESTAMPS  (1u << 1)  /* negotiated TCP timestamps */
#define TAS_FLOW_F_ECN         (1u << 2)  /* negotiated ECN */
#define TAS_FLOW_F_FIN_PENDING (1u << 3)  /* send FIN when TX drains */
#define TAS_FLOW_F_FIN_SENT    (1u << 4)
#define TAS_FLOW_F_FIN_RCVD    (1u << 5)
#define TAS_FLOW_F_ECE_PENDING (1u << 6)  /* echo CE on the next ACK */

/* Service region geometry, chosen by the slow path and sent in
 * TAS_CTL_FP_ATTACH_OK.  Layout:
 *   [0]              struct tas_svc_header
 *   [queues_off]     for each core c < cores:
 *                      struct tas_ring_shared exc (fp -> sp)
 *                      struct tas_ring_shared cmd (sp -> fp)
 *                      exc slots: ring_slots * TAS_SVC_SLOT_SIZE
 *                      cmd slots: ring_slots * TAS_SVC_SLOT_SIZE
 *   [flows_off]      struct tas_flow[max_flows]
 */
struct tas_svc_geometry {
    uint64_t size;
    uint32_t cores;
    uint32_t ring_slots;      /* power of two */
    uint64_t queues_off;
    uint64_t queue_stride;    /* bytes per core's pair of queues */
    uint64_t flows_off;
    uint32_t max_flows;
    uint32_t reserved;
};

/* ------------------------------------------------------------------------ */
/* Application region                                                        */
/* ------------------------------------------------------------------------ */

/* Application -> fast path: "I queued tx_bytes more on flow_id, and consumed
 * rx_bytes of what you gave me".  The fast path validates flow_id, that the
 * flow belongs to this application, and both counts against the ring. */
struct tas_app_tx_entry {
    uint32_t flow_id;
    uint32_t tx_bytes;
    uint32_t rx_bytes;
    uint32_t flags;           /* TAS_APP_TX_F_* */
};

/* Every byte of the TX ring was acknowledged, and the application writes on
 * from ring position 0: tx_bytes start there.  Refused (a bad entry) while
 * the fast path still holds bytes of the flow.  Rings that start again when
 * empty keep small exchanges on a few cache lines (docs/tas-protocol.md). */
#define TAS_APP_TX_F_REWIND  (1u << 0)

/* Fast path -> application: "rx_bytes more arrived at rx_pos, tx_bytes of
 * your TX ring were acknowledged and are free again".  rx_pos follows the
 * bytes announced before, except that a ring the application had emptied
 * (every byte consumed and given back) starts again at 0. */
struct tas_app_rx_entry {
    uint64_t opaque;
    uint32_t flow_id;
    uint32_t rx_bytes;
    uint32_t rx_pos;          /* ring position of the first new byte */
    uint32_t tx_bytes;
    uint32_t flags;           /* TAS_APP_RX_F_* */
    uint32_t pad;
};

#define TAS_APP_RX_F_FIN  (1u << 0)   /* peer finished sending: EOF after data */

/* Slow path -> application: connection-level events. */
enum tas_app_sp_event_kind {
    TAS_SPEV_ACCEPT_READY = 1, /* listener_id has a connection to accept */
    TAS_SPEV_CONNECTED,        /* connect request completed: status = 0 or errno */
    TAS_SPEV_CLOSED,           /* flow ended: status = 0 or ECONNRESET/ETIMEDOUT */
};

struct tas_app_sp_event {
    uint32_t kind;
    uint32_t status;
    uint32_t flow_id;
    uint32_t listener_id;
    uint64_t opaque;
};

#define TAS_APP_CTX_SLOT_TX  sizeof(struct tas_app_tx_entry)
#define TAS_APP_CTX_SLOT_RX  sizeof(struct tas_app_rx_entry)
#define TAS_APP_CTX_SLOT_SP  sizeof(struct tas_app_sp_event)

/* One context (normally one per application thread).  The rings' slot
 * arrays follow in the order of the struct; their lengths come from the
 * geometry.  One eventfd per context wakes the application for both the
 * fast path's and the slow path's ring. */
struct tas_app_ctx_shared {
    struct tas_ring_shared tx;  /* app -> fp */
    struct tas_ring_shared rx;  /* fp -> app */
    struct tas_ring_shared sp;  /* sp -> app */
};

/* Application region geometry, sent to the fast path (TAS_CTL_FP_APP_ADD)
 * and to the application (TAS_CTL_REGISTER reply).  Layout:
 *   [0]            struct tas_app_header
 *   [ctx_off]      for each context i < max_ctx, at ctx_off + i * ctx_stride:
 *                    struct tas_app_ctx_shared, then
 *                    tx slots, rx slots, sp slots (ring_slots each)
 *   [payload_off]  payload_size bytes of flow RX/TX rings
 */
struct tas_app_geometry {
    uint64_t size;
    uint32_t max_ctx;
    uint32_t ring_slots;      /* power of two */
    uint64_t ctx_off;
    uint64_t ctx_stride;
    uint64_t payload_off;
    uint64_t payload_size;
};

struct tas_app_header {
    uint64_t magic;
    uint32_t abi_version;
    uint32_t app_id;
};

/* Helpers to locate things from trusted geometry. */
static inline struct tas_app_ctx_shared *
tas_app_ctx(void *region, const struct tas_app_geometry *g, uint32_t ctx)
{
    return (struct tas_app_ctx_shared *)((uint8_t *)region + g->ctx_off +
                                         (uint64_t)ctx * g->ctx_stride);
}

static inline uint8_t *tas_app_ctx_tx_slots(struct tas_app_ctx_shared *c)
{
    return (uint8_t *)(c + 1);
}

static inline uint8_t *tas_app_ctx_rx_slots(struct tas_app_ctx_shared *c,
                                            const struct tas_app_geometry *g)
{
    return tas_app_ctx_tx_slots(c) + (uint64_t)g->ring_slots * TAS_APP_CTX_SLOT_TX;
}

static inline uint8_t *tas_app_ctx_sp_slots(struct tas_app_ctx_shared *c,
                                            const struct tas_app_geometry *g)
{
    return tas_app_ctx_rx_slots(c, g) + (uint64_t)g->ring_slots * TAS_APP_CTX_SLOT_RX;
}

static inline uint64_t tas_app_ctx_stride(uint32_t ring_slots)
{
    uint64_t s = sizeof(struct tas_app_ctx_shared) +
                 (uint64_t)ring_slots * (TAS_APP_CTX_SLOT_TX + TAS_APP_CTX_SLOT_RX +
                                         TAS_APP_CTX_SLOT_SP);
    return (s + TAS_CACHE_LINE - 1) & ~(uint64_t)(TAS_CACHE_LINE - 1);
}

static inline struct tas_ring_shared *
tas_svc_exc_ring(void *region, const struct tas_svc_geometry *g, uint32_t core)
{
    return (struct tas_ring_shared *)((uint8_t *)region + g->queues_off +
                                      (uint64_t)core * g->queue_stride);
}

static inline struct tas_ring_shared *
tas_svc_cmd_ring(void *region, const struct tas_svc_geometry *g, uint32_t core)
{
    return tas_svc_exc_ring(region, g, core) + 1;
}

static inline uint8_t *tas_svc_exc_slots(void *region,
                                         const struct tas_svc_geometry *g,
                                         uint32_t core)
{
    return (uint8_t *)(tas_svc_exc_ring(region, g, core) + 2);
}

static inline uint8_t *tas_svc_cmd_slots(void *region,
                                         const struct tas_svc_geometry *g,
                                         uint32_t core)
{
    return tas_svc_exc_slots(region, g, core) +
           (uint64_t)g->ring_slots * TAS_SVC_SLOT_SIZE;
}

static inline struct tas_flow *tas_svc_flows(void *region,
                                             const struct tas_svc_geometry *g)
{
    return (struct tas_flow *)((uint8_t *)region + g->flows_off);
}

_Static_assert(sizeof(struct tas_flow) == 2 * TAS_CACHE_LINE,
               "per-flow fast-path state must stay within two cache lines");

#endif /* TAS_ABI_H */
