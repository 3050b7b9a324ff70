/* rawapp.h - an application speaking the raw TAS protocol (include/tas/ctl.h
 * and abi.h) without libtas, for the ops tests that must send what libtas
 * never would (isolate.c, garbage.c).  Failures to set up are fatal: these
 * are test programs.
 */
#ifndef TAS_OPS_RAWAPP_H
#define TAS_OPS_RAWAPP_H

#include <stdbool.h>
#include <stdint.h>

#include "tas/abi.h"
#include "tas/ctl.h"
#include "tas/ring.h"

struct rawapp {
    int sock;                       /* sp.sock */
    int memfd;
    int ctx_evfd;
    int kick_fd;                    /* the fast-path core serving the context */
    void *region;
    struct tas_app_geometry geo;
    uint32_t ctx_id;
    uint32_t seq;
    struct tas_ring tx;             /* the context's queue to the fast path */
};

/* Registers with the service in run_dir, maps the region, opens one context. */
void rawapp_attach(struct rawapp *a, const char *run_dir);
void rawapp_detach(struct rawapp *a);

/* One request, one reply; returns the reply's status (0 or -errno) or the
 * socket error, -ECONNRESET once the slow path disconnected us. */
int rawapp_request(struct rawapp *a, uint16_t type, const struct tas_ctl_conn *conn);

/* Commits a TX entry already written into the ring and wakes the fast path
 * if it sleeps. */
void rawapp_tx_commit(struct rawapp *a);

/* True once the slow path closed our socket within timeout_ms. */
bool rawapp_disconnected(struct rawapp *a, int timeout_ms);

void rawapp_die(const char *what, int err) __attribute__((noreturn));

#endif /* TAS_OPS_RAWAPP_H */
