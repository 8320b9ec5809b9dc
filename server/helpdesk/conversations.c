/* conversations.c: carrying out what the store decided about conversations: a message
 * posted, a conversation taken, transferred, closed (by a client, the backend or the
 * inactivity sweep), and auto routing's assignments.
 *
 * The store takes every decision atomically (store.h); this file makes the decision
 * visible: sockets join and leave chat rooms cluster-wide (through the adapter, so the
 * sockets of other nodes follow too), and the contract's events go out: support, inquiry,
 * assigned, closed, and to the customers waiting in the queue, queued. Nothing is emitted
 * or acknowledged before the store has answered 200.
 * Every wrapper hands the store's result to its caller last, so an ack never overtakes
 * the delivery it confirms.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "conversations.h"
#include "message.h"

#define HD_QUEUE_PERIOD_MS 1000 /* passes start at least this far apart */
#define HD_QUEUE_IDLE_MS   2000 /* between passes while the queue was seen empty */

typedef struct hd_op {
    hd_conversations *cv;
    hd_result_cb cb;
    void *ud;
} hd_op;

static hd_op *op_new(hd_conversations *cv, hd_result_cb cb, void *ud)
{
    hd_op *op = calloc(1, sizeof(*op));
    if (!op)
        abort();
    op->cv = cv;
    op->cb = cb;
    op->ud = ud;
    return op;
}

static void op_finish(hd_op *op, const hd_result *r)
{
    if (r->status == HD_EUNAVAILABLE)
        op->cv->node->metrics.store_errors++;
    if (op->cb)
        op->cb(r, op->ud);
    free(op);
}

/* A node that cannot reach every other node (its pub/sub link is down while its store link
 * is up, say, right after Redis came back) must not store what it cannot deliver: the
 * change is refused as the store's own outage would be, and the client retries. */
static int refuse_unready(hd_conversations *cv, hd_result_cb cb, void *ud)
{
    if (hd_node_ready(cv->node))
        return 0;
    hd_result r;
    memset(&r, 0, sizeof(r));
    r.status = HD_EUNAVAILABLE;
    cv->node->metrics.store_errors++;
    if (cb)
        cb(&r, ud);
    return 1;
}

static const char *str_field(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int is_queued(json_t *conv)
{
    const char *status = str_field(conv, "status");
    return status && !strcmp(status, "queued");
}

void hd_conv_emit(hd_conversations *cv, const char *const *rooms, size_t n, const char *except,
                  const char *event, json_t *payload, int flags)
{
    if (!payload)
        return;
    const char * not [1] = {except};
    sio_target to = {rooms, n, not, except ? 1 : 0};
    json_t *args = json_pack("[O]", payload);
    sio_args a = {args, NULL, 0, NULL, 0};
    sio_namespace_emit(cv->node->nsp, &to, event, &a, flags);
    json_decref(args);
}

/* Every socket in room `who` joins (or leaves) room `chat`, on every node. */
static void room_follow(hd_conversations *cv, const char *who, const char *chat, int join)
{
    const char *from[1] = {who};
    const char *rooms[1] = {chat};
    sio_target to = {from, 1, NULL, 0};
    if (join)
        sio_namespace_sockets_join(cv->node->nsp, &to, rooms, 1);
    else
        sio_namespace_sockets_leave(cv->node->nsp, &to, rooms, 1);
}

static void queue_schedule(hd_conversations *cv, int soon);

void hd_conv_init(hd_conversations *cv, hd_node *node, hd_delivery *delivery)
{
    cv->node = node;
    cv->delivery = delivery;
    sb_buf_init(&cv->scratch);
    sb_map_init(&cv->queue.sent);
    uv_timer_init(sio_server_loop(node->srv), &cv->queue.timer);
    cv->queue.timer.data = cv;
    cv->queue.timer_open = 1;
    queue_schedule(cv, 0);
}

void hd_conv_stop(hd_conversations *cv)
{
    if (!cv->queue.timer_open)
        return;
    cv->queue.timer_open = 0;
    uv_close((uv_handle_t *)&cv->queue.timer, NULL);
}

void hd_conv_free(hd_conversations *cv)
{
    void *sent;
    size_t pos = 0;
    while ((sent = sb_map_next(&cv->queue.sent, &pos)) != NULL)
        free(sent);
    sb_map_free(&cv->queue.sent);
    sb_buf_free(&cv->scratch);
}

/* ---- announcements ------------------------------------------------------------------------ */

/* Where a conversation's inquiry goes: its department's agents, or every agent. */
static const char *inquiry_room(json_t *conv, char room[HD_ROOM_MAX])
{
    const char *dept = str_field(conv, "dept");
    if (!dept)
        return "agents";
    hd_room(room, "dept", dept);
    return room;
}

/* The queue lost a conversation (assigned, or closed while queued): the agents who heard its
 * inquiry hear "inquiry_removed" {ticket_chat_id, reason}, so their queues drop it. */
static void announce_dequeued(hd_conversations *cv, json_t *conv, const char *reason)
{
    char room[HD_ROOM_MAX];
    const char *rooms[1] = {inquiry_room(conv, room)};
    json_t *body = json_pack("{s:O,s:s}", "ticket_chat_id", json_object_get(conv, "ticket_chat_id"),
                             "reason", reason);
    if (body)
        hd_conv_emit(cv, rooms, 1, NULL, "inquiry_removed", body, 0);
    json_decref(body);
}

static void announce_inquiry(hd_conversations *cv, json_t *conv)
{
    char room[HD_ROOM_MAX];
    const char *rooms[1] = {inquiry_room(conv, room)};
    json_t *customer = json_object_get(conv, "customer");
    json_t *inq = json_pack(
        "{s:O,s:O,s:O,s:O,s:O,s:O}", "ticket_chat_id", json_object_get(conv, "ticket_chat_id"),
        "session_id", json_object_get(conv, "session_id"), "dept", json_object_get(conv, "dept"),
        "first_message", json_object_get(conv, "first_message"), "queued_at",
        json_object_get(conv, "queued_at"), "customer", customer ? customer : json_null());
    if (inq)
        hd_conv_emit(cv, rooms, 1, NULL, "inquiry", inq, 0);
    json_decref(inq);
}

/* A conversation the store just assigned: its agent's sockets join the chat room; the
 * chat room hears "assigned", and the agent its own copy, with the customer (as the store
 * keeps it with the conversation, spec §3) and last_seq,
 * after which each node with the agent's sockets sends them the backlog (delivery.c). */
static void apply_assignment(hd_conversations *cv, json_t *conv)
{
    char chat[HD_ROOM_MAX], agent_room[HD_ROOM_MAX], session[HD_ROOM_MAX];
    const char *chat_id = str_field(conv, "ticket_chat_id");
    const char *session_id = str_field(conv, "session_id");
    json_t *agent = json_object_get(conv, "agent");
    const char *agent_id = str_field(agent, "id");
    if (!chat_id || !agent_id)
        return;
    hd_room(chat, "chat", chat_id);
    hd_room(agent_room, "agent", agent_id);
    room_follow(cv, agent_room, chat, 1);
    if (session_id) {
        hd_room(session, "session", session_id);
        room_follow(cv, session, chat, 1);
    }
    const char *rooms[1] = {chat};
    json_t *body = json_pack("{s:s,s:O}", "ticket_chat_id", chat_id, "agent", agent);
    hd_conv_emit(cv, rooms, 1, agent_room, "assigned", body, 0);
    json_decref(body);
    announce_dequeued(cv, conv, "assigned");
    rooms[0] = agent_room;
    json_t *customer = json_object_get(conv, "customer");
    body = json_pack("{s:s,s:O,s:O,s:I}", "ticket_chat_id", chat_id, "agent", agent, "customer",
                     customer ? customer : json_null(), "last_seq",
                     json_integer_value(json_object_get(conv, "last_seq")));
    hd_conv_emit(cv, rooms, 1, NULL, "assigned", body, 0);
    json_decref(body);
}

/* A store's answer that may change rooms and emit: it succeeded, and the node is not stopping
 * (once stopped, the namespaces are freed before the store's last replies arrive). */
static int answer_applies(const hd_conversations *cv, const hd_result *r)
{
    return r->status == HD_OK && !cv->node->stopped;
}

/* ---- auto routing ------------------------------------------------------------------------- */

static void on_routed(const hd_result *r, void *ud)
{
    hd_conversations *cv = ud;
    size_t i;
    json_t *conv;
    cv->routing = 0;
    if (!answer_applies(cv, r))
        return;
    json_array_foreach(r->list, i, conv) apply_assignment(cv, conv);
    if (cv->route_again || json_array_size(r->list) > 0)
        hd_conv_route(cv);
}

void hd_conv_route(hd_conversations *cv)
{
    if (cv->node->cfg.manual_routing || cv->node->stopped)
        return;
    if (cv->routing) {
        cv->route_again = 1;
        return;
    }
    cv->routing = 1;
    cv->route_again = 0;
    cv->node->store->ops->route(cv->node->store, hd_now_ms(), on_routed, cv);
}

/* ---- messages ------------------------------------------------------------------------------ */

static int append_text(const char *buffer, size_t size, void *data)
{
    sb_buf_append(data, buffer, size);
    return 0;
}

/* The support event's arguments as text: the message's own text (the store's, or
 * jansson's writing of it) inside the fixed envelope [{"status_code":200,"data":…}]. */
static void support_text(const hd_result *r, sb_buf *out)
{
    static const char head[] = "[{\"status_code\":200,\"data\":";
    sb_buf_append(out, head, sizeof(head) - 1);
    if (r->message_text) {
        sb_buf_append(out, r->message_text, r->message_text_len);
    } else {
        json_dump_callback(r->message, append_text, out, JSON_COMPACT);
    }
    sb_buf_append(out, "}]", 2);
}

/* The stored message to its chat room, then to the sender's callback: the arguments are
 * encoded once, for the room's frame and for the sender's ack. */
static void support_emit(hd_conversations *cv, const char *chat, hd_op *op, const hd_result *r)
{
    sb_buf *text = &cv->scratch;
    /* the tree is what other nodes get; without one the core parses the text if it must */
    json_t *args =
        r->message ? json_pack("[{s:i,s:O}]", "status_code", HD_OK, "data", r->message) : NULL;
    sb_buf_reset(text);
    support_text(r, text);
    const char *rooms[1] = {chat};
    sio_target to = {rooms, 1, NULL, 0};
    sio_args a = {args, NULL, 0, (const char *)text->data, text->len};
    cv->delivery->emit_chat = r->chat_id;
    cv->delivery->emit_seq = r->seq;
    sio_namespace_emit(cv->node->nsp, &to, "support", &a, 0);
    cv->delivery->emit_chat = NULL;
    hd_result done = *r;
    done.support_args = a.text;
    done.support_args_len = a.text_len;
    op_finish(op, &done);
    json_decref(args);
}

/* A stored message goes to its chat room, a retry's too (spec §3, v1.1: delivery is at
 * least once; whoever has it drops the repeat by id, and each node drops what it already
 * delivered, delivery.c). A conversation created now: the session's sockets join it, the
 * agents hear the inquiry, and the assignments made in the same step are carried out
 * before the message goes, so that the agent gets it live. */
static void on_posted(const hd_result *r, void *ud)
{
    hd_op *op = ud;
    hd_conversations *cv = op->cv;
    size_t i;
    json_t *conv;
    if (r->status == HD_OK && cv->node->stopped) {
        /* Stored, but not delivered: the sender is told to retry, and its retry (same
         * client_msg_id, on another node) gets the stored message. */
        hd_result unavailable = *r;
        unavailable.status = HD_EUNAVAILABLE;
        op_finish(op, &unavailable);
        return;
    }
    if (r->status != HD_OK || !r->chat_id) {
        op_finish(op, r);
        return;
    }
    char chat[HD_ROOM_MAX], session[HD_ROOM_MAX];
    const char *session_id = str_field(r->conversation, "session_id");
    hd_room(chat, "chat", r->chat_id);
    if (!r->duplicate)
        cv->node->metrics.messages_stored++;
    if (r->created && session_id) {
        hd_room(session, "session", session_id);
        room_follow(cv, session, chat, 1);
    }
    if (r->created) {
        announce_inquiry(cv, r->conversation);
        json_array_foreach(r->list, i, conv) apply_assignment(cv, conv);
        if (is_queued(r->conversation))
            queue_schedule(cv, 1);
    }
    support_emit(cv, chat, op, r);
    cv->node->metrics.messages_out++;
    if (r->created)
        hd_conv_route(cv);
}

void hd_conv_post(hd_conversations *cv, const hd_post *p, hd_result_cb cb, void *ud)
{
    hd_store *store = cv->node->store;
    cv->node->metrics.messages_in++;
    if (refuse_unready(cv, cb, ud))
        return;
    hd_post routed = *p;
    routed.assign = !cv->node->cfg.manual_routing;
    store->ops->post(store, &routed, on_posted, op_new(cv, cb, ud));
}

/* ---- take, transfer, close --------------------------------------------------------------------
 */

static void on_taken(const hd_result *r, void *ud)
{
    hd_op *op = ud;
    if (answer_applies(op->cv, r))
        apply_assignment(op->cv, r->conversation);
    op_finish(op, r);
}

void hd_conv_take(hd_conversations *cv, const char *chat_id, const hd_agent *agent, hd_result_cb cb,
                  void *ud)
{
    hd_store *store = cv->node->store;
    if (refuse_unready(cv, cb, ud))
        return;
    store->ops->take(store, chat_id, agent, hd_now_ms(), on_taken, op_new(cv, cb, ud));
}

/* The previous agent hears that it was moved, whoever moved it (a supervisor, the backend, a
 * transfer to a department): "transferred" {ticket_chat_id, from, agent, dept} to the chat
 * room and its sockets, before they leave the room. */
static void leave_previous_agent(hd_conversations *cv, const hd_result *r)
{
    char chat[HD_ROOM_MAX], agent_room[HD_ROOM_MAX];
    const char *chat_id = str_field(r->conversation, "ticket_chat_id");
    if (!r->previous_agent || !chat_id)
        return;
    hd_room(chat, "chat", chat_id);
    hd_room(agent_room, "agent", r->previous_agent);
    json_t *agent = json_object_get(r->conversation, "agent");
    json_t *dept = json_object_get(r->conversation, "dept");
    json_t *body = json_pack(
        "{s:s,s:s,s:O,s:O}", "ticket_chat_id", chat_id, "from", r->previous_agent, "agent",
        json_is_object(agent) ? agent : json_null(), "dept", dept ? dept : json_null());
    const char *rooms[2] = {chat, agent_room};
    hd_conv_emit(cv, rooms, 2, NULL, "transferred", body, 0);
    json_decref(body);
    room_follow(cv, agent_room, chat, 0);
}

static void on_transferred(const hd_result *r, void *ud)
{
    hd_op *op = ud;
    hd_conversations *cv = op->cv;
    if (answer_applies(cv, r)) {
        leave_previous_agent(cv, r);
        if (json_is_object(json_object_get(r->conversation, "agent")))
            apply_assignment(cv, r->conversation);
        else
            announce_inquiry(cv, r->conversation);
        if (is_queued(r->conversation))
            queue_schedule(cv, 1);
    }
    op_finish(op, r);
    if (answer_applies(cv, r))
        hd_conv_route(cv);
}

void hd_conv_transfer(hd_conversations *cv, const char *chat_id, const hd_access *access,
                      const char *agent_id, const char *dept, hd_result_cb cb, void *ud)
{
    hd_store *store = cv->node->store;
    if (refuse_unready(cv, cb, ud))
        return;
    store->ops->transfer(store, chat_id, access, agent_id, dept, hd_now_ms(), on_transferred,
                         op_new(cv, cb, ud));
}

/* "closed" to the chat room, then everyone leaves it. */
static void announce_closed(hd_conversations *cv, json_t *conv)
{
    char chat[HD_ROOM_MAX];
    const char *chat_id = str_field(conv, "ticket_chat_id");
    if (!chat_id)
        return;
    hd_room(chat, "chat", chat_id);
    const char *rooms[1] = {chat};
    json_t *body =
        json_pack("{s:s,s:O,s:O}", "ticket_chat_id", chat_id, "by",
                  json_object_get(conv, "closed_by"), "reason", json_object_get(conv, "reason"));
    hd_conv_emit(cv, rooms, 1, NULL, "closed", body, 0);
    json_decref(body);
    room_follow(cv, chat, chat, 0);
}

static void on_closed(const hd_result *r, void *ud)
{
    hd_op *op = ud;
    hd_conversations *cv = op->cv;
    if (answer_applies(cv, r)) {
        announce_closed(cv, r->conversation);
        if (!r->previous_agent) /* it was in the queue */
            announce_dequeued(cv, r->conversation, "closed");
    }
    op_finish(op, r);
    if (answer_applies(cv, r))
        hd_conv_route(cv);
}

void hd_conv_close(hd_conversations *cv, const char *chat_id, const hd_access *access,
                   const char *by, const char *reason, hd_result_cb cb, void *ud)
{
    hd_store *store = cv->node->store;
    if (refuse_unready(cv, cb, ud))
        return;
    store->ops->close_chat(store, chat_id, access, by, reason, hd_now_ms(), on_closed,
                           op_new(cv, cb, ud));
}

static void on_swept(const hd_result *r, void *ud)
{
    hd_op *op = ud;
    hd_conversations *cv = op->cv;
    size_t i;
    json_t *conv;
    if (answer_applies(cv, r)) {
        json_array_foreach(r->list, i, conv)
        {
            announce_closed(cv, conv);
            if (!json_is_object(json_object_get(conv, "agent"))) /* it was in the queue */
                announce_dequeued(cv, conv, "closed");
        }
    }
    op_finish(op, r);
    if (answer_applies(cv, r) && json_array_size(r->list)) {
        hd_conv_route(cv);
        hd_conv_sweep(cv); /* a store closes a bounded batch per call: until none is left */
    }
}

void hd_conv_sweep(hd_conversations *cv)
{
    hd_store *store = cv->node->store;
    if (cv->node->stopped)
        return;
    store->ops->sweep(store, hd_now_ms(), (int64_t)cv->node->cfg.inactivity_s * 1000, on_swept,
                      op_new(cv, NULL, NULL));
}

/* ---- queued: the customers waiting in the queue ------------------------------------------- *
 * A pass: the queue (oldest first) gives each conversation its position, 1 + the older
 * ones of its department (no department counting with no department); those whose
 * customer has a socket on this node (each node tells its own, so no customer hears it
 * twice) get agents_online from queue_status of their department, asked once per
 * department; the ones whose position or agents_online differ from what this node last
 * told them hear queued. What was told of a conversation no longer in the queue (or with
 * no customer here) is forgotten, so the memory follows the queue. */

typedef struct queue_sent {
    int64_t position, agents_online;
    uint64_t pass; /* the last pass that saw it queued with a customer here */
    char chat_id[];
} queue_sent;

typedef struct queue_cand {
    const char *chat_id, *session_id; /* borrowed from the pass's list */
    int64_t position;
    size_t dept; /* index in the pass's departments */
} queue_cand;

typedef struct queue_pass {
    hd_conversations *cv;
    json_t *list; /* the queue (referenced) */
    queue_cand *cands;
    size_t n_cands;
    const char **depts; /* the candidates' departments, once each (NULL: none) */
    int64_t *online;    /* their agents_online; -1: the store did not answer */
    size_t n_depts, next;
    int calling, returned; /* queue_status answered before returning */
} queue_pass;

static void on_queue_timer(uv_timer_t *t);

static void queue_schedule(hd_conversations *cv, int soon)
{
    hd_queue_feedback *q = &cv->queue;
    if (cv->node->stopped || !q->timer_open)
        return;
    if (q->running) {
        q->kicked |= soon;
        return;
    }
    uint64_t now = uv_now(q->timer.loop);
    uint64_t due = q->last_pass + (soon || q->busy ? HD_QUEUE_PERIOD_MS : HD_QUEUE_IDLE_MS);
    uv_timer_start(&q->timer, on_queue_timer, due > now ? due - now : 0, 0);
}

static void queue_pass_free(queue_pass *p)
{
    json_decref(p->list);
    free(p->cands);
    free(p->depts);
    free(p->online);
    free(p);
}

/* The end of a pass: the next one is scheduled. */
static void queue_pass_done(hd_conversations *cv, int busy)
{
    hd_queue_feedback *q = &cv->queue;
    int soon = q->kicked;
    q->running = 0;
    q->kicked = 0;
    q->busy = busy;
    queue_schedule(cv, soon);
}

/* Forgets what was told of conversations the latest pass did not see. */
static void queue_forget(hd_queue_feedback *q)
{
    queue_sent *e, **gone = NULL;
    size_t n = 0, pos = 0;
    while ((e = sb_map_next(&q->sent, &pos)) != NULL) {
        if (e->pass == q->pass)
            continue;
        queue_sent **g = realloc(gone, (n + 1) * sizeof(*g));
        if (!g)
            abort();
        gone = g;
        gone[n++] = e;
    }
    for (size_t i = 0; i < n; i++) {
        sb_map_del(&q->sent, gone[i]->chat_id);
        free(gone[i]);
    }
    free(gone);
}

static void queue_tell(hd_conversations *cv, const queue_cand *c, int64_t online)
{
    hd_queue_feedback *q = &cv->queue;
    queue_sent *e = sb_map_get(&q->sent, c->chat_id);
    if (!e) {
        size_t len = strlen(c->chat_id);
        e = calloc(1, sizeof(*e) + len + 1);
        if (!e)
            abort();
        memcpy(e->chat_id, c->chat_id, len + 1);
        e->position = e->agents_online = -1;
        sb_map_put(&q->sent, e->chat_id, e);
    }
    e->pass = q->pass;
    if (online < 0 || (e->position == c->position && e->agents_online == online))
        return;
    e->position = c->position;
    e->agents_online = online;
    char room[HD_ROOM_MAX];
    hd_room(room, "session", c->session_id);
    const char *rooms[1] = {room};
    json_t *body = json_pack("{s:s,s:I,s:I}", "ticket_chat_id", c->chat_id, "position",
                             (json_int_t)c->position, "agents_online", (json_int_t)online);
    hd_conv_emit(cv, rooms, 1, NULL, "queued", body, SIO_EMIT_LOCAL);
    json_decref(body);
}

static void queue_emit(queue_pass *p)
{
    hd_conversations *cv = p->cv;
    if (!cv->node->stopped) {
        for (size_t i = 0; i < p->n_cands; i++)
            queue_tell(cv, &p->cands[i], p->online[p->cands[i].dept]);
        queue_forget(&cv->queue);
    }
    queue_pass_done(cv, json_array_size(p->list) > 0);
    queue_pass_free(p);
}

static void queue_status_next(queue_pass *p);

static void on_queue_status(const hd_result *r, void *ud)
{
    queue_pass *p = ud;
    json_t *n = json_object_get(r->conversation, "agents_online");
    p->online[p->next++] = r->status == HD_OK && json_is_integer(n) ? json_integer_value(n) : -1;
    if (p->calling)
        p->returned = 1; /* answered at once: the loop in queue_status_next goes on */
    else
        queue_status_next(p);
}

/* agents_online of each department in turn, without recursing when the store answers at
 * once (the memory store does). */
static void queue_status_next(queue_pass *p)
{
    hd_store *store = p->cv->node->store;
    while (p->next < p->n_depts && !p->cv->node->stopped) {
        p->calling = 1;
        p->returned = 0;
        store->ops->queue_status(store, p->depts[p->next], hd_now_ms(), on_queue_status, p);
        p->calling = 0;
        if (!p->returned)
            return;
    }
    queue_emit(p);
}

/* The index of dept among the pass's departments, added when new. */
static size_t queue_dept(queue_pass *p, sb_map *seen, size_t *null_ix, const char *dept)
{
    size_t ix = dept ? (size_t)(uintptr_t)sb_map_get(seen, dept) : *null_ix;
    if (ix)
        return ix - 1;
    p->depts[p->n_depts] = dept;
    p->online[p->n_depts] = -1;
    ix = ++p->n_depts;
    if (dept)
        sb_map_put(seen, dept, (void *)(uintptr_t)ix);
    else
        *null_ix = ix;
    return ix - 1;
}

/* Positions from the queue, and the candidates: the conversations with a customer here. */
static void queue_positions(queue_pass *p)
{
    sb_map count, seen;
    size_t n = json_array_size(p->list), i, null_count = 0, null_ix = 0;
    json_t *inq;
    sb_map_init(&count);
    sb_map_init(&seen);
    p->cands = calloc(n ? n : 1, sizeof(*p->cands));
    p->depts = calloc(n ? n : 1, sizeof(*p->depts));
    p->online = calloc(n ? n : 1, sizeof(*p->online));
    if (!p->cands || !p->depts || !p->online)
        abort();
    json_array_foreach(p->list, i, inq)
    {
        const char *dept = str_field(inq, "dept");
        size_t before = dept ? (size_t)(uintptr_t)sb_map_get(&count, dept) : null_count;
        if (dept)
            sb_map_put(&count, dept, (void *)(uintptr_t)(before + 1));
        else
            null_count++;
        const char *chat_id = str_field(inq, "ticket_chat_id");
        const char *session_id = str_field(inq, "session_id");
        char room[HD_ROOM_MAX];
        if (!chat_id || !session_id)
            continue;
        hd_room(room, "session", session_id);
        if (!sio_namespace_has_local_room(p->cv->node->nsp, room))
            continue;
        queue_cand *c = &p->cands[p->n_cands++];
        c->chat_id = chat_id;
        c->session_id = session_id;
        c->position = (int64_t)before + 1;
        c->dept = queue_dept(p, &seen, &null_ix, dept);
    }
    sb_map_free(&count);
    sb_map_free(&seen);
}

static void on_queue_list(const hd_result *r, void *ud)
{
    hd_conversations *cv = ud;
    if (r->status != HD_OK || cv->node->stopped) {
        queue_pass_done(cv, cv->queue.busy);
        return;
    }
    queue_pass *p = calloc(1, sizeof(*p));
    if (!p)
        abort();
    p->cv = cv;
    p->list = json_incref(r->list);
    cv->queue.pass++;
    queue_positions(p);
    queue_status_next(p);
}

static void on_queue_timer(uv_timer_t *t)
{
    hd_conversations *cv = t->data;
    hd_queue_feedback *q = &cv->queue;
    if (cv->node->stopped || q->running)
        return;
    q->running = 1;
    q->kicked = 0;
    q->last_pass = uv_now(t->loop);
    cv->node->store->ops->inquiries(cv->node->store, on_queue_list, cv);
}
