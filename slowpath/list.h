/* list.h - intrusive doubly linked lists.
 *
 * The slow path links the same object (a connection) into several sets at
 * once: its application, its listener's queues, the ARP wait list.  Embedding
 * the links avoids an allocation per membership and makes removal O(1).
 */
#ifndef SP_LIST_H
#define SP_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
    struct list_node *prev, *next;
};

#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void list_init(struct list_node *head)
{
    head->prev = head->next = head;
}

static inline bool list_empty(const struct list_node *head)
{
    return head->next == head;
}

/* A node that is on no list points at itself, so unlinking twice is safe. */
static inline bool list_linked(const struct list_node *n)
{
    return n->next != n && n->next != NULL;
}

static inline void list_insert_tail(struct list_node *head, struct list_node *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void list_remove(struct list_node *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

static inline struct list_node *list_pop_head(struct list_node *head)
{
    if (list_empty(head))
        return NULL;
    struct list_node *n = head->next;
    list_remove(n);
    return n;
}

/* Safe against removal of the current node. */
#define list_for_each_safe(pos, tmp, head) \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
         (pos) = (tmp), (tmp) = (pos)->next)

#endif /* SP_LIST_H */
