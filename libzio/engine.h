/* Internal interfaces between the libzio subsystems.
 *
 * interpose.c owns the real libc entry points and calls the engine; the
 * engine (engine.c) owns the tracking state and uses uffd.c for the kernel
 * side and index.c for the page index. */
#ifndef ZIO_ENGINE_H
#define ZIO_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "zio/policy.h"

/* libc (or the program's allocator) behind our interposers. */
struct zio_real {
    void *(*memcpy)(void *, const void *, size_t);
    void *(*memmove)(void *, const void *, size_t);
    void *(*malloc)(size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void (*free)(void *);
    void *(*realloc)(void *, size_t);
    size_t (*malloc_usable_size)(void *);
    ssize_t (*writev)(int, const struct iovec *, int);
    int (*madvise)(void *, size_t, int);
};
extern struct zio_real zio_real;
extern struct zio_policy zio_policy;

struct zio_stats {
    atomic_ulong copies_elided;
    atomic_ulong bytes_elided;
    atomic_ulong faults_missing;
    atomic_ulong faults_wp;
    atomic_ulong fallbacks;
    atomic_ulong reallocs_in_place;
    atomic_ulong pages_materialized;
    atomic_ulong outputs_gathered;
    atomic_ulong gc_evictions;
};
extern struct zio_stats zio_stats;

#define zio_stat_add(name, n) \
    atomic_fetch_add_explicit(&zio_stats.name, (n), memory_order_relaxed)
#define zio_stat_read(name) \
    atomic_load_explicit(&zio_stats.name, memory_order_relaxed)

void zio_stats_print(int fd);

/* input.c: recently received ranges, to tell IO data from other data. */
void zio_input_record(const void *buf, size_t len);
bool zio_input_overlaps(uintptr_t start, uintptr_t end);

/* uffd.c */
int zio_uffd_open(void);
bool zio_uffd_register(int uffd, uintptr_t start, size_t len);
/* Also clears the range's write protection, which would otherwise come
 * back to life when the range is registered again. */
void zio_uffd_unregister(int uffd, uintptr_t start, size_t len);
/* Fills the unmapped pages [dst, dst + len) from src in one call where it
 * can; pages already mapped are left alone.  0, or the last error. */
int zio_uffd_copy(int uffd, uintptr_t dst, uintptr_t src, size_t len);
void zio_uffd_zeropage(int uffd, uintptr_t page, bool wake_waiters);
bool zio_uffd_protect(int uffd, uintptr_t start, size_t len, bool protect);
bool zio_uffd_start_handler(int uffd, void (*on_fault)(uintptr_t addr, bool wp));

/* engine.c */
enum zio_forget {
    ZIO_DISCARD,        /* contents die, memory stays (free, MADV_DONTNEED) */
    ZIO_UNMAP,          /* contents and memory go (munmap, mmap over it) */
    ZIO_KEEP,           /* contents must survive (mremap) */
};

bool zio_engine_copy(void *dst, const void *src, size_t len);
bool zio_engine_realloc_needed(void *ptr, size_t usable);
void zio_engine_prepare_overwrite(const void *buf, size_t len);
void zio_engine_forget(uintptr_t start, uintptr_t end, enum zio_forget mode);
void zio_engine_note_foreign(uintptr_t start, size_t len);
void zio_engine_drop_foreign(uintptr_t start, size_t len);
/* Rewrites iov so tracked pages point at their originals.  Returns the new
 * count, or -1 when nothing was tracked and the caller should use iov as
 * is.  A successful call must be paired with zio_engine_output_end(). */
int zio_engine_output_begin(const struct iovec *iov, int iovcnt,
                            struct iovec *out, int out_max);
void zio_engine_output_end(void);
void zio_engine_fork_prepare(void);
void zio_engine_fork_parent(void);
void zio_engine_fork_child(void);

#endif
