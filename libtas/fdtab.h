/* fdtab.h - which file descriptors libtas serves itself.
 *
 * Every TAS socket (and every epoll set that watches one) occupies a real
 * descriptor number reserved from the kernel; this table maps the number to
 * our object.  Each interposed call looks its descriptor up here first, so
 * the lookup takes no lock: a two-level array of atomically published
 * pointers, chunks allocated on first use and never freed.
 */
#ifndef LIBTAS_FDTAB_H
#define LIBTAS_FDTAB_H

#include <stdbool.h>

enum file_kind { FILE_SOCK = 1, FILE_EPOLL, FILE_INTERNAL };

/* Head of every object the table points to.  refs counts descriptors and
 * calls in progress; all changes happen under the shim lock. */
struct file {
    enum file_kind kind;
    unsigned refs;
};

#define FDTAB_CHUNK_BITS 10
#define FDTAB_CHUNKS     1024
#define FDTAB_MAX_FD     (FDTAB_CHUNKS << FDTAB_CHUNK_BITS)

struct file *fdtab_get(int fd);
/* Store f (NULL to clear) at fd; returns what was there.  Fails (returns
 * f unchanged and sets *ok false) only when fd is out of range or memory
 * runs out. */
struct file *fdtab_swap(int fd, struct file *f, bool *ok);

/* libtas's own descriptors (service socket, eventfds, private epoll sets)
 * live where programs rarely look, near the top of the descriptor limit,
 * and are marked FILE_INTERNAL so that the interposed close, dup2 and
 * close_range leave them alone.  fdtab_hide moves fd there (closing the
 * original) and returns the new number; fdtab_close_internal closes one. */
int fdtab_hide(int fd);
void fdtab_close_internal(int fd);

/* The lowest descriptor >= from that has an entry, or -1. */
int fdtab_next(int from);

#endif /* LIBTAS_FDTAB_H */
