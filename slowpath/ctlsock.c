/* ctlsock.c - the operator's control socket (ctl.sock, see tasctl.h).
 *
 * tasctl and monitoring scripts ask here what the service is doing: the
 * daemon's identity, the fast path's cores and counters (read from the
 * service region the fast path writes), the applications and every
 * connection.  Each request is answered with one JSON document built with
 * json-c and the connection is closed: no per-client state beyond the
 * request line survives a reply.
 *
 * The socket is mode 0660, so only root and the service's group may look.
 * Writing the reply blocks the event loop for at most CTL_SEND_TIMEOUT_MS:
 * a reply is a few hundred bytes per connection, and an operator's tool
 * that stops reading must not stall the service for longer than that.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include <tas/tasctl.h>

#include "log.h"
#include "sp.h"

#define CTL_SOCK_MODE        0660
#define CTL_SEND_TIMEOUT_MS  1000
#define CTL_IDLE_TIMEOUT_US  5000000u  /* a client that never asks is dropped */
#define CTL_LOAD_PERIOD_US   1000000u  /* busy % is measured over this */

int ctl_listen(struct sp *sp)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", sp->cfg.run_dir,
                 TAS_CTL_SOCK_NAME) >= (int)sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    unlink(sa.sun_path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        chmod(sa.sun_path, CTL_SOCK_MODE) != 0 || listen(fd, 16) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++)
        sp->ctl.clients[i].fd = -1;
    sp->ctl.listen_fd = fd;
    sp->ctl.started_us = sp->now_us;
    return 0;
}

static void client_close(struct sp *sp, struct ctl_client *cl)
{
    epoll_ctl(sp->epfd, EPOLL_CTL_DEL, cl->fd, NULL);
    close(cl->fd);
    cl->fd = -1;
}

void ctl_accept(struct sp *sp)
{
    int fd = accept4(sp->ctl.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct ctl_client *cl = NULL;
    for (unsigned i = 0; i < CTL_MAX_CLIENTS && !cl; i++)
        if (sp->ctl.clients[i].fd < 0)
            cl = &sp->ctl.clients[i];
    if (!cl) {
        sp_warn("%s: too many clients at once, one refused", TAS_CTL_SOCK_NAME);
        close(fd);
        return;
    }
    cl->fd = fd;
    cl->since_us = sp->now_us;
    cl->watch = (struct sp_watch){ SP_WATCH_CTL_CLIENT, cl };
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cl->watch };
    if (epoll_ctl(sp->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        cl->fd = -1;
    }
}

/* ---- building the replies ---- */

static json_object *json_u64(uint64_t v)
{
    return json_object_new_uint64(v);
}

static void add(json_object *o, const char *key, json_object *v)
{
    json_object_object_add(o, key, v);
}

static json_object *json_endpoint(uint32_t ip_net, uint16_t port_net)
{
    char ip[INET_ADDRSTRLEN], buf[INET_ADDRSTRLEN + 8];
    inet_ntop(AF_INET, &ip_net, ip, sizeof(ip));
    snprintf(buf, sizeof(buf), "%s:%u", ip, ntohs(port_net));
    return json_object_new_string(buf);
}

static const struct tas_svc_header *fp_header(const struct sp *sp)
{
    return svc_attached(sp) ? sp->svc.base : NULL;
}

/* Resident memory of a process in bytes, 0 if it cannot be read. */
static uint64_t rss_bytes(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    unsigned long long size, resident;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    return n == 2 ? resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* Counters of one fast-path core, copied once so that a reply is coherent
 * with itself even while the core keeps counting. */
static void read_core(const struct tas_svc_header *h, uint32_t core,
                      struct tas_fp_core_stats *out)
{
    const uint64_t *src = (const uint64_t *)&h->core[core];
    uint64_t *dst = (uint64_t *)out;
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

static json_object *json_drops(const uint64_t *drops)
{
    json_object *o = json_object_new_object();
    for (unsigned r = 0; r < TAS_DROP__COUNT; r++)
        add(o, tas_drop_reason_names[r], json_u64(drops[r]));
    return o;
}

static json_object *json_counters(const struct tas_fp_core_stats *s)
{
    json_object *o = json_object_new_object();
    add(o, "rx_packets", json_u64(s->rx_pkts));
    add(o, "rx_bytes", json_u64(s->rx_bytes));
    add(o, "tx_packets", json_u64(s->tx_pkts));
    add(o, "tx_bytes", json_u64(s->tx_bytes));
    add(o, "exception_packets", json_u64(s->exc_pkts));
    add(o, "fast_retransmits", json_u64(s->fast_retransmits));
    add(o, "challenge_acks", json_u64(s->challenge_acks));
    uint64_t dropped = 0;
    for (unsigned r = 0; r < TAS_DROP__COUNT; r++)
        dropped += s->drops[r];
    add(o, "dropped", json_u64(dropped));
    add(o, "drops", json_drops(s->drops));
    return o;
}

static void sum_cores(const struct sp *sp, struct tas_fp_core_stats *total)
{
    memset(total, 0, sizeof(*total));
    const struct tas_svc_header *h = fp_header(sp);
    if (!h)
        return;
    for (uint32_t c = 0; c < sp->svc.geo.cores; c++) {
        struct tas_fp_core_stats s;
        read_core(h, c, &s);
        uint64_t *dst = (uint64_t *)total;
        const uint64_t *src = (const uint64_t *)&s;
        for (size_t i = 0; i < sizeof(s) / sizeof(uint64_t); i++)
            dst[i] += src[i];
    }
}

static uint32_t app_flow_count(const struct sp_app *app)
{
    uint32_t n = 0;
    for (const struct list_node *p = app->conns.next; p != &app->conns; p = p->next)
        n++;
    return n;
}

static uint32_t app_listener_count(const struct sp_app *app)
{
    uint32_t n = 0;
    for (const struct list_node *p = app->listeners.next; p != &app->listeners; p = p->next)
        n++;
    return n;
}

static uint32_t app_context_count(const struct sp *sp, const struct sp_app *app)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < sp->cfg.max_ctx; i++)
        n += app->ctx[i].in_use;
    return n;
}

static json_object *json_fastpath(const struct sp *sp)
{
    json_object *o = json_object_new_object();
    const struct tas_svc_header *h = fp_header(sp);
    add(o, "attached", json_object_new_boolean(h != NULL));
    if (!h)
        return o;
    char mac[18];
    snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", sp->svc.mac[0],
             sp->svc.mac[1], sp->svc.mac[2], sp->svc.mac[3], sp->svc.mac[4], sp->svc.mac[5]);
    add(o, "pid", json_u64(sp->svc.fp_pid));
    add(o, "mac", json_object_new_string(mac));
    add(o, "mtu", json_u64(sp->svc.mtu));
    add(o, "rss_bytes", json_u64(rss_bytes((pid_t)sp->svc.fp_pid)));
    json_object *cores = json_object_new_array();
    for (uint32_t c = 0; c < sp->svc.geo.cores; c++) {
        json_object *core = json_object_new_object();
        add(core, "core", json_u64(c));
        add(core, "busy_percent", json_object_new_double(sp->ctl.load[c].busy_percent));
        json_object_array_add(cores, core);
    }
    add(o, "cores", cores);
    return o;
}

static json_object *reply_status(struct sp *sp)
{
    json_object *o = json_object_new_object();
    char ip[INET_ADDRSTRLEN], addr[INET_ADDRSTRLEN + 8];
    inet_ntop(AF_INET, &sp->cfg.ip, ip, sizeof(ip));
    snprintf(addr, sizeof(addr), "%s/%u", ip, sp->cfg.prefix_len);

    uint32_t apps = 0, flows = 0;
    uint64_t payload = 0;
    for (uint32_t i = 0; i < sp->cfg.max_apps; i++) {
        const struct sp_app *app = sp->apps[i];
        if (!app)
            continue;
        apps++;
        payload += app->base ? app->payload.in_use : 0;
    }
    for (const struct list_node *p = sp->all_conns.next; p != &sp->all_conns; p = p->next)
        flows++;

    add(o, "version", json_object_new_string(TAS_VERSION));
    add(o, "pid", json_u64((uint64_t)getpid()));
    add(o, "uptime_s", json_u64((sp->now_us - sp->ctl.started_us) / 1000000u));
    add(o, "address", json_object_new_string(addr));
    add(o, "run_dir", json_object_new_string(sp->cfg.run_dir));
    add(o, "congestion_control", json_object_new_string(cc_name(sp->cfg.cc)));
    add(o, "fastpath", json_fastpath(sp));
    add(o, "apps", json_u64(apps));
    add(o, "flows", json_u64(flows));
    json_object *cookies = json_object_new_object();
    add(cookies, "sent", json_u64(sp->syncookies_sent));
    add(cookies, "accepted", json_u64(sp->syncookies_accepted));
    add(o, "syncookies", cookies);
    json_object *blind = json_object_new_object();
    add(blind, "syns", json_u64(sp->blind_syns));
    add(blind, "rsts", json_u64(sp->blind_rsts));
    add(blind, "challenge_acks", json_u64(sp->challenge_acks));
    add(o, "slowpath_rfc5961", blind);
    add(o, "segments_returned", json_u64(sp->returned_segments));
    json_object *mem = json_object_new_object();
    add(mem, "app_buffer_bytes", json_u64(payload));
    add(mem, "slowpath_rss_bytes", json_u64(rss_bytes(getpid())));
    add(o, "memory", mem);
    struct tas_fp_core_stats total;
    sum_cores(sp, &total);
    add(o, "counters", json_counters(&total));
    return o;
}

/* Per-packet cost: cycles of a kind divided by the packets they served. */
static json_object *json_per_packet(uint64_t cycles, uint64_t packets)
{
    return json_u64(packets ? cycles / packets : 0);
}

static json_object *reply_stats(struct sp *sp)
{
    json_object *o = json_object_new_object();
    const struct tas_svc_header *h = fp_header(sp);
    json_object *cores = json_object_new_array();
    for (uint32_t c = 0; h && c < sp->svc.geo.cores; c++) {
        struct tas_fp_core_stats s;
        read_core(h, c, &s);
        json_object *core = json_counters(&s);
        add(core, "core", json_u64(c));
        add(core, "busy_percent", json_object_new_double(sp->ctl.load[c].busy_percent));
        add(core, "busy_cycles", json_u64(s.busy_cycles));
        add(core, "idle_cycles", json_u64(s.idle_cycles));
        add(core, "rx_cycles", json_u64(s.rx_cycles));
        add(core, "tx_cycles", json_u64(s.tx_cycles));
        add(core, "cycles_per_packet", json_per_packet(s.busy_cycles, s.rx_pkts + s.tx_pkts));
        add(core, "rx_cycles_per_packet", json_per_packet(s.rx_cycles, s.rx_pkts));
        add(core, "tx_cycles_per_packet", json_per_packet(s.tx_cycles, s.tx_pkts));
        json_object_array_add(cores, core);
    }
    add(o, "tsc_hz", json_u64(h ? __atomic_load_n(&h->tsc_hz, __ATOMIC_RELAXED) : 0));
    add(o, "cores", cores);
    struct tas_fp_core_stats total;
    sum_cores(sp, &total);
    json_object *t = json_counters(&total);
    add(t, "cycles_per_packet", json_per_packet(total.busy_cycles, total.rx_pkts + total.tx_pkts));
    add(o, "total", t);
    return o;
}

static json_object *reply_apps(struct sp *sp)
{
    json_object *list = json_object_new_array();
    for (uint32_t i = 0; i < sp->cfg.max_apps; i++) {
        const struct sp_app *app = sp->apps[i];
        if (!app)
            continue;
        json_object *a = json_object_new_object();
        add(a, "app_id", json_u64(app->id));
        add(a, "pid", json_u64((uint64_t)app->pid));
        add(a, "uid", json_u64((uint64_t)app->uid));
        add(a, "registered", json_object_new_boolean(app->base != NULL));
        add(a, "closing", json_object_new_boolean(app->dying));
        add(a, "contexts", json_u64(app_context_count(sp, app)));
        add(a, "flows", json_u64(app_flow_count(app)));
        add(a, "listeners", json_u64(app_listener_count(app)));
        add(a, "buffer_bytes", json_u64(app->base ? app->payload.in_use : 0));
        json_object_array_add(list, a);
    }
    json_object *o = json_object_new_object();
    add(o, "apps", list);
    return o;
}

/* What the fast path knows of an installed flow.  Sequence numbers count
 * bytes from the handshake, so their distance is the bytes moved (modulo
 * 4 GiB: tasctl shows a rate or a window, not an accounting total). */
static void add_flow_state(struct sp *sp, const struct sp_conn *c, json_object *o)
{
    const struct tas_flow *f = svc_flow(sp, c->flow_id);
    uint32_t snd_una = __atomic_load_n(&f->snd_una, __ATOMIC_RELAXED);
    uint32_t rcv_nxt = __atomic_load_n(&f->rcv_nxt, __ATOMIC_RELAXED);
    add(o, "tx_bytes", json_u64((uint32_t)(snd_una - c->iss - 1)));
    add(o, "rx_bytes", json_u64((uint32_t)(rcv_nxt - c->irs - 1)));
    add(o, "cwnd", json_u64(__atomic_load_n(&f->cwnd, __ATOMIC_RELAXED)));
    add(o, "send_window", json_u64(__atomic_load_n(&f->snd_wnd, __ATOMIC_RELAXED)));
    add(o, "rtt_us", json_u64(__atomic_load_n(&f->rtt_us, __ATOMIC_RELAXED)));
    add(o, "fast_retransmits", json_u64(__atomic_load_n(&f->cnt_fast_retx, __ATOMIC_RELAXED)));
}

static json_object *reply_flows(struct sp *sp)
{
    json_object *list = json_object_new_array();
    for (const struct list_node *p = sp->all_conns.next; p != &sp->all_conns; p = p->next) {
        const struct sp_conn *c = container_of(p, struct sp_conn, all_node);
        json_object *o = json_object_new_object();
        add(o, "local", json_endpoint(c->hnode.key.local_ip, c->hnode.key.local_port));
        add(o, "remote", json_endpoint(c->hnode.key.remote_ip, c->hnode.key.remote_port));
        add(o, "state", json_object_new_string(tcp_state_name(c->state)));
        if (c->app) {
            add(o, "app_id", json_u64(c->app->id));
            add(o, "pid", json_u64((uint64_t)c->app->pid));
        }
        if (c->flags & CONN_F_HAS_FLOW)
            add(o, "flow_id", json_u64(c->flow_id));
        add(o, "timeouts", json_u64(c->timeouts));
        add(o, "rto_us", json_u64(rto_current(&c->rto)));
        if ((c->flags & CONN_F_INSTALLED) && svc_attached(sp))
            add_flow_state(sp, c, o);
        json_object_array_add(list, o);
    }
    json_object *o = json_object_new_object();
    add(o, "flows", list);
    return o;
}

static json_object *reply_error(const char *what)
{
    json_object *o = json_object_new_object();
    add(o, "error", json_object_new_string(what));
    return o;
}

static json_object *answer(struct sp *sp, const char *request)
{
    if (strcmp(request, "status") == 0)
        return reply_status(sp);
    if (strcmp(request, "stats") == 0)
        return reply_stats(sp);
    if (strcmp(request, "apps") == 0)
        return reply_apps(sp);
    if (strcmp(request, "flows") == 0)
        return reply_flows(sp);
    return reply_error("unknown request");
}

static void send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            sp_debug("%s: client went away mid-reply", TAS_CTL_SOCK_NAME);
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

void ctl_handle_client(struct sp *sp, struct ctl_client *cl)
{
    char req[TAS_CTL_REQUEST_MAX + 1];
    ssize_t n = recv(cl->fd, req, TAS_CTL_REQUEST_MAX, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        client_close(sp, cl);
        return;
    }
    req[n] = '\0';
    char *nl = memchr(req, '\n', (size_t)n);
    json_object *reply = nl ? (*nl = '\0', answer(sp, req))
                            : reply_error("request line missing or too long");

    /* Blocking from here, bounded by the send timeout. */
    int flags = fcntl(cl->fd, F_GETFL);
    struct timeval tv = { .tv_sec = CTL_SEND_TIMEOUT_MS / 1000,
                          .tv_usec = (CTL_SEND_TIMEOUT_MS % 1000) * 1000 };
    fcntl(cl->fd, F_SETFL, flags & ~O_NONBLOCK);
    setsockopt(cl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    size_t len;
    const char *text = json_object_to_json_string_length(reply, JSON_C_TO_STRING_PLAIN, &len);
    send_all(cl->fd, text, len);
    send_all(cl->fd, "\n", 1);
    json_object_put(reply);
    client_close(sp, cl);
}

/* Fast-path load over the last period, and clients that never asked. */
void ctl_tick(struct sp *sp)
{
    for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++) {
        struct ctl_client *cl = &sp->ctl.clients[i];
        if (cl->fd >= 0 && sp->now_us - cl->since_us > CTL_IDLE_TIMEOUT_US)
            client_close(sp, cl);
    }
    if (sp->now_us - sp->ctl.load_sampled_us < CTL_LOAD_PERIOD_US)
        return;
    sp->ctl.load_sampled_us = sp->now_us;
    const struct tas_svc_header *h = fp_header(sp);
    for (uint32_t c = 0; h && c < sp->svc.geo.cores; c++) {
        struct ctl_core_load *l = &sp->ctl.load[c];
        uint64_t busy = __atomic_load_n(&h->core[c].busy_cycles, __ATOMIC_RELAXED);
        uint64_t idle = __atomic_load_n(&h->core[c].idle_cycles, __ATOMIC_RELAXED);
        uint64_t d_busy = busy - l->busy_cycles, d_idle = idle - l->idle_cycles;
        /* A fresh fast path restarts its counters: skip that period. */
        bool sane = busy >= l->busy_cycles && idle >= l->idle_cycles && d_busy + d_idle > 0;
        l->busy_percent = sane ? 100.0 * (double)d_busy / (double)(d_busy + d_idle) : 0.0;
        l->busy_cycles = busy;
        l->idle_cycles = idle;
    }
}

void ctl_close(struct sp *sp)
{
    for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++)
        if (sp->ctl.clients[i].fd >= 0)
            client_close(sp, &sp->ctl.clients[i]);
    if (sp->ctl.listen_fd >= 0) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof(path), "%s/%s", sp->cfg.run_dir, TAS_CTL_SOCK_NAME);
        unlink(path);
        close(sp->ctl.listen_fd);
        sp->ctl.listen_fd = -1;
    }
}
