/* ack.c: acknowledgements, both directions.
 *
 * Server to client: every emit expecting answers is one sio_ack_wait (a single socket or a
 * broadcast alike). Each recipient socket holds a sio_ack_waiter for it in its list of
 * pending acks, so an answer finds the op by (socket, id) and a disconnection drops the
 * socket's entries. An op completes exactly once: all answers in (or dropped), or its
 * timer fires; it then unlinks whatever entries remain, runs the callback and is freed
 * (after its timer handle has closed, when it had one). Completion never happens inside the
 * emit call: an op that is complete when armed completes on a zero-delay timer.
 *
 * Client to server: a sio_ack is the handle the application answers through; it holds a
 * socket reference, so it stays safe to use after the socket has gone.
 */
#include <stdlib.h>

#include "sio_internal.h"

struct sio_ack_wait {
    sio_server *srv;
    int64_t id;
    sio_socket *single; /* the recipient of a single emit (ref); NULL: broadcast */
    sio_ack_cb single_cb;
    sio_broadcast_ack_cb broadcast_cb; /* NULL for a relay op */
    sio_ack_relay_cb relay;            /* relay op: each answer of a client of this node */
    void *ud;
    void (*on_done)(void *ud); /* sio_ack_wait_on_done() */
    void *on_done_ud;
    json_t *responses; /* broadcast: first argument of each answer */
    size_t expected;   /* recipients reported by the nodes so far */
    size_t answered;
    size_t dropped; /* recipients that left before answering */
    unsigned nodes_expected;
    unsigned nodes_reported;
    sb_list entries; /* entries still waiting, in any socket */
    int armed;
    int done;
    int has_timer;
    uv_timer_t timer;
};

struct sio_ack_waiter {
    sb_list sock_link; /* in sock->acks, oldest first */
    sb_list op_link;   /* in op->entries */
    sio_socket *sock;
    sio_ack_wait *op;
};

struct sio_ack {
    sio_socket *sock; /* reference */
    int64_t id;
};

/* ---- server to client -------------------------------------------------------------- */

static int64_t namespace_next_ack_id(sio_namespace *nsp)
{
    int64_t id = nsp->next_ack_id;
    nsp->next_ack_id = id >= SIOP_MAX_ACK_ID ? 0 : id + 1;
    return id;
}

static sio_ack_wait *op_new(sio_namespace *nsp, void *ud)
{
    sio_ack_wait *op = calloc(1, sizeof(*op));
    if (!op)
        abort();
    op->srv = nsp->srv;
    op->id = namespace_next_ack_id(nsp);
    op->ud = ud;
    op->nodes_expected = 1;
    sb_list_init(&op->entries);
    return op;
}

sio_ack_wait *sio_ack_wait_new_single(sio_socket *s, sio_ack_cb cb, void *ud)
{
    sio_ack_wait *op = op_new(s->nsp, ud);
    op->single = sio_socket_ref(s);
    op->single_cb = cb;
    return op;
}

sio_ack_wait *sio_ack_wait_new_broadcast(sio_namespace *nsp, sio_broadcast_ack_cb cb, void *ud)
{
    sio_ack_wait *op = op_new(nsp, ud);
    op->broadcast_cb = cb;
    op->responses = json_array();
    return op;
}

sio_ack_wait *sio_ack_wait_new_relay(sio_namespace *nsp, sio_ack_relay_cb relay, void *ud)
{
    sio_ack_wait *op = op_new(nsp, ud);
    op->relay = relay;
    return op;
}

void sio_ack_wait_on_done(sio_ack_wait *op, void (*done)(void *ud), void *ud)
{
    op->on_done = done;
    op->on_done_ud = ud;
}

int64_t sio_ack_wait_id(const sio_ack_wait *op) { return op->id; }

static void entry_unlink(sio_ack_waiter *e)
{
    sb_list_remove(&e->sock_link);
    e->sock->n_acks--;
    sb_list_remove(&e->op_link);
    free(e);
}

/* Unlinks every entry of op still waiting. */
static void op_unlink_entries(sio_ack_wait *op)
{
    sio_ack_waiter *e;
    while ((e = SB_LIST_FIRST(&op->entries, sio_ack_waiter, op_link)))
        entry_unlink(e);
}

int sio_socket_track_ack(sio_socket *s, sio_ack_wait *op)
{
    if (s->state != SIO_SOCKET_CONNECTED)
        return SIO_ECLOSED;
    if (s->n_acks >= s->nsp->srv->opts.max_pending_acks)
        return SIO_ELIMIT;
    sio_ack_waiter *e = calloc(1, sizeof(*e));
    if (!e)
        abort();
    e->sock = s;
    e->op = op;
    sb_list_insert_tail(&s->acks, &e->sock_link);
    s->n_acks++;
    sb_list_insert_head(&op->entries, &e->op_link);
    return SIOP_OK;
}

/* Runs the on_done hook once, at completion or, for a cancelled op, when it is freed. */
static void op_notify_done(sio_ack_wait *op)
{
    void (*done)(void *ud) = op->on_done;
    op->on_done = NULL;
    if (done)
        done(op->on_done_ud);
}

static void op_free(sio_ack_wait *op)
{
    op_notify_done(op);
    op_unlink_entries(op);
    json_decref(op->responses);
    if (op->single)
        sio_socket_unref(op->single);
    free(op);
}

static void on_op_timer_closed(uv_handle_t *h)
{
    sio_ack_wait *op = h->data;
    sio_server *srv = op->srv;
    op_free(op);
    srv->handles_open--;
    sio_server_maybe_finish(srv);
}

static int op_ready(const sio_ack_wait *op)
{
    return op->nodes_reported >= op->nodes_expected && op->answered + op->dropped >= op->expected;
}

static void op_complete(sio_ack_wait *op, int status, const sio_args *args)
{
    op->done = 1;
    op_unlink_entries(op);
    if (op->has_timer)
        uv_timer_stop(&op->timer);
    if (op->single)
        op->single_cb(op->single, status, status == SIO_ACK_OK ? args : NULL, op->ud);
    else if (op->broadcast_cb)
        op->broadcast_cb(status, op->responses, op->ud);
    op_notify_done(op);
    if (op->has_timer)
        uv_close((uv_handle_t *)&op->timer, on_op_timer_closed);
    else
        op_free(op);
}

static void op_check(sio_ack_wait *op)
{
    if (op->armed && !op->done && op_ready(op))
        op_complete(op, op->dropped ? SIO_ACK_DISCONNECTED : SIO_ACK_OK, NULL);
}

static void on_op_timer(uv_timer_t *t)
{
    sio_ack_wait *op = t->data;
    if (op->done)
        return;
    if (op_ready(op))
        op_complete(op, op->dropped ? SIO_ACK_DISCONNECTED : SIO_ACK_OK, NULL);
    else
        op_complete(op, SIO_ACK_TIMEOUT, NULL);
}

static void op_timer_start(sio_ack_wait *op, uint64_t ms)
{
    if (!op->has_timer) {
        uv_timer_init(op->srv->loop, &op->timer);
        op->timer.data = op;
        op->has_timer = 1;
        sio_server_handle_opened(op->srv);
    }
    uv_timer_start(&op->timer, on_op_timer, ms, 0);
}

void sio_ack_wait_arm(sio_ack_wait *op, uint32_t timeout_ms)
{
    op->armed = 1;
    if (op_ready(op))
        op_timer_start(op, 0);
    else if (timeout_ms > 0)
        op_timer_start(op, timeout_ms);
}

void sio_ack_wait_cancel(sio_ack_wait *op) { op_free(op); }

void sio_ack_wait_expect_nodes(sio_ack_wait *op, unsigned nodes)
{
    op->nodes_expected = nodes;
    op_check(op);
}

void sio_ack_wait_expect(sio_ack_wait *op, size_t clients)
{
    op->expected += clients;
    op->nodes_reported++;
    op_check(op);
}

size_t sio_ack_wait_clients(const sio_ack_wait *op) { return op->expected; }

void sio_ack_wait_response(sio_ack_wait *op, json_t *first_arg)
{
    if (op->done)
        return;
    json_array_append_new(op->responses, first_arg ? json_incref(first_arg) : json_null());
    op->answered++;
    op_check(op);
}

/* The entry of s waiting for the answer id, or NULL. */
static sio_ack_waiter *socket_entry_of(sio_socket *s, int64_t id)
{
    sb_list *q;
    SB_LIST_FOREACH(q, &s->acks)
    {
        sio_ack_waiter *e = SB_LIST_DATA(q, sio_ack_waiter, sock_link);
        if (e->op->id == id)
            return e;
    }
    return NULL;
}

/* Answers with an unknown or already used id are ignored, as in Node. */
void sio_socket_on_ack(sio_socket *s, int64_t id, const sio_args *args)
{
    sio_ack_waiter *e = socket_entry_of(s, id);
    if (!e)
        return;
    sio_ack_wait *op = e->op;
    entry_unlink(e);
    if (op->single) {
        op->answered++;
        op_complete(op, SIO_ACK_OK, args);
    } else {
        if (op->relay && !op->done)
            op->relay(args, op->ud);
        sio_ack_wait_response(op, json_array_get(args->json, 0));
    }
}

void sio_socket_drop_acks(sio_socket *s)
{
    sio_ack_waiter *e;
    while ((e = SB_LIST_FIRST(&s->acks, sio_ack_waiter, sock_link))) {
        sio_ack_wait *op = e->op;
        entry_unlink(e);
        op->dropped++;
        op_check(op);
    }
}

/* ---- client to server -------------------------------------------------------------- */

sio_ack *sio_ack_new(sio_socket *s, int64_t id)
{
    sio_ack *ack = malloc(sizeof(*ack));
    if (!ack)
        abort();
    ack->sock = sio_socket_ref(s);
    ack->id = id;
    return ack;
}

sio_socket *sio_ack_socket(const sio_ack *ack) { return ack->sock; }

void sio_ack_free(sio_ack *ack)
{
    if (!ack)
        return;
    sio_socket_unref(ack->sock);
    free(ack);
}

int sio_ack_send(sio_ack *ack, const sio_args *args)
{
    sio_socket *s = ack->sock;
    int rc = SIO_ECLOSED;
    if (args && args->json && !json_is_array(args->json)) {
        rc = SIO_EINVAL;
    } else if (s->state == SIO_SOCKET_CONNECTED && s->client && args && args->text &&
               !args->n_attachments) {
        rc = sio_client_send_ack_text(s->client, s->nsp->name, ack->id, args->text, args->text_len);
    } else if (s->state == SIO_SOCKET_CONNECTED && s->client) {
        size_t n = args ? args->n_attachments : 0;
        siop_packet p;
        siop_packet_init(&p);
        p.type = n > 0 ? SIOP_PACKET_BINARY_ACK : SIOP_PACKET_ACK;
        p.nsp = s->nsp->name;
        p.id = ack->id;
        p.data = args && args->json ? json_incref(args->json) : json_array();
        p.n_attachments = n;
        p.attachments = n > 0 ? (siop_attachment *)args->attachments : NULL;
        rc = sio_client_send_packet(s->client, &p);
        json_decref(p.data);
    }
    sio_ack_free(ack);
    return rc;
}
