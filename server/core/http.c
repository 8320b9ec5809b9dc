/* http.c: HTTP/1.1 requests on http-parser: routing to the transports and the
 * application's handler, and responses.
 *
 * A request is routed when its headers are complete (as the Node server does), so an
 * error is answered before a body is read and a polling POST knows its session while
 * the body arrives. The request's URL and headers are kept whole (up to EIO_HTTP_URL_MAX
 * and EIO_HTTP_HEAD_MAX: 414 and 431 beyond) in one buffer that is freed when the
 * request is done. Every answer either leaves the connection usable for the next request
 * or says "Connection: close" and closes it once written.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine_internal.h"
#include "url.h"

#define EIO_QUERY_PARAM_MAX 128 /* sid, transport and EIO values are short */
#define EIO_ORIGIN_MAX      512 /* longer Origin headers get no CORS answer */

enum http_route {
    HTTP_ROUTE_NONE = 0, /* answered (or parked) at the headers: a body is skipped */
    HTTP_ROUTE_POST,     /* a polling POST: the body is the payload */
    HTTP_ROUTE_APP,      /* the application's handler, once the body is in */
    HTTP_ROUTE_FORWARD   /* another node's session: relayed once the body is in */
};

struct eio_http_request {
    eio_conn *conn;
    char remote[EIO_ADDR_LEN]; /* the peer's address, "" when unknown */
};

struct eio_http_deferred {
    eio_conn *conn; /* NULL once the connection is gone */
};

static const char *const http_error_messages[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request",       "Forbidden",          "Unsupported protocol version"};

/* ---- the request being read ---- */

static const char *req_path(const eio_http_in *r) { return (const char *)r->head.data; }

const char *eio__http_req_query(const eio_conn *c)
{
    return (const char *)c->req->head.data + c->req->query_at;
}

int eio__header_next(const char *block, size_t *pos, const char **name, const char **value)
{
    const char *p = block + *pos;
    if (!*p)
        return -1;
    *name = p;
    *value = p + strlen(p) + 1;
    *pos = (size_t)(*value + strlen(*value) + 1 - block);
    return 0;
}

const char *eio__http_req_headers(const eio_conn *c)
{
    return (const char *)c->req->head.data + c->req->url_len + 1;
}

const char *eio__http_req_header(const eio_conn *c, const char *lower_name)
{
    const char *block = eio__http_req_headers(c), *name, *value;
    size_t pos = 0;
    while (!eio__header_next(block, &pos, &name, &value))
        if (!strcmp(name, lower_name))
            return value;
    return NULL;
}

static void req_free(eio_conn *c)
{
    if (!c->req)
        return;
    sb_buf_free(&c->req->head);
    sb_buf_free(&c->req->body);
    free(c->req);
    c->req = NULL;
}

int eio__http_query_param(const char *q, const char *name, char *buf, size_t len)
{
    size_t vlen;
    const char *v = sb_query_find(q, name, &vlen);
    if (!v || vlen >= len)
        return -1;
    size_t n = sb_url_decode(v, vlen, buf);
    buf[n] = '\0';
    return (int)n;
}

char *eio__http_query_decoded(const char *q)
{
    size_t n = strlen(q);
    char *out = malloc(n + 1);
    if (!out)
        abort();
    size_t o = 0;
    while (*q) {
        const char *end = strchr(q, '&');
        size_t flen = end ? (size_t)(end - q) : strlen(q);
        if (flen) {
            if (o)
                out[o++] = '&';
            o += sb_url_decode(q, flen, out + o);
        }
        q += flen + (end ? 1 : 0);
    }
    out[o] = '\0';
    return out;
}

/* ---- responses ---- */

static int origin_allowed(const eio_server *srv, const char *origin)
{
    const char *list = srv->cfg.cors_origin;
    size_t olen = strlen(origin);
    while (*list) {
        const char *end = strchr(list, ',');
        size_t n = end ? (size_t)(end - list) : strlen(list);
        while (n && list[0] == ' ') {
            list++;
            n--;
        }
        if (n == olen && !strncmp(list, origin, n))
            return 1;
        list += n + (end ? 1 : 0);
    }
    return 0;
}

static void header(sb_buf *h, const char *name, const char *value)
{
    sb_buf_append_str(h, name);
    sb_buf_append(h, ": ", 2);
    sb_buf_append_str(h, value);
    sb_buf_append(h, "\r\n", 2);
}

/* The headers the cors middleware of the Node server adds to every response. */
static void cors_headers(eio_conn *c, int preflight, sb_buf *h)
{
    const eio_config *cfg = &c->srv->cfg;
    const char *allow = NULL;
    int vary = 0;
    if (!cfg->cors_origin)
        return;
    if (!strcmp(cfg->cors_origin, "*") && !(cfg->cors_credentials && c->origin)) {
        allow = "*";
    } else {
        vary = 1;
        if (c->origin && (!strcmp(cfg->cors_origin, "*") || origin_allowed(c->srv, c->origin)))
            allow = c->origin;
    }
    if (allow)
        header(h, "Access-Control-Allow-Origin", allow);
    if (allow && cfg->cors_credentials)
        header(h, "Access-Control-Allow-Credentials", "true");
    if (vary)
        header(h, "Vary", "Origin");
    if (preflight && allow)
        header(h, "Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE");
}

static void status_line(sb_buf *h, int status)
{
    sb_buf_append_str(h, "HTTP/1.1 ");
    sb_buf_append_u64(h, (uint64_t)status);
    sb_buf_append_byte(h, ' ');
    sb_buf_append_str(h, http_status_str((enum http_status)status));
    sb_buf_append(h, "\r\n", 2);
}

/* Ends the headers, queues them with the body, and decides the connection's future. */
static void respond_finish(eio_conn *c, sb_buf *h, const void *body, size_t len)
{
    int keep = c->keep_alive && !c->close_after && !c->srv->shutting_down;
    sb_buf_append_str(h, keep ? "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n"
                              : "Connection: close\r\n\r\n");
    if (c->head_only)
        len = 0;
    eio_msg *m = eio_msg_raw(h->len + len);
    memcpy(EIO_MSG_DATA(m), h->data, h->len);
    if (len)
        memcpy(EIO_MSG_DATA(m) + h->len, body, len);
    m->len = h->len + len;
    sb_buf_free(h);
    eio__conn_send(c, m);
    eio_msg_unref(m);
    if (!keep) {
        eio__conn_close_after_write(c);
        return;
    }
    c->kind = EIO_CONN_HTTP;
    eio__conn_set_timeout(c, EIO_HTTP_REQUEST_S); /* the answer is being written; then idle */
    eio__conn_resume(c);
}

void eio__http_respond(eio_conn *c, int status, const char *ctype, const void *body, size_t len,
                       const char *extra_headers)
{
    sb_buf h;
    if (c->closed || c->kind == EIO_CONN_CLOSING)
        return;
    sb_buf_init(&h);
    status_line(&h, status);
    header(&h, "Content-Type", ctype);
    sb_buf_append_str(&h, "Content-Length: ");
    sb_buf_append_u64(&h, len);
    sb_buf_append(&h, "\r\n", 2);
    cors_headers(c, 0, &h);
    if (extra_headers)
        sb_buf_append_str(&h, extra_headers); /* whole "Name: value\r\n" lines */
    respond_finish(c, &h, body, len);
}

int eio__http_error_body(int code, char *buf, size_t len)
{
    return snprintf(buf, len, "{\"code\":%d,\"message\":\"%s\"}", code, http_error_messages[code]);
}

void eio__http_respond_error(eio_conn *c, int code)
{
    char body[EIO_ERROR_BODY_MAX];
    int n = eio__http_error_body(code, body, sizeof(body));
    eio__http_respond(c, 400, "application/json", body, (size_t)n, NULL);
}

/* An answer after which the connection cannot go on (the rest of the request is not
 * read: a body over the limit, a request the parser refused). */
static void respond_and_close(eio_conn *c, int status)
{
    const char *text = http_status_str((enum http_status)status);
    c->close_after = 1;
    eio__http_respond(c, status, "text/plain", text, strlen(text), NULL);
}

/* app: the preflight of an application path (REST), which allows the headers a JSON API
 * needs when the browser names none (it names them when it will send them: then they are
 * echoed, as the Node cors middleware does). */
static void http_preflight(eio_conn *c, int app)
{
    sb_buf h;
    const char *req_headers = eio__http_req_header(c, "access-control-request-headers");
    sb_buf_init(&h);
    status_line(&h, 204);
    cors_headers(c, 1, &h);
    if (req_headers && strlen(req_headers) < EIO_ORIGIN_MAX) {
        header(&h, "Access-Control-Allow-Headers", req_headers);
        header(&h, "Vary", "Access-Control-Request-Headers");
    } else if (app) {
        header(&h, "Access-Control-Allow-Headers", "Content-Type, Authorization");
    }
    sb_buf_append_str(&h, "Content-Length: 0\r\n");
    respond_finish(c, &h, NULL, 0);
}

void eio__http_conn_reset(eio_conn *c)
{
    if (c->deferred) {
        c->deferred->conn = NULL;
        c->deferred = NULL;
    }
    if (c->fwd)
        eio__forward_cancel(c);
    eio__conn_detach(c);
    req_free(c);
    free(c->origin);
    c->origin = NULL;
}

/* ---- the application's HTTP handler ---- */

const char *eio_http_method(const eio_http_request *req)
{
    return http_method_str((enum http_method)req->conn->req->parser.method);
}

const char *eio_http_path(const eio_http_request *req) { return req_path(req->conn->req); }

const uint8_t *eio_http_body(const eio_http_request *req, size_t *len)
{
    const sb_buf *b = &req->conn->req->body;
    *len = b->len;
    return b->data ? b->data : (const uint8_t *)"";
}

int eio_http_query_param(const eio_http_request *req, const char *name, char *buf, size_t len)
{
    return eio__http_query_param(eio__http_req_query(req->conn), name, buf, len);
}

int eio_http_header(const eio_http_request *req, const char *name, char *buf, size_t len)
{
    char key[64];
    size_t n = strlen(name);
    if (n >= sizeof(key))
        return -1;
    for (size_t i = 0; i <= n; i++)
        key[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    const char *v = eio__http_req_header(req->conn, key);
    if (!v || strlen(v) >= len)
        return -1;
    memcpy(buf, v, strlen(v) + 1);
    return (int)strlen(v);
}

const char *eio_http_remote_addr(const eio_http_request *req) { return req->remote; }

void eio_http_respond(eio_http_request *req, int status, const char *content_type, const void *body,
                      size_t len)
{
    eio__http_respond(req->conn, status, content_type, body, len, NULL);
}

void eio_http_respond_with(eio_http_request *req, int status, const char *content_type,
                           const void *body, size_t len, const char *headers)
{
    eio__http_respond(req->conn, status, content_type, body, len, headers);
}

eio_http_deferred *eio_http_defer(eio_http_request *req)
{
    eio_conn *c = req->conn;
    eio_http_deferred *d = malloc(sizeof(*d));
    if (!d)
        abort();
    d->conn = c;
    c->deferred = d;
    c->kind = EIO_CONN_DEFERRED;
    eio__conn_set_timeout(c, 0);
    return d;
}

void eio_http_deferred_respond(eio_http_deferred *d, int status, const char *content_type,
                               const void *body, size_t len)
{
    eio_conn *c = d->conn;
    free(d);
    if (!c)
        return;
    c->deferred = NULL;
    eio__http_respond(c, status, content_type, body, len, NULL);
}

static void app_dispatch(eio_conn *c)
{
    eio_server *srv = c->srv;
    eio_http_request req = {c, ""};
    if (c->req->too_large) {
        respond_and_close(c, 413);
        return;
    }
    eio__conn_peer_name(c, req.remote, sizeof(req.remote));
    for (size_t i = 0; i < srv->n_http_handlers; i++)
        if (!srv->http_handlers[i].h(&req, srv->http_handlers[i].ud))
            return;
    eio__http_respond(c, 404, "text/plain", "Not Found", 9, NULL);
}

/* ---- routing ---- */

static int path_matches(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    if (!strncmp(path, prefix, n))
        return 1;
    /* "/socket.io" without the trailing slash is the same endpoint. */
    return n > 1 && prefix[n - 1] == '/' && strlen(path) == n - 1 && !strncmp(path, prefix, n - 1);
}

static void remember_origin(eio_conn *c)
{
    const char *origin = eio__http_req_header(c, "origin");
    free(c->origin);
    c->origin = NULL;
    if (c->srv->cfg.cors_origin && origin && strlen(origin) < EIO_ORIGIN_MAX)
        c->origin = strdup(origin);
}

/* An Engine.IO request: handshake, poll, or packets posted to a session. */
static void engine_request(eio_conn *c, eio_server *srv)
{
    char transport[EIO_QUERY_PARAM_MAX], sid[EIO_QUERY_PARAM_MAX];
    const char *query = eio__http_req_query(c);
    int method = c->req->parser.method;
    int is_get = method == HTTP_GET, is_post = method == HTTP_POST;
    if (method == HTTP_OPTIONS && srv->cfg.cors_origin) {
        http_preflight(c, 0);
        return;
    }
    if (eio__http_query_param(query, "transport", transport, sizeof(transport)) < 0 ||
        (strcmp(transport, "polling") && strcmp(transport, "websocket")) ||
        (!strcmp(transport, "polling") && (!srv->cfg.allow_polling || eio__polling_jsonp(query))) ||
        (!strcmp(transport, "websocket") && !srv->cfg.allow_websocket)) {
        eio__http_respond_error(c, EIO_ERR_UNKNOWN_TRANSPORT);
        return;
    }
    if (eio__http_query_param(query, "sid", sid, sizeof(sid)) >= 0) {
        eio_session *s = eio__session_find(srv, sid);
        if (s && eio__session_check_deadline(s))
            s = NULL;
        if (!s && eio__forward_wanted(c, sid))
            eio__http_route_forward(c); /* held by another node */
        else if (!s || s->state == EIO_SESSION_CLOSED)
            eio__http_respond_error(c, EIO_ERR_UNKNOWN_SID);
        else if (s->transport != EIO_TRANSPORT_POLLING || strcmp(transport, "polling") ||
                 (!is_get && !is_post))
            eio__http_respond_error(c, EIO_ERR_BAD_REQUEST);
        else if (is_get)
            eio__polling_handle_get(c, s);
        else
            eio__polling_handle_post(c, s);
        return;
    }
    if (!is_get)
        eio__http_respond_error(c, EIO_ERR_BAD_HANDSHAKE_METHOD);
    else if (strcmp(transport, "polling"))
        eio__http_respond_error(c, EIO_ERR_BAD_REQUEST);
    else if (eio__handshake_protocol(srv, query) < 0)
        eio__http_respond_error(c, EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION);
    else
        eio__polling_handle_get(c, eio__session_create(srv, EIO_TRANSPORT_POLLING, c));
}

static void http_route(eio_conn *c)
{
    eio_server *srv = c->srv;
    remember_origin(c);
    if (!path_matches(srv->cfg.path, req_path(c->req))) {
        /* A browser asks before it POSTs JSON to the application's endpoints, too. */
        if (c->req->parser.method == HTTP_OPTIONS && srv->cfg.cors_origin)
            http_preflight(c, 1);
        else
            c->req->route = HTTP_ROUTE_APP;
        return;
    }
    if (srv->shutting_down) {
        c->close_after = 1;
        eio__http_respond(c, 503, "text/plain", "shutting down", 13, NULL);
        return;
    }
    engine_request(c, srv);
}

/* ---- http-parser callbacks ---- */

static eio_conn *conn_of(http_parser *p) { return p->data; }

static int on_url(http_parser *p, const char *at, size_t len)
{
    eio_http_in *r = conn_of(p)->req;
    if (r->url_len + len > EIO_HTTP_URL_MAX) {
        r->limit_status = 414;
        return 1;
    }
    sb_buf_append(&r->head, at, len);
    r->url_len += len;
    return 0;
}

static int head_room(eio_http_in *r, size_t len)
{
    r->head_bytes += len;
    if (r->head_bytes <= EIO_HTTP_HEAD_MAX)
        return 1;
    r->limit_status = 431;
    return 0;
}

static void head_end_url(eio_http_in *r)
{
    if (r->state == EIO_HEAD_URL) {
        sb_buf_append_byte(&r->head, '\0');
        r->state = EIO_HEAD_VALUE;
    }
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    eio_http_in *r = conn_of(p)->req;
    if (!head_room(r, len))
        return 1;
    head_end_url(r);
    if (r->state == EIO_HEAD_VALUE_OPEN)
        sb_buf_append_byte(&r->head, '\0'); /* the previous value ends */
    r->state = EIO_HEAD_FIELD;
    for (size_t i = 0; i < len; i++)
        sb_buf_append_byte(&r->head, (uint8_t)(at[i] >= 'A' && at[i] <= 'Z' ? at[i] + 32 : at[i]));
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    eio_http_in *r = conn_of(p)->req;
    if (!head_room(r, len))
        return 1;
    if (r->state == EIO_HEAD_FIELD)
        sb_buf_append_byte(&r->head, '\0'); /* the name ends */
    r->state = EIO_HEAD_VALUE_OPEN;
    sb_buf_append(&r->head, at, len);
    return 0;
}

/* Terminates the last header, splits the URL at '?', and remembers what the answer
 * needs after the request is gone. */
static void head_finish(eio_conn *c)
{
    eio_http_in *r = c->req;
    head_end_url(r);
    if (r->state == EIO_HEAD_VALUE_OPEN)
        sb_buf_append_byte(&r->head, '\0');
    sb_buf_append_byte(&r->head, '\0'); /* no more headers */
    char *url = (char *)r->head.data;
    char *q = memchr(url, '?', r->url_len);
    if (q) {
        *q = '\0';
        r->query_at = (size_t)(q + 1 - url);
    } else {
        r->query_at = r->url_len; /* the URL's NUL: an empty query */
    }
    c->keep_alive = (uint8_t)http_should_keep_alive(&r->parser);
    c->head_only = r->parser.method == HTTP_HEAD;
    c->close_after = 0;
}

static void send_continue(eio_conn *c)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    eio_msg *m = eio_msg_raw(sizeof(cont) - 1);
    memcpy(EIO_MSG_DATA(m), cont, sizeof(cont) - 1);
    m->len = sizeof(cont) - 1;
    eio__conn_send(c, m);
    eio_msg_unref(m);
}

static int on_headers_complete(http_parser *p)
{
    eio_conn *c = conn_of(p);
    head_finish(c);
    if (p->upgrade)
        return 0; /* answered once the parser stops (eio__http_feed) */
    const char *expect = eio__http_req_header(c, "expect");
    http_route(c);
    /* a client waiting to be told to send the body it announced */
    if (expect && !strcasecmp(expect, "100-continue") && c->req &&
        c->req->route != HTTP_ROUTE_NONE && c->kind == EIO_CONN_HTTP)
        send_continue(c);
    return c->kind == EIO_CONN_CLOSING;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    eio_conn *c = conn_of(p);
    eio_http_in *r = c->req;
    if (r->route == HTTP_ROUTE_NONE)
        return c->kind == EIO_CONN_CLOSING;
    if (r->body.len + len > c->srv->cfg.max_payload) {
        r->too_large = 1;
        sb_buf_free(&r->body);
        return 1; /* answered now: 413, and the rest is not read */
    }
    sb_buf_append(&r->body, at, len);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    conn_of(p)->req->complete = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* The request is whole (or its body went over the limit): act on it, then forget it. */
static void request_done(eio_conn *c)
{
    eio_http_in *r = c->req;
    if (r->route == HTTP_ROUTE_POST)
        eio__polling_handle_post_done(c, r->body.data, r->body.len, r->too_large);
    else if (r->route == HTTP_ROUTE_APP)
        app_dispatch(c);
    else if (r->route == HTTP_ROUTE_FORWARD)
        eio__forward_request(c);
    req_free(c);
}

void eio__http_route_post(eio_conn *c) { c->req->route = HTTP_ROUTE_POST; }
void eio__http_route_forward(eio_conn *c) { c->req->route = HTTP_ROUTE_FORWARD; }

size_t eio__http_feed(eio_conn *c, const uint8_t *data, size_t len)
{
    if (!c->req) {
        c->req = calloc(1, sizeof(*c->req));
        if (!c->req)
            abort();
        http_parser_init(&c->req->parser, HTTP_REQUEST);
        c->req->parser.data = c;
    }
    eio_http_in *r = c->req;
    size_t n = http_parser_execute(&r->parser, &parser_settings, (const char *)data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    if (c->closed || c->kind == EIO_CONN_CLOSING) {
        req_free(c);
        return len;
    }
    if (r->parser.upgrade && r->complete) {
        eio__websocket_upgrade(c);
        req_free(c);
        return n;
    }
    if (r->complete || r->too_large) {
        int complete = r->complete;
        request_done(c);
        return complete ? n : len;
    }
    if (e != HPE_OK) {
        int status = r->limit_status ? r->limit_status : e == HPE_HEADER_OVERFLOW ? 431 : 400;
        req_free(c);
        c->keep_alive = 0;
        respond_and_close(c, status);
        return len;
    }
    return n;
}
