/* Unit tests for the ready FIFO, pacing arithmetic and timing wheel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <tas/abi.h>

#include "tx_sched.h"

#define HZ 2000000000ull   /* 2 GHz: slots of 1024 cycles */

static uint32_t drain_round(struct fp_sched *s, uint32_t *out, uint32_t max)
{
    struct fp_idfifo round;
    uint32_t n = 0, id;
    fp_sched_begin_round(s, &round);
    while ((id = fp_sched_pop_round(s, &round)) != TAS_INVALID_FLOW && n < max)
        out[n++] = id;
    return n;
}

static void test_ready_fifo_order_and_dedup(void **state)
{
    (void)state;
    struct fp_sched s;
    uint32_t got[8];
    assert_int_equal(fp_sched_init(&s, 16, HZ, 0), 0);
    fp_sched_ready(&s, 5);
    fp_sched_ready(&s, 2);
    fp_sched_ready(&s, 5);            /* already queued */
    fp_sched_ready(&s, 9);
    assert_int_equal(drain_round(&s, got, 8), 3);
    assert_int_equal(got[0], 5);
    assert_int_equal(got[1], 2);
    assert_int_equal(got[2], 9);
    assert_true(fp_sched_idle(&s));
    fp_sched_free(&s);
}

static void test_requeue_during_round_waits(void **state)
{
    (void)state;
    struct fp_sched s;
    struct fp_idfifo round;
    assert_int_equal(fp_sched_init(&s, 16, HZ, 0), 0);
    fp_sched_ready(&s, 1);
    fp_sched_ready(&s, 2);
    fp_sched_begin_round(&s, &round);
    assert_int_equal(fp_sched_pop_round(&s, &round), 1);
    fp_sched_ready(&s, 1);            /* more to send: next round */
    assert_int_equal(fp_sched_pop_round(&s, &round), 2);
    assert_int_equal(fp_sched_pop_round(&s, &round), TAS_INVALID_FLOW);
    assert_false(fp_sched_idle(&s));
    fp_sched_free(&s);
}

static void test_wheel_expiry(void **state)
{
    (void)state;
    struct fp_sched s;
    uint32_t got[8];
    uint64_t slot = 1024;
    assert_int_equal(fp_sched_init(&s, 16, HZ, 0), 0);
    fp_sched_park(&s, 3, 10 * slot);
    fp_sched_park(&s, 4, 5 * slot);
    fp_sched_ready(&s, 3);            /* parked: stays on the wheel */
    fp_sched_expire(&s, 4 * slot);
    assert_int_equal(drain_round(&s, got, 8), 0);
    fp_sched_expire(&s, 6 * slot);
    assert_int_equal(drain_round(&s, got, 8), 1);
    assert_int_equal(got[0], 4);
    fp_sched_expire(&s, 100 * slot);
    assert_int_equal(drain_round(&s, got, 8), 1);
    assert_int_equal(got[0], 3);
    assert_true(fp_sched_idle(&s));
    fp_sched_free(&s);
}

static void test_wheel_beyond_horizon_and_long_gap(void **state)
{
    (void)state;
    struct fp_sched s;
    uint32_t got[8];
    uint64_t slot = 1024;
    assert_int_equal(fp_sched_init(&s, 16, HZ, 0), 0);
    /* past the horizon: comes round at its end (early), caller re-parks */
    fp_sched_park(&s, 7, 5000 * slot);
    fp_sched_expire(&s, (FP_WHEEL_SLOTS - 2) * slot);
    assert_int_equal(drain_round(&s, got, 8), 0);
    fp_sched_expire(&s, FP_WHEEL_SLOTS * slot);
    assert_int_equal(drain_round(&s, got, 8), 1);
    /* a due time in the past goes out on the next slot; a long stall of the
     * loop does not lose it */
    fp_sched_park(&s, 8, 0);
    fp_sched_expire(&s, 1000000 * slot);
    assert_int_equal(drain_round(&s, got, 8), 1);
    assert_int_equal(got[0], 8);
    fp_sched_free(&s);
}

static void test_pacing_arithmetic(void **state)
{
    (void)state;
    /* 1500 bytes at 12 Mbit/s = 1 ms = 2e6 cycles at 2 GHz */
    assert_int_equal(fp_pace_cycles(1500, 12000, HZ), 2000000);
    /* 100 Gbit/s still gives a non-zero cost per full segment */
    assert_true(fp_pace_cycles(1448, 100000000, HZ) > 0);

    uint64_t tat = 0;
    fp_pace_charge(&tat, 1000, 500);
    assert_int_equal(tat, 1500);
    fp_pace_charge(&tat, 1200, 500);     /* behind: accumulates */
    assert_int_equal(tat, 2000);
    fp_pace_charge(&tat, 9000, 500);     /* idle: credit does not pile up */
    assert_int_equal(tat, 9500);
    assert_int_equal(fp_pace_due(9500, 1000), 8500);
    assert_int_equal(fp_pace_due(500, 1000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_fifo_order_and_dedup),
        cmocka_unit_test(test_requeue_during_round_waits),
        cmocka_unit_test(test_wheel_expiry),
        cmocka_unit_test(test_wheel_beyond_horizon_and_long_gap),
        cmocka_unit_test(test_pacing_arithmetic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
