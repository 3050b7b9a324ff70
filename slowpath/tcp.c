/* tcp.c - connection control: everything about a TCP connection that is not
 * per-packet work.  Ports and listeners, the three-way handshake in both
 * directions with option negotiation, installation of flows in the fast
 * path, orderly and abortive close, TIME_WAIT, and RSTs for segments that
 * belong to no connection.
 *
 * A connection (struct sp_conn) lives from the first SYN until both the
 * network and the application are done with it.  Its flow id and rings are
 * released only when (1) the application no longer holds the id (it sent
 * CLOSE/ABORT, or it is gone) and (2) the fast path confirmed it stopped
 * serving the flow (CMD_DONE); the connection itself may outlive its flow as
 * a TIME_WAIT record.  docs/tas-protocol.md describes the exchanges.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "packet.h"
#include "sp.h"
#include "mix.h"

#define TCP_DEFAULT_MSS    536u      /* RFC 9293 when the peer sends none */
#define TCP_TS_OPT_BYTES   12u
#define TCP_HANDSHAKE_RTO_US 1000000u
#define TCP_INSTALL_DELAY_US 200u
#define TCP_CHALLENGE_GAP_US 500000u  /* as the fast path's challenge_ack */

static uint32_t ts_now(const struct sp *sp)
{
    return (uint32_t)sp->now_us;     /* docs/tas-protocol.md: microseconds */
}

/* RFC 6528: a clock ticking every 4 us plus a keyed function of the
 * 4-tuple, so sequence numbers of one tuple advance over time and those of
 * different tuples are unrelated. */
static uint32_t tcp_isn(const struct sp *sp, const struct conn_key *k)
{
    uint64_t a = (uint64_t)k->local_ip << 32 | k->remote_ip;
    uint64_t b = (uint64_t)k->local_port << 16 | k->remote_port;
    uint64_t f = sp_mix64(a ^ sp->secret[0]) ^ sp_mix64(b ^ sp->secret[1]);
    return (uint32_t)(f + sp->now_us / 4);
}

static uint8_t tcp_rcv_wscale(uint32_t rx_size)
{
    uint8_t s = 0;
    while (s < TAS_TCP_WSCALE_MAX && (rx_size >> s) > 0xffff)
        s++;
    return s;
}

static uint16_t tcp_our_mss(const struct sp *sp)
{
    return (uint16_t)(sp->svc.mtu - sizeof(struct tas_ip_hdr) - TAS_TCP_HDR_MIN);
}

/* ------------------------------------------------------------------------ */
/* Connection objects                                                        */
/* ------------------------------------------------------------------------ */

static struct sp_conn *conn_new(struct sp *sp, const struct conn_key *key)
{
    struct sp_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->hnode.key = *key;
    c->flow_id = TAS_INVALID_FLOW;
    list_init(&c->queue_node);
    list_init(&c->app_node);
    timer_init(&c->timer);
    rto_init(&c->rto);
    list_insert_tail(&sp->all_conns, &c->all_node);
    return c;
}

static void conn_unhash(struct sp *sp, struct sp_conn *c)
{
    if (c->in_table) {
        conntab_remove(&sp->conns, &c->hnode);
        c->in_table = false;
    }
}

/* A connection refused by a limit: logged with the setting's name, and
 * the errno says which limit it was (docs/slowpath.md), so that libtas can
 * tell the application: ENFILE the service's table (max-flows), EMFILE
 * this application's share (max-app-flows), ENOBUFS its payload area
 * (app-mem). */
static int refuse_flow(const struct sp_app *app, int err, const char *key, uint64_t value)
{
    sp_warn("app %u (pid %d): connection refused by %s (%llu)", app->id, (int)app->pid,
            key, (unsigned long long)value);
    return err;
}

static int conn_alloc_flow(struct sp *sp, struct sp_conn *c, struct sp_app *app)
{
    if (sp->n_free_flow_ids == 0)
        return refuse_flow(app, -ENFILE, "max-flows", sp->cfg.max_flows);
    if (app->n_flows >= sp->cfg.max_app_flows)
        return refuse_flow(app, -EMFILE, "max-app-flows", sp->cfg.max_app_flows);
    int64_t rx = payload_alloc(&app->payload, sp->cfg.rx_buf);
    if (rx < 0)
        return refuse_flow(app, -ENOBUFS, "app-mem", sp->cfg.app_mem);
    int64_t tx = payload_alloc(&app->payload, sp->cfg.tx_buf);
    if (tx < 0) {
        payload_free(&app->payload, (uint64_t)rx, sp->cfg.rx_buf);
        return refuse_flow(app, -ENOBUFS, "app-mem", sp->cfg.app_mem);
    }
    c->flow_id = sp->free_flow_ids[--sp->n_free_flow_ids];
    sp->flows[c->flow_id] = c;
    app->n_flows++;
    c->app = app;
    c->rx_base = (uint32_t)(app->geo.payload_off + (uint64_t)rx);
    c->rx_size = sp->cfg.rx_buf;
    c->tx_base = (uint32_t)(app->geo.payload_off + (uint64_t)tx);
    c->tx_size = sp->cfg.tx_buf;
    c->cookie = ++sp->next_cookie;
    c->flags |= CONN_F_HAS_FLOW;
    list_insert_tail(&app->conns, &c->app_node);
    return 0;
}

/* Gives a ring back to the allocator and its pages back to the kernel. */
static void conn_free_ring(struct sp_app *app, uint32_t base, uint32_t size)
{
    uint64_t off = base - app->geo.payload_off;
    if (fallocate(app->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)base, size) != 0)
        sp_debug("cannot release ring pages of app %u: %s", app->id, strerror(errno));
    payload_free(&app->payload, off, size);
}

static void conn_release_flow(struct sp *sp, struct sp_conn *c)
{
    struct sp_app *app = c->app;
    conn_free_ring(app, c->rx_base, c->rx_size);
    conn_free_ring(app, c->tx_base, c->tx_size);
    sp->flows[c->flow_id] = NULL;
    sp->free_flow_ids[sp->n_free_flow_ids++] = c->flow_id;
    app->n_flows--;
    c->flow_id = TAS_INVALID_FLOW;
    list_remove(&c->app_node);
    c->app = NULL;
    c->flags &= ~CONN_F_HAS_FLOW;
}

static void conn_destroy(struct sp *sp, struct sp_conn *c)
{
    conn_unhash(sp, c);
    timer_cancel(&sp->timers, &c->timer);
    if (c->flags & CONN_F_HALF_OPEN_Q)
        listener_drop(c->listener, &c->queue_node, true);
    if (c->flags & CONN_F_READY_Q)
        listener_drop(c->listener, &c->queue_node, false);
    if (c->flags & CONN_F_PORT_OWNED)
        ports_release(sp->ports, ntohs(c->hnode.key.local_port));
    if (c->flags & CONN_F_TIME_WAIT_PORT)
        ports_release_time_wait(sp->ports, ntohs(c->hnode.key.local_port));
    list_remove(&c->all_node);
    free(c);
}

/* Releases whatever nobody needs any more; see the comment at the top. */
static void conn_settle(struct sp *sp, struct sp_conn *c)
{
    const uint32_t busy = CONN_F_APP_HOLDS | CONN_F_INSTALLED | CONN_F_REMOVING |
                          CONN_F_READY_Q;
    if ((c->flags & CONN_F_HAS_FLOW) && !(c->flags & busy))
        conn_release_flow(sp, c);
    if (!(c->flags & CONN_F_HAS_FLOW) && c->state == TCP_CLOSED)
        conn_destroy(sp, c);
}

static void conn_post(struct sp *sp, struct sp_conn *c, uint32_t kind, int status)
{
    app_post_event(sp, c->app, c->ctx_id, kind, (uint32_t)status, c->flow_id,
                   c->listener ? c->listener->id : 0, c->opaque);
}

static void conn_post_closed(struct sp *sp, struct sp_conn *c)
{
    if ((c->flags & CONN_F_HANDED) && !(c->flags & CONN_F_CLOSED_SENT)) {
        c->flags |= CONN_F_CLOSED_SENT;
        conn_post(sp, c, TAS_SPEV_CLOSED, c->close_status);
    }
}

/* Asks the fast path to stop serving c (with a RST to the peer if abort);
 * TAS_SPEV_CLOSED and the release follow its CMD_DONE. */
static void conn_stop_flow(struct sp *sp, struct sp_conn *c, bool abort)
{
    if (!(c->flags & CONN_F_INSTALLED))
        return;
    c->flags &= ~CONN_F_INSTALLED;
    c->flags |= CONN_F_REMOVING;
    c->app->fp_pending++;
    svc_post(sp, abort ? TAS_CMD_FLOW_ABORT : TAS_CMD_FLOW_REMOVE, c->flow_id,
             c->app->id, 0, c->cookie, NULL, 0);
}

static void send_rst(struct sp *sp, const struct sp_conn *c);

/* The connection is over for the network: no more segments are expected,
 * only the bookkeeping of flow, application and listener remains. */
static void conn_close(struct sp *sp, struct sp_conn *c, int status, bool abort)
{
    /* Established but not yet handed to the fast path: the RST is ours. */
    if (abort && (c->flags & CONN_F_INSTALL_PENDING))
        send_rst(sp, c);
    c->flags &= ~CONN_F_INSTALL_PENDING;
    c->state = TCP_CLOSED;
    c->close_status = status;
    conn_unhash(sp, c);
    timer_cancel(&sp->timers, &c->timer);
    if (c->flags & CONN_F_READY_Q) {
        listener_drop(c->listener, &c->queue_node, false);
        c->flags &= ~CONN_F_READY_Q;
    }
    if (c->flags & CONN_F_INSTALLED)
        conn_stop_flow(sp, c, abort);
    else if (!(c->flags & CONN_F_REMOVING))
        conn_post_closed(sp, c);
    conn_settle(sp, c);
}

/* ------------------------------------------------------------------------ */
/* Segments we send                                                          */
/* ------------------------------------------------------------------------ */

/* Which options a segment we build carries. */
enum seg_opts {
    SEG_OPTS_FLOW,            /* timestamps if negotiated */
    SEG_OPTS_SYNACK,          /* MSS, plus what the peer's SYN offered */
    SEG_OPTS_SYN,             /* MSS, window scale and timestamps offered */
};

static void tcp_send(struct sp *sp, const struct sp_conn *c, uint32_t seq, uint32_t ack,
                     uint8_t flags, uint16_t win, enum seg_opts opts)
{
    uint8_t buf[PKT_MAX_FRAME];
    uint8_t no_mac[6] = { 0 };
    const struct conn_key *k = &c->hnode.key;
    struct pkt_tcp s = {
        .src_mac = sp->svc.mac, .dst_mac = no_mac,
        .src_ip = k->local_ip, .dst_ip = k->remote_ip,
        .sport = k->local_port, .dport = k->remote_port,
        .seq = seq, .ack = ack, .flags = flags, .win = win,
        .has_ts = c->ts_ok || opts == SEG_OPTS_SYN,
        .ts_val = ts_now(sp),
        .ts_ecr = opts == SEG_OPTS_SYN ? 0 : c->ts_recent,
    };
    if (opts != SEG_OPTS_FLOW) {
        s.has_mss = true;
        s.mss = tcp_our_mss(sp);
        s.has_wscale = c->wscale_ok || opts == SEG_OPTS_SYN;
        s.wscale = c->rcv_wscale;
    }
    size_t len = pkt_build_tcp(buf, &s);
    if (len)
        net_send_ip(sp, k->remote_ip, buf, (uint16_t)len);
}

static uint16_t syn_window(const struct sp *sp)
{
    return sp->cfg.rx_buf > 0xffff ? 0xffff : (uint16_t)sp->cfg.rx_buf;
}

/* Offers everything; what the SYN-ACK echoes is what the flow uses. */
static void send_syn(struct sp *sp, struct sp_conn *c)
{
    tcp_send(sp, c, c->iss, 0, TAS_TCP_SYN | TAS_TCP_ECE | TAS_TCP_CWR,
             syn_window(sp), SEG_OPTS_SYN);
    c->handshake_sent_us = sp->now_us;
}

static void send_synack(struct sp *sp, struct sp_conn *c)
{
    uint8_t flags = TAS_TCP_SYN | TAS_TCP_ACK | (c->ecn_ok ? TAS_TCP_ECE : 0);
    tcp_send(sp, c, c->iss, c->irs + 1, flags, syn_window(sp), SEG_OPTS_SYNACK);
    c->handshake_sent_us = sp->now_us;
}

static void send_ack(struct sp *sp, struct sp_conn *c, uint32_t seq, uint32_t ack,
                     uint32_t window)
{
    uint32_t w = window >> c->rcv_wscale;
    tcp_send(sp, c, seq, ack, TAS_TCP_ACK, w > 0xffff ? 0xffff : (uint16_t)w, SEG_OPTS_FLOW);
}

static void send_rst(struct sp *sp, const struct sp_conn *c)
{
    tcp_send(sp, c, c->iss + 1, 0, TAS_TCP_RST, 0, SEG_OPTS_FLOW);
}

static void send_reset_reply(struct sp *sp, const struct pkt_info *pi)
{
    uint8_t buf[PKT_MAX_FRAME];
    size_t len = pkt_build_reset_reply(buf, pi, sp->svc.mac, pi->eth->src);
    if (len)
        net_send_ip(sp, pi->ip->src, buf, (uint16_t)len);
}

/* ------------------------------------------------------------------------ */
/* Handshakes                                                                */
/* ------------------------------------------------------------------------ */

/* Takes the options of the peer's SYN (passive) or SYN-ACK (active, where we
 * offered everything and the SYN-ACK's choice stands). */
static void negotiate_from_syn(struct sp *sp, struct sp_conn *c, const struct pkt_info *pi,
                               bool active)
{
    const struct tas_tcp_opts *o = &pi->opts;
    uint16_t peer_mss = o->has_mss && o->mss >= 64 ? o->mss : TCP_DEFAULT_MSS;
    uint16_t mss = peer_mss < tcp_our_mss(sp) ? peer_mss : tcp_our_mss(sp);

    c->ts_ok = o->has_ts;
    c->ts_recent = o->has_ts ? o->ts_val : 0;
    c->wscale_ok = o->has_wscale;
    c->snd_wscale = o->has_wscale ? o->wscale : 0;
    c->rcv_wscale = o->has_wscale ? tcp_rcv_wscale(sp->cfg.rx_buf) : 0;
    c->mss = (uint16_t)(mss - (c->ts_ok ? TCP_TS_OPT_BYTES : 0));
    /* RFC 3168: ECE|CWR on the SYN asks, ECE alone on the SYN-ACK agrees. */
    if (active)
        c->ecn_ok = (pi->flags & (TAS_TCP_ECE | TAS_TCP_CWR)) == TAS_TCP_ECE;
    else
        c->ecn_ok = (pi->flags & (TAS_TCP_ECE | TAS_TCP_CWR)) == (TAS_TCP_ECE | TAS_TCP_CWR);
}

/* RTT of the handshake: from the echoed timestamp, or by the clock when the
 * SYN (SYN-ACK) went out once. */
static uint32_t handshake_rtt(const struct sp *sp, const struct sp_conn *c,
                              const struct pkt_info *pi)
{
    if (pi->opts.has_ts && pi->opts.ts_ecr != 0) {
        uint32_t rtt = ts_now(sp) - pi->opts.ts_ecr;
        if (rtt < RTO_MAX_US)
            return rtt ? rtt : 1;
    }
    if (c->retries == 0 && sp->now_us > c->handshake_sent_us)
        return (uint32_t)(sp->now_us - c->handshake_sent_us);
    return 0;
}

static void fill_flow(struct sp *sp, struct sp_conn *c)
{
    struct tas_flow *f = svc_flow(sp, c->flow_id);
    const struct conn_key *k = &c->hnode.key;

    memset(f, 0, sizeof(*f));
    f->local_ip = k->local_ip;
    f->remote_ip = k->remote_ip;
    f->local_port = k->local_port;
    f->remote_port = k->remote_port;
    memcpy(f->remote_mac, c->remote_mac, 6);
    f->flags = TAS_FLOW_F_ACTIVE | (c->ts_ok ? TAS_FLOW_F_TIMESTAMPS : 0) |
               (c->ecn_ok ? TAS_FLOW_F_ECN : 0);
    f->app_id = c->app->id;
    f->ctx_id = c->ctx_id;
    f->rx_base = c->rx_base;
    f->rx_size = c->rx_size;
    f->rx_head = c->rx_ready % c->rx_size;
    f->rx_avail = c->rx_size - c->rx_ready;
    f->rcv_nxt = c->irs + 1 + c->rx_ready;
    f->ts_recent = c->ts_recent;
    f->rcv_wscale = c->rcv_wscale;
    f->snd_wscale = c->snd_wscale;
    f->opaque = c->opaque;
    f->tx_base = c->tx_base;
    f->tx_size = c->tx_size;
    f->snd_una = c->iss + 1;
    f->snd_wnd = c->snd_wnd;
    f->cwnd = c->cc.cwnd;
    f->rtt_us = c->rto.srtt_us;
    f->mss = c->mss;
}

/* What the handshake's last segment tells us: the next hop's MAC (from the
 * cache, else the frame's source) and the first RTT sample. */
static void learn_from_handshake(struct sp *sp, struct sp_conn *c, const struct pkt_info *pi)
{
    if (!net_lookup_mac(sp, c->hnode.key.remote_ip, c->remote_mac))
        memcpy(c->remote_mac, pi->eth->src, 6);
    rto_sample(&c->rto, handshake_rtt(sp, c, pi), sp->cfg.rto_min_ms * 1000u);
}

/* Both handshakes end here: the flow goes to the fast path. */
static void install_flow(struct sp *sp, struct sp_conn *c)
{
    timer_cancel(&sp->timers, &c->timer);
    control_start(sp, c);
    fill_flow(sp, c);
    c->state = TCP_ESTABLISHED;
    c->flags = (c->flags & ~CONN_F_INSTALL_PENDING) | CONN_F_INSTALLED;
    svc_post(sp, TAS_CMD_FLOW_INSTALL, c->flow_id, c->app->id, 0, 0, NULL, 0);
}

static struct syncookie_keys *cookie_keys(struct sp *sp)
{
    struct syncookie_keys *k = &sp->syncookies;
    if (syncookie_due(k, sp->now_us)) {
        uint64_t fresh;
        if (getrandom(&fresh, sizeof(fresh), GRND_NONBLOCK) != sizeof(fresh))
            fresh = sp_mix64(k->key[k->generation & 1] ^ sp->now_us);
        syncookie_rotate(k, fresh, sp->now_us);
    }
    return k;
}

/* The SYN-ACK of a connection that does not exist yet: a connection object
 * on the stack carries what tcp_send needs and is gone on return. */
static void send_cookie_synack(struct sp *sp, const struct pkt_info *pi,
                               const struct conn_key *key)
{
    struct sp_conn c = { .hnode.key = *key, .irs = pi->seq };
    negotiate_from_syn(sp, &c, pi, false);
    c.ecn_ok = false;          /* the cookie has no room to remember it */
    struct syncookie_syn syn = {
        .mss = pi->opts.has_mss && pi->opts.mss >= 64 ? pi->opts.mss : TCP_DEFAULT_MSS,
        .wscale = c.wscale_ok ? c.snd_wscale : SYNCOOKIE_NO_WSCALE,
    };
    c.iss = syncookie_make(cookie_keys(sp), key, pi->seq, &syn);
    send_synack(sp, &c);
    sp->syncookies_sent++;
}

static struct sp_conn *half_open_conn(struct sp *sp, struct listener *l,
                                      const struct conn_key *key)
{
    struct sp_conn *c = conn_new(sp, key);
    if (!c)
        return NULL;
    c->state = TCP_SYN_RCVD;
    c->listener = l;
    c->ctx_id = l->ctx_id;
    conntab_insert(&sp->conns, &c->hnode);
    c->in_table = true;
    listener_add_half_open(l, &c->queue_node);
    c->flags |= CONN_F_HALF_OPEN_Q;
    return c;
}

static void handle_syn_rcvd(struct sp *sp, struct sp_conn *c, const struct pkt_info *pi);

/* A bare ACK for no connection may complete a cookie handshake: rebuild the
 * half-open connection from the cookie and the ACK, then take the ACK as if
 * the connection had been there all along.  False when it is no cookie. */
static bool cookie_open(struct sp *sp, const struct pkt_info *pi, const struct conn_key *key)
{
    struct syncookie_syn syn;
    struct listener *l = sp->listeners->by_port[ntohs(key->local_port)];
    if (!l || l->n_ready >= l->backlog ||
        !syncookie_check(cookie_keys(sp), key, pi->seq - 1, pi->ack - 1, &syn))
        return false;
    l = listener_pick(sp->listeners, ntohs(key->local_port));
    struct sp_conn *c = half_open_conn(sp, l, key);
    if (!c)
        return false;
    uint16_t mss = syn.mss < tcp_our_mss(sp) ? syn.mss : tcp_our_mss(sp);
    c->irs = pi->seq - 1;
    c->iss = pi->ack - 1;
    c->ts_ok = pi->opts.has_ts;
    c->ts_recent = pi->opts.has_ts ? pi->opts.ts_val : 0;
    c->wscale_ok = syn.wscale != SYNCOOKIE_NO_WSCALE;
    c->snd_wscale = c->wscale_ok ? syn.wscale : 0;
    c->rcv_wscale = c->wscale_ok ? tcp_rcv_wscale(sp->cfg.rx_buf) : 0;
    c->mss = (uint16_t)(mss - (c->ts_ok ? TCP_TS_OPT_BYTES : 0));
    c->handshake_sent_us = sp->now_us;   /* no clock-based RTT sample */
    /* Cleans up should the ACK not complete it after all. */
    timer_arm(&sp->timers, &c->timer, sp->now_us + TCP_HANDSHAKE_RTO_US);
    sp->syncookies_accepted++;
    handle_syn_rcvd(sp, c, pi);
    return true;
}

static void passive_open(struct sp *sp, const struct pkt_info *pi, const struct conn_key *key)
{
    struct listener *l = listener_pick(sp->listeners, ntohs(key->local_port));
    if (!l) {
        sp_debug("SYN to port %u: nobody listens, reset", ntohs(key->local_port));
        send_reset_reply(sp, pi);
        return;
    }
    if (!listener_has_room(l)) {
        /* Like Linux: a full half-open queue is answered with a SYN cookie,
         * so a SYN flood cannot lock out real clients; a full accept queue
         * drops the SYN, the peer retries, and no RST means a burst of
         * connects waits instead of failing. */
        if (l->n_ready < l->backlog)
            send_cookie_synack(sp, pi, key);
        else
            sp_debug("listener %u on port %u full: SYN dropped", l->id, l->port);
        return;
    }
    struct sp_conn *c = half_open_conn(sp, l, key);
    if (!c)
        return;
    c->irs = pi->seq;
    c->iss = tcp_isn(sp, key);
    negotiate_from_syn(sp, c, pi, false);
    send_synack(sp, c);
    timer_arm(&sp->timers, &c->timer, sp->now_us + TCP_HANDSHAKE_RTO_US);
}

/* In-order data that reaches us before the fast path serves the flow (on
 * the final ACK, or right behind it): copy it into the RX ring, which is
 * still ours, and acknowledge it.  Clients that send a request as soon as
 * connect returns would otherwise see it dropped and wait for their
 * retransmission timer. */
static void deliver_early_data(struct sp *sp, struct sp_conn *c, const struct pkt_info *pi)
{
    if (pi->payload_len == 0 || pi->seq != c->irs + 1 + c->rx_ready)
        return;
    uint32_t room = c->rx_size - c->rx_ready;
    uint32_t n = pi->payload_len < room ? pi->payload_len : room;
    memcpy((uint8_t *)c->app->base + c->rx_base + c->rx_ready, pi->payload, n);
    c->rx_ready += n;
    if (pi->opts.has_ts)
        c->ts_recent = pi->opts.ts_val;
    send_ack(sp, c, c->iss + 1, c->irs + 1 + c->rx_ready, c->rx_size - c->rx_ready);
}

/* A passive open is installed shortly after its final ACK (or at ACCEPT,
 * whichever is first), so data right behind the ACK still comes to us. */
static void finish_passive_install(struct sp *sp, struct sp_conn *c)
{
    install_flow(sp, c);
    if (c->listener)
        app_post_event(sp, c->app, c->listener->ctx_id, TAS_SPEV_ACCEPT_READY, 0,
                       c->flow_id, c->listener->id, 0);
}

static void handle_syn_rcvd(struct sp *sp, struct sp_conn *c, const struct pkt_info *pi)
{
    struct listener *l = c->listener;

    if (pi->flags & TAS_TCP_RST) {
        if (tas_seq_in(pi->seq, c->irs + 1, sp->cfg.rx_buf))
            conn_close(sp, c, ECONNRESET, false);
        return;
    }
    if (pi->flags & TAS_TCP_SYN) {
        if (pi->seq == c->irs)
            send_synack(sp, c);
        return;
    }
    if (!(pi->flags & TAS_TCP_ACK))
        return;
    if (pi->ack != c->iss + 1) {
        send_reset_reply(sp, pi);
        return;
    }
    if (!tas_seq_in(pi->seq, c->irs + 1, sp->cfg.rx_buf))
        return;
    if (l->n_ready >= l->backlog) {
        /* Accept queue full: ignore the ACK; our SYN-ACK retransmission
         * lets the peer complete later (Linux does the same). */
        return;
    }
    if (conn_alloc_flow(sp, c, l->app) != 0) {
        send_reset_reply(sp, pi);
        conn_close(sp, c, ECONNRESET, false);
        return;
    }
    learn_from_handshake(sp, c, pi);
    c->snd_wnd = (uint32_t)pi->win << c->snd_wscale;
    if (pi->opts.has_ts)
        c->ts_recent = pi->opts.ts_val;
    deliver_early_data(sp, c, pi);
    c->state = TCP_ESTABLISHED;
    c->flags |= CONN_F_INSTALL_PENDING;
    listener_promote(l, &c->queue_node);
    c->flags = (c->flags & ~CONN_F_HALF_OPEN_Q) | CONN_F_READY_Q;
    timer_arm(&sp->timers, &c->timer, sp->now_us + TCP_INSTALL_DELAY_US);
}

static void connect_failed(struct sp *sp, struct sp_conn *c, int err)
{
    conn_post(sp, c, TAS_SPEV_CONNECTED, err);
    conn_close(sp, c, err, false);
}

static void handle_syn_sent(struct sp *sp, struct sp_conn *c, const struct pkt_info *pi)
{
    bool ack_ok = (pi->flags & TAS_TCP_ACK) && pi->ack == c->iss + 1;

    if ((pi->flags & TAS_TCP_ACK) && !ack_ok) {
        send_reset_reply(sp, pi);
        return;
    }
    if (pi->flags & TAS_TCP_RST) {
        if (ack_ok)
            connect_failed(sp, c, ECONNREFUSED);
        return;
    }
    if (!(pi->flags & TAS_TCP_SYN) || !ack_ok)
        return;           /* simultaneous open is not supported */

    c->irs = pi->seq;
    negotiate_from_syn(sp, c, pi, true);
    learn_from_handshake(sp, c, pi);
    c->snd_wnd = pi->win;     /* never scaled in a SYN */
    /* The ACK leaves before the install, so the peer's first data finds
     * the flow installed. */
    send_ack(sp, c, c->iss + 1, c->irs + 1, c->rx_size);
    install_flow(sp, c);
    conn_post(sp, c, TAS_SPEV_CONNECTED, 0);
}

/* ------------------------------------------------------------------------ */
/* Closing                                                                   */
/* ------------------------------------------------------------------------ */

static void enter_time_wait(struct sp *sp, struct sp_conn *c)
{
    struct tas_flow *f = svc_flow(sp, c->flow_id);
    c->snd_nxt = __atomic_load_n(&f->snd_una, __ATOMIC_RELAXED);
    c->rcv_nxt = __atomic_load_n(&f->rcv_nxt, __ATOMIC_RELAXED);
    c->close_status = 0;
    conn_stop_flow(sp, c, false);
    if (sp->cfg.time_wait_ms == 0) {
        conn_close(sp, c, 0, false);
        return;
    }
    c->state = TCP_TIME_WAIT;
    ports_hold_time_wait(sp->ports, ntohs(c->hnode.key.local_port));
    c->flags |= CONN_F_TIME_WAIT_PORT;
    timer_arm(&sp->timers, &c->timer, sp->now_us + sp->cfg.time_wait_ms * 1000ull);
}

static void apply_event(struct sp *sp, struct sp_conn *c, enum tcp_event ev)
{
    int next = tcp_fsm_next(c->state, ev);
    if (next < 0) {
        sp_debug("flow %u: event %d ignored in %s", c->flow_id, ev, tcp_state_name(c->state));
        return;
    }
    enum tcp_state from = c->state;
    c->state = (enum tcp_state)next;
    sp_debug("flow %u: %s -> %s", c->flow_id, tcp_state_name(from), tcp_state_name(c->state));
    if (tcp_fsm_sends_fin(from, c->state))
        svc_post(sp, TAS_CMD_FLOW_FIN, c->flow_id, c->app->id, 0, 0, NULL, 0);
    if (c->state == TCP_FIN_WAIT_2 && (c->flags & CONN_F_APP_CLOSED))
        c->fin_wait2_deadline_us = sp->now_us + sp->cfg.fin_wait2_ms * 1000ull;
    if (c->state == TCP_TIME_WAIT)
        enter_time_wait(sp, c);
    else if (c->state == TCP_CLOSED)
        conn_close(sp, c, 0, false);
}

void tcp_flow_event(struct sp *sp, uint32_t flow_id, uint32_t event)
{
    struct sp_conn *c = flow_id < sp->cfg.max_flows ? sp->flows[flow_id] : NULL;
    if (!c || !(c->flags & CONN_F_INSTALLED)) {
        sp_debug("event %u for flow %u that is not installed", event, flow_id);
        return;
    }
    switch (event) {
    case TAS_FLOW_EV_FIN_RCVD:
        apply_event(sp, c, TCP_EV_FIN_RCVD);
        break;
    case TAS_FLOW_EV_FIN_ACKED:
        apply_event(sp, c, TCP_EV_FIN_ACKED);
        break;
    case TAS_FLOW_EV_RST_RCVD:
        conn_close(sp, c, ECONNRESET, false);
        break;
    default:
        sp_warn("unknown flow event %u for flow %u", event, flow_id);
        break;
    }
}

void tcp_cmd_done(struct sp *sp, uint32_t flow_id, uint64_t cookie)
{
    struct sp_conn *c = flow_id < sp->cfg.max_flows ? sp->flows[flow_id] : NULL;
    if (!c || !(c->flags & CONN_F_REMOVING) || c->cookie != cookie) {
        sp_warn("unexpected completion for flow %u", flow_id);
        return;
    }
    struct sp_app *app = c->app;
    c->flags &= ~CONN_F_REMOVING;
    conn_post_closed(sp, c);
    conn_settle(sp, c);
    app_fp_done(sp, app);
}

static void handle_time_wait(struct sp *sp, struct sp_conn *c, const struct pkt_info *pi,
                             const struct conn_key *key)
{
    if (pi->flags & TAS_TCP_RST)
        return;                   /* RFC 1337: keep the TIME_WAIT */
    if ((pi->flags & TAS_TCP_SYN) && !(pi->flags & TAS_TCP_ACK) &&
        tas_seq_gt(pi->seq, c->rcv_nxt) &&
        sp->listeners->by_port[ntohs(key->local_port)]) {
        /* RFC 9293 allows a new incarnation from a higher sequence number. */
        conn_close(sp, c, 0, false);
        passive_open(sp, pi, key);
        return;
    }
    if (pi->flags & TAS_TCP_FIN)
        timer_arm(&sp->timers, &c->timer, sp->now_us + sp->cfg.time_wait_ms * 1000ull);
    if (pi->opts.has_ts)
        c->ts_recent = pi->opts.ts_val;
    if (pkt_seg_len(pi) > 0)
        send_ack(sp, c, c->snd_nxt, c->rcv_nxt, 0);
}

/* RFC 5961 challenge ACK: it tells the true peer where we are, so a peer
 * that really lost the connection answers it with an RST at exactly
 * rcv_nxt, which a blind attacker cannot guess.  At most one per interval
 * and flow, so a flood of forged segments does not become a flood of ACKs. */
static void send_challenge_ack(struct sp *sp, struct sp_conn *c, uint32_t seq, uint32_t ack,
                               uint32_t window)
{
    if (sp->now_us - c->challenge_us < TCP_CHALLENGE_GAP_US)
        return;
    c->challenge_us = sp->now_us;
    sp->challenge_acks++;
    send_ack(sp, c, seq, ack, window);
}

/* Established, but the slow path still owns the flow's receive side: an
 * RST resets only at exactly rcv_nxt, one elsewhere in the window and any
 * SYN get a challenge ACK (RFC 5961 sections 3 and 4), data is kept. */
static void handle_install_pending(struct sp *sp, struct sp_conn *c, const struct pkt_info *pi)
{
    uint32_t rcv_nxt = c->irs + 1 + c->rx_ready, window = c->rx_size - c->rx_ready;

    if (pi->flags & TAS_TCP_RST) {
        if (pi->seq == rcv_nxt) {
            conn_close(sp, c, ECONNRESET, false);
        } else if (tas_seq_in(pi->seq, rcv_nxt, window)) {
            sp->blind_rsts++;
            send_challenge_ack(sp, c, c->iss + 1, rcv_nxt, window);
        }
        return;
    }
    if (pi->flags & TAS_TCP_SYN) {
        sp->blind_syns++;
        send_challenge_ack(sp, c, c->iss + 1, rcv_nxt, window);
        return;
    }
    deliver_early_data(sp, c, pi);
}

/* A segment the fast path passed up for a flow past its handshake.  A SYN
 * gets a challenge ACK from the fast path's state of the flow, never a
 * reset or a new connection (RFC 5961 section 4).  Anything else for a
 * flow we installed most likely overtook the install (a request sent right
 * behind the handshake's last ACK): it goes back behind the install, where
 * the fast path handles it as received or, serving no such flow any more
 * (one an RST stopped), drops it. */
static void handle_synchronized(struct sp *sp, struct sp_conn *c, const struct pkt_info *pi)
{
    if (!(pi->flags & TAS_TCP_SYN)) {
        if (!(c->flags & CONN_F_INSTALLED) || !svc_attached(sp)) {
            sp_debug("flow %u in %s: exception segment flags %#x ignored", c->flow_id,
                     tcp_state_name(c->state), pi->flags);
            return;
        }
        const uint8_t *frame = (const uint8_t *)pi->eth;
        svc_post(sp, TAS_CMD_RX_FRAME, c->flow_id, c->app->id, 0, 0, frame,
                 (uint16_t)(pi->l4 + pi->l4_len - frame));
        sp->returned_segments++;
        return;
    }
    sp->blind_syns++;
    if (!(c->flags & CONN_F_INSTALLED) || !svc_attached(sp))
        return;
    const struct tas_flow *f = svc_flow(sp, c->flow_id);
    uint32_t snd_nxt = __atomic_load_n(&f->snd_una, __ATOMIC_RELAXED) +
                       __atomic_load_n(&f->tx_sent, __ATOMIC_RELAXED);
    send_challenge_ack(sp, c, snd_nxt, __atomic_load_n(&f->rcv_nxt, __ATOMIC_RELAXED),
                       __atomic_load_n(&f->rx_avail, __ATOMIC_RELAXED));
}

void tcp_handle_segment(struct sp *sp, const struct pkt_info *pi)
{
    struct conn_key key = {
        .local_ip = pi->ip->dst, .remote_ip = pi->ip->src,
        .local_port = pi->dport, .remote_port = pi->sport,
    };
    if (key.remote_port == 0 || key.local_port == 0 || (ntohl(key.remote_ip) >> 28) >= 14)
        return;
    struct conn_hnode *h = conntab_find(&sp->conns, &key);
    if (!h) {
        uint8_t kind = pi->flags & (TAS_TCP_SYN | TAS_TCP_ACK | TAS_TCP_RST);
        if (kind == TAS_TCP_SYN) {
            passive_open(sp, pi, &key);
        } else if (kind == TAS_TCP_ACK && cookie_open(sp, pi, &key)) {
            sp_debug("connection on port %u opened from a SYN cookie", ntohs(key.local_port));
        } else {
            sp_debug("segment (flags %#x) for no connection on port %u: reset",
                     pi->flags, ntohs(key.local_port));
            send_reset_reply(sp, pi);
        }
        return;
    }
    struct sp_conn *c = container_of(h, struct sp_conn, hnode);
    switch (c->state) {
    case TCP_SYN_RCVD:
        handle_syn_rcvd(sp, c, pi);
        break;
    case TCP_SYN_SENT:
        handle_syn_sent(sp, c, pi);
        break;
    case TCP_TIME_WAIT:
        handle_time_wait(sp, c, pi, &key);
        break;
    case TCP_ESTABLISHED:
        if (c->flags & CONN_F_INSTALL_PENDING) {
            handle_install_pending(sp, c, pi);
            break;
        }
        /* fall through */
    default:
        handle_synchronized(sp, c, pi);
        break;
    }
}

void tcp_timer_fired(struct sp *sp, struct sp_conn *c)
{
    switch (c->state) {
    case TCP_SYN_SENT:
        if (c->retries >= sp->cfg.syn_retries) {
            connect_failed(sp, c, ETIMEDOUT);
            return;
        }
        c->retries++;
        send_syn(sp, c);
        timer_arm(&sp->timers, &c->timer, sp->now_us + ((uint64_t)TCP_HANDSHAKE_RTO_US << c->retries));
        break;
    case TCP_SYN_RCVD:
        if (c->retries >= sp->cfg.synack_retries) {
            conn_close(sp, c, ETIMEDOUT, false);
            return;
        }
        c->retries++;
        send_synack(sp, c);
        timer_arm(&sp->timers, &c->timer, sp->now_us + ((uint64_t)TCP_HANDSHAKE_RTO_US << c->retries));
        break;
    case TCP_TIME_WAIT:
        conn_close(sp, c, 0, false);
        break;
    case TCP_CLOSED:
        break;
    case TCP_ESTABLISHED:
        if (c->flags & CONN_F_INSTALL_PENDING) {
            finish_passive_install(sp, c);
            break;
        }
        /* fall through */
    default:
        control_tick(sp, c);
        break;
    }
}

/* The control loop gave up on c (no progress after --max-retries). */
void tcp_timeout(struct sp *sp, struct sp_conn *c)
{
    sp_info("flow %u: no progress after %u retransmissions: reset", c->flow_id, c->rto_count);
    conn_close(sp, c, ETIMEDOUT, true);
}

/* ------------------------------------------------------------------------ */
/* Application requests                                                      */
/* ------------------------------------------------------------------------ */

static struct sp_binding *find_binding(struct sp_app *app, uint16_t port)
{
    struct list_node *n, *tmp;
    list_for_each_safe(n, tmp, &app->bindings) {
        struct sp_binding *b = container_of(n, struct sp_binding, node);
        if (b->port == port)
            return b;
    }
    return NULL;
}

static bool ctx_valid(const struct sp *sp, const struct sp_app *app, uint32_t ctx)
{
    return ctx < sp->cfg.max_ctx && app->ctx[ctx].in_use;
}

static int req_bind(struct sp *sp, struct sp_app *app, const struct tas_ctl_conn *q,
                    struct tas_ctl_conn *r)
{
    if (q->local_ip != 0 && q->local_ip != sp->cfg.ip)
        return -EADDRNOTAVAIL;
    unsigned flags = (q->flags & TAS_CTL_F_REUSEPORT ? PORTS_F_REUSEPORT : 0) |
                     (q->flags & TAS_CTL_F_REUSEADDR ? PORTS_F_REUSEADDR : 0);
    uint16_t port = ntohs(q->local_port);
    struct sp_binding *b = malloc(sizeof(*b));
    if (!b)
        return -ENOMEM;
    int rc;
    if (port == 0) {
        rc = ports_reserve_ephemeral(sp->ports, 0, 0, app->uid);
        if (rc > 0) {
            port = (uint16_t)rc;
            rc = 0;
        }
    } else if (port < 1024 && app->uid != 0) {
        rc = -EACCES;
    } else {
        rc = ports_reserve(sp->ports, port, flags, app->uid);
    }
    if (rc != 0) {
        free(b);
        return rc;
    }
    b->port = port;
    b->flags = flags;
    list_insert_tail(&app->bindings, &b->node);
    r->local_ip = sp->cfg.ip;
    r->local_port = htons(port);
    return 0;
}

static int req_unbind(struct sp *sp, struct sp_app *app, const struct tas_ctl_conn *q)
{
    struct sp_binding *b = find_binding(app, ntohs(q->local_port));
    if (!b)
        return -ENOENT;
    ports_release(sp->ports, b->port);
    list_remove(&b->node);
    free(b);
    return 0;
}

static int req_listen(struct sp *sp, struct sp_app *app, const struct tas_ctl_conn *q,
                      struct tas_ctl_conn *r)
{
    if (!ctx_valid(sp, app, q->ctx_id))
        return -EINVAL;
    struct sp_binding *b = find_binding(app, ntohs(q->local_port));
    if (!b)
        return -EDESTADDRREQ;
    struct listener *l = listener_open(sp->listeners, app, q->ctx_id, b->port, q->backlog);
    if (!l)
        return -ENOBUFS;
    /* The listener inherits the binding's port reservation. */
    list_remove(&b->node);
    free(b);
    list_insert_tail(&app->listeners, &l->app_node);
    sp_debug("app %u listens on port %u (listener %u, backlog %u)", app->id, l->port,
             l->id, l->backlog);
    r->listener_id = l->id;
    r->local_ip = sp->cfg.ip;
    r->local_port = htons(l->port);
    return 0;
}

static void listener_shutdown(struct sp *sp, struct listener *l)
{
    struct list_node *n;
    while ((n = list_pop_head(&l->half_open)) != NULL) {
        struct sp_conn *c = container_of(n, struct sp_conn, queue_node);
        l->n_half_open--;
        c->flags &= ~CONN_F_HALF_OPEN_Q;
        conn_close(sp, c, ECONNRESET, false);
    }
    while ((n = listener_pop_ready(l)) != NULL) {
        struct sp_conn *c = container_of(n, struct sp_conn, queue_node);
        c->flags &= ~CONN_F_READY_Q;
        conn_close(sp, c, ECONNRESET, true);
    }
    list_remove(&l->app_node);
    ports_release(sp->ports, l->port);
    listener_close(sp->listeners, l);
}

static struct listener *app_listener(struct sp *sp, struct sp_app *app, uint32_t id)
{
    struct listener *l = listener_get(sp->listeners, id);
    return l && l->app == app ? l : NULL;
}

static void describe_flow(const struct sp *sp, const struct sp_conn *c, struct tas_ctl_conn *r)
{
    r->flow_id = c->flow_id;
    r->local_ip = c->hnode.key.local_ip;
    r->remote_ip = c->hnode.key.remote_ip;
    r->local_port = c->hnode.key.local_port;
    r->remote_port = c->hnode.key.remote_port;
    r->rx_base = c->rx_base;
    r->rx_size = c->rx_size;
    r->tx_base = c->tx_base;
    r->tx_size = c->tx_size;
    r->mss = c->mss ? c->mss : (uint16_t)(tcp_our_mss(sp) - TCP_TS_OPT_BYTES);
    r->opaque = c->opaque;
    r->rx_ready = c->rx_ready;
}

static int req_accept(struct sp *sp, struct sp_app *app, const struct tas_ctl_conn *q,
                      struct tas_ctl_conn *r)
{
    struct listener *l = app_listener(sp, app, q->listener_id);
    if (!l || !ctx_valid(sp, app, q->ctx_id))
        return -EINVAL;
    struct list_node *n = listener_pop_ready(l);
    if (!n)
        return -EAGAIN;
    struct sp_conn *c = container_of(n, struct sp_conn, queue_node);
    if (c->flags & CONN_F_INSTALL_PENDING) {
        c->listener = NULL;       /* accepted: no ACCEPT_READY any more */
        install_flow(sp, c);
    }
    c->flags = (c->flags & ~CONN_F_READY_Q) | CONN_F_APP_HOLDS | CONN_F_HANDED;
    c->opaque = q->opaque;
    if (c->flags & CONN_F_INSTALLED) {
        __atomic_store_n(&svc_flow(sp, c->flow_id)->opaque, q->opaque, __ATOMIC_RELAXED);
        if (q->ctx_id != c->ctx_id)
            svc_post(sp, TAS_CMD_FLOW_SET_CTX, c->flow_id, app->id, q->ctx_id, 0, NULL, 0);
    }
    c->ctx_id = q->ctx_id;
    c->listener = NULL;
    describe_flow(sp, c, r);
    return 0;
}

static bool remote_ip_valid(uint32_t ip)
{
    uint32_t h = ntohl(ip);
    return h != 0 && h != 0xffffffffu && (h >> 28) < 14 && (h >> 24) != 127;
}

static int req_connect(struct sp *sp, struct sp_app *app, const struct tas_ctl_conn *q,
                       struct tas_ctl_conn *r)
{
    if (!ctx_valid(sp, app, q->ctx_id))
        return -EINVAL;
    if (q->remote_port == 0 || !remote_ip_valid(q->remote_ip))
        return -EINVAL;
    if (!net_routable(sp, q->remote_ip))
        return -ENETUNREACH;

    struct conn_key key = {
        .local_ip = sp->cfg.ip, .remote_ip = q->remote_ip,
        .local_port = q->local_port, .remote_port = q->remote_port,
    };
    struct sp_binding *b = NULL;
    if (key.local_port != 0) {
        b = find_binding(app, ntohs(key.local_port));
        if (!b)
            return -EINVAL;
        if (conntab_find(&sp->conns, &key))
            return -EADDRINUSE;
    } else {
        int port = ports_reserve_ephemeral(sp->ports, q->remote_ip, q->remote_port, app->uid);
        if (port < 0)
            return port;
        key.local_port = htons((uint16_t)port);
    }

    struct sp_conn *c = conn_new(sp, &key);
    int rc = c ? conn_alloc_flow(sp, c, app) : -ENOMEM;
    if (rc != 0) {
        if (c) {
            list_remove(&c->all_node);
            free(c);
        }
        if (!b)
            ports_release(sp->ports, ntohs(key.local_port));
        return rc;
    }
    if (b) {
        /* The connection inherits the binding's port reservation. */
        list_remove(&b->node);
        free(b);
    }
    c->flags |= CONN_F_PORT_OWNED | CONN_F_APP_HOLDS | CONN_F_HANDED;
    c->state = TCP_SYN_SENT;
    c->ctx_id = q->ctx_id;
    c->opaque = q->opaque;
    c->iss = tcp_isn(sp, &key);
    c->rcv_wscale = tcp_rcv_wscale(sp->cfg.rx_buf);
    conntab_insert(&sp->conns, &c->hnode);
    c->in_table = true;
    send_syn(sp, c);
    timer_arm(&sp->timers, &c->timer, sp->now_us + TCP_HANDSHAKE_RTO_US);
    describe_flow(sp, c, r);
    return 0;
}

static struct sp_conn *app_flow(struct sp *sp, struct sp_app *app, uint32_t flow_id)
{
    struct sp_conn *c = flow_id < sp->cfg.max_flows ? sp->flows[flow_id] : NULL;
    return c && c->app == app && (c->flags & CONN_F_APP_HOLDS) ? c : NULL;
}

/* CLOSE and SHUTDOWN_WR: send our FIN after the queued data. */
static void send_our_fin(struct sp *sp, struct sp_conn *c)
{
    if (c->state == TCP_ESTABLISHED || c->state == TCP_CLOSE_WAIT)
        apply_event(sp, c, TCP_EV_APP_FIN);
}

static int req_close(struct sp *sp, struct sp_app *app, const struct tas_ctl_conn *q,
                     bool abort)
{
    struct sp_conn *c = app_flow(sp, app, q->flow_id);
    if (!c)
        return -EBADF;
    c->flags = (c->flags & ~CONN_F_APP_HOLDS) | CONN_F_APP_CLOSED;
    switch (c->state) {
    case TCP_SYN_SENT:
        conn_close(sp, c, 0, false);
        return 0;
    case TCP_TIME_WAIT:
    case TCP_CLOSED:
        break;
    default:
        if (abort) {
            conn_close(sp, c, 0, true);
            return 0;
        }
        send_our_fin(sp, c);
        if (c->state == TCP_FIN_WAIT_2)
            c->fin_wait2_deadline_us = sp->now_us + sp->cfg.fin_wait2_ms * 1000ull;
        break;
    }
    conn_settle(sp, c);
    return 0;
}

static int req_shutdown_wr(struct sp *sp, struct sp_app *app, const struct tas_ctl_conn *q)
{
    struct sp_conn *c = app_flow(sp, app, q->flow_id);
    if (!c)
        return -EBADF;
    if (c->state == TCP_SYN_SENT)
        return -ENOTCONN;
    send_our_fin(sp, c);
    return 0;
}

int tcp_request(struct sp *sp, struct sp_app *app, const struct tas_ctl_msg *req,
                struct tas_ctl_msg *rep)
{
    const struct tas_ctl_conn *q = &req->u.conn;
    struct tas_ctl_conn *r = &rep->u.conn;
    struct listener *l;

    if (!svc_attached(sp))
        return -ENETDOWN;
    *r = *q;
    switch (req->type) {
    case TAS_CTL_BIND:
        return req_bind(sp, app, q, r);
    case TAS_CTL_UNBIND:
        return req_unbind(sp, app, q);
    case TAS_CTL_LISTEN:
        return req_listen(sp, app, q, r);
    case TAS_CTL_LISTEN_CLOSE:
        l = app_listener(sp, app, q->listener_id);
        if (!l)
            return -EINVAL;
        listener_shutdown(sp, l);
        return 0;
    case TAS_CTL_ACCEPT:
        return req_accept(sp, app, q, r);
    case TAS_CTL_CONNECT:
        return req_connect(sp, app, q, r);
    case TAS_CTL_CLOSE:
        return req_close(sp, app, q, false);
    case TAS_CTL_ABORT:
        return req_close(sp, app, q, true);
    case TAS_CTL_SHUTDOWN_WR:
        return req_shutdown_wr(sp, app, q);
    default:
        return -EOPNOTSUPP;
    }
}

/* ------------------------------------------------------------------------ */
/* Clean-up                                                                  */
/* ------------------------------------------------------------------------ */

void tcp_app_gone(struct sp *sp, struct sp_app *app)
{
    struct list_node *n, *tmp;
    list_for_each_safe(n, tmp, &app->listeners)
        listener_shutdown(sp, container_of(n, struct listener, app_node));
    list_for_each_safe(n, tmp, &app->conns) {
        struct sp_conn *c = container_of(n, struct sp_conn, app_node);
        c->flags &= ~CONN_F_APP_HOLDS;
        if (c->state == TCP_TIME_WAIT)
            conn_settle(sp, c);
        else if (c->state != TCP_CLOSED)
            conn_close(sp, c, ECONNRESET, true);
        else
            conn_settle(sp, c);
    }
}

/* The fast path is gone: forget every connection without talking to it. */
void tcp_reset_all(struct sp *sp)
{
    struct list_node *n;
    while ((n = list_pop_head(&sp->all_conns)) != NULL) {
        struct sp_conn *c = container_of(n, struct sp_conn, all_node);
        list_init(&c->all_node);
        c->flags &= ~(CONN_F_INSTALLED | CONN_F_REMOVING | CONN_F_APP_HOLDS |
                      CONN_F_READY_Q | CONN_F_HALF_OPEN_Q);
        list_init(&c->queue_node);
        if (c->flags & CONN_F_HAS_FLOW)
            conn_release_flow(sp, c);
        c->state = TCP_CLOSED;
        conn_destroy(sp, c);
    }
    for (uint32_t i = 0; i < sp->listeners->max; i++) {
        struct listener *l = &sp->listeners->l[i];
        if (!l->in_use)
            continue;
        list_init(&l->half_open);
        list_init(&l->ready);
        l->n_half_open = l->n_ready = 0;
        list_remove(&l->app_node);
        ports_release(sp->ports, l->port);
        listener_close(sp->listeners, l);
    }
}

int tcp_init(struct sp *sp)
{
    uint32_t max = sp->cfg.max_flows;
    sp->flows = calloc(max, sizeof(*sp->flows));
    sp->free_flow_ids = malloc(max * sizeof(*sp->free_flow_ids));
    sp->ports = malloc(sizeof(*sp->ports));
    sp->listeners = malloc(sizeof(*sp->listeners));
    if (!sp->flows || !sp->free_flow_ids || !sp->ports || !sp->listeners)
        return -ENOMEM;
    /* A stack handing out low ids first keeps the touched part of the flow
     * table small. */
    for (uint32_t i = 0; i < max; i++)
        sp->free_flow_ids[i] = max - 1 - i;
    sp->n_free_flow_ids = max;
    ports_init(sp->ports, (uint32_t)sp->secret[0]);
    const uint64_t cookie_secrets[2] = { sp_mix64(sp->secret[0] ^ sp->secret[1]),
                                         sp_mix64(sp->secret[1] + 1) };
    syncookie_init(&sp->syncookies, cookie_secrets, sp->now_us);
    list_init(&sp->all_conns);
    int rc = listener_table_init(sp->listeners, sp->cfg.max_apps * 16);
    if (rc != 0)
        return rc;
    rc = conntab_init(&sp->conns, max * 2, (uint32_t)(sp->secret[1] >> 32));
    if (rc != 0)
        return rc;
    return timer_heap_init(&sp->timers, 1024);
}
