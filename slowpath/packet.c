/* packet.c - frame parser and builders.  Everything here is pure (no I/O)
 * so it can be fuzzed and unit tested on its own. */
#include <arpa/inet.h>
#include <string.h>

#include "packet.h"

static enum pkt_kind parse_arp(const uint8_t *p, size_t len, struct pkt_info *pi)
{
    if (len < sizeof(struct tas_arp_hdr))
        return PKT_MALFORMED;
    const struct tas_arp_hdr *a = (const void *)p;
    if (ntohs(a->htype) != 1 || ntohs(a->ptype) != TAS_ETHERTYPE_IP ||
        a->hlen != 6 || a->plen != 4)
        return PKT_OTHER;
    pi->arp = a;
    return PKT_ARP;
}

static enum pkt_kind parse_tcp(const uint8_t *p, size_t len, struct pkt_info *pi)
{
    if (len < TAS_TCP_HDR_MIN)
        return PKT_MALFORMED;
    const struct tas_tcp_hdr *t = (const void *)p;
    size_t hlen = (size_t)(t->doff_rsvd >> 4) * 4;
    if (hlen < TAS_TCP_HDR_MIN || hlen > len)
        return PKT_MALFORMED;
    if (tas_tcp_csum(pi->ip->src, pi->ip->dst, p, len) != 0)
        return PKT_MALFORMED;
    if (tas_tcp_parse_opts(p + TAS_TCP_HDR_MIN, hlen - TAS_TCP_HDR_MIN, &pi->opts) != 0)
        return PKT_MALFORMED;
    pi->seq = ntohl(t->seq);
    pi->ack = ntohl(t->ack);
    pi->win = ntohs(t->win);
    pi->flags = t->flags;
    pi->sport = t->sport;
    pi->dport = t->dport;
    pi->payload = p + hlen;
    pi->payload_len = (uint16_t)(len - hlen);
    return PKT_TCP;
}

static enum pkt_kind parse_ip(const uint8_t *p, size_t len, struct pkt_info *pi)
{
    if (len < sizeof(struct tas_ip_hdr))
        return PKT_MALFORMED;
    const struct tas_ip_hdr *ip = (const void *)p;
    size_t hlen = (size_t)(ip->ver_ihl & 0x0f) * 4;
    size_t total = ntohs(ip->total_len);
    if ((ip->ver_ihl >> 4) != 4 || hlen < sizeof(*ip) || total < hlen || total > len)
        return PKT_MALFORMED;
    if (tas_ip_csum(ip, hlen) != 0)
        return PKT_MALFORMED;
    /* Fragments are not reassembled: nothing we handle needs them. */
    if (ntohs(ip->frag_off) & (TAS_IP_MF | TAS_IP_OFFMASK))
        return PKT_OTHER;
    pi->ip = ip;
    pi->l4 = p + hlen;
    pi->l4_len = (uint16_t)(total - hlen);
    switch (ip->proto) {
    case TAS_IPPROTO_ICMP:
        if (pi->l4_len < sizeof(struct tas_icmp_hdr))
            return PKT_MALFORMED;
        if (tas_csum_fold(tas_csum_add(0, pi->l4, pi->l4_len)) != 0)
            return PKT_MALFORMED;
        return PKT_ICMP;
    case TAS_IPPROTO_TCP:
        return parse_tcp(pi->l4, pi->l4_len, pi);
    default:
        return PKT_OTHER;
    }
}

enum pkt_kind pkt_parse(const uint8_t *frame, size_t len, struct pkt_info *pi)
{
    memset(pi, 0, sizeof(*pi));
    if (len < sizeof(struct tas_eth_hdr))
        return PKT_MALFORMED;
    pi->eth = (const void *)frame;
    const uint8_t *l3 = frame + sizeof(struct tas_eth_hdr);
    size_t l3_len = len - sizeof(struct tas_eth_hdr);
    switch (ntohs(pi->eth->type)) {
    case TAS_ETHERTYPE_ARP:
        return parse_arp(l3, l3_len, pi);
    case TAS_ETHERTYPE_IP:
        return parse_ip(l3, l3_len, pi);
    default:
        return PKT_OTHER;
    }
}

static size_t pad_frame(uint8_t *buf, size_t len)
{
    if (len < PKT_ETH_MIN_FRAME) {
        memset(buf + len, 0, PKT_ETH_MIN_FRAME - len);
        len = PKT_ETH_MIN_FRAME;
    }
    return len;
}

static void put_eth(uint8_t *buf, const uint8_t dst[6], const uint8_t src[6],
                    uint16_t type)
{
    struct tas_eth_hdr *eth = (void *)buf;
    memcpy(eth->dst, dst, 6);
    memcpy(eth->src, src, 6);
    eth->type = htons(type);
}

static void put_ip(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t proto,
                   size_t l4_len)
{
    struct tas_ip_hdr *ip = (void *)buf;
    ip->ver_ihl = 0x45;
    ip->tos = 0;
    ip->total_len = htons((uint16_t)(sizeof(*ip) + l4_len));
    ip->id = 0;
    ip->frag_off = htons(TAS_IP_DF);
    ip->ttl = 64;
    ip->proto = proto;
    ip->csum = 0;
    ip->src = src;
    ip->dst = dst;
    ip->csum = tas_ip_csum(ip, sizeof(*ip));
}

size_t pkt_build_arp(uint8_t *buf, uint16_t op, const uint8_t eth_dst[6],
                     const uint8_t sha[6], uint32_t spa,
                     const uint8_t tha[6], uint32_t tpa)
{
    put_eth(buf, eth_dst, sha, TAS_ETHERTYPE_ARP);
    struct tas_arp_hdr *a = (void *)(buf + sizeof(struct tas_eth_hdr));
    a->htype = htons(1);
    a->ptype = htons(TAS_ETHERTYPE_IP);
    a->hlen = 6;
    a->plen = 4;
    a->op = htons(op);
    memcpy(a->sha, sha, 6);
    a->spa = spa;
    memcpy(a->tha, tha, 6);
    a->tpa = tpa;
    return pad_frame(buf, sizeof(struct tas_eth_hdr) + sizeof(*a));
}

size_t pkt_build_echo_reply(uint8_t *buf, const struct pkt_info *req,
                            const uint8_t our_mac[6])
{
    const size_t hdrs = sizeof(struct tas_eth_hdr) + sizeof(struct tas_ip_hdr);
    if (hdrs + req->l4_len > PKT_MAX_FRAME)
        return 0;
    put_eth(buf, req->eth->src, our_mac, TAS_ETHERTYPE_IP);
    put_ip(buf + sizeof(struct tas_eth_hdr), req->ip->dst, req->ip->src,
           TAS_IPPROTO_ICMP, req->l4_len);
    uint8_t *icmp = buf + hdrs;
    memcpy(icmp, req->l4, req->l4_len);
    struct tas_icmp_hdr *h = (void *)icmp;
    h->type = TAS_ICMP_ECHO_REPLY;
    h->code = 0;
    h->csum = 0;
    h->csum = tas_csum_fold(tas_csum_add(0, icmp, req->l4_len));
    return pad_frame(buf, hdrs + req->l4_len);
}

size_t pkt_build_tcp(uint8_t *buf, const struct pkt_tcp *s)
{
    const size_t l3_off = sizeof(struct tas_eth_hdr);
    const size_t l4_off = l3_off + sizeof(struct tas_ip_hdr);
    uint8_t *tcp = buf + l4_off;
    uint8_t *opt = tcp + TAS_TCP_HDR_MIN;
    size_t olen;

    if (s->has_mss)
        olen = tas_tcp_put_syn_opts(opt, s->mss, s->has_ts, s->ts_val, s->ts_ecr,
                                    s->has_wscale, s->wscale);
    else if (s->has_ts)
        olen = tas_tcp_put_ts(opt, s->ts_val, s->ts_ecr);
    else
        olen = 0;
    size_t hlen = TAS_TCP_HDR_MIN + olen;
    if (l4_off + hlen + s->payload_len > PKT_MAX_FRAME)
        return 0;
    if (s->payload_len)
        memcpy(tcp + hlen, s->payload, s->payload_len);

    struct tas_tcp_hdr *t = (void *)tcp;
    t->sport = s->sport;
    t->dport = s->dport;
    t->seq = htonl(s->seq);
    t->ack = htonl(s->ack);
    t->doff_rsvd = (uint8_t)((hlen / 4) << 4);
    t->flags = s->flags;
    t->win = htons(s->win);
    t->csum = 0;
    t->urg = 0;
    t->csum = tas_tcp_csum(s->src_ip, s->dst_ip, tcp, hlen + s->payload_len);

    put_eth(buf, s->dst_mac, s->src_mac, TAS_ETHERTYPE_IP);
    put_ip(buf + l3_off, s->src_ip, s->dst_ip, TAS_IPPROTO_TCP, hlen + s->payload_len);
    return pad_frame(buf, l4_off + hlen + s->payload_len);
}

size_t pkt_build_reset_reply(uint8_t *buf, const struct pkt_info *seg,
                             const uint8_t src_mac[6], const uint8_t dst_mac[6])
{
    if (seg->flags & TAS_TCP_RST)
        return 0;
    struct pkt_tcp r = {
        .src_mac = src_mac, .dst_mac = dst_mac,
        .src_ip = seg->ip->dst, .dst_ip = seg->ip->src,
        .sport = seg->dport, .dport = seg->sport,
    };
    if (seg->flags & TAS_TCP_ACK) {
        r.seq = seg->ack;
        r.flags = TAS_TCP_RST;
    } else {
        r.seq = 0;
        r.ack = seg->seq + pkt_seg_len(seg);
        r.flags = TAS_TCP_RST | TAS_TCP_ACK;
    }
    return pkt_build_tcp(buf, &r);
}
