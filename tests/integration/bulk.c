/*
 * bulk: sha256-checked bulk TCP transfer for the integration tests.
 *
 *   bulk send HOST PORT BYTES FLOWS SEED
 *   bulk recv PORT FLOWS [HOLD_FILE]
 *
 * The sender opens FLOWS connections and sends BYTES in total, split evenly,
 * of pseudo-random data derived from SEED and the flow number.  Each flow
 * starts with a 16-byte header (magic, flow number, byte count), so the
 * receiver tells flows apart and ignores connections that close without one
 * (port probes).  The sender half-closes each flow when done and waits for
 * the receiver to close it, so a clean exit means all bytes arrived.
 * Both sides print one line per flow, "flow I bytes N sha256 HEX", in flow
 * order; the test compares the two outputs.  With HOLD_FILE the receiver
 * accepts connections but reads nothing while that file exists, so its
 * receive windows fill and close (the zero-window test of ops-hostile-
 * stateful); removing the file lets it read on.  Plain POSIX sockets and poll(),
 * so the same binary runs on Linux and under tas-run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAGIC 0x42554c4bu   /* "BULK" */
#define HDR_LEN 16
#define CHUNK 65536

/* ---- SHA-256 (FIPS 180-4) ---- */

struct sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t fill;
};

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *s, const unsigned char *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, h;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
    e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
    s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha256_init(struct sha256 *s)
{
    static const uint32_t h0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(s->h, h0, sizeof(h0));
    s->len = 0;
    s->fill = 0;
}

static void sha256_update(struct sha256 *s, const unsigned char *p, size_t n)
{
    s->len += n;
    while (n > 0) {
        size_t take = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->buf + s->fill, p, take);
        s->fill += take;
        p += take;
        n -= take;
        if (s->fill == 64) {
            sha256_block(s, s->buf);
            s->fill = 0;
        }
    }
}

static void sha256_hex(struct sha256 *s, char out[65])
{
    uint64_t bits = s->len * 8;
    unsigned char pad[72] = { 0x80 };
    size_t padlen = (s->fill < 56 ? 56 : 120) - s->fill;
    for (int i = 0; i < 8; i++)
        pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_update(s, pad, padlen + 8);
    for (int i = 0; i < 8; i++)
        sprintf(out + 8 * i, "%08" PRIx32, s->h[i]);
}

/* ---- helpers ---- */

static void die(const char *what)
{
    fprintf(stderr, "bulk: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint64_t parse_num(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0') {
        fprintf(stderr, "bulk: bad %s '%s'\n", what, s);
        exit(2);
    }
    return v;
}

static void set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        die("fcntl(O_NONBLOCK)");
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* splitmix64: the data stream of one flow. */
static uint64_t next_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* ---- sender ---- */

struct out_flow {
    int fd;
    uint64_t left;            /* payload bytes not generated yet */
    uint64_t rng;
    unsigned char buf[HDR_LEN + CHUNK];
    size_t off, len;          /* unsent part of buf */
    bool shut, done;
    struct sha256 sha;
    uint64_t bytes;
};

/* Refill buf with the next chunk of the flow's data. */
static void refill(struct out_flow *f)
{
    size_t n = f->left < CHUNK ? (size_t)f->left : CHUNK;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = next_rand(&f->rng);
        memcpy(f->buf + i, &r, n - i < 8 ? n - i : 8);
    }
    sha256_update(&f->sha, f->buf, n);
    f->left -= n;
    f->off = 0;
    f->len = n;
}

static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "bulk: %s: %s\n", host, gai_strerror(rc));
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        die("connect");
    freeaddrinfo(ai);
    return fd;
}

static int do_send(const char *host, const char *port, uint64_t total, uint32_t nflows, uint64_t seed)
{
    struct out_flow *flows = calloc(nflows, sizeof(*flows));
    struct pollfd *pfd = calloc(nflows, sizeof(*pfd));
    if (!flows || !pfd)
        die("calloc");
    for (uint32_t i = 0; i < nflows; i++) {
        struct out_flow *f = &flows[i];
        f->bytes = total / nflows + (i == 0 ? total % nflows : 0);
        f->left = f->bytes;
        f->rng = seed * 1000003u + i;
        sha256_init(&f->sha);
        f->fd = connect_to(host, port);
        set_nonblocking(f->fd);
        refill(f);
        /* The header goes in front of the first chunk. */
        memmove(f->buf + HDR_LEN, f->buf, f->len);
        put32(f->buf, MAGIC);
        put32(f->buf + 4, i);
        put32(f->buf + 8, (uint32_t)(f->bytes >> 32));
        put32(f->buf + 12, (uint32_t)f->bytes);
        f->len += HDR_LEN;
    }
    uint32_t done = 0;
    while (done < nflows) {
        for (uint32_t i = 0; i < nflows; i++) {
            pfd[i].fd = flows[i].done ? -1 : flows[i].fd;
            pfd[i].events = flows[i].shut ? POLLIN : POLLOUT;
        }
        if (poll(pfd, nflows, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        for (uint32_t i = 0; i < nflows; i++) {
            struct out_flow *f = &flows[i];
            if (f->done || !pfd[i].revents)
                continue;
            if (f->shut) {
                char c;
                ssize_t n = read(f->fd, &c, 1);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                if (n != 0) {
                    fprintf(stderr, "bulk: flow %u: receiver did not close cleanly (%s)\n",
                            i, n < 0 ? strerror(errno) : "sent data");
                    return 1;
                }
                close(f->fd);
                f->done = true;
                done++;
                continue;
            }
            ssize_t n = write(f->fd, f->buf + f->off, f->len - f->off);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    continue;
                fprintf(stderr, "bulk: flow %u: write: %s\n", i, strerror(errno));
                return 1;
            }
            f->off += (size_t)n;
            if (f->off < f->len)
                continue;
            if (f->left > 0) {
                refill(f);
            } else {
                if (shutdown(f->fd, SHUT_WR) < 0)
                    die("shutdown");
                f->shut = true;
            }
        }
    }
    for (uint32_t i = 0; i < nflows; i++) {
        char hex[65];
        sha256_hex(&flows[i].sha, hex);
        printf("flow %u bytes %" PRIu64 " sha256 %s\n", i, flows[i].bytes, hex);
    }
    return 0;
}

/* ---- receiver ---- */

struct in_flow {
    int fd;
    unsigned char hdr[HDR_LEN];
    size_t hdr_got;
    uint32_t id;
    uint64_t expect, got;
    struct sha256 sha;
};

struct result {
    bool done;
    uint64_t bytes;
    char hex[65];
};

static int do_recv(const char *port, uint32_t nflows, const char *hold_file)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0)
        die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons((uint16_t)parse_num(port, "port")) };
    if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        die("bind");
    if (listen(lfd, 1024) < 0)
        die("listen");
    set_nonblocking(lfd);

    size_t cap = (size_t)nflows + 16;
    struct in_flow *conns = calloc(cap, sizeof(*conns));
    struct pollfd *pfd = calloc(cap + 1, sizeof(*pfd));
    struct result *res = calloc(nflows, sizeof(*res));
    static unsigned char buf[CHUNK];
    if (!conns || !pfd || !res)
        die("calloc");
    size_t nconns = 0;
    uint32_t finished = 0;
    int errors = 0;

    while (finished < nflows && errors == 0) {
        bool holding = hold_file && access(hold_file, F_OK) == 0;
        pfd[0].fd = lfd;
        pfd[0].events = POLLIN;
        for (size_t i = 0; i < nconns; i++) {
            pfd[i + 1].fd = holding ? -1 : conns[i].fd;
            pfd[i + 1].events = POLLIN;
        }
        if (poll(pfd, nconns + 1, hold_file ? 100 : -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        for (size_t i = nconns; i-- > 0;) {
            struct in_flow *c = &conns[i];
            if (!pfd[i + 1].revents)
                continue;
            ssize_t n = read(c->fd, buf, sizeof(buf));
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n < 0) {
                fprintf(stderr, "bulk: read: %s\n", strerror(errno));
                errors++;
                break;
            }
            size_t off = 0;
            if (c->hdr_got < HDR_LEN) {
                off = HDR_LEN - c->hdr_got < (size_t)n ? HDR_LEN - c->hdr_got : (size_t)n;
                memcpy(c->hdr + c->hdr_got, buf, off);
                c->hdr_got += off;
                if (c->hdr_got == HDR_LEN) {
                    c->id = get32(c->hdr + 4);
                    c->expect = (uint64_t)get32(c->hdr + 8) << 32 | get32(c->hdr + 12);
                    if (get32(c->hdr) != MAGIC || c->id >= nflows || res[c->id].done) {
                        fprintf(stderr, "bulk: bad or repeated flow header (flow %u)\n", c->id);
                        errors++;
                        break;
                    }
                }
            }
            sha256_update(&c->sha, buf + off, (size_t)n - off);
            c->got += (size_t)n - off;
            if (n > 0)
                continue;
            /* EOF */
            if (c->hdr_got == 0) {
                /* a probe: connected and closed without a header */
            } else if (c->hdr_got < HDR_LEN || c->got != c->expect) {
                fprintf(stderr, "bulk: flow %u ended after %" PRIu64 " of %" PRIu64 " bytes\n",
                        c->id, c->got, c->expect);
                errors++;
            } else {
                res[c->id].done = true;
                res[c->id].bytes = c->got;
                sha256_hex(&c->sha, res[c->id].hex);
                finished++;
            }
            close(c->fd);
            conns[i] = conns[--nconns];
        }
        if (pfd[0].revents) {
            int fd = accept(lfd, NULL, NULL);
            if (fd >= 0) {
                if (nconns == cap) {
                    fprintf(stderr, "bulk: more than %zu connections at once\n", cap);
                    return 1;
                }
                set_nonblocking(fd);
                conns[nconns] = (struct in_flow){ .fd = fd };
                sha256_init(&conns[nconns].sha);
                nconns++;
            } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                die("accept");
            }
        }
    }
    if (errors)
        return 1;
    for (uint32_t i = 0; i < nflows; i++)
        printf("flow %u bytes %" PRIu64 " sha256 %s\n", i, res[i].bytes, res[i].hex);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 7 && strcmp(argv[1], "send") == 0) {
        uint64_t flows = parse_num(argv[5], "FLOWS");
        if (flows == 0 || flows > 65535) {
            fprintf(stderr, "bulk: FLOWS must be 1..65535\n");
            return 2;
        }
        return do_send(argv[2], argv[3], parse_num(argv[4], "BYTES"), (uint32_t)flows,
                       parse_num(argv[6], "SEED"));
    }
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "recv") == 0) {
        uint64_t flows = parse_num(argv[3], "FLOWS");
        if (flows == 0 || flows > 65535) {
            fprintf(stderr, "bulk: FLOWS must be 1..65535\n");
            return 2;
        }
        return do_recv(argv[2], (uint32_t)flows, argc == 5 ? argv[4] : NULL);
    }
    fprintf(stderr, "usage: bulk send HOST PORT BYTES FLOWS SEED\n"
                    "       bulk recv PORT FLOWS [HOLD_FILE]\n");
    return 2;
}
