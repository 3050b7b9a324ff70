/* zio-chain-cost: what one chain of elided copies costs libzio, end to end.
 *
 * The pattern of a server that stores an input and sends it: a SIZE-byte
 * input V is read once from a file; each round copies V into a fresh
 * block A (at an unaligned offset, as a server's reply buffer would be),
 * copies A into a fresh block B, then frees B and A.  Between the steps
 * 4 MB of memory are written so that every step starts with cold caches,
 * as it does in a server whose kernel copies stream through them.  Run it
 * plain and with libzio preloaded (bench/zio/zio-chain-cost.sh alternates
 * the two): the medians show what elision, protection and index work
 * cost against the copies they replace.  The last round's B is checked
 * against V.
 * usage: zio-chain-cost [SIZE [ROUNDS]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 100000
#define THRASH_BYTES (4UL << 20)
#define A_OFFSET 100
#define B_OFFSET 200

static unsigned char thrash[THRASH_BYTES];
static double copy_ns[MAX_ROUNDS], free_ns[MAX_ROUNDS];

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof(*v), by_value);
    return v[n / 2];
}

/* Reads size random bytes into a page-aligned block, through a file so
 * that libzio sees them arrive as input. */
static unsigned char *read_input(size_t size)
{
    char path[] = "/tmp/zio-chain-cost-XXXXXX";
    int fd = mkstemp(path);
    unsigned char *bytes = malloc(size), *input;

    if (fd < 0 || !bytes)
        die("input file");
    unlink(path);
    for (size_t i = 0; i < size; i++)
        bytes[i] = (unsigned char)(i * 131 + (i >> 12));
    if (write(fd, bytes, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0)
        die("write");
    if (posix_memalign((void **)&input, 4096, size) != 0)
        die("posix_memalign");
    if (read(fd, input, size) != (ssize_t)size)
        die("read");
    close(fd);
    free(bytes);
    return input;
}

int main(int argc, char **argv)
{
    size_t size = argc > 1 ? strtoul(argv[1], NULL, 0) : 512 * 1024;
    int rounds = argc > 2 ? atoi(argv[2]) : 2000;
    unsigned char *input = read_input(size);
    int mismatch = 0;

    if (rounds < 1 || rounds > MAX_ROUNDS)
        rounds = 2000;
    for (int r = 0; r < rounds; r++) {
        unsigned char *a = malloc(size + A_OFFSET), *b = malloc(size + B_OFFSET);
        double t0, t1;

        if (!a || !b)
            die("malloc");
        memset(thrash, r, sizeof(thrash));
        t0 = now_ns();
        memcpy(a + A_OFFSET, input, size);
        memcpy(b + B_OFFSET, a + A_OFFSET, size);
        t1 = now_ns();
        copy_ns[r] = t1 - t0;
        if (r == rounds - 1)
            mismatch = memcmp(b + B_OFFSET, input, size) != 0;
        memset(thrash, r + 1, sizeof(thrash));
        t0 = now_ns();
        free(b);
        free(a);
        free_ns[r] = now_ns() - t0;
    }
    if (mismatch) {
        fprintf(stderr, "zio-chain-cost: the copy differs from its input\n");
        return 1;
    }
    printf("size %zu rounds %d: two copies %.1f us, two frees %.1f us (medians)\n",
           size, rounds, median(copy_ns, rounds) / 1e3, median(free_ns, rounds) / 1e3);
    return 0;
}
