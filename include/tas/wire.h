/* wire.h - on-the-wire formats and the pure helpers both daemons need:
 * Ethernet/ARP/IPv4/ICMP/TCP headers, Internet checksums, TCP option parsing
 * and building, and sequence-number arithmetic.
 *
 * Header-only and dependency-free so the fast path (which must not call into
 * the slow path) and the slow path parse packets identically, and so the
 * unit tests and fuzzers can exercise the parsers on their own.  Parsers take
 * a length and never read past it.
 */
#ifndef TAS_WIRE_H
#define TAS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- sequence arithmetic (RFC 793 modulo 2^32) ---- */

static inline bool tas_seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool tas_seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool tas_seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool tas_seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }

/* Is seq in [start, start + len)? */
static inline bool tas_seq_in(uint32_t seq, uint32_t start, uint32_t len)
{
    return seq - start < len;
}

/* ---- headers (all multi-byte fields network order) ---- */

#define TAS_ETH_ALEN      6
#define TAS_ETHERTYPE_IP  0x0800
#define TAS_ETHERTYPE_ARP 0x0806

struct tas_eth_hdr {
    uint8_t  dst[TAS_ETH_ALEN];
    uint8_t  src[TAS_ETH_ALEN];
    uint16_t type;
} __attribute__((packed));

#define TAS_ARP_OP_REQUEST 1
#define TAS_ARP_OP_REPLY   2

struct tas_arp_hdr {
    uint16_t htype;           /* 1: Ethernet */
    uint16_t ptype;           /* 0x0800 */
    uint8_t  hlen;            /* 6 */
    uint8_t  plen;            /* 4 */
    uint16_t op;
    uint8_t  sha[TAS_ETH_ALEN];
    uint32_t spa;
    uint8_t  tha[TAS_ETH_ALEN];
    uint32_t tpa;
} __attribute__((packed));

#define TAS_IPPROTO_ICMP 1
#define TAS_IPPROTO_TCP  6

#define TAS_IP_DF     0x4000
#define TAS_IP_MF     0x2000
#define TAS_IP_OFFMASK 0x1fff
#define TAS_IP_ECN_MASK 0x03
#define TAS_IP_ECN_ECT0 0x02
#define TAS_IP_ECN_CE   0x03

struct tas_ip_hdr {
    uint8_t  ver_ihl;
    uint8_t  tos;
    uint16_t total_len;
    uint16_t id;
    uint16_t frag_off;
    uint8_t  ttl;
    uint8_t  proto;
    uint16_t csum;
    uint32_t src;
    uint32_t dst;
} __attribute__((packed));

#define TAS_ICMP_ECHO_REPLY   0
#define TAS_ICMP_ECHO_REQUEST 8

struct tas_icmp_hdr {
    uint8_t  type;
    uint8_t  code;
    uint16_t csum;
    uint16_t id;
    uint16_t seq;
} __attribute__((packed));

#define TAS_TCP_FIN 0x01
#define TAS_TCP_SYN 0x02
#define TAS_TCP_RST 0x04
#define TAS_TCP_PSH 0x08
#define TAS_TCP_ACK 0x10
#define TAS_TCP_URG 0x20
#define TAS_TCP_ECE 0x40
#define TAS_TCP_CWR 0x80

struct tas_tcp_hdr {
    uint16_t sport;
    uint16_t dport;
    uint32_t seq;
    uint32_t ack;
    uint8_t  doff_rsvd;       /* data offset in 32-bit words, high nibble */
    uint8_t  flags;
    uint16_t win;
    uint16_t csum;
    uint16_t urg;
} __attribute__((packed));

#define TAS_TCP_HDR_MIN 20u
#define TAS_TCP_HDR_MAX 60u

/* ---- checksums ---- */

/* One's-complement sum of len bytes, folded later; seed chains partial sums. */
static inline uint32_t tas_csum_add(uint32_t sum, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len >= 2) {
        sum += (uint32_t)p[0] << 8 | p[1];
        p += 2;
        len -= 2;
    }
    if (len)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

/* Fold a partial sum into the 16-bit checksum field value (network order). */
static inline uint16_t tas_csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    uint16_t host = (uint16_t)~sum;
    return (uint16_t)(host >> 8 | host << 8);
}

static inline uint16_t tas_ip_csum(const struct tas_ip_hdr *ip, size_t hlen)
{
    return tas_csum_fold(tas_csum_add(0, ip, hlen));
}

#define TAS_TCP_PSEUDO_LEN 12

/* The IPv4 pseudo header that the TCP checksum covers (src and dst in
 * network order), for whichever summing routine the caller uses. */
static inline void tas_tcp_pseudo_header(uint8_t out[TAS_TCP_PSEUDO_LEN],
                                         uint32_t src, uint32_t dst,
                                         size_t tcp_len)
{
    memcpy(out, &src, 4);
    memcpy(out + 4, &dst, 4);
    out[8] = 0;
    out[9] = TAS_IPPROTO_TCP;
    out[10] = (uint8_t)(tcp_len >> 8);
    out[11] = (uint8_t)tcp_len;
}

/* TCP checksum over the pseudo header and tcp_len bytes of segment.  On a
 * received segment a result of 0 means the checksum is correct. */
static inline uint16_t tas_tcp_csum(uint32_t src, uint32_t dst,
                                    const void *seg, size_t tcp_len)
{
    uint8_t pseudo[TAS_TCP_PSEUDO_LEN];

    tas_tcp_pseudo_header(pseudo, src, dst, tcp_len);
    return tas_csum_fold(tas_csum_add(tas_csum_add(0, pseudo, sizeof(pseudo)),
                                      seg, tcp_len));
}

/* ---- TCP options ---- */

#define TAS_TCPOPT_EOL       0
#define TAS_TCPOPT_NOP       1
#define TAS_TCPOPT_MSS       2
#define TAS_TCPOPT_WSCALE    3
#define TAS_TCPOPT_SACK_PERM 4
#define TAS_TCPOPT_SACK      5
#define TAS_TCPOPT_TS        8

#define TAS_TCP_WSCALE_MAX 14

struct tas_tcp_opts {
    uint8_t  has_mss : 1, has_wscale : 1, has_sack_perm : 1, has_ts : 1;
    uint16_t mss;
    uint8_t  wscale;          /* clamped to TAS_TCP_WSCALE_MAX */
    uint32_t ts_val;          /* host order */
    uint32_t ts_ecr;
};

/* Parses the options area (len bytes after the fixed header).  Returns 0, or
 * -1 when an option is truncated, has an impossible length, or a known
 * option is repeated with a different meaning (RFC 9293 says such segments
 * may be dropped; we do, so later code never sees ambiguous state). */
static inline int tas_tcp_parse_opts(const uint8_t *p, size_t len,
                                     struct tas_tcp_opts *o)
{
    memset(o, 0, sizeof(*o));
    size_t i = 0;
    while (i < len) {
        uint8_t kind = p[i];
        if (kind == TAS_TCPOPT_EOL)
            break;
        if (kind == TAS_TCPOPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= len)
            return -1;
        uint8_t olen = p[i + 1];
        if (olen < 2 || i + olen > len)
            return -1;
        const uint8_t *v = p + i + 2;
        switch (kind) {
        case TAS_TCPOPT_MSS:
            if (olen != 4 || o->has_mss)
                return -1;
            o->has_mss = 1;
            o->mss = (uint16_t)(v[0] << 8 | v[1]);
            break;
        case TAS_TCPOPT_WSCALE:
            if (olen != 3 || o->has_wscale)
                return -1;
            o->has_wscale = 1;
            o->wscale = v[0] > TAS_TCP_WSCALE_MAX ? TAS_TCP_WSCALE_MAX : v[0];
            break;
        case TAS_TCPOPT_SACK_PERM:
            if (olen != 2 || o->has_sack_perm)
                return -1;
            o->has_sack_perm = 1;
            break;
        case TAS_TCPOPT_TS:
            if (olen != 10 || o->has_ts)
                return -1;
            o->has_ts = 1;
            o->ts_val = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
                        (uint32_t)v[2] << 8 | v[3];
            o->ts_ecr = (uint32_t)v[4] << 24 | (uint32_t)v[5] << 16 |
                        (uint32_t)v[6] << 8 | v[7];
            break;
        default:
            break;            /* unknown options (SACK blocks too) are skipped */
        }
        i += olen;
    }
    return 0;
}

/* Writes the 12-byte NOP,NOP,TS option used on every segment of a flow with
 * timestamps.  Returns bytes written. */
static inline size_t tas_tcp_put_ts(uint8_t *p, uint32_t ts_val, uint32_t ts_ecr)
{
    p[0] = TAS_TCPOPT_NOP;
    p[1] = TAS_TCPOPT_NOP;
    p[2] = TAS_TCPOPT_TS;
    p[3] = 10;
    p[4] = (uint8_t)(ts_val >> 24); p[5] = (uint8_t)(ts_val >> 16);
    p[6] = (uint8_t)(ts_val >> 8);  p[7] = (uint8_t)ts_val;
    p[8] = (uint8_t)(ts_ecr >> 24); p[9] = (uint8_t)(ts_ecr >> 16);
    p[10] = (uint8_t)(ts_ecr >> 8); p[11] = (uint8_t)ts_ecr;
    return 12;
}

/* Writes SYN options (MSS, timestamps when negotiated, window
 * scale) padded to a multiple of 4.  Returns bytes written (at most 20). */
static inline size_t tas_tcp_put_syn_opts(uint8_t *p, uint16_t mss, bool ts,
                                          uint32_t ts_val, uint32_t ts_ecr,
                                          bool wscale, uint8_t shift)
{
    size_t n = 0;
    p[n++] = TAS_TCPOPT_MSS;
    p[n++] = 4;
    p[n++] = (uint8_t)(mss >> 8);
    p[n++] = (uint8_t)mss;
    if (ts)
        n += tas_tcp_put_ts(p + n, ts_val, ts_ecr);
    if (wscale) {
        p[n++] = TAS_TCPOPT_NOP;
        p[n++] = TAS_TCPOPT_WSCALE;
        p[n++] = 3;
        p[n++] = shift;
    }
    return n;
}

#endif /* TAS_WIRE_H */
