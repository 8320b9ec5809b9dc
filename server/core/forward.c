/* forward.c: requests for sessions another node holds (no sticky sessions needed).
 *
 * The one idea: the node that receives such a request does not interpret it, and the
 * node that holds the session serves it as if its client had sent it. The receiving side
 * (eio_forward) rebuilds the request's bytes, hands them to the forwarder, and writes
 * back whatever bytes the owner produced; a websocket upgrade becomes a tunnel whose
 * client bytes keep flowing to the owner. The owner's side (eio_vconn) is an eio_conn
 * without a socket: fed bytes go through the usual reader (http.c, the websocket codec)
 * and transports, and output goes to a callback instead of a writev, so a parked GET
 * stays parked, a POST is decoded, CORS and keep-alive are decided, exactly as locally.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

#define EIO_FWD_QUERY_MAX 128 /* the sid's value */

struct eio_forward {
    eio_conn *conn; /* the client's connection on this node */
    void *data;     /* the forwarder's */
    int tunnel;     /* a websocket: client bytes follow the request */
    int wrote;      /* some of the owner's bytes went to the client */
};

int eio_sid_tag(const char *sid, char *buf, size_t len)
{
    const char *sep = strchr(sid, EIO_SID_TAG_SEP);
    if (!sep || sep == sid || (size_t)(sep - sid) >= len ||
        strspn(sid, EIO_SID_TAG_CHARS) != (size_t)(sep - sid))
        return -1;
    memcpy(buf, sid, (size_t)(sep - sid));
    buf[sep - sid] = '\0';
    return (int)(sep - sid);
}

void eio_server_set_forwarder(eio_server *srv, const eio_forwarder *fw, void *ud)
{
    memset(&srv->fw, 0, sizeof(srv->fw));
    if (fw)
        srv->fw = *fw;
    srv->fw_ud = ud;
}

void eio_server_forward_stats(const eio_server *srv, eio_forward_stats *out)
{
    *out = srv->fw_stats;
}

/* ---- the receiving node ---- */

int eio__forward_wanted(eio_conn *c, const char *sid)
{
    const char *own = c->srv->cfg.sid_prefix;
    char tag[EIO_SID_TAG_MAX + 1];
    if (!c->srv->fw.start || c->virt || eio_sid_tag(sid, tag, sizeof(tag)) < 0)
        return 0; /* a relayed request is served where it lands: no second hop */
    return !own || strcmp(own, tag) != 0;
}

/* The request as the owner must read it: its line and headers, the body with its length
 * (whatever framing the client used), and no "Expect" (answered here already). */
static void request_bytes(const eio_conn *c, sb_buf *b)
{
    const eio_http_in *r = c->req;
    const char *head = (const char *)r->head.data;
    sb_buf_append_str(b, http_method_str((enum http_method)r->parser.method));
    sb_buf_append_byte(b, ' ');
    sb_buf_append_str(b, head);
    if (r->query_at < r->url_len) {
        sb_buf_append_byte(b, '?');
        sb_buf_append_str(b, head + r->query_at);
    }
    sb_buf_append_str(b, r->parser.http_minor == 0 && r->parser.http_major == 1 ? " HTTP/1.0\r\n"
                                                                                : " HTTP/1.1\r\n");
    const char *block = eio__http_req_headers(c), *name, *value;
    size_t pos = 0;
    while (!eio__header_next(block, &pos, &name, &value)) {
        if (strcmp(name, "content-length") && strcmp(name, "transfer-encoding") &&
            strcmp(name, "expect")) {
            sb_buf_append_str(b, name);
            sb_buf_append(b, ": ", 2);
            sb_buf_append_str(b, value);
            sb_buf_append(b, "\r\n", 2);
        }
    }
    if (r->body.len || r->parser.method == HTTP_POST) {
        sb_buf_append_str(b, "content-length: ");
        sb_buf_append_u64(b, r->body.len);
        sb_buf_append(b, "\r\n", 2);
    }
    sb_buf_append(b, "\r\n", 2);
    if (r->body.len)
        sb_buf_append(b, r->body.data, r->body.len);
}

static void answer_unknown(eio_conn *c, int tunnel)
{
    c->kind = EIO_CONN_HTTP;
    if (tunnel)
        c->close_after = 1; /* as a refused upgrade: the connection ends */
    eio__http_respond_error(c, EIO_ERR_UNKNOWN_SID);
}

void eio__forward_request(eio_conn *c)
{
    eio_server *srv = c->srv;
    char sid[EIO_FWD_QUERY_MAX], tag[EIO_SID_TAG_MAX + 1];
    int tunnel = c->req->fwd_ws;
    sb_buf b;
    if (c->req->too_large) {
        c->close_after = 1;
        eio__http_respond(c, 413, "text/plain", "", 0, NULL);
        return;
    }
    if (eio__http_query_param(eio__http_req_query(c), "sid", sid, sizeof(sid)) < 0 ||
        eio_sid_tag(sid, tag, sizeof(tag)) < 0) {
        answer_unknown(c, tunnel);
        return;
    }
    eio_forward *f = calloc(1, sizeof(*f));
    if (!f)
        abort();
    f->conn = c;
    f->tunnel = tunnel;
    c->fwd = f;
    c->kind = EIO_CONN_FORWARD;
    eio__conn_set_timeout(c, 0); /* the forwarder bounds the wait */
    srv->fw_stats.forwarded++;
    sb_buf_init(&b);
    request_bytes(c, &b);
    int rc = srv->fw.start(f, tag, b.data, b.len, tunnel, srv->fw_ud);
    sb_buf_free(&b);
    if (rc) {
        c->fwd = NULL;
        free(f);
        srv->fw_stats.failed++;
        answer_unknown(c, tunnel);
    }
}

size_t eio__forward_feed(eio_conn *c, const uint8_t *data, size_t len)
{
    eio_forward *f = c->fwd;
    if (!f || !f->tunnel)
        return 0; /* a request is being relayed: the next one waits */
    c->srv->fw.data(f, data, len, c->srv->fw_ud);
    return len;
}

void eio__forward_cancel(eio_conn *c)
{
    eio_forward *f = c->fwd;
    c->fwd = NULL;
    c->srv->fw.cancel(f, c->srv->fw_ud);
    free(f);
}

void eio_forward_set_data(eio_forward *f, void *data) { f->data = data; }
void *eio_forward_data(const eio_forward *f) { return f->data; }

void eio_forward_write(eio_forward *f, const uint8_t *bytes, size_t len)
{
    eio_conn *c = f->conn;
    if (c->closed || c->kind == EIO_CONN_CLOSING)
        return;
    if (c->out.bytes + len > c->srv->cfg.max_outbound) {
        /* The owner cannot see this client's pace (it writes to Redis): the bound on what
         * waits for a slow client is kept here, and the close reaches the owner as a
         * cancel. */
        eio__conn_close(c);
        return;
    }
    eio_msg *m = eio_msg_raw(len);
    memcpy(EIO_MSG_DATA(m), bytes, len);
    m->len = len;
    eio__conn_send(c, m);
    eio_msg_unref(m);
    f->wrote = 1;
}

void eio_forward_end(eio_forward *f, int keep)
{
    eio_conn *c = f->conn;
    int tunnel = f->tunnel;
    c->fwd = NULL;
    free(f);
    if (tunnel || !keep || !c->keep_alive || c->srv->shutting_down) {
        eio__conn_close_after_write(c);
        return;
    }
    c->kind = EIO_CONN_HTTP;
    eio__conn_set_timeout(c, EIO_HTTP_REQUEST_S); /* the answer is being written; then idle */
    eio__conn_resume(c);
}

void eio_forward_fail(eio_forward *f)
{
    eio_conn *c = f->conn;
    int wrote = f->wrote, tunnel = f->tunnel;
    c->fwd = NULL;
    free(f);
    c->srv->fw_stats.failed++;
    if (wrote)
        eio__conn_close_after_write(c);
    else
        answer_unknown(c, tunnel);
}

/* ---- the owner ---- */

eio_vconn *eio_vconn_new(eio_server *srv, const eio_vconn_callbacks *cb, void *ud)
{
    if (srv->shutting_down)
        return NULL;
    eio_conn *c = calloc(1, sizeof(*c));
    eio_vconn *v = calloc(1, sizeof(*v));
    if (!c || !v)
        abort();
    c->srv = srv;
    c->virt = v;
    v->conn = c;
    v->cb = *cb;
    v->ud = ud;
    sb_buf_init(&v->pending);
    sb_list_insert_tail(&srv->vconns, &v->link);
    eio__conn_set_timeout(c, EIO_HTTP_REQUEST_S);
    srv->fw_stats.served++;
    return v;
}

void eio_vconn_feed(eio_vconn *v, const uint8_t *bytes, size_t len)
{
    eio__conn_input(v->conn, bytes, len);
}

int eio_vconn_parked(const eio_vconn *v) { return v->conn->kind == EIO_CONN_POLL_GET; }

void eio_vconn_close(eio_vconn *v)
{
    v->ended = 1;
    eio__conn_close(v->conn);
}

/* Everything queued leaves at once (there is no kernel to push back), and in one piece:
 * each output is a message between nodes. */
void eio__vconn_write(eio_conn *c)
{
    eio_msg *m;
    while ((m = eio__queue_pop(&c->out))) {
        size_t len;
        const uint8_t *p = eio_msg_wire(m, &len);
        sb_buf_append(&c->virt->pending, p, len);
        eio_msg_unref(m);
    }
}

void eio__vconn_output(eio_conn *c)
{
    eio_vconn *v = c->virt;
    if (!v->ended && v->pending.len)
        v->cb.output(v->pending.data, v->pending.len, v->ud);
    sb_buf_reset(&v->pending);
}

void eio__vconn_done(eio_conn *c, int keep)
{
    eio_vconn *v = c->virt;
    if (!v->ended) {
        v->ended = 1;
        v->cb.end(keep, v->pending.data, v->pending.len, v->ud);
    }
    eio__conn_close(c);
}

void eio__vconn_free(eio_conn *c)
{
    eio_vconn *v = c->virt;
    sb_list_remove(&v->link);
    if (!v->ended) {
        v->ended = 1;
        v->cb.end(0, v->pending.data, v->pending.len, v->ud);
    }
    sb_buf_free(&v->pending);
}
