/* socket.c: one client's presence in one namespace (Node's Socket).
 *
 * A socket is refcounted (see sio_internal.h) and outlives its connection: once closed,
 * every operation on it is a no-op returning SIO_ECLOSED, so the application can keep a
 * reference across asynchronous work without checking first. Room bookkeeping goes through
 * the namespace's adapter; packets for this socket alone are encoded into the server's
 * scratch buffer and copied into the session's queue.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "random.h"
#include "sio_internal.h"
#include "url.h"

#define SIO_TIME_TEXT_LEN 64 /* room for the handshake's "time" text */
#define SIO_MS_PER_S      1000
#define SIO_US_PER_MS     1000

/* Node's base64id.generateId(): the ids are 20 URL-safe characters (15 random bytes). A
 * legacy client's (Node's for protocol 3 connections) is the Engine.IO sid in "/", and
 * "/nsp#sid" elsewhere; it has no private id, as protocol v4 has no recovery. */
static void socket_new_ids(sio_socket *s, sio_client *c)
{
    s->id = s->id_buf;
    if (c->legacy && c->session) {
        const char *sid = eio_session_id(c->session);
        int root = strcmp(s->nsp->name, "/") == 0;
        size_t len = (root ? 0 : strlen(s->nsp->name) + 1) + strlen(sid) + 1;
        if (len > sizeof(s->id_buf) && !(s->id = malloc(len))) /* a tagged sid is longer */
            abort();
        snprintf(s->id, len, "%s%s%s", root ? "" : s->nsp->name, root ? "" : "#", sid);
        return;
    }
    do
        sb_random_id(s->id, SIO_ID_LEN);
    while (sb_map_get(&s->nsp->sockets, s->id));
    if (s->nsp->srv->opts.recovery_window_ms > 0)
        sb_random_id(s->pid, SIO_ID_LEN);
}

sio_socket *sio_socket_new(sio_namespace *nsp, sio_client *c, json_t *auth, const char *query)
{
    sio_socket *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->refs = 1;
    s->state = SIO_SOCKET_RESTORING;
    s->nsp = nsp;
    sb_list_init(&s->acks);
    if (json_is_object(auth)) {
        s->auth = auth;
    } else {
        json_decref(auth);
        s->auth = json_object();
    }
    const char *addr = c->session ? eio_session_remote_addr(c->session) : NULL;
    snprintf(s->remote_addr, sizeof(s->remote_addr), "%s", addr ? addr : "");
    uv_timeval64_t now;
    if (uv_gettimeofday(&now) == 0)
        s->issued_ms = (uint64_t)now.tv_sec * SIO_MS_PER_S + (uint64_t)now.tv_usec / SIO_US_PER_MS;
    socket_new_ids(s, c);
    if (query && !(s->connect_query = strdup(query)))
        abort();
    sio_client_attach(c, s);
    return s;
}

sio_socket *sio_socket_ref(sio_socket *s)
{
    s->refs++;
    return s;
}

void sio_socket_unref(sio_socket *s)
{
    if (--s->refs > 0)
        return;
    sio_recovery_record_free(s->restored);
    json_decref(s->auth);
    free(s->auth_text);
    json_decref(s->data);
    if (s->id != s->id_buf)
        free(s->id);
    free(s->connect_query);
    free(s);
}

const char *sio_socket_id(const sio_socket *s) { return s->id; }
const char *sio_socket_pid(const sio_socket *s) { return s->pid; }
sio_namespace *sio_socket_namespace(const sio_socket *s) { return s->nsp; }
int sio_socket_connected(const sio_socket *s) { return s->state == SIO_SOCKET_CONNECTED; }
int sio_socket_recovered(const sio_socket *s) { return s->recovered; }
/* The payload as a new object, from the compact text when the socket keeps only that. */
static json_t *auth_parse(const sio_socket *s)
{
    json_error_t err;
    json_t *o = s->auth_text ? siop_json_loadb(s->auth_text, strlen(s->auth_text), &err) : NULL;
    return o ? o : json_object();
}

/* An idle socket should not pay for a JSON tree it will most likely never look at again
 * (a token: some 500 bytes as jansson objects): once connected, and once its connection
 * handler has run, the payload is kept as compact text, and parsed back if asked for.
 * Only when nobody else holds the object: then dropping ours would free nothing. Or it is
 * forgotten altogether, when the namespace says so (sio_namespace_keep_auth). */
static void auth_compact(sio_socket *s)
{
    if (s->auth && s->nsp->forget_auth) {
        json_decref(s->auth);
        s->auth = NULL; /* and no text: {} from now on */
        return;
    }
    if (!s->auth || s->auth->refcount != 1)
        return;
    if (json_object_size(s->auth) > 0) {
        s->auth_text = json_dumps(s->auth, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!s->auth_text)
            return; /* keep the object */
    }
    json_decref(s->auth);
    s->auth = NULL;
}

json_t *sio_socket_auth(const sio_socket *cs)
{
    sio_socket *s = (sio_socket *)cs;
    if (!s->auth) {
        s->auth = auth_parse(s);
        free(s->auth_text); /* the object is the payload again, and may be changed */
        s->auth_text = NULL;
    }
    return s->auth;
}

json_t *sio_socket_data(const sio_socket *cs)
{
    sio_socket *s = (sio_socket *)cs;
    if (!s->data && !(s->data = json_object()))
        abort();
    return s->data;
}
const char *sio_socket_remote_addr(const sio_socket *s) { return s->remote_addr; }

const char *sio_socket_client_id(const sio_socket *s)
{
    return s->client && s->client->session ? eio_session_id(s->client->session) : "";
}
void sio_socket_set_userdata(sio_socket *s, void *p) { s->userdata = p; }
void *sio_socket_userdata(const sio_socket *s) { return s->userdata; }
void *sio_socket_adapter_data(const sio_socket *s) { return s->adapter_data; }
void sio_socket_set_adapter_data(sio_socket *s, void *p) { s->adapter_data = p; }

eio_session *sio_socket_session(const sio_socket *s)
{
    return s->state == SIO_SOCKET_CONNECTED && s->client ? s->client->session : NULL;
}

/* A legacy client's CONNECT query is looked in first: its namespace's own parameters. */
static int connect_query_param(const sio_socket *s, const char *name, char *buf, size_t len)
{
    size_t vlen;
    const char *v = s->connect_query ? sb_query_find(s->connect_query, name, &vlen) : NULL;
    if (!v || vlen >= len) /* decoding never lengthens a value */
        return -1;
    size_t n = sb_url_decode(v, vlen, buf);
    buf[n] = '\0';
    return (int)n;
}

int sio_socket_query_param(const sio_socket *s, const char *name, char *buf, size_t len)
{
    eio_session *session = s->client ? s->client->session : NULL;
    int n = connect_query_param(s, name, buf, len);
    if (n >= 0)
        return n;
    return session ? eio_session_query_param(session, name, buf, len) : -1;
}

json_t *sio_query_auth(const char *q)
{
    json_t *o = json_object();
    while (*q) {
        size_t field = strcspn(q, "&"), name = strcspn(q, "=&");
        const char *value = name < field ? q + name + 1 : q + field;
        size_t vlen = (size_t)(q + field - value);
        char *k = malloc(name + 1), *v = malloc(vlen + 1);
        if (!k || !v)
            abort();
        size_t kn = sb_url_decode(q, name, k), vn = sb_url_decode(value, vlen, v);
        if (field > 0)
            json_object_setn_new(o, k, kn, json_stringn(v, vn));
        free(k);
        free(v);
        q += field + (q[field] == '&');
    }
    return o;
}

/* ---- handshake --------------------------------------------------------------------- */

/* The handshake query (url-decoded name=value pairs joined by '&', as the engine keeps
 * it) as an object; of repeated names the first wins, as in sio_socket_query_param(). */
static json_t *query_object(const char *q)
{
    json_t *o = json_object();
    while (*q) {
        size_t field = strcspn(q, "&");
        size_t name = strcspn(q, "=&");
        const char *value = name < field ? q + name + 1 : q + field;
        if (name > 0 && !json_object_getn(o, q, name))
            json_object_setn_new(o, q, name, json_stringn(value, (size_t)(q + field - value)));
        q += field + (q[field] == '&');
    }
    return o;
}

/* Node's `new Date() + ""`, without the zone's name in parentheses. */
static json_t *time_text(uint64_t ms)
{
    char buf[SIO_TIME_TEXT_LEN];
    time_t t = (time_t)(ms / SIO_MS_PER_S);
    struct tm tm;
    if (!localtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%a %b %d %Y %H:%M:%S GMT%z", &tm) == 0)
        buf[0] = '\0';
    return json_string(buf);
}

/* Node's headers, xdomain and secure, when the engine kept the headers
 * (eio_server_keep_headers): TLS ends before this server, so secure is false. */
static void handshake_headers(json_t *hs, const eio_session *session)
{
    size_t pos = 0;
    const char *name, *value;
    json_t *headers = NULL;
    while (eio_session_header_next(session, &pos, &name, &value) == 0) {
        if (!headers)
            headers = json_object();
        json_object_set_new(headers, name, json_string(value));
    }
    if (!headers)
        return;
    json_object_set_new(hs, "xdomain", json_boolean(json_object_get(headers, "origin") != NULL));
    json_object_set_new(hs, "secure", json_false());
    json_object_set_new(hs, "headers", headers);
}

json_t *sio_socket_handshake(const sio_socket *s)
{
    eio_session *session = s->client ? s->client->session : NULL;
    const char *query = session ? eio_session_query(session) : "";
    const char *path = session ? eio_server_config(eio_session_server(session))->path : NULL;
    json_t *url = path ? json_sprintf("%s?%s", path, query) : json_string("");
    json_t *auth = s->auth ? json_incref(s->auth) : auth_parse(s);
    json_t *hs = json_pack("{s:o, s:s, s:o, s:o?, s:o, s:I}", "auth", auth, "address",
                           s->remote_addr, "query", query_object(query), "url", url, "time",
                           time_text(s->issued_ms), "issued", (json_int_t)s->issued_ms);
    if (session)
        handshake_headers(hs, session);
    return hs;
}

json_t *sio_socket_describe(const sio_socket *s, const char *const *rooms, size_t n)
{
    json_t *names = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(names, json_string(rooms[i]));
    return json_pack("{s:s, s:o, s:o, s:o}", "id", s->id, "handshake", sio_socket_handshake(s),
                     "rooms", names, "data", s->data ? json_deep_copy(s->data) : json_object());
}

/* ---- frames ------------------------------------------------------------------------ */

int sio_frame_encode(sio_frame *f, sio_namespace *nsp, int64_t ack_id, const char *event,
                     const sio_args *args)
{
    sb_buf *b = &nsp->srv->scratch;
    size_t n = args ? args->n_attachments : 0;
    memset(f, 0, sizeof(*f));
    sb_buf_reset(b);
    if (args && args->text && n == 0) {
        if (siop_event_encode_text(b, nsp->name, ack_id, event, args->text, args->text_len) !=
            SIOP_OK)
            return SIO_EINVAL;
    } else if (siop_event_encode(b, nsp->name, ack_id, event, args ? args->json : NULL, n) !=
               SIOP_OK) {
        return SIO_EINVAL;
    }
    f->text = eio_msg_new(EIOP_PACKET_MESSAGE, b->data, b->len, 0);
    f->bytes = b->len;
    if (n == 0)
        return SIOP_OK;
    f->attachments = malloc(n * sizeof(*f->attachments));
    if (!f->attachments)
        abort();
    for (size_t i = 0; i < n; i++) {
        const siop_attachment *a = &args->attachments[i];
        f->attachments[i] = eio_msg_new(EIOP_PACKET_MESSAGE, a->data, a->len, 1);
        f->bytes += a->len;
    }
    f->n_attachments = n;
    return SIOP_OK;
}

json_t *sio_args_json(const sio_args *args)
{
    if (!args)
        return NULL;
    if (args->json)
        return json_incref(args->json);
    return args->text ? siop_json_loadb(args->text, args->text_len, NULL) : NULL;
}

void sio_frame_retain(sio_frame *dst, const sio_frame *src)
{
    *dst = *src;
    dst->text = eio_msg_ref(src->text);
    if (src->n_attachments == 0)
        return;
    dst->attachments = malloc(src->n_attachments * sizeof(*dst->attachments));
    if (!dst->attachments)
        abort();
    for (size_t i = 0; i < src->n_attachments; i++)
        dst->attachments[i] = eio_msg_ref(src->attachments[i]);
}

void sio_frame_release(sio_frame *f)
{
    if (f->text)
        eio_msg_unref(f->text);
    for (size_t i = 0; i < f->n_attachments; i++)
        eio_msg_unref(f->attachments[i]);
    free(f->attachments);
    memset(f, 0, sizeof(*f));
}

int sio_socket_send_frame(sio_socket *s, const sio_frame *f, int flags)
{
    eio_session *session = sio_socket_session(s);
    if (!session || s->client->closing)
        return SIO_ECLOSED;
    if ((flags & SIO_EMIT_VOLATILE) && !eio_session_writable(session))
        return SIOP_OK;
    if (eio_session_send_msg(session, f->text) != 0)
        return SIO_ECLOSED;
    for (size_t i = 0; i < f->n_attachments; i++)
        if (eio_session_send_msg(session, f->attachments[i]) != 0)
            return SIO_ECLOSED;
    const sio_server *srv = s->nsp->srv;
    if (srv->observer && srv->observer->message)
        srv->observer->message(1, f->bytes, srv->observer_ud);
    return SIOP_OK;
}

/* ---- connect / disconnect ---------------------------------------------------------- */

static void socket_send_control(sio_socket *s, siop_packet_type type, json_t *data)
{
    siop_packet p;
    siop_packet_init(&p);
    p.type = type;
    p.nsp = s->nsp->name;
    p.data = data;
    sio_client_send_packet(s->client, &p);
}

static void socket_join_initial(sio_socket *s)
{
    sio_adapter *a = s->nsp->adapter;
    const char *own = s->id;
    a->ops->add(a, s, &own, 1);
    if (s->restored && s->restored->n_rooms > 0)
        a->ops->add(a, s, (const char *const *)s->restored->rooms, s->restored->n_rooms);
}

void sio_socket_connect(sio_socket *s)
{
    sio_namespace *nsp = s->nsp;
    sio_client *c = s->client;
    sio_client_ref(c); /* a send below may close the session at once */
    s->state = SIO_SOCKET_CONNECTED;
    sb_map_put(&nsp->sockets, s->id, s);
    socket_join_initial(s);
    /* Protocol v4's CONNECT carries no payload: the client knows its id. */
    json_t *hello = c->legacy ? NULL : json_pack("{s:s}", "sid", s->id);
    if (s->pid[0])
        json_object_set_new(hello, "pid", json_string(s->pid));
    socket_send_control(s, SIOP_PACKET_CONNECT, hello);
    json_decref(hello);
    if (s->restored) {
        for (size_t i = 0; i < s->restored->n_missed; i++)
            sio_socket_send_frame(s, &s->restored->missed[i], 0);
        sio_recovery_record_free(s->restored);
        s->restored = NULL;
    }
    sio_client_joined(c);
    sio_client_unref(c);
    const sio_observer *obs = nsp->srv->observer;
    if (obs && obs->socket_connect && s->state == SIO_SOCKET_CONNECTED)
        obs->socket_connect(s, nsp->srv->observer_ud);
    if (nsp->connection_cb && s->state == SIO_SOCKET_CONNECTED)
        nsp->connection_cb(s, nsp->connection_ud);
    auth_compact(s);
}

/* Node's RECOVERABLE_DISCONNECT_REASONS (socket.ts). */
static int reason_recoverable(const char *reason)
{
    static const char *const recoverable[] = {
        EIO_REASON_TRANSPORT_ERROR, EIO_REASON_TRANSPORT_CLOSE, EIO_REASON_FORCED_CLOSE,
        EIO_REASON_PING_TIMEOUT,    EIO_REASON_SHUTDOWN,        SIO_REASON_SERVER_CLOSE};
    for (size_t i = 0; i < sizeof(recoverable) / sizeof(recoverable[0]); i++)
        if (strcmp(reason, recoverable[i]) == 0)
            return 1;
    return 0;
}

void sio_socket_close(sio_socket *s, const char *reason)
{
    sio_namespace *nsp = s->nsp;
    sio_adapter *a = nsp->adapter;
    int was_connected = s->state == SIO_SOCKET_CONNECTED;
    sio_socket_ref(s);
    s->state = SIO_SOCKET_CLOSED;
    if (was_connected) {
        /* a legacy (protocol v4) socket has no private id: nothing to recover it by */
        if (nsp->srv->opts.recovery_window_ms > 0 && s->pid[0] && reason_recoverable(reason))
            a->ops->persist_session(a, s);
        a->ops->del_all(a, s);
        if (sb_map_get(&nsp->sockets, s->id) == s)
            sb_map_del(&nsp->sockets, s->id);
    }
    sio_recovery_record_free(s->restored);
    s->restored = NULL;
    if (s->client)
        sio_client_detach(s->client, s);
    if (was_connected) {
        sio_socket_drop_acks(s);
        const sio_observer *obs = nsp->srv->observer;
        if (obs && obs->socket_disconnect)
            obs->socket_disconnect(s, reason, nsp->srv->observer_ud);
        if (nsp->disconnect_cb)
            nsp->disconnect_cb(s, reason, nsp->disconnect_ud);
    }
    sio_socket_unref(s);
}

static sio_socket *client_first_connected(sio_client *c)
{
    sb_list *q;
    SB_LIST_FOREACH(q, &c->sockets)
    {
        sio_socket *t = SB_LIST_DATA(q, sio_socket, client_link);
        if (t->state == SIO_SOCKET_CONNECTED)
            return t;
    }
    return NULL;
}

void sio_socket_disconnect(sio_socket *s, int close_session)
{
    if (s->state != SIO_SOCKET_CONNECTED)
        return;
    sio_client *c = s->client;
    if (!close_session) {
        socket_send_control(s, SIOP_PACKET_DISCONNECT, NULL);
        sio_socket_close(s, SIO_REASON_SERVER_DISCONNECT);
        return;
    }
    /* Node's Client._disconnect: every connected socket says goodbye, then the session
     * closes. Rescan each time: a disconnect handler may change the list. */
    sio_client_ref(c);
    sio_socket *t;
    while ((t = client_first_connected(c)) != NULL) {
        socket_send_control(t, SIOP_PACKET_DISCONNECT, NULL);
        sio_socket_close(t, SIO_REASON_SERVER_DISCONNECT);
    }
    sio_client_close(c);
    sio_client_unref(c);
}

/* ---- incoming packets -------------------------------------------------------------- */

void sio_socket_on_packet(sio_socket *s, siop_packet *p)
{
    sio_args args = {p->data, p->attachments, p->n_attachments, NULL, 0};
    switch (p->type) {
    case SIOP_PACKET_EVENT:
    case SIOP_PACKET_BINARY_EVENT: sio_namespace_dispatch(s->nsp, s, p); break;
    case SIOP_PACKET_ACK:
    case SIOP_PACKET_BINARY_ACK:
        if (p->id != SIOP_NO_ACK)
            sio_socket_on_ack(s, p->id, &args);
        break;
    case SIOP_PACKET_DISCONNECT: sio_socket_close(s, SIO_REASON_CLIENT_DISCONNECT); break;
    default: break;
    }
}

/* ---- emit and rooms ---------------------------------------------------------------- */

static int socket_check_emit(const sio_socket *s, const char *event, const sio_args *args)
{
    if (s->state != SIO_SOCKET_CONNECTED)
        return SIO_ECLOSED;
    if (!sio_event_name_valid(event))
        return SIO_EINVAL;
    if (args && args->json && !json_is_array(args->json))
        return SIO_EINVAL;
    return SIOP_OK;
}

static void socket_observe_sent(sio_socket *s, const char *event, const sio_args *args)
{
    static const sio_args none = {NULL, NULL, 0, NULL, 0};
    const sio_observer *obs = s->nsp->srv->observer;
    if (obs && obs->event)
        obs->event(s, 1, event, args ? args : &none, s->nsp->srv->observer_ud);
}

int sio_socket_emit(sio_socket *s, const char *event, const sio_args *args, int flags)
{
    int rc = socket_check_emit(s, event, args);
    if (rc != SIOP_OK)
        return rc;
    if (s->nsp->srv->opts.recovery_window_ms > 0 && !(flags & SIO_EMIT_VOLATILE)) {
        /* As Node: through the adapter to the socket's own room, so the packet is logged
         * (with its offset) and replayed if the connection drops. */
        const char *own = s->id;
        sio_target to = {&own, 1, NULL, 0};
        return sio_namespace_emit(s->nsp, &to, event, args, flags);
    }
    sio_frame f;
    rc = sio_frame_encode(&f, s->nsp, SIOP_NO_ACK, event, args);
    if (rc != SIOP_OK)
        return rc;
    rc = sio_socket_send_frame(s, &f, flags);
    sio_frame_release(&f);
    if (rc == SIOP_OK)
        socket_observe_sent(s, event, args);
    return rc;
}

int sio_socket_emit_ack(sio_socket *s, const char *event, const sio_args *args, uint32_t timeout_ms,
                        sio_ack_cb cb, void *ud)
{
    int rc = socket_check_emit(s, event, args);
    if (rc != SIOP_OK)
        return rc;
    if (!cb)
        return SIO_EINVAL;
    if (s->n_acks >= s->nsp->srv->opts.max_pending_acks)
        return SIO_ELIMIT;
    sio_ack_wait *op = sio_ack_wait_new_single(s, cb, ud);
    sio_frame f;
    if (sio_frame_encode(&f, s->nsp, sio_ack_wait_id(op), event, args) != SIOP_OK) {
        sio_ack_wait_cancel(op);
        return SIO_EINVAL;
    }
    sio_socket_track_ack(s, op); /* cannot fail: n_acks was checked */
    sio_ack_wait_expect(op, 1);
    sio_socket_send_frame(s, &f, 0);
    sio_frame_release(&f);
    socket_observe_sent(s, event, args);
    sio_ack_wait_arm(op, timeout_ms);
    return SIOP_OK;
}

int sio_socket_join(sio_socket *s, const char *room)
{
    if (s->state != SIO_SOCKET_CONNECTED)
        return SIO_ECLOSED;
    if (!room)
        return SIO_EINVAL;
    s->nsp->adapter->ops->add(s->nsp->adapter, s, &room, 1);
    return SIOP_OK;
}

int sio_socket_in_room(const sio_socket *s, const char *room)
{
    if (s->state != SIO_SOCKET_CONNECTED || !room)
        return 0;
    return s->nsp->adapter->ops->has(s->nsp->adapter, s, room);
}

int sio_socket_leave(sio_socket *s, const char *room)
{
    if (s->state != SIO_SOCKET_CONNECTED)
        return SIO_ECLOSED;
    if (!room)
        return SIO_EINVAL;
    s->nsp->adapter->ops->del(s->nsp->adapter, s, room);
    return SIOP_OK;
}
