/* mix.h - the 64-bit finaliser the slow path keys its secrets with (ISNs of
 * RFC 6528, SYN cookies): a fast avalanche over a key mixed with header
 * fields, not a cryptographic MAC; the secrets are what makes it unguessable. */
#ifndef SP_MIX_H
#define SP_MIX_H

#include <stdint.h>

static inline uint64_t sp_mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

#endif /* SP_MIX_H */
