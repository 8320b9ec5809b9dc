/* hd_internal.h: what the files of the helpdesk application share, and nothing else.
 *
 * app.c      lifecycle, timers
 * client.c   the per-socket state (client.h)
 * connections.c a socket's life: the auth hook, its rooms and presence from the store
 * contract.c a message payload's checks and the error body, for every road in
 * conversations.c carrying out the store's decisions: assignments, inquiries, closes, deliveries
 * socket_events.c the client events of the namespace (support, typing, read, take, ...)
 * delivery.c nothing acknowledged missed: per conversation, what this node delivered, and
 *            the catch-ups (after a fault, the backlog on assignment, resume)
 * rest.c     the REST endpoints, /metrics, health
 * metrics.c  counters and the latency histogram, in Prometheus text
 */
#ifndef HD_INTERNAL_H
#define HD_INTERNAL_H

#include <uv.h>

#include "client.h"
#include "contract.h"
#include "health.h"
#include "helpdesk.h"
#include "map.h"
#include "message.h"

#define HD_LATENCY_BUCKETS 12

typedef struct hd_chat hd_chat; /* connections.c: the namespace's auth, connection and disconnect hooks (ud is the app) */
void hd_conn_auth(sio_socket *s, void *ud);
void hd_conn_connected(sio_socket *s, void *ud);
void hd_conn_disconnected(sio_socket *s, const char *reason, void *ud);
void hd_resync(hd_app *app);      /* the tick's retry */
void hd_resync_drop(hd_app *app); /* releases the sockets waiting for a retry */

/* delivery.c */

typedef struct hd_metrics {
    uint64_t messages_in;      /* support messages received (any source) */
    uint64_t messages_stored;  /* stored by this node */
    uint64_t messages_out;     /* support deliveries emitted by this node */
    uint64_t store_errors;     /* store answers 503 */
    uint64_t refused;          /* events answered with a 4xx */
    uint64_t auth_failures;    /* CONNECTs refused */
    uint64_t latency_buckets[HD_LATENCY_BUCKETS]; /* support: receipt to ack, cumulative le */
    uint64_t latency_count;
    double latency_sum_s;
} hd_metrics;

struct hd_app {
    sio_server *srv;
    sio_namespace *nsp;
    hd_store *store;
    hd_config cfg;
    hd_metrics metrics;
    eio_health health;           /* /healthz, /readyz: ready when the store is */
    uv_timer_t route_timer;      /* periodic auto routing (another node's freed slot...) */
    uv_timer_t sweep_timer;      /* inactivity closes */
    sio_socket **resync;         /* sockets whose rooms or presence the store refused (503):
                                    retried every tick (referenced) */
    size_t n_resync, cap_resync;
    sb_buf scratch;              /* the support event's arguments, while one is sent */
    sb_map chats;               /* delivery.c: ticket_chat_id → hd_chat */
    hd_chat *pending;            /* conversations to catch up on the next loop turn */
    uv_idle_t catchup_idle;      /* runs them */
    int delivering;              /* delivery.c emits: its hook lets them through */
    const char *emit_chat;       /* while this node emits a stored message: its conversation */
    int64_t emit_seq;            /* ... and seq */
    int routing;                 /* a route call is in flight */
    int route_again;             /* something changed meanwhile: route once more */
    int stopped;
    int handles_open;
};

/* conversations.c: each wraps a store operation and, on success, does what the contract says
 * follows (emits, joins, routing); cb (may be NULL) gets the store's result after that. */
void hd_route_kick(hd_app *app);
/* Emits payload (borrowed; NULL: nothing) to the union of rooms, but the sockets in except
 * (may be NULL). */
void hd_emit(hd_app *app, const char *const *rooms, size_t n, const char *except,
             const char *event, json_t *payload, int flags);
void hd_deliver_post(hd_app *app, const hd_post *p, hd_result_cb cb, void *ud);
void hd_deliver_take(hd_app *app, const char *chat_id, const hd_agent *agent, hd_result_cb cb,
                     void *ud);
void hd_deliver_transfer(hd_app *app, const char *chat_id, const hd_access *access,
                         const char *agent_id, const char *dept, hd_result_cb cb, void *ud);
void hd_deliver_close(hd_app *app, const char *chat_id, const hd_access *access, const char *by,
                      const char *reason, hd_result_cb cb, void *ud);
void hd_deliver_sweep(hd_app *app);
/* 1 when the node can do its whole job (the store, and the cluster's pub/sub, are up). */
int hd_app_ready(hd_app *app);

/* connections.c: the namespace's auth, connection and disconnect hooks (ud is the app) */
void hd_conn_auth(sio_socket *s, void *ud);
void hd_conn_connected(sio_socket *s, void *ud);
void hd_conn_disconnected(sio_socket *s, const char *reason, void *ud);
void hd_resync(hd_app *app);      /* the tick's retry */
void hd_resync_drop(hd_app *app); /* releases the sockets waiting for a retry */

/* delivery.c */
/* The core's delivery hook (sio_namespace_on_delivery) of /helpdesk; ud is the app. */
int hd_delivery_hook(sio_namespace *nsp, const char *event, const sio_args *args,
                     const sio_target *to, void *ud);
void hd_delivery_run(uv_idle_t *h); /* the catch-ups queued (app->catchup_idle) */
/* s joined the chat room of chat_id, whose last seq the store said is last_seq; resume:
 * the seq the client said it has (-1: none). */
void hd_delivery_joined(hd_app *app, sio_socket *s, const char *chat_id, int64_t last_seq,
                        int64_t resume);
/* s is in the chat rooms of open (the store's list of its open conversations): each
 * catches up from where the client said it was (cl->resume, then released), and resumed
 * conversations outside the list are read as the client may. */
void hd_delivery_resume(hd_app *app, sio_socket *s, hd_client *cl, json_t *open);
json_t *hd_resume_parse(json_t *auth); /* a valid resume object (new reference) or NULL */
void hd_delivery_links_up(hd_app *app); /* every conversation tracked catches up */
void hd_delivery_tick(hd_app *app);     /* retries, second reads, forgetting */
void hd_delivery_stop(hd_app *app);   /* releases the sockets it holds */
void hd_delivery_free(hd_app *app);

/* socket_events.c */
void hd_events_register(hd_app *app);

/* backend.c: a backend message (REST body or hd:commands data) as a post into chat;
 * msg_id holds HD_ULID_LEN + 1 bytes. 0 or an HD_E* status with *why set. */
int hd_backend_post(const hd_app *app, json_t *body, const char *chat, hd_post *p, char *msg_id,
                    const char **why);

/* rest.c */
void hd_rest_attach(hd_app *app);

/* metrics.c */
void hd_metrics_latency(hd_metrics *m, int64_t us);
char *hd_metrics_render(hd_app *app, size_t *len, size_t queue_length); /* malloc'd */

#endif
