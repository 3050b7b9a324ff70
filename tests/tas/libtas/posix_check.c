/* posix_check.c - the POSIX socket surface of libtas against a real peer.
 *
 * Run under tas-run on the TAS side of a test bed, with an echo server
 * (for example socat TCP-LISTEN:PORT,fork EXEC:cat) at HOST:PORT on the
 * peer side and nothing listening on HOST:CLOSED_PORT.  Every check prints
 * one PASS or FAIL line; the exit status is the number of failures.  The
 * same program passes on the kernel stack, which is how the expectations
 * were checked.
 *
 *   posix-check HOST PORT CLOSED_PORT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_in echo_addr, closed_addr;
static int failures;

static void check(bool ok, const char *what)
{
    printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
    if (!ok) {
        printf("      (errno: %s)\n", strerror(errno));
        failures++;
    }
    fflush(stdout);
}

static int connect_echo(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&echo_addr, sizeof(echo_addr)) < 0) {
        perror("posix-check: connect to the echo server");
        exit(100);
    }
    return fd;
}

/* Read exactly n bytes (the echo comes back in pieces). */
static bool read_all(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

static void check_blocking_echo(void)
{
    int fd = connect_echo();
    char out[3000], in[3000];

    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (char)('a' + i % 26);
    check(write(fd, out, sizeof(out)) == (ssize_t)sizeof(out), "blocking write");
    check(read_all(fd, in, sizeof(in)) && memcmp(in, out, sizeof(in)) == 0,
          "blocking read returns the echo");

    struct iovec wv[2] = { { out, 10 }, { out + 10, 20 } };
    check(writev(fd, wv, 2) == 30, "writev");
    usleep(100000);
    int avail = -1;
    check(ioctl(fd, FIONREAD, &avail) == 0 && avail == 30, "FIONREAD counts the echo");
    check(recv(fd, in, 5, MSG_PEEK) == 5 && memcmp(in, out, 5) == 0, "MSG_PEEK");
    struct iovec rv[2] = { { in, 7 }, { in + 7, 23 } };
    check(readv(fd, rv, 2) == 30 && memcmp(in, out, 30) == 0, "readv after peek");

    struct sockaddr_in peer;
    socklen_t len = sizeof(peer);
    check(getpeername(fd, (struct sockaddr *)&peer, &len) == 0 &&
          peer.sin_addr.s_addr == echo_addr.sin_addr.s_addr &&
          peer.sin_port == echo_addr.sin_port, "getpeername");
    int type = 0;
    len = sizeof(type);
    check(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM,
          "SO_TYPE");
    int one = 1;
    check(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0, "TCP_NODELAY");
    close(fd);
}

static void check_dup_and_fcntl(void)
{
    int fd = connect_echo();
    int d = dup(fd);
    int d2 = fcntl(fd, F_DUPFD_CLOEXEC, 50);
    char buf[4];

    check(d >= 0 && d2 >= 50, "dup and F_DUPFD_CLOEXEC");
    check((fcntl(d2, F_GETFD) & FD_CLOEXEC) != 0, "F_DUPFD_CLOEXEC sets FD_CLOEXEC");
    close(fd);
    check(write(d, "dup!", 4) == 4 && read_all(d2, buf, 4) && memcmp(buf, "dup!", 4) == 0,
          "dup'd descriptors share the connection after close of the first");
    int pipefd[2];
    if (pipe(pipefd) != 0)
        exit(100);
    check(dup2(pipefd[0], d) == d, "dup2 a pipe over a TAS socket");
    check(write(pipefd[1], "x", 1) == 1 && read(d, buf, 1) == 1 && buf[0] == 'x',
          "the number now reads the pipe");
    check(fcntl(d2, F_SETFL, fcntl(d2, F_GETFL) | O_NONBLOCK) == 0 &&
          (fcntl(d2, F_GETFL) & O_NONBLOCK), "F_SETFL O_NONBLOCK");
    check(read(d2, buf, 1) < 0 && errno == EAGAIN, "non-blocking read: EAGAIN");
    close(d);
    close(d2);
    close(pipefd[0]);
    close(pipefd[1]);
}

static void check_nonblocking_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int r = connect(fd, (struct sockaddr *)&echo_addr, sizeof(echo_addr));
    check(r == 0 || errno == EINPROGRESS, "non-blocking connect: EINPROGRESS");
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    check(poll(&p, 1, 5000) == 1 && (p.revents & POLLOUT), "poll reports it writable");
    int err = -1;
    socklen_t len = sizeof(err);
    check(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0,
          "SO_ERROR 0 after success");
    /* Linux reports the completion once more (0), then EISCONN. */
    r = connect(fd, (struct sockaddr *)&echo_addr, sizeof(echo_addr));
    check(r == 0 || errno == EISCONN, "connect again: 0 or EISCONN");
    check(connect(fd, (struct sockaddr *)&echo_addr, sizeof(echo_addr)) < 0 &&
          errno == EISCONN, "and again: EISCONN");
    close(fd);

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    r = connect(fd, (struct sockaddr *)&closed_addr, sizeof(closed_addr));
    check(r < 0 && errno == EINPROGRESS, "non-blocking connect to a closed port");
    p.fd = fd;
    p.events = POLLOUT;
    check(poll(&p, 1, 5000) == 1 && (p.revents & (POLLERR | POLLHUP)), "poll reports the error");
    check(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == ECONNREFUSED,
          "SO_ERROR: ECONNREFUSED");
    close(fd);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    check(connect(fd, (struct sockaddr *)&closed_addr, sizeof(closed_addr)) < 0 &&
          errno == ECONNREFUSED, "blocking connect to a closed port: ECONNREFUSED");
    close(fd);
}

/* Bits of the data.u32 values that epoll_wait(ep) reports; their number
 * in *count unless it is NULL. */
static uint32_t epoll_seen(int ep, int timeout_ms, int *count)
{
    struct epoll_event out[8];
    uint32_t seen = 0;
    int n = epoll_wait(ep, out, 8, timeout_ms);

    for (int i = 0; i < n; i++)
        seen |= 1u << out[i].data.u32;
    if (count != NULL)
        *count = n;
    return seen;
}

static void check_epoll(void)
{
    int a = connect_echo(), b = connect_echo();
    int pipefd[2];
    struct epoll_event ev, out[8];
    char buf[64];

    if (pipe(pipefd) != 0)
        exit(100);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    ev.events = EPOLLIN;
    ev.data.u32 = 1;
    epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev);
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u32 = 2;
    epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev);
    ev.events = EPOLLIN;
    ev.data.u32 = 3;
    epoll_ctl(ep, EPOLL_CTL_ADD, pipefd[0], &ev);
    check(epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev) < 0 && errno == EEXIST, "EPOLL_CTL_ADD twice: EEXIST");
    check(epoll_wait(ep, out, 8, 0) == 0, "nothing ready at first");

    if (write(a, "1", 1) != 1 || write(b, "2", 1) != 1 || write(pipefd[1], "3", 1) != 1)
        exit(100);
    usleep(100000);
    int n;
    uint32_t seen = epoll_seen(ep, 1000, &n);
    check(n == 3 && seen == 0xe, "TAS and kernel descriptors in one set");
    check(epoll_seen(ep, 0, NULL) == 0xa, "level-triggered ones again, edge-triggered not");
    if (read(a, buf, 1) != 1 || read(pipefd[0], buf, 1) != 1)
        exit(100);
    check(epoll_wait(ep, out, 8, 0) == 0, "quiet once read");
    if (write(b, "22", 2) != 2)
        exit(100);
    check(epoll_wait(ep, out, 8, 2000) == 1 && out[0].data.u32 == 2,
          "edge-triggered reports new data");

    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u32 = 1;
    epoll_ctl(ep, EPOLL_CTL_MOD, a, &ev);
    if (write(a, "x", 1) != 1)
        exit(100);
    check(epoll_wait(ep, out, 8, 2000) == 1 && out[0].data.u32 == 1, "one-shot fires once");
    check(epoll_wait(ep, out, 8, 200) == 0, "and then stays quiet");
    check(epoll_ctl(ep, EPOLL_CTL_DEL, a, NULL) == 0, "EPOLL_CTL_DEL");
    check(epoll_wait(ep, out, 8, 100) == 0, "a blocking wait times out");
    close(ep);
    close(a);
    close(b);
    close(pipefd[0]);
    close(pipefd[1]);
}

/* Kernel descriptors that joined a set before its first TAS socket, or
 * that another process added to it (a set shared across fork), are
 * reported like the ones added beside TAS sockets: libtas asks the kernel
 * set only when it may hold something. */
static void check_epoll_kernel_members(void)
{
    int early[2], late[2];
    struct epoll_event ev = { .events = EPOLLIN };

    if (pipe(early) != 0 || pipe(late) != 0)
        exit(100);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    ev.data.u32 = 1;
    epoll_ctl(ep, EPOLL_CTL_ADD, early[0], &ev);
    int a = connect_echo();
    ev.data.u32 = 2;
    epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev);
    if (write(early[1], "e", 1) != 1)
        exit(100);
    check(epoll_seen(ep, 0, NULL) == 0x2, "a kernel member from before the first socket");
    check(epoll_ctl(ep, EPOLL_CTL_DEL, early[0], NULL) == 0 &&
          epoll_seen(ep, 0, NULL) == 0, "and gone once deleted");

    pid_t child = fork();
    if (child == 0) {
        ev.data.u32 = 3;
        usleep(100000);
        _exit(epoll_ctl(ep, EPOLL_CTL_ADD, late[0], &ev) != 0 ||
              write(late[1], "l", 1) != 1);
    }
    check(epoll_seen(ep, 2000, NULL) == 0x8, "a kernel member another process added");
    int status;
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the adding child succeeded");
    char buf[8];
    if (read(late[0], buf, 1) != 1 || write(a, "a", 1) != 1)
        exit(100);
    check(epoll_seen(ep, 2000, NULL) == 0x4, "the socket beside them");
    close(ep);
    close(a);
    close(early[0]);
    close(early[1]);
    close(late[0]);
    close(late[1]);
}

/* One socket registered under two descriptors and in two sets: each
 * registration is its own, as with the kernel's (fd, file) keys. */
static void check_epoll_shared(void)
{
    int a = connect_echo();
    int d = dup(a);
    int ep1 = epoll_create1(EPOLL_CLOEXEC), ep2 = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN };

    ev.data.u32 = 1;
    check(epoll_ctl(ep1, EPOLL_CTL_ADD, a, &ev) == 0, "socket in a first set");
    ev.data.u32 = 2;
    check(epoll_ctl(ep1, EPOLL_CTL_ADD, d, &ev) == 0, "its duplicate in the same set");
    ev.data.u32 = 3;
    check(epoll_ctl(ep2, EPOLL_CTL_ADD, a, &ev) == 0, "the socket in a second set");
    check(epoll_ctl(ep2, EPOLL_CTL_MOD, d, &ev) < 0 && errno == ENOENT,
          "MOD of a descriptor the set lacks: ENOENT");
    if (write(a, "s", 1) != 1)
        exit(100);
    check(epoll_seen(ep1, 2000, NULL) == 0x6 && epoll_seen(ep2, 2000, NULL) == 0x8,
          "each registration reports the socket");
    check(epoll_ctl(ep1, EPOLL_CTL_DEL, a, NULL) == 0, "DEL one registration");
    ev.data.u32 = 4;
    check(epoll_ctl(ep1, EPOLL_CTL_MOD, d, &ev) == 0, "MOD the other");
    check(epoll_seen(ep1, 0, NULL) == 0x10 && epoll_seen(ep2, 0, NULL) == 0x8,
          "the rest keep reporting, with their new data");
    close(ep1);
    check(epoll_seen(ep2, 0, NULL) == 0x8, "a closed set leaves the other");
    close(ep2);
    close(d);
    close(a);
}

static volatile sig_atomic_t got_signal;

static void on_alarm(int sig)
{
    (void)sig;
    got_signal = 1;
}

static void check_signals(void)
{
    int fd = connect_echo();
    struct sigaction sa = { .sa_handler = on_alarm };
    char buf[8];

    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    ssize_t r = read(fd, buf, sizeof(buf));
    check(r < 0 && errno == EINTR && got_signal, "a handler without SA_RESTART: EINTR");

    /* With SA_RESTART the read goes on and gets the echo sent later. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    pid_t child = fork();
    if (child == 0) {
        usleep(1500000);
        _exit(0);
    }
    got_signal = 0;
    alarm(1);
    if (write(fd, "late", 4) != 4)
        exit(100);
    r = read(fd, buf, 4);
    check(r == 4, "SA_RESTART: the read continues");
    waitpid(child, NULL, 0);

    signal(SIGPIPE, SIG_IGN);
    shutdown(fd, SHUT_WR);
    check(write(fd, "x", 1) < 0 && errno == EPIPE, "write after SHUT_WR: EPIPE");
    check(read(fd, buf, sizeof(buf)) == 0, "the echo server's FIN: end of file");
    close(fd);
}

static void *thread_echo(void *arg)
{
    int fd = connect_echo();
    char out[64], in[64];
    bool ok = true;

    for (int i = 0; i < 200 && ok; i++) {
        snprintf(out, sizeof(out), "thread %ld round %d", (long)(intptr_t)arg, i);
        size_t n = strlen(out);
        ok = write(fd, out, n) == (ssize_t)n && read_all(fd, in, n) && memcmp(in, out, n) == 0;
    }
    close(fd);
    return (void *)(intptr_t)ok;
}

/* Runs fn in four threads; true when every one returned non-NULL.  With
 * bystander_ep >= 0 the calling thread waits in epoll_wait on that set
 * meanwhile instead of blocking in pthread_join. */
static bool run_four_threads(void *(*fn)(void *), int bystander_ep)
{
    pthread_t t[4];
    bool ok = true;

    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, fn, (void *)i);
    for (int i = 0; i < 4; i++) {
        struct epoll_event ev;
        void *r;

        if (bystander_ep < 0)
            pthread_join(t[i], &r);
        else
            while (pthread_tryjoin_np(t[i], &r) != 0)
                epoll_wait(bystander_ep, &ev, 1, 50);
        ok = ok && r != NULL;
    }
    return ok;
}

static void check_threads(void)
{
    check(run_four_threads(thread_echo, -1),
          "four threads, each echoing 200 times on its own connection");
}

/* Worker threads each wait in epoll_wait on a set of their own, as
 * libevent-based servers (memcached) do, while the others take the shared
 * context's events in on their behalf.  A wakeup lost in that hand-over
 * leaves a thread asleep with its socket ready: the wait times out. */
#define EPOLL_THREAD_ROUNDS 2000

static void *thread_epoll_echo(void *arg)
{
    int fd = connect_echo();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
    char out[64], in[64];
    bool ok = ep >= 0 && fcntl(fd, F_SETFL, O_NONBLOCK) == 0 &&
              epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;

    for (int i = 0; i < EPOLL_THREAD_ROUNDS && ok; i++) {
        snprintf(out, sizeof(out), "epoll thread %ld round %d", (long)(intptr_t)arg, i);
        size_t n = strlen(out), got = 0;
        ok = write(fd, out, n) == (ssize_t)n;
        while (ok && got < n) {
            ok = epoll_wait(ep, &ev, 1, 3000) == 1;
            ssize_t r = ok ? read(fd, in + got, n - got) : -1;
            if (r > 0)
                got += (size_t)r;
            else if (ok && !(r < 0 && errno == EAGAIN))
                ok = false;
        }
        ok = ok && memcmp(in, out, n) == 0;
    }
    close(ep);
    close(fd);
    return (void *)(intptr_t)ok;
}

static void check_epoll_threads(void)
{
    int idle = connect_echo();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = idle };

    /* A bystander asleep on a quiet socket, as memcached's listener thread
     * is: the context's wakeups reach it, and it takes the workers' events
     * in while they are between their spin and their sleep. */
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, idle, &ev) != 0)
        exit(100);
    bool ok = run_four_threads(thread_epoll_echo, ep);
    close(ep);
    close(idle);
    check(ok, "four threads, each in epoll_wait on its own set, echoing 2000 times");
}

static void check_fork(void)
{
    int fd = connect_echo();
    char buf[8];
    pid_t child = fork();

    if (child == 0) {
        close(fd);
        exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    check(write(fd, "fork", 4) == 4 && read_all(fd, buf, 4) && memcmp(buf, "fork", 4) == 0,
          "a child that closes and exits leaves the connection alone");
    close(fd);
}

static void check_sendfile(void)
{
    char path[] = "/tmp/posix-check.XXXXXX";
    int file = mkstemp(path);
    char data[100000], in[100000];

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)(i * 7);
    if (file < 0 || write(file, data, sizeof(data)) != (ssize_t)sizeof(data))
        exit(100);
    unlink(path);
    int fd = connect_echo();
    off_t off = 0;
    size_t sent = 0;
    while (sent < sizeof(data)) {
        ssize_t n = sendfile(fd, file, &off, sizeof(data) - sent);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    check(sent == sizeof(data) && off == (off_t)sizeof(data), "sendfile from a file");
    check(read_all(fd, in, sizeof(in)) && memcmp(in, data, sizeof(in)) == 0,
          "the file's bytes come back");
    close(fd);
    close(file);
}

static void set_addr(struct sockaddr_in *sa, const char *host, const char *port)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)atoi(port));
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
        fprintf(stderr, "posix-check: bad address %s\n", host);
        exit(100);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: posix-check HOST ECHO_PORT CLOSED_PORT\n");
        return 100;
    }
    set_addr(&echo_addr, argv[1], argv[2]);
    set_addr(&closed_addr, argv[1], argv[3]);
    check_blocking_echo();
    check_dup_and_fcntl();
    check_nonblocking_connect();
    check_epoll();
    check_epoll_shared();
    check_epoll_kernel_members();
    check_signals();
    check_threads();
    check_epoll_threads();
    check_fork();
    check_sendfile();
    printf("RESULT: %d failure(s)\n", failures);
    return failures;
}
