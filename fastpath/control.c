/* control.c - the fast path's side of fp.sock: attaching to the slow path
 * (which hands over the service region and the eventfds), and the
 * application regions and contexts the slow path adds and removes later.
 *
 * Everything here runs outside the per-packet path: at start-up, and when
 * the main loop polls the socket (every few thousand iterations or when
 * idle).  Geometry sent by the slow path is checked against the real size
 * of the memfd before anything is mapped or indexed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <tas/ctl_io.h>

#include "fastpath.h"

#define CONNECT_RETRY_MS 100
#define CONNECT_TIMEOUT_MS 10000

static int connect_fp_sock(const char *run_dir)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", run_dir,
                     TAS_FP_SOCK_NAME);
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
        fprintf(stderr, "tas-fastpath: run directory path too long: %s\n", run_dir);
        return -ENAMETOOLONG;
    }
    int err = 0;
    for (int waited = 0; waited <= CONNECT_TIMEOUT_MS && !fp.quit;
         waited += CONNECT_RETRY_MS) {
        int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (s < 0)
            return -errno;
        if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return s;
        err = errno;
        close(s);
        if (err != ENOENT && err != ECONNREFUSED)
            break;
        struct timespec ts = { 0, CONNECT_RETRY_MS * 1000000L };
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "tas-fastpath: cannot connect to %s: %s (is tas-slowpath "
            "running with --run-dir %s?)\n", sa.sun_path, strerror(err), run_dir);
    return -err;
}

static int fd_size(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

static void *map_region(int fd, uint64_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
                   fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void close_fds(const int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        close(fds[i]);
}

int fp_control_attach(void)
{
    struct tas_ctl_msg m;
    int fds[TAS_CTL_MAX_FDS];
    unsigned nfds;
    uint64_t size = 0;
    int rc;

    fp.sock = connect_fp_sock(fp.opt.run_dir);
    if (fp.sock < 0)
        return fp.sock;

    memset(&m, 0, sizeof(m));
    m.type = TAS_CTL_FP_ATTACH;
    m.seq = 1;
    m.u.fp_attach.pid = (uint32_t)getpid();
    m.u.fp_attach.cores = 1;
    memcpy(m.u.fp_attach.mac, fp.local.mac, TAS_ETH_ALEN);
    m.u.fp_attach.mtu = fp.mtu;
    m.u.fp_attach.offloads = fp.offloads;
    rc = tas_ctl_send(fp.sock, &m, NULL, 0);
    if (rc == 0)
        rc = tas_ctl_recv(fp.sock, &m, fds, TAS_CTL_MAX_FDS, &nfds, 0);
    if (rc != 0) {
        fprintf(stderr, "tas-fastpath: attach to the slow path failed: %s\n",
                strerror(-rc));
        return rc;
    }
    if (m.type != (TAS_CTL_FP_ATTACH | TAS_CTL_REPLY) || m.status != 0 || nfds != 3) {
        fprintf(stderr, "tas-fastpath: the slow path refused the attach "
                "(type %#x, status %d, %u fds)\n", m.type, m.status, nfds);
        close_fds(fds, nfds);
        return m.status ? m.status : -EPROTO;
    }
    /* fds: service memfd, the slow path's kick eventfd, our core's kick */
    const struct tas_ctl_fp_attach_reply *r = &m.u.fp_attach_reply;
    if (fd_size(fds[0], &size) != 0 || !fp_svc_geometry_ok(&r->geo, size) ||
        r->geo.cores != 1 || r->prefix_len > 32) {
        fprintf(stderr, "tas-fastpath: the slow path sent an unusable service "
                "region geometry\n");
        close_fds(fds, nfds);
        return -EPROTO;
    }
    fp.geo = r->geo;
    fp.local.ip = r->local_ip;
    fp.prefix_len = r->prefix_len;
    fp.region = map_region(fds[0], fp.geo.size);
    close(fds[0]);
    if (!fp.region) {
        rc = -errno;
        fprintf(stderr, "tas-fastpath: cannot map the service region: %s\n",
                strerror(errno));
        close_fds(fds + 1, 2);
        return rc;
    }
    fp.sp_efd = fds[1];
    fp.core.kick_efd = fds[2];
    fp.hdr = fp.region;
    fp.sflows = tas_svc_flows(fp.region, &fp.geo);
    return 0;
}

struct fp_app *fp_app_find(uint32_t app_id)
{
    for (uint32_t i = 0; i < fp.napps; i++)
        if (fp.apps[i]->id == app_id)
            return fp.apps[i];
    return NULL;
}

static int app_add(const struct tas_ctl_fp_app *req, int fd)
{
    uint64_t size = 0;
    if (fp_app_find(req->app_id))
        return -EEXIST;
    if (fd_size(fd, &size) != 0 || !fp_app_geometry_ok(&req->geo, size))
        return -EINVAL;
    if (fp.napps == fp.apps_cap) {
        uint32_t cap = fp.apps_cap ? fp.apps_cap * 2 : 16;
        struct fp_app **apps = realloc(fp.apps, sizeof(*apps) * cap);
        if (!apps)
            return -ENOMEM;
        fp.apps = apps;
        fp.apps_cap = cap;
    }
    struct fp_app *app = calloc(1, sizeof(*app));
    if (!app)
        return -ENOMEM;
    app->ctx = calloc(req->geo.max_ctx, sizeof(*app->ctx));
    app->base = map_region(fd, req->geo.size);
    if (!app->ctx || !app->base) {
        free(app->ctx);
        free(app);
        return -ENOMEM;
    }
    app->id = req->app_id;
    app->geo = req->geo;
    for (uint32_t i = 0; i < app->geo.max_ctx; i++) {
        app->ctx[i].app = app;
        app->ctx[i].id = i;
        app->ctx[i].efd = -1;
    }
    fp.apps[fp.napps++] = app;
    return 0;
}

static int ctx_add(const struct tas_ctl_fp_app *req, int efd)
{
    struct fp_app *app = fp_app_find(req->app_id);
    if (!app || app->detached)
        return -ENOENT;
    if (req->ctx_id >= app->geo.max_ctx)
        return -EINVAL;
    struct fp_ctx *ctx = &app->ctx[req->ctx_id];
    if (ctx->live || ctx->efd >= 0)
        return -EEXIST;
    struct tas_app_ctx_shared *sh = tas_app_ctx(app->base, &app->geo, req->ctx_id);
    tas_ring_init_view(&ctx->tx, &sh->tx, tas_app_ctx_tx_slots(sh),
                       app->geo.ring_slots, TAS_APP_CTX_SLOT_TX, false);
    tas_ring_init_view(&ctx->rx, &sh->rx, tas_app_ctx_rx_slots(sh, &app->geo),
                       app->geo.ring_slots, TAS_APP_CTX_SLOT_RX, true);
    tas_ring_cons_set_polled(&ctx->tx, fp.opt.idle_sleep_us == 0);
    fp_idfifo_init(&ctx->backlog);
    int rc = fp_core_add_ctx(&fp.core, ctx);
    if (rc != 0)
        return rc;
    ctx->efd = efd;
    ctx->live = true;
    return 0;
}

static void app_free(struct fp_app *app)
{
    for (uint32_t i = 0; i < app->geo.max_ctx; i++)
        if (app->ctx[i].efd >= 0)
            close(app->ctx[i].efd);
    munmap(app->base, app->geo.size);
    free(app->ctx);
    free(app);
}

static int app_remove(uint32_t app_id)
{
    struct fp_app *app = fp_app_find(app_id);
    if (!app)
        return -ENOENT;
    /* The slow path removes every flow first; any it missed must not keep
     * pointing into the region we unmap. */
    for (uint32_t id = 0; id < fp.geo.max_flows; id++) {
        struct fp_flow *p = &fp.flows[id];
        if (p->app != app)
            continue;
        if (p->state != FP_FLOW_FREE) {
            fprintf(stderr, "tas-fastpath: app %u removed with flow %u still "
                    "installed; removing it\n", app_id, id);
            fp_flow_remove(id);
        }
        p->app = NULL;
        p->ctx = NULL;
    }
    fp_core_drop_app(&fp.core, app);
    for (uint32_t i = 0; i < fp.napps; i++) {
        if (fp.apps[i] == app) {
            fp.apps[i] = fp.apps[--fp.napps];
            break;
        }
    }
    app_free(app);
    return 0;
}

static void handle_request(const struct tas_ctl_msg *req, const int *fds,
                           unsigned nfds)
{
    struct tas_ctl_msg reply;
    int status;
    unsigned used = 0;

    /* Commands the slow path posted before this request apply first: an
     * APP_DETACH still queued for a removed application must not hit the
     * next application that is given the same id. */
    while (fp_cmd_poll(&fp.core) > 0)
        ;

    switch (req->type) {
    case TAS_CTL_FP_APP_ADD:
        status = nfds == 1 ? app_add(&req->u.fp_app, fds[0]) : -EINVAL;
        break;
    case TAS_CTL_FP_CTX_ADD:
        status = nfds == 1 ? ctx_add(&req->u.fp_app, fds[0]) : -EINVAL;
        used = status == 0;       /* the context keeps its eventfd */
        break;
    case TAS_CTL_FP_APP_REMOVE:
        status = nfds == 0 ? app_remove(req->u.fp_app.app_id) : -EINVAL;
        break;
    default:
        status = -EOPNOTSUPP;
        break;
    }
    if (status != 0)
        fprintf(stderr, "tas-fastpath: control request %u for app %u failed: %s\n",
                req->type, req->u.fp_app.app_id, strerror(-status));
    close_fds(fds + used, nfds - used);

    memset(&reply, 0, sizeof(reply));
    reply.type = req->type | TAS_CTL_REPLY;
    reply.seq = req->seq;
    reply.status = status;
    reply.u.fp_app = req->u.fp_app;
    int rc = tas_ctl_send(fp.sock, &reply, NULL, 0);
    if (rc != 0) {
        fp.quit_reason = "cannot reply on fp.sock";
        fp.quit = true;
    }
}

void fp_control_poll(void)
{
    for (;;) {
        struct tas_ctl_msg m;
        int fds[TAS_CTL_MAX_FDS];
        unsigned nfds;
        int rc = tas_ctl_recv(fp.sock, &m, fds, TAS_CTL_MAX_FDS, &nfds, MSG_DONTWAIT);
        if (rc == -EAGAIN)
            return;
        if (rc == -ECONNRESET) {
            fp.quit_reason = "the slow path closed fp.sock (it exited)";
            fp.quit = true;
            return;
        }
        if (rc == -EPROTO) {
            fprintf(stderr, "tas-fastpath: malformed message on fp.sock ignored\n");
            continue;
        }
        if (rc != 0) {
            fp.quit_reason = "fp.sock failed";
            fp.quit = true;
            return;
        }
        handle_request(&m, fds, nfds);
    }
}

void fp_control_close(void)
{
    while (fp.napps > 0)
        app_remove(fp.apps[0]->id);
    free(fp.apps);
    if (fp.region)
        munmap(fp.region, fp.geo.size);
    if (fp.sock >= 0)
        close(fp.sock);
    if (fp.sp_efd >= 0)
        close(fp.sp_efd);
}
