/* Unit tests for port reservations and route lookup (slowpath/ports.c,
 * slowpath/route.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <errno.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "ports.h"
#include "route.h"

static struct port_table *new_table(void)
{
    struct port_table *t = malloc(sizeof(*t));
    ports_init(t, 12345);
    return t;
}

static void exclusive_bind(void **state)
{
    (void)state;
    struct port_table *t = new_table();
    assert_int_equal(ports_reserve(t, 80, 0, 0), 0);
    assert_int_equal(ports_reserve(t, 80, 0, 0), -EADDRINUSE);
    assert_int_equal(ports_reserve(t, 80, PORTS_F_REUSEPORT, 0), -EADDRINUSE);
    ports_release(t, 80);
    assert_int_equal(ports_reserve(t, 80, 0, 0), 0);
    assert_int_equal(ports_reserve(t, 0, 0, 0), -EINVAL);
    free(t);
}

static void reuseport_needs_all_users_and_same_uid(void **state)
{
    (void)state;
    struct port_table *t = new_table();
    assert_int_equal(ports_reserve(t, 8080, PORTS_F_REUSEPORT, 1000), 0);
    assert_int_equal(ports_reserve(t, 8080, PORTS_F_REUSEPORT, 1000), 0);
    assert_int_equal(ports_reserve(t, 8080, PORTS_F_REUSEPORT, 1001), -EADDRINUSE);
    assert_int_equal(ports_reserve(t, 8080, 0, 1000), -EADDRINUSE);
    ports_release(t, 8080);
    ports_release(t, 8080);
    assert_false(ports_in_use(t, 8080));
    free(t);
}

static void time_wait_blocks_unless_reuseaddr(void **state)
{
    (void)state;
    struct port_table *t = new_table();
    ports_hold_time_wait(t, 443);
    assert_int_equal(ports_reserve(t, 443, 0, 0), -EADDRINUSE);
    assert_int_equal(ports_reserve(t, 443, PORTS_F_REUSEADDR, 0), 0);
    ports_release(t, 443);
    ports_release_time_wait(t, 443);
    assert_false(ports_in_use(t, 443));
    free(t);
}

static void ephemeral_ports_are_distinct_and_in_range(void **state)
{
    (void)state;
    struct port_table *t = new_table();
    const unsigned n = PORTS_EPHEMERAL_MAX - PORTS_EPHEMERAL_MIN + 1;
    for (unsigned i = 0; i < n; i++) {
        int p = ports_reserve_ephemeral(t, htonl(0x0a000002), htons(80), 0);
        assert_true(p >= (int)PORTS_EPHEMERAL_MIN && p <= (int)PORTS_EPHEMERAL_MAX);
    }
    /* Every one is taken now. */
    assert_int_equal(ports_reserve_ephemeral(t, htonl(0x0a000002), htons(80), 0),
                     -EADDRNOTAVAIL);
    ports_release(t, 40000);
    assert_int_equal(ports_reserve_ephemeral(t, htonl(0x0a000003), htons(81), 0), 40000);
    free(t);
}

static void ephemeral_skips_bound_ports(void **state)
{
    (void)state;
    struct port_table *t = new_table();
    for (unsigned p = PORTS_EPHEMERAL_MIN; p <= PORTS_EPHEMERAL_MAX; p++)
        if (p != 50000)
            ports_reserve(t, (uint16_t)p, 0, 0);
    assert_int_equal(ports_reserve_ephemeral(t, 1, 2, 0), 50000);
    free(t);
}

static uint32_t ip(const char *s)
{
    struct in_addr a;
    inet_pton(AF_INET, s, &a);
    return a.s_addr;
}

static void routes_prefer_longest_prefix(void **state)
{
    (void)state;
    struct route_table rt;
    route_table_init(&rt);
    assert_int_equal(route_add(&rt, ip("10.1.0.0"), 24, 0), 0);
    assert_int_equal(route_add(&rt, 0, 0, ip("10.1.0.1")), 0);
    assert_int_equal(route_add(&rt, ip("192.168.0.0"), 16, ip("10.1.0.2")), 0);
    assert_int_equal(route_next_hop(&rt, ip("10.1.0.77")), ip("10.1.0.77"));
    assert_int_equal(route_next_hop(&rt, ip("192.168.3.4")), ip("10.1.0.2"));
    assert_int_equal(route_next_hop(&rt, ip("8.8.8.8")), ip("10.1.0.1"));
    /* Gateways must be on link; duplicates are refused. */
    assert_int_equal(route_add(&rt, ip("172.16.0.0"), 12, ip("192.168.0.1")), -ENETUNREACH);
    assert_int_equal(route_add(&rt, ip("10.1.0.99"), 24, 0), -EEXIST);
}

static void no_default_route_means_unreachable(void **state)
{
    (void)state;
    struct route_table rt;
    route_table_init(&rt);
    route_add(&rt, ip("10.1.0.0"), 24, 0);
    assert_int_equal(route_next_hop(&rt, ip("10.2.0.1")), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exclusive_bind),
        cmocka_unit_test(reuseport_needs_all_users_and_same_uid),
        cmocka_unit_test(time_wait_blocks_unless_reuseaddr),
        cmocka_unit_test(ephemeral_ports_are_distinct_and_in_range),
        cmocka_unit_test(ephemeral_skips_bound_ports),
        cmocka_unit_test(routes_prefer_longest_prefix),
        cmocka_unit_test(no_default_route_means_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
