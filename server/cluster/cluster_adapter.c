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
 *
 * Connection state recovery (--recovery-window) lives in Redis so that any node can
 * restore a socket that dropped from another: a dropped socket's session is a key
 * (key-session#nsp#pid) that expires with the window and is consumed by its restore, and
 * every recoverable broadcast is appended to a stream per namespace (key-stream#nsp#)
 * before it is delivered anywhere. Its stream id is the offset appended as the last
 * argument, so an offset means the same thing on every node; the sending node learns it
 * from the XADD reply, then delivers and publishes the packet with it (one more round trip
 * per broadcast, in recovery mode only; XADD replies come in order, so broadcasts keep
 * theirs). A restore is one script: take the session, check that the client's offset is
 * still in the stream, read what follows it (bounded); the node then keeps the packets
 * for the session's rooms.
 */
#include "redis_adapter.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "redis_conn.h"
#include "redis_adapter_codec.h"

#define CL_REQUEST_ID_MAX (CL_UID_LEN + 24) /* uid, '-', a 64-bit counter */
#define CL_RELAY_DEFAULT_MS 60000 /* how long answers to another node's broadcast are relayed */
#define CL_NODES_UNKNOWN 0xffffffffu        /* a broadcast with acks before NUMSUB answers */
#define CL_LOG_MAX 512
#define CL_NUMBER_MAX 24                    /* a uint64 in decimal, plus NUL */
#define CL_STREAM_FIELD "b"                 /* the field of a stream entry: the broadcast */

/* KEYS: session, stream; ARGV: offset, COUNT. Nil when the session is unknown or the
 * offset is no longer in the stream (packets after it may be gone); else {session, the
 * entries after offset}. */
static const char CL_RESTORE_SCRIPT[] =
    "local s = redis.call('GETDEL', KEYS[1]) "
    "if not s then return nil end "
    "if #redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1]) == 0 then return nil end "
    "return {s, redis.call('XRANGE', KEYS[2], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])}";

static const char CL_UID_CHARS[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

typedef struct cl_adapter cl_adapter;
typedef struct cl_request cl_request;
typedef struct cl_pending cl_pending;
typedef struct cl_restore cl_restore;

struct cl_cluster {
    uv_loop_t *loop;
    rc_conn *conn;
    char *key;                  /* the channel prefix */
    char *node_id;              /* for logs */
    char uid[CL_UID_LEN + 1];
    uint32_t request_timeout_ms;
    cl_adapter *adapters;      /* one per namespace */
    uint64_t next_request;
    sb_buf out;                 /* encoding buffer reused by every message */
    rdap_decoder dec;
    int psubscribe;             /* cl_config.psubscribe */
    void (*on_ready)(int ready, void *ud); /* cl_config's */
    void *ready_ud;
    int publish_failed_logged;  /* one log line per outage, not one per message */
    int xadd_failed_logged;     /* the same for the recovery stream */
    void (*done)(void *ud);
    void *done_ud;
};

/* A channel this adapter subscribes to because a local room has members: one allocation,
 * the name (the map key) followed by the channel. */
typedef struct cl_room {
    const char *channel; /* points into name[], after the name's NUL */
    char name[];
} cl_room;

struct cl_adapter {
    sio_adapter base;
    sio_adapter *local;
    cl_cluster *cluster;
    cl_adapter *prev, *next;
    char *ch_broadcast;         /* key#nsp# */
    char *pattern;              /* key#nsp#* when the cluster psubscribes, else NULL */
    char *ch_request;           /* key-request#nsp# */
    char *ch_response;          /* key-response#nsp# */
    char *ch_response_own;      /* key-response#nsp#uid# */
    sb_map rooms;              /* name → cl_room, without the pattern subscription only */
    sb_map requests;           /* request id → cl_request (ours, awaiting answers) */
    /* recovery in Redis; stream NULL when --recovery-window is 0 */
    char *stream;               /* key-stream#nsp#: the recoverable broadcasts */
    char *session_prefix;       /* key-session#nsp#, followed by a pid */
    size_t max_packets;         /* the stream's MAXLEN, and the most a restore replays */
    char max_len[CL_NUMBER_MAX];    /* max_packets in decimal */
    char max_replay[CL_NUMBER_MAX]; /* max_packets + 1: more means some are gone */
    char window[CL_NUMBER_MAX];     /* the window in ms: a session's expiry */
    cl_pending *pending;       /* broadcasts waiting for their stream id */
    cl_restore *restores;      /* restores waiting for Redis */
};

/* A recoverable broadcast waiting for its stream id. */
struct cl_pending {
    cl_pending *prev, *next;
    cl_adapter *a;             /* NULL once the adapter is gone: nothing to deliver to */
    rdap_broadcast m;            /* owned, attachments included; no offset yet */
};

/* A restore waiting for Redis. */
struct cl_restore {
    cl_restore *prev, *next;
    cl_adapter *a;             /* NULL once the adapter is gone (cb has run) */
    sio_restore_cb cb;
    void *ud;
};

/* A request of ours awaiting answers from the other nodes. */
struct cl_request {
    int refs;                   /* the adapter's map, the NUMSUB in flight, the timer */
    cl_adapter *a;             /* NULL once it ended */
    rdap_type type;
    char id[CL_REQUEST_ID_MAX];
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
typedef struct cl_relay {
    cl_cluster *cluster;
    char *request_id;
    char *channel;              /* where the requester listens */
} cl_relay;

/* A server-side event from another node whose handler owes an answer. */
typedef struct cl_reply {
    cl_cluster *cluster;
    char *request_id;
    char *channel;
} cl_reply;

/* ---- helpers ----------------------------------------------------------------------- */

static void cl_log(cl_cluster *c, const char *fmt, ...) {
    char line[CL_LOG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "cluster[%s]: %s\n", c->node_id, line);
}

static void on_rc_log(const char *line, void *ud) {
    cl_cluster *c = ud;
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

static void opts_from_target(rdap_opts *o, const sio_target *to) {
    for (size_t i = 0; i < to->n_rooms; i++) rdap_rooms_add(&o->rooms, to->rooms[i]);
    for (size_t i = 0; i < to->n_except; i++) rdap_rooms_add(&o->except, to->except[i]);
}

static sio_target target_from_opts(const rdap_opts *o) {
    return (sio_target){(const char *const *)o->rooms.names, o->rooms.n,
                        (const char *const *)o->except.names, o->except.n};
}

/* [event, ...args] as Node puts it in packet data and SERVER_SIDE_EMIT data. */
static json_t *event_array(const char *event, const sio_args *args) {
    json_t *data = json_array();
    json_array_append_new(data, json_string(event));
    json_t *tree = sio_args_json(args);
    if (tree) json_array_extend(data, tree);
    json_decref(tree);
    return data;
}

static void on_publish(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                       void *ud) {
    cl_cluster *c = ud;
    if (status == RC_OK) {
        c->publish_failed_logged = 0;
    } else if (status != RC_ERR_CLOSED && !c->publish_failed_logged) {
        c->publish_failed_logged = 1;
        cl_log(c, "publishing failed (%s): other nodes miss messages until Redis is back",
                errstr ? errstr : rc_strerror(status));
    }
}

/* PUBLISHes c->out on channel. */
static void publish_out(cl_cluster *c, const char *channel) {
    const char *argv[3] = {"PUBLISH", channel, (const char *)c->out.data};
    size_t lens[3] = {7, strlen(channel), c->out.len};
    rc_command_argv(c->conn, on_publish, c, 3, argv, lens);
}

static void publish_request(cl_adapter *a, const rdap_request *r) {
    cl_cluster *c = a->cluster;
    sb_buf_reset(&c->out);
    if (rdap_request_encode(r, &c->out) == RDAP_OK) publish_out(c, a->ch_request);
}

static void publish_response(cl_cluster *c, const char *channel, const rdap_response *r) {
    sb_buf_reset(&c->out);
    if (rdap_response_encode(r, &c->out) == RDAP_OK) publish_out(c, channel);
}

/* Where to answer a request: the requester's own channel (8.x nodes listen on it), or the
 * shared one when it gave no uid. */
static char *response_channel_for(cl_adapter *a, const char *uid) {
    sb_buf b;
    sb_buf_init(&b);
    rdap_channel_response(&b, a->cluster->key, a->base.nsp ? sio_namespace_name(a->base.nsp) : "/",
                         uid);
    char *s = buf_string(&b);
    sb_buf_free(&b);
    return s;
}

/* ---- rooms ------------------------------------------------------------------------- */

/* Only without the pattern subscription (one channel per local room): with it, rooms need
 * no bookkeeping here, and the hook is not installed. */
static void on_room(const char *name, int exists, void *ud) {
    cl_adapter *a = ud;
    cl_cluster *c = a->cluster;
    if (exists) {
        size_t len = strlen(name);
        sb_buf b;
        sb_buf_init(&b);
        rdap_channel_broadcast(&b, c->key, sio_namespace_name(a->base.nsp), name);
        cl_room *r = malloc(sizeof(*r) + len + 1 + b.len + 1);
        if (!r) abort();
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
    if (!r) return;
    rc_unsubscribe(c->conn, r->channel);
    free(r);
}

static void cl_add(sio_adapter *base, sio_socket *s, const char *const *rooms, size_t n) {
    cl_adapter *a = (cl_adapter *)base;
    a->local->ops->add(a->local, s, rooms, n);
}

static void cl_del(sio_adapter *base, sio_socket *s, const char *room) {
    cl_adapter *a = (cl_adapter *)base;
    a->local->ops->del(a->local, s, room);
}

static void cl_del_all(sio_adapter *base, sio_socket *s) {
    cl_adapter *a = (cl_adapter *)base;
    a->local->ops->del_all(a->local, s);
}

static int cl_has(sio_adapter *base, const sio_socket *s, const char *room) {
    cl_adapter *a = (cl_adapter *)base;
    return a->local->ops->has(a->local, s, room);
}

static int cl_has_room(sio_adapter *base, const char *room) {
    return sio_adapter_local_has_room(((cl_adapter *)base)->local, room);
}

static void cl_sockets(sio_adapter *base, const sio_target *to, sio_sockets_cb cb, void *ud) {
    cl_adapter *a = (cl_adapter *)base;
    a->local->ops->sockets(a->local, to, cb, ud);
}

/* ---- broadcasts -------------------------------------------------------------------- */

/* Fills packet p (borrowing args' attachments) for the other nodes; the caller releases
 * p->data and resets p->attachments before clearing. */
static void packet_fill(siop_packet *p, sio_namespace *nsp, const sio_broadcast *b) {
    p->type = b->args->n_attachments ? SIOP_PACKET_BINARY_EVENT : SIOP_PACKET_EVENT;
    p->nsp = xstrdup(sio_namespace_name(nsp));
    p->data = event_array(b->event, b->args);
    p->n_attachments = b->args->n_attachments;
    p->attachments = (siop_attachment *)b->args->attachments;
}

static void packet_unborrow(siop_packet *p) {
    p->attachments = NULL;
    p->n_attachments = 0;
}

/* The event name of p's [event, ...args], or NULL; *rest gets a new array of the args. */
static const char *packet_event(const siop_packet *p, json_t **rest) {
    json_t *name = json_array_get(p->data, 0);
    if (!json_is_string(name)) return NULL;
    *rest = json_array();
    for (size_t i = 1; i < json_array_size(p->data); i++)
        json_array_append(*rest, json_array_get(p->data, i));
    return json_string_value(name);
}

/* A packet another node or the emitter broadcast: to this node's sockets it designates. */
static void deliver(cl_adapter *a, const siop_packet *p, const rdap_opts *opts) {
    json_t *rest;
    const char *event = packet_event(p, &rest);
    if (!event) return;
    sio_args args = {rest, p->attachments, p->n_attachments, NULL, 0};
    sio_target to = target_from_opts(opts);
    sio_broadcast b = {event, &args, &to, rdap_opts_volatile(opts) ? SIO_EMIT_VOLATILE : 0};
    a->local->ops->broadcast(a->local, &b);
    json_decref(rest);
}

/* PUBLISHes m for the other nodes on the channel of its rooms. */
static void publish_broadcast(cl_adapter *a, const rdap_broadcast *m) {
    cl_cluster *c = a->cluster;
    sb_buf_reset(&c->out);
    sb_buf channel;
    sb_buf_init(&channel);
    if (rdap_broadcast_encode(m, &c->out) == RDAP_OK) {
        rdap_channel_broadcast_for(&channel, c->key, sio_namespace_name(a->base.nsp), &m->opts);
        sb_buf_append_byte(&channel, 0);
        publish_out(c, (const char *)channel.data);
    }
    sb_buf_free(&channel);
}

static void broadcast_fill(cl_adapter *a, rdap_broadcast *m, const sio_broadcast *b) {
    rdap_broadcast_init(m);
    m->uid = xstrdup(a->cluster->uid);
    packet_fill(&m->packet, a->base.nsp, b);
    opts_from_target(&m->opts, b->to);
}

/* ---- recoverable broadcasts (see the file comment) ---------------------------------- */

/* Gives p copies of the attachments it borrows, so that it can outlive the call. */
static void packet_own_attachments(siop_packet *p) {
    siop_attachment *v = calloc(p->n_attachments ? p->n_attachments : 1, sizeof(*v));
    if (!v) abort();
    for (size_t i = 0; i < p->n_attachments; i++) {
        v[i].data = malloc(p->attachments[i].len ? p->attachments[i].len : 1);
        if (!v[i].data) abort();
        if (p->attachments[i].len) memcpy(v[i].data, p->attachments[i].data, p->attachments[i].len);
        v[i].len = p->attachments[i].len;
    }
    p->attachments = v;
}

static void pending_free(cl_pending *p) {
    rdap_broadcast_clear(&p->m);
    free(p);
}

static void pending_unlink(cl_pending *p) {
    if (p->prev) p->prev->next = p->next;
    else p->a->pending = p->next;
    if (p->next) p->next->prev = p->prev;
}

/* Delivers p here and to the other nodes, with offset as last argument (NULL: none, the
 * stream could not take it; the packet is then not recoverable). */
static void pending_send(cl_adapter *a, cl_pending *p, const char *offset) {
    if (offset) json_array_append_new(p->m.packet.data, json_string(offset));
    deliver(a, &p->m.packet, &p->m.opts);
    publish_broadcast(a, &p->m);
}

static void on_xadd(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                    void *ud) {
    cl_pending *p = ud;
    cl_adapter *a = p->a;
    if (a) {
        cl_cluster *c = a->cluster;
        pending_unlink(p);
        int ok = status == RC_OK && reply->type == REDIS_REPLY_STRING;
        if (ok) {
            c->xadd_failed_logged = 0;
        } else if (!c->xadd_failed_logged) {
            c->xadd_failed_logged = 1;
            cl_log(c, "recovery stream unavailable (%s): broadcasts go out without offsets",
                    errstr ? errstr : rc_strerror(status));
        }
        pending_send(a, p, ok ? reply->str : NULL);
    }
    pending_free(p);
}

/* Appends b to the stream; delivery waits for the stream id (on_xadd). */
static int broadcast_recoverable(cl_adapter *a, const sio_broadcast *b) {
    cl_cluster *c = a->cluster;
    sio_frame f;
    if (sio_frame_encode(&f, a->base.nsp, SIOP_NO_ACK, b->event, b->args) != SIOP_OK)
        return SIO_EINVAL;
    sio_frame_release(&f);
    cl_pending *p = calloc(1, sizeof(*p));
    if (!p) abort();
    broadcast_fill(a, &p->m, b);
    packet_own_attachments(&p->m.packet);
    sb_buf_reset(&c->out);
    if (rdap_broadcast_encode(&p->m, &c->out) != RDAP_OK) {
        pending_free(p);
        return SIO_EINVAL;
    }
    if (rc_command(c->conn, on_xadd, p, "XADD %s MAXLEN ~ %s * " CL_STREAM_FIELD " %b",
                   a->stream, a->max_len, (const char *)c->out.data, c->out.len) != RC_OK) {
        pending_send(a, p, NULL);
        pending_free(p);
        return SIOP_OK;
    }
    p->a = a;
    p->next = a->pending;
    if (a->pending) a->pending->prev = p;
    a->pending = p;
    return SIOP_OK;
}

static int cl_broadcast(sio_adapter *base, const sio_broadcast *b) {
    cl_adapter *a = (cl_adapter *)base;
    if (a->stream && !(b->flags & (SIO_EMIT_VOLATILE | SIO_EMIT_LOCAL)))
        return broadcast_recoverable(a, b);
    int rc = a->local->ops->broadcast(a->local, b);
    if (rc != SIOP_OK || (b->flags & SIO_EMIT_LOCAL)) return rc;
    rdap_broadcast m;
    broadcast_fill(a, &m, b);
    if (b->flags & SIO_EMIT_VOLATILE) json_object_set_new(m.opts.flags, RDAP_FLAG_VOLATILE, json_true());
    publish_broadcast(a, &m);
    packet_unborrow(&m.packet);
    rdap_broadcast_clear(&m);
    return SIOP_OK;
}

static void on_broadcast_message(cl_adapter *a, const uint8_t *data, size_t len) {
    cl_cluster *c = a->cluster;
    rdap_broadcast m;
    if (rdap_broadcast_sent_by(data, len, c->uid))
        return; /* our own, back from the pattern: delivered locally already */
    if (rdap_broadcast_decode(&c->dec, data, len, &m) != RDAP_OK) {
        cl_log(c, "ignoring a malformed broadcast: %s", c->dec.errstr);
        return;
    }
    if (strcmp(m.uid, c->uid) != 0 && strcmp(m.packet.nsp, sio_namespace_name(a->base.nsp)) == 0)
        deliver(a, &m.packet, &m.opts);
    rdap_broadcast_clear(&m);
}

/* ---- requests of ours ---------------------------------------------------------------- */

static void request_unref(cl_request *r) {
    if (--r->refs > 0) return;
    json_decref(r->results);
    free(r);
}

static void on_request_timer_closed(uv_handle_t *h) { request_unref(h->data); }

/* Ends r once: its callback runs, it leaves the adapter's map, its timer closes. */
static void request_finish(cl_request *r, int status) {
    cl_adapter *a = r->a;
    if (!a) return;
    r->a = NULL;
    sb_map_del(&a->requests, r->id);
    if (r->has_timer) {
        uv_timer_stop(&r->timer);
        uv_close((uv_handle_t *)&r->timer, on_request_timer_closed);
    }
    if (r->fetch_cb) r->fetch_cb(status, r->results, r->ud);
    else if (r->emit_cb) r->emit_cb(status, r->results, r->ud);
    request_unref(r); /* the map's */
}

/* Fetch and server-side emit: every other node answered. */
static void request_check(cl_request *r) {
    if (r->op || r->nodes < 0) return;
    if (r->answers >= r->nodes - 1) request_finish(r, SIO_ACK_OK);
}

static void on_request_timer(uv_timer_t *t) { request_finish(t->data, SIO_ACK_TIMEOUT); }

static cl_request *request_new(cl_adapter *a, rdap_type type, uint32_t timeout_ms) {
    cl_cluster *c = a->cluster;
    cl_request *r = calloc(1, sizeof(*r));
    if (!r) abort();
    r->refs = 1;
    r->a = a;
    r->type = type;
    r->nodes = -1;
    snprintf(r->id, sizeof(r->id), "%s-%" PRIu64, c->uid, ++c->next_request);
    sb_map_put(&a->requests, r->id, r);
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
    cl_request *r = ud;
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
static void request_send(cl_request *r, const rdap_request *msg) {
    cl_adapter *a = r->a;
    r->refs++;
    if (rc_command(a->cluster->conn, on_numsub, r, "PUBSUB NUMSUB %s", a->ch_request) != RC_OK)
        r->refs--;
    publish_request(a, msg);
}

static void collect_local_sockets(int status, json_t *sockets, void *ud) {
    cl_request *r = ud;
    json_array_extend(r->results, sockets);
}

static void cl_fetch_sockets(sio_adapter *base, const sio_target *to, sio_fetch_sockets_cb cb,
                              void *ud) {
    cl_adapter *a = (cl_adapter *)base;
    cl_request *r = request_new(a, RDAP_REMOTE_FETCH, a->cluster->request_timeout_ms);
    r->results = json_array();
    a->local->ops->fetch_sockets(a->local, to, collect_local_sockets, r);
    r->fetch_cb = cb;
    r->ud = ud;
    rdap_request m;
    rdap_request_init(&m, RDAP_REMOTE_FETCH);
    m.uid = xstrdup(a->cluster->uid);
    m.request_id = xstrdup(r->id);
    opts_from_target(&m.opts, to);
    request_send(r, &m);
    rdap_request_clear(&m);
}

static int cl_server_side_emit(sio_adapter *base, const char *event, const sio_args *args,
                                uint32_t timeout_ms, sio_broadcast_ack_cb cb, void *ud) {
    cl_adapter *a = (cl_adapter *)base;
    if (args->n_attachments > 0) return SIO_EINVAL; /* Node sends these as JSON */
    rdap_request m;
    rdap_request_init(&m, RDAP_SERVER_SIDE_EMIT);
    m.uid = xstrdup(a->cluster->uid);
    json_decref(m.data);
    m.data = event_array(event, args);
    if (!cb) {
        publish_request(a, &m);
    } else {
        cl_request *r = request_new(a, RDAP_SERVER_SIDE_EMIT, timeout_ms);
        r->results = json_array();
        r->emit_cb = cb;
        r->ud = ud;
        m.request_id = xstrdup(r->id);
        request_send(r, &m);
    }
    rdap_request_clear(&m);
    return SIOP_OK;
}

static void on_ack_op_done(void *ud) {
    cl_request *r = ud;
    cl_adapter *a = r->a;
    r->op = NULL;
    if (a) {
        r->a = NULL;
        sb_map_del(&a->requests, r->id);
        request_unref(r);
    }
}

static int cl_broadcast_ack(sio_adapter *base, const sio_broadcast *b, sio_ack_op *op) {
    cl_adapter *a = (cl_adapter *)base;
    int rc = a->local->ops->broadcast_ack(a->local, b, op);
    if (rc != SIOP_OK || (b->flags & SIO_EMIT_LOCAL)) return rc;
    sio_ack_op_expect_nodes(op, CL_NODES_UNKNOWN);
    cl_request *r = request_new(a, RDAP_BROADCAST, 0);
    r->op = op;
    sio_ack_op_on_done(op, on_ack_op_done, r);
    rdap_request m;
    rdap_request_init(&m, RDAP_BROADCAST);
    m.uid = xstrdup(a->cluster->uid);
    m.request_id = xstrdup(r->id);
    siop_packet_clear(&m.packet);
    packet_fill(&m.packet, base->nsp, b);
    opts_from_target(&m.opts, b->to);
    request_send(r, &m);
    packet_unborrow(&m.packet);
    rdap_request_clear(&m);
    return SIOP_OK;
}

/* rooms to join or leave as a C array (borrowed from r). */
static void cl_rooms_op(cl_adapter *a, rdap_type type, const sio_target *to,
                         const char *const *rooms, size_t n) {
    rdap_request m;
    rdap_request_init(&m, type);
    m.uid = xstrdup(a->cluster->uid);
    opts_from_target(&m.opts, to);
    for (size_t i = 0; i < n; i++) rdap_rooms_add(&m.rooms, rooms[i]);
    publish_request(a, &m);
    rdap_request_clear(&m);
}

static void cl_add_sockets(sio_adapter *base, const sio_target *to, const char *const *rooms,
                            size_t n) {
    cl_adapter *a = (cl_adapter *)base;
    a->local->ops->add_sockets(a->local, to, rooms, n);
    cl_rooms_op(a, RDAP_REMOTE_JOIN, to, rooms, n);
}

static void cl_del_sockets(sio_adapter *base, const sio_target *to, const char *const *rooms,
                            size_t n) {
    cl_adapter *a = (cl_adapter *)base;
    a->local->ops->del_sockets(a->local, to, rooms, n);
    cl_rooms_op(a, RDAP_REMOTE_LEAVE, to, rooms, n);
}

static void cl_disconnect_sockets(sio_adapter *base, const sio_target *to, int close_session) {
    cl_adapter *a = (cl_adapter *)base;
    rdap_request m;
    rdap_request_init(&m, RDAP_REMOTE_DISCONNECT);
    m.uid = xstrdup(a->cluster->uid);
    opts_from_target(&m.opts, to);
    m.close = close_session ? 1 : 0;
    publish_request(a, &m);
    rdap_request_clear(&m);
    a->local->ops->disconnect_sockets(a->local, to, close_session);
}

/* ---- answers to our requests --------------------------------------------------------- */

static void on_response_message(cl_adapter *a, const uint8_t *data, size_t len) {
    cl_cluster *c = a->cluster;
    rdap_response m;
    if (rdap_response_decode(&c->dec, data, len, &m) != RDAP_OK) {
        cl_log(c, "ignoring a malformed response: %s", c->dec.errstr);
        return;
    }
    cl_request *r = m.request_id ? sb_map_get(&a->requests, m.request_id) : NULL;
    if (r && r->op) {
        if (m.type == RDAP_BROADCAST_CLIENT_COUNT && m.client_count >= 0)
            sio_ack_op_expect(r->op, (size_t)m.client_count);
        else if (m.type == RDAP_BROADCAST_ACK)
            sio_ack_op_response(r->op, m.ack);
    } else if (r && r->type == RDAP_SERVER_SIDE_EMIT && m.type == RDAP_SERVER_SIDE_EMIT) {
        json_array_append(r->results, m.data ? m.data : json_null());
        r->answers++;
        request_check(r);
    } else if (r && r->type == RDAP_REMOTE_FETCH && json_is_array(m.sockets)) {
        json_array_extend(r->results, m.sockets);
        r->answers++;
        request_check(r);
    }
    rdap_response_clear(&m);
}

/* ---- requests from other nodes ------------------------------------------------------- */

static void answer(cl_adapter *a, const rdap_request *req, rdap_response *res) {
    char *channel = response_channel_for(a, req->uid);
    res->request_id = xstrdup(req->request_id);
    publish_response(a->cluster, channel, res);
    free(channel);
}

static void answer_sockets(json_t *ids, void *ud) {
    rdap_response *res = ud;
    json_array_extend(res->sockets, ids);
}

static void answer_fetch(int status, json_t *sockets, void *ud) {
    rdap_response *res = ud;
    json_array_extend(res->sockets, sockets);
}

static void answer_socket_list(cl_adapter *a, const rdap_request *req) {
    rdap_response res;
    rdap_response_init(&res, req->type);
    if (req->type == RDAP_SOCKETS) {
        sio_target to = {(const char *const *)req->rooms.names, req->rooms.n, NULL, 0};
        a->local->ops->sockets(a->local, &to, answer_sockets, &res);
    } else {
        sio_target to = target_from_opts(&req->opts);
        a->local->ops->fetch_sockets(a->local, &to, answer_fetch, &res);
    }
    answer(a, req, &res);
    rdap_response_clear(&res);
}

static void add_room_name(const char *room, void *ud) { rdap_rooms_add(ud, room); }

static void answer_all_rooms(cl_adapter *a, const rdap_request *req) {
    rdap_response res;
    rdap_response_init(&res, RDAP_ALL_ROOMS);
    sio_adapter_local_each_room(a->local, add_room_name, &res.rooms);
    answer(a, req, &res);
    rdap_response_clear(&res);
}

/* JOIN, LEAVE, DISCONNECT: by opts (8.x and the emitter; no answer) or, from older nodes,
 * for one socket by sid (answered when that socket is here). */
static void apply_socket_op(cl_adapter *a, const rdap_request *req) {
    sio_adapter *l = a->local;
    if (req->has_opts) {
        sio_target to = target_from_opts(&req->opts);
        const char *const *rooms = (const char *const *)req->rooms.names;
        if (req->type == RDAP_REMOTE_JOIN && req->rooms.n) l->ops->add_sockets(l, &to, rooms, req->rooms.n);
        if (req->type == RDAP_REMOTE_LEAVE && req->rooms.n) l->ops->del_sockets(l, &to, rooms, req->rooms.n);
        if (req->type == RDAP_REMOTE_DISCONNECT) l->ops->disconnect_sockets(l, &to, req->close == 1);
        return;
    }
    sio_socket *s = req->sid ? sio_namespace_socket(a->base.nsp, req->sid) : NULL;
    if (!s) return;
    if (req->type == RDAP_REMOTE_JOIN && req->room) sio_socket_join(s, req->room);
    if (req->type == RDAP_REMOTE_LEAVE && req->room) sio_socket_leave(s, req->room);
    if (req->type == RDAP_REMOTE_DISCONNECT) sio_socket_disconnect(s, req->close == 1);
    if (!req->request_id) return;
    rdap_response res;
    rdap_response_init(&res, req->type);
    answer(a, req, &res);
    rdap_response_clear(&res);
}

static void on_server_event_reply(const sio_args *ans, void *ud) {
    cl_reply *rp = ud;
    if (ans) {
        rdap_response res;
        rdap_response_init(&res, RDAP_SERVER_SIDE_EMIT);
        res.request_id = xstrdup(rp->request_id);
        json_t *first = json_array_get(ans->json, 0);
        res.data = first ? json_incref(first) : NULL;
        publish_response(rp->cluster, rp->channel, &res);
        rdap_response_clear(&res);
    }
    free(rp->request_id);
    free(rp->channel);
    free(rp);
}

static void receive_server_event(cl_adapter *a, const rdap_request *req) {
    json_t *name = json_array_get(req->data, 0);
    if (!json_is_string(name)) return;
    json_t *rest = json_array();
    for (size_t i = 1; i < json_array_size(req->data); i++)
        json_array_append(rest, json_array_get(req->data, i));
    sio_args args = {rest, NULL, 0, NULL, 0};
    cl_reply *rp = NULL;
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
    cl_relay *rl = ud;
    rdap_response res;
    rdap_response_init(&res, RDAP_BROADCAST_ACK);
    res.request_id = xstrdup(rl->request_id);
    json_t *first = json_array_get(ans->json, 0);
    if (first) {
        res.ack = json_incref(first);
        res.ack_attachments = (siop_attachment *)ans->attachments;
        res.n_ack_attachments = ans->n_attachments;
    }
    publish_response(rl->cluster, rl->channel, &res);
    res.ack_attachments = NULL;
    res.n_ack_attachments = 0;
    rdap_response_clear(&res);
}

static void relay_done(void *ud) {
    cl_relay *rl = ud;
    free(rl->request_id);
    free(rl->channel);
    free(rl);
}

/* Node's BROADCAST: deliver with acks here, tell the requester how many clients will
 * answer, then relay each answer. */
static void relay_broadcast(cl_adapter *a, const rdap_request *req) {
    json_t *name = json_array_get(req->packet.data, 0);
    if (!req->request_id || !json_is_string(name) ||
        strcmp(req->packet.nsp, sio_namespace_name(a->base.nsp)) != 0)
        return;
    cl_relay *rl = calloc(1, sizeof(*rl));
    if (!rl) abort();
    rl->cluster = a->cluster;
    rl->request_id = xstrdup(req->request_id);
    rl->channel = response_channel_for(a, req->uid);
    json_t *rest = json_array();
    for (size_t i = 1; i < json_array_size(req->packet.data); i++)
        json_array_append(rest, json_array_get(req->packet.data, i));
    sio_args args = {rest, req->packet.attachments, req->packet.n_attachments, NULL, 0};
    sio_target to = target_from_opts(&req->opts);
    sio_broadcast b = {json_string_value(name), &args, &to, 0};
    sio_ack_op *op = sio_ack_op_new_relay(a->base.nsp, relay_ack, rl);
    sio_ack_op_on_done(op, relay_done, rl);
    if (a->local->ops->broadcast_ack(a->local, &b, op) != SIOP_OK) sio_ack_op_expect(op, 0);
    json_decref(rest);
    rdap_response res;
    rdap_response_init(&res, RDAP_BROADCAST_CLIENT_COUNT);
    res.request_id = xstrdup(req->request_id);
    res.client_count = (int64_t)sio_ack_op_clients(op);
    publish_response(a->cluster, rl->channel, &res);
    rdap_response_clear(&res);
    json_int_t timeout = json_integer_value(json_object_get(req->opts.flags, RDAP_FLAG_TIMEOUT));
    sio_ack_op_arm(op, timeout > 0 && timeout < UINT32_MAX ? (uint32_t)timeout : CL_RELAY_DEFAULT_MS);
}

static void on_request_message(cl_adapter *a, const uint8_t *data, size_t len) {
    cl_cluster *c = a->cluster;
    rdap_request req;
    if (rdap_request_decode(&c->dec, data, len, &req) != RDAP_OK) {
        cl_log(c, "ignoring a malformed request: %s", c->dec.errstr);
        return;
    }
    if (!req.uid || strcmp(req.uid, c->uid) != 0) {
        switch (req.type) {
        case RDAP_SOCKETS:
        case RDAP_REMOTE_FETCH:
            if (req.request_id) answer_socket_list(a, &req);
            break;
        case RDAP_ALL_ROOMS:
            if (req.request_id) answer_all_rooms(a, &req);
            break;
        case RDAP_REMOTE_JOIN:
        case RDAP_REMOTE_LEAVE:
        case RDAP_REMOTE_DISCONNECT: apply_socket_op(a, &req); break;
        case RDAP_SERVER_SIDE_EMIT: receive_server_event(a, &req); break;
        case RDAP_BROADCAST: relay_broadcast(a, &req); break;
        default: break;
        }
    }
    rdap_request_clear(&req);
}

/* ---- messages ---------------------------------------------------------------------- */

static int channel_is(const rc_message *m, const char *channel) {
    size_t len = strlen(channel);
    return m->channel_len == len && memcmp(m->channel, channel, len) == 0;
}

/* key#nsp# or key#nsp#room# for a room with local members. */
static int channel_is_broadcast(cl_adapter *a, const rc_message *m) {
    size_t len = strlen(a->ch_broadcast);
    if (m->channel_len < len || memcmp(m->channel, a->ch_broadcast, len) != 0) return 0;
    if (m->channel_len == len) return 1;
    size_t room_len = m->channel_len - len - 1;
    if (m->channel[m->channel_len - 1] != '#' || room_len == 0) return 0;
    char *room = malloc(room_len + 1);
    if (!room) abort();
    memcpy(room, m->channel + len, room_len);
    room[room_len] = '\0';
    int ours = sio_adapter_local_has_room(a->local, room);
    free(room);
    return ours;
}

static void on_message(rc_conn *conn, const rc_message *m, void *ud) {
    cl_cluster *c = ud;
    for (cl_adapter *a = c->adapters; a; a = a->next) {
        if (channel_is(m, a->ch_request)) on_request_message(a, m->data, m->len);
        else if (channel_is(m, a->ch_response) || channel_is(m, a->ch_response_own))
            on_response_message(a, m->data, m->len);
        else if (channel_is_broadcast(a, m)) on_broadcast_message(a, m->data, m->len);
        else continue;
        return;
    }
}

static void on_state(rc_conn *conn, int ready, void *ud) {
    cl_cluster *c = ud;
    cl_log(c, ready ? "ready: Redis connected, subscriptions in place"
                     : "not ready: Redis unavailable, serving local clients only");
    if (c->on_ready) c->on_ready(ready, c->ready_ud);
}

/* ---- sessions in Redis (see the file comment) ---------------------------------------- */

static char *session_key(const cl_adapter *a, const char *pid) {
    sb_buf b;
    sb_buf_init(&b);
    sb_buf_append_str(&b, a->session_prefix);
    sb_buf_append_str(&b, pid);
    char *s = buf_string(&b);
    sb_buf_free(&b);
    return s;
}

static void take_description(int status, json_t *sockets, void *ud) {
    json_t **out = ud;
    json_t *d = json_array_get(sockets, 0);
    if (d) *out = json_incref(d);
}

/* {sid, pid, rooms, data} of s, from the local adapter's description of it. */
static json_t *session_json(cl_adapter *a, sio_socket *s) {
    const char *sid = sio_socket_id(s);
    sio_target to = {&sid, 1, NULL, 0};
    json_t *desc = NULL;
    a->local->ops->fetch_sockets(a->local, &to, take_description, &desc);
    json_t *rooms = desc ? json_object_get(desc, "rooms") : NULL;
    json_t *data = desc ? json_object_get(desc, "data") : NULL;
    json_t *sess = json_object();
    json_object_set_new(sess, "sid", json_string(sid));
    json_object_set_new(sess, "pid", json_string(sio_socket_pid(s)));
    json_object_set_new(sess, "rooms", json_is_array(rooms) ? json_incref(rooms) : json_array());
    json_object_set_new(sess, "data", data ? json_incref(data) : json_object());
    json_decref(desc);
    return sess;
}

static void on_session_stored(rc_conn *conn, int status, const redisReply *reply,
                              const char *errstr, void *ud) {
    cl_cluster *c = ud;
    if (status != RC_OK && status != RC_ERR_CLOSED)
        cl_log(c, "a session could not be kept for recovery (%s)",
                errstr ? errstr : rc_strerror(status));
}

static void cl_persist_session(sio_adapter *base, sio_socket *s) {
    cl_adapter *a = (cl_adapter *)base;
    if (!a->stream) {
        a->local->ops->persist_session(a->local, s);
        return;
    }
    json_t *sess = session_json(a, s);
    char *text = json_dumps(sess, JSON_COMPACT);
    char *key = session_key(a, sio_socket_pid(s));
    if (text)
        rc_command(a->cluster->conn, on_session_stored, a->cluster, "SET %s %s PX %s", key, text,
                   a->window);
    free(key);
    free(text);
    json_decref(sess);
}

static int names_intersect(const rdap_rooms *r, char *const *names, size_t n) {
    for (size_t i = 0; i < r->n; i++)
        for (size_t j = 0; j < n; j++)
            if (strcmp(r->names[i], names[j]) == 0) return 1;
    return 0;
}

/* Node's shouldIncludePacket: sent to everyone or to one of the session's rooms, and none
 * of the session's rooms excluded. */
static int packet_for(const rdap_opts *o, const sio_recovery_record *sess) {
    int included = o->rooms.n == 0 || names_intersect(&o->rooms, sess->rooms, sess->n_rooms);
    return included && !names_intersect(&o->except, sess->rooms, sess->n_rooms);
}

static int copy_id(char out[SIO_ID_LEN + 1], const json_t *v) {
    const char *s = json_string_value(v);
    if (!s || strlen(s) > SIO_ID_LEN) return 0;
    memcpy(out, s, strlen(s) + 1);
    return 1;
}

/* The session stored by cl_persist_session, without packets; NULL when malformed. */
static sio_recovery_record *session_parse(const char *text, size_t len) {
    json_t *j = json_loadb(text, len, 0, NULL);
    json_t *rooms = json_object_get(j, "rooms");
    sio_recovery_record *sess = calloc(1, sizeof(*sess));
    if (!sess) abort();
    sess->rooms = calloc(json_array_size(rooms) + 1, sizeof(char *));
    if (!sess->rooms) abort();
    int ok = j && json_is_array(rooms) && copy_id(sess->sid, json_object_get(j, "sid")) &&
             copy_id(sess->pid, json_object_get(j, "pid"));
    for (size_t i = 0; ok && i < json_array_size(rooms); i++) {
        const char *name = json_string_value(json_array_get(rooms, i));
        if (!name) ok = 0;
        else if (!(sess->rooms[sess->n_rooms++] = strdup(name))) abort();
    }
    json_t *data = json_object_get(j, "data");
    sess->data = data ? json_incref(data) : json_object();
    json_decref(j);
    if (ok) return sess;
    sio_recovery_record_free(sess);
    return NULL;
}

/* Adds the packet of stream entry [id, [field, value, ...]] to sess->missed when it was
 * for the session's rooms. 0 when the entry is malformed. */
static int replay_entry(cl_adapter *a, sio_recovery_record *sess, const redisReply *e) {
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
        return 0;
    const redisReply *fields = e->element[1], *value = NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(fields->element[i]->str, CL_STREAM_FIELD) == 0)
            value = fields->element[i + 1];
    rdap_broadcast m;
    if (!value || value->type != REDIS_REPLY_STRING ||
        rdap_broadcast_decode(&a->cluster->dec, (const uint8_t *)value->str, value->len, &m) != RDAP_OK)
        return 0;
    int ok = 1;
    if (packet_for(&m.opts, sess)) {
        json_array_append_new(m.packet.data, json_string(e->element[0]->str));
        json_t *rest;
        const char *event = packet_event(&m.packet, &rest);
        sio_args args = {rest, m.packet.attachments, m.packet.n_attachments, NULL, 0};
        ok = event && sio_frame_encode(&sess->missed[sess->n_missed], a->base.nsp, SIOP_NO_ACK,
                                       event, &args) == SIOP_OK;
        if (event) json_decref(rest);
        if (ok) sess->n_missed++;
    }
    rdap_broadcast_clear(&m);
    return ok;
}

/* The answer of CL_RESTORE_SCRIPT as a session with its packets, or NULL. */
static sio_recovery_record *session_from_reply(cl_adapter *a, const redisReply *reply) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    const redisReply *entries = reply->element[1];
    if (entries->elements > a->max_packets) return NULL; /* more followed: not all are there */
    sio_recovery_record *sess = session_parse(reply->element[0]->str, reply->element[0]->len);
    if (!sess) return NULL;
    sess->missed = calloc(entries->elements ? entries->elements : 1, sizeof(sio_frame));
    if (!sess->missed) abort();
    for (size_t i = 0; i < entries->elements; i++) {
        if (!replay_entry(a, sess, entries->element[i])) {
            sio_recovery_record_free(sess);
            return NULL;
        }
    }
    return sess;
}

static void restore_unlink(cl_restore *r) {
    if (r->prev) r->prev->next = r->next;
    else r->a->restores = r->next;
    if (r->next) r->next->prev = r->prev;
}

static void on_restore_reply(rc_conn *conn, int status, const redisReply *reply,
                             const char *errstr, void *ud) {
    cl_restore *r = ud;
    cl_adapter *a = r->a;
    if (!a) { /* answered when the adapter went away */
        free(r);
        return;
    }
    restore_unlink(r);
    sio_recovery_record *sess = status == RC_OK ? session_from_reply(a, reply) : NULL;
    sio_restore_cb cb = r->cb;
    void *cb_ud = r->ud;
    free(r);
    cb(sess, cb_ud);
}

/* Like Node's redis-streams-adapter, a client without an offset is not restored: where it
 * stood in the stream is unknown. */
static void cl_restore_session(sio_adapter *base, const char *pid, const char *offset,
                                sio_restore_cb cb, void *ud) {
    cl_adapter *a = (cl_adapter *)base;
    if (!a->stream) {
        a->local->ops->restore_session(a->local, pid, offset, cb, ud);
        return;
    }
    if (!offset) {
        cb(NULL, ud);
        return;
    }
    cl_restore *r = calloc(1, sizeof(*r));
    if (!r) abort();
    r->cb = cb;
    r->ud = ud;
    char *key = session_key(a, pid);
    int rc = rc_command(a->cluster->conn, on_restore_reply, r, "EVAL %s 2 %s %s %s %s",
                        CL_RESTORE_SCRIPT, key, a->stream, offset, a->max_replay);
    free(key);
    if (rc != RC_OK) {
        free(r);
        cb(NULL, ud);
        return;
    }
    r->a = a;
    r->next = a->restores;
    if (a->restores) a->restores->prev = r;
    a->restores = r;
}

/* Pending broadcasts are dropped (their callbacks free them); pending restores end now. */
static void recovery_detach(cl_adapter *a) {
    for (cl_pending *p = a->pending; p; p = p->next) p->a = NULL;
    a->pending = NULL;
    while (a->restores) {
        cl_restore *r = a->restores;
        a->restores = r->next;
        r->a = NULL;
        r->cb(NULL, r->ud);
    }
    free(a->stream);
    free(a->session_prefix);
}

/* key, kind, nsp, then '#': named like the channels, so --redis-prefix covers them. */
static char *recovery_key(const char *key, const char *kind, const char *nsp) {
    sb_buf b;
    sb_buf_init(&b);
    sb_buf_append_str(&b, key);
    sb_buf_append_str(&b, kind);
    sb_buf_append_str(&b, nsp);
    sb_buf_append_byte(&b, '#');
    char *s = buf_string(&b);
    sb_buf_free(&b);
    return s;
}

/* Sets up recovery in Redis when the window is on. */
static void recovery_init(cl_adapter *a, const char *name) {
    const sio_options *opts = sio_server_options(sio_namespace_server(a->base.nsp));
    if (opts->recovery_window_ms == 0) return;
    a->stream = recovery_key(a->cluster->key, "-stream#", name);
    a->session_prefix = recovery_key(a->cluster->key, "-session#", name);
    a->max_packets = opts->recovery_max_packets;
    snprintf(a->max_len, sizeof(a->max_len), "%zu", a->max_packets);
    snprintf(a->max_replay, sizeof(a->max_replay), "%zu", a->max_packets + 1);
    snprintf(a->window, sizeof(a->window), "%" PRIu32, opts->recovery_window_ms);
}

/* ---- adapter lifecycle ------------------------------------------------------------- */

static void cl_free(sio_adapter *base) {
    cl_adapter *a = (cl_adapter *)base;
    cl_cluster *c = a->cluster;
    cl_request *r;
    size_t pos = 0;
    while ((r = sb_map_next(&a->requests, &pos)) != NULL) {
        if (r->op) {
            /* the core's op ends on its own timer; it must not find us */
            r->a = NULL;
            sb_map_del(&a->requests, r->id);
            request_unref(r);
        } else {
            request_finish(r, SIO_ACK_TIMEOUT);
        }
        pos = 0;
    }
    sb_map_free(&a->requests);
    recovery_detach(a);
    sio_adapter_local_on_room(a->local, NULL, NULL);
    a->local->ops->free(a->local);
    cl_room *room;
    pos = 0;
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
    if (a->prev) a->prev->next = a->next;
    else c->adapters = a->next;
    if (a->next) a->next->prev = a->prev;
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
    .broadcast_ack = cl_broadcast_ack,
    .sockets = cl_sockets,
    .add_sockets = cl_add_sockets,
    .del_sockets = cl_del_sockets,
    .disconnect_sockets = cl_disconnect_sockets,
    .fetch_sockets = cl_fetch_sockets,
    .server_side_emit = cl_server_side_emit,
    .persist_session = cl_persist_session,
    .restore_session = cl_restore_session,
    .free = cl_free,
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
    rdap_channel_request(b, key, nsp);
}

sio_adapter *cl_adapter_new(sio_namespace *nsp, void *ud) {
    cl_cluster *c = ud;
    cl_adapter *a = calloc(1, sizeof(*a));
    if (!a) abort();
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
    a->next = c->adapters;
    if (c->adapters) c->adapters->prev = a;
    c->adapters = a;
    if (c->psubscribe) {
        sb_buf b;
        sb_buf_init(&b);
        rdap_channel_broadcast_pattern(&b, c->key, name);
        a->pattern = buf_string(&b);
        sb_buf_free(&b);
        rc_psubscribe(c->conn, a->pattern);
    } else {
        rc_subscribe(c->conn, a->ch_broadcast);
    }
    rc_subscribe(c->conn, a->ch_request);
    rc_subscribe(c->conn, a->ch_response);
    rc_subscribe(c->conn, a->ch_response_own);
    recovery_init(a, name);
    a->local = a->stream ? sio_adapter_local_new_unlogged(nsp) : sio_adapter_local_new(nsp, NULL);
    if (!a->pattern) sio_adapter_local_on_room(a->local, on_room, a);
    return &a->base;
}

/* ---- cluster ----------------------------------------------------------------------- */

static void uid_new(char out[CL_UID_LEN + 1]) {
    uint8_t bytes[CL_UID_LEN];
    if (uv_random(NULL, NULL, bytes, sizeof(bytes), 0, NULL) != 0) abort();
    for (size_t i = 0; i < CL_UID_LEN; i++) out[i] = CL_UID_CHARS[bytes[i] % 64];
    out[CL_UID_LEN] = '\0';
}

cl_cluster *cl_cluster_new(uv_loop_t *loop, const cl_config *cfg, char *err, size_t errlen) {
    cl_cluster *c = calloc(1, sizeof(*c));
    if (!c) abort();
    c->loop = loop;
    uid_new(c->uid);
    c->key = xstrdup(cfg->prefix && *cfg->prefix ? cfg->prefix : RDAP_DEFAULT_KEY);
    c->node_id = xstrdup(cfg->node_id && *cfg->node_id ? cfg->node_id : c->uid);
    c->psubscribe = cfg->psubscribe;
    c->on_ready = cfg->on_ready;
    c->ready_ud = cfg->ud;
    c->request_timeout_ms = cfg->request_timeout_ms ? cfg->request_timeout_ms
                                                    : CL_DEFAULT_REQUEST_TIMEOUT_MS;
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

int cl_cluster_ready(const char **reason, void *ud) {
    cl_cluster *c = ud;
    if (rc_ready(c->conn)) return 1;
    *reason = "redis unavailable";
    return 0;
}

const char *cl_cluster_uid(const cl_cluster *c) { return c->uid; }

static void on_conn_closed(void *ud) {
    cl_cluster *c = ud;
    void (*done)(void *) = c->done;
    void *done_ud = c->done_ud;
    sb_buf_free(&c->out);
    free(c->key);
    free(c->node_id);
    free(c);
    if (done) done(done_ud);
}

void cl_cluster_close(cl_cluster *c, void (*done)(void *ud), void *ud) {
    c->done = done;
    c->done_ud = ud;
    rc_close(c->conn, on_conn_closed, c);
}
