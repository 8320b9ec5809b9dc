/* transport_polling.c: HTTP long-polling: GETs carry packets to the client, POSTs from it.
 *
 * A GET with nothing to send is parked: lws must neither time it out (it would cut it at
 * 5 s) nor read from it (a client that hangs up would make the fd readable forever and
 * spin the loop), so parking turns both off and waking turns reading back on before asking
 * for HTTP_WRITEABLE, where the payload is built from whatever is queued by then. That
 * batches every packet queued in the same loop turn into one response.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

#define EIO_POLL_CONTENT_TYPE "text/plain; charset=UTF-8"

static void cookie_header(eio_session *s, char *buf, size_t len)
{
    const char *name = s->srv->cfg.cookie;
    if (name)
        snprintf(buf, len, "set-cookie:%s=%s; Path=/; HttpOnly; SameSite=Lax\n", name, s->sid);
    else
        buf[0] = '\0';
}

/* Builds the response of the parked (or just arrived) GET from the whole queue. */
void polling_answer_get(eio_session *s)
{
    eio_conn *c = s->get;
    sb_buf b;
    eio_msg *m;
    char cookie[EIO_SID_LEN + 128];
    int handshake = 0;
    sb_buf_init(&b);
    while ((m = session_dequeue(s))) {
        eio_packet p = {m->type, m->binary, EIO_MSG_DATA(m), m->len};
        handshake |= m->type == EIO_PACKET_OPEN;
        eio_payload_append(&b, &p);
        eio_msg_unref(m);
    }
    if (!b.len) {
        /* Woken with nothing to say (an upgrade in progress): release the GET. */
        eio_packet noop = {EIO_PACKET_NOOP, 0, NULL, 0};
        eio_payload_append(&b, &noop);
    }
    cookie_header(s, cookie, sizeof(cookie));
    conn_detach(c);
    c->kind = EIO_CONN_RESPONSE;
    http_respond(c, 200, EIO_POLL_CONTENT_TYPE, b.data, b.len, handshake ? cookie : NULL);
    sb_buf_free(&b);
    session_maybe_destroy(s);
}

void polling_wake_get(eio_session *s)
{
    struct lws *wsi = s->get->wsi;
    lws_rx_flow_control(wsi, 1);
    lws_callback_on_writable(wsi);
}

void polling_handle_get(eio_conn *c, eio_session *s)
{
    if (s->get) {
        /* Two GETs at once: the client is broken. Node answers the second one 400 and closes
         * the session, which sends CLOSE down the first one. */
        http_respond_error(c, EIO_ERR_BAD_REQUEST);
        session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return;
    }
    c->kind = EIO_CONN_POLL_GET;
    c->session = s;
    s->get = c;
    if (s->q_len || s->upgrading || s->state != EIO_SESSION_OPEN) {
        polling_wake_get(s);
        return;
    }
    lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
    lws_rx_flow_control(c->wsi, 0);
}

void polling_handle_post(eio_conn *c, eio_session *s)
{
    eio_server *srv = s->srv;
    size_t declared = 0;
    char len_hdr[32];
    if (lws_hdr_copy(c->wsi, len_hdr, sizeof(len_hdr), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
        declared = (size_t)strtoull(len_hdr, NULL, 10);
    if (s->post) {
        http_respond_error(c, EIO_ERR_BAD_REQUEST);
        session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return;
    }
    if (declared > srv->cfg.max_payload) {
        http_respond(c, 413, "text/plain", "", 0, NULL);
        c->resp_close = 1;
        session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return;
    }
    c->kind = EIO_CONN_POLL_POST;
    c->session = s;
    s->post = c;
    if (!declared)
        polling_handle_post_done(c); /* lws sends no body callbacks for an empty body */
}

/* Returns EIO_DONE when the whole body is well-formed, EIO_ERR otherwise. A body is
 * checked whole before any packet is acted on, so a malformed POST changes nothing. */
static int post_validate(const eio_conn *c)
{
    eio_payload_reader r;
    eio_packet p;
    int rc;
    eio_payload_reader_init(&r, c->body.data, c->body.len);
    while ((rc = eio_payload_reader_next(&r, &p)) == EIO_OK)
        ;
    eio_payload_reader_free(&r);
    return rc;
}

static void post_decode(eio_conn *c, eio_session *s)
{
    eio_payload_reader r;
    eio_packet p;
    if (post_validate(c) != EIO_DONE) {
        http_respond_error(c, EIO_ERR_BAD_REQUEST);
        session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return;
    }
    eio_payload_reader_init(&r, c->body.data, c->body.len);
    while (s->state == EIO_SESSION_OPEN && eio_payload_reader_next(&r, &p) == EIO_OK)
        session_on_packet(s, &p);
    eio_payload_reader_free(&r);
    http_respond(c, 200, "text/html", "ok", 2, NULL);
}

void polling_handle_post_done(eio_conn *c)
{
    eio_session *s = c->session;
    conn_detach(c);
    c->kind = EIO_CONN_RESPONSE;
    if (!s) {
        http_respond_error(c, EIO_ERR_UNKNOWN_SID);
        return;
    }
    if (c->too_large) {
        http_respond(c, 413, "text/plain", "", 0, NULL);
        c->resp_close = 1;
        session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return;
    }
    post_decode(c, s);
}
