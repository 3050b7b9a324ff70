/* listener.c - listener ids, queue accounting and SO_REUSEPORT rings. */
#include <errno.h>
#include <stdlib.h>

#include "listener.h"

int listener_table_init(struct listener_table *t, uint32_t max)
{
    t->l = calloc(max, sizeof(*t->l));
    if (!t->l)
        return -ENOMEM;
    t->max = max;
    t->next_free_hint = 0;
    for (uint32_t i = 0; i < 65536; i++)
        t->by_port[i] = NULL;
    return 0;
}

void listener_table_destroy(struct listener_table *t)
{
    free(t->l);
    t->l = NULL;
}

struct listener *listener_open(struct listener_table *t, struct sp_app *app,
                               uint32_t ctx_id, uint16_t port, uint32_t backlog)
{
    struct listener *l = NULL;
    for (uint32_t i = 0; i < t->max; i++) {
        uint32_t id = (t->next_free_hint + i) % t->max;
        if (!t->l[id].in_use) {
            l = &t->l[id];
            l->id = id;
            t->next_free_hint = id + 1;
            break;
        }
    }
    if (!l)
        return NULL;

    if (backlog == 0)
        backlog = 1;
    if (backlog > LISTENER_MAX_BACKLOG)
        backlog = LISTENER_MAX_BACKLOG;
    l->in_use = true;
    l->app = app;
    l->ctx_id = ctx_id;
    l->port = port;
    l->backlog = backlog;
    l->half_open_max = backlog > LISTENER_MIN_HALF_OPEN ? backlog : LISTENER_MIN_HALF_OPEN;
    l->n_half_open = 0;
    l->n_ready = 0;
    list_init(&l->half_open);
    list_init(&l->ready);
    list_init(&l->app_node);

    struct listener *member = t->by_port[port];
    if (member) {
        l->group_next = member->group_next;
        member->group_next = l;
    } else {
        l->group_next = l;
        t->by_port[port] = l;
    }
    return l;
}

void listener_close(struct listener_table *t, struct listener *l)
{
    if (l->group_next == l) {
        t->by_port[l->port] = NULL;
    } else {
        struct listener *prev = l;
        while (prev->group_next != l)
            prev = prev->group_next;
        prev->group_next = l->group_next;
        if (t->by_port[l->port] == l)
            t->by_port[l->port] = l->group_next;
    }
    l->group_next = NULL;
    l->in_use = false;
    l->app = NULL;
}

struct listener *listener_get(struct listener_table *t, uint32_t id)
{
    if (id >= t->max || !t->l[id].in_use)
        return NULL;
    return &t->l[id];
}

struct listener *listener_pick(struct listener_table *t, uint16_t port)
{
    struct listener *l = t->by_port[port];
    if (!l)
        return NULL;
    /* Advance the ring so the next connection goes to the next member. */
    t->by_port[port] = l->group_next;
    return l;
}

void listener_add_half_open(struct listener *l, struct list_node *conn)
{
    list_insert_tail(&l->half_open, conn);
    l->n_half_open++;
}

bool listener_promote(struct listener *l, struct list_node *conn)
{
    if (l->n_ready >= l->backlog)
        return false;
    list_remove(conn);
    l->n_half_open--;
    list_insert_tail(&l->ready, conn);
    l->n_ready++;
    return true;
}

struct list_node *listener_pop_ready(struct listener *l)
{
    struct list_node *n = list_pop_head(&l->ready);
    if (n)
        l->n_ready--;
    return n;
}

void listener_drop(struct listener *l, struct list_node *conn, bool half_open)
{
    list_remove(conn);
    if (half_open)
        l->n_half_open--;
    else
        l->n_ready--;
}
