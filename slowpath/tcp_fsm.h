/* tcp_fsm.h - the connection state machine (RFC 9293 section 3.3.2) as far
 * as the slow path drives it.  Handshake states are entered directly by the
 * open code; this table covers the transitions of an established flow,
 * driven by the application's close requests and the fast path's events. */
#ifndef SP_TCP_FSM_H
#define SP_TCP_FSM_H

enum tcp_state {
    TCP_CLOSED = 0,
    TCP_SYN_SENT,
    TCP_SYN_RCVD,
    TCP_ESTABLISHED,
    TCP_FIN_WAIT_1,
    TCP_FIN_WAIT_2,
    TCP_CLOSING,
    TCP_TIME_WAIT,
    TCP_CLOSE_WAIT,
    TCP_LAST_ACK,
    TCP_STATE__COUNT
};

enum tcp_event {
    TCP_EV_APP_FIN = 0,       /* CLOSE or SHUTDOWN_WR: send our FIN */
    TCP_EV_FIN_RCVD,          /* the peer's FIN arrived in order */
    TCP_EV_FIN_ACKED,         /* the peer acknowledged our FIN */
    TCP_EV__COUNT
};

/* The state after ev in state s, or -1 when ev is not expected there (the
 * caller logs and ignores it). */
int tcp_fsm_next(enum tcp_state s, enum tcp_event ev);

/* Does entering s mean we must ask the fast path to send a FIN? */
static inline int tcp_fsm_sends_fin(enum tcp_state from, enum tcp_state to)
{
    return (from == TCP_ESTABLISHED && to == TCP_FIN_WAIT_1) ||
           (from == TCP_CLOSE_WAIT && to == TCP_LAST_ACK);
}

const char *tcp_state_name(enum tcp_state s);

#endif /* SP_TCP_FSM_H */
