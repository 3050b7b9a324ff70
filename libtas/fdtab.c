/* fdtab.c - descriptor -> libtas object table; see fdtab.h. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "fdtab.h"
#include "libc.h"

static struct file **fdtab[FDTAB_CHUNKS];

struct file *fdtab_get(int fd)
{
    if (fd < 0 || fd >= FDTAB_MAX_FD)
        return NULL;
    struct file **chunk = __atomic_load_n(&fdtab[fd >> FDTAB_CHUNK_BITS],
                                          __ATOMIC_ACQUIRE);
    if (chunk == NULL)
        return NULL;
    return __atomic_load_n(&chunk[fd & ((1 << FDTAB_CHUNK_BITS) - 1)],
                           __ATOMIC_ACQUIRE);
}

struct file *fdtab_swap(int fd, struct file *f, bool *ok)
{
    *ok = false;
    if (fd < 0 || fd >= FDTAB_MAX_FD)
        return NULL;

    struct file ***slot = &fdtab[fd >> FDTAB_CHUNK_BITS];
    struct file **chunk = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (chunk == NULL) {
        if (f == NULL) {
            *ok = true;
            return NULL;
        }
        struct file **fresh = calloc(1u << FDTAB_CHUNK_BITS, sizeof(*fresh));
        if (fresh == NULL)
            return NULL;
        /* Writers hold the shim lock, but stay safe without it. */
        if (!__atomic_compare_exchange_n(slot, &chunk, fresh, false,
                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            free(fresh);
        else
            chunk = fresh;
    }
    *ok = true;
    return __atomic_exchange_n(&chunk[fd & ((1 << FDTAB_CHUNK_BITS) - 1)], f,
                               __ATOMIC_ACQ_REL);
}

int fdtab_next(int from)
{
    for (int fd = from < 0 ? 0 : from; fd < FDTAB_MAX_FD;) {
        struct file **chunk = __atomic_load_n(&fdtab[fd >> FDTAB_CHUNK_BITS],
                                              __ATOMIC_ACQUIRE);
        if (chunk == NULL) {
            fd = ((fd >> FDTAB_CHUNK_BITS) + 1) << FDTAB_CHUNK_BITS;
            continue;
        }
        if (__atomic_load_n(&chunk[fd & ((1 << FDTAB_CHUNK_BITS) - 1)],
                            __ATOMIC_ACQUIRE) != NULL)
            return fd;
        fd++;
    }
    return -1;
}

static struct file internal_file = { .kind = FILE_INTERNAL, .refs = 1 };

int fdtab_hide(int fd)
{
    struct rlimit lim;
    int low = 256;
    bool ok;

    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        lim.rlim_cur > 512)
        low = (int)(lim.rlim_cur > FDTAB_MAX_FD ? FDTAB_MAX_FD : lim.rlim_cur) - 128;
    int high = libc.fcntl(fd, F_DUPFD_CLOEXEC, low);
    if (high >= 0) {
        libc.close(fd);
        fd = high;
    }
    fdtab_swap(fd, &internal_file, &ok);
    return fd;
}

void fdtab_close_internal(int fd)
{
    bool ok;

    if (fd < 0)
        return;
    fdtab_swap(fd, NULL, &ok);
    libc.close(fd);
}
