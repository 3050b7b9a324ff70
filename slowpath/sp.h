/* sp.h - the slow path's run-time state, shared by its subsystems.
 *
 * One struct sp holds everything (the daemon is single-threaded and driven
 * by one epoll loop); each subsystem keeps its code in its own file:
 *   main.c     start-up, sockets, the event loop
 *   svc.c      service region, the fast path's attach and rings
 *   app.c      applications on sp.sock: registration, contexts, events
 *   net.c      ARP, ICMP echo, next hops, sending frames
 *   tcp.c      connection control: bind, listen, accept, connect, close
 *   control.c  per-flow control loop: retransmission timeouts, congestion
 *   ctlsock.c  ctl.sock: what tasctl shows the operator
 */
#ifndef SP_SP_H
#define SP_SP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <tas/abi.h>
#include <tas/ctl.h>

#include "arp.h"
#include "cc.h"
#include "config.h"
#include "conntab.h"
#include "list.h"
#include "listener.h"
#include "packet.h"
#include "payload.h"
#include "ports.h"
#include "route.h"
#include "rto.h"
#include "syncookie.h"
#include "tcp_fsm.h"
#include "timer.h"

/* What an epoll registration stands for. */
enum sp_watch_kind {
    SP_WATCH_SP_LISTEN,
    SP_WATCH_FP_LISTEN,
    SP_WATCH_FP_SOCK,
    SP_WATCH_SP_KICK,
    SP_WATCH_TIMER,
    SP_WATCH_SIGNAL,
    SP_WATCH_APP,
    SP_WATCH_CTL_LISTEN,
    SP_WATCH_CTL_CLIENT,
    SP_WATCH_REFUSED,             /* an application turned away at REGISTER */
};

struct sp_watch {
    enum sp_watch_kind kind;
    void *obj;
};

/* The fast path as seen from here: its attach socket, the service region
 * and views of its rings built from our own (trusted) geometry. */
struct svc {
    int fp_sock;                  /* -1 while no fast path is attached */
    struct sp_watch watch;
    int memfd;
    void *base;
    struct tas_svc_geometry geo;
    struct tas_ring exc[TAS_MAX_FP_CORES];
    struct tas_ring cmd[TAS_MAX_FP_CORES];
    int sp_kick;                  /* the fast path wakes us through this */
    int fp_kick[TAS_MAX_FP_CORES];
    uint8_t mac[6];
    uint16_t mtu;
    uint32_t fp_pid;
    uint32_t ctl_seq;
    bool kick_fp;                 /* commands were posted to a sleeping core */
    struct list_node cmd_backlog; /* commands waiting for room in the ring */
};

/* One application context (thread): its eventfd and our producer view of
 * its sp ring; events that did not fit wait in overflow. */
struct sp_ctx {
    bool in_use;
    int evfd;
    struct tas_ring sp_ring;
    struct list_node overflow;
    uint32_t n_overflow;
    struct list_node overflow_node;   /* on sp.ctx_overflow when non-empty */
    struct sp_app *app;
};

/* A port reserved by BIND that no listener or connection uses yet. */
struct sp_binding {
    struct list_node node;
    uint16_t port;                /* host order */
    unsigned flags;
};

struct sp_app {
    uint32_t id;
    int sock;
    struct sp_watch watch;
    pid_t pid;
    uid_t uid;
    int memfd;
    void *base;
    struct tas_app_geometry geo;
    struct payload_alloc payload;
    struct sp_ctx *ctx;           /* cfg.max_ctx entries */
    struct list_node conns;
    struct list_node listeners;
    struct list_node bindings;
    uint32_t fp_pending;          /* REMOVE/ABORT commands not yet done */
    uint32_t n_flows;             /* flow ids held, at most cfg.max_app_flows */
    bool dying;                   /* socket gone: cleaning up */
};

/* Connection flags. */
#define CONN_F_INSTALLED   (1u << 0)  /* fast path serves it */
#define CONN_F_REMOVING    (1u << 1)  /* REMOVE/ABORT sent, CMD_DONE awaited */
#define CONN_F_APP_HOLDS   (1u << 2)  /* the application has the flow id */
#define CONN_F_READY_Q     (1u << 3)  /* on its listener's accept queue */
#define CONN_F_HALF_OPEN_Q (1u << 4)  /* on its listener's half-open queue */
#define CONN_F_CLOSED_SENT (1u << 5)  /* TAS_SPEV_CLOSED posted */
#define CONN_F_APP_CLOSED  (1u << 6)  /* CLOSE: orphaned once the FIN is out */
#define CONN_F_HAS_FLOW    (1u << 7)  /* flow id and rings allocated */
#define CONN_F_TIME_WAIT_PORT (1u << 8) /* holds a TIME_WAIT port reference */
#define CONN_F_HANDED      (1u << 9)  /* given to the app: ends with SPEV_CLOSED */
#define CONN_F_PORT_OWNED  (1u << 10) /* holds a reservation of its local port */
#define CONN_F_OUTSTANDING (1u << 11) /* last tick saw unacknowledged data */
#define CONN_F_INSTALL_PENDING (1u << 12) /* established, install imminent */

struct sp_conn {
    struct conn_hnode hnode;      /* key: the 4-tuple */
    bool in_table;
    enum tcp_state state;
    uint32_t flags;
    uint32_t flow_id;
    struct sp_app *app;           /* owner of the rings; NULL once released */
    uint32_t ctx_id;
    uint64_t opaque;
    struct listener *listener;    /* passive opens until accepted */
    struct list_node queue_node;  /* listener's half-open or ready queue */
    struct list_node app_node;    /* app->conns */
    struct sp_timer timer;        /* handshake, control interval or TIME_WAIT */

    /* negotiated at the handshake */
    uint32_t iss, irs;
    uint16_t mss;                 /* payload per segment */
    uint32_t snd_wnd;             /* peer's window from the handshake, scaled */
    uint8_t snd_wscale, rcv_wscale;
    bool ts_ok, ecn_ok, wscale_ok;
    uint32_t ts_recent;
    uint8_t retries;
    uint64_t handshake_sent_us;   /* for the first RTT sample */
    uint8_t remote_mac[6];

    /* rings in the app region (offsets in the region) */
    uint32_t rx_base, rx_size, tx_base, tx_size;
    uint32_t rx_ready;            /* final-ACK data written before install */
    uint64_t cookie;              /* echoed by CMD_DONE of this flow's removal */
    struct list_node all_node;    /* sp->all_conns */

    /* TIME_WAIT answers */
    uint32_t snd_nxt, rcv_nxt;

    /* control loop */
    struct rto_state rto;
    struct cc_state cc;
    uint32_t last_acked, last_ecn, last_fast_retx, last_snd_una;
    uint64_t last_progress_us;
    uint64_t fin_wait2_deadline_us;
    uint8_t rto_count;            /* timeouts without progress */
    uint8_t last_zero_wnd_acks;   /* tas_flow.zero_wnd_acks at the last timeout */
    uint32_t timeouts;            /* retransmission timeouts, for tasctl */
    uint64_t challenge_us;        /* when we last sent this flow a challenge ACK */
    int close_status;             /* errno for TAS_SPEV_CLOSED */
};

/* A tasctl connection on ctl.sock waiting for its request line. */
struct ctl_client {
    int fd;                       /* -1: free slot */
    uint64_t since_us;
    struct sp_watch watch;
};

#define CTL_MAX_CLIENTS 16

/* Busy share of a fast-path core over the last sampling period. */
struct ctl_core_load {
    uint64_t busy_cycles, idle_cycles;   /* at the last sample */
    double busy_percent;
};

struct ctl {
    int listen_fd;
    uint64_t started_us;
    uint64_t load_sampled_us;
    struct ctl_client clients[CTL_MAX_CLIENTS];
    struct ctl_core_load load[TAS_MAX_FP_CORES];
};

struct sp {
    struct sp_config cfg;
    uint64_t now_us;              /* CLOCK_MONOTONIC, updated per wakeup */
    int epfd;
    int timerfd;
    int sigfd;
    int sp_listen;
    int fp_listen;
    int lock_fd;
    bool stop;
    struct sp_watch w_sp_listen, w_fp_listen, w_ctl_listen, w_sp_kick, w_timer, w_signal;

    struct svc svc;
    struct ctl ctl;
    struct route_table routes;
    struct arp_cache arp;
    struct port_table *ports;
    struct conntab conns;
    struct listener_table *listeners;
    struct timer_heap timers;
    struct sp_timer housekeeping;

    struct sp_app **apps;         /* by app id */
    uint32_t next_app_id;         /* where the search for a free id starts */
    struct sp_conn **flows;       /* by flow id */
    uint32_t *free_flow_ids;      /* stack */
    uint32_t n_free_flow_ids;
    struct list_node ctx_overflow;
    struct list_node all_conns;
    uint64_t next_cookie;
    uint64_t secret[2];           /* ISN, port and hash keys */
    uint32_t n_refused;           /* sockets waiting for their REGISTER refusal */
    struct syncookie_keys syncookies;
    uint64_t syncookies_sent;     /* SYN-ACKs answered statelessly */
    uint64_t syncookies_accepted; /* connections opened from a cookie */
    uint64_t blind_syns;          /* SYNs on synchronized connections (RFC 5961) */
    uint64_t blind_rsts;          /* RSTs in the window, not at rcv_nxt, before install */
    uint64_t challenge_acks;      /* ACKs answering either, rate-limited per flow */
    uint64_t returned_segments;   /* segments that overtook their flow's install */
};

uint64_t sp_now_us(void);

/* ---- svc.c ---- */
int svc_attach(struct sp *sp, int sock);
void svc_detach(struct sp *sp);
bool svc_attached(const struct sp *sp);
void svc_handle_fp_sock(struct sp *sp);
/* Queues a command on core 0's ring (or the backlog when it is full). */
void svc_post(struct sp *sp, uint16_t kind, uint32_t flow_id, uint32_t app_id,
              uint32_t arg, uint64_t cookie, const void *frame, uint16_t len);
/* Moves backlog into the ring and kicks the fast path; true if backlog left. */
bool svc_flush(struct sp *sp);
/* Handles up to budget exception messages; returns how many. */
unsigned svc_poll(struct sp *sp, unsigned budget);
bool svc_prepare_sleep(struct sp *sp);
void svc_awake(struct sp *sp);
int svc_fp_call(struct sp *sp, struct tas_ctl_msg *m, const int *fds, unsigned nfds);
struct tas_flow *svc_flow(struct sp *sp, uint32_t flow_id);

/* ---- app.c ---- */
void app_accept_connection(struct sp *sp);
void app_handle_sock(struct sp *sp, struct sp_app *app);
void app_answer_refused(struct sp *sp, struct sp_watch *refused);
void app_post_event(struct sp *sp, struct sp_app *app, uint32_t ctx_id,
                    uint32_t kind, uint32_t status, uint32_t flow_id,
                    uint32_t listener_id, uint64_t opaque);
bool app_flush_overflow(struct sp *sp);
void app_kill(struct sp *sp, struct sp_app *app, const char *why);
/* A REMOVE/ABORT for one of app's flows completed. */
void app_fp_done(struct sp *sp, struct sp_app *app);
void app_disconnect_all(struct sp *sp);
struct sp_app *app_get(struct sp *sp, uint32_t app_id);

/* ---- net.c ---- */
void net_init_routes(struct sp *sp);
void net_handle_frame(struct sp *sp, const uint8_t *frame, uint16_t len);
/* Fills in the Ethernet destination for dst_ip and sends (or parks) frame. */
void net_send_ip(struct sp *sp, uint32_t dst_ip, uint8_t *frame, uint16_t len);
/* MAC of the next hop to dst if known now. */
bool net_lookup_mac(struct sp *sp, uint32_t dst, uint8_t mac[6]);
bool net_routable(struct sp *sp, uint32_t dst);
void net_announce(struct sp *sp);
void net_tick(struct sp *sp);

/* ---- tcp.c ---- */
int tcp_init(struct sp *sp);
void tcp_handle_segment(struct sp *sp, const struct pkt_info *pi);
void tcp_flow_event(struct sp *sp, uint32_t flow_id, uint32_t event);
void tcp_cmd_done(struct sp *sp, uint32_t flow_id, uint64_t cookie);
void tcp_timer_fired(struct sp *sp, struct sp_conn *c);
void tcp_timeout(struct sp *sp, struct sp_conn *c);
int tcp_request(struct sp *sp, struct sp_app *app, const struct tas_ctl_msg *req,
                struct tas_ctl_msg *rep);
void tcp_app_gone(struct sp *sp, struct sp_app *app);
void tcp_reset_all(struct sp *sp);

/* ---- control.c ---- */
void control_start(struct sp *sp, struct sp_conn *c);
void control_tick(struct sp *sp, struct sp_conn *c);

/* ---- ctlsock.c ---- */
int ctl_listen(struct sp *sp);
void ctl_accept(struct sp *sp);
void ctl_handle_client(struct sp *sp, struct ctl_client *cl);
void ctl_tick(struct sp *sp);
void ctl_close(struct sp *sp);

#endif /* SP_SP_H */
