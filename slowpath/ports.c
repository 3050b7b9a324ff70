/* ports.c - port reservations and RFC 6056 ephemeral port selection. */
#include <errno.h>
#include <string.h>

#include "ports.h"

void ports_init(struct port_table *t, uint32_t secret)
{
    memset(t, 0, sizeof(*t));
    t->secret = secret;
}

int ports_reserve(struct port_table *t, uint16_t port, unsigned flags, uid_t uid)
{
    struct port_use *u = &t->use[port];
    bool reuseport = flags & PORTS_F_REUSEPORT;

    if (port == 0)
        return -EINVAL;
    if (u->users > 0) {
        if (!reuseport || !u->reuseport || u->uid != uid)
            return -EADDRINUSE;
    } else if (u->time_wait > 0 && !(flags & (PORTS_F_REUSEADDR | PORTS_F_REUSEPORT))) {
        return -EADDRINUSE;
    }
    if (u->users == 0) {
        u->reuseport = reuseport;
        u->uid = (uint32_t)uid;
    }
    u->users++;
    return 0;
}

void ports_release(struct port_table *t, uint16_t port)
{
    if (t->use[port].users > 0)
        t->use[port].users--;
}

void ports_hold_time_wait(struct port_table *t, uint16_t port)
{
    t->use[port].time_wait++;
}

void ports_release_time_wait(struct port_table *t, uint16_t port)
{
    if (t->use[port].time_wait > 0)
        t->use[port].time_wait--;
}

bool ports_in_use(const struct port_table *t, uint16_t port)
{
    return t->use[port].users > 0 || t->use[port].time_wait > 0;
}

/* A keyed mix of the peer's address: not cryptographic, but the secret is
 * drawn from getrandom at start, which is what RFC 6056 asks of F(). */
static uint32_t peer_offset(uint32_t secret, uint32_t ip, uint16_t port)
{
    uint64_t h = ((uint64_t)ip << 16 | port) ^ ((uint64_t)secret << 32 | secret);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (uint32_t)h;
}

int ports_reserve_ephemeral(struct port_table *t, uint32_t remote_ip,
                            uint16_t remote_port, uid_t uid)
{
    const uint32_t count = PORTS_EPHEMERAL_MAX - PORTS_EPHEMERAL_MIN + 1;
    uint32_t offset = peer_offset(t->secret, remote_ip, remote_port);

    for (uint32_t i = 0; i < count; i++) {
        uint16_t port = (uint16_t)(PORTS_EPHEMERAL_MIN +
                                   (offset + t->next_offset + i) % count);
        if (ports_in_use(t, port))
            continue;
        ports_reserve(t, port, 0, uid);
        t->next_offset += i + 1;
        return port;
    }
    return -EADDRNOTAVAIL;
}
