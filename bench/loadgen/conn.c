/* conn.c: the epoll loop and the raw WebSocket client under every simulated user.
 *
 * The one idea: a connection is a small state machine (TCP connect, HTTP upgrade,
 * Engine.IO open, Socket.IO CONNECT to /helpdesk, ready) fed by level-triggered epoll.
 * Input is parsed in place from one shared read buffer; only a partial frame left at the
 * end of a read is copied into the connection. Output frames (masked, as a client must)
 * are appended to the connection's buffer and written at once, or, with `defer`, at the
 * end of the current read so that the replies to one read leave in one write.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lg.h"

#define LG_MAX_OUT     (64u << 20) /* a client this far behind is a failed run */
#define LG_MAX_HEADER  8192
#define LG_EPOLL_BATCH 512
#define WS_GUID        "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

int lg_loop_init(lg_loop *L, const lg_handlers *h, void *ud)
{
    memset(L, 0, sizeof *L);
    L->h = h;
    L->ud = ud;
    L->epfd = epoll_create1(EPOLL_CLOEXEC);
    L->readbuf = malloc(LG_READ_CHUNK);
    return L->epfd >= 0 && L->readbuf ? 0 : -1;
}

void lg_loop_free(lg_loop *L)
{
    if (L->epfd >= 0)
        close(L->epfd);
    free(L->readbuf);
    L->readbuf = NULL;
}

static int reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t cap2 = *cap ? *cap : 512;
    while (cap2 < need)
        cap2 *= 2;
    char *b = realloc(*buf, cap2);
    if (!b)
        return -1;
    *buf = b;
    *cap = cap2;
    return 0;
}

static void set_events(lg_conn *c, int want_write)
{
    struct epoll_event ev = {.events = EPOLLIN | (want_write ? EPOLLOUT : 0), .data.ptr = c};
    if (c->want_write != want_write) {
        epoll_ctl(c->loop->epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_write = want_write;
    }
}

void lg_conn_close(lg_conn *c, const char *why)
{
    if (c->state == LG_CLOSED)
        return;
    epoll_ctl(c->loop->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = LG_CLOSED;
    free(c->in);
    free(c->msg);
    free(c->out);
    c->in = c->msg = c->out = NULL;
    c->in_len = c->in_cap = c->msg_len = c->msg_cap = c->out_len = c->out_cap = c->out_off = 0;
    c->loop->open_conns--;
    if (c->loop->h->closed)
        c->loop->h->closed(c, why, c->loop->ud);
}

void lg_flush(lg_conn *c)
{
    while (c->state != LG_CLOSED && c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w > 0) {
            c->out_off += (size_t)w;
            c->loop->bytes_out += (uint64_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(c, 1);
            return;
        }
        lg_conn_close(c, "write failed");
        return;
    }
    if (c->state == LG_CLOSED)
        return;
    c->out_len = c->out_off = 0;
    set_events(c, 0);
}

/* Appends one masked text frame made of the concatenated parts. */
static void send_parts(lg_conn *c, const char *const *parts, const size_t *lens, int k, int defer)
{
    if (c->state == LG_CLOSED)
        return;
    size_t n = 0;
    for (int i = 0; i < k; i++)
        n += lens[i];
    if (c->out_len + n + 14 > LG_MAX_OUT ||
        reserve(&c->out, &c->out_cap, c->out_len + n + 14) != 0) {
        lg_conn_close(c, "loadgen output buffer overflow");
        return;
    }
    unsigned char *p = (unsigned char *)c->out + c->out_len;
    *p++ = 0x81;
    if (n < 126) {
        *p++ = 0x80 | (unsigned char)n;
    } else if (n < 65536) {
        *p++ = 0x80 | 126;
        *p++ = (unsigned char)(n >> 8);
        *p++ = (unsigned char)n;
    } else {
        *p++ = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            *p++ = (unsigned char)((uint64_t)n >> (8 * i));
    }
    uint32_t x = c->mask_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c->mask_state = x;
    unsigned char mask[4] = {(unsigned char)x, (unsigned char)(x >> 8), (unsigned char)(x >> 16),
                             (unsigned char)(x >> 24)};
    memcpy(p, mask, 4);
    p += 4;
    size_t j = 0;
    for (int i = 0; i < k; i++)
        for (size_t b = 0; b < lens[i]; b++, j++)
            *p++ = (unsigned char)parts[i][b] ^ mask[j & 3];
    c->out_len = (size_t)((char *)p - c->out);
    c->loop->frames_out++;
    if (!defer)
        lg_flush(c);
}

void lg_send_text(lg_conn *c, const char *s, size_t n, int defer)
{
    send_parts(c, &s, &n, 1, defer);
}

uint32_t lg_emit(lg_conn *c, const char *json_array, size_t n, int want_ack, int defer)
{
    char prefix[48];
    uint32_t id = 0;
    int plen;
    if (want_ack) {
        id = ++c->next_ack_id;
        plen = snprintf(prefix, sizeof prefix, "42" LG_NSP ",%u", id);
    } else {
        plen = snprintf(prefix, sizeof prefix, "42" LG_NSP ",");
    }
    const char *parts[2] = {prefix, json_array};
    size_t lens[2] = {(size_t)plen, n};
    send_parts(c, parts, lens, 2, defer);
    return id;
}

static void random_key(lg_conn *c)
{
    unsigned char raw[16];
    uint32_t x = c->mask_state;
    for (int i = 0; i < 16; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        raw[i] = (unsigned char)x;
    }
    EVP_EncodeBlock((unsigned char *)c->ws_key, raw, 16);
}

int lg_conn_start(lg_loop *L, lg_conn *c, int port, int src)
{
    c->loop = L;
    c->state = LG_CLOSED;
    c->mask_state = 0x9e3779b9u ^ (uint32_t)(c->index * 2654435761u) ^ (uint32_t)lg_now_ns();
    if (c->mask_state == 0)
        c->mask_state = 1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src > 0) {
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in from = {.sin_family = AF_INET};
        from.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)src);
        if (bind(c->fd, (struct sockaddr *)&from, sizeof from) != 0) {
            close(c->fd);
            c->fd = -1;
            return -1;
        }
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(0x7f000001u);
    if (connect(c->fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(L->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->want_write = 1;
    c->state = LG_CONNECTING;
    c->next_ack_id = 0;
    L->open_conns++;
    return 0;
}

static void send_upgrade(lg_conn *c)
{
    random_key(c);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                     "Host: 127.0.0.1\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     c->ws_key);
    if (reserve(&c->out, &c->out_cap, c->out_len + (size_t)n) != 0) {
        lg_conn_close(c, "out of memory");
        return;
    }
    memcpy(c->out + c->out_len, req, (size_t)n);
    c->out_len += (size_t)n;
    c->state = LG_UPGRADING;
    lg_flush(c);
}

/* Checks the 101 and its Sec-WebSocket-Accept; returns bytes consumed, 0 for more, -1. */
static long parse_upgrade(lg_conn *c, const char *s, size_t n)
{
    const char *end = memmem(s, n, "\r\n\r\n", 4);
    if (!end)
        return n > LG_MAX_HEADER ? -1 : 0;
    size_t hlen = (size_t)(end - s) + 4;
    char head[LG_MAX_HEADER + 1];
    if (hlen > LG_MAX_HEADER)
        return -1;
    memcpy(head, s, hlen);
    head[hlen] = '\0';
    if (strncmp(head, "HTTP/1.1 101", 12) != 0)
        return -1;
    char want[64], cat[128];
    unsigned char sha[SHA_DIGEST_LENGTH];
    int klen = snprintf(cat, sizeof cat, "%s" WS_GUID, c->ws_key);
    SHA1((unsigned char *)cat, (size_t)klen, sha);
    EVP_EncodeBlock((unsigned char *)want, sha, SHA_DIGEST_LENGTH);
    const char *acc = strcasestr(head, "\r\nSec-WebSocket-Accept:");
    if (!acc)
        return -1;
    acc += strlen("\r\nSec-WebSocket-Accept:");
    while (*acc == ' ')
        acc++;
    if (strncmp(acc, want, strlen(want)) != 0)
        return -1;
    return (long)hlen;
}

static void on_socketio(lg_conn *c, char *s, size_t n)
{
    lg_loop *L = c->loop;
    if (n < 1)
        return;
    char type = s[0];
    char *p = s + 1, *end = s + n;
    if (p < end && *p == '/') {
        char *comma = memchr(p, ',', (size_t)(end - p));
        size_t nsp_len = comma ? (size_t)(comma - p) : (size_t)(end - p);
        if (nsp_len != strlen(LG_NSP) || memcmp(p, LG_NSP, nsp_len) != 0)
            return;
        p = comma ? comma + 1 : end;
    }
    uint32_t id = 0;
    while (p < end && *p >= '0' && *p <= '9')
        id = id * 10 + (uint32_t)(*p++ - '0');
    switch (type) {
    case '0':
        if (c->state == LG_JOINING) {
            c->state = LG_READY;
            if (L->h->ready)
                L->h->ready(c, L->ud);
        }
        break;
    case '4': {
        char why[160];
        snprintf(why, sizeof why, "connect_error %.*s", (int)(end - p > 120 ? 120 : end - p), p);
        lg_conn_close(c, why);
        break;
    }
    case '1': lg_conn_close(c, "disconnected by the server"); break;
    case '2': {
        /* ["name",args...] */
        if (end - p < 4 || p[0] != '[' || p[1] != '"' || end[-1] != ']')
            return;
        char *name = p + 2;
        char *q = memchr(name, '"', (size_t)(end - name));
        if (!q)
            return;
        char *body = q + 1;
        if (body < end && *body == ',')
            body++;
        if (L->h->event)
            L->h->event(c, name, (size_t)(q - name), body, (size_t)(end - 1 - body), L->ud);
        break;
    }
    case '3':
        if (end - p < 2 || p[0] != '[' || end[-1] != ']')
            return;
        if (L->h->ack)
            L->h->ack(c, id, p + 1, (size_t)(end - p - 2), L->ud);
        break;
    default: break;
    }
}

static void on_message(lg_conn *c, char *s, size_t n)
{
    if (n < 1)
        return;
    switch (s[0]) {
    case '0':
        if (c->state == LG_OPENING) {
            static const char pre[] = "40" LG_NSP ",{\"token\":\"";
            static const char post[] = "\"}";
            const char *parts[3] = {pre, c->token, post};
            size_t lens[3] = {sizeof pre - 1, strlen(c->token), sizeof post - 1};
            c->state = LG_JOINING;
            send_parts(c, parts, lens, 3, 1);
        }
        break;
    case '2': lg_send_text(c, "3", 1, 1); break;
    case '1': lg_conn_close(c, "engine.io close"); break;
    case '4': on_socketio(c, s + 1, n - 1); break;
    default: break;
    }
}

/* Handles every complete frame in [s, s+n); returns the bytes consumed. */
static size_t parse_frames(lg_conn *c, char *s, size_t n)
{
    size_t off = 0;
    while (c->state != LG_CLOSED && n - off >= 2) {
        unsigned char *h = (unsigned char *)s + off;
        int fin = h[0] & 0x80, op = h[0] & 0x0f, masked = h[1] & 0x80;
        uint64_t len = h[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (n - off < 4)
                break;
            len = ((uint64_t)h[2] << 8) | h[3];
            hl = 4;
        } else if (len == 127) {
            if (n - off < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | h[2 + i];
            hl = 10;
        }
        if (masked)
            hl += 4;
        if (n - off < hl || n - off - hl < len)
            break;
        char *data = s + off + hl;
        if (masked)
            for (uint64_t i = 0; i < len; i++)
                data[i] ^= (char)h[hl - 4 + (i & 3)];
        off += hl + (size_t)len;
        c->loop->frames_in++;
        if (op == 0x8) {
            lg_conn_close(c, "websocket close");
            break;
        }
        if (op == 0x9) {
            /* pong with the same payload: a control frame, opcode 0xA */
            lg_send_text(c, data, (size_t)len, 1);
            c->out[c->out_len - len - (len < 126 ? 6 : 8)] = (char)0x8a;
            continue;
        }
        if (op == 0xA)
            continue;
        if (fin && op != 0 && c->msg_len == 0) {
            on_message(c, data, (size_t)len);
            continue;
        }
        if (reserve(&c->msg, &c->msg_cap, c->msg_len + (size_t)len) != 0) {
            lg_conn_close(c, "out of memory");
            break;
        }
        memcpy(c->msg + c->msg_len, data, (size_t)len);
        c->msg_len += (size_t)len;
        if (fin) {
            size_t m = c->msg_len;
            c->msg_len = 0;
            on_message(c, c->msg, m);
        }
    }
    return off;
}

static size_t parse_input(lg_conn *c, char *s, size_t n)
{
    size_t off = 0;
    if (c->state == LG_UPGRADING) {
        long used = parse_upgrade(c, s, n);
        if (used < 0) {
            lg_conn_close(c, "websocket upgrade refused");
            return n;
        }
        if (used == 0)
            return 0;
        off = (size_t)used;
        c->state = LG_OPENING;
    }
    return off + parse_frames(c, s + off, n - off);
}

static void on_readable(lg_conn *c)
{
    lg_loop *L = c->loop;
    for (;;) {
        ssize_t r = read(c->fd, L->readbuf, LG_READ_CHUNK);
        if (r == 0) {
            lg_conn_close(c, "closed by the server");
            return;
        }
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                lg_conn_close(c, "read failed");
            break;
        }
        L->bytes_in += (uint64_t)r;
        char *s = L->readbuf;
        size_t n = (size_t)r;
        if (c->in_len > 0) {
            if (reserve(&c->in, &c->in_cap, c->in_len + n) != 0) {
                lg_conn_close(c, "out of memory");
                return;
            }
            memcpy(c->in + c->in_len, s, n);
            c->in_len += n;
            s = c->in;
            n = c->in_len;
        }
        size_t used = parse_input(c, s, n);
        if (c->state == LG_CLOSED)
            return;
        size_t rest = n - used;
        if (rest > 0 && s != c->in) {
            if (reserve(&c->in, &c->in_cap, rest) != 0) {
                lg_conn_close(c, "out of memory");
                return;
            }
            memcpy(c->in, s + used, rest);
        } else if (rest > 0) {
            memmove(c->in, c->in + used, rest);
        }
        c->in_len = rest;
        if ((size_t)r < LG_READ_CHUNK)
            break;
    }
    if (c->state != LG_CLOSED && c->out_len > c->out_off)
        lg_flush(c);
}

int lg_poll(lg_loop *L, int64_t timeout_ns)
{
    struct epoll_event evs[LG_EPOLL_BATCH];
    if (timeout_ns < 0)
        timeout_ns = 0;
    struct timespec ts = {.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000};
    int n = epoll_pwait2(L->epfd, evs, LG_EPOLL_BATCH, &ts, NULL);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        lg_conn *c = evs[i].data.ptr;
        uint32_t e = evs[i].events;
        if (c->state == LG_CLOSED)
            continue;
        if (c->state == LG_CONNECTING) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0 || (e & (EPOLLERR | EPOLLHUP))) {
                char why[96];
                snprintf(why, sizeof why, "connect: %s", strerror(err ? err : ECONNRESET));
                lg_conn_close(c, why);
                continue;
            }
            if (!(e & EPOLLOUT))
                continue;
            send_upgrade(c);
            continue;
        }
        if (e & EPOLLIN)
            on_readable(c);
        else if (e & (EPOLLERR | EPOLLHUP))
            lg_conn_close(c, "connection reset");
        if (c->state != LG_CLOSED && (e & EPOLLOUT))
            lg_flush(c);
    }
    return n;
}
