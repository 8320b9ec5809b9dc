/* cluster_recovery.c: connection state recovery for the cluster adapter: sessions and
 * the broadcasts they may miss, kept in Redis.
 *
 * The one idea: recovery (--recovery-window) lives in Redis so that any node can
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
#include "cluster_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CL_STREAM_FIELD "b" /* the field of a stream entry: the broadcast */

/* KEYS: session, stream; ARGV: offset, COUNT. Nil when the session is unknown or the
 * offset is no longer in the stream (packets after it may be gone); else {session, the
 * entries after offset}. */
static const char CL_RESTORE_SCRIPT[] =
    "local s = redis.call('GETDEL', KEYS[1]) "
    "if not s then return nil end "
    "if #redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1]) == 0 then return nil end "
    "return {s, redis.call('XRANGE', KEYS[2], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])}";

/* A recoverable broadcast waiting for its stream id. */
struct cl_pending {
    sb_list link;     /* in cl_adapter.pending while a is set */
    cl_adapter *a;    /* NULL once the adapter is gone: nothing to deliver to */
    rdap_broadcast m; /* owned, attachments included; no offset yet */
};

/* A restore waiting for Redis. */
struct cl_restore {
    sb_list link;  /* in cl_adapter.restores while a is set */
    cl_adapter *a; /* NULL once the adapter is gone (cb has run) */
    sio_restore_cb cb;
    void *ud;
};

/* ---- recoverable broadcasts (see the file comment) ---------------------------------- */

/* Gives p copies of the attachments it borrows, so that it can outlive the call. */
static void packet_own_attachments(siop_packet *p)
{
    siop_attachment *v = calloc(p->n_attachments ? p->n_attachments : 1, sizeof(*v));
    if (!v)
        abort();
    for (size_t i = 0; i < p->n_attachments; i++) {
        v[i].data = malloc(p->attachments[i].len ? p->attachments[i].len : 1);
        if (!v[i].data)
            abort();
        if (p->attachments[i].len)
            memcpy(v[i].data, p->attachments[i].data, p->attachments[i].len);
        v[i].len = p->attachments[i].len;
    }
    p->attachments = v;
}

static void pending_free(cl_pending *p)
{
    rdap_broadcast_clear(&p->m);
    free(p);
}

/* Delivers p here and to the other nodes, with offset as last argument (NULL: none, the
 * stream could not take it; the packet is then not recoverable). */
static void pending_send(cl_adapter *a, cl_pending *p, const char *offset)
{
    if (offset)
        json_array_append_new(p->m.packet.data, json_string(offset));
    cl__deliver(a, &p->m.packet, &p->m.opts);
    cl__publish_broadcast(a, &p->m);
}

static void on_xadd(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                    void *ud)
{
    cl_pending *p = ud;
    cl_adapter *a = p->a;
    if (a) {
        cl_cluster *c = a->cluster;
        sb_list_remove(&p->link);
        int ok = status == RC_OK && reply->type == REDIS_REPLY_STRING;
        if (ok) {
            c->xadd_failed_logged = 0;
        } else if (!c->xadd_failed_logged) {
            c->xadd_failed_logged = 1;
            cl__log(c, "recovery stream unavailable (%s): broadcasts go out without offsets",
                    errstr ? errstr : rc_strerror(status));
        }
        pending_send(a, p, ok ? reply->str : NULL);
    }
    pending_free(p);
}

/* Appends b to the stream; delivery waits for the stream id (on_xadd). */
int cl__broadcast_recoverable(cl_adapter *a, const sio_broadcast *b)
{
    cl_cluster *c = a->cluster;
    sio_frame f;
    if (sio_frame_encode(&f, a->base.nsp, SIOP_NO_ACK, b->event, b->args) != SIOP_OK)
        return SIO_EINVAL;
    sio_frame_release(&f);
    cl_pending *p = calloc(1, sizeof(*p));
    if (!p)
        abort();
    cl__broadcast_fill(a, &p->m, b);
    packet_own_attachments(&p->m.packet);
    sb_buf_reset(&c->out);
    if (rdap_broadcast_encode(&p->m, &c->out) != RDAP_OK) {
        pending_free(p);
        return SIO_EINVAL;
    }
    if (rc_command(c->conn, on_xadd, p, "XADD %s MAXLEN ~ %s * " CL_STREAM_FIELD " %b", a->stream,
                   a->max_len, (const char *)c->out.data, c->out.len) != RC_OK) {
        pending_send(a, p, NULL);
        pending_free(p);
        return SIOP_OK;
    }
    p->a = a;
    sb_list_insert_head(&a->pending, &p->link);
    return SIOP_OK;
}

/* ---- sessions in Redis (see the file comment) ---------------------------------------- */

static char *session_key(const cl_adapter *a, const char *pid)
{
    sb_buf b;
    sb_buf_init(&b);
    sb_buf_append_str(&b, a->session_prefix);
    sb_buf_append_str(&b, pid);
    char *s = cl__buf_string(&b);
    sb_buf_free(&b);
    return s;
}

static void take_description(int status, json_t *sockets, void *ud)
{
    json_t **out = ud;
    json_t *d = json_array_get(sockets, 0);
    if (d)
        *out = json_incref(d);
}

/* {sid, pid, rooms, data} of s, from the local adapter's description of it. */
static json_t *session_json(cl_adapter *a, sio_socket *s)
{
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
                              const char *errstr, void *ud)
{
    cl_cluster *c = ud;
    if (status != RC_OK && status != RC_ERR_CLOSED)
        cl__log(c, "a session could not be kept for recovery (%s)",
                errstr ? errstr : rc_strerror(status));
}

void cl__persist_session(sio_adapter *base, sio_socket *s)
{
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

static int names_intersect(const rdap_rooms *r, char *const *names, size_t n)
{
    for (size_t i = 0; i < r->n; i++)
        for (size_t j = 0; j < n; j++)
            if (strcmp(r->names[i], names[j]) == 0)
                return 1;
    return 0;
}

/* Node's shouldIncludePacket: sent to everyone or to one of the session's rooms, and none
 * of the session's rooms excluded. */
static int packet_for(const rdap_opts *o, const sio_recovery_record *sess)
{
    int included = o->rooms.n == 0 || names_intersect(&o->rooms, sess->rooms, sess->n_rooms);
    return included && !names_intersect(&o->except, sess->rooms, sess->n_rooms);
}

static int copy_id(char out[SIO_ID_LEN + 1], const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s || strlen(s) > SIO_ID_LEN)
        return 0;
    memcpy(out, s, strlen(s) + 1);
    return 1;
}

/* The session stored by cl__persist_session, without packets; NULL when malformed. */
static sio_recovery_record *session_parse(const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    json_t *rooms = json_object_get(j, "rooms");
    sio_recovery_record *sess = calloc(1, sizeof(*sess));
    if (!sess)
        abort();
    sess->rooms = calloc(json_array_size(rooms) + 1, sizeof(char *));
    if (!sess->rooms)
        abort();
    int ok = j && json_is_array(rooms) && copy_id(sess->sid, json_object_get(j, "sid")) &&
             copy_id(sess->pid, json_object_get(j, "pid"));
    for (size_t i = 0; ok && i < json_array_size(rooms); i++) {
        const char *name = json_string_value(json_array_get(rooms, i));
        if (!name)
            ok = 0;
        else if (!(sess->rooms[sess->n_rooms++] = strdup(name)))
            abort();
    }
    json_t *data = json_object_get(j, "data");
    sess->data = data ? json_incref(data) : json_object();
    json_decref(j);
    if (ok)
        return sess;
    sio_recovery_record_free(sess);
    return NULL;
}

/* Adds the packet of stream entry [id, [field, value, ...]] to sess->missed when it was
 * for the session's rooms. 0 when the entry is malformed. */
static int replay_entry(cl_adapter *a, sio_recovery_record *sess, const redisReply *e)
{
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
        rdap_broadcast_decode(&a->cluster->dec, (const uint8_t *)value->str, value->len, &m) !=
            RDAP_OK)
        return 0;
    int ok = 1;
    if (packet_for(&m.opts, sess)) {
        json_array_append_new(m.packet.data, json_string(e->element[0]->str));
        json_t *rest;
        const char *event = cl__packet_event(&m.packet, &rest);
        sio_args args = {rest, m.packet.attachments, m.packet.n_attachments, NULL, 0};
        ok = event && sio_frame_encode(&sess->missed[sess->n_missed], a->base.nsp, SIOP_NO_ACK,
                                       event, &args) == SIOP_OK;
        if (event)
            json_decref(rest);
        if (ok)
            sess->n_missed++;
    }
    rdap_broadcast_clear(&m);
    return ok;
}

/* The answer of CL_RESTORE_SCRIPT as a session with its packets, or NULL. */
static sio_recovery_record *session_from_reply(cl_adapter *a, const redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    const redisReply *entries = reply->element[1];
    if (entries->elements > a->max_packets)
        return NULL; /* more followed: not all are there */
    sio_recovery_record *sess = session_parse(reply->element[0]->str, reply->element[0]->len);
    if (!sess)
        return NULL;
    sess->missed = calloc(entries->elements ? entries->elements : 1, sizeof(sio_frame));
    if (!sess->missed)
        abort();
    for (size_t i = 0; i < entries->elements; i++) {
        if (!replay_entry(a, sess, entries->element[i])) {
            sio_recovery_record_free(sess);
            return NULL;
        }
    }
    return sess;
}

static void on_restore_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                             void *ud)
{
    cl_restore *r = ud;
    cl_adapter *a = r->a;
    if (!a) { /* answered when the adapter went away */
        free(r);
        return;
    }
    sb_list_remove(&r->link);
    sio_recovery_record *sess = status == RC_OK ? session_from_reply(a, reply) : NULL;
    sio_restore_cb cb = r->cb;
    void *cb_ud = r->ud;
    free(r);
    cb(sess, cb_ud);
}

/* Like Node's redis-streams-adapter, a client without an offset is not restored: where it
 * stood in the stream is unknown. */
void cl__restore_session(sio_adapter *base, const char *pid, const char *offset, sio_restore_cb cb,
                         void *ud)
{
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
    if (!r)
        abort();
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
    sb_list_insert_head(&a->restores, &r->link);
}

/* Pending broadcasts are dropped (their callbacks free them); pending restores end now. */
void cl__recovery_detach(cl_adapter *a)
{
    cl_pending *p;
    while ((p = SB_LIST_FIRST(&a->pending, cl_pending, link)) != NULL) {
        sb_list_remove(&p->link);
        p->a = NULL;
    }
    cl_restore *r;
    while ((r = SB_LIST_FIRST(&a->restores, cl_restore, link)) != NULL) {
        sb_list_remove(&r->link);
        r->a = NULL;
        r->cb(NULL, r->ud);
    }
    free(a->stream);
    free(a->session_prefix);
}

/* key, kind, nsp, then '#': named like the channels, so --redis-prefix covers them. */
static char *recovery_key(const char *key, const char *kind, const char *nsp)
{
    sb_buf b;
    sb_buf_init(&b);
    sb_buf_append_str(&b, key);
    sb_buf_append_str(&b, kind);
    sb_buf_append_str(&b, nsp);
    sb_buf_append_byte(&b, '#');
    char *s = cl__buf_string(&b);
    sb_buf_free(&b);
    return s;
}

/* Sets up recovery in Redis when the window is on. */
void cl__recovery_init(cl_adapter *a, const char *name)
{
    const sio_options *opts = sio_server_options(sio_namespace_server(a->base.nsp));
    if (opts->recovery_window_ms == 0)
        return;
    a->stream = recovery_key(a->cluster->key, "-stream#", name);
    a->session_prefix = recovery_key(a->cluster->key, "-session#", name);
    a->max_packets = opts->recovery_max_packets;
    snprintf(a->max_len, sizeof(a->max_len), "%zu", a->max_packets);
    snprintf(a->max_replay, sizeof(a->max_replay), "%zu", a->max_packets + 1);
    snprintf(a->window, sizeof(a->window), "%" PRIu32, opts->recovery_window_ms);
}
