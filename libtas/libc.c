/* libc.c - find the C library's versions of the interposed functions. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "libc.h"

struct libc_fns libc;

static void *libc_lookup(const char *name, int required)
{
    void *fn = dlsym(RTLD_NEXT, name);

    if (fn == NULL && required) {
        /* Without the real function every call would recurse into us. */
        fprintf(stderr, "libtas: cannot find %s in the C library\n", name);
        abort();
    }
    return fn;
}

#define RESOLVE(name) \
    libc.name = (__typeof__(libc.name))libc_lookup(#name, 1)
#define RESOLVE_OPTIONAL(name) \
    libc.name = (__typeof__(libc.name))libc_lookup(#name, 0)

void libc_resolve(void)
{
    /* Plain stores of the same values: racing threads agree. */
    if (__atomic_load_n(&libc.dup3, __ATOMIC_ACQUIRE) != NULL)
        return;
    RESOLVE(socket);
    RESOLVE(bind);
    RESOLVE(listen);
    RESOLVE(accept4);
    RESOLVE(connect);
    RESOLVE(read);
    RESOLVE(write);
    RESOLVE(recv);
    RESOLVE(send);
    RESOLVE(recvfrom);
    RESOLVE(sendto);
    RESOLVE(readv);
    RESOLVE(writev);
    RESOLVE(recvmsg);
    RESOLVE(sendmsg);
    RESOLVE(sendfile);
    RESOLVE(shutdown);
    RESOLVE(close);
    RESOLVE(getsockname);
    RESOLVE(getpeername);
    RESOLVE(getsockopt);
    RESOLVE(setsockopt);
    RESOLVE(fcntl);
    RESOLVE(ioctl);
    RESOLVE(epoll_create1);
    RESOLVE(epoll_ctl);
    RESOLVE(epoll_wait);
    RESOLVE(epoll_pwait);
    RESOLVE_OPTIONAL(epoll_pwait2);
    RESOLVE(poll);
    RESOLVE(ppoll);
    RESOLVE(select);
    RESOLVE(pselect);
    RESOLVE(dup);
    RESOLVE(dup2);
    RESOLVE_OPTIONAL(close_range);
    /* Last, published with release: the flag that all the others are set. */
    int (*dup3_fn)(int, int, int) = (int (*)(int, int, int))libc_lookup("dup3", 1);
    __atomic_store_n(&libc.dup3, dup3_fn, __ATOMIC_RELEASE);
}
