/* Unit tests for the neighbour cache (slowpath/arp.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arp.h"

static const uint8_t mac_a[6] = { 2, 0, 0, 0, 0, 0xa };
static const uint8_t mac_b[6] = { 2, 0, 0, 0, 0, 0xb };

static unsigned drain(struct list_node *ready)
{
    unsigned n = 0;
    struct list_node *node;
    while ((node = list_pop_head(ready)) != NULL) {
        free(container_of(node, struct arp_pending, node));
        n++;
    }
    return n;
}

static void unknown_address_asks_once_then_waits(void **state)
{
    (void)state;
    struct arp_cache c;
    uint8_t mac[6];
    assert_int_equal(arp_cache_init(&c, 16, 60000000), 0);
    assert_int_equal(arp_resolve(&c, 0x0a000001, 0, mac), ARP_SEND_REQUEST);
    assert_int_equal(arp_resolve(&c, 0x0a000001, 10, mac), ARP_WAITING);
    arp_cache_free(&c);
}

static void reply_releases_parked_frames(void **state)
{
    (void)state;
    struct arp_cache c;
    struct list_node ready;
    uint8_t mac[6];
    uint8_t frame[60] = { 0 };
    list_init(&ready);
    assert_int_equal(arp_cache_init(&c, 16, 60000000), 0);
    arp_resolve(&c, 7, 0, mac);
    assert_true(arp_park(&c, 7, frame, sizeof(frame)));
    assert_true(arp_park(&c, 7, frame, sizeof(frame)));
    arp_learn(&c, 7, mac_a, false, 5, &ready);
    assert_int_equal(drain(&ready), 2);
    assert_int_equal(arp_resolve(&c, 7, 6, mac), ARP_RESOLVED);
    assert_memory_equal(mac, mac_a, 6);
    /* Resolved entries park nothing. */
    assert_false(arp_park(&c, 7, frame, sizeof(frame)));
    arp_cache_free(&c);
}

static void parking_is_bounded(void **state)
{
    (void)state;
    struct arp_cache c;
    uint8_t mac[6], frame[60] = { 0 };
    assert_int_equal(arp_cache_init(&c, 16, 60000000), 0);
    arp_resolve(&c, 9, 0, mac);
    for (unsigned i = 0; i < ARP_MAX_PENDING; i++)
        assert_true(arp_park(&c, 9, frame, sizeof(frame)));
    assert_false(arp_park(&c, 9, frame, sizeof(frame)));
    arp_cache_free(&c);
}

static void learn_only_creates_when_addressed_to_us(void **state)
{
    (void)state;
    struct arp_cache c;
    struct list_node ready;
    uint8_t mac[6];
    list_init(&ready);
    assert_int_equal(arp_cache_init(&c, 16, 60000000), 0);
    arp_learn(&c, 3, mac_a, false, 0, &ready);
    assert_int_equal(arp_resolve(&c, 3, 1, mac), ARP_SEND_REQUEST);
    arp_learn(&c, 4, mac_a, true, 0, &ready);
    assert_int_equal(arp_resolve(&c, 4, 1, mac), ARP_RESOLVED);
    /* A gratuitous update moves an existing entry to the new MAC. */
    arp_learn(&c, 4, mac_b, false, 2, &ready);
    assert_int_equal(arp_resolve(&c, 4, 3, mac), ARP_RESOLVED);
    assert_memory_equal(mac, mac_b, 6);
    arp_cache_free(&c);
}

static void stale_entry_refreshes_but_stays_usable(void **state)
{
    (void)state;
    struct arp_cache c;
    struct list_node ready;
    uint8_t mac[6];
    list_init(&ready);
    assert_int_equal(arp_cache_init(&c, 16, 1000), 0);
    arp_learn(&c, 5, mac_a, true, 0, &ready);
    assert_int_equal(arp_resolve(&c, 5, 2000, mac), ARP_RESOLVED_REFRESH);
    assert_memory_equal(mac, mac_a, 6);
    /* One refresh per retry period. */
    assert_int_equal(arp_resolve(&c, 5, 2001, mac), ARP_RESOLVED);
    arp_cache_free(&c);
}

static void unanswered_requests_retry_then_give_up(void **state)
{
    (void)state;
    struct arp_cache c;
    uint8_t mac[6], frame[60] = { 0 };
    uint32_t retry[4];
    assert_int_equal(arp_cache_init(&c, 16, 60000000), 0);
    arp_resolve(&c, 11, 0, mac);
    arp_park(&c, 11, frame, sizeof(frame));
    assert_int_equal(arp_tick(&c, ARP_RETRY_US - 1, retry, 4), 0);
    uint64_t now = 0;
    for (unsigned i = 1; i < ARP_MAX_REQUESTS; i++) {
        now += ARP_RETRY_US;
        assert_int_equal(arp_tick(&c, now, retry, 4), 1);
        assert_int_equal(retry[0], 11);
    }
    now += ARP_RETRY_US;
    assert_int_equal(arp_tick(&c, now, retry, 4), 0);
    assert_int_equal(c.used, 0);
    /* Forgotten: the next send asks again. */
    assert_int_equal(arp_resolve(&c, 11, now, mac), ARP_SEND_REQUEST);
    arp_cache_free(&c);
}

static void many_entries_survive_deletions(void **state)
{
    (void)state;
    struct arp_cache c;
    struct list_node ready;
    uint8_t mac[6];
    uint32_t retry[64];
    list_init(&ready);
    assert_int_equal(arp_cache_init(&c, 32, 60000000), 0);
    /* Half resolved, half left to expire, interleaved so deletions shift
     * resolved entries around. */
    for (uint32_t ip = 1; ip <= 32; ip++) {
        arp_resolve(&c, ip, 0, mac);
        if (ip % 2)
            arp_learn(&c, ip, mac_a, false, 0, &ready);
    }
    for (unsigned i = 0; i < ARP_MAX_REQUESTS; i++)
        arp_tick(&c, (uint64_t)(i + 1) * ARP_RETRY_US, retry, 64);
    for (uint32_t ip = 1; ip <= 32; ip++) {
        enum arp_result r = arp_resolve(&c, ip, 4 * ARP_RETRY_US, mac);
        assert_int_equal(r, ip % 2 ? ARP_RESOLVED : ARP_SEND_REQUEST);
    }
    arp_cache_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unknown_address_asks_once_then_waits),
        cmocka_unit_test(reply_releases_parked_frames),
        cmocka_unit_test(parking_is_bounded),
        cmocka_unit_test(learn_only_creates_when_addressed_to_us),
        cmocka_unit_test(stale_entry_refreshes_but_stays_usable),
        cmocka_unit_test(unanswered_requests_retry_then_give_up),
        cmocka_unit_test(many_entries_survive_deletions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
