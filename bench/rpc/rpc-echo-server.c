/* rpc-echo-server - an ordinary epoll echo server for the RPC benchmarks.
 *
 * Plain POSIX code so the same binary runs on the Linux stack and under
 * tas-run.  Messages are fixed-size (set with -s); the server reads whole
 * messages, optionally burns a number of cycles per message to model
 * application work, and writes each one back.  Modes for the dissertation's
 * unidirectional experiments: `-m recv` only consumes, `-m send` streams
 * messages to every connection without reading.
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

enum mode { MODE_ECHO, MODE_RECV, MODE_SEND };

struct conn {
    int fd;
    size_t have;        /* bytes of the current message received */
    size_t pending;     /* bytes still to write back */
    size_t sent;        /* offset into the reply being written */
    char buf[];
};

static size_t msg_size = 64;
static uint64_t work_cycles;
static enum mode mode = MODE_ECHO;
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
    if (mode == MODE_SEND) {
        if (c->pending == 0) {
            c->pending = msg_size;
            c->sent = 0;
            burn(work_cycles);
        }
        return conn_flush(c);
    }
    /* Edge-triggered: read until EAGAIN whatever woke us, or input that
     * arrived while a reply was blocked would never be seen again. */
    if (conn_flush(c) < 0)
        return -1;
    while (c->pending == 0) {
        ssize_t n = read(c->fd, c->buf + c->have, msg_size - c->have);
        if (n == 0)
            return -1;
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->have += (size_t)n;
        if (c->have < msg_size)
            continue;
        c->have = 0;
        burn(work_cycles);
        if (mode == MODE_ECHO) {
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
            if (!strcmp(optarg, "echo")) mode = MODE_ECHO;
            else if (!strcmp(optarg, "recv")) mode = MODE_RECV;
            else if (!strcmp(optarg, "send")) mode = MODE_SEND;
            else usage();
            break;
        default: usage();
        }
    }
    if (port <= 0 || port > 65535 || msg_size == 0 || msg_size > (1u << 20))
        usage();

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
                        .events = mode == MODE_SEND ? EPOLLOUT : EPOLLIN | EPOLLOUT | EPOLLET };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            if (conn_service(c) < 0)
                conn_close(ep, c);
        }
    }
    return 0;
}
