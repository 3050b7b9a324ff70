/* ctl_io.h - send and receive one struct tas_ctl_msg with descriptors.
 *
 * Shared by the slow path, the fast path and libtas so the framing of ctl.h
 * is written once.  Both calls retry on EINTR and return 0 or -errno.
 * A received message of the wrong size or with more descriptors than the
 * caller has room for is refused (-EPROTO) and every descriptor that came
 * with it is closed, so a hostile peer cannot leak fds into us.
 */
#ifndef TAS_CTL_IO_H
#define TAS_CTL_IO_H

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"

static inline int tas_ctl_send(int sock, const struct tas_ctl_msg *m,
                               const int *fds, unsigned nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * TAS_CTL_MAX_FDS)];
        struct cmsghdr align;
    } ctrl;
    struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

    if (nfds > TAS_CTL_MAX_FDS)
        return -EINVAL;
    if (nfds > 0) {
        memset(&ctrl, 0, sizeof(ctrl));
        mh.msg_control = ctrl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    for (;;) {
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (n == (ssize_t)sizeof(*m))
            return 0;
        if (n >= 0)
            return -EPROTO;
        if (errno != EINTR)
            return -errno;
    }
}

/* Receives one message.  On success *nfds holds the number of descriptors
 * stored in fds (at most max_fds).  Returns -ECONNRESET at end of stream. */
static inline int tas_ctl_recv(int sock, struct tas_ctl_msg *m, int *fds,
                               unsigned max_fds, unsigned *nfds, int flags)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * TAS_CTL_MAX_FDS)];
        struct cmsghdr align;
    } ctrl;
    struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = ctrl.buf, .msg_controllen = sizeof(ctrl.buf),
    };
    ssize_t n;

    *nfds = 0;
    do {
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -ECONNRESET;

    int bad = n != (ssize_t)sizeof(*m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC));
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        unsigned cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int got[TAS_CTL_MAX_FDS];
        memcpy(got, CMSG_DATA(c), sizeof(int) * (cnt < TAS_CTL_MAX_FDS ? cnt : TAS_CTL_MAX_FDS));
        for (unsigned i = 0; i < cnt && i < TAS_CTL_MAX_FDS; i++) {
            if (!bad && *nfds < max_fds)
                fds[(*nfds)++] = got[i];
            else
                close(got[i]);
        }
        if (cnt > max_fds)
            bad = 1;
    }
    if (bad || m->nfds != *nfds) {
        for (unsigned i = 0; i < *nfds; i++)
            close(fds[i]);
        *nfds = 0;
        return -EPROTO;
    }
    return 0;
}

#endif /* TAS_CTL_IO_H */
