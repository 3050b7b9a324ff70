/* test_conn.c - the low-level API's bookkeeping against a fake service.
 *
 * The service side is played here: an application region in plain memory,
 * the slow path's replies from a fake svc_request, the fast path's and
 * slow path's entries written straight into the context's rings.  Checks
 * that ring positions follow the entries, that entries which do not fit
 * are refused, and the embryo/closing life of a flow id.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <cmocka.h>

#include "fdtab.h"
#include "libc.h"
#include "lowlevel.h"

#define SLOTS       16u
#define RING_SIZE   1000u
#define FLOW        5u

static struct tas_app_geometry geo;
static uint8_t *region;
static struct tas_ring fp_rx, sp_tx, fp_tx;   /* the service's views */
static struct tas_ctl_conn reply;             /* next ACCEPT/CONNECT reply */
static uint16_t last_request;
static uint32_t listener_ids;

/* ---- stubs for service.c ---- */

const struct tas_app_geometry *svc_geometry(void) { return &geo; }
uint8_t *svc_region(void) { return region; }
uint32_t tas_local_ip(void) { return 0x0100000a; }
void svc_add_context(struct tas_context *ctx) { (void)ctx; }

int svc_request(struct tas_ctl_msg *m, int *fds, unsigned max_fds,
                unsigned *nfds)
{
    last_request = m->type;
    switch (m->type) {
    case TAS_CTL_CTX_NEW:
        assert_true(max_fds >= 2);
        fds[0] = eventfd(0, EFD_CLOEXEC);
        fds[1] = eventfd(0, EFD_CLOEXEC);
        *nfds = 2;
        m->u.ctx.ctx_id = 0;
        return 0;
    case TAS_CTL_LISTEN:
        m->u.conn.listener_id = ++listener_ids;
        return 0;
    case TAS_CTL_ACCEPT:
    case TAS_CTL_CONNECT:
        m->u.conn = reply;
        return 0;
    default:
        return 0;
    }
}

/* ---- helpers ---- */

static int setup(void **state)
{
    libc_resolve();
    geo.ring_slots = SLOTS;
    geo.max_ctx = 1;
    geo.ctx_off = TAS_CACHE_LINE;
    geo.ctx_stride = tas_app_ctx_stride(SLOTS);
    geo.payload_off = geo.ctx_off + geo.ctx_stride;
    geo.payload_size = 4 * RING_SIZE;
    geo.size = geo.payload_off + geo.payload_size;
    size_t alloc = (geo.size + TAS_CACHE_LINE - 1) & ~(size_t)(TAS_CACHE_LINE - 1);
    region = aligned_alloc(TAS_CACHE_LINE, alloc);
    assert_non_null(region);
    memset(region, 0, alloc);

    struct tas_app_ctx_shared *sh = tas_app_ctx(region, &geo, 0);
    tas_ring_init_view(&fp_rx, &sh->rx, tas_app_ctx_rx_slots(sh, &geo), SLOTS,
                       TAS_APP_CTX_SLOT_RX, true);
    tas_ring_init_view(&sp_tx, &sh->sp, tas_app_ctx_sp_slots(sh, &geo), SLOTS,
                       TAS_APP_CTX_SLOT_SP, true);
    tas_ring_init_view(&fp_tx, &sh->tx, tas_app_ctx_tx_slots(sh), SLOTS,
                       TAS_APP_CTX_SLOT_TX, false);

    struct tas_context *ctx;
    assert_int_equal(tas_context_create(&ctx), 0);
    *state = ctx;

    memset(&reply, 0, sizeof(reply));
    reply.flow_id = FLOW;
    reply.rx_base = (uint32_t)geo.payload_off;
    reply.rx_size = RING_SIZE;
    reply.tx_base = (uint32_t)geo.payload_off + RING_SIZE;
    reply.tx_size = RING_SIZE;
    return 0;
}

static void free_values(struct idmap *m)
{
    for (uint32_t i = 0; m->slots != NULL && i <= m->mask; i++)
        free(m->slots[i].value);
    idmap_free(m);
}

/* Contexts live as long as their process; the tests make one each. */
static int teardown(void **state)
{
    struct tas_context *ctx = *state;

    free_values(&ctx->flows);
    free_values(&ctx->listeners);
    fdtab_close_internal(ctx->efd);
    fdtab_close_internal(ctx->kick_fd);
    free(ctx);
    free(region);
    return 0;
}

/* The fast path's entry; opaque is what the flow had when it was made. */
static void fp_post_tagged(uint64_t opaque, uint32_t flow, uint32_t pos,
                           uint32_t rx, uint32_t tx, uint32_t flags)
{
    struct tas_app_rx_entry e = {
        .opaque = opaque, .flow_id = flow, .rx_pos = pos, .rx_bytes = rx,
        .tx_bytes = tx, .flags = flags,
    };
    void *slot = tas_ring_prod_slot(&fp_rx);

    assert_non_null(slot);
    memcpy(slot, &e, sizeof(e));
    tas_ring_prod_commit(&fp_rx);
}

static void fp_post(uint32_t flow, uint32_t pos, uint32_t rx, uint32_t tx,
                    uint32_t flags)
{
    fp_post_tagged(0, flow, pos, rx, tx, flags);
}

/* The slow path's event; opaque is the flow's when it was posted. */
static void sp_post_tagged(uint64_t opaque, uint32_t kind, uint32_t flow,
                           uint32_t listener, uint32_t status)
{
    struct tas_app_sp_event e = {
        .kind = kind, .flow_id = flow, .listener_id = listener,
        .status = status, .opaque = opaque,
    };
    void *slot = tas_ring_prod_slot(&sp_tx);

    assert_non_null(slot);
    memcpy(slot, &e, sizeof(e));
    tas_ring_prod_commit(&sp_tx);
}

static void sp_post(uint32_t kind, uint32_t flow, uint32_t listener,
                    uint32_t status)
{
    sp_post_tagged(0, kind, flow, listener, status);
}

static uint32_t poll_events(struct tas_context *ctx, void *who)
{
    struct tas_event ev[8];
    uint32_t got = 0;
    int n = tas_context_poll(ctx, ev, 8);

    assert_true(n >= 0);
    for (int i = 0; i < n; i++)
        if ((void *)ev[i].conn == who || (void *)ev[i].listener == who)
            got |= ev[i].events;
    return got;
}

static struct tas_conn *accept_one(struct tas_context *ctx)
{
    struct tas_listener *l;
    struct tas_conn *c;

    assert_int_equal(tas_listen(ctx, 0, 80, 8, 0, &l), 0);
    sp_post(TAS_SPEV_ACCEPT_READY, FLOW, listener_ids, 0);
    assert_true(poll_events(ctx, l) & TAS_EV_ACCEPT);
    assert_true(tas_listener_ready(l));
    assert_int_equal(tas_accept(l, &c), 0);
    assert_false(tas_listener_ready(l));
    assert_int_equal(tas_accept(l, &c), -EAGAIN);
    return c;
}

/* The next entry the fast path finds in its TX queue. */
static struct tas_app_tx_entry take_fp_entry(void)
{
    struct tas_app_tx_entry *e = NULL, copy;
    assert_int_equal(tas_ring_cons_peek(&fp_tx, (void **)&e), TAS_RING_READY);
    copy = *e;
    tas_ring_cons_release(&fp_tx);
    return copy;
}

/* ---- tests ---- */

static void test_rx_positions_follow_entries(void **state)
{
    struct tas_context *ctx = *state;
    struct tas_conn *c = accept_one(ctx);
    struct iovec iov[2];

    fp_post(FLOW, 0, 600, 0, 0);
    assert_true(poll_events(ctx, c) & TAS_EV_RX);
    assert_int_equal(tas_conn_rx_peek(c, iov), 600);
    tas_conn_rx_consume(c, 600);

    /* 600 more wrap around the 1000-byte ring: two pieces. */
    fp_post(FLOW, 600, 600, 0, 0);
    poll_events(ctx, c);
    assert_int_equal(tas_conn_rx_peek(c, iov), 600);
    assert_int_equal(iov[0].iov_len, 400);
    assert_int_equal(iov[1].iov_len, 200);
    assert_ptr_equal(iov[1].iov_base, region + geo.payload_off);

    /* The consumed bytes went back to the fast path as one count. */
    struct tas_app_tx_entry e = take_fp_entry();
    assert_int_equal(e.flow_id, FLOW);
    assert_int_equal(e.rx_bytes, 600);
    assert_int_equal(e.tx_bytes, 0);
    assert_int_equal(tas_conn_status(c), 0);
}

static void test_rx_entry_out_of_place_breaks_flow(void **state)
{
    struct tas_context *ctx = *state;
    struct tas_conn *c = accept_one(ctx);
    struct iovec iov[2];

    fp_post(FLOW, 0, 100, 0, 0);
    fp_post(FLOW, 300, 100, 0, 0);   /* gap: not where the next byte goes */
    assert_true(poll_events(ctx, c) & TAS_EV_CLOSED);
    assert_int_equal(tas_conn_status(c), -EPROTO);
    assert_int_equal(tas_conn_rx_peek(c, iov), 0);
}

static void test_rx_emptied_ring_starts_again(void **state)
{
    struct tas_context *ctx = *state;
    struct tas_conn *c = accept_one(ctx);
    struct iovec iov[2];

    fp_post(FLOW, 0, 100, 0, 0);
    poll_events(ctx, c);
    tas_conn_rx_consume(c, 100);
    assert_int_equal(take_fp_entry().rx_bytes, 100);
    fp_post(FLOW, 0, 50, 0, 0);      /* every byte given back: 0 again */
    poll_events(ctx, c);
    assert_int_equal(tas_conn_rx_peek(c, iov), 50);
    assert_ptr_equal(iov[0].iov_base, region + geo.payload_off);
    assert_int_equal(tas_conn_status(c), 0);
    fp_post(FLOW, 0, 10, 0, 0);      /* but not while 50 are unread */
    poll_events(ctx, c);
    assert_int_equal(tas_conn_status(c), -EPROTO);
}

static void test_rx_overfill_refused(void **state)
{
    struct tas_context *ctx = *state;
    struct tas_conn *c = accept_one(ctx);

    fp_post(FLOW, 0, RING_SIZE + 1, 0, 0);
    poll_events(ctx, c);
    assert_int_equal(tas_conn_status(c), -EPROTO);
}

static void test_tx_space_and_acks(void **state)
{
    struct tas_context *ctx = *state;
    struct tas_conn *c = accept_one(ctx);
    struct iovec iov[2];

    assert_int_equal(tas_conn_tx_space(c, iov), RING_SIZE);
    tas_conn_tx_commit(c, 700);
    assert_int_equal(tas_conn_tx_unacked(c), 700);
    assert_int_equal(tas_conn_tx_space(c, iov), 300);
    assert_ptr_equal(iov[0].iov_base, region + reply.tx_base + 700);

    fp_post(FLOW, 0, 0, 500, 0);
    assert_true(poll_events(ctx, c) & TAS_EV_TX);
    assert_int_equal(tas_conn_tx_unacked(c), 200);
    assert_int_equal(tas_conn_tx_space(c, iov), 800);
    assert_int_equal(iov[0].iov_len, 300);
    assert_int_equal(iov[1].iov_len, 500);

    /* Freeing more than is queued is a lie. */
    fp_post(FLOW, 0, 0, 201, 0);
    poll_events(ctx, c);
    assert_int_equal(tas_conn_status(c), -EPROTO);
}

static void test_tx_acked_ring_starts_again(void **state)
{
    struct tas_context *ctx = *state;
    struct tas_conn *c = accept_one(ctx);
    struct iovec iov[2];

    tas_conn_tx_space(c, iov);
    tas_conn_tx_commit(c, 700);
    assert_int_equal(take_fp_entry().flags, 0);
    fp_post(FLOW, 0, 0, 600, 0);
    poll_events(ctx, c);
    assert_int_equal(tas_conn_tx_space(c, iov), 900);   /* 100 unacked: on at 700 */
    assert_ptr_equal(iov[0].iov_base, region + reply.tx_base + 700);
    fp_post(FLOW, 0, 0, 100, 0);
    poll_events(ctx, c);
    assert_int_equal(tas_conn_tx_space(c, iov), RING_SIZE);
    assert_ptr_equal(iov[0].iov_base, region + reply.tx_base);
    assert_int_equal(iov[0].iov_len, RING_SIZE);
    tas_conn_tx_commit(c, 10);
    struct tas_app_tx_entry e = take_fp_entry();
    assert_int_equal(e.flags, TAS_APP_TX_F_REWIND);
    assert_int_equal(e.tx_bytes, 10);
    tas_conn_tx_space(c, iov);
    assert_ptr_equal(iov[0].iov_base, region + reply.tx_base + 10);
    tas_conn_tx_commit(c, 5);
    assert_int_equal(take_fp_entry().flags, 0);
}

static void test_bytes_before_accept_are_kept(void **state)
{
    struct tas_context *ctx = *state;
    struct iovec iov[2];

    /* 10 bytes came with the final ACK (slow path), 50 more from the fast
     * path before the application accepted. */
    fp_post(FLOW, 10, 50, 0, TAS_APP_RX_F_FIN);
    poll_events(ctx, NULL);
    reply.rx_ready = 10;
    struct tas_conn *c = accept_one(ctx);
    assert_int_equal(tas_conn_rx_peek(c, iov), 60);
    assert_true(tas_conn_rx_fin(c));
    assert_int_equal(tas_conn_status(c), 0);
}

static void test_closed_flow_ignores_late_entries(void **state)
{
    struct tas_context *ctx = *state;
    struct tas_conn *c = accept_one(ctx);
    uint64_t old_tag = ctx->next_opaque;
    struct iovec iov[2];

    tas_conn_close(c);
    assert_int_equal(last_request, TAS_CTL_CLOSE);
    fp_post_tagged(old_tag, FLOW, 0, 100, 0, 0);    /* the old flow's: ignored */
    sp_post(TAS_SPEV_CLOSED, FLOW, 0, 0);
    assert_int_equal(poll_events(ctx, NULL), 0);
    assert_null(idmap_get(&ctx->flows, FLOW));

    /* Still the old flow's, though the id is free now. */
    fp_post_tagged(old_tag, FLOW, 100, 100, 0, 0);
    poll_events(ctx, NULL);
    assert_null(idmap_get(&ctx->flows, FLOW));

    /* A new flow's early bytes (untagged) are kept for its accept. */
    fp_post(FLOW, 0, 7, 0, 0);
    poll_events(ctx, NULL);
    c = accept_one(ctx);
    assert_int_equal(tas_conn_rx_peek(c, iov), 7);
}

static void test_reused_id_seen_before_old_closed(void **state)
{
    struct tas_context *ctx = *state;
    struct tas_conn *c = accept_one(ctx);
    struct iovec iov[2];

    tas_conn_close(c);
    /* CLOSED is queued but not taken in when the new flow's first entry
     * is read: the entry must not be lost to the closing record. */
    struct tas_event ev[4];
    sp_post(TAS_SPEV_CLOSED, FLOW, 0, 0);
    fp_post(FLOW, 0, 9, 0, 0);
    assert_int_equal(tas_context_poll(ctx, ev, 4), 0);
    c = accept_one(ctx);
    assert_int_equal(tas_conn_rx_peek(c, iov), 9);
}

static void test_old_flow_entry_after_reuse_ignored(void **state)
{
    struct tas_context *ctx = *state;
    struct tas_conn *c = accept_one(ctx);
    uint64_t old_tag = ctx->next_opaque;
    struct iovec iov[2];

    tas_conn_close(c);
    sp_post(TAS_SPEV_CLOSED, FLOW, 0, 0);
    /* The id comes back for a connect; an entry the fast path made for
     * the old flow before its CLOSED is read only now. */
    assert_int_equal(tas_connect(ctx, 0x0200000a, 80, 0, &c), 0);
    sp_post(TAS_SPEV_CONNECTED, FLOW, 0, 0);
    fp_post_tagged(old_tag, FLOW, 0, 5, 0, TAS_APP_RX_F_FIN);
    poll_events(ctx, c);
    assert_int_equal(tas_conn_status(c), 0);
    assert_int_equal(tas_conn_rx_peek(c, iov), 0);
    assert_false(tas_conn_rx_fin(c));

    fp_post_tagged(ctx->next_opaque, FLOW, 0, 5, 0, 0);
    assert_true(poll_events(ctx, c) & TAS_EV_RX);
    assert_int_equal(tas_conn_rx_peek(c, iov), 5);
}

static void test_connect_reusing_closing_id_keeps_its_events(void **state)
{
    struct tas_context *ctx = *state;
    struct tas_conn *c = accept_one(ctx);

    tas_conn_close(c);
    /* The slow path posted the old flow's CLOSED, handed the id to a
     * connect and completed the handshake, all before libtas took the
     * reply in: CONNECTED must reach the new flow, not the old record. */
    sp_post(TAS_SPEV_CLOSED, FLOW, 0, 0);
    sp_post(TAS_SPEV_CONNECTED, FLOW, 0, 0);
    assert_int_equal(tas_connect(ctx, 0x0200000a, 80, 0, &c), 0);
    assert_true(poll_events(ctx, c) & TAS_EV_CONNECTED);
    assert_int_equal(tas_conn_status(c), 0);
}

static void test_old_closed_after_reuse_ignored(void **state)
{
    struct tas_context *ctx = *state;
    struct tas_conn *c = accept_one(ctx);
    uint64_t old_tag = ctx->next_opaque;

    tas_conn_close(c);
    /* The old flow's CLOSED waited in the slow path (its queue was full)
     * while the id went to a connect: it must not end the new flow. */
    assert_int_equal(tas_connect(ctx, 0x0200000a, 80, 0, &c), 0);
    sp_post_tagged(old_tag, TAS_SPEV_CLOSED, FLOW, 0, 0);
    sp_post_tagged(ctx->next_opaque, TAS_SPEV_CONNECTED, FLOW, 0, 0);
    assert_true(poll_events(ctx, c) & TAS_EV_CONNECTED);
    assert_int_equal(tas_conn_status(c), 0);
    assert_ptr_equal(idmap_get(&ctx->flows, FLOW), c);
}

static void test_reset_then_close_frees_at_once(void **state)
{
    struct tas_context *ctx = *state;
    struct tas_conn *c = accept_one(ctx);

    sp_post(TAS_SPEV_CLOSED, FLOW, 0, ECONNRESET);
    assert_true(poll_events(ctx, c) & TAS_EV_CLOSED);
    assert_int_equal(tas_conn_status(c), -ECONNRESET);
    tas_conn_close(c);
    assert_null(idmap_get(&ctx->flows, FLOW));
}

static void test_connect_completion(void **state)
{
    struct tas_context *ctx = *state;
    struct tas_conn *c;

    assert_int_equal(tas_connect(ctx, 0x0200000a, 80, 0, &c), 0);
    assert_int_equal(tas_conn_status(c), -EINPROGRESS);
    sp_post(TAS_SPEV_CONNECTED, FLOW, 0, ECONNREFUSED);
    assert_true(poll_events(ctx, c) & TAS_EV_CONNECTED);
    assert_int_equal(tas_conn_status(c), -ECONNREFUSED);
}

static void test_corrupt_queue_kills_context(void **state)
{
    struct tas_context *ctx = *state;
    struct tas_event ev[4];
    struct tas_app_ctx_shared *sh = tas_app_ctx(region, &geo, 0);

    sh->rx.head = SLOTS + 5;          /* more entries than the ring holds */
    assert_int_equal(tas_context_poll(ctx, ev, 4), -EPROTO);
    assert_false(tas_context_prepare_sleep(ctx));
}

/* A spinner sees entries of either queue, whether they were queued before
 * or after its mark, and is told not to spin while events are waiting. */
static void test_spin_sees_news(void **state)
{
    struct tas_context *ctx = *state;
    struct tas_conn *c = accept_one(ctx);
    uint64_t mark;

    assert_true(tas_context_prepare_spin(ctx, &mark));
    assert_false(tas_context_spin_news(ctx, mark));
    fp_post(FLOW, 0, 10, 0, 0);
    assert_true(tas_context_spin_news(ctx, mark));
    assert_false(tas_context_prepare_spin(ctx, &mark));

    assert_true(poll_events(ctx, c) & TAS_EV_RX);
    assert_true(tas_context_prepare_spin(ctx, &mark));
    sp_post(TAS_SPEV_CLOSED, FLOW, 0, 0);
    assert_true(tas_context_spin_news(ctx, mark));

    /* Taken in but not yet handed out: there is news already. */
    struct tas_event ev;
    assert_true(poll_events(ctx, c) & TAS_EV_CLOSED);
    fp_post(FLOW, 10, 5, 0, 0);
    sp_post(TAS_SPEV_ACCEPT_READY, FLOW + 1, listener_ids, 0);
    assert_int_equal(tas_context_poll(ctx, &ev, 1), 1);
    assert_false(tas_context_prepare_spin(ctx, &mark));
    assert_int_equal(tas_context_poll(ctx, &ev, 1), 1);
    assert_true(tas_context_prepare_spin(ctx, &mark));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rx_positions_follow_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_entry_out_of_place_breaks_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_overfill_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_emptied_ring_starts_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_space_and_acks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_acked_ring_starts_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bytes_before_accept_are_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_flow_ignores_late_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reused_id_seen_before_old_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_flow_entry_after_reuse_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_reusing_closing_id_keeps_its_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_closed_after_reuse_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_then_close_frees_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_completion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_queue_kills_context, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spin_sees_news, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
