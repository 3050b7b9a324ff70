/* tcp_fsm.c - transition table of the closing half of the TCP state
 * machine.  Kept as data so the unit tests can walk every pair. */
#include "tcp_fsm.h"

static const signed char next_state[TCP_STATE__COUNT][TCP_EV__COUNT] = {
    [TCP_CLOSED]      = { -1, -1, -1 },
    [TCP_SYN_SENT]    = { -1, -1, -1 },
    [TCP_SYN_RCVD]    = { -1, -1, -1 },
    [TCP_ESTABLISHED] = { TCP_FIN_WAIT_1, TCP_CLOSE_WAIT, -1 },
    [TCP_FIN_WAIT_1]  = { -1, TCP_CLOSING, TCP_FIN_WAIT_2 },
    [TCP_FIN_WAIT_2]  = { -1, TCP_TIME_WAIT, -1 },
    [TCP_CLOSING]     = { -1, -1, TCP_TIME_WAIT },
    [TCP_TIME_WAIT]   = { -1, -1, -1 },
    [TCP_CLOSE_WAIT]  = { TCP_LAST_ACK, -1, -1 },
    [TCP_LAST_ACK]    = { -1, -1, TCP_CLOSED },
};

int tcp_fsm_next(enum tcp_state s, enum tcp_event ev)
{
    if ((unsigned)s >= TCP_STATE__COUNT || (unsigned)ev >= TCP_EV__COUNT)
        return -1;
    return next_state[s][ev];
}

const char *tcp_state_name(enum tcp_state s)
{
    static const char *const names[TCP_STATE__COUNT] = {
        [TCP_CLOSED] = "CLOSED",
        [TCP_SYN_SENT] = "SYN_SENT",
        [TCP_SYN_RCVD] = "SYN_RCVD",
        [TCP_ESTABLISHED] = "ESTABLISHED",
        [TCP_FIN_WAIT_1] = "FIN_WAIT_1",
        [TCP_FIN_WAIT_2] = "FIN_WAIT_2",
        [TCP_CLOSING] = "CLOSING",
        [TCP_TIME_WAIT] = "TIME_WAIT",
        [TCP_CLOSE_WAIT] = "CLOSE_WAIT",
        [TCP_LAST_ACK] = "LAST_ACK",
    };
    return (unsigned)s < TCP_STATE__COUNT ? names[s] : "?";
}
