/* epoll.c - epoll sets that watch TAS sockets.
 *
 * The application's epoll descriptor stays a real kernel epoll set and
 * keeps serving every kernel descriptor in it; a set with no TAS socket in
 * it is left entirely to the kernel.  When a TAS socket is added, the set
 * gets a struct epoll_file beside it: the TAS registrations, a ready list
 * that socket events append to (as the kernel's callbacks do), and a
 * private kernel epoll set holding the application's set and our context's
 * eventfd, which is what a waiting epoll_wait sleeps on.
 *
 * epoll_wait asks the kernel set only when it may hold something: the set
 * counts the kernel descriptors registered in it (an upper bound, since the
 * kernel drops a closed file without telling us), and a wait that slept
 * and was woken by the application's set looks at it too.  A set of TAS
 * sockets alone then waits without a system call (two per wait before,
 * about a tenth of a same-host round trip).
 *
 * Registrations are keyed by (descriptor number, socket) like the kernel's
 * (fd, file), and stay while any descriptor of the socket is open.  Each is
 * found through its socket's short list of watchers and sits on its set's
 * doubly linked list, so epoll_ctl and close cost the same with 16 or
 * 16,000 sockets in a set.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "shim.h"

struct epoll_file;

struct epitem {
    struct epoll_file *ep;
    struct sock *sock;
    int fd;
    uint32_t events;
    epoll_data_t data;
    bool disabled;                  /* EPOLLONESHOT fired */
    bool on_ready;
    struct epitem *ready_prev, *ready_next;
    struct epitem *prev_in_ep, *next_in_ep;
    struct epitem *next_in_sock;
};

struct epoll_file {
    struct file file;
    unsigned epoch;
    int waitfd;
    int kernel_fds;                 /* at least as many as the kernel set has;
                                       KERNEL_FDS_UNKNOWN: always look */
    struct epitem *items;
    struct epitem ready;            /* list head */
};

#define EPOLL_ALWAYS (EPOLLERR | EPOLLHUP)
#define KERNEL_FDS_UNKNOWN (-1)

/* What woke a sleeper in the private set. */
enum { WAKE_APP_SET, WAKE_CONTEXT };

static void ready_add(struct epitem *it)
{
    struct epitem *head = &it->ep->ready;

    if (it->on_ready)
        return;
    it->ready_prev = head->ready_prev;
    it->ready_next = head;
    head->ready_prev->ready_next = it;
    head->ready_prev = it;
    it->on_ready = true;
}

static void ready_del(struct epitem *it)
{
    if (!it->on_ready)
        return;
    it->ready_prev->ready_next = it->ready_next;
    it->ready_next->ready_prev = it->ready_prev;
    it->on_ready = false;
}

static void item_check(struct epitem *it)
{
    if (!it->disabled &&
        (sock_poll_mask(it->sock) & (it->events | EPOLL_ALWAYS)))
        ready_add(it);
}

void epoll_sock_changed(struct sock *s, uint32_t key)
{
    for (struct epitem *it = s->watchers; it != NULL; it = it->next_in_sock)
        if (!it->disabled && (key & (it->events | EPOLL_ALWAYS)))
            ready_add(it);
}

static void item_unlink_sock(struct epitem *it)
{
    struct epitem **pp = &it->sock->watchers;

    while (*pp != it)
        pp = &(*pp)->next_in_sock;
    *pp = it->next_in_sock;
}

static void item_link_ep(struct epitem *it)
{
    struct epoll_file *ep = it->ep;

    it->prev_in_ep = NULL;
    it->next_in_ep = ep->items;
    if (ep->items != NULL)
        ep->items->prev_in_ep = it;
    ep->items = it;
}

static void item_unlink_ep(struct epitem *it)
{
    if (it->prev_in_ep != NULL)
        it->prev_in_ep->next_in_ep = it->next_in_ep;
    else
        it->ep->items = it->next_in_ep;
    if (it->next_in_ep != NULL)
        it->next_in_ep->prev_in_ep = it->prev_in_ep;
}

void epoll_sock_gone(struct sock *s)
{
    while (s->watchers != NULL) {
        struct epitem *it = s->watchers;
        s->watchers = it->next_in_sock;
        ready_del(it);
        item_unlink_ep(it);
        free(it);
    }
}

void epoll_release(struct file *f)
{
    struct epoll_file *ep = (struct epoll_file *)f;

    while (ep->items != NULL) {
        struct epitem *it = ep->items;
        ep->items = it->next_in_ep;
        if (ep->epoch == shim.epoch)
            item_unlink_sock(it);
        free(it);
    }
    fdtab_close_internal(ep->waitfd);
    free(ep);
}

/* How many descriptors the kernel set epfd holds, from its fdinfo (one
 * "tfd:" line each); KERNEL_FDS_UNKNOWN where /proc cannot tell. */
static int kernel_set_size(int epfd)
{
    char path[64], line[256];
    int n = 0;

    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", epfd);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return KERNEL_FDS_UNKNOWN;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "tfd:", 4) == 0)
            n++;
    fclose(f);
    return n;
}

/* The epoll_file of epfd, created on the first TAS registration. */
static struct epoll_file *epoll_file_of(int epfd, int *err)
{
    struct file *f = fdtab_get(epfd);
    bool ok;

    if (f != NULL) {
        if (f->kind != FILE_EPOLL || ((struct epoll_file *)f)->epoch != shim.epoch) {
            *err = -EINVAL;
            return NULL;
        }
        return (struct epoll_file *)f;
    }

    struct epoll_file *ep = calloc(1, sizeof(*ep));
    if (ep == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    ep->file.kind = FILE_EPOLL;
    ep->file.refs = 1;
    ep->epoch = shim.epoch;
    ep->kernel_fds = kernel_set_size(epfd);
    ep->ready.ready_next = ep->ready.ready_prev = &ep->ready;
    ep->waitfd = libc.epoll_create1(EPOLL_CLOEXEC);
    if (ep->waitfd >= 0)
        ep->waitfd = fdtab_hide(ep->waitfd);
    struct epoll_event app = { .events = EPOLLIN, .data.u32 = WAKE_APP_SET };
    struct epoll_event ctx = { .events = EPOLLIN, .data.u32 = WAKE_CONTEXT };
    /* Adding epfd fails unless it is an epoll set, as epoll_ctl must. */
    if (ep->waitfd < 0 ||
        libc.epoll_ctl(ep->waitfd, EPOLL_CTL_ADD, epfd, &app) < 0 ||
        libc.epoll_ctl(ep->waitfd, EPOLL_CTL_ADD, shim_context_fd(), &ctx) < 0) {
        *err = -errno;
        fdtab_close_internal(ep->waitfd);
        free(ep);
        return NULL;
    }
    /* A kernel epoll set nests only in another epoll set; anything else
     * was not a valid epfd. */
    if (libc.epoll_ctl(epfd, EPOLL_CTL_DEL, ep->waitfd, NULL) == 0 ||
        errno != ENOENT) {
        *err = -EINVAL;
        epoll_release(&ep->file);
        return NULL;
    }
    fdtab_swap(epfd, &ep->file, &ok);
    if (!ok) {
        *err = -ENOMEM;
        epoll_release(&ep->file);
        return NULL;
    }
    return ep;
}

static struct epitem *epoll_find(struct epoll_file *ep, int fd, struct sock *s)
{
    for (struct epitem *it = s->watchers; it != NULL; it = it->next_in_sock)
        if (it->ep == ep && it->fd == fd)
            return it;
    return NULL;
}

static int epoll_ctl_sock(int epfd, int op, int fd, struct sock *s,
                          const struct epoll_event *ev)
{
    int err = 0;
    struct epoll_file *ep = epoll_file_of(epfd, &err);

    if (ep == NULL)
        return err;
    struct epitem *it = epoll_find(ep, fd, s);
    if (op != EPOLL_CTL_DEL && ev == NULL)
        return -EFAULT;
    switch (op) {
    case EPOLL_CTL_ADD:
        if (it != NULL)
            return -EEXIST;
        it = calloc(1, sizeof(*it));
        if (it == NULL)
            return -ENOMEM;
        it->ep = ep;
        it->sock = s;
        it->fd = fd;
        item_link_ep(it);
        it->next_in_sock = s->watchers;
        s->watchers = it;
        break;
    case EPOLL_CTL_MOD:
        if (it == NULL)
            return -ENOENT;
        break;
    case EPOLL_CTL_DEL:
        if (it == NULL)
            return -ENOENT;
        ready_del(it);
        item_unlink_ep(it);
        item_unlink_sock(it);
        free(it);
        return 0;
    default:
        return -EINVAL;
    }
    it->events = ev->events & ~EPOLLEXCLUSIVE;
    it->data = ev->data;
    it->disabled = false;
    ready_del(it);
    item_check(it);
    return 0;
}

/* A kernel descriptor is the kernel set's business, but a set that also
 * watches TAS sockets counts it.  The lock is held across the call so that
 * a set whose epoll_file is being created meanwhile counts it too. */
static int epoll_ctl_kernel(int epfd, int op, int fd, struct epoll_event *ev)
{
    shim_lock();
    int r = libc.epoll_ctl(epfd, op, fd, ev);
    int saved = errno;
    struct file *f = fdtab_get(epfd);
    struct epoll_file *ep = (struct epoll_file *)f;
    if (r == 0 && f != NULL && f->kind == FILE_EPOLL && ep->epoch == shim.epoch &&
        ep->kernel_fds != KERNEL_FDS_UNKNOWN) {
        if (op == EPOLL_CTL_ADD)
            ep->kernel_fds++;
        else if (op == EPOLL_CTL_DEL && ep->kernel_fds > 0)
            ep->kernel_fds--;
    }
    shim_unlock();
    errno = saved;
    return r;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    struct file *f = fdtab_get(fd);

    libc_resolve();
    if (f == NULL || f->kind != FILE_SOCK)
        return epoll_ctl_kernel(epfd, op, fd, ev);
    shim_lock();
    struct sock *s = sock_get(fd);
    if (s == NULL) {
        shim_unlock();
        return epoll_ctl_kernel(epfd, op, fd, ev);
    }
    int err = fd == epfd ? -EINVAL : epoll_ctl_sock(epfd, op, fd, s, ev);
    file_put(&s->file);
    shim_unlock();
    if (err) {
        errno = -err;
        return -1;
    }
    return 0;
}

/* Report ready TAS registrations the way the kernel walks its ready list:
 * level-triggered ones go back to the tail, edge-triggered and one-shot
 * ones leave until the next event. */
static int epoll_collect(struct epoll_file *ep, struct epoll_event *evs, int max)
{
    struct epitem *last = ep->ready.ready_prev;
    int n = 0;

    while (n < max && ep->ready.ready_next != &ep->ready) {
        struct epitem *it = ep->ready.ready_next;
        bool was_last = it == last;

        ready_del(it);
        uint32_t mask = sock_poll_mask(it->sock) & (it->events | EPOLL_ALWAYS);
        if (!it->disabled && mask != 0) {
            evs[n].events = mask;
            evs[n].data = it->data;
            n++;
            if (it->events & EPOLLONESHOT)
                it->disabled = true;
            else if (!(it->events & EPOLLET))
                ready_add(it);
        }
        if (was_last)
            break;
    }
    return n;
}

static int epoll_wait_tas(int epfd, struct epoll_event *evs, int max,
                          const struct timespec *deadline,
                          const sigset_t *sigmask)
{
    struct file *f = fdtab_get(epfd);
    struct epoll_file *ep;
    int n;

    if (f == NULL || f->kind != FILE_EPOLL || max <= 0)
        return -ENOSYS;
    shim_lock();
    f = fdtab_get(epfd);
    ep = (struct epoll_file *)f;
    if (f == NULL || f->kind != FILE_EPOLL || ep->epoch != shim.epoch ||
        ep->items == NULL) {
        shim_unlock();
        return -ENOSYS;
    }
    ep->file.refs++;
    bool app_set_woke = false;
    for (;;) {
        shim_drain();
        n = epoll_collect(ep, evs, max);
        if (n < max && (ep->kernel_fds != 0 || app_set_woke)) {
            int k = libc.epoll_wait(epfd, evs + n, max - n, 0);
            if (k > 0)
                n += k;
        }
        if (n > 0 || deadline_ms(deadline) == 0)
            break;

        struct waiter w;
        struct epoll_event woke[2];
        if (!shim_sleep_prepare(&w, deadline))
            continue;
        int r = libc.epoll_pwait(ep->waitfd, woke, 2, deadline_ms(deadline),
                                 sigmask);
        int saved = errno;
        for (int i = 0; i < r; i++)
            if (woke[i].data.u32 == WAKE_APP_SET)
                app_set_woke = true;
        shim_sleep_finish(&w);
        if (r < 0 && saved != EINTR)
            tas_log("epoll_wait on the private set failed: %s", strerror(saved));
        if (r < 0) {
            n = -saved;
            break;
        }
    }
    file_put(&ep->file);
    shim_unlock();
    return n;
}

static int epoll_wait_common(int epfd, struct epoll_event *evs, int max,
                             const struct timespec *deadline,
                             const sigset_t *sigmask, int timeout)
{
    int n = epoll_wait_tas(epfd, evs, max, deadline, sigmask);

    if (n == -ENOSYS)
        return libc.epoll_pwait(epfd, evs, max, timeout, sigmask);
    if (n < 0) {
        errno = -n;
        return -1;
    }
    return n;
}

int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
    struct timespec ts;

    libc_resolve();
    return epoll_wait_common(epfd, evs, max, deadline_after_ms(&ts, timeout),
                             NULL, timeout);
}

int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout,
                const sigset_t *sigmask)
{
    struct timespec ts;

    libc_resolve();
    return epoll_wait_common(epfd, evs, max, deadline_after_ms(&ts, timeout),
                             sigmask, timeout);
}

int epoll_pwait2(int epfd, struct epoll_event *evs, int max,
                 const struct timespec *timeout, const sigset_t *sigmask)
{
    struct timespec ts;
    int ms = -1;

    libc_resolve();
    if (timeout != NULL) {
        long long t = (long long)timeout->tv_sec * 1000 +
                      (timeout->tv_nsec + 999999) / 1000000;
        ms = t > INT32_MAX ? INT32_MAX : (int)t;
    }
    int n = epoll_wait_tas(epfd, evs, max, deadline_after_ms(&ts, ms), sigmask);
    if (n == -ENOSYS) {
        if (libc.epoll_pwait2 == NULL) {
            errno = ENOSYS;
            return -1;
        }
        return libc.epoll_pwait2(epfd, evs, max, timeout, sigmask);
    }
    if (n < 0) {
        errno = -n;
        return -1;
    }
    return n;
}
