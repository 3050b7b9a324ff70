/* fake_sp.c - a stand-in slow path for testing tas-fastpath end to end.
 *
 * It does what the real slow path does at the edges of a connection and
 * plays the application in between:
 *   - serves DIR/fp.sock: creates the service region, answers the fast
 *     path's attach, registers one application region with one context;
 *   - answers ARP requests and ICMP echo requests arriving as exceptions
 *     (so `ping` from the peer exercises the exception path both ways);
 *   - opens a TCP connection to a Linux peer with a hand-made handshake
 *     (SYN and ACK sent with TAS_CMD_TX_FRAME, SYN-ACK taken from the
 *     exceptions), installs the flow and then streams --bytes through it
 *     to an echo server, checking every byte that comes back
 *     (retransmitting after 200 ms without progress, as the slow path would);
 *   - closes with FIN, waits for both FIN events, removes the flow and
 *     prints the fast path's per-core counters.
 * With --loopback there is no peer: two flows of the instance's own
 * address are installed facing each other, the second echoing what it
 * receives, so the stream goes through the fast path's internal delivery.
 *
 *   fake-sp --run-dir DIR --ip A.B.C.D --peer A.B.C.D --peer-mac MAC
 *           --peer-port N --bytes N [--ping-wait S] [--rate-kbps R]
 *   fake-sp --run-dir DIR --ip A.B.C.D --loopback --bytes N [--rate-kbps R]
 * --rate-kbps paces the flows as a rate-based congestion control would.
 * Exits 0 when every byte came back intact.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <tas/abi.h>
#include <tas/ctl_io.h>
#include <tas/wire.h>

#define MAX_FLOWS 64
#define SVC_SLOTS 1024
#define APP_SLOTS 1024
#define RING_BYTES (256u * 1024)
#define APP_ID 7
#define FLOW_ID 3
#define ECHO_FLOW_ID 4        /* the echoing end in --loopback mode */
#define OPAQUE 0x1234
#define RTO_US 200000         /* no progress this long: retransmit, as the slow path would */
#define LOCAL_PORT 40000
#define RCV_WSCALE 7

static struct {
    const char *run_dir;
    uint32_t ip, peer_ip;
    uint8_t peer_mac[6];
    uint16_t peer_port;
    uint64_t bytes;
    int ping_wait;
    bool loopback;
    uint32_t rate_kbps;       /* pace our flow, as a rate-based CC would */

    int fp_sock;
    void *svc;
    struct tas_svc_geometry geo;
    struct tas_ring exc, cmd;
    int sp_efd, fp_efd;

    void *app;
    struct tas_app_geometry ageo;
    struct tas_ring app_tx, app_rx;
    int ctx_efd;

    unsigned arp_seen, icmp_seen, tcp_seen;
    uint32_t ctl_seq;
    uint8_t synack[TAS_SVC_FRAME_MAX];   /* the peer's, kept to be returned */
    uint16_t synack_len;
} sp;

static void die(const char *what)
{
    fprintf(stderr, "fake-sp: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int make_memfd(const char *name, uint64_t size)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0)
        die("memfd");
    return fd;
}

static void *map_fd(int fd, uint64_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        die("mmap");
    return p;
}

static uint64_t align_up(uint64_t x)
{
    return (x + TAS_CACHE_LINE - 1) & ~(uint64_t)(TAS_CACHE_LINE - 1);
}

/* ---- control socket ---- */

static int listen_fp_sock(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", sp.run_dir, TAS_FP_SOCK_NAME);
    mkdir(sp.run_dir, 0755);
    unlink(sa.sun_path);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(s, 1) != 0)
        die("fp.sock");
    return s;
}

static void attach_fast_path(void)
{
    int ls = listen_fp_sock();
    fprintf(stderr, "fake-sp: waiting for the fast path on %s/fp.sock\n", sp.run_dir);
    sp.fp_sock = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    if (sp.fp_sock < 0)
        die("accept");
    close(ls);

    struct tas_ctl_msg m;
    int fds[TAS_CTL_MAX_FDS];
    unsigned nfds;
    if (tas_ctl_recv(sp.fp_sock, &m, fds, TAS_CTL_MAX_FDS, &nfds, 0) != 0 ||
        m.type != TAS_CTL_FP_ATTACH)
        die("attach request");

    struct tas_svc_geometry *g = &sp.geo;
    g->cores = 1;
    g->ring_slots = SVC_SLOTS;
    g->queues_off = align_up(sizeof(struct tas_svc_header));
    g->queue_stride = align_up(2 * sizeof(struct tas_ring_shared) +
                               2ull * SVC_SLOTS * TAS_SVC_SLOT_SIZE);
    g->flows_off = g->queues_off + g->queue_stride;
    g->max_flows = MAX_FLOWS;
    g->size = g->flows_off + MAX_FLOWS * sizeof(struct tas_flow);
    int memfd = make_memfd("tas-svc", g->size);
    sp.svc = map_fd(memfd, g->size);
    struct tas_svc_header *h = sp.svc;
    h->magic = TAS_SVC_MAGIC;
    h->abi_version = TAS_ABI_VERSION;
    tas_ring_init_view(&sp.exc, tas_svc_exc_ring(sp.svc, g, 0),
                       tas_svc_exc_slots(sp.svc, g, 0), SVC_SLOTS, TAS_SVC_SLOT_SIZE, false);
    tas_ring_init_view(&sp.cmd, tas_svc_cmd_ring(sp.svc, g, 0),
                       tas_svc_cmd_slots(sp.svc, g, 0), SVC_SLOTS, TAS_SVC_SLOT_SIZE, true);
    sp.sp_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    sp.fp_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

    struct tas_ctl_msg r;
    memset(&r, 0, sizeof(r));
    r.type = TAS_CTL_FP_ATTACH | TAS_CTL_REPLY;
    r.seq = m.seq;
    r.nfds = 3;
    r.u.fp_attach_reply.geo = *g;
    r.u.fp_attach_reply.local_ip = sp.ip;
    r.u.fp_attach_reply.prefix_len = 24;
    int out[3] = { memfd, sp.sp_efd, sp.fp_efd };
    if (tas_ctl_send(sp.fp_sock, &r, out, 3) != 0)
        die("attach reply");
    close(memfd);
    while (!__atomic_load_n(&h->fp_ready, __ATOMIC_ACQUIRE))
        usleep(1000);
    fprintf(stderr, "fake-sp: fast path %u attached, MTU %u, tsc %lu Hz\n",
            h->fp_pid, h->fp_mtu, h->tsc_hz);
}

static void ctl_request(uint16_t type, const struct tas_ctl_fp_app *body, int fd)
{
    struct tas_ctl_msg m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.seq = ++sp.ctl_seq;
    m.nfds = fd >= 0;
    m.u.fp_app = *body;
    if (tas_ctl_send(sp.fp_sock, &m, &fd, fd >= 0) != 0)
        die("control request");
    unsigned nfds;
    if (tas_ctl_recv(sp.fp_sock, &m, NULL, 0, &nfds, 0) != 0 ||
        m.type != (type | TAS_CTL_REPLY) || m.status != 0) {
        fprintf(stderr, "fake-sp: request %u refused: %d\n", type, m.status);
        exit(1);
    }
}

static void register_app(void)
{
    struct tas_app_geometry *g = &sp.ageo;
    g->max_ctx = 1;
    g->ring_slots = APP_SLOTS;
    g->ctx_off = align_up(sizeof(struct tas_app_header));
    g->ctx_stride = tas_app_ctx_stride(APP_SLOTS);
    g->payload_off = g->ctx_off + g->ctx_stride;
    g->payload_size = 4 * RING_BYTES;     /* RX and TX rings of two flows */
    g->size = g->payload_off + g->payload_size;
    int memfd = make_memfd("tas-app", g->size);
    sp.app = map_fd(memfd, g->size);

    struct tas_ctl_fp_app body = { .app_id = APP_ID, .geo = *g };
    ctl_request(TAS_CTL_FP_APP_ADD, &body, memfd);
    close(memfd);

    struct tas_app_ctx_shared *c = tas_app_ctx(sp.app, g, 0);
    tas_ring_init_view(&sp.app_tx, &c->tx, tas_app_ctx_tx_slots(c), APP_SLOTS,
                       TAS_APP_CTX_SLOT_TX, true);
    tas_ring_init_view(&sp.app_rx, &c->rx, tas_app_ctx_rx_slots(c, g), APP_SLOTS,
                       TAS_APP_CTX_SLOT_RX, false);
    sp.ctx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    body.ctx_id = 0;
    ctl_request(TAS_CTL_FP_CTX_ADD, &body, sp.ctx_efd);
}

/* ---- rings ---- */

static void kick_fp(struct tas_ring *r)
{
    uint64_t one = 1;
    if (tas_ring_needs_kick(r) && write(sp.fp_efd, &one, sizeof(one)) < 0)
        die("kick");
}

static void post_cmd(uint16_t kind, uint32_t flow, uint32_t arg, uint64_t cookie,
                     const void *frame, uint16_t len)
{
    struct tas_svc_msg *m;
    while (!(m = tas_ring_prod_slot(&sp.cmd)))
        ;
    m->kind = kind;
    m->len = len;
    m->flow_id = flow;
    m->app_id = APP_ID;
    m->arg = arg;
    m->cookie = cookie;
    if (len)
        memcpy(m->frame, frame, len);
    tas_ring_prod_commit(&sp.cmd);
    kick_fp(&sp.cmd);
}

/* ---- frames ---- */

static void put_eth(uint8_t *f, const uint8_t *dst, uint16_t type)
{
    struct tas_eth_hdr *e = (void *)f;
    memcpy(e->dst, dst, 6);
    memcpy(e->src, ((struct tas_svc_header *)sp.svc)->fp_mac, 6);
    e->type = htons(type);
}

static void answer_arp(const uint8_t *frame, uint32_t len)
{
    const struct tas_arp_hdr *a = (const void *)(frame + sizeof(struct tas_eth_hdr));
    if (len < sizeof(struct tas_eth_hdr) + sizeof(*a) || ntohs(a->op) != TAS_ARP_OP_REQUEST ||
        a->tpa != sp.ip)
        return;
    uint8_t out[64] = { 0 };
    put_eth(out, a->sha, TAS_ETHERTYPE_ARP);
    struct tas_arp_hdr *r = (void *)(out + sizeof(struct tas_eth_hdr));
    r->htype = htons(1);
    r->ptype = htons(TAS_ETHERTYPE_IP);
    r->hlen = 6;
    r->plen = 4;
    r->op = htons(TAS_ARP_OP_REPLY);
    memcpy(r->sha, ((struct tas_svc_header *)sp.svc)->fp_mac, 6);
    r->spa = sp.ip;
    memcpy(r->tha, a->sha, 6);
    r->tpa = a->spa;
    post_cmd(TAS_CMD_TX_FRAME, TAS_INVALID_FLOW, 0, 0, out, 60);
}

static void answer_ping(const uint8_t *frame, uint32_t len)
{
    uint8_t out[TAS_SVC_FRAME_MAX];
    const struct tas_eth_hdr *e = (const void *)frame;
    const struct tas_ip_hdr *ip = (const void *)(e + 1);
    size_t ihl = (ip->ver_ihl & 15) * 4u, tot = ntohs(ip->total_len);
    if (len < sizeof(*e) + tot || tot < ihl + sizeof(struct tas_icmp_hdr) ||
        len > sizeof(out))
        return;
    const struct tas_icmp_hdr *icmp = (const void *)((const uint8_t *)ip + ihl);
    if (icmp->type != TAS_ICMP_ECHO_REQUEST)
        return;
    memcpy(out, frame, sizeof(*e) + tot);
    put_eth(out, e->src, TAS_ETHERTYPE_IP);
    struct tas_ip_hdr *rip = (void *)(out + sizeof(*e));
    rip->dst = ip->src;
    rip->src = ip->dst;
    rip->csum = 0;
    rip->csum = tas_ip_csum(rip, ihl);
    struct tas_icmp_hdr *ricmp = (void *)((uint8_t *)rip + ihl);
    ricmp->type = TAS_ICMP_ECHO_REPLY;
    ricmp->csum = 0;
    ricmp->csum = tas_csum_fold(tas_csum_add(0, ricmp, tot - ihl));
    post_cmd(TAS_CMD_TX_FRAME, TAS_INVALID_FLOW, 0, 0, out, (uint16_t)(sizeof(*e) + tot));
}

/* A TCP segment of our connection, built by hand (handshake only). */
static uint16_t build_tcp(uint8_t *out, uint32_t seq, uint32_t ack, uint8_t flags,
                          const uint8_t *opts, size_t optlen)
{
    put_eth(out, sp.peer_mac, TAS_ETHERTYPE_IP);
    struct tas_ip_hdr *ip = (void *)(out + sizeof(struct tas_eth_hdr));
    struct tas_tcp_hdr *tcp = (void *)(ip + 1);
    size_t tcp_len = sizeof(*tcp) + optlen;
    memset(ip, 0, sizeof(*ip));
    ip->ver_ihl = 0x45;
    ip->total_len = htons((uint16_t)(sizeof(*ip) + tcp_len));
    ip->frag_off = htons(TAS_IP_DF);
    ip->ttl = 64;
    ip->proto = TAS_IPPROTO_TCP;
    ip->src = sp.ip;
    ip->dst = sp.peer_ip;
    ip->csum = tas_ip_csum(ip, sizeof(*ip));
    memset(tcp, 0, sizeof(*tcp));
    tcp->sport = htons(LOCAL_PORT);
    tcp->dport = htons(sp.peer_port);
    tcp->seq = htonl(seq);
    tcp->ack = htonl(ack);
    tcp->doff_rsvd = (uint8_t)((tcp_len / 4) << 4);
    tcp->flags = flags;
    tcp->win = htons(0xffff);
    memcpy(tcp + 1, opts, optlen);
    tcp->csum = tas_tcp_csum(ip->src, ip->dst, tcp, tcp_len);
    return (uint16_t)(sizeof(struct tas_eth_hdr) + sizeof(*ip) + tcp_len);
}

static uint32_t ts_clock(void)
{
    return (uint32_t)now_us();
}

/* Handles one exception; returns the SYN-ACK of our connection if it is one. */
static const struct tas_tcp_hdr *handle_exception(const struct tas_svc_msg *m)
{
    if (m->kind == TAS_EXC_FLOW_EVENT || m->kind == TAS_EXC_CMD_DONE ||
        m->kind == TAS_EXC_APP_FAULT)
        return NULL;
    const struct tas_eth_hdr *e = (const void *)m->frame;
    if (m->len < sizeof(*e))
        return NULL;
    if (ntohs(e->type) == TAS_ETHERTYPE_ARP) {
        sp.arp_seen++;
        answer_arp(m->frame, m->len);
        return NULL;
    }
    const struct tas_ip_hdr *ip = (const void *)(e + 1);
    if (ip->proto == TAS_IPPROTO_ICMP) {
        sp.icmp_seen++;
        answer_ping(m->frame, m->len);
        return NULL;
    }
    if (ip->proto == TAS_IPPROTO_TCP) {
        const struct tas_tcp_hdr *t = (const void *)((const uint8_t *)ip + (ip->ver_ihl & 15) * 4);
        sp.tcp_seen++;
        if ((t->flags & (TAS_TCP_SYN | TAS_TCP_ACK)) == (TAS_TCP_SYN | TAS_TCP_ACK) &&
            ntohs(t->dport) == LOCAL_PORT)
            return t;
        fprintf(stderr, "fake-sp: TCP exception, flags %#x, flow %d\n", t->flags,
                (int)m->flow_id);
    }
    return NULL;
}

struct event_log {
    unsigned fin_rcvd, fin_acked, rst, done, faults;
};

/* Drains the exception ring; copies a SYN-ACK of ours into synack. */
static bool poll_exceptions(struct event_log *ev, uint8_t *synack, uint16_t *synack_len)
{
    bool got = false;
    void *slot;
    enum tas_ring_status st;
    while ((st = tas_ring_cons_peek(&sp.exc, &slot)) == TAS_RING_READY) {
        const struct tas_svc_msg *m = slot;
        if (m->kind == TAS_EXC_FLOW_EVENT) {
            ev->fin_rcvd += m->arg == TAS_FLOW_EV_FIN_RCVD;
            ev->fin_acked += m->arg == TAS_FLOW_EV_FIN_ACKED;
            ev->rst += m->arg == TAS_FLOW_EV_RST_RCVD;
        } else if (m->kind == TAS_EXC_CMD_DONE) {
            ev->done++;
        } else if (m->kind == TAS_EXC_APP_FAULT) {
            ev->faults++;
        } else if (handle_exception(m) && synack && m->len <= TAS_SVC_FRAME_MAX) {
            memcpy(synack, m->frame, m->len);
            *synack_len = m->len;
            got = true;
        }
        tas_ring_cons_release(&sp.exc);
    }
    if (st == TAS_RING_CORRUPT) {
        fprintf(stderr, "fake-sp: exception ring corrupt\n");
        exit(1);
    }
    return got;
}

/* ---- the connection ---- */

/* What a flow needs beyond what every flow here shares. */
struct flow_setup {
    uint32_t id;
    uint32_t remote_ip;
    uint16_t local_port, remote_port;   /* host order */
    const uint8_t *remote_mac;
    uint32_t snd_una, rcv_nxt, snd_wnd, ts_recent;
    uint8_t snd_wscale;
    bool wscale, ts;
    uint16_t mss;
};

/* The payload area holds the RX and TX ring of FLOW_ID, then those of
 * ECHO_FLOW_ID. */
static uint32_t ring_base(uint32_t id, bool tx)
{
    uint32_t slot = (id == FLOW_ID ? 0 : 2) + tx;
    return (uint32_t)sp.ageo.payload_off + slot * RING_BYTES;
}

static void install_flow(const struct flow_setup *s)
{
    struct tas_flow *f = &tas_svc_flows(sp.svc, &sp.geo)[s->id];
    memset(f, 0, sizeof(*f));
    f->local_ip = sp.ip;
    f->remote_ip = s->remote_ip;
    f->local_port = htons(s->local_port);
    f->remote_port = htons(s->remote_port);
    memcpy(f->remote_mac, s->remote_mac, 6);
    f->flags = s->ts ? TAS_FLOW_F_TIMESTAMPS : 0;
    f->app_id = APP_ID;
    f->ctx_id = 0;
    f->rx_base = ring_base(s->id, false);
    f->rx_size = RING_BYTES;
    f->rx_avail = RING_BYTES;
    f->rcv_nxt = s->rcv_nxt;
    f->ts_recent = s->ts_recent;
    f->rcv_wscale = s->wscale ? RCV_WSCALE : 0;
    f->snd_wscale = s->snd_wscale;
    f->opaque = OPAQUE + s->id;
    f->tx_base = ring_base(s->id, true);
    f->tx_size = RING_BYTES;
    f->snd_una = s->snd_una;
    f->snd_wnd = s->snd_wnd;
    f->mss = s->mss;
    f->rate_kbps = sp.rate_kbps;
    post_cmd(TAS_CMD_FLOW_INSTALL, s->id, 0, 0, NULL, 0);
}

static void open_connection(struct event_log *ev)
{
    uint8_t frame[TAS_SVC_FRAME_MAX], opts[40];
    uint16_t len = 0;
    uint32_t iss = 1000000;
    size_t optlen = tas_tcp_put_syn_opts(opts, 1460, true, ts_clock(), 0, true, RCV_WSCALE);
    uint16_t synlen = build_tcp(frame, iss, 0, TAS_TCP_SYN, opts, optlen);

    uint64_t next_syn = 0;
    for (int tries = 0;; ) {
        if (now_us() >= next_syn) {
            if (++tries > 5) {
                fprintf(stderr, "fake-sp: no SYN-ACK from the peer\n");
                exit(1);
            }
            post_cmd(TAS_CMD_TX_FRAME, TAS_INVALID_FLOW, 0, 0, frame, synlen);
            next_syn = now_us() + 1000000;
        }
        if (poll_exceptions(ev, frame, &len))
            break;
    }
    const struct tas_ip_hdr *ip = (const void *)(frame + sizeof(struct tas_eth_hdr));
    const struct tas_tcp_hdr *t = (const void *)(ip + 1);
    struct tas_tcp_opts o;
    size_t doff = (t->doff_rsvd >> 4) * 4u;
    if (tas_tcp_parse_opts((const uint8_t *)(t + 1), doff - sizeof(*t), &o) != 0 ||
        ntohl(t->ack) != iss + 1) {
        fprintf(stderr, "fake-sp: bad SYN-ACK\n");
        exit(1);
    }
    uint32_t peer_isn = ntohl(t->seq);
    uint16_t peer_win = ntohs(t->win);
    memcpy(sp.synack, frame, len);
    sp.synack_len = len;

    size_t ackopt = o.has_ts ? tas_tcp_put_ts(opts, ts_clock(), o.ts_val) : 0;
    uint16_t acklen = build_tcp(frame, iss + 1, peer_isn + 1, TAS_TCP_ACK, opts, ackopt);
    post_cmd(TAS_CMD_TX_FRAME, TAS_INVALID_FLOW, 0, 0, frame, acklen);

    struct flow_setup fs = {
        .id = FLOW_ID, .remote_ip = sp.peer_ip, .local_port = LOCAL_PORT,
        .remote_port = sp.peer_port, .remote_mac = sp.peer_mac,
        .snd_una = iss + 1, .rcv_nxt = peer_isn + 1,
        .snd_wnd = peer_win, .snd_wscale = o.has_wscale ? o.wscale : 0,
        .wscale = o.has_wscale, .ts = o.has_ts, .ts_recent = o.ts_val,
        .mss = (uint16_t)((o.has_mss ? o.mss : 536) - (o.has_ts ? 12 : 0)),
    };
    install_flow(&fs);
    fprintf(stderr, "fake-sp: connected to the peer (mss %u, wscale %u, ts %d); "
            "flow %u installed\n", fs.mss, fs.snd_wscale, o.has_ts, FLOW_ID);
}

/* Two flows of our own address facing each other, as if a handshake had
 * taken place: what one sends goes to the other through the fast path. */
static void open_loopback(void)
{
    static const uint8_t no_mac[6];
    struct flow_setup client = {
        .id = FLOW_ID, .remote_ip = sp.ip, .local_port = LOCAL_PORT,
        .remote_port = sp.peer_port, .remote_mac = no_mac,
        .snd_una = 1000, .rcv_nxt = 70000, .snd_wnd = RING_BYTES >> RCV_WSCALE,
        .snd_wscale = RCV_WSCALE, .wscale = true, .ts = true,
        .ts_recent = ts_clock(), .mss = 1448,
    };
    struct flow_setup server = client;
    server.id = ECHO_FLOW_ID;
    server.local_port = sp.peer_port;
    server.remote_port = LOCAL_PORT;
    server.snd_una = client.rcv_nxt;
    server.rcv_nxt = client.snd_una;
    install_flow(&client);
    install_flow(&server);
    fprintf(stderr, "fake-sp: loopback flows %u and %u installed\n", FLOW_ID,
            ECHO_FLOW_ID);
}

static uint8_t pattern(uint64_t i)
{
    return (uint8_t)(i * 131 + (i >> 11));
}

static void post_app(uint32_t flow_id, uint32_t tx_bytes, uint32_t rx_bytes)
{
    struct tas_app_tx_entry *e;
    while (!(e = tas_ring_prod_slot(&sp.app_tx)))
        ;
    e->flow_id = flow_id;
    e->tx_bytes = tx_bytes;
    e->rx_bytes = rx_bytes;
    e->flags = 0;
    tas_ring_prod_commit(&sp.app_tx);
    kick_fp(&sp.app_tx);
}

/* The echoing end of --loopback: returns what it receives on the same
 * flow, as much as its TX ring has room for; what waits stays unread in its
 * RX ring, which closes the client's window (flow control end to end). */
struct echo_state {
    uint32_t rx_pos, tx_pos;
    uint32_t unread;          /* received, not yet echoed */
    uint32_t in_tx;           /* echoed, not yet acknowledged */
};

/* New bytes go on from the last ones, or to 0 once every byte was
 * consumed and given back (docs/tas-protocol.md). */
static bool rx_pos_ok(const struct tas_app_rx_entry *e, uint32_t expected, uint32_t unreturned)
{
    if (e->rx_bytes == 0 || e->rx_pos == expected || (e->rx_pos == 0 && unreturned == 0))
        return true;
    fprintf(stderr, "fake-sp: flow %u: rx_pos %u, expected %u\n", e->flow_id, e->rx_pos,
            expected);
    return false;
}

static bool echo_back(struct echo_state *es, const struct tas_app_rx_entry *e)
{
    uint8_t *rx = (uint8_t *)sp.app + ring_base(ECHO_FLOW_ID, false);
    uint8_t *tx = (uint8_t *)sp.app + ring_base(ECHO_FLOW_ID, true);
    if (!rx_pos_ok(e, (es->rx_pos + es->unread) % RING_BYTES, es->unread))
        return false;
    if (e->rx_bytes != 0 && es->unread == 0)
        es->rx_pos = e->rx_pos;
    es->in_tx -= e->tx_bytes;
    es->unread += e->rx_bytes;
    uint32_t n = RING_BYTES - es->in_tx < es->unread ? RING_BYTES - es->in_tx : es->unread;
    if (n == 0)
        return true;
    for (uint32_t i = 0; i < n; i++)
        tx[(es->tx_pos + i) % RING_BYTES] = rx[(es->rx_pos + i) % RING_BYTES];
    es->rx_pos = (es->rx_pos + n) % RING_BYTES;
    es->tx_pos = (es->tx_pos + n) % RING_BYTES;
    es->unread -= n;
    es->in_tx += n;
    post_app(ECHO_FLOW_ID, n, n);
    return true;
}

/* Streams sp.bytes to the echo server and checks what comes back. */
static int run_echo(struct event_log *ev)
{
    uint8_t *rx = (uint8_t *)sp.app + ring_base(FLOW_ID, false);
    uint8_t *tx = (uint8_t *)sp.app + ring_base(FLOW_ID, true);
    struct echo_state echo = { 0, 0, 0, 0 };
    uint64_t queued = 0, acked = 0, received = 0;
    uint32_t tx_pos = 0, rx_pos = 0;
    uint64_t start = now_us(), last_progress = start, last_rto = start;
    int bad = 0;

    while (received < sp.bytes) {
        uint32_t room = (uint32_t)(RING_BYTES - (queued - acked));
        uint64_t left = sp.bytes - queued;
        uint32_t n = room < left ? room : (uint32_t)left;
        if (n >= 16384 || (n > 0 && n == left)) {
            for (uint32_t i = 0; i < n; i++)
                tx[(tx_pos + i) % RING_BYTES] = pattern(queued + i);
            tx_pos = (tx_pos + n) % RING_BYTES;
            queued += n;
            post_app(FLOW_ID, n, 0);
        }
        void *slot;
        enum tas_ring_status st;
        while ((st = tas_ring_cons_peek(&sp.app_rx, &slot)) == TAS_RING_READY) {
            struct tas_app_rx_entry e;
            memcpy(&e, slot, sizeof(e));
            tas_ring_cons_release(&sp.app_rx);
            if (e.flow_id == ECHO_FLOW_ID && e.opaque == OPAQUE + ECHO_FLOW_ID) {
                if (!echo_back(&echo, &e))
                    return 1;
                continue;
            }
            if (e.flow_id != FLOW_ID || e.opaque != OPAQUE + FLOW_ID) {
                fprintf(stderr, "fake-sp: rx entry for flow %u opaque %#lx\n",
                        e.flow_id, e.opaque);
                return 1;
            }
            acked += e.tx_bytes;
            if (e.rx_bytes) {
                if (!rx_pos_ok(&e, rx_pos, 0))   /* each entry's bytes go back at once */
                    return 1;
                rx_pos = e.rx_pos;
                for (uint32_t i = 0; i < e.rx_bytes; i++)
                    if (rx[(rx_pos + i) % RING_BYTES] != pattern(received + i) && bad++ < 5)
                        fprintf(stderr, "fake-sp: byte %lu differs\n", received + i);
                received += e.rx_bytes;
                rx_pos = (rx_pos + e.rx_bytes) % RING_BYTES;
                post_app(FLOW_ID, 0, e.rx_bytes);
            }
            last_progress = now_us();
        }
        poll_exceptions(ev, NULL, NULL);
        if (ev->rst || ev->faults) {
            fprintf(stderr, "fake-sp: connection reset or app fault\n");
            return 1;
        }
        /* Losses at the tail get no duplicate ACKs; the retransmission
         * timer is the slow path's job, so play it here. */
        if (now_us() - last_progress > RTO_US && now_us() - last_rto > RTO_US) {
            post_cmd(TAS_CMD_FLOW_RETRANSMIT, FLOW_ID, 0, 0, NULL, 0);
            if (sp.loopback)
                post_cmd(TAS_CMD_FLOW_RETRANSMIT, ECHO_FLOW_ID, 0, 0, NULL, 0);
            last_rto = now_us();
        }
        if (now_us() - last_progress > 10000000) {
            fprintf(stderr, "fake-sp: stalled: queued %lu acked %lu received %lu\n",
                    queued, acked, received);
            return 1;
        }
    }
    double secs = (double)(now_us() - start) / 1e6;
    fprintf(stderr, "fake-sp: echoed %lu bytes in %.2f s (%.1f Mbit/s each way), "
            "%d bad bytes\n", received, secs, received * 8 / secs / 1e6, bad);
    return bad != 0;
}

static int close_connection(struct event_log *ev)
{
    post_cmd(TAS_CMD_FLOW_FIN, FLOW_ID, 0, 0, NULL, 0);
    uint64_t deadline = now_us() + 5000000;
    while ((ev->fin_acked == 0 || ev->fin_rcvd == 0) && now_us() < deadline)
        poll_exceptions(ev, NULL, NULL);
    post_cmd(TAS_CMD_FLOW_REMOVE, FLOW_ID, 0, 42, NULL, 0);
    while (ev->done == 0 && now_us() < deadline)
        poll_exceptions(ev, NULL, NULL);
    fprintf(stderr, "fake-sp: FIN acked %u, peer FIN %u, remove done %u\n",
            ev->fin_acked, ev->fin_rcvd, ev->done);
    return ev->fin_acked == 1 && ev->fin_rcvd == 1 && ev->done == 1 ? 0 : 1;
}

/* A segment the slow path returns (TAS_CMD_RX_FRAME) for a flow the fast
 * path no longer serves is dropped and counted, and never passed up again:
 * otherwise it would go round between the two forever. */
static int check_returned_frame(struct event_log *ev)
{
    const uint64_t *not_served = &((const struct tas_svc_header *)sp.svc)->core[0]
                                      .drops[TAS_DROP_NOT_SERVED];
    uint64_t before = __atomic_load_n(not_served, __ATOMIC_RELAXED);
    unsigned tcp_before = sp.tcp_seen;
    post_cmd(TAS_CMD_RX_FRAME, FLOW_ID, 0, 0, sp.synack, sp.synack_len);
    /* Room for an exception to come back, had the fast path passed it up. */
    uint64_t until = now_us() + 300000;
    while (now_us() < until)
        poll_exceptions(ev, NULL, NULL);
    uint64_t dropped = __atomic_load_n(not_served, __ATOMIC_RELAXED) - before;
    fprintf(stderr, "fake-sp: a segment returned for the removed flow: %lu dropped as "
            "not served, %u passed up again\n", dropped, sp.tcp_seen - tcp_before);
    return dropped == 1 && sp.tcp_seen == tcp_before ? 0 : 1;
}

static void print_stats(void)
{
    const struct tas_svc_header *h = sp.svc;
    const struct tas_fp_core_stats *s = &h->core[0];
    const struct tas_flow *f = &tas_svc_flows(sp.svc, &sp.geo)[FLOW_ID];
    printf("rx_pkts %lu rx_cycles_per_pkt %lu tx_pkts %lu tx_cycles_per_pkt %lu "
           "exc_pkts %lu fast_retx %lu busy_pct %.1f\n",
           s->rx_pkts, s->rx_pkts ? s->rx_cycles / s->rx_pkts : 0,
           s->tx_pkts, s->tx_pkts ? s->tx_cycles / s->tx_pkts : 0,
           s->exc_pkts, s->fast_retransmits,
           100.0 * s->busy_cycles / (s->busy_cycles + s->idle_cycles + 1));
    printf("flow: acked %u ecn %u fast_retx %u rtt_us %u\n", f->cnt_acked_bytes,
           f->cnt_ecn_bytes, f->cnt_fast_retx, f->rtt_us);
    for (int r = 0; r < TAS_DROP__COUNT; r++)
        if (s->drops[r])
            printf("drops[%d] %lu\n", r, s->drops[r]);
    printf("arp_exceptions %u icmp_exceptions %u\n", sp.arp_seen, sp.icmp_seen);
}

static int parse_mac(const char *s, uint8_t *mac)
{
    return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2],
                  &mac[3], &mac[4], &mac[5]) == 6 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "run-dir", required_argument, NULL, 'd' },
        { "ip", required_argument, NULL, 'i' },
        { "peer", required_argument, NULL, 'p' },
        { "peer-mac", required_argument, NULL, 'm' },
        { "peer-port", required_argument, NULL, 'P' },
        { "bytes", required_argument, NULL, 'b' },
        { "ping-wait", required_argument, NULL, 'w' },
        { "loopback", no_argument, NULL, 'l' },
        { "rate-kbps", required_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 },
    };
    int o;
    sp.peer_port = 5001;
    sp.bytes = 1 << 20;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'd': sp.run_dir = optarg; break;
        case 'i': inet_pton(AF_INET, optarg, &sp.ip); break;
        case 'p': inet_pton(AF_INET, optarg, &sp.peer_ip); break;
        case 'm': if (parse_mac(optarg, sp.peer_mac)) return 2; break;
        case 'P': sp.peer_port = (uint16_t)atoi(optarg); break;
        case 'b': sp.bytes = strtoull(optarg, NULL, 0); break;
        case 'w': sp.ping_wait = atoi(optarg); break;
        case 'l': sp.loopback = true; break;
        case 'r': sp.rate_kbps = (uint32_t)strtoul(optarg, NULL, 0); break;
        default: return 2;
        }
    }
    if (!sp.run_dir || !sp.ip || (!sp.peer_ip && !sp.loopback)) {
        fprintf(stderr, "usage: fake-sp --run-dir DIR --ip A --peer A --peer-mac M "
                "[--peer-port N] [--bytes N] [--ping-wait S] [--rate-kbps R]\n"
                "       fake-sp --run-dir DIR --ip A --loopback [--bytes N] "
                "[--rate-kbps R]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    attach_fast_path();
    register_app();

    struct event_log ev = { 0 };
    /* answer ARP and pings while the test pings us */
    uint64_t until = now_us() + (uint64_t)sp.ping_wait * 1000000;
    while (now_us() < until)
        poll_exceptions(&ev, NULL, NULL);
    printf("after ping phase: arp %u icmp %u\n", sp.arp_seen, sp.icmp_seen);

    int rc = 0;
    if (sp.loopback) {
        open_loopback();
        rc = run_echo(&ev);
        post_cmd(TAS_CMD_FLOW_REMOVE, FLOW_ID, 0, 1, NULL, 0);
        post_cmd(TAS_CMD_FLOW_REMOVE, ECHO_FLOW_ID, 0, 2, NULL, 0);
        uint64_t deadline = now_us() + 2000000;
        while (ev.done < 2 && now_us() < deadline)
            poll_exceptions(&ev, NULL, NULL);
        if (ev.done != 2)
            rc = 1;
    } else if (sp.bytes) {
        open_connection(&ev);
        rc = run_echo(&ev);
        if (rc == 0)
            rc = close_connection(&ev);
        if (rc == 0)
            rc = check_returned_frame(&ev);
    }
    print_stats();
    struct tas_ctl_fp_app body = { .app_id = APP_ID };
    ctl_request(TAS_CTL_FP_APP_REMOVE, &body, -1);
    close(sp.fp_sock);
    return rc;
}
