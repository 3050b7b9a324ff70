/* The libzio page index.
 *
 * A hash table keyed by page address, read under RCU (liburcu-bp) without
 * locks and mutated only by the holder of the engine lock.  Each entry is
 * either an intermediate page (left unmapped; its bytes live at `src`) or an
 * original page (write-protected because intermediates read from it). */
#ifndef ZIO_INDEX_H
#define ZIO_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <urcu/hlist.h>
#include <urcu/list.h>

enum zio_page_kind {
    ZIO_INTERMEDIATE,
    ZIO_ORIGINAL,
};

struct zio_buf;
struct zio_page;

/* Link from an intermediate page to one original page it reads from. */
struct zio_dep {
    struct cds_list_head node;  /* in original->dependents */
    struct zio_page *original;
    struct zio_page *owner;     /* the intermediate page holding this link */
};

struct zio_page {
    struct cds_hlist_node hash;
    uintptr_t addr;
    enum zio_page_kind kind;
    bool removed;                       /* unlinked, still visible to old readers */
    union {
        struct {                        /* ZIO_INTERMEDIATE */
            uintptr_t src;              /* where this page's bytes are, any alignment */
            struct zio_buf *buf;
            struct zio_dep deps[2];     /* an unaligned source spans two pages */
        } inter;
        struct {                        /* ZIO_ORIGINAL */
            struct cds_list_head dependents;
            size_t nr_dependents;
        } orig;
    };
};

/* A growable stack of pointers on private mmap'd memory. */
struct zio_stack {
    void **slots;
    size_t n, cap;
};

/* Fixed-size object pool on private mmap'd memory.  The engine cannot use
 * the program's allocator: its pages may be tracked and fault while the
 * engine holds its lock.  Free objects are kept as a stack of pointers,
 * not a list through the objects: taking 128 of them for one elided copy
 * then reads one dense array instead of chasing 128 cold objects, each
 * load waiting for the one before.  The stack always has room for every
 * object the pool ever made, so putting one back cannot fail. */
struct zio_pool {
    size_t object_size;
    size_t made;
    struct zio_stack free;
    char *chunk;
    size_t chunk_left;
};

void zio_pool_init(struct zio_pool *pool, size_t object_size);
void *zio_pool_get(struct zio_pool *pool);
void zio_pool_put(struct zio_pool *pool, void *object);
/* Puts back n objects at once. */
void zio_pool_put_many(struct zio_pool *pool, void *const *objects, size_t n);

bool zio_index_init(size_t nr_buckets);

/* Readers: inside rcu_read_lock() or under the engine lock. */
struct zio_page *zio_index_lookup(uintptr_t page);
bool zio_index_any_in(uintptr_t start, uintptr_t end);
size_t zio_index_count(enum zio_page_kind kind);

/* Writers: under the engine lock. */
struct zio_page *zio_index_insert(uintptr_t page, enum zio_page_kind kind);
void zio_index_remove(struct zio_page *entry);
/* Frees removed entries once no reader can see them; may block briefly. */
void zio_index_reclaim(bool force);
/* Calls fn on every entry; fn may remove the entry it is given. */
void zio_index_for_each(void (*fn)(struct zio_page *entry, void *arg), void *arg);
/* Forgets every entry at once, without a grace period: for a fork child. */
void zio_index_reset(void);

#endif
