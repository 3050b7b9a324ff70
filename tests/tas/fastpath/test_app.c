/* Unit tests for the validation of application TX queue entries and of the
 * region geometry the slow path sends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "app.h"

#define FLOWS 8

static struct fp_flow flows[FLOWS];
static struct tas_flow sflows[FLOWS];
static struct fp_app app_a, app_b;

static int setup(void **state)
{
    (void)state;
    memset(flows, 0, sizeof(flows));
    memset(sflows, 0, sizeof(sflows));
    flows[2].state = FP_FLOW_ACTIVE;
    flows[2].app = &app_a;
    flows[2].rx_size = 1000;
    flows[2].tx_size = 1000;
    sflows[2].rx_avail = 600;          /* the app holds 400 */
    sflows[2].tx_sent = 300;
    sflows[2].tx_avail = 200;          /* 500 free */
    return 0;
}

static enum fp_entry_verdict check(const struct fp_app *a, uint32_t flow,
                                   uint32_t tx, uint32_t rx, uint32_t flags)
{
    struct tas_app_tx_entry e = { .flow_id = flow, .tx_bytes = tx,
                                  .rx_bytes = rx, .flags = flags };
    return fp_app_entry_check(&e, a, flows, sflows, FLOWS);
}

static void test_entries(void **state)
{
    (void)state;
    assert_int_equal(check(&app_a, 2, 500, 400, 0), FP_ENTRY_OK);
    assert_int_equal(check(&app_a, 2, 501, 0, 0), FP_ENTRY_BAD);
    assert_int_equal(check(&app_a, 2, 0, 401, 0), FP_ENTRY_BAD);
    assert_int_equal(check(&app_a, 2, 0xffffffff, 0, 0), FP_ENTRY_BAD);
    assert_int_equal(check(&app_a, 2, 1, 0, 2), FP_ENTRY_BAD);     /* no such flag */
    assert_int_equal(check(&app_a, FLOWS, 1, 0, 0), FP_ENTRY_BAD);
    assert_int_equal(check(&app_a, TAS_INVALID_FLOW, 1, 0, 0), FP_ENTRY_BAD);
    assert_int_equal(check(&app_b, 2, 1, 0, 0), FP_ENTRY_BAD);     /* not its flow */
    assert_int_equal(check(&app_a, 3, 1, 0, 0), FP_ENTRY_BAD);     /* never installed */
    /* bytes announced to nobody yet are not the app's to return */
    flows[2].note_rx_bytes = 100;
    assert_int_equal(check(&app_a, 2, 0, 301, 0), FP_ENTRY_BAD);
    /* after an RST, the app's own late entries are harmless */
    flows[2].state = FP_FLOW_STOPPED;
    assert_int_equal(check(&app_a, 2, 1, 0, 0), FP_ENTRY_STALE);
    assert_int_equal(check(&app_b, 2, 1, 0, 0), FP_ENTRY_BAD);
}

/* The TX ring may start again at 0 only when the fast path holds none of
 * its bytes, neither sent and unacknowledged nor queued. */
static void test_rewind_needs_an_empty_tx_ring(void **state)
{
    (void)state;
    assert_int_equal(check(&app_a, 2, 0, 0, TAS_APP_TX_F_REWIND), FP_ENTRY_BAD);
    sflows[2].tx_sent = 0;
    assert_int_equal(check(&app_a, 2, 0, 0, TAS_APP_TX_F_REWIND), FP_ENTRY_BAD);
    sflows[2].tx_avail = 0;
    assert_int_equal(check(&app_a, 2, 1000, 400, TAS_APP_TX_F_REWIND), FP_ENTRY_OK);
    assert_int_equal(check(&app_a, 2, 1001, 0, TAS_APP_TX_F_REWIND), FP_ENTRY_BAD);
    assert_int_equal(check(&app_a, 2, 0, 0, TAS_APP_TX_F_REWIND | 2), FP_ENTRY_BAD);
}

static struct tas_app_geometry good_app_geo(void)
{
    struct tas_app_geometry g = { .max_ctx = 4, .ring_slots = 256, .ctx_off = 64 };
    g.ctx_stride = tas_app_ctx_stride(g.ring_slots);
    g.payload_off = g.ctx_off + g.max_ctx * g.ctx_stride;
    g.payload_size = 1 << 20;
    g.size = g.payload_off + g.payload_size;
    return g;
}

static void test_app_geometry(void **state)
{
    (void)state;
    struct tas_app_geometry g = good_app_geo();
    assert_true(fp_app_geometry_ok(&g, g.size));
    assert_false(fp_app_geometry_ok(&g, g.size - 1));       /* memfd too small */
    g.ring_slots = 100;
    assert_false(fp_app_geometry_ok(&g, g.size));
    g = good_app_geo();
    g.ctx_stride -= 64;
    assert_false(fp_app_geometry_ok(&g, g.size));
    g = good_app_geo();
    g.payload_off -= 64;                                     /* overlaps contexts */
    assert_false(fp_app_geometry_ok(&g, g.size));
    g = good_app_geo();
    g.payload_size = UINT64_MAX;
    assert_false(fp_app_geometry_ok(&g, g.size));

    struct fp_app a = { .geo = good_app_geo() };
    uint32_t off = (uint32_t)a.geo.payload_off;
    assert_true(fp_app_payload_ok(&a, off, 4096));
    assert_true(fp_app_payload_ok(&a, off + (1 << 20) - 4096, 4096));
    assert_false(fp_app_payload_ok(&a, off + (1 << 20) - 4096, 4097));
    assert_false(fp_app_payload_ok(&a, off - 1, 4096));
    assert_false(fp_app_payload_ok(&a, off, 0));
    assert_false(fp_app_payload_ok(&a, 0xffffff00u, 0x200));
}

static void test_svc_geometry(void **state)
{
    (void)state;
    struct tas_svc_geometry g = { .cores = 1, .ring_slots = 64, .max_flows = 100 };
    g.queues_off = (sizeof(struct tas_svc_header) + 63) & ~63ull;
    g.queue_stride = 2 * sizeof(struct tas_ring_shared) + 2ull * 64 * TAS_SVC_SLOT_SIZE;
    g.flows_off = g.queues_off + g.queue_stride;
    g.size = g.flows_off + 100 * sizeof(struct tas_flow);
    assert_true(fp_svc_geometry_ok(&g, g.size));
    assert_false(fp_svc_geometry_ok(&g, g.size - 1));
    g.max_flows = 101;
    assert_false(fp_svc_geometry_ok(&g, g.size));
    g.max_flows = 100;
    g.cores = 2;                                             /* queues overlap flows */
    assert_false(fp_svc_geometry_ok(&g, g.size));
    g.cores = 0;
    assert_false(fp_svc_geometry_ok(&g, g.size));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_entries, setup),
        cmocka_unit_test_setup(test_rewind_needs_an_empty_tx_ring, setup),
        cmocka_unit_test(test_app_geometry),
        cmocka_unit_test(test_svc_geometry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
