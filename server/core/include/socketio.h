/* socketio.h: the Socket.IO v5 server library (namespaces, rooms, acks, recovery).
 *
 * A sio_server runs one eio_server (engine.h) on the caller's libuv loop and speaks
 * Socket.IO over its sessions, with the semantics of the Node socket.io 4.8 server as seen
 * by socket.io-client. The application registers namespaces and, per namespace, an auth
 * hook, connection / disconnect handlers and event handlers; it emits to one socket, to
 * rooms or to everyone, with or without acknowledgement. Everything runs on the loop's
 * thread; no call blocks.
 *
 * Ownership, once for all functions below: strings and JSON passed IN are borrowed (the
 * call copies or encodes what it keeps before returning); JSON and buffers passed OUT to
 * callbacks are borrowed for the duration of the call (json_incref what you keep). The
 * exceptions say so: a sio_ack handed to an event handler, and a socket in the auth hook.
 *
 * Arguments travel as a JSON array plus binary attachments, in Socket.IO's "deconstructed"
 * form: a buffer is a {"_placeholder":true,"num":N} object inside the JSON (build it with
 * siop_placeholder_new) and attachments[N] holds its bytes. Emits whose placeholders do not
 * match their attachments fail with SIO_EINVAL.
 *
 * Sockets are refcounted: a handler may keep one across asynchronous work with
 * sio_socket_ref() and release it with sio_socket_unref(); operations on a socket that has
 * disconnected meanwhile are harmless no-ops that return SIO_ECLOSED.
 */
#ifndef SIO_SOCKETIO_H
#define SIO_SOCKETIO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "engine.h"
#include "socketio_codec.h"

typedef struct sio_server sio_server;
typedef struct sio_namespace sio_namespace;
typedef struct sio_socket sio_socket;
typedef struct sio_ack sio_ack; /* an acknowledgement the server owes a client */
typedef struct sio_node_reply
    sio_node_reply; /* an answer owed to another node's server-side emit */

#define SIO_ID_LEN 20 /* socket ids and private session ids: 20 URL-safe characters */

/* Results besides SIOP_OK (0) and SIOP_ERR (-1) from the codec's siop_status. */
typedef enum sio_error {
    SIO_ECLOSED = -2, /* the socket is not connected (any more) */
    SIO_ELIMIT = -3,  /* a configured limit was reached */
    SIO_EINVAL = -4   /* bad argument: reserved event name, args not an array, bad name */
} sio_error;
const char *sio_strerror(int err);

/* Outcome passed to acknowledgement callbacks. */
typedef enum sio_ack_status {
    SIO_ACK_OK = 0,          /* the client(s) answered */
    SIO_ACK_TIMEOUT = 1,     /* "operation has timed out", as Node's Error message */
    SIO_ACK_DISCONNECTED = 2 /* a recipient disconnected before answering */
} sio_ack_status;
const char *sio_ack_status_message(int status);

/* Flags for emits. */
#define SIO_EMIT_VOLATILE 0x1 /* drop for a session that cannot send at once */
#define SIO_EMIT_LOCAL    0x2 /* broadcasts: this node's sockets only (Node's io.local) */

/* Disconnect reasons produced by this layer (engine close reasons are EIO_REASON_*). */
#define SIO_REASON_CLIENT_DISCONNECT "client namespace disconnect"
#define SIO_REASON_SERVER_DISCONNECT "server namespace disconnect"
#define SIO_REASON_SERVER_CLOSE      "forced server close"

typedef struct sio_options {
    uint32_t connect_timeout_ms;  /* close a session that joins no namespace in time */
    uint32_t recovery_window_ms;  /* connection state recovery window; 0 = off */
    size_t recovery_max_packets;  /* per namespace: packets kept for recovery */
    size_t recovery_max_bytes;    /* per namespace: bytes of those packets */
    size_t recovery_max_sessions; /* per namespace: disconnected sessions kept */
    size_t max_attachments;       /* binary attachments accepted per incoming packet */
    size_t max_pending_acks;      /* per socket: server emits awaiting the client's ack */
} sio_options;

/* Node's defaults: connect timeout 45 s, recovery off; limits as documented in socketio.c. */
void sio_options_defaults(sio_options *opts);

/* Arguments of an event or an ack. */
typedef struct sio_args {
    json_t *json;                       /* JSON array of the arguments; NULL: none */
    const siop_attachment *attachments; /* bytes of the placeholders in json, by num */
    size_t n_attachments;
    /* Optional: json already encoded (compact JSON text of the same array, no attachments).
     * Written as it is to this node's clients instead of encoding json again: a payload
     * sent as an event and as an ack is encoded once. json may then be NULL: where the
     * tree is needed (other nodes, the recovery log) the text is parsed. */
    const char *text;
    size_t text_len;
} sio_args;

/* The arguments as a tree: a new reference to args->json, or args->text parsed when only
 * the text was given; NULL for none. */
json_t *sio_args_json(const sio_args *args);

/* Who receives a broadcast: the union of rooms (none: every socket of the namespace),
 * minus every socket in any except room. A socket's id is also a room of its own. */
typedef struct sio_target {
    const char *const *rooms;
    size_t n_rooms;
    const char *const *except;
    size_t n_except;
} sio_target;

/* ---- callbacks ---------------------------------------------------------------------- */

/* Auth hook: runs for every CONNECT to the namespace, before the socket exists for anyone
 * else. s is not connected yet; the server holds a reference on it until the hook's
 * decision. Decide now or later, exactly once, with sio_socket_accept() or
 * sio_socket_refuse(). Without a hook, every CONNECT is accepted. */
typedef void (*sio_auth_cb)(sio_socket *s, void *ud);
/* The socket is connected (CONNECT sent, joined to its own room). */
typedef void (*sio_connection_cb)(sio_socket *s, void *ud);
/* The socket left; reason is a SIO_REASON_* or EIO_REASON_* string. Release here what was
 * attached with sio_socket_set_userdata(). */
typedef void (*sio_disconnect_cb)(sio_socket *s, const char *reason, void *ud);
/* An event from the client. args->json is the array without the event name. ack is NULL
 * when the client expects no answer; otherwise the handler OWNS it and must end it once,
 * now or later, with sio_ack_send() or sio_ack_free(). */
typedef void (*sio_event_cb)(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                             void *ud);
/* Answer to sio_socket_emit_ack(): args is the client's answer when status is
 * SIO_ACK_OK, else NULL. s is borrowed (it may have disconnected). */
typedef void (*sio_ack_cb)(sio_socket *s, int status, const sio_args *args, void *ud);
/* Answer to sio_namespace_emit_ack() and sio_namespace_server_side_emit(): responses is
 * an array with the first argument of each answer received (in arrival order), also when
 * status is not SIO_ACK_OK. */
typedef void (*sio_broadcast_ack_cb)(int status, json_t *responses, void *ud);
/* Result of sio_namespace_sockets(): an array of socket id strings. */
typedef void (*sio_sockets_cb)(json_t *ids, void *ud);
/* Result of sio_namespace_fetch_sockets(): an array with one object per socket, Node's
 * RemoteSocket {"id", "handshake", "rooms", "data"} (see sio_socket_handshake; rooms in
 * joining order, the socket's own id first; data a copy of sio_socket_data). status is
 * SIO_ACK_OK, or SIO_ACK_TIMEOUT when some node did not answer in time: sockets then holds
 * those of the nodes that did. */
typedef void (*sio_fetch_sockets_cb)(int status, json_t *sockets, void *ud);
/* A broadcast without acks (this node's own, or one from another node or an emitter) is
 * about to reach this node's sockets: return 1 to deliver it, 0 to keep it from this node's
 * sockets (other nodes still get this node's broadcasts). The application may deliver it
 * later itself, with SIO_EMIT_LOCAL (its hook sees that emit too). args is borrowed;
 * args->json may be NULL when the emit gave text only (sio_args_json parses it). */
typedef int (*sio_delivery_cb)(sio_namespace *nsp, const char *event, const sio_args *args,
                               const sio_target *to, void *ud);
/* A server-side event another node sent with sio_namespace_server_side_emit(). args->json
 * is the array without the event name. ack is NULL when the sender expects no answer;
 * otherwise the handler OWNS it and must end it once, now or later, with
 * sio_node_reply_send() or sio_node_reply_free(). */
typedef void (*sio_server_event_cb)(sio_namespace *nsp, const char *event, const sio_args *args,
                                    sio_node_reply *ack, void *ud);

/* ---- server ------------------------------------------------------------------------- */

/* Creates the server and starts listening (cfg and opts are copied). Returns NULL with a
 * reason in err when it cannot. */
sio_server *sio_server_new(uv_loop_t *loop, const eio_config *cfg, const sio_options *opts,
                           char *err, size_t errlen);
eio_server *sio_server_engine(sio_server *srv);
uv_loop_t *sio_server_loop(const sio_server *srv);
const sio_options *sio_server_options(const sio_server *srv);
/* Returns the namespace called name ("/", "/admin"), creating it on first use. NULL when
 * name does not start with '/'. Namespaces live as long as the server. */
sio_namespace *sio_server_of(sio_server *srv, const char *name);
/* Graceful stop: every session gets a CLOSE (sockets disconnect with "server shutting
 * down"), namespaces and adapters are freed, then done(ud) runs (done may be NULL). Only
 * sio_server_free() may be called on srv afterwards. Sockets the application still
 * references stay valid as disconnected sockets until their last sio_socket_unref(), but
 * their namespace pointer is stale once done has run. */
void sio_server_shutdown(sio_server *srv, void (*done)(void *ud), void *ud);
/* Frees the server once uv_run() has returned after a shutdown. */
void sio_server_free(sio_server *srv);

/* Iterates the namespaces: start with *pos = 0; NULL after the last one. */
sio_namespace *sio_server_namespace_next(sio_server *srv, size_t *pos);
/* The namespace called name, or NULL when the server has none (nothing is created). */
sio_namespace *sio_namespace_find(sio_server *srv, const char *name);

/* ---- observer ---------------------------------------------------------------------------
 * One server-wide observer (monitoring: admin.h) learns of what happens in every
 * namespace. Every member may be NULL. Callbacks must not disconnect sockets or close
 * sessions; emitting is fine. Without an observer each hook costs one NULL check. */
typedef struct sio_observer {
    void (*session_open)(eio_session *session, void *ud);
    void (*session_upgrade)(eio_session *session, void *ud); /* polling to websocket */
    void (*session_close)(eio_session *session, const char *reason, void *ud);
    /* One Engine.IO message received (out 0) or queued (out 1), of len bytes. */
    void (*message)(int out, size_t len, void *ud);
    /* s is connected (after joining its own room, before the connection handler). */
    void (*socket_connect)(sio_socket *s, void *ud);
    /* s's session moved to websocket. */
    void (*socket_upgrade)(sio_socket *s, void *ud);
    /* s left (after its rooms were left, before the disconnect handler). */
    void (*socket_disconnect)(sio_socket *s, const char *reason, void *ud);
    /* The socket with that id joined (joined 1) or left (0) room of nsp on this node. */
    void (*room)(sio_namespace *nsp, const char *room, const char *id, int joined, void *ud);
    /* An event s received (out 0, before its handler) or was sent (out 1: emitted to it,
     * alone or in a broadcast; once per recipient, as Node's onAnyOutgoing). args as in
     * sio_event_cb, borrowed; args->json may be NULL when only text was given. */
    void (*event)(sio_socket *s, int out, const char *event, const sio_args *args, void *ud);
} sio_observer;
/* obs (borrowed, must outlive its use; NULL: none) replaces the previous observer. */
void sio_server_set_observer(sio_server *srv, const sio_observer *obs, void *ud);

/* ---- namespaces --------------------------------------------------------------------- */

const char *sio_namespace_name(const sio_namespace *nsp);
sio_server *sio_namespace_server(const sio_namespace *nsp);
void sio_namespace_set_auth(sio_namespace *nsp, sio_auth_cb cb, void *ud);
/* For applications that take what they need from the CONNECT payload in their auth hook
 * (credentials): keep 0 makes the sockets of nsp forget it once connected (after their
 * connection handler), so that idle sockets do not hold a token each; sio_socket_auth()
 * and the handshake's "auth" then read {}. The default, 1, keeps it, as Node does. */
void sio_namespace_keep_auth(sio_namespace *nsp, int keep);
void sio_namespace_on_connection(sio_namespace *nsp, sio_connection_cb cb, void *ud);
void sio_namespace_on_disconnect(sio_namespace *nsp, sio_disconnect_cb cb, void *ud);
/* Handler for one event name (replaces a previous one; cb NULL removes it). */
void sio_namespace_on(sio_namespace *nsp, const char *event, sio_event_cb cb, void *ud);
/* Catch-all: runs for events that have no handler of their own. */
void sio_namespace_on_any(sio_namespace *nsp, sio_event_cb cb, void *ud);
/* The delivery hook (NULL: none, every broadcast is delivered). */
void sio_namespace_on_delivery(sio_namespace *nsp, sio_delivery_cb cb, void *ud);
/* 1 when room has members on this node (a socket id counts as its socket's room). */
int sio_namespace_has_local_room(sio_namespace *nsp, const char *room);

/* Broadcast: encoded once, the same message shared by every recipient. to may be NULL
 * (everyone). flags: SIO_EMIT_VOLATILE. Returns SIOP_OK or SIO_EINVAL. */
int sio_namespace_emit(sio_namespace *nsp, const sio_target *to, const char *event,
                       const sio_args *args, int flags);
/* Broadcast expecting an ack from every recipient within timeout_ms (> 0), as Node's
 * io.timeout(ms).emit(…, cb). On SIOP_OK, cb runs exactly once, never before this call
 * returns; on error it never runs. A recipient already at max_pending_acks is skipped. */
int sio_namespace_emit_ack(sio_namespace *nsp, const sio_target *to, const char *event,
                           const sio_args *args, uint32_t timeout_ms, sio_broadcast_ack_cb cb,
                           void *ud);
/* The ids of the sockets a target designates (through the adapter, so possibly later). */
void sio_namespace_sockets(sio_namespace *nsp, const sio_target *to, sio_sockets_cb cb, void *ud);
/* The connected socket of this node with that id (borrowed), or NULL. */
sio_socket *sio_namespace_socket(sio_namespace *nsp, const char *id);
size_t sio_namespace_socket_count(const sio_namespace *nsp);

/* ---- cluster-wide operations ----------------------------------------------------------
 * Node's io.in(room).socketsJoin() and its siblings: they apply to the sockets a target
 * designates (to may be NULL: everyone) on every node, through the adapter. This node's
 * sockets are handled before the call returns; other nodes apply the operation when the
 * adapter's message reaches them, and nothing reports when they have (as in Node).
 * Results: SIOP_OK, SIO_EINVAL (a NULL name, bad arguments), or SIOP_ERR when the adapter
 * does not offer the operation. */

/* Every designated socket joins the n rooms / leaves those of them it is in. */
int sio_namespace_sockets_join(sio_namespace *nsp, const sio_target *to, const char *const *rooms,
                               size_t n);
int sio_namespace_sockets_leave(sio_namespace *nsp, const sio_target *to, const char *const *rooms,
                                size_t n);
/* Every designated socket disconnects as with sio_socket_disconnect(s, close_session):
 * the client sees "io server disconnect"; with close_session its other namespaces go too
 * and the connection closes. */
int sio_namespace_disconnect_sockets(sio_namespace *nsp, const sio_target *to, int close_session);
/* Node's fetchSockets(): describes the designated sockets of every node. On SIOP_OK, cb
 * runs exactly once, possibly before this call returns (always, with the local adapter);
 * otherwise never. */
int sio_namespace_fetch_sockets(sio_namespace *nsp, const sio_target *to, sio_fetch_sockets_cb cb,
                                void *ud);
/* Node's serverSideEmit(): event and args go to the handlers registered with
 * sio_namespace_on_server_event() on every OTHER node of the cluster; this node's own
 * handlers do not run. cb NULL: no answer expected. Otherwise
 * timeout_ms must be > 0 and, on SIOP_OK, cb runs exactly once, possibly before this call
 * returns: SIO_ACK_OK with one answer per other node (the local adapter has none: at once,
 * with []), or SIO_ACK_TIMEOUT with those that came in time. On error it never runs. */
int sio_namespace_server_side_emit(sio_namespace *nsp, const char *event, const sio_args *args,
                                   uint32_t timeout_ms, sio_broadcast_ack_cb cb, void *ud);
/* Handler for server-side events of that name from other nodes (replaces a previous one;
 * cb NULL removes it). */
void sio_namespace_on_server_event(sio_namespace *nsp, const char *event, sio_server_event_cb cb,
                                   void *ud);

/* ---- sockets ------------------------------------------------------------------------ */

sio_socket *sio_socket_ref(sio_socket *s);
void sio_socket_unref(sio_socket *s);

const char *sio_socket_id(const sio_socket *s);
sio_namespace *sio_socket_namespace(const sio_socket *s);
int sio_socket_connected(const sio_socket *s);
/* 1 when connection state recovery restored this socket's id, rooms and data. */
int sio_socket_recovered(const sio_socket *s);
/* The CONNECT payload: a JSON object, {} when the client sent none (borrowed). Once the
 * socket is connected and its connection handler has returned, the socket keeps the
 * payload as compact text and this parses it back: a pointer obtained earlier is not valid
 * past that handler (ask again). */
json_t *sio_socket_auth(const sio_socket *s);
/* Looks up the handshake query string (see eio_session_query_param); -1 once the engine
 * session is gone. */
int sio_socket_query_param(const sio_socket *s, const char *name, char *buf, size_t len);
const char *sio_socket_remote_addr(const sio_socket *s);
/* The Engine.IO session id of the socket's client ("" once the session is gone). */
const char *sio_socket_client_id(const sio_socket *s);
/* New reference to Node's socket.handshake as far as this server keeps it: {"auth" (the
 * CONNECT payload), "address", "query" (object of the handshake request's parameters),
 * "url" (its path and query), "time" (text), "issued" (ms since the Unix epoch)}. Request
 * headers are kept only after eio_server_keep_headers(engine, 1) (the Admin UI asks for
 * them): then "headers" (names in lower case), "xdomain" and "secure" are there too. */
json_t *sio_socket_handshake(const sio_socket *s);
eio_session *sio_socket_session(const sio_socket *s); /* NULL unless connected */
/* Application JSON object of the socket (Node's socket.data): modify it in place. With
 * recovery on it is kept with the session and restored. Borrowed, never NULL. */
json_t *sio_socket_data(const sio_socket *s);
/* A pointer of the application's, not interpreted (and not kept by recovery). */
void sio_socket_set_userdata(sio_socket *s, void *p);
void *sio_socket_userdata(const sio_socket *s);

/* Decision of the auth hook. Both release the reference the hook was given; both are
 * no-ops (but still release) when the client went away meanwhile. refuse sends
 * CONNECT_ERROR {"message":message,"data":data} (data may be NULL, borrowed). */
int sio_socket_accept(sio_socket *s);
int sio_socket_refuse(sio_socket *s, const char *message, json_t *data);

/* Emits to this socket (flags: SIO_EMIT_VOLATILE). Returns SIOP_OK, SIO_ECLOSED or
 * SIO_EINVAL. */
int sio_socket_emit(sio_socket *s, const char *event, const sio_args *args, int flags);
/* Emits expecting an answer. timeout_ms 0: wait as long as the socket lives. On SIOP_OK,
 * cb runs exactly once (answer, timeout or disconnection); otherwise (SIO_ECLOSED,
 * SIO_ELIMIT: too many pending acks, SIO_EINVAL) it never runs. */
int sio_socket_emit_ack(sio_socket *s, const char *event, const sio_args *args, uint32_t timeout_ms,
                        sio_ack_cb cb, void *ud);
int sio_socket_join(sio_socket *s, const char *room);
/* 1 when the connected socket s is in room, else 0. */
int sio_socket_in_room(const sio_socket *s, const char *room);
int sio_socket_leave(sio_socket *s, const char *room);
/* Server-side disconnect: sends DISCONNECT (reason "server namespace disconnect"); with
 * close_session, every socket of the session disconnects and the session closes. */
void sio_socket_disconnect(sio_socket *s, int close_session);

/* ---- acknowledgements owed to clients ------------------------------------------------ */

/* Sends the answer (args may be NULL: no arguments) and frees ack. When the socket has
 * disconnected meanwhile nothing is sent and SIO_ECLOSED is returned; ack is freed too. */
int sio_ack_send(sio_ack *ack, const sio_args *args);
/* Frees ack without answering. */
void sio_ack_free(sio_ack *ack);
sio_socket *sio_ack_socket(const sio_ack *ack);

/* ---- answers owed to other nodes ------------------------------------------------------ */

/* Answers the node that sent the server-side event and frees ack. args may be NULL (no
 * arguments); as in Node, that node receives the first argument, JSON only. SIO_EINVAL
 * when args->json is not an array, SIO_ECLOSED when the namespace's adapter has gone
 * meanwhile: ack is freed all the same, and the answer counts as missing. */
int sio_node_reply_send(sio_node_reply *ack, const sio_args *args);
/* Frees ack without answering: that node's emit counts this one as missing. */
void sio_node_reply_free(sio_node_reply *ack);

#endif
