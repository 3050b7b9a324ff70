/* test_tables.c - the id map (flow and listener ids) and the descriptor
 * table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <unistd.h>

#include "fdtab.h"
#include "idmap.h"
#include "libc.h"

static int values[4096];

static void test_idmap_put_get_del(void **state)
{
    struct idmap m;

    (void)state;
    idmap_init(&m);
    assert_null(idmap_get(&m, 7));
    for (uint32_t i = 0; i < 4096; i++)
        assert_int_equal(idmap_put(&m, i * 3, &values[i]), 0);
    assert_int_equal(m.count, 4096);
    for (uint32_t i = 0; i < 4096; i++)
        assert_ptr_equal(idmap_get(&m, i * 3), &values[i]);
    assert_null(idmap_get(&m, 1));

    /* Delete every other one; the rest must stay reachable (backward
     * shift keeps probe runs intact). */
    for (uint32_t i = 0; i < 4096; i += 2)
        assert_ptr_equal(idmap_del(&m, i * 3), &values[i]);
    for (uint32_t i = 0; i < 4096; i++) {
        if (i % 2)
            assert_ptr_equal(idmap_get(&m, i * 3), &values[i]);
        else
            assert_null(idmap_get(&m, i * 3));
    }
    assert_null(idmap_del(&m, 0));
    assert_int_equal(m.count, 2048);

    /* Replacing keeps the count. */
    assert_int_equal(idmap_put(&m, 3, &values[0]), 0);
    assert_ptr_equal(idmap_get(&m, 3), &values[0]);
    assert_int_equal(m.count, 2048);
    idmap_free(&m);
}

static void test_idmap_extreme_ids(void **state)
{
    struct idmap m;

    (void)state;
    idmap_init(&m);
    assert_int_equal(idmap_put(&m, UINT32_MAX, &values[1]), 0);
    assert_int_equal(idmap_put(&m, 0, &values[2]), 0);
    assert_ptr_equal(idmap_get(&m, UINT32_MAX), &values[1]);
    assert_ptr_equal(idmap_del(&m, 0), &values[2]);
    assert_ptr_equal(idmap_get(&m, UINT32_MAX), &values[1]);
    idmap_free(&m);
}

static void test_fdtab(void **state)
{
    struct file a = { .kind = FILE_SOCK }, b = { .kind = FILE_EPOLL };
    bool ok;

    (void)state;
    assert_null(fdtab_get(-1));
    assert_null(fdtab_get(FDTAB_MAX_FD));
    assert_null(fdtab_get(5000));
    assert_int_equal(fdtab_next(0), -1);

    assert_null(fdtab_swap(5000, &a, &ok));
    assert_true(ok);
    assert_null(fdtab_swap(3, &b, &ok));
    assert_ptr_equal(fdtab_get(5000), &a);
    assert_ptr_equal(fdtab_get(3), &b);
    assert_int_equal(fdtab_next(0), 3);
    assert_int_equal(fdtab_next(4), 5000);
    assert_int_equal(fdtab_next(5001), -1);

    assert_ptr_equal(fdtab_swap(3, NULL, &ok), &b);
    assert_null(fdtab_get(3));
    assert_ptr_equal(fdtab_swap(5000, NULL, &ok), &a);
    assert_int_equal(fdtab_next(0), -1);

    fdtab_swap(FDTAB_MAX_FD, &a, &ok);
    assert_false(ok);
    fdtab_swap(-3, &a, &ok);
    assert_false(ok);
}

static void test_fdtab_hide(void **state)
{
    (void)state;
    libc_resolve();
    int fd = dup(0);
    assert_true(fd >= 0);
    int hidden = fdtab_hide(fd);
    assert_true(hidden >= fd);
    assert_non_null(fdtab_get(hidden));
    assert_int_equal(fdtab_get(hidden)->kind, FILE_INTERNAL);
    fdtab_close_internal(hidden);
    assert_null(fdtab_get(hidden));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idmap_put_get_del),
        cmocka_unit_test(test_idmap_extreme_ids),
        cmocka_unit_test(test_fdtab),
        cmocka_unit_test(test_fdtab_hide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
