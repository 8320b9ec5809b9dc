/* delivery.h: no acknowledged message is missed: per conversation, what this node
 * delivered, and the catch-ups (after a fault, the backlog on assignment, resume);
 * delivery.c says how.
 *
 * Above node.h and client.h. It calls no other part: conversations.c tells it which
 * stored message this node is emitting (emit_chat, emit_seq), connections.c which
 * conversations a socket joined or resumes.
 */
#ifndef HD_DELIVERY_H
#define HD_DELIVERY_H

#include <uv.h>

#include "client.h"
#include "map.h"
#include "node.h"

typedef struct hd_chat hd_chat; /* one conversation tracked (delivery.c) */

typedef struct hd_delivery {
    hd_node *node;
    sb_map chats;           /* ticket_chat_id → hd_chat */
    hd_chat *pending;       /* conversations to catch up on the next loop turn */
    uv_idle_t catchup_idle; /* runs them */
    int delivering;         /* delivery.c emits: its hook lets them through */
    const char *emit_chat;  /* while this node emits a stored message: its conversation */
    int64_t emit_seq;       /* ... and seq */
} hd_delivery;

/* On node's loop; ended by hd_delivery_stop, then (the loop having run) hd_delivery_free. */
void hd_delivery_init(hd_delivery *d, hd_node *node);
/* The core's delivery hook (sio_namespace_on_delivery) of /helpdesk; ud is the
 * hd_delivery. */
int hd_delivery_hook(sio_namespace *nsp, const char *event, const sio_args *args,
                     const sio_target *to, void *ud);
/* s is in the chat rooms of open (the store's list of its open conversations): each
 * catches up from where the client said it was (cl->resume, then released), and resumed
 * conversations outside the list are read as the client may. */
void hd_delivery_resume(hd_delivery *d, sio_socket *s, hd_client *cl, json_t *open);
json_t *hd_resume_parse(json_t *auth);     /* a valid resume object (new reference) or NULL */
void hd_delivery_links_up(hd_delivery *d); /* every conversation tracked catches up */
void hd_delivery_tick(hd_delivery *d);     /* retries, second reads, forgetting */
/* Releases the sockets it holds and closes its idle handle. */
void hd_delivery_stop(hd_delivery *d);
void hd_delivery_free(hd_delivery *d);

#endif
