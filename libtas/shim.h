/* shim.h - the POSIX socket shim's internals: the process-wide state
 * (shim.c), socket objects (sock.c), epoll sets (epoll.c) and the calls
 * between them.  The interposed functions live in shim_*.c, epoll.c and
 * poll.c.
 *
 * Locking: one context per process, guarded by one mutex (shim.lock).
 * Every function here expects it held unless it says otherwise; blocking
 * calls drop it only while they sleep.
 */
#ifndef LIBTAS_SHIM_H
#define LIBTAS_SHIM_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <tas/api.h>

#include "fdtab.h"
#include "libc.h"

/* ---- shim.c: process state, waiting ------------------------------------- */

struct waiter {
    uint64_t gen;                   /* events this sleeper has seen */
    struct waiter *next;
};

enum service_state {
    SERVICE_UNTRIED,
    SERVICE_UP,
    SERVICE_KERNEL,     /* unreachable and TAS_FALLBACK=1: use the kernel */
    SERVICE_DOWN,       /* unreachable: AF_INET stream sockets fail */
};

struct shim_state {
    pthread_mutex_t lock;
    enum service_state service;
    int service_err;
    struct tas_context *ctx;
    unsigned epoch;                 /* changes in every forked child */
    uint64_t gen;                   /* bumps whenever events were taken in */
    struct waiter *waiters;         /* threads sleeping on the eventfd */
    uint64_t spin_ns;               /* spin this long before sleeping */
};

extern struct shim_state shim;

void shim_lock(void);
void shim_unlock(void);
/* Registers on first use.  0: TAS serves; 1: use the kernel; or -errno. */
int shim_service(void);
/* Take in the context's events and pass them on to sockets and epoll sets. */
void shim_drain(void);
/* Sleep until the context may have news or the deadline (NULL: none)
 * passes.  0, -EINTR or -ETIMEDOUT.  A sleep without deadline is a read of
 * the eventfd, so SA_RESTART handlers restart it as they would restart the
 * socket call we stand in for. */
int shim_wait(const struct timespec *deadline);
/* For callers that sleep in a system call of their own (epoll_wait, poll):
 * prepare spins for news first (see shim.c), and returns false when there
 * is news (do not sleep; the lock is held again); otherwise the lock is
 * dropped until finish. */
bool shim_sleep_prepare(struct waiter *w, const struct timespec *deadline);
void shim_sleep_finish(struct waiter *w);
int shim_context_fd(void);

/* For interposed calls: the TAS socket behind fd, with the lock held and a
 * reference taken, or NULL (lock not held) when fd is not ours. */
struct sock *sock_enter(int fd);
/* Drop both; a negative result becomes -1 with errno set. */
long sock_leave(struct sock *s, long ret);

/* Milliseconds until deadline (clamped to >= 0), or -1 without one. */
int deadline_ms(const struct timespec *deadline);
/* deadline = now + ms; returns NULL when ms < 0 (no deadline). */
const struct timespec *deadline_after_ms(struct timespec *deadline, int ms);

/* shim_fd.c: drop our entries for [first, last] (their kernel descriptors
 * are closed or about to be). */
void fd_forget_range(unsigned first, unsigned last);

/* ---- sock.c: TAS sockets -------------------------------------------------- */

enum sock_state {
    SOCK_NEW,
    SOCK_BOUND,
    SOCK_LISTENING,
    SOCK_CONNECTING,
    SOCK_CONNECTED,     /* also after the connection ended: see conn status */
    SOCK_FAILED,        /* connect failed; so_error says why */
};

struct epitem;

#define SOCK_MAX_OPTS 8

struct sock {
    struct file file;
    unsigned epoch;
    enum sock_state state;
    bool nonblock;
    bool v6;                        /* AF_INET6: IPv4 through mapped addresses */
    bool v6only;                    /* IPV6_V6ONLY: nothing for TAS */
    bool shut_rd, shut_wr;
    bool reserved;                  /* holds a TAS BIND reservation */
    int so_error;                   /* pending, for SO_ERROR */
    bool err_reported;              /* the connection's error was returned */

    /* options: accepted, reported back, used where TAS has a use */
    bool reuseaddr, reuseport, keepalive, nodelay;
    int sndbuf, rcvbuf;
    struct linger linger;
    struct timeval rcvtimeo, sndtimeo;
    int nopts;
    struct {
        int level, name, value;
    } opts[SOCK_MAX_OPTS];

    struct sockaddr_in local;
    struct sockaddr_in remote;
    struct tas_listener *listener;
    struct tas_conn *conn;
    struct epitem *watchers;        /* epoll registrations of this socket */
};

struct sock *sock_new(bool v6, bool nonblock);
/* The socket behind fd with a reference for the caller, or NULL. */
struct sock *sock_get(int fd);
/* Lock-free hint: is fd a TAS socket of this process?  Callers that act on
 * the answer check again with sock_get under the lock. */
bool fd_is_sock(int fd);
void file_put(struct file *f);
/* Socket is from before a fork(): only close() works on it. */
bool sock_orphaned(const struct sock *s);

int sock_bind(struct sock *s, const struct sockaddr_in *sa);
int sock_listen(struct sock *s, int backlog);
int sock_accept(struct sock *s, bool nonblock, struct sock **out);
int sock_connect(struct sock *s, const struct sockaddr_in *sa);
ssize_t sock_recv(struct sock *s, const struct iovec *iov, int iovcnt,
                  int flags);
ssize_t sock_send(struct sock *s, const struct iovec *iov, int iovcnt,
                  int flags);
ssize_t sock_sendfile(struct sock *s, int in_fd, off_t *offset, size_t count);
int sock_shutdown(struct sock *s, int how);
int sock_getsockopt(struct sock *s, int level, int name, void *val,
                    socklen_t *len);
int sock_setsockopt(struct sock *s, int level, int name, const void *val,
                    socklen_t len);
int sock_name(struct sock *s, bool peer, struct sockaddr_in *sa);
/* The socket's own family's form of an IPv4 address. */
void sock_put_addr(const struct sock *s, const struct sockaddr_in *sin,
                   struct sockaddr *addr, socklen_t *len);
/* POLL* / EPOLL* readiness bits (the two share values). */
uint32_t sock_poll_mask(struct sock *s);
/* Bytes readable (FIONREAD) and queued unacknowledged (SIOCOUTQ). */
int sock_rx_bytes(struct sock *s);
int sock_tx_bytes(struct sock *s);
/* An event from the context for this socket. */
void sock_on_event(struct sock *s, uint32_t tas_events);

/* ---- epoll.c -------------------------------------------------------------- */

/* The socket's readiness may have changed in the ways in key (EPOLL*). */
void epoll_sock_changed(struct sock *s, uint32_t key);
/* The socket is going away: drop it from every epoll set. */
void epoll_sock_gone(struct sock *s);
void epoll_release(struct file *f);

#endif /* LIBTAS_SHIM_H */
