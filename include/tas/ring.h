/* ring.h - single-producer/single-consumer message ring in shared memory.
 *
 * Every queue between TAS processes (application <-> fast path, fast path <->
 * slow path, slow path -> application) is one of these.  Only the two indexes
 * live in shared memory; the geometry (slot count, slot size, where the slots
 * are) is given to each side by the side it trusts, so a peer that scribbles
 * over the shared page can corrupt its own queue contents but can never make
 * the other side index outside the slot array.
 *
 * Indexes run freely (32-bit, wrapping) and are masked on use.  The producer
 * publishes a slot with a release store of `head`; the consumer frees it with
 * a release store of `tail`.  A consumer that sees more than `slots` entries
 * outstanding knows the producer is corrupt and must stop trusting it.
 *
 * `waiting` lets a consumer that is about to block ask the producer for an
 * eventfd kick; producers check it after publishing (see ring_needs_kick).
 * A consumer that will never block on the ring (a busy-polling fast path)
 * says so in `polled`, which spares its producers the full fence.
 */
#ifndef TAS_RING_H
#define TAS_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAS_CACHE_LINE 64

/* The shared part: three cache lines so producer and consumer never share one. */
struct tas_ring_shared {
    _Alignas(TAS_CACHE_LINE) uint32_t head;    /* written by the producer only */
    _Alignas(TAS_CACHE_LINE) uint32_t tail;    /* written by the consumer only */
    _Alignas(TAS_CACHE_LINE) uint32_t waiting; /* consumer sleeps, wants a kick */
    uint32_t polled;                           /* consumer never sleeps on it */
};

/* The private part each side builds from trusted geometry. */
struct tas_ring {
    struct tas_ring_shared *sh;
    uint8_t *slots;
    uint32_t mask;        /* slot count - 1; slot count is a power of two */
    uint32_t slot_size;
    uint32_t local;       /* producer: next head; consumer: next tail */
};

static inline void tas_ring_init_view(struct tas_ring *r,
                                      struct tas_ring_shared *sh, void *slots,
                                      uint32_t nslots, uint32_t slot_size,
                                      bool producer)
{
    r->sh = sh;
    r->slots = slots;
    r->mask = nslots - 1;
    r->slot_size = slot_size;
    r->local = producer ? __atomic_load_n(&sh->head, __ATOMIC_ACQUIRE)
                        : __atomic_load_n(&sh->tail, __ATOMIC_ACQUIRE);
}

static inline void *tas_ring_slot(const struct tas_ring *r, uint32_t idx)
{
    return r->slots + (size_t)(idx & r->mask) * r->slot_size;
}

/* Producer: a free slot to fill, or NULL when full (or the consumer's tail is
 * garbage, which looks the same and is just as safe). */
static inline void *tas_ring_prod_slot(struct tas_ring *r)
{
    uint32_t tail = __atomic_load_n(&r->sh->tail, __ATOMIC_ACQUIRE);
    if (r->local - tail > r->mask)
        return NULL;
    return tas_ring_slot(r, r->local);
}

/* Producer: make the slot returned by tas_ring_prod_slot visible. */
static inline void tas_ring_prod_commit(struct tas_ring *r)
{
    r->local++;
    __atomic_store_n(&r->sh->head, r->local, __ATOMIC_RELEASE);
}

/* Producer: after committing, does the consumer want an eventfd kick?  The
 * full fence pairs with the one in tas_ring_cons_prepare_sleep.  It waits
 * for the committed head to reach the consumer's core, which on a ring the
 * consumer polls is most of what a post costs, so a polled ring skips it. */
static inline bool tas_ring_needs_kick(struct tas_ring *r)
{
    if (__atomic_load_n(&r->sh->polled, __ATOMIC_RELAXED))
        return false;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return __atomic_load_n(&r->sh->waiting, __ATOMIC_RELAXED) != 0;
}

enum tas_ring_status { TAS_RING_EMPTY = 0, TAS_RING_READY = 1, TAS_RING_CORRUPT = -1 };

/* Consumer: the next filled slot in *slot, or EMPTY, or CORRUPT when the
 * producer's head claims more entries than the ring holds. */
static inline enum tas_ring_status tas_ring_cons_peek(struct tas_ring *r,
                                                      void **slot)
{
    uint32_t head = __atomic_load_n(&r->sh->head, __ATOMIC_ACQUIRE);
    uint32_t used = head - r->local;
    if (used == 0)
        return TAS_RING_EMPTY;
    if (used > r->mask + 1)
        return TAS_RING_CORRUPT;
    *slot = tas_ring_slot(r, r->local);
    return TAS_RING_READY;
}

/* Consumer: release the slot returned by tas_ring_cons_peek. */
static inline void tas_ring_cons_release(struct tas_ring *r)
{
    r->local++;
    __atomic_store_n(&r->sh->tail, r->local, __ATOMIC_RELEASE);
}

/* Consumer: announce intent to sleep; returns false if entries arrived in the
 * meantime (then do not sleep).  Call tas_ring_cons_awake after waking. */
static inline bool tas_ring_cons_prepare_sleep(struct tas_ring *r)
{
    __atomic_store_n(&r->sh->waiting, 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return __atomic_load_n(&r->sh->head, __ATOMIC_ACQUIRE) == r->local;
}

static inline void tas_ring_cons_awake(struct tas_ring *r)
{
    __atomic_store_n(&r->sh->waiting, 0, __ATOMIC_RELAXED);
}

/* Consumer: whether it will ever block on the ring.  Setting `polled` is a
 * promise never to sleep on it again, so a producer that still reads the
 * old 0 only fences in vain.  Clearing it (a consumer that blocks after
 * all) can race with a producer that read 1 and skipped its kick; a
 * consumer that does so must bound its sleep, as the fast path does with
 * --idle-sleep-us. */
static inline void tas_ring_cons_set_polled(struct tas_ring *r, bool polled)
{
    __atomic_store_n(&r->sh->polled, polled ? 1u : 0u, __ATOMIC_RELAXED);
}

#endif /* TAS_RING_H */
