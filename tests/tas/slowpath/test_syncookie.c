/* Unit tests of SYN cookie encoding (slowpath/syncookie.c): round trips of
 * MSS classes and window scales, rejection of other tuples, ISNs, flipped
 * bits and retired secrets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "syncookie.h"

static const struct conn_key tuple = {
    .local_ip = 0x0164e70a, .remote_ip = 0x0264e70a,
    .local_port = 0x1f90, .remote_port = 0x3930,
};

static void keys(struct syncookie_keys *k)
{
    const uint64_t fresh[2] = { 0x0123456789abcdefull, 0xfedcba9876543210ull };
    syncookie_init(k, fresh, 0);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct syncookie_keys k;
    keys(&k);
    const uint16_t in_mss[] = { 64, 536, 1000, 1220, 1400, 1440, 1459, 1460, 9000 };
    const uint16_t out_mss[] = { 536, 536, 536, 1220, 1220, 1440, 1440, 1460, 1460 };
    for (size_t i = 0; i < sizeof(in_mss) / sizeof(in_mss[0]); i++) {
        for (uint8_t ws = 0; ws <= SYNCOOKIE_NO_WSCALE; ws++) {
            struct syncookie_syn syn = { .mss = in_mss[i], .wscale = ws }, got;
            uint32_t isn = 0x9e3779b9u * (uint32_t)(i + ws);
            uint32_t c = syncookie_make(&k, &tuple, isn, &syn);
            assert_true(syncookie_check(&k, &tuple, isn, c, &got));
            assert_int_equal(got.mss, out_mss[i]);
            assert_int_equal(got.wscale, ws);
        }
    }
}

static void test_rejects_other_segments(void **state)
{
    (void)state;
    struct syncookie_keys k;
    keys(&k);
    struct syncookie_syn syn = { .mss = 1460, .wscale = 7 }, got;
    uint32_t c = syncookie_make(&k, &tuple, 1000, &syn);

    assert_false(syncookie_check(&k, &tuple, 1001, c, &got));
    struct conn_key other = tuple;
    other.remote_port++;
    assert_false(syncookie_check(&k, &other, 1000, c, &got));
    other = tuple;
    other.remote_ip ^= 1u << 24;
    assert_false(syncookie_check(&k, &other, 1000, c, &got));
    /* Every single flipped bit, including the MSS and window scale fields
     * an attacker would like to choose. */
    for (int b = 0; b < 32; b++)
        assert_false(syncookie_check(&k, &tuple, 1000, c ^ (1u << b), &got));
}

static void test_rotation(void **state)
{
    (void)state;
    struct syncookie_keys k;
    keys(&k);
    struct syncookie_syn syn = { .mss = 1440, .wscale = SYNCOOKIE_NO_WSCALE }, got;
    uint32_t c = syncookie_make(&k, &tuple, 42, &syn);

    assert_false(syncookie_due(&k, SYNCOOKIE_PERIOD_US - 1));
    assert_true(syncookie_due(&k, SYNCOOKIE_PERIOD_US));
    syncookie_rotate(&k, 0x1111, SYNCOOKIE_PERIOD_US);
    assert_true(syncookie_check(&k, &tuple, 42, c, &got));     /* previous secret */
    uint32_t c2 = syncookie_make(&k, &tuple, 42, &syn);
    assert_true(syncookie_check(&k, &tuple, 42, c2, &got));

    syncookie_rotate(&k, 0x2222, 2 * SYNCOOKIE_PERIOD_US);
    assert_false(syncookie_check(&k, &tuple, 42, c, &got));    /* retired */
    assert_true(syncookie_check(&k, &tuple, 42, c2, &got));
}

/* A blind guesser should almost never hit: count accepted random cookies. */
static void test_guessing(void **state)
{
    (void)state;
    struct syncookie_keys k;
    keys(&k);
    struct syncookie_syn got;
    uint32_t x = 12345, hits = 0;
    for (int i = 0; i < 1000000; i++) {
        x = x * 1664525u + 1013904223u;
        hits += syncookie_check(&k, &tuple, 7, x, &got);
    }
    assert_true(hits <= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_rejects_other_segments),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_guessing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
