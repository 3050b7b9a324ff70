/* core.c - one fast-path core: its state and its polling loop.
 *
 * Each iteration receives a burst, runs the slow path's commands, takes new
 * requests from the applications' TX queues and lets ready flows send, then
 * sends the ACKs and context notifications the round left owing (a lone
 * segment's ACK may wait a little for data to carry it), flushes
 * the TX batch and kicks the consumers that sleep.  The rdtsc time of each
 * iteration is counted as busy or idle, and the RX and TX parts separately,
 * in this core's tas_fp_core_stats.  With --idle-sleep-us, a core that has
 * been idle for a while blocks on its kick eventfd (and fp.sock) for at most
 * that long, after asking every producer to kick it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>

#include "fastpath.h"

#define CONTROL_POLL_ROUNDS 4096   /* fp.sock is checked this often when busy */
#define IDLE_SPIN_ROUNDS 2000      /* idle iterations before a core may block */
#define CLOCK_RESYNC_DIV 100       /* re-anchor the TCP clock every 10 ms */

int fp_core_init(struct fp_core *c)
{
    c->id = 0;
    c->stats = &fp.hdr->core[c->id];
    memset(c->stats, 0, sizeof(*c->stats));
    tas_ring_init_view(&c->exc, tas_svc_exc_ring(fp.region, &fp.geo, c->id),
                       tas_svc_exc_slots(fp.region, &fp.geo, c->id),
                       fp.geo.ring_slots, TAS_SVC_SLOT_SIZE, true);
    tas_ring_init_view(&c->cmd, tas_svc_cmd_ring(fp.region, &fp.geo, c->id),
                       tas_svc_cmd_slots(fp.region, &fp.geo, c->id),
                       fp.geo.ring_slots, TAS_SVC_SLOT_SIZE, false);
    c->now_tsc = rte_rdtsc();
    c->clock_anchor_tsc = 0;
    c->clock_last_us = 0;
    if (fp_sched_init(&c->sched, fp.geo.max_flows, fp.tsc_hz, c->now_tsc) != 0)
        return -ENOMEM;
    c->notify_next = malloc(sizeof(*c->notify_next) * fp.geo.max_flows);
    c->backlog_next = malloc(sizeof(*c->backlog_next) * fp.geo.max_flows);
    c->delack_next = malloc(sizeof(*c->delack_next) * fp.geo.max_flows);
    if (!c->notify_next || !c->backlog_next || !c->delack_next)
        return -ENOMEM;
    fp_idfifo_init(&c->notify);
    fp_idfifo_init(&c->delack);
    c->delack_count = 0;
    c->notify_count = 0;
    c->backlog_count = 0;
    c->kick_list = NULL;
    c->tx_count = 0;
    return 0;
}

void fp_core_free(struct fp_core *c)
{
    fp_sched_free(&c->sched);
    free(c->notify_next);
    free(c->backlog_next);
    free(c->delack_next);
    free(c->ctxs);
}

int fp_core_add_ctx(struct fp_core *c, struct fp_ctx *ctx)
{
    if (c->nctxs == c->ctxs_cap) {
        uint32_t cap = c->ctxs_cap ? c->ctxs_cap * 2 : 16;
        struct fp_ctx **ctxs = realloc(c->ctxs, sizeof(*ctxs) * cap);
        if (!ctxs)
            return -ENOMEM;
        c->ctxs = ctxs;
        c->ctxs_cap = cap;
    }
    c->ctxs[c->nctxs++] = ctx;
    return 0;
}

void fp_core_notify(struct fp_core *c, uint32_t id)
{
    struct fp_flow *p = &fp.flows[id];
    if (p->dirty)
        return;
    p->dirty = 1;
    fp_idfifo_push(&c->notify, c->notify_next, id);
    c->notify_count++;
}

/* Posts the flow's pending notification to its context; false if the
 * context's RX queue is full (the application is behind: try again). */
static bool post_note(struct fp_core *c, uint32_t id)
{
    struct fp_flow *p = &fp.flows[id];
    struct fp_ctx *ctx = p->ctx;
    if (ctx->live) {
        struct tas_app_rx_entry *e = tas_ring_prod_slot(&ctx->rx);
        if (!e)
            return false;
        e->opaque = fp.sflows[id].opaque;
        e->flow_id = id;
        e->rx_bytes = p->note_rx_bytes;
        e->rx_pos = p->note_rx_pos;
        e->tx_bytes = p->note_tx_bytes;
        e->flags = p->note_flags;
        e->pad = 0;
        tas_ring_prod_commit(&ctx->rx);
        if (!ctx->kick_pending) {
            ctx->kick_pending = true;
            ctx->kick_next = c->kick_list;
            c->kick_list = ctx;
        }
    }
    p->note_rx_bytes = p->note_tx_bytes = p->note_flags = 0;
    return true;
}

static bool has_note(const struct fp_flow *p)
{
    return p->note_rx_bytes || p->note_tx_bytes || p->note_flags;
}

/* A flow whose entry did not fit waits on its context's backlog, and the
 * backlog is retried in order only while the context's RX queue takes
 * entries.  Putting such flows back on the notify list instead made every
 * round try them all again: once an application fell more than a queue
 * behind (more connections than RX slots), a round cost O(connections). */
static void backlog_push(struct fp_core *c, struct fp_ctx *ctx, uint32_t id)
{
    fp.flows[id].waiting = 1;
    fp_idfifo_push(&ctx->backlog, c->backlog_next, id);
    c->backlog_count++;
}

/* Posts the backlog's entries until the RX queue is full.  A flow that
 * stopped, has nothing left to say, or moved to another context leaves
 * the backlog; the last goes back on the notify list for its new one. */
static unsigned drain_backlog(struct fp_core *c, struct fp_ctx *ctx)
{
    unsigned done = 0;
    uint32_t id;
    while ((id = ctx->backlog.head) != TAS_INVALID_FLOW) {
        struct fp_flow *p = &fp.flows[id];
        bool ours = p->state != FP_FLOW_FREE && p->ctx == ctx;
        if (ours && has_note(p) && !post_note(c, id))
            break;
        fp_idfifo_pop(&ctx->backlog, c->backlog_next);
        c->backlog_count--;
        p->waiting = 0;
        if (!ours && p->state != FP_FLOW_FREE && has_note(p))
            fp_core_notify(c, id);
        done++;
    }
    return done;
}

/* A lone in-order segment's ACK waits up to --ack-delay-us for data to
 * carry it: the reply to a request usually comes sooner, and then one
 * segment goes out instead of two (on a veth, each costs the kernel's whole
 * receive path inside the send).  Anything else TCP wants answered now
 * (ack_now), and every second segment (rx.c), is ACKed at once. */
static void ack_or_delay(struct fp_core *c, uint32_t id, struct fp_flow *p)
{
    if (p->ack_now || fp.opt.ack_delay_us == 0) {
        fp_tx_ack(c, id);
        return;
    }
    if (p->ack_delayed)
        return;
    p->ack_delayed = 1;
    p->ack_due_us = c->now_us + fp.opt.ack_delay_us;
    fp_idfifo_push(&c->delack, c->delack_next, id);
    c->delack_count++;
}

/* Sends the delayed ACKs that are due and that no data carried meanwhile.
 * Every flow waits the same delay, so the list is in order of due time. */
static unsigned flush_delayed_acks(struct fp_core *c)
{
    unsigned sent = 0;
    uint32_t id;
    while ((id = c->delack.head) != TAS_INVALID_FLOW) {
        struct fp_flow *p = &fp.flows[id];
        if ((int32_t)(c->now_us - p->ack_due_us) < 0)
            break;
        fp_idfifo_pop(&c->delack, c->delack_next);
        c->delack_count--;
        p->ack_delayed = 0;
        if (p->state == FP_FLOW_ACTIVE && p->segs_unacked) {
            fp_tx_ack(c, id);
            sent++;
        }
    }
    return sent;
}

/* Sends the ACKs and posts the notes the round left owing; returns how
 * many flows it handled (a backlog that stays full is no work). */
static unsigned flush_notify(struct fp_core *c)
{
    unsigned done = c->notify_count;
    if (c->backlog_count)
        for (uint32_t i = 0; i < c->nctxs; i++)
            done += drain_backlog(c, c->ctxs[i]);
    for (uint32_t n = c->notify_count; n > 0; n--) {
        uint32_t id = fp_idfifo_pop(&c->notify, c->notify_next);
        struct fp_flow *p = &fp.flows[id];
        c->notify_count--;
        p->dirty = 0;
        if (p->state == FP_FLOW_FREE)
            continue;
        if (p->state == FP_FLOW_ACTIVE && (p->segs_unacked || p->ack_now))
            ack_or_delay(c, id, p);
        if (p->waiting || !has_note(p))
            continue;
        /* behind a backlog, a flow waits its turn */
        if (!fp_idfifo_empty(&p->ctx->backlog) || !post_note(c, id))
            backlog_push(c, p->ctx, id);
    }
    return done;
}

/* The application's contexts stop being polled; the notes their backlogs
 * held are dropped, as post_note drops those for a context that is gone. */
void fp_core_drop_app(struct fp_core *c, struct fp_app *app)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < c->nctxs; i++) {
        struct fp_ctx *ctx = c->ctxs[i];
        if (ctx->app == app) {
            ctx->live = false;
            drain_backlog(c, ctx);
        } else {
            c->ctxs[kept++] = ctx;
        }
    }
    c->nctxs = kept;
}

static void kick(int efd)
{
    uint64_t one = 1;
    if (write(efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        fprintf(stderr, "tas-fastpath: eventfd kick failed: %s\n", strerror(errno));
}

static void send_kicks(struct fp_core *c)
{
    while (c->kick_list) {
        struct fp_ctx *ctx = c->kick_list;
        c->kick_list = ctx->kick_next;
        ctx->kick_pending = false;
        if (ctx->live && tas_ring_needs_kick(&ctx->rx))
            kick(ctx->efd);
    }
    if (c->sp_kick_pending) {
        c->sp_kick_pending = false;
        if (tas_ring_needs_kick(&c->exc))
            kick(fp.sp_efd);
    }
}

/* The TCP timestamp clock is CLOCK_MONOTONIC in microseconds (shared with
 * the slow path); it is extrapolated from the TSC between re-anchorings so
 * the loop makes no clock call, and never steps back. */
static void clock_update(struct fp_core *c)
{
    c->now_tsc = rte_rdtsc();
    if (c->now_tsc - c->clock_anchor_tsc > fp.tsc_hz / CLOCK_RESYNC_DIV) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        c->clock_anchor_tsc = c->now_tsc;
        c->clock_anchor_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    }
    uint64_t us = c->clock_anchor_us +
                  (c->now_tsc - c->clock_anchor_tsc) * 1000000 / fp.tsc_hz;
    if (us < c->clock_last_us)
        us = c->clock_last_us;
    c->clock_last_us = us;
    c->now_us = (uint32_t)us;
}

static int make_epoll(const struct fp_core *c)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return -errno;
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = c->kick_efd };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->kick_efd, &ev) != 0)
        goto fail;
    ev.data.fd = fp.sock;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fp.sock, &ev) != 0)
        goto fail;
    return ep;
fail:
    close(ep);
    return -errno;
}

/* Blocks for at most --idle-sleep-us unless a producer published entries
 * while the core was announcing its sleep. */
static void idle_sleep(struct fp_core *c, int ep)
{
    if (!fp_sched_idle(&c->sched) || c->notify_count || c->backlog_count ||
        c->loop_count || c->delack_count)
        return;
    bool quiet = tas_ring_cons_prepare_sleep(&c->cmd);
    for (uint32_t i = 0; i < c->nctxs; i++)
        if (c->ctxs[i]->live && !tas_ring_cons_prepare_sleep(&c->ctxs[i]->tx))
            quiet = false;
    if (quiet) {
        struct epoll_event evs[2];
        struct timespec ts = {
            .tv_sec = fp.opt.idle_sleep_us / 1000000,
            .tv_nsec = (long)(fp.opt.idle_sleep_us % 1000000) * 1000,
        };
        int n = epoll_pwait2(ep, evs, 2, &ts, NULL);
        for (int i = 0; i < n; i++) {
            uint64_t v;
            if (evs[i].data.fd == c->kick_efd && read(c->kick_efd, &v, sizeof(v)) < 0 &&
                errno != EAGAIN)
                fprintf(stderr, "tas-fastpath: reading the kick eventfd failed: %s\n",
                        strerror(errno));
        }
    }
    tas_ring_cons_awake(&c->cmd);
    for (uint32_t i = 0; i < c->nctxs; i++)
        tas_ring_cons_awake(&c->ctxs[i]->tx);
}

void fp_core_run(struct fp_core *c)
{
    struct tas_fp_core_stats *st = c->stats;
    unsigned idle_rounds = 0;
    uint64_t rounds = 0;
    int ep = -1;

    if (fp.opt.idle_sleep_us) {
        ep = make_epoll(c);
        if (ep < 0) {
            fprintf(stderr, "tas-fastpath: cannot set up idle blocking (%s); "
                    "busy polling instead\n", strerror(-ep));
        }
    }
    while (!fp.quit) {
        clock_update(c);
        uint64_t start = c->now_tsc;

        unsigned rx = fp_rx_poll(c);
        uint64_t t_rx = rte_rdtsc();
        unsigned cmds = fp_cmd_poll(c);
        uint64_t t_cmd = rte_rdtsc();
        unsigned tx = fp_tx_poll(c);
        uint64_t t_tx = rte_rdtsc();
        bool notes = flush_notify(c) + flush_delayed_acks(c) > 0;
        uint64_t t_notify = rte_rdtsc();
        bool sends = c->tx_count > 0;
        fp_tx_flush(c);
        send_kicks(c);
        uint64_t end = rte_rdtsc();

        if (rx || notes)
            st->rx_cycles += (t_rx - start) + (t_notify - t_tx);
        if (tx || sends)
            st->tx_cycles += (t_tx - t_cmd) + (end - t_notify);
        if (rx || cmds || tx || notes || sends) {
            st->busy_cycles += end - start;
            idle_rounds = 0;
        } else {
            st->idle_cycles += end - start;
            idle_rounds++;
        }

        if (++rounds % CONTROL_POLL_ROUNDS == 0)
            fp_control_poll();
        if (idle_rounds >= IDLE_SPIN_ROUNDS) {
            /* one more empty iteration after waking goes straight back to
             * sleep: only work restarts the spin */
            idle_rounds = IDLE_SPIN_ROUNDS - 1;
            fp_control_poll();
            if (ep >= 0) {
                uint64_t slept = rte_rdtsc();
                idle_sleep(c, ep);
                st->idle_cycles += rte_rdtsc() - slept;
            }
        }
    }
    if (ep >= 0)
        close(ep);
}
