/* packet.h - validation and parsing of received frames, and construction of
 * the headers of the segments the fast path sends.
 *
 * Pure functions on byte buffers (no DPDK types), so the whole of header
 * validation is unit-tested on crafted frames.  The parser decides one of
 * three things about a frame: it is a TCP segment for this host (fields
 * parsed out, checksums verified), it is for the slow path (ARP, ICMP,
 * fragments, other IP protocols), or it is dropped for a counted reason.
 * It never reads past the length it is given.
 */
#ifndef FP_PACKET_H
#define FP_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tas/abi.h>
#include <tas/wire.h>

#define FP_HDRS_LEN (sizeof(struct tas_eth_hdr) + sizeof(struct tas_ip_hdr) + \
                     TAS_TCP_HDR_MIN)
#define FP_TS_OPT_LEN 12u

/* This host as the parser needs it. */
struct fp_local {
    uint8_t mac[TAS_ETH_ALEN];
    uint32_t ip;              /* network order */
};

/* What the NIC already checked (from mbuf offload flags). */
#define FP_RXCSUM_IP_GOOD  (1u << 0)
#define FP_RXCSUM_IP_BAD   (1u << 1)
#define FP_RXCSUM_TCP_GOOD (1u << 2)
#define FP_RXCSUM_TCP_BAD  (1u << 3)

/* A validated TCP segment.  Addresses and ports network order, the rest host
 * order. */
struct fp_seg {
    uint32_t remote_ip;
    uint32_t local_ip;
    uint16_t remote_port;
    uint16_t local_port;
    uint32_t seq;
    uint32_t ack;
    uint16_t win;             /* raw window field */
    uint8_t  flags;           /* TAS_TCP_* */
    uint8_t  ce;              /* IP header carried ECN CE */
    uint8_t  has_ts;
    uint32_t ts_val;
    uint32_t ts_ecr;
    const uint8_t *payload;
    uint32_t len;             /* payload bytes */
};

enum fp_verdict {
    FP_PKT_TCP,               /* *seg filled */
    FP_PKT_EXCEPTION,         /* for the slow path */
    FP_PKT_DROP,              /* *reason filled */
};

enum fp_verdict fp_parse_frame(const uint8_t *frame, uint32_t len,
                               const struct fp_local *local, unsigned rxcsum,
                               struct fp_seg *seg, enum tas_drop_reason *reason);

/* Unfolded one's-complement sum of len bytes added to sum; equal, once
 * folded, to tas_csum_add from wire.h but eight bytes a step. */
uint32_t fp_csum_partial(const void *data, size_t len, uint32_t sum);

/* Everything the headers of an outgoing segment depend on. */
struct fp_seg_hdr {
    const uint8_t *src_mac;
    const uint8_t *dst_mac;
    uint32_t src_ip;          /* network order */
    uint32_t dst_ip;
    uint16_t src_port;        /* network order */
    uint16_t dst_port;
    uint32_t seq;
    uint32_t ack;
    uint16_t win;             /* already scaled */
    uint8_t  flags;
    uint8_t  tos;             /* ECN bits */
    uint16_t ip_id;
    bool     has_ts;
    uint32_t ts_val;
    uint32_t ts_ecr;
    uint32_t payload_len;
};

/* Writes Ethernet, IPv4 and TCP headers (with the timestamp option if
 * has_ts) and returns their length.  The IP checksum is filled in; the TCP
 * checksum field is left 0 for fp_tcp_csum_finish or for the NIC. */
size_t fp_build_seg_hdr(uint8_t *buf, const struct fp_seg_hdr *h);

/* The checksum of the TCP pseudo header alone, in the form NICs with TCP
 * checksum offload expect in the checksum field. */
uint16_t fp_tcp_pseudo_csum(uint32_t src_ip, uint32_t dst_ip, uint32_t tcp_len);

/* Computes the TCP checksum of a frame built by fp_build_seg_hdr whose
 * payload follows the headers contiguously. */
void fp_tcp_csum_finish(uint8_t *frame, size_t hdr_len, uint32_t payload_len);

#endif /* FP_PACKET_H */
