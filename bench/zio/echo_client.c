/* zio-echo-client: drives zio-echo-server and verifies every reply.
 *
 * Sends COUNT messages of SIZE bytes one at a time, each with different
 * contents, and checks that each echo is byte-identical.  Prints messages
 * per second and the median round trip in microseconds.
 * usage: zio-echo-client PORT SIZE COUNT */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1, fd;
    size_t size, count, warmup;
    char *msg, *reply;
    double *rtt, start = 0;

    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT SIZE COUNT\n", argv[0]);
        return 2;
    }
    addr.sin_port = htons((uint16_t)atoi(argv[1]));
    size = strtoul(argv[2], NULL, 0);
    count = strtoul(argv[3], NULL, 0);
    warmup = count / 10 + 1;
    msg = malloc(size);
    reply = malloc(size);
    rtt = calloc(count, sizeof(*rtt));
    for (size_t i = 0; i < size; i++)
        msg[i] = (char)(i * 131 + (i >> 12));

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        perror("zio-echo-client: connect");
        return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (size_t m = 0; m < warmup + count; m++) {
        double t0 = now();
        size_t done;

        if (m == warmup)
            start = t0;
        /* Every message differs: a stale page would be caught. */
        for (size_t off = 0; off + sizeof(uint64_t) <= size; off += 4096)
            memcpy(msg + off, &m, sizeof(m));
        for (done = 0; done < size;) {
            ssize_t n = write(fd, msg + done, size - done);
            if (n <= 0) {
                perror("zio-echo-client: write");
                return 1;
            }
            done += (size_t)n;
        }
        for (done = 0; done < size;) {
            ssize_t n = read(fd, reply + done, size - done);
            if (n <= 0) {
                fprintf(stderr, "zio-echo-client: connection closed\n");
                return 1;
            }
            done += (size_t)n;
        }
        if (memcmp(msg, reply, size) != 0) {
            fprintf(stderr, "zio-echo-client: message %zu came back different\n", m);
            return 1;
        }
        if (m >= warmup)
            rtt[m - warmup] = now() - t0;
    }
    double elapsed = now() - start;
    qsort(rtt, count, sizeof(*rtt), compare_doubles);
    printf("{\"msgs_per_s\": %.1f, \"median_rtt_us\": %.1f}\n",
           (double)count / elapsed, rtt[count / 2] * 1e6);
    return 0;
}
