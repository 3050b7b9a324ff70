/* Unit tests for the fast path's 4-tuple flow table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include "flow_table.h"

#define N 1000

static struct fp_flow flows[N];

static void set_key(uint32_t id, uint32_t rip, uint16_t rport)
{
    flows[id].local_ip = 0x0a000001;
    flows[id].remote_ip = rip;
    flows[id].local_port = 80;
    flows[id].remote_port = rport;
}

static void test_insert_lookup_remove(void **state)
{
    (void)state;
    struct fp_flow_table t;
    assert_int_equal(fp_flow_table_init(&t, flows, N), 0);
    for (uint32_t i = 0; i < N; i++) {
        set_key(i, 0x0a000002 + i % 7, (uint16_t)(1000 + i));
        assert_int_equal(fp_flow_table_insert(&t, i), 0);
    }
    assert_int_equal(fp_flow_table_count(&t), N);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(fp_flow_table_lookup(&t, 0x0a000001, 0x0a000002 + i % 7, 80,
                                              (uint16_t)(1000 + i)), i);
    /* same ports, other address: absent */
    assert_int_equal(fp_flow_table_lookup(&t, 0x0a000001, 0x0b000002, 80, 1000),
                     TAS_INVALID_FLOW);
    for (uint32_t i = 0; i < N; i += 2)
        fp_flow_table_remove(&t, i);
    assert_int_equal(fp_flow_table_count(&t), N / 2);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(fp_flow_table_lookup(&t, 0x0a000001, 0x0a000002 + i % 7, 80,
                                              (uint16_t)(1000 + i)),
                         i % 2 ? i : TAS_INVALID_FLOW);
    fp_flow_table_free(&t);
}

static void test_duplicate_tuple_refused(void **state)
{
    (void)state;
    struct fp_flow_table t;
    assert_int_equal(fp_flow_table_init(&t, flows, N), 0);
    set_key(1, 0x0a000002, 5000);
    set_key(2, 0x0a000002, 5000);
    assert_int_equal(fp_flow_table_insert(&t, 1), 0);
    assert_int_equal(fp_flow_table_insert(&t, 2), -EEXIST);
    fp_flow_table_remove(&t, 2);   /* not linked: no effect */
    assert_int_equal(fp_flow_table_count(&t), 1);
    assert_int_equal(fp_flow_table_lookup(&t, 0x0a000001, 0x0a000002, 80, 5000), 1);
    fp_flow_table_remove(&t, 1);
    assert_int_equal(fp_flow_table_insert(&t, 2), 0);
    assert_int_equal(fp_flow_table_lookup(&t, 0x0a000001, 0x0a000002, 80, 5000), 2);
    fp_flow_table_free(&t);
}

static void test_chains_in_tiny_table(void **state)
{
    (void)state;
    /* 4 flows get 16 buckets; remove from the middle of chains */
    struct fp_flow_table t;
    assert_int_equal(fp_flow_table_init(&t, flows, 4), 0);
    for (uint32_t i = 0; i < 4; i++) {
        set_key(i, 0x0a000009, (uint16_t)(7 + i * 16));
        assert_int_equal(fp_flow_table_insert(&t, i), 0);
    }
    fp_flow_table_remove(&t, 1);
    fp_flow_table_remove(&t, 2);
    assert_int_equal(fp_flow_table_lookup(&t, 0x0a000001, 0x0a000009, 80, 7), 0);
    assert_int_equal(fp_flow_table_lookup(&t, 0x0a000001, 0x0a000009, 80, 7 + 48), 3);
    assert_int_equal(fp_flow_table_lookup(&t, 0x0a000001, 0x0a000009, 80, 7 + 16),
                     TAS_INVALID_FLOW);
    fp_flow_table_free(&t);
}

/* A tuple's bucket names the first flow of its chain: the tuple's own
 * flow when the bucket holds nothing else; an empty bucket names none. */
static void test_bucket_names_the_chain_head(void **state)
{
    (void)state;
    struct fp_flow_table t;
    assert_int_equal(fp_flow_table_init(&t, flows, 1), 0);   /* 16 buckets */
    assert_int_equal(*fp_flow_table_bucket(&t, 0x0a000001, 0x0a000002, 80, 1000),
                     TAS_INVALID_FLOW);
    set_key(0, 0x0a000002, 1000);
    assert_int_equal(fp_flow_table_insert(&t, 0), 0);
    assert_int_equal(*fp_flow_table_bucket(&t, 0x0a000001, 0x0a000002, 80, 1000), 0);
    fp_flow_table_remove(&t, 0);
    assert_int_equal(*fp_flow_table_bucket(&t, 0x0a000001, 0x0a000002, 80, 1000),
                     TAS_INVALID_FLOW);
    fp_flow_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_lookup_remove),
        cmocka_unit_test(test_duplicate_tuple_refused),
        cmocka_unit_test(test_chains_in_tiny_table),
        cmocka_unit_test(test_bucket_names_the_chain_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
