/*
 * holdconn: many idle TCP connections held open, for the application
 * lifecycle test (killed.sh).
 *
 *   holdconn server PORT CONNS
 *       accepts connections and keeps them; prints "holding CONNS" once
 *       that many are open, then sleeps until killed.  Run under tas-run,
 *       it is the application that the test kills with SIGKILL.
 *   holdconn client HOST PORT CONNS TIMEOUT_MS
 *       opens CONNS connections, prints "established CONNS", then waits for
 *       the server's side to end every one of them (EOF or reset).  Prints
 *       "closed N of CONNS (F fin, R reset) within MS ms" counting from the
 *       moment SIGUSR1 arrives (the test sends it just before the kill), and
 *       exits 0 only if all were closed within TIMEOUT_MS of that moment.
 *
 * Plain POSIX sockets and epoll.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t started;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void __attribute__((noreturn)) server(unsigned port, unsigned long conns)
{
    int ls = listen_tcp(port, 4096, 0);
    printf("listening\n");
    fflush(stdout);
    for (unsigned long held = 0; held < conns; held++)
        if (accept(ls, NULL, NULL) < 0)
            die("accept");
    printf("holding %lu\n", conns);
    fflush(stdout);
    for (;;)
        pause();
}

static void on_usr1(int sig)
{
    (void)sig;
    started = 1;
}

static int client(const char *host, unsigned port, unsigned long conns, long timeout_ms)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "holdconn: bad address '%s'\n", host);
        return 2;
    }
    struct sigaction act = { .sa_handler = on_usr1 };
    sigaction(SIGUSR1, &act, NULL);

    int ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    for (unsigned long i = 0; i < conns; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
            die("connect");
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            die("epoll_ctl");
    }
    printf("established %lu\n", conns);
    fflush(stdout);

    unsigned long fins = 0, resets = 0, early = 0;
    long t0 = 0, last = 0;
    while (fins + resets < conns) {
        if (started && !t0)
            t0 = now_ms();
        if (t0 && now_ms() - t0 > timeout_ms)
            break;
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 50);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            char buf[256];
            int fd = evs[i].data.fd;
            ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (got > 0 || (got < 0 && errno == EAGAIN))
                continue;
            if (got == 0)
                fins++;
            else
                resets++;
            if (!started)
                early++;
            last = now_ms();
            epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
            close(fd);
        }
    }
    if (!t0)
        t0 = now_ms();
    long took = fins + resets ? last - t0 : 0;
    printf("closed %lu of %lu (%lu fin, %lu reset, %lu before the kill) within %ld ms\n",
           fins + resets, conns, fins, resets, early, took < 0 ? 0 : took);
    return fins + resets == conns && early == 0 && took <= timeout_ms ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "server") == 0)
        server((unsigned)parse_num(argv[2], "port", 65535),
               parse_num(argv[3], "connection count", 1000000));
    if (argc == 6 && strcmp(argv[1], "client") == 0)
        return client(argv[2], (unsigned)parse_num(argv[3], "port", 65535),
                      parse_num(argv[4], "connection count", 1000000),
                      (long)parse_num(argv[5], "timeout", 600000));
    fprintf(stderr, "usage: holdconn server PORT CONNS\n"
                    "       holdconn client HOST PORT CONNS TIMEOUT_MS\n");
    return 2;
}
