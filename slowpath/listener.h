/* listener.h - listening sockets: their queues and SO_REUSEPORT groups.
 *
 * A listener holds two bounded queues of connections: half-open ones (SYN
 * received, SYN-ACK sent) and established ones waiting for ACCEPT.  Both
 * bounds protect the service: a SYN flood fills the half-open queue of the
 * listener it targets and nothing else, and an application that never
 * accepts pins at most backlog connections.  Listeners that share a port
 * with SO_REUSEPORT form a ring that new connections walk round-robin.
 */
#ifndef SP_LISTENER_H
#define SP_LISTENER_H

#include <stdbool.h>
#include <stdint.h>

#include "list.h"

#define LISTENER_MAX_BACKLOG  4096u   /* like Linux's somaxconn */
#define LISTENER_MIN_HALF_OPEN 64u

struct sp_app;

struct listener {
    uint32_t id;
    bool in_use;
    struct sp_app *app;
    uint32_t ctx_id;          /* context that gets ACCEPT_READY */
    uint16_t port;            /* host order */
    uint32_t backlog;
    uint32_t half_open_max;
    uint32_t n_half_open;
    uint32_t n_ready;
    struct list_node half_open;   /* connections in SYN_RCVD */
    struct list_node ready;       /* established, waiting for ACCEPT */
    struct list_node app_node;    /* on the owning application's list */
    struct listener *group_next;  /* ring of listeners on the same port */
};

struct listener_table {
    struct listener *l;
    uint32_t max;
    uint32_t next_free_hint;
    struct listener *by_port[65536];  /* a member of the port's ring */
};

int listener_table_init(struct listener_table *t, uint32_t max);
void listener_table_destroy(struct listener_table *t);

/* A fresh listener on port (host order), linked into the port's group, or
 * NULL when the table is full. */
struct listener *listener_open(struct listener_table *t, struct sp_app *app,
                               uint32_t ctx_id, uint16_t port, uint32_t backlog);

/* Unlinks l from its group and frees its id.  Its queues must be empty. */
void listener_close(struct listener_table *t, struct listener *l);

struct listener *listener_get(struct listener_table *t, uint32_t id);

/* The listener that should take the next connection on port (round-robin
 * over the group), or NULL when nobody listens. */
struct listener *listener_pick(struct listener_table *t, uint16_t port);

static inline bool listener_has_room(const struct listener *l)
{
    return l->n_half_open < l->half_open_max && l->n_ready < l->backlog;
}

void listener_add_half_open(struct listener *l, struct list_node *conn);
/* The handshake completed: move conn to the accept queue; false (conn left
 * where it was) when the accept queue is full. */
bool listener_promote(struct listener *l, struct list_node *conn);
/* Oldest connection waiting for ACCEPT, or NULL. */
struct list_node *listener_pop_ready(struct listener *l);
/* conn died while queued. */
void listener_drop(struct listener *l, struct list_node *conn, bool half_open);

#endif /* SP_LISTENER_H */
