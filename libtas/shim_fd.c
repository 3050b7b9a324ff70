/* shim_fd.c - the interposed descriptor calls: close, dup and friends,
 * fcntl and ioctl.
 *
 * A TAS descriptor is a kernel descriptor (our reservation) plus an entry
 * in fdtab, so each call does the kernel's part on the reservation and
 * mirrors it in the table under the lock: dup'd numbers share the socket,
 * a number that is closed or overwritten by dup2 drops its reference.
 * The table entry goes before the kernel descriptor, so a number the
 * kernel hands out again is never still taken to be ours.  libtas's own
 * descriptors (FILE_INTERNAL) are not the program's: closing one fails with
 * EBADF, dup2 onto one with EBUSY, and close_range steps around them.
 */
/* The build sets _FILE_OFFSET_BITS=64, which makes the headers rename
 * fcntl and sendfile to their 64-bit twins; here we define both names. */
#undef _FILE_OFFSET_BITS
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/sockios.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

/* newfd now refers to what f is (NULL: to nothing of ours). */
static void fd_alias(int newfd, struct file *f)
{
    bool ok;

    if (f != NULL && f->kind == FILE_INTERNAL)
        f = NULL;
    struct file *prev = fdtab_swap(newfd, f, &ok);

    if (ok && f != NULL)
        f->refs++;
    if (prev != NULL)
        file_put(prev);
}

static bool fd_internal(int fd)
{
    struct file *f = fdtab_get(fd);
    return f != NULL && f->kind == FILE_INTERNAL;
}

int close(int fd)
{
    libc_resolve();
    if (fdtab_get(fd) == NULL)
        return libc.close(fd);
    if (fd_internal(fd)) {
        errno = EBADF;
        return -1;
    }
    shim_lock();
    fd_alias(fd, NULL);
    int r = libc.close(fd);
    int saved = errno;
    shim_unlock();
    errno = saved;
    return r;
}

/* Runs dup_call (which returns the new descriptor or -1) with the lock
 * held when fd or newfd (if >= 0) is ours, and mirrors the result. */
static int dup_common(int fd, int newfd, int (*dup_call)(int, int, int),
                      int arg)
{
    libc_resolve();
    if (fdtab_get(fd) == NULL && (newfd < 0 || fdtab_get(newfd) == NULL))
        return dup_call(fd, newfd, arg);
    if (fd_internal(newfd)) {
        errno = EBUSY;
        return -1;
    }
    shim_lock();
    struct file *f = fdtab_get(fd);
    int r = dup_call(fd, newfd, arg);
    int saved = errno;
    if (r >= 0 && r != fd)
        fd_alias(r, f);
    shim_unlock();
    errno = saved;
    return r;
}

static int call_dup(int fd, int newfd, int flags)
{
    (void)newfd;
    (void)flags;
    return libc.dup(fd);
}

static int call_dup2(int fd, int newfd, int flags)
{
    (void)flags;
    return libc.dup2(fd, newfd);
}

static int call_dup3(int fd, int newfd, int flags)
{
    return libc.dup3(fd, newfd, flags);
}

static int call_dupfd(int fd, int newfd, int minfd)
{
    (void)newfd;
    return libc.fcntl(fd, F_DUPFD, minfd);
}

static int call_dupfd_cloexec(int fd, int newfd, int minfd)
{
    (void)newfd;
    return libc.fcntl(fd, F_DUPFD_CLOEXEC, minfd);
}

int dup(int fd)
{
    return dup_common(fd, -1, call_dup, 0);
}

int dup2(int fd, int newfd)
{
    return dup_common(fd, newfd, call_dup2, 0);
}

int dup3(int fd, int newfd, int flags)
{
    return dup_common(fd, newfd, call_dup3, flags);
}

static int fcntl_common(int fd, int cmd, void *arg)
{
    if (cmd == F_DUPFD)
        return dup_common(fd, -1, call_dupfd, (int)(intptr_t)arg);
    if (cmd == F_DUPFD_CLOEXEC)
        return dup_common(fd, -1, call_dupfd_cloexec, (int)(intptr_t)arg);

    struct sock *s = sock_enter(fd);
    if (s == NULL)
        return libc.fcntl(fd, cmd, arg);
    switch (cmd) {
    case F_GETFL:
        return (int)sock_leave(s, O_RDWR | (s->nonblock ? O_NONBLOCK : 0));
    case F_SETFL:
        s->nonblock = ((int)(intptr_t)arg & O_NONBLOCK) != 0;
        return (int)sock_leave(s, 0);
    default: {
        /* Descriptor flags, owner and the like live on the reservation. */
        int r = libc.fcntl(fd, cmd, arg);
        return (int)sock_leave(s, r < 0 ? -errno : r);
    }
    }
}

int fcntl(int fd, int cmd, ...)
{
    va_list ap;

    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_common(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
    va_list ap;

    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_common(fd, cmd, arg);
}

int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;

    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);

    struct sock *s = sock_enter(fd);
    if (s == NULL)
        return libc.ioctl(fd, req, arg);
    int *iarg = arg;
    /* Counts must include what the service has queued for us. */
    shim_drain();
    switch (req) {
    case FIONREAD:
        *iarg = sock_rx_bytes(s);
        return (int)sock_leave(s, 0);
    case SIOCOUTQ:
        *iarg = sock_tx_bytes(s);
        return (int)sock_leave(s, 0);
    case FIONBIO:
        s->nonblock = *iarg != 0;
        return (int)sock_leave(s, 0);
    case FIOCLEX:
    case FIONCLEX: {
        int r = libc.ioctl(fd, req, arg);
        return (int)sock_leave(s, r < 0 ? -errno : r);
    }
    default:
        return (int)sock_leave(s, -ENOTTY);
    }
}

void fd_forget_range(unsigned first, unsigned last)
{
    for (int fd = fdtab_next((int)(first > INT32_MAX ? INT32_MAX : first));
         fd >= 0 && (unsigned)fd <= last; fd = fdtab_next(fd + 1))
        if (!fd_internal(fd))
            fd_alias(fd, NULL);
}

static int sys_close_range(unsigned first, unsigned last, int flags)
{
    return libc.close_range ? libc.close_range(first, last, flags)
                            : (int)syscall(SYS_close_range, first, last, flags);
}

/* close_range over [first, last] minus libtas's own descriptors. */
static int close_range_around_internal(unsigned first, unsigned last, int flags)
{
    unsigned from = first;

    for (int fd = fdtab_next((int)(first > INT32_MAX ? INT32_MAX : first));
         fd >= 0 && (unsigned)fd <= last; fd = fdtab_next(fd + 1)) {
        if (!fd_internal(fd))
            continue;
        if ((unsigned)fd > from && sys_close_range(from, (unsigned)fd - 1, flags) < 0)
            return -1;
        from = (unsigned)fd + 1;
    }
    if (from > last)
        return 0;
    return sys_close_range(from, last, flags);
}

int close_range(unsigned first, unsigned last, int flags)
{
    libc_resolve();
    if (flags & CLOSE_RANGE_CLOEXEC)
        return sys_close_range(first, last, flags);
    shim_lock();
    int r = close_range_around_internal(first, last, flags);
    int saved = errno;
    if (r == 0)
        fd_forget_range(first, last);
    shim_unlock();
    errno = saved;
    return r;
}

void closefrom(int lowfd)
{
    close_range(lowfd < 0 ? 0 : (unsigned)lowfd, UINT32_MAX, 0);
}
