/* cc.c - window-based congestion control for the control loop.
 *
 * The fast path reports aggregate counters, not individual ACKs, so the
 * algorithms work on what was acknowledged during an interval of about two
 * RTTs: slow start grows by every acknowledged byte (RFC 3465 byte
 * counting), congestion avoidance by one MSS per window acknowledged, and a
 * loss signal (fast retransmit, ECN for Reno, an RTO) reduces the window at
 * most once per interval, which is close to NewReno's once per window. */
#include <string.h>

#include "cc.h"

static const char *const cc_names[] = {
    [CC_RENO] = "reno",
    [CC_DCTCP] = "dctcp",
};

int cc_parse(const char *name, enum cc_algo *out)
{
    for (unsigned i = 0; i < sizeof(cc_names) / sizeof(cc_names[0]); i++) {
        if (strcmp(name, cc_names[i]) == 0) {
            *out = (enum cc_algo)i;
            return 0;
        }
    }
    return -1;
}

const char *cc_name(enum cc_algo algo)
{
    return cc_names[algo];
}

static uint32_t clamp_cwnd(const struct cc_state *s, uint64_t cwnd)
{
    if (cwnd < s->mss)
        return s->mss;
    if (cwnd > s->max_cwnd)
        return s->max_cwnd;
    return (uint32_t)cwnd;
}

void cc_init(struct cc_state *s, uint32_t mss, uint32_t max_cwnd)
{
    memset(s, 0, sizeof(*s));
    s->mss = mss ? mss : 536;
    s->max_cwnd = max_cwnd > s->mss ? max_cwnd : s->mss;
    s->ssthresh = UINT32_MAX;
    s->cwnd = clamp_cwnd(s, (uint64_t)CC_INITIAL_SEGMENTS * s->mss);
}

static void cc_multiplicative_decrease(struct cc_state *s, uint64_t new_cwnd)
{
    uint32_t floor = 2 * s->mss;
    s->ssthresh = new_cwnd > floor ? (uint32_t)new_cwnd : floor;
    s->cwnd = clamp_cwnd(s, s->ssthresh);
    s->ca_acked = 0;
}

static void cc_additive_increase(struct cc_state *s, uint32_t acked)
{
    if (s->cwnd < s->ssthresh) {
        uint64_t grown = (uint64_t)s->cwnd + acked;
        if (grown > s->ssthresh)
            grown = s->ssthresh;
        s->cwnd = clamp_cwnd(s, grown);
        return;
    }
    uint64_t acc = (uint64_t)s->ca_acked + acked;
    uint64_t cwnd = s->cwnd;
    while (acc >= cwnd) {
        acc -= cwnd;
        cwnd += s->mss;
    }
    s->cwnd = clamp_cwnd(s, cwnd);
    s->ca_acked = (uint32_t)acc;
}

static void dctcp_update_alpha(struct cc_state *s, const struct cc_sample *smp)
{
    if (smp->acked_bytes == 0)
        return;
    uint64_t ecn = smp->ecn_bytes < smp->acked_bytes ? smp->ecn_bytes : smp->acked_bytes;
    uint64_t frac = ecn * CC_DCTCP_ALPHA_ONE / smp->acked_bytes;
    /* alpha = (1 - g) * alpha + g * F */
    s->dctcp_alpha = (uint32_t)(s->dctcp_alpha - (s->dctcp_alpha >> CC_DCTCP_SHIFT_G) +
                                (frac >> CC_DCTCP_SHIFT_G));
}

void cc_update(struct cc_state *s, enum cc_algo algo, const struct cc_sample *smp)
{
    if (smp->timeout) {
        /* RFC 5681: the window collapses to one segment after an RTO. */
        uint32_t half = s->cwnd / 2;
        s->ssthresh = half > 2 * s->mss ? half : 2 * s->mss;
        s->cwnd = s->mss;
        s->ca_acked = 0;
        return;
    }
    if (algo == CC_DCTCP)
        dctcp_update_alpha(s, smp);

    if (smp->fast_retx > 0) {
        cc_multiplicative_decrease(s, s->cwnd / 2);
    } else if (smp->ecn_bytes > 0 && algo == CC_RENO) {
        cc_multiplicative_decrease(s, s->cwnd / 2);
    } else if (smp->ecn_bytes > 0 && algo == CC_DCTCP) {
        uint64_t cut = (uint64_t)s->cwnd * s->dctcp_alpha / (2 * CC_DCTCP_ALPHA_ONE);
        cc_multiplicative_decrease(s, s->cwnd - cut);
    } else if (smp->acked_bytes > 0) {
        cc_additive_increase(s, smp->acked_bytes);
    }
}
