/* transport_polling.c: HTTP long-polling: GETs carry packets to the client, POSTs from it.
 *
 * A GET with nothing to send is parked (no timeout of its own: the session's heartbeat
 * ends a dead client). Anything queued for its session asks for the connection to be
 * flushed, and the flush pass builds the payload from whatever is queued by then, so
 * every packet queued in the same loop turn leaves in one response.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "url.h"

#define EIO_POLL_CONTENT_TYPE "text/plain; charset=UTF-8"
#define EIO_POLL_BINARY_TYPE  "application/octet-stream"

static void cookie_header(eio_session *s, char *buf, size_t len)
{
    const char *name = s->srv->cfg.cookie;
    if (name)
        snprintf(buf, len, "Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Lax\r\n", name, s->sid);
    else
        buf[0] = '\0';
}

/* How the response is framed: v3 answers in binary form when the client reads binary and
 * a packet is binary (engine.io-parser 2's encodePayload), else as a string. */
static eiop_payload_form answer_form(const eio_session *s)
{
    if (s->protocol != EIO_PROTOCOL_V3)
        return EIOP_FORM_V4;
    for (uint32_t i = 0; !s->b64 && i < s->q.len; i++)
        if (eio__queue_at(&s->q, i)->binary)
            return EIOP_FORM_V3_BINARY;
    return EIOP_FORM_V3_TEXT;
}

static void payload_append(sb_buf *b, eiop_payload_form form, const eiop_packet *p)
{
    if (form == EIOP_FORM_V3_TEXT)
        eiop_payload_append_v3(b, p);
    else if (form == EIOP_FORM_V3_BINARY)
        eiop_payload_append_v3_binary(b, p);
    else
        eiop_payload_append(b, p);
}

/* Builds the response of the parked (or just arrived) GET from the whole queue. */
void eio__polling_answer_get(eio_session *s)
{
    eio_conn *c = s->get;
    sb_buf b;
    eio_msg *m;
    char cookie[EIO_SID_MAX + 128];
    int handshake = 0;
    eiop_payload_form form = answer_form(s);
    sb_buf_init(&b);
    while ((m = eio__queue_pop(&s->q))) {
        eiop_packet p = {(eiop_packet_type)m->type, m->binary, EIO_MSG_DATA(m), m->len};
        handshake |= m->type == EIOP_PACKET_OPEN;
        payload_append(&b, form, &p);
        eio_msg_unref(m);
    }
    if (!b.len) {
        /* Woken with nothing to say (an upgrade in progress): release the GET. */
        eiop_packet noop = {EIOP_PACKET_NOOP, 0, NULL, 0};
        payload_append(&b, form, &noop);
    }
    cookie_header(s, cookie, sizeof(cookie));
    eio__conn_detach(c);
    eio__http_respond(c, 200,
                      form == EIOP_FORM_V3_BINARY ? EIO_POLL_BINARY_TYPE : EIO_POLL_CONTENT_TYPE,
                      b.data, b.len, handshake ? cookie : NULL);
    sb_buf_free(&b);
    eio__session_maybe_destroy(s);
}

/* JSONP polling (the "j" parameter) served only browsers without XHR2 or CORS, through a
 * script tag that runs what the answer holds: it is not offered, and a JSONP request gets
 * "Transport unknown" rather than an XHR answer its script tag could not parse. */
int eio__polling_jsonp(const char *query)
{
    size_t len;
    return sb_query_find(query, "j", &len) != NULL;
}

void eio__polling_handle_get(eio_conn *c, eio_session *s)
{
    if (s->get) {
        /* Two GETs at once: the client is broken. Node answers the second one 400 and closes
         * the session, which sends CLOSE down the first one. */
        eio__http_respond_error(c, EIO_ERR_BAD_REQUEST);
        eio__session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return;
    }
    c->kind = EIO_CONN_POLL_GET;
    c->session = s;
    s->get = c;
    eio__conn_set_timeout(c, 0);
    if (s->q.len || s->upgrading || s->state != EIO_SESSION_OPEN)
        eio__conn_want_flush(c);
}

void eio__polling_handle_post(eio_conn *c, eio_session *s)
{
    if (s->post) {
        eio__http_respond_error(c, EIO_ERR_BAD_REQUEST);
        eio__session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return;
    }
    if (c->req->parser.content_length != ULLONG_MAX &&
        c->req->parser.content_length > s->srv->cfg.max_payload) {
        c->close_after = 1;
        eio__http_respond(c, 413, "text/plain", "", 0, NULL);
        eio__session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return;
    }
    c->session = s;
    s->post = c;
    if (s->protocol == EIO_PROTOCOL_V3) {
        const char *ctype = eio__http_req_header(c, "content-type");
        s->post_bin = ctype && !strcmp(ctype, EIO_POLL_BINARY_TYPE);
    }
    eio__http_route_post(c);
}

/* Returns EIOP_DONE when the whole body is well-formed, EIOP_ERR otherwise. A body is
 * checked whole before any packet is acted on, so a malformed POST changes nothing. */
static int post_validate(const uint8_t *body, size_t len, eiop_payload_form form)
{
    eiop_payload_reader r;
    eiop_packet p;
    int rc;
    eiop_payload_reader_init_form(&r, body, len, form);
    while ((rc = eiop_payload_reader_next(&r, &p)) == EIOP_OK)
        ;
    eiop_payload_reader_free(&r);
    return rc;
}

static void post_decode(eio_conn *c, eio_session *s, const uint8_t *body, size_t len)
{
    eiop_payload_reader r;
    eiop_packet p;
    eiop_payload_form form = s->protocol != EIO_PROTOCOL_V3 ? EIOP_FORM_V4
                             : s->post_bin                  ? EIOP_FORM_V3_BINARY
                                                            : EIOP_FORM_V3_TEXT;
    if (post_validate(body, len, form) != EIOP_DONE) {
        eio__http_respond_error(c, EIO_ERR_BAD_REQUEST);
        eio__session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return;
    }
    eiop_payload_reader_init_form(&r, body, len, form);
    while (s->state == EIO_SESSION_OPEN && eiop_payload_reader_next(&r, &p) == EIOP_OK)
        eio__session_on_packet(s, &p);
    eiop_payload_reader_free(&r);
    eio__http_respond(c, 200, "text/html", "ok", 2, NULL);
}

void eio__polling_handle_post_done(eio_conn *c, const uint8_t *body, size_t len, int too_large)
{
    eio_session *s = c->session;
    eio__conn_detach(c);
    if (!s) {
        eio__http_respond_error(c, EIO_ERR_UNKNOWN_SID);
        return;
    }
    if (too_large) {
        c->close_after = 1;
        eio__http_respond(c, 413, "text/plain", "", 0, NULL);
        eio__session_close(s, EIO_REASON_TRANSPORT_ERROR, EIO_CLOSE_ABORT);
        return;
    }
    post_decode(c, s, body ? body : (const uint8_t *)"", len);
}
