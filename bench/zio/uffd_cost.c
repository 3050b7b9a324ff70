/* zio-uffd-cost: what each kernel operation libzio can use costs here.
 *
 * libzio trades a memcpy for page-table work; whether that pays depends on
 * the machine.  This program times, on one 512 KB buffer (or SIZE bytes),
 * the in-cache memcpy it replaces and each userfaultfd / madvise / mincore
 * step of an elision, then the two ways of resolving a fault on an elided
 * page: a handler thread reading the userfaultfd (what libzio does) and
 * resolution in the faulting thread from a SIGBUS handler
 * (UFFD_FEATURE_SIGBUS).  Medians of ROUNDS runs, in microseconds.
 * usage: zio-uffd-cost [SIZE [ROUNDS]]   (root or vm.unprivileged_userfaultfd=1) */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define MAX_ROUNDS 10000

static size_t size = 512 * 1024;
static int rounds = 200;
static double samples[MAX_ROUNDS];
static char *src, *dst;
static char page_data[PAGE] __attribute__((aligned(PAGE)));

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(int n)
{
    qsort(samples, (size_t)n, sizeof(samples[0]), cmp_double);
    return samples[n / 2];
}

static void report(const char *what, double us)
{
    printf("%-44s %9.2f us\n", what, us);
}

static int open_uffd(uint64_t features)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    struct uffdio_api api = { .api = UFFD_API, .features = features };

    if (fd < 0 || ioctl(fd, UFFDIO_API, &api) < 0) {
        perror("zio-uffd-cost: userfaultfd");
        exit(1);
    }
    return fd;
}

static void must(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "zio-uffd-cost: %s: %s\n", what, strerror(errno));
        exit(1);
    }
}

static void do_register(int uffd, void *start, size_t len)
{
    struct uffdio_register reg = {
        .range = { .start = (uintptr_t)start, .len = len },
        .mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
    };

    must(ioctl(uffd, UFFDIO_REGISTER, &reg), "register");
}

static void do_unregister(int uffd, void *start, size_t len)
{
    struct uffdio_range range = { .start = (uintptr_t)start, .len = len };

    must(ioctl(uffd, UFFDIO_UNREGISTER, &range), "unregister");
}

static void do_protect(int uffd, void *start, size_t len, bool on)
{
    struct uffdio_writeprotect wp = {
        .range = { .start = (uintptr_t)start, .len = len },
        .mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
    };

    must(ioctl(uffd, UFFDIO_WRITEPROTECT, &wp), "writeprotect");
}

static int fill_page(int uffd, uintptr_t addr)
{
    struct uffdio_copy copy = {
        .dst = addr & ~(PAGE - 1), .src = (uintptr_t)page_data, .len = PAGE,
    };

    return ioctl(uffd, UFFDIO_COPY, &copy);
}

static void touch_all(char *buf)
{
    for (size_t off = 0; off < size; off += PAGE)
        buf[off] = 1;
}

/* The copy an elision replaces, between two buffers that stay cached. */
static void time_memcpy(void)
{
    for (int i = 0; i < rounds; i++) {
        double t = now_us();

        memcpy(dst, src, size);
        __asm__ volatile("" ::: "memory");
        samples[i] = now_us() - t;
    }
    report("memcpy (in cache)", median(rounds));
}

static void time_steps(void)
{
    int uffd = open_uffd(UFFD_FEATURE_PAGEFAULT_FLAG_WP);
    unsigned char resident[1024];

    for (int i = 0; i < rounds; i++) {
        double t = now_us();

        do_register(uffd, dst, size);
        samples[i] = now_us() - t;
        do_unregister(uffd, dst, size);
    }
    report("UFFDIO_REGISTER (missing+wp)", median(rounds));
    for (int i = 0; i < rounds; i++) {
        double t;

        do_register(uffd, dst, size);
        t = now_us();
        do_unregister(uffd, dst, size);
        samples[i] = now_us() - t;
    }
    report("UFFDIO_UNREGISTER", median(rounds));

    for (int i = 0; i < rounds; i++) {
        double t;

        touch_all(dst);
        t = now_us();
        must(madvise(dst, size, MADV_DONTNEED), "madvise");
        samples[i] = now_us() - t;
    }
    report("madvise(MADV_DONTNEED), populated", median(rounds));
    for (int i = 0; i < rounds; i++) {
        double t = now_us();

        must(madvise(dst, size, MADV_DONTNEED), "madvise");
        samples[i] = now_us() - t;
    }
    report("madvise(MADV_DONTNEED), already empty", median(rounds));

    touch_all(src);
    for (int i = 0; i < rounds; i++) {
        double t = now_us();

        must(mincore(src, size, resident), "mincore");
        samples[i] = now_us() - t;
    }
    report("mincore", median(rounds));

    do_register(uffd, src, size);
    for (int i = 0; i < rounds; i++) {
        double t = now_us();

        do_protect(uffd, src, size, true);
        samples[i] = now_us() - t;
        do_protect(uffd, src, size, false);
    }
    report("UFFDIO_WRITEPROTECT on", median(rounds));
    for (int i = 0; i < rounds; i++) {
        double t;

        do_protect(uffd, src, size, true);
        t = now_us();
        do_protect(uffd, src, size, false);
        samples[i] = now_us() - t;
    }
    report("UFFDIO_WRITEPROTECT off", median(rounds));
    do_unregister(uffd, src, size);

    do_register(uffd, dst, size);
    for (int i = 0; i < rounds; i++) {
        double t;

        must(madvise(dst, PAGE, MADV_DONTNEED), "madvise");
        t = now_us();
        must(fill_page(uffd, (uintptr_t)dst), "copy");
        samples[i] = now_us() - t;
    }
    report("UFFDIO_COPY one page", median(rounds));
    do_unregister(uffd, dst, size);
    for (int i = 0; i < rounds; i++) {
        struct uffdio_zeropage zero = { .range = { .start = (uintptr_t)dst, .len = PAGE } };
        double t = now_us();

        (void)ioctl(uffd, UFFDIO_ZEROPAGE, &zero);
        samples[i] = now_us() - t;
    }
    report("failing ioctl (ZEROPAGE, unregistered)", median(rounds));
    close(uffd);
}

/* Fault resolution.  Each round unmaps the buffer and reads one byte from
 * each page; the fault path fills it.  Reported per page. */
static int fault_uffd;
static volatile int stop_handler;

static void *handler_main(void *arg)
{
    struct pollfd pfd = { .fd = fault_uffd, .events = POLLIN };
    struct uffd_msg msg;

    (void)arg;
    while (!stop_handler) {
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        if (read(fault_uffd, &msg, sizeof(msg)) == sizeof(msg) &&
            msg.event == UFFD_EVENT_PAGEFAULT)
            (void)fill_page(fault_uffd, msg.arg.pagefault.address);
    }
    return NULL;
}

static void on_sigbus(int signo, siginfo_t *info, void *ctx)
{
    (void)signo;
    (void)ctx;
    if (fill_page(fault_uffd, (uintptr_t)info->si_addr) != 0 && errno != EEXIST)
        abort();
}

static double fault_rounds(void)
{
    volatile char sink = 0;

    for (int i = 0; i < rounds; i++) {
        double t;

        must(madvise(dst, size, MADV_DONTNEED), "madvise");
        t = now_us();
        for (size_t off = 0; off < size; off += PAGE)
            sink += dst[off];
        samples[i] = (now_us() - t) / (double)(size / PAGE);
    }
    (void)sink;
    return median(rounds);
}

static void time_faults(void)
{
    struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };
    pthread_t thread;

    report("first touch, no userfaultfd (per page)", fault_rounds());

    fault_uffd = open_uffd(0);
    do_register(fault_uffd, dst, size);
    stop_handler = 0;
    must(pthread_create(&thread, NULL, handler_main, NULL), "pthread_create");
    report("missing fault, handler thread (per page)", fault_rounds());
    stop_handler = 1;
    pthread_join(thread, NULL);
    close(fault_uffd);

    fault_uffd = open_uffd(UFFD_FEATURE_SIGBUS);
    do_register(fault_uffd, dst, size);
    sigemptyset(&sa.sa_mask);
    must(sigaction(SIGBUS, &sa, NULL), "sigaction");
    report("missing fault, SIGBUS in thread (per page)", fault_rounds());
    signal(SIGBUS, SIG_DFL);
    close(fault_uffd);

    /* What libzio does instead when it sees the access coming (read() into
     * an elided buffer, fringes): fill in the calling thread, no fault. */
    fault_uffd = open_uffd(0);
    do_register(fault_uffd, dst, size);
    for (int i = 0; i < rounds; i++) {
        double t;

        must(madvise(dst, size, MADV_DONTNEED), "madvise");
        t = now_us();
        for (size_t off = 0; off < size; off += PAGE)
            must(fill_page(fault_uffd, (uintptr_t)dst + off), "copy");
        samples[i] = (now_us() - t) / (double)(size / PAGE);
    }
    report("fill ahead with UFFDIO_COPY (per page)", median(rounds));
    close(fault_uffd);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        size = (strtoul(argv[1], NULL, 0) + PAGE - 1) & ~(PAGE - 1);
    if (argc > 2)
        rounds = atoi(argv[2]);
    if (size == 0 || size > 1024 * PAGE || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: %s [SIZE (<= 4 MB) [ROUNDS (<= %d)]]\n", argv[0], MAX_ROUNDS);
        return 2;
    }
    src = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (src == MAP_FAILED || dst == MAP_FAILED) {
        perror("zio-uffd-cost: mmap");
        return 1;
    }
    memset(src, 7, size);
    memset(dst, 1, size);
    memset(page_data, 3, sizeof(page_data));
    printf("size %zu bytes, %zu pages, median of %d rounds\n", size, size / PAGE, rounds);
    time_memcpy();
    time_steps();
    time_faults();
    return 0;
}
