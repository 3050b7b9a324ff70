/* ctl.h - messages on the slow path's unix sockets.
 *
 * The slow path listens on two SOCK_SEQPACKET sockets in its run directory:
 *
 *   sp.sock  applications (libtas) and tasctl.  Connection control is a
 *            request/reply exchange here: it is the uncommon path, so a
 *            syscall per request is fine, and the socket's lifetime is the
 *            application's (EOF = the application died: clean up).
 *   fp.sock  the fast path attaches here once and then receives the memfds
 *            and eventfds of applications as they come and go.
 *
 * Every message is one struct tas_ctl_msg; file descriptors ride along as
 * SCM_RIGHTS.  Each request gets exactly one reply with the same type, the
 * TAS_CTL_REPLY bit and the request's seq; status is 0 or a negative errno.
 * Receivers check type, size and every field: a peer on these sockets is not
 * trusted any more than shared memory is.
 */
#ifndef TAS_CTL_H
#define TAS_CTL_H

#include <stdint.h>

#include "abi.h"

#define TAS_DEFAULT_RUN_DIR "/run/tas"
#define TAS_SP_SOCK_NAME    "sp.sock"
#define TAS_FP_SOCK_NAME    "fp.sock"
#define TAS_RUN_DIR_ENV     "TAS_RUN_DIR"

#define TAS_CTL_REPLY 0x8000u

enum tas_ctl_type {
    /* application -> slow path */
    TAS_CTL_REGISTER = 1,     /* -> app_id + geometry, fd: app region memfd */
    TAS_CTL_CTX_NEW,          /* -> ctx_id, fds: the context's eventfd and the
                                 kick eventfd of its fast-path core */
    TAS_CTL_BIND,             /* reserve ip:port (port 0: ephemeral) */
    TAS_CTL_UNBIND,           /* release a reservation never used */
    TAS_CTL_LISTEN,           /* listen on a bound port -> listener_id */
    TAS_CTL_LISTEN_CLOSE,     /* stop listening; pending connections get RST */
    TAS_CTL_ACCEPT,           /* -> flow, or -EAGAIN when the backlog is empty */
    TAS_CTL_CONNECT,          /* -> flow; completion is TAS_SPEV_CONNECTED */
    TAS_CTL_CLOSE,            /* orderly close: FIN after queued data */
    TAS_CTL_SHUTDOWN_WR,      /* FIN after queued data, keep receiving */
    TAS_CTL_ABORT,            /* RST now */

    /* fast path -> slow path */
    TAS_CTL_FP_ATTACH = 32,   /* -> svc geometry, fds: svc memfd, sp kick
                                 eventfd, one fp kick eventfd per core */

    /* slow path -> fast path */
    TAS_CTL_FP_APP_ADD = 48,  /* fd: app region memfd */
    TAS_CTL_FP_CTX_ADD,       /* fd: the context's eventfd */
    TAS_CTL_FP_APP_REMOVE,    /* all of app_id's flows are gone: unmap */
};

struct tas_ctl_register {
    uint32_t pid;
    uint32_t abi_version;
};

struct tas_ctl_register_reply {
    uint32_t app_id;
    uint32_t local_ip;        /* network order: the instance's address */
    struct tas_app_geometry geo;
};

struct tas_ctl_ctx_reply {
    uint32_t ctx_id;
};

/* BIND, LISTEN, ACCEPT, CONNECT requests and their replies use one body. */
struct tas_ctl_conn {
    uint32_t ctx_id;          /* context that receives this flow's events */
    uint32_t listener_id;     /* LISTEN reply, ACCEPT and LISTEN_CLOSE request */
    uint32_t flow_id;         /* ACCEPT/CONNECT reply, CLOSE/ABORT request */
    uint32_t backlog;         /* LISTEN */
    uint32_t flags;           /* TAS_CTL_F_* */
    uint32_t local_ip;        /* network order; 0 = the instance's address */
    uint32_t remote_ip;       /* network order */
    uint16_t local_port;      /* network order; BIND reply fills ephemeral */
    uint16_t remote_port;     /* network order */
    uint64_t opaque;          /* ACCEPT/CONNECT: echoed in this flow's events */
    /* ACCEPT/CONNECT reply: where the flow's rings are in the app region */
    uint32_t rx_base, rx_size;
    uint32_t tx_base, tx_size;
    uint16_t mss;
    uint16_t pad;
    /* ACCEPT reply: payload bytes the slow path already wrote at RX ring
     * position 0 before install (data that came with the final ACK); the
     * fast path announces only what it writes itself. */
    uint32_t rx_ready;
};

#define TAS_CTL_F_REUSEPORT (1u << 0)
#define TAS_CTL_F_REUSEADDR (1u << 1)

struct tas_ctl_fp_attach {
    uint32_t pid;
    uint32_t cores;
    uint8_t  mac[6];
    uint16_t mtu;
    uint32_t offloads;        /* TAS_OFFLOAD_* */
};

struct tas_ctl_fp_attach_reply {
    struct tas_svc_geometry geo;
    uint32_t local_ip;        /* network order */
    uint32_t prefix_len;
};

struct tas_ctl_fp_app {
    uint32_t app_id;
    uint32_t ctx_id;          /* CTX_ADD */
    struct tas_app_geometry geo; /* APP_ADD */
};

struct tas_ctl_msg {
    uint16_t type;            /* enum tas_ctl_type, | TAS_CTL_REPLY in replies */
    uint16_t nfds;            /* SCM_RIGHTS descriptors attached */
    int32_t  status;          /* replies: 0 or -errno */
    uint32_t seq;
    uint32_t pad;
    union {
        struct tas_ctl_register        reg;
        struct tas_ctl_register_reply  reg_reply;
        struct tas_ctl_ctx_reply       ctx;
        struct tas_ctl_conn            conn;
        struct tas_ctl_fp_attach       fp_attach;
        struct tas_ctl_fp_attach_reply fp_attach_reply;
        struct tas_ctl_fp_app          fp_app;
        uint8_t                        raw[128];
    } u;
};

#define TAS_CTL_MAX_FDS (2 + TAS_MAX_FP_CORES)

#endif /* TAS_CTL_H */
