/* zio-echo-server: the dissertation's copy benchmark.
 *
 * Receives fixed-size messages on TCP, copies each one COPIES times from
 * buffer to buffer (as a server moving a request through layers does),
 * reads TOUCH permille of the last copy (as a server inspecting part of a
 * payload does), and echoes the last copy back.  When the client hangs up
 * it prints "cpu_us N", the CPU time of all its threads.
 * usage: zio-echo-server PORT SIZE COPIES TOUCH_PERMILLE */
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int read_full(int fd, char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);

        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_full(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads whole pages spread evenly over the buffer; returns a checksum so
 * the compiler cannot drop the reads. */
static uint64_t touch(const char *buf, size_t size, unsigned permille)
{
    size_t pages = size / 4096, want = (pages * permille + 500) / 1000;
    uint64_t sum = 0;

    for (size_t i = 0; i < want; i++) {
        const uint64_t *p = (const uint64_t *)(buf + (i * pages / want) * 4096);

        for (size_t k = 0; k < 4096 / sizeof(*p); k++)
            sum += p[k];
    }
    return sum;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1, listener, conn;
    size_t size;
    unsigned copies, permille;
    volatile uint64_t sink = 0;
    struct rusage usage;
    char *rx;

    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT SIZE COPIES TOUCH_PERMILLE\n", argv[0]);
        return 2;
    }
    addr.sin_port = htons((uint16_t)atoi(argv[1]));
    size = strtoul(argv[2], NULL, 0);
    copies = (unsigned)atoi(argv[3]);
    permille = (unsigned)atoi(argv[4]);

    /* Keep freed buffers in the heap, as a long-running server's allocator
     * would: otherwise every copy would also pay for fresh zeroed pages. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    listener = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) || listen(listener, 1)) {
        perror("zio-echo-server: bind");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    conn = accept(listener, NULL, NULL);
    if (conn < 0) {
        perror("zio-echo-server: accept");
        return 1;
    }
    setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    rx = malloc(size);
    for (;;) {
        char *last = rx, *next;

        if (read_full(conn, rx, size) < 0)
            break;
        for (unsigned i = 0; i < copies; i++) {
            next = malloc(size);
            memcpy(next, last, size);
            if (last != rx)
                free(last);
            last = next;
        }
        sink += touch(last, size, permille);
        if (write_full(conn, last, size) < 0)
            break;
        if (last != rx)
            free(last);
    }
    free(rx);
    getrusage(RUSAGE_SELF, &usage);
    printf("cpu_us %.0f\n", (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
                            usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
    return sink == 1;   /* never true in practice; keeps sink alive */
}
