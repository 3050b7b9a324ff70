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
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "rawapp.h"

#define DISCONNECT_TIMEOUT_MS 3000

/* Flow ids no application can own: past any flow table, and the sentinel. */
static const uint32_t out_of_range_flows[] = { TAS_INVALID_FLOW, 0x80000000u, 1u << 24 };

/* Listener ids probed for ACCEPT/LISTEN_CLOSE: this application has none,
 * so every one, the victim's included, must be refused. */
#define PROBED_LISTENERS 64u

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

static void refuse_flow_requests(struct rawapp *a, uint32_t flow_id, const char *whose)
{
    static const struct { uint16_t type; const char *name; } reqs[] = {
        { TAS_CTL_CLOSE, "CLOSE" },
        { TAS_CTL_SHUTDOWN_WR, "SHUTDOWN_WR" },
        { TAS_CTL_ABORT, "ABORT" },
    };
    struct tas_ctl_conn c = { .ctx_id = a->ctx_id, .flow_id = flow_id };
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        int rc = rawapp_request(a, reqs[i].type, &c);
        check(rc == -EBADF, "%s of %s flow %u: %s", reqs[i].name, whose, flow_id,
              strerror(-rc));
    }
}

static void refuse_listener_requests(struct rawapp *a)
{
    unsigned accepted = 0, closed = 0;
    for (uint32_t id = 0; id < PROBED_LISTENERS; id++) {
        struct tas_ctl_conn c = { .ctx_id = a->ctx_id, .listener_id = id };
        accepted += rawapp_request(a, TAS_CTL_ACCEPT, &c) != -EINVAL;
        closed += rawapp_request(a, TAS_CTL_LISTEN_CLOSE, &c) != -EINVAL;
    }
    check(accepted == 0, "ACCEPT on foreign listener ids 0..%u: %u not refused with EINVAL",
          PROBED_LISTENERS - 1, accepted);
    check(closed == 0, "LISTEN_CLOSE of foreign listener ids 0..%u: %u not refused with EINVAL",
          PROBED_LISTENERS - 1, closed);
}

static void refuse_port(struct rawapp *a, uint16_t port)
{
    static const struct { uint32_t flags; const char *name; } binds[] = {
        { 0, "BIND" },
        { TAS_CTL_F_REUSEADDR, "BIND with REUSEADDR" },
        { TAS_CTL_F_REUSEPORT, "BIND with REUSEPORT" },
    };
    for (size_t i = 0; i < sizeof(binds) / sizeof(binds[0]); i++) {
        struct tas_ctl_conn c = { .ctx_id = a->ctx_id, .flags = binds[i].flags,
                                  .local_port = htons(port) };
        int rc = rawapp_request(a, TAS_CTL_BIND, &c);
        check(rc == -EADDRINUSE, "%s of the victim's port %u: %s", binds[i].name, port,
              strerror(-rc));
    }
    struct tas_ctl_conn c = { .ctx_id = a->ctx_id, .backlog = 16, .local_port = htons(port) };
    int rc = rawapp_request(a, TAS_CTL_LISTEN, &c);
    check(rc == -EDESTADDRREQ, "LISTEN on the victim's port %u: %s", port, strerror(-rc));
}

/* The region is the only memory the service shares with us: it cannot be
 * grown, and a mapping larger than it ends in SIGBUS, not in someone's data. */
static void refuse_memory(struct rawapp *a)
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
        rawapp_die("fork", errno);
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
    struct rawapp a;
    rawapp_attach(&a, run_dir);
    struct tas_app_tx_entry *e = tas_ring_prod_slot(&a.tx);
    if (!e)
        rawapp_die("own TX ring full on a new context", ENOBUFS);
    *e = (struct tas_app_tx_entry){ .flow_id = flow_id, .tx_bytes = 1, .rx_bytes = 1,
                                    .flags = flags };
    rawapp_tx_commit(&a);
    check(rawapp_disconnected(&a, DISCONNECT_TIMEOUT_MS), "TX entry for %s flow %u (flags %#x): disconnected", whose,
          flow_id, flags);
    rawapp_detach(&a);
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
        rawapp_die("calloc", ENOMEM);
    for (size_t i = 0; i < nvictims; i++)
        victims[i] = parse_u32(argv[3 + i], "flow id", UINT32_MAX);

    struct rawapp a;
    rawapp_attach(&a, run_dir);
    for (size_t i = 0; i < nvictims; i++)
        refuse_flow_requests(&a, victims[i], "the victim's");
    for (size_t i = 0; i < sizeof(out_of_range_flows) / sizeof(out_of_range_flows[0]); i++)
        refuse_flow_requests(&a, out_of_range_flows[i], "out-of-range");
    refuse_listener_requests(&a);
    refuse_port(&a, port);
    refuse_memory(&a);
    rawapp_detach(&a);

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
