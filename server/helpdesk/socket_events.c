/* socket_events.c: the client events of /helpdesk (spec §3): support, typing, read, take,
 * transfer, close, status, history, chats.
 *
 * Every handler checks in the same order: the token has not expired (401), the socket is
 * within its rate (429), the payload is well formed (400, 413), the role may do this (403);
 * only then does the store get asked, and only its answer is acknowledged. A refused event
 * changes nothing. typing and read are relayed to the chat room, which the socket must
 * already be in (only the store's decisions put it there); a read is recorded in the store
 * first (the agent side's read seq gives chats its unread counts).
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "contract.h"
#include "message.h"
#include "socket_events.h"

#define HD_US_PER_MS 1000

/* ---- answers ---------------------------------------------------------------------------- */

/* Acks with body (stolen); no ack: nothing. */
static void ack_body(sio_ack *ack, json_t *body)
{
    if (ack) {
        json_t *args = json_pack("[o]", body);
        sio_args a = {args, NULL, 0, NULL, 0};
        sio_ack_send(ack, &a);
        json_decref(args);
    } else {
        json_decref(body);
    }
}

/* {"status_code":200,"data":data} or the error body, as an ack. */
static void ack_result(sio_ack *ack, int status, json_t *data, const char *detail)
{
    if (!ack)
        return;
    json_t *body = status == HD_OK ? json_pack("{s:i,s:O?}", "status_code", status, "data", data)
                                   : hd_error_body(status, detail);
    if (status == HD_ECONFLICT && data)
        json_object_set(body, "data", data);
    ack_body(ack, body);
}

/* ---- checks every event goes through ------------------------------------------------------- */

static int rate_ok(const hd_node *node, hd_client *c)
{
    if (!node->cfg.rate)
        return 1;
    int64_t now = hd_now_ms();
    c->tokens += (double)(now - c->refill_ms) * node->cfg.rate / 1000.0;
    c->refill_ms = now;
    if (c->tokens > node->cfg.burst)
        c->tokens = node->cfg.burst;
    if (c->tokens < 1.0)
        return 0;
    c->tokens -= 1.0;
    return 1;
}

static int precheck(const hd_node *node, hd_client *c)
{
    if (c->exp && c->exp < hd_now_ms() / 1000 - node->cfg.auth.skew_s)
        return HD_EEXPIRED;
    if (!rate_ok(node, c))
        return HD_ERATE;
    return 0;
}

/* Who sends, and where to, by role (spec §3 "support (client to relay)"). */
static int post_identity(const hd_client *c, json_t *payload, hd_post *p, const char **why)
{
    const char *session, *chat;
    if (hd_id_field(payload, "session_id", &session) ||
        hd_id_field(payload, "ticket_chat_id", &chat))
        return *why = "session_id and ticket_chat_id must be short strings or null", HD_EBADREQ;
    p->ticket_chat_id = chat;
    switch (c->role) {
    case HD_ROLE_CUSTOMER:
        if (session && strcmp(session, c->id))
            return *why = "session_id is not the token's", HD_EFORBIDDEN;
        session = c->id;
        break;
    case HD_ROLE_API:
        if (!session)
            return *why = "an API key must name session_id", HD_EBADREQ;
        break;
    case HD_ROLE_AGENT:
    case HD_ROLE_SUPERVISOR:
        if (!chat)
            return *why = "ticket_chat_id is required", HD_EBADREQ;
        p->access.agent_id = c->role == HD_ROLE_AGENT ? c->id : NULL;
        p->sender_type = "agent";
        p->sender_id = c->id;
        p->sender_name = c->name;
        return 0;
    }
    p->session_id = p->access.session_id = session;
    p->sender_type = "customer";
    p->sender_id = session;
    p->sender_name = c->role == HD_ROLE_CUSTOMER ? c->name : NULL;
    p->dept = c->n_depts ? c->depts[0] : NULL;
    return 0;
}

/* ---- async context ----------------------------------------------------------------------------
 */

typedef struct ev_ctx {
    hd_conversations *cv;
    sio_socket *socket; /* referenced */
    sio_ack *ack;       /* owned, may be NULL */
    json_t *client_msg_id;
    json_t *body; /* read: what the chat room hears once the store has recorded it */
    int64_t t0_us;
} ev_ctx;

static ev_ctx *ctx_new(hd_conversations *cv, sio_socket *s, sio_ack *ack)
{
    ev_ctx *x = calloc(1, sizeof(*x));
    if (!x)
        abort();
    x->cv = cv;
    x->socket = sio_socket_ref(s);
    x->ack = ack;
    x->t0_us = (int64_t)uv_hrtime() / 1000;
    return x;
}

static void ctx_free(ev_ctx *x)
{
    if (x->ack)
        sio_ack_free(x->ack);
    json_decref(x->client_msg_id);
    json_decref(x->body);
    sio_socket_unref(x->socket);
    free(x);
}

/* ---- support ----------------------------------------------------------------------------------
 */

static void emit_to(sio_socket *s, const char *event, json_t *body)
{
    json_t *args = json_pack("[O]", body);
    sio_args a = {args, NULL, 0, NULL, 0};
    sio_socket_emit(s, event, &a, 0);
    json_decref(args);
}

/* Failure: to the sender only, as the event and as the ack (spec §3). */
static void support_fail(hd_node *node, sio_socket *s, sio_ack *ack, int status, const char *why,
                         json_t *client_msg_id)
{
    json_t *body = hd_error_body(status, why);
    json_object_set(body, "client_msg_id", client_msg_id ? client_msg_id : json_null());
    if (status != HD_EUNAVAILABLE)
        node->metrics.refused++;
    emit_to(s, "support", body);
    ack_body(ack, body);
}

static void on_support_done(const hd_result *r, void *ud)
{
    ev_ctx *x = ud;
    if (r->status != HD_OK) {
        support_fail(x->cv->node, x->socket, x->ack, r->status, NULL, x->client_msg_id);
        x->ack = NULL;
        ctx_free(x);
        return;
    }
    sio_args a = {NULL, NULL, 0, r->support_args, r->support_args_len};
    if (x->ack)
        sio_ack_send(x->ack, &a); /* encoded once with the room's frame */
    else if (r->duplicate)        /* the retry of a sender that wants no ack: the room's copy was
                                     not sent here again, this socket's node had delivered it */
        sio_socket_emit(x->socket, "support", &a, 0);
    x->ack = NULL;
    hd_metrics_latency(&x->cv->node->metrics, (int64_t)uv_hrtime() / 1000 - x->t0_us);
    ctx_free(x);
}

static void on_support(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                       void *ud)
{
    hd_conversations *cv = ud;
    hd_client *c = hd_client_of(s);
    json_t *payload = json_array_get(args->json, 0);
    json_t *cmid = json_object_get(payload, "client_msg_id");
    hd_post p;
    const char *why = NULL;
    memset(&p, 0, sizeof(p));
    int st = precheck(cv->node, c);
    if (!st)
        st = hd_parse_message(cv->node->cfg.max_message, payload, &p, &why);
    if (!st)
        st = post_identity(c, payload, &p, &why);
    if (st) {
        support_fail(cv->node, s, ack, st, why, json_is_string(cmid) ? cmid : NULL);
        return;
    }
    char msg_id[HD_ULID_LEN + 1], chat_id[HD_CHAT_ID_LEN + 1];
    p.now_ms = hd_now_ms();
    hd_ulid(p.now_ms, msg_id);
    p.msg_id = msg_id;
    if (!p.ticket_chat_id) { /* only a post without a conversation may create one */
        hd_chat_id(p.now_ms, chat_id);
        p.new_chat_id = chat_id;
    }
    ev_ctx *x = ctx_new(cv, s, ack);
    x->client_msg_id = json_incref(json_is_string(cmid) ? cmid : NULL);
    p.customer = p.new_chat_id ? hd_client_customer(c) : NULL; /* who, if it creates one */
    hd_conv_post(cv, &p, on_support_done, x);
    json_decref(p.customer);
}

/* ---- typing and read: relayed to members of the chat room -------------------------------------
 */

/* The chat room of payload's ticket_chat_id into room, when s may speak there. */
static int member_of_chat(hd_client *c, sio_socket *s, json_t *payload, char *room)
{
    const char *chat;
    if (hd_id_field(payload, "ticket_chat_id", &chat) || !chat)
        return HD_EBADREQ;
    hd_room(room, "chat", chat);
    if (c->role != HD_ROLE_API && c->role != HD_ROLE_SUPERVISOR && !sio_socket_in_room(s, room))
        return HD_EFORBIDDEN;
    return 0;
}

/* The room of every socket of the sender (all its tabs), or its own socket for an API key. */
static void sender_room(const hd_client *c, sio_socket *s, char *room)
{
    if (c->role == HD_ROLE_CUSTOMER)
        hd_room(room, "session", c->id);
    else if (c->role == HD_ROLE_API)
        snprintf(room, HD_ROOM_MAX, "%s", sio_socket_id(s));
    else
        hd_room(room, "agent", c->id);
}

static void on_typing(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                      void *ud)
{
    hd_conversations *cv = ud;
    hd_client *c = hd_client_of(s);
    json_t *payload = json_array_get(args->json, 0);
    char room[HD_ROOM_MAX], self[HD_ROOM_MAX];
    int st = precheck(cv->node, c);
    if (!st && !json_is_boolean(json_object_get(payload, "typing")))
        st = HD_EBADREQ;
    if (!st)
        st = member_of_chat(c, s, payload, room);
    if (!st) {
        sender_room(c, s, self);
        json_t *body =
            json_pack("{s:O,s:O}", "ticket_chat_id", json_object_get(payload, "ticket_chat_id"),
                      "typing", json_object_get(payload, "typing"));
        const char *rooms[1] = {room};
        hd_conv_emit(cv, rooms, 1, self, "typing", body, SIO_EMIT_VOLATILE);
        json_decref(body);
    }
    ack_result(ack, st ? st : HD_OK, NULL, NULL);
}

/* The read is recorded first (the agent side's read seq is what chats counts unread
 * from), then the chat room hears it. */
static void on_read_done(const hd_result *r, void *ud)
{
    ev_ctx *x = ud;
    if (r->status == HD_OK) {
        char room[HD_ROOM_MAX];
        hd_room(room, "chat", json_string_value(json_object_get(x->body, "ticket_chat_id")));
        const char *rooms[1] = {room};
        hd_conv_emit(x->cv, rooms, 1, NULL, "read", x->body, 0);
    } else if (r->status != HD_EUNAVAILABLE) {
        x->cv->node->metrics.refused++;
    }
    ack_result(x->ack, r->status, NULL, NULL);
    x->ack = NULL;
    ctx_free(x);
}

static void on_read(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack, void *ud)
{
    hd_conversations *cv = ud;
    hd_client *c = hd_client_of(s);
    json_t *payload = json_array_get(args->json, 0);
    json_t *seq = json_object_get(payload, "seq");
    char room[HD_ROOM_MAX];
    int st = precheck(cv->node, c);
    if (!st && (!json_is_integer(seq) || json_integer_value(seq) < 0))
        st = HD_EBADREQ;
    if (!st)
        st = member_of_chat(c, s, payload, room);
    if (st) {
        ack_result(ack, st, NULL, NULL);
        return;
    }
    /* by: which side read (the room hears its own reads too), so a page can say "Seen" */
    const char *side = c->role == HD_ROLE_CUSTOMER ? "customer" : "agent";
    ev_ctx *x = ctx_new(cv, s, ack);
    x->body = json_pack("{s:O,s:O,s:{s:s,s:s?}}", "ticket_chat_id",
                        json_object_get(payload, "ticket_chat_id"), "seq", seq, "by", "type", side,
                        "id", c->id);
    hd_access access = hd_access_of(c->role, c->id);
    hd_store *store = cv->node->store;
    store->ops->read(store, json_string_value(json_object_get(payload, "ticket_chat_id")), &access,
                     side, json_integer_value(seq), on_read_done, x);
}

/* ---- conversation operations ------------------------------------------------------------------
 */

static void on_op_done(const hd_result *r, void *ud)
{
    ev_ctx *x = ud;
    if (r->status >= 400 && r->status != HD_EUNAVAILABLE)
        x->cv->node->metrics.refused++;
    ack_result(x->ack, r->status, r->list ? r->list : r->conversation, NULL);
    x->ack = NULL;
    ctx_free(x);
}

/* The common start of take, transfer, close, history: checks, and the chat id. */
static int chat_check(const hd_node *node, hd_client *c, json_t *payload, const char **chat)
{
    int st = precheck(node, c);
    if (st)
        return st;
    if (!json_is_object(payload) || hd_id_field(payload, "ticket_chat_id", chat) || !*chat)
        return HD_EBADREQ;
    return 0;
}

static int refuse(hd_node *node, sio_ack *ack, int status)
{
    node->metrics.refused++;
    ack_result(ack, status, NULL, NULL);
    return status;
}

/* The agents' own events: refuses (and returns non-zero) when st is an error or the sender
 * is not an agent, else fills agent. */
static int agent_check(hd_node *node, hd_client *c, sio_ack *ack, int st, hd_agent *agent)
{
    if (!st && c->role != HD_ROLE_AGENT)
        st = HD_EFORBIDDEN;
    if (st)
        return refuse(node, ack, st);
    hd_agent_of(c, agent);
    return 0;
}

static void on_take(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack, void *ud)
{
    hd_conversations *cv = ud;
    hd_client *c = hd_client_of(s);
    const char *chat = NULL;
    hd_agent agent;
    if (agent_check(cv->node, c, ack, chat_check(cv->node, c, json_array_get(args->json, 0), &chat),
                    &agent))
        return;
    hd_conv_take(cv, chat, &agent, on_op_done, ctx_new(cv, s, ack));
}

static void on_transfer(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                        void *ud)
{
    hd_conversations *cv = ud;
    hd_client *c = hd_client_of(s);
    json_t *payload = json_array_get(args->json, 0);
    const char *chat = NULL, *agent_id = NULL, *dept = NULL;
    int st = chat_check(cv->node, c, payload, &chat);
    if (!st && (hd_id_field(payload, "agent_id", &agent_id) || hd_id_field(payload, "dept", &dept)))
        st = HD_EBADREQ;
    if (!st && c->role != HD_ROLE_AGENT && c->role != HD_ROLE_SUPERVISOR && c->role != HD_ROLE_API)
        st = HD_EFORBIDDEN;
    if (st) {
        refuse(cv->node, ack, st);
        return;
    }
    hd_access access = hd_access_of(c->role, c->id);
    hd_conv_transfer(cv, chat, &access, agent_id, dept, on_op_done, ctx_new(cv, s, ack));
}

static void on_close(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack, void *ud)
{
    static const char *const by[] = {"customer", "agent", "agent", "backend"};
    static const char *const reason[] = {"customer", "agent", "agent", "backend"};
    hd_conversations *cv = ud;
    hd_client *c = hd_client_of(s);
    const char *chat = NULL;
    int st = chat_check(cv->node, c, json_array_get(args->json, 0), &chat);
    if (st) {
        refuse(cv->node, ack, st);
        return;
    }
    hd_access access = hd_access_of(c->role, c->id);
    hd_conv_close(cv, chat, &access, by[c->role], reason[c->role], on_op_done, ctx_new(cv, s, ack));
}

static void on_history(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                       void *ud)
{
    hd_conversations *cv = ud;
    hd_client *c = hd_client_of(s);
    json_t *payload = json_array_get(args->json, 0);
    json_t *after = json_object_get(payload, "after_seq"),
           *limit = json_object_get(payload, "limit");
    const char *chat = NULL;
    int st = chat_check(cv->node, c, payload, &chat);
    if (!st && ((after && !json_is_null(after) &&
                 (!json_is_integer(after) || json_integer_value(after) < 0)) ||
                (limit && !json_is_null(limit) &&
                 (!json_is_integer(limit) || json_integer_value(limit) < 1))))
        st = HD_EBADREQ;
    if (st) {
        refuse(cv->node, ack, st);
        return;
    }
    json_int_t n = json_is_integer(limit) ? json_integer_value(limit) : HD_HISTORY_DEFAULT;
    hd_access access = hd_access_of(c->role, c->id);
    hd_store *store = cv->node->store;
    store->ops->history(
        store, chat, &access, json_is_integer(after) ? json_integer_value(after) : 0,
        (size_t)(n > HD_HISTORY_MAX ? HD_HISTORY_MAX : n), on_op_done, ctx_new(cv, s, ack));
}

static void on_status_done(const hd_result *r, void *ud)
{
    ev_ctx *x = ud;
    if (r->status == HD_OK)
        hd_conv_route(x->cv);
    ack_result(x->ack, r->status, NULL, NULL);
    x->ack = NULL;
    ctx_free(x);
}

static void on_status(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                      void *ud)
{
    hd_conversations *cv = ud;
    hd_client *c = hd_client_of(s);
    const char *status =
        json_string_value(json_object_get(json_array_get(args->json, 0), "status"));
    int st = precheck(cv->node, c);
    if (!st && (!status || (strcmp(status, "online") && strcmp(status, "away"))))
        st = HD_EBADREQ;
    hd_agent agent;
    if (agent_check(cv->node, c, ack, st, &agent))
        return;
    hd_store *store = cv->node->store;
    store->ops->agent_presence(store, &agent, 0, !strcmp(status, "online"), hd_now_ms(),
                               on_status_done, ctx_new(cv, s, ack));
}

/* ---- chats: the agent's workspace (spec §3, v1.1) ------------------------------------------- */

/* One entry of chats from a conversation of the store. */
static json_t *chat_entry(json_t *conv)
{
    json_t *customer = json_object_get(conv, "customer");
    json_t *last = json_object_get(conv, "last_message");
    return json_pack("{s:O,s:O,s:O,s:O,s:I,s:I}", "ticket_chat_id",
                     json_object_get(conv, "ticket_chat_id"), "status",
                     json_object_get(conv, "status"), "customer", customer ? customer : json_null(),
                     "last_message", last ? last : json_null(), "last_seq",
                     json_integer_value(json_object_get(conv, "last_seq")), "unread",
                     json_integer_value(json_object_get(conv, "unread")));
}

static void on_chats_done(const hd_result *r, void *ud)
{
    ev_ctx *x = ud;
    if (r->status != HD_OK) {
        on_op_done(r, ud);
        return;
    }
    json_t *list = json_array();
    size_t i;
    json_t *conv;
    json_array_foreach(r->list, i, conv)
    {
        json_t *entry = chat_entry(conv);
        if (entry)
            json_array_append_new(list, entry);
    }
    ack_result(x->ack, HD_OK, list, NULL);
    json_decref(list);
    x->ack = NULL;
    ctx_free(x);
}

/* {} → the agent's open conversations; a supervisor's (and an API key's): every open one. */
static void on_chats(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack, void *ud)
{
    hd_conversations *cv = ud;
    hd_client *c = hd_client_of(s);
    json_t *payload = json_array_get(args->json, 0);
    int st = precheck(cv->node, c);
    if (!st && payload && !json_is_object(payload) && !json_is_null(payload))
        st = HD_EBADREQ;
    if (!st && c->role == HD_ROLE_CUSTOMER)
        st = HD_EFORBIDDEN;
    if (st) {
        refuse(cv->node, ack, st);
        return;
    }
    hd_access who = {NULL, c->role == HD_ROLE_AGENT ? c->id : NULL};
    hd_store *store = cv->node->store;
    store->ops->conversations(store, &who, 1, on_chats_done, ctx_new(cv, s, ack));
}

void hd_events_register(hd_conversations *cv)
{
    sio_namespace_on(cv->node->nsp, "chats", on_chats, cv);
    sio_namespace_on(cv->node->nsp, "support", on_support, cv);
    sio_namespace_on(cv->node->nsp, "typing", on_typing, cv);
    sio_namespace_on(cv->node->nsp, "read", on_read, cv);
    sio_namespace_on(cv->node->nsp, "take", on_take, cv);
    sio_namespace_on(cv->node->nsp, "transfer", on_transfer, cv);
    sio_namespace_on(cv->node->nsp, "close", on_close, cv);
    sio_namespace_on(cv->node->nsp, "status", on_status, cv);
    sio_namespace_on(cv->node->nsp, "history", on_history, cv);
}
