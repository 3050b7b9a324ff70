/* Unit tests for the closing state machine (slowpath/tcp_fsm.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tcp_fsm.h"

static enum tcp_state run(enum tcp_state s, const enum tcp_event *ev, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        int next = tcp_fsm_next(s, ev[i]);
        assert_true(next >= 0);
        s = (enum tcp_state)next;
    }
    return s;
}

static void active_close(void **state)
{
    (void)state;
    const enum tcp_event ev[] = { TCP_EV_APP_FIN, TCP_EV_FIN_ACKED, TCP_EV_FIN_RCVD };
    assert_int_equal(run(TCP_ESTABLISHED, ev, 3), TCP_TIME_WAIT);
    assert_true(tcp_fsm_sends_fin(TCP_ESTABLISHED, TCP_FIN_WAIT_1));
}

static void passive_close(void **state)
{
    (void)state;
    const enum tcp_event ev[] = { TCP_EV_FIN_RCVD, TCP_EV_APP_FIN, TCP_EV_FIN_ACKED };
    assert_int_equal(run(TCP_ESTABLISHED, ev, 3), TCP_CLOSED);
    assert_true(tcp_fsm_sends_fin(TCP_CLOSE_WAIT, TCP_LAST_ACK));
}

static void simultaneous_close(void **state)
{
    (void)state;
    const enum tcp_event ev[] = { TCP_EV_APP_FIN, TCP_EV_FIN_RCVD, TCP_EV_FIN_ACKED };
    assert_int_equal(run(TCP_ESTABLISHED, ev, 3), TCP_TIME_WAIT);
    assert_int_equal(tcp_fsm_next(TCP_FIN_WAIT_1, TCP_EV_FIN_RCVD), TCP_CLOSING);
}

static void unexpected_events_are_refused(void **state)
{
    (void)state;
    assert_int_equal(tcp_fsm_next(TCP_FIN_WAIT_1, TCP_EV_APP_FIN), -1);
    assert_int_equal(tcp_fsm_next(TCP_ESTABLISHED, TCP_EV_FIN_ACKED), -1);
    assert_int_equal(tcp_fsm_next(TCP_TIME_WAIT, TCP_EV_FIN_RCVD), -1);
    assert_int_equal(tcp_fsm_next(TCP_CLOSE_WAIT, TCP_EV_FIN_RCVD), -1);
    assert_int_equal(tcp_fsm_next(TCP_SYN_SENT, TCP_EV_APP_FIN), -1);
    assert_int_equal(tcp_fsm_next(TCP_STATE__COUNT, TCP_EV_APP_FIN), -1);
    assert_int_equal(tcp_fsm_next(TCP_ESTABLISHED, TCP_EV__COUNT), -1);
}

static void every_transition_is_forward_and_named(void **state)
{
    (void)state;
    unsigned legal = 0;
    for (int s = 0; s < TCP_STATE__COUNT; s++) {
        assert_string_not_equal(tcp_state_name((enum tcp_state)s), "?");
        for (int e = 0; e < TCP_EV__COUNT; e++) {
            int next = tcp_fsm_next((enum tcp_state)s, (enum tcp_event)e);
            if (next < 0)
                continue;
            legal++;
            assert_int_not_equal(next, s);
            /* Only LAST_ACK reaches CLOSED; handshake states are never entered. */
            assert_true(next != TCP_SYN_SENT && next != TCP_SYN_RCVD && next != TCP_ESTABLISHED);
        }
    }
    assert_int_equal(legal, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(active_close),
        cmocka_unit_test(passive_close),
        cmocka_unit_test(simultaneous_close),
        cmocka_unit_test(unexpected_events_are_refused),
        cmocka_unit_test(every_transition_is_forward_and_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
