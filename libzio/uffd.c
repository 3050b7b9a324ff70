/* The kernel side of libzio: userfaultfd.
 *
 * Elided destination pages are left unmapped in a range registered for
 * "missing" faults; originals are write-protected in a range registered for
 * write-protect faults.  One handler thread reads fault messages and asks the
 * engine to resolve them.
 *
 * Why a handler thread rather than resolving in the faulting thread
 * (UFFD_FEATURE_SIGBUS): in SIGBUS mode a fault taken by the kernel on the
 * program's behalf (a read(), write() or any syscall we do not interpose that
 * touches an elided page) fails with EFAULT instead of waiting, which would
 * change what the program sees; and SIGBUS would collide with the program's
 * own handlers.  A thread keeps every access correct; the engine resolves
 * the common cases (buffers about to be overwritten by read(), fringes) in
 * the calling thread before the kernel ever faults.  Measured with
 * bench/zio/uffd_cost.c (docs/zio.md): 8.5 us a fault through the thread,
 * 5.1 us through SIGBUS, 1.3 us a page filled ahead. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine.h"
#include "zio/page.h"

/* Kept far above the descriptors a program usually uses, so that code that
 * closes "its" low descriptors does not close ours. */
#define UFFD_FD_FLOOR 900

/* Whether UFFDIO_UNREGISTER also clears the write-protect bits of the
 * range (Linux 6.1 on).  Before that they outlive the registration and come
 * back to life when the range is registered again, so they must be cleared
 * first, at the price of a second walk of the range's page tables. */
static bool unregister_unprotects;

static int uffd_create(void)
{
    return (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
}

/* Bit 57 of a /proc/self/pagemap entry: the PTE is write-protected by
 * userfaultfd.  -1 when it cannot be read. */
static int page_write_protected(int pagemap, const void *page)
{
    uint64_t entry;
    off_t at = (off_t)((uintptr_t)page / ZIO_PAGE_SIZE * sizeof(entry));

    if (pread(pagemap, &entry, sizeof(entry), at) != (ssize_t)sizeof(entry))
        return -1;
    return (int)((entry >> 57) & 1);
}

/* Asks the kernel rather than its version: protects a scratch page,
 * unregisters it and reads the bit back.  Any doubt answers false, which
 * is always correct. */
static bool probe_unregister_unprotects(int uffd)
{
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    char *page = mmap(NULL, ZIO_PAGE_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bool clears = false;

    if (pagemap >= 0 && page != MAP_FAILED) {
        page[0] = 1;
        if (zio_uffd_register(uffd, (uintptr_t)page, ZIO_PAGE_SIZE)) {
            bool protected = zio_uffd_protect(uffd, (uintptr_t)page, ZIO_PAGE_SIZE, true) &&
                             page_write_protected(pagemap, page) == 1;
            /* Not zio_uffd_unregister(): that clears the bit itself until
             * this probe says the kernel does. */
            struct uffdio_range range = { .start = (uintptr_t)page, .len = ZIO_PAGE_SIZE };

            clears = ioctl(uffd, UFFDIO_UNREGISTER, &range) == 0 && protected &&
                     page_write_protected(pagemap, page) == 0;
        }
    }
    if (page != MAP_FAILED)
        munmap(page, ZIO_PAGE_SIZE);
    if (pagemap >= 0)
        close(pagemap);
    return clears;
}

int zio_uffd_open(void)
{
    struct uffdio_api api = { .api = UFFD_API, .features = 0 };
    uint64_t needed = UFFD_FEATURE_PAGEFAULT_FLAG_WP;
    int fd, high;

    fd = uffd_create();
    if (fd < 0)
        return -1;
    /* First handshake only asks what the kernel supports. */
    if (ioctl(fd, UFFDIO_API, &api) < 0 || (api.features & needed) != needed) {
        close(fd);
        return -1;
    }
    close(fd);

    fd = uffd_create();
    if (fd < 0)
        return -1;
    api.api = UFFD_API;
    api.features = needed;
    if (ioctl(fd, UFFDIO_API, &api) < 0 ||
        !(api.ioctls & (1ULL << _UFFDIO_REGISTER))) {
        close(fd);
        return -1;
    }
    high = fcntl(fd, F_DUPFD_CLOEXEC, UFFD_FD_FLOOR);
    if (high >= 0) {
        close(fd);
        fd = high;
    }
    unregister_unprotects = probe_unregister_unprotects(fd);
    return fd;
}

bool zio_uffd_register(int uffd, uintptr_t start, size_t len)
{
    struct uffdio_register reg = {
        .range = { .start = start, .len = len },
        .mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
    };

    return ioctl(uffd, UFFDIO_REGISTER, &reg) == 0;
}

void zio_uffd_unregister(int uffd, uintptr_t start, size_t len)
{
    struct uffdio_range range = { .start = start, .len = len };

    if (!unregister_unprotects)
        zio_uffd_protect(uffd, start, len, false);
    /* Failure leaves the range registered, which only costs a zero-fill
     * fault on the next first touch. */
    (void)ioctl(uffd, UFFDIO_UNREGISTER, &range);
}

static void wake(int uffd, uintptr_t page)
{
    struct uffdio_range range = { .start = page, .len = ZIO_PAGE_SIZE };

    (void)ioctl(uffd, UFFDIO_WAKE, &range);
}

int zio_uffd_copy(int uffd, uintptr_t dst, uintptr_t src, size_t len)
{
    size_t done = 0;
    bool one_page = false;
    int rc = 0;

    while (done < len) {
        size_t chunk = one_page ? ZIO_PAGE_SIZE : len - done;
        struct uffdio_copy copy = {
            .dst = dst + done, .src = src + done, .len = chunk, .mode = 0,
        };
        int err;

        if (ioctl(uffd, UFFDIO_COPY, &copy) == 0) {
            done += chunk;
            continue;
        }
        err = errno;
        if (copy.copy > 0) {
            done += (size_t)copy.copy;      /* stopped part way: go on from there */
            continue;
        }
        if (err == EAGAIN)
            continue;       /* the address space changed under us: retry */
        if (chunk > ZIO_PAGE_SIZE) {
            /* The kernel refuses a range that crosses from one mapping
             * into the next, before filling anything, and does not say
             * where: the rest goes page by page rather than retrying the
             * whole, which would fail again for every page before the
             * boundary. */
            one_page = true;
            continue;
        }
        /* The page is mapped already (EEXIST: someone filled it first) or
         * cannot be filled; either way a thread may wait on it. */
        wake(uffd, dst + done);
        if (err != EEXIST)
            rc = -err;
        done += ZIO_PAGE_SIZE;
    }
    return rc;
}

void zio_uffd_zeropage(int uffd, uintptr_t page, bool wake_waiters)
{
    struct uffdio_zeropage zero = {
        .range = { .start = page, .len = ZIO_PAGE_SIZE }, .mode = 0,
    };

    /* An unregistered or already-present page needs nothing, but a thread
     * may wait on it all the same: someone else filled the page, or its
     * mapping was unmapped or replaced after the thread faulted (glibc
     * shrinks a thread's heap with mmap(MAP_FIXED) of its own), and no
     * other ioctl on that range wakes anyone any more. */
    if (ioctl(uffd, UFFDIO_ZEROPAGE, &zero) < 0 && wake_waiters)
        wake(uffd, page);
}

static bool writeprotect(int uffd, uintptr_t start, size_t len, bool protect)
{
    struct uffdio_writeprotect wp = {
        .range = { .start = start, .len = len },
        .mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
    };

    while (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) < 0) {
        if (errno != EAGAIN)
            return false;
    }
    return true;
}

bool zio_uffd_protect(int uffd, uintptr_t start, size_t len, bool protect)
{
    bool all = true;

    if (writeprotect(uffd, start, len, protect))
        return true;
    /* The kernel stops at the first mapping in the range that is not
     * registered for write protection, and then wakes no one: a page past
     * it would keep its protection and a thread writing it would sleep
     * forever.  So the range goes again page by page; every page that can
     * be done is, and wakes its waiters.  A page that cannot be unprotected
     * is no longer registered (unmapped or replaced since a thread faulted
     * on it), and its waiters are woken by hand. */
    for (uintptr_t page = start; page < start + len; page += ZIO_PAGE_SIZE) {
        bool done = writeprotect(uffd, page, ZIO_PAGE_SIZE, protect);

        if (!done && !protect)
            wake(uffd, page);
        all &= done;
    }
    return all;
}

struct handler_args {
    int uffd;
    void (*on_fault)(uintptr_t addr, bool wp);
};

static struct handler_args handler_args;

static void *handler_main(void *arg)
{
    struct handler_args *args = arg;
    struct pollfd pfd = { .fd = args->uffd, .events = POLLIN };
    struct uffd_msg msgs[16];

    for (;;) {
        ssize_t n = read(args->uffd, msgs, sizeof(msgs));

        if (n < 0) {
            if (errno == EAGAIN)
                (void)poll(&pfd, 1, -1);
            else if (errno != EINTR)
                return NULL;
            continue;
        }
        for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
            if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
                continue;
            args->on_fault((uintptr_t)msgs[i].arg.pagefault.address,
                           msgs[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP);
        }
    }
}

bool zio_uffd_start_handler(int uffd, void (*on_fault)(uintptr_t addr, bool wp))
{
    sigset_t all, old;
    pthread_attr_t attr;
    pthread_t thread;
    int rc;

    handler_args.uffd = uffd;
    handler_args.on_fault = on_fault;
    /* The thread inherits this mask: program signals never land on it. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&thread, &attr, handler_main, &handler_args);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0)
        pthread_setname_np(thread, "zio-fault");
    return rc == 0;
}
