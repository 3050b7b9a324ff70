/* svc.c - the service region and the fast path's side of it.
 *
 * The fast path attaches once over fp.sock; we then create the service
 * region (memfd) sized for its cores and our flow table, and hand it over
 * with the eventfds both sides kick.  Afterwards fp.sock carries only
 * application attach/detach requests, which we send synchronously: the fast
 * path answers them from its main loop within microseconds, and waiting
 * keeps the registration code a plain sequence.
 *
 * Commands go to core 0's cmd ring (docs/tas-protocol.md).  A command must
 * never be lost (a lost REMOVE leaks a flow id forever), so when the ring is
 * full it waits in a backlog that is flushed on every loop iteration.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <tas/ctl_io.h>

#include "log.h"
#include "sp.h"

#define SVC_FP_REPLY_TIMEOUT_MS 2000
#define SVC_MIN_MTU 576
#define SVC_MAX_MTU 9000

/* A command waiting for room; its frame follows in msg.frame. */
struct svc_backlog_cmd {
    struct list_node node;
    struct tas_svc_msg msg;
};

bool svc_attached(const struct sp *sp)
{
    return sp->svc.base != NULL;
}

struct tas_flow *svc_flow(struct sp *sp, uint32_t flow_id)
{
    return &tas_svc_flows(sp->svc.base, &sp->svc.geo)[flow_id];
}

static void svc_geometry(struct tas_svc_geometry *g, uint32_t cores,
                         uint32_t slots, uint32_t max_flows)
{
    memset(g, 0, sizeof(*g));
    g->cores = cores;
    g->ring_slots = slots;
    g->queues_off = (sizeof(struct tas_svc_header) + 4095) & ~4095ull;
    g->queue_stride = 2 * sizeof(struct tas_ring_shared) +
                      2ull * slots * TAS_SVC_SLOT_SIZE;
    g->flows_off = (g->queues_off + cores * g->queue_stride + 4095) & ~4095ull;
    g->max_flows = max_flows;
    g->size = (g->flows_off + (uint64_t)max_flows * sizeof(struct tas_flow) + 4095) &
              ~4095ull;
}

static void svc_release(struct svc *s)
{
    if (s->base)
        munmap(s->base, s->geo.size);
    s->base = NULL;
    if (s->memfd >= 0)
        close(s->memfd);
    s->memfd = -1;
    if (s->sp_kick >= 0)
        close(s->sp_kick);
    s->sp_kick = -1;
    for (unsigned i = 0; i < TAS_MAX_FP_CORES; i++) {
        if (s->fp_kick[i] >= 0)
            close(s->fp_kick[i]);
        s->fp_kick[i] = -1;
    }
    struct list_node *n;
    while ((n = list_pop_head(&s->cmd_backlog)) != NULL)
        free(container_of(n, struct svc_backlog_cmd, node));
}

static int svc_create_region(struct sp *sp, uint32_t cores)
{
    struct svc *s = &sp->svc;

    svc_geometry(&s->geo, cores, sp->cfg.svc_ring_slots, sp->cfg.max_flows);
    s->memfd = memfd_create("tas-service", MFD_CLOEXEC);
    if (s->memfd < 0)
        return -errno;
    if (ftruncate(s->memfd, (off_t)s->geo.size) != 0)
        return -errno;
    void *base = mmap(NULL, s->geo.size, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
    if (base == MAP_FAILED)
        return -errno;
    s->base = base;

    struct tas_svc_header *h = base;
    h->magic = TAS_SVC_MAGIC;
    h->abi_version = TAS_ABI_VERSION;

    s->sp_kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->sp_kick < 0)
        return -errno;
    for (uint32_t c = 0; c < cores; c++) {
        s->fp_kick[c] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (s->fp_kick[c] < 0)
            return -errno;
        tas_ring_init_view(&s->exc[c], tas_svc_exc_ring(base, &s->geo, c),
                           tas_svc_exc_slots(base, &s->geo, c),
                           s->geo.ring_slots, TAS_SVC_SLOT_SIZE, false);
        tas_ring_init_view(&s->cmd[c], tas_svc_cmd_ring(base, &s->geo, c),
                           tas_svc_cmd_slots(base, &s->geo, c),
                           s->geo.ring_slots, TAS_SVC_SLOT_SIZE, true);
    }
    return 0;
}

static bool mac_is_unicast(const uint8_t mac[6])
{
    static const uint8_t zero[6];
    return !(mac[0] & 1) && memcmp(mac, zero, 6) != 0;
}

static int svc_check_attach(const struct tas_ctl_msg *m)
{
    const struct tas_ctl_fp_attach *a = &m->u.fp_attach;
    if (m->type != TAS_CTL_FP_ATTACH || m->nfds != 0)
        return -EPROTO;
    if (a->cores == 0 || a->cores > TAS_MAX_FP_CORES)
        return -EINVAL;
    if (a->mtu < SVC_MIN_MTU || a->mtu > SVC_MAX_MTU || !mac_is_unicast(a->mac))
        return -EINVAL;
    return 0;
}

/* Handles the fast path's first message on a freshly accepted fp.sock
 * connection.  Returns 0 when attached; sock is ours (closed) on failure. */
int svc_attach(struct sp *sp, int sock)
{
    struct svc *s = &sp->svc;
    struct tas_ctl_msg m, rep;
    unsigned nfds;
    struct pollfd pfd = { .fd = sock, .events = POLLIN };

    if (poll(&pfd, 1, SVC_FP_REPLY_TIMEOUT_MS) != 1 ||
        tas_ctl_recv(sock, &m, NULL, 0, &nfds, 0) != 0) {
        sp_warn("fp.sock: no valid attach message from the fast path");
        close(sock);
        return -EPROTO;
    }
    memset(&rep, 0, sizeof(rep));
    rep.type = m.type | TAS_CTL_REPLY;
    rep.seq = m.seq;
    rep.status = svc_check_attach(&m);
    if (rep.status == 0 && svc_attached(sp))
        rep.status = -EBUSY;
    if (rep.status == 0) {
        rep.status = svc_create_region(sp, m.u.fp_attach.cores);
        if (rep.status != 0)
            svc_release(s);
    }
    if (rep.status != 0) {
        sp_err("fast path (pid %u) attach refused: %s", m.u.fp_attach.pid,
               strerror(-rep.status));
        tas_ctl_send(sock, &rep, NULL, 0);
        close(sock);
        return rep.status;
    }

    const struct tas_ctl_fp_attach *a = &m.u.fp_attach;
    memcpy(s->mac, a->mac, 6);
    s->mtu = a->mtu;
    s->fp_pid = a->pid;
    rep.u.fp_attach_reply.geo = s->geo;
    rep.u.fp_attach_reply.local_ip = sp->cfg.ip;
    rep.u.fp_attach_reply.prefix_len = sp->cfg.prefix_len;

    int fds[TAS_CTL_MAX_FDS];
    unsigned n = 0;
    fds[n++] = s->memfd;
    fds[n++] = s->sp_kick;
    for (uint32_t c = 0; c < a->cores; c++)
        fds[n++] = s->fp_kick[c];
    rep.nfds = (uint16_t)n;
    int rc = tas_ctl_send(sock, &rep, fds, n);
    if (rc != 0) {
        sp_err("fp.sock: cannot answer the attach: %s", strerror(-rc));
        svc_release(s);
        close(sock);
        return rc;
    }

    s->fp_sock = sock;
    s->watch = (struct sp_watch){ SP_WATCH_FP_SOCK, s };
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->watch };
    epoll_ctl(sp->epfd, EPOLL_CTL_ADD, sock, &ev);
    struct epoll_event kev = { .events = EPOLLIN, .data.ptr = &sp->w_sp_kick };
    epoll_ctl(sp->epfd, EPOLL_CTL_ADD, s->sp_kick, &kev);

    sp_info("fast path attached: pid %u, %u core(s), mac %02x:%02x:%02x:%02x:%02x:%02x, mtu %u",
            a->pid, a->cores, a->mac[0], a->mac[1], a->mac[2], a->mac[3], a->mac[4],
            a->mac[5], a->mtu);
    net_announce(sp);
    return 0;
}

void svc_detach(struct sp *sp)
{
    struct svc *s = &sp->svc;
    if (s->fp_sock < 0)
        return;
    sp_warn("fast path detached: dropping all applications and connections");
    /* Without the fast path no flow can make progress and the regions it
     * mapped are gone; applications must reconnect to a new instance. */
    tcp_reset_all(sp);
    app_disconnect_all(sp);
    epoll_ctl(sp->epfd, EPOLL_CTL_DEL, s->fp_sock, NULL);
    if (s->sp_kick >= 0)
        epoll_ctl(sp->epfd, EPOLL_CTL_DEL, s->sp_kick, NULL);
    close(s->fp_sock);
    s->fp_sock = -1;
    svc_release(s);
}

/* The fast path never speaks first after attaching: readability means EOF
 * or a protocol violation, both of which end the attachment. */
void svc_handle_fp_sock(struct sp *sp)
{
    struct tas_ctl_msg m;
    unsigned nfds;
    int rc = tas_ctl_recv(sp->svc.fp_sock, &m, NULL, 0, &nfds, MSG_DONTWAIT);
    if (rc == -EAGAIN)
        return;
    if (rc == 0)
        sp_err("fp.sock: unsolicited message type %u from the fast path", m.type);
    svc_detach(sp);
}

int svc_fp_call(struct sp *sp, struct tas_ctl_msg *m, const int *fds, unsigned nfds)
{
    struct svc *s = &sp->svc;
    if (s->fp_sock < 0)
        return -ENOTCONN;
    m->seq = ++s->ctl_seq;
    m->nfds = (uint16_t)nfds;
    int rc = tas_ctl_send(s->fp_sock, m, fds, nfds);
    if (rc != 0)
        return rc;

    uint64_t deadline = sp_now_us() + SVC_FP_REPLY_TIMEOUT_MS * 1000ull;
    for (;;) {
        uint64_t now = sp_now_us();
        if (now >= deadline) {
            sp_err("fast path did not answer request %u in time", m->type);
            return -ETIMEDOUT;
        }
        struct pollfd pfd = { .fd = s->fp_sock, .events = POLLIN };
        int pr = poll(&pfd, 1, (int)((deadline - now + 999) / 1000));
        if (pr < 0 && errno != EINTR)
            return -errno;
        if (pr <= 0)
            continue;
        struct tas_ctl_msg rep;
        unsigned got;
        rc = tas_ctl_recv(s->fp_sock, &rep, NULL, 0, &got, MSG_DONTWAIT);
        if (rc == -EAGAIN)
            continue;
        if (rc != 0)
            return rc;
        if ((rep.type & TAS_CTL_REPLY) && tas_seq_lt(rep.seq, m->seq)) {
            /* The answer to an earlier request we stopped waiting for. */
            sp_warn("fp.sock: late reply to request seq %u ignored", rep.seq);
            continue;
        }
        if (rep.type != (m->type | TAS_CTL_REPLY) || rep.seq != m->seq) {
            sp_err("fp.sock: reply type %u seq %u does not match request %u seq %u",
                   rep.type, rep.seq, m->type, m->seq);
            return -EPROTO;
        }
        return rep.status > 0 ? -EPROTO : rep.status;
    }
}

static bool svc_try_post(struct svc *s, const struct tas_svc_msg *m, const void *frame)
{
    struct tas_svc_msg *slot = tas_ring_prod_slot(&s->cmd[0]);
    if (!slot)
        return false;
    memcpy(slot, m, sizeof(*m));
    if (m->len)
        memcpy(slot->frame, frame, m->len);
    tas_ring_prod_commit(&s->cmd[0]);
    s->kick_fp = true;
    return true;
}

void svc_post(struct sp *sp, uint16_t kind, uint32_t flow_id, uint32_t app_id,
              uint32_t arg, uint64_t cookie, const void *frame, uint16_t len)
{
    struct svc *s = &sp->svc;
    if (!svc_attached(sp) || len > TAS_SVC_FRAME_MAX)
        return;
    struct tas_svc_msg m = {
        .kind = kind, .len = len, .flow_id = flow_id, .app_id = app_id,
        .arg = arg, .cookie = cookie,
    };
    if (list_empty(&s->cmd_backlog) && svc_try_post(s, &m, frame))
        return;
    struct svc_backlog_cmd *b = malloc(sizeof(*b) + len);
    if (!b) {
        sp_err("out of memory queueing command %u for flow %u", kind, flow_id);
        return;
    }
    b->msg = m;
    memcpy(b->msg.frame, frame, len);
    list_insert_tail(&s->cmd_backlog, &b->node);
}

bool svc_flush(struct sp *sp)
{
    struct svc *s = &sp->svc;
    if (!svc_attached(sp))
        return false;
    while (!list_empty(&s->cmd_backlog)) {
        struct svc_backlog_cmd *b =
            container_of(s->cmd_backlog.next, struct svc_backlog_cmd, node);
        if (!svc_try_post(s, &b->msg, b->msg.frame))
            break;
        list_remove(&b->node);
        free(b);
    }
    if (s->kick_fp) {
        s->kick_fp = false;
        if (tas_ring_needs_kick(&s->cmd[0])) {
            uint64_t one = 1;
            if (write(s->fp_kick[0], &one, sizeof(one)) < 0 && errno != EAGAIN)
                sp_warn("cannot kick the fast path: %s", strerror(errno));
        }
    }
    return !list_empty(&s->cmd_backlog);
}

/* Copies one exception out of shared memory before looking at it, so the
 * fast path cannot change it between our checks and our use. */
static void svc_handle_exc(struct sp *sp, const struct tas_svc_msg *slot)
{
    union {
        struct tas_svc_msg m;
        uint8_t slot[TAS_SVC_SLOT_SIZE];   /* room for m.frame */
    } copy;
    memcpy(&copy.m, slot, sizeof(copy.m));
    if (copy.m.len > TAS_SVC_FRAME_MAX) {
        sp_warn("exception with impossible length %u dropped", copy.m.len);
        return;
    }
    memcpy(copy.m.frame, slot->frame, copy.m.len);

    switch (copy.m.kind) {
    case TAS_EXC_PACKET:
        net_handle_frame(sp, copy.m.frame, copy.m.len);
        break;
    case TAS_EXC_FLOW_EVENT:
        tcp_flow_event(sp, copy.m.flow_id, copy.m.arg);
        break;
    case TAS_EXC_CMD_DONE:
        tcp_cmd_done(sp, copy.m.flow_id, copy.m.cookie);
        break;
    case TAS_EXC_APP_FAULT: {
        struct sp_app *app = app_get(sp, copy.m.app_id);
        if (!app)
            break;
        sp_warn("application %u (pid %d) posted an invalid queue entry (fast path "
                "drop reason %u): disconnecting it", app->id, app->pid, copy.m.arg);
        app_kill(sp, app, "invalid queue entries");
        break;
    }
    default:
        sp_warn("exception of unknown kind %u dropped", copy.m.kind);
        break;
    }
}

unsigned svc_poll(struct sp *sp, unsigned budget)
{
    struct svc *s = &sp->svc;
    unsigned done = 0;
    if (!svc_attached(sp))
        return 0;
    for (uint32_t c = 0; c < s->geo.cores && done < budget; c++) {
        void *slot;
        enum tas_ring_status st;
        while (done < budget && (st = tas_ring_cons_peek(&s->exc[c], &slot)) == TAS_RING_READY) {
            svc_handle_exc(sp, slot);
            tas_ring_cons_release(&s->exc[c]);
            done++;
            if (!svc_attached(sp))
                return done;
        }
        if (st == TAS_RING_CORRUPT) {
            sp_err("exception ring of core %u is corrupt", c);
            svc_detach(sp);
            return done;
        }
    }
    return done;
}

bool svc_prepare_sleep(struct sp *sp)
{
    struct svc *s = &sp->svc;
    bool idle = true;
    if (!svc_attached(sp))
        return true;
    for (uint32_t c = 0; c < s->geo.cores; c++)
        if (!tas_ring_cons_prepare_sleep(&s->exc[c]))
            idle = false;
    return idle;
}

void svc_awake(struct sp *sp)
{
    struct svc *s = &sp->svc;
    if (!svc_attached(sp))
        return;
    uint64_t v;
    if (read(s->sp_kick, &v, sizeof(v)) < 0 && errno != EAGAIN)
        sp_warn("reading the kick eventfd: %s", strerror(errno));
    for (uint32_t c = 0; c < s->geo.cores; c++)
        tas_ring_cons_awake(&s->exc[c]);
}
