/* transport_polling.c: HTTP long-polling: GETs carry packets to the client, POSTs from it.
 *
 * A GET with nothing to send is parked (no timeout of its own: the session's heartbeat
 * ends a dead client). Anything queued for its session asks for the connection to be
 * flushed, and the flush pass builds the payload from whatever is queued by then, so
 * every packet queued in the same loop turn leaves in one response.
 */
#include <stdlib.h>
#include <limits.h>
#include <string.h>

#include "engine_internal.h"

#define EIO_POLL_CONTENT_TYPE "text/plain; charset=UTF-8"

static void cookie_header(eio_session *s, char *buf, size_t len)
{
    const char *name = s->srv->cfg.cookie;
    if (name)
        snprintf(buf, len, "Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Lax\r\n", name, s->sid);
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
    while ((m = queue_pop(&s->q))) {
        eio_packet p = {(eio_packet_type)m->type, m->binary, EIO_MSG_DATA(m), m->len};
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
    http_respond(c, 200, EIO_POLL_CONTENT_TYPE, b.data, b.len, handshake ? cookie : NULL);
    sb_buf_free(&b);
    session_maybe_destroy(s);
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
    conn_set_timeout(c, 0);
    if (s->q.len || s->upgrading || s->state != EIO_SESSION_OPEN)
        conn_want_flush(c);
}

void polling_handle_post(eio_conn *c, eio_session *s)
{
    if (s->post) {
        http_respond_error(c, EIO_ERR_BAD_REQUEST);
        session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return;
    }
    if (c->req->parser.content_length != ULLONG_MAX &&
        c->req->parser.content_length > s->srv->cfg.max_payload) {
        c->close_after = 1;
        http_respond(c, 413, "text/plain", "", 0, NULL);
        session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return;
    }
    c->session = s;
    s->post = c;
    http_route_post(c);
}

/* Returns EIO_DONE when the whole body is well-formed, EIO_ERR otherwise. A body is
 * checked whole before any packet is acted on, so a malformed POST changes nothing. */
static int post_validate(const uint8_t *body, size_t len)
{
    eio_payload_reader r;
    eio_packet p;
    int rc;
    eio_payload_reader_init(&r, body, len);
    while ((rc = eio_payload_reader_next(&r, &p)) == EIO_OK)
        ;
    eio_payload_reader_free(&r);
    return rc;
}

static void post_decode(eio_conn *c, eio_session *s, const uint8_t *body, size_t len)
{
    eio_payload_reader r;
    eio_packet p;
    if (post_validate(body, len) != EIO_DONE) {
        http_respond_error(c, EIO_ERR_BAD_REQUEST);
        session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return;
    }
    eio_payload_reader_init(&r, body, len);
    while (s->state == EIO_SESSION_OPEN && eio_payload_reader_next(&r, &p) == EIO_OK)
        session_on_packet(s, &p);
    eio_payload_reader_free(&r);
    http_respond(c, 200, "text/html", "ok", 2, NULL);
}

void polling_handle_post_done(eio_conn *c, const uint8_t *body, size_t len, int too_large)
{
    eio_session *s = c->session;
    conn_detach(c);
    if (!s) {
        http_respond_error(c, EIO_ERR_UNKNOWN_SID);
        return;
    }
    if (too_large) {
        c->close_after = 1;
        http_respond(c, 413, "text/plain", "", 0, NULL);
        session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return;
    }
    post_decode(c, s, body ? body : (const uint8_t *)"", len);
}
