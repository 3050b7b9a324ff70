/* fastpath.h - state of the tas-fastpath daemon and the calls between its
 * I/O parts (port, control socket, receive, transmit, commands, main loop).
 *
 * struct fp_instance is what all cores share: the service region and the
 * flow table, this host's addresses, the application registry.  struct
 * fp_core is what one polling core owns: its queues to the slow path, its
 * TX batch, its scheduler and its counters.  There is one core for now; the
 * split is what lets more cores be added without untangling globals.
 */
#ifndef FP_FASTPATH_H
#define FP_FASTPATH_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include <tas/abi.h>
#include <tas/ring.h>

#include "app.h"
#include "flow.h"
#include "flow_table.h"
#include "packet.h"
#include "tx_sched.h"

#define FP_RX_BURST 32
#define FP_TX_BURST 32
#define FP_LOOP_SLOTS 256  /* frames to our own address awaiting receive */

struct fp_options {
    const char *run_dir;
    uint16_t port;
    unsigned idle_sleep_us;   /* 0: busy poll */
    unsigned ack_delay_us;    /* longest wait for data to carry a lone ACK */
    unsigned rx_desc;
    unsigned tx_desc;
    unsigned mbufs;
};

struct fp_core {
    unsigned id;
    uint16_t port;
    uint16_t queue;
    struct rte_mempool *pool;
    struct tas_fp_core_stats *stats;

    struct tas_ring exc;      /* to the slow path */
    struct tas_ring cmd;      /* from the slow path */
    int kick_efd;             /* wakes this core */
    bool sp_kick_pending;

    struct fp_ctx **ctxs;     /* contexts whose TX queues this core polls */
    uint32_t nctxs;
    uint32_t ctxs_cap;
    struct fp_ctx *kick_list; /* contexts that got rx entries this round */

    struct fp_sched sched;
    struct fp_idfifo notify;  /* flows owing an ACK or a context entry */
    uint32_t *notify_next;
    uint32_t notify_count;
    uint32_t *backlog_next;   /* links of the contexts' backlogs */
    uint32_t backlog_count;   /* flows on all backlogs */
    struct fp_idfifo delack;  /* flows whose ACK waits, oldest first */
    uint32_t *delack_next;
    uint32_t delack_count;

    struct rte_mbuf *tx_batch[FP_TX_BURST];
    unsigned tx_count;
    struct rte_mbuf *loop[FP_LOOP_SLOTS];
    unsigned loop_head;
    unsigned loop_count;
    uint16_t ip_id;

    /* clocks, sampled once per loop iteration */
    uint64_t now_tsc;
    uint32_t now_us;          /* TCP timestamp clock, see docs/tas-protocol.md */
    uint64_t clock_anchor_tsc;
    uint64_t clock_anchor_us;
    uint64_t clock_last_us;
};

struct fp_instance {
    struct fp_options opt;
    volatile bool quit;
    const char *quit_reason;

    struct fp_local local;
    uint32_t prefix_len;
    uint16_t mtu;
    uint32_t offloads;        /* TAS_OFFLOAD_* enabled on the port */
    uint64_t tsc_hz;

    int sock;                 /* fp.sock */
    int sp_efd;               /* wakes the slow path */
    void *region;
    struct tas_svc_geometry geo;
    struct tas_svc_header *hdr;
    struct tas_flow *sflows;  /* shared flow state */
    struct fp_flow *flows;    /* private flow state, same index */
    struct fp_flow_table table;

    struct fp_app **apps;
    uint32_t napps;
    uint32_t apps_cap;

    struct fp_core core;
};

extern struct fp_instance fp;

/* port.c */
int fp_port_init(struct fp_core *c);
void fp_port_close(uint16_t port);
void fp_tx_flush(struct fp_core *c);

/* control.c */
int fp_control_attach(void);
void fp_control_poll(void);
void fp_control_close(void);
struct fp_app *fp_app_find(uint32_t app_id);

/* telemetry.c: /tas/stats and /tas/drops on DPDK's telemetry socket;
 * called once attached (the counters live in the service region) */
void fp_telemetry_register(void);
/* before the region is unmapped: later queries get an error */
void fp_telemetry_stop(void);

/* rx.c */
unsigned fp_rx_poll(struct fp_core *c);
void fp_rx_returned(struct fp_core *c, const uint8_t *frame, uint32_t len);

/* tx.c */
void fp_tx_flow(struct fp_core *c, uint32_t id);
void fp_tx_ack(struct fp_core *c, uint32_t id);
void fp_tx_rst(struct fp_core *c, uint32_t id);
void fp_tx_raw(struct fp_core *c, const uint8_t *frame, uint32_t len);
unsigned fp_tx_poll(struct fp_core *c);

/* commands.c */
unsigned fp_cmd_poll(struct fp_core *c);
void fp_exc_packet(struct fp_core *c, const uint8_t *frame, uint32_t len,
                   uint32_t flow_id);
void fp_exc_event(struct fp_core *c, uint32_t flow_id, enum tas_flow_event ev);
void fp_exc_app_fault(struct fp_core *c, uint32_t app_id, enum tas_drop_reason r);
void fp_flow_stop(uint32_t id, const char *why);
void fp_flow_remove(uint32_t id);

/* core.c */
int fp_core_init(struct fp_core *c);
void fp_core_free(struct fp_core *c);
int fp_core_add_ctx(struct fp_core *c, struct fp_ctx *ctx);
void fp_core_drop_app(struct fp_core *c, struct fp_app *app);
void fp_core_notify(struct fp_core *c, uint32_t id);
void fp_core_run(struct fp_core *c);

#endif /* FP_FASTPATH_H */
