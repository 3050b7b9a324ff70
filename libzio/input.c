/* Input recording: which memory recently received data from IO.
 *
 * zIO only elides copies of IO data: a copy of anything else is likely to
 * be touched and would only cost faults.  Every read()/recv() records its
 * buffer in a small ring; a large memcpy whose source overlaps a recorded
 * range (or an already-tracked page) is a candidate.  The ring is a hint
 * and is read and written without locks: a torn or overwritten slot can
 * only make us copy where we could have elided, or the reverse, and both
 * are correct. */
#include "engine.h"

#define INPUT_SLOTS 256

struct input_slot {
    _Atomic uintptr_t start;
    _Atomic uintptr_t end;
};

static struct input_slot slots[INPUT_SLOTS];
static atomic_uint next_slot;

void zio_input_record(const void *buf, size_t len)
{
    unsigned i = atomic_fetch_add_explicit(&next_slot, 1, memory_order_relaxed);
    struct input_slot *slot = &slots[i % INPUT_SLOTS];

    atomic_store_explicit(&slot->start, (uintptr_t)buf, memory_order_relaxed);
    atomic_store_explicit(&slot->end, (uintptr_t)buf + len, memory_order_relaxed);
}

bool zio_input_overlaps(uintptr_t start, uintptr_t end)
{
    for (unsigned i = 0; i < INPUT_SLOTS; i++) {
        uintptr_t s = atomic_load_explicit(&slots[i].start, memory_order_relaxed);
        uintptr_t e = atomic_load_explicit(&slots[i].end, memory_order_relaxed);

        if (s < end && start < e)
            return true;
    }
    return false;
}
