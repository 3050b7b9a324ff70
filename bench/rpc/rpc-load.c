/* rpc-load - closed-loop RPC load generator for rpc-echo-server.
 *
 * Opens N connections, keeps `depth` fixed-size requests outstanding on each
 * (pipelining), and measures the time from writing a request to reading its
 * full echo.  Latencies go into a log-linear histogram (HDR-style: 2^k
 * buckets with 32 sub-buckets each, so every reported percentile is within
 * ~3% of the true value without storing samples).  Plain POSIX sockets, so
 * it runs on Linux and under tas-run alike.  Each reply is compared against
 * the request, so a stack that corrupts data fails the run.
 *
 *   rpc-load -H IP -p PORT [-c CONNS] [-s BYTES] [-d DEPTH] [-t SECONDS]
 *            [-W WARMUP_SECONDS] [-m echo|recv|send]
 * Prints one JSON object: rps, p50_us, p99_us, p999_us, errors, and "cdf",
 * a list of [percentile, microseconds] pairs for plotting.
 * The unidirectional modes name what the server does: `-m recv` only sends
 * (for rpc-echo-server -m recv, which checks the messages), `-m send` only
 * receives and checks (for rpc-echo-server -m send); both report
 * messages/s and no latency.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rpc-msg.h"

#define SUB_BITS 5
#define SUB_COUNT (1u << SUB_BITS)
#define HIST_BUCKETS (64 * SUB_COUNT)

struct hist {
    uint64_t count[HIST_BUCKETS];
    uint64_t total;
};

static unsigned hist_index(uint64_t ns)
{
    if (ns < SUB_COUNT)
        return (unsigned)ns;
    unsigned msb = 63 - (unsigned)__builtin_clzll(ns);
    unsigned shift = msb - SUB_BITS;
    return (shift + 1) * SUB_COUNT + (unsigned)((ns >> shift) & (SUB_COUNT - 1));
}

static uint64_t hist_value(unsigned idx)
{
    if (idx < SUB_COUNT)
        return idx;
    unsigned shift = idx / SUB_COUNT - 1;
    uint64_t sub = idx % SUB_COUNT;
    return ((SUB_COUNT + sub) << shift) + ((1ull << shift) >> 1);
}

static void hist_add(struct hist *h, uint64_t ns)
{
    h->count[hist_index(ns)]++;
    h->total++;
}

static double hist_percentile_us(const struct hist *h, double pct)
{
    if (h->total == 0)
        return 0;
    uint64_t want = (uint64_t)(pct / 100.0 * (double)h->total);
    if (want >= h->total)
        want = h->total - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen > want)
            return (double)hist_value(i) / 1000.0;
    }
    return 0;
}

struct conn {
    int fd;
    unsigned inflight;
    uint64_t *sent_at;      /* ring of send times, depth entries */
    unsigned head, tail;
    size_t rx_have;
    size_t tx_off;          /* bytes of the current request already written */
    unsigned tx_todo;       /* requests still to write */
    uint32_t tx_seq, rx_seq;
    char *txbuf, *rxbuf;
};

static size_t msg_size = 64;
static unsigned depth = 1;
static enum rpc_mode mode = RPC_ECHO;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int conn_write(struct conn *c)
{
    for (int msgs = 0; c->tx_todo > 0 && (mode == RPC_ECHO || msgs < RPC_BATCH);) {
        if (c->tx_off == 0) {
            rpc_msg_fill(c->txbuf, msg_size, c->tx_seq);
            /* Stamped before the write: on Linux the write itself runs the
             * whole send path, and over a veth even the peer's receive, so
             * the reply may be on its way before write returns. */
            if (mode == RPC_ECHO)
                c->sent_at[c->head] = now_ns();
        }
        ssize_t n = write(c->fd, c->txbuf + c->tx_off, msg_size - c->tx_off);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->tx_off += (size_t)n;
        if (c->tx_off < msg_size)
            continue;
        c->tx_off = 0;
        msgs++;
        c->tx_todo--;
        c->tx_seq++;
        if (mode == RPC_ECHO)
            c->head = (c->head + 1) % depth;
    }
    return 0;
}

static char *expected;

/* Reads replies (or the server's stream); returns the messages completed,
 * or -1 when the connection failed. */
static int conn_read(struct conn *c, struct hist *h, bool record, uint64_t *errors)
{
    int done = 0;
    while (mode == RPC_ECHO || done < RPC_BATCH) {
        ssize_t n = read(c->fd, c->rxbuf + c->rx_have, msg_size - c->rx_have);
        if (n == 0)
            return -1;
        if (n < 0)
            return errno == EAGAIN ? done : -1;
        c->rx_have += (size_t)n;
        if (c->rx_have < msg_size)
            continue;
        c->rx_have = 0;
        if (!rpc_msg_ok(c->rxbuf, expected, msg_size, c->rx_seq++))
            (*errors)++;
        done++;
        if (mode == RPC_SEND)
            continue;
        uint64_t t = c->sent_at[c->tail];
        c->tail = (c->tail + 1) % depth;
        if (record)
            hist_add(h, now_ns() - t);
        c->tx_todo++;
    }
    return done;
}

static void usage(void)
{
    fprintf(stderr, "usage: rpc-load -H IP -p PORT [-c CONNS] [-s BYTES] [-d DEPTH] "
                    "[-t SECONDS] [-W WARMUP] [-m echo|recv|send]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *host = NULL;
    int port = 0, opt;
    unsigned nconns = 1;
    double duration = 5, warmup = 1;

    while ((opt = getopt(argc, argv, "H:p:c:s:d:t:W:m:")) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'c': nconns = (unsigned)strtoul(optarg, NULL, 0); break;
        case 's': msg_size = strtoul(optarg, NULL, 0); break;
        case 'd': depth = (unsigned)strtoul(optarg, NULL, 0); break;
        case 't': duration = atof(optarg); break;
        case 'W': warmup = atof(optarg); break;
        case 'm':
            if (rpc_mode_parse(optarg, &mode) < 0)
                usage();
            break;
        default: usage();
        }
    }
    if (!host || port <= 0 || nconns == 0 || depth == 0 || msg_size == 0 ||
        msg_size > (1u << 20))
        usage();
    signal(SIGPIPE, SIG_IGN);

    struct rlimit rl = { nconns + 64, nconns + 64 };
    setrlimit(RLIMIT_NOFILE, &rl);

    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        usage();

    int ep = epoll_create1(0);
    struct conn *conns = calloc(nconns, sizeof(*conns));
    expected = malloc(msg_size);
    static struct hist h;
    uint64_t errors = 0, completed = 0;
    int one = 1;

    for (unsigned i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            fprintf(stderr, "rpc-load: connection %u: %s\n", i, strerror(errno));
            return 1;
        }
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        c->sent_at = calloc(depth, sizeof(uint64_t));
        c->txbuf = malloc(msg_size);
        c->rxbuf = malloc(msg_size);
        c->tx_todo = mode == RPC_RECV ? UINT32_MAX : mode == RPC_SEND ? 0 : depth;
        struct epoll_event ev = { .data.ptr = c,
            .events = mode == RPC_RECV ? EPOLLOUT :
                      mode == RPC_SEND ? EPOLLIN : EPOLLIN | EPOLLOUT | EPOLLET };
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }

    uint64_t start = now_ns();
    uint64_t measure_from = start + (uint64_t)(warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(duration * 1e9);
    uint64_t sent_at_measure = 0;
    bool measuring = false;
    struct epoll_event events[512];

    for (uint64_t now = start; now < end; now = now_ns()) {
        if (!measuring && now >= measure_from) {
            measuring = true;
            completed = 0;
            sent_at_measure = 0;
            for (unsigned i = 0; i < nconns; i++)
                sent_at_measure += conns[i].tx_seq;
        }
        int n = epoll_wait(ep, events, 512, 10);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            int done = 0;
            if (mode != RPC_RECV)
                done = conn_read(c, &h, measuring, &errors);
            if (done < 0 || conn_write(c) < 0) {
                fprintf(stderr, "rpc-load: connection lost: %s\n", strerror(errno));
                return 1;
            }
            completed += (uint64_t)done;
        }
    }
    double secs = (double)(now_ns() - measure_from) / 1e9;
    if (mode == RPC_RECV) {
        uint64_t sent = 0;
        for (unsigned i = 0; i < nconns; i++)
            sent += conns[i].tx_seq;
        completed = sent - sent_at_measure;
    }
    printf("{\"conns\": %u, \"size\": %zu, \"depth\": %u, \"rps\": %.0f, "
           "\"p50_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, \"errors\": %llu, "
           "\"cdf\": [",
           nconns, msg_size, depth, (double)completed / secs,
           hist_percentile_us(&h, 50), hist_percentile_us(&h, 99),
           hist_percentile_us(&h, 99.9), (unsigned long long)errors);
    static const double cdf_points[] = { 1, 5, 10, 20, 30, 40, 50, 60, 70, 80,
                                         90, 95, 98, 99, 99.5, 99.9, 99.99 };
    for (size_t i = 0; i < sizeof(cdf_points) / sizeof(cdf_points[0]); i++)
        printf("%s[%g, %.2f]", i ? ", " : "", cdf_points[i],
               hist_percentile_us(&h, cdf_points[i]));
    printf("]}\n");
    for (unsigned i = 0; i < nconns; i++)
        close(conns[i].fd);
    return errors ? 1 : 0;
}
