/* packet.c - frame validation and segment header construction; see packet.h. */
#include <arpa/inet.h>
#include <string.h>

#include "packet.h"

static const uint8_t broadcast_mac[TAS_ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static uint32_t fold16(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint32_t)sum;
}

static uint64_t add_carry(uint64_t acc, uint64_t word)
{
    acc += word;
    return acc + (acc < word);
}

uint32_t fp_csum_partial(const void *data, size_t len, uint32_t sum)
{
    const uint8_t *p = data;
    uint64_t acc = 0;

    /* Summing native-order words gives the byte-swapped one's-complement
     * sum on a little-endian host; it is swapped back once at the end. */
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        acc = add_carry(acc, w);
    }
    if (len >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        acc = add_carry(acc, w);
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        acc = add_carry(acc, w);
        p += 2;
        len -= 2;
    }
    uint32_t folded;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (len)
        acc = add_carry(acc, p[0]);
    folded = fold16(acc);
    folded = (folded >> 8 | folded << 8) & 0xffff;
#else
    if (len)
        acc = add_carry(acc, (uint64_t)p[0] << 8);
    folded = fold16(acc);
#endif
    return sum + folded;
}

static uint32_t pseudo_sum(uint32_t src_ip, uint32_t dst_ip, uint32_t tcp_len)
{
    uint8_t pseudo[TAS_TCP_PSEUDO_LEN];

    tas_tcp_pseudo_header(pseudo, src_ip, dst_ip, tcp_len);
    return fp_csum_partial(pseudo, sizeof(pseudo), 0);
}

static bool is_nop_nop_ts(const uint8_t *o)
{
    return o[0] == TAS_TCPOPT_NOP && o[1] == TAS_TCPOPT_NOP &&
           o[2] == TAS_TCPOPT_TS && o[3] == 10;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static enum fp_verdict drop(enum tas_drop_reason *reason, enum tas_drop_reason r)
{
    *reason = r;
    return FP_PKT_DROP;
}

/* Options of a segment: the common layout (NOP, NOP, timestamps) directly,
 * anything else through the general parser.  Returns false if malformed. */
static bool parse_tcp_opts(const uint8_t *opts, size_t len, struct fp_seg *seg)
{
    if (len == FP_TS_OPT_LEN && is_nop_nop_ts(opts)) {
        seg->has_ts = 1;
        seg->ts_val = get_be32(opts + 4);
        seg->ts_ecr = get_be32(opts + 8);
        return true;
    }
    struct tas_tcp_opts o;
    if (tas_tcp_parse_opts(opts, len, &o) < 0)
        return false;
    seg->has_ts = o.has_ts;
    seg->ts_val = o.ts_val;
    seg->ts_ecr = o.ts_ecr;
    return true;
}

enum fp_verdict fp_parse_frame(const uint8_t *frame, uint32_t len,
                               const struct fp_local *local, unsigned rxcsum,
                               struct fp_seg *seg, enum tas_drop_reason *reason)
{
    const struct tas_eth_hdr *eth = (const void *)frame;
    if (len < sizeof(*eth))
        return drop(reason, TAS_DROP_RUNT);

    bool to_us = memcmp(eth->dst, local->mac, TAS_ETH_ALEN) == 0;
    uint16_t type = ntohs(eth->type);
    if (type == TAS_ETHERTYPE_ARP) {
        if (to_us || memcmp(eth->dst, broadcast_mac, TAS_ETH_ALEN) == 0)
            return FP_PKT_EXCEPTION;
        return drop(reason, TAS_DROP_NOT_FOR_US);
    }
    if (type != TAS_ETHERTYPE_IP)
        return drop(reason, TAS_DROP_NOT_IPV4);
    if (!to_us)
        return drop(reason, TAS_DROP_NOT_FOR_US);

    const struct tas_ip_hdr *ip = (const void *)(frame + sizeof(*eth));
    uint32_t ip_room = len - sizeof(*eth);
    if (ip_room < sizeof(*ip))
        return drop(reason, TAS_DROP_RUNT);
    uint32_t ihl = (ip->ver_ihl & 0x0f) * 4u;
    uint32_t total = ntohs(ip->total_len);
    if ((ip->ver_ihl >> 4) != 4 || ihl < sizeof(*ip))
        return drop(reason, TAS_DROP_IP_HDR);
    if (ihl > ip_room)
        return drop(reason, TAS_DROP_RUNT);
    if (total < ihl || total > ip_room)
        return drop(reason, TAS_DROP_IP_HDR);
    if (!(rxcsum & FP_RXCSUM_IP_GOOD) &&
        ((rxcsum & FP_RXCSUM_IP_BAD) || fold16(fp_csum_partial(ip, ihl, 0)) != 0xffff))
        return drop(reason, TAS_DROP_IP_CSUM);
    if (ip->dst != local->ip)
        return drop(reason, TAS_DROP_NOT_FOR_US);
    if ((ntohs(ip->frag_off) & (TAS_IP_MF | TAS_IP_OFFMASK)) ||
        ip->proto != TAS_IPPROTO_TCP)
        return FP_PKT_EXCEPTION;

    const uint8_t *tcp_start = (const uint8_t *)ip + ihl;
    const struct tas_tcp_hdr *tcp = (const void *)tcp_start;
    uint32_t tcp_len = total - ihl;
    if (tcp_len < TAS_TCP_HDR_MIN)
        return drop(reason, TAS_DROP_TCP_HDR);
    uint32_t doff = (tcp->doff_rsvd >> 4) * 4u;
    if (doff < TAS_TCP_HDR_MIN || doff > tcp_len)
        return drop(reason, TAS_DROP_TCP_HDR);
    if (!(rxcsum & FP_RXCSUM_TCP_GOOD) &&
        ((rxcsum & FP_RXCSUM_TCP_BAD) ||
         fold16(fp_csum_partial(tcp_start, tcp_len,
                                pseudo_sum(ip->src, ip->dst, tcp_len))) != 0xffff))
        return drop(reason, TAS_DROP_TCP_CSUM);

    seg->has_ts = 0;
    if (doff > TAS_TCP_HDR_MIN &&
        !parse_tcp_opts(tcp_start + TAS_TCP_HDR_MIN, doff - TAS_TCP_HDR_MIN, seg))
        return drop(reason, TAS_DROP_TCP_HDR);

    seg->remote_ip = ip->src;
    seg->local_ip = ip->dst;
    seg->remote_port = tcp->sport;
    seg->local_port = tcp->dport;
    seg->seq = ntohl(tcp->seq);
    seg->ack = ntohl(tcp->ack);
    seg->win = ntohs(tcp->win);
    seg->flags = tcp->flags;
    seg->ce = (ip->tos & TAS_IP_ECN_MASK) == TAS_IP_ECN_CE;
    seg->payload = tcp_start + doff;
    seg->len = tcp_len - doff;
    return FP_PKT_TCP;
}

size_t fp_build_seg_hdr(uint8_t *buf, const struct fp_seg_hdr *h)
{
    struct tas_eth_hdr *eth = (void *)buf;
    struct tas_ip_hdr *ip = (void *)(eth + 1);
    struct tas_tcp_hdr *tcp = (void *)(ip + 1);
    uint32_t tcp_hdr_len = TAS_TCP_HDR_MIN + (h->has_ts ? FP_TS_OPT_LEN : 0);

    memcpy(eth->dst, h->dst_mac, TAS_ETH_ALEN);
    memcpy(eth->src, h->src_mac, TAS_ETH_ALEN);
    eth->type = htons(TAS_ETHERTYPE_IP);

    ip->ver_ihl = 0x45;
    ip->tos = h->tos;
    ip->total_len = htons((uint16_t)(sizeof(*ip) + tcp_hdr_len + h->payload_len));
    ip->id = htons(h->ip_id);
    ip->frag_off = htons(TAS_IP_DF);
    ip->ttl = 64;
    ip->proto = TAS_IPPROTO_TCP;
    ip->csum = 0;
    ip->src = h->src_ip;
    ip->dst = h->dst_ip;
    ip->csum = htons((uint16_t)~fold16(fp_csum_partial(ip, sizeof(*ip), 0)));

    tcp->sport = h->src_port;
    tcp->dport = h->dst_port;
    tcp->seq = htonl(h->seq);
    tcp->ack = htonl(h->ack);
    tcp->doff_rsvd = (uint8_t)((tcp_hdr_len / 4) << 4);
    tcp->flags = h->flags;
    tcp->win = htons(h->win);
    tcp->csum = 0;
    tcp->urg = 0;
    if (h->has_ts)
        tas_tcp_put_ts((uint8_t *)(tcp + 1), h->ts_val, h->ts_ecr);
    return sizeof(*eth) + sizeof(*ip) + tcp_hdr_len;
}

uint16_t fp_tcp_pseudo_csum(uint32_t src_ip, uint32_t dst_ip, uint32_t tcp_len)
{
    return htons((uint16_t)fold16(pseudo_sum(src_ip, dst_ip, tcp_len)));
}

void fp_tcp_csum_finish(uint8_t *frame, size_t hdr_len, uint32_t payload_len)
{
    struct tas_ip_hdr *ip = (void *)(frame + sizeof(struct tas_eth_hdr));
    uint8_t *tcp_start = (uint8_t *)(ip + 1);
    struct tas_tcp_hdr *tcp = (void *)tcp_start;
    uint32_t tcp_len = (uint32_t)(hdr_len - sizeof(struct tas_eth_hdr) - sizeof(*ip)) +
                       payload_len;

    tcp->csum = 0;
    uint32_t sum = fp_csum_partial(tcp_start, tcp_len,
                                   pseudo_sum(ip->src, ip->dst, tcp_len));
    tcp->csum = htons((uint16_t)~fold16(sum));
}
