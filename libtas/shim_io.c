/* shim_io.c - the interposed data calls: the read, recv and write, send
 * families with their vector, message and fortified forms, and sendfile.
 * Each becomes one sock_recv or sock_send over an iovec array.
 */
/* The build sets _FILE_OFFSET_BITS=64, which makes the headers rename
 * fcntl and sendfile to their 64-bit twins; here we define both names. */
#undef _FILE_OFFSET_BITS
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "shim.h"

static ssize_t tas_recv(struct sock *s, const struct iovec *iov, int iovcnt,
                        int flags, struct sockaddr *from, socklen_t *fromlen)
{
    ssize_t n = sock_recv(s, iov, iovcnt, flags);

    struct sockaddr_in peer;
    if (n >= 0 && sock_name(s, true, &peer) == 0)
        sock_put_addr(s, &peer, from, fromlen);
    return sock_leave(s, n);
}

ssize_t read(int fd, void *buf, size_t len)
{
    struct sock *s = sock_enter(fd);
    struct iovec iov = { buf, len };

    if (s == NULL)
        return libc.read(fd, buf, len);
    return tas_recv(s, &iov, 1, 0, NULL, NULL);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    struct sock *s = sock_enter(fd);
    struct iovec iov = { buf, len };

    if (s == NULL)
        return libc.recv(fd, buf, len, flags);
    return tas_recv(s, &iov, 1, flags, NULL, NULL);
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
                 struct sockaddr *from, socklen_t *fromlen)
{
    struct sock *s = sock_enter(fd);
    struct iovec iov = { buf, len };

    if (s == NULL)
        return libc.recvfrom(fd, buf, len, flags, from, fromlen);
    return tas_recv(s, &iov, 1, flags, from, fromlen);
}

ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    struct sock *s = sock_enter(fd);

    if (s == NULL)
        return libc.readv(fd, iov, iovcnt);
    if (iovcnt < 0 || iovcnt > IOV_MAX)
        return sock_leave(s, -EINVAL);
    return tas_recv(s, iov, iovcnt, 0, NULL, NULL);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    struct sock *s = sock_enter(fd);

    if (s == NULL)
        return libc.recvmsg(fd, msg, flags);
    if (msg->msg_iovlen > IOV_MAX)
        return sock_leave(s, -EMSGSIZE);
    /* No ancillary data on a TAS stream. */
    msg->msg_controllen = 0;
    msg->msg_flags = 0;
    return tas_recv(s, msg->msg_iov, (int)msg->msg_iovlen, flags,
                    msg->msg_name, &msg->msg_namelen);
}

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    if (len > buflen)
        __chk_fail();
    return read(fd, buf, len);
}

ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    if (len > buflen)
        __chk_fail();
    return recv(fd, buf, len, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *from, socklen_t *fromlen)
{
    if (len > buflen)
        __chk_fail();
    return recvfrom(fd, buf, len, flags, from, fromlen);
}

static ssize_t tas_send(struct sock *s, const struct iovec *iov, int iovcnt,
                        int flags)
{
    return sock_leave(s, sock_send(s, iov, iovcnt, flags));
}

ssize_t write(int fd, const void *buf, size_t len)
{
    struct sock *s = sock_enter(fd);
    struct iovec iov = { (void *)buf, len };

    if (s == NULL)
        return libc.write(fd, buf, len);
    return tas_send(s, &iov, 1, 0);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    struct sock *s = sock_enter(fd);
    struct iovec iov = { (void *)buf, len };

    if (s == NULL)
        return libc.send(fd, buf, len, flags);
    return tas_send(s, &iov, 1, flags);
}

/* A destination address on a connected stream is ignored, as by Linux. */
ssize_t sendto(int fd, const void *buf, size_t len, int flags,
               const struct sockaddr *to, socklen_t tolen)
{
    struct sock *s = sock_enter(fd);
    struct iovec iov = { (void *)buf, len };

    if (s == NULL)
        return libc.sendto(fd, buf, len, flags, to, tolen);
    return tas_send(s, &iov, 1, flags);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    struct sock *s = sock_enter(fd);

    if (s == NULL)
        return libc.writev(fd, iov, iovcnt);
    if (iovcnt < 0 || iovcnt > IOV_MAX)
        return sock_leave(s, -EINVAL);
    return tas_send(s, iov, iovcnt, 0);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct sock *s = sock_enter(fd);

    if (s == NULL)
        return libc.sendmsg(fd, msg, flags);
    if (msg->msg_iovlen > IOV_MAX)
        return sock_leave(s, -EMSGSIZE);
    return tas_send(s, msg->msg_iov, (int)msg->msg_iovlen, flags);
}

ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    struct sock *s = sock_enter(out_fd);

    if (s == NULL) {
        /* The kernel cannot read from a TAS socket. */
        struct file *in = fdtab_get(in_fd);
        if (in != NULL && in->kind == FILE_SOCK) {
            errno = EINVAL;
            return -1;
        }
        return libc.sendfile(out_fd, in_fd, offset, count);
    }
    return sock_leave(s, sock_sendfile(s, in_fd, offset, count));
}

ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count)
{
    _Static_assert(sizeof(off64_t) == sizeof(off_t),
                   "sendfile64 assumes a 64-bit off_t");
    return sendfile(out_fd, in_fd, (off_t *)offset, count);
}
