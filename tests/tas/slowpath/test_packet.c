/* Unit tests for the frame parser and builders (slowpath/packet.c) and the
 * option parser (slowpath/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "config.h"
#include "packet.h"

static const uint8_t mac_us[6] = { 2, 0, 0, 0, 0, 1 };
static const uint8_t mac_peer[6] = { 2, 0, 0, 0, 0, 2 };
#define IP_US   htonl(0x0ae79601)
#define IP_PEER htonl(0x0ae79602)

static size_t syn_frame(uint8_t *buf, uint8_t flags)
{
    struct pkt_tcp s = {
        .src_mac = mac_peer, .dst_mac = mac_us, .src_ip = IP_PEER, .dst_ip = IP_US,
        .sport = htons(40000), .dport = htons(80), .seq = 1000, .ack = 0,
        .flags = flags, .win = 65535, .has_mss = true, .mss = 1460,
        .has_wscale = true, .wscale = 7, .has_ts = true, .ts_val = 77, .ts_ecr = 0,
    };
    return pkt_build_tcp(buf, &s);
}

static void built_syn_parses_back(void **state)
{
    (void)state;
    uint8_t buf[PKT_MAX_FRAME];
    size_t len = syn_frame(buf, TAS_TCP_SYN);
    struct pkt_info pi;
    assert_int_equal(pkt_parse(buf, len, &pi), PKT_TCP);
    assert_int_equal(pi.seq, 1000);
    assert_int_equal(pi.flags, TAS_TCP_SYN);
    assert_int_equal(pi.win, 65535);
    assert_int_equal(pi.payload_len, 0);
    assert_true(pi.opts.has_mss && pi.opts.has_wscale && pi.opts.has_ts);
    assert_int_equal(pi.opts.mss, 1460);
    assert_int_equal(pi.opts.wscale, 7);
    assert_int_equal(pi.opts.ts_val, 77);
    assert_int_equal(pkt_seg_len(&pi), 1);
}

static void corrupt_frames_are_refused(void **state)
{
    (void)state;
    uint8_t buf[PKT_MAX_FRAME];
    struct pkt_info pi;
    size_t len = syn_frame(buf, TAS_TCP_SYN);
    size_t l4 = sizeof(struct tas_eth_hdr) + sizeof(struct tas_ip_hdr);

    buf[l4 + 4] ^= 1;                           /* TCP checksum */
    assert_int_equal(pkt_parse(buf, len, &pi), PKT_MALFORMED);
    buf[l4 + 4] ^= 1;
    buf[sizeof(struct tas_eth_hdr) + 8] ^= 1;   /* IP checksum (TTL) */
    assert_int_equal(pkt_parse(buf, len, &pi), PKT_MALFORMED);
    buf[sizeof(struct tas_eth_hdr) + 8] ^= 1;
    for (size_t cut = 0; cut < len; cut++)      /* every truncation */
        assert_int_equal(pkt_parse(buf, cut, &pi), PKT_MALFORMED);
    assert_int_equal(pkt_parse(buf, len, &pi), PKT_TCP);
}

static void data_offset_beyond_segment_is_refused(void **state)
{
    (void)state;
    uint8_t buf[PKT_MAX_FRAME];
    struct pkt_info pi;
    size_t len = syn_frame(buf, TAS_TCP_SYN);
    size_t l4 = sizeof(struct tas_eth_hdr) + sizeof(struct tas_ip_hdr);
    buf[l4 + 12] = 0xf0;                        /* 60-byte header, 40 present */
    assert_int_equal(pkt_parse(buf, len, &pi), PKT_MALFORMED);
    buf[l4 + 12] = 0x40;                        /* shorter than the minimum */
    assert_int_equal(pkt_parse(buf, len, &pi), PKT_MALFORMED);
}

static void reset_replies_follow_rfc9293(void **state)
{
    (void)state;
    uint8_t in[PKT_MAX_FRAME], out[PKT_MAX_FRAME];
    struct pkt_info pi, rst;

    /* To a SYN: RST|ACK, seq 0, ack = seq + 1 */
    size_t len = syn_frame(in, TAS_TCP_SYN);
    pkt_parse(in, len, &pi);
    len = pkt_build_reset_reply(out, &pi, mac_us, mac_peer);
    assert_int_equal(pkt_parse(out, len, &rst), PKT_TCP);
    assert_int_equal(rst.flags, TAS_TCP_RST | TAS_TCP_ACK);
    assert_int_equal(rst.seq, 0);
    assert_int_equal(rst.ack, 1001);
    assert_int_equal(rst.sport, htons(80));
    assert_int_equal(rst.ip->dst, IP_PEER);

    /* To an ACK: RST with seq = their ack */
    struct pkt_tcp s = {
        .src_mac = mac_peer, .dst_mac = mac_us, .src_ip = IP_PEER, .dst_ip = IP_US,
        .sport = htons(40000), .dport = htons(80), .seq = 5, .ack = 999,
        .flags = TAS_TCP_ACK, .win = 100,
    };
    len = pkt_build_tcp(in, &s);
    pkt_parse(in, len, &pi);
    len = pkt_build_reset_reply(out, &pi, mac_us, mac_peer);
    pkt_parse(out, len, &rst);
    assert_int_equal(rst.flags, TAS_TCP_RST);
    assert_int_equal(rst.seq, 999);

    /* Never to a RST */
    s.flags = TAS_TCP_RST;
    len = pkt_build_tcp(in, &s);
    pkt_parse(in, len, &pi);
    assert_int_equal(pkt_build_reset_reply(out, &pi, mac_us, mac_peer), 0);
}

static void arp_and_echo(void **state)
{
    (void)state;
    uint8_t buf[PKT_MAX_FRAME], out[PKT_MAX_FRAME];
    static const uint8_t zero[6];
    struct pkt_info pi, rep;

    size_t len = pkt_build_arp(buf, TAS_ARP_OP_REQUEST, mac_us, mac_peer, IP_PEER, zero, IP_US);
    assert_int_equal(len, PKT_ETH_MIN_FRAME);
    assert_int_equal(pkt_parse(buf, len, &pi), PKT_ARP);
    assert_int_equal(pi.arp->tpa, IP_US);
    assert_int_equal(ntohs(pi.arp->op), TAS_ARP_OP_REQUEST);

    /* An echo request with 32 bytes of data */
    uint8_t *ip = buf + sizeof(struct tas_eth_hdr);
    uint8_t *icmp = ip + sizeof(struct tas_ip_hdr);
    memset(buf, 0, sizeof(buf));
    memcpy(buf, mac_us, 6);
    memcpy(buf + 6, mac_peer, 6);
    buf[12] = 0x08;
    struct tas_ip_hdr *h = (void *)ip;
    h->ver_ihl = 0x45;
    h->total_len = htons(20 + 8 + 32);
    h->ttl = 64;
    h->proto = TAS_IPPROTO_ICMP;
    h->src = IP_PEER;
    h->dst = IP_US;
    h->csum = tas_ip_csum(h, 20);
    icmp[0] = TAS_ICMP_ECHO_REQUEST;
    icmp[4] = 0x12;
    for (int i = 0; i < 32; i++)
        icmp[8 + i] = (uint8_t)i;
    uint16_t c = tas_csum_fold(tas_csum_add(0, icmp, 40));
    memcpy(icmp + 2, &c, 2);
    assert_int_equal(pkt_parse(buf, 14 + 60, &pi), PKT_ICMP);

    len = pkt_build_echo_reply(out, &pi, mac_us);
    assert_int_equal(pkt_parse(out, len, &rep), PKT_ICMP);
    assert_int_equal(rep.l4[0], TAS_ICMP_ECHO_REPLY);
    assert_int_equal(rep.ip->dst, IP_PEER);
    assert_memory_equal(rep.eth->dst, mac_peer, 6);
    assert_memory_equal(rep.l4 + 4, icmp + 4, 36);
}

static int parse(const char *line, struct sp_config *cfg)
{
    char buf[512], *argv[32], err[256];
    int argc = 0;
    snprintf(buf, sizeof(buf), "tas-slowpath %s", line);
    for (char *tok = strtok(buf, " "); tok && argc < 31; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    return sp_config_parse(cfg, argc, argv, err, sizeof(err));
}

static void options(void **state)
{
    (void)state;
    static struct sp_config cfg;
    assert_int_equal(parse("--ip 10.231.150.1/24 --rx-buf 128K --cc dctcp "
                           "--route 10.9.0.0/16 via 10.231.150.254 --time-wait-ms 1000",
                           &cfg), 0);
    assert_int_equal(cfg.ip, htonl(0x0ae79601));
    assert_int_equal(cfg.prefix_len, 24);
    assert_int_equal(cfg.rx_buf, 128 * 1024);
    assert_int_equal(cfg.tx_buf, 64 * 1024);
    assert_int_equal(cfg.cc, CC_DCTCP);
    assert_int_equal(cfg.n_extra_routes, 1);
    assert_int_equal(cfg.extra_routes[0].via, htonl(0x0ae796fe));
    assert_int_equal(cfg.time_wait_ms, 1000);

    assert_int_equal(parse("--rx-buf 64K", &cfg), -1);                 /* no --ip */
    assert_int_equal(parse("--ip 10.0.0.1", &cfg), -1);                /* no prefix */
    assert_int_equal(parse("--ip 10.0.0.1/24 --rx-buf 100000", &cfg), -1);
    assert_int_equal(parse("--ip 10.0.0.1/24 --app-mem 8G", &cfg), -1);
    assert_int_equal(parse("--ip 10.0.0.1/24 --cc vegas", &cfg), -1);
    assert_int_equal(parse("--ip 10.0.0.1/24 --bogus", &cfg), -1);
    assert_int_equal(parse("--ip 10.0.0.1/24 --route 10.9.0.0/16", &cfg), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(built_syn_parses_back),
        cmocka_unit_test(corrupt_frames_are_refused),
        cmocka_unit_test(data_offset_beyond_segment_is_refused),
        cmocka_unit_test(reset_replies_follow_rfc9293),
        cmocka_unit_test(arp_and_echo),
        cmocka_unit_test(options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
