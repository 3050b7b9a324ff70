/* Unit tests: policy parsing and the touched-bytes rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "zio/policy.h"

static const char *const *fake_env;

static const char *fake_lookup(const char *name)
{
    for (const char *const *e = fake_env; e && *e; e += 2) {
        if (strcmp(e[0], name) == 0)
            return e[1];
    }
    return NULL;
}

static void load(struct zio_policy *p, const char *const *env)
{
    fake_env = env;
    zio_policy_load(p, fake_lookup);
}

static void test_defaults(void **state)
{
    struct zio_policy p;

    (void)state;
    load(&p, NULL);
    assert_int_equal(p.threshold, 16 * 1024);
    assert_int_equal(p.protect_min, 256 * 1024);
    assert_int_equal(p.touch_permille, 60);
    assert_true(p.enabled);
    assert_true(p.align_alloc);
    assert_false(p.stats_at_exit);
    assert_int_equal(p.stats_signal, 0);
}

static void test_environment_overrides(void **state)
{
    const char *env[] = { "ZIO_THRESHOLD", "64k", "ZIO_TOUCH_RATIO", "12.5",
                          "ZIO_DISABLE", "1", "ZIO_STATS", "1",
                          "ZIO_STATS_SIGNAL", "12", "ZIO_MAX_PAGES", "1000",
                          "ZIO_ALIGN_ALLOC", "0", "ZIO_PROTECT_MIN", "1M", NULL };
    struct zio_policy p;

    (void)state;
    load(&p, env);
    assert_int_equal(p.threshold, 64 * 1024);
    assert_int_equal(p.protect_min, 1024 * 1024);
    assert_int_equal(p.touch_permille, 125);
    assert_false(p.enabled);
    assert_false(p.align_alloc);
    assert_true(p.stats_at_exit);
    assert_int_equal(p.stats_signal, 12);
    assert_int_equal(p.max_pages, 1000);
}

static void test_bad_values_keep_defaults(void **state)
{
    const char *env[] = { "ZIO_THRESHOLD", "100", "ZIO_TOUCH_RATIO", "150",
                          "ZIO_STATS_SIGNAL", "x", "ZIO_MAX_PAGES", "-3",
                          "ZIO_ALIGN_ALLOC", "yes", "ZIO_PROTECT_MIN", "big", NULL };
    struct zio_policy p;

    (void)state;
    load(&p, env);
    assert_int_equal(p.threshold, 16 * 1024);   /* below a page */
    assert_int_equal(p.protect_min, 256 * 1024);
    assert_int_equal(p.touch_permille, 60);
    assert_int_equal(p.stats_signal, 0);
    assert_int_equal(p.max_pages, 64 * 1024);
    assert_true(p.align_alloc);
}

static void test_parse_size(void **state)
{
    size_t v;

    (void)state;
    assert_true(zio_parse_size("4096", &v));
    assert_int_equal(v, 4096);
    assert_true(zio_parse_size("2M", &v));
    assert_int_equal(v, 2 << 20);
    assert_false(zio_parse_size("", &v));
    assert_false(zio_parse_size("12q", &v));
    assert_false(zio_parse_size("-1", &v));
    assert_false(zio_parse_size("99999999999999999999", &v));
    assert_false(zio_parse_size(NULL, &v));
}

static void test_touch_ratio(void **state)
{
    struct zio_policy p;
    size_t elided = 100 * 4096;

    (void)state;
    load(&p, NULL);
    /* 6% of 100 pages: 6 pages are fine, the 7th crosses the line. */
    assert_false(zio_policy_too_touched(&p, 6 * 4096, elided));
    assert_true(zio_policy_too_touched(&p, 7 * 4096, elided));
    assert_true(zio_policy_too_touched(&p, 1, 0));
    p.touch_permille = 0;
    assert_false(zio_policy_too_touched(&p, 0, elided));
    assert_true(zio_policy_too_touched(&p, 1, elided));
}

static void test_cold_destinations(void **state)
{
    (void)state;
    assert_false(zio_cold_check(0x7000));
    zio_cold_mark(0x7000);
    assert_true(zio_cold_check(0x7000));
    assert_false(zio_cold_check(0x8000));
    zio_cold_forget(0x8000);        /* someone else's slot: no effect */
    assert_true(zio_cold_check(0x7000));
    zio_cold_forget(0x7000);
    assert_false(zio_cold_check(0x7000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_environment_overrides),
        cmocka_unit_test(test_bad_values_keep_defaults),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_touch_ratio),
        cmocka_unit_test(test_cold_destinations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
