/* Unit tests: how a copy splits into fringes and an elidable core. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "zio/page.h"

static void test_aligned_copy_is_all_core(void **state)
{
    struct zio_split s;

    (void)state;
    assert_true(zio_split_copy(0x10000, 8 * ZIO_PAGE_SIZE, &s));
    assert_int_equal(s.core_start, 0x10000);
    assert_int_equal(s.core_end, 0x10000 + 8 * ZIO_PAGE_SIZE);
    assert_int_equal(s.head_len, 0);
    assert_int_equal(s.tail_len, 0);
}

static void test_unaligned_copy_has_both_fringes(void **state)
{
    struct zio_split s;

    (void)state;
    assert_true(zio_split_copy(0x10010, 3 * ZIO_PAGE_SIZE, &s));
    assert_int_equal(s.core_start, 0x11000);
    assert_int_equal(s.core_end, 0x13000);
    assert_int_equal(s.head_len, 0x1000 - 0x10);
    assert_int_equal(s.tail_len, 0x10);
    assert_int_equal(s.head_len + (s.core_end - s.core_start) + s.tail_len, 3 * ZIO_PAGE_SIZE);
}

static void test_copy_without_a_whole_page_has_no_core(void **state)
{
    struct zio_split s;

    (void)state;
    /* Almost two pages, but straddling so that no page is whole. */
    assert_false(zio_split_copy(0x10001, 2 * ZIO_PAGE_SIZE - 2, &s));
    assert_int_equal(s.head_len, 2 * ZIO_PAGE_SIZE - 2);
    assert_int_equal(s.tail_len, 0);
    assert_false(zio_split_copy(0x10000, 0, &s));
    assert_false(zio_split_copy(0x10000, ZIO_PAGE_SIZE - 1, &s));
}

static void test_copy_wrapping_the_address_space_is_refused(void **state)
{
    struct zio_split s;

    (void)state;
    assert_false(zio_split_copy(UINTPTR_MAX - ZIO_PAGE_SIZE, 4 * ZIO_PAGE_SIZE, &s));
}

static void test_page_rounding(void **state)
{
    (void)state;
    assert_int_equal(zio_page_up(0x1000), 0x1000);
    assert_int_equal(zio_page_up(0x1001), 0x2000);
    assert_int_equal(zio_page_down(0x1fff), 0x1000);
    assert_int_equal(zio_page_down(0x2000), 0x2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aligned_copy_is_all_core),
        cmocka_unit_test(test_unaligned_copy_has_both_fringes),
        cmocka_unit_test(test_copy_without_a_whole_page_has_no_core),
        cmocka_unit_test(test_copy_wrapping_the_address_space_is_refused),
        cmocka_unit_test(test_page_rounding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
