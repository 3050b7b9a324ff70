/* syncookie.h - SYN cookies (RFC 4987 section 3.6) for listeners whose
 * half-open queue is full.
 *
 * Instead of keeping state for a SYN, the slow path answers it with a
 * SYN-ACK whose sequence number carries what the connection needs later:
 * the peer's MSS (as one of four classes), its window scale, and which of
 * two secrets made it.  The rest of the 32 bits is a keyed hash of the
 * 4-tuple, the peer's ISN and those fields, so a final ACK can be checked
 * without state and a blind attacker has to guess 25 bits.  Timestamps need
 * no room: the final ACK carries them exactly when both sides agreed to.
 * Secrets rotate every SYNCOOKIE_PERIOD_US; a cookie is honoured while its
 * secret is the current or the previous one.
 */
#ifndef SP_SYNCOOKIE_H
#define SP_SYNCOOKIE_H

#include <stdbool.h>
#include <stdint.h>

#include "conntab.h"

#define SYNCOOKIE_PERIOD_US   (64ull * 1000 * 1000)
#define SYNCOOKIE_NO_WSCALE   15u     /* the peer offered no window scale */

struct syncookie_keys {
    uint64_t key[2];          /* indexed by generation & 1 */
    uint32_t generation;
    uint64_t next_rotation_us;
};

/* What a cookie remembers of the SYN. */
struct syncookie_syn {
    uint16_t mss;             /* rounded down to a class */
    uint8_t wscale;           /* SYNCOOKIE_NO_WSCALE when not offered */
};

void syncookie_init(struct syncookie_keys *k, const uint64_t fresh[2], uint64_t now_us);

/* Whether the period is over; the caller then draws a fresh secret and
 * starts a new generation with it, which retires the one before last. */
bool syncookie_due(const struct syncookie_keys *k, uint64_t now_us);
void syncookie_rotate(struct syncookie_keys *k, uint64_t fresh, uint64_t now_us);

/* The ISS for a SYN from the tuple with sequence number peer_isn. */
uint32_t syncookie_make(const struct syncookie_keys *k, const struct conn_key *tuple,
                        uint32_t peer_isn, const struct syncookie_syn *syn);

/* Whether cookie (the final ACK's ack - 1) was made by syncookie_make for
 * this tuple and peer_isn (its seq - 1) with a live secret; fills *syn. */
bool syncookie_check(const struct syncookie_keys *k, const struct conn_key *tuple,
                     uint32_t peer_isn, uint32_t cookie, struct syncookie_syn *syn);

#endif /* SP_SYNCOOKIE_H */
