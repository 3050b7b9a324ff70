/* poll.c - poll, ppoll, select and pselect over TAS and kernel
 * descriptors together.
 *
 * Calls without a TAS socket go straight to the kernel.  Otherwise TAS
 * sockets are answered from their state, the kernel descriptors by the
 * kernel (a copy of the array with the TAS entries' fd set to -1, which
 * poll ignores), and a call that has to wait sleeps in the kernel's poll
 * with our context's eventfd appended.  select is rewritten into poll.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define POLL_STACK_FDS 64

static bool poll_has_tas(const struct pollfd *fds, nfds_t n)
{
    for (nfds_t i = 0; i < n; i++)
        if (fd_is_sock(fds[i].fd))
            return true;
    return false;
}

/* Fill in the TAS entries (and hide them from the kernel in kfds);
 * returns how many are ready. */
static int poll_tas_part(struct pollfd *fds, struct pollfd *kfds, nfds_t n)
{
    int ready = 0;

    for (nfds_t i = 0; i < n; i++) {
        struct sock *s = sock_get(fds[i].fd);

        kfds[i] = fds[i];
        kfds[i].revents = 0;
        if (s == NULL)
            continue;
        kfds[i].fd = -1;
        fds[i].revents = (short)(sock_poll_mask(s) &
                                 ((uint32_t)(uint16_t)fds[i].events |
                                  POLLERR | POLLHUP));
        if (fds[i].revents)
            ready++;
        file_put(&s->file);
    }
    return ready;
}

static int poll_kernel_part(struct pollfd *fds, struct pollfd *kfds, nfds_t n,
                            int ready)
{
    if (libc.poll(kfds, n, 0) < 0)
        return -errno;
    for (nfds_t i = 0; i < n; i++) {
        if (kfds[i].fd < 0 && fds[i].fd >= 0)
            continue;
        fds[i].revents = kfds[i].revents;
        if (fds[i].revents)
            ready++;
    }
    return ready;
}

static int poll_mixed(struct pollfd *fds, nfds_t n, struct pollfd *kfds,
                      const struct timespec *deadline, const sigset_t *sigmask)
{
    bool kernel_woke = false;

    for (;;) {
        shim_lock();
        shim_drain();
        int ready = poll_tas_part(fds, kfds, n);
        if (ready > 0 || kernel_woke || deadline_ms(deadline) == 0) {
            shim_unlock();
            return poll_kernel_part(fds, kfds, n, ready);
        }

        struct waiter w;
        if (!shim_sleep_prepare(&w, deadline)) {
            shim_unlock();
            continue;
        }
        struct timespec rel, *relp = NULL;
        int ms = deadline_ms(deadline);
        if (ms >= 0) {
            rel.tv_sec = ms / 1000;
            rel.tv_nsec = (long)(ms % 1000) * 1000000;
            relp = &rel;
        }
        kfds[n].fd = shim_context_fd();
        kfds[n].events = POLLIN;
        int r = libc.ppoll(kfds, n + 1, relp, sigmask);
        int saved = errno;
        shim_sleep_finish(&w);
        shim_unlock();
        if (r < 0)
            return -saved;
        kernel_woke = r > (kfds[n].revents != 0);
    }
}

static int poll_common(struct pollfd *fds, nfds_t n,
                       const struct timespec *deadline, const sigset_t *sigmask)
{
    struct pollfd stack[POLL_STACK_FDS + 1];
    struct pollfd *kfds = stack;

    if (n >= POLL_STACK_FDS) {
        kfds = calloc(n + 1, sizeof(*kfds));
        if (kfds == NULL)
            return -ENOMEM;
    }
    int r = poll_mixed(fds, n, kfds, deadline, sigmask);
    if (kfds != stack)
        free(kfds);
    return r;
}

static int ms_from_timespec(const struct timespec *ts)
{
    if (ts == NULL)
        return -1;
    long long ms = (long long)ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static int set_errno(int r)
{
    if (r < 0) {
        errno = -r;
        return -1;
    }
    return r;
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    struct timespec ts;

    libc_resolve();
    if (!poll_has_tas(fds, n))
        return libc.poll(fds, n, timeout);
    return set_errno(poll_common(fds, n, deadline_after_ms(&ts, timeout), NULL));
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
          const sigset_t *sigmask)
{
    struct timespec ts;

    libc_resolve();
    if (!poll_has_tas(fds, n))
        return libc.ppoll(fds, n, timeout, sigmask);
    return set_errno(poll_common(fds, n,
                                 deadline_after_ms(&ts, ms_from_timespec(timeout)),
                                 sigmask));
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
    if (fdslen / sizeof(*fds) < n)
        __chk_fail();
    return poll(fds, n, timeout);
}

int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
                const sigset_t *sigmask, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
                const sigset_t *sigmask, size_t fdslen)
{
    if (fdslen / sizeof(*fds) < n)
        __chk_fail();
    return ppoll(fds, n, timeout, sigmask);
}

static bool select_has_tas(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
    for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++) {
        bool in = (r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) ||
                  (e && FD_ISSET(fd, e));
        if (in && fd_is_sock(fd))
            return true;
    }
    return false;
}

static int select_common(int nfds, fd_set *r, fd_set *w, fd_set *e,
                         const struct timespec *deadline, const sigset_t *sigmask)
{
    struct pollfd pfds[FD_SETSIZE];
    nfds_t n = 0;

    if (nfds < 0 || nfds > FD_SETSIZE)
        return -EINVAL;
    for (int fd = 0; fd < nfds; fd++) {
        short ev = 0;
        if (r && FD_ISSET(fd, r))
            ev |= POLLIN;
        if (w && FD_ISSET(fd, w))
            ev |= POLLOUT;
        if (e && FD_ISSET(fd, e))
            ev |= POLLPRI;
        if (ev) {
            pfds[n].fd = fd;
            pfds[n].events = ev;
            pfds[n].revents = 0;
            n++;
        }
    }
    int ret = poll_common(pfds, n, deadline, sigmask);
    if (ret < 0)
        return ret;

    int count = 0;
    for (nfds_t i = 0; i < n; i++) {
        int fd = pfds[i].fd;
        short rev = pfds[i].revents;
        if (rev & POLLNVAL)
            return -EBADF;
        bool rd = r && FD_ISSET(fd, r) && (rev & (POLLIN | POLLHUP | POLLERR));
        bool wr = w && FD_ISSET(fd, w) && (rev & (POLLOUT | POLLERR));
        bool ex = e && FD_ISSET(fd, e) && (rev & POLLPRI);
        if (r && !rd) FD_CLR(fd, r);
        if (w && !wr) FD_CLR(fd, w);
        if (e && !ex) FD_CLR(fd, e);
        count += rd + wr + ex;
    }
    return count;
}

int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *timeout)
{
    struct timespec ts;
    int ms = -1;

    libc_resolve();
    if (!select_has_tas(nfds, r, w, e))
        return libc.select(nfds, r, w, e, timeout);
    if (timeout != NULL) {
        long long t = (long long)timeout->tv_sec * 1000 + (timeout->tv_usec + 999) / 1000;
        ms = t > INT32_MAX ? INT32_MAX : (int)t;
    }
    const struct timespec *deadline = deadline_after_ms(&ts, ms);
    int ret = select_common(nfds, r, w, e, deadline, NULL);
    if (timeout != NULL) {
        /* Linux reports the time left. */
        int left = deadline_ms(deadline);
        timeout->tv_sec = left / 1000;
        timeout->tv_usec = (left % 1000) * 1000;
    }
    return set_errno(ret);
}

int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e,
            const struct timespec *timeout, const sigset_t *sigmask)
{
    struct timespec ts;

    libc_resolve();
    if (!select_has_tas(nfds, r, w, e))
        return libc.pselect(nfds, r, w, e, timeout, sigmask);
    return set_errno(select_common(nfds, r, w, e,
                                   deadline_after_ms(&ts, ms_from_timespec(timeout)),
                                   sigmask));
}
