/* shim_socket.c - the interposed socket set-up calls: socket, bind,
 * listen, accept, connect, shutdown, names and options.
 *
 * socket(AF_INET, SOCK_STREAM) makes a TAS socket.  Its descriptor number
 * is an empty epoll instance reserved from the kernel: never readable or
 * writable for the kernel, so a stray kernel poll on it stays quiet, and
 * dup2/close races resolve in the kernel as for any descriptor.  Loopback
 * stays with the kernel: connect() to 127.0.0.0/8 or bind() to an address
 * that is not TAS's replaces the reservation with a kernel socket (dup3 onto
 * the same number) carrying the options set so far.
 *
 * AF_INET6 stream sockets are dual-stack, as the kernel's are by default:
 * their IPv4 side (:: and ::ffff:a.b.c.d addresses) is TAS, IPv6 proper
 * and IPV6_V6ONLY sockets go to the kernel the same way.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "shim.h"

/* Publish s at a fresh reserved descriptor; returns it or -errno. */
static int sock_install(struct sock *s, bool cloexec)
{
    int fd = libc.epoll_create1(cloexec ? EPOLL_CLOEXEC : 0);
    bool ok;

    if (fd < 0)
        return -errno;
    s->file.refs = 1;
    fdtab_swap(fd, &s->file, &ok);
    if (!ok) {
        libc.close(fd);
        return -EMFILE;
    }
    return fd;
}

int socket(int domain, int type, int protocol)
{
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);

    libc_resolve();
    if ((domain != AF_INET && domain != AF_INET6) || base != SOCK_STREAM ||
        (protocol != 0 && protocol != IPPROTO_TCP))
        return libc.socket(domain, type, protocol);

    shim_lock();
    int fd = shim_service();
    if (fd == 1) {
        shim_unlock();
        return libc.socket(domain, type, protocol);
    }
    if (fd == 0) {
        struct sock *s = sock_new(domain == AF_INET6, type & SOCK_NONBLOCK);
        fd = s ? sock_install(s, type & SOCK_CLOEXEC) : -ENOMEM;
        if (fd < 0)
            free(s);
    }
    shim_unlock();
    if (fd < 0) {
        errno = -fd;
        return -1;
    }
    return fd;
}

static void apply_int_opt(int fd, int level, int name, int value)
{
    libc.setsockopt(fd, level, name, &value, sizeof(value));
}

/* Hand fd over to the kernel's TCP stack, keeping what was set on it. */
static int sock_to_kernel(int fd, struct sock *s)
{
    bool ok;

    if (s->state != SOCK_NEW && s->state != SOCK_BOUND)
        return -EINVAL;
    int k = libc.socket(s->v6 ? AF_INET6 : AF_INET,
                        SOCK_STREAM | (s->nonblock ? SOCK_NONBLOCK : 0), 0);
    if (k < 0)
        return -errno;
    if (s->v6)
        apply_int_opt(k, IPPROTO_IPV6, IPV6_V6ONLY, s->v6only);
    apply_int_opt(k, SOL_SOCKET, SO_REUSEADDR, s->reuseaddr);
    apply_int_opt(k, SOL_SOCKET, SO_REUSEPORT, s->reuseport);
    apply_int_opt(k, SOL_SOCKET, SO_KEEPALIVE, s->keepalive);
    apply_int_opt(k, IPPROTO_TCP, TCP_NODELAY, s->nodelay);
    if (s->sndbuf)
        apply_int_opt(k, SOL_SOCKET, SO_SNDBUF, s->sndbuf);
    if (s->rcvbuf)
        apply_int_opt(k, SOL_SOCKET, SO_RCVBUF, s->rcvbuf);
    for (int i = 0; i < s->nopts; i++)
        apply_int_opt(k, s->opts[i].level, s->opts[i].name, s->opts[i].value);
    libc.setsockopt(k, SOL_SOCKET, SO_LINGER, &s->linger, sizeof(s->linger));
    libc.setsockopt(k, SOL_SOCKET, SO_RCVTIMEO, &s->rcvtimeo, sizeof(s->rcvtimeo));
    libc.setsockopt(k, SOL_SOCKET, SO_SNDTIMEO, &s->sndtimeo, sizeof(s->sndtimeo));

    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof(bound);
    sock_put_addr(s, &s->local, (struct sockaddr *)&bound, &bound_len);
    bool was_bound = s->state == SOCK_BOUND;
    if (s->reserved) {
        tas_unbind(shim.ctx, s->local.sin_addr.s_addr, s->local.sin_port);
        s->reserved = false;
    }
    int fdflags = libc.fcntl(fd, F_GETFD);
    int err = 0;
    if (was_bound && libc.bind(k, (struct sockaddr *)&bound, bound_len) < 0)
        err = -errno;
    else if (libc.dup3(k, fd, fdflags > 0 && (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
        err = -errno;
    libc.close(k);
    if (err)
        return err;
    if (s->watchers != NULL)
        tas_log("fd %d moved to the kernel stack after being added to an "
                "epoll set; that set will not report it", fd);
    struct file *old = fdtab_swap(fd, NULL, &ok);
    if (old != NULL)
        file_put(old);
    return 0;
}

/* The IPv4 address TAS would serve for a socket address of s's family:
 * 0 with *sin filled, 1 when only the kernel can serve it, or -errno. */
static int sockaddr_to_tas(const struct sock *s, const struct sockaddr *addr,
                           socklen_t len, struct sockaddr_in *sin)
{
    static const uint8_t mapped_prefix[12] = { [10] = 0xff, [11] = 0xff };
    struct sockaddr_in6 sin6;

    if (addr == NULL)
        return -EFAULT;
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    if (!s->v6) {
        if (len < sizeof(*sin))
            return -EINVAL;
        if (addr->sa_family != AF_INET)
            return -EAFNOSUPPORT;
        memcpy(sin, addr, sizeof(*sin));
        return 0;
    }
    if (len < sizeof(sin6))
        return -EINVAL;
    if (addr->sa_family != AF_INET6)
        return -EAFNOSUPPORT;
    memcpy(&sin6, addr, sizeof(sin6));
    sin->sin_port = sin6.sin6_port;
    if (s->v6only)
        return 1;
    if (IN6_IS_ADDR_UNSPECIFIED(&sin6.sin6_addr))
        return 0;
    if (memcmp(sin6.sin6_addr.s6_addr, mapped_prefix, sizeof(mapped_prefix)) != 0)
        return 1;
    memcpy(&sin->sin_addr, &sin6.sin6_addr.s6_addr[12], 4);
    return 0;
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct sock *s = sock_enter(fd);
    struct sockaddr_in sin;

    if (s == NULL)
        return libc.bind(fd, addr, len);
    int err = s->state != SOCK_NEW ? -EINVAL : sockaddr_to_tas(s, addr, len, &sin);
    if (err == 0 && sin.sin_addr.s_addr != htonl(INADDR_ANY) &&
        sin.sin_addr.s_addr != tas_local_ip())
        err = 1;
    if (err == 0) {
        err = sock_bind(s, &sin);
    } else if (err == 1) {
        err = sock_to_kernel(fd, s);
        if (err == 0 && libc.bind(fd, addr, len) < 0)
            err = -errno;
    }
    return (int)sock_leave(s, err);
}

int listen(int fd, int backlog)
{
    struct sock *s = sock_enter(fd);

    if (s == NULL)
        return libc.listen(fd, backlog);
    return (int)sock_leave(s, sock_listen(s, backlog));
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    struct sock *s = sock_enter(fd);

    if (s == NULL)
        return libc.accept4(fd, addr, len, flags);
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return (int)sock_leave(s, -EINVAL);

    struct sock *n;
    int ret = sock_accept(s, flags & SOCK_NONBLOCK, &n);
    if (ret == 0) {
        ret = sock_install(n, flags & SOCK_CLOEXEC);
        if (ret < 0) {
            n->file.refs = 1;
            file_put(&n->file);
        } else {
            sock_put_addr(n, &n->remote, addr, len);
        }
    }
    return (int)sock_leave(s, ret);
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return accept4(fd, addr, len, 0);
}

/* Loopback, and "any" which Linux takes as this host, stay in the kernel. */
static bool dest_is_kernel(uint32_t ip)
{
    return (ntohl(ip) >> 24) == 127 || ip == htonl(INADDR_ANY);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct sock *s = sock_enter(fd);
    struct sockaddr_in sin;

    if (s == NULL)
        return libc.connect(fd, addr, len);
    int err = sockaddr_to_tas(s, addr, len, &sin);
    if (err == 0 && dest_is_kernel(sin.sin_addr.s_addr))
        err = 1;
    if (err == 1 && s->state != SOCK_NEW && s->state != SOCK_BOUND)
        err = s->state == SOCK_CONNECTED ? -EISCONN : -EINVAL;
    if (err == 0) {
        err = sock_connect(s, &sin);
    } else if (err == 1) {
        err = sock_to_kernel(fd, s);
        if (err == 0 && libc.connect(fd, addr, len) < 0)
            err = -errno;
    }
    return (int)sock_leave(s, err);
}

int shutdown(int fd, int how)
{
    struct sock *s = sock_enter(fd);

    if (s == NULL)
        return libc.shutdown(fd, how);
    return (int)sock_leave(s, sock_shutdown(s, how));
}

static int sock_getname(int fd, struct sockaddr *addr, socklen_t *len, bool peer)
{
    struct sock *s = sock_enter(fd);

    if (s == NULL)
        return peer ? libc.getpeername(fd, addr, len)
                    : libc.getsockname(fd, addr, len);
    struct sockaddr_in sin;
    int err = addr == NULL || len == NULL ? -EFAULT : sock_name(s, peer, &sin);
    if (err == 0)
        sock_put_addr(s, &sin, addr, len);
    return (int)sock_leave(s, err);
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    return sock_getname(fd, addr, len, false);
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    return sock_getname(fd, addr, len, true);
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    struct sock *s = sock_enter(fd);

    if (s == NULL)
        return libc.getsockopt(fd, level, name, val, len);
    return (int)sock_leave(s, sock_getsockopt(s, level, name, val, len));
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    struct sock *s = sock_enter(fd);

    if (s == NULL)
        return libc.setsockopt(fd, level, name, val, len);
    return (int)sock_leave(s, sock_setsockopt(s, level, name, val, len));
}
