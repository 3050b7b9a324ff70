/* lowlevel.h - internals of the low-level API (include/tas/api.h) shared by
 * service.c (registration and control requests), context.c (the event
 * queues) and conn.c (listeners, connections, payload rings).  Nothing in
 * the socket shim looks inside these structures.
 */
#ifndef LIBTAS_LOWLEVEL_H
#define LIBTAS_LOWLEVEL_H

#include <stdbool.h>
#include <stdint.h>

#include <tas/abi.h>
#include <tas/api.h>
#include <tas/ctl.h>
#include <tas/ring.h>

#include "idmap.h"
#include "log.h"

/* Something that can have events waiting for tas_context_poll: a
 * connection or a listener, linked into its context's notify list. */
struct evsrc {
    uint32_t pending;               /* TAS_EV_* not yet returned */
    bool is_listener;
    struct evsrc *prev, *next;      /* on the notify list iff pending != 0 */
};

struct tas_context {
    uint32_t id;
    int efd;                        /* ours: the service writes it */
    int kick_fd;                    /* the fast-path core's: we write it */
    struct tas_ring tx;             /* app -> fast path */
    struct tas_ring rx;             /* fast path -> app */
    struct tas_ring sp;             /* slow path -> app */
    bool dead;                      /* a queue was corrupt, or forked away */
    struct idmap flows;             /* flow id -> struct tas_conn */
    struct idmap listeners;         /* listener id -> struct tas_listener */
    uint32_t embryos;               /* flows seen before their ACCEPT */
    uint32_t closing;               /* flows in CONN_CLOSING */
    uint64_t next_opaque;           /* tags our flows' rx entries */
    struct evsrc notify;            /* list head */
    struct tas_conn *unposted;      /* conns with counts not yet on tx */
    struct tas_context *next_ctx;   /* all contexts of this process */
};

struct tas_listener {
    struct evsrc ev;
    struct tas_context *ctx;
    uint32_t id;
    uint32_t ready;                 /* ACCEPT_READY events not yet used */
    void *data;
};

enum conn_kind {
    CONN_EMBRYO,    /* rx entries for a flow not accepted yet: kept here */
    CONN_LIVE,      /* the application's */
    CONN_CLOSING,   /* released by the application, waiting for CLOSED */
};

struct tas_conn {
    struct evsrc ev;
    struct tas_context *ctx;
    enum conn_kind kind;
    uint32_t flow_id;
    uint64_t tag;                   /* opaque value of our entries */
    int status;                     /* see tas_conn_status */
    bool ended;                     /* TAS_SPEV_CLOSED seen */
    bool rx_fin;

    uint8_t *rx_buf;
    uint32_t rx_size, rx_pos, rx_ready;
    uint8_t *tx_buf;
    uint32_t tx_size, tx_pos, tx_free;
    bool tx_rewound;                /* tx_pos went back to 0: tell the fast path */

    /* counts for the fast path that did not fit into a full tx queue */
    uint32_t unposted_tx, unposted_rx;
    bool on_unposted;
    struct tas_conn *next_unposted;

    uint32_t local_ip, remote_ip;
    uint16_t local_port, remote_port;
    uint16_t mss;
    void *data;
};

/* service.c */
struct tas_app_geometry;
const struct tas_app_geometry *svc_geometry(void);
uint8_t *svc_region(void);
int svc_request(struct tas_ctl_msg *m, int *fds, unsigned max_fds,
                unsigned *nfds);
void svc_add_context(struct tas_context *ctx);

/* context.c */
void ctx_notify(struct tas_context *ctx, struct evsrc *src, uint32_t events);
void ctx_unnotify(struct evsrc *src);
void ctx_take_sp_events(struct tas_context *ctx);
/* Up to and including the CLOSED of flow_id, for a caller that found the
 * id in use by a flow it closed: the events after it are the next flow's. */
void ctx_take_sp_events_until_closed(struct tas_context *ctx, uint32_t flow_id);
void ctx_kick_fastpath(struct tas_context *ctx);
/* Wait until the fast path has taken in every count we queued: requests on
 * sp.sock overtake the tx queue, and FIN or RST must come after them. */
void ctx_sync_tx(struct tas_context *ctx);
void ctx_forget(struct tas_context *ctx);

/* conn.c */
void conn_rx_entry(struct tas_context *ctx, const struct tas_app_rx_entry *e);
void conn_sp_event(struct tas_context *ctx, const struct tas_app_sp_event *e);
void conn_flush_unposted(struct tas_context *ctx);

#endif /* LIBTAS_LOWLEVEL_H */
