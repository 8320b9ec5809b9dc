/* engine_internal.h: what engine.c and the two transports share, not part of the API.
 *
 * The one idea: libwebsockets owns connections (struct lws, with our eio_conn as its
 * per-session data), the engine owns sessions (eio_session). A connection points at a
 * session while it serves it (the parked GET, the POST being read, the websocket or the
 * upgrade probe), and the session points back. Either side can go first, so whoever goes
 * clears the other's pointer: conn_detach() when a connection ends, session_destroy()
 * when a session does. lws may free an HTTP connection's eio_conn between keep-alive
 * requests (lws_http_transaction_completed), so nothing holds an eio_conn across calls
 * except through these pointers.
 */
#ifndef EIO_ENGINE_INTERNAL_H
#define EIO_ENGINE_INTERNAL_H

#include <uv.h> /* before libwebsockets.h, which declares its uv helpers only then */

#include <libwebsockets.h>
#include <uthash.h>

#include "engine.h"

#define EIO_SID_BYTES 15                 /* 20 base64url characters */
#define EIO_SID_LEN 20
#define EIO_CLOSE_TIMEOUT_MS 30000       /* a closing polling session waits this long for its GET */
#define EIO_CLIENT_CLOSE_LINGER_MS 1000  /* a client-closed polling session waits for a racing GET */
#define EIO_SHUTDOWN_GRACE_MS 1000       /* shutdown waits this long for polling GETs to collect "1" */
#define EIO_SHUTDOWN_CHECK_MS 10         /* how often shutdown looks whether everyone has left */
/* lws allocates this rx chunk for every websocket (rx_buffer_size + LWS_PRE + 4), so it
 * weighs on idle memory; longer messages arrive in pieces, reassembled by the transport.
 * It also caps each read(2) of a websocket (rx_buffer_size + LWS_PRE bytes per POLLIN), so
 * below the usual frame size a busy connection needs several loop turns per message: 256
 * cost a third of the chat benchmark's throughput, 384 some 3 % against 512. At least 125:
 * lws handles a control frame (PING, CLOSE) only whole in one chunk. */
#define EIO_RX_BUFFER_SIZE 384
#define EIO_HTTP_HEADERS_MAX 1024        /* room for response headers we write ourselves */
#define EIO_QUEUE_INITIAL 8              /* first allocation of a session's outbound ring */
#define EIO_TIMER_LISTS 8                /* deadline lists: one per delay in use (see eio_server) */
#define EIO_ADDR_LEN 46                  /* INET6_ADDRSTRLEN: the longest address in text form */
#define EIO_ERROR_BODY_MAX 96           /* {"code":N,"message":"…"} */
#define EIO_WS_CLOSE_GRACE_S 2           /* a released websocket that cannot take its close frame */

struct eio_msg {
    int refs;             /* owners: every session queue and in-flight write holding it */
    eio_packet_type type; /* packet type */
    int binary;           /* raw bytes of a binary MESSAGE */
    size_t len;           /* bytes of data */
    /* LWS_PRE bytes of headroom for the websocket frame header, the type digit, then data:
     * a text frame is sent from the type digit, a binary frame from the data. */
    uint8_t buf[];
};

#define EIO_MSG_TYPE_AT(m) ((m)->buf + LWS_PRE)
#define EIO_MSG_DATA(m) ((m)->buf + LWS_PRE + 1)

typedef enum eio_conn_kind {
    EIO_CONN_NONE = 0,    /* HTTP request not yet classified */
    EIO_CONN_POLL_GET,    /* a polling GET: answered now or parked until data */
    EIO_CONN_POLL_POST,   /* a polling POST: body being read */
    EIO_CONN_RESPONSE,    /* any request with a complete response waiting to be written */
    EIO_CONN_APP_HTTP,    /* a request for the application's HTTP handler */
    EIO_CONN_WEBSOCKET,   /* an established websocket (session transport or probe) */
    EIO_CONN_REJECTED     /* response written, nothing more to do */
} eio_conn_kind;

/* lws allocates one per connection (the protocol's per-session data): the flags are
 * bytes so that it stays small. */
typedef struct eio_conn {
    eio_conn_kind kind;
    unsigned char too_large;   /* the body went over max_payload: answer 413 */
    unsigned char is_probe;    /* websocket: this is an upgrade probe, not yet the transport */
    unsigned char probe_pong;  /* probe: "3probe" is owed */
    unsigned char rx_partial;  /* websocket: a message is arriving in pieces into body */
    unsigned char resp_close;  /* close the connection after writing resp */
    unsigned char draining;    /* counted in srv->draining until its last bytes are written */
    struct lws *wsi;
    eio_session *session;  /* the session this connection serves, or NULL */
    sb_buf body;           /* POST body or websocket message being reassembled (owned) */
    char *origin;          /* request Origin, kept for CORS headers of late responses (owned) */
    uint8_t *resp;         /* complete HTTP response with LWS_PRE headroom (owned) */
    size_t resp_len;       /* bytes after the headroom */
    eio_http_deferred *deferred; /* an application request answered later, or NULL */
} eio_conn;

typedef enum eio_session_state {
    EIO_SESSION_OPEN = 0,
    EIO_SESSION_CLOSING,   /* app notified; flushing queued packets before the transport closes */
    EIO_SESSION_CLOSED     /* destroyed, waiting for its timer handle to close */
} eio_session_state;

typedef enum eio_timer_phase {
    EIO_PHASE_PING = 0,    /* waiting to send the next PING */
    EIO_PHASE_PONG,        /* PING sent, waiting for PONG */
    EIO_PHASE_CLOSE        /* closing: waiting for the transport to take the last packets */
} eio_timer_phase;

/* How a session ends, which decides what its transport is still told. */
typedef enum eio_close_mode {
    EIO_CLOSE_FLUSH = 0,   /* server-initiated: queued packets, then CLOSE, are delivered */
    EIO_CLOSE_ABORT,       /* error or timeout: queue dropped, a parked GET gets CLOSE */
    EIO_CLOSE_BY_CLIENT    /* the client sent CLOSE: queue dropped, a parked GET gets NOOP */
} eio_close_mode;

/* One per client, mostly idle: the field order leaves no padding. */
struct eio_session {
    UT_hash_handle hh;             /* in srv->sessions, keyed by sid */
    char sid[EIO_SID_LEN + 1];
    char remote[EIO_ADDR_LEN];
    signed char t_list;            /* index in srv->timers, -1 while no deadline is set */
    eio_timer_phase phase;         /* what the deadline is for */
    eio_server *srv;
    eio_transport_kind transport;
    eio_session_state state;
    int upgrading;                 /* a probe websocket answered "3probe" */
    int close_deferred;            /* closing polling: CLOSE goes out after the queue, alone */
    eio_conn *get;                 /* parked polling GET, or NULL */
    eio_conn *post;                /* polling POST in progress, or NULL */
    eio_conn *ws;                  /* websocket transport, or NULL */
    eio_conn *probe;               /* upgrade probe websocket, or NULL */
    eio_msg **q;                   /* outbound ring (owned references) */
    size_t q_head, q_len, q_cap;
    size_t q_bytes;                /* payload bytes queued, checked against max_outbound */
    eio_session *t_prev, *t_next;  /* in srv->timers[t_list]; t_next: in srv->dead once closed */
    uint64_t due;                  /* loop time of the deadline (heartbeat, upgrade, close) */
    void *data;                    /* application pointer */
    char query[];                  /* handshake query string, in the session's allocation */
};

/* Sessions waiting the same delay, in deadline order (loop time only moves forward). */
typedef struct eio_timer_list {
    uint64_t ms;
    eio_session *head, *tail;
} eio_timer_list;

struct eio_server {
    uv_loop_t *loop;
    eio_config cfg;                /* strings point into owned copies below */
    char *host, *path, *cors_origin, *cookie;
    eio_callbacks cb;
    void *ud;
    struct lws_context *lws;
    struct lws_protocols protocols[2];
    eio_session *sessions;         /* uthash head */
    size_t n_sessions;
    eio_http_handler http_handler;
    void *http_ud;
    int shutting_down;
    size_t draining;               /* connections with a response or close frame still to write */
    uint64_t shutdown_deadline;    /* loop time after which shutdown stops waiting for them */
    uv_timer_t shutdown_timer;
    /* Session deadlines: a uv_timer_t is 152 bytes, too much for every idle session, so
     * sessions wait on lists, one per delay (ping interval, ping timeout, the close
     * delays), and one timer serves the earliest head. */
    eio_timer_list timers[EIO_TIMER_LISTS];
    size_t n_timer_lists;
    uv_timer_t session_timer;
    uint64_t session_timer_due;    /* what session_timer is armed for, while active */
    eio_session *dead;             /* destroyed sessions, freed by reaper once the stack unwinds */
    uv_idle_t reaper;
    void (*shutdown_done)(void *);
    void *shutdown_ud;
    int port;
};

/* engine.c */
eio_server *eio_server_of(struct lws *wsi);
eio_session *session_find(eio_server *srv, const char *sid);
eio_session *session_create(eio_server *srv, eio_transport_kind t, eio_conn *c);
void session_on_packet(eio_session *s, const eio_packet *p);
void session_close(eio_session *s, const char *reason, eio_close_mode mode);
void session_heartbeat_start(eio_session *s);
int session_enqueue(eio_session *s, eio_msg *m);
eio_msg *session_dequeue(eio_session *s);
void session_flush(eio_session *s);
void session_maybe_destroy(eio_session *s);
void session_upgrade_done(eio_session *s);
int session_check_deadline(eio_session *s);
void session_send_packet(eio_session *s, eio_packet_type type, const void *data, size_t len);
void conn_detach(eio_conn *c);
void conn_drain_begin(eio_conn *c);
void conn_drain_end(eio_conn *c);

/* http.c */
int eio_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len);
void http_respond(eio_conn *c, int status, const char *ctype, const void *body, size_t len,
                  const char *extra_headers);
void http_respond_error(eio_conn *c, int code);
int http_error_body(int code, char *buf, size_t len);
int http_query_param(struct lws *wsi, const char *name, char *buf, size_t len);
char *http_query_string(struct lws *wsi);
void http_conn_reset(eio_conn *c);
int body_append_limited(eio_conn *c, const void *in, size_t len, size_t limit);

/* transport_polling.c */
void polling_handle_get(eio_conn *c, eio_session *s);
void polling_handle_post(eio_conn *c, eio_session *s);
void polling_handle_post_done(eio_conn *c);
void polling_answer_get(eio_session *s);
void polling_wake_get(eio_session *s);

/* transport_websocket.c */
int websocket_confirm_upgrade(struct lws *wsi);
int websocket_established(eio_conn *c);
int websocket_receive(eio_conn *c, const void *in, size_t len);
int websocket_writeable(eio_conn *c);
void websocket_closed(eio_conn *c);
void websocket_release(eio_conn *c);

/* Engine.IO error codes answered on HTTP 400, as the Node server numbers them. */
enum eio_http_error {
    EIO_ERR_UNKNOWN_TRANSPORT = 0,
    EIO_ERR_UNKNOWN_SID = 1,
    EIO_ERR_BAD_HANDSHAKE_METHOD = 2,
    EIO_ERR_BAD_REQUEST = 3,
    EIO_ERR_FORBIDDEN = 4,
    EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION = 5
};

#endif
