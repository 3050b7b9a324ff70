/* sock.c - TAS sockets: POSIX stream-socket semantics on top of the
 * low-level API.
 *
 * A struct sock is what a TAS socket descriptor (and every dup of it)
 * refers to: the state machine socket -> bind -> listen/connect, the
 * options, the flags that outlive the connection (shutdown, pending
 * error), and the listener or connection of the low-level API.  Blocking
 * calls loop "take events in, try, sleep" with the shim lock dropped only
 * while sleeping, so the socket may change under them between rounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "iov.h"
#include "log.h"
#include "shim.h"

#define DEFAULT_BUF_SIZE (128 * 1024)
#define DEFAULT_MSS      1448

struct sock *sock_new(bool v6, bool nonblock)
{
    struct sock *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->file.kind = FILE_SOCK;
    s->epoch = shim.epoch;
    s->state = SOCK_NEW;
    s->v6 = v6;
    s->nonblock = nonblock;
    s->local.sin_family = AF_INET;
    s->remote.sin_family = AF_INET;
    return s;
}

bool sock_orphaned(const struct sock *s)
{
    return s->epoch != shim.epoch;
}

struct sock *sock_get(int fd)
{
    struct file *f = fdtab_get(fd);

    if (f == NULL || f->kind != FILE_SOCK)
        return NULL;
    if (sock_orphaned((struct sock *)f)) {
        static unsigned warned_epoch;
        if (warned_epoch != shim.epoch)
            tas_log("fd %d is a TAS socket of the parent process; a forked "
                    "child cannot use it (see docs/libtas.md)", fd);
        warned_epoch = shim.epoch;
        return NULL;
    }
    f->refs++;
    return (struct sock *)f;
}

bool fd_is_sock(int fd)
{
    struct file *f = fdtab_get(fd);
    return f != NULL && f->kind == FILE_SOCK && !sock_orphaned((struct sock *)f);
}

static bool sock_has_unread(struct sock *s)
{
    struct iovec iov[2];
    return tas_conn_rx_peek(s->conn, iov) > 0;
}

static void sock_drop_conn(struct sock *s, bool abortive)
{
    tas_conn_set_data(s->conn, NULL);
    if (abortive)
        tas_conn_abort(s->conn);
    else
        tas_conn_close(s->conn);
    s->conn = NULL;
}

static void sock_release(struct sock *s)
{
    epoll_sock_gone(s);
    if (!sock_orphaned(s)) {
        if (s->listener != NULL) {
            tas_listener_set_data(s->listener, NULL);
            tas_listener_close(s->listener);
        } else if (s->conn != NULL) {
            /* Like Linux: unread data or SO_LINGER 0 make close a reset. */
            bool abortive = sock_has_unread(s) ||
                            (s->linger.l_onoff && s->linger.l_linger == 0);
            sock_drop_conn(s, abortive);
        } else if (s->reserved) {
            tas_unbind(shim.ctx, s->local.sin_addr.s_addr, s->local.sin_port);
        }
    }
    free(s);
}

void file_put(struct file *f)
{
    if (--f->refs > 0)
        return;
    if (f->kind == FILE_SOCK)
        sock_release((struct sock *)f);
    else
        epoll_release(f);
}

static unsigned sock_bind_flags(const struct sock *s)
{
    return (s->reuseaddr ? TAS_BIND_REUSEADDR : 0) |
           (s->reuseport ? TAS_BIND_REUSEPORT : 0);
}

static const struct timespec *sock_deadline(struct timespec *ts,
                                            const struct timeval *tv)
{
    if (tv->tv_sec == 0 && tv->tv_usec == 0)
        return NULL;
    long long ms = (long long)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000;
    return deadline_after_ms(ts, ms > INT32_MAX ? INT32_MAX : (int)ms);
}

int sock_bind(struct sock *s, const struct sockaddr_in *sa)
{
    uint16_t port = sa->sin_port;
    int err;

    if (s->state != SOCK_NEW)
        return -EINVAL;
    err = tas_bind(shim.ctx, sa->sin_addr.s_addr, &port, sock_bind_flags(s));
    if (err)
        return err;
    s->local.sin_addr = sa->sin_addr;
    s->local.sin_port = port;
    s->reserved = true;
    s->state = SOCK_BOUND;
    return 0;
}

int sock_listen(struct sock *s, int backlog)
{
    int err;

    if (s->state == SOCK_LISTENING)
        return 0;
    if (s->state == SOCK_NEW) {
        struct sockaddr_in any = { .sin_family = AF_INET };
        err = sock_bind(s, &any);
        if (err)
            return err;
    }
    if (s->state != SOCK_BOUND)
        return -EINVAL;
    err = tas_listen(shim.ctx, s->local.sin_addr.s_addr, s->local.sin_port,
                     backlog, sock_bind_flags(s), &s->listener);
    if (err)
        return err;
    tas_listener_set_data(s->listener, s);
    s->reserved = false;
    s->state = SOCK_LISTENING;
    return 0;
}

static void sock_set_addrs(struct sock *s)
{
    uint32_t lip, rip;
    uint16_t lport, rport;

    tas_conn_addrs(s->conn, &lip, &lport, &rip, &rport);
    s->local.sin_addr.s_addr = lip;
    s->local.sin_port = lport;
    s->remote.sin_addr.s_addr = rip;
    s->remote.sin_port = rport;
}

int sock_accept(struct sock *s, bool nonblock, struct sock **out)
{
    struct timespec ts;
    const struct timespec *deadline = sock_deadline(&ts, &s->rcvtimeo);

    if (s->state != SOCK_LISTENING)
        return -EINVAL;
    for (;;) {
        struct tas_conn *c;
        shim_drain();
        int err = tas_accept(s->listener, &c);
        if (err == 0) {
            struct sock *n = sock_new(s->v6, nonblock);
            if (n == NULL) {
                tas_conn_abort(c);
                return -ENOMEM;
            }
            n->conn = c;
            n->state = SOCK_CONNECTED;
            n->nodelay = s->nodelay;
            n->keepalive = s->keepalive;
            tas_conn_set_data(c, n);
            sock_set_addrs(n);
            *out = n;
            return 0;
        }
        if (err != -EAGAIN)
            return err;
        if (s->nonblock)
            return -EAGAIN;
        err = shim_wait(deadline);
        if (err)
            return err == -ETIMEDOUT ? -EAGAIN : err;
        if (s->state != SOCK_LISTENING)
            return -EINVAL;
    }
}

/* A connect finished (event or synchronous failure): settle the state. */
static void sock_connect_done(struct sock *s)
{
    int st = tas_conn_status(s->conn);

    if (st == -EINPROGRESS)
        return;
    if (st == 0) {
        s->state = SOCK_CONNECTED;
        sock_set_addrs(s);
        return;
    }
    s->state = SOCK_FAILED;
    s->so_error = -st;
    sock_drop_conn(s, true);
}

int sock_connect(struct sock *s, const struct sockaddr_in *sa)
{
    struct timespec ts;
    const struct timespec *deadline;
    uint16_t lport = 0;
    int err;

    switch (s->state) {
    case SOCK_CONNECTING:
        return -EALREADY;
    case SOCK_CONNECTED:
        return -EISCONN;
    case SOCK_LISTENING:
        return -EINVAL;
    case SOCK_BOUND:
        lport = s->local.sin_port;
        break;
    case SOCK_NEW:
    case SOCK_FAILED:
        break;
    }
    err = tas_connect(shim.ctx, sa->sin_addr.s_addr, sa->sin_port, lport,
                      &s->conn);
    if (err)
        return err;
    tas_conn_set_data(s->conn, s);
    s->reserved = false;
    s->so_error = 0;
    s->remote = *sa;
    s->state = SOCK_CONNECTING;
    if (s->nonblock)
        return -EINPROGRESS;

    deadline = sock_deadline(&ts, &s->sndtimeo);
    for (;;) {
        shim_drain();
        if (s->state == SOCK_CONNECTED)
            return 0;
        if (s->state == SOCK_FAILED) {
            err = -s->so_error;
            s->so_error = 0;
            return err;
        }
        err = shim_wait(deadline);
        if (err)
            return err == -ETIMEDOUT ? -EINPROGRESS : err;
    }
}

/* The error a data call reports once, after which the socket reads as
 * closed (Linux clears sk_err the same way). */
static int sock_take_conn_error(struct sock *s)
{
    int st = tas_conn_status(s->conn);

    if (s->so_error != 0) {
        int err = -s->so_error;
        s->so_error = 0;
        return err;
    }
    if (st != 0 && st != -EPIPE && st != -EINPROGRESS && !s->err_reported) {
        s->err_reported = true;
        return st;
    }
    return 0;
}

ssize_t sock_recv(struct sock *s, const struct iovec *iov, int iovcnt,
                  int flags)
{
    struct timespec ts;
    const struct timespec *deadline = sock_deadline(&ts, &s->rcvtimeo);
    size_t want = iov_total(iov, iovcnt), done = 0;
    bool peek = flags & MSG_PEEK;
    bool waitall = (flags & MSG_WAITALL) && !peek;
    bool nonblock = s->nonblock || (flags & MSG_DONTWAIT);

    if (want == (size_t)-1)
        return -EINVAL;
    if (s->state != SOCK_CONNECTED && s->state != SOCK_CONNECTING)
        return -ENOTCONN;
    for (;;) {
        shim_drain();
        if (s->state == SOCK_FAILED)
            return done ? (ssize_t)done : -ENOTCONN;
        if (s->state == SOCK_CONNECTED) {
            struct iovec ring[2];
            size_t avail = tas_conn_rx_peek(s->conn, ring);
            if (avail > 0 && want > 0) {
                size_t n = iov_copy(iov, iovcnt, done, ring, 2, 0, want - done);
                if (!peek)
                    tas_conn_rx_consume(s->conn, n);
                done += n;
                if (done == want || !waitall)
                    return (ssize_t)done;
                continue;
            }
            if (want == 0)
                return 0;
            int err = sock_take_conn_error(s);
            if (err)
                return done ? (ssize_t)done : err;
            if (tas_conn_rx_fin(s->conn) || s->shut_rd ||
                tas_conn_status(s->conn) != 0)
                return (ssize_t)done;
        }
        if (nonblock)
            return done ? (ssize_t)done : -EAGAIN;
        int err = shim_wait(deadline);
        if (err)
            return done ? (ssize_t)done : (err == -ETIMEDOUT ? -EAGAIN : err);
    }
}

/* Fills ring space with the payload of a send: returns bytes placed, 0 at
 * the end of the source, or -errno. */
typedef ssize_t (*fill_fn)(void *arg, const struct iovec ring[2], size_t space,
                           size_t done);

static ssize_t sock_broken_pipe(int flags)
{
    if (!(flags & MSG_NOSIGNAL))
        raise(SIGPIPE);
    return -EPIPE;
}

static ssize_t sock_send_loop(struct sock *s, size_t want, int flags,
                              fill_fn fill, void *arg)
{
    struct timespec ts;
    const struct timespec *deadline = sock_deadline(&ts, &s->sndtimeo);
    bool nonblock = s->nonblock || (flags & MSG_DONTWAIT);
    size_t done = 0;

    if (s->state == SOCK_FAILED) {
        int err = s->so_error ? -s->so_error : 0;
        s->so_error = 0;
        return err ? err : sock_broken_pipe(flags);
    }
    if (s->state != SOCK_CONNECTED && s->state != SOCK_CONNECTING)
        return -ENOTCONN;
    for (;;) {
        shim_drain();
        if (s->state == SOCK_FAILED)
            return done ? (ssize_t)done : -s->so_error;
        if (s->state == SOCK_CONNECTED) {
            if (s->shut_wr)
                return done ? (ssize_t)done : sock_broken_pipe(flags);
            int st = tas_conn_status(s->conn);
            if (st != 0) {
                if (done)
                    return (ssize_t)done;
                int err = sock_take_conn_error(s);
                return err ? err : sock_broken_pipe(flags);
            }
            if (want == 0)
                return 0;
            struct iovec ring[2];
            size_t space = tas_conn_tx_space(s->conn, ring);
            if (space > 0) {
                ssize_t n = fill(arg, ring, space < want - done ? space : want - done,
                                 done);
                if (n < 0)
                    return done ? (ssize_t)done : n;
                tas_conn_tx_commit(s->conn, (size_t)n);
                done += (size_t)n;
                if (done == want || n == 0)
                    return (ssize_t)done;
                continue;
            }
        }
        if (nonblock)
            return done ? (ssize_t)done : -EAGAIN;
        int err = shim_wait(deadline);
        if (err)
            return done ? (ssize_t)done : (err == -ETIMEDOUT ? -EAGAIN : err);
    }
}

struct iov_source {
    const struct iovec *iov;
    int iovcnt;
};

static ssize_t fill_from_iov(void *arg, const struct iovec ring[2],
                             size_t space, size_t done)
{
    const struct iov_source *src = arg;
    return (ssize_t)iov_copy(ring, 2, 0, src->iov, src->iovcnt, done, space);
}

ssize_t sock_send(struct sock *s, const struct iovec *iov, int iovcnt,
                  int flags)
{
    struct iov_source src = { iov, iovcnt };
    size_t want = iov_total(iov, iovcnt);

    if (want == (size_t)-1)
        return -EINVAL;
    return sock_send_loop(s, want, flags, fill_from_iov, &src);
}

struct file_source {
    int fd;
    off_t *offset;
};

/* Reads straight from the file into the transmit ring: the one copy. */
static ssize_t fill_from_file(void *arg, const struct iovec ring[2],
                              size_t space, size_t done)
{
    struct file_source *src = arg;
    struct iovec part[2] = { ring[0], ring[1] };
    ssize_t n;

    (void)done;
    if (part[0].iov_len > space)
        part[0].iov_len = space;
    part[1].iov_len = space - part[0].iov_len;
    if (src->offset != NULL) {
        n = preadv(src->fd, part, 2, *src->offset);
        if (n > 0)
            *src->offset += n;
    } else {
        n = libc.readv(src->fd, part, 2);
    }
    return n < 0 ? -errno : n;
}

ssize_t sock_sendfile(struct sock *s, int in_fd, off_t *offset, size_t count)
{
    struct file_source src = { in_fd, offset };
    return sock_send_loop(s, count, MSG_NOSIGNAL, fill_from_file, &src);
}

int sock_shutdown(struct sock *s, int how)
{
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    if (s->state != SOCK_CONNECTED && s->state != SOCK_CONNECTING)
        return -ENOTCONN;
    if (how != SHUT_RD && !s->shut_wr) {
        s->shut_wr = true;
        if (s->conn != NULL && tas_conn_status(s->conn) == 0)
            tas_conn_shutdown(s->conn);
    }
    if (how != SHUT_WR)
        s->shut_rd = true;
    epoll_sock_changed(s, EPOLLIN | EPOLLOUT | EPOLLHUP | EPOLLRDHUP);
    return 0;
}

/* TCP and IP options TAS has no use for are remembered and reported back,
 * so programs that set them and check the result keep working. */
static bool option_is_remembered(int level, int name)
{
    if (level == IPPROTO_TCP)
        return name == TCP_CORK ||
               name == TCP_KEEPIDLE || name == TCP_KEEPINTVL ||
               name == TCP_KEEPCNT || name == TCP_SYNCNT ||
               name == TCP_LINGER2 || name == TCP_DEFER_ACCEPT ||
               name == TCP_WINDOW_CLAMP || name == TCP_QUICKACK ||
               name == TCP_USER_TIMEOUT || name == TCP_FASTOPEN ||
               name == TCP_NOTSENT_LOWAT;
    if (level == IPPROTO_IP)
        return name == IP_TOS || name == IP_TTL;
    if (level == IPPROTO_IPV6)
        return name == IPV6_TCLASS || name == IPV6_UNICAST_HOPS;
    return false;
}

static int put_opt(void *val, socklen_t *len, const void *src, socklen_t size)
{
    if (val == NULL || len == NULL)
        return -EFAULT;
    if (*len > size)
        *len = size;
    memcpy(val, src, *len);
    return 0;
}

static int sock_buf_size(struct sock *s, bool tx)
{
    if (s->conn != NULL)
        return (int)(tx ? tas_conn_tx_capacity(s->conn)
                        : tas_conn_rx_capacity(s->conn));
    int set = tx ? s->sndbuf : s->rcvbuf;
    return set ? set * 2 : DEFAULT_BUF_SIZE;
}

/* The subset of TCP_INFO that tools print: state and segment sizes. */
static void sock_tcp_info(struct sock *s, struct tcp_info *info)
{
    memset(info, 0, sizeof(*info));
    switch (s->state) {
    case SOCK_LISTENING: info->tcpi_state = TCP_LISTEN; break;
    case SOCK_CONNECTING: info->tcpi_state = TCP_SYN_SENT; break;
    case SOCK_CONNECTED:
        info->tcpi_state = tas_conn_status(s->conn) == 0 ? TCP_ESTABLISHED
                                                         : TCP_CLOSE_WAIT;
        break;
    default: info->tcpi_state = TCP_CLOSE; break;
    }
    if (s->conn != NULL) {
        info->tcpi_snd_mss = tas_conn_mss(s->conn);
        info->tcpi_rcv_mss = tas_conn_mss(s->conn);
    }
}

int sock_getsockopt(struct sock *s, int level, int name, void *val,
                    socklen_t *len)
{
    int v;

    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_ERROR:
            shim_drain();
            v = s->so_error;
            s->so_error = 0;
            if (v == 0 && s->conn != NULL && s->state == SOCK_CONNECTED)
                v = -sock_take_conn_error(s);
            break;
        case SO_TYPE: v = SOCK_STREAM; break;
        case SO_DOMAIN: v = s->v6 ? AF_INET6 : AF_INET; break;
        case SO_PROTOCOL: v = IPPROTO_TCP; break;
        case SO_ACCEPTCONN: v = s->state == SOCK_LISTENING; break;
        case SO_REUSEADDR: v = s->reuseaddr; break;
        case SO_REUSEPORT: v = s->reuseport; break;
        case SO_KEEPALIVE: v = s->keepalive; break;
        case SO_SNDBUF: v = sock_buf_size(s, true); break;
        case SO_RCVBUF: v = sock_buf_size(s, false); break;
        case SO_LINGER:
            return put_opt(val, len, &s->linger, sizeof(s->linger));
        case SO_RCVTIMEO:
            return put_opt(val, len, &s->rcvtimeo, sizeof(s->rcvtimeo));
        case SO_SNDTIMEO:
            return put_opt(val, len, &s->sndtimeo, sizeof(s->sndtimeo));
        default:
            return -ENOPROTOOPT;
        }
    } else if (level == IPPROTO_TCP && name == TCP_NODELAY) {
        v = s->nodelay;
    } else if (s->v6 && level == IPPROTO_IPV6 && name == IPV6_V6ONLY) {
        v = s->v6only;
    } else if (level == IPPROTO_TCP && name == TCP_MAXSEG) {
        v = s->conn != NULL && tas_conn_mss(s->conn) ? (int)tas_conn_mss(s->conn)
                                                    : DEFAULT_MSS;
    } else if (level == IPPROTO_TCP && name == TCP_INFO) {
        struct tcp_info info;
        sock_tcp_info(s, &info);
        return put_opt(val, len, &info, sizeof(info));
    } else if (level == IPPROTO_TCP && name == TCP_CONGESTION) {
        /* The slow path picks the algorithm; name the stack. */
        static const char name_tas[16] = "tas";
        return put_opt(val, len, name_tas, sizeof(name_tas));
    } else if (option_is_remembered(level, name)) {
        v = 0;
        for (int i = 0; i < s->nopts; i++)
            if (s->opts[i].level == level && s->opts[i].name == name)
                v = s->opts[i].value;
    } else {
        return -ENOPROTOOPT;
    }
    return put_opt(val, len, &v, sizeof(v));
}

static int remember_opt(struct sock *s, int level, int name, int value)
{
    for (int i = 0; i < s->nopts; i++) {
        if (s->opts[i].level == level && s->opts[i].name == name) {
            s->opts[i].value = value;
            return 0;
        }
    }
    if (s->nopts == SOCK_MAX_OPTS)
        return -ENOMEM;
    s->opts[s->nopts].level = level;
    s->opts[s->nopts].name = name;
    s->opts[s->nopts].value = value;
    s->nopts++;
    return 0;
}

static int get_timeval(struct timeval *dst, const void *val, socklen_t len)
{
    if (len < sizeof(*dst))
        return -EINVAL;
    memcpy(dst, val, sizeof(*dst));
    if (dst->tv_usec < 0 || dst->tv_usec >= 1000000)
        return -EDOM;
    if (dst->tv_sec < 0)
        dst->tv_sec = dst->tv_usec = 0;
    return 0;
}

int sock_setsockopt(struct sock *s, int level, int name, const void *val,
                    socklen_t len)
{
    int v = 0;

    if (val == NULL)
        return -EFAULT;
    if (level == SOL_SOCKET && name == SO_LINGER) {
        if (len < sizeof(s->linger))
            return -EINVAL;
        memcpy(&s->linger, val, sizeof(s->linger));
        return 0;
    }
    if (level == SOL_SOCKET && name == SO_RCVTIMEO)
        return get_timeval(&s->rcvtimeo, val, len);
    if (level == SOL_SOCKET && name == SO_SNDTIMEO)
        return get_timeval(&s->sndtimeo, val, len);
    if (len < sizeof(int))
        return -EINVAL;
    memcpy(&v, val, sizeof(v));

    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_REUSEADDR: s->reuseaddr = v != 0; return 0;
        case SO_REUSEPORT: s->reuseport = v != 0; return 0;
        case SO_KEEPALIVE: s->keepalive = v != 0; return 0;
        case SO_SNDBUF: s->sndbuf = v; return 0;
        case SO_RCVBUF: s->rcvbuf = v; return 0;
        default: return -ENOPROTOOPT;
        }
    }
    if (level == IPPROTO_TCP && name == TCP_CONGESTION)
        return 0;       /* the slow path's policy, not the application's */
    if (s->v6 && level == IPPROTO_IPV6 && name == IPV6_V6ONLY) {
        if (s->state != SOCK_NEW)
            return -EINVAL;
        s->v6only = v != 0;
        return 0;
    }
    if (level == IPPROTO_TCP && name == TCP_NODELAY) {
        /* TAS sends as soon as it may: it never delays small segments. */
        s->nodelay = v != 0;
        return 0;
    }
    if (option_is_remembered(level, name))
        return remember_opt(s, level, name, v);
    return -ENOPROTOOPT;
}

int sock_name(struct sock *s, bool peer, struct sockaddr_in *sa)
{
    if (peer) {
        if (s->state != SOCK_CONNECTED)
            return -ENOTCONN;
        *sa = s->remote;
    } else {
        *sa = s->local;
    }
    return 0;
}

void sock_put_addr(const struct sock *s, const struct sockaddr_in *sin,
                   struct sockaddr *addr, socklen_t *len)
{
    struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
    const void *src = sin;
    socklen_t size = sizeof(*sin);

    if (addr == NULL || len == NULL)
        return;
    if (s->v6) {
        /* ::ffff:a.b.c.d, as a dual-stack kernel socket reports it; "any"
         * stays :: */
        sin6.sin6_port = sin->sin_port;
        if (sin->sin_addr.s_addr != INADDR_ANY) {
            sin6.sin6_addr.s6_addr[10] = 0xff;
            sin6.sin6_addr.s6_addr[11] = 0xff;
            memcpy(&sin6.sin6_addr.s6_addr[12], &sin->sin_addr, 4);
        }
        src = &sin6;
        size = sizeof(sin6);
    }
    memcpy(addr, src, *len < size ? *len : size);
    *len = size;
}

uint32_t sock_poll_mask(struct sock *s)
{
    uint32_t mask = 0;

    switch (s->state) {
    case SOCK_NEW:
    case SOCK_BOUND:
        /* An unconnected Linux TCP socket polls as writable and hung up. */
        return POLLOUT | POLLWRNORM | POLLHUP;
    case SOCK_LISTENING:
        return tas_listener_ready(s->listener) ? POLLIN | POLLRDNORM : 0;
    case SOCK_CONNECTING:
        return 0;
    case SOCK_FAILED:
        return POLLOUT | POLLWRNORM | POLLERR | POLLHUP;
    case SOCK_CONNECTED:
        break;
    }

    struct iovec ring[2];
    int st = tas_conn_status(s->conn);
    bool rx_end = tas_conn_rx_fin(s->conn) || s->shut_rd || st != 0;

    if (tas_conn_rx_peek(s->conn, ring) > 0)
        mask |= POLLIN | POLLRDNORM;
    if (rx_end)
        mask |= POLLIN | POLLRDNORM | POLLRDHUP;
    if (s->so_error != 0 || (st != 0 && st != -EPIPE && !s->err_reported))
        mask |= POLLERR;
    if (st != 0 || (s->shut_wr && rx_end))
        mask |= POLLHUP;
    if (!s->shut_wr && st == 0) {
        /* Writable once a useful amount is free, as Linux does, so level-
         * triggered loops do not spin on a few bytes of space. */
        size_t cap = tas_conn_tx_capacity(s->conn);
        size_t low = cap / 4 < 16384 ? cap / 4 : 16384;
        if (tas_conn_tx_space(s->conn, ring) >= (low ? low : 1))
            mask |= POLLOUT | POLLWRNORM;
    }
    return mask;
}

int sock_rx_bytes(struct sock *s)
{
    struct iovec ring[2];

    if (s->state != SOCK_CONNECTED)
        return 0;
    size_t n = tas_conn_rx_peek(s->conn, ring);
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

int sock_tx_bytes(struct sock *s)
{
    if (s->state != SOCK_CONNECTED)
        return 0;
    size_t n = tas_conn_tx_unacked(s->conn);
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

void sock_on_event(struct sock *s, uint32_t events)
{
    uint32_t key = 0;

    if (s->state == SOCK_CONNECTING &&
        (events & (TAS_EV_CONNECTED | TAS_EV_CLOSED)))
        sock_connect_done(s);
    if (events & (TAS_EV_RX | TAS_EV_ACCEPT))
        key |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
    if (events & TAS_EV_TX)
        key |= EPOLLOUT | EPOLLWRNORM;
    if (events & (TAS_EV_CONNECTED | TAS_EV_CLOSED))
        key |= EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDHUP;
    epoll_sock_changed(s, key);
}
