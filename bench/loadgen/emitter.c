/* emitter.c: what the helpdesk backend does with @socket.io/redis-emitter 5, in C: one
 * PUBLISH per emit of [uid "emitter", packet {type 2, data [name, {k, t}], nsp}, opts
 * {rooms [room], flags {}, except []}] in msgpack, on the channel "socket.io#<nsp>#<room>#".
 * The msgpack is written by hand: the shape is fixed and small.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lg.h"

#define EMITTER_PREFIX "socket.io"

int lg_emitter_connect(lg_emitter *e, int port)
{
    memset(e, 0, sizeof *e);
    e->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (e->fd < 0)
        return -1;
    int one = 1;
    setsockopt(e->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(0x7f000001u);
    if (connect(e->fd, (struct sockaddr *)&to, sizeof to) != 0) {
        close(e->fd);
        e->fd = -1;
        return -1;
    }
    e->cap = 4096;
    e->buf = malloc(e->cap);
    return e->buf ? 0 : -1;
}

static unsigned char *mp_str(unsigned char *p, const char *s)
{
    size_t n = strlen(s);
    if (n < 32) {
        *p++ = (unsigned char)(0xa0 | n);
    } else {
        *p++ = 0xd9;
        *p++ = (unsigned char)n;
    }
    memcpy(p, s, n);
    return p + n;
}

static unsigned char *mp_u64(unsigned char *p, uint64_t v)
{
    *p++ = 0xcf;
    for (int i = 7; i >= 0; i--)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

int lg_emitter_publish(lg_emitter *e, const char *nsp, const char *room, const char *name,
                       int64_t k, int64_t t_us)
{
    if (strlen(room) > 200 || strlen(nsp) > 200 || strlen(name) > 200)
        return -1;
    unsigned char msg[1024], *p = msg;
    *p++ = 0x93;
    p = mp_str(p, "emitter");
    *p++ = 0x83;
    p = mp_str(p, "type");
    *p++ = 0x02;
    p = mp_str(p, "data");
    *p++ = 0x92;
    p = mp_str(p, name);
    *p++ = 0x82;
    p = mp_str(p, "k");
    p = mp_u64(p, (uint64_t)k);
    p = mp_str(p, "t");
    p = mp_u64(p, (uint64_t)t_us);
    p = mp_str(p, "nsp");
    p = mp_str(p, nsp);
    *p++ = 0x83;
    p = mp_str(p, "rooms");
    *p++ = 0x91;
    p = mp_str(p, room);
    p = mp_str(p, "flags");
    *p++ = 0x80;
    p = mp_str(p, "except");
    *p++ = 0x90;
    size_t mlen = (size_t)(p - msg);
    char channel[512];
    int clen = snprintf(channel, sizeof channel, EMITTER_PREFIX "#%s#%s#", nsp, room);
    char head[600];
    int hlen = snprintf(head, sizeof head, "*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%zu\r\n", clen,
                        channel, mlen);
    memcpy(e->buf, head, (size_t)hlen);
    memcpy(e->buf + hlen, msg, mlen);
    memcpy(e->buf + hlen + mlen, "\r\n", 2);
    size_t total = (size_t)hlen + mlen + 2, off = 0;
    while (off < total) {
        ssize_t w = write(e->fd, e->buf + off, total - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    e->replies_pending++;
    return 0;
}

void lg_emitter_drain(lg_emitter *e)
{
    char buf[4096];
    for (;;) {
        ssize_t r = recv(e->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r <= 0)
            return;
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] == '\n' && e->replies_pending)
                e->replies_pending--;
    }
}

void lg_emitter_close(lg_emitter *e)
{
    if (e->fd >= 0)
        close(e->fd);
    free(e->buf);
    e->fd = -1;
    e->buf = NULL;
}
