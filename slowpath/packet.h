/* packet.h - parsing of exception frames and building of the frames the
 * slow path sends itself (ARP, ICMP echo replies, handshake segments, RSTs
 * and ACKs).  Exception frames come from the network and are hostile: the
 * parser checks every length and checksum before anything reads a field. */
#ifndef SP_PACKET_H
#define SP_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tas/wire.h>

#define PKT_ETH_MIN_FRAME 60u     /* without FCS; shorter frames are padded */
#define PKT_MAX_FRAME     1514u

enum pkt_kind {
    PKT_MALFORMED = -1,
    PKT_OTHER = 0,            /* well-formed but nothing we handle */
    PKT_ARP,
    PKT_ICMP,
    PKT_TCP,
};

struct pkt_info {
    const struct tas_eth_hdr *eth;
    const struct tas_arp_hdr *arp;
    const struct tas_ip_hdr *ip;
    const uint8_t *l4;        /* ICMP or TCP header */
    uint16_t l4_len;          /* L4 header + payload */
    /* TCP, host order */
    uint32_t seq, ack;
    uint16_t win;
    uint8_t flags;
    uint16_t sport, dport;    /* network order */
    const uint8_t *payload;
    uint16_t payload_len;
    struct tas_tcp_opts opts;
};

enum pkt_kind pkt_parse(const uint8_t *frame, size_t len, struct pkt_info *pi);

/* Sequence space a segment occupies: payload plus SYN and FIN. */
static inline uint32_t pkt_seg_len(const struct pkt_info *pi)
{
    return pi->payload_len + !!(pi->flags & TAS_TCP_SYN) + !!(pi->flags & TAS_TCP_FIN);
}

/* Builders write into buf (at least PKT_MAX_FRAME bytes) and return the
 * frame length.  Addresses are network order. */
size_t pkt_build_arp(uint8_t *buf, uint16_t op, const uint8_t eth_dst[6],
                     const uint8_t sha[6], uint32_t spa,
                     const uint8_t tha[6], uint32_t tpa);

/* Echo reply to the request in pi, from our_mac/our_ip; 0 if it does not fit. */
size_t pkt_build_echo_reply(uint8_t *buf, const struct pkt_info *req,
                            const uint8_t our_mac[6]);

struct pkt_tcp {
    const uint8_t *src_mac, *dst_mac;
    uint32_t src_ip, dst_ip;
    uint16_t sport, dport;
    uint32_t seq, ack;        /* host order */
    uint8_t flags;
    uint16_t win;             /* already scaled down */
    bool has_mss, has_wscale, has_ts;
    uint16_t mss;
    uint8_t wscale;
    uint32_t ts_val, ts_ecr;
    const void *payload;
    uint16_t payload_len;
};

size_t pkt_build_tcp(uint8_t *buf, const struct pkt_tcp *spec);

/* The RST RFC 9293 (3.10.7.1) sends in reply to seg, which had no
 * connection; 0 when seg is itself a RST (never answered). */
size_t pkt_build_reset_reply(uint8_t *buf, const struct pkt_info *seg,
                             const uint8_t src_mac[6], const uint8_t dst_mac[6]);

#endif /* SP_PACKET_H */
