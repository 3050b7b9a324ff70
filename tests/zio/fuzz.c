/* Differential fuzz program for libzio.
 *
 * Runs seeded random sequences of the things zIO must get right: reads
 * from files and sockets into buffers of random size and alignment, chains
 * of memcpy/memmove, partial touches and overwrites, realloc/free, writes
 * and sends, forks that inspect memory, and a signal handler that copies -
 * in several threads.  It prints one digest per seed of everything the
 * program read or wrote.  The test runs it with and without libzio
 * preloaded; the outputs must be identical. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOTS 6
#define MAX_BUF (1536 * 1024)
#define SOURCE_SIZE (4 * 1024 * 1024)
#define SOCK_CHUNK (48 * 1024)

struct rng {
    uint64_t state;
};

static uint64_t next(struct rng *r)
{
    /* splitmix64: tiny, and the same sequence everywhere. */
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static size_t below(struct rng *r, size_t n)
{
    return n ? next(r) % n : 0;
}

/* Mostly large sizes (the ones zIO elides), sometimes small or odd. */
static size_t pick_len(struct rng *r, size_t max)
{
    size_t len;

    switch (below(r, 4)) {
    case 0: len = below(r, 64 * 1024); break;
    case 1: len = 16 * 1024 + below(r, 256 * 1024); break;
    default: len = below(r, max + 1); break;
    }
    return len > max ? max : len;
}

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001B3ULL;
    return h;
}

struct worker {
    unsigned id;
    uint64_t seed;
    unsigned ops;
    int source_fd;      /* file of pseudo-random bytes */
    int out_fd;         /* file the worker writes to */
    int sock[2];        /* socketpair: send on [0], recv on [1] */
    char *slot[SLOTS];
    size_t size[SLOTS];
    uint64_t digest;
};

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz: %s: %s\n", what, strerror(errno));
        exit(2);
    }
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        check(n > 0, "write");
        buf += n;
        len -= (size_t)n;
    }
}

static void read_exact(int fd, char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);

        check(n > 0, "read");
        buf += n;
        len -= (size_t)n;
    }
}

static void pick_range(struct rng *r, struct worker *w, int *slot, size_t *off, size_t *len)
{
    *slot = (int)below(r, SLOTS);
    *off = below(r, w->size[*slot] + 1);
    *len = pick_len(r, w->size[*slot] - *off);
}

static void op_read_file(struct worker *w, struct rng *r)
{
    int slot; size_t off, len;

    pick_range(r, w, &slot, &off, &len);
    check(lseek(w->source_fd, (off_t)below(r, SOURCE_SIZE - len), SEEK_SET) >= 0, "lseek");
    read_exact(w->source_fd, w->slot[slot] + off, len);
}

static void op_socket(struct worker *w, struct rng *r)
{
    int slot; size_t off, len, got = 0;
    char header[64];

    /* Send a piece of one buffer, receive it into another. */
    pick_range(r, w, &slot, &off, &len);
    if (len > SOCK_CHUNK)
        len = SOCK_CHUNK;
    if (below(r, 2)) {
        check(send(w->sock[0], w->slot[slot] + off, len, 0) == (ssize_t)len, "send");
    } else {
        struct iovec iov[2] = {
            { header, sizeof(header) }, { w->slot[slot] + off, len },
        };
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };

        memset(header, (int)len, sizeof(header));
        check(sendmsg(w->sock[0], &msg, 0) == (ssize_t)(len + sizeof(header)), "sendmsg");
        len += sizeof(header);
    }
    pick_range(r, w, &slot, &off, &got);
    while (len > 0) {
        char sink[4096];
        size_t room = w->size[slot] - off;
        ssize_t n;

        if (room == 0)
            n = recv(w->sock[1], sink, len < sizeof(sink) ? len : sizeof(sink), 0);
        else if (below(r, 2))
            n = recv(w->sock[1], w->slot[slot] + off, len < room ? len : room, 0);
        else
            n = read(w->sock[1], w->slot[slot] + off, len < room ? len : room);
        check(n > 0, "recv");
        if (room == 0)
            w->digest = fnv(w->digest, sink, (size_t)n);
        else
            off += (size_t)n;
        len -= (size_t)n;
    }
}

static void op_copy(struct worker *w, struct rng *r)
{
    int from, to; size_t src, dst, len;

    pick_range(r, w, &from, &src, &len);
    to = (int)below(r, SLOTS);
    if (len > w->size[to])
        len = w->size[to];
    dst = below(r, w->size[to] - len + 1);
    /* Chains: sometimes keep the page offset so whole pages line up. */
    if (below(r, 2)) {
        size_t same_offset = (dst & ~(size_t)4095) + (src & 4095);

        if (same_offset + len <= w->size[to])
            dst = same_offset;
    }
    if (from == to)
        memmove(w->slot[to] + dst, w->slot[from] + src, len);
    else
        memcpy(w->slot[to] + dst, w->slot[from] + src, len);
}

static void op_touch(struct worker *w, struct rng *r)
{
    int slot; size_t off, len;

    pick_range(r, w, &slot, &off, &len);
    if (len > 8192)
        len = below(r, 8192);
    w->digest = fnv(w->digest, w->slot[slot] + off, len);
}

static void op_overwrite(struct worker *w, struct rng *r)
{
    int slot; size_t off, len;

    pick_range(r, w, &slot, &off, &len);
    if (below(r, 2) && len > 64)
        len = 1 + below(r, 64);
    memset(w->slot[slot] + off, (int)next(r), len);
}

static void op_output(struct worker *w, struct rng *r)
{
    int slot; size_t off, len;

    pick_range(r, w, &slot, &off, &len);
    if (below(r, 2)) {
        write_all(w->out_fd, w->slot[slot] + off, len);
    } else {
        struct iovec iov[3];
        size_t a = below(r, len + 1), b = below(r, len - a + 1);

        iov[0] = (struct iovec){ w->slot[slot] + off, a };
        iov[1] = (struct iovec){ w->slot[slot] + off + a, b };
        iov[2] = (struct iovec){ w->slot[slot] + off + a + b, len - a - b };
        ssize_t n = writev(w->out_fd, iov, 3);
        check(n >= 0, "writev");
        /* A short writev still leaves a well-defined file: finish it. */
        if ((size_t)n < len)
            write_all(w->out_fd, w->slot[slot] + off + n, len - (size_t)n);
    }
}

static void op_realloc(struct worker *w, struct rng *r)
{
    int slot = (int)below(r, SLOTS);
    size_t size = 1 + below(r, MAX_BUF);
    char *moved = realloc(w->slot[slot], size);

    check(moved != NULL, "realloc");
    if (size > w->size[slot])
        memset(moved + w->size[slot], 0x5a, size - w->size[slot]);
    w->slot[slot] = moved;
    w->size[slot] = size;
}

static void op_replace(struct worker *w, struct rng *r)
{
    int slot = (int)below(r, SLOTS);

    free(w->slot[slot]);
    w->size[slot] = 1 + below(r, MAX_BUF);
    /* malloc, not calloc: ZIO_ALIGN_ALLOC moves large malloc()s to pages. */
    w->slot[slot] = malloc(w->size[slot]);
    check(w->slot[slot] != NULL, "malloc");
    memset(w->slot[slot], 0, w->size[slot]);
}

static uint64_t digest_slots(const struct worker *w)
{
    uint64_t h = 0xCBF29CE484222325ULL;

    for (int i = 0; i < SLOTS; i++)
        h = fnv(h, w->slot[i], w->size[i]);
    return h;
}

static void op_fork(struct worker *w)
{
    int fds[2];
    uint64_t child_digest;
    pid_t pid;
    int status;

    check(pipe(fds) == 0, "pipe");
    pid = fork();
    check(pid >= 0, "fork");
    if (pid == 0) {
        uint64_t h = digest_slots(w);

        write_all(fds[1], (char *)&h, sizeof(h));
        _exit(0);
    }
    close(fds[1]);
    read_exact(fds[0], (char *)&child_digest, sizeof(child_digest));
    close(fds[0]);
    check(waitpid(pid, &status, 0) == pid, "waitpid");
    w->digest = fnv(w->digest, &child_digest, sizeof(child_digest));
}

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    struct rng r = { w->seed * 1000003 + w->id };

    for (int i = 0; i < SLOTS; i++) {
        w->size[i] = 1 + below(&r, MAX_BUF);
        w->slot[i] = calloc(1, w->size[i]);
        check(w->slot[i] != NULL, "calloc");
    }
    for (unsigned op = 0; op < w->ops; op++) {
        switch (below(&r, 20)) {
        case 0: case 1: case 2: case 3: op_read_file(w, &r); break;
        case 4: case 5: op_socket(w, &r); break;
        case 6: case 7: case 8: case 9: case 10: op_copy(w, &r); break;
        case 11: case 12: op_touch(w, &r); break;
        case 13: op_overwrite(w, &r); break;
        case 14: case 15: op_output(w, &r); break;
        case 16: op_realloc(w, &r); break;
        case 17: op_replace(w, &r); break;
        case 18: if (w->id == 0 && below(&r, 8) == 0) op_fork(w); break;
        default: op_copy(w, &r); break;
        }
    }
    w->digest = fnv(w->digest, &(uint64_t){ digest_slots(w) }, sizeof(uint64_t));
    for (int i = 0; i < SLOTS; i++)
        free(w->slot[i]);
    return NULL;
}

/* The handler copies a large buffer too: libzio must not deadlock on it. */
static char signal_src[64 * 1024], signal_dst[64 * 1024];
static void on_alarm(int signo)
{
    (void)signo;
    memcpy(signal_dst, signal_src, sizeof(signal_dst));
}

static uint64_t digest_file(int fd)
{
    char buf[65536];
    uint64_t h = 0xCBF29CE484222325ULL;
    ssize_t n;

    check(lseek(fd, 0, SEEK_SET) == 0, "lseek");
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        h = fnv(h, buf, (size_t)n);
    return h;
}

static int temp_file(const char *dir)
{
    char path[4096];
    int fd;

    snprintf(path, sizeof(path), "%s/zio-fuzz-XXXXXX", dir);
    fd = mkstemp(path);
    check(fd >= 0, "mkstemp");
    unlink(path);
    return fd;
}

int main(int argc, char **argv)
{
    unsigned long first = argc > 1 ? strtoul(argv[1], NULL, 0) : 0;
    unsigned long count = argc > 2 ? strtoul(argv[2], NULL, 0) : 1;
    unsigned threads = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 3;
    unsigned ops = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 0) : 60;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
    struct itimerval timer = { { 0, 2000 }, { 0, 2000 } };
    struct worker *workers = calloc(threads, sizeof(*workers));
    pthread_t *tids = calloc(threads, sizeof(*tids));
    char *source = malloc(SOURCE_SIZE);
    struct rng r = { 42 };

    check(workers && tids && source, "calloc");
    for (size_t i = 0; i < SOURCE_SIZE; i += 8) {
        uint64_t v = next(&r);
        memcpy(source + i, &v, 8);
    }
    /* One source file per worker for the whole run: rewriting it for every
     * seed would cost more than the seed itself. */
    int *sources = calloc(threads, sizeof(*sources));
    check(sources != NULL, "calloc");
    for (unsigned t = 0; t < threads; t++) {
        sources[t] = temp_file(dir);
        write_all(sources[t], source, SOURCE_SIZE);
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    setitimer(ITIMER_REAL, &timer, NULL);

    for (unsigned long seed = first; seed < first + count; seed++) {
        uint64_t digest = 0xCBF29CE484222325ULL;

        for (unsigned t = 0; t < threads; t++) {
            struct worker *w = &workers[t];
            int bufsize = 1 << 20;

            memset(w, 0, sizeof(*w));
            w->id = t;
            w->seed = seed;
            w->ops = ops;
            w->digest = 0xCBF29CE484222325ULL;
            w->source_fd = sources[t];
            w->out_fd = temp_file(dir);
            check(socketpair(AF_UNIX, SOCK_STREAM, 0, w->sock) == 0, "socketpair");
            setsockopt(w->sock[0], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
            setsockopt(w->sock[1], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
            check(pthread_create(&tids[t], NULL, run_worker, w) == 0, "pthread_create");
        }
        for (unsigned t = 0; t < threads; t++) {
            struct worker *w = &workers[t];

            pthread_join(tids[t], NULL);
            digest = fnv(digest, &w->digest, sizeof(w->digest));
            uint64_t out = digest_file(w->out_fd);
            digest = fnv(digest, &out, sizeof(out));
            close(w->out_fd);
            close(w->sock[0]);
            close(w->sock[1]);
        }
        printf("%lu %016" PRIx64 "\n", seed, digest);
        fflush(stdout);
    }
    return 0;
}
