/* conn.c - listeners, connections and their payload rings.
 *
 * Applies what the fast path (rx entries) and the slow path (sp events) say
 * about each flow, and gives the application in-place access to the rings.
 * Every count that comes out of shared memory is checked against what this
 * side knows about the ring before it moves a position: a service that
 * lies can break the connection it lies about, never make us read or write
 * outside the ring.
 *
 * Flows show up in three states (enum conn_kind).  The fast path may report
 * bytes for a flow before the application's ACCEPT names it; those are
 * kept in an embryo that ACCEPT adopts.  After the application closes a
 * flow, late entries for it are ignored until the slow path's CLOSED frees
 * the record (see docs/tas-protocol.md, flow lifecycle).  Entries carry the
 * flow's opaque value: 0 before ACCEPT, afterwards a tag we chose, so an
 * entry for a flow id that was closed and handed out again tells by its tag
 * which of the two flows it belongs to.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lowlevel.h"
#include "ringpos.h"

/* Embryos live only between the fast path's first entry and the ACCEPT,
 * so a few per listener suffice; the bound keeps a confused service from
 * making us allocate without end. */
#define MAX_EMBRYOS 4096u

static struct tas_conn *conn_alloc(struct tas_context *ctx, uint32_t flow_id,
                                   enum conn_kind kind)
{
    struct tas_conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->ctx = ctx;
    c->flow_id = flow_id;
    c->kind = kind;
    if (idmap_put(&ctx->flows, flow_id, c) != 0) {
        free(c);
        return NULL;
    }
    if (kind == CONN_EMBRYO)
        ctx->embryos++;
    return c;
}

static void conn_unlink_unposted(struct tas_conn *c)
{
    struct tas_conn **pp = &c->ctx->unposted;

    while (*pp != NULL && *pp != c)
        pp = &(*pp)->next_unposted;
    if (*pp == c)
        *pp = c->next_unposted;
    c->on_unposted = false;
}

static void conn_free(struct tas_conn *c)
{
    struct tas_context *ctx = c->ctx;

    if (idmap_get(&ctx->flows, c->flow_id) == c)
        idmap_del(&ctx->flows, c->flow_id);
    if (c->kind == CONN_EMBRYO)
        ctx->embryos--;
    if (c->kind == CONN_CLOSING)
        ctx->closing--;
    if (c->on_unposted)
        conn_unlink_unposted(c);
    ctx_unnotify(&c->ev);
    free(c);
}

/* The service broke the rules for this flow: it is over for us. */
static void conn_fail(struct tas_conn *c, const char *why)
{
    if (c->status != -EPROTO)
        tas_log("flow %u: %s; dropping the connection", c->flow_id, why);
    c->status = -EPROTO;
    ctx_notify(c->ctx, &c->ev, TAS_EV_CLOSED | TAS_EV_RX | TAS_EV_TX);
}

/* ---- counts for the fast path ------------------------------------------ */

static bool conn_post(struct tas_conn *c)
{
    struct tas_context *ctx = c->ctx;
    struct tas_app_tx_entry *e = tas_ring_prod_slot(&ctx->tx);

    if (e == NULL)
        return false;
    e->flow_id = c->flow_id;
    e->tx_bytes = c->unposted_tx;
    e->rx_bytes = c->unposted_rx;
    e->flags = c->tx_rewound ? TAS_APP_TX_F_REWIND : 0;
    tas_ring_prod_commit(&ctx->tx);
    c->unposted_tx = c->unposted_rx = 0;
    c->tx_rewound = false;
    return true;
}

static void conn_queue_counts(struct tas_conn *c, uint32_t tx, uint32_t rx)
{
    c->unposted_tx += tx;
    c->unposted_rx += rx;
    if (c->on_unposted)
        return;
    if (conn_post(c)) {
        ctx_kick_fastpath(c->ctx);
        return;
    }
    c->on_unposted = true;
    c->next_unposted = c->ctx->unposted;
    c->ctx->unposted = c;
}

void conn_flush_unposted(struct tas_context *ctx)
{
    bool posted = false;

    while (ctx->unposted != NULL && conn_post(ctx->unposted)) {
        struct tas_conn *c = ctx->unposted;
        ctx->unposted = c->next_unposted;
        c->on_unposted = false;
        posted = true;
    }
    if (posted)
        ctx_kick_fastpath(ctx);
}

/* ---- what the service tells us ------------------------------------------ */

static void conn_apply_rx(struct tas_conn *c, const struct tas_app_rx_entry *e)
{
    uint32_t events = 0;

    if (c->status == -EPROTO)
        return;
    if (e->rx_bytes != 0) {
        uint32_t expect = ringpos_advance(c->rx_pos, c->rx_ready, c->rx_size);
        bool rewound = e->rx_pos == 0 && c->rx_ready == 0 && c->unposted_rx == 0;
        if ((e->rx_pos != expect && !rewound) || e->rx_bytes > c->rx_size - c->rx_ready) {
            conn_fail(c, "the fast path announced bytes outside the RX ring");
            return;
        }
        if (rewound)
            c->rx_pos = 0;           /* the emptied ring starts again at 0 */
        c->rx_ready += e->rx_bytes;
        events |= TAS_EV_RX;
    }
    if (e->tx_bytes != 0) {
        if (e->tx_bytes > c->tx_size - c->tx_free) {
            conn_fail(c, "the fast path freed more TX bytes than were queued");
            return;
        }
        c->tx_free += e->tx_bytes;
        events |= TAS_EV_TX;
    }
    if ((e->flags & TAS_APP_RX_F_FIN) && !c->rx_fin) {
        c->rx_fin = true;
        events |= TAS_EV_RX;
    }
    if (events)
        ctx_notify(c->ctx, &c->ev, events);
}

static void conn_embryo_rx(struct tas_conn *c, const struct tas_app_rx_entry *e)
{
    if (e->rx_bytes != 0) {
        if (c->rx_ready == 0)
            c->rx_pos = e->rx_pos;
        if (c->rx_ready + (uint64_t)e->rx_bytes > UINT32_MAX)
            c->status = -EPROTO;
        else
            c->rx_ready += e->rx_bytes;
    }
    if (e->flags & TAS_APP_RX_F_FIN)
        c->rx_fin = true;
}

void conn_rx_entry(struct tas_context *ctx, const struct tas_app_rx_entry *e)
{
    struct tas_conn *c = idmap_get(&ctx->flows, e->flow_id);

    if (c != NULL && c->kind == CONN_CLOSING && e->opaque == 0) {
        /* A new flow under the id of one we closed: the old one's CLOSED
         * was posted before the new flow existed, so it is visible now. */
        ctx_take_sp_events_until_closed(ctx, e->flow_id);
        c = idmap_get(&ctx->flows, e->flow_id);
    }
    if (c == NULL) {
        if (e->opaque != 0)
            return;             /* late entry of a flow already gone */
        if (ctx->embryos >= MAX_EMBRYOS) {
            tas_log("too many flows reported before their accept; "
                    "ignoring flow %u", e->flow_id);
            return;
        }
        c = conn_alloc(ctx, e->flow_id, CONN_EMBRYO);
        if (c == NULL)
            return;
    }
    switch (c->kind) {
    case CONN_EMBRYO:
        conn_embryo_rx(c, e);
        break;
    case CONN_LIVE:
        /* Untagged: made before ACCEPT took effect.  Another tag: a
         * leftover of an earlier flow with this id, made before its CLOSED
         * and read after it. */
        if (e->opaque == 0 || e->opaque == c->tag)
            conn_apply_rx(c, e);
        break;
    case CONN_CLOSING:
        break;
    }
}

static int errno_from_service(uint32_t status)
{
    return status > 0 && status < 4096 ? (int)status : EPROTO;
}

void conn_sp_event(struct tas_context *ctx, const struct tas_app_sp_event *e)
{
    if (e->kind == TAS_SPEV_ACCEPT_READY) {
        struct tas_listener *l = idmap_get(&ctx->listeners, e->listener_id);
        if (l != NULL) {
            l->ready++;
            ctx_notify(ctx, &l->ev, TAS_EV_ACCEPT);
        }
        return;
    }

    struct tas_conn *c = idmap_get(&ctx->flows, e->flow_id);
    if (c == NULL)
        return;
    /* Another tag: the end of an earlier flow with this id, whose CLOSED
     * waited in the slow path while the id was handed to this one. */
    if (e->opaque != 0 && e->opaque != c->tag)
        return;
    if (e->kind == TAS_SPEV_CONNECTED && c->kind == CONN_LIVE &&
        c->status == -EINPROGRESS) {
        c->status = e->status == 0 ? 0 : -errno_from_service(e->status);
        ctx_notify(ctx, &c->ev, TAS_EV_CONNECTED | TAS_EV_TX);
    } else if (e->kind == TAS_SPEV_CLOSED) {
        if (c->kind != CONN_LIVE) {
            conn_free(c);
            return;
        }
        c->ended = true;
        if (e->status != 0)
            c->status = -errno_from_service(e->status);
        else if (c->status == 0 || c->status == -EINPROGRESS)
            c->status = -EPIPE;
        ctx_notify(ctx, &c->ev, TAS_EV_CLOSED | TAS_EV_RX | TAS_EV_TX);
    }
}

/* ---- requests ------------------------------------------------------------ */

static int conn_request(struct tas_context *ctx, uint16_t type,
                        struct tas_ctl_conn *body)
{
    struct tas_ctl_msg m = { .type = type };
    int err;

    if (ctx->dead)
        return -ENOTCONN;
    body->ctx_id = ctx->id;
    m.u.conn = *body;
    err = svc_request(&m, NULL, 0, NULL);
    *body = m.u.conn;
    return err;
}

static bool ring_in_payload(uint32_t base, uint32_t size)
{
    const struct tas_app_geometry *g = svc_geometry();

    return size > 0 && base >= g->payload_off &&
           (uint64_t)base + size <= g->payload_off + g->payload_size;
}

/* Turn the reply to ACCEPT or CONNECT into a live connection. */
static int conn_from_reply(struct tas_context *ctx, const struct tas_ctl_conn *r,
                           uint64_t tag, int status, struct tas_conn **out)
{
    struct tas_conn *c = idmap_get(&ctx->flows, r->flow_id);
    uint8_t *region = svc_region();

    if (c != NULL && c->kind == CONN_CLOSING) {
        /* The id is being handed out again, so the slow path has posted
         * the old flow's CLOSED already; it may still sit on the queue,
         * followed by the new flow's first events (CONNECTED, CLOSED),
         * which must wait until the new flow is in the table. */
        ctx_take_sp_events_until_closed(ctx, r->flow_id);
        c = idmap_get(&ctx->flows, r->flow_id);
    }
    if (c != NULL && c->kind != CONN_EMBRYO) {
        /* The slow path says the id is free: the old flow is over, whatever
         * we missed.  The old record keeps its rings but gets no events. */
        static bool reported;
        if (!reported)
            tas_log("flow id %u handed out again before its CLOSED arrived "
                    "(protocol: flow lifecycle)", r->flow_id);
        reported = true;
        if (c->kind == CONN_CLOSING)
            conn_free(c);
        else
            idmap_del(&ctx->flows, r->flow_id);
        c = NULL;
    }
    if (!ring_in_payload(r->rx_base, r->rx_size) ||
        !ring_in_payload(r->tx_base, r->tx_size) || r->rx_ready > r->rx_size) {
        tas_log("the slow path handed out flow %u with invalid rings",
                r->flow_id);
        return -EPROTO;
    }
    if (c == NULL) {
        c = conn_alloc(ctx, r->flow_id, CONN_LIVE);
        if (c == NULL)
            return -ENOMEM;
    } else {
        ctx->embryos--;
        c->kind = CONN_LIVE;
    }
    uint32_t early_pos = c->rx_pos, early = c->rx_ready;
    c->tag = tag;
    c->rx_buf = region + r->rx_base;
    c->rx_size = r->rx_size;
    c->rx_pos = 0;
    c->rx_ready = r->rx_ready;
    c->tx_buf = region + r->tx_base;
    c->tx_size = r->tx_size;
    c->tx_pos = 0;
    c->tx_rewound = false;
    c->tx_free = r->tx_size;
    c->local_ip = r->local_ip ? r->local_ip : tas_local_ip();
    c->local_port = r->local_port;
    c->remote_ip = r->remote_ip;
    c->remote_port = r->remote_port;
    c->mss = r->mss;
    if (c->status == 0)
        c->status = status;
    if (early != 0) {
        if (early_pos != c->rx_ready || early > c->rx_size - c->rx_ready)
            conn_fail(c, "bytes reported before accept do not fit the ring");
        else
            c->rx_ready += early;
    }
    if (c->rx_ready != 0 || c->rx_fin)
        ctx_notify(ctx, &c->ev, TAS_EV_RX);
    *out = c;
    return 0;
}

int tas_bind(struct tas_context *ctx, uint32_t ip, uint16_t *port,
             unsigned flags)
{
    struct tas_ctl_conn b = { .local_ip = ip, .local_port = *port };
    int err;

    if (flags & TAS_BIND_REUSEPORT)
        b.flags |= TAS_CTL_F_REUSEPORT;
    if (flags & TAS_BIND_REUSEADDR)
        b.flags |= TAS_CTL_F_REUSEADDR;
    err = conn_request(ctx, TAS_CTL_BIND, &b);
    if (err == 0)
        *port = b.local_port;
    return err;
}

int tas_unbind(struct tas_context *ctx, uint32_t ip, uint16_t port)
{
    struct tas_ctl_conn b = { .local_ip = ip, .local_port = port };
    return conn_request(ctx, TAS_CTL_UNBIND, &b);
}

int tas_listen(struct tas_context *ctx, uint32_t ip, uint16_t port,
               int backlog, unsigned flags, struct tas_listener **out)
{
    struct tas_ctl_conn b = { .local_ip = ip, .local_port = port };
    struct tas_listener *l = calloc(1, sizeof(*l));
    int err;

    if (l == NULL)
        return -ENOMEM;
    b.backlog = backlog > 0 ? (uint32_t)backlog : 1;
    if (flags & TAS_BIND_REUSEPORT)
        b.flags |= TAS_CTL_F_REUSEPORT;
    if (flags & TAS_BIND_REUSEADDR)
        b.flags |= TAS_CTL_F_REUSEADDR;
    err = conn_request(ctx, TAS_CTL_LISTEN, &b);
    if (err == 0 && idmap_get(&ctx->listeners, b.listener_id) != NULL)
        err = -EPROTO;
    if (err == 0)
        err = idmap_put(&ctx->listeners, b.listener_id, l);
    if (err != 0) {
        free(l);
        return err;
    }
    l->ev.is_listener = true;
    l->ctx = ctx;
    l->id = b.listener_id;
    *out = l;
    return 0;
}

int tas_listener_close(struct tas_listener *l)
{
    struct tas_ctl_conn b = { .listener_id = l->id };
    int err = conn_request(l->ctx, TAS_CTL_LISTEN_CLOSE, &b);

    idmap_del(&l->ctx->listeners, l->id);
    ctx_unnotify(&l->ev);
    free(l);
    return err;
}

bool tas_listener_ready(const struct tas_listener *l)
{
    return l->ready > 0;
}

int tas_accept(struct tas_listener *l, struct tas_conn **out)
{
    uint64_t tag = ++l->ctx->next_opaque;
    struct tas_ctl_conn b = { .listener_id = l->id, .opaque = tag };
    int err;

    if (l->ready == 0)
        return -EAGAIN;
    err = conn_request(l->ctx, TAS_CTL_ACCEPT, &b);
    if (err == -EAGAIN)
        l->ready = 0;
    if (err != 0)
        return err;
    l->ready--;
    return conn_from_reply(l->ctx, &b, tag, 0, out);
}

int tas_connect(struct tas_context *ctx, uint32_t ip, uint16_t port,
                uint16_t local_port, struct tas_conn **out)
{
    uint64_t tag = ++ctx->next_opaque;
    struct tas_ctl_conn b = {
        .remote_ip = ip, .remote_port = port, .local_port = local_port,
        .opaque = tag,
    };
    int err = conn_request(ctx, TAS_CTL_CONNECT, &b);

    if (err != 0)
        return err;
    /* The rings of a connecting flow carry nothing until CONNECTED. */
    b.rx_ready = 0;
    return conn_from_reply(ctx, &b, tag, -EINPROGRESS, out);
}

/* ---- the application's side ---------------------------------------------- */

void tas_listener_set_data(struct tas_listener *l, void *data) { l->data = data; }
void *tas_listener_data(const struct tas_listener *l) { return l->data; }
void tas_conn_set_data(struct tas_conn *c, void *data) { c->data = data; }
void *tas_conn_data(const struct tas_conn *c) { return c->data; }

void tas_conn_addrs(const struct tas_conn *c, uint32_t *local_ip,
                    uint16_t *local_port, uint32_t *remote_ip,
                    uint16_t *remote_port)
{
    *local_ip = c->local_ip;
    *local_port = c->local_port;
    *remote_ip = c->remote_ip;
    *remote_port = c->remote_port;
}

int tas_conn_status(const struct tas_conn *c)
{
    return c->status;
}

static size_t conn_spans(uint8_t *buf, uint32_t pos, uint32_t len,
                         uint32_t size, struct iovec iov[2])
{
    struct ringpos_span sp[2];

    ringpos_spans(pos, len, size, sp);
    for (int i = 0; i < 2; i++) {
        iov[i].iov_base = buf + sp[i].off;
        iov[i].iov_len = sp[i].len;
    }
    return len;
}

size_t tas_conn_rx_peek(const struct tas_conn *c, struct iovec iov[2])
{
    uint32_t n = c->status == -EPROTO ? 0 : c->rx_ready;
    return conn_spans(c->rx_buf, c->rx_pos, n, c->rx_size, iov);
}

void tas_conn_rx_consume(struct tas_conn *c, size_t n)
{
    if (n == 0 || n > c->rx_ready)
        return;
    c->rx_pos = ringpos_advance(c->rx_pos, (uint32_t)n, c->rx_size);
    c->rx_ready -= (uint32_t)n;
    if (!c->ended && c->status != -EPROTO)
        conn_queue_counts(c, 0, (uint32_t)n);
}

bool tas_conn_rx_fin(const struct tas_conn *c)
{
    return c->rx_fin;
}

/* A ring with every byte acknowledged starts again at 0, so that small
 * writes keep to the same cache lines (TAS_APP_TX_F_REWIND); the next
 * entry for the flow tells the fast path. */
size_t tas_conn_tx_space(struct tas_conn *c, struct iovec iov[2])
{
    uint32_t n = c->status == 0 ? c->tx_free : 0;
    if (n == c->tx_size && c->tx_pos != 0) {
        c->tx_pos = 0;
        c->tx_rewound = true;
    }
    return conn_spans(c->tx_buf, c->tx_pos, n, c->tx_size, iov);
}

void tas_conn_tx_commit(struct tas_conn *c, size_t n)
{
    if (n == 0 || n > c->tx_free || c->status != 0)
        return;
    c->tx_pos = ringpos_advance(c->tx_pos, (uint32_t)n, c->tx_size);
    c->tx_free -= (uint32_t)n;
    conn_queue_counts(c, (uint32_t)n, 0);
}

size_t tas_conn_tx_unacked(const struct tas_conn *c)
{
    return c->tx_size - c->tx_free;
}

size_t tas_conn_rx_capacity(const struct tas_conn *c)
{
    return c->rx_size;
}

unsigned tas_conn_mss(const struct tas_conn *c)
{
    return c->mss;
}

size_t tas_conn_tx_capacity(const struct tas_conn *c)
{
    return c->tx_size;
}

int tas_conn_shutdown(struct tas_conn *c)
{
    struct tas_ctl_conn b = { .flow_id = c->flow_id };

    if (c->ended)
        return 0;
    ctx_sync_tx(c->ctx);
    return conn_request(c->ctx, TAS_CTL_SHUTDOWN_WR, &b);
}

static int conn_release(struct tas_conn *c, uint16_t type)
{
    struct tas_ctl_conn b = { .flow_id = c->flow_id };
    int err;

    if (!c->ended)
        ctx_sync_tx(c->ctx);
    err = conn_request(c->ctx, type, &b);
    if (c->ended || c->ctx->dead || err != 0) {
        /* CLOSED came already (or never will): nothing more to wait for. */
        conn_free(c);
    } else {
        c->kind = CONN_CLOSING;
        c->ctx->closing++;
        c->data = NULL;
        ctx_unnotify(&c->ev);
        if (c->on_unposted)
            conn_unlink_unposted(c);
    }
    return err;
}

int tas_conn_close(struct tas_conn *c)
{
    return conn_release(c, TAS_CTL_CLOSE);
}

int tas_conn_abort(struct tas_conn *c)
{
    return conn_release(c, TAS_CTL_ABORT);
}
