/* transport_websocket.c: the WebSocket transport and the upgrade from polling.
 *
 * One frame is one packet. Frames are read by the codec in protocol/websocket_codec.c straight
 * out of the connection's input (the read slab, mostly), unmasked in place, and handed on
 * without a copy; only a fragmented message is assembled, in a buffer freed once whole.
 * Outbound packets wait in the session's queue and move to the connection's output when
 * the connection is flushed (once per loop turn), their frame headers already written.
 *
 * An upgrade runs on a second connection (the probe) beside the polling transport:
 * "2probe" gets "3probe", the parked GET is released with a NOOP so the client can pause
 * polling, and "5" makes the probe the session's transport.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine_internal.h"

#define EIO_QUERY_VALUE_MAX 128
#define EIO_PROBE           "probe"
#define EIO_WS_VERSION      "13"

/* ---- the upgrade request ---- */

/* The Node server's JSON error on the upgrade request, then the connection ends. */
static int reject_upgrade(eio_conn *c, int code)
{
    c->close_after = 1;
    eio__http_respond_error(c, code);
    return -1;
}

static int header_has_token(const char *value, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = value; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!strncasecmp(p, token, n) && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
            return 1;
        p = strchr(p, ',');
    }
    return 0;
}

/* The checks the Node server makes before it completes a websocket handshake. */
static int upgrade_check(eio_conn *c, eio_session **probe_of)
{
    eio_server *srv = c->srv;
    const char *query = eio__http_req_query(c);
    const char *upgrade = eio__http_req_header(c, "upgrade");
    const char *key = eio__http_req_header(c, "sec-websocket-key");
    const char *version = eio__http_req_header(c, "sec-websocket-version");
    char transport[EIO_QUERY_VALUE_MAX], sid[EIO_QUERY_VALUE_MAX];
    size_t plen = strlen(srv->cfg.path);
    *probe_of = NULL;
    if (srv->shutting_down) {
        c->close_after = 1;
        eio__http_respond(c, 503, "text/plain", "shutting down", 13, NULL);
        return -1;
    }
    if (strncmp((const char *)c->req->head.data, srv->cfg.path, plen - 1)) {
        c->close_after = 1;
        eio__http_respond(c, 404, "text/plain", "Not Found", 9, NULL);
        return -1;
    }
    if (c->req->parser.method != HTTP_GET || !upgrade || !header_has_token(upgrade, "websocket") ||
        !key || !version || strcmp(version, EIO_WS_VERSION))
        return reject_upgrade(c, EIO_ERR_BAD_REQUEST);
    if (!srv->cfg.allow_websocket ||
        eio__http_query_param(query, "transport", transport, sizeof(transport)) < 0 ||
        strcmp(transport, "websocket"))
        return reject_upgrade(c, EIO_ERR_UNKNOWN_TRANSPORT);
    if (eio__http_query_param(query, "sid", sid, sizeof(sid)) >= 0) {
        eio_session *s = eio__session_find(srv, sid);
        if (!s && eio__forward_wanted(c, sid))
            return 1; /* held by another node: relayed (forward.c) */
        if (!s || s->state == EIO_SESSION_CLOSED)
            return reject_upgrade(c, EIO_ERR_UNKNOWN_SID);
        *probe_of = s;
        return 0;
    }
    if (eio__handshake_protocol(srv, query) < 0)
        return reject_upgrade(c, EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION);
    return 0;
}

static void send_switching_protocols(eio_conn *c)
{
    static const char head[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Accept: ";
    const char *key = eio__http_req_header(c, "sec-websocket-key");
    eio_msg *m = eio_msg_raw(sizeof(head) - 1 + WS_ACCEPT_LEN + 4);
    uint8_t *p = EIO_MSG_DATA(m);
    char accept[WS_ACCEPT_LEN + 1];
    ws_accept_key(key, strlen(key), accept);
    memcpy(p, head, sizeof(head) - 1);
    memcpy(p + sizeof(head) - 1, accept, WS_ACCEPT_LEN);
    memcpy(p + sizeof(head) - 1 + WS_ACCEPT_LEN, "\r\n\r\n", 4);
    m->len = sizeof(head) - 1 + WS_ACCEPT_LEN + 4;
    eio__conn_send(c, m);
    eio_msg_unref(m);
}

int eio__websocket_upgrade(eio_conn *c)
{
    eio_server *srv = c->srv;
    eio_session *s;
    int rc = upgrade_check(c, &s);
    if (rc > 0) {
        c->req->fwd_ws = 1;
        eio__forward_request(c);
        return 0;
    }
    if (rc)
        return -1;
    send_switching_protocols(c);
    c->kind = EIO_CONN_WEBSOCKET;
    ws_reader_init(&c->ws, srv->cfg.max_payload, 1);
    if (!s) {
        eio__conn_set_timeout(c, 0);
        eio__session_create(srv, EIO_TRANSPORT_WEBSOCKET, c);
        return 0;
    }
    if (s->state != EIO_SESSION_OPEN || s->transport != EIO_TRANSPORT_POLLING || s->probe) {
        /* Only an open polling session may upgrade, once at a time: as the Node server
         * does, the handshake completes and the websocket is closed at once. */
        eio__websocket_send_close(c, WS_CLOSE_NO_STATUS, NULL);
        return 0;
    }
    c->is_probe = 1;
    c->session = s;
    s->probe = c;
    eio__conn_set_timeout(c, (srv->cfg.upgrade_timeout_ms + 999) / 1000);
    return 0;
}

/* ---- closing ---- */

void eio__websocket_send_close(eio_conn *c, uint16_t code, const char *reason)
{
    uint8_t payload[WS_CONTROL_MAX];
    size_t n = ws_close_payload(payload, code, reason);
    eio_msg *m = eio_msg_raw(WS_SERVER_HEADER_MAX + n);
    size_t h = ws_frame_header(EIO_MSG_DATA(m), WS_OP_CLOSE, n);
    memcpy(EIO_MSG_DATA(m) + h, payload, n);
    m->len = h + n;
    if (c->kind == EIO_CONN_WEBSOCKET)
        eio__websocket_flush(c); /* what the session had queued goes first */
    eio__conn_send(c, m);
    eio_msg_unref(m);
    eio__conn_close_after_write(c);
}

/* Ends a websocket whose session is gone: a close frame after what is queued, and the
 * connection is cut after EIO_CLOSE_GRACE_S if the client never takes it. */
void eio__websocket_release(eio_conn *c)
{
    eio__conn_detach(c);
    eio__conn_set_timeout(c, EIO_CLOSE_GRACE_S);
    eio__websocket_send_close(c, WS_CLOSE_NORMAL, NULL);
}

/* The websocket stops carrying its session, which (unless c was only a probe) ends. */
static void websocket_leave(eio_conn *c, const char *reason, eio_close_mode mode)
{
    eio_session *s = c->session;
    int was_probe = c->is_probe;
    eio__conn_detach(c);
    sb_buf_free(&c->frag);
    if (s && !was_probe)
        eio__session_close(s, reason, mode);
}

/* The connection ended (the client went, or we closed it): the session learns of it. */
void eio__websocket_closed(eio_conn *c)
{
    websocket_leave(c, EIO_REASON_TRANSPORT_CLOSE, EIO_CLOSE_BY_CLIENT);
}

/* A protocol error: the session ends as a transport error, the client gets code. */
static void websocket_fail(eio_conn *c, uint16_t code, const char *why)
{
    websocket_leave(c, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
    eio__websocket_send_close(c, code, why);
}

/* ---- outbound ---- */

/* Engine.IO v3 puts the packet type byte before a binary message's data, or sends "b4" and
 * base64 in a text frame to a client that asked for base64: such a message (shared with v4
 * recipients, whose frame is the data alone) is copied into a frame of its own. */
static eio_msg *v3_binary_frame(const eio_msg *m, int b64)
{
    sb_buf payload;
    sb_buf_init(&payload);
    if (b64) {
        eiop_packet_encode_base64_v3(&payload, EIO_MSG_DATA(m), m->len);
    } else {
        sb_buf_append_byte(&payload, EIOP_PACKET_MESSAGE);
        sb_buf_append(&payload, EIO_MSG_DATA(m), m->len);
    }
    eio_msg *f = eio_msg_raw(WS_SERVER_HEADER_MAX + payload.len);
    uint8_t *p = EIO_MSG_DATA(f);
    size_t h = ws_frame_header(p, b64 ? WS_OP_TEXT : WS_OP_BINARY, payload.len);
    memcpy(p + h, payload.data, payload.len);
    f->len = h + payload.len;
    sb_buf_free(&payload);
    return f;
}

void eio__websocket_flush(eio_conn *c)
{
    eio_session *s = c->session;
    eio_msg *m;
    if (!s || c->is_probe)
        return;
    while ((m = eio__queue_pop(&s->q))) {
        if (m->binary && !m->raw && s->protocol == EIO_PROTOCOL_V3) {
            eio_msg *f = v3_binary_frame(m, s->b64);
            eio__queue_push(&c->out, f);
            eio_msg_unref(f);
        } else {
            eio__queue_push(&c->out, m);
        }
        eio_msg_unref(m);
    }
    if (s->state == EIO_SESSION_CLOSING) {
        eio__conn_detach(c);
        eio__session_maybe_destroy(s);
        eio__websocket_send_close(c, WS_CLOSE_NORMAL, NULL);
    }
}

/* ---- inbound ---- */

/* Packets on the probe: only the upgrade handshake is allowed there. */
static void probe_packet(eio_conn *c, const eiop_packet *p)
{
    eio_session *s = c->session;
    if (p->type == EIOP_PACKET_PING && p->len == strlen(EIO_PROBE) &&
        !memcmp(p->data, EIO_PROBE, p->len)) {
        eio_msg *m = eio_msg_new(EIOP_PACKET_PONG, EIO_PROBE, strlen(EIO_PROBE), 0);
        s->upgrading = 1;
        eio__conn_send(c, m);
        eio_msg_unref(m);
        if (s->get)
            eio__conn_want_flush(s->get); /* released with a NOOP */
        return;
    }
    if (p->type == EIOP_PACKET_UPGRADE && s->upgrading) {
        eio__session_upgrade_done(s);
        return;
    }
    websocket_fail(c, WS_CLOSE_PROTOCOL_ERROR, "unexpected packet during upgrade");
}

static void websocket_packet(eio_conn *c, const uint8_t *data, size_t len, int binary)
{
    eio_session *s = c->session;
    eiop_packet p;
    const char *err;
    sb_buf scratch; /* a v3 "b4" frame's bytes: allocated only for one */
    if (!s)
        return;
    sb_buf_init(&scratch);
    int rc = s->protocol == EIO_PROTOCOL_V3
                 ? eiop_packet_decode_frame_v3(data, len, !binary, &scratch, &p, &err)
                 : eiop_packet_decode_frame(data, len, !binary, &p, &err);
    if (rc != EIOP_OK)
        websocket_fail(c, WS_CLOSE_PROTOCOL_ERROR, err);
    else if (c->is_probe)
        probe_packet(c, &p);
    else
        eio__session_on_packet(s, &p);
    sb_buf_free(&scratch);
}

static void websocket_control(eio_conn *c, const ws_frame *f)
{
    uint16_t code;
    const uint8_t *reason;
    size_t reason_len;
    if (f->opcode == WS_OP_PING) {
        eio_msg *m = eio_msg_raw(WS_SERVER_HEADER_MAX + f->len);
        size_t h = ws_frame_header(EIO_MSG_DATA(m), WS_OP_PONG, f->len);
        memcpy(EIO_MSG_DATA(m) + h, f->payload, f->len);
        m->len = h + f->len;
        eio__conn_send(c, m);
        eio_msg_unref(m);
    } else if (f->opcode == WS_OP_CLOSE) {
        if (ws_close_parse(f->payload, f->len, &code, &reason, &reason_len)) {
            websocket_fail(c, WS_CLOSE_PROTOCOL_ERROR, "invalid close frame");
            return;
        }
        eio__websocket_closed(c);
        eio__websocket_send_close(c, code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : code, NULL);
    }
}

static void websocket_data(eio_conn *c, const ws_frame *f)
{
    int binary = f->msg_opcode == WS_OP_BINARY;
    if (f->fin && !c->frag.len && f->opcode != WS_OP_CONTINUATION) {
        websocket_packet(c, f->payload, f->len, binary);
        return;
    }
    sb_buf_append(&c->frag, f->payload, f->len);
    if (!f->fin)
        return;
    sb_buf frag = c->frag;
    sb_buf_init(&c->frag); /* an idle connection keeps no reassembly buffer */
    websocket_packet(c, frag.data, frag.len, binary);
    sb_buf_free(&frag);
}

size_t eio__websocket_feed(eio_conn *c, uint8_t *data, size_t len, size_t *need)
{
    ws_frame f;
    ssize_t n = ws_read_frame(&c->ws, data, len, &f, need);
    if (n == 0)
        return 0;
    if (n < 0) {
        websocket_fail(c, c->ws.close_code, c->ws.errstr);
        return len;
    }
    if (f.opcode >= WS_OP_CLOSE)
        websocket_control(c, &f);
    else
        websocket_data(c, &f);
    return (size_t)n;
}
