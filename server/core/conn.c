/* conn.c: accepted TCP streams: reading into one slab, corked writing, deadlines.
 *
 * The one idea: a connection writes at most once per loop turn. eio__conn_send() only queues;
 * the connection joins srv->flush, and the flusher writes every queued buffer of each
 * connection with one uv_try_write (a writev). The flusher is a uv_idle_t started when
 * the first connection joins: it runs once per turn before the loop polls, and while it
 * is active the poll does not block, so output queued in any phase leaves on the next
 * turn. Only when the kernel takes less does the rest go through uv_write, which makes
 * libuv watch the socket for writability until it drains; otherwise the socket stays
 * registered for reading only, for its whole life.
 *
 * Reads land in the server's slab. Whatever a read leaves unconsumed (an incomplete
 * websocket frame, a pipelined request the connection cannot serve yet) is copied into a
 * buffer of the connection's own, which the next reads fill directly and which is freed
 * once consumed: an idle connection owns no input buffer.
 *
 * Deadlines (an HTTP request that does not arrive, an upgrade probe that does not finish,
 * a closing client that does not hang up) are seconds on each connection, checked by one
 * sweep a second over the loop's handles: a timer per connection would cost 152 bytes.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine_internal.h"

#define EIO_LISTEN_BACKLOG 4096  /* connect storms: the kernel caps it at somaxconn */
#define EIO_BUSY_INPUT_MAX 65536 /* input kept while a request is served; beyond, stop reading */

static void conn_flush(eio_conn *c);
static void on_flush(uv_idle_t *p);
static void conn_process_leftover(eio_conn *c);

static uint32_t now_s(const eio_server *srv) { return (uint32_t)(uv_now(srv->loop) / 1000); }

static int is_conn(const uv_handle_t *h, const eio_server *srv)
{
    return h->type == UV_TCP && h->data == srv && h != (const uv_handle_t *)&srv->listener;
}

/* ---- output ---- */

void eio__conn_want_flush(eio_conn *c)
{
    eio_server *srv = c->srv;
    if (c->in_flush || c->closed)
        return;
    c->in_flush = 1;
    c->flush_next = srv->flush;
    srv->flush = c;
    uv_idle_start(&srv->flusher, on_flush);
}

void eio__conn_send(eio_conn *c, eio_msg *m)
{
    if (c->closed)
        return;
    eio__queue_push(&c->out, m);
    eio__conn_want_flush(c);
}

int eio__conn_output_pending(const eio_conn *c) { return c->out.len > 0 || c->wreq != NULL; }

/* Drops the written bytes from the head of the output. */
static void output_consume(eio_conn *c, size_t n)
{
    while (n > 0) {
        size_t len;
        eio_msg *m = eio__queue_at(&c->out, 0);
        eio_msg_wire(m, &len);
        size_t left = len - c->out_off;
        if (n < left) {
            c->out_off += n;
            return;
        }
        n -= left;
        c->out_off = 0;
        eio_msg_unref(eio__queue_pop(&c->out));
    }
}

static uint32_t output_gather(const eio_conn *c, uv_buf_t *iov, size_t *total)
{
    uint32_t n = 0;
    size_t off = c->out_off;
    *total = 0;
    while (n < c->out.len && n < EIO_WRITE_IOV_MAX) {
        size_t len;
        const uint8_t *p = eio_msg_wire(eio__queue_at(&c->out, n), &len);
        iov[n] = uv_buf_init((char *)p + off, (unsigned)(len - off));
        *total += len - off;
        off = 0;
        n++;
    }
    return n;
}

static void on_shutdown(uv_shutdown_t *req, int status) { free(req); }

/* Everything queued has been written. */
static void output_done(eio_conn *c)
{
    if (c->closed)
        return;
    if (c->virt && c->close_after) {
        eio__vconn_done(c, 0);
        return;
    }
    if (c->close_after) {
        /* FIN after the last byte; the client's own close (or the grace) ends it. */
        uv_shutdown_t *req = malloc(sizeof(*req));
        if (!req)
            abort();
        c->close_after = 0;
        c->kind = EIO_CONN_CLOSING;
        if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown)) {
            free(req);
            eio__conn_close(c);
            return;
        }
        eio__conn_set_timeout(c, EIO_CLOSE_GRACE_S);
        return;
    }
    if (c->kind == EIO_CONN_HTTP && c->in_len)
        conn_process_leftover(c);
    /* answered, nothing more to write: idle until the next request or the keep-alive end */
    if (!c->closed && c->kind == EIO_CONN_HTTP && !c->req && !eio__conn_output_pending(c)) {
        if (c->virt)
            eio__vconn_done(c, 1); /* a virtual connection carries one request */
        else
            eio__conn_set_timeout(c, EIO_HTTP_IDLE_S);
    }
}

static void on_write(uv_write_t *req, int status)
{
    eio_conn *c = req->data;
    free(req);
    c->wreq = NULL;
    if (status < 0) {
        eio__conn_close(c);
        return;
    }
    for (uint32_t i = 0; i < c->inflight; i++)
        eio_msg_unref(eio__queue_pop(&c->out));
    c->inflight = 0;
    c->out_off = 0;
    eio__conn_want_flush(c); /* what was queued meanwhile, and the after-write actions */
}

/* One writev of everything queued; the kernel's remainder goes to uv_write. */
static void output_write(eio_conn *c)
{
    uv_buf_t iov[EIO_WRITE_IOV_MAX];
    size_t total;
    if (c->virt && !c->closed) {
        eio__vconn_write(c);
        output_done(c); /* a virtual connection that ends takes what is pending along */
        eio__vconn_output(c);
        return;
    }
    while (c->out.len && !c->wreq && !c->closed) {
        uint32_t n = output_gather(c, iov, &total);
        int w = uv_try_write((uv_stream_t *)&c->tcp, iov, n);
        if (w == UV_EAGAIN)
            w = 0;
        if (w < 0) {
            eio__conn_close(c);
            return;
        }
        output_consume(c, (size_t)w);
        if ((size_t)w == total)
            continue;
        n = output_gather(c, iov, &total);
        c->wreq = malloc(sizeof(*c->wreq));
        if (!c->wreq)
            abort();
        c->wreq->data = c;
        c->inflight = n;
        if (uv_write(c->wreq, (uv_stream_t *)&c->tcp, iov, n, on_write)) {
            free(c->wreq);
            c->wreq = NULL;
            c->inflight = 0;
            eio__conn_close(c);
        }
        return;
    }
    if (!c->out.len && !c->wreq)
        output_done(c);
}

static void conn_flush(eio_conn *c)
{
    if (c->closed || c->wreq)
        return;
    if (c->kind == EIO_CONN_WEBSOCKET)
        eio__websocket_flush(c);
    else if (c->kind == EIO_CONN_POLL_GET && c->session)
        eio__polling_answer_get(c->session);
    output_write(c);
}

/* The flusher: every connection that got output this turn, written once. */
static void on_flush(uv_idle_t *p)
{
    eio_server *srv = p->data;
    while (srv->flush) {
        eio_conn *c = srv->flush;
        srv->flush = c->flush_next;
        c->flush_next = NULL;
        c->in_flush = 0;
        if (c->freed_later) {
            free(c->virt);
            free(c);
        } else {
            conn_flush(c);
        }
    }
    uv_idle_stop(p);
}

void eio__conn_close_after_write(eio_conn *c)
{
    if (c->closed || c->kind == EIO_CONN_CLOSING)
        return;
    c->close_after = 1;
    c->kind = EIO_CONN_CLOSING;
    if (!c->due_s)
        eio__conn_set_timeout(c, EIO_HTTP_REQUEST_S); /* the last bytes have that long to leave */
    eio__conn_want_flush(c);
}

/* ---- closing ---- */

static void on_closed(uv_handle_t *h)
{
    eio_conn *c = (eio_conn *)h;
    eio_server *srv = c->srv;
    eio__queue_clear(&c->out);
    free(c->in);
    sb_buf_free(&c->frag);
    srv->n_conns--;
    if (c->in_flush)
        c->freed_later = 1; /* the flusher (or eio_server_free) frees it */
    else
        free(c);
    if (srv->shutting_down)
        eio__server_maybe_done(srv);
}

/* A virtual connection has no handle to close: it is freed by the next flush pass, once
 * whoever closed it has returned. */
static void virtual_free_later(eio_conn *c)
{
    eio_server *srv = c->srv;
    eio__vconn_free(c);
    eio__queue_clear(&c->out);
    free(c->in);
    c->in = NULL;
    sb_buf_free(&c->frag);
    c->freed_later = 1;
    if (!c->in_flush) {
        c->in_flush = 1;
        c->flush_next = srv->flush;
        srv->flush = c;
        uv_idle_start(&srv->flusher, on_flush);
    }
}

void eio__conn_close(eio_conn *c)
{
    if (c->closed)
        return;
    if (c->kind == EIO_CONN_WEBSOCKET)
        eio__websocket_closed(c);
    eio__http_conn_reset(c);
    c->closed = 1;
    if (c->virt)
        virtual_free_later(c);
    else
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* Every connection: the accepted streams (the loop's handles), then the virtual ones. fn
 * may close the connection it is given. */
typedef struct conn_walk {
    const eio_server *srv;
    void (*fn)(eio_conn *c, void *arg);
    void *arg;
} conn_walk;

static void walk_one(uv_handle_t *h, void *arg)
{
    conn_walk *w = arg;
    if (is_conn(h, w->srv))
        w->fn((eio_conn *)h, w->arg);
}

void eio__conn_walk(eio_server *srv, void (*fn)(eio_conn *c, void *arg), void *arg)
{
    conn_walk w = {srv, fn, arg};
    sb_list *link, *tmp;
    uv_walk(srv->loop, walk_one, &w);
    SB_LIST_FOREACH_SAFE(link, tmp, &srv->vconns)
    {
        fn(SB_LIST_DATA(link, eio_vconn, link)->conn, arg);
    }
}

static void close_one(eio_conn *c, void *arg)
{
    if (!c->closed)
        eio__conn_close(c);
}

void eio__conn_close_all(eio_server *srv) { eio__conn_walk(srv, close_one, NULL); }

typedef struct pending_count {
    const eio_server *srv;
    int n;
} pending_count;

static void count_pending(eio_conn *c, void *arg)
{
    pending_count *pc = arg;
    if (!c->closed && eio__conn_output_pending(c))
        pc->n++;
}

int eio__conn_count_pending(eio_server *srv)
{
    pending_count pc = {srv, 0};
    eio__conn_walk(srv, count_pending, &pc);
    return pc.n;
}

/* ---- deadlines ---- */

/* Rounded up to the next whole second, so that a connection never goes before its time
 * (a client trusts the Keep-Alive timeout it was told); the sweep adds up to a second. */
void eio__conn_set_timeout(eio_conn *c, unsigned seconds)
{
    uint64_t due_ms = uv_now(c->srv->loop) + (uint64_t)seconds * 1000;
    c->due_s = seconds ? (uint32_t)((due_ms + 999) / 1000) : 0;
}

static void sweep_one(eio_conn *c, void *arg)
{
    eio_server *srv = arg;
    if (c->closed || !c->due_s || c->due_s > now_s(srv))
        return;
    if (c->is_probe && c->session)
        eio__conn_detach(c); /* the upgrade took too long: the session goes on polling */
    eio__conn_close(c);
}

static void on_sweep(uv_timer_t *t) { eio__conn_walk(t->data, sweep_one, t->data); }

/* ---- input ---- */

/* Offers the bytes to whichever protocol the connection speaks; returns how many it
 * consumed (all of them once the connection is closing: the rest is not read). */
static size_t conn_process(eio_conn *c, uint8_t *data, size_t len, size_t *need)
{
    size_t off = 0;
    *need = 0;
    while (off < len && !c->closed && c->kind != EIO_CONN_CLOSING) {
        size_t n;
        if (c->kind == EIO_CONN_WEBSOCKET)
            n = eio__websocket_feed(c, data + off, len - off, need);
        else if (c->kind == EIO_CONN_HTTP)
            n = eio__http_feed(c, data + off, len - off);
        else if (c->kind == EIO_CONN_FORWARD)
            n = eio__forward_feed(c, data + off, len - off); /* a tunnel's bytes, or wait */
        else
            break; /* a request is being served: the next waits */
        if (n == 0)
            break;
        off += n;
    }
    if (c->closed || c->kind == EIO_CONN_CLOSING)
        return len;
    return off;
}

/* Keeps n unconsumed bytes, in a buffer big enough for need (the frame's whole size). */
static void leftover_keep(eio_conn *c, const uint8_t *p, size_t n, size_t need)
{
    size_t cap = need > n ? need : n;
    if (cap < EIO_LEFTOVER_MIN)
        cap = EIO_LEFTOVER_MIN;
    if (cap > c->in_cap) {
        uint8_t *in = malloc(cap);
        if (!in)
            abort();
        if (n)
            memmove(in, p, n);
        free(c->in);
        c->in = in;
        c->in_cap = (uint32_t)cap;
    } else if (n && p != c->in) {
        memmove(c->in, p, n);
    }
    c->in_len = (uint32_t)n;
}

static void leftover_settle(eio_conn *c, size_t consumed, size_t need)
{
    size_t rest = c->in_len - consumed;
    if (!rest) {
        free(c->in);
        c->in = NULL;
        c->in_len = c->in_cap = 0;
        return;
    }
    leftover_keep(c, c->in + consumed, rest, need);
}

/* A busy connection (a parked GET, a deferred answer) keeps what the client pipelines, up
 * to a bound; past it, reading stops until the connection is free again. */
static void input_backpressure(eio_conn *c)
{
    int busy =
        c->kind == EIO_CONN_POLL_GET || c->kind == EIO_CONN_DEFERRED || c->kind == EIO_CONN_FORWARD;
    if (busy && c->in_len > EIO_BUSY_INPUT_MAX && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void conn_process_leftover(eio_conn *c)
{
    size_t need;
    size_t consumed = conn_process(c, c->in, c->in_len, &need);
    if (c->closed)
        return;
    leftover_settle(c, consumed, need);
}

void eio__conn_input(eio_conn *c, const uint8_t *data, size_t len)
{
    size_t need;
    if (c->closed || !len)
        return;
    if (!c->in_len && len <= EIO_READ_SLAB) {
        uint8_t *slab = c->srv->slab; /* a copy: the readers work in place */
        memcpy(slab, data, len);
        size_t consumed = conn_process(c, slab, len, &need);
        if (!c->closed && consumed < len)
            leftover_keep(c, slab + consumed, len - consumed, need);
        return;
    }
    leftover_keep(c, c->in, c->in_len, (size_t)c->in_len + len);
    memcpy(c->in + c->in_len, data, len);
    c->in_len += (uint32_t)len;
    conn_process_leftover(c);
}

/* A connection free for the next request reads again and serves what it kept. */
void eio__conn_resume(eio_conn *c)
{
    if (c->closed)
        return;
    if (!c->reading && !c->virt) {
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        c->reading = 1;
    }
    if (c->in_len)
        eio__conn_want_flush(c); /* served after the answer is written (output_done) */
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    eio_conn *c = (eio_conn *)h;
    if (!c->in_len) {
        *buf = uv_buf_init((char *)c->srv->slab, EIO_READ_SLAB);
        return;
    }
    if (c->in_cap - c->in_len < EIO_LEFTOVER_MIN / 2)
        leftover_keep(c, c->in, c->in_len, (size_t)c->in_cap * 2);
    *buf = uv_buf_init((char *)c->in + c->in_len, c->in_cap - c->in_len);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    eio_conn *c = (eio_conn *)stream;
    size_t need;
    if (nread < 0) {
        eio__conn_close(c); /* the client went (EOF) or the connection broke */
        return;
    }
    if (nread == 0 || c->closed)
        return;
    if (c->kind == EIO_CONN_HTTP && !c->req)
        eio__conn_set_timeout(c,
                              EIO_HTTP_REQUEST_S); /* a request begins: it has that long, whole */
    if ((uint8_t *)buf->base == c->srv->slab) {
        uint8_t *data = c->srv->slab;
        size_t consumed = conn_process(c, data, (size_t)nread, &need);
        if (!c->closed && consumed < (size_t)nread)
            leftover_keep(c, data + consumed, (size_t)nread - consumed, need);
    } else {
        c->in_len += (uint32_t)nread;
        conn_process_leftover(c);
    }
    if (!c->closed)
        input_backpressure(c);
}

/* ---- accepting ---- */

int eio__conn_peer_name(eio_conn *c, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    int n = sizeof(ss);
    buf[0] = '\0';
    if (c->virt || uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &n))
        return -1;
    if (ss.ss_family == AF_INET6)
        return uv_ip6_name((struct sockaddr_in6 *)&ss, buf, len);
    return uv_ip4_name((struct sockaddr_in *)&ss, buf, len);
}

static void on_connection(uv_stream_t *listener, int status)
{
    eio_server *srv = (eio_server *)((char *)listener - offsetof(eio_server, listener));
    if (status < 0)
        return;
    eio_conn *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = srv;
    c->srv = srv;
    srv->n_conns++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp)) {
        c->closed = 1;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    /* Small frames must not wait for the peer's delayed ACK (Nagle). */
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    c->reading = 1;
    eio__conn_set_timeout(c, EIO_HTTP_REQUEST_S);
}

/* The listening socket is bound here, before libuv sees it, so that a busy port leaves no
 * handle behind for a caller who gives up without running the loop. */
static int listen_socket(eio_server *srv, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char service[16];
    int one = 1, fd = -1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(service, sizeof(service), "%d", srv->cfg.port);
    int rc = getaddrinfo(srv->host, service, &hints, &res);
    if (!rc && res) {
        fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 &&
            (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
             bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, EIO_LISTEN_BACKLOG))) {
            close(fd);
            fd = -1;
        }
    }
    if (res)
        freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot listen on %s:%d (%s)", srv->host ? srv->host : "*",
                 srv->cfg.port, rc ? gai_strerror(rc) : "address in use or not available");
    return fd;
}

static int bound_port(eio_server *srv)
{
    struct sockaddr_storage ss;
    int n = sizeof(ss);
    if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &n))
        return srv->cfg.port;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

int eio__conn_listen(eio_server *srv, char *err, size_t errlen)
{
    int fd = listen_socket(srv, err, errlen);
    if (fd < 0)
        return -1;
    uv_tcp_init(srv->loop, &srv->listener);
    srv->listener.data = srv;
    if (uv_tcp_open(&srv->listener, fd) ||
        uv_listen((uv_stream_t *)&srv->listener, EIO_LISTEN_BACKLOG, on_connection))
        abort(); /* a listening socket libuv cannot take: nothing sensible to do */
    srv->port = bound_port(srv);
    srv->slab = malloc(EIO_READ_SLAB);
    if (!srv->slab)
        abort();
    uv_idle_init(srv->loop, &srv->flusher);
    srv->flusher.data = srv;
    uv_timer_init(srv->loop, &srv->sweeper);
    srv->sweeper.data = srv;
    uv_timer_start(&srv->sweeper, on_sweep, EIO_SWEEP_MS, EIO_SWEEP_MS);
    uv_unref((uv_handle_t *)&srv->sweeper);
    return 0;
}
