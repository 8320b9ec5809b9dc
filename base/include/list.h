/* list.h: the intrusive doubly-linked list every layer links its objects with (libuv's
 * queue.h idea).
 *
 * The one idea: an object embeds an sb_list link per list it can be in, and a list is an
 * sb_list head, circular through the links, so linking and unlinking never allocate,
 * never branch on "first or last", and an object is unlinked without knowing its list.
 * SB_LIST_DATA() gets the object back from its link. Heads and links must be
 * sb_list_init()ed before use (a zeroed one is not a list); an unlinked link points at
 * itself, so sb_list_linked() tells whether an object is in some list. A head must not
 * move while it has members (it is not copyable as a struct).
 */
#ifndef SB_LIST_H
#define SB_LIST_H

#include <stddef.h>

typedef struct sb_list {
    struct sb_list *next; /* the next link, or the head after the last */
    struct sb_list *prev; /* the previous link, or the head before the first */
} sb_list;

/* The object of type holding link in its member field. */
#define SB_LIST_DATA(link, type, field) ((type *)((char *)(link)-offsetof(type, field)))

/* The first (last) object of the list at head, or NULL when it is empty. */
#define SB_LIST_FIRST(head, type, field)                                                           \
    (sb_list_empty(head) ? NULL : SB_LIST_DATA((head)->next, type, field))
#define SB_LIST_LAST(head, type, field)                                                            \
    (sb_list_empty(head) ? NULL : SB_LIST_DATA((head)->prev, type, field))

/* Walks the links of head, first to last: for (link = first; link != head; ...). The
 * current link must stay linked during the step; use SB_LIST_FOREACH_SAFE to unlink it. */
#define SB_LIST_FOREACH(link, head)                                                                \
    for ((link) = (head)->next; (link) != (head); (link) = (link)->next)
/* The same, reading the next link before the step, which may then unlink the current one
 * (but not the next one). */
#define SB_LIST_FOREACH_SAFE(link, tmp, head)                                                      \
    for ((link) = (head)->next, (tmp) = (link)->next; (link) != (head);                            \
         (link) = (tmp), (tmp) = (link)->next)

/* An empty list (for a head), or an unlinked link. */
static inline void sb_list_init(sb_list *q)
{
    q->next = q;
    q->prev = q;
}

static inline int sb_list_empty(const sb_list *head) { return head->next == head; }

/* Whether the link is in a list (the same test as sb_list_empty, read for a link). */
static inline int sb_list_linked(const sb_list *link) { return link->next != link; }

/* Links q right after pos (pos may be the head: q becomes the first). */
static inline void sb_list_insert_after(sb_list *pos, sb_list *q)
{
    q->prev = pos;
    q->next = pos->next;
    pos->next->prev = q;
    pos->next = q;
}

/* Links q right before pos (pos may be the head: q becomes the last). */
static inline void sb_list_insert_before(sb_list *pos, sb_list *q)
{
    sb_list_insert_after(pos->prev, q);
}

static inline void sb_list_insert_head(sb_list *head, sb_list *q) { sb_list_insert_after(head, q); }

static inline void sb_list_insert_tail(sb_list *head, sb_list *q)
{
    sb_list_insert_before(head, q);
}

/* Unlinks q from whatever list holds it and leaves it unlinked (removing an unlinked
 * link does nothing). */
static inline void sb_list_remove(sb_list *q)
{
    q->prev->next = q->next;
    q->next->prev = q->prev;
    sb_list_init(q);
}

#endif
