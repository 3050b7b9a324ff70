/* Unit tests: the page index, including lookups racing with updates. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include <urcu-bp.h>

#include "zio/index.h"
#include "zio/page.h"

#define PAGE(n) ((uintptr_t)(n) * ZIO_PAGE_SIZE)

static int setup(void **state)
{
    (void)state;
    return zio_index_init(1024) ? 0 : -1;
}

static void remove_all(struct zio_page *entry, void *arg)
{
    (void)arg;
    zio_index_remove(entry);
}

static int teardown(void **state)
{
    (void)state;
    zio_index_for_each(remove_all, NULL);
    zio_index_reclaim(true);
    return 0;
}

static void test_insert_lookup_remove(void **state)
{
    struct zio_page *a, *b;

    (void)state;
    a = zio_index_insert(PAGE(10), ZIO_INTERMEDIATE);
    b = zio_index_insert(PAGE(11), ZIO_ORIGINAL);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_equal(zio_index_lookup(PAGE(10)), a);
    assert_ptr_equal(zio_index_lookup(PAGE(11)), b);
    assert_null(zio_index_lookup(PAGE(12)));
    assert_int_equal(zio_index_count(ZIO_INTERMEDIATE), 1);
    assert_int_equal(zio_index_count(ZIO_ORIGINAL), 1);
    assert_int_equal(b->orig.nr_dependents, 0);

    zio_index_remove(a);
    assert_null(zio_index_lookup(PAGE(10)));
    assert_true(a->removed);
    assert_int_equal(zio_index_count(ZIO_INTERMEDIATE), 0);
}

static void test_any_in_range(void **state)
{
    (void)state;
    assert_false(zio_index_any_in(PAGE(0), PAGE(100)));
    zio_index_insert(PAGE(50), ZIO_INTERMEDIATE);
    assert_true(zio_index_any_in(PAGE(0), PAGE(100)));
    assert_true(zio_index_any_in(PAGE(50) + 100, PAGE(50) + 200));
    assert_false(zio_index_any_in(PAGE(0), PAGE(50)));
    assert_false(zio_index_any_in(PAGE(51), PAGE(100)));
}

static void test_many_entries_collide_and_survive(void **state)
{
    (void)state;
    /* Four times more entries than buckets: chains must work. */
    for (int i = 0; i < 4096; i++)
        assert_non_null(zio_index_insert(PAGE(i * 7), ZIO_INTERMEDIATE));
    for (int i = 0; i < 4096; i += 2)
        zio_index_remove(zio_index_lookup(PAGE(i * 7)));
    zio_index_reclaim(true);
    for (int i = 0; i < 4096; i++) {
        struct zio_page *e = zio_index_lookup(PAGE(i * 7));

        if (i % 2)
            assert_true(e && e->addr == PAGE(i * 7));
        else
            assert_null(e);
    }
    assert_int_equal(zio_index_count(ZIO_INTERMEDIATE), 2048);
}

struct walk_arg {
    bool visited[100];
    bool saw_removed;
};

static void visit_and_remove_next(struct zio_page *entry, void *arg)
{
    struct walk_arg *w = arg;
    struct zio_page *neighbour = zio_index_lookup(entry->addr + ZIO_PAGE_SIZE);

    w->saw_removed |= entry->removed;
    w->visited[(entry->addr - PAGE(1000)) / ZIO_PAGE_SIZE] = true;
    /* Removing entries the walk may not have reached yet must be safe. */
    if (neighbour)
        zio_index_remove(neighbour);
}

static void test_for_each_tolerates_removal(void **state)
{
    struct walk_arg w = { { false }, false };
    size_t left = 0;

    (void)state;
    for (int i = 0; i < 100; i++)
        zio_index_insert(PAGE(1000 + i), ZIO_ORIGINAL);
    zio_index_for_each(visit_and_remove_next, &w);
    assert_false(w.saw_removed);
    /* Whatever survived the walk was visited by it. */
    for (int i = 0; i < 100; i++) {
        if (zio_index_lookup(PAGE(1000 + i))) {
            assert_true(w.visited[i]);
            left++;
        }
    }
    assert_true(left > 0 && left < 100);
    assert_int_equal(zio_index_count(ZIO_ORIGINAL), left);
}

static atomic_bool stop;
static atomic_long reader_errors;

/* Readers see every stable entry and never a torn or recycled one. */
static void *reader(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        urcu_bp_read_lock();
        for (int i = 0; i < 64; i++) {
            struct zio_page *stable = zio_index_lookup(PAGE(5000 + i));
            struct zio_page *churn = zio_index_lookup(PAGE(9000 + i));

            if (!stable || stable->addr != PAGE(5000 + i) || stable->inter.src != PAGE(i))
                atomic_fetch_add(&reader_errors, 1);
            if (churn && churn->addr != PAGE(9000 + i))
                atomic_fetch_add(&reader_errors, 1);
        }
        urcu_bp_read_unlock();
    }
    return NULL;
}

static void test_lookups_race_with_updates(void **state)
{
    pthread_t threads[2];

    (void)state;
    for (int i = 0; i < 64; i++)
        zio_index_insert(PAGE(5000 + i), ZIO_INTERMEDIATE)->inter.src = PAGE(i);
    atomic_store(&stop, false);
    for (int t = 0; t < 2; t++)
        pthread_create(&threads[t], NULL, reader, NULL);
    for (int round = 0; round < 2000; round++) {
        for (int i = 0; i < 64; i++)
            zio_index_insert(PAGE(9000 + i), ZIO_ORIGINAL);
        for (int i = 0; i < 64; i++)
            zio_index_remove(zio_index_lookup(PAGE(9000 + i)));
        zio_index_reclaim(false);
    }
    atomic_store(&stop, true);
    for (int t = 0; t < 2; t++)
        pthread_join(threads[t], NULL);
    assert_int_equal(atomic_load(&reader_errors), 0);
}

struct pooled {
    char payload[32];
};

static void test_pool_reuses_objects(void **state)
{
    struct zio_pool pool;
    struct pooled *a, *b;

    (void)state;
    zio_pool_init(&pool, sizeof(struct pooled));
    a = zio_pool_get(&pool);
    b = zio_pool_get(&pool);
    assert_non_null(a);
    assert_true((char *)b - (char *)a >= (ptrdiff_t)sizeof(struct pooled));
    memset(a->payload, 'a', sizeof(a->payload));
    zio_pool_put(&pool, a);
    for (size_t i = 0; i < sizeof(a->payload); i++)
        assert_int_equal(a->payload[i], 'a');   /* a free object is not written */
    assert_ptr_equal(zio_pool_get(&pool), a);
}

/* Objects put back together come out again, last first, before any fresh
 * one; the pool keeps room for every object across its chunks. */
static void test_pool_takes_many(void **state)
{
    enum { N = 40000 };         /* more than one chunk's worth */
    static struct pooled *objs[N];
    struct zio_pool pool;

    (void)state;
    zio_pool_init(&pool, sizeof(struct pooled));
    for (int i = 0; i < N; i++)
        assert_non_null(objs[i] = zio_pool_get(&pool));
    zio_pool_put_many(&pool, (void *const *)objs, N);
    for (int i = N - 1; i >= 0; i--)
        assert_ptr_equal(zio_pool_get(&pool), objs[i]);
    struct pooled *fresh = zio_pool_get(&pool);
    for (int i = 0; i < N; i++)
        assert_ptr_not_equal(fresh, objs[i]);
}

static bool is_one_of(struct zio_page *entry, struct zio_page **set, int n)
{
    for (int i = 0; i < n; i++)
        if (set[i] == entry)
            return true;
    return false;
}

/* Entries removed and reclaimed are handed out again, all of them, before
 * the index takes fresh memory. */
static void test_reclaimed_entries_are_reused(void **state)
{
    struct zio_page *gone[8];

    (void)state;
    for (int i = 0; i < 8; i++)
        gone[i] = zio_index_insert(PAGE(7000 + i), ZIO_ORIGINAL);
    for (int i = 0; i < 8; i++)
        zio_index_remove(gone[i]);
    zio_index_reclaim(true);
    for (int i = 0; i < 8; i++) {
        struct zio_page *again = zio_index_insert(PAGE(7100 + i), ZIO_INTERMEDIATE);

        assert_true(is_one_of(again, gone, 8));
        assert_int_equal(again->kind, ZIO_INTERMEDIATE);
        assert_ptr_equal(zio_index_lookup(PAGE(7100 + i)), again);
    }
    for (int i = 0; i < 8; i++)
        assert_null(zio_index_lookup(PAGE(7000 + i)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insert_lookup_remove, NULL, teardown),
        cmocka_unit_test_setup_teardown(test_any_in_range, NULL, teardown),
        cmocka_unit_test_setup_teardown(test_many_entries_collide_and_survive, NULL, teardown),
        cmocka_unit_test_setup_teardown(test_for_each_tolerates_removal, NULL, teardown),
        cmocka_unit_test_setup_teardown(test_lookups_race_with_updates, NULL, teardown),
        cmocka_unit_test_setup_teardown(test_reclaimed_entries_are_reused, NULL, teardown),
        cmocka_unit_test(test_pool_reuses_objects),
        cmocka_unit_test(test_pool_takes_many),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
