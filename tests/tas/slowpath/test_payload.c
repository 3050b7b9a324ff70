/* Unit tests for the payload area allocator (slowpath/payload.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "payload.h"

#define KB 1024u

static void allocations_are_aligned_and_disjoint(void **state)
{
    (void)state;
    struct payload_alloc a;
    assert_int_equal(payload_init(&a, 1024 * KB), 0);
    int64_t x = payload_alloc(&a, 64 * KB);
    int64_t y = payload_alloc(&a, 100);
    int64_t z = payload_alloc(&a, 64 * KB);
    assert_int_equal(x, 0);
    assert_int_equal(y, 64 * KB);
    assert_int_equal(z, 68 * KB);     /* 100 bytes took a whole page */
    assert_int_equal(a.in_use, 132 * KB);
    payload_destroy(&a);
}

static void full_area_refuses(void **state)
{
    (void)state;
    struct payload_alloc a;
    assert_int_equal(payload_init(&a, 128 * KB), 0);
    assert_true(payload_alloc(&a, 64 * KB) >= 0);
    assert_true(payload_alloc(&a, 64 * KB) >= 0);
    assert_int_equal(payload_alloc(&a, 4 * KB), -1);
    assert_int_equal(payload_alloc(&a, 0), -1);
    payload_destroy(&a);
}

static void frees_coalesce_in_any_order(void **state)
{
    (void)state;
    struct payload_alloc a;
    int64_t off[8];
    assert_int_equal(payload_init(&a, 8 * 64 * KB), 0);
    for (int i = 0; i < 8; i++)
        off[i] = payload_alloc(&a, 64 * KB);
    const int order[8] = { 3, 5, 4, 0, 7, 1, 6, 2 };
    for (int i = 0; i < 8; i++)
        payload_free(&a, (uint64_t)off[order[i]], 64 * KB);
    assert_int_equal(a.n_free, 1);
    assert_int_equal(a.in_use, 0);
    /* Everything is one extent again. */
    assert_int_equal(payload_alloc(&a, 8 * 64 * KB), 0);
    payload_destroy(&a);
}

static void holes_are_reused_first_fit(void **state)
{
    (void)state;
    struct payload_alloc a;
    assert_int_equal(payload_init(&a, 1024 * KB), 0);
    int64_t x = payload_alloc(&a, 64 * KB);
    int64_t y = payload_alloc(&a, 64 * KB);
    payload_alloc(&a, 64 * KB);
    payload_free(&a, (uint64_t)y, 64 * KB);
    payload_free(&a, (uint64_t)x, 64 * KB);
    assert_int_equal(payload_alloc(&a, 128 * KB), 0);
    payload_destroy(&a);
}

static void many_fragments_grow_the_free_list(void **state)
{
    (void)state;
    struct payload_alloc a;
    enum { N = 200 };
    int64_t off[N];
    assert_int_equal(payload_init(&a, N * 4 * KB), 0);
    for (int i = 0; i < N; i++)
        off[i] = payload_alloc(&a, 4 * KB);
    for (int i = 0; i < N; i += 2)
        payload_free(&a, (uint64_t)off[i], 4 * KB);
    assert_int_equal(a.n_free, N / 2);
    for (int i = 1; i < N; i += 2)
        payload_free(&a, (uint64_t)off[i], 4 * KB);
    assert_int_equal(a.n_free, 1);
    payload_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(allocations_are_aligned_and_disjoint),
        cmocka_unit_test(full_area_refuses),
        cmocka_unit_test(frees_coalesce_in_any_order),
        cmocka_unit_test(holes_are_reused_first_fit),
        cmocka_unit_test(many_fragments_grow_the_free_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
