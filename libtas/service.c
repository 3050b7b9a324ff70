/* service.c - this process's registration with TAS.
 *
 * One unix SOCK_SEQPACKET connection to the slow path (sp.sock) per
 * process, opened on the first tas_init: it carries the control requests of
 * every context, one request and its reply at a time, and its end tells the
 * slow path that we are gone.  The registration reply brings the memfd of
 * our application region, which is mapped once here.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <tas/ctl_io.h>

#include "fdtab.h"
#include "libc.h"
#include "lowlevel.h"

static struct {
    pthread_mutex_t lock;           /* one request on sp.sock at a time */
    bool tried;
    int init_err;
    int sock;
    uint32_t seq;
    uint32_t app_id;
    uint32_t local_ip;
    struct tas_app_geometry geo;
    uint8_t *region;
    struct tas_context *contexts;
} svc = { .lock = PTHREAD_MUTEX_INITIALIZER, .sock = -1 };

/* The geometry comes from the slow path; check it against the memfd we
 * really got before computing a single address from it. */
static int svc_geometry_valid(const struct tas_app_geometry *g, uint64_t fd_size)
{
    if (g->size != fd_size || g->size < sizeof(struct tas_app_header))
        return 0;
    if (g->ring_slots == 0 || (g->ring_slots & (g->ring_slots - 1)) != 0 ||
        g->ring_slots > (1u << 20))
        return 0;
    if (g->max_ctx == 0 || g->ctx_stride < tas_app_ctx_stride(g->ring_slots) ||
        g->ctx_off % TAS_CACHE_LINE != 0 || g->ctx_stride % TAS_CACHE_LINE != 0)
        return 0;
    if (g->ctx_off < sizeof(struct tas_app_header) || g->ctx_off > g->size ||
        (g->size - g->ctx_off) / g->ctx_stride < g->max_ctx)
        return 0;
    /* The payload rings must not overlap the queues. */
    if (g->payload_off < g->ctx_off + (uint64_t)g->max_ctx * g->ctx_stride ||
        g->payload_off > g->size || g->payload_size > g->size - g->payload_off)
        return 0;
    return 1;
}

/* Refusals by the service's limits: the request and the errno name the
 * setting (docs/tas-protocol.md). */
static const struct svc_limit {
    uint16_t type;
    int err;
    const char *what;
    const char *why;
    const char *key;
} svc_limits[] = {
    { TAS_CTL_REGISTER, -EUSERS, "this program", "it serves as many applications as it may", "max-apps" },
    { TAS_CTL_CTX_NEW, -EMFILE, "a new context", "this program has as many contexts as it may", "max-ctx" },
    { TAS_CTL_CONNECT, -EMFILE, "a connection", "this program holds as many connections as it may", "max-app-flows" },
    { TAS_CTL_CONNECT, -ENOBUFS, "a connection", "this program's buffer memory is full", "app-mem" },
    { TAS_CTL_CONNECT, -ENFILE, "a connection", "it holds as many connections as it may, for all programs", "max-flows" },
};

/* One line on stderr that says which limit refused a request, once per
 * limit and process: a program that keeps retrying gets its errno every
 * time but does not flood its stderr. */
static void svc_explain_refusal(uint16_t type, int err)
{
    static bool told[sizeof(svc_limits) / sizeof(svc_limits[0])];

    for (size_t i = 0; i < sizeof(svc_limits) / sizeof(svc_limits[0]); i++) {
        const struct svc_limit *l = &svc_limits[i];
        if (l->type != type || l->err != err)
            continue;
        if (!__atomic_exchange_n(&told[i], true, __ATOMIC_RELAXED))
            tas_log("the TAS service refused %s: %s (its %s setting): %s", l->what,
                    l->why, l->key, strerror(-err));
        return;
    }
}

int svc_request(struct tas_ctl_msg *m, int *fds, unsigned max_fds,
                unsigned *nfds)
{
    uint16_t type = m->type;
    unsigned got = 0;
    int err;

    pthread_mutex_lock(&svc.lock);
    if (svc.sock < 0) {
        pthread_mutex_unlock(&svc.lock);
        return -ENOTCONN;
    }
    m->seq = ++svc.seq;
    m->nfds = 0;
    err = tas_ctl_send(svc.sock, m, NULL, 0);
    if (err == 0)
        err = tas_ctl_recv(svc.sock, m, fds, max_fds, &got, 0);
    if (err == 0 && (m->type != (type | TAS_CTL_REPLY) || m->seq != svc.seq)) {
        tas_log("unexpected reply %u/%u to request %u/%u from the slow path",
                m->type, m->seq, type, svc.seq);
        err = -EPROTO;
    }
    if (err == 0 && (m->status > 0 || m->status < -4095))
        err = -EPROTO;
    pthread_mutex_unlock(&svc.lock);

    if (err != 0) {
        for (unsigned i = 0; i < got; i++)
            libc.close(fds[i]);
        got = 0;
        if (err == -ECONNRESET)
            tas_log("the slow path closed the connection");
    } else if (m->status != 0) {
        err = m->status;
        svc_explain_refusal(type, err);
    }
    if (nfds != NULL)
        *nfds = got;
    else
        for (unsigned i = 0; i < got; i++)
            libc.close(fds[i]);
    return err;
}

static int svc_connect(const char *run_dir)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", run_dir,
                     TAS_SP_SOCK_NAME);

    if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    int s = libc.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    if (libc.connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = -errno;
        libc.close(s);
        return err;
    }
    return s;
}

static int svc_register(void)
{
    struct tas_ctl_msg m = { .type = TAS_CTL_REGISTER };
    struct stat st;
    int fd, err;
    unsigned nfds;

    m.u.reg.pid = (uint32_t)getpid();
    m.u.reg.abi_version = TAS_ABI_VERSION;
    err = svc_request(&m, &fd, 1, &nfds);
    if (err)
        return err;
    if (nfds != 1)
        return -EPROTO;
    if (fstat(fd, &st) < 0 ||
        !svc_geometry_valid(&m.u.reg_reply.geo, (uint64_t)st.st_size)) {
        libc.close(fd);
        tas_log("the slow path sent an application region that does not "
                "match its geometry");
        return -EPROTO;
    }
    svc.geo = m.u.reg_reply.geo;
    svc.region = mmap(NULL, svc.geo.size, PROT_READ | PROT_WRITE, MAP_SHARED,
                      fd, 0);
    libc.close(fd);
    if (svc.region == MAP_FAILED) {
        svc.region = NULL;
        return -errno;
    }
    svc.app_id = m.u.reg_reply.app_id;
    svc.local_ip = m.u.reg_reply.local_ip;
    return 0;
}

static int svc_init(const char *run_dir)
{
    libc_resolve();
    if (run_dir == NULL)
        run_dir = getenv(TAS_RUN_DIR_ENV);
    if (run_dir == NULL || run_dir[0] == '\0')
        run_dir = TAS_DEFAULT_RUN_DIR;

    int s = svc_connect(run_dir);
    if (s < 0) {
        tas_log("cannot reach the TAS service at %s/%s: %s", run_dir,
                TAS_SP_SOCK_NAME, strerror(-s));
        return s;
    }
    svc.sock = fdtab_hide(s);
    int err = svc_register();
    if (err != 0) {
        if (err != -EUSERS)
            tas_log("registration with the TAS service failed: %s", strerror(-err));
        fdtab_close_internal(svc.sock);
        svc.sock = -1;
    }
    return err;
}

int tas_init(const char *run_dir)
{
    static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

    pthread_mutex_lock(&init_lock);
    if (!svc.tried) {
        svc.tried = true;
        svc.init_err = svc_init(run_dir);
    }
    pthread_mutex_unlock(&init_lock);
    return svc.init_err;
}

uint32_t tas_local_ip(void)
{
    return svc.local_ip;
}

const struct tas_app_geometry *svc_geometry(void)
{
    return &svc.geo;
}

uint8_t *svc_region(void)
{
    return svc.region;
}

void svc_add_context(struct tas_context *ctx)
{
    pthread_mutex_lock(&svc.lock);
    ctx->next_ctx = svc.contexts;
    svc.contexts = ctx;
    pthread_mutex_unlock(&svc.lock);
}

void tas_forget_after_fork(void)
{
    /* Only this thread exists in the child; whatever lock state was copied
     * from the parent is meaningless. */
    pthread_mutex_init(&svc.lock, NULL);
    for (struct tas_context *c = svc.contexts; c != NULL; c = c->next_ctx)
        ctx_forget(c);
    svc.contexts = NULL;
    fdtab_close_internal(svc.sock);
    if (svc.region != NULL)
        munmap(svc.region, svc.geo.size);
    svc.sock = -1;
    svc.region = NULL;
    svc.tried = false;
    svc.init_err = 0;
}
