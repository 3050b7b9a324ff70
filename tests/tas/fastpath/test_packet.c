/* Unit tests for frame validation, checksums and segment header building. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "packet.h"

static const uint8_t our_mac[6] = { 2, 0, 0, 0, 0, 1 };
static const uint8_t peer_mac[6] = { 2, 0, 0, 0, 0, 2 };
static struct fp_local local;
static uint8_t frame[2048];

/* A valid segment from the peer to us with the given payload. */
static uint32_t make_segment(uint8_t flags, bool ts, const char *payload)
{
    uint32_t len = (uint32_t)strlen(payload);
    struct fp_seg_hdr h = {
        .src_mac = peer_mac, .dst_mac = our_mac,
        .src_ip = htonl(0x0ae79302), .dst_ip = local.ip,
        .src_port = htons(5001), .dst_port = htons(40000),
        .seq = 1000, .ack = 2000, .win = 512, .flags = flags,
        .has_ts = ts, .ts_val = 77, .ts_ecr = 66, .payload_len = len,
    };
    size_t hl = fp_build_seg_hdr(frame, &h);
    memcpy(frame + hl, payload, len);
    fp_tcp_csum_finish(frame, hl, len);
    return (uint32_t)hl + len;
}

static struct tas_ip_hdr *ip_of(void)
{
    return (struct tas_ip_hdr *)(frame + sizeof(struct tas_eth_hdr));
}

static struct tas_tcp_hdr *tcp_of(void)
{
    return (struct tas_tcp_hdr *)(ip_of() + 1);
}

static enum tas_drop_reason parse_drop(uint32_t len, unsigned csum)
{
    struct fp_seg seg;
    enum tas_drop_reason r = TAS_DROP__COUNT;
    assert_int_equal(fp_parse_frame(frame, len, &local, csum, &seg, &r), FP_PKT_DROP);
    return r;
}

static void fix_ip_csum(void)
{
    ip_of()->csum = 0;
    ip_of()->csum = tas_ip_csum(ip_of(), sizeof(struct tas_ip_hdr));
}

static int setup(void **state)
{
    (void)state;
    memcpy(local.mac, our_mac, 6);
    local.ip = htonl(0x0ae79301);
    return 0;
}

static void test_roundtrip_with_timestamps(void **state)
{
    (void)state;
    uint32_t len = make_segment(TAS_TCP_ACK | TAS_TCP_PSH, true, "hello");
    struct fp_seg seg;
    enum tas_drop_reason r;
    /* our own checksum agrees with the reference one in wire.h */
    assert_int_equal(tas_tcp_csum(ip_of()->src, ip_of()->dst, tcp_of(),
                                  len - sizeof(struct tas_eth_hdr) - 20), 0);
    assert_int_equal(fp_parse_frame(frame, len, &local, 0, &seg, &r), FP_PKT_TCP);
    assert_int_equal(seg.seq, 1000);
    assert_int_equal(seg.ack, 2000);
    assert_int_equal(seg.win, 512);
    assert_int_equal(seg.flags, TAS_TCP_ACK | TAS_TCP_PSH);
    assert_int_equal(seg.remote_port, htons(5001));
    assert_int_equal(seg.local_port, htons(40000));
    assert_true(seg.has_ts);
    assert_int_equal(seg.ts_val, 77);
    assert_int_equal(seg.ts_ecr, 66);
    assert_int_equal(seg.len, 5);
    assert_memory_equal(seg.payload, "hello", 5);
    assert_false(seg.ce);
}

static void test_padding_after_ip_total_is_ignored(void **state)
{
    (void)state;
    uint32_t len = make_segment(TAS_TCP_ACK, false, "");
    struct fp_seg seg;
    enum tas_drop_reason r;
    memset(frame + len, 0xee, 6);     /* Ethernet minimum-size padding */
    assert_int_equal(fp_parse_frame(frame, len + 6, &local, 0, &seg, &r), FP_PKT_TCP);
    assert_int_equal(seg.len, 0);
    assert_false(seg.has_ts);
}

static void test_general_options(void **state)
{
    (void)state;
    /* MSS option then a timestamp not in the NOP,NOP,TS layout */
    uint32_t len = make_segment(TAS_TCP_ACK, true, "x");
    uint8_t *opt = (uint8_t *)(tcp_of() + 1);
    uint8_t ts[10];
    memcpy(ts, opt + 2, 10);
    opt[0] = TAS_TCPOPT_TS;
    memcpy(opt, ts, 10);
    opt[10] = TAS_TCPOPT_NOP;
    opt[11] = TAS_TCPOPT_EOL;
    fp_tcp_csum_finish(frame, len - 1, 1);
    struct fp_seg seg;
    enum tas_drop_reason r;
    assert_int_equal(fp_parse_frame(frame, len, &local, 0, &seg, &r), FP_PKT_TCP);
    assert_true(seg.has_ts);
    assert_int_equal(seg.ts_val, 77);
    /* a truncated option is malformed */
    opt[0] = TAS_TCPOPT_MSS;
    opt[1] = 40;
    fp_tcp_csum_finish(frame, len - 1, 1);
    assert_int_equal(parse_drop(len, 0), TAS_DROP_TCP_HDR);
}

static void test_checksums(void **state)
{
    (void)state;
    uint32_t len = make_segment(TAS_TCP_ACK, false, "data!");
    frame[len - 1] ^= 1;
    assert_int_equal(parse_drop(len, 0), TAS_DROP_TCP_CSUM);
    /* the NIC vouching for it skips our check; the NIC's verdict counts */
    struct fp_seg seg;
    enum tas_drop_reason r;
    assert_int_equal(fp_parse_frame(frame, len, &local, FP_RXCSUM_TCP_GOOD, &seg, &r),
                     FP_PKT_TCP);
    len = make_segment(TAS_TCP_ACK, false, "data!");
    assert_int_equal(parse_drop(len, FP_RXCSUM_TCP_BAD), TAS_DROP_TCP_CSUM);
    ip_of()->ttl--;
    assert_int_equal(parse_drop(len, 0), TAS_DROP_IP_CSUM);
    assert_int_equal(parse_drop(len, FP_RXCSUM_IP_BAD), TAS_DROP_IP_CSUM);
}

static void test_csum_partial_matches_reference(void **state)
{
    (void)state;
    uint8_t buf[300];
    for (unsigned i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 37 + 11);
    for (unsigned off = 0; off < 8; off += 2)
        for (unsigned n = 0; n < 260; n++)
            assert_int_equal(tas_csum_fold(fp_csum_partial(buf + off, n, 0x1234)),
                             tas_csum_fold(tas_csum_add(0x1234, buf + off, n)));
}

static void test_malformed_headers(void **state)
{
    (void)state;
    uint32_t len = make_segment(TAS_TCP_ACK, false, "abc");
    assert_int_equal(parse_drop(10, 0), TAS_DROP_RUNT);
    assert_int_equal(parse_drop(14 + 19, 0), TAS_DROP_RUNT);
    /* total length beyond the frame */
    ip_of()->total_len = htons((uint16_t)(len - 14 + 1));
    fix_ip_csum();
    assert_int_equal(parse_drop(len, 0), TAS_DROP_IP_HDR);
    /* IHL below 5 */
    make_segment(TAS_TCP_ACK, false, "abc");
    ip_of()->ver_ihl = 0x44;
    fix_ip_csum();
    assert_int_equal(parse_drop(len, 0), TAS_DROP_IP_HDR);
    /* IPv6 version nibble */
    make_segment(TAS_TCP_ACK, false, "abc");
    ip_of()->ver_ihl = 0x65;
    assert_int_equal(parse_drop(len, 0), TAS_DROP_IP_HDR);
    /* TCP data offset past the segment, and below 5 */
    make_segment(TAS_TCP_ACK, false, "abc");
    tcp_of()->doff_rsvd = 0xf0;
    assert_int_equal(parse_drop(len, FP_RXCSUM_TCP_GOOD), TAS_DROP_TCP_HDR);
    tcp_of()->doff_rsvd = 0x40;
    assert_int_equal(parse_drop(len, FP_RXCSUM_TCP_GOOD), TAS_DROP_TCP_HDR);
}

static void test_not_for_us(void **state)
{
    (void)state;
    uint32_t len = make_segment(TAS_TCP_ACK, false, "abc");
    frame[0] ^= 0x10;
    assert_int_equal(parse_drop(len, 0), TAS_DROP_NOT_FOR_US);
    make_segment(TAS_TCP_ACK, false, "abc");
    ip_of()->dst = htonl(0x0ae79399);
    fix_ip_csum();
    assert_int_equal(parse_drop(len, FP_RXCSUM_TCP_GOOD), TAS_DROP_NOT_FOR_US);
    make_segment(TAS_TCP_ACK, false, "abc");
    frame[12] = 0x86;
    frame[13] = 0xdd;
    assert_int_equal(parse_drop(len, 0), TAS_DROP_NOT_IPV4);
}

static void test_exceptions(void **state)
{
    (void)state;
    struct fp_seg seg;
    enum tas_drop_reason r;
    /* ARP broadcast and unicast to us go up; to someone else, dropped */
    memset(frame, 0xff, 6);
    memcpy(frame + 6, peer_mac, 6);
    frame[12] = 0x08;
    frame[13] = 0x06;
    assert_int_equal(fp_parse_frame(frame, 42, &local, 0, &seg, &r), FP_PKT_EXCEPTION);
    memcpy(frame, our_mac, 6);
    assert_int_equal(fp_parse_frame(frame, 42, &local, 0, &seg, &r), FP_PKT_EXCEPTION);
    frame[0] = 0x04;
    assert_int_equal(parse_drop(42, 0), TAS_DROP_NOT_FOR_US);

    uint32_t len = make_segment(TAS_TCP_ACK, false, "abc");
    ip_of()->proto = TAS_IPPROTO_ICMP;
    fix_ip_csum();
    assert_int_equal(fp_parse_frame(frame, len, &local, 0, &seg, &r), FP_PKT_EXCEPTION);
    make_segment(TAS_TCP_ACK, false, "abc");
    ip_of()->frag_off = htons(TAS_IP_MF);
    fix_ip_csum();
    assert_int_equal(fp_parse_frame(frame, len, &local, 0, &seg, &r), FP_PKT_EXCEPTION);
}

static void test_ce_mark_and_offload_pseudo_csum(void **state)
{
    (void)state;
    uint32_t len = make_segment(TAS_TCP_ACK, false, "abc");
    ip_of()->tos = TAS_IP_ECN_CE;
    fix_ip_csum();
    struct fp_seg seg;
    enum tas_drop_reason r;
    assert_int_equal(fp_parse_frame(frame, len, &local, 0, &seg, &r), FP_PKT_TCP);
    assert_true(seg.ce);

    /* what a NIC adds to the pseudo-header sum is the segment's own sum */
    uint32_t tcp_len = len - 14 - 20;
    uint16_t full = tcp_of()->csum;
    tcp_of()->csum = fp_tcp_pseudo_csum(ip_of()->src, ip_of()->dst, tcp_len);
    uint16_t hw = tas_csum_fold(tas_csum_add(0, tcp_of(), tcp_len));
    assert_int_equal(hw, full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_with_timestamps),
        cmocka_unit_test(test_padding_after_ip_total_is_ignored),
        cmocka_unit_test(test_general_options),
        cmocka_unit_test(test_checksums),
        cmocka_unit_test(test_csum_partial_matches_reference),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_not_for_us),
        cmocka_unit_test(test_exceptions),
        cmocka_unit_test(test_ce_mark_and_offload_pseudo_csum),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
