/* engine.c: Engine.IO sessions: lifecycle, heartbeat, outbound queue, packet dispatch.
 *
 * A session outlives the connections that carry it (a polling session is a series of
 * HTTP requests; an upgrade swaps one transport for another), so the session holds the
 * state and the transports only move bytes. Each session has one deadline at a time (next
 * PING, PONG due, upgrade due, close flushed); the deadlines wait on lists, one per delay,
 * and one uv timer of the server serves them all, which keeps a 300 ms heartbeat on time
 * no matter what else the loop does: uv runs due timers first.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "random.h"
#include "url.h"

void eio_config_defaults(eio_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->host = "127.0.0.1";
    cfg->port = 3000;
    cfg->path = "/socket.io/";
    cfg->ping_interval_ms = 25000;
    cfg->ping_timeout_ms = 20000;
    cfg->upgrade_timeout_ms = 10000;
    cfg->max_payload = 1000000;
    cfg->max_outbound = 4u << 20;
    cfg->allow_polling = 1;
    cfg->allow_websocket = 1;
}

/* ---- messages ---- */

static eio_msg *msg_alloc(size_t len)
{
    eio_msg *m = malloc(sizeof(*m) + EIO_MSG_HEADROOM + 1 + len);
    if (!m)
        abort();
    m->refs = 1;
    m->binary = 0;
    m->raw = 0;
    m->ws_hlen = 0;
    return m;
}

eio_msg *eio_msg_new(eiop_packet_type type, const void *data, size_t len, int binary)
{
    eio_msg *m = msg_alloc(len);
    m->type = (uint8_t)type;
    m->binary = (uint8_t)(binary != 0);
    m->len = len;
    *EIO_MSG_TYPE_AT(m) = (uint8_t)('0' + type);
    if (len)
        memcpy(EIO_MSG_DATA(m), data, len);
    /* The websocket frame header, once for every recipient: a text frame is the type
     * digit and data, a binary frame the data alone. */
    if (binary)
        m->ws_hlen = (uint8_t)ws_frame_header_before(EIO_MSG_DATA(m), WS_OP_BINARY, len);
    else
        m->ws_hlen = (uint8_t)ws_frame_header_before(EIO_MSG_TYPE_AT(m), WS_OP_TEXT, len + 1);
    return m;
}

eio_msg *eio_msg_raw(size_t cap)
{
    eio_msg *m = msg_alloc(cap);
    m->type = EIOP_PACKET_NOOP;
    m->raw = 1;
    m->len = 0;
    return m;
}

const uint8_t *eio_msg_wire(const eio_msg *m, size_t *len)
{
    const uint8_t *start = m->raw || m->binary ? EIO_MSG_DATA(m) : EIO_MSG_TYPE_AT(m);
    size_t plen = m->raw || m->binary ? m->len : m->len + 1;
    *len = plen + m->ws_hlen;
    return start - m->ws_hlen;
}

eio_msg *eio_msg_ref(eio_msg *m)
{
    m->refs++;
    return m;
}

void eio_msg_unref(eio_msg *m)
{
    if (m && --m->refs == 0)
        free(m);
}

/* ---- queues (rings of references) ---- */

static void queue_grow(eio_queue *q)
{
    uint32_t cap = q->cap ? q->cap * 2 : EIO_QUEUE_INITIAL;
    eio_msg **ring = malloc(cap * sizeof(*ring));
    if (!ring)
        abort();
    for (uint32_t i = 0; i < q->len; i++)
        ring[i] = q->q[(q->head + i) % q->cap];
    free(q->q);
    q->q = ring;
    q->cap = cap;
    q->head = 0;
}

static size_t wire_len(const eio_msg *m)
{
    size_t len;
    eio_msg_wire(m, &len);
    return len;
}

void eio__queue_push(eio_queue *q, eio_msg *m)
{
    if (q->len == q->cap)
        queue_grow(q);
    q->q[(q->head + q->len) % q->cap] = eio_msg_ref(m);
    q->len++;
    q->bytes += wire_len(m);
}

eio_msg *eio__queue_at(const eio_queue *q, uint32_t i) { return q->q[(q->head + i) % q->cap]; }

eio_msg *eio__queue_pop(eio_queue *q)
{
    if (!q->len)
        return NULL;
    eio_msg *m = q->q[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    q->bytes -= wire_len(m);
    if (!q->len) {
        /* an idle queue keeps no ring: most sessions are idle most of the time */
        free(q->q);
        q->q = NULL;
        q->cap = q->head = 0;
    }
    return m;
}

void eio__queue_clear(eio_queue *q)
{
    eio_msg *m;
    while ((m = eio__queue_pop(q)))
        eio_msg_unref(m);
}

/* Asks whichever transport carries the session to write what is queued. */
void eio__session_flush(eio_session *s)
{
    if (!s->q.len)
        return;
    if (s->transport == EIO_TRANSPORT_WEBSOCKET && s->ws)
        eio__conn_want_flush(s->ws);
    else if (s->transport == EIO_TRANSPORT_POLLING && s->get)
        eio__conn_want_flush(s->get);
}

void eio__session_send_packet(eio_session *s, eiop_packet_type type, const void *data, size_t len)
{
    eio_msg *m = eio_msg_new(type, data, len, 0);
    eio_session_send_msg(s, m);
    eio_msg_unref(m);
}

/* Bytes waiting for this client: queued, and handed to the websocket but unwritten. */
static size_t session_backlog(const eio_session *s)
{
    return s->q.bytes + (s->ws ? s->ws->out.bytes : 0);
}

/* Queues m (a new reference) and flushes, past any limit: the caller has checked. */
static void session_enqueue(eio_session *s, eio_msg *m)
{
    eio__queue_push(&s->q, m);
    eio__session_flush(s);
}

int eio_session_send_msg(eio_session *s, eio_msg *m)
{
    if (s->state != EIO_SESSION_OPEN)
        return -1;
    if (session_backlog(s) + wire_len(m) > s->srv->cfg.max_outbound) {
        eio__session_close(s, EIO_REASON_SLOW_CONSUMER, EIO_CLOSE_ABORT);
        return -1;
    }
    session_enqueue(s, m);
    return 0;
}

int eio_session_send(eio_session *s, const void *data, size_t len, int binary)
{
    eio_msg *m = eio_msg_new(EIOP_PACKET_MESSAGE, data, len, binary);
    int rc = eio_session_send_msg(s, m);
    eio_msg_unref(m);
    return rc;
}

/* What is queued this turn goes out at its end: only a kernel that pushed back (a write
 * in flight) makes a websocket unwritable. */
int eio_session_writable(const eio_session *s)
{
    if (s->state != EIO_SESSION_OPEN)
        return 0;
    if (s->transport == EIO_TRANSPORT_WEBSOCKET)
        return s->ws && !s->ws->wreq;
    return s->get != NULL;
}

/* ---- lifecycle ---- */

eio_session *eio__session_find(eio_server *srv, const char *sid)
{
    eio_session *s = NULL;
    HASH_FIND_STR(srv->sessions, sid, s);
    return s;
}

/* ---- deadlines ---- */

static void session_deadline(eio_session *s);

static void timer_unlink(eio_session *s)
{
    if (s->t_list < 0)
        return;
    sb_list_remove(&s->t_link);
    s->t_list = -1;
}

/* Onto the list of its delay, in deadline order: at the tail, unless the delays outnumber
 * the lists and the last one is shared. */
static void timer_link(eio_session *s, uint64_t ms)
{
    eio_server *srv = s->srv;
    size_t i = 0;
    while (i < srv->n_timer_lists && srv->timers[i].ms != ms)
        i++;
    if (i == srv->n_timer_lists) {
        if (i < EIO_TIMER_LISTS)
            srv->timers[srv->n_timer_lists++].ms = ms;
        else
            i = EIO_TIMER_LISTS - 1;
    }
    sb_list *head = &srv->timers[i].sessions, *after = head->prev;
    while (after != head && SB_LIST_DATA(after, eio_session, t_link)->due > s->due)
        after = after->prev;
    sb_list_insert_after(after, &s->t_link);
    s->t_list = (signed char)i;
}

static eio_session *timers_first(eio_server *srv)
{
    eio_session *first = NULL;
    for (size_t i = 0; i < srv->n_timer_lists; i++) {
        eio_session *h = SB_LIST_FIRST(&srv->timers[i].sessions, eio_session, t_link);
        if (h && (!first || h->due < first->due))
            first = h;
    }
    return first;
}

static void timers_fire(uv_timer_t *t);

static void timers_arm(eio_server *srv, uint64_t due)
{
    uint64_t now = uv_now(srv->loop);
    srv->session_timer_due = due;
    uv_timer_start(&srv->session_timer, timers_fire, due > now ? due - now : 0, 0);
}

/* Runs every deadline that is due, earliest first, then waits for the next one. */
static void timers_fire(uv_timer_t *t)
{
    eio_server *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    eio_session *s;
    while ((s = timers_first(srv)) && s->due <= now) {
        timer_unlink(s);
        session_deadline(s);
    }
    if ((s = timers_first(srv)))
        timers_arm(srv, s->due);
    else
        uv_timer_stop(&srv->session_timer);
}

static void timer_schedule(eio_session *s, eio_timer_phase phase, uint64_t ms)
{
    eio_server *srv = s->srv;
    if (s->state == EIO_SESSION_CLOSED)
        return;
    s->phase = phase;
    timer_unlink(s);
    s->due = uv_now(srv->loop) + ms;
    timer_link(s, ms);
    /* an unlinked head only makes the timer fire early for nothing, and it re-arms */
    if (!uv_is_active((uv_handle_t *)&srv->session_timer) || s->due < srv->session_timer_due)
        timers_arm(srv, s->due);
}

/* Destroyed sessions are freed once the current callbacks have returned (a caller up the
 * stack may still look at the session), at the loop's next idle phase. */
static void sessions_reap(eio_server *srv)
{
    eio_session *s;
    while ((s = SB_LIST_FIRST(&srv->dead, eio_session, t_link))) {
        sb_list_remove(&s->t_link);
        free(s->headers);
        free(s);
    }
}

static void reaper_cb(uv_idle_t *h)
{
    sessions_reap(h->data);
    uv_idle_stop(h);
}

/* v4: the server pings every interval. v3: the client pings, and the session ends unless a
 * PING arrives within interval + timeout of the last (Node's resetPingTimeout). */
void eio__session_heartbeat_start(eio_session *s)
{
    const eio_config *cfg = &s->srv->cfg;
    if (s->protocol == EIO_PROTOCOL_V3)
        timer_schedule(s, EIO_PHASE_PONG, (uint64_t)cfg->ping_interval_ms + cfg->ping_timeout_ms);
    else
        timer_schedule(s, EIO_PHASE_PING, cfg->ping_interval_ms);
}

int eio__handshake_protocol(const eio_server *srv, const char *query)
{
    char version[EIO_VERSION_PARAM_MAX];
    if (eio__http_query_param(query, "EIO", version, sizeof(version)) >= 0 && !strcmp(version, "4"))
        return EIO_PROTOCOL_V4;
    /* As Node's computeProtocolRevision: anything but "4", or no EIO at all, is v3. */
    return srv->cfg.allow_eio3 ? EIO_PROTOCOL_V3 : -1;
}

static void session_send_handshake(eio_session *s)
{
    static const char *const upgrades[] = {"websocket"};
    const eio_config *cfg = &s->srv->cfg;
    int offer = s->transport == EIO_TRANSPORT_POLLING && cfg->allow_websocket;
    sb_buf b;
    sb_buf_init(&b);
    eiop_handshake_encode(&b, s->sid, upgrades, offer ? 1 : 0, cfg->ping_interval_ms,
                          cfg->ping_timeout_ms, cfg->max_payload);
    /* The encoder wrote the type digit too: the message holds only what follows it. It is
     * queued without the max_outbound check: a session closed as a slow consumer here
     * would reach on_close before on_open, and on_open would then run for a freed one. */
    eio_msg *m = eio_msg_new(EIOP_PACKET_OPEN, b.data + 1, b.len - 1, 0);
    session_enqueue(s, m);
    eio_msg_unref(m);
    sb_buf_free(&b);
}

/* A copy of the request's header block (eio__header_next), with its closing NUL. */
static char *headers_copy(const eio_conn *c)
{
    if (!c->req)
        return NULL;
    const char *block = eio__http_req_headers(c), *name, *value;
    size_t len = 0;
    while (!eio__header_next(block, &len, &name, &value))
        ;
    char *copy = malloc(len + 1);
    if (!copy)
        abort();
    memcpy(copy, block, len + 1);
    return copy;
}

void eio_server_keep_headers(eio_server *srv, int keep) { srv->keep_headers = keep; }

int eio_session_header_next(const eio_session *s, size_t *pos, const char **name,
                            const char **value)
{
    return s->headers ? eio__header_next(s->headers, pos, name, value) : -1;
}

eio_session *eio__session_create(eio_server *srv, eio_transport_kind t, eio_conn *c)
{
    char *query = eio__http_query_decoded(eio__http_req_query(c));
    size_t query_len = strlen(query);
    eio_session *s = calloc(1, sizeof(*s) + query_len + 1); /* the query in the same block */
    if (!s)
        abort();
    memcpy(s->query, query, query_len + 1);
    free(query);
    s->srv = srv;
    s->protocol = (uint8_t)(eio__handshake_protocol(srv, eio__http_req_query(c)) == EIO_PROTOCOL_V3
                                ? EIO_PROTOCOL_V3
                                : EIO_PROTOCOL_V4);
    /* Node's supportsBinary: any b64 value in the handshake query asks for base64. */
    s->b64 = sb_query_find(eio__http_req_query(c), "b64", &(size_t){0}) != NULL;
    s->transport = t;
    size_t tag = srv->cfg.sid_prefix ? strlen(srv->cfg.sid_prefix) : 0;
    if (tag) {
        memcpy(s->sid, srv->cfg.sid_prefix, tag);
        s->sid[tag++] = EIO_SID_TAG_SEP;
    }
    do
        sb_random_id(s->sid + tag, EIO_SID_LEN);
    while (eio__session_find(srv, s->sid));
    eio__conn_peer_name(c, s->remote, sizeof(s->remote));
    if (srv->keep_headers)
        s->headers = headers_copy(c);
    s->t_list = -1;
    HASH_ADD_STR(srv->sessions, sid, s);
    srv->n_sessions++;
    c->session = s;
    if (t == EIO_TRANSPORT_WEBSOCKET)
        s->ws = c;
    session_send_handshake(s);
    eio__session_heartbeat_start(s);
    if (srv->cb.on_open)
        srv->cb.on_open(s, srv->ud);
    return s;
}

void eio__conn_detach(eio_conn *c)
{
    eio_session *s = c->session;
    if (!s)
        return;
    if (s->probe == c)
        s->upgrading = 0; /* a probe that went before "5": the session polls on */
    if (s->get == c)
        s->get = NULL;
    if (s->post == c)
        s->post = NULL;
    if (s->ws == c)
        s->ws = NULL;
    if (s->probe == c)
        s->probe = NULL;
    c->session = NULL;
}

/* Drops the session for good. Connections still attached are told to end: a parked GET
 * gets what is queued (the CLOSE or NOOP packet among it), websockets are closed. */
static void session_destroy(eio_session *s)
{
    eio_server *srv = s->srv;
    s->state = EIO_SESSION_CLOSED;
    if (s->get)
        eio__polling_answer_get(s);
    eio_conn *ws[2] = {s->ws, s->probe};
    for (int i = 0; i < 2; i++)
        if (ws[i])
            eio__websocket_release(ws[i]);
    if (s->post)
        eio__conn_detach(s->post);
    eio__queue_clear(&s->q);
    HASH_DEL(srv->sessions, s);
    srv->n_sessions--;
    timer_unlink(s);
    sb_list_insert_tail(&srv->dead, &s->t_link);
    uv_idle_start(&srv->reaper, reaper_cb);
}

static void queue_push_packet(eio_session *s, eiop_packet_type type)
{
    eio_msg *m = eio_msg_new(type, NULL, 0, 0);
    eio__queue_push(&s->q, m);
    eio_msg_unref(m);
}

/* A closing session is destroyed once its transport has taken the last packets. */
void eio__session_maybe_destroy(eio_session *s)
{
    if (s->state != EIO_SESSION_CLOSING || s->q.len != 0)
        return;
    if (s->close_deferred && s->transport == EIO_TRANSPORT_POLLING) {
        s->close_deferred = 0;
        queue_push_packet(s, EIOP_PACKET_CLOSE); /* for the next GET */
        return;
    }
    session_destroy(s);
}

/* Ends the session for the application at once (on_close runs now); what the transport is
 * still told depends on mode (see eio_close_mode). Only a flushing close outlives this
 * call, until the transport took the last packets or EIO_CLOSE_TIMEOUT_MS passed. */
void eio__session_close(eio_session *s, const char *reason, eio_close_mode mode)
{
    if (s->state != EIO_SESSION_OPEN)
        return;
    eio_server *srv = s->srv;
    s->state = EIO_SESSION_CLOSING;
    if (srv->cb.on_close)
        srv->cb.on_close(s, reason, srv->ud);
    s->data = NULL;
    if (mode != EIO_CLOSE_FLUSH) {
        eio__queue_clear(&s->q);
        if (s->transport == EIO_TRANSPORT_POLLING && (s->get || mode == EIO_CLOSE_BY_CLIENT))
            queue_push_packet(s,
                              mode == EIO_CLOSE_BY_CLIENT ? EIOP_PACKET_NOOP : EIOP_PACKET_CLOSE);
        if (s->get || mode != EIO_CLOSE_BY_CLIENT || s->transport != EIO_TRANSPORT_POLLING) {
            session_destroy(s);
            return;
        }
        /* The client POSTed CLOSE with no GET parked: its last GET may be on its way on
         * another connection (they race), and gets the NOOP instead of "unknown sid". */
        timer_schedule(s, EIO_PHASE_CLOSE, EIO_CLIENT_CLOSE_LINGER_MS);
        return;
    }
    if (s->transport == EIO_TRANSPORT_POLLING && s->q.len > 0 && !srv->shutting_down) {
        /* As Node's polling transport: the queued packets go out first, the CLOSE with the
         * next GET. socket.io-client handles decoded packets a tick late but a CLOSE at
         * once, so in one payload the CLOSE would overtake a DISCONNECT before it (the
         * client would see "transport close", then "io server disconnect" too). Not while
         * shutting down: the listener is closed, the next GET may find no server. */
        s->close_deferred = 1;
    } else {
        queue_push_packet(s, EIOP_PACKET_CLOSE);
        if (s->transport == EIO_TRANSPORT_POLLING && s->get) {
            session_destroy(s);
            return;
        }
    }
    if (s->transport == EIO_TRANSPORT_WEBSOCKET && !s->ws) {
        session_destroy(s);
        return;
    }
    timer_schedule(s, EIO_PHASE_CLOSE,
                   srv->shutting_down ? EIO_SHUTDOWN_GRACE_MS : EIO_CLOSE_TIMEOUT_MS);
    eio__session_flush(s);
}

void eio_session_close(eio_session *s)
{
    eio__session_close(s, EIO_REASON_FORCED_CLOSE, EIO_CLOSE_FLUSH);
}

static void session_deadline(eio_session *s)
{
    const eio_config *cfg = &s->srv->cfg;
    switch (s->phase) {
    case EIO_PHASE_PING:
        timer_schedule(s, EIO_PHASE_PONG, cfg->ping_timeout_ms);
        eio__session_send_packet(s, EIOP_PACKET_PING, NULL, 0);
        break;
    case EIO_PHASE_PONG: eio__session_close(s, EIO_REASON_PING_TIMEOUT, EIO_CLOSE_ABORT); break;
    case EIO_PHASE_CLOSE: session_destroy(s); break;
    }
}

/* A request may arrive in the same loop turn as the PONG deadline, before the timer ran:
 * the deadline is checked against the clock, so a late client is never served. */
int eio__session_check_deadline(eio_session *s)
{
    if (s->state != EIO_SESSION_OPEN || s->phase != EIO_PHASE_PONG)
        return 0;
    uv_update_time(s->srv->loop);
    if (s->due > uv_now(s->srv->loop))
        return 0;
    eio__session_close(s, EIO_REASON_PING_TIMEOUT, EIO_CLOSE_ABORT);
    return 1;
}

/* The probe sent "5": it becomes the transport. A parked polling GET leaves with a NOOP
 * and everything else queued goes over the websocket. */
void eio__session_upgrade_done(eio_session *s)
{
    eio_conn *ws = s->probe;
    s->probe = NULL;
    ws->is_probe = 0;
    s->ws = ws;
    s->upgrading = 0;
    eio__conn_set_timeout(ws, 0);
    if (s->get) {
        eio_conn *get = s->get;
        /* a payload of one NOOP: "6", or "1:6" in v3's string form */
        const char *noop = s->protocol == EIO_PROTOCOL_V3 ? "1:6" : "6";
        eio__conn_detach(get);
        eio__http_respond(get, 200, "text/plain; charset=UTF-8", noop, strlen(noop), NULL);
    }
    s->transport = EIO_TRANSPORT_WEBSOCKET;
    if (s->q.len)
        eio__conn_want_flush(ws);
    if (s->srv->cb.on_upgrade)
        s->srv->cb.on_upgrade(s, s->srv->ud);
}

/* ---- incoming packets, from either transport ---- */

void eio__session_on_packet(eio_session *s, const eiop_packet *p)
{
    eio_server *srv = s->srv;
    if (s->state != EIO_SESSION_OPEN)
        return;
    switch (p->type) {
    case EIOP_PACKET_PING:
        if (s->protocol == EIO_PROTOCOL_V3) {
            /* Node answers a v3 PING with a bare PONG and restarts the timeout. */
            eio__session_heartbeat_start(s);
            eio__session_send_packet(s, EIOP_PACKET_PONG, NULL, 0);
            break;
        }
        eio__session_send_packet(s, EIOP_PACKET_PONG, p->data, p->len);
        break;
    case EIOP_PACKET_PONG:
        if (s->protocol == EIO_PROTOCOL_V3) /* Node: "invalid heartbeat direction" */
            eio__session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        else if (s->phase == EIO_PHASE_PONG)
            eio__session_heartbeat_start(s);
        break;
    case EIOP_PACKET_MESSAGE:
        if (srv->cb.on_message)
            srv->cb.on_message(s, p->data, p->len, p->binary, srv->ud);
        break;
    case EIOP_PACKET_CLOSE:
        eio__session_close(s, EIO_REASON_TRANSPORT_CLOSE, EIO_CLOSE_BY_CLIENT);
        break;
    default:
        /* OPEN, UPGRADE and NOOP mean nothing from a client on an open transport. */
        break;
    }
}

/* ---- accessors ---- */

const char *eio_session_id(const eio_session *s) { return s->sid; }
eio_transport_kind eio_session_transport(const eio_session *s) { return s->transport; }
int eio_session_protocol(const eio_session *s) { return s->protocol; }
const char *eio_session_query(const eio_session *s) { return s->query; }
const char *eio_session_remote_addr(const eio_session *s) { return s->remote; }
void eio_session_set_data(eio_session *s, void *data) { s->data = data; }
void *eio_session_data(const eio_session *s) { return s->data; }
eio_server *eio_session_server(const eio_session *s) { return s->srv; }

int eio_session_query_param(const eio_session *s, const char *name, char *buf, size_t len)
{
    size_t vlen;
    const char *v = sb_query_find(eio_session_query(s), name, &vlen);
    if (!v || vlen >= len)
        return -1;
    memcpy(buf, v, vlen);
    buf[vlen] = '\0';
    return (int)vlen;
}

/* ---- server ---- */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void server_copy_config(eio_server *srv, const eio_config *cfg)
{
    srv->cfg = *cfg;
    srv->host = dup_or_null(cfg->host);
    srv->path = dup_or_null(cfg->path ? cfg->path : "/socket.io/");
    srv->cors_origin = dup_or_null(cfg->cors_origin);
    srv->cookie = dup_or_null(cfg->cookie);
    srv->sid_prefix = cfg->sid_prefix && *cfg->sid_prefix ? strdup(cfg->sid_prefix) : NULL;
    srv->cfg.sid_prefix = srv->sid_prefix;
    srv->cfg.host = srv->host;
    srv->cfg.path = srv->path;
    srv->cfg.cors_origin = srv->cors_origin;
    srv->cfg.cookie = srv->cookie;
}

static void server_free(eio_server *srv)
{
    free(srv->host);
    free(srv->path);
    free(srv->cors_origin);
    free(srv->cookie);
    free(srv->sid_prefix);
    free(srv);
}

static int config_check(const eio_config *cfg, char *err, size_t errlen)
{
    const char *path = cfg->path ? cfg->path : "/socket.io/";
    if (path[0] != '/') {
        snprintf(err, errlen, "path must start with '/': %s", path);
        return -1;
    }
    if (!cfg->allow_polling && !cfg->allow_websocket) {
        snprintf(err, errlen, "no transport enabled");
        return -1;
    }
    if (cfg->sid_prefix &&
        (strlen(cfg->sid_prefix) > EIO_SID_TAG_MAX ||
         strspn(cfg->sid_prefix, EIO_SID_TAG_CHARS) != strlen(cfg->sid_prefix))) {
        snprintf(err, errlen, "sid prefix must be at most %d base64url characters",
                 EIO_SID_TAG_MAX);
        return -1;
    }
    if (!cfg->ping_interval_ms || !cfg->ping_timeout_ms || !cfg->max_payload) {
        snprintf(err, errlen, "ping interval, ping timeout and max payload must be positive");
        return -1;
    }
    return 0;
}

eio_server *eio_server_new(uv_loop_t *loop, const eio_config *cfg, const eio_callbacks *cb,
                           void *ud, char *err, size_t errlen)
{
    if (config_check(cfg, err, errlen))
        return NULL;
    eio_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        abort();
    srv->loop = loop;
    for (size_t i = 0; i < EIO_TIMER_LISTS; i++)
        sb_list_init(&srv->timers[i].sessions);
    sb_list_init(&srv->dead);
    sb_list_init(&srv->vconns);
    server_copy_config(srv, cfg);
    if (cb)
        srv->cb = *cb;
    srv->ud = ud;
    if (eio__conn_listen(srv, err, errlen)) {
        server_free(srv);
        return NULL;
    }
    uv_timer_init(loop, &srv->shutdown_timer);
    srv->shutdown_timer.data = srv;
    uv_timer_init(loop, &srv->session_timer);
    srv->session_timer.data = srv;
    uv_idle_init(loop, &srv->reaper);
    srv->reaper.data = srv;
    return srv;
}

int eio_server_port(const eio_server *srv) { return srv->port; }
uv_loop_t *eio_server_loop(const eio_server *srv) { return srv->loop; }
const eio_config *eio_server_config(const eio_server *srv) { return &srv->cfg; }
size_t eio_server_session_count(const eio_server *srv) { return srv->n_sessions; }

void eio_server_set_http_handler(eio_server *srv, eio_http_handler h, void *ud)
{
    srv->n_http_handlers = 0;
    eio_server_add_http_handler(srv, h, ud);
}

void eio_server_add_http_handler(eio_server *srv, eio_http_handler h, void *ud)
{
    if (srv->n_http_handlers == EIO_HTTP_HANDLERS_MAX)
        abort(); /* a fixed few parts of one program add handlers */
    srv->http_handlers[srv->n_http_handlers].h = h;
    srv->http_handlers[srv->n_http_handlers++].ud = ud;
}

void eio__server_maybe_done(eio_server *srv)
{
    if (srv->closing_handles || srv->n_conns || !srv->shutdown_done)
        return;
    void (*done)(void *) = srv->shutdown_done;
    srv->shutdown_done = NULL;
    done(srv->shutdown_ud);
}

static void own_handle_closed(uv_handle_t *h)
{
    eio_server *srv = h->data;
    srv->closing_handles--;
    eio__server_maybe_done(srv);
}

static void close_own(eio_server *srv, void *handle)
{
    srv->closing_handles++;
    uv_close(handle, own_handle_closed);
}

/* Shutdown ends once every session is gone and every last response or close frame is
 * written, or when the grace period is over: then whatever is left is dropped, every
 * connection and handle is closed, and done runs once the last of them has. */
static void shutdown_check(uv_timer_t *t)
{
    eio_server *srv = t->data;
    eio_session *s, *tmp;
    if ((srv->n_sessions || eio__conn_count_pending(srv)) &&
        uv_now(srv->loop) < srv->shutdown_deadline)
        return;
    HASH_ITER(hh, srv->sessions, s, tmp)
    session_destroy(s);
    uv_timer_stop(t);
    sessions_reap(srv); /* a timer callback: nothing up the stack holds them */
    eio__conn_close_all(srv);
    srv->closing_handles++; /* until every handle below is closing */
    close_own(srv, &srv->session_timer);
    close_own(srv, &srv->reaper);
    close_own(srv, &srv->sweeper);
    close_own(srv, &srv->flusher);
    close_own(srv, &srv->shutdown_timer);
    srv->closing_handles--;
    eio__server_maybe_done(srv);
}

void eio_server_free(eio_server *srv)
{
    /* connections closed while waiting for a flush pass that never came */
    while (srv->flush) {
        eio_conn *c = srv->flush;
        srv->flush = c->flush_next;
        if (c->freed_later) {
            free(c->virt);
            free(c);
        }
    }
    free(srv->slab);
    server_free(srv);
}

void eio_server_shutdown(eio_server *srv, void (*done)(void *ud), void *ud)
{
    eio_session *s, *tmp;
    if (srv->shutting_down)
        return;
    srv->shutting_down = 1;
    srv->shutdown_done = done;
    srv->shutdown_ud = ud;
    close_own(srv, &srv->listener);
    HASH_ITER(hh, srv->sessions, s, tmp)
    eio__session_close(s, EIO_REASON_SHUTDOWN, EIO_CLOSE_FLUSH);
    srv->shutdown_deadline = uv_now(srv->loop) + EIO_SHUTDOWN_GRACE_MS;
    uv_timer_start(&srv->shutdown_timer, shutdown_check, 0, EIO_SHUTDOWN_CHECK_MS);
}
