/* idmap.h - map from the 32-bit ids the service hands out (flow ids,
 * listener ids) to libtas objects.
 *
 * Events on the shared rings name flows by id only; every one is looked up
 * here, so this is an open-addressing hash table with linear probing and
 * backward-shift deletion: constant time, no allocation per lookup.  It
 * grows (allocates) only when connections are set up.
 */
#ifndef LIBTAS_IDMAP_H
#define LIBTAS_IDMAP_H

#include <stdint.h>

struct idmap_slot {
    uint32_t id;
    void *value;            /* NULL: slot empty */
};

struct idmap {
    struct idmap_slot *slots;
    uint32_t mask;          /* slot count - 1 */
    uint32_t count;
};

void idmap_init(struct idmap *m);
void idmap_free(struct idmap *m);
void *idmap_get(const struct idmap *m, uint32_t id);
/* Insert or replace; value must not be NULL.  0 or -ENOMEM. */
int idmap_put(struct idmap *m, uint32_t id, void *value);
/* Remove id; returns its value or NULL. */
void *idmap_del(struct idmap *m, uint32_t id);

#endif /* LIBTAS_IDMAP_H */
