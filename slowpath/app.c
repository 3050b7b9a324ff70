/* app.c - the application registry on sp.sock.
 *
 * An application connects, registers (we create its region, tell the fast
 * path, then hand the region over), creates contexts, and sends connection
 * requests that tcp.c serves.  The socket's lifetime is the application's:
 * EOF means it exited or died, and everything it held is reclaimed: its
 * flows are aborted (peers see RST), and once the fast path confirmed every
 * abort the region is removed there and unmapped here.
 *
 * Applications are untrusted: every request is checked, a malformed one
 * ends the application's session, and the region's memfd is sealed so the
 * application cannot shrink it under the daemons' mappings.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tas/ctl_io.h>

#include "log.h"
#include "sp.h"

/* An application that lets this many events pile up is not reading them. */
#define APP_MAX_OVERFLOW 65536u

struct app_event_node {
    struct list_node node;
    struct tas_app_sp_event ev;
};

struct sp_app *app_get(struct sp *sp, uint32_t app_id)
{
    if (app_id >= sp->cfg.max_apps)
        return NULL;
    struct sp_app *app = sp->apps[app_id];
    return app && !app->dying ? app : NULL;
}

/* Refused applications still get a reply to their REGISTER, so libtas can
 * say why instead of seeing the socket close.  Only a few wait at a time:
 * beyond that, or when they never send, the socket is just closed. */
#define APP_MAX_REFUSED 64u

static void refuse_later(struct sp *sp, int fd)
{
    struct sp_watch *w = sp->n_refused < APP_MAX_REFUSED ? malloc(sizeof(*w)) : NULL;
    if (!w) {
        close(fd);
        return;
    }
    *w = (struct sp_watch){ SP_WATCH_REFUSED, (void *)(intptr_t)fd };
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
    if (epoll_ctl(sp->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        free(w);
        close(fd);
        return;
    }
    sp->n_refused++;
}

void app_answer_refused(struct sp *sp, struct sp_watch *refused)
{
    int fd = (int)(intptr_t)refused->obj;
    struct tas_ctl_msg m;
    unsigned got;
    if (tas_ctl_recv(fd, &m, NULL, 0, &got, MSG_DONTWAIT) == 0 && m.type == TAS_CTL_REGISTER) {
        struct tas_ctl_msg rep = {
            .type = TAS_CTL_REGISTER | TAS_CTL_REPLY, .seq = m.seq, .status = -EUSERS,
        };
        tas_ctl_send(fd, &rep, NULL, 0);
    }
    epoll_ctl(sp->epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(refused);
    sp->n_refused--;
}

void app_accept_connection(struct sp *sp)
{
    int fd = accept4(sp->sp_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR)
            sp_warn("sp.sock accept: %s", strerror(errno));
        return;
    }
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
        sp_warn("sp.sock: peer credentials unavailable: %s", strerror(errno));
        close(fd);
        return;
    }

    /* Ids are handed out round-robin rather than lowest-free: the fast path
     * may still have an APP_FAULT of the previous holder of an id in its
     * exception queue (a few batches old at most, far fewer than max-apps
     * registrations), and it must not end the application that comes next. */
    uint32_t id = sp->cfg.max_apps, tried;
    for (tried = 0; tried < sp->cfg.max_apps; tried++) {
        uint32_t candidate = (sp->next_app_id + tried) % sp->cfg.max_apps;
        if (!sp->apps[candidate]) {
            id = candidate;
            sp->next_app_id = candidate + 1;
            break;
        }
    }
    if (id == sp->cfg.max_apps) {
        sp_warn("refusing application pid %d: too many applications (--max-apps %u)",
                cred.pid, sp->cfg.max_apps);
        refuse_later(sp, fd);
        return;
    }
    struct sp_app *app = calloc(1, sizeof(*app));
    if (app)
        app->ctx = calloc(sp->cfg.max_ctx, sizeof(*app->ctx));
    if (!app || !app->ctx) {
        sp_warn("refusing application pid %d: out of memory", cred.pid);
        free(app);
        close(fd);
        return;
    }
    app->id = id;
    app->sock = fd;
    app->pid = cred.pid;
    app->uid = cred.uid;
    app->memfd = -1;
    list_init(&app->conns);
    list_init(&app->listeners);
    list_init(&app->bindings);
    for (uint32_t i = 0; i < sp->cfg.max_ctx; i++) {
        list_init(&app->ctx[i].overflow);
        list_init(&app->ctx[i].overflow_node);
        app->ctx[i].evfd = -1;
        app->ctx[i].app = app;
    }
    app->watch = (struct sp_watch){ SP_WATCH_APP, app };
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &app->watch };
    if (epoll_ctl(sp->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        sp_warn("epoll_ctl: %s", strerror(errno));
        free(app->ctx);
        free(app);
        close(fd);
        return;
    }
    sp->apps[id] = app;
    sp_debug("application connected: pid %d uid %d", cred.pid, cred.uid);
}

static void app_geometry(const struct sp_config *cfg, struct tas_app_geometry *g)
{
    memset(g, 0, sizeof(*g));
    g->max_ctx = cfg->max_ctx;
    g->ring_slots = cfg->app_ring_slots;
    g->ctx_off = 4096;
    g->ctx_stride = tas_app_ctx_stride(cfg->app_ring_slots);
    g->payload_off = (g->ctx_off + g->ctx_stride * cfg->max_ctx + 4095) & ~4095ull;
    g->payload_size = cfg->app_mem & ~4095ull;
    g->size = g->payload_off + g->payload_size;
}

static int app_create_region(struct sp *sp, struct sp_app *app)
{
    app_geometry(&sp->cfg, &app->geo);
    app->memfd = memfd_create("tas-app", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (app->memfd < 0)
        return -errno;
    if (ftruncate(app->memfd, (off_t)app->geo.size) != 0)
        return -errno;
    /* The application gets this fd: fix the size for good so it cannot pull
     * pages out from under the fast path's mapping (SIGBUS). */
    if (fcntl(app->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
        return -errno;
    void *base = mmap(NULL, app->geo.size, PROT_READ | PROT_WRITE, MAP_SHARED,
                      app->memfd, 0);
    if (base == MAP_FAILED)
        return -errno;
    app->base = base;
    struct tas_app_header *h = base;
    h->magic = TAS_APP_MAGIC;
    h->abi_version = TAS_ABI_VERSION;
    h->app_id = app->id;
    return payload_init(&app->payload, app->geo.payload_size);
}

static void app_drop_region(struct sp_app *app)
{
    if (app->base) {
        munmap(app->base, app->geo.size);
        payload_destroy(&app->payload);
        app->base = NULL;
    }
    if (app->memfd >= 0)
        close(app->memfd);
    app->memfd = -1;
}

static int app_register(struct sp *sp, struct sp_app *app, const struct tas_ctl_msg *req,
                        struct tas_ctl_msg *rep, int *fds, unsigned *nfds)
{
    if (app->base)
        return -EALREADY;
    if (req->u.reg.abi_version != TAS_ABI_VERSION)
        return -EPROTONOSUPPORT;
    if (!svc_attached(sp))
        return -EAGAIN;
    int rc = app_create_region(sp, app);
    if (rc != 0) {
        sp_err("cannot create the region of application pid %d: %s", app->pid,
               strerror(-rc));
        app_drop_region(app);
        return rc;
    }

    struct tas_ctl_msg add = { .type = TAS_CTL_FP_APP_ADD };
    add.u.fp_app.app_id = app->id;
    add.u.fp_app.geo = app->geo;
    rc = svc_fp_call(sp, &add, &app->memfd, 1);
    if (rc != 0) {
        sp_err("fast path refused application pid %d: %s", app->pid, strerror(-rc));
        app_drop_region(app);
        return rc;
    }
    rep->u.reg_reply.app_id = app->id;
    rep->u.reg_reply.local_ip = sp->cfg.ip;
    rep->u.reg_reply.geo = app->geo;
    fds[(*nfds)++] = app->memfd;
    sp_info("application registered: pid %d uid %d -> app %u", app->pid, app->uid, app->id);
    return 0;
}

static int app_ctx_new(struct sp *sp, struct sp_app *app, struct tas_ctl_msg *rep,
                       int *fds, unsigned *nfds)
{
    if (!app->base)
        return -EPERM;
    uint32_t id;
    for (id = 0; id < sp->cfg.max_ctx && app->ctx[id].in_use; id++)
        ;
    if (id == sp->cfg.max_ctx) {
        sp_warn("app %u (pid %d): new context refused by max-ctx (%u)", app->id,
                (int)app->pid, sp->cfg.max_ctx);
        return -EMFILE;
    }
    struct sp_ctx *ctx = &app->ctx[id];
    ctx->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ctx->evfd < 0)
        return -errno;

    struct tas_app_ctx_shared *sh = tas_app_ctx(app->base, &app->geo, id);
    memset(sh, 0, sizeof(*sh));
    tas_ring_init_view(&ctx->sp_ring, &sh->sp, tas_app_ctx_sp_slots(sh, &app->geo),
                       app->geo.ring_slots, TAS_APP_CTX_SLOT_SP, true);

    struct tas_ctl_msg add = { .type = TAS_CTL_FP_CTX_ADD };
    add.u.fp_app.app_id = app->id;
    add.u.fp_app.ctx_id = id;
    int rc = svc_fp_call(sp, &add, &ctx->evfd, 1);
    if (rc != 0) {
        sp_err("fast path refused a context of app %u: %s", app->id, strerror(-rc));
        close(ctx->evfd);
        ctx->evfd = -1;
        return rc;
    }
    ctx->in_use = true;
    rep->u.ctx.ctx_id = id;
    fds[(*nfds)++] = ctx->evfd;
    fds[(*nfds)++] = sp->svc.fp_kick[0];
    return 0;
}

static void app_kick(struct sp_ctx *ctx)
{
    if (tas_ring_needs_kick(&ctx->sp_ring)) {
        uint64_t one = 1;
        if (write(ctx->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            sp_warn("cannot wake app %u: %s", ctx->app->id, strerror(errno));
    }
}

/* Moves queued events into the ring; false if some still wait. */
static bool app_flush_ctx(struct sp_ctx *ctx)
{
    bool posted = false;
    while (!list_empty(&ctx->overflow)) {
        struct tas_app_sp_event *slot = tas_ring_prod_slot(&ctx->sp_ring);
        if (!slot)
            break;
        struct list_node *n = list_pop_head(&ctx->overflow);
        struct app_event_node *e = container_of(n, struct app_event_node, node);
        *slot = e->ev;
        tas_ring_prod_commit(&ctx->sp_ring);
        free(e);
        ctx->n_overflow--;
        posted = true;
    }
    if (posted)
        app_kick(ctx);
    return list_empty(&ctx->overflow);
}

void app_post_event(struct sp *sp, struct sp_app *app, uint32_t ctx_id,
                    uint32_t kind, uint32_t status, uint32_t flow_id,
                    uint32_t listener_id, uint64_t opaque)
{
    if (!app || app->dying || ctx_id >= sp->cfg.max_ctx || !app->ctx[ctx_id].in_use)
        return;
    struct sp_ctx *ctx = &app->ctx[ctx_id];
    struct tas_app_sp_event ev = {
        .kind = kind, .status = status, .flow_id = flow_id,
        .listener_id = listener_id, .opaque = opaque,
    };
    if (list_empty(&ctx->overflow)) {
        struct tas_app_sp_event *slot = tas_ring_prod_slot(&ctx->sp_ring);
        if (slot) {
            *slot = ev;
            tas_ring_prod_commit(&ctx->sp_ring);
            app_kick(ctx);
            return;
        }
    }
    struct app_event_node *e = ctx->n_overflow < APP_MAX_OVERFLOW ? malloc(sizeof(*e)) : NULL;
    if (!e) {
        /* Callers may be walking this application's lists: do not tear it
         * down here; shutting the socket makes the event loop do it. */
        sp_warn("application %u does not read its events: disconnecting", app->id);
        shutdown(app->sock, SHUT_RDWR);
        return;
    }
    e->ev = ev;
    list_insert_tail(&ctx->overflow, &e->node);
    ctx->n_overflow++;
    if (!list_linked(&ctx->overflow_node))
        list_insert_tail(&sp->ctx_overflow, &ctx->overflow_node);
}

bool app_flush_overflow(struct sp *sp)
{
    struct list_node *n, *tmp;
    list_for_each_safe(n, tmp, &sp->ctx_overflow) {
        struct sp_ctx *ctx = container_of(n, struct sp_ctx, overflow_node);
        if (app_flush_ctx(ctx))
            list_remove(&ctx->overflow_node);
    }
    return !list_empty(&sp->ctx_overflow);
}

static void app_drop_overflow(struct sp_ctx *ctx)
{
    struct list_node *n;
    while ((n = list_pop_head(&ctx->overflow)) != NULL)
        free(container_of(n, struct app_event_node, node));
    ctx->n_overflow = 0;
    if (list_linked(&ctx->overflow_node))
        list_remove(&ctx->overflow_node);
}

/* Frees what is left once no flow of the application exists any more. */
static void app_free(struct sp *sp, struct sp_app *app)
{
    struct list_node *n;
    while ((n = list_pop_head(&app->bindings)) != NULL) {
        struct sp_binding *b = container_of(n, struct sp_binding, node);
        ports_release(sp->ports, b->port);
        free(b);
    }
    for (uint32_t i = 0; i < sp->cfg.max_ctx; i++) {
        app_drop_overflow(&app->ctx[i]);
        if (app->ctx[i].evfd >= 0)
            close(app->ctx[i].evfd);
    }
    app_drop_region(app);
    sp->apps[app->id] = NULL;
    free(app->ctx);
    free(app);
}

static void app_finish(struct sp *sp, struct sp_app *app)
{
    if (app->base && svc_attached(sp)) {
        struct tas_ctl_msg rm = { .type = TAS_CTL_FP_APP_REMOVE };
        rm.u.fp_app.app_id = app->id;
        int rc = svc_fp_call(sp, &rm, NULL, 0);
        if (rc != 0)
            sp_warn("fast path did not confirm removal of app %u: %s", app->id,
                    strerror(-rc));
    }
    sp_info("application %u (pid %d) cleaned up", app->id, app->pid);
    app_free(sp, app);
}

static void app_close_socket(struct sp *sp, struct sp_app *app)
{
    if (app->sock < 0)
        return;
    epoll_ctl(sp->epfd, EPOLL_CTL_DEL, app->sock, NULL);
    close(app->sock);
    app->sock = -1;
}

void app_kill(struct sp *sp, struct sp_app *app, const char *why)
{
    if (app->dying)
        return;
    if (app->base)
        sp_info("application %u (pid %d) gone: %s", app->id, app->pid, why);
    app->dying = true;
    app_close_socket(sp, app);
    if (app->base)
        svc_post(sp, TAS_CMD_APP_DETACH, TAS_INVALID_FLOW, app->id, 0, 0, NULL, 0);
    tcp_app_gone(sp, app);
    if (app->fp_pending == 0)
        app_finish(sp, app);
}

void app_fp_done(struct sp *sp, struct sp_app *app)
{
    if (app->fp_pending > 0)
        app->fp_pending--;
    if (app->dying && app->fp_pending == 0)
        app_finish(sp, app);
}

void app_disconnect_all(struct sp *sp)
{
    for (uint32_t i = 0; i < sp->cfg.max_apps; i++) {
        struct sp_app *app = sp->apps[i];
        if (!app)
            continue;
        app_close_socket(sp, app);
        app_free(sp, app);
    }
}

static int app_dispatch(struct sp *sp, struct sp_app *app, const struct tas_ctl_msg *req,
                        struct tas_ctl_msg *rep, int *fds, unsigned *nfds)
{
    switch (req->type) {
    case TAS_CTL_REGISTER:
        return app_register(sp, app, req, rep, fds, nfds);
    case TAS_CTL_CTX_NEW:
        return app_ctx_new(sp, app, rep, fds, nfds);
    case TAS_CTL_BIND:
    case TAS_CTL_UNBIND:
    case TAS_CTL_LISTEN:
    case TAS_CTL_LISTEN_CLOSE:
    case TAS_CTL_ACCEPT:
    case TAS_CTL_CONNECT:
    case TAS_CTL_CLOSE:
    case TAS_CTL_SHUTDOWN_WR:
    case TAS_CTL_ABORT:
        if (!app->base)
            return -EPERM;
        return tcp_request(sp, app, req, rep);
    default:
        return -EOPNOTSUPP;
    }
}

void app_handle_sock(struct sp *sp, struct sp_app *app)
{
    for (;;) {
        struct tas_ctl_msg req, rep;
        unsigned got;
        int rc = tas_ctl_recv(app->sock, &req, NULL, 0, &got, MSG_DONTWAIT);
        if (rc == -EAGAIN)
            return;
        if (rc == -ECONNRESET) {
            app_kill(sp, app, "socket closed");
            return;
        }
        if (rc != 0) {
            app_kill(sp, app, rc == -EPROTO ? "malformed request" : strerror(-rc));
            return;
        }

        int fds[2];
        unsigned nfds = 0;
        memset(&rep, 0, sizeof(rep));
        rep.status = app_dispatch(sp, app, &req, &rep, fds, &nfds);
        rep.type = req.type | TAS_CTL_REPLY;
        rep.seq = req.seq;
        rep.nfds = (uint16_t)nfds;
        if (app->dying)
            return;
        rc = tas_ctl_send(app->sock, &rep, fds, nfds);
        if (rc != 0) {
            app_kill(sp, app, "cannot send a reply");
            return;
        }
    }
}
