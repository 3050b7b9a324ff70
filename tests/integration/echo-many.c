/*
 * echo-many: many concurrent TCP connections to one echo server, for the
 * integration test manyconn.sh.
 *
 *   echo-many server PORT CONNS
 *       epoll echo server; exits once CONNS connections that carried data
 *       have been closed cleanly by their clients (connections that close
 *       without data, such as port probes, are not counted).  Exit 0 when no
 *       connection failed.
 *   echo-many client HOST PORT CONNS [MSGSIZE]
 *       opens CONNS connections (at most BATCH connects in flight) and keeps
 *       them all open until every one is established; then sends MSGSIZE
 *       bytes unique to each connection, checks the echo byte for byte,
 *       and once every connection is echoed half-closes each and waits for
 *       the server's close (so the server has them all open at once).  Exit 0 when every
 *       connection was echoed intact and closed cleanly.
 *
 * Plain POSIX sockets and epoll, so both ends run on Linux or under tas-run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

#define BATCH 256          /* connects in flight at once */
#define MSG_MAX 65536
#define SERVER_BUF 4096

static void check_nofile(unsigned long conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < conns + 32) {
        fprintf(stderr, "echo-many: RLIMIT_NOFILE %llu is too small for %lu connections "
                "(ulimit -n)\n", (unsigned long long)rl.rlim_cur, conns);
        exit(2);
    }
}

static void ep_ctl(int ep, int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = { .events = events, .data.u64 = data };
    if (epoll_ctl(ep, op, fd, &ev) < 0)
        die("epoll_ctl");
}

/* ---- server ---- */

struct sconn {
    int fd;
    bool had_data;
    char buf[SERVER_BUF];
    size_t off, len;       /* bytes read but not yet echoed */
};

static int run_server(uint16_t port, unsigned long expect)
{
    check_nofile(expect);
    int lfd = listen_tcp(port, 4096, SOCK_NONBLOCK);
    int ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    ep_ctl(ep, EPOLL_CTL_ADD, lfd, EPOLLIN, UINT64_MAX);

    unsigned long accepted = 0, clean = 0, failed = 0, open_now = 0, open_max = 0;
    struct epoll_event evs[1024];
    while (clean + failed < expect) {
        int n = epoll_wait(ep, evs, 1024, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == UINT64_MAX) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    struct sconn *c = calloc(1, sizeof(*c));
                    if (!c)
                        die("calloc");
                    c->fd = fd;
                    ep_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLIN, (uintptr_t)c);
                    accepted++;
                    if (++open_now > open_max)
                        open_max = open_now;
                }
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                    die("accept4");
                continue;
            }
            struct sconn *c = (struct sconn *)(uintptr_t)evs[i].data.u64;
            bool closed = false, error = false;
            if (c->len > c->off) {           /* waiting for EPOLLOUT */
                ssize_t w = write(c->fd, c->buf + c->off, c->len - c->off);
                if (w < 0 && errno != EAGAIN && errno != EINTR)
                    error = true;
                else if (w > 0)
                    c->off += (size_t)w;
            } else {
                ssize_t r = read(c->fd, c->buf, sizeof(c->buf));
                if (r == 0) {
                    closed = true;
                } else if (r < 0) {
                    error = errno != EAGAIN && errno != EINTR;
                } else {
                    c->had_data = true;
                    c->off = 0;
                    c->len = (size_t)r;
                    ssize_t w = write(c->fd, c->buf, c->len);
                    if (w < 0 && errno != EAGAIN && errno != EINTR)
                        error = true;
                    else if (w > 0)
                        c->off = (size_t)w;
                }
            }
            if (closed || error) {
                if (error)
                    fprintf(stderr, "echo-many server: connection error: %s\n", strerror(errno));
                if (c->had_data) {
                    if (error)
                        failed++;
                    else
                        clean++;
                }
                close(c->fd);
                free(c);
                open_now--;
                continue;
            }
            /* Read again once everything is echoed; until then wait to write. */
            ep_ctl(ep, EPOLL_CTL_MOD, c->fd, c->len > c->off ? EPOLLOUT : EPOLLIN, (uintptr_t)c);
            if (c->len == c->off)
                c->len = c->off = 0;
        }
    }
    printf("server: accepted %lu, most open at once %lu, closed cleanly %lu, failed %lu\n",
           accepted, open_max, clean, failed);
    return failed ? 1 : 0;
}

/* ---- client ---- */

enum cstate { CONNECTING, ESTABLISHED, EXCHANGING, ECHOED, CLOSING, DONE };

struct cconn {
    int fd;
    enum cstate state;
    size_t sent, echoed;
};

/* The message of connection i: its number, then bytes derived from it. */
static void make_msg(unsigned long i, unsigned char *msg, size_t size)
{
    uint64_t x = i * 0x9e3779b97f4a7c15ULL + 1;
    for (size_t k = 0; k < size; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        msg[k] = (unsigned char)x;
    }
    memcpy(msg, &i, size < sizeof(i) ? size : sizeof(i));
}

static int start_connect(int ep, const struct sockaddr_in *sin, struct cconn *c, unsigned long i)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        die("socket");
    if (connect(c->fd, (const struct sockaddr *)sin, sizeof(*sin)) < 0 && errno != EINPROGRESS) {
        fprintf(stderr, "echo-many: connect %lu: %s\n", i, strerror(errno));
        return -1;
    }
    c->state = CONNECTING;
    ep_ctl(ep, EPOLL_CTL_ADD, c->fd, EPOLLOUT, i);
    return 0;
}

static int run_client(const char *host, uint16_t port, unsigned long nconns, size_t msgsize)
{
    check_nofile(nconns);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        fprintf(stderr, "echo-many: bad IPv4 address '%s'\n", host);
        return 2;
    }
    struct cconn *conns = calloc(nconns, sizeof(*conns));
    if (!conns)
        die("calloc");
    int ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    static unsigned char msg[MSG_MAX], buf[MSG_MAX];

    unsigned long started = 0, in_flight = 0, established = 0, echoed = 0, done = 0;
    bool exchanging = false, closing = false;
    struct epoll_event evs[1024];
    while (done < nconns) {
        while (started < nconns && in_flight < BATCH) {
            if (start_connect(ep, &sin, &conns[started], started) < 0)
                return 1;
            started++;
            in_flight++;
        }
        if (!exchanging && established == nconns) {
            /* All connections are open at once: now exchange on every one. */
            printf("client: %lu connections established\n", established);
            exchanging = true;
            for (unsigned long i = 0; i < nconns; i++) {
                conns[i].state = EXCHANGING;
                ep_ctl(ep, EPOLL_CTL_MOD, conns[i].fd, EPOLLIN | EPOLLOUT, i);
            }
        }
        if (!closing && echoed == nconns) {
            /* Every echo is back, so the server holds all of them open at
             * once: only now do they close. */
            closing = true;
            for (unsigned long i = 0; i < nconns; i++) {
                if (shutdown(conns[i].fd, SHUT_WR) < 0)
                    die("shutdown");
                conns[i].state = CLOSING;
                ep_ctl(ep, EPOLL_CTL_MOD, conns[i].fd, EPOLLIN, i);
            }
        }
        int n = epoll_wait(ep, evs, 1024, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int e = 0; e < n; e++) {
            unsigned long i = evs[e].data.u64;
            struct cconn *c = &conns[i];
            if (c->state == CONNECTING) {
                int err = 0;
                socklen_t len = sizeof(err);
                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
                    fprintf(stderr, "echo-many: connect %lu: %s\n", i, strerror(err ? err : errno));
                    return 1;
                }
                c->state = ESTABLISHED;
                in_flight--;
                established++;
                ep_ctl(ep, EPOLL_CTL_MOD, c->fd, 0, i);   /* idle until all are up */
                continue;
            }
            make_msg(i, msg, msgsize);
            if (c->state == EXCHANGING && (evs[e].events & EPOLLOUT) && c->sent < msgsize) {
                ssize_t w = write(c->fd, msg + c->sent, msgsize - c->sent);
                if (w < 0 && errno != EAGAIN && errno != EINTR) {
                    fprintf(stderr, "echo-many: write %lu: %s\n", i, strerror(errno));
                    return 1;
                }
                if (w > 0)
                    c->sent += (size_t)w;
                if (c->sent == msgsize)
                    ep_ctl(ep, EPOLL_CTL_MOD, c->fd, EPOLLIN, i);
            }
            if (!(evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            ssize_t r = read(c->fd, buf, sizeof(buf));
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r < 0) {
                fprintf(stderr, "echo-many: read %lu: %s\n", i, strerror(errno));
                return 1;
            }
            if (c->state == CLOSING) {
                if (r != 0) {
                    fprintf(stderr, "echo-many: connection %lu: data after the echo\n", i);
                    return 1;
                }
                close(c->fd);
                c->state = DONE;
                done++;
                continue;
            }
            if (r == 0 || c->echoed + (size_t)r > c->sent ||
                memcmp(buf, msg + c->echoed, (size_t)r) != 0) {
                fprintf(stderr, "echo-many: connection %lu: %s after %zu of %zu bytes\n", i,
                        r == 0 ? "closed by the server" : "wrong echo", c->echoed, msgsize);
                return 1;
            }
            c->echoed += (size_t)r;
            if (c->echoed == msgsize) {
                c->state = ECHOED;
                echoed++;
                ep_ctl(ep, EPOLL_CTL_MOD, c->fd, 0, i);   /* idle until all are echoed */
            }
        }
    }
    printf("client: %lu connections echoed %zu bytes each and closed cleanly\n", done, msgsize);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "server") == 0)
        return run_server((uint16_t)parse_num(argv[2], "PORT", 65535),
                          parse_num(argv[3], "CONNS", 1000000));
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "client") == 0)
        return run_client(argv[2], (uint16_t)parse_num(argv[3], "PORT", 65535),
                          parse_num(argv[4], "CONNS", 1000000),
                          argc == 6 ? parse_num(argv[5], "MSGSIZE", MSG_MAX) : 256);
    fprintf(stderr, "usage: echo-many server PORT CONNS\n"
                    "       echo-many client HOST PORT CONNS [MSGSIZE]\n");
    return 2;
}
