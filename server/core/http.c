/* http.c: the libwebsockets protocol callback: routes every HTTP request and websocket
 * event to the transports, and writes HTTP responses.
 *
 * Every response is built whole (headers and body, behind LWS_PRE bytes of headroom) and
 * written in one lws_write from HTTP_WRITEABLE, the only place lws lets us write. A parked
 * polling GET is the exception that proves it: it has no response until data arrives, so
 * its response is built when it becomes writeable (see transport_polling.c).
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

#define EIO_QUERY_PARAM_MAX 128   /* sid, transport and EIO values are short */
#define EIO_ORIGIN_MAX 512

struct eio_http_request {
    eio_conn *conn;
    const char *method;
    char path[EIO_QUERY_PARAM_MAX * 2];
};

struct eio_http_deferred {
    eio_conn *conn; /* NULL once the connection is gone */
};

static const char *const http_error_messages[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request",       "Forbidden",          "Unsupported protocol version"};

/* ---- request parsing ---- */

static const char *http_method(struct lws *wsi)
{
    static const struct {
        enum lws_token_indexes tok;
        const char *name;
    } methods[] = {{WSI_TOKEN_GET_URI, "GET"},       {WSI_TOKEN_POST_URI, "POST"},
                   {WSI_TOKEN_OPTIONS_URI, "OPTIONS"}, {WSI_TOKEN_PUT_URI, "PUT"},
                   {WSI_TOKEN_PATCH_URI, "PATCH"},   {WSI_TOKEN_DELETE_URI, "DELETE"},
                   {WSI_TOKEN_HEAD_URI, "HEAD"}};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (lws_hdr_total_length(wsi, methods[i].tok) > 0)
            return methods[i].name;
    return "";
}

int http_query_param(struct lws *wsi, const char *name, char *buf, size_t len)
{
    char key[64];
    snprintf(key, sizeof(key), "%s=", name);
    const char *v = lws_get_urlarg_by_name(wsi, key, buf, (int)len);
    if (!v)
        return -1;
    size_t vlen = strlen(v);
    memmove(buf, v, vlen + 1);
    return (int)vlen;
}

/* The query as lws parsed it (url-decoded arguments), joined again with '&'. */
char *http_query_string(struct lws *wsi)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    sb_buf b;
    sb_buf_init(&b);
    if (total > 0) {
        char *frag = malloc((size_t)total + 1);
        if (!frag)
            abort();
        for (int n = 0; lws_hdr_copy_fragment(wsi, frag, total + 1, WSI_TOKEN_HTTP_URI_ARGS, n) > 0;
             n++) {
            if (b.len)
                sb_buf_append_byte(&b, '&');
            sb_buf_append_str(&b, frag);
        }
        free(frag);
    }
    /* kept for the session's life: an exact copy, not the buffer's slack */
    char *q = sb_strndup(b.data ? (const char *)b.data : "", b.len);
    sb_buf_free(&b);
    return q;
}

static int path_matches(const char *prefix, const char *uri)
{
    size_t n = strlen(prefix);
    if (!strncmp(uri, prefix, n))
        return 1;
    /* "/socket.io" without the trailing slash is the same endpoint. */
    return n > 1 && prefix[n - 1] == '/' && strlen(uri) == n - 1 && !strncmp(uri, prefix, n - 1);
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

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

/* The headers the cors middleware of the Node server adds to every response. */
static int cors_headers(eio_conn *c, int preflight, unsigned char **p, unsigned char *end)
{
    eio_server *srv = eio_server_of(c->wsi);
    const char *allow = NULL;
    int vary = 0;
    if (!srv->cfg.cors_origin)
        return 0;
    if (!strcmp(srv->cfg.cors_origin, "*") && !(srv->cfg.cors_credentials && c->origin)) {
        allow = "*";
    } else {
        vary = 1;
        if (c->origin && (!strcmp(srv->cfg.cors_origin, "*") || origin_allowed(srv, c->origin)))
            allow = c->origin;
    }
    if (allow && add_header(c->wsi, "access-control-allow-origin:", allow, p, end))
        return -1;
    if (allow && srv->cfg.cors_credentials &&
        add_header(c->wsi, "access-control-allow-credentials:", "true", p, end))
        return -1;
    if (vary && add_header(c->wsi, "vary:", "Origin", p, end))
        return -1;
    if (preflight && allow &&
        add_header(c->wsi, "access-control-allow-methods:", "GET,HEAD,PUT,PATCH,POST,DELETE", p,
                   end))
        return -1;
    return 0;
}

static void conn_set_response(eio_conn *c, uint8_t *buf, size_t len)
{
    free(c->resp);
    c->resp = buf;
    c->resp_len = len;
    if (c->kind != EIO_CONN_WEBSOCKET)
        c->kind = EIO_CONN_RESPONSE;
    conn_drain_begin(c);
    lws_rx_flow_control(c->wsi, 1); /* a flow-controlled h1 wsi never becomes writeable */
    lws_callback_on_writable(c->wsi);
}

static int write_headers(eio_conn *c, int status, const char *ctype, size_t len,
                         const char *extra_headers, unsigned char **p, unsigned char *end)
{
    if (lws_add_http_common_headers(c->wsi, (unsigned)status, ctype, (lws_filepos_t)len, p, end))
        return -1;
    if (cors_headers(c, 0, p, end))
        return -1;
    /* extra_headers: "name:value\n" lines, names lower case and ending in ':' */
    for (const char *h = extra_headers; h && *h;) {
        const char *colon = strchr(h, ':');
        const char *nl = strchr(h, '\n');
        if (!colon || !nl || colon > nl)
            return -1;
        char name[64];
        size_t nlen = (size_t)(colon - h) + 1;
        if (nlen >= sizeof(name))
            return -1;
        memcpy(name, h, nlen);
        name[nlen] = '\0';
        if (lws_add_http_header_by_name(c->wsi, (const unsigned char *)name,
                                        (const unsigned char *)colon + 1, (int)(nl - colon - 1), p,
                                        end))
            return -1;
        h = nl + 1;
    }
    return lws_finalize_http_header(c->wsi, p, end);
}

void http_respond(eio_conn *c, int status, const char *ctype, const void *body, size_t len,
                  const char *extra_headers)
{
    uint8_t *buf = malloc(LWS_PRE + EIO_HTTP_HEADERS_MAX + len);
    if (!buf)
        abort();
    unsigned char *start = buf + LWS_PRE, *p = start, *end = start + EIO_HTTP_HEADERS_MAX;
    if (write_headers(c, status, ctype, len, extra_headers, &p, end)) {
        free(buf);
        c->resp_close = 1;
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    if (len)
        memcpy(p, body, len);
    conn_set_response(c, buf, (size_t)(p - start) + len);
}

int http_error_body(int code, char *buf, size_t len)
{
    return snprintf(buf, len, "{\"code\":%d,\"message\":\"%s\"}", code,
                    http_error_messages[code]);
}

void http_respond_error(eio_conn *c, int code)
{
    char body[EIO_ERROR_BODY_MAX];
    int n = http_error_body(code, body, sizeof(body));
    http_respond(c, 400, "application/json", body, (size_t)n, NULL);
}

static void http_preflight(eio_conn *c)
{
    uint8_t *buf = malloc(LWS_PRE + EIO_HTTP_HEADERS_MAX);
    char req_headers[EIO_ORIGIN_MAX];
    if (!buf)
        abort();
    unsigned char *start = buf + LWS_PRE, *p = start, *end = start + EIO_HTTP_HEADERS_MAX;
    int ok = !lws_add_http_header_status(c->wsi, 204, &p, end) && !cors_headers(c, 1, &p, end);
    if (ok && lws_hdr_copy(c->wsi, req_headers, sizeof(req_headers),
                           WSI_TOKEN_HTTP_AC_REQUEST_HEADERS) > 0)
        ok = !add_header(c->wsi, "access-control-allow-headers:", req_headers, &p, end) &&
             !add_header(c->wsi, "vary:", "Access-Control-Request-Headers", &p, end);
    ok = ok && !lws_add_http_header_content_length(c->wsi, 0, &p, end) &&
         !lws_finalize_http_header(c->wsi, &p, end);
    if (!ok) {
        free(buf);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    conn_set_response(c, buf, (size_t)(p - start));
}

static int http_write_response(eio_conn *c)
{
    int n = lws_write(c->wsi, c->resp + LWS_PRE, c->resp_len, LWS_WRITE_HTTP_FINAL);
    int close = c->resp_close;
    free(c->resp);
    c->resp = NULL;
    c->kind = EIO_CONN_REJECTED;
    conn_drain_end(c);
    if (n < 0 || close)
        return -1;
    /* On keep-alive lws frees this connection's eio_conn now: do not touch c after. */
    return lws_http_transaction_completed(c->wsi) ? -1 : 0;
}

void http_conn_reset(eio_conn *c)
{
    if (c->deferred) {
        c->deferred->conn = NULL;
        c->deferred = NULL;
    }
    conn_drain_end(c);
    conn_detach(c);
    sb_buf_free(&c->body);
    free(c->resp);
    c->resp = NULL;
    free(c->origin);
    c->origin = NULL;
}

int body_append_limited(eio_conn *c, const void *in, size_t len, size_t limit)
{
    if (c->too_large || c->body.len + len > limit) {
        c->too_large = 1;
        sb_buf_free(&c->body);
        return -1;
    }
    sb_buf_append(&c->body, in, len);
    return 0;
}

/* ---- the application's HTTP handler ---- */

const char *eio_http_method(const eio_http_request *req) { return req->method; }
const char *eio_http_path(const eio_http_request *req) { return req->path; }

const uint8_t *eio_http_body(const eio_http_request *req, size_t *len)
{
    *len = req->conn->body.len;
    return req->conn->body.data ? req->conn->body.data : (const uint8_t *)"";
}

int eio_http_query_param(const eio_http_request *req, const char *name, char *buf, size_t len)
{
    return http_query_param(req->conn->wsi, name, buf, len);
}

int eio_http_header(const eio_http_request *req, const char *name, char *buf, size_t len)
{
    char key[64];
    int n = snprintf(key, sizeof(key), "%s:", name);
    for (int i = 0; i < n; i++)
        if (key[i] >= 'A' && key[i] <= 'Z')
            key[i] = (char)(key[i] - 'A' + 'a');
    /* lws parses the headers it knows (authorization, content-type...) into tokens of
     * their own; only the others are custom headers. */
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        const char *known = (const char *)lws_token_to_string((enum lws_token_indexes)t);
        if (known && !strcmp(known, key))
            return lws_hdr_copy(req->conn->wsi, buf, (int)len, (enum lws_token_indexes)t);
    }
    return lws_hdr_custom_copy(req->conn->wsi, buf, (int)len, key, n);
}

void eio_http_respond(eio_http_request *req, int status, const char *content_type,
                      const void *body, size_t len)
{
    http_respond(req->conn, status, content_type, body, len, NULL);
}

eio_http_deferred *eio_http_defer(eio_http_request *req)
{
    eio_conn *c = req->conn;
    eio_http_deferred *d = malloc(sizeof(*d));
    if (!d)
        abort();
    d->conn = c;
    c->deferred = d;
    /* lws's default 5 s timeout would kill the request, and an idle h1 connection that is
     * not flow-controlled spins the loop (notes/libwebsockets.md, G1 and G2). */
    lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
    lws_rx_flow_control(c->wsi, 0);
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
    http_respond(c, status, content_type, body, len, NULL);
}

static void app_http_dispatch(eio_conn *c, const char *method, const char *path)
{
    eio_server *srv = eio_server_of(c->wsi);
    eio_http_request req = {c, method, ""};
    snprintf(req.path, sizeof(req.path), "%s", path);
    if (c->too_large) {
        http_respond(c, 413, "text/plain", "", 0, NULL);
        c->resp_close = 1;
        return;
    }
    if (!srv->http_handler || srv->http_handler(&req, srv->http_ud))
        http_respond(c, 404, "text/plain", "Not Found", 9, NULL);
}

/* ---- routing ---- */

static size_t content_length(struct lws *wsi)
{
    char buf[32];
    if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return 0;
    return (size_t)strtoull(buf, NULL, 10);
}

static void remember_origin(eio_conn *c, eio_server *srv)
{
    char origin[EIO_ORIGIN_MAX];
    if (srv->cfg.cors_origin && lws_hdr_copy(c->wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) > 0)
        c->origin = strdup(origin);
}

/* An Engine.IO request: handshake, poll, or packets posted to a session. */
static void engine_request(eio_conn *c, eio_server *srv, const char *method)
{
    char transport[EIO_QUERY_PARAM_MAX], sid[EIO_QUERY_PARAM_MAX], version[EIO_QUERY_PARAM_MAX];
    int is_get = !strcmp(method, "GET"), is_post = !strcmp(method, "POST");
    if (!strcmp(method, "OPTIONS") && srv->cfg.cors_origin) {
        http_preflight(c);
        return;
    }
    if (http_query_param(c->wsi, "transport", transport, sizeof(transport)) < 0 ||
        (strcmp(transport, "polling") && strcmp(transport, "websocket")) ||
        (!strcmp(transport, "polling") && !srv->cfg.allow_polling) ||
        (!strcmp(transport, "websocket") && !srv->cfg.allow_websocket)) {
        http_respond_error(c, EIO_ERR_UNKNOWN_TRANSPORT);
        return;
    }
    if (http_query_param(c->wsi, "sid", sid, sizeof(sid)) >= 0) {
        eio_session *s = session_find(srv, sid);
        if (s && session_check_deadline(s))
            s = NULL;
        if (!s || s->state == EIO_SESSION_CLOSED)
            http_respond_error(c, EIO_ERR_UNKNOWN_SID);
        else if (s->transport != EIO_TRANSPORT_POLLING || strcmp(transport, "polling") ||
                 (!is_get && !is_post))
            http_respond_error(c, EIO_ERR_BAD_REQUEST);
        else if (is_get)
            polling_handle_get(c, s);
        else
            polling_handle_post(c, s);
        return;
    }
    if (!is_get)
        http_respond_error(c, EIO_ERR_BAD_HANDSHAKE_METHOD);
    else if (strcmp(transport, "polling"))
        http_respond_error(c, EIO_ERR_BAD_REQUEST);
    else if (http_query_param(c->wsi, "EIO", version, sizeof(version)) < 0 || strcmp(version, "4"))
        http_respond_error(c, EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION);
    else
        polling_handle_get(c, session_create(srv, EIO_TRANSPORT_POLLING, c));
}

static int on_http(eio_conn *c, struct lws *wsi, const char *uri)
{
    eio_server *srv = eio_server_of(wsi);
    const char *method = http_method(wsi);
    memset(c, 0, sizeof(*c));
    c->wsi = wsi;
    remember_origin(c, srv);
    if (!path_matches(srv->cfg.path, uri)) {
        c->kind = EIO_CONN_APP_HTTP;
        if (!strcmp(method, "GET") || !strcmp(method, "HEAD") || !content_length(wsi))
            app_http_dispatch(c, method, uri);
        return 0;
    }
    if (srv->shutting_down) {
        http_respond(c, 503, "text/plain", "shutting down", 13, NULL);
        c->resp_close = 1;
        return 0;
    }
    engine_request(c, srv, method);
    return 0;
}

static int on_http_body(eio_conn *c, const void *in, size_t len)
{
    eio_server *srv = eio_server_of(c->wsi);
    if (c->kind == EIO_CONN_POLL_POST || c->kind == EIO_CONN_APP_HTTP)
        body_append_limited(c, in, len, srv->cfg.max_payload);
    return 0;
}

static int on_http_body_done(eio_conn *c)
{
    char uri[EIO_QUERY_PARAM_MAX * 2];
    if (c->kind == EIO_CONN_POLL_POST) {
        polling_handle_post_done(c);
    } else if (c->kind == EIO_CONN_APP_HTTP) {
        if (lws_hdr_copy(c->wsi, uri, sizeof(uri), WSI_TOKEN_POST_URI) <= 0 &&
            lws_hdr_copy(c->wsi, uri, sizeof(uri), WSI_TOKEN_PUT_URI) <= 0 &&
            lws_hdr_copy(c->wsi, uri, sizeof(uri), WSI_TOKEN_PATCH_URI) <= 0 &&
            lws_hdr_copy(c->wsi, uri, sizeof(uri), WSI_TOKEN_DELETE_URI) <= 0)
            uri[0] = '\0';
        app_http_dispatch(c, http_method(c->wsi), uri);
    }
    return 0;
}

static int on_http_writeable(eio_conn *c)
{
    if (c->kind == EIO_CONN_POLL_GET && c->session)
        polling_answer_get(c->session);
    if (!c->resp)
        return 0;
    return http_write_response(c);
}

int eio_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
    eio_conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(c, wsi, in);
    case LWS_CALLBACK_HTTP_BODY:
        return on_http_body(c, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return on_http_body_done(c);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return c ? on_http_writeable(c) : 0;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c)
            http_conn_reset(c);
        break;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return websocket_confirm_upgrade(wsi);
    case LWS_CALLBACK_ESTABLISHED:
        memset(c, 0, sizeof(*c));
        c->wsi = wsi;
        return websocket_established(c);
    case LWS_CALLBACK_RECEIVE:
        return websocket_receive(c, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return websocket_writeable(c);
    case LWS_CALLBACK_CLOSED:
        websocket_closed(c);
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}
