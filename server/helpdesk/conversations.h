/* conversations.h: carrying out what the store decided about conversations: posts, takes,
 * transfers, closes, the inactivity sweep and auto routing, with the rooms they join and
 * the events they emit (conversations.c says in which order).
 *
 * Above delivery.h, which it tells what stored message this node is emitting; the parts
 * that take requests (connections.c, socket_events.c, backend.c, rest.c) call it.
 */
#ifndef HD_CONVERSATIONS_H
#define HD_CONVERSATIONS_H

#include "buffer.h"
#include "delivery.h"
#include "map.h"
#include "node.h"

/* The queued customers' feedback (spec §4, v1.1): "queued" {ticket_chat_id, position,
 * agents_online} to the sockets of this node whose conversation waits in the queue, when it
 * is queued and whenever what it says changes. One pass at a time asks the store for the
 * queue and the departments' agents; passes start at least a second apart, every second
 * while the queue is not empty (other nodes change it too), less often while it is. */
typedef struct hd_queue_feedback {
    uv_timer_t timer;
    sb_map sent;        /* ticket_chat_id -> what this node last told its customer; only
                           conversations in the queue with a customer here */
    uint64_t pass;      /* the number of the latest pass */
    uint64_t last_pass; /* when it started (the loop's ms) */
    int running;        /* a pass waits for the store */
    int kicked;         /* something was queued meanwhile: the next pass soon */
    int busy;           /* the last pass saw a queue */
    int timer_open;     /* the timer is initialized and not closed */
} hd_queue_feedback;

typedef struct hd_conversations {
    hd_node *node;
    hd_delivery *delivery;   /* told which stored message is being emitted */
    sb_buf scratch;          /* the support event's arguments, while one is sent */
    int routing;             /* a route call is in flight */
    int route_again;         /* something changed meanwhile: route once more */
    hd_queue_feedback queue; /* "queued" to this node's customers */
} hd_conversations;

/* Starts the queue feedback's timer on the server's loop. */
void hd_conv_init(hd_conversations *cv, hd_node *node, hd_delivery *delivery);
/* Closes the timer (hd_app_stop); hd_conv_free once the loop has run its close. */
void hd_conv_stop(hd_conversations *cv);
void hd_conv_free(hd_conversations *cv);
/* Emits payload (borrowed; NULL: nothing) to the union of rooms, but the sockets in except
 * (may be NULL). */
void hd_conv_emit(hd_conversations *cv, const char *const *rooms, size_t n, const char *except,
                  const char *event, json_t *payload, int flags);

/* Each wraps a store operation and, on success, does what the contract says follows
 * (emits, joins, routing); cb (may be NULL) gets the store's result after that. */
void hd_conv_post(hd_conversations *cv, const hd_post *p, hd_result_cb cb, void *ud);
void hd_conv_take(hd_conversations *cv, const char *chat_id, const hd_agent *agent, hd_result_cb cb,
                  void *ud);
void hd_conv_transfer(hd_conversations *cv, const char *chat_id, const hd_access *access,
                      const char *agent_id, const char *dept, hd_result_cb cb, void *ud);
void hd_conv_close(hd_conversations *cv, const char *chat_id, const hd_access *access,
                   const char *by, const char *reason, hd_result_cb cb, void *ud);
/* Closes the conversations idle past cfg.inactivity_s, batch after batch. */
void hd_conv_sweep(hd_conversations *cv);
/* Auto routing: asks the store to assign what it can, once more when a call is in flight
 * (nothing with manual routing). */
void hd_conv_route(hd_conversations *cv);

#endif
