/* cc.h - congestion control: window arithmetic run once per control
 * interval from the counters the fast path keeps per flow.  The result is
 * written to tas_flow.cwnd, which the fast path enforces. */
#ifndef SP_CC_H
#define SP_CC_H

#include <stdbool.h>
#include <stdint.h>

enum cc_algo {
    CC_RENO = 0,      /* NewReno-style AIMD on loss and ECN marks */
    CC_DCTCP,         /* window DCTCP: cut in proportion to marked bytes */
};

/* What happened to the flow during one control interval. */
struct cc_sample {
    uint32_t acked_bytes;
    uint32_t ecn_bytes;       /* of acked_bytes, acknowledged with ECE */
    uint32_t fast_retx;       /* fast retransmits the fast path made */
    bool timeout;             /* the slow path fired an RTO */
};

struct cc_state {
    uint32_t cwnd;            /* bytes */
    uint32_t ssthresh;
    uint32_t mss;
    uint32_t max_cwnd;        /* no point in a window beyond the TX ring */
    uint32_t ca_acked;        /* bytes acked toward the next +1 MSS */
    uint32_t dctcp_alpha;     /* fraction of marked bytes, scaled by 2^10 */
};

#define CC_INITIAL_SEGMENTS 10u       /* RFC 6928 */
#define CC_DCTCP_SHIFT_G    4u        /* g = 1/16 */
#define CC_DCTCP_ALPHA_ONE  1024u

int cc_parse(const char *name, enum cc_algo *out);
const char *cc_name(enum cc_algo algo);

void cc_init(struct cc_state *s, uint32_t mss, uint32_t max_cwnd);
void cc_update(struct cc_state *s, enum cc_algo algo, const struct cc_sample *smp);

#endif /* SP_CC_H */
