/* test_ringpos.c - payload ring positions and the iovec copier. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "iov.h"
#include "ringpos.h"

static void test_advance_wraps(void **state)
{
    (void)state;
    assert_int_equal(ringpos_advance(0, 0, 100), 0);
    assert_int_equal(ringpos_advance(10, 89, 100), 99);
    assert_int_equal(ringpos_advance(10, 90, 100), 0);
    assert_int_equal(ringpos_advance(99, 100, 100), 99);
    /* Sizes near 4 GiB must not overflow the intermediate sum. */
    assert_int_equal(ringpos_advance(UINT32_MAX - 1, UINT32_MAX - 1, UINT32_MAX),
                     UINT32_MAX - 2);
}

static void test_spans(void **state)
{
    struct ringpos_span sp[2];

    (void)state;
    assert_int_equal(ringpos_spans(5, 10, 100, sp), 1);
    assert_int_equal(sp[0].off, 5);
    assert_int_equal(sp[0].len, 10);
    assert_int_equal(sp[1].len, 0);

    assert_int_equal(ringpos_spans(95, 10, 100, sp), 2);
    assert_int_equal(sp[0].off, 95);
    assert_int_equal(sp[0].len, 5);
    assert_int_equal(sp[1].off, 0);
    assert_int_equal(sp[1].len, 5);

    assert_int_equal(ringpos_spans(100 - 1, 0, 100, sp), 0);
    assert_int_equal(ringpos_spans(0, 100, 100, sp), 1);
    assert_int_equal(sp[0].len, 100);
}

static void test_iov_copy_across_pieces(void **state)
{
    char src1[] = "abc", src2[] = "defgh", d1[4], d2[6];
    struct iovec src[2] = { { src1, 3 }, { src2, 5 } };
    struct iovec dst[2] = { { d1, 4 }, { d2, 6 } };

    (void)state;
    assert_int_equal(iov_total(src, 2), 8);
    assert_int_equal(iov_copy(dst, 2, 0, src, 2, 0, 100), 8);
    assert_memory_equal(d1, "abcd", 4);
    assert_memory_equal(d2, "efgh", 4);

    /* Offsets on both sides and a byte limit. */
    assert_int_equal(iov_copy(dst, 2, 5, src, 2, 2, 3), 3);
    assert_memory_equal(d2, "ecde", 4);

    /* Nothing left to copy from. */
    assert_int_equal(iov_copy(dst, 2, 0, src, 2, 8, 10), 0);
}

static void test_iov_total_overflow(void **state)
{
    struct iovec v[2] = { { NULL, SIZE_MAX }, { NULL, 1 } };

    (void)state;
    assert_true(iov_total(v, 2) == (size_t)-1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_advance_wraps),
        cmocka_unit_test(test_spans),
        cmocka_unit_test(test_iov_copy_across_pieces),
        cmocka_unit_test(test_iov_total_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
