/* cluster_engine.c: Engine.IO requests relayed between nodes through Redis (see
 * cluster_engine.h).
 *
 * The one idea: a relayed request is a conversation of small messages between two nodes,
 * each on its receiver's own channel (<prefix>#eio#<uid>), named by the requester's uid
 * and a request number. The requester keeps a cl_fwd per request (the core's eio_forward
 * on its side), the owner a cl_served (the core's eio_vconn); each ends exactly once, and
 * the end of one tells the other. Messages are a type byte, the request number (8 bytes,
 * big endian), then, towards the owner, the requester's uid (a length byte and the uid),
 * then the payload:
 *
 *   to the owner      'R' request (bytes)   'T' websocket upgrade (bytes)
 *                     'D' tunnel bytes      'C' cancel: the client went
 *   to the requester  'O' output bytes      'P' parked: a GET waits for packets
 *                     'E' end (keep byte, then the last output bytes: a whole answer is
 *                     one message)          'F' failed: the owner cannot serve it
 */
#include "cluster_engine.h"
#include "cluster_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CL_ENGINE_CHANNEL "#eio#"
#define CL_ENGINE_TICK_MS 50 /* how often relayed requests' deadlines are checked */
#define CL_ENGINE_ID_LEN  8  /* bytes of the request number */
#define CL_ENGINE_KEY_MAX (CL_UID_LEN + 2 + CL_NUMBER_MAX)

enum {
    MSG_REQUEST = 'R',
    MSG_TUNNEL = 'T',
    MSG_DATA = 'D',
    MSG_CANCEL = 'C',
    MSG_OUTPUT = 'O',
    MSG_PARKED = 'P',
    MSG_END = 'E',
    MSG_FAILED = 'F'
};

struct cl_engine {
    cl_cluster *cluster;
    eio_server *srv;
    char *channel; /* ours */
    sb_map fwds;   /* request number (decimal) -> cl_fwd: ours, relayed to an owner */
    sb_map served; /* uid:number -> cl_served: other nodes' requests, served here */
    uint64_t next_id;
    uint64_t first_word_ms; /* the owner must answer within this (the ping timeout) */
    uint64_t parked_ms;     /* a parked GET, ping interval + ping timeout */
    sb_list waiting;        /* cl_fwd.wait_link: the requests with a deadline */
    uv_timer_t tick;        /* runs while waiting is not empty */
    sb_buf out;
};

/* A request of this node's client, relayed to the session's owner. */
typedef struct cl_fwd {
    int refs;       /* the map's, and each PUBLISH awaiting its count */
    cl_engine *e;   /* NULL once ended */
    eio_forward *f; /* the core's side, NULL once ended */
    char key[CL_NUMBER_MAX];
    uint64_t id;
    char *channel;     /* the owner's */
    uint64_t start_ms; /* loop time it was sent */
    int heard;         /* the owner said something */
    int tunnel;
    sb_list wait_link; /* in e->waiting until the owner has answered a tunnel (no deadline
                          then) or the request ended */
} cl_fwd;

/* Another node's request, served on a virtual connection. */
typedef struct cl_served {
    cl_engine *e;
    eio_vconn *v; /* NULL once ended */
    char key[CL_ENGINE_KEY_MAX];
    uint64_t id;
    char *reply; /* the requester's channel */
    int feeding; /* inside eio_vconn_feed: an end then frees it after */
} cl_served;

/* ---- messages ------------------------------------------------------------------------ */

static char *channel_of(const cl_engine *e, const char *uid, size_t uid_len)
{
    sb_buf b;
    sb_buf_init(&b);
    sb_buf_append_str(&b, e->cluster->key);
    sb_buf_append_str(&b, CL_ENGINE_CHANNEL);
    sb_buf_append(&b, uid, uid_len);
    char *s = cl__buf_string(&b);
    sb_buf_free(&b);
    return s;
}

static void msg_begin(cl_engine *e, int type, uint64_t id, int with_uid)
{
    sb_buf_reset(&e->out);
    sb_buf_append_byte(&e->out, (uint8_t)type);
    for (int i = CL_ENGINE_ID_LEN - 1; i >= 0; i--)
        sb_buf_append_byte(&e->out, (uint8_t)(id >> (i * 8)));
    if (with_uid) {
        sb_buf_append_byte(&e->out, (uint8_t)strlen(e->cluster->uid));
        sb_buf_append_str(&e->out, e->cluster->uid);
    }
}

/* PUBLISHes e->out on channel; cb (may be NULL) learns how many nodes listened. */
static int msg_publish(cl_engine *e, const char *channel, rc_reply_cb cb, void *ud)
{
    const char *argv[3] = {"PUBLISH", channel, (const char *)e->out.data};
    size_t lens[3] = {7, strlen(channel), e->out.len};
    return rc_command_argv(e->cluster->conn, cb, ud, 3, argv, lens);
}

typedef struct msg_in {
    int type;
    uint64_t id;
    const char *uid; /* towards the owner: the requester's */
    size_t uid_len;
    const uint8_t *data;
    size_t len;
} msg_in;

static int msg_parse(const uint8_t *p, size_t len, int with_uid, msg_in *m)
{
    if (len < 1 + CL_ENGINE_ID_LEN)
        return -1;
    m->type = p[0];
    m->id = 0;
    for (int i = 0; i < CL_ENGINE_ID_LEN; i++)
        m->id = (m->id << 8) | p[1 + i];
    size_t off = 1 + CL_ENGINE_ID_LEN;
    m->uid = NULL;
    m->uid_len = 0;
    if (with_uid) {
        if (off >= len || p[off] == 0 || p[off] > CL_UID_LEN || off + 1 + p[off] > len)
            return -1;
        m->uid_len = p[off];
        m->uid = (const char *)p + off + 1;
        off += 1 + m->uid_len;
    }
    m->data = p + off;
    m->len = len - off;
    return 0;
}

/* ---- the requester ------------------------------------------------------------------- */

static void fwd_unref(cl_fwd *r)
{
    if (--r->refs > 0)
        return;
    free(r->channel);
    free(r);
}

/* r has no deadline any more: the tick stops with the last one. */
static void fwd_unwait(cl_fwd *r)
{
    sb_list_remove(&r->wait_link);
    if (sb_list_empty(&r->e->waiting))
        uv_timer_stop(&r->e->tick);
}

/* Ends r on this side: it leaves the map; the core's side was ended by the caller. */
static void fwd_finish(cl_fwd *r)
{
    cl_engine *e = r->e;
    if (!e)
        return;
    fwd_unwait(r);
    r->e = NULL;
    r->f = NULL;
    sb_map_del(&e->fwds, r->key);
    fwd_unref(r);
}

static void fwd_fail(cl_fwd *r)
{
    if (r->f)
        eio_forward_fail(r->f);
    fwd_finish(r);
}

static void fwd_cancel_owner(cl_fwd *r)
{
    cl_engine *e = r->e;
    msg_begin(e, MSG_CANCEL, r->id, 1);
    msg_publish(e, r->channel, NULL, NULL);
}

/* PUBLISH's answer is the number of nodes that got the message: none, the owner is gone. */
static void on_sent(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                    void *ud)
{
    cl_fwd *r = ud;
    int listened = status == RC_OK && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0;
    if (!listened && r->e)
        fwd_fail(r);
    fwd_unref(r);
}

static int fwd_send(cl_fwd *r)
{
    r->refs++;
    if (msg_publish(r->e, r->channel, on_sent, r) == RC_OK)
        return 0;
    r->refs--;
    return -1;
}

static void on_tick(uv_timer_t *t)
{
    cl_engine *e = t->data;
    uint64_t now = uv_now(e->cluster->loop);
    sb_list *link;
again:
    SB_LIST_FOREACH(link, &e->waiting)
    {
        cl_fwd *r = SB_LIST_DATA(link, cl_fwd, wait_link);
        uint64_t waited = now - r->start_ms;
        if (waited < (r->heard ? e->parked_ms : e->first_word_ms))
            continue;
        fwd_cancel_owner(r);
        fwd_fail(r);
        goto again; /* the list changed */
    }
}

static int fwd_start(eio_forward *f, const char *tag, const uint8_t *bytes, size_t len, int tunnel,
                     void *ud)
{
    cl_engine *e = ud;
    cl_fwd *r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    r->refs = 1;
    r->e = e;
    r->f = f;
    r->id = ++e->next_id;
    r->tunnel = tunnel;
    r->start_ms = uv_now(e->cluster->loop);
    sb_list_init(&r->wait_link);
    r->channel = channel_of(e, tag, strlen(tag));
    snprintf(r->key, sizeof(r->key), "%" PRIu64, r->id);
    msg_begin(e, tunnel ? MSG_TUNNEL : MSG_REQUEST, r->id, 1);
    sb_buf_append(&e->out, bytes, len);
    if (fwd_send(r)) {
        fwd_unref(r);
        return -1;
    }
    sb_map_put(&e->fwds, r->key, r);
    sb_list_insert_tail(&e->waiting, &r->wait_link);
    eio_forward_set_data(f, r);
    if (!uv_is_active((uv_handle_t *)&e->tick))
        uv_timer_start(&e->tick, on_tick, CL_ENGINE_TICK_MS, CL_ENGINE_TICK_MS);
    return 0;
}

static void fwd_data(eio_forward *f, const uint8_t *bytes, size_t len, void *ud)
{
    cl_engine *e = ud;
    cl_fwd *r = eio_forward_data(f);
    msg_begin(e, MSG_DATA, r->id, 1);
    sb_buf_append(&e->out, bytes, len);
    msg_publish(e, r->channel, NULL, NULL);
}

static void fwd_cancel(eio_forward *f, void *ud)
{
    cl_fwd *r = eio_forward_data(f);
    r->f = NULL; /* the core frees f */
    fwd_cancel_owner(r);
    fwd_finish(r);
}

static const eio_forwarder forwarder = {fwd_start, fwd_data, fwd_cancel};

/* What the owner says about one of our requests. */
static void on_owner_message(cl_engine *e, const msg_in *m)
{
    char key[CL_NUMBER_MAX];
    snprintf(key, sizeof(key), "%" PRIu64, m->id);
    cl_fwd *r = sb_map_get(&e->fwds, key);
    if (!r || !r->f)
        return; /* ended here meanwhile (cancelled, timed out) */
    r->heard = 1;
    if (r->tunnel)
        fwd_unwait(r); /* a tunnel lives as long as its client */
    r->refs++;         /* a write can end it (a client too slow: cancelled) */
    switch (m->type) {
    case MSG_OUTPUT: eio_forward_write(r->f, m->data, m->len); break;
    case MSG_PARKED: break;
    case MSG_END:
        if (m->len > 1)
            eio_forward_write(r->f, m->data + 1, m->len - 1);
        if (r->f)
            eio_forward_end(r->f, m->len > 0 && m->data[0]);
        r->f = NULL;
        fwd_finish(r);
        break;
    default: fwd_fail(r); break;
    }
    fwd_unref(r);
}

/* ---- the owner ----------------------------------------------------------------------- */

static void served_free(cl_served *s)
{
    free(s->reply);
    free(s);
}

static void on_vconn_output(const uint8_t *bytes, size_t len, void *ud)
{
    cl_served *s = ud;
    msg_begin(s->e, MSG_OUTPUT, s->id, 0);
    sb_buf_append(&s->e->out, bytes, len);
    msg_publish(s->e, s->reply, NULL, NULL);
}

static void on_vconn_end(int keep, const uint8_t *bytes, size_t len, void *ud)
{
    cl_served *s = ud;
    uint8_t k = (uint8_t)(keep != 0);
    msg_begin(s->e, MSG_END, s->id, 0);
    sb_buf_append(&s->e->out, &k, 1);
    sb_buf_append(&s->e->out, bytes, len);
    msg_publish(s->e, s->reply, NULL, NULL);
    sb_map_del(&s->e->served, s->key);
    s->v = NULL;
    if (!s->feeding)
        served_free(s);
}

static const eio_vconn_callbacks vconn_callbacks = {on_vconn_output, on_vconn_end};

/* Feeds bytes to s's connection; returns 0, or -1 when that ended it (s is freed). */
static int served_feed(cl_served *s, const uint8_t *data, size_t len)
{
    s->feeding = 1;
    eio_vconn_feed(s->v, data, len);
    s->feeding = 0;
    if (s->v)
        return 0;
    served_free(s);
    return -1;
}

static void serve_request(cl_engine *e, const msg_in *m, const char *key)
{
    cl_served *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->e = e;
    s->id = m->id;
    s->reply = channel_of(e, m->uid, m->uid_len);
    snprintf(s->key, sizeof(s->key), "%s", key);
    s->v = eio_vconn_new(e->srv, &vconn_callbacks, s);
    if (!s->v) { /* shutting down */
        msg_begin(e, MSG_FAILED, m->id, 0);
        msg_publish(e, s->reply, NULL, NULL);
        served_free(s);
        return;
    }
    sb_map_put(&e->served, s->key, s);
    if (served_feed(s, m->data, m->len) == 0 && m->type == MSG_REQUEST && eio_vconn_parked(s->v)) {
        msg_begin(e, MSG_PARKED, m->id, 0);
        msg_publish(e, s->reply, NULL, NULL);
    }
}

/* What a requester says. */
static void on_requester_message(cl_engine *e, const msg_in *m)
{
    char key[CL_ENGINE_KEY_MAX];
    snprintf(key, sizeof(key), "%.*s:%" PRIu64, (int)m->uid_len, m->uid, m->id);
    cl_served *s = sb_map_get(&e->served, key);
    switch (m->type) {
    case MSG_REQUEST:
    case MSG_TUNNEL:
        if (!s)
            serve_request(e, m, key);
        break;
    case MSG_DATA:
        if (s && s->v)
            served_feed(s, m->data, m->len);
        break;
    case MSG_CANCEL:
        if (s && s->v) {
            sb_map_del(&e->served, s->key);
            eio_vconn_close(s->v); /* end() does not run */
            served_free(s);
        }
        break;
    default: break;
    }
}

/* ---- wiring -------------------------------------------------------------------------- */

int cl__engine_on_message(cl_engine *e, const rc_message *m)
{
    size_t n = strlen(e->channel);
    msg_in in;
    if (m->pattern || m->channel_len != n || memcmp(m->channel, e->channel, n) != 0)
        return 0;
    if (m->len < 1)
        return 1;
    int to_owner = m->data[0] == MSG_REQUEST || m->data[0] == MSG_TUNNEL ||
                   m->data[0] == MSG_DATA || m->data[0] == MSG_CANCEL;
    if (msg_parse(m->data, m->len, to_owner, &in)) {
        cl__log(e->cluster, "ignoring a malformed relayed request");
        return 1;
    }
    if (to_owner)
        on_requester_message(e, &in);
    else
        on_owner_message(e, &in);
    return 1;
}

void cl_engine_attach(cl_cluster *c, eio_server *srv)
{
    const eio_config *cfg = eio_server_config(srv);
    cl_engine *e = calloc(1, sizeof(*e));
    if (!e)
        abort();
    e->cluster = c;
    e->srv = srv;
    e->channel = channel_of(e, c->uid, strlen(c->uid));
    e->first_word_ms = cfg->ping_timeout_ms;
    e->parked_ms = (uint64_t)cfg->ping_interval_ms + cfg->ping_timeout_ms;
    sb_map_init(&e->fwds);
    sb_map_init(&e->served);
    sb_list_init(&e->waiting);
    sb_buf_init(&e->out);
    uv_timer_init(c->loop, &e->tick);
    e->tick.data = e;
    uv_unref((uv_handle_t *)&e->tick);
    c->engine = e;
    rc_subscribe(c->conn, e->channel);
    eio_server_set_forwarder(srv, &forwarder, e);
}

static void on_tick_closed(uv_handle_t *h)
{
    cl_engine *e = h->data;
    sb_buf_free(&e->out);
    free(e->channel);
    free(e);
}

/* The server has shut down by now: every relayed request ended with its connection. What
 * is left (a request the server never saw end) is dropped without calling the core. */
void cl__engine_close(cl_engine *e)
{
    cl_fwd *r;
    cl_served *s;
    size_t pos = 0;
    while ((r = sb_map_next(&e->fwds, &pos)) != NULL) {
        fwd_finish(r);
        pos = 0;
    }
    pos = 0;
    while ((s = sb_map_next(&e->served, &pos)) != NULL) {
        sb_map_del(&e->served, s->key);
        served_free(s);
        pos = 0;
    }
    sb_map_free(&e->fwds);
    sb_map_free(&e->served);
    rc_unsubscribe(e->cluster->conn, e->channel);
    e->cluster->engine = NULL;
    uv_close((uv_handle_t *)&e->tick, on_tick_closed);
}
