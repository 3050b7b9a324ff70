/* rpc-echo-server - an ordinary epoll echo server for the RPC benchmarks.
 *
 * Plain POSIX code so the same binary runs on the Linux stack and under
 * tas-run.  Messages are fixed-size (set with -s); the server reads whole
 * messages, optionally burns a number of cycles per message to model
 * application work, and writes each one back.  Modes for the dissertation's
 * unidirectional experiments (its Fig. 3.6): `-m recv` only consumes, and
 * checks every message (rpc-load -m recv sends numbered ones); `-m send`
 * streams numbered messages to every connection without reading.  Corrupt
 * messages are counted and make the exit status 1.
 *
 *   rpc-echo-server -p PORT -s BYTES [-w CYCLES] [-m echo|recv|send]
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <x86intrin.h>

#include "rpc-msg.h"

struct conn {
    int fd;
    size_t have;        /* bytes of the current message received */
    size_t pending;     /* bytes still to write back */
    size_t sent;        /* offset into the reply being written */
    uint32_t seq;       /* messages received (recv) or begun (send) */
    char buf[];
};

static size_t msg_size = 64;
static uint64_t work_cycles;
static enum rpc_mode mode = RPC_ECHO;
static char *scratch;
static unsigned long long corrupt;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void burn(uint64_t cycles)
{
    if (cycles == 0)
        return;
    uint64_t end = __rdtsc() + cycles;
    while (__rdtsc() < end)
        _mm_pause();
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void conn_close(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Writes what is pending; returns -1 when the connection is dead. */
static int conn_flush(struct conn *c)
{
    while (c->pending > 0) {
        ssize_t n = write(c->fd, c->buf + c->sent, c->pending);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->sent += (size_t)n;
        c->pending -= (size_t)n;
    }
    return 0;
}

/* Makes all progress possible on a connection; returns -1 to close it. */
static int conn_service(struct conn *c)
{
    if (mode == RPC_SEND) {
        for (int i = 0; i < RPC_BATCH; i++) {
            if (c->pending == 0) {
                rpc_msg_fill(c->buf, msg_size, c->seq++);
                c->pending = msg_size;
                c->sent = 0;
                burn(work_cycles);
            }
            if (conn_flush(c) < 0)
                return -1;
            if (c->pending > 0)
                break;
        }
        return 0;
    }
    /* Echo is edge-triggered: read until EAGAIN whatever woke us, or input
     * that arrived while a reply was blocked would never be seen again. */
    if (conn_flush(c) < 0)
        return -1;
    for (int msgs = 0; c->pending == 0 && (mode == RPC_ECHO || msgs < RPC_BATCH);) {
        ssize_t n = read(c->fd, c->buf + c->have, msg_size - c->have);
        if (n == 0)
            return -1;
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->have += (size_t)n;
        if (c->have < msg_size)
            continue;
        c->have = 0;
        msgs++;
        burn(work_cycles);
        if (mode == RPC_RECV && !rpc_msg_ok(c->buf, scratch, msg_size, c->seq++))
            corrupt++;
        if (mode == RPC_ECHO) {
            c->pending = msg_size;
            c->sent = 0;
            if (conn_flush(c) < 0)
                return -1;
        }
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: rpc-echo-server -p PORT -s BYTES [-w CYCLES] "
                    "[-m echo|recv|send]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int port = 0, opt;
    while ((opt = getopt(argc, argv, "p:s:w:m:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 's': msg_size = strtoul(optarg, NULL, 0); break;
        case 'w': work_cycles = strtoull(optarg, NULL, 0); break;
        case 'm':
            if (rpc_mode_parse(optarg, &mode) < 0)
                usage();
            break;
        default: usage();
        }
    }
    if (port <= 0 || port > 65535 || msg_size == 0 || msg_size > (1u << 20))
        usage();

    scratch = malloc(msg_size);
    if (scratch == NULL) {
        perror("rpc-echo-server");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(lfd, 4096) < 0) {
        perror("rpc-echo-server: listen");
        return 1;
    }
    set_nonblock(lfd);

    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    printf("rpc-echo-server: listening on %d, %zu-byte messages\n", port, msg_size);
    fflush(stdout);

    struct epoll_event events[256];
    while (!stop) {
        int n = epoll_wait(ep, events, 256, 200);
        if (n < 0 && errno != EINTR) {
            perror("rpc-echo-server: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    c = calloc(1, sizeof(*c) + msg_size);
                    if (c == NULL) {
                        close(fd);
                        continue;
                    }
                    c->fd = fd;
                    struct epoll_event cev = { .data.ptr = c,
                        .events = mode == RPC_SEND ? EPOLLOUT :
                                  mode == RPC_RECV ? EPOLLIN : EPOLLIN | EPOLLOUT | EPOLLET };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            if (conn_service(c) < 0)
                conn_close(ep, c);
        }
    }
    if (corrupt) {
        fprintf(stderr, "rpc-echo-server: %llu corrupt messages\n", corrupt);
        return 1;
    }
    return 0;
}
