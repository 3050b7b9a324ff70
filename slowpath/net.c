/* net.c - the link and network layer of the slow path: ARP (answering,
 * resolving, gratuitous announcements), ICMP echo, next-hop selection, and
 * the dispatch of exception frames to TCP.
 *
 * Every frame we send leaves through TAS_CMD_TX_FRAME.  Frames for a next
 * hop whose MAC is unknown are parked in the ARP cache and sent when the
 * reply comes in; if it never does they are dropped, as a kernel would.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "packet.h"
#include "sp.h"

#define NET_ARP_RETRY_BATCH 64

static const uint8_t mac_broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t mac_zero[6];

void net_init_routes(struct sp *sp)
{
    const struct sp_config *cfg = &sp->cfg;
    route_table_init(&sp->routes);
    route_add(&sp->routes, cfg->ip, cfg->prefix_len, 0);
    for (unsigned i = 0; i < cfg->n_extra_routes; i++) {
        const struct route *r = &cfg->extra_routes[i];
        int rc = route_add(&sp->routes, r->net, r->prefix_len, r->via);
        if (rc != 0) {
            char net[INET_ADDRSTRLEN], via[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &r->net, net, sizeof(net));
            inet_ntop(AF_INET, &r->via, via, sizeof(via));
            sp_warn("route %s/%u via %s ignored: %s", net, r->prefix_len, via,
                    strerror(-rc));
        }
    }
    if (cfg->gateway && route_add(&sp->routes, 0, 0, cfg->gateway) != 0)
        sp_warn("default gateway ignored: it is not on link");
}

static void net_tx(struct sp *sp, const void *frame, uint16_t len)
{
    svc_post(sp, TAS_CMD_TX_FRAME, TAS_INVALID_FLOW, 0, 0, 0, frame, len);
}

static void net_send_arp(struct sp *sp, uint16_t op, const uint8_t eth_dst[6],
                         const uint8_t tha[6], uint32_t tpa)
{
    uint8_t buf[PKT_MAX_FRAME];
    size_t len = pkt_build_arp(buf, op, eth_dst, sp->svc.mac, sp->cfg.ip, tha, tpa);
    net_tx(sp, buf, (uint16_t)len);
}

static void net_arp_request(struct sp *sp, uint32_t ip)
{
    net_send_arp(sp, TAS_ARP_OP_REQUEST, mac_broadcast, mac_zero, ip);
}

/* Gratuitous ARP so neighbours that knew our address under another MAC
 * (a previous instance) update their caches at once. */
void net_announce(struct sp *sp)
{
    net_send_arp(sp, TAS_ARP_OP_REQUEST, mac_broadcast, mac_zero, sp->cfg.ip);
}

bool net_routable(struct sp *sp, uint32_t dst)
{
    return route_next_hop(&sp->routes, dst) != 0;
}

bool net_lookup_mac(struct sp *sp, uint32_t dst, uint8_t mac[6])
{
    if (dst == sp->cfg.ip) {
        memcpy(mac, sp->svc.mac, 6);
        return true;
    }
    uint32_t hop = route_next_hop(&sp->routes, dst);
    if (!hop)
        return false;
    enum arp_result r = arp_resolve(&sp->arp, hop, sp->now_us, mac);
    if (r == ARP_SEND_REQUEST || r == ARP_RESOLVED_REFRESH)
        net_arp_request(sp, hop);
    return r == ARP_RESOLVED || r == ARP_RESOLVED_REFRESH;
}

void net_send_ip(struct sp *sp, uint32_t dst_ip, uint8_t *frame, uint16_t len)
{
    struct tas_eth_hdr *eth = (void *)frame;
    if (net_lookup_mac(sp, dst_ip, eth->dst)) {
        net_tx(sp, frame, len);
        return;
    }
    uint32_t hop = route_next_hop(&sp->routes, dst_ip);
    if (!hop || !arp_park(&sp->arp, hop, frame, len))
        sp_debug("frame to %08x dropped: next hop unresolved", ntohl(dst_ip));
}

static void net_send_ready(struct sp *sp, struct list_node *ready, const uint8_t mac[6])
{
    struct list_node *n;
    while ((n = list_pop_head(ready)) != NULL) {
        struct arp_pending *p = container_of(n, struct arp_pending, node);
        memcpy(((struct tas_eth_hdr *)p->frame)->dst, mac, 6);
        net_tx(sp, p->frame, p->len);
        free(p);
    }
}

static void net_handle_arp(struct sp *sp, const struct pkt_info *pi)
{
    const struct tas_arp_hdr *a = pi->arp;
    uint32_t spa = a->spa;
    bool for_us = a->tpa == sp->cfg.ip;
    uint8_t sha[6];
    memcpy(sha, a->sha, 6);

    if (spa == sp->cfg.ip) {
        if (memcmp(sha, sp->svc.mac, 6) != 0)
            sp_warn("address conflict: %02x:%02x:%02x:%02x:%02x:%02x claims our IP",
                    sha[0], sha[1], sha[2], sha[3], sha[4], sha[5]);
        return;
    }
    /* Ignore senders that cannot be neighbours: broadcast or multicast MACs,
     * 0.0.0.0 probes, addresses outside every on-link prefix. */
    if ((sha[0] & 1) || spa == 0 || route_next_hop(&sp->routes, spa) != spa)
        return;

    struct list_node ready;
    list_init(&ready);
    arp_learn(&sp->arp, spa, sha, for_us, sp->now_us, &ready);
    net_send_ready(sp, &ready, sha);

    if (for_us && ntohs(a->op) == TAS_ARP_OP_REQUEST)
        net_send_arp(sp, TAS_ARP_OP_REPLY, sha, sha, spa);
}

static void net_handle_icmp(struct sp *sp, const struct pkt_info *pi)
{
    const struct tas_icmp_hdr *h = (const void *)pi->l4;
    if (h->type != TAS_ICMP_ECHO_REQUEST || h->code != 0)
        return;
    if (pi->ip->dst != sp->cfg.ip || (pi->eth->src[0] & 1))
        return;
    uint8_t buf[PKT_MAX_FRAME];
    size_t len = pkt_build_echo_reply(buf, pi, sp->svc.mac);
    if (len)
        net_send_ip(sp, pi->ip->src, buf, (uint16_t)len);
}

void net_handle_frame(struct sp *sp, const uint8_t *frame, uint16_t len)
{
    struct pkt_info pi;
    switch (pkt_parse(frame, len, &pi)) {
    case PKT_ARP:
        net_handle_arp(sp, &pi);
        break;
    case PKT_ICMP:
        net_handle_icmp(sp, &pi);
        break;
    case PKT_TCP:
        if (pi.ip->dst == sp->cfg.ip && !(pi.eth->src[0] & 1))
            tcp_handle_segment(sp, &pi);
        break;
    case PKT_MALFORMED:
        sp_debug("malformed exception frame (%u bytes) dropped", len);
        break;
    case PKT_OTHER:
        break;
    }
}

void net_tick(struct sp *sp)
{
    uint32_t retry[NET_ARP_RETRY_BATCH];
    unsigned n = arp_tick(&sp->arp, sp->now_us, retry, NET_ARP_RETRY_BATCH);
    for (unsigned i = 0; i < n; i++)
        net_arp_request(sp, retry[i]);
}
