/* engine.h: the Engine.IO v4 server (and v3, with allow_eio3): sessions over HTTP
 * long-polling and WebSocket.
 *
 * One eio_server listens on one host:port on the caller's libuv loop (its own transport:
 * HTTP/1.1 through http-parser, WebSocket through protocol/include/websocket_codec.h), and serves
 * the Engine.IO endpoint at cfg.path on both transports (with the polling-to-websocket upgrade). It
 * owns sessions: an application learns of one through on_open, receives its messages through
 * on_message and its end through on_close, after which the session is freed. Everything runs on the
 * loop's thread; nothing here blocks.
 *
 * Outbound data is queued per session as refcounted eio_msg, so one encoded broadcast is
 * shared by every recipient. The queue is bounded (max_outbound bytes): a session whose
 * client stops reading is closed with reason "slow consumer" instead of growing memory.
 */
#ifndef EIO_ENGINE_H
#define EIO_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "engineio_codec.h"

typedef struct eio_server eio_server;
typedef struct eio_session eio_session;
typedef struct eio_msg eio_msg;

typedef enum eio_transport_kind {
    EIO_TRANSPORT_POLLING = 0,
    EIO_TRANSPORT_WEBSOCKET = 1
} eio_transport_kind;

/* Close reasons passed to on_close, the same strings the Node server uses. */
#define EIO_REASON_TRANSPORT_CLOSE "transport close" /* client closed (close packet or socket) */
#define EIO_REASON_TRANSPORT_ERROR "transport error" /* malformed input, oversize payload */
#define EIO_REASON_PING_TIMEOUT    "ping timeout"    /* no pong within pingInterval + pingTimeout */
#define EIO_REASON_FORCED_CLOSE    "forced close"    /* eio_session_close() */
#define EIO_REASON_SHUTDOWN        "server shutting down" /* eio_server_shutdown() */
#define EIO_REASON_SLOW_CONSUMER   "slow consumer"        /* outbound queue over max_outbound */

typedef struct eio_config {
    const char *host;            /* interface to bind ("127.0.0.1", "::1", "0.0.0.0") */
    int port;                    /* TCP port; 0 picks a free one (see eio_server_port) */
    const char *path;            /* endpoint path with trailing slash, e.g. "/socket.io/" */
    uint32_t ping_interval_ms;   /* server PING every this often */
    uint32_t ping_timeout_ms;    /* how long a PONG may take before the session closes */
    uint32_t upgrade_timeout_ms; /* how long an upgrade may take before the probe is dropped */
    size_t max_payload;          /* largest accepted message / POST body, in bytes */
    size_t max_outbound;         /* queued outbound bytes per session before "slow consumer" */
    const char *cors_origin; /* NULL: no CORS; "*": echo any Origin; else comma-separated list */
    int cors_credentials;    /* 1: Access-Control-Allow-Credentials: true */
    const char *cookie;      /* NULL: no cookie; else the sticky-session cookie name ("io") */
    int allow_polling;       /* 1: the polling transport is offered */
    int allow_websocket;     /* 1: the websocket transport (and upgrade) is offered */
    int allow_eio3;          /* 1: Engine.IO v3 clients (socket.io-client 2.x) are served, as Node's
                                allowEIO3: a handshake with EIO other than 4 (or none) starts a v3
                                session; 0: such a handshake gets "Unsupported protocol version" */
    /* NULL: sids as Node's (20 random characters). Else this node's tag (at most
     * EIO_SID_TAG_MAX base64url characters): every sid is tag "." random, so that any node
     * can tell which node holds a session (see eio_server_set_forwarder). */
    const char *sid_prefix;
} eio_config;

#define EIO_SID_TAG_MAX 16  /* longest sid_prefix */
#define EIO_SID_TAG_SEP '.' /* ends the tag in a sid; base64url never uses it */

/* Fills cfg with the Node server's defaults on 127.0.0.1:3000 at "/socket.io/". */
void eio_config_defaults(eio_config *cfg);

typedef struct eio_callbacks {
    /* A client completed the handshake; the OPEN packet is already queued. */
    void (*on_open)(eio_session *s, void *ud);
    /* One MESSAGE packet (data borrowed for the call; binary says which kind). */
    void (*on_message)(eio_session *s, const uint8_t *data, size_t len, int binary, void *ud);
    /* The session ended (reason is one of EIO_REASON_*); s is freed when this returns. */
    void (*on_close)(eio_session *s, const char *reason, void *ud);
    /* Optional (may be NULL): the session moved from polling to websocket. */
    void (*on_upgrade)(eio_session *s, void *ud);
} eio_callbacks;

/* Handler for HTTP requests outside cfg.path (health checks, REST, static files). It writes a
 * complete response with eio_http_respond() and returns 0, or returns 1 when the request is
 * not its own: the next handler is tried, and after the last one the answer is 404. */
typedef struct eio_http_request eio_http_request;
typedef int (*eio_http_handler)(eio_http_request *req, void *ud);

/* Creates a server on loop and starts listening. Returns NULL and writes a reason into
 * err (errlen bytes) when it cannot (bad config, port in use). cfg strings are copied. */
eio_server *eio_server_new(uv_loop_t *loop, const eio_config *cfg, const eio_callbacks *cb,
                           void *ud, char *err, size_t errlen);
/* The port actually bound (useful with port 0). */
int eio_server_port(const eio_server *srv);
uv_loop_t *eio_server_loop(const eio_server *srv);
const eio_config *eio_server_config(const eio_server *srv);
size_t eio_server_session_count(const eio_server *srv);
/* Makes h the only handler; add_ appends one that is tried after those already there (at
 * most EIO_HTTP_HANDLERS_MAX in all). */
#define EIO_HTTP_HANDLERS_MAX 4
void eio_server_set_http_handler(eio_server *srv, eio_http_handler h, void *ud);
void eio_server_add_http_handler(eio_server *srv, eio_http_handler h, void *ud);

/* Graceful stop: stop accepting, send CLOSE to every session (on_close runs with
 * EIO_REASON_SHUTDOWN), wait up to a second for polling clients to collect it and for
 * the last bytes to be written, then close every connection. done (may be NULL) runs when
 * the server has closed its last handle; the loop ends once the caller has closed its own
 * handles too. */
void eio_server_shutdown(eio_server *srv, void (*done)(void *ud), void *ud);
/* Frees the server after uv_run() returned. */
void eio_server_free(eio_server *srv);

/* Outbound messages: refcounted, immutable once built, shareable between sessions. */
eio_msg *eio_msg_new(eiop_packet_type type, const void *data, size_t len, int binary);
eio_msg *eio_msg_ref(eio_msg *m);
void eio_msg_unref(eio_msg *m);

/* Queues a packet; takes its own reference to m. Returns 0, or -1 when the session is
 * closing or when the queue limit was hit (the session is then being closed). */
int eio_session_send_msg(eio_session *s, eio_msg *m);
/* Convenience: a MESSAGE with a copy of data. */
int eio_session_send(eio_session *s, const void *data, size_t len, int binary);
/* 1 when a packet sent now would go out with this loop turn's writes (for volatile
 * emits): a polling GET is parked, or the websocket's kernel buffer is not full (no
 * write is waiting for writability). */
int eio_session_writable(const eio_session *s);
/* Closes the session from the server side: queued packets are flushed, a CLOSE packet is
 * sent, on_close runs with EIO_REASON_FORCED_CLOSE. */
void eio_session_close(eio_session *s);

const char *eio_session_id(const eio_session *s); /* the sid (NUL-terminated) */
eio_transport_kind eio_session_transport(const eio_session *s);
/* The Engine.IO protocol revision of the session: 4, or 3 (allow_eio3). */
int eio_session_protocol(const eio_session *s);
/* Query string of the handshake request, without '?' (may be ""), and a lookup in it:
 * copies the url-decoded value of name into buf and returns its length, or -1. */
const char *eio_session_query(const eio_session *s);
int eio_session_query_param(const eio_session *s, const char *name, char *buf, size_t len);
const char *eio_session_remote_addr(const eio_session *s); /* peer address, e.g. "127.0.0.1" */
/* With keep 1, sessions opened from now on keep their handshake request's headers (for
 * monitoring: admin.h), which costs their size per session. Default 0. */
void eio_server_keep_headers(eio_server *srv, int keep);
/* Iterates the kept headers: start with *pos = 0; returns 0 and sets name (lower case) and
 * value, or -1 after the last one or when none were kept. */
int eio_session_header_next(const eio_session *s, size_t *pos, const char **name,
                            const char **value);
void eio_session_set_data(eio_session *s, void *data); /* application pointer */
void *eio_session_data(const eio_session *s);
eio_server *eio_session_server(const eio_session *s);

/* For eio_http_handler. */
const char *eio_http_method(const eio_http_request *req);               /* "GET", "POST", … */
const char *eio_http_path(const eio_http_request *req);                 /* path without query */
const uint8_t *eio_http_body(const eio_http_request *req, size_t *len); /* POST/PUT body */
int eio_http_query_param(const eio_http_request *req, const char *name, char *buf, size_t len);
int eio_http_header(const eio_http_request *req, const char *name, char *buf, size_t len);
/* The peer's address, e.g. "127.0.0.1" (as eio_session_remote_addr; "" when unknown): the
 * proxy's when the server is behind one. */
const char *eio_http_remote_addr(const eio_http_request *req);
/* Sends status, content type and body (copied); call once per request. */
void eio_http_respond(eio_http_request *req, int status, const char *content_type, const void *body,
                      size_t len);
/* The same with extra headers: whole "Name: value\r\n" lines (a 429's Retry-After...). */
void eio_http_respond_with(eio_http_request *req, int status, const char *content_type,
                           const void *body, size_t len, const char *headers);

/* A request answered after the handler returns (the answer needs Redis, say). The handler
 * calls eio_http_defer() instead of eio_http_respond() and returns 0; req and what it
 * points to are gone after that, so copy the method, path, body and headers you need
 * first. The connection waits without a timeout of its own. */
typedef struct eio_http_deferred eio_http_deferred;
eio_http_deferred *eio_http_defer(eio_http_request *req);
/* Answers a deferred request and frees d; exactly once per eio_http_defer(). When the
 * client has gone meanwhile (or the server shut down) nothing is sent. */
void eio_http_deferred_respond(eio_http_deferred *d, int status, const char *content_type,
                               const void *body, size_t len);

/* ---- sessions held by another node (no sticky sessions) ----
 *
 * Behind a load balancer that does not keep a client on one node, a request for a session
 * can reach a node that does not hold it. With a forwarder set, such a request (a polling
 * GET or POST, or a websocket upgrade, whose sid's tag names another node) is handed to
 * the forwarder as the bytes of a whole HTTP request; the forwarder carries them to the
 * owner, where eio_vconn runs them against the session through the normal code paths (a
 * parked GET stays parked there), and brings back the owner's bytes (an HTTP response, or
 * the 101 and the websocket frames after it), which are written to the client as they
 * are. A websocket is a tunnel: the client's later bytes follow through data(). The core
 * knows nothing of how the bytes travel (server/cluster does it through Redis). */

/* Copies the owner tag of sid into buf and returns its length, or -1 when sid has none
 * (or it does not fit in len bytes with the NUL). */
int eio_sid_tag(const char *sid, char *buf, size_t len);

typedef struct eio_forward eio_forward; /* one request (or tunnel) relayed to the owner */

typedef struct eio_forwarder {
    /* A request for sid, whose tag names another node. bytes (borrowed) is the whole
     * request as the owner must read it; tunnel is 1 for a websocket upgrade. Returns 0
     * when f will be ended by eio_forward_end() or eio_forward_fail(), or -1 to have
     * "Session ID unknown" answered now (f is then freed). */
    int (*start)(eio_forward *f, const char *tag, const uint8_t *bytes, size_t len, int tunnel,
                 void *ud);
    /* A tunnel's next client bytes (borrowed), in order. */
    void (*data)(eio_forward *f, const uint8_t *bytes, size_t len, void *ud);
    /* The client's connection went (or the server is shutting down): f is freed when this
     * returns, and no eio_forward_* call may name it again. */
    void (*cancel)(eio_forward *f, void *ud);
} eio_forwarder;

/* Sets the forwarder (fw is copied; NULL: none, unknown sids are answered 400). */
void eio_server_set_forwarder(eio_server *srv, const eio_forwarder *fw, void *ud);
void eio_forward_set_data(eio_forward *f, void *data); /* the forwarder's pointer */
void *eio_forward_data(const eio_forward *f);
/* Bytes from the owner (copied), written to the client as they are. A client that lets
 * more than max_outbound bytes wait has its connection closed: cancel() runs, and f is
 * gone when this returns. */
void eio_forward_write(eio_forward *f, const uint8_t *bytes, size_t len);
/* The owner is done and f is freed. A request's connection serves the client's next
 * request when keep is 1 (the owner answered keep-alive); a tunnel's is closed once what
 * was written has left. */
void eio_forward_end(eio_forward *f, int keep);
/* The owner cannot be reached or did not answer in time: "Session ID unknown" (400) when
 * nothing was written yet, else the connection is closed. f is freed. */
void eio_forward_fail(eio_forward *f);

/* Counters of the forwarding, for /metrics. */
typedef struct eio_forward_stats {
    uint64_t forwarded; /* requests and upgrades this node relayed to another */
    uint64_t failed;    /* of those, answered "Session ID unknown" for want of an owner */
    uint64_t served;    /* requests and upgrades other nodes relayed here */
} eio_forward_stats;
void eio_server_forward_stats(const eio_server *srv, eio_forward_stats *out);

/* The owner's side: a connection with no socket. Bytes fed in are read as if a client had
 * sent them; what the server writes goes to output(), once per loop turn; end() runs once
 * when the connection is over (its answer written: keep says whether it was keep-alive; a
 * websocket closed; the server shutting down), with the last bytes written (len may be 0)
 * so that a whole answer is one call, after which v is freed. Bytes are borrowed. */
typedef struct eio_vconn eio_vconn;
typedef struct eio_vconn_callbacks {
    void (*output)(const uint8_t *bytes, size_t len, void *ud);
    void (*end)(int keep, const uint8_t *bytes, size_t len, void *ud);
} eio_vconn_callbacks;

eio_vconn *eio_vconn_new(eio_server *srv, const eio_vconn_callbacks *cb, void *ud);
void eio_vconn_feed(eio_vconn *v, const uint8_t *bytes, size_t len); /* bytes borrowed */
/* 1 while a polling GET waits there for packets. */
int eio_vconn_parked(const eio_vconn *v);
/* Ends v from the outside (the client went): end() does not run; v is freed. */
void eio_vconn_close(eio_vconn *v);

#endif
