/* cluster_requests.c: the requests of @socket.io/redis-adapter between the nodes of a
 * cluster: those this node makes (fetchSockets, serverSideEmit, broadcasts with acks,
 * remote joins, leaves and disconnects) and the other nodes' it answers.
 *
 * The one idea: requests this node makes that want answers (fetchSockets, serverSideEmit
 * with an answer, broadcasts with acks) are counted like Node counts them: PUBSUB NUMSUB
 * of the request channel is the number of nodes, this one included. The NUMSUB and the
 * PUBLISH leave in the same write; answers that arrive before the count are kept and
 * checked when it comes. A request ends exactly once: all answers in, its timer, a Redis
 * failure (at once: nothing will come), or the adapter going away. Requests from other
 * nodes become calls on the local adapter, their answers a PUBLISH on a response channel.
 */
#include "cluster_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CL_REQUEST_ID_MAX   (CL_UID_LEN + 24) /* uid, '-', a 64-bit counter */
#define CL_RELAY_DEFAULT_MS 60000 /* how long answers to another node's broadcast are relayed */
#define CL_NODES_UNKNOWN    0xffffffffu /* a broadcast with acks before NUMSUB answers */

typedef struct cl_request cl_request;

/* A request of ours awaiting answers from the other nodes. */
struct cl_request {
    int refs;      /* the adapter's map, the NUMSUB in flight, the timer */
    cl_adapter *a; /* NULL once it ended */
    rdap_type type;
    char id[CL_REQUEST_ID_MAX];
    long nodes; /* NUMSUB, -1 until it answers */
    long answers;
    json_t *results; /* fetch: the sockets; server-side emit: the answers */
    sio_fetch_sockets_cb fetch_cb;
    sio_broadcast_ack_cb emit_cb;
    void *ud;
    sio_ack_wait *op; /* broadcast with acks: the core's op */
    int has_timer;
    uv_timer_t timer;
};

/* An answer this node relays for another node's broadcast with acks. */
typedef struct cl_relay {
    cl_cluster *cluster;
    char *request_id;
    char *channel; /* where the requester listens */
} cl_relay;

/* A server-side event from another node whose handler owes an answer. */
typedef struct cl_reply {
    cl_cluster *cluster;
    char *request_id;
    char *channel;
} cl_reply;

/* ---- publishing -------------------------------------------------------------------- */

static void publish_request(cl_adapter *a, const rdap_request *r)
{
    cl_cluster *c = a->cluster;
    sb_buf_reset(&c->out);
    if (rdap_request_encode(r, &c->out) == RDAP_OK)
        cl__publish_out(c, a->ch_request);
}

static void publish_response(cl_cluster *c, const char *channel, const rdap_response *r)
{
    sb_buf_reset(&c->out);
    if (rdap_response_encode(r, &c->out) == RDAP_OK)
        cl__publish_out(c, channel);
}

/* Where to answer a request: the requester's own channel (8.x nodes listen on it), or the
 * shared one when it gave no uid. */
static char *response_channel_for(cl_adapter *a, const char *uid)
{
    sb_buf b;
    sb_buf_init(&b);
    rdap_channel_response(&b, a->cluster->key, a->base.nsp ? sio_namespace_name(a->base.nsp) : "/",
                          uid);
    char *s = cl__buf_string(&b);
    sb_buf_free(&b);
    return s;
}

/* ---- requests of ours ---------------------------------------------------------------- */

static void request_unref(cl_request *r)
{
    if (--r->refs > 0)
        return;
    json_decref(r->results);
    free(r);
}

static void on_request_timer_closed(uv_handle_t *h) { request_unref(h->data); }

/* Ends r once: its callback runs, it leaves the adapter's map, its timer closes. */
static void request_finish(cl_request *r, int status)
{
    cl_adapter *a = r->a;
    if (!a)
        return;
    r->a = NULL;
    sb_map_del(&a->requests, r->id);
    if (r->has_timer) {
        uv_timer_stop(&r->timer);
        uv_close((uv_handle_t *)&r->timer, on_request_timer_closed);
    }
    if (r->fetch_cb)
        r->fetch_cb(status, r->results, r->ud);
    else if (r->emit_cb)
        r->emit_cb(status, r->results, r->ud);
    request_unref(r); /* the map's */
}

/* Fetch and server-side emit: every other node answered. */
static void request_check(cl_request *r)
{
    if (r->op || r->nodes < 0)
        return;
    if (r->answers >= r->nodes - 1)
        request_finish(r, SIO_ACK_OK);
}

static void on_request_timer(uv_timer_t *t) { request_finish(t->data, SIO_ACK_TIMEOUT); }

static cl_request *request_new(cl_adapter *a, rdap_type type, uint32_t timeout_ms)
{
    cl_cluster *c = a->cluster;
    cl_request *r = calloc(1, sizeof(*r));
    if (!r)
        abort();
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
                      void *ud)
{
    cl_request *r = ud;
    long n = -1;
    if (status == RC_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[1]->type == REDIS_REPLY_INTEGER)
        n = (long)reply->element[1]->integer;
    if (r->a && n >= 0) {
        r->nodes = n > 0 ? n : 1;
        if (r->op)
            sio_ack_wait_expect_nodes(r->op, (unsigned)r->nodes);
        else
            request_check(r);
    } else if (r->a && !r->op) {
        request_finish(r, SIO_ACK_TIMEOUT); /* no Redis: no other node will answer */
    }
    request_unref(r);
}

/* Counts the nodes, then (same write) publishes the request. */
static void request_send(cl_request *r, const rdap_request *msg)
{
    cl_adapter *a = r->a;
    r->refs++;
    if (rc_command(a->cluster->conn, on_numsub, r, "PUBSUB NUMSUB %s", a->ch_request) != RC_OK)
        r->refs--;
    publish_request(a, msg);
}

static void collect_local_sockets(int status, json_t *sockets, void *ud)
{
    cl_request *r = ud;
    json_array_extend(r->results, sockets);
}

void cl__fetch_sockets(sio_adapter *base, const sio_target *to, sio_fetch_sockets_cb cb, void *ud)
{
    cl_adapter *a = (cl_adapter *)base;
    cl_request *r = request_new(a, RDAP_REMOTE_FETCH, a->cluster->request_timeout_ms);
    r->results = json_array();
    a->local->ops->fetch_sockets(a->local, to, collect_local_sockets, r);
    r->fetch_cb = cb;
    r->ud = ud;
    rdap_request m;
    rdap_request_init(&m, RDAP_REMOTE_FETCH);
    m.uid = cl__xstrdup(a->cluster->uid);
    m.request_id = cl__xstrdup(r->id);
    cl__opts_from_target(&m.opts, to);
    request_send(r, &m);
    rdap_request_clear(&m);
}

int cl__server_side_emit(sio_adapter *base, const char *event, const sio_args *args,
                         uint32_t timeout_ms, sio_broadcast_ack_cb cb, void *ud)
{
    cl_adapter *a = (cl_adapter *)base;
    if (args->n_attachments > 0)
        return SIO_EINVAL; /* Node sends these as JSON */
    rdap_request m;
    rdap_request_init(&m, RDAP_SERVER_SIDE_EMIT);
    m.uid = cl__xstrdup(a->cluster->uid);
    json_decref(m.data);
    m.data = cl__event_array(event, args);
    if (!cb) {
        publish_request(a, &m);
    } else {
        cl_request *r = request_new(a, RDAP_SERVER_SIDE_EMIT, timeout_ms);
        r->results = json_array();
        r->emit_cb = cb;
        r->ud = ud;
        m.request_id = cl__xstrdup(r->id);
        request_send(r, &m);
    }
    rdap_request_clear(&m);
    return SIOP_OK;
}

static void on_ack_wait_done(void *ud)
{
    cl_request *r = ud;
    cl_adapter *a = r->a;
    r->op = NULL;
    if (a) {
        r->a = NULL;
        sb_map_del(&a->requests, r->id);
        request_unref(r);
    }
}

void cl__requests_end(cl_adapter *a)
{
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
}

int cl__broadcast_ack(sio_adapter *base, const sio_broadcast *b, sio_ack_wait *op)
{
    cl_adapter *a = (cl_adapter *)base;
    int rc = a->local->ops->broadcast_ack(a->local, b, op);
    if (rc != SIOP_OK || (b->flags & SIO_EMIT_LOCAL))
        return rc;
    sio_ack_wait_expect_nodes(op, CL_NODES_UNKNOWN);
    cl_request *r = request_new(a, RDAP_BROADCAST, 0);
    r->op = op;
    sio_ack_wait_on_done(op, on_ack_wait_done, r);
    rdap_request m;
    rdap_request_init(&m, RDAP_BROADCAST);
    m.uid = cl__xstrdup(a->cluster->uid);
    m.request_id = cl__xstrdup(r->id);
    siop_packet_clear(&m.packet);
    cl__packet_fill(&m.packet, base->nsp, b);
    cl__opts_from_target(&m.opts, b->to);
    request_send(r, &m);
    cl__packet_unborrow(&m.packet);
    rdap_request_clear(&m);
    return SIOP_OK;
}

/* rooms to join or leave as a C array (borrowed from r). */
static void cl_rooms_op(cl_adapter *a, rdap_type type, const sio_target *to,
                        const char *const *rooms, size_t n)
{
    rdap_request m;
    rdap_request_init(&m, type);
    m.uid = cl__xstrdup(a->cluster->uid);
    cl__opts_from_target(&m.opts, to);
    for (size_t i = 0; i < n; i++)
        rdap_rooms_add(&m.rooms, rooms[i]);
    publish_request(a, &m);
    rdap_request_clear(&m);
}

void cl__add_sockets(sio_adapter *base, const sio_target *to, const char *const *rooms, size_t n)
{
    cl_adapter *a = (cl_adapter *)base;
    a->local->ops->add_sockets(a->local, to, rooms, n);
    cl_rooms_op(a, RDAP_REMOTE_JOIN, to, rooms, n);
}

void cl__del_sockets(sio_adapter *base, const sio_target *to, const char *const *rooms, size_t n)
{
    cl_adapter *a = (cl_adapter *)base;
    a->local->ops->del_sockets(a->local, to, rooms, n);
    cl_rooms_op(a, RDAP_REMOTE_LEAVE, to, rooms, n);
}

void cl__disconnect_sockets(sio_adapter *base, const sio_target *to, int close_session)
{
    cl_adapter *a = (cl_adapter *)base;
    rdap_request m;
    rdap_request_init(&m, RDAP_REMOTE_DISCONNECT);
    m.uid = cl__xstrdup(a->cluster->uid);
    cl__opts_from_target(&m.opts, to);
    m.close = close_session ? 1 : 0;
    publish_request(a, &m);
    rdap_request_clear(&m);
    a->local->ops->disconnect_sockets(a->local, to, close_session);
}

/* ---- answers to our requests --------------------------------------------------------- */

void cl__on_response_message(cl_adapter *a, const uint8_t *data, size_t len)
{
    cl_cluster *c = a->cluster;
    rdap_response m;
    if (rdap_response_decode(&c->dec, data, len, &m) != RDAP_OK) {
        cl__log(c, "ignoring a malformed response: %s", c->dec.errstr);
        return;
    }
    cl_request *r = m.request_id ? sb_map_get(&a->requests, m.request_id) : NULL;
    if (r && r->op) {
        if (m.type == RDAP_BROADCAST_CLIENT_COUNT && m.client_count >= 0)
            sio_ack_wait_expect(r->op, (size_t)m.client_count);
        else if (m.type == RDAP_BROADCAST_ACK)
            sio_ack_wait_response(r->op, m.ack);
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

static void answer(cl_adapter *a, const rdap_request *req, rdap_response *res)
{
    char *channel = response_channel_for(a, req->uid);
    res->request_id = cl__xstrdup(req->request_id);
    publish_response(a->cluster, channel, res);
    free(channel);
}

static void answer_sockets(json_t *ids, void *ud)
{
    rdap_response *res = ud;
    json_array_extend(res->sockets, ids);
}

static void answer_fetch(int status, json_t *sockets, void *ud)
{
    rdap_response *res = ud;
    json_array_extend(res->sockets, sockets);
}

static void answer_socket_list(cl_adapter *a, const rdap_request *req)
{
    rdap_response res;
    rdap_response_init(&res, req->type);
    if (req->type == RDAP_SOCKETS) {
        sio_target to = {(const char *const *)req->rooms.names, req->rooms.n, NULL, 0};
        a->local->ops->sockets(a->local, &to, answer_sockets, &res);
    } else {
        sio_target to = cl__target_from_opts(&req->opts);
        a->local->ops->fetch_sockets(a->local, &to, answer_fetch, &res);
    }
    answer(a, req, &res);
    rdap_response_clear(&res);
}

static void add_room_name(const char *room, void *ud) { rdap_rooms_add(ud, room); }

static void answer_all_rooms(cl_adapter *a, const rdap_request *req)
{
    rdap_response res;
    rdap_response_init(&res, RDAP_ALL_ROOMS);
    sio_adapter_local_each_room(a->local, add_room_name, &res.rooms);
    answer(a, req, &res);
    rdap_response_clear(&res);
}

/* JOIN, LEAVE, DISCONNECT: by opts (8.x and the emitter; no answer) or, from older nodes,
 * for one socket by sid (answered when that socket is here). */
static void apply_socket_op(cl_adapter *a, const rdap_request *req)
{
    sio_adapter *l = a->local;
    if (req->has_opts) {
        sio_target to = cl__target_from_opts(&req->opts);
        const char *const *rooms = (const char *const *)req->rooms.names;
        if (req->type == RDAP_REMOTE_JOIN && req->rooms.n)
            l->ops->add_sockets(l, &to, rooms, req->rooms.n);
        if (req->type == RDAP_REMOTE_LEAVE && req->rooms.n)
            l->ops->del_sockets(l, &to, rooms, req->rooms.n);
        if (req->type == RDAP_REMOTE_DISCONNECT)
            l->ops->disconnect_sockets(l, &to, req->close == 1);
        return;
    }
    sio_socket *s = req->sid ? sio_namespace_socket(a->base.nsp, req->sid) : NULL;
    if (!s)
        return;
    if (req->type == RDAP_REMOTE_JOIN && req->room)
        sio_socket_join(s, req->room);
    if (req->type == RDAP_REMOTE_LEAVE && req->room)
        sio_socket_leave(s, req->room);
    if (req->type == RDAP_REMOTE_DISCONNECT)
        sio_socket_disconnect(s, req->close == 1);
    if (!req->request_id)
        return;
    rdap_response res;
    rdap_response_init(&res, req->type);
    answer(a, req, &res);
    rdap_response_clear(&res);
}

static void on_server_event_reply(const sio_args *ans, void *ud)
{
    cl_reply *rp = ud;
    if (ans) {
        rdap_response res;
        rdap_response_init(&res, RDAP_SERVER_SIDE_EMIT);
        res.request_id = cl__xstrdup(rp->request_id);
        json_t *first = json_array_get(ans->json, 0);
        res.data = first ? json_incref(first) : NULL;
        publish_response(rp->cluster, rp->channel, &res);
        rdap_response_clear(&res);
    }
    free(rp->request_id);
    free(rp->channel);
    free(rp);
}

static void receive_server_event(cl_adapter *a, const rdap_request *req)
{
    json_t *name = json_array_get(req->data, 0);
    if (!json_is_string(name))
        return;
    json_t *rest = json_array();
    for (size_t i = 1; i < json_array_size(req->data); i++)
        json_array_append(rest, json_array_get(req->data, i));
    sio_args args = {rest, NULL, 0, NULL, 0};
    cl_reply *rp = NULL;
    if (req->request_id) {
        rp = calloc(1, sizeof(*rp));
        if (!rp)
            abort();
        rp->cluster = a->cluster;
        rp->request_id = cl__xstrdup(req->request_id);
        rp->channel = response_channel_for(a, NULL); /* Node answers these on the shared one */
    }
    sio_namespace_receive_server_event(a->base.nsp, json_string_value(name), &args,
                                       rp ? on_server_event_reply : NULL, rp);
    json_decref(rest);
}

static void relay_ack(const sio_args *ans, void *ud)
{
    cl_relay *rl = ud;
    rdap_response res;
    rdap_response_init(&res, RDAP_BROADCAST_ACK);
    res.request_id = cl__xstrdup(rl->request_id);
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

static void relay_done(void *ud)
{
    cl_relay *rl = ud;
    free(rl->request_id);
    free(rl->channel);
    free(rl);
}

/* Node's BROADCAST: deliver with acks here, tell the requester how many clients will
 * answer, then relay each answer. */
static void relay_broadcast(cl_adapter *a, const rdap_request *req)
{
    json_t *name = json_array_get(req->packet.data, 0);
    if (!req->request_id || !json_is_string(name) ||
        strcmp(req->packet.nsp, sio_namespace_name(a->base.nsp)) != 0)
        return;
    cl_relay *rl = calloc(1, sizeof(*rl));
    if (!rl)
        abort();
    rl->cluster = a->cluster;
    rl->request_id = cl__xstrdup(req->request_id);
    rl->channel = response_channel_for(a, req->uid);
    json_t *rest = json_array();
    for (size_t i = 1; i < json_array_size(req->packet.data); i++)
        json_array_append(rest, json_array_get(req->packet.data, i));
    sio_args args = {rest, req->packet.attachments, req->packet.n_attachments, NULL, 0};
    sio_target to = cl__target_from_opts(&req->opts);
    sio_broadcast b = {json_string_value(name), &args, &to, 0};
    sio_ack_wait *op = sio_ack_wait_new_relay(a->base.nsp, relay_ack, rl);
    sio_ack_wait_on_done(op, relay_done, rl);
    if (a->local->ops->broadcast_ack(a->local, &b, op) != SIOP_OK)
        sio_ack_wait_expect(op, 0);
    json_decref(rest);
    rdap_response res;
    rdap_response_init(&res, RDAP_BROADCAST_CLIENT_COUNT);
    res.request_id = cl__xstrdup(req->request_id);
    res.client_count = (int64_t)sio_ack_wait_clients(op);
    publish_response(a->cluster, rl->channel, &res);
    rdap_response_clear(&res);
    json_int_t timeout = json_integer_value(json_object_get(req->opts.flags, RDAP_FLAG_TIMEOUT));
    sio_ack_wait_arm(op,
                     timeout > 0 && timeout < UINT32_MAX ? (uint32_t)timeout : CL_RELAY_DEFAULT_MS);
}

void cl__on_request_message(cl_adapter *a, const uint8_t *data, size_t len)
{
    cl_cluster *c = a->cluster;
    rdap_request req;
    if (rdap_request_decode(&c->dec, data, len, &req) != RDAP_OK) {
        cl__log(c, "ignoring a malformed request: %s", c->dec.errstr);
        return;
    }
    if (!req.uid || strcmp(req.uid, c->uid) != 0) {
        switch (req.type) {
        case RDAP_SOCKETS:
        case RDAP_REMOTE_FETCH:
            if (req.request_id)
                answer_socket_list(a, &req);
            break;
        case RDAP_ALL_ROOMS:
            if (req.request_id)
                answer_all_rooms(a, &req);
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
