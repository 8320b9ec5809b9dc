/* engine_internal.h: what engine.c, the connection layer and the two transports share,
 * not part of the API.
 *
 * The one idea: a connection (eio_conn, one accepted TCP stream) moves bytes, a session
 * (eio_session) holds the Engine.IO state. A connection points at a session while it
 * serves it (the parked GET, the websocket or the upgrade probe), and the session points
 * back. Either side can go first, so whoever goes clears the other's pointer:
 * eio__conn_detach() when a connection ends, session_destroy() when a session does.
 *
 * Output is corked per loop turn: whatever is sent to a connection during a turn waits in
 * its queue, and one pass before the loop polls again (a uv_idle_t) writes each
 * connection that has output with one writev (uv_try_write). Only what the kernel did not
 * take goes through uv_write, and only then does libuv watch the socket for writability.
 * Reads land in one slab per server; a connection keeps bytes of its own only while it
 * holds an incomplete websocket frame (or a pipelined request it cannot serve yet).
 */
#ifndef EIO_ENGINE_INTERNAL_H
#define EIO_ENGINE_INTERNAL_H

#include <http_parser.h>
#include <uthash.h>
#include <uv.h>

#include "engine.h"
#include "list.h"
#include "websocket_codec.h"

#define EIO_SID_LEN          20 /* base64url characters: 15 random bytes, as Node's */
#define EIO_SID_MAX          (EIO_SID_TAG_MAX + 1 + EIO_SID_LEN) /* with a node tag */
#define EIO_SID_TAG_CHARS    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#define EIO_CLOSE_TIMEOUT_MS 30000 /* a closing polling session waits this long for its GET */
/* a client-closed polling session waits this long for a racing GET */
#define EIO_CLIENT_CLOSE_LINGER_MS 1000
#define EIO_SHUTDOWN_GRACE_MS      1000 /* shutdown waits this long for polling GETs to collect "1" */
#define EIO_SHUTDOWN_CHECK_MS      10   /* how often shutdown looks whether everyone has left */
#define EIO_QUEUE_INITIAL          8    /* first allocation of an outbound ring */
#define EIO_TIMER_LISTS            8    /* deadline lists: one per delay in use (see eio_server) */
#define EIO_ADDR_LEN               46   /* INET6_ADDRSTRLEN: the longest address in text form */
#define EIO_ERROR_BODY_MAX         96   /* {"code":N,"message":"…"} */
#define EIO_READ_SLAB              65536 /* the server's one read buffer */
#define EIO_LEFTOVER_MIN           4096  /* smallest buffer for a connection's incomplete input */
#define EIO_WRITE_IOV_MAX          64    /* buffers gathered into one writev */
#define EIO_HTTP_URL_MAX           8192  /* request target; longer: 414 */
#define EIO_HTTP_HEAD_MAX          16384 /* all header names and values; more: 431 */
#define EIO_HTTP_RESPONSE_HEAD_MAX 1024  /* status line and headers we write */
#define EIO_HTTP_IDLE_S            5     /* a keep-alive connection with no request is closed */
#define EIO_HTTP_REQUEST_S         30 /* a request must arrive whole, an answer leave, within this */
#define EIO_CLOSE_GRACE_S          2  /* a closing connection waits this long for the client */
#define EIO_SWEEP_MS               1000 /* how often connection deadlines are checked */
#define EIO_PROTOCOL_V3            3    /* Engine.IO revisions */
#define EIO_PROTOCOL_V4            4
#define EIO_VERSION_PARAM_MAX      16 /* room for the EIO query value */

/* An outbound unit: a packet (its websocket frame header written in the headroom, so that
 * one broadcast is encoded once for every recipient and transport) or raw bytes (an HTTP
 * response, a control frame). */
struct eio_msg {
    int refs;        /* owners: every queue and in-flight write holding it */
    uint8_t type;    /* eiop_packet_type */
    uint8_t binary;  /* raw bytes of a binary MESSAGE */
    uint8_t raw;     /* not a packet: the data is written as it is */
    uint8_t ws_hlen; /* bytes of websocket frame header before the frame's payload */
    size_t len;      /* bytes of data */
    /* EIO_MSG_HEADROOM bytes for the frame header, the type digit, then data: a text frame
     * is the type digit and data, a binary frame the data alone. */
    uint8_t buf[];
};

#define EIO_MSG_HEADROOM   WS_SERVER_HEADER_MAX
#define EIO_MSG_TYPE_AT(m) ((m)->buf + EIO_MSG_HEADROOM)
#define EIO_MSG_DATA(m)    ((m)->buf + EIO_MSG_HEADROOM + 1)

/* A message with room for cap bytes of raw data (len 0: the caller writes and sets it). */
eio_msg *eio_msg_raw(size_t cap);
/* The bytes a message puts on a websocket (a raw message: its data). */
const uint8_t *eio_msg_wire(const eio_msg *m, size_t *len);

/* A ring of message references. */
typedef struct eio_queue {
    eio_msg **q;
    uint32_t head, len, cap;
    size_t bytes; /* wire bytes queued */
} eio_queue;

void eio__queue_push(eio_queue *q, eio_msg *m); /* takes a new reference */
eio_msg *eio__queue_pop(eio_queue *q);          /* hands the queue's reference over */
eio_msg *eio__queue_at(const eio_queue *q, uint32_t i);
void eio__queue_clear(eio_queue *q); /* drops every reference, frees the ring */

typedef enum eio_conn_kind {
    EIO_CONN_HTTP = 0,  /* reading a request, or idle between keep-alive requests */
    EIO_CONN_POLL_GET,  /* a polling GET parked until data */
    EIO_CONN_DEFERRED,  /* an application request answered later */
    EIO_CONN_FORWARD,   /* a request (or tunnel) relayed to the node holding its session */
    EIO_CONN_WEBSOCKET, /* an established websocket (session transport or probe) */
    EIO_CONN_CLOSING    /* last bytes written or being written; then closed */
} eio_conn_kind;

/* The request being read: allocated at its first byte, freed once it is answered or
 * handed over, so a connection between requests (and every websocket) keeps none. */
/* Where the request's head is being written (http.c). */
typedef enum eio_head_state {
    EIO_HEAD_URL = 0,   /* the URL */
    EIO_HEAD_FIELD,     /* a header name */
    EIO_HEAD_VALUE,     /* between headers */
    EIO_HEAD_VALUE_OPEN /* a header value */
} eio_head_state;

/* The request being read: allocated at its first byte, freed once it is answered or
 * handed over, so a connection between requests (and every websocket) keeps none. */
typedef struct eio_http_in {
    http_parser parser;
    sb_buf head;       /* path NUL query NUL, then "name\0value\0" pairs (names lower
                        * case), then a NUL */
    size_t url_len;    /* bytes of URL at the start of head */
    size_t query_at;   /* offset of the query in head */
    size_t head_bytes; /* header bytes counted against EIO_HTTP_HEAD_MAX */
    sb_buf body;       /* the body (POST, PUT), up to max_payload */
    int limit_status;  /* 414 or 431 once a limit was hit */
    uint8_t state;     /* eio_head_state */
    uint8_t route;     /* what the body is for (http.c) */
    uint8_t fwd_ws;    /* a websocket upgrade to relay (forward.c) */
    uint8_t complete;  /* on_message_complete ran */
    uint8_t too_large; /* the body went over max_payload: answer 413 */
} eio_http_in;

typedef struct eio_conn eio_conn;

struct eio_conn {
    uv_tcp_t tcp; /* first: a handle pointer is a connection pointer */
    eio_server *srv;
    eio_session *session;        /* the session this connection serves, or NULL */
    eio_http_in *req;            /* request being read, or NULL */
    char *origin;                /* request Origin, kept for CORS headers of late responses */
    eio_http_deferred *deferred; /* an application request answered later, or NULL */
    eio_forward *fwd;            /* a request relayed to another node, or NULL (forward.c) */
    eio_vconn *virt;             /* a connection without a socket (forward.c), or NULL */
    eio_conn *flush_next;        /* in srv->flush while in_flush */
    uv_write_t *wreq;            /* write in flight (kernel pushed back), or NULL */
    uint8_t *in;                 /* leftover input, or NULL */
    uint32_t in_len, in_cap;
    uint32_t due_s;    /* second (server clock) this connection times out, 0: never */
    uint32_t inflight; /* messages of out handed to wreq */
    size_t out_off;    /* bytes of out's head already written */
    eio_queue out;     /* bytes to write, in order */
    sb_buf frag;       /* websocket: a fragmented message being assembled */
    ws_reader ws;      /* websocket: frame reader state */
    eio_conn_kind kind;
    uint8_t keep_alive;  /* HTTP: the current request lets the connection live on */
    uint8_t close_after; /* close once everything queued is written */
    uint8_t in_flush;    /* in srv->flush */
    uint8_t closed;      /* uv_close called */
    uint8_t freed_later; /* closed while in srv->flush: the flush pass frees it */
    uint8_t is_probe;    /* websocket: an upgrade probe, not yet the transport */
    uint8_t head_only;   /* HTTP: a HEAD request: no body in the answer */
    uint8_t reading;     /* uv_read_start is in effect */
};

/* The owner's side of a forwarded request: what a virtual connection (conn->virt) adds. */
struct eio_vconn {
    eio_conn *conn;
    eio_vconn_callbacks cb;
    void *ud;
    sb_list link;   /* in srv->vconns */
    sb_buf pending; /* written this turn, handed on after (with the end when it ends) */
    int ended;      /* cb.end ran, or the outside closed it */
};

typedef enum eio_session_state {
    EIO_SESSION_OPEN = 0,
    EIO_SESSION_CLOSING, /* app notified; flushing queued packets before the transport closes */
    EIO_SESSION_CLOSED   /* destroyed, waiting for its timer handle to close */
} eio_session_state;

typedef enum eio_timer_phase {
    EIO_PHASE_PING = 0, /* waiting to send the next PING */
    EIO_PHASE_PONG,     /* PING sent, waiting for PONG */
    EIO_PHASE_CLOSE     /* closing: waiting for the transport to take the last packets */
} eio_timer_phase;

/* How a session ends, which decides what its transport is still told. */
typedef enum eio_close_mode {
    EIO_CLOSE_FLUSH = 0, /* server-initiated: queued packets, then CLOSE, are delivered */
    EIO_CLOSE_ABORT,     /* error or timeout: queue dropped, a parked GET gets CLOSE */
    EIO_CLOSE_BY_CLIENT  /* the client sent CLOSE: queue dropped, a parked GET gets NOOP */
} eio_close_mode;

/* One per client, mostly idle: the field order leaves no padding. */
struct eio_session {
    UT_hash_handle hh; /* in srv->sessions, keyed by sid */
    char sid[EIO_SID_MAX + 1];
    char remote[EIO_ADDR_LEN];
    signed char t_list;    /* index in srv->timers, -1 while no deadline is set */
    uint8_t protocol;      /* Engine.IO revision: 4, or 3 */
    uint8_t b64;           /* v3: the client asked for base64 (b64=1): no binary payloads */
    uint8_t post_bin;      /* v3: the POST being read is a binary payload */
    eio_timer_phase phase; /* what the deadline is for */
    eio_server *srv;
    eio_transport_kind transport;
    eio_session_state state;
    int upgrading;      /* a probe websocket answered "3probe" */
    int close_deferred; /* closing polling: CLOSE goes out after the queue, alone */
    eio_conn *get;      /* parked polling GET, or NULL */
    eio_conn *post;     /* polling POST in progress, or NULL */
    eio_conn *ws;       /* websocket transport, or NULL */
    eio_conn *probe;    /* upgrade probe websocket, or NULL */
    eio_queue q;        /* outbound packets, bytes checked against max_outbound */
    sb_list t_link;     /* in srv->timers[t_list]; in srv->dead once closed */
    uint64_t due;       /* loop time of the deadline (heartbeat, upgrade, close) */
    void *data;         /* application pointer */
    char *headers;      /* eio_server_keep_headers(): the handshake's "name\0value\0"
                           pairs, then a NUL (owned); NULL: not kept */
    char query[];       /* handshake query string, in the session's allocation */
};

/* Sessions waiting the same delay, in deadline order (loop time only moves forward). */
typedef struct eio_timer_list {
    uint64_t ms;
    sb_list sessions; /* eio_session.t_link, earliest deadline first */
} eio_timer_list;

struct eio_server {
    uv_loop_t *loop;
    eio_config cfg;   /* strings point into owned copies below */
    int keep_headers; /* eio_server_keep_headers() */
    char *host, *path, *cors_origin, *cookie, *sid_prefix;
    eio_callbacks cb;
    void *ud;
    uv_tcp_t listener;
    uint8_t *slab;         /* EIO_READ_SLAB bytes every read lands in first */
    eio_conn *flush;       /* connections with output this loop turn */
    uv_idle_t flusher;     /* writes them before the loop polls again */
    uv_timer_t sweeper;    /* connection deadlines */
    size_t n_conns;        /* open connections (closed ones leave at their close callback) */
    eio_session *sessions; /* uthash head */
    size_t n_sessions;
    struct {
        eio_http_handler h;
        void *ud;
    } http_handlers[EIO_HTTP_HANDLERS_MAX]; /* tried in order until one answers */
    size_t n_http_handlers;
    int shutting_down;
    int closing_handles;        /* shutdown: the server's own handles still to close */
    uint64_t shutdown_deadline; /* loop time after which shutdown stops waiting for clients */
    uv_timer_t shutdown_timer;
    /* Session deadlines: a uv_timer_t is 152 bytes, too much for every idle session, so
     * sessions wait on lists, one per delay (ping interval, ping timeout, the close
     * delays), and one timer serves the earliest head. */
    eio_timer_list timers[EIO_TIMER_LISTS];
    size_t n_timer_lists;
    uv_timer_t session_timer;
    uint64_t session_timer_due; /* what session_timer is armed for, while active */
    sb_list dead;               /* destroyed sessions (t_link), freed by reaper once the
                                   stack unwinds */
    uv_idle_t reaper;
    eio_forwarder fw; /* relays requests for other nodes' sessions; start NULL: none */
    void *fw_ud;
    eio_forward_stats fw_stats;
    sb_list vconns; /* eio_vconn.link: connections without a socket */
    void (*shutdown_done)(void *);
    void *shutdown_ud;
    int port;
};

/* engine.c */
/* The protocol revision a handshake with this query starts: 4, 3, or -1 (refused). */
int eio__handshake_protocol(const eio_server *srv, const char *query);
eio_session *eio__session_find(eio_server *srv, const char *sid);
eio_session *eio__session_create(eio_server *srv, eio_transport_kind t, eio_conn *c);
void eio__session_on_packet(eio_session *s, const eiop_packet *p);
void eio__session_close(eio_session *s, const char *reason, eio_close_mode mode);
void eio__session_heartbeat_start(eio_session *s);
void eio__session_flush(eio_session *s);
void eio__session_maybe_destroy(eio_session *s);
void eio__session_upgrade_done(eio_session *s);
int eio__session_check_deadline(eio_session *s);
void eio__session_send_packet(eio_session *s, eiop_packet_type type, const void *data, size_t len);
void eio__conn_detach(eio_conn *c);

/* conn.c: accepted streams, reading, corked writing, deadlines */
int eio__conn_listen(eio_server *srv, char *err, size_t errlen);
void eio__conn_send(eio_conn *c, eio_msg *m);  /* queues m (a new reference) for this turn */
void eio__conn_want_flush(eio_conn *c);        /* writes c (and its session) this turn */
void eio__conn_close_after_write(eio_conn *c); /* ends c once its output is written */
void eio__conn_close(eio_conn *c);             /* ends c now, dropping unwritten output */
void eio__conn_set_timeout(eio_conn *c, unsigned seconds); /* 0: none */
int eio__conn_output_pending(const eio_conn *c);
int eio__conn_peer_name(eio_conn *c, char *buf, size_t len);
void eio__conn_close_all(eio_server *srv);
int eio__conn_count_pending(eio_server *srv);
void eio__conn_resume(eio_conn *c);           /* free for the next request again */
void eio__server_maybe_done(eio_server *srv); /* engine.c: shutdown finished? */

/* conn.c: bytes that did not come from a socket (a virtual connection's input) */
void eio__conn_input(eio_conn *c, const uint8_t *data, size_t len);
void eio__conn_walk(eio_server *srv, void (*fn)(eio_conn *c, void *arg), void *arg);

/* forward.c: sessions held by another node */
/* 1 when sid is not here and its tag names another node that a forwarder can reach. */
int eio__forward_wanted(eio_conn *c, const char *sid);
/* Relays the request being read (c->req, whole) to the owner; on failure answers 400. */
void eio__forward_request(eio_conn *c);
/* Client bytes on a tunnel; returns how many were taken (all). */
size_t eio__forward_feed(eio_conn *c, const uint8_t *data, size_t len);
void eio__forward_cancel(eio_conn *c); /* the client's connection ends */
/* A virtual connection's output, and its end. */
void eio__vconn_write(eio_conn *c);  /* the output queue into pending */
void eio__vconn_output(eio_conn *c); /* pending to cb.output, when not ended meanwhile */
void eio__vconn_done(eio_conn *c, int keep);
void eio__vconn_free(eio_conn *c);

/* http.c: requests, on http-parser */
size_t eio__http_feed(eio_conn *c, const uint8_t *data, size_t len);
void eio__http_conn_reset(eio_conn *c);
void eio__http_respond(eio_conn *c, int status, const char *ctype, const void *body, size_t len,
                       const char *extra_headers);
void eio__http_respond_error(eio_conn *c, int code);
int eio__http_error_body(int code, char *buf, size_t len);
int eio__http_query_param(const char *query, const char *name, char *buf, size_t len);
const char *eio__http_req_query(const eio_conn *c); /* raw query of the request being read */
/* The pairs of a header block ("name\0value\0"…, then a NUL: a request's, names in lower
 * case, or a session's copy of it): 0 with the next name and value, *pos (0 at first)
 * moved past them, or -1 after the last. */
int eio__header_next(const char *block, size_t *pos, const char **name, const char **value);
const char *eio__http_req_headers(const eio_conn *c); /* the request's header block */
const char *eio__http_req_header(const eio_conn *c, const char *lower_name);
char *eio__http_query_decoded(const char *query); /* url-decoded pairs joined by '&' (malloc) */
void eio__http_route_post(eio_conn *c);           /* the body is a polling payload */
void eio__http_route_forward(eio_conn *c);        /* the request goes to another node */

/* transport_polling.c */
int eio__polling_jsonp(const char *query); /* 1: a JSONP poll (j=), which is not offered */
void eio__polling_handle_get(eio_conn *c, eio_session *s);
void eio__polling_handle_post(eio_conn *c, eio_session *s);
void eio__polling_handle_post_done(eio_conn *c, const uint8_t *body, size_t len, int too_large);
void eio__polling_answer_get(eio_session *s);

/* transport_websocket.c */
int eio__websocket_upgrade(eio_conn *c); /* answers the upgrade request; -1: refused */
size_t eio__websocket_feed(eio_conn *c, uint8_t *data, size_t len, size_t *need);
void eio__websocket_flush(eio_conn *c); /* moves the session's packets to the output */
void eio__websocket_closed(eio_conn *c);
void eio__websocket_release(eio_conn *c);
void eio__websocket_send_close(eio_conn *c, uint16_t code, const char *reason);

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
