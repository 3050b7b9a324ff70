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

static void test_add_merges_overlapping_spans_only(void **state)
{
    struct zio_dormant d = { .n = 0 };

    (void)state;
    assert_true(zio_dormant_add(&d, 0x30000, 0x40000));
    assert_true(zio_dormant_add(&d, 0x10000, 0x20000));
    assert_int_equal(d.n, 2);
    assert_true(zio_dormant_add(&d, 0x20000, 0x30000));   /* touches both */
    assert_int_equal(d.n, 3);
    assert_true(zio_dormant_add(&d, 0x1f000, 0x31000));   /* overlaps all three */
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
    assert_true(zio_dormant_add(&d, 0x100800, 0x102000));
    assert_true(holds(&d, 0x100000, 0x102000));
    /* ...and one bridging two spans frees a slot. */
    assert_true(zio_dormant_add(&d, 0x200800, 0x300800));
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

/* Spans added in scrambled order are found by address: the table is
 * searched by bisection, so it must stay sorted. */
static void test_lookups_find_every_span_of_a_full_table(void **state)
{
    static struct zio_dormant d;
    struct zio_span s;

    (void)state;
    for (uintptr_t i = 0; i < ZIO_DORMANT_MAX; i++) {
        uintptr_t k = (i * 389) % ZIO_DORMANT_MAX;     /* 389 is prime */

        assert_true(zio_dormant_add(&d, 0x10000 * (k + 1), 0x10000 * (k + 1) + 0x2000));
    }
    for (uintptr_t k = 0; k < ZIO_DORMANT_MAX; k++) {
        assert_true(zio_dormant_overlaps(&d, 0x10000 * (k + 1) + 0x1fff, 0x10000 * (k + 2)));
        assert_false(zio_dormant_overlaps(&d, 0x10000 * (k + 1) + 0x2000, 0x10000 * (k + 2)));
    }
    assert_true(zio_dormant_take(&d, 0x10000 * 500 + 0x1000, 0x10000 * 500 + 0x1001, &s));
    assert_true(s.start == 0x10000 * 500 && s.end == 0x10000 * 500 + 0x2000);
    assert_false(zio_dormant_overlaps(&d, 0x10000 * 500, 0x10000 * 501));
    assert_true(zio_dormant_overlaps(&d, 0x10000 * 501, 0x10000 * 502));
}

static void test_cut_keeps_the_parts_outside(void **state)
{
    struct zio_dormant d = { .n = 0 };
    struct zio_span s;

    (void)state;
    zio_dormant_add(&d, 0x10000, 0x20000);
    zio_dormant_add(&d, 0x30000, 0x40000);
    /* From the middle: the span splits in two. */
    assert_true(zio_dormant_cut(&d, 0x14000, 0x16000, &s));
    assert_true(s.start == 0x14000 && s.end == 0x16000);
    assert_int_equal(d.n, 3);
    assert_true(holds(&d, 0x10000, 0x14000));
    assert_true(holds(&d, 0x16000, 0x20000));
    /* Across two spans' ends: one piece per call. */
    assert_true(zio_dormant_cut(&d, 0x1f000, 0x31000, &s));
    assert_true(s.start == 0x1f000 && s.end == 0x20000);
    assert_true(zio_dormant_cut(&d, 0x1f000, 0x31000, &s));
    assert_true(s.start == 0x30000 && s.end == 0x31000);
    assert_false(zio_dormant_cut(&d, 0x1f000, 0x31000, &s));
    assert_true(holds(&d, 0x16000, 0x1f000));
    assert_true(holds(&d, 0x31000, 0x40000));
    /* Covering a whole span removes it. */
    assert_true(zio_dormant_cut(&d, 0x0, 0x15000, &s));
    assert_true(s.start == 0x10000 && s.end == 0x14000);
    assert_int_equal(d.n, 2);
}

static void test_cut_in_a_full_table_takes_the_whole_span(void **state)
{
    static struct zio_dormant d;
    struct zio_span s;

    (void)state;
    for (uintptr_t i = 0; i < ZIO_DORMANT_MAX; i++)
        assert_true(zio_dormant_add(&d, 0x100000 * (i + 1), 0x100000 * (i + 1) + 0x10000));
    assert_true(zio_dormant_cut(&d, 0x204000, 0x205000, &s));
    assert_true(s.start == 0x200000 && s.end == 0x210000);
    assert_int_equal(d.n, ZIO_DORMANT_MAX - 1);
    /* An end needs no new slot. */
    assert_true(zio_dormant_cut(&d, 0x300000, 0x301000, &s));
    assert_true(s.start == 0x300000 && s.end == 0x301000);
    assert_true(holds(&d, 0x301000, 0x310000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_merges_overlapping_spans_only),
        cmocka_unit_test(test_full_table_refuses_a_new_span),
        cmocka_unit_test(test_overlaps_is_exclusive_at_the_ends),
        cmocka_unit_test(test_take_removes_whole_overlapping_spans),
        cmocka_unit_test(test_lookups_find_every_span_of_a_full_table),
        cmocka_unit_test(test_cut_keeps_the_parts_outside),
        cmocka_unit_test(test_cut_in_a_full_table_takes_the_whole_span),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
