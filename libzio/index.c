/* The page index: which pages are elided and which are protected originals.
 *
 * Lookups happen on every large memcpy and every large write, concurrently
 * from all threads, so they run under RCU (the bulletproof flavour, which
 * needs no thread registration and so suits a preloaded library) and take
 * no lock.  Mutations are rare by comparison (one per elided copy, fault or
 * free) and are serialized by the engine lock held by the caller.  Removed
 * entries wait in limbo until a grace period has passed.
 *
 * Per-page keys keep both lookups and partial updates (a fault resolving
 * one page in the middle of a buffer) O(1); a 1 MB buffer is 256 entries,
 * cheap next to the 1 MB copy it replaces. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <urcu-bp.h>
#include <urcu/rcuhlist.h>

#include "zio/index.h"
#include "zio/page.h"

#define POOL_CHUNK (2UL << 20)
#define LIMBO_BATCH 1024

static bool stack_reserve(struct zio_stack *stack, size_t cap)
{
    size_t bytes = zio_page_up(cap * sizeof(void *));
    void *slots;

    if (cap <= stack->cap)
        return true;
    if (stack->slots)
        slots = mremap(stack->slots, stack->cap * sizeof(void *), bytes, MREMAP_MAYMOVE);
    else
        slots = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED)
        return false;
    stack->slots = slots;
    stack->cap = bytes / sizeof(void *);
    return true;
}

void zio_pool_init(struct zio_pool *pool, size_t object_size)
{
    *pool = (struct zio_pool){ .object_size = (object_size + 15) & ~(size_t)15 };
}

void *zio_pool_get(struct zio_pool *pool)
{
    void *object;

    if (pool->free.n > 0)
        return pool->free.slots[--pool->free.n];
    if (pool->chunk_left < pool->object_size) {
        void *chunk;

        if (!stack_reserve(&pool->free, pool->made + POOL_CHUNK / pool->object_size))
            return NULL;
        chunk = mmap(NULL, POOL_CHUNK, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (chunk == MAP_FAILED)
            return NULL;
        pool->chunk = chunk;
        pool->chunk_left = POOL_CHUNK;
    }
    object = pool->chunk;
    pool->chunk += pool->object_size;
    pool->chunk_left -= pool->object_size;
    pool->made++;
    return object;
}

void zio_pool_put(struct zio_pool *pool, void *object)
{
    zio_pool_put_many(pool, &object, 1);
}

void zio_pool_put_many(struct zio_pool *pool, void *const *objects, size_t n)
{
    memcpy(pool->free.slots + pool->free.n, objects, n * sizeof(void *));
    pool->free.n += n;
}

static struct cds_hlist_head *buckets;
static size_t bucket_mask;
static struct zio_pool page_pool;
static struct zio_stack limbo;      /* removed, waiting for a grace period */
static size_t counts[2];

bool zio_index_init(size_t nr_buckets)
{
    size_t n = 1;

    while (n < nr_buckets)
        n <<= 1;
    buckets = mmap(NULL, n * sizeof(*buckets), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (buckets == MAP_FAILED) {
        buckets = NULL;
        return false;
    }
    bucket_mask = n - 1;
    zio_pool_init(&page_pool, sizeof(struct zio_page));
    return true;
}

/* Consecutive pages go to consecutive buckets: an elided buffer is a run
 * of pages, and walking it then reads the bucket array sequentially instead
 * of taking a cache miss per page.  The higher bits are folded in so that
 * runs far apart in the address space do not line up on the same buckets. */
static struct cds_hlist_head *bucket_of(uintptr_t page)
{
    uintptr_t n = page / ZIO_PAGE_SIZE;

    return &buckets[(n ^ (n >> 17) * 0x9E3779B1u) & bucket_mask];
}

struct zio_page *zio_index_lookup(uintptr_t page)
{
    struct zio_page *entry;

    cds_hlist_for_each_entry_rcu_2(entry, bucket_of(page), hash) {
        if (entry->addr == page)
            return entry;
    }
    return NULL;
}

bool zio_index_any_in(uintptr_t start, uintptr_t end)
{
    uintptr_t page;

    if (uatomic_read(&counts[ZIO_INTERMEDIATE]) == 0 &&
        uatomic_read(&counts[ZIO_ORIGINAL]) == 0)
        return false;
    for (page = zio_page_down(start); page < end; page += ZIO_PAGE_SIZE) {
        if (zio_index_lookup(page))
            return true;
    }
    return false;
}

size_t zio_index_count(enum zio_page_kind kind)
{
    return uatomic_read(&counts[kind]);
}

struct zio_page *zio_index_insert(uintptr_t page, enum zio_page_kind kind)
{
    struct zio_page *entry = zio_pool_get(&page_pool);

    if (!entry)
        return NULL;
    /* Limbo has room for every entry there is, so removal cannot fail. */
    if (!stack_reserve(&limbo, page_pool.made)) {
        zio_pool_put(&page_pool, entry);
        return NULL;
    }
    entry->addr = page;
    entry->kind = kind;
    entry->removed = false;
    if (kind == ZIO_ORIGINAL) {
        CDS_INIT_LIST_HEAD(&entry->orig.dependents);
        entry->orig.nr_dependents = 0;
    } else {
        entry->inter.src = 0;
        entry->inter.buf = NULL;
        entry->inter.deps[0].original = NULL;
        entry->inter.deps[1].original = NULL;
    }
    cds_hlist_add_head_rcu(&entry->hash, bucket_of(page));
    uatomic_set(&counts[kind], counts[kind] + 1);
    return entry;
}

void zio_index_remove(struct zio_page *entry)
{
    cds_hlist_del_rcu(&entry->hash);
    entry->removed = true;
    uatomic_set(&counts[entry->kind], counts[entry->kind] - 1);
    limbo.slots[limbo.n++] = entry;
}

static void limbo_to_pool(void)
{
    zio_pool_put_many(&page_pool, limbo.slots, limbo.n);
    limbo.n = 0;
}

void zio_index_reclaim(bool force)
{
    if (limbo.n == 0 || (!force && limbo.n < LIMBO_BATCH))
        return;
    urcu_bp_synchronize_rcu();
    limbo_to_pool();
}

void zio_index_for_each(void (*fn)(struct zio_page *entry, void *arg), void *arg)
{
    size_t i;

    for (i = 0; i <= bucket_mask; i++) {
        struct cds_hlist_node *node = buckets[i].next;

        while (node) {
            struct zio_page *entry = caa_container_of(node, struct zio_page, hash);

            /* Removal keeps `next` intact, so the walk survives fn removing
             * this or any later entry; removed ones are skipped. */
            node = node->next;
            if (!entry->removed)
                fn(entry, arg);
        }
    }
}

void zio_index_reset(void)
{
    size_t i;

    /* Only the forking thread exists in a child: no reader can hold a
     * reference, so limbo goes straight back to the pool. */
    limbo_to_pool();
    for (i = 0; i <= bucket_mask; i++)
        buckets[i].next = NULL;
    counts[ZIO_INTERMEDIATE] = counts[ZIO_ORIGINAL] = 0;
}
