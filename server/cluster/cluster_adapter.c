/* cluster_adapter.c: the cluster adapter of redis_adapter.h: the cluster (the Redis
 * connection and the messages it brings), the adapter each namespace gets, its rooms as
 * channels, and its broadcasts.
 *
 * The one idea: every operation first does on this node exactly what the local adapter
 * would (it is called, not copied), then tells the other nodes through Redis; what the
 * other nodes send is turned back into calls on the local adapter. The local adapter's
 * room hook tells us when a room gains its first or loses its last local member, which is
 * when its channel is subscribed or unsubscribed (the registry of redis_conn.c restores
 * them after a reconnect).
 *
 * The requests between nodes are in cluster_requests.c, connection state recovery in
 * cluster_recovery.c; what the three files share is in cluster_internal.h.
 */
#include "cluster_internal.h"
#include "random.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CL_LOG_MAX 512

/* A channel this adapter subscribes to because a local room has members: one allocation,
 * the name (the map key) followed by the channel. */
typedef struct cl_room {
    const char *channel; /* points into name[], after the name's NUL */
    char name[];
} cl_room;

/* ---- helpers ----------------------------------------------------------------------- */

void cl__log(cl_cluster *c, const char *fmt, ...)
{
    char line[CL_LOG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "cluster[%s]: %s\n", c->node_id, line);
}

static void on_rc_log(const char *line, void *ud)
{
    cl_cluster *c = ud;
    fprintf(stderr, "cluster[%s]: redis %s\n", c->node_id, line);
}

char *cl__xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* The bytes of b as a C string (channel names hold no NUL: they are made of C strings). */
char *cl__buf_string(const sb_buf *b)
{
    char *s = malloc(b->len + 1);
    if (!s)
        abort();
    if (b->len)
        memcpy(s, b->data, b->len);
    s[b->len] = '\0';
    return s;
}

void cl__opts_from_target(rdap_opts *o, const sio_target *to)
{
    for (size_t i = 0; i < to->n_rooms; i++)
        rdap_rooms_add(&o->rooms, to->rooms[i]);
    for (size_t i = 0; i < to->n_except; i++)
        rdap_rooms_add(&o->except, to->except[i]);
}

sio_target cl__target_from_opts(const rdap_opts *o)
{
    return (sio_target){(const char *const *)o->rooms.names, o->rooms.n,
                        (const char *const *)o->except.names, o->except.n};
}

/* [event, ...args] as Node puts it in packet data and SERVER_SIDE_EMIT data. */
json_t *cl__event_array(const char *event, const sio_args *args)
{
    json_t *data = json_array();
    json_array_append_new(data, json_string(event));
    json_t *tree = sio_args_json(args);
    if (tree)
        json_array_extend(data, tree);
    json_decref(tree);
    return data;
}

static void on_publish(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                       void *ud)
{
    cl_cluster *c = ud;
    if (status == RC_OK) {
        c->publish_failed_logged = 0;
    } else if (status != RC_ERR_CLOSED && !c->publish_failed_logged) {
        c->publish_failed_logged = 1;
        cl__log(c, "publishing failed (%s): other nodes miss messages until Redis is back",
                errstr ? errstr : rc_strerror(status));
    }
}

/* PUBLISHes c->out on channel. */
void cl__publish_out(cl_cluster *c, const char *channel)
{
    const char *argv[3] = {"PUBLISH", channel, (const char *)c->out.data};
    size_t lens[3] = {7, strlen(channel), c->out.len};
    rc_command_argv(c->conn, on_publish, c, 3, argv, lens);
}

/* ---- rooms ------------------------------------------------------------------------- */

/* Only without the pattern subscription (one channel per local room): with it, rooms need
 * no bookkeeping here, and the hook is not installed. */
static void on_room(const char *name, int exists, void *ud)
{
    cl_adapter *a = ud;
    cl_cluster *c = a->cluster;
    if (exists) {
        size_t len = strlen(name);
        sb_buf b;
        sb_buf_init(&b);
        rdap_channel_broadcast(&b, c->key, sio_namespace_name(a->base.nsp), name);
        cl_room *r = malloc(sizeof(*r) + len + 1 + b.len + 1);
        if (!r)
            abort();
        memcpy(r->name, name, len + 1);
        char *channel = r->name + len + 1;
        memcpy(channel, b.data, b.len);
        channel[b.len] = '\0';
        r->channel = channel;
        sb_buf_free(&b);
        sb_map_put(&a->rooms, r->name, r);
        rc_subscribe(c->conn, r->channel);
        return;
    }
    cl_room *r = sb_map_del(&a->rooms, name);
    if (!r)
        return;
    rc_unsubscribe(c->conn, r->channel);
    free(r);
}

static void cl_add(sio_adapter *base, sio_socket *s, const char *const *rooms, size_t n)
{
    cl_adapter *a = (cl_adapter *)base;
    a->local->ops->add(a->local, s, rooms, n);
}

static void cl_del(sio_adapter *base, sio_socket *s, const char *room)
{
    cl_adapter *a = (cl_adapter *)base;
    a->local->ops->del(a->local, s, room);
}

static void cl_del_all(sio_adapter *base, sio_socket *s)
{
    cl_adapter *a = (cl_adapter *)base;
    a->local->ops->del_all(a->local, s);
}

static int cl_has(sio_adapter *base, const sio_socket *s, const char *room)
{
    cl_adapter *a = (cl_adapter *)base;
    return a->local->ops->has(a->local, s, room);
}

static int cl_has_room(sio_adapter *base, const char *room)
{
    return sio_adapter_local_has_room(((cl_adapter *)base)->local, room);
}

static void cl_sockets(sio_adapter *base, const sio_target *to, sio_sockets_cb cb, void *ud)
{
    cl_adapter *a = (cl_adapter *)base;
    a->local->ops->sockets(a->local, to, cb, ud);
}

/* ---- broadcasts -------------------------------------------------------------------- */

/* Fills packet p (borrowing args' attachments) for the other nodes; the caller releases
 * p->data and resets p->attachments before clearing. */
void cl__packet_fill(siop_packet *p, sio_namespace *nsp, const sio_broadcast *b)
{
    p->type = b->args->n_attachments ? SIOP_PACKET_BINARY_EVENT : SIOP_PACKET_EVENT;
    p->nsp = cl__xstrdup(sio_namespace_name(nsp));
    p->data = cl__event_array(b->event, b->args);
    p->n_attachments = b->args->n_attachments;
    p->attachments = (siop_attachment *)b->args->attachments;
}

void cl__packet_unborrow(siop_packet *p)
{
    p->attachments = NULL;
    p->n_attachments = 0;
}

/* The event name of p's [event, ...args], or NULL; *rest gets a new array of the args. */
const char *cl__packet_event(const siop_packet *p, json_t **rest)
{
    json_t *name = json_array_get(p->data, 0);
    if (!json_is_string(name))
        return NULL;
    *rest = json_array();
    for (size_t i = 1; i < json_array_size(p->data); i++)
        json_array_append(*rest, json_array_get(p->data, i));
    return json_string_value(name);
}

/* A packet another node or the emitter broadcast: to this node's sockets it designates. */
void cl__deliver(cl_adapter *a, const siop_packet *p, const rdap_opts *opts)
{
    json_t *rest;
    const char *event = cl__packet_event(p, &rest);
    if (!event)
        return;
    sio_args args = {rest, p->attachments, p->n_attachments, NULL, 0};
    sio_target to = cl__target_from_opts(opts);
    sio_broadcast b = {event, &args, &to, rdap_opts_volatile(opts) ? SIO_EMIT_VOLATILE : 0};
    a->local->ops->broadcast(a->local, &b);
    json_decref(rest);
}

/* PUBLISHes m for the other nodes on the channel of its rooms. */
void cl__publish_broadcast(cl_adapter *a, const rdap_broadcast *m)
{
    cl_cluster *c = a->cluster;
    sb_buf_reset(&c->out);
    sb_buf channel;
    sb_buf_init(&channel);
    if (rdap_broadcast_encode(m, &c->out) == RDAP_OK) {
        rdap_channel_broadcast_for(&channel, c->key, sio_namespace_name(a->base.nsp), &m->opts);
        sb_buf_append_byte(&channel, 0);
        cl__publish_out(c, (const char *)channel.data);
    }
    sb_buf_free(&channel);
}

void cl__broadcast_fill(cl_adapter *a, rdap_broadcast *m, const sio_broadcast *b)
{
    rdap_broadcast_init(m);
    m->uid = cl__xstrdup(a->cluster->uid);
    cl__packet_fill(&m->packet, a->base.nsp, b);
    cl__opts_from_target(&m->opts, b->to);
}

static int cl_broadcast(sio_adapter *base, const sio_broadcast *b)
{
    cl_adapter *a = (cl_adapter *)base;
    if (a->stream && !(b->flags & (SIO_EMIT_VOLATILE | SIO_EMIT_LOCAL)))
        return cl__broadcast_recoverable(a, b);
    int rc = a->local->ops->broadcast(a->local, b);
    if (rc != SIOP_OK || (b->flags & SIO_EMIT_LOCAL))
        return rc;
    rdap_broadcast m;
    cl__broadcast_fill(a, &m, b);
    if (b->flags & SIO_EMIT_VOLATILE)
        json_object_set_new(m.opts.flags, RDAP_FLAG_VOLATILE, json_true());
    cl__publish_broadcast(a, &m);
    cl__packet_unborrow(&m.packet);
    rdap_broadcast_clear(&m);
    return SIOP_OK;
}

static void on_broadcast_message(cl_adapter *a, const uint8_t *data, size_t len)
{
    cl_cluster *c = a->cluster;
    rdap_broadcast m;
    if (rdap_broadcast_sent_by(data, len, c->uid))
        return; /* our own, back from the pattern: delivered locally already */
    if (rdap_broadcast_decode(&c->dec, data, len, &m) != RDAP_OK) {
        cl__log(c, "ignoring a malformed broadcast: %s", c->dec.errstr);
        return;
    }
    if (strcmp(m.uid, c->uid) != 0 && strcmp(m.packet.nsp, sio_namespace_name(a->base.nsp)) == 0)
        cl__deliver(a, &m.packet, &m.opts);
    rdap_broadcast_clear(&m);
}

/* ---- messages ---------------------------------------------------------------------- */

static int channel_is(const rc_message *m, const char *channel)
{
    size_t len = strlen(channel);
    return m->channel_len == len && memcmp(m->channel, channel, len) == 0;
}

/* key#nsp# or key#nsp#room# for a room with local members. */
static int channel_is_broadcast(cl_adapter *a, const rc_message *m)
{
    size_t len = strlen(a->ch_broadcast);
    if (m->channel_len < len || memcmp(m->channel, a->ch_broadcast, len) != 0)
        return 0;
    if (m->channel_len == len)
        return 1;
    size_t room_len = m->channel_len - len - 1;
    if (m->channel[m->channel_len - 1] != '#' || room_len == 0)
        return 0;
    char *room = malloc(room_len + 1);
    if (!room)
        abort();
    memcpy(room, m->channel + len, room_len);
    room[room_len] = '\0';
    int ours = sio_adapter_local_has_room(a->local, room);
    free(room);
    return ours;
}

static void on_message(rc_conn *conn, const rc_message *m, void *ud)
{
    cl_cluster *c = ud;
    sb_list *link;
    if (c->engine && cl__engine_on_message(c->engine, m))
        return;
    SB_LIST_FOREACH(link, &c->adapters)
    {
        cl_adapter *a = SB_LIST_DATA(link, cl_adapter, link);
        if (channel_is(m, a->ch_request))
            cl__on_request_message(a, m->data, m->len);
        else if (channel_is(m, a->ch_response) || channel_is(m, a->ch_response_own))
            cl__on_response_message(a, m->data, m->len);
        else if (channel_is_broadcast(a, m))
            on_broadcast_message(a, m->data, m->len);
        else
            continue;
        return;
    }
}

static void on_state(rc_conn *conn, int ready, void *ud)
{
    cl_cluster *c = ud;
    cl__log(c, ready ? "ready: Redis connected, subscriptions in place"
                     : "not ready: Redis unavailable, serving local clients only");
    if (c->on_ready)
        c->on_ready(ready, c->ready_ud);
}

/* ---- adapter lifecycle ------------------------------------------------------------- */

static void cl_free(sio_adapter *base)
{
    cl_adapter *a = (cl_adapter *)base;
    cl_cluster *c = a->cluster;
    cl__requests_end(a);
    sb_map_free(&a->requests);
    cl__recovery_detach(a);
    sio_adapter_local_on_room(a->local, NULL, NULL);
    a->local->ops->free(a->local);
    cl_room *room;
    size_t pos = 0;
    while ((room = sb_map_next(&a->rooms, &pos)) != NULL) {
        rc_unsubscribe(c->conn, room->channel);
        free(room);
    }
    sb_map_free(&a->rooms);
    if (a->pattern) {
        rc_punsubscribe(c->conn, a->pattern);
        free(a->pattern);
    } else {
        rc_unsubscribe(c->conn, a->ch_broadcast);
    }
    free(a->ch_broadcast);
    const char *own[] = {a->ch_request, a->ch_response, a->ch_response_own};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
        rc_unsubscribe(c->conn, own[i]);
        free((char *)own[i]);
    }
    sb_list_remove(&a->link);
    free(a);
}

static const sio_adapter_ops cl_ops = {
    .name = "redis",
    .add = cl_add,
    .del = cl_del,
    .del_all = cl_del_all,
    .has = cl_has,
    .has_room = cl_has_room,
    .broadcast = cl_broadcast,
    .broadcast_ack = cl__broadcast_ack,
    .sockets = cl_sockets,
    .add_sockets = cl__add_sockets,
    .del_sockets = cl__del_sockets,
    .disconnect_sockets = cl__disconnect_sockets,
    .fetch_sockets = cl__fetch_sockets,
    .server_side_emit = cl__server_side_emit,
    .persist_session = cl__persist_session,
    .restore_session = cl__restore_session,
    .free = cl_free,
};

static char *channel_new(void (*make)(sb_buf *, const char *, const char *, const char *),
                         const char *key, const char *nsp, const char *arg)
{
    sb_buf b;
    sb_buf_init(&b);
    make(&b, key, nsp, arg);
    char *s = cl__buf_string(&b);
    sb_buf_free(&b);
    return s;
}

static void channel_request(sb_buf *b, const char *key, const char *nsp, const char *unused)
{
    rdap_channel_request(b, key, nsp);
}

sio_adapter *cl_adapter_new(sio_namespace *nsp, void *ud)
{
    cl_cluster *c = ud;
    cl_adapter *a = calloc(1, sizeof(*a));
    if (!a)
        abort();
    a->base.ops = &cl_ops;
    a->base.nsp = nsp;
    a->cluster = c;
    const char *name = sio_namespace_name(nsp);
    a->ch_broadcast = channel_new(rdap_channel_broadcast, c->key, name, NULL);
    a->ch_request = channel_new(channel_request, c->key, name, NULL);
    a->ch_response = channel_new(rdap_channel_response, c->key, name, NULL);
    a->ch_response_own = channel_new(rdap_channel_response, c->key, name, c->uid);
    sb_map_init(&a->rooms);
    sb_map_init(&a->requests);
    sb_list_init(&a->pending);
    sb_list_init(&a->restores);
    sb_list_insert_head(&c->adapters, &a->link);
    if (c->psubscribe) {
        sb_buf b;
        sb_buf_init(&b);
        rdap_channel_broadcast_pattern(&b, c->key, name);
        a->pattern = cl__buf_string(&b);
        sb_buf_free(&b);
        rc_psubscribe(c->conn, a->pattern);
    } else {
        rc_subscribe(c->conn, a->ch_broadcast);
    }
    rc_subscribe(c->conn, a->ch_request);
    rc_subscribe(c->conn, a->ch_response);
    rc_subscribe(c->conn, a->ch_response_own);
    cl__recovery_init(a, name);
    a->local = a->stream ? sio_adapter_local_new_unlogged(nsp) : sio_adapter_local_new(nsp, NULL);
    if (!a->pattern)
        sio_adapter_local_on_room(a->local, on_room, a);
    return &a->base;
}

/* ---- cluster ----------------------------------------------------------------------- */

cl_cluster *cl_cluster_new(uv_loop_t *loop, const cl_config *cfg, char *err, size_t errlen)
{
    cl_cluster *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->loop = loop;
    sb_random_id(c->uid, CL_UID_LEN);
    sb_list_init(&c->adapters);
    c->key = cl__xstrdup(cfg->prefix && *cfg->prefix ? cfg->prefix : RDAP_DEFAULT_KEY);
    c->node_id = cl__xstrdup(cfg->node_id && *cfg->node_id ? cfg->node_id : c->uid);
    c->psubscribe = cfg->psubscribe;
    c->on_ready = cfg->on_ready;
    c->ready_ud = cfg->ud;
    c->request_timeout_ms =
        cfg->request_timeout_ms ? cfg->request_timeout_ms : CL_DEFAULT_REQUEST_TIMEOUT_MS;
    sb_buf_init(&c->out);
    rdap_decoder_init(&c->dec);
    rc_config rc;
    rc_config_init(&rc, cfg->url);
    rc.on_message = on_message;
    rc.on_state = on_state;
    rc.on_log = on_rc_log;
    rc.ud = c;
    c->conn = rc_conn_new(loop, &rc, err, errlen);
    if (!c->conn) {
        free(c->key);
        free(c->node_id);
        free(c);
        return NULL;
    }
    return c;
}

int cl_cluster_ready(const char **reason, void *ud)
{
    cl_cluster *c = ud;
    if (rc_ready(c->conn))
        return 1;
    *reason = "redis unavailable";
    return 0;
}

const char *cl_cluster_uid(const cl_cluster *c) { return c->uid; }

static void on_conn_closed(void *ud)
{
    cl_cluster *c = ud;
    void (*done)(void *) = c->done;
    void *done_ud = c->done_ud;
    sb_buf_free(&c->out);
    free(c->key);
    free(c->node_id);
    free(c);
    if (done)
        done(done_ud);
}

void cl_cluster_close(cl_cluster *c, void (*done)(void *ud), void *ud)
{
    c->done = done;
    c->done_ud = ud;
    if (c->engine)
        cl__engine_close(c->engine);
    rc_close(c->conn, on_conn_closed, c);
}
