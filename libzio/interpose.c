/* The interposers: libzio's face to the program.
 *
 * Every symbol here replaces the libc (or allocator) one for a program run
 * with LD_PRELOAD=libzio.so.  Below the size threshold each is a pass-through
 * (for memcpy: one compare and a tail call); at or above it, the engine
 * decides.  The real functions are found with dlsym(RTLD_NEXT) in the
 * constructor; until then memcpy and memmove use a plain byte loop, because
 * the dynamic linker itself copies memory while resolving them. */

/* With 64-bit file offsets the headers rename mmap to mmap64; we define
 * both names ourselves, so we want them as they are. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine.h"
#include "zio/page.h"

#define EXPORT __attribute__((visibility("default")))
#define OUTPUT_IOV_MAX 256

/* volatile keeps the compiler from turning these loops into memcpy calls. */
static void *boot_memmove(void *dst, const void *src, size_t len)
{
    volatile unsigned char *d = dst;
    const volatile unsigned char *s = src;

    if (d < s) {
        for (size_t i = 0; i < len; i++)
            d[i] = s[i];
    } else {
        while (len-- > 0)
            d[len] = s[len];
    }
    return dst;
}

struct zio_real zio_real = {
    .memcpy = boot_memmove,
    .memmove = boot_memmove,
};

/* Until the constructor has run, no copy is large enough to look at. */
struct zio_policy zio_policy = { .threshold = SIZE_MAX };

static struct {
    void *(*memcpy_chk)(void *, const void *, size_t, size_t);
    void *(*memmove_chk)(void *, const void *, size_t, size_t);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*read_chk)(int, void *, size_t, size_t);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*recv_chk)(int, void *, size_t, size_t, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    int (*munmap)(void *, size_t);
    void *(*mremap)(void *, size_t, size_t, int, ...);
    void *(*shmat)(int, const void *, int);
    size_t (*xallocx)(void *, size_t, size_t, int);
} real;

static volatile int resolving;

static void *next_symbol(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

/* jemalloc's xallocx resizes a block only where it lies, never moving it.
 * It is only ours to call if the malloc we found is jemalloc's own. */
static void *same_allocator_symbol(const char *name)
{
    void *sym = next_symbol(name);
    Dl_info sym_info, malloc_info;

    if (!sym || !dladdr(sym, &sym_info) || !dladdr((void *)zio_real.malloc, &malloc_info))
        return NULL;
    return sym_info.dli_fbase == malloc_info.dli_fbase ? sym : NULL;
}

static void resolve_real(void)
{
    if (real.read || resolving)
        return;
    resolving = 1;
    zio_real.memcpy = next_symbol("memcpy");
    zio_real.memmove = next_symbol("memmove");
    zio_real.malloc = next_symbol("malloc");
    zio_real.posix_memalign = next_symbol("posix_memalign");
    zio_real.free = next_symbol("free");
    zio_real.realloc = next_symbol("realloc");
    zio_real.malloc_usable_size = next_symbol("malloc_usable_size");
    zio_real.writev = next_symbol("writev");
    zio_real.madvise = next_symbol("madvise");
    real.memcpy_chk = next_symbol("__memcpy_chk");
    real.memmove_chk = next_symbol("__memmove_chk");
    real.read_chk = next_symbol("__read_chk");
    real.recv = next_symbol("recv");
    real.recv_chk = next_symbol("__recv_chk");
    real.recvfrom = next_symbol("recvfrom");
    real.recvmsg = next_symbol("recvmsg");
    real.readv = next_symbol("readv");
    real.write = next_symbol("write");
    real.send = next_symbol("send");
    real.sendto = next_symbol("sendto");
    real.sendmsg = next_symbol("sendmsg");
    real.mmap = next_symbol("mmap");
    real.munmap = next_symbol("munmap");
    real.mremap = next_symbol("mremap");
    real.shmat = next_symbol("shmat");
    real.xallocx = same_allocator_symbol("xallocx");
    real.read = next_symbol("read");
    resolving = 0;
}

static void print_stats_on_signal(int signo)
{
    (void)signo;
    zio_stats_print(STDERR_FILENO);
}

static const char *lookup_env(const char *name)
{
    return getenv(name);
}

__attribute__((constructor)) static void zio_init(void)
{
    struct zio_policy policy;

    resolve_real();
    zio_policy_load(&policy, lookup_env);
    if (sysconf(_SC_PAGESIZE) != (long)ZIO_PAGE_SIZE || !zio_real.malloc_usable_size)
        policy.enabled = false;
    if (!policy.enabled)
        policy.threshold = SIZE_MAX;
    if (policy.enabled)
        pthread_atfork(zio_engine_fork_prepare, zio_engine_fork_parent, zio_engine_fork_child);
    if (policy.stats_signal) {
        struct sigaction sa = { .sa_handler = print_stats_on_signal, .sa_flags = SA_RESTART };
        sigemptyset(&sa.sa_mask);
        sigaction(policy.stats_signal, &sa, NULL);
    }
    zio_policy = policy;
}

__attribute__((destructor)) static void zio_fini(void)
{
    if (zio_policy.stats_at_exit)
        zio_stats_print(STDERR_FILENO);
}

static inline bool large(size_t len)
{
    return __builtin_expect(len >= zio_policy.threshold, 0);
}

/* ---- copies ---- */

/* Set while the allocator's realloc runs.  It moves a block with its own
 * memcpy, which comes through the PLT to ours, and then frees the old
 * block without calling free(): eliding that copy would leave the dying
 * block an original that nothing releases until someone writes it. */
static __thread bool in_allocator __attribute__((tls_model("initial-exec")));

static bool elide(void *dst, const void *src, size_t len)
{
    return !in_allocator && zio_engine_copy(dst, src, len);
}

static __attribute__((noinline)) void *copy_large(void *dst, const void *src, size_t len)
{
    if (elide(dst, src, len))
        return dst;
    return zio_real.memcpy(dst, src, len);
}

EXPORT void *memcpy(void *dst, const void *src, size_t len)
{
    if (!large(len))
        return zio_real.memcpy(dst, src, len);
    return copy_large(dst, src, len);
}

EXPORT void *memmove(void *dst, const void *src, size_t len)
{
    /* Overlapping moves are never elided (the engine refuses them). */
    if (!large(len))
        return zio_real.memmove(dst, src, len);
    if (elide(dst, src, len))
        return dst;
    return zio_real.memmove(dst, src, len);
}

EXPORT void *__memcpy_chk(void *dst, const void *src, size_t len, size_t dstlen)
{
    if (!large(len) || len > dstlen)
        return real.memcpy_chk(dst, src, len, dstlen);
    return copy_large(dst, src, len);
}

EXPORT void *__memmove_chk(void *dst, const void *src, size_t len, size_t dstlen)
{
    if (!large(len) || len > dstlen)
        return real.memmove_chk(dst, src, len, dstlen);
    if (elide(dst, src, len))
        return dst;
    return zio_real.memmove(dst, src, len);
}

/* ---- allocator ---- */

/* dlsym() may allocate while we look up the real malloc: those few blocks
 * come from here and are never freed. */
static char boot_arena[4096] __attribute__((aligned(16)));
static size_t boot_used;

static void *boot_alloc(size_t size)
{
    size_t need = (size + 15) & ~(size_t)15;
    void *block;

    if (need < size || need > sizeof(boot_arena) - boot_used)
        return NULL;
    block = boot_arena + boot_used;
    boot_used += need;
    return block;
}

static bool in_boot_arena(const void *ptr)
{
    return (const char *)ptr >= boot_arena && (const char *)ptr < boot_arena + sizeof(boot_arena);
}

/* With ZIO_ALIGN_ALLOC=1 a block big enough to be a copy's destination
 * starts on a page, so a copy of a whole block has no fringes to copy and
 * its pages map one to one onto the source's. */
EXPORT void *malloc(size_t size)
{
    void *block;
    int rc;

    if (__builtin_expect(!zio_real.malloc, 0)) {
        resolve_real();
        if (!zio_real.malloc)
            return boot_alloc(size);
    }
    if (!large(size) || !zio_policy.align_alloc || !zio_real.posix_memalign)
        return zio_real.malloc(size);
    rc = zio_real.posix_memalign(&block, ZIO_PAGE_SIZE, size);
    if (rc != 0) {
        errno = rc;
        return NULL;
    }
    return block;
}

static void forget_block(void *ptr, size_t usable)
{
    uintptr_t start = zio_page_up((uintptr_t)ptr);
    uintptr_t end = zio_page_down((uintptr_t)ptr + usable);

    zio_cold_forget(start);
    if (start < end)
        zio_engine_forget(start, end, ZIO_DISCARD);
}

EXPORT void free(void *ptr)
{
    if (in_boot_arena(ptr))
        return;
    if (__builtin_expect(!zio_real.free, 0)) {
        resolve_real();
        if (!zio_real.free)
            return;     /* freed by dlsym while we resolve it: leak it */
    }
    if (ptr && zio_policy.enabled) {
        size_t usable = zio_real.malloc_usable_size(ptr);

        if (usable >= ZIO_PAGE_SIZE)
            forget_block(ptr, usable);
    }
    zio_real.free(ptr);
}

EXPORT void *realloc(void *ptr, size_t size)
{
    size_t usable;
    void *moved;

    resolve_real();
    if (in_boot_arena(ptr)) {
        size_t held = (size_t)(boot_arena + boot_used - (char *)ptr);

        moved = malloc(size);
        if (moved)
            zio_real.memcpy(moved, ptr, size < held ? size : held);
        return moved;
    }
    if (!ptr || !zio_policy.enabled)
        return zio_real.realloc(ptr, size);
    usable = zio_real.malloc_usable_size(ptr);
    if (usable < ZIO_PAGE_SIZE || size == 0 || !zio_engine_realloc_needed(ptr, usable)) {
        in_allocator = true;
        moved = zio_real.realloc(ptr, size);
        in_allocator = false;
        return moved;
    }
    /* Growing where it lies leaves every tracked page as it is; the new
     * tail is free memory the allocator hands over, which we track no
     * more than any other fresh allocation. */
    if (size > usable && real.xallocx && real.xallocx(ptr, size, 0, 0) >= size) {
        zio_stat_add(reallocs_in_place, 1);
        return ptr;
    }
    /* The allocator would move the pages behind our back (or copy by
     * touching every elided page): move the buffer ourselves so that its
     * elided pages move by elision too. */
    moved = malloc(size);
    if (!moved)
        return NULL;
    memcpy(moved, ptr, usable < size ? usable : size);
    free(ptr);
    return moved;
}

/* ---- input ---- */

static void before_input(void *buf, size_t len)
{
    if (len >= ZIO_PAGE_SIZE && zio_policy.enabled)
        zio_engine_prepare_overwrite(buf, len);
}

static ssize_t after_input(void *buf, ssize_t got)
{
    if (got > 0 && zio_policy.enabled)
        zio_input_record(buf, (size_t)got);
    return got;
}

static void before_input_iov(const struct iovec *iov, int iovcnt)
{
    for (int i = 0; i < iovcnt; i++)
        before_input(iov[i].iov_base, iov[i].iov_len);
}

static ssize_t after_input_iov(const struct iovec *iov, int iovcnt, ssize_t got)
{
    ssize_t left = got;

    for (int i = 0; i < iovcnt && left > 0; i++) {
        size_t piece = iov[i].iov_len < (size_t)left ? iov[i].iov_len : (size_t)left;

        after_input(iov[i].iov_base, (ssize_t)piece);
        left -= (ssize_t)piece;
    }
    return got;
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    resolve_real();
    before_input(buf, len);
    return after_input(buf, real.read(fd, buf, len));
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    resolve_real();
    before_input(buf, len <= buflen ? len : 0);
    return after_input(buf, real.read_chk(fd, buf, len, buflen));
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    resolve_real();
    before_input(buf, len);
    return after_input(buf, real.recv(fd, buf, len, flags));
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    resolve_real();
    before_input(buf, len <= buflen ? len : 0);
    return after_input(buf, real.recv_chk(fd, buf, len, buflen, flags));
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
                        struct sockaddr *addr, socklen_t *addrlen)
{
    resolve_real();
    before_input(buf, len);
    return after_input(buf, real.recvfrom(fd, buf, len, flags, addr, addrlen));
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    resolve_real();
    before_input_iov(msg->msg_iov, (int)msg->msg_iovlen);
    return after_input_iov(msg->msg_iov, (int)msg->msg_iovlen, real.recvmsg(fd, msg, flags));
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    resolve_real();
    before_input_iov(iov, iovcnt);
    return after_input_iov(iov, iovcnt, real.readv(fd, iov, iovcnt));
}

/* ---- output ---- */

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
    size_t total = 0;

    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    return total;
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    struct iovec in = { (void *)buf, len }, out[OUTPUT_IOV_MAX];
    ssize_t rc;
    int count;

    resolve_real();
    if (len < ZIO_PAGE_SIZE || !zio_policy.enabled ||
        (count = zio_engine_output_begin(&in, 1, out, OUTPUT_IOV_MAX)) < 0)
        return real.write(fd, buf, len);
    rc = zio_real.writev(fd, out, count);
    zio_engine_output_end();
    return rc;
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    struct iovec out[OUTPUT_IOV_MAX];
    ssize_t rc;
    int count;

    resolve_real();
    if (!zio_policy.enabled || iovcnt <= 0 || iov_total(iov, iovcnt) < ZIO_PAGE_SIZE ||
        (count = zio_engine_output_begin(iov, iovcnt, out, OUTPUT_IOV_MAX)) < 0)
        return zio_real.writev(fd, iov, iovcnt);
    rc = zio_real.writev(fd, out, count);
    zio_engine_output_end();
    return rc;
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct iovec out[OUTPUT_IOV_MAX];
    struct msghdr copy;
    ssize_t rc;
    int count;

    resolve_real();
    if (!zio_policy.enabled || msg->msg_iovlen == 0 || msg->msg_iovlen > INT_MAX ||
        iov_total(msg->msg_iov, (int)msg->msg_iovlen) < ZIO_PAGE_SIZE ||
        (count = zio_engine_output_begin(msg->msg_iov, (int)msg->msg_iovlen,
                                         out, OUTPUT_IOV_MAX)) < 0)
        return real.sendmsg(fd, msg, flags);
    copy = *msg;
    copy.msg_iov = out;
    copy.msg_iovlen = (size_t)count;
    rc = real.sendmsg(fd, &copy, flags);
    zio_engine_output_end();
    return rc;
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
                      const struct sockaddr *addr, socklen_t addrlen)
{
    struct iovec in = { (void *)buf, len }, out[OUTPUT_IOV_MAX];
    struct msghdr msg = { .msg_name = (void *)addr, .msg_namelen = addrlen };
    ssize_t rc;
    int count;

    resolve_real();
    if (len < ZIO_PAGE_SIZE || !zio_policy.enabled ||
        (count = zio_engine_output_begin(&in, 1, out, OUTPUT_IOV_MAX)) < 0)
        return real.sendto(fd, buf, len, flags, addr, addrlen);
    msg.msg_iov = out;
    msg.msg_iovlen = (size_t)count;
    rc = real.sendmsg(fd, &msg, flags);
    zio_engine_output_end();
    return rc;
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    resolve_real();
    if (len < ZIO_PAGE_SIZE || !zio_policy.enabled)
        return real.send(fd, buf, len, flags);
    return sendto(fd, buf, len, flags, NULL, 0);
}

/* ---- address space ---- */

static bool private_anonymous(int flags)
{
    return (flags & MAP_TYPE) == MAP_PRIVATE && (flags & MAP_ANONYMOUS) &&
           !(flags & MAP_HUGETLB);
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    void *mapped;

    resolve_real();
    if (zio_policy.enabled && (flags & MAP_FIXED))
        zio_engine_forget(zio_page_down((uintptr_t)addr),
                          zio_page_up((uintptr_t)addr + len), ZIO_UNMAP);
    mapped = real.mmap(addr, len, prot, flags, fd, offset);
    /* Only private anonymous memory can be unmapped and refilled at will;
     * anything shared or file-backed is never elided into or from. */
    if (mapped != MAP_FAILED && zio_policy.enabled && !private_anonymous(flags))
        zio_engine_note_foreign((uintptr_t)mapped, zio_page_up(len));
    return mapped;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    return mmap(addr, len, prot, flags, fd, offset);
}

EXPORT int munmap(void *addr, size_t len)
{
    resolve_real();
    if (zio_policy.enabled) {
        zio_engine_forget((uintptr_t)addr, zio_page_up((uintptr_t)addr + len), ZIO_UNMAP);
        zio_engine_drop_foreign((uintptr_t)addr, zio_page_up(len));
    }
    return real.munmap(addr, len);
}

EXPORT int madvise(void *addr, size_t len, int advice)
{
    resolve_real();
    if (zio_policy.enabled && (advice == MADV_DONTNEED || advice == MADV_FREE ||
                               advice == MADV_REMOVE || advice == MADV_DONTNEED_LOCKED))
        zio_engine_forget((uintptr_t)addr, zio_page_up((uintptr_t)addr + len), ZIO_DISCARD);
    return zio_real.madvise(addr, len, advice);
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *target = NULL;
    va_list ap;

    resolve_real();
    if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
        va_start(ap, flags);
        target = va_arg(ap, void *);
        va_end(ap);
    }
    if (zio_policy.enabled) {
        /* Moved pages lose their userfaultfd registration: fill them. */
        zio_engine_forget((uintptr_t)old, zio_page_up((uintptr_t)old + old_len), ZIO_KEEP);
        if (flags & MREMAP_FIXED)
            zio_engine_forget((uintptr_t)target, zio_page_up((uintptr_t)target + new_len),
                              ZIO_UNMAP);
    }
    return real.mremap(old, old_len, new_len, flags, target);
}

EXPORT void *shmat(int shmid, const void *addr, int flags)
{
    struct shmid_ds ds;
    void *attached;

    resolve_real();
    attached = real.shmat(shmid, addr, flags);
    if (attached != (void *)-1 && zio_policy.enabled && shmctl(shmid, IPC_STAT, &ds) == 0)
        zio_engine_note_foreign((uintptr_t)attached, zio_page_up(ds.shm_segsz));
    return attached;
}
