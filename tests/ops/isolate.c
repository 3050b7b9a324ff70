/*
 * isolate: an application that tries to reach another application's flows,
 * listeners, port and memory, for acceptance 3 of issue 4 (isolation.sh).
 *
 *   isolate RUN_DIR VICTIM_PORT FLOW_ID...
 *
 * It speaks the raw protocol of include/tas/ctl.h and abi.h, not libtas, so
 * it can send what libtas never would.  FLOW_IDs are the victim's flows
 * (from tasctl); VICTIM_PORT is a port another application listens on.  Every
 * attempt must be refused:
 *
 *   CLOSE, SHUTDOWN_WR, ABORT of the victim's and of out-of-range flow ids
 *       -> EBADF
 *   ACCEPT and LISTEN_CLOSE of listener ids this application does not own
 *       -> EINVAL
 *   BIND of the victim's port (also with REUSEPORT/REUSEADDR) -> EADDRINUSE,
 *   LISTEN on it without a reservation -> EDESTADDRREQ
 *   growing its own region's memfd -> EPERM (sealed); touching a mapping
 *   beyond the region's end -> SIGBUS (nothing else is behind it)
 *   a TX queue entry for a victim or out-of-range flow id -> the fast path
 *   drops it and the slow path disconnects this application (EOF on
 *   sp.sock); it then registers anew for the next attempt.
 *
 * Prints "ok:" or "FAIL:" per check, then "bad entries posted N" (the test
 * compares N with the fast path's app_bad_entry drop counter) and exits 0
 * only if every attempt was refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "tas/abi.h"
#include "tas/ctl.h"
#include "tas/ctl_io.h"
#include "tas/ring.h"

#define DISCONNECT_TIMEOUT_MS 3000

/* Flow ids no application can own: past any flow table, and the sentinel. */
static const uint32_t out_of_range_flows[] = { TAS_INVALID_FLOW, 0x80000000u, 1u << 24 };

/* Listener ids probed for ACCEPT/LISTEN_CLOSE: this application has none,
 * so every one, the victim's included, must be refused. */
#define PROBED_LISTENERS 64u

struct attacker {
    int sock;
    int memfd;
    int ctx_evfd;
    int kick_fd;
    void *region;
    struct tas_app_geometry geo;
    uint32_t ctx_id;
    uint32_t seq;
    struct tas_ring tx;
};

static unsigned checks, failures;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void check(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(ok ? "ok: " : "FAIL: ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    checks++;
    failures += !ok;
}

static void die(const char *what, int err)
{
    fprintf(stderr, "isolate: %s: %s\n", what, strerror(err));
    exit(2);
}

/* One request, one reply; returns the reply's status (0 or -errno) or the
 * socket error, -ECONNRESET once the slow path disconnected us. */
static int request(struct attacker *a, uint16_t type, const struct tas_ctl_conn *conn,
                   struct tas_ctl_msg *reply, int *fds, unsigned max_fds)
{
    struct tas_ctl_msg m = { .type = type, .seq = ++a->seq };
    unsigned nfds;
    if (conn)
        m.u.conn = *conn;
    int rc = tas_ctl_send(a->sock, &m, NULL, 0);
    if (rc == 0)
        rc = tas_ctl_recv(a->sock, reply, fds, max_fds, &nfds, 0);
    if (rc != 0)
        return rc;
    if (reply->type != (type | TAS_CTL_REPLY) || reply->seq != m.seq || nfds != reply->nfds)
        die("unexpected reply", EPROTO);
    return reply->status;
}

static int conn_request(struct attacker *a, uint16_t type, const struct tas_ctl_conn *conn)
{
    struct tas_ctl_msg reply;
    return request(a, type, conn, &reply, NULL, 0);
}

static void attach(struct attacker *a, const char *run_dir)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct tas_ctl_msg reply;
    int fds[2];

    memset(a, 0, sizeof(*a));
    if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", run_dir,
                         TAS_SP_SOCK_NAME) >= sizeof(sa.sun_path))
        die("run directory path too long", ENAMETOOLONG);
    a->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (a->sock < 0 || connect(a->sock, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die(sa.sun_path, errno);

    struct tas_ctl_msg reg = { .type = TAS_CTL_REGISTER, .seq = ++a->seq };
    unsigned nfds;
    reg.u.reg.pid = (uint32_t)getpid();
    reg.u.reg.abi_version = TAS_ABI_VERSION;
    int rc = tas_ctl_send(a->sock, &reg, NULL, 0);
    if (rc == 0)
        rc = tas_ctl_recv(a->sock, &reply, fds, 1, &nfds, 0);
    if (rc == 0)
        rc = reply.status;
    if (rc != 0 || nfds != 1)
        die("register", rc ? -rc : EPROTO);
    a->memfd = fds[0];
    a->geo = reply.u.reg_reply.geo;
    a->region = mmap(NULL, a->geo.size, PROT_READ | PROT_WRITE, MAP_SHARED, a->memfd, 0);
    if (a->region == MAP_FAILED)
        die("mmap of the application region", errno);

    rc = request(a, TAS_CTL_CTX_NEW, NULL, &reply, fds, 2);
    if (rc != 0 || reply.nfds != 2)
        die("new context", rc ? -rc : EPROTO);
    a->ctx_id = reply.u.ctx.ctx_id;
    a->ctx_evfd = fds[0];
    a->kick_fd = fds[1];
    struct tas_app_ctx_shared *ctx = tas_app_ctx(a->region, &a->geo, a->ctx_id);
    tas_ring_init_view(&a->tx, &ctx->tx, tas_app_ctx_tx_slots(ctx), a->geo.ring_slots,
                       TAS_APP_CTX_SLOT_TX, true);
}

static void detach(struct attacker *a)
{
    munmap(a->region, a->geo.size);
    close(a->memfd);
    close(a->ctx_evfd);
    close(a->kick_fd);
    close(a->sock);
}

/* True once the slow path closed our socket within the timeout. */
static bool disconnected(struct attacker *a)
{
    struct pollfd p = { .fd = a->sock, .events = POLLIN };
    char byte;
    if (poll(&p, 1, DISCONNECT_TIMEOUT_MS) <= 0)
        return false;
    return recv(a->sock, &byte, 1, MSG_DONTWAIT) == 0 || errno == ECONNRESET;
}

static void refuse_flow_requests(struct attacker *a, uint32_t flow_id, const char *whose)
{
    static const struct { uint16_t type; const char *name; } reqs[] = {
        { TAS_CTL_CLOSE, "CLOSE" },
        { TAS_CTL_SHUTDOWN_WR, "SHUTDOWN_WR" },
        { TAS_CTL_ABORT, "ABORT" },
    };
    struct tas_ctl_conn c = { .ctx_id = a->ctx_id, .flow_id = flow_id };
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        int rc = conn_request(a, reqs[i].type, &c);
        check(rc == -EBADF, "%s of %s flow %u: %s", reqs[i].name, whose, flow_id,
              strerror(-rc));
    }
}

static void refuse_listener_requests(struct attacker *a)
{
    unsigned accepted = 0, closed = 0;
    for (uint32_t id = 0; id < PROBED_LISTENERS; id++) {
        struct tas_ctl_conn c = { .ctx_id = a->ctx_id, .listener_id = id };
        accepted += conn_request(a, TAS_CTL_ACCEPT, &c) != -EINVAL;
        closed += conn_request(a, TAS_CTL_LISTEN_CLOSE, &c) != -EINVAL;
    }
    check(accepted == 0, "ACCEPT on foreign listener ids 0..%u: %u not refused with EINVAL",
          PROBED_LISTENERS - 1, accepted);
    check(closed == 0, "LISTEN_CLOSE of foreign listener ids 0..%u: %u not refused with EINVAL",
          PROBED_LISTENERS - 1, closed);
}

static void refuse_port(struct attacker *a, uint16_t port)
{
    static const struct { uint32_t flags; const char *name; } binds[] = {
        { 0, "BIND" },
        { TAS_CTL_F_REUSEADDR, "BIND with REUSEADDR" },
        { TAS_CTL_F_REUSEPORT, "BIND with REUSEPORT" },
    };
    for (size_t i = 0; i < sizeof(binds) / sizeof(binds[0]); i++) {
        struct tas_ctl_conn c = { .ctx_id = a->ctx_id, .flags = binds[i].flags,
                                  .local_port = htons(port) };
        int rc = conn_request(a, TAS_CTL_BIND, &c);
        check(rc == -EADDRINUSE, "%s of the victim's port %u: %s", binds[i].name, port,
              strerror(-rc));
    }
    struct tas_ctl_conn c = { .ctx_id = a->ctx_id, .backlog = 16, .local_port = htons(port) };
    int rc = conn_request(a, TAS_CTL_LISTEN, &c);
    check(rc == -EDESTADDRREQ, "LISTEN on the victim's port %u: %s", port, strerror(-rc));
}

/* The region is the only memory the service shares with us: it cannot be
 * grown, and a mapping larger than it ends in SIGBUS, not in someone's data. */
static void refuse_memory(struct attacker *a)
{
    int rc = ftruncate(a->memfd, (off_t)a->geo.size * 2);
    check(rc != 0 && errno == EPERM, "growing the region's memfd: %s",
          rc ? strerror(errno) : "allowed");

    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t *map = mmap(NULL, a->geo.size + page, PROT_READ, MAP_SHARED, a->memfd, 0);
    if (map == MAP_FAILED) {
        check(true, "mapping beyond the region: refused (%s)", strerror(errno));
        return;
    }
    pid_t child = fork();
    if (child < 0)
        die("fork", errno);
    if (child == 0) {
        volatile uint8_t beyond = map[a->geo.size];
        (void)beyond;
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS,
          "reading past the region's end: %s",
          WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "readable");
    munmap(map, a->geo.size + page);
}

/* Posts one TX entry for flow_id from a fresh registration and expects to be
 * disconnected for it. */
static void refuse_tx_entry(const char *run_dir, uint32_t flow_id, uint32_t flags,
                                const char *whose)
{
    struct attacker a;
    attach(&a, run_dir);
    struct tas_app_tx_entry *e = tas_ring_prod_slot(&a.tx);
    if (!e)
        die("own TX ring full on a new context", ENOBUFS);
    *e = (struct tas_app_tx_entry){ .flow_id = flow_id, .tx_bytes = 1, .rx_bytes = 1,
                                    .flags = flags };
    tas_ring_prod_commit(&a.tx);
    uint64_t one = 1;
    if (tas_ring_needs_kick(&a.tx) && write(a.kick_fd, &one, sizeof(one)) != sizeof(one))
        die("kick of the fast path", errno);
    check(disconnected(&a), "TX entry for %s flow %u (flags %#x): disconnected", whose,
          flow_id, flags);
    detach(&a);
}

static uint32_t parse_u32(const char *s, const char *what, uint32_t max)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v > max) {
        fprintf(stderr, "isolate: bad %s '%s' (0..%u)\n", what, s, max);
        exit(2);
    }
    return (uint32_t)v;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: isolate RUN_DIR VICTIM_PORT FLOW_ID...\n");
        return 2;
    }
    const char *run_dir = argv[1];
    uint16_t port = (uint16_t)parse_u32(argv[2], "port", 65535);
    size_t nvictims = (size_t)argc - 3;
    uint32_t *victims = calloc(nvictims, sizeof(*victims));
    if (!victims)
        die("calloc", ENOMEM);
    for (size_t i = 0; i < nvictims; i++)
        victims[i] = parse_u32(argv[3 + i], "flow id", UINT32_MAX);

    struct attacker a;
    attach(&a, run_dir);
    for (size_t i = 0; i < nvictims; i++)
        refuse_flow_requests(&a, victims[i], "the victim's");
    for (size_t i = 0; i < sizeof(out_of_range_flows) / sizeof(out_of_range_flows[0]); i++)
        refuse_flow_requests(&a, out_of_range_flows[i], "out-of-range");
    refuse_listener_requests(&a);
    refuse_port(&a, port);
    refuse_memory(&a);
    detach(&a);

    unsigned posted = 0;
    for (size_t i = 0; i < nvictims; i++, posted += 2) {
        refuse_tx_entry(run_dir, victims[i], 0, "the victim's");
        refuse_tx_entry(run_dir, victims[i], 1, "the victim's");
    }
    for (size_t i = 0; i < sizeof(out_of_range_flows) / sizeof(out_of_range_flows[0]); i++, posted++)
        refuse_tx_entry(run_dir, out_of_range_flows[i], 0, "out-of-range");

    printf("bad entries posted %u\n", posted);
    printf("isolation: %u checks, %u not refused\n", checks, failures);
    free(victims);
    return failures ? 1 : 0;
}
