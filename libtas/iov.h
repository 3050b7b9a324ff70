/* iov.h - copying between scatter/gather lists.
 *
 * The socket calls take the application's iovecs, the payload rings give
 * up to two pieces each; one copy routine serves read, write and their
 * vector forms.  Pure, so it is unit-tested on its own.
 */
#ifndef LIBTAS_IOV_H
#define LIBTAS_IOV_H

#include <stddef.h>
#include <string.h>
#include <sys/uio.h>

/* Total length, or (size_t)-1 if it overflows. */
static inline size_t iov_total(const struct iovec *iov, int cnt)
{
    size_t total = 0;

    for (int i = 0; i < cnt; i++) {
        if (iov[i].iov_len > (size_t)-1 - total)
            return (size_t)-1;
        total += iov[i].iov_len;
    }
    return total;
}

/* Copy up to max bytes from src (skipping its first src_off bytes) to dst
 * (skipping its first dst_off bytes); returns the bytes copied. */
static inline size_t iov_copy(const struct iovec *dst, int dst_cnt,
                              size_t dst_off, const struct iovec *src,
                              int src_cnt, size_t src_off, size_t max)
{
    int di = 0, si = 0;
    size_t done = 0;

    while (di < dst_cnt && dst_off >= dst[di].iov_len)
        dst_off -= dst[di++].iov_len;
    while (si < src_cnt && src_off >= src[si].iov_len)
        src_off -= src[si++].iov_len;
    while (done < max && di < dst_cnt && si < src_cnt) {
        size_t n = dst[di].iov_len - dst_off;
        if (src[si].iov_len - src_off < n)
            n = src[si].iov_len - src_off;
        if (max - done < n)
            n = max - done;
        memcpy((char *)dst[di].iov_base + dst_off,
               (const char *)src[si].iov_base + src_off, n);
        done += n;
        dst_off += n;
        src_off += n;
        if (dst_off == dst[di].iov_len) {
            di++;
            dst_off = 0;
        }
        if (src_off == src[si].iov_len) {
            si++;
            src_off = 0;
        }
    }
    return done;
}

#endif /* LIBTAS_IOV_H */
