/* shim.c - process-wide state of the socket shim: the lazy registration
 * with TAS, the one context every socket of the process uses, the lock
 * around it, and how threads wait for the context.
 *
 * One context per process keeps sockets free to move between threads (a
 * socket accepted by one thread and served by another is common); the
 * price is one lock.  Several threads may sleep at once: whoever takes
 * events in bumps `gen`, and a sleeper that has not seen the latest
 * generation is woken again through the eventfd, so no thread misses news
 * that another thread consumed on its behalf.
 *
 * Before it sleeps, a waiter spins on the context's queues for a bounded
 * time (TAS_SPIN_US), yielding the CPU on every round.  A reply that comes
 * back within that time costs no eventfd write by the fast path and no
 * wakeup through the scheduler; the yield lets a peer process that shares
 * the core (the other end of a same-host connection) run meanwhile.  A
 * process with nothing to do sleeps after the bound as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "shim.h"

struct shim_state shim = { .lock = PTHREAD_MUTEX_INITIALIZER };

void shim_lock(void)
{
    pthread_mutex_lock(&shim.lock);
}

void shim_unlock(void)
{
    pthread_mutex_unlock(&shim.lock);
}

#define SPIN_US_DEFAULT 50
#define SPIN_US_MAX 1000000

/* TAS_SPIN_US: how long a waiter spins before it sleeps; 0 never spins. */
static void shim_read_spin_setting(void)
{
    const char *v = getenv("TAS_SPIN_US");
    char *end;

    shim.spin_ns = SPIN_US_DEFAULT * 1000ull;
    if (v == NULL)
        return;
    errno = 0;
    unsigned long us = strtoul(v, &end, 10);
    if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 || us > SPIN_US_MAX) {
        tas_log("TAS_SPIN_US=%s is not a number of microseconds from 0 to %d; "
                "spinning %d us", v, SPIN_US_MAX, SPIN_US_DEFAULT);
        return;
    }
    shim.spin_ns = us * 1000ull;
}

static int shim_start_service(void)
{
    int err = tas_init(NULL);

    if (err == 0)
        err = tas_context_create(&shim.ctx);
    shim_read_spin_setting();
    if (err == 0) {
        /* A blocking read of the eventfd is how we sleep (see shim_wait). */
        int efd = tas_context_fd(shim.ctx);
        int fl = libc.fcntl(efd, F_GETFL);
        if (fl < 0 || libc.fcntl(efd, F_SETFL, fl & ~O_NONBLOCK) < 0)
            err = -errno;
    }
    return err;
}

int shim_service(void)
{
    switch (shim.service) {
    case SERVICE_UP:
        return 0;
    case SERVICE_KERNEL:
        return 1;
    case SERVICE_DOWN:
        return shim.service_err;
    case SERVICE_UNTRIED:
        break;
    }
    int err = shim_start_service();
    if (err == 0) {
        shim.service = SERVICE_UP;
        return 0;
    }
    const char *fallback = getenv("TAS_FALLBACK");
    if (fallback != NULL && strcmp(fallback, "1") == 0) {
        tas_log("TAS unavailable (%s); TAS_FALLBACK=1: IPv4 TCP sockets use "
                "the kernel stack", strerror(-err));
        shim.service = SERVICE_KERNEL;
        return 1;
    }
    tas_log("TAS unavailable (%s): IPv4 TCP sockets fail with ENETDOWN "
            "(set TAS_FALLBACK=1 to use the kernel stack instead)",
            strerror(-err));
    shim.service = SERVICE_DOWN;
    shim.service_err = -ENETDOWN;
    return shim.service_err;
}

int shim_context_fd(void)
{
    return tas_context_fd(shim.ctx);
}

struct sock *sock_enter(int fd)
{
    struct file *f = fdtab_get(fd);

    libc_resolve();
    /* Not ours, or one of libtas's own (which may be in use right now,
     * under the lock, by the caller's caller). */
    if (f == NULL || f->kind != FILE_SOCK)
        return NULL;
    shim_lock();
    struct sock *s = sock_get(fd);
    if (s == NULL)
        shim_unlock();
    return s;
}

long sock_leave(struct sock *s, long ret)
{
    int saved = errno;

    file_put(&s->file);
    shim_unlock();
    errno = saved;
    if (ret < 0) {
        errno = (int)-ret;
        return -1;
    }
    return ret;
}

static void shim_wake_behind(void)
{
    uint64_t one = 1;

    for (struct waiter *w = shim.waiters; w != NULL; w = w->next) {
        if (w->gen != shim.gen) {
            /* One write wakes every thread sleeping on the eventfd. */
            if (libc.write(shim_context_fd(), &one, sizeof(one)) < 0)
                tas_log("cannot wake sleeping threads: %s", strerror(errno));
            return;
        }
    }
}

void shim_drain(void)
{
    struct tas_event ev[32];
    bool any = false;
    int n;

    if (shim.ctx == NULL)
        return;
    while ((n = tas_context_poll(shim.ctx, ev, 32)) > 0) {
        any = true;
        for (int i = 0; i < n; i++) {
            struct sock *s = ev[i].conn ? tas_conn_data(ev[i].conn)
                                        : tas_listener_data(ev[i].listener);
            if (s != NULL)
                sock_on_event(s, ev[i].events);
        }
    }
    if (any)
        shim.gen++;
    shim_wake_behind();
}

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Spins with the lock dropped until the service queues something for the
 * context, the spin time or the deadline is over; true on news.  Only the
 * context is watched: kernel descriptors in the caller's set are seen
 * once the spin ends. */
static bool shim_spin(const struct timespec *deadline)
{
    uint64_t mark;

    if (shim.spin_ns == 0)
        return false;
    if (!tas_context_prepare_spin(shim.ctx, &mark))
        return true;
    uint64_t end = mono_ns() + shim.spin_ns;
    if (deadline != NULL) {
        uint64_t d = (uint64_t)deadline->tv_sec * 1000000000ull +
                     (uint64_t)deadline->tv_nsec;
        if (d < end)
            end = d;
    }
    bool news = false;
    shim_unlock();
    do {
        sched_yield();
        news = tas_context_spin_news(shim.ctx, mark);
    } while (!news && mono_ns() < end);
    shim_lock();
    return news;
}

/* The caller has looked at everything up to the current generation.  The
 * spin drops the lock: events another thread took in meanwhile (a sleeper
 * woken by the fast path's kick, say) may be the caller's, and are no
 * longer on the rings for prepare_sleep to see, so the caller looks again
 * instead of sleeping past them. */
bool shim_sleep_prepare(struct waiter *w, const struct timespec *deadline)
{
    uint64_t seen = shim.gen;

    if (shim_spin(deadline) || shim.gen != seen ||
        !tas_context_prepare_sleep(shim.ctx)) {
        shim_drain();
        return false;
    }
    w->gen = seen;
    w->next = shim.waiters;
    shim.waiters = w;
    shim_unlock();
    return true;
}

void shim_sleep_finish(struct waiter *w)
{
    shim_lock();
    struct waiter **pp = &shim.waiters;
    while (*pp != w)
        pp = &(*pp)->next;
    *pp = w->next;
    /* The rings' wakeup requests are shared: withdraw them only when the
     * last sleeper is up. */
    if (shim.waiters == NULL)
        tas_context_awake(shim.ctx);
    tas_context_clear_fd(shim.ctx);
    shim_drain();
}

int deadline_ms(const struct timespec *deadline)
{
    struct timespec now;

    if (deadline == NULL)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ns = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000000000 +
                 (deadline->tv_nsec - now.tv_nsec);
    if (ns <= 0)
        return 0;
    /* Round up: waking a little early would only mean another round. */
    int64_t ms = (ns + 999999) / 1000000;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

const struct timespec *deadline_after_ms(struct timespec *deadline, int ms)
{
    if (ms < 0)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, deadline);
    deadline->tv_sec += ms / 1000;
    deadline->tv_nsec += (long)(ms % 1000) * 1000000;
    if (deadline->tv_nsec >= 1000000000) {
        deadline->tv_sec++;
        deadline->tv_nsec -= 1000000000;
    }
    return deadline;
}

int shim_wait(const struct timespec *deadline)
{
    struct waiter w;
    int err = 0;

    if (!shim_sleep_prepare(&w, deadline))
        return 0;
    int efd = shim_context_fd();
    if (deadline == NULL) {
        uint64_t count;
        if (libc.read(efd, &count, sizeof(count)) < 0 && errno == EINTR)
            err = -EINTR;
    } else {
        struct pollfd p = { .fd = efd, .events = POLLIN };
        int r = libc.poll(&p, 1, deadline_ms(deadline));
        if (r < 0 && errno == EINTR)
            err = -EINTR;
        else if (r == 0)
            err = -ETIMEDOUT;
    }
    int saved = errno;
    shim_sleep_finish(&w);
    errno = saved;
    return err;
}

/* fork(): the child keeps the parent's descriptors but none of its TAS
 * state.  It gives up its copies of the service connection and eventfds
 * without a word to the service (closing a copy is not the parent's
 * death), marks every inherited TAS object as from another epoch, and
 * registers anew if it opens sockets of its own. */
static void shim_before_fork(void)
{
    shim_lock();
}

static void shim_after_fork_parent(void)
{
    shim_unlock();
}

static void shim_after_fork_child(void)
{
    pthread_mutex_init(&shim.lock, NULL);
    tas_forget_after_fork();
    shim.ctx = NULL;
    shim.service = SERVICE_UNTRIED;
    shim.waiters = NULL;
    shim.epoch++;
}

/* exit(): close every TAS socket the process still has, as the kernel
 * would (FIN after what was written, RST where data was left unread), and
 * give those flows a moment to finish.  Once we are gone the service
 * resets whatever is still open, and data not yet acknowledged is lost. */
#define EXIT_LINGER_MS 2000

__attribute__((destructor)) static void shim_exit(void)
{
    struct timespec ts;

    if (shim.ctx == NULL)
        return;
    shim_lock();
    fd_forget_range(0, UINT32_MAX);
    const struct timespec *deadline = deadline_after_ms(&ts, EXIT_LINGER_MS);
    while (tas_context_closing(shim.ctx) > 0 && shim_wait(deadline) != -ETIMEDOUT)
        shim_drain();
    shim_unlock();
}

__attribute__((constructor)) static void shim_init(void)
{
    libc_resolve();
    pthread_atfork(shim_before_fork, shim_after_fork_parent,
                   shim_after_fork_child);
}
