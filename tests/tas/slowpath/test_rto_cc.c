/* Unit tests for the retransmission timeout (slowpath/rto.c) and the
 * congestion control arithmetic (slowpath/cc.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cc.h"
#include "rto.h"

#define MSS 1448u

static void rto_starts_at_one_second(void **state)
{
    (void)state;
    struct rto_state r;
    rto_init(&r);
    assert_int_equal(rto_current(&r), RTO_INITIAL_US);
    rto_sample(&r, 0, 10000);        /* no measurement: unchanged */
    assert_int_equal(rto_current(&r), RTO_INITIAL_US);
}

static void first_sample_follows_rfc6298(void **state)
{
    (void)state;
    struct rto_state r;
    rto_init(&r);
    rto_sample(&r, 100000, 1000);
    /* SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 * RTTVAR */
    assert_int_equal(r.srtt_us, 100000);
    assert_int_equal(r.rttvar_us, 50000);
    assert_int_equal(rto_current(&r), 300000);
    rto_sample(&r, 100000, 1000);
    /* RTTVAR = 3/4 * 50000; SRTT unchanged */
    assert_int_equal(r.rttvar_us, 37500);
    assert_int_equal(rto_current(&r), 250000);
}

static void datacenter_rtt_is_clamped_to_minimum(void **state)
{
    (void)state;
    struct rto_state r;
    rto_init(&r);
    for (int i = 0; i < 20; i++)
        rto_sample(&r, 50, 10000);
    assert_int_equal(rto_current(&r), 10000);
}

static void backoff_doubles_until_progress(void **state)
{
    (void)state;
    struct rto_state r;
    rto_init(&r);
    rto_sample(&r, 20000, 10000);
    uint32_t base = rto_current(&r);
    rto_backoff(&r);
    assert_int_equal(rto_current(&r), 2 * base);
    rto_backoff(&r);
    assert_int_equal(rto_current(&r), 4 * base);
    for (int i = 0; i < 40; i++)
        rto_backoff(&r);
    assert_int_equal(rto_current(&r), RTO_MAX_US);
    rto_progress(&r);
    assert_int_equal(rto_current(&r), base);
}

static void slow_start_grows_by_acked_bytes(void **state)
{
    (void)state;
    struct cc_state s;
    cc_init(&s, MSS, 1u << 30);
    assert_int_equal(s.cwnd, CC_INITIAL_SEGMENTS * MSS);
    struct cc_sample smp = { .acked_bytes = 10 * MSS };
    cc_update(&s, CC_RENO, &smp);
    assert_int_equal(s.cwnd, 20 * MSS);
}

static void congestion_avoidance_adds_one_mss_per_window(void **state)
{
    (void)state;
    struct cc_state s;
    cc_init(&s, MSS, 1u << 30);
    s.ssthresh = s.cwnd;
    uint32_t w = s.cwnd;
    struct cc_sample smp = { .acked_bytes = w / 2 };
    cc_update(&s, CC_RENO, &smp);
    assert_int_equal(s.cwnd, w);
    cc_update(&s, CC_RENO, &smp);
    assert_int_equal(s.cwnd, w + MSS);
}

static void loss_halves_and_timeout_collapses(void **state)
{
    (void)state;
    struct cc_state s;
    cc_init(&s, MSS, 1u << 30);
    s.cwnd = 40 * MSS;
    struct cc_sample loss = { .acked_bytes = MSS, .fast_retx = 1 };
    cc_update(&s, CC_RENO, &loss);
    assert_int_equal(s.cwnd, 20 * MSS);
    assert_int_equal(s.ssthresh, 20 * MSS);
    struct cc_sample rto = { .timeout = true };
    cc_update(&s, CC_RENO, &rto);
    assert_int_equal(s.cwnd, MSS);
    assert_int_equal(s.ssthresh, 10 * MSS);
    /* Never below two segments of threshold. */
    cc_update(&s, CC_RENO, &rto);
    assert_int_equal(s.ssthresh, 2 * MSS);
}

static void reno_halves_on_ecn(void **state)
{
    (void)state;
    struct cc_state s;
    cc_init(&s, MSS, 1u << 30);
    s.cwnd = 16 * MSS;
    struct cc_sample ecn = { .acked_bytes = 8 * MSS, .ecn_bytes = MSS };
    cc_update(&s, CC_RENO, &ecn);
    assert_int_equal(s.cwnd, 8 * MSS);
}

static void dctcp_cuts_in_proportion(void **state)
{
    (void)state;
    struct cc_state s;
    cc_init(&s, MSS, 1u << 30);
    s.cwnd = 100 * MSS;
    /* Every byte marked for a long time: alpha converges to 1, cut = 1/2. */
    struct cc_sample all = { .acked_bytes = 10 * MSS, .ecn_bytes = 10 * MSS };
    for (int i = 0; i < 200; i++) {
        s.cwnd = 100 * MSS;
        cc_update(&s, CC_DCTCP, &all);
    }
    assert_true(s.dctcp_alpha > CC_DCTCP_ALPHA_ONE * 9 / 10);
    assert_in_range(s.cwnd, 50 * MSS, 53 * MSS);
    /* A lightly marked interval with small alpha cuts only a little. */
    cc_init(&s, MSS, 1u << 30);
    s.cwnd = 100 * MSS;
    struct cc_sample light = { .acked_bytes = 100 * MSS, .ecn_bytes = MSS };
    cc_update(&s, CC_DCTCP, &light);
    assert_in_range(s.cwnd, 99 * MSS, 100 * MSS);
}

static void window_is_clamped(void **state)
{
    (void)state;
    struct cc_state s;
    cc_init(&s, MSS, 64 * 1024);
    struct cc_sample smp = { .acked_bytes = 1u << 20 };
    cc_update(&s, CC_RENO, &smp);
    assert_int_equal(s.cwnd, 64 * 1024);
    enum cc_algo a;
    assert_int_equal(cc_parse("dctcp", &a), 0);
    assert_int_equal(a, CC_DCTCP);
    assert_int_equal(cc_parse("cubic", &a), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rto_starts_at_one_second),
        cmocka_unit_test(first_sample_follows_rfc6298),
        cmocka_unit_test(datacenter_rtt_is_clamped_to_minimum),
        cmocka_unit_test(backoff_doubles_until_progress),
        cmocka_unit_test(slow_start_grows_by_acked_bytes),
        cmocka_unit_test(congestion_avoidance_adds_one_mss_per_window),
        cmocka_unit_test(loss_halves_and_timeout_collapses),
        cmocka_unit_test(reno_halves_on_ecn),
        cmocka_unit_test(dctcp_cuts_in_proportion),
        cmocka_unit_test(window_is_clamped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
