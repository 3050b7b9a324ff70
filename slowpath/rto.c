/* rto.c - RFC 6298 smoothed RTT, variance and timeout with exponential
 * backoff.  The clock granularity G is the control interval's 1 ms floor. */
#include "rto.h"

#define RTO_CLOCK_G_US 1000u

void rto_init(struct rto_state *r)
{
    r->srtt_us = 0;
    r->rttvar_us = 0;
    r->rto_us = RTO_INITIAL_US;
    r->backoff = 0;
    r->has_sample = false;
}

void rto_sample(struct rto_state *r, uint32_t rtt_us, uint32_t min_us)
{
    if (rtt_us == 0)
        return;
    if (!r->has_sample) {
        r->srtt_us = rtt_us;
        r->rttvar_us = rtt_us / 2;
        r->has_sample = true;
    } else {
        uint32_t err = rtt_us > r->srtt_us ? rtt_us - r->srtt_us : r->srtt_us - rtt_us;
        /* RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|;  SRTT = 7/8 SRTT + 1/8 R' */
        r->rttvar_us = r->rttvar_us - r->rttvar_us / 4 + err / 4;
        r->srtt_us = r->srtt_us - r->srtt_us / 8 + rtt_us / 8;
    }
    uint64_t var = 4ull * r->rttvar_us;
    uint64_t rto = (uint64_t)r->srtt_us + (var > RTO_CLOCK_G_US ? var : RTO_CLOCK_G_US);
    if (rto < min_us)
        rto = min_us;
    if (rto > RTO_MAX_US)
        rto = RTO_MAX_US;
    r->rto_us = (uint32_t)rto;
}

uint32_t rto_current(const struct rto_state *r)
{
    uint64_t rto = (uint64_t)r->rto_us << r->backoff;
    return rto > RTO_MAX_US ? RTO_MAX_US : (uint32_t)rto;
}

void rto_backoff(struct rto_state *r)
{
    if (r->backoff < RTO_MAX_BACKOFF)
        r->backoff++;
}

void rto_progress(struct rto_state *r)
{
    r->backoff = 0;
}
