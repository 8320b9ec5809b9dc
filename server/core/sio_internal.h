/* sio_internal.h: the structures the files of the Socket.IO layer share, and nothing else.
 *
 * socketio.c  server lifecycle and the engine's callbacks
 * client.c    one engine session: decoding, routing packets to sockets, connect timeout
 * namespace.c namespaces, the CONNECT flow (recovery, auth hook), event handlers, broadcast
 *             and the cluster-wide operations on sockets
 * server_event.c events between the nodes of a cluster (Node's serverSideEmit)
 * socket.c    sockets: ids, emit, rooms, disconnect, frames
 * ack.c       acknowledgements in both directions
 * adapter_local.c, recovery.c: the default adapter (adapter.h), which needs none of this
 *
 * Lifetimes: a client lives from the engine's on_open to its on_close (plus references
 * held while a packet is being dispatched). A socket is refcounted: its client holds one
 * reference while it is attached, and so does each pending step (restore, auth hook), each
 * sio_ack the application owns, and each application sio_socket_ref().
 */
#ifndef SIO_INTERNAL_H
#define SIO_INTERNAL_H

#include "adapter.h"
#include "list.h"
#include "map.h"
#include "socketio.h"

#define SIO_ADDR_LEN 46 /* INET6_ADDRSTRLEN: room for an IPv6 address in text form */
/* The Engine.IO revision of socket.io-client 2.x, which speaks Socket.IO protocol v4 */
#define SIO_LEGACY_ENGINE_PROTOCOL 3

typedef struct sio_client sio_client;
typedef struct sio_ack_waiter sio_ack_waiter;

struct sio_server {
    uv_loop_t *loop;
    eio_server *engine;
    sio_options opts;
    sb_map namespaces; /* name → sio_namespace */
    sio_adapter_factory adapter_new;
    void *adapter_ud;
    sb_buf scratch;           /* encoding buffer reused by every packet sent */
    siop_decoder decoder;     /* decodes every client's messages; holds nothing between
                                calls (see sio_client.decoder) */
    uv_timer_t connect_timer; /* fires for the oldest client without a namespace */
    sb_list waiting;          /* clients awaiting a namespace (wait_link), oldest first */
    unsigned handles_open;    /* uv handles (ours) whose close callback is pending */
    int engine_gone;          /* eio_server_shutdown() has finished */
    int shutting_down;
    int finished;           /* namespaces released, done called */
    void (*done)(void *ud); /* sio_server_shutdown()'s callback */
    void *done_ud;
    const sio_observer *observer; /* sio_server_set_observer(); NULL: none */
    void *observer_ud;
};

typedef struct sio_handler {
    union {
        sio_event_cb client;        /* in nsp->handlers */
        sio_server_event_cb server; /* in nsp->server_handlers */
    } cb;
    void *ud;
    char event[]; /* the map key */
} sio_handler;

struct sio_namespace {
    sio_server *srv;
    char *name;
    sio_adapter *adapter;
    sb_map sockets;         /* id → connected sio_socket of this node */
    sb_map handlers;        /* event name → sio_handler */
    sb_map server_handlers; /* event name → sio_handler, for other nodes' events */
    sb_list node_acks;      /* answers owed to other nodes, not given yet */
    sio_event_cb any_cb;
    void *any_ud;
    sio_delivery_cb delivery_cb;
    void *delivery_ud;
    sio_auth_cb auth_cb;
    void *auth_ud;
    int forget_auth; /* sio_namespace_keep_auth(nsp, 0) */
    sio_connection_cb connection_cb;
    void *connection_ud;
    sio_disconnect_cb disconnect_cb;
    void *disconnect_ud;
    int64_t next_ack_id; /* shared by the namespace's sockets, as in Node */
};

typedef enum sio_socket_state {
    SIO_SOCKET_RESTORING = 0,   /* the adapter is looking its recovery session up */
    SIO_SOCKET_AUTHORIZING = 1, /* the auth hook has not decided yet */
    SIO_SOCKET_CONNECTED = 2,
    SIO_SOCKET_CLOSED = 3
} sio_socket_state;

struct sio_socket {
    int refs;
    sio_socket_state state;
    int auth_pending; /* the hook holds a reference and owes a decision */
    int recovered;
    char *id;            /* id_buf, or (a legacy client's "/nsp#sid") allocated */
    char *connect_query; /* legacy: the CONNECT's query ("a=1&b=2", raw), or NULL */
    char id_buf[SIO_ID_LEN + 1];
    char pid[SIO_ID_LEN + 1];       /* "" when recovery is off */
    char remote_addr[SIO_ADDR_LEN]; /* (after the ids: no padding between them) */
    sio_namespace *nsp;
    sio_client *client;  /* NULL once detached */
    sb_list client_link; /* in client->sockets */
    json_t *auth;        /* the CONNECT payload (an object); once connected NULL
                            until asked for again (sio_socket_auth) */
    char *auth_text;     /* once connected: the payload in compact JSON, NULL for {} */
    json_t *data;        /* sio_socket_data(), created when first asked for */
    void *userdata;
    void *adapter_data;
    sio_recovery_record *restored; /* recovery result, consumed when accepted */
    sb_list acks;                  /* server emits awaiting this client's ack, oldest first */
    size_t n_acks;
    uint64_t issued_ms; /* creation time, ms since the Unix epoch (handshake) */
};

struct sio_client {
    int refs;    /* the session's, plus one per dispatch in progress */
    int closing; /* input is ignored: the session is being closed */
    int legacy;  /* Socket.IO protocol v4 (socket.io-client 2.x, on an Engine.IO v3 session) */
    sio_server *srv;
    eio_session *session;  /* NULL once the engine closed it */
    siop_decoder *decoder; /* only while a binary packet awaits its attachments (owned);
                             otherwise the server's decoder serves */
    sb_list sockets;       /* attached sockets (client_link), pending or connected */
    uint64_t deadline;     /* loop time when the connect timeout fires */
    sb_list wait_link;     /* in srv->waiting (linked: the connect timeout runs) */
};

/* socketio.c */
void sio_server_handle_closed(uv_handle_t *h); /* close callback for handles owned by srv */
void sio_server_handle_opened(sio_server *srv);
void sio_server_maybe_finish(sio_server *srv);
int sio_event_name_valid(const char *event);

/* client.c */
void sio_client_open(sio_server *srv, eio_session *session);
void sio_client_message(sio_client *c, const uint8_t *data, size_t len, int binary);
void sio_client_closed(sio_client *c, const char *reason);
/* Server-side close: sockets leave with "forced server close", the session closes. */
void sio_client_close(sio_client *c);
void sio_client_attach(sio_client *c, sio_socket *s);
void sio_client_detach(sio_client *c, sio_socket *s);
/* A socket of c was accepted: c no longer risks the connect timeout. */
void sio_client_joined(sio_client *c);
/* Encodes p into srv->scratch and sends it with its attachments. */
int sio_client_send_packet(sio_client *c, const siop_packet *p);
/* An ACK whose arguments are JSON text already (sio_args.text). */
int sio_client_send_ack_text(sio_client *c, const char *nsp, int64_t id, const char *text,
                             size_t len);
void sio_client_ref(sio_client *c);
void sio_client_unref(sio_client *c);
void sio_connect_timer_start(sio_server *srv);

/* namespace.c */
void sio_namespace_free(sio_namespace *nsp);
/* Both steal auth (the CONNECT payload, may be NULL). query: a legacy client's CONNECT
 * query (raw, copied), or NULL. */
void sio_namespace_connect(sio_namespace *nsp, sio_client *c, json_t *auth, const char *query);
void sio_namespace_dispatch(sio_namespace *nsp, sio_socket *s, siop_packet *p);

/* server_event.c */
/* Runs every pending reply with NULL (the adapter is about to be freed): the acks the
 * application still holds become inert. */
void sio_node_replies_orphan(sio_namespace *nsp);

/* socket.c */
sio_socket *sio_socket_new(sio_namespace *nsp, sio_client *c, json_t *auth, const char *query);
/* A legacy client's CONNECT query as the object Node makes its auth payload (url-decoded
 * pairs, the last of a repeated name winning, as Object.fromEntries). */
json_t *sio_query_auth(const char *query);
void sio_socket_on_packet(sio_socket *s, siop_packet *p);
/* Node's Socket._onclose: leaves rooms, persists for recovery, runs the disconnect
 * handler. A socket that never connected is only detached. */
void sio_socket_close(sio_socket *s, const char *reason);
/* Sends CONNECT (with the socket's ids), replays recovered packets. */
void sio_socket_connect(sio_socket *s);

/* ack.c */
sio_ack_wait *sio_ack_wait_new_single(sio_socket *s, sio_ack_cb cb, void *ud);
sio_ack_wait *sio_ack_wait_new_broadcast(sio_namespace *nsp, sio_broadcast_ack_cb cb, void *ud);
/* Frees an op that was never armed, without running its callback. */
void sio_ack_wait_cancel(sio_ack_wait *op);
void sio_socket_on_ack(sio_socket *s, int64_t id, const sio_args *args);
void sio_socket_drop_acks(sio_socket *s);
sio_ack *sio_ack_new(sio_socket *s, int64_t id);

#endif
