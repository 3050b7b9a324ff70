/* Unit tests for listener queues and SO_REUSEPORT groups
 * (slowpath/listener.c), the timer heap (slowpath/timer.c) and the
 * connection table (slowpath/conntab.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <cmocka.h>

#include "conntab.h"
#include "listener.h"
#include "timer.h"

static struct listener_table *new_table(uint32_t max)
{
    struct listener_table *t = malloc(sizeof(*t));
    assert_int_equal(listener_table_init(t, max), 0);
    return t;
}

static void free_table(struct listener_table *t)
{
    listener_table_destroy(t);
    free(t);
}

static void backlog_bounds_the_accept_queue(void **state)
{
    (void)state;
    struct listener_table *t = new_table(4);
    struct listener *l = listener_open(t, NULL, 0, 80, 2);
    struct list_node c[3];
    for (int i = 0; i < 3; i++)
        listener_add_half_open(l, &c[i]);
    assert_true(listener_promote(l, &c[0]));
    assert_true(listener_promote(l, &c[1]));
    assert_false(listener_promote(l, &c[2]));     /* accept queue full */
    assert_false(listener_has_room(l));
    assert_int_equal(l->n_half_open, 1);
    /* FIFO */
    assert_ptr_equal(listener_pop_ready(l), &c[0]);
    assert_true(listener_has_room(l));
    assert_true(listener_promote(l, &c[2]));
    assert_ptr_equal(listener_pop_ready(l), &c[1]);
    assert_ptr_equal(listener_pop_ready(l), &c[2]);
    assert_null(listener_pop_ready(l));
    free_table(t);
}

static void half_open_queue_is_bounded(void **state)
{
    (void)state;
    struct listener_table *t = new_table(4);
    struct listener *l = listener_open(t, NULL, 0, 80, 1);
    struct list_node *c = calloc(LISTENER_MIN_HALF_OPEN, sizeof(*c));
    for (unsigned i = 0; i < LISTENER_MIN_HALF_OPEN; i++) {
        assert_true(listener_has_room(l));
        listener_add_half_open(l, &c[i]);
    }
    assert_false(listener_has_room(l));
    listener_drop(l, &c[5], true);
    assert_true(listener_has_room(l));
    free(c);
    free_table(t);
}

static void backlog_is_clamped(void **state)
{
    (void)state;
    struct listener_table *t = new_table(4);
    struct listener *a = listener_open(t, NULL, 0, 1, 0);
    struct listener *b = listener_open(t, NULL, 0, 2, 1u << 30);
    assert_int_equal(a->backlog, 1);
    assert_int_equal(b->backlog, LISTENER_MAX_BACKLOG);
    free_table(t);
}

static void reuseport_group_is_round_robin(void **state)
{
    (void)state;
    struct listener_table *t = new_table(8);
    struct listener *a = listener_open(t, NULL, 0, 8080, 16);
    struct listener *b = listener_open(t, NULL, 1, 8080, 16);
    struct listener *c = listener_open(t, NULL, 2, 8080, 16);
    int seen[3] = { 0 };
    for (int i = 0; i < 30; i++) {
        struct listener *l = listener_pick(t, 8080);
        seen[l == a ? 0 : l == b ? 1 : 2]++;
    }
    assert_int_equal(seen[0], 10);
    assert_int_equal(seen[1], 10);
    assert_int_equal(seen[2], 10);
    listener_close(t, b);
    for (int i = 0; i < 10; i++)
        assert_ptr_not_equal(listener_pick(t, 8080), b);
    listener_close(t, a);
    listener_close(t, c);
    assert_null(listener_pick(t, 8080));
    assert_null(listener_get(t, a->id));
    free_table(t);
}

static void table_runs_out_of_ids(void **state)
{
    (void)state;
    struct listener_table *t = new_table(2);
    struct listener *a = listener_open(t, NULL, 0, 1, 1);
    assert_non_null(listener_open(t, NULL, 0, 2, 1));
    assert_null(listener_open(t, NULL, 0, 3, 1));
    listener_close(t, a);
    assert_non_null(listener_open(t, NULL, 0, 3, 1));
    free_table(t);
}

static void timers_fire_in_deadline_order(void **state)
{
    (void)state;
    struct timer_heap th;
    struct sp_timer t[50];
    assert_int_equal(timer_heap_init(&th, 4), 0);
    for (int i = 0; i < 50; i++) {
        timer_init(&t[i]);
        assert_int_equal(timer_arm(&th, &t[i], (uint64_t)((i * 37) % 50) + 100), 0);
    }
    /* Re-arm and cancel a few in the middle. */
    timer_arm(&th, &t[10], 1);
    timer_arm(&th, &t[11], 1000);
    timer_cancel(&th, &t[12]);
    assert_false(timer_armed(&t[12]));
    assert_null(timer_pop_due(&th, 0));
    assert_ptr_equal(timer_pop_due(&th, 1), &t[10]);
    uint64_t last = 0;
    int n = 0;
    struct sp_timer *x;
    while ((x = timer_pop_due(&th, 999)) != NULL) {
        assert_true(x->deadline_us >= last);
        last = x->deadline_us;
        n++;
    }
    assert_int_equal(n, 47);
    assert_ptr_equal(timer_pop_due(&th, 1000), &t[11]);
    assert_null(timer_first(&th));
    timer_heap_destroy(&th);
}

static void conntab_finds_by_full_tuple(void **state)
{
    (void)state;
    struct conntab t;
    enum { N = 500 };
    struct conn_hnode *n = calloc(N, sizeof(*n));
    assert_int_equal(conntab_init(&t, 16, 99), 0);
    for (int i = 0; i < N; i++) {
        n[i].key = (struct conn_key){ 1, 2 + (uint32_t)(i % 7), 80, (uint16_t)(1000 + i) };
        assert_int_equal(conntab_insert(&t, &n[i]), 0);
    }
    assert_int_equal(t.count, N);
    struct conn_hnode dup = { .key = n[42].key };
    assert_int_equal(conntab_insert(&t, &dup), -EEXIST);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(conntab_find(&t, &n[i].key), &n[i]);
    struct conn_key other = n[3].key;
    other.local_port = 81;
    assert_null(conntab_find(&t, &other));
    for (int i = 0; i < N; i += 2)
        conntab_remove(&t, &n[i]);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(conntab_find(&t, &n[i].key), i % 2 ? &n[i] : NULL);
    assert_int_equal(t.count, N / 2);
    conntab_destroy(&t);
    free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backlog_bounds_the_accept_queue),
        cmocka_unit_test(half_open_queue_is_bounded),
        cmocka_unit_test(backlog_is_clamped),
        cmocka_unit_test(reuseport_group_is_round_robin),
        cmocka_unit_test(table_runs_out_of_ids),
        cmocka_unit_test(timers_fire_in_deadline_order),
        cmocka_unit_test(conntab_finds_by_full_tuple),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
