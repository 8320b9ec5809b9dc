/* redis_adapter.c: the cluster adapter of redis_adapter.h.
 *
 * The one idea: every operation first does on this node exactly what the local adapter
 * would (it is called, not copied), then tells the other nodes through Redis; what the
 * other nodes send is turned back into calls on the local adapter. The local adapter's
 * room hook tells us when a room gains its first or loses its last local member, which is
 * when its channel is subscribed or unsubscribed (the registry of redis_conn.c restores
 * them after a reconnect).
 *
 * Requests this node makes (fetchSockets, serverSideEmit with an answer, broadcasts with
 * acks) are counted like Node counts them: PUBSUB NUMSUB of the request channel is the
 * number of nodes, this one included. The NUMSUB and the PUBLISH leave in the same write;
 * answers that arrive before the count are kept and checked when it comes. A request ends
 * exactly once: all answers in, its timer, a Redis failure (at once: nothing will come),
 * or the adapter going away.
 */
#include "redis_adapter.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "redis_conn.h"
#include "../../protocol/redis_adapter.h"

#define RCA_REQUEST_ID_MAX (RCA_UID_LEN + 24) /* uid, '-', a 64-bit counter */
#define RCA_RELAY_DEFAULT_MS 60000 /* how long answers to another node's broadcast are relayed */
#define RCA_NODES_UNKNOWN 0xffffffffu        /* a broadcast with acks before NUMSUB answers */
#define RCA_LOG_MAX 512

static const char RCA_UID_CHARS[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

typedef struct rca_adapter rca_adapter;
typedef struct rca_request rca_request;

struct rca_cluster {
    uv_loop_t *loop;
    rc_conn *conn;
    char *key;                  /* the channel prefix */
    char *node_id;              /* for logs */
    char uid[RCA_UID_LEN + 1];
    uint32_t request_timeout_ms;
    rca_adapter *adapters;      /* one per namespace */
    uint64_t next_request;
    sb_buf out;                 /* encoding buffer reused by every message */
    rda_decoder dec;
    int psubscribe;             /* rca_config.psubscribe */
    int publish_failed_logged;  /* one log line per outage, not one per message */
    void (*done)(void *ud);
    void *done_ud;
};

/* A channel this adapter subscribes to because a local room has members. */
typedef struct rca_room {
    char *channel;
    char name[]; /* the map key */
} rca_room;

struct rca_adapter {
    sio_adapter base;
    sio_adapter *local;
    rca_cluster *cluster;
    rca_adapter *prev, *next;
    char *ch_broadcast;         /* key#nsp# */
    char *pattern;              /* key#nsp#* when the cluster psubscribes, else NULL */
    char *ch_request;           /* key-request#nsp# */
    char *ch_response;          /* key-response#nsp# */
    char *ch_response_own;      /* key-response#nsp#uid# */
    sio_map rooms;              /* name → rca_room */
    sio_map requests;           /* request id → rca_request (ours, awaiting answers) */
};

/* A request of ours awaiting answers from the other nodes. */
struct rca_request {
    int refs;                   /* the adapter's map, the NUMSUB in flight, the timer */
    rca_adapter *a;             /* NULL once it ended */
    rda_type type;
    char id[RCA_REQUEST_ID_MAX];
    long nodes;                 /* NUMSUB, -1 until it answers */
    long answers;
    json_t *results;            /* fetch: the sockets; server-side emit: the answers */
    sio_fetch_sockets_cb fetch_cb;
    sio_broadcast_ack_cb emit_cb;
    void *ud;
    sio_ack_op *op;             /* broadcast with acks: the core's op */
    int has_timer;
    uv_timer_t timer;
};

/* An answer this node relays for another node's broadcast with acks. */
typedef struct rca_relay {
    rca_cluster *cluster;
    char *request_id;
    char *channel;              /* where the requester listens */
} rca_relay;

/* A server-side event from another node whose handler owes an answer. */
typedef struct rca_reply {
    rca_cluster *cluster;
    char *request_id;
    char *channel;
} rca_reply;

/* ---- helpers ----------------------------------------------------------------------- */

static void rca_log(rca_cluster *c, const char *fmt, ...) {
    char line[RCA_LOG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "cluster[%s]: %s\n", c->node_id, line);
}

static void on_rc_log(const char *line, void *ud) {
    rca_cluster *c = ud;
    fprintf(stderr, "cluster[%s]: redis %s\n", c->node_id, line);
}

static char *xstrdup(const char *s) {
    char *d = strdup(s);
    if (!d) abort();
    return d;
}

/* The bytes of b as a C string (channel names hold no NUL: they are made of C strings). */
static char *buf_string(const sb_buf *b) {
    char *s = malloc(b->len + 1);
    if (!s) abort();
    if (b->len) memcpy(s, b->data, b->len);
    s[b->len] = '\0';
    return s;
}

static void opts_from_target(rda_opts *o, const sio_target *to) {
    for (size_t i = 0; i < to->n_rooms; i++) rda_rooms_add(&o->rooms, to->rooms[i]);
    for (size_t i = 0; i < to->n_except; i++) rda_rooms_add(&o->except, to->except[i]);
}

static sio_target target_from_opts(const rda_opts *o) {
    return (sio_target){(const char *const *)o->rooms.names, o->rooms.n,
                        (const char *const *)o->except.names, o->except.n};
}

/* [event, ...args] as Node puts it in packet data and SERVER_SIDE_EMIT data. */
static json_t *event_array(const char *event, const sio_args *args) {
    json_t *data = json_array();
    json_array_append_new(data, json_string(event));
    if (args->json) json_array_extend(data, args->json);
    return data;
}

static void on_publish(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                       void *ud) {
    rca_cluster *c = ud;
    if (status == RC_OK) {
        c->publish_failed_logged = 0;
    } else if (status != RC_ERR_CLOSED && !c->publish_failed_logged) {
        c->publish_failed_logged = 1;
        rca_log(c, "publishing failed (%s): other nodes miss messages until Redis is back",
                errstr ? errstr : rc_strerror(status));
    }
}

/* PUBLISHes c->out on channel. */
static void publish_out(rca_cluster *c, const char *channel) {
    rc_command(c->conn, on_publish, c, "PUBLISH %s %b", channel, (const char *)c->out.data,
               c->out.len);
}

static void publish_request(rca_adapter *a, const rda_request *r) {
    rca_cluster *c = a->cluster;
    sb_buf_reset(&c->out);
    if (rda_request_encode(r, &c->out) == RDA_OK) publish_out(c, a->ch_request);
}

static void publish_response(rca_cluster *c, const char *channel, const rda_response *r) {
    sb_buf_reset(&c->out);
    if (rda_response_encode(r, &c->out) == RDA_OK) publish_out(c, channel);
}

/* Where to answer a request: the requester's own channel (8.x nodes listen on it), or the
 * shared one when it gave no uid. */
static char *response_channel_for(rca_adapter *a, const char *uid) {
    sb_buf b;
    sb_buf_init(&b);
    rda_channel_response(&b, a->cluster->key, a->base.nsp ? sio_namespace_name(a->base.nsp) : "/",
                         uid);
    char *s = buf_string(&b);
    sb_buf_free(&b);
    return s;
}

/* ---- rooms ------------------------------------------------------------------------- */

static void on_room(const char *name, int exists, void *ud) {
    rca_adapter *a = ud;
    rca_cluster *c = a->cluster;
    if (exists) {
        size_t len = strlen(name);
        rca_room *r = malloc(sizeof(*r) + len + 1);
        if (!r) abort();
        memcpy(r->name, name, len + 1);
        sb_buf b;
        sb_buf_init(&b);
        rda_channel_broadcast(&b, c->key, sio_namespace_name(a->base.nsp), name);
        r->channel = buf_string(&b);
        sb_buf_free(&b);
        sio_map_put(&a->rooms, r->name, r);
        if (!a->pattern) rc_subscribe(c->conn, r->channel);
        return;
    }
    rca_room *r = sio_map_del(&a->rooms, name);
    if (!r) return;
    if (!a->pattern) rc_unsubscribe(c->conn, r->channel);
    free(r->channel);
    free(r);
}

static void rca_add(sio_adapter *base, sio_socket *s, const char *const *rooms, size_t n) {
    rca_adapter *a = (rca_adapter *)base;
    a->local->ops->add(a->local, s, rooms, n);
}

static void rca_del(sio_adapter *base, sio_socket *s, const char *room) {
    rca_adapter *a = (rca_adapter *)base;
    a->local->ops->del(a->local, s, room);
}

static void rca_del_all(sio_adapter *base, sio_socket *s) {
    rca_adapter *a = (rca_adapter *)base;
    a->local->ops->del_all(a->local, s);
}

static void rca_sockets(sio_adapter *base, const sio_target *to, sio_sockets_cb cb, void *ud) {
    rca_adapter *a = (rca_adapter *)base;
    a->local->ops->sockets(a->local, to, cb, ud);
}

/* ---- broadcasts -------------------------------------------------------------------- */

/* Fills packet p (borrowing args' attachments) for the other nodes; the caller releases
 * p->data and resets p->attachments before clearing. */
static void packet_fill(sio_packet *p, sio_namespace *nsp, const sio_broadcast *b) {
    p->type = b->args->n_attachments ? SIO_PACKET_BINARY_EVENT : SIO_PACKET_EVENT;
    p->nsp = xstrdup(sio_namespace_name(nsp));
    p->data = event_array(b->event, b->args);
    p->n_attachments = b->args->n_attachments;
    p->attachments = (sio_attachment *)b->args->attachments;
}

static void packet_unborrow(sio_packet *p) {
    p->attachments = NULL;
    p->n_attachments = 0;
}

static int rca_broadcast(sio_adapter *base, const sio_broadcast *b) {
    rca_adapter *a = (rca_adapter *)base;
    rca_cluster *c = a->cluster;
    int rc = a->local->ops->broadcast(a->local, b);
    if (rc != SIO_OK || (b->flags & SIO_EMIT_LOCAL)) return rc;
    rda_broadcast m;
    rda_broadcast_init(&m);
    m.uid = xstrdup(c->uid);
    packet_fill(&m.packet, base->nsp, b);
    opts_from_target(&m.opts, b->to);
    if (b->flags & SIO_EMIT_VOLATILE) json_object_set_new(m.opts.flags, RDA_FLAG_VOLATILE, json_true());
    sb_buf_reset(&c->out);
    sb_buf channel;
    sb_buf_init(&channel);
    if (rda_broadcast_encode(&m, &c->out) == RDA_OK) {
        rda_channel_broadcast_for(&channel, c->key, sio_namespace_name(base->nsp), &m.opts);
        sb_buf_append_byte(&channel, 0);
        publish_out(c, (const char *)channel.data);
    }
    sb_buf_free(&channel);
    packet_unborrow(&m.packet);
    rda_broadcast_clear(&m);
    return SIO_OK;
}

/* A packet another node or the emitter broadcast: to this node's sockets it designates. */
static void deliver(rca_adapter *a, const sio_packet *p, const rda_opts *opts) {
    json_t *name = json_array_get(p->data, 0);
    if (!json_is_string(name)) return;
    json_t *rest = json_array();
    for (size_t i = 1; i < json_array_size(p->data); i++)
        json_array_append(rest, json_array_get(p->data, i));
    sio_args args = {rest, p->attachments, p->n_attachments};
    sio_target to = target_from_opts(opts);
    sio_broadcast b = {json_string_value(name), &args, &to,
                       rda_opts_volatile(opts) ? SIO_EMIT_VOLATILE : 0};
    a->local->ops->broadcast(a->local, &b);
    json_decref(rest);
}

static void on_broadcast_message(rca_adapter *a, const uint8_t *data, size_t len) {
    rca_cluster *c = a->cluster;
    rda_broadcast m;
    if (rda_broadcast_decode(&c->dec, data, len, &m) != RDA_OK) {
        rca_log(c, "ignoring a malformed broadcast: %s", c->dec.errstr);
        return;
    }
    if (strcmp(m.uid, c->uid) != 0 && strcmp(m.packet.nsp, sio_namespace_name(a->base.nsp)) == 0)
        deliver(a, &m.packet, &m.opts);
    rda_broadcast_clear(&m);
}

/* ---- requests of ours ---------------------------------------------------------------- */

static void request_unref(rca_request *r) {
    if (--r->refs > 0) return;
    json_decref(r->results);
    free(r);
}

static void on_request_timer_closed(uv_handle_t *h) { request_unref(h->data); }

/* Ends r once: its callback runs, it leaves the adapter's map, its timer closes. */
static void request_finish(rca_request *r, int status) {
    rca_adapter *a = r->a;
    if (!a) return;
    r->a = NULL;
    sio_map_del(&a->requests, r->id);
    if (r->has_timer) {
        uv_timer_stop(&r->timer);
        uv_close((uv_handle_t *)&r->timer, on_request_timer_closed);
    }
    if (r->fetch_cb) r->fetch_cb(status, r->results, r->ud);
    else if (r->emit_cb) r->emit_cb(status, r->results, r->ud);
    request_unref(r); /* the map's */
}

/* Fetch and server-side emit: every other node answered. */
static void request_check(rca_request *r) {
    if (r->op || r->nodes < 0) return;
    if (r->answers >= r->nodes - 1) request_finish(r, SIO_ACK_OK);
}

static void on_request_timer(uv_timer_t *t) { request_finish(t->data, SIO_ACK_TIMEOUT); }

static rca_request *request_new(rca_adapter *a, rda_type type, uint32_t timeout_ms) {
    rca_cluster *c = a->cluster;
    rca_request *r = calloc(1, sizeof(*r));
    if (!r) abort();
    r->refs = 1;
    r->a = a;
    r->type = type;
    r->nodes = -1;
    snprintf(r->id, sizeof(r->id), "%s-%" PRIu64, c->uid, ++c->next_request);
    sio_map_put(&a->requests, r->id, r);
    if (timeout_ms > 0) {
        uv_timer_init(c->loop, &r->timer);
        r->timer.data = r;
        r->has_timer = 1;
        r->refs++;
        uv_timer_start(&r->timer, on_request_timer, timeout_ms, 0);
    }
    return r;
}

static void on_numsub(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                      void *ud) {
    rca_request *r = ud;
    long n = -1;
    if (status == RC_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[1]->type == REDIS_REPLY_INTEGER)
        n = (long)reply->element[1]->integer;
    if (r->a && n >= 0) {
        r->nodes = n > 0 ? n : 1;
        if (r->op) sio_ack_op_expect_nodes(r->op, (unsigned)r->nodes);
        else request_check(r);
    } else if (r->a && !r->op) {
        request_finish(r, SIO_ACK_TIMEOUT); /* no Redis: no other node will answer */
    }
    request_unref(r);
}

/* Counts the nodes, then (same write) publishes the request. */
static void request_send(rca_request *r, const rda_request *msg) {
    rca_adapter *a = r->a;
    r->refs++;
    if (rc_command(a->cluster->conn, on_numsub, r, "PUBSUB NUMSUB %s", a->ch_request) != RC_OK)
        r->refs--;
    publish_request(a, msg);
}

static void collect_local_sockets(int status, json_t *sockets, void *ud) {
    rca_request *r = ud;
    json_array_extend(r->results, sockets);
}

static void rca_fetch_sockets(sio_adapter *base, const sio_target *to, sio_fetch_sockets_cb cb,
                              void *ud) {
    rca_adapter *a = (rca_adapter *)base;
    rca_request *r = request_new(a, RDA_REMOTE_FETCH, a->cluster->request_timeout_ms);
    r->results = json_array();
    a->local->ops->fetch_sockets(a->local, to, collect_local_sockets, r);
    r->fetch_cb = cb;
    r->ud = ud;
    rda_request m;
    rda_request_init(&m, RDA_REMOTE_FETCH);
    m.uid = xstrdup(a->cluster->uid);
    m.request_id = xstrdup(r->id);
    opts_from_target(&m.opts, to);
    request_send(r, &m);
    rda_request_clear(&m);
}

static int rca_server_side_emit(sio_adapter *base, const char *event, const sio_args *args,
                                uint32_t timeout_ms, sio_broadcast_ack_cb cb, void *ud) {
    rca_adapter *a = (rca_adapter *)base;
    if (args->n_attachments > 0) return SIO_EINVAL; /* Node sends these as JSON */
    rda_request m;
    rda_request_init(&m, RDA_SERVER_SIDE_EMIT);
    m.uid = xstrdup(a->cluster->uid);
    json_decref(m.data);
    m.data = event_array(event, args);
    if (!cb) {
        publish_request(a, &m);
    } else {
        rca_request *r = request_new(a, RDA_SERVER_SIDE_EMIT, timeout_ms);
        r->results = json_array();
        r->emit_cb = cb;
        r->ud = ud;
        m.request_id = xstrdup(r->id);
        request_send(r, &m);
    }
    rda_request_clear(&m);
    return SIO_OK;
}

static void on_ack_op_done(void *ud) {
    rca_request *r = ud;
    rca_adapter *a = r->a;
    r->op = NULL;
    if (a) {
        r->a = NULL;
        sio_map_del(&a->requests, r->id);
        request_unref(r);
    }
}

static int rca_broadcast_ack(sio_adapter *base, const sio_broadcast *b, sio_ack_op *op) {
    rca_adapter *a = (rca_adapter *)base;
    int rc = a->local->ops->broadcast_ack(a->local, b, op);
    if (rc != SIO_OK || (b->flags & SIO_EMIT_LOCAL)) return rc;
    sio_ack_op_expect_nodes(op, RCA_NODES_UNKNOWN);
    rca_request *r = request_new(a, RDA_BROADCAST, 0);
    r->op = op;
    sio_ack_op_on_done(op, on_ack_op_done, r);
    rda_request m;
    rda_request_init(&m, RDA_BROADCAST);
    m.uid = xstrdup(a->cluster->uid);
    m.request_id = xstrdup(r->id);
    sio_packet_clear(&m.packet);
    packet_fill(&m.packet, base->nsp, b);
    opts_from_target(&m.opts, b->to);
    request_send(r, &m);
    packet_unborrow(&m.packet);
    rda_request_clear(&m);
    return SIO_OK;
}

/* rooms to join or leave as a C array (borrowed from r). */
static void rca_rooms_op(rca_adapter *a, rda_type type, const sio_target *to,
                         const char *const *rooms, size_t n) {
    rda_request m;
    rda_request_init(&m, type);
    m.uid = xstrdup(a->cluster->uid);
    opts_from_target(&m.opts, to);
    for (size_t i = 0; i < n; i++) rda_rooms_add(&m.rooms, rooms[i]);
    publish_request(a, &m);
    rda_request_clear(&m);
}

static void rca_add_sockets(sio_adapter *base, const sio_target *to, const char *const *rooms,
                            size_t n) {
    rca_adapter *a = (rca_adapter *)base;
    a->local->ops->add_sockets(a->local, to, rooms, n);
    rca_rooms_op(a, RDA_REMOTE_JOIN, to, rooms, n);
}

static void rca_del_sockets(sio_adapter *base, const sio_target *to, const char *const *rooms,
                            size_t n) {
    rca_adapter *a = (rca_adapter *)base;
    a->local->ops->del_sockets(a->local, to, rooms, n);
    rca_rooms_op(a, RDA_REMOTE_LEAVE, to, rooms, n);
}

static void rca_disconnect_sockets(sio_adapter *base, const sio_target *to, int close_session) {
    rca_adapter *a = (rca_adapter *)base;
    rda_request m;
    rda_request_init(&m, RDA_REMOTE_DISCONNECT);
    m.uid = xstrdup(a->cluster->uid);
    opts_from_target(&m.opts, to);
    m.close = close_session ? 1 : 0;
    publish_request(a, &m);
    rda_request_clear(&m);
    a->local->ops->disconnect_sockets(a->local, to, close_session);
}

/* ---- answers to our requests --------------------------------------------------------- */

static void on_response_message(rca_adapter *a, const uint8_t *data, size_t len) {
    rca_cluster *c = a->cluster;
    rda_response m;
    if (rda_response_decode(&c->dec, data, len, &m) != RDA_OK) {
        rca_log(c, "ignoring a malformed response: %s", c->dec.errstr);
        return;
    }
    rca_request *r = m.request_id ? sio_map_get(&a->requests, m.request_id) : NULL;
    if (r && r->op) {
        if (m.type == RDA_BROADCAST_CLIENT_COUNT && m.client_count >= 0)
            sio_ack_op_expect(r->op, (size_t)m.client_count);
        else if (m.type == RDA_BROADCAST_ACK)
            sio_ack_op_response(r->op, m.ack);
    } else if (r && r->type == RDA_SERVER_SIDE_EMIT && m.type == RDA_SERVER_SIDE_EMIT) {
        json_array_append(r->results, m.data ? m.data : json_null());
        r->answers++;
        request_check(r);
    } else if (r && r->type == RDA_REMOTE_FETCH && json_is_array(m.sockets)) {
        json_array_extend(r->results, m.sockets);
        r->answers++;
        request_check(r);
    }
    rda_response_clear(&m);
}

/* ---- requests from other nodes ------------------------------------------------------- */

static void answer(rca_adapter *a, const rda_request *req, rda_response *res) {
    char *channel = response_channel_for(a, req->uid);
    res->request_id = xstrdup(req->request_id);
    publish_response(a->cluster, channel, res);
    free(channel);
}

static void answer_sockets(json_t *ids, void *ud) {
    rda_response *res = ud;
    json_array_extend(res->sockets, ids);
}

static void answer_fetch(int status, json_t *sockets, void *ud) {
    rda_response *res = ud;
    json_array_extend(res->sockets, sockets);
}

static void answer_socket_list(rca_adapter *a, const rda_request *req) {
    rda_response res;
    rda_response_init(&res, req->type);
    if (req->type == RDA_SOCKETS) {
        sio_target to = {(const char *const *)req->rooms.names, req->rooms.n, NULL, 0};
        a->local->ops->sockets(a->local, &to, answer_sockets, &res);
    } else {
        sio_target to = target_from_opts(&req->opts);
        a->local->ops->fetch_sockets(a->local, &to, answer_fetch, &res);
    }
    answer(a, req, &res);
    rda_response_clear(&res);
}

static void answer_all_rooms(rca_adapter *a, const rda_request *req) {
    rda_response res;
    rda_response_init(&res, RDA_ALL_ROOMS);
    size_t pos = 0;
    rca_room *room;
    while ((room = sio_map_next(&a->rooms, &pos)) != NULL) rda_rooms_add(&res.rooms, room->name);
    answer(a, req, &res);
    rda_response_clear(&res);
}

/* JOIN, LEAVE, DISCONNECT: by opts (8.x and the emitter; no answer) or, from older nodes,
 * for one socket by sid (answered when that socket is here). */
static void apply_socket_op(rca_adapter *a, const rda_request *req) {
    sio_adapter *l = a->local;
    if (req->has_opts) {
        sio_target to = target_from_opts(&req->opts);
        const char *const *rooms = (const char *const *)req->rooms.names;
        if (req->type == RDA_REMOTE_JOIN && req->rooms.n) l->ops->add_sockets(l, &to, rooms, req->rooms.n);
        if (req->type == RDA_REMOTE_LEAVE && req->rooms.n) l->ops->del_sockets(l, &to, rooms, req->rooms.n);
        if (req->type == RDA_REMOTE_DISCONNECT) l->ops->disconnect_sockets(l, &to, req->close == 1);
        return;
    }
    sio_socket *s = req->sid ? sio_namespace_socket(a->base.nsp, req->sid) : NULL;
    if (!s) return;
    if (req->type == RDA_REMOTE_JOIN && req->room) sio_socket_join(s, req->room);
    if (req->type == RDA_REMOTE_LEAVE && req->room) sio_socket_leave(s, req->room);
    if (req->type == RDA_REMOTE_DISCONNECT) sio_socket_disconnect(s, req->close == 1);
    if (!req->request_id) return;
    rda_response res;
    rda_response_init(&res, req->type);
    answer(a, req, &res);
    rda_response_clear(&res);
}

static void on_server_event_reply(const sio_args *ans, void *ud) {
    rca_reply *rp = ud;
    if (ans) {
        rda_response res;
        rda_response_init(&res, RDA_SERVER_SIDE_EMIT);
        res.request_id = xstrdup(rp->request_id);
        json_t *first = json_array_get(ans->json, 0);
        res.data = first ? json_incref(first) : NULL;
        publish_response(rp->cluster, rp->channel, &res);
        rda_response_clear(&res);
    }
    free(rp->request_id);
    free(rp->channel);
    free(rp);
}

static void receive_server_event(rca_adapter *a, const rda_request *req) {
    json_t *name = json_array_get(req->data, 0);
    if (!json_is_string(name)) return;
    json_t *rest = json_array();
    for (size_t i = 1; i < json_array_size(req->data); i++)
        json_array_append(rest, json_array_get(req->data, i));
    sio_args args = {rest, NULL, 0};
    rca_reply *rp = NULL;
    if (req->request_id) {
        rp = calloc(1, sizeof(*rp));
        if (!rp) abort();
        rp->cluster = a->cluster;
        rp->request_id = xstrdup(req->request_id);
        rp->channel = response_channel_for(a, NULL); /* Node answers these on the shared one */
    }
    sio_namespace_receive_server_event(a->base.nsp, json_string_value(name), &args,
                                       rp ? on_server_event_reply : NULL, rp);
    json_decref(rest);
}

static void relay_ack(const sio_args *ans, void *ud) {
    rca_relay *rl = ud;
    rda_response res;
    rda_response_init(&res, RDA_BROADCAST_ACK);
    res.request_id = xstrdup(rl->request_id);
    json_t *first = json_array_get(ans->json, 0);
    if (first) {
        res.ack = json_incref(first);
        res.ack_attachments = (sio_attachment *)ans->attachments;
        res.n_ack_attachments = ans->n_attachments;
    }
    publish_response(rl->cluster, rl->channel, &res);
    res.ack_attachments = NULL;
    res.n_ack_attachments = 0;
    rda_response_clear(&res);
}

static void relay_done(void *ud) {
    rca_relay *rl = ud;
    free(rl->request_id);
    free(rl->channel);
    free(rl);
}

/* Node's BROADCAST: deliver with acks here, tell the requester how many clients will
 * answer, then relay each answer. */
static void relay_broadcast(rca_adapter *a, const rda_request *req) {
    json_t *name = json_array_get(req->packet.data, 0);
    if (!req->request_id || !json_is_string(name) ||
        strcmp(req->packet.nsp, sio_namespace_name(a->base.nsp)) != 0)
        return;
    rca_relay *rl = calloc(1, sizeof(*rl));
    if (!rl) abort();
    rl->cluster = a->cluster;
    rl->request_id = xstrdup(req->request_id);
    rl->channel = response_channel_for(a, req->uid);
    json_t *rest = json_array();
    for (size_t i = 1; i < json_array_size(req->packet.data); i++)
        json_array_append(rest, json_array_get(req->packet.data, i));
    sio_args args = {rest, req->packet.attachments, req->packet.n_attachments};
    sio_target to = target_from_opts(&req->opts);
    sio_broadcast b = {json_string_value(name), &args, &to, 0};
    sio_ack_op *op = sio_ack_op_new_relay(a->base.nsp, relay_ack, rl);
    sio_ack_op_on_done(op, relay_done, rl);
    if (a->local->ops->broadcast_ack(a->local, &b, op) != SIO_OK) sio_ack_op_expect(op, 0);
    json_decref(rest);
    rda_response res;
    rda_response_init(&res, RDA_BROADCAST_CLIENT_COUNT);
    res.request_id = xstrdup(req->request_id);
    res.client_count = (int64_t)sio_ack_op_clients(op);
    publish_response(a->cluster, rl->channel, &res);
    rda_response_clear(&res);
    json_int_t timeout = json_integer_value(json_object_get(req->opts.flags, RDA_FLAG_TIMEOUT));
    sio_ack_op_arm(op, timeout > 0 && timeout < UINT32_MAX ? (uint32_t)timeout : RCA_RELAY_DEFAULT_MS);
}

static void on_request_message(rca_adapter *a, const uint8_t *data, size_t len) {
    rca_cluster *c = a->cluster;
    rda_request req;
    if (rda_request_decode(&c->dec, data, len, &req) != RDA_OK) {
        rca_log(c, "ignoring a malformed request: %s", c->dec.errstr);
        return;
    }
    if (!req.uid || strcmp(req.uid, c->uid) != 0) {
        switch (req.type) {
        case RDA_SOCKETS:
        case RDA_REMOTE_FETCH:
            if (req.request_id) answer_socket_list(a, &req);
            break;
        case RDA_ALL_ROOMS:
            if (req.request_id) answer_all_rooms(a, &req);
            break;
        case RDA_REMOTE_JOIN:
        case RDA_REMOTE_LEAVE:
        case RDA_REMOTE_DISCONNECT: apply_socket_op(a, &req); break;
        case RDA_SERVER_SIDE_EMIT: receive_server_event(a, &req); break;
        case RDA_BROADCAST: relay_broadcast(a, &req); break;
        default: break;
        }
    }
    rda_request_clear(&req);
}

/* ---- messages ---------------------------------------------------------------------- */

static int channel_is(const rc_message *m, const char *channel) {
    size_t len = strlen(channel);
    return m->channel_len == len && memcmp(m->channel, channel, len) == 0;
}

/* key#nsp# or key#nsp#room# for a room with local members. */
static int channel_is_broadcast(rca_adapter *a, const rc_message *m) {
    size_t len = strlen(a->ch_broadcast);
    if (m->channel_len < len || memcmp(m->channel, a->ch_broadcast, len) != 0) return 0;
    if (m->channel_len == len) return 1;
    size_t room_len = m->channel_len - len - 1;
    if (m->channel[m->channel_len - 1] != '#' || room_len == 0) return 0;
    char *room = malloc(room_len + 1);
    if (!room) abort();
    memcpy(room, m->channel + len, room_len);
    room[room_len] = '\0';
    int ours = sio_map_get(&a->rooms, room) != NULL;
    free(room);
    return ours;
}

static void on_message(rc_conn *conn, const rc_message *m, void *ud) {
    rca_cluster *c = ud;
    for (rca_adapter *a = c->adapters; a; a = a->next) {
        if (channel_is(m, a->ch_request)) on_request_message(a, m->data, m->len);
        else if (channel_is(m, a->ch_response) || channel_is(m, a->ch_response_own))
            on_response_message(a, m->data, m->len);
        else if (channel_is_broadcast(a, m)) on_broadcast_message(a, m->data, m->len);
        else continue;
        return;
    }
}

static void on_state(rc_conn *conn, int ready, void *ud) {
    rca_cluster *c = ud;
    rca_log(c, ready ? "ready: Redis connected, subscriptions in place"
                     : "not ready: Redis unavailable, serving local clients only");
}

/* ---- adapter lifecycle ------------------------------------------------------------- */

static void rca_persist_session(sio_adapter *base, sio_socket *s) {
    rca_adapter *a = (rca_adapter *)base;
    a->local->ops->persist_session(a->local, s);
}

static void rca_restore_session(sio_adapter *base, const char *pid, const char *offset,
                                sio_restore_cb cb, void *ud) {
    rca_adapter *a = (rca_adapter *)base;
    a->local->ops->restore_session(a->local, pid, offset, cb, ud);
}

static void rca_free(sio_adapter *base) {
    rca_adapter *a = (rca_adapter *)base;
    rca_cluster *c = a->cluster;
    rca_request *r;
    size_t pos = 0;
    while ((r = sio_map_next(&a->requests, &pos)) != NULL) {
        if (r->op) {
            /* the core's op ends on its own timer; it must not find us */
            r->a = NULL;
            sio_map_del(&a->requests, r->id);
            request_unref(r);
        } else {
            request_finish(r, SIO_ACK_TIMEOUT);
        }
        pos = 0;
    }
    sio_map_free(&a->requests);
    sio_adapter_local_on_room(a->local, NULL, NULL);
    a->local->ops->free(a->local);
    rca_room *room;
    pos = 0;
    while ((room = sio_map_next(&a->rooms, &pos)) != NULL) {
        if (!a->pattern) rc_unsubscribe(c->conn, room->channel);
        free(room->channel);
        free(room);
    }
    sio_map_free(&a->rooms);
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
    if (a->prev) a->prev->next = a->next;
    else c->adapters = a->next;
    if (a->next) a->next->prev = a->prev;
    free(a);
}

static const sio_adapter_ops rca_ops = {
    .name = "redis",
    .add = rca_add,
    .del = rca_del,
    .del_all = rca_del_all,
    .broadcast = rca_broadcast,
    .broadcast_ack = rca_broadcast_ack,
    .sockets = rca_sockets,
    .add_sockets = rca_add_sockets,
    .del_sockets = rca_del_sockets,
    .disconnect_sockets = rca_disconnect_sockets,
    .fetch_sockets = rca_fetch_sockets,
    .server_side_emit = rca_server_side_emit,
    .persist_session = rca_persist_session,
    .restore_session = rca_restore_session,
    .free = rca_free,
};

static char *channel_new(void (*make)(sb_buf *, const char *, const char *, const char *),
                         const char *key, const char *nsp, const char *arg) {
    sb_buf b;
    sb_buf_init(&b);
    make(&b, key, nsp, arg);
    char *s = buf_string(&b);
    sb_buf_free(&b);
    return s;
}

static void channel_request(sb_buf *b, const char *key, const char *nsp, const char *unused) {
    rda_channel_request(b, key, nsp);
}

sio_adapter *rca_adapter_new(sio_namespace *nsp, void *ud) {
    rca_cluster *c = ud;
    rca_adapter *a = calloc(1, sizeof(*a));
    if (!a) abort();
    a->base.ops = &rca_ops;
    a->base.nsp = nsp;
    a->cluster = c;
    const char *name = sio_namespace_name(nsp);
    a->ch_broadcast = channel_new(rda_channel_broadcast, c->key, name, NULL);
    a->ch_request = channel_new(channel_request, c->key, name, NULL);
    a->ch_response = channel_new(rda_channel_response, c->key, name, NULL);
    a->ch_response_own = channel_new(rda_channel_response, c->key, name, c->uid);
    sio_map_init(&a->rooms);
    sio_map_init(&a->requests);
    a->next = c->adapters;
    if (c->adapters) c->adapters->prev = a;
    c->adapters = a;
    if (c->psubscribe) {
        sb_buf b;
        sb_buf_init(&b);
        rda_channel_broadcast_pattern(&b, c->key, name);
        a->pattern = buf_string(&b);
        sb_buf_free(&b);
        rc_psubscribe(c->conn, a->pattern);
    } else {
        rc_subscribe(c->conn, a->ch_broadcast);
    }
    rc_subscribe(c->conn, a->ch_request);
    rc_subscribe(c->conn, a->ch_response);
    rc_subscribe(c->conn, a->ch_response_own);
    a->local = sio_adapter_local_new(nsp, NULL);
    sio_adapter_local_on_room(a->local, on_room, a);
    return &a->base;
}

/* ---- cluster ----------------------------------------------------------------------- */

static void uid_new(char out[RCA_UID_LEN + 1]) {
    uint8_t bytes[RCA_UID_LEN];
    if (uv_random(NULL, NULL, bytes, sizeof(bytes), 0, NULL) != 0) abort();
    for (size_t i = 0; i < RCA_UID_LEN; i++) out[i] = RCA_UID_CHARS[bytes[i] % 64];
    out[RCA_UID_LEN] = '\0';
}

rca_cluster *rca_cluster_new(uv_loop_t *loop, const rca_config *cfg, char *err, size_t errlen) {
    rca_cluster *c = calloc(1, sizeof(*c));
    if (!c) abort();
    c->loop = loop;
    uid_new(c->uid);
    c->key = xstrdup(cfg->prefix && *cfg->prefix ? cfg->prefix : RDA_DEFAULT_KEY);
    c->node_id = xstrdup(cfg->node_id && *cfg->node_id ? cfg->node_id : c->uid);
    c->psubscribe = cfg->psubscribe;
    c->request_timeout_ms = cfg->request_timeout_ms ? cfg->request_timeout_ms
                                                    : RCA_DEFAULT_REQUEST_TIMEOUT_MS;
    sb_buf_init(&c->out);
    rda_decoder_init(&c->dec);
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

int rca_cluster_ready(const char **reason, void *ud) {
    rca_cluster *c = ud;
    if (rc_ready(c->conn)) return 1;
    *reason = "redis unavailable";
    return 0;
}

const char *rca_cluster_uid(const rca_cluster *c) { return c->uid; }

static void on_conn_closed(void *ud) {
    rca_cluster *c = ud;
    void (*done)(void *) = c->done;
    void *done_ud = c->done_ud;
    sb_buf_free(&c->out);
    free(c->key);
    free(c->node_id);
    free(c);
    if (done) done(done_ud);
}

void rca_cluster_close(rca_cluster *c, void (*done)(void *ud), void *ud) {
    c->done = done;
    c->done_ud = ud;
    rc_close(c->conn, on_conn_closed, c);
}
