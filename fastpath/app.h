/* app.h - the fast path's view of application regions and their contexts,
 * and the validation of what applications post on their TX queues.
 *
 * An application region arrives over fp.sock (TAS_CTL_FP_APP_ADD) with its
 * geometry; each context (TAS_CTL_FP_CTX_ADD) adds a TX queue the fast path
 * polls and an RX queue it fills.  Queue views are built from the trusted
 * geometry only.  Entries are copied out of the shared slot before they are
 * checked, so the application cannot change them between check and use.
 */
#ifndef FP_APP_H
#define FP_APP_H

#include <stdbool.h>
#include <stdint.h>

#include <tas/abi.h>
#include <tas/ring.h>

#include "flow.h"
#include "tx_sched.h"

struct fp_ctx {
    struct fp_app *app;
    uint32_t id;
    bool live;                /* registered and polled */
    bool kick_pending;        /* rx entries posted this round */
    bool faulted;             /* reported to the slow path once, no more */
    int efd;                  /* the context's eventfd */
    struct tas_ring tx;       /* app -> fp, we consume */
    struct tas_ring rx;       /* fp -> app, we produce */
    struct fp_ctx *kick_next;
    struct fp_idfifo backlog; /* flows whose notification did not fit in rx */
};

struct fp_app {
    uint32_t id;
    bool detached;            /* TAS_CMD_APP_DETACH: queues no longer polled */
    uint8_t *base;
    struct tas_app_geometry geo;
    struct fp_ctx *ctx;       /* geo.max_ctx entries */
};

enum fp_entry_verdict {
    FP_ENTRY_OK,
    FP_ENTRY_STALE,           /* for a flow of this app that has stopped */
    FP_ENTRY_BAD,             /* garbage: fault the application */
};

/* Checks one TX queue entry of application app against docs/tas-protocol.md
 * (validation rules). */
enum fp_entry_verdict fp_app_entry_check(const struct tas_app_tx_entry *e,
                                         const struct fp_app *app,
                                         const struct fp_flow *flows,
                                         const struct tas_flow *sflows,
                                         uint32_t max_flows);

/* Is the geometry of an application region of region_size bytes sound? */
bool fp_app_geometry_ok(const struct tas_app_geometry *g, uint64_t region_size);
/* Is [base, base + size) a non-empty range of a's payload area? */
bool fp_app_payload_ok(const struct fp_app *a, uint32_t base, uint32_t size);
/* Is the geometry of the service region of region_size bytes sound? */
bool fp_svc_geometry_ok(const struct tas_svc_geometry *g, uint64_t region_size);

#endif /* FP_APP_H */
