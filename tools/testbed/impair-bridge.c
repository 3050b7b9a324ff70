/*
 * tas-impair-bridge: the test bed's impairment bridge (DESIGN.md section 8).
 *
 * This kernel has no netem, so reordering, duplication, delay and loss
 * between the TAS side and its peer are made here.  The bridge runs in the
 * middle namespace of a bed made with `tas-testbed up NAME --impair-bridge`:
 * one raw AF_PACKET socket on each of its two veths, every frame received on
 * one is sent out of the other, and on the way each frame may be
 *   dropped      (--loss PCT),
 *   delayed      (--delay PCT, by --delay-us),
 *   held back    (--reorder PCT) and sent right after the next frame of the
 *                same direction, or after --hold-us if none comes,
 *   duplicated   (--dup PCT).
 * Buffers are bounded (one held frame and DELAY_SLOTS delayed frames per
 * direction; past that, frames go through unimpaired).  SIGUSR1 writes the
 * counters to the --stats file; SIGTERM writes them and exits.
 *
 * usage: tas-impair-bridge [--loss PCT] [--reorder PCT] [--dup PCT]
 *            [--delay PCT] [--delay-us US] [--hold-us US] [--seed N]
 *            [--stats FILE] DEV_A DEV_B
 */
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX 2048     /* MTU 1500 and offloads off: frames are <= 1514 */
#define DELAY_SLOTS 512
#define RX_BATCH 64        /* frames taken from one socket per wake-up */

struct frame {
    uint64_t due_ns;       /* when a held or delayed frame is released */
    size_t len;
    unsigned char data[FRAME_MAX];
};

struct counters {
    uint64_t rx, tx, lost, delayed, reordered, duplicated, oversize,
             send_errors;
};

struct direction {
    const char *from, *to;
    int in_fd, out_fd;
    bool has_held;
    struct frame held;
    struct frame delayq[DELAY_SLOTS];   /* FIFO: one delay, so due in order */
    unsigned head, count;
    struct counters c;
};

static struct {
    double loss, reorder, dup, delay;   /* percentages */
    uint64_t delay_ns, hold_ns;
    const char *stats_path;
} cfg = { .delay_ns = 1000000, .hold_ns = 2000000 };

static volatile sig_atomic_t stop_requested, stats_requested;
static uint64_t rng_state;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        stats_requested = 1;
    else
        stop_requested = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: plenty for coin flips. */
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static bool chance(double pct)
{
    return pct > 0 && (double)(rng_next() >> 11) / (double)(1ULL << 53) * 100.0 < pct;
}

static int open_port(const char *dev)
{
    unsigned idx = if_nametoindex(dev);
    if (idx == 0) {
        fprintf(stderr, "impair-bridge: no interface %s: %s\n", dev, strerror(errno));
        exit(1);
    }
    /* Protocol 0 until bound, so no frame of another interface slips in. */
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (fd < 0) {
        perror("impair-bridge: socket(AF_PACKET)");
        exit(1);
    }
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(ETH_P_ALL),
        .sll_ifindex = (int)idx,
    };
    if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        fprintf(stderr, "impair-bridge: bind %s: %s\n", dev, strerror(errno));
        exit(1);
    }
    struct packet_mreq mr = { .mr_ifindex = (int)idx, .mr_type = PACKET_MR_PROMISC };
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
        fprintf(stderr, "impair-bridge: promiscuous %s: %s\n", dev, strerror(errno));
        exit(1);
    }
    int buf = 8 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) < 0) {
        perror("impair-bridge: socket buffers");
        exit(1);
    }
    return fd;
}

static void send_frame(struct direction *d, const struct frame *f)
{
    int copies = chance(cfg.dup) ? 2 : 1;
    if (copies == 2)
        d->c.duplicated++;
    for (int i = 0; i < copies; i++) {
        if (send(d->out_fd, f->data, f->len, 0) == (ssize_t)f->len)
            d->c.tx++;
        else
            d->c.send_errors++;
    }
}

static void handle_frame(struct direction *d, const struct frame *f, uint64_t now)
{
    d->c.rx++;
    if (chance(cfg.loss)) {
        d->c.lost++;
        return;
    }
    if (d->count < DELAY_SLOTS && chance(cfg.delay)) {
        struct frame *slot = &d->delayq[(d->head + d->count) % DELAY_SLOTS];
        *slot = *f;
        slot->due_ns = now + cfg.delay_ns;
        d->count++;
        d->c.delayed++;
        return;
    }
    if (d->has_held) {
        send_frame(d, f);
        send_frame(d, &d->held);
        d->has_held = false;
        return;
    }
    if (chance(cfg.reorder)) {
        d->held = *f;
        d->held.due_ns = now + cfg.hold_ns;
        d->has_held = true;
        d->c.reordered++;
        return;
    }
    send_frame(d, f);
}

static void release_due(struct direction *d, uint64_t now)
{
    if (d->has_held && d->held.due_ns <= now) {
        send_frame(d, &d->held);
        d->has_held = false;
    }
    while (d->count > 0 && d->delayq[d->head].due_ns <= now) {
        send_frame(d, &d->delayq[d->head]);
        d->head = (d->head + 1) % DELAY_SLOTS;
        d->count--;
    }
}

/* The earliest release time of a held or delayed frame, or UINT64_MAX. */
static uint64_t next_due(const struct direction *d)
{
    uint64_t due = UINT64_MAX;
    if (d->has_held)
        due = d->held.due_ns;
    if (d->count > 0 && d->delayq[d->head].due_ns < due)
        due = d->delayq[d->head].due_ns;
    return due;
}

static void receive(struct direction *d, uint64_t now)
{
    static struct frame f;
    for (int i = 0; i < RX_BATCH; i++) {
        struct sockaddr_ll from;
        socklen_t fromlen = sizeof(from);
        ssize_t n = recvfrom(d->in_fd, f.data, sizeof(f.data), MSG_DONTWAIT | MSG_TRUNC,
                             (struct sockaddr *)&from, &fromlen);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            fprintf(stderr, "impair-bridge: recv on %s: %s\n", d->from, strerror(errno));
            exit(1);
        }
        if (from.sll_pkttype == PACKET_OUTGOING)   /* our own sends */
            continue;
        if ((size_t)n > sizeof(f.data)) {
            d->c.oversize++;
            continue;
        }
        f.len = (size_t)n;
        handle_frame(d, &f, now);
    }
}

static void write_stats(const struct direction *dirs)
{
    if (!cfg.stats_path)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", cfg.stats_path);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fprintf(stderr, "impair-bridge: %s: %s\n", tmp, strerror(errno));
        return;
    }
    for (int i = 0; i < 2; i++) {
        const struct counters *c = &dirs[i].c;
        fprintf(out, "%s>%s rx=%llu tx=%llu lost=%llu delayed=%llu reordered=%llu "
                "duplicated=%llu oversize=%llu send_errors=%llu\n",
                dirs[i].from, dirs[i].to, (unsigned long long)c->rx,
                (unsigned long long)c->tx, (unsigned long long)c->lost,
                (unsigned long long)c->delayed, (unsigned long long)c->reordered,
                (unsigned long long)c->duplicated, (unsigned long long)c->oversize,
                (unsigned long long)c->send_errors);
    }
    fclose(out);
    if (rename(tmp, cfg.stats_path) < 0)
        fprintf(stderr, "impair-bridge: rename %s: %s\n", tmp, strerror(errno));
}

static double parse_pct(const char *opt, const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || v < 0 || v > 100) {
        fprintf(stderr, "impair-bridge: %s takes a percentage 0..100, not '%s'\n", opt, s);
        exit(2);
    }
    return v;
}

static uint64_t parse_u64(const char *opt, const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0') {
        fprintf(stderr, "impair-bridge: %s takes a number, not '%s'\n", opt, s);
        exit(2);
    }
    return v;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: tas-impair-bridge [--loss PCT] [--reorder PCT] [--dup PCT]\n"
            "           [--delay PCT] [--delay-us US] [--hold-us US] [--seed N]\n"
            "           [--stats FILE] DEV_A DEV_B\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "loss", required_argument, NULL, 'l' },
        { "reorder", required_argument, NULL, 'r' },
        { "dup", required_argument, NULL, 'd' },
        { "delay", required_argument, NULL, 'D' },
        { "delay-us", required_argument, NULL, 'u' },
        { "hold-us", required_argument, NULL, 'h' },
        { "seed", required_argument, NULL, 's' },
        { "stats", required_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    rng_state = now_ns() | 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'l': cfg.loss = parse_pct("--loss", optarg); break;
        case 'r': cfg.reorder = parse_pct("--reorder", optarg); break;
        case 'd': cfg.dup = parse_pct("--dup", optarg); break;
        case 'D': cfg.delay = parse_pct("--delay", optarg); break;
        case 'u': cfg.delay_ns = parse_u64("--delay-us", optarg) * 1000; break;
        case 'h': cfg.hold_ns = parse_u64("--hold-us", optarg) * 1000; break;
        case 's': rng_state = parse_u64("--seed", optarg) | 1; break;
        case 'S': cfg.stats_path = optarg; break;
        default: usage();
        }
    }
    if (argc - optind != 2)
        usage();

    static struct direction dirs[2];
    int fd_a = open_port(argv[optind]), fd_b = open_port(argv[optind + 1]);
    dirs[0] = (struct direction){ .from = argv[optind], .to = argv[optind + 1],
                                  .in_fd = fd_a, .out_fd = fd_b };
    dirs[1] = (struct direction){ .from = argv[optind + 1], .to = argv[optind],
                                  .in_fd = fd_b, .out_fd = fd_a };

    struct sigaction sa = { .sa_handler = on_signal };   /* no SA_RESTART */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    fprintf(stderr, "impair-bridge: %s <-> %s loss=%g%% reorder=%g%% dup=%g%% "
            "delay=%g%% by %lluus\n", dirs[0].from, dirs[0].to, cfg.loss,
            cfg.reorder, cfg.dup, cfg.delay,
            (unsigned long long)(cfg.delay_ns / 1000));
    write_stats(dirs);   /* also tells tas-testbed that the bridge is up */

    struct pollfd pfd[2] = { { .fd = fd_a, .events = POLLIN },
                             { .fd = fd_b, .events = POLLIN } };
    while (!stop_requested) {
        uint64_t now = now_ns(), due = next_due(&dirs[0]);
        if (next_due(&dirs[1]) < due)
            due = next_due(&dirs[1]);
        struct timespec ts, *timeout = NULL;
        if (due != UINT64_MAX) {
            uint64_t wait = due > now ? due - now : 0;
            ts.tv_sec = (time_t)(wait / 1000000000u);
            ts.tv_nsec = (long)(wait % 1000000000u);
            timeout = &ts;
        }
        int n = ppoll(pfd, 2, timeout, NULL);
        if (n < 0 && errno != EINTR) {
            perror("impair-bridge: ppoll");
            return 1;
        }
        now = now_ns();
        for (int i = 0; i < 2; i++) {
            if (n > 0 && (pfd[i].revents & POLLIN))
                receive(&dirs[i], now);
            release_due(&dirs[i], now);
        }
        if (stats_requested) {
            stats_requested = 0;
            write_stats(dirs);
        }
    }
    write_stats(dirs);
    fprintf(stderr, "impair-bridge: stopped\n");
    return 0;
}
