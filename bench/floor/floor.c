/* floor.c: sb-floor, the machine's floor in bench/run. NOT A PRODUCT and not a server to
 * deploy: a yardstick for the least a server on this machine can spend per message and
 * still be counted correct by sb-loadgen (the idle, chat and rate workloads).
 *
 * The one idea: a stored message costs here only what the kernel charges for moving it.
 * One thread, one epoll loop; every socket is registered once, edge-triggered for reading
 * and writing, and never modified; reads go into one shared slab; a `support` becomes one
 * body made with snprintf and copied into three frames (the ack to the sender, the delivery
 * to the conversation's customer and to its agent), appended to per-connection buffers that
 * are written with one write() per connection at the end of each loop turn.
 *
 * What it speaks: the WebSocket upgrade on any path, the Engine.IO OPEN (with a one-hour
 * ping interval, so that it never pings), the Socket.IO CONNECT answered as /helpdesk, and
 * `support` events with acks: a customer's first message opens its conversation (ticket
 * chat id "t<fd>") and assigns it to the next agent in turn (`assigned` to that agent);
 * every message gets its conversation's next seq.
 *
 * What it skips, on purpose: the JWT is decoded for its role, never verified (signature,
 * expiry); nothing is validated (path, headers, JSON, who may write to which conversation,
 * sizes beyond what keeps memory safe); nothing is stored (a conversation is a counter on
 * its customer's connection and ends with it); no queue when no agent is online, no
 * max_chats, no idempotency by client_msg_id; no pings, timeouts, fragmented frames,
 * polling transport, binary packets, rooms, other events or graceful close.
 *
 *   sb-floor --host 127.0.0.1 --port 3000        (SIGTERM exits 0)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define FL_EVENTS     1024         /* epoll events taken per loop turn */
#define FL_READ_SLAB  (256 * 1024) /* one read's worth, shared by every connection */
#define FL_MAX_HEADER 8192         /* a longer upgrade request closes the connection */
#define FL_MAX_FRAME  (1u << 20)   /* a longer frame closes the connection */
#define FL_MAX_OUT    (64u << 20)  /* a client this far behind is dropped */
#define FL_OUT_MIN    1024         /* first size of an output buffer, freed when written */
#define FL_BODY_MAX   (FL_MAX_FRAME + 512)
#define FL_JWT_MAX    2048 /* decoded JWT claims looked at */
#define FL_NSP        "/helpdesk"
#define WS_GUID       "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum { FL_CUSTOMER, FL_AGENT };

typedef struct fl_conn {
    char *in;  /* an incomplete request or frame carried between reads, else NULL */
    char *out; /* bytes not yet written (NULL when none and never grown) */
    uint32_t in_len, out_len, out_cap, out_off;
    int agent;     /* customer: fd of its conversation's agent, -1 none */
    uint32_t seq;  /* customer: its conversation's last seq, 0 = not open */
    uint8_t open;  /* the descriptor is this connection's */
    uint8_t ws;    /* upgraded */
    uint8_t role;  /* FL_CUSTOMER or FL_AGENT, from the token's claims */
    uint8_t dirty; /* on the flush list of this turn */
} fl_conn;

typedef struct fl_server {
    int epfd, lfd;
    fl_conn *conns; /* by descriptor, as many as the descriptor limit */
    int nconns;
    int *dirty; /* descriptors with output this turn */
    int ndirty;
    int *agents; /* descriptors of the agents joined, in turn order */
    int nagents, next_agent;
    char *slab; /* FL_READ_SLAB */
    char *body; /* FL_BODY_MAX: one stored message's JSON */
} fl_server;

/* ---- output ------------------------------------------------------------------------------ */

static void mark_dirty(fl_server *s, int fd)
{
    if (!s->conns[fd].dirty) {
        s->conns[fd].dirty = 1;
        s->dirty[s->ndirty++] = fd;
    }
}

/* Room for n more bytes at the end of fd's output; NULL when it would pass FL_MAX_OUT. */
static char *out_reserve(fl_server *s, int fd, size_t n)
{
    fl_conn *c = &s->conns[fd];
    size_t need = (size_t)c->out_len + n;
    if (need > FL_MAX_OUT)
        return NULL;
    if (need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : FL_OUT_MIN;
        while (cap < need)
            cap *= 2;
        char *b = realloc(c->out, cap);
        if (!b)
            return NULL;
        c->out = b;
        c->out_cap = (uint32_t)cap;
    }
    mark_dirty(s, fd);
    char *p = c->out + c->out_len;
    c->out_len = (uint32_t)need;
    return p;
}

static void send_raw(fl_server *s, int fd, const char *p, size_t n)
{
    char *o = out_reserve(s, fd, n);
    if (o)
        memcpy(o, p, n);
}

/* One unmasked text frame whose payload is a, then b, then z. */
static void send_frame(fl_server *s, int fd, const char *a, size_t an, const char *b, size_t bn,
                       const char *z, size_t zn)
{
    size_t n = an + bn + zn, hl = n < 126 ? 2 : n < 65536 ? 4 : 10;
    unsigned char *o = (unsigned char *)out_reserve(s, fd, hl + n);
    if (!o)
        return;
    o[0] = 0x81;
    if (hl == 2) {
        o[1] = (unsigned char)n;
    } else if (hl == 4) {
        o[1] = 126;
        o[2] = (unsigned char)(n >> 8);
        o[3] = (unsigned char)n;
    } else {
        o[1] = 127;
        for (int i = 0; i < 8; i++)
            o[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
    }
    memcpy(o + hl, a, an);
    memcpy(o + hl + an, b, bn);
    memcpy(o + hl + an + bn, z, zn);
}

static void send_text(fl_server *s, int fd, const char *text, size_t n)
{
    send_frame(s, fd, text, n, "", 0, "", 0);
}

/* ---- connections ------------------------------------------------------------------------- */

static void close_conn(fl_server *s, int fd)
{
    fl_conn *c = &s->conns[fd];
    if (c->role == FL_AGENT)
        for (int i = 0; i < s->nagents; i++)
            if (s->agents[i] == fd) {
                s->agents[i] = s->agents[--s->nagents];
                break;
            }
    free(c->in);
    free(c->out);
    close(fd);
    memset(c, 0, sizeof *c);
}

/* Writes what fd has queued; 0 when written or when the kernel pushed back (the edge of
 * EPOLLOUT brings it back), -1 when the connection is gone. A buffer that had to grow is
 * kept: freed, malloc would hand its pages back to the kernel and fault them in again. */
static int flush_one(fl_server *s, int fd)
{
    fl_conn *c = &s->conns[fd];
    while (c->out_off < c->out_len) {
        ssize_t w = write(fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        c->out_off += (uint32_t)w;
    }
    c->out_len = c->out_off = 0;
    if (c->out_cap <= FL_OUT_MIN) {
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    return 0;
}

static void flush_all(fl_server *s)
{
    for (int i = 0; i < s->ndirty; i++) {
        int fd = s->dirty[i];
        s->conns[fd].dirty = 0;
        if (s->conns[fd].open && flush_one(s, fd) != 0)
            close_conn(s, fd);
    }
    s->ndirty = 0;
}

static void accept_all(fl_server *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        if (fd < 0)
            return;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.fd = fd};
        if (fd >= s->nconns || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            continue;
        }
        s->conns[fd] = (fl_conn){.open = 1, .agent = -1};
    }
}

/* ---- WebSocket upgrade ------------------------------------------------------------------- */

/* The value of header `name` (with its colon) in the request head [p, end), or NULL. */
static const char *header_value(const char *p, const char *end, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *q = p; q && q + 2 + nl < end;
         q = memmem(q + 2, (size_t)(end - q - 2), "\r\n", 2)) {
        if (strncasecmp(q + 2, name, nl) != 0)
            continue;
        const char *v = q + 2 + nl;
        while (v < end && *v == ' ')
            v++;
        const char *e = memmem(v, (size_t)(end - v), "\r\n", 2);
        *len = (size_t)((e ? e : end) - v);
        return v;
    }
    return NULL;
}

/* Answers a complete upgrade request with the 101 and the Engine.IO OPEN; returns the bytes
 * of the request, 0 while incomplete, -1 to close. */
static long upgrade(fl_server *s, int fd, const char *p, size_t n)
{
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end)
        return n > FL_MAX_HEADER ? -1 : 0;
    size_t klen = 0;
    const char *key = header_value(p, end + 2, "Sec-WebSocket-Key:", &klen);
    char cat[128], accept[64], head[256], open[192];
    if (!key || klen > 64)
        return -1;
    int cn = snprintf(cat, sizeof cat, "%.*s" WS_GUID, (int)klen, key);
    unsigned char sha[SHA_DIGEST_LENGTH];
    SHA1((unsigned char *)cat, (size_t)cn, sha);
    EVP_EncodeBlock((unsigned char *)accept, sha, SHA_DIGEST_LENGTH);
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                      accept);
    int on = snprintf(open, sizeof open,
                      "0{\"sid\":\"f%d\",\"upgrades\":[],\"pingInterval\":3600000,"
                      "\"pingTimeout\":60000,\"maxPayload\":%u}",
                      fd, FL_MAX_FRAME);
    send_raw(s, fd, head, (size_t)hn);
    send_text(s, fd, open, (size_t)on);
    s->conns[fd].ws = 1;
    return (long)(end + 4 - p);
}

/* ---- Socket.IO --------------------------------------------------------------------------- */

static int b64url_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    return ch == '-' ? 62 : ch == '_' ? 63 : -1;
}

/* Decodes base64url up to the first character outside its alphabet; returns the length. */
static size_t b64url_decode(const char *in, const char *end, char *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (; in < end && o < cap; in++) {
        int v = b64url_value((unsigned char)*in);
        if (v < 0)
            break;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)(acc >> bits);
        }
    }
    return o;
}

/* The string value of `"key":"` in [p, end) (escapes kept as they are), or NULL. */
static const char *json_str(const char *p, const char *end, const char *key, size_t *len)
{
    size_t kl = strlen(key);
    const char *v = memmem(p, (size_t)(end - p), key, kl);
    if (!v)
        return NULL;
    v += kl;
    const char *q = v;
    while (q < end && *q != '"')
        q += *q == '\\' ? 2 : 1;
    if (q >= end)
        return NULL;
    *len = (size_t)(q - v);
    return v;
}

/* CONNECT with {"token":"<jwt>"}: the claims' role decides customer or agent, unverified. */
static void on_connect(fl_server *s, int fd, const char *p, const char *end)
{
    fl_conn *c = &s->conns[fd];
    size_t tl = 0;
    const char *tok = json_str(p, end, "\"token\":\"", &tl);
    const char *dot = tok ? memchr(tok, '.', tl) : NULL;
    if (dot) {
        char claims[FL_JWT_MAX];
        size_t n = b64url_decode(dot + 1, tok + tl, claims, sizeof claims);
        if (memmem(claims, n, "\"role\":\"agent\"", 14)) {
            c->role = FL_AGENT;
            s->agents[s->nagents++] = fd;
        }
    }
    char ok[64];
    int n = snprintf(ok, sizeof ok, "40" FL_NSP ",{\"sid\":\"s%d\"}", fd);
    send_text(s, fd, ok, (size_t)n);
}

/* A customer's first message: its conversation goes to the next agent in turn. */
static void open_conversation(fl_server *s, int cust)
{
    fl_conn *c = &s->conns[cust];
    if (s->nagents == 0)
        return;
    c->agent = s->agents[s->next_agent++ % s->nagents];
    char ev[96];
    int n =
        snprintf(ev, sizeof ev, "42" FL_NSP ",[\"assigned\",{\"ticket_chat_id\":\"t%d\"}]", cust);
    send_text(s, c->agent, ev, (size_t)n);
}

/* `support`: the next seq of the conversation, acked to the sender and delivered to the
 * customer and the agent. A customer's conversation is its own; an agent names it. */
static void on_support(fl_server *s, int fd, const char *ack, size_t ack_len, const char *p,
                       const char *end)
{
    int cust = fd;
    if (s->conns[fd].role == FL_AGENT) {
        size_t l = 0;
        const char *t = json_str(p, end, "\"ticket_chat_id\":\"t", &l);
        cust = t ? atoi(t) : -1;
        if (cust < 0 || cust >= s->nconns || !s->conns[cust].open)
            return;
    }
    fl_conn *cc = &s->conns[cust];
    if (cc->seq == 0 && cust == fd)
        open_conversation(s, cust);
    size_t sl = 0, ml = 0, il = 0;
    const char *sid = json_str(p, end, "\"session_id\":\"", &sl);
    const char *msg = json_str(p, end, "\"message\":\"", &ml);
    const char *cmid = json_str(p, end, "\"client_msg_id\":\"", &il);
    int n = snprintf(
        s->body, FL_BODY_MAX,
        "{\"status_code\":200,\"data\":{\"ticket_chat_id\":\"t%d\",\"session_id\":\"%.*s\","
        "\"seq\":%u,\"message\":\"%.*s\",\"client_msg_id\":\"%.*s\"}}",
        cust, sid ? (int)sl : 0, sid ? sid : "", ++cc->seq, msg ? (int)ml : 0, msg ? msg : "",
        cmid ? (int)il : 0, cmid ? cmid : "");
    if (n < 0 || (size_t)n >= FL_BODY_MAX)
        return;
    static const char ev[] = "42" FL_NSP ",[\"support\",";
    send_frame(s, fd, ack, ack_len, s->body, (size_t)n, "]", 1);
    send_frame(s, cust, ev, sizeof ev - 1, s->body, (size_t)n, "]", 1);
    int ag = cc->agent;
    if (ag >= 0 && s->conns[ag].open && s->conns[ag].role == FL_AGENT)
        send_frame(s, ag, ev, sizeof ev - 1, s->body, (size_t)n, "]", 1);
}

/* EVENT "2[/nsp,][id][\"name\",...]": only `support` is answered. */
static void on_event(fl_server *s, int fd, const char *p, const char *end)
{
    static const char nsp[] = FL_NSP ",", name[] = "[\"support\",";
    if ((size_t)(end - p) > sizeof nsp - 1 && memcmp(p, nsp, sizeof nsp - 1) == 0)
        p += sizeof nsp - 1;
    const char *id = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    if ((size_t)(end - p) < sizeof name - 1 || memcmp(p, name, sizeof name - 1) != 0)
        return;
    char ack[48];
    int an = snprintf(ack, sizeof ack, "43" FL_NSP ",%.*s[", (int)(p - id), id);
    on_support(s, fd, ack, (size_t)an, p + sizeof name - 1, end);
}

/* One Engine.IO packet: "4" carries Socket.IO; pongs and the rest are ignored. */
static void on_packet(fl_server *s, int fd, const char *p, size_t n)
{
    if (n < 2 || p[0] != '4')
        return;
    if (p[1] == '0')
        on_connect(s, fd, p + 2, p + n);
    else if (p[1] == '2')
        on_event(s, fd, p + 2, p + n);
}

/* ---- input ------------------------------------------------------------------------------- */

/* Handles every complete frame in [p, p+n), unmasking in place; returns the bytes used,
 * or -1 to close (a close frame, a frame too long). */
static long on_frames(fl_server *s, int fd, char *p, size_t n)
{
    size_t off = 0;
    while (n - off >= 6) {
        unsigned char *h = (unsigned char *)p + off;
        uint64_t len = h[1] & 0x7f;
        size_t hl = 6;
        if (len == 126) {
            len = (uint64_t)h[2] << 8 | h[3];
            hl = 8;
        } else if (len == 127) {
            hl = 14;
            if (n - off < hl)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | h[2 + i];
        }
        if (len > FL_MAX_FRAME || (h[0] & 0x0f) == 0x8)
            return -1;
        if (n - off < hl || n - off - hl < len)
            break;
        const unsigned char *mask = h + hl - 4;
        char *data = p + off + hl;
        for (size_t i = 0; i < len; i++)
            data[i] ^= (char)mask[i & 3];
        if ((h[0] & 0x0f) == 0x1)
            on_packet(s, fd, data, (size_t)len);
        off += hl + (size_t)len;
    }
    return (long)off;
}

static long consume(fl_server *s, int fd, char *p, size_t n)
{
    long head = 0;
    if (!s->conns[fd].ws) {
        head = upgrade(s, fd, p, n);
        if (head <= 0)
            return head;
    }
    long used = on_frames(s, fd, p + head, n - (size_t)head);
    return used < 0 ? -1 : head + used;
}

/* Keeps the unused tail [p+used, p+n) in c->in for the next read; -1 when out of memory. */
static int keep_rest(fl_conn *c, char *p, size_t n, size_t used)
{
    size_t rest = n - used;
    if (rest == 0) {
        free(c->in);
        c->in = NULL;
        c->in_len = 0;
        return 0;
    }
    if (p == c->in) {
        memmove(c->in, p + used, rest);
    } else {
        char *b = realloc(c->in, rest);
        if (!b)
            return -1;
        memcpy(b, p + used, rest);
        c->in = b;
    }
    c->in_len = (uint32_t)rest;
    return 0;
}

/* Reads until the socket is empty (edge-triggered); -1 when the connection must close. */
static int on_readable(fl_server *s, int fd)
{
    fl_conn *c = &s->conns[fd];
    for (;;) {
        ssize_t r = read(fd, s->slab, FL_READ_SLAB);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 && errno == EAGAIN ? 0 : -1;
        char *p = s->slab;
        size_t n = (size_t)r;
        if (c->in_len) {
            char *b = realloc(c->in, c->in_len + n);
            if (!b)
                return -1;
            memcpy(b + c->in_len, p, n);
            c->in = b;
            p = b;
            n += c->in_len;
        }
        long used = consume(s, fd, p, n);
        if (used < 0 || keep_rest(c, p, n, (size_t)used) != 0)
            return -1;
        if (r < FL_READ_SLAB)
            return 0;
    }
}

/* ---- loop and setup ---------------------------------------------------------------------- */

/* One turn: read everything ready, write every connection once, then take new
 * connections (after the writes, so that no descriptor closed this turn is reused in it). */
static void run(fl_server *s)
{
    struct epoll_event evs[FL_EVENTS];
    for (;;) {
        int n = epoll_wait(s->epfd, evs, FL_EVENTS, -1);
        int accepting = 0;
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            uint32_t e = evs[i].events;
            if (fd == s->lfd) {
                accepting = 1;
                continue;
            }
            if (!s->conns[fd].open)
                continue;
            if ((e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && on_readable(s, fd) != 0) {
                close_conn(s, fd);
                continue;
            }
            if ((e & EPOLLOUT) && s->conns[fd].out_len > s->conns[fd].out_off)
                mark_dirty(s, fd);
        }
        flush_all(s);
        if (accepting)
            accept_all(s);
    }
}

static int listen_on(const char *host, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* accepted sockets inherit it: one setsockopt for all */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, SOMAXCONN) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int server_init(fl_server *s, const char *host, int port)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    s->nconns = rl.rlim_cur > 1000000 ? 1000000 : (int)rl.rlim_cur;
    s->conns = calloc((size_t)s->nconns, sizeof *s->conns);
    s->dirty = calloc((size_t)s->nconns, sizeof *s->dirty);
    s->agents = calloc((size_t)s->nconns, sizeof *s->agents);
    s->slab = malloc(FL_READ_SLAB);
    s->body = malloc(FL_BODY_MAX);
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->lfd = listen_on(host, port);
    if (!s->conns || !s->dirty || !s->agents || !s->slab || !s->body || s->epfd < 0 || s->lfd < 0)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = s->lfd};
    return epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev);
}

static void on_sigterm(int sig) { _exit(0); }

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 3000;
    int i = 1;
    for (; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--host") == 0)
            host = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else
            break;
    }
    if (i != argc || port <= 0 || port > 65535) {
        fprintf(stderr, "usage: sb-floor [--host 127.0.0.1] [--port 3000]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_sigterm);
    static fl_server s;
    if (server_init(&s, host, port) != 0) {
        fprintf(stderr, "sb-floor: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        return 1;
    }
    fprintf(stderr, "sb-floor (the benchmark's floor, not a server) listening on %s:%d\n", host,
            port);
    run(&s);
}
