/*
 * limitapp: runs into the per-application limits of TAS (applimits.sh).
 *
 *   limitapp connect HOST PORT COUNT
 *       opens up to COUNT connections one after another with POSIX
 *       sockets and stops at the first connect() that fails.  Prints
 *       "connected K", then "connect K+1: ERRNO" if one failed and
 *       "again: ERRNO" for one more try (or "again: connected"), waits a
 *       second and prints "reset R": how many of the K the other side
 *       reset or closed meanwhile.  Then prints "holding" and keeps them
 *       until SIGTERM.  Under tas-run it is the application whose
 *       connects are refused; on the peer, the client whose connections a
 *       TAS listener at its limit resets.
 *   limitapp listen PORT
 *       accepts connections and keeps them, printing "accepted N" after
 *       each, until SIGTERM.
 *   limitapp contexts COUNT
 *       registers with TAS (low-level API) and creates up to COUNT
 *       contexts; prints "contexts K" and "context K+1: ERRNO" if one was
 *       refused.  Exits 0 once done either way.
 *
 * Not linked with libtas, so that it runs on the kernel stack of the peer
 * too; under tas-run, "contexts" finds the low-level API in the preloaded
 * libtas.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tas/api.h>

#include "cli.h"

static void __attribute__((noreturn)) hold(void)
{
    for (;;)
        pause();
}

/* Sockets among fds[0..n) that the other side reset or closed within ms. */
static unsigned long count_ended(const int *fds, unsigned long n, int ms)
{
    struct pollfd *p = calloc(n ? n : 1, sizeof(*p));
    if (!p)
        die("calloc");
    for (unsigned long i = 0; i < n; i++)
        p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN | POLLRDHUP };
    usleep((useconds_t)ms * 1000);
    unsigned long ended = 0;
    if (n > 0 && poll(p, n, 0) < 0)
        die("poll");
    for (unsigned long i = 0; i < n; i++)
        ended += (p[i].revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) != 0;
    free(p);
    return ended;
}

/* errno of one more connect() to sa, 0 if it succeeds (and is kept). */
static int connect_once(const struct sockaddr_in *sa, int *out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
        int err = errno;
        close(fd);
        return err;
    }
    *out = fd;
    return 0;
}

static void __attribute__((noreturn)) do_connect(const char *host, unsigned port,
                                                 unsigned long count)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "limitapp: bad address '%s'\n", host);
        exit(2);
    }
    int *fds = calloc(count, sizeof(*fds));
    if (!fds)
        die("calloc");
    unsigned long n = 0;
    int err = 0;
    while (n < count && (err = connect_once(&sa, &fds[n])) == 0)
        n++;
    printf("connected %lu\n", n);
    if (err) {
        printf("connect %lu: %s\n", n + 1, strerrorname_np(err));
        /* a refusal by a limit again: same errno, no second libtas line */
        int again = connect_once(&sa, &fds[n]);
        printf("again: %s\n", again ? strerrorname_np(again) : "connected");
        n += again == 0;
    }
    printf("reset %lu\nholding\n", count_ended(fds, n, 1000));
    hold();
}

static void __attribute__((noreturn)) do_listen(unsigned port)
{
    int ls = listen_tcp(port, 64, 0);
    printf("listening\n");
    for (unsigned long n = 1;; n++) {
        if (accept(ls, NULL, NULL) < 0)
            die("accept");
        printf("accepted %lu\n", n);
    }
}

static int do_contexts(unsigned long count)
{
    int (*init)(const char *) = (int (*)(const char *))dlsym(RTLD_DEFAULT, "tas_init");
    int (*create)(struct tas_context **) =
        (int (*)(struct tas_context **))dlsym(RTLD_DEFAULT, "tas_context_create");
    if (!init || !create) {
        fprintf(stderr, "limitapp: no libtas here (run it under tas-run)\n");
        return 2;
    }
    int err = init(NULL);
    if (err) {
        fprintf(stderr, "limitapp: tas_init: %s\n", strerror(-err));
        return 1;
    }
    unsigned long n = 0;
    while (n < count) {
        struct tas_context *ctx;
        err = create(&ctx);
        if (err)
            break;
        n++;
    }
    printf("contexts %lu\n", n);
    if (err)
        printf("context %lu: %s\n", n + 1, strerrorname_np(-err));
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);   /* the test reads each line as it comes */
    if (argc == 5 && strcmp(argv[1], "connect") == 0)
        do_connect(argv[2], (unsigned)parse_num(argv[3], "port", 65535),
                   parse_num(argv[4], "count", 100000));
    if (argc == 3 && strcmp(argv[1], "listen") == 0)
        do_listen((unsigned)parse_num(argv[2], "port", 65535));
    if (argc == 3 && strcmp(argv[1], "contexts") == 0)
        return do_contexts(parse_num(argv[2], "count", 100000));
    fprintf(stderr, "usage: limitapp connect HOST PORT COUNT\n"
                    "       limitapp listen PORT\n"
                    "       limitapp contexts COUNT\n");
    return 2;
}
