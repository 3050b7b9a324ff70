/* tasctl.h - the operator's control socket of tas-slowpath.
 *
 * Besides sp.sock and fp.sock the slow path listens on a SOCK_STREAM socket
 * ctl.sock (mode 0660: root and the service's group) for inspection tools
 * such as tasctl.  The exchange is one request line, one reply:
 *
 *   client:  "status\n" | "flows\n" | "apps\n" | "stats\n"
 *   server:  one JSON object, then it closes the connection.
 *
 * A request the server does not know gets {"error": "..."}.  The reply is
 * produced at once from the daemon's state; nothing is kept per client.
 * The JSON keys are the interface: tasctl --json prints them as they come,
 * and scripts may rely on them.
 */
#ifndef TAS_TASCTL_H
#define TAS_TASCTL_H

#include "abi.h"

#define TAS_CTL_SOCK_NAME    "ctl.sock"
#define TAS_CTL_REQUEST_MAX  64       /* bytes of a request line, newline included */

/* JSON names of enum tas_drop_reason, in its order. */
static const char *const tas_drop_reason_names[TAS_DROP__COUNT] = {
    [TAS_DROP_RUNT] = "runt",
    [TAS_DROP_NOT_IPV4] = "not_ipv4",
    [TAS_DROP_IP_HDR] = "ip_header",
    [TAS_DROP_IP_CSUM] = "ip_checksum",
    [TAS_DROP_NOT_FOR_US] = "not_for_us",
    [TAS_DROP_TCP_HDR] = "tcp_header",
    [TAS_DROP_TCP_CSUM] = "tcp_checksum",
    [TAS_DROP_OUT_OF_WINDOW] = "out_of_window",
    [TAS_DROP_RX_RING_FULL] = "rx_ring_full",
    [TAS_DROP_EXC_QUEUE_FULL] = "exception_queue_full",
    [TAS_DROP_APP_BAD_ENTRY] = "app_bad_entry",
    [TAS_DROP_TX_NO_MBUF] = "tx_no_mbuf",
    [TAS_DROP_BAD_ACK] = "bad_ack",
    [TAS_DROP_RST_IN_WINDOW] = "rst_in_window",
    [TAS_DROP_NOT_SERVED] = "not_served",
};

#endif /* TAS_TASCTL_H */
