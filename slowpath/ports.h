/* ports.h - TCP port reservations of the instance's address.
 *
 * A port is held by sockets that bound it (listeners, connections) and by
 * connections lingering in TIME_WAIT.  Sharing follows Linux: SO_REUSEPORT
 * lets sockets of the same user share a port, SO_REUSEADDR lets a new socket
 * take a port held only by TIME_WAIT.  Ephemeral ports come from
 * 32768-60999 in an order that depends on the peer and a secret (RFC 6056,
 * algorithm 3), so a peer cannot predict another peer's ports.
 */
#ifndef SP_PORTS_H
#define SP_PORTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define PORTS_EPHEMERAL_MIN 32768u
#define PORTS_EPHEMERAL_MAX 60999u

#define PORTS_F_REUSEPORT (1u << 0)
#define PORTS_F_REUSEADDR (1u << 1)

struct port_use {
    uint32_t users;           /* sockets bound */
    uint32_t time_wait;       /* connections in TIME_WAIT */
    uint32_t uid;             /* owner of a shared port */
    uint8_t reuseport;        /* every user asked for SO_REUSEPORT */
};

struct port_table {
    struct port_use use[65536];
    uint32_t secret;
    uint32_t next_offset;     /* RFC 6056 'next_ephemeral' */
};

void ports_init(struct port_table *t, uint32_t secret);

/* Ports are in host order here.  Returns 0 or -EADDRINUSE. */
int ports_reserve(struct port_table *t, uint16_t port, unsigned flags, uid_t uid);
void ports_release(struct port_table *t, uint16_t port);

/* A connection on port enters / leaves TIME_WAIT (its user reference is
 * released separately). */
void ports_hold_time_wait(struct port_table *t, uint16_t port);
void ports_release_time_wait(struct port_table *t, uint16_t port);

/* Reserves a free ephemeral port for a connection to remote_ip:remote_port
 * (network order).  Returns the port (host order) or -EADDRNOTAVAIL. */
int ports_reserve_ephemeral(struct port_table *t, uint32_t remote_ip,
                            uint16_t remote_port, uid_t uid);

bool ports_in_use(const struct port_table *t, uint16_t port);

#endif /* SP_PORTS_H */
