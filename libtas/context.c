/* context.c - a context: the event queues between the service and one
 * application thread (or one lock holder).
 *
 * Three rings in the application region: tx (our counts to the fast path),
 * rx (the fast path's payload and acknowledgement news), sp (the slow path's
 * connection events).  tas_context_poll takes everything in, lets conn.c
 * apply it to connections and listeners, and hands out one coalesced event
 * per connection or listener from the notify list, so a burst of entries for
 * one flow costs the caller a single event.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "fdtab.h"
#include "libc.h"
#include "lowlevel.h"

int tas_context_create(struct tas_context **out)
{
    const struct tas_app_geometry *g = svc_geometry();
    struct tas_ctl_msg m = { .type = TAS_CTL_CTX_NEW };
    int fds[2];
    unsigned nfds;
    int err = svc_request(&m, fds, 2, &nfds);

    if (err)
        return err;
    if (nfds != 2 || m.u.ctx.ctx_id >= g->max_ctx) {
        for (unsigned i = 0; i < nfds; i++)
            libc.close(fds[i]);
        tas_log("the slow path sent a malformed context reply");
        return -EPROTO;
    }
    struct tas_context *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        libc.close(fds[0]);
        libc.close(fds[1]);
        return -ENOMEM;
    }
    ctx->id = m.u.ctx.ctx_id;
    ctx->efd = fdtab_hide(fds[0]);
    ctx->kick_fd = fdtab_hide(fds[1]);
    struct tas_app_ctx_shared *sh = tas_app_ctx(svc_region(), g, ctx->id);
    tas_ring_init_view(&ctx->tx, &sh->tx, tas_app_ctx_tx_slots(sh),
                       g->ring_slots, TAS_APP_CTX_SLOT_TX, true);
    tas_ring_init_view(&ctx->rx, &sh->rx, tas_app_ctx_rx_slots(sh, g),
                       g->ring_slots, TAS_APP_CTX_SLOT_RX, false);
    tas_ring_init_view(&ctx->sp, &sh->sp, tas_app_ctx_sp_slots(sh, g),
                       g->ring_slots, TAS_APP_CTX_SLOT_SP, false);
    idmap_init(&ctx->flows);
    idmap_init(&ctx->listeners);
    ctx->notify.next = ctx->notify.prev = &ctx->notify;
    svc_add_context(ctx);
    *out = ctx;
    return 0;
}

int tas_context_fd(const struct tas_context *ctx)
{
    return ctx->efd;
}

void ctx_notify(struct tas_context *ctx, struct evsrc *src, uint32_t events)
{
    if (src->pending == 0) {
        src->prev = ctx->notify.prev;
        src->next = &ctx->notify;
        ctx->notify.prev->next = src;
        ctx->notify.prev = src;
    }
    src->pending |= events;
}

void ctx_unnotify(struct evsrc *src)
{
    if (src->pending == 0)
        return;
    src->prev->next = src->next;
    src->next->prev = src->prev;
    src->pending = 0;
}

static void ctx_corrupt(struct tas_context *ctx, const char *ring)
{
    if (!ctx->dead)
        tas_log("context %u: the service corrupted the %s queue; "
                "its connections are lost", ctx->id, ring);
    ctx->dead = true;
}

/* Takes slow-path events in order.  With stop_flow a valid id it stops
 * right after that id's CLOSED: what follows on the queue belongs to the
 * id's next flow, which its caller has yet to learn of. */
static void take_sp_events(struct tas_context *ctx, uint32_t stop_flow)
{
    /* Bounded so a producer that never stops cannot keep us here. */
    for (uint32_t n = 0; n <= ctx->sp.mask && !ctx->dead; n++) {
        struct tas_app_sp_event ev;
        void *slot;
        enum tas_ring_status st = tas_ring_cons_peek(&ctx->sp, &slot);

        if (st == TAS_RING_EMPTY)
            return;
        if (st == TAS_RING_CORRUPT) {
            ctx_corrupt(ctx, "slow-path event");
            return;
        }
        /* One copy out of shared memory: what we validate is what we use. */
        memcpy(&ev, slot, sizeof(ev));
        tas_ring_cons_release(&ctx->sp);
        conn_sp_event(ctx, &ev);
        if (ev.kind == TAS_SPEV_CLOSED && ev.flow_id == stop_flow)
            return;
    }
}

void ctx_take_sp_events(struct tas_context *ctx)
{
    take_sp_events(ctx, TAS_INVALID_FLOW);
}

void ctx_take_sp_events_until_closed(struct tas_context *ctx, uint32_t flow_id)
{
    take_sp_events(ctx, flow_id);
}

static void ctx_take_rx_entries(struct tas_context *ctx)
{
    for (uint32_t n = 0; n <= ctx->rx.mask && !ctx->dead; n++) {
        struct tas_app_rx_entry e;
        void *slot;
        enum tas_ring_status st = tas_ring_cons_peek(&ctx->rx, &slot);

        if (st == TAS_RING_EMPTY)
            return;
        if (st == TAS_RING_CORRUPT) {
            ctx_corrupt(ctx, "receive");
            return;
        }
        memcpy(&e, slot, sizeof(e));
        tas_ring_cons_release(&ctx->rx);
        conn_rx_entry(ctx, &e);
    }
}

int tas_context_poll(struct tas_context *ctx, struct tas_event *ev, int max)
{
    int n = 0;

    if (ctx->dead)
        return -EPROTO;
    conn_flush_unposted(ctx);
    ctx_take_sp_events(ctx);
    ctx_take_rx_entries(ctx);
    while (n < max && ctx->notify.next != &ctx->notify) {
        struct evsrc *src = ctx->notify.next;

        ev[n].events = src->pending;
        if (src->is_listener) {
            ev[n].listener = (struct tas_listener *)src;
            ev[n].conn = NULL;
        } else {
            ev[n].conn = (struct tas_conn *)src;
            ev[n].listener = NULL;
        }
        ctx_unnotify(src);
        n++;
    }
    return ctx->dead && n == 0 ? -EPROTO : n;
}

unsigned tas_context_closing(const struct tas_context *ctx)
{
    return ctx->closing;
}

/* Is there nothing for the application to do until the service posts? */
static bool ctx_quiet(struct tas_context *ctx)
{
    conn_flush_unposted(ctx);
    /* Counts stuck behind a full tx queue get no wakeup of their own: stay
     * awake until the fast path has made room. */
    return ctx->unposted == NULL && ctx->notify.next == &ctx->notify && !ctx->dead;
}

bool tas_context_prepare_sleep(struct tas_context *ctx)
{
    if (!ctx_quiet(ctx))
        return false;
    return tas_ring_cons_prepare_sleep(&ctx->rx) &&
           tas_ring_cons_prepare_sleep(&ctx->sp);
}

/* The mark is where the consumer stands on rx and sp: any entry not taken
 * in, queued before or after, makes a producer head differ from it. */
bool tas_context_prepare_spin(struct tas_context *ctx, uint64_t *mark)
{
    if (!ctx_quiet(ctx))
        return false;
    *mark = (uint64_t)ctx->rx.local << 32 | ctx->sp.local;
    return !tas_context_spin_news(ctx, *mark);
}

bool tas_context_spin_news(const struct tas_context *ctx, uint64_t mark)
{
    uint32_t rx = __atomic_load_n(&ctx->rx.sh->head, __ATOMIC_ACQUIRE);
    uint32_t sp = __atomic_load_n(&ctx->sp.sh->head, __ATOMIC_ACQUIRE);

    return ((uint64_t)rx << 32 | sp) != mark;
}

void tas_context_awake(struct tas_context *ctx)
{
    tas_ring_cons_awake(&ctx->rx);
    tas_ring_cons_awake(&ctx->sp);
}

void tas_context_clear_fd(struct tas_context *ctx)
{
    uint64_t count;
    struct iovec iov = { .iov_base = &count, .iov_len = sizeof(count) };

    /* RWF_NOWAIT: never block here, whatever O_NONBLOCK says. */
    if (preadv2(ctx->efd, &iov, 1, -1, RWF_NOWAIT) < 0 && errno != EAGAIN)
        tas_log("context %u: cannot reset its eventfd: %s", ctx->id,
                strerror(errno));
}

void ctx_kick_fastpath(struct tas_context *ctx)
{
    uint64_t one = 1;

    if (tas_ring_needs_kick(&ctx->tx) &&
        libc.write(ctx->kick_fd, &one, sizeof(one)) < 0)
        tas_log("context %u: cannot wake the fast path: %s", ctx->id,
                strerror(errno));
}

void ctx_sync_tx(struct tas_context *ctx)
{
    struct timespec pause = { .tv_sec = 0, .tv_nsec = 10000 };

    /* Bounded: a fast path that stopped consuming costs us a second, not
     * the process. */
    for (int i = 0; i < 100000 && !ctx->dead; i++) {
        conn_flush_unposted(ctx);
        if (ctx->unposted == NULL &&
            __atomic_load_n(&ctx->tx.sh->tail, __ATOMIC_ACQUIRE) == ctx->tx.local)
            return;
        ctx_kick_fastpath(ctx);
        nanosleep(&pause, NULL);
    }
    if (!ctx->dead)
        tas_log("context %u: the fast path does not take in its queue",
                ctx->id);
}

void ctx_forget(struct tas_context *ctx)
{
    fdtab_close_internal(ctx->efd);
    fdtab_close_internal(ctx->kick_fd);
    ctx->efd = ctx->kick_fd = -1;
    ctx->dead = true;
}
