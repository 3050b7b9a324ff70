/* test_wire.c - unit tests for include/tas/wire.h: sequence arithmetic across
 * the 2^32 wrap, Internet checksums against hand-computed values, and the
 * TCP option parser on well-formed, truncated, repeated and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>

#include "tas/wire.h"

static void seq_compare_across_wrap(void **state)
{
    (void)state;
    assert_true(tas_seq_lt(1, 2));
    assert_true(tas_seq_lt(0xfffffff0u, 0x10u));
    assert_false(tas_seq_lt(0x10u, 0xfffffff0u));
    assert_true(tas_seq_le(5, 5));
    assert_true(tas_seq_gt(0x10u, 0xfffffff0u));
    assert_true(tas_seq_ge(0, 0xffffffffu));
    assert_false(tas_seq_gt(7, 7));
}

static void seq_in_window(void **state)
{
    (void)state;
    assert_true(tas_seq_in(0xfffffffeu, 0xfffffff0u, 0x20));
    assert_true(tas_seq_in(0x0fu, 0xfffffff0u, 0x20));
    assert_false(tas_seq_in(0x10u, 0xfffffff0u, 0x20));
    assert_false(tas_seq_in(0xffffffefu, 0xfffffff0u, 0x20));
    assert_false(tas_seq_in(5, 5, 0));
}

/* The classic example header from RFC 1071 discussions: 45 00 00 73 00 00
 * 40 00 40 11 ... has checksum 0xb861. */
static void ip_checksum_known_header(void **state)
{
    (void)state;
    uint8_t hdr[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00,
                        0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01,
                        0xc0, 0xa8, 0x00, 0xc7 };
    uint16_t c = tas_ip_csum((const struct tas_ip_hdr *)hdr, sizeof(hdr));
    assert_int_equal(ntohs(c), 0xb861);

    memcpy(hdr + 10, &c, 2);
    assert_int_equal(tas_ip_csum((const struct tas_ip_hdr *)hdr, sizeof(hdr)), 0);
}

static void tcp_checksum_verifies_to_zero_and_catches_flips(void **state)
{
    (void)state;
    uint8_t seg[20 + 5] = { 0 };
    struct tas_tcp_hdr *t = (struct tas_tcp_hdr *)seg;
    uint32_t src = htonl(0x0a000001), dst = htonl(0x0a000002);

    t->sport = htons(1234);
    t->dport = htons(80);
    t->seq = htonl(0xdeadbeef);
    t->doff_rsvd = 5 << 4;
    t->flags = TAS_TCP_ACK | TAS_TCP_PSH;
    t->win = htons(512);
    memcpy(seg + 20, "hello", 5);  /* odd length exercises the pad byte */
    t->csum = tas_tcp_csum(src, dst, seg, sizeof(seg));
    assert_int_equal(tas_tcp_csum(src, dst, seg, sizeof(seg)), 0);

    seg[22] ^= 0x01;
    assert_int_not_equal(tas_tcp_csum(src, dst, seg, sizeof(seg)), 0);
}

static void options_of_a_linux_syn(void **state)
{
    (void)state;
    /* MSS 1460, SACK-permitted, TS 0x01020304/0, NOP, wscale 7 */
    const uint8_t o[] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0,
                          1, 3, 3, 7 };
    struct tas_tcp_opts p;
    assert_int_equal(tas_tcp_parse_opts(o, sizeof(o), &p), 0);
    assert_true(p.has_mss);
    assert_int_equal(p.mss, 1460);
    assert_true(p.has_sack_perm);
    assert_true(p.has_ts);
    assert_int_equal(p.ts_val, 0x01020304u);
    assert_int_equal(p.ts_ecr, 0);
    assert_true(p.has_wscale);
    assert_int_equal(p.wscale, 7);
}

static void options_clamp_window_scale(void **state)
{
    (void)state;
    const uint8_t o[] = { 3, 3, 200, 0 };
    struct tas_tcp_opts p;
    assert_int_equal(tas_tcp_parse_opts(o, sizeof(o), &p), 0);
    assert_int_equal(p.wscale, TAS_TCP_WSCALE_MAX);
}

static void options_reject_malformed(void **state)
{
    (void)state;
    struct tas_tcp_opts p;
    const uint8_t truncated_len[] = { 1, 1, 2 };
    const uint8_t zero_len[] = { 30, 0, 1, 1 };
    const uint8_t past_end[] = { 8, 10, 1, 2, 3 };
    const uint8_t bad_mss_len[] = { 2, 3, 5, 0 };
    const uint8_t repeated_ts[] = { 8, 10, 0, 0, 0, 1, 0, 0, 0, 0,
                                    8, 10, 0, 0, 0, 2, 0, 0, 0, 0 };
    assert_int_equal(tas_tcp_parse_opts(truncated_len, sizeof(truncated_len), &p), -1);
    assert_int_equal(tas_tcp_parse_opts(zero_len, sizeof(zero_len), &p), -1);
    assert_int_equal(tas_tcp_parse_opts(past_end, sizeof(past_end), &p), -1);
    assert_int_equal(tas_tcp_parse_opts(bad_mss_len, sizeof(bad_mss_len), &p), -1);
    assert_int_equal(tas_tcp_parse_opts(repeated_ts, sizeof(repeated_ts), &p), -1);
}

static void options_skip_unknown_and_stop_at_eol(void **state)
{
    (void)state;
    /* unknown kind 30 len 4, EOL, then garbage that must not be read */
    const uint8_t o[] = { 30, 4, 9, 9, 0, 2, 0 };
    struct tas_tcp_opts p;
    assert_int_equal(tas_tcp_parse_opts(o, sizeof(o), &p), 0);
    assert_false(p.has_mss);
}

static void built_options_parse_back(void **state)
{
    (void)state;
    uint8_t buf[40];
    struct tas_tcp_opts p;
    size_t n = tas_tcp_put_syn_opts(buf, 1448, true, 77, 88, true, 9);
    assert_int_equal(n % 4, 0);
    assert_true(n <= 20);
    assert_int_equal(tas_tcp_parse_opts(buf, n, &p), 0);
    assert_int_equal(p.mss, 1448);
    assert_int_equal(p.ts_val, 77);
    assert_int_equal(p.ts_ecr, 88);
    assert_int_equal(p.wscale, 9);

    n = tas_tcp_put_ts(buf, 0xaabbccddu, 1);
    assert_int_equal(n, 12);
    assert_int_equal(tas_tcp_parse_opts(buf, n, &p), 0);
    assert_int_equal(p.ts_val, 0xaabbccddu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seq_compare_across_wrap),
        cmocka_unit_test(seq_in_window),
        cmocka_unit_test(ip_checksum_known_header),
        cmocka_unit_test(tcp_checksum_verifies_to_zero_and_catches_flips),
        cmocka_unit_test(options_of_a_linux_syn),
        cmocka_unit_test(options_clamp_window_scale),
        cmocka_unit_test(options_reject_malformed),
        cmocka_unit_test(options_skip_unknown_and_stop_at_eol),
        cmocka_unit_test(built_options_parse_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
