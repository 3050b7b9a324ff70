/* syncookie.c - encoding and checking of SYN cookies; see syncookie.h.
 *
 * Layout of the 32-bit cookie, high to low: 25 bits of keyed hash, 1 bit of
 * secret generation, 2 bits of MSS class, 4 bits of peer window scale.
 */
#include "syncookie.h"
#include "mix.h"

#define COOKIE_HASH_SHIFT 7
#define COOKIE_GEN_SHIFT  6
#define COOKIE_MSS_SHIFT  4
#define COOKIE_LOW_MASK   0x7fu

/* Common MSS values of IPv4 paths: minimum, tunnels/IPv6-sized, PPPoE-ish,
 * Ethernet.  A SYN's MSS is rounded down to the largest class it reaches. */
static const uint16_t mss_classes[4] = { 536, 1220, 1440, 1460 };

static uint32_t cookie_hash(uint64_t key, const struct conn_key *t, uint32_t peer_isn,
                            uint32_t low_bits)
{
    uint64_t h = sp_mix64(key ^ ((uint64_t)t->local_ip << 32 | t->remote_ip));
    h = sp_mix64(h ^ ((uint64_t)t->local_port << 48 | (uint64_t)t->remote_port << 32 | peer_isn));
    h = sp_mix64(h ^ low_bits ^ key >> 7);
    return (uint32_t)(h >> 39);      /* top 25 bits */
}

void syncookie_init(struct syncookie_keys *k, const uint64_t fresh[2], uint64_t now_us)
{
    k->key[0] = fresh[0];
    k->key[1] = fresh[1];
    k->generation = 0;
    k->next_rotation_us = now_us + SYNCOOKIE_PERIOD_US;
}

bool syncookie_due(const struct syncookie_keys *k, uint64_t now_us)
{
    return now_us >= k->next_rotation_us;
}

void syncookie_rotate(struct syncookie_keys *k, uint64_t fresh, uint64_t now_us)
{
    k->generation++;
    k->key[k->generation & 1] = fresh;
    k->next_rotation_us = now_us + SYNCOOKIE_PERIOD_US;
}

static uint32_t mss_class(uint16_t mss)
{
    uint32_t c = 0;
    while (c + 1 < 4 && mss >= mss_classes[c + 1])
        c++;
    return c;
}

uint32_t syncookie_make(const struct syncookie_keys *k, const struct conn_key *tuple,
                        uint32_t peer_isn, const struct syncookie_syn *syn)
{
    uint32_t gen = k->generation & 1;
    uint32_t ws = syn->wscale > SYNCOOKIE_NO_WSCALE ? SYNCOOKIE_NO_WSCALE : syn->wscale;
    uint32_t low = gen << COOKIE_GEN_SHIFT | mss_class(syn->mss) << COOKIE_MSS_SHIFT | ws;
    return cookie_hash(k->key[gen], tuple, peer_isn, low) << COOKIE_HASH_SHIFT | low;
}

bool syncookie_check(const struct syncookie_keys *k, const struct conn_key *tuple,
                     uint32_t peer_isn, uint32_t cookie, struct syncookie_syn *syn)
{
    uint32_t low = cookie & COOKIE_LOW_MASK;
    uint32_t gen = low >> COOKIE_GEN_SHIFT;
    /* Both slots hold a live secret except before the first rotation,
     * when slot 1 was never handed out but is just as secret. */
    if (cookie_hash(k->key[gen], tuple, peer_isn, low) != cookie >> COOKIE_HASH_SHIFT)
        return false;
    syn->mss = mss_classes[(low >> COOKIE_MSS_SHIFT) & 3];
    syn->wscale = (uint8_t)(low & 0xf);
    return true;
}
