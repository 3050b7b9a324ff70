/* idmap.c - id -> object hash table; see idmap.h. */
#include <errno.h>
#include <stdlib.h>

#include "idmap.h"

#define IDMAP_MIN_SLOTS 64u

static uint32_t idmap_hash(uint32_t id)
{
    /* Flow ids are small dense integers; spread them over the table. */
    id ^= id >> 16;
    id *= 0x7feb352du;
    id ^= id >> 15;
    return id;
}

void idmap_init(struct idmap *m)
{
    m->slots = NULL;
    m->mask = 0;
    m->count = 0;
}

void idmap_free(struct idmap *m)
{
    free(m->slots);
    idmap_init(m);
}

static struct idmap_slot *idmap_find(const struct idmap *m, uint32_t id)
{
    if (m->slots == NULL)
        return NULL;
    for (uint32_t i = idmap_hash(id);; i++) {
        struct idmap_slot *s = &m->slots[i & m->mask];
        if (s->value == NULL)
            return NULL;
        if (s->id == id)
            return s;
    }
}

void *idmap_get(const struct idmap *m, uint32_t id)
{
    struct idmap_slot *s = idmap_find(m, id);
    return s ? s->value : NULL;
}

static void idmap_place(struct idmap_slot *slots, uint32_t mask, uint32_t id,
                        void *value)
{
    uint32_t i = idmap_hash(id);
    while (slots[i & mask].value != NULL)
        i++;
    slots[i & mask].id = id;
    slots[i & mask].value = value;
}

static int idmap_grow(struct idmap *m)
{
    uint32_t nslots = m->slots ? (m->mask + 1) * 2 : IDMAP_MIN_SLOTS;
    struct idmap_slot *slots = calloc(nslots, sizeof(*slots));

    if (slots == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; m->slots && i <= m->mask; i++)
        if (m->slots[i].value != NULL)
            idmap_place(slots, nslots - 1, m->slots[i].id, m->slots[i].value);
    free(m->slots);
    m->slots = slots;
    m->mask = nslots - 1;
    return 0;
}

int idmap_put(struct idmap *m, uint32_t id, void *value)
{
    struct idmap_slot *s = idmap_find(m, id);

    if (s != NULL) {
        s->value = value;
        return 0;
    }
    /* Keep the load factor at most 1/2 so probe sequences stay short. */
    if (m->slots == NULL || (m->count + 1) * 2 > m->mask + 1) {
        int err = idmap_grow(m);
        if (err)
            return err;
    }
    idmap_place(m->slots, m->mask, id, value);
    m->count++;
    return 0;
}

void *idmap_del(struct idmap *m, uint32_t id)
{
    struct idmap_slot *s = idmap_find(m, id);
    if (s == NULL)
        return NULL;

    void *value = s->value;
    uint32_t hole = (uint32_t)(s - m->slots);

    /* Backward-shift: move later members of the probe run into the hole so
     * lookups never need tombstones. */
    for (uint32_t j = (hole + 1) & m->mask;; j = (j + 1) & m->mask) {
        struct idmap_slot *n = &m->slots[j];
        if (n->value == NULL)
            break;
        uint32_t home = idmap_hash(n->id) & m->mask;
        /* n may fill the hole if its home is not cyclically in (hole, j]. */
        if (((j - home) & m->mask) >= ((j - hole) & m->mask)) {
            m->slots[hole] = *n;
            hole = j;
        }
    }
    m->slots[hole].value = NULL;
    m->count--;
    return value;
}
