/* control.c - the per-flow control loop.
 *
 * Every installed flow is visited once per control interval (about two
 * RTTs, at least 1 ms; longer while the flow is idle so thousands of idle
 * connections cost little; and never shorter than CONTROL_US_PER_FLOW
 * times the flows in use, so that the visits of all flows together take a
 * bounded share of a core however many there are).  A visit samples the
 * fast path's counters, runs congestion control and writes the new window,
 * and detects retransmission timeouts: data (or our FIN) outstanding with
 * no acknowledgement progress for an RTO sends TAS_CMD_FLOW_RETRANSMIT
 * with exponential backoff, and after --max-retries timeouts the
 * connection is reset.  While the peer's window is shut the same timer is
 * the persist timer of RFC 9293: the retransmission is a window probe, a
 * closed window says nothing about congestion, and a receiver that keeps
 * answering the probes keeps its connection however long it takes to read.
 */
#include "log.h"
#include "sp.h"

#define CONTROL_MIN_INTERVAL_US  1000u
#define CONTROL_IDLE_INTERVAL_US 20000u
/* A visit (counters, congestion control, timer re-arm) costs well under
 * a microsecond: 8 us per flow keeps all visits under ~10% of a core. */
#define CONTROL_US_PER_FLOW      8u

static uint32_t load32(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* The shortest interval the flows in use allow (see the top). */
static uint64_t control_interval_floor(uint32_t flows_in_use)
{
    uint64_t floor = (uint64_t)flows_in_use * CONTROL_US_PER_FLOW;
    return floor > CONTROL_MIN_INTERVAL_US ? floor : CONTROL_MIN_INTERVAL_US;
}

static void control_arm(struct sp *sp, struct sp_conn *c, bool active)
{
    uint64_t interval = active ? 2ull * c->rto.srtt_us : CONTROL_IDLE_INTERVAL_US;
    uint64_t floor = control_interval_floor(sp->cfg.max_flows - sp->n_free_flow_ids);
    if (interval < floor)
        interval = floor;
    timer_arm(&sp->timers, &c->timer, sp->now_us + interval);
}

void control_start(struct sp *sp, struct sp_conn *c)
{
    cc_init(&c->cc, c->mss, c->tx_size);
    c->last_acked = 0;
    c->last_ecn = 0;
    c->last_fast_retx = 0;
    c->last_snd_una = c->iss + 1;
    c->last_progress_us = sp->now_us;
    c->rto_count = 0;
    c->last_zero_wnd_acks = 0;
    control_arm(sp, c, false);
}

/* Is something of ours waiting for an acknowledgement?  Our FIN counts: a
 * lost FIN needs a retransmission like lost data. */
static bool has_outstanding(const struct sp_conn *c, const struct tas_flow *f)
{
    if (load32(&f->tx_sent) > 0)
        return true;
    bool fin_unacked = c->state == TCP_FIN_WAIT_1 || c->state == TCP_CLOSING ||
                       c->state == TCP_LAST_ACK;
    return fin_unacked && (__atomic_load_n(&f->flags, __ATOMIC_RELAXED) & TAS_FLOW_F_FIN_SENT);
}

/* Returns true if an RTO fired that congestion control must hear of. */
static bool check_timeout(struct sp *sp, struct sp_conn *c, const struct tas_flow *f)
{
    uint32_t snd_una = load32(&f->snd_una);
    bool outstanding = has_outstanding(c, f);

    if (snd_una != c->last_snd_una || !outstanding ||
        !(c->flags & CONN_F_OUTSTANDING)) {
        /* Progress, nothing in flight, or data just started to be in flight:
         * the RTO clock (re)starts now, so an idle tick never makes freshly
         * sent data look old. */
        if (snd_una != c->last_snd_una) {
            rto_progress(&c->rto);
            c->rto_count = 0;
        }
        c->last_snd_una = snd_una;
        c->last_progress_us = sp->now_us;
        c->flags = outstanding ? c->flags | CONN_F_OUTSTANDING : c->flags & ~CONN_F_OUTSTANDING;
        return false;
    }
    if (sp->now_us - c->last_progress_us < rto_current(&c->rto))
        return false;

    bool window_shut = load32(&f->snd_wnd) == 0;
    uint8_t answers = __atomic_load_n(&f->zero_wnd_acks, __ATOMIC_RELAXED);
    if (window_shut && answers != c->last_zero_wnd_acks)
        c->rto_count = 0;
    else
        c->rto_count++;
    c->last_zero_wnd_acks = answers;
    c->timeouts++;
    if (c->rto_count > sp->cfg.max_retries) {
        tcp_timeout(sp, c);
        return true;
    }
    sp_debug("flow %u: %s %u (rto %u us)", c->flow_id,
             window_shut ? "window probe" : "retransmission timeout", c->rto_count,
             rto_current(&c->rto));
    svc_post(sp, TAS_CMD_FLOW_RETRANSMIT, c->flow_id, c->app->id, 0, 0, NULL, 0);
    rto_backoff(&c->rto);
    c->last_progress_us = sp->now_us;
    return !window_shut;
}

void control_tick(struct sp *sp, struct sp_conn *c)
{
    if (!(c->flags & CONN_F_INSTALLED))
        return;
    struct tas_flow *f = svc_flow(sp, c->flow_id);

    if (c->state == TCP_FIN_WAIT_2 && (c->flags & CONN_F_APP_CLOSED) &&
        sp->now_us >= c->fin_wait2_deadline_us) {
        sp_debug("flow %u: peer never closed: reset", c->flow_id);
        tcp_timeout(sp, c);
        return;
    }

    uint32_t acked = load32(&f->cnt_acked_bytes);
    uint32_t ecn = load32(&f->cnt_ecn_bytes);
    uint32_t fast_retx = load32(&f->cnt_fast_retx);
    uint32_t rtt = load32(&f->rtt_us);
    struct cc_sample smp = {
        .acked_bytes = acked - c->last_acked,
        .ecn_bytes = ecn - c->last_ecn,
        .fast_retx = fast_retx - c->last_fast_retx,
    };
    c->last_acked = acked;
    c->last_ecn = ecn;
    c->last_fast_retx = fast_retx;
    /* The estimate comes from another process: ignore absurd values. */
    if (rtt > 0 && rtt < RTO_MAX_US)
        rto_sample(&c->rto, rtt, sp->cfg.rto_min_ms * 1000u);

    smp.timeout = check_timeout(sp, c, f);
    if (!(c->flags & CONN_F_INSTALLED))
        return;
    cc_update(&c->cc, sp->cfg.cc, &smp);
    __atomic_store_n(&f->cwnd, c->cc.cwnd, __ATOMIC_RELAXED);
    control_arm(sp, c, (c->flags & CONN_F_OUTSTANDING) || smp.acked_bytes > 0);
}
