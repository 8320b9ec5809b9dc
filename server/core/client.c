/* client.c: one Engine.IO session seen by the Socket.IO layer (Node's Client).
 *
 * The client decodes the session's messages into packets and routes each to the socket of
 * its namespace; a CONNECT creates that socket. The routing rules are Node's
 * (client.ts ondecoded): a malformed packet closes the session, and so does any other
 * packet that does not fit the namespace's state ("invalid state"): a CONNECT to a
 * namespace already joined, or anything else to one not joined. One exception: a CONNECT
 * to a namespace being joined (its auth hook has not decided yet) is ignored, as it will
 * be answered (Node, whose auth is always asynchronous, would build a second socket).
 *
 * Connect timeout: every new client joins the server's waiting list, oldest first. As the
 * timeout is the same for all, the list is ordered by deadline and one uv timer serves it.
 */
#include <stdlib.h>
#include <string.h>

#include "sio_internal.h"

void sio_client_ref(sio_client *c) { c->refs++; }

/* A client has a decoder of its own only while a binary packet awaits attachments: idle
 * clients are most clients, and a decoder is 200 bytes. */
static void client_decoder_drop(sio_client *c)
{
    if (!c->decoder)
        return;
    siop_decoder_free(c->decoder);
    free(c->decoder);
    c->decoder = NULL;
}

void sio_client_unref(sio_client *c)
{
    if (--c->refs > 0)
        return;
    client_decoder_drop(c);
    free(c);
}

static void on_connect_timer(uv_timer_t *t)
{
    sio_server *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    sio_client *c;
    while ((c = SB_LIST_FIRST(&srv->waiting, sio_client, wait_link)) && c->deadline <= now) {
        sb_list_remove(&c->wait_link);
        sio_client_close(c);
    }
    sio_connect_timer_start(srv);
}

void sio_connect_timer_start(sio_server *srv)
{
    sio_client *first = SB_LIST_FIRST(&srv->waiting, sio_client, wait_link);
    if (srv->shutting_down || !first || uv_is_active((uv_handle_t *)&srv->connect_timer))
        return;
    uint64_t now = uv_now(srv->loop), deadline = first->deadline;
    uv_timer_start(&srv->connect_timer, on_connect_timer, deadline > now ? deadline - now : 0, 0);
}

void sio_client_open(sio_server *srv, eio_session *session)
{
    sio_client *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->refs = 1;
    c->srv = srv;
    c->session = session;
    eio_session_set_data(session, c);
    sb_list_init(&c->sockets);
    c->deadline = uv_now(srv->loop) + srv->opts.connect_timeout_ms;
    sb_list_insert_tail(&srv->waiting, &c->wait_link);
    sio_connect_timer_start(srv);
    c->legacy = eio_session_protocol(session) == SIO_LEGACY_ENGINE_PROTOCOL;
    if (c->legacy) /* a 2.x client never asks for "/": Node connects it at once */
        sio_namespace_connect(sio_server_of(srv, "/"), c, json_object(), NULL);
}

void sio_client_joined(sio_client *c) { sb_list_remove(&c->wait_link); }

void sio_client_attach(sio_client *c, sio_socket *s)
{
    s->client = c;
    sb_list_insert_head(&c->sockets, &s->client_link);
    sio_socket_ref(s);
}

void sio_client_detach(sio_client *c, sio_socket *s)
{
    if (s->client != c)
        return;
    sb_list_remove(&s->client_link);
    s->client = NULL;
    sio_socket_unref(s);
}

int sio_client_send_packet(sio_client *c, const siop_packet *p)
{
    sb_buf *b = &c->srv->scratch;
    if (!c->session || c->closing)
        return SIO_ECLOSED;
    sb_buf_reset(b);
    if (siop_packet_encode(p, b) != SIOP_OK)
        return SIO_EINVAL;
    eio_session *session = c->session;
    if (eio_session_send(session, b->data, b->len, 0) != 0)
        return SIO_ECLOSED;
    for (size_t i = 0; i < p->n_attachments; i++)
        if (eio_session_send(session, p->attachments[i].data, p->attachments[i].len, 1) != 0)
            return SIO_ECLOSED;
    return SIOP_OK;
}

int sio_client_send_ack_text(sio_client *c, const char *nsp, int64_t id, const char *text,
                             size_t len)
{
    sb_buf *b = &c->srv->scratch;
    if (!c->session || c->closing)
        return SIO_ECLOSED;
    sb_buf_reset(b);
    if (siop_ack_encode_text(b, nsp, id, text, len) != SIOP_OK)
        return SIO_EINVAL;
    return eio_session_send(c->session, b->data, b->len, 0) == 0 ? SIOP_OK : SIO_ECLOSED;
}

/* Detaches every socket, each leaving with reason (sockets that never connected are only
 * detached). Pops from the head: a disconnect handler may disconnect other sockets. */
static void client_close_sockets(sio_client *c, const char *reason)
{
    sio_socket *s;
    while ((s = SB_LIST_FIRST(&c->sockets, sio_socket, client_link)))
        sio_socket_close(s, reason);
}

void sio_client_closed(sio_client *c, const char *reason)
{
    c->session = NULL;
    c->closing = 1;
    sb_list_remove(&c->wait_link);
    client_close_sockets(c, reason);
    sio_client_unref(c);
}

void sio_client_close(sio_client *c)
{
    if (c->closing)
        return;
    sio_client_ref(c);
    c->closing = 1;
    sb_list_remove(&c->wait_link);
    client_close_sockets(c, SIO_REASON_SERVER_CLOSE);
    if (c->session)
        eio_session_close(c->session);
    sio_client_unref(c);
}

static sio_socket *client_socket_of(sio_client *c, const char *nsp)
{
    sb_list *q;
    SB_LIST_FOREACH(q, &c->sockets)
    {
        sio_socket *s = SB_LIST_DATA(q, sio_socket, client_link);
        if (strcmp(s->nsp->name, nsp) == 0)
            return s;
    }
    return NULL;
}

static void client_refuse_namespace(sio_client *c, const char *name)
{
    siop_packet p;
    siop_packet_init(&p);
    p.type = SIOP_PACKET_CONNECT_ERROR;
    p.nsp = (char *)name;
    p.data = json_pack("{s:s}", "message", "Invalid namespace");
    sio_client_send_packet(c, &p);
    json_decref(p.data);
}

/* A legacy client names its namespace's query in the CONNECT ("/nsp?a=1"): Node makes it
 * the auth payload (so {} without one). Cuts p->nsp at the '?' and returns what followed,
 * or NULL. */
static const char *client_connect_query(sio_client *c, siop_packet *p)
{
    if (!c->legacy || p->type != SIOP_PACKET_CONNECT)
        return NULL;
    char *q = strchr(p->nsp, '?');
    if (q)
        *q++ = '\0';
    json_decref(p->data);
    p->data = sio_query_auth(q ? q : "");
    return q;
}

static void client_dispatch(sio_client *c, siop_packet *p)
{
    const char *query = client_connect_query(c, p);
    sio_socket *s = client_socket_of(c, p->nsp);
    if (p->type == SIOP_PACKET_CONNECT) {
        sio_namespace *nsp = sio_namespace_find(c->srv, p->nsp);
        if (s && s->state == SIO_SOCKET_CONNECTED)
            sio_client_close(c);
        else if (s)
            return;
        else if (!nsp)
            client_refuse_namespace(c, p->nsp);
        else {
            json_t *auth = p->data; /* the socket takes it (see auth_compact in socket.c) */
            p->data = NULL;
            sio_namespace_connect(nsp, c, auth, query);
        }
        return;
    }
    if (!s || s->state != SIO_SOCKET_CONNECTED || p->type == SIOP_PACKET_CONNECT_ERROR) {
        sio_client_close(c);
        return;
    }
    /* Handlers may end the socket (a broadcast can close its session as a slow consumer):
     * it stays valid until they return. */
    sio_socket_ref(s);
    sio_socket_on_packet(s, p);
    sio_socket_unref(s);
}

void sio_client_message(sio_client *c, const uint8_t *data, size_t len, int binary)
{
    siop_packet p;
    int rc;
    if (c->closing)
        return;
    siop_packet_init(&p);
    siop_decoder *d = c->decoder ? c->decoder : &c->srv->decoder;
    if (binary)
        rc = siop_decoder_feed_binary(d, data, len, &p);
    else
        rc = siop_decoder_feed_text(d, (const char *)data, len, &p);
    if (rc == SIOP_MORE) {
        if (!c->decoder) {
            /* the pending packet moves to a decoder of the client's own */
            c->decoder = malloc(sizeof(*c->decoder));
            if (!c->decoder)
                abort();
            *c->decoder = *d;
            siop_decoder_init(d, c->srv->opts.max_attachments);
        }
        return;
    }
    client_decoder_drop(c); /* it holds nothing now: its packet is out, or dropped */
    if (rc != SIOP_OK) {
        /* Node closes the engine session on a parse error; sockets see "forced close". */
        c->closing = 1;
        siop_packet_clear(&p);
        eio_session_close(c->session);
        return;
    }
    sio_client_ref(c);
    client_dispatch(c, &p);
    siop_packet_clear(&p);
    sio_client_unref(c);
}
