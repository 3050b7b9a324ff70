/* Unit tests: the table of dormant spans (registered, untracked memory). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "zio/dormant.h"

static bool holds(const struct zio_dormant *d, uintptr_t start, uintptr_t end)
{
    for (size_t i = 0; i < d->n; i++) {
        if (d->spans[i].start == start && d->spans[i].end == end)
            return true;
    }
    return false;
}

static void test_add_merges_touching_and_overlapping_spans(void **state)
{
    struct zio_dormant d = { .n = 0 };

    (void)state;
    assert_true(zio_dormant_add(&d, 0x10000, 0x20000));
    assert_true(zio_dormant_add(&d, 0x30000, 0x40000));
    assert_int_equal(d.n, 2);
    assert_true(zio_dormant_add(&d, 0x20000, 0x30000));   /* fills the hole */
    assert_int_equal(d.n, 1);
    assert_true(holds(&d, 0x10000, 0x40000));
    assert_true(zio_dormant_add(&d, 0x38000, 0x48000));
    assert_int_equal(d.n, 1);
    assert_true(holds(&d, 0x10000, 0x48000));
    assert_true(zio_dormant_add(&d, 0x8000, 0x50000));     /* swallows it */
    assert_int_equal(d.n, 1);
    assert_true(holds(&d, 0x8000, 0x50000));
    assert_true(zio_dormant_add(&d, 0x9000, 0x9000));      /* empty: no change */
    assert_int_equal(d.n, 1);
}

static void test_full_table_refuses_a_new_span(void **state)
{
    struct zio_dormant d = { .n = 0 };

    (void)state;
    for (uintptr_t i = 0; i < ZIO_DORMANT_MAX; i++)
        assert_true(zio_dormant_add(&d, 0x100000 * (i + 1), 0x100000 * (i + 1) + 0x1000));
    assert_false(zio_dormant_add(&d, 0x10, 0x1000));
    assert_int_equal(d.n, ZIO_DORMANT_MAX);
    /* ...but one that merges into an existing span still fits. */
    assert_true(zio_dormant_add(&d, 0x101000, 0x102000));
    assert_true(holds(&d, 0x100000, 0x102000));
    /* ...and one bridging two spans frees a slot. */
    assert_true(zio_dormant_add(&d, 0x201000, 0x300000));
    assert_int_equal(d.n, ZIO_DORMANT_MAX - 1);
    assert_true(holds(&d, 0x200000, 0x301000));
}

static void test_overlaps_is_exclusive_at_the_ends(void **state)
{
    struct zio_dormant d = { .n = 0 };

    (void)state;
    assert_false(zio_dormant_overlaps(&d, 0, UINTPTR_MAX));
    zio_dormant_add(&d, 0x10000, 0x20000);
    assert_true(zio_dormant_overlaps(&d, 0x1f000, 0x21000));
    assert_true(zio_dormant_overlaps(&d, 0x0, 0x10001));
    assert_false(zio_dormant_overlaps(&d, 0x20000, 0x30000));
    assert_false(zio_dormant_overlaps(&d, 0x0, 0x10000));
}

static void test_take_removes_whole_overlapping_spans(void **state)
{
    struct zio_dormant d = { .n = 0 };
    struct zio_span s;

    (void)state;
    zio_dormant_add(&d, 0x10000, 0x20000);
    zio_dormant_add(&d, 0x30000, 0x40000);
    zio_dormant_add(&d, 0x50000, 0x60000);
    assert_false(zio_dormant_take(&d, 0x20000, 0x30000, &s));
    assert_true(zio_dormant_take(&d, 0x1f000, 0x31000, &s));
    assert_true(s.end - s.start == 0x10000);
    assert_true(zio_dormant_take(&d, 0x1f000, 0x31000, &s));
    assert_false(zio_dormant_take(&d, 0x1f000, 0x31000, &s));
    assert_int_equal(d.n, 1);
    assert_true(holds(&d, 0x50000, 0x60000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_merges_touching_and_overlapping_spans),
        cmocka_unit_test(test_full_table_refuses_a_new_span),
        cmocka_unit_test(test_overlaps_is_exclusive_at_the_ends),
        cmocka_unit_test(test_take_removes_whole_overlapping_spans),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
