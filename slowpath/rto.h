/* rto.h - retransmission timeout per RFC 6298, fed with the fast path's
 * timestamp-based RTT estimate once per control interval. */
#ifndef SP_RTO_H
#define SP_RTO_H

#include <stdbool.h>
#include <stdint.h>

#define RTO_INITIAL_US 1000000u       /* RFC 6298 2.1 */
#define RTO_MAX_US     60000000u      /* RFC 6298 2.5 allows 60 s */
#define RTO_MAX_BACKOFF 16u

struct rto_state {
    uint32_t srtt_us;
    uint32_t rttvar_us;
    uint32_t rto_us;          /* before backoff */
    uint8_t backoff;          /* doublings since the last progress */
    bool has_sample;
};

void rto_init(struct rto_state *r);

/* Takes an RTT measurement (microseconds; 0 = none) and recomputes the
 * timeout, clamped below by min_us. */
void rto_sample(struct rto_state *r, uint32_t rtt_us, uint32_t min_us);

/* The timeout now in force, backoff included. */
uint32_t rto_current(const struct rto_state *r);

/* A timeout fired: double the next one (Karn's algorithm keeps it doubled
 * until progress resets it). */
void rto_backoff(struct rto_state *r);
void rto_progress(struct rto_state *r);

#endif /* SP_RTO_H */
