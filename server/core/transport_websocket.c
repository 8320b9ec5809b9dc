/* transport_websocket.c: the WebSocket transport and the upgrade from polling.
 *
 * One frame is one packet. Writes happen in SERVER_WRITEABLE only, and we keep writing
 * queued packets there until the kernel pushes back (lws_send_pipe_choked): one callback
 * per packet would cost an epoll_ctl pair each. lws buffers at most the tail of one
 * partial write; everything else waits in the session's bounded queue.
 *
 * An upgrade runs on a second connection (the probe) beside the polling transport:
 * "2probe" gets "3probe", the parked GET is released with a NOOP so the client can pause
 * polling, and "5" makes the probe the session's transport.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

#define EIO_QUERY_VALUE_MAX 128
#define EIO_PROBE "probe"

/* Writes the Node server's JSON error on the upgrade request and hangs up. */
static int reject_upgrade(struct lws *wsi, int code)
{
    uint8_t buf[LWS_PRE + EIO_HTTP_HEADERS_MAX];
    char body[EIO_ERROR_BODY_MAX];
    int n = http_error_body(code, body, sizeof(body));
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - sizeof(body);
    if (lws_add_http_common_headers(wsi, 400, "application/json", (lws_filepos_t)n, &p, end) ||
        lws_finalize_http_header(wsi, &p, end))
        return -1;
    memcpy(p, body, (size_t)n);
    p += n;
    lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL);
    return -1;
}

int websocket_confirm_upgrade(struct lws *wsi)
{
    eio_server *srv = eio_server_of(wsi);
    char transport[EIO_QUERY_VALUE_MAX], sid[EIO_QUERY_VALUE_MAX], version[EIO_QUERY_VALUE_MAX];
    char uri[EIO_QUERY_VALUE_MAX * 2];
    if (srv->shutting_down)
        return -1;
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
        strncmp(uri, srv->cfg.path, strlen(srv->cfg.path) - 1))
        return -1;
    if (!srv->cfg.allow_websocket ||
        http_query_param(wsi, "transport", transport, sizeof(transport)) < 0 ||
        strcmp(transport, "websocket"))
        return reject_upgrade(wsi, EIO_ERR_UNKNOWN_TRANSPORT);
    if (http_query_param(wsi, "sid", sid, sizeof(sid)) >= 0) {
        if (!session_find(srv, sid))
            return reject_upgrade(wsi, EIO_ERR_UNKNOWN_SID);
        return 0;
    }
    if (http_query_param(wsi, "EIO", version, sizeof(version)) < 0 || strcmp(version, "4"))
        return reject_upgrade(wsi, EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION);
    return 0;
}

int websocket_established(eio_conn *c)
{
    eio_server *srv = eio_server_of(c->wsi);
    char sid[EIO_QUERY_VALUE_MAX];
    c->kind = EIO_CONN_WEBSOCKET;
    if (http_query_param(c->wsi, "sid", sid, sizeof(sid)) < 0) {
        session_create(srv, EIO_TRANSPORT_WEBSOCKET, c);
        return 0;
    }
    eio_session *s = session_find(srv, sid);
    /* Only an open polling session may upgrade, and only once at a time. */
    if (!s || s->state != EIO_SESSION_OPEN || s->transport != EIO_TRANSPORT_POLLING || s->probe)
        return -1;
    c->is_probe = 1;
    c->session = s;
    s->probe = c;
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK,
                    (int)((srv->cfg.upgrade_timeout_ms + 999) / 1000));
    return 0;
}

/* Packets on the probe: only the upgrade handshake is allowed there. */
static int probe_packet(eio_conn *c, const eio_packet *p)
{
    eio_session *s = c->session;
    if (p->type == EIO_PACKET_PING && p->len == strlen(EIO_PROBE) &&
        !memcmp(p->data, EIO_PROBE, p->len)) {
        c->probe_pong = 1;
        s->upgrading = 1;
        lws_callback_on_writable(c->wsi);
        if (s->get)
            polling_wake_get(s);
        return 0;
    }
    if (p->type == EIO_PACKET_UPGRADE && s->upgrading) {
        session_upgrade_done(s);
        return 0;
    }
    conn_detach(c);
    return -1;
}

static int websocket_packet(eio_conn *c, const uint8_t *data, size_t len, int binary)
{
    eio_session *s = c->session;
    eio_packet p;
    const char *err;
    if (!s)
        return -1;
    if (eio_packet_decode_frame(data, len, !binary, &p, &err) != EIO_OK) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, (unsigned char *)err, strlen(err));
        conn_detach(c);
        if (!c->is_probe)
            session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return -1;
    }
    if (c->is_probe)
        return probe_packet(c, &p);
    session_on_packet(s, &p);
    return 0;
}

int websocket_receive(eio_conn *c, const void *in, size_t len)
{
    eio_session *s = c->session;
    size_t max = eio_server_of(c->wsi)->cfg.max_payload;
    int complete = lws_is_final_fragment(c->wsi) && !lws_remaining_packet_payload(c->wsi);
    int binary = lws_frame_is_binary(c->wsi);
    if (!s)
        return -1;
    if (!c->rx_partial && complete && len <= max)
        return websocket_packet(c, in, len, binary);
    if (c->body.len + len + lws_remaining_packet_payload(c->wsi) > max) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
        sb_buf_free(&c->body);
        conn_detach(c);
        if (!c->is_probe)
            session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return -1;
    }
    sb_buf_append(&c->body, in, len);
    c->rx_partial = !complete;
    if (!complete)
        return 0;
    int rc = websocket_packet(c, c->body.data, c->body.len, binary);
    sb_buf_free(&c->body); /* an idle connection keeps no reassembly buffer */
    return rc;
}

static int write_msg(struct lws *wsi, eio_msg *m)
{
    if (m->binary)
        return lws_write(wsi, EIO_MSG_DATA(m), m->len, LWS_WRITE_BINARY);
    return lws_write(wsi, EIO_MSG_TYPE_AT(m), m->len + 1, LWS_WRITE_TEXT);
}

/* Ends a websocket whose session is gone: a detached connection closes with a close frame
 * at its next WRITEABLE, or is cut after EIO_WS_CLOSE_GRACE_S if it never gets one (a
 * client that stopped reading). */
void websocket_release(eio_conn *c)
{
    conn_detach(c);
    conn_drain_begin(c);
    lws_callback_on_writable(c->wsi);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, EIO_WS_CLOSE_GRACE_S);
}

/* lws 4.1 sends a close frame only for closes it starts itself: returning -1 from
 * WRITEABLE, even after lws_close_reason(), drops the connection and the client sees 1006.
 * So the frame is written here, with the opcode lws keeps private (LWS_WRITE_CLOSE, 4,
 * the value lws_write() has always taken for it). */
#define EIO_LWS_WRITE_CLOSE ((enum lws_write_protocol)4)

static int close_normally(struct lws *wsi)
{
    uint8_t buf[LWS_PRE + 2];
    buf[LWS_PRE] = (uint8_t)(LWS_CLOSE_STATUS_NORMAL >> 8);
    buf[LWS_PRE + 1] = (uint8_t)(LWS_CLOSE_STATUS_NORMAL & 0xff);
    lws_write(wsi, buf + LWS_PRE, 2, EIO_LWS_WRITE_CLOSE);
    return -1;
}

int websocket_writeable(eio_conn *c)
{
    eio_session *s = c->session;
    if (!s)
        return close_normally(c->wsi);
    if (c->is_probe) {
        if (c->probe_pong) {
            uint8_t buf[LWS_PRE + sizeof("3" EIO_PROBE)];
            memcpy(buf + LWS_PRE, "3" EIO_PROBE, strlen("3" EIO_PROBE));
            c->probe_pong = 0;
            if (lws_write(c->wsi, buf + LWS_PRE, strlen("3" EIO_PROBE), LWS_WRITE_TEXT) < 0)
                return -1;
        }
        return 0;
    }
    while (s->q_len && !lws_send_pipe_choked(c->wsi)) {
        eio_msg *m = session_dequeue(s);
        int n = write_msg(c->wsi, m);
        eio_msg_unref(m);
        if (n < 0) {
            conn_detach(c);
            session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
            return -1;
        }
    }
    if (s->q_len) {
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (s->state == EIO_SESSION_CLOSING) {
        conn_detach(c);
        session_maybe_destroy(s);
        return close_normally(c->wsi);
    }
    return 0;
}

void websocket_closed(eio_conn *c)
{
    eio_session *s = c->session;
    int was_probe = c->is_probe;
    conn_drain_end(c);
    conn_detach(c);
    sb_buf_free(&c->body);
    if (s && !was_probe)
        session_close(s, EIO_REASON_TRANSPORT_CLOSE, EIO_CLOSE_BY_CLIENT);
}
