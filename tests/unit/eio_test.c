/* eio_test.c: the tests' hand-written Engine.IO clients (see eio_test.h).
 *
 * An HTTP request asks the server to close the connection after its answer, so the whole
 * response is what arrived before the end of the stream: no HTTP parsing beyond the
 * status line and the blank line. A websocket reads the 101's head, then frames with the
 * codec the server uses (in its client mode: server frames are unmasked).
 */
#include "eio_test.h"

#include <jansson.h>

#define EIO_TEST_PATH      "/socket.io/"
#define EIO_TEST_WS_KEY    "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455's example key */
#define EIO_TEST_MAX_FRAME (1u << 20)
#define EIO_TEST_QUERY_MAX 256
#define EIO_TEST_STATUS_AT 9 /* "HTTP/1.1 " */

typedef struct write_req {
    uv_write_t req;
    uint8_t data[];
} write_req;

static void on_tick(uv_timer_t *t) {}

void eio_test_net_init(eio_test_net *net, uv_loop_t *loop, int port)
{
    memset(net, 0, sizeof(*net));
    net->loop = loop;
    net->port = port;
    uv_timer_init(loop, &net->tick);
    uv_timer_start(&net->tick, on_tick, EIO_TEST_TICK_MS, EIO_TEST_TICK_MS);
    uv_unref((uv_handle_t *)&net->tick);
}

uint64_t eio_test_deadline(eio_test_net *net, uint64_t ms)
{
    uv_update_time(net->loop);
    return uv_now(net->loop) + ms;
}

int eio_test_step(eio_test_net *net, uint64_t end)
{
    uv_ref((uv_handle_t *)&net->tick);
    uv_run(net->loop, UV_RUN_ONCE);
    uv_unref((uv_handle_t *)&net->tick);
    uv_update_time(net->loop);
    return uv_now(net->loop) < end;
}

void eio_test_run_for(eio_test_net *net, uint64_t ms)
{
    uint64_t end = eio_test_deadline(net, ms);
    while (eio_test_step(net, end))
        ;
}

/* ---- connections ------------------------------------------------------------------- */

static void on_closed(uv_handle_t *h)
{
    eio_test_conn *c = h->data;
    c->closed = 1;
}

void eio_test_drop(eio_test_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

int eio_test_gone(const eio_test_conn *c) { return c->closing; }

static void on_written(uv_write_t *req, int status) { free(req); }

static void conn_write(eio_test_conn *c, const void *data, size_t len)
{
    if (c->closing)
        return;
    write_req *w = malloc(sizeof(*w) + len);
    if (!w)
        abort();
    memcpy(w->data, data, len);
    uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0)
        free(w);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    eio_test_conn *c = h->data;
    sb_buf_reserve(&c->in, suggested);
    *buf = uv_buf_init((char *)c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len));
}

static void consume(sb_buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* Where the head ends (after its blank line) in b, or 0 while it is incomplete. */
static size_t head_end(const sb_buf *b)
{
    for (size_t i = 0; i + 4 <= b->len; i++)
        if (memcmp(b->data + i, "\r\n\r\n", 4) == 0)
            return i + 4;
    return 0;
}

static int status_of(const sb_buf *b)
{
    if (b->len < EIO_TEST_STATUS_AT + 3)
        return -1;
    return atoi((const char *)b->data + EIO_TEST_STATUS_AT);
}

static void http_finish(eio_test_conn *c)
{
    size_t at = head_end(&c->in);
    c->status = at ? status_of(&c->in) : -1;
    c->body = sb_strndup((const char *)c->in.data + at, at ? c->in.len - at : 0);
}

static void ws_keep_packet(eio_test_conn *c, const uint8_t *data, size_t len)
{
    if (c->n_packets == c->packets_cap) {
        c->packets_cap = c->packets_cap ? c->packets_cap * 2 : 8;
        c->packets = realloc(c->packets, c->packets_cap * sizeof(*c->packets));
        if (!c->packets)
            abort();
    }
    char *packet = sb_strndup((const char *)data, len);
    c->packets[c->n_packets++] = packet;
    if (c->on_packet)
        c->on_packet(c, packet, c->on_packet_ud);
}

static void ws_read_frames(eio_test_conn *c)
{
    ws_frame f;
    ssize_t n;
    while (!c->closing && (n = ws_read_frame(&c->ws, c->in.data, c->in.len, &f, NULL)) > 0) {
        if (f.opcode == WS_OP_TEXT)
            ws_keep_packet(c, f.payload, f.len);
        if (f.opcode == WS_OP_CLOSE) {
            const uint8_t *reason;
            size_t reason_len;
            c->close_frame = 1;
            if (ws_close_parse(f.payload, f.len, &c->close_code, &reason, &reason_len) != 0)
                TEST_FAIL("the server sent an invalid close frame");
        }
        consume(&c->in, (size_t)n);
    }
    if (!c->closing && n < 0)
        TEST_FAIL("the server sent an invalid frame: %s", c->ws.errstr);
}

static void ws_read(eio_test_conn *c)
{
    if (!c->upgraded) {
        size_t at = head_end(&c->in);
        if (!at)
            return;
        if (status_of(&c->in) != 101)
            TEST_FAIL("websocket refused: %.*s", (int)at, c->in.data);
        c->upgraded = 1;
        consume(&c->in, at);
    }
    ws_read_frames(c);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    eio_test_conn *c = stream->data;
    if (nread < 0) {
        c->eof = 1;
        if (!c->websocket)
            http_finish(c);
        eio_test_drop(c);
        return;
    }
    c->in.len += (size_t)nread;
    if (c->websocket)
        ws_read(c);
}

static void on_connect(uv_connect_t *req, int status)
{
    eio_test_conn *c = req->data;
    if (c->closing)
        return; /* dropped before it connected */
    if (status != 0)
        TEST_FAIL("connect: %s", uv_strerror(status));
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    conn_write(c, c->request.data, c->request.len);
}

static eio_test_conn *conn_open(eio_test_net *net, int websocket)
{
    struct sockaddr_in addr;
    eio_test_conn *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->net = net;
    c->websocket = websocket;
    c->next = net->conns;
    net->conns = c;
    ws_reader_init(&c->ws, EIO_TEST_MAX_FRAME, 0);
    ASSERT_EQ(uv_ip4_addr(EIO_TEST_HOST, net->port, &addr), 0);
    ASSERT_EQ(uv_tcp_init(net->loop, &c->tcp), 0);
    c->tcp.data = c;
    c->connect.data = c;
    ASSERT_EQ(uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&addr, on_connect), 0);
    return c;
}

void eio_test_net_close(eio_test_net *net)
{
    for (eio_test_conn *c = net->conns; c; c = c->next)
        eio_test_drop(c);
    uv_close((uv_handle_t *)&net->tick, NULL);
}

void eio_test_net_free(eio_test_net *net)
{
    while (net->conns) {
        eio_test_conn *c = net->conns;
        net->conns = c->next;
        ASSERT(c->closed);
        for (size_t i = 0; i < c->n_packets; i++)
            free(c->packets[i]);
        free(c->packets);
        free(c->body);
        sb_buf_free(&c->in);
        sb_buf_free(&c->request);
        free(c);
    }
}

/* ---- websocket --------------------------------------------------------------------- */

eio_test_conn *eio_test_ws_open(eio_test_net *net, const char *query)
{
    eio_test_conn *c = conn_open(net, 1);
    sb_buf_append_str(&c->request, "GET " EIO_TEST_PATH "?");
    sb_buf_append_str(&c->request, query);
    sb_buf_append_str(&c->request, " HTTP/1.1\r\nHost: " EIO_TEST_HOST "\r\n"
                                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Key: " EIO_TEST_WS_KEY "\r\n"
                                   "Sec-WebSocket-Version: 13\r\n\r\n");
    return c;
}

void eio_test_ws_wait_open(eio_test_conn *c, int want_open)
{
    EIO_TEST_RUN_UNTIL(c->net, c->upgraded);
    if (!want_open)
        return;
    const char *open = eio_test_ws_wait_packets(c, 1);
    if (open[0] != '0')
        TEST_FAIL("expected the OPEN packet, got \"%s\"", open);
}

static void ws_send_frame(eio_test_conn *c, enum ws_opcode op, const void *payload, size_t len)
{
    static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    uint8_t head[WS_HEADER_MAX];
    size_t h = ws_frame_header_masked(head, op, len, mask);
    sb_buf frame;
    ASSERT(c->upgraded);
    sb_buf_init(&frame);
    sb_buf_append(&frame, head, h);
    sb_buf_append(&frame, payload, len);
    ws_mask(frame.data + h, len, mask, 0);
    conn_write(c, frame.data, frame.len);
    sb_buf_free(&frame);
}

void eio_test_ws_send(eio_test_conn *c, const char *packet)
{
    ws_send_frame(c, WS_OP_TEXT, packet, strlen(packet));
}

void eio_test_ws_send_close(eio_test_conn *c)
{
    uint8_t payload[WS_CONTROL_MAX];
    size_t n = ws_close_payload(payload, WS_CLOSE_NORMAL, NULL);
    ws_send_frame(c, WS_OP_CLOSE, payload, n);
}

const char *eio_test_ws_wait_packets(eio_test_conn *c, size_t n)
{
    EIO_TEST_RUN_UNTIL(c->net, c->n_packets >= n);
    return c->packets[n - 1];
}

const char *eio_test_ws_packet(const eio_test_conn *c, size_t i)
{
    return i < c->n_packets ? c->packets[i] : NULL;
}

/* ---- HTTP -------------------------------------------------------------------------- */

eio_test_conn *eio_test_http(eio_test_net *net, const char *method, const char *query,
                             const char *body)
{
    eio_test_conn *c = conn_open(net, 0);
    sb_buf *r = &c->request;
    sb_buf_append_str(r, method);
    sb_buf_append_str(r, " " EIO_TEST_PATH "?");
    sb_buf_append_str(r, query);
    sb_buf_append_str(r, " HTTP/1.1\r\nHost: " EIO_TEST_HOST "\r\nConnection: close\r\n");
    if (body) {
        sb_buf_append_str(r, "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ");
        sb_buf_append_u64(r, strlen(body));
        sb_buf_append_str(r, "\r\n");
    }
    sb_buf_append_str(r, "\r\n");
    if (body)
        sb_buf_append_str(r, body);
    return c;
}

const char *eio_test_http_wait(eio_test_conn *c, int status)
{
    EIO_TEST_RUN_UNTIL(c->net, c->eof);
    if (c->status != status)
        TEST_FAIL("HTTP status %d, want %d: %s", c->status, status, c->body);
    return c->body;
}

void eio_test_poll_open(eio_test_net *net, char *sid, size_t len)
{
    const char *body =
        eio_test_http_wait(eio_test_http(net, "GET", "EIO=4&transport=polling", NULL), 200);
    json_t *open = body[0] == '0' ? json_loads(body + 1, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(open, "sid"));
    if (!id || strlen(id) >= len)
        TEST_FAIL("no sid in the handshake: %s", body);
    memcpy(sid, id, strlen(id) + 1);
    json_decref(open);
}

eio_test_conn *eio_test_poll(eio_test_net *net, const char *sid, const char *method,
                             const char *body)
{
    char query[EIO_TEST_QUERY_MAX];
    snprintf(query, sizeof(query), "EIO=4&transport=polling&sid=%s", sid);
    return eio_test_http(net, method, query, body);
}
