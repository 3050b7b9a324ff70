/* test_ring.c - unit tests for include/tas/ring.h: FIFO order across index
 * wrap, full/empty edges, detection of a corrupt producer, the sleep/kick
 * handshake, and a two-thread stress run that checks every message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "tas/ring.h"

#define SLOTS 8
#define SLOT_SIZE 16

struct pair {
    struct tas_ring_shared sh;
    uint8_t slots[SLOTS * SLOT_SIZE];
    struct tas_ring prod, cons;
};

static void pair_init(struct pair *p, uint32_t start_index)
{
    memset(p, 0, sizeof(*p));
    p->sh.head = p->sh.tail = start_index;
    tas_ring_init_view(&p->prod, &p->sh, p->slots, SLOTS, SLOT_SIZE, true);
    tas_ring_init_view(&p->cons, &p->sh, p->slots, SLOTS, SLOT_SIZE, false);
}

static void fifo_across_index_wrap(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, UINT32_MAX - 3);   /* indexes wrap during the test */

    for (uint32_t round = 0; round < 5; round++) {
        for (uint32_t i = 0; i < SLOTS; i++) {
            uint32_t *s = tas_ring_prod_slot(&p.prod);
            assert_non_null(s);
            *s = round * 100 + i;
            tas_ring_prod_commit(&p.prod);
        }
        assert_null(tas_ring_prod_slot(&p.prod));   /* full */

        for (uint32_t i = 0; i < SLOTS; i++) {
            void *s = NULL;
            assert_int_equal(tas_ring_cons_peek(&p.cons, &s), TAS_RING_READY);
            assert_int_equal(*(uint32_t *)s, round * 100 + i);
            tas_ring_cons_release(&p.cons);
        }
        void *s = NULL;
        assert_int_equal(tas_ring_cons_peek(&p.cons, &s), TAS_RING_EMPTY);
    }
}

static void corrupt_head_is_detected(void **state)
{
    (void)state;
    struct pair p;
    void *s = NULL;
    pair_init(&p, 0);
    p.sh.head = SLOTS + 1;            /* a producer claiming too much */
    assert_int_equal(tas_ring_cons_peek(&p.cons, &s), TAS_RING_CORRUPT);
    p.sh.head = UINT32_MAX;           /* "negative" outstanding count */
    assert_int_equal(tas_ring_cons_peek(&p.cons, &s), TAS_RING_CORRUPT);
    p.sh.head = SLOTS;                /* exactly full is legitimate */
    assert_int_equal(tas_ring_cons_peek(&p.cons, &s), TAS_RING_READY);
}

static void garbage_tail_never_overwrites_unread_slots(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 0);
    for (int i = 0; i < 3; i++) {
        assert_non_null(tas_ring_prod_slot(&p.prod));
        tas_ring_prod_commit(&p.prod);
    }
    p.sh.tail = 0x80000000u;          /* consumer wrote nonsense */
    assert_null(tas_ring_prod_slot(&p.prod));
}

/* A polled ring never asks for a kick; one whose consumer blocks again
 * does. */
static void polled_consumer(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 0);

    tas_ring_cons_set_polled(&p.cons, true);
    assert_true(tas_ring_cons_prepare_sleep(&p.cons));
    assert_non_null(tas_ring_prod_slot(&p.prod));
    tas_ring_prod_commit(&p.prod);
    assert_false(tas_ring_needs_kick(&p.prod));
    tas_ring_cons_set_polled(&p.cons, false);
    assert_true(tas_ring_needs_kick(&p.prod));
}

static void sleep_handshake(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 0);

    assert_false(tas_ring_needs_kick(&p.prod));
    assert_true(tas_ring_cons_prepare_sleep(&p.cons));
    assert_non_null(tas_ring_prod_slot(&p.prod));
    tas_ring_prod_commit(&p.prod);
    assert_true(tas_ring_needs_kick(&p.prod));
    tas_ring_cons_awake(&p.cons);
    assert_false(tas_ring_needs_kick(&p.prod));

    /* an entry already queued: the consumer must not go to sleep */
    assert_false(tas_ring_cons_prepare_sleep(&p.cons));
}

#define STRESS_MSGS 200000u

static void *stress_producer(void *arg)
{
    struct tas_ring *r = arg;
    for (uint32_t i = 0; i < STRESS_MSGS; i++) {
        uint32_t *s;
        while ((s = tas_ring_prod_slot(r)) == NULL)
            sched_yield();      /* the machine may have fewer cores than spinners */
        s[0] = i;
        s[1] = ~i;
        tas_ring_prod_commit(r);
    }
    return NULL;
}

static void two_threads_in_order(void **state)
{
    (void)state;
    static struct pair p;
    pthread_t t;
    pair_init(&p, 0);
    assert_int_equal(pthread_create(&t, NULL, stress_producer, &p.prod), 0);

    uint32_t bad = 0;
    for (uint32_t i = 0; i < STRESS_MSGS; i++) {
        void *s = NULL;
        enum tas_ring_status st;
        while ((st = tas_ring_cons_peek(&p.cons, &s)) == TAS_RING_EMPTY)
            sched_yield();
        assert_int_equal(st, TAS_RING_READY);
        uint32_t *v = s;
        bad += v[0] != i || v[1] != ~i;
        tas_ring_cons_release(&p.cons);
    }
    pthread_join(t, NULL);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fifo_across_index_wrap),
        cmocka_unit_test(corrupt_head_is_detected),
        cmocka_unit_test(garbage_tail_never_overwrites_unread_slots),
        cmocka_unit_test(sleep_handshake),
        cmocka_unit_test(polled_consumer),
        cmocka_unit_test(two_threads_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
