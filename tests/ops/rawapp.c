/* rawapp.c - registration, control requests and queue access over the raw
 * TAS protocol, shared by the hostile-application tests (see rawapp.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tas/ctl_io.h"
#include "rawapp.h"

void rawapp_die(const char *what, int err)
{
    fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, strerror(err));
    exit(2);
}

static int exchange(struct rawapp *a, uint16_t type, struct tas_ctl_msg *m,
                    struct tas_ctl_msg *reply, int *fds, unsigned max_fds)
{
    unsigned nfds;
    m->type = type;
    m->seq = ++a->seq;
    int rc = tas_ctl_send(a->sock, m, NULL, 0);
    if (rc == 0)
        rc = tas_ctl_recv(a->sock, reply, fds, max_fds, &nfds, 0);
    if (rc != 0)
        return rc;
    if (reply->type != (type | TAS_CTL_REPLY) || reply->seq != m->seq)
        rawapp_die("unexpected reply from the slow path", EPROTO);
    if (reply->status == 0 && nfds != max_fds)
        rawapp_die("reply without the expected descriptors", EPROTO);
    return reply->status;
}

int rawapp_request(struct rawapp *a, uint16_t type, const struct tas_ctl_conn *conn)
{
    struct tas_ctl_msg m = { 0 }, reply;
    if (conn)
        m.u.conn = *conn;
    return exchange(a, type, &m, &reply, NULL, 0);
}

void rawapp_attach(struct rawapp *a, const char *run_dir)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct tas_ctl_msg m = { 0 }, reply;
    int fds[2];

    memset(a, 0, sizeof(*a));
    if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", run_dir,
                         TAS_SP_SOCK_NAME) >= sizeof(sa.sun_path))
        rawapp_die("run directory path too long", ENAMETOOLONG);
    a->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (a->sock < 0 || connect(a->sock, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        rawapp_die(sa.sun_path, errno);

    m.u.reg.pid = (uint32_t)getpid();
    m.u.reg.abi_version = TAS_ABI_VERSION;
    int rc = exchange(a, TAS_CTL_REGISTER, &m, &reply, fds, 1);
    if (rc != 0)
        rawapp_die("register", -rc);
    a->memfd = fds[0];
    a->geo = reply.u.reg_reply.geo;
    a->region = mmap(NULL, a->geo.size, PROT_READ | PROT_WRITE, MAP_SHARED, a->memfd, 0);
    if (a->region == MAP_FAILED)
        rawapp_die("mmap of the application region", errno);

    memset(&m, 0, sizeof(m));
    rc = exchange(a, TAS_CTL_CTX_NEW, &m, &reply, fds, 2);
    if (rc != 0)
        rawapp_die("new context", -rc);
    a->ctx_id = reply.u.ctx.ctx_id;
    a->ctx_evfd = fds[0];
    a->kick_fd = fds[1];
    if (a->ctx_id >= a->geo.max_ctx)
        rawapp_die("context id beyond the geometry", EPROTO);
    struct tas_app_ctx_shared *ctx = tas_app_ctx(a->region, &a->geo, a->ctx_id);
    tas_ring_init_view(&a->tx, &ctx->tx, tas_app_ctx_tx_slots(ctx), a->geo.ring_slots,
                       TAS_APP_CTX_SLOT_TX, true);
}

void rawapp_detach(struct rawapp *a)
{
    munmap(a->region, a->geo.size);
    close(a->memfd);
    close(a->ctx_evfd);
    close(a->kick_fd);
    close(a->sock);
}

void rawapp_tx_commit(struct rawapp *a)
{
    uint64_t one = 1;
    tas_ring_prod_commit(&a->tx);
    if (tas_ring_needs_kick(&a->tx) && write(a->kick_fd, &one, sizeof(one)) != sizeof(one))
        rawapp_die("kick of the fast path", errno);
}

bool rawapp_disconnected(struct rawapp *a, int timeout_ms)
{
    struct pollfd p = { .fd = a->sock, .events = POLLIN };
    char byte;
    if (poll(&p, 1, timeout_ms) <= 0)
        return false;
    return recv(a->sock, &byte, 1, MSG_DONTWAIT) == 0 || errno == ECONNRESET;
}
