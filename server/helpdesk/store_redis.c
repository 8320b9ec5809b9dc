/* store_redis.c: the Redis hd_store (see store_redis.h).
 *
 * The one idea: C only packs arguments and unpacks answers. Each operation becomes a
 * store_call holding the script's arguments, sent as EVALSHA; the script's answer (JSON, or
 * post's short array) becomes the hd_result, anything else is 503. A post, the one call
 * run for every message, keeps the message it built and completes it with the seq and
 * ids the script answers, rather than have the script send the stored message back.
 *
 * Every script is loaded (SCRIPT LOAD) whenever the connection becomes ready. A call that
 * still meets NOSCRIPT (the cache was flushed under a live connection) loads its script
 * and is sent again behind the load, and only then as EVAL: thousands of pipelined calls
 * falling back to EVAL at once would each carry the whole script.
 *
 * A post answered 503 stores nothing, even when Redis only stalled: each post carries a
 * deadline on Redis's clock (the node keeps the offset between its clock and Redis's, read
 * with TIME at every heartbeat), and the script refuses a post that starts after it. The
 * deadline falls a third of the node's own command timeout before it (a clock offset read
 * within a round trip is far closer than that), so a post the node gives up on (503) is
 * one Redis refuses when it gets to it, however late.
 *
 * Callbacks never run inside the call that started an operation: failures found before
 * anything is sent (bad input, out of memory) wait in a queue for the next loop turn.
 * Closing waits until every call sent has been answered.
 */
#include "store_redis.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "countdown.h"
#include "defer.h"
#include "message.h"
#include "redis_conn.h"
#include "store_redis_scripts.h"

#define HD_REDIS_ARGS_MAX    24 /* EVALSHA, sha, numkeys and the script's ARGV */
#define HD_REDIS_FENCE_SHARE 3  /* a post's deadline: a third of the timeout before it */
#define HD_REDIS_HEAD_ARGS   3  /* EVALSHA|EVAL, sha|body, numkeys: not in the call's bytes */
/* argument bytes a call holds in itself: a typical post (64 bytes of text) allocates nothing more
 * for them */
#define HD_REDIS_INLINE_ARGS        512
#define HD_REDIS_SHA_HEX            40
#define HD_REDIS_INT_LEN            24 /* an int64 in decimal, with sign and NUL */
#define HD_REDIS_HEARTBEATS_PER_TTL 3  /* liveness refreshes per presence ttl */
#define HD_REDIS_DEFAULT_NODE       "node"

typedef struct hd_redis_store hd_redis_store;

/* How a call is sent: its script by hash, again after loading it, then in full. */
typedef enum hd_send { HD_SEND_SHA, HD_SEND_SHA_LOADED, HD_SEND_EVAL } hd_send;

/* One operation in flight: the script's arguments (kept for the EVAL fallback), all in
 * one buffer, so that building a call costs one allocation rather than one per argument. */
typedef struct store_call {
    hd_redis_store *st;
    hd_script_id script;
    hd_result_cb cb;
    void *ud;
    hd_send send;
    int status;                     /* failed queue: the status to answer */
    json_t *message;                /* post: the message, completed by the answer */
    int argc;                       /* from HD_REDIS_HEAD_ARGS on, in args */
    size_t offs[HD_REDIS_ARGS_MAX]; /* where each argument starts in args */
    size_t lens[HD_REDIS_ARGS_MAX];
    char *args; /* inline_args, or allocated once outgrown */
    size_t args_len, args_cap;
    sb_list link; /* in st->failed's queue */
    char inline_args[HD_REDIS_INLINE_ARGS];
} store_call;

struct hd_redis_store {
    hd_store base; /* first: an hd_store * is an hd_redis_store * */
    rc_conn *conn;
    char *prefix;
    char *node;     /* "<node_id>:<ULID>": this instance in presence */
    char *node_key; /* prefix "node:" node: its liveness key */
    uint32_t ttl_ms;
    uint32_t command_timeout_ms; /* rc's, defaults applied */
    int64_t clock_offset_ms;     /* Redis's clock minus this node's */
    int clock_known;             /* a TIME has been answered */
    char sha[HD_SCRIPT_COUNT][HD_REDIS_SHA_HEX + 1];
    uv_timer_t heartbeat;
    sb_defer failed; /* calls refused before sending, answered on the next turn */
    size_t inflight; /* calls sent and not answered yet */
    int closing;
    int goodbye_sent;
    sb_countdown closed; /* the handles and the connection, at close */
    void (*done)(void *ud);
    void *done_ud;
};

static const hd_store_ops redis_ops;

/* ---- the failed queue ---- */

static void call_free(store_call *call)
{
    if (call->args != call->inline_args)
        free(call->args);
    json_decref(call->message);
    free(call);
}

static void call_answer_status(store_call *call, int status)
{
    hd_result r;
    memset(&r, 0, sizeof r);
    r.status = status;
    call->cb(&r, call->ud);
    call_free(call);
}

static void on_failed(sb_list *link, void *ud)
{
    store_call *call = SB_LIST_DATA(link, store_call, link);
    (void)ud;
    call_answer_status(call, call->status);
}

static void call_fail_later(store_call *call, int status)
{
    call->status = status;
    sb_defer_push(&call->st->failed, &call->link);
}

/* ---- building and sending an operation ---- */

/* Room for n more argument bytes (a pointer to it), or NULL with the status set. */
static char *call_reserve(store_call *call, size_t n)
{
    if (call->args_cap - call->args_len >= n)
        return call->args + call->args_len;
    size_t cap = call->args_cap * 2 > call->args_len + n ? call->args_cap * 2 : call->args_len + n;
    char *grown = call->args == call->inline_args ? malloc(cap) : realloc(call->args, cap);
    if (grown == NULL) {
        call->status = HD_EUNAVAILABLE;
        return NULL;
    }
    if (call->args == call->inline_args)
        memcpy(grown, call->args, call->args_len);
    call->args = grown;
    call->args_cap = cap;
    return call->args + call->args_len;
}

/* The len bytes at the end of args (reserved, then written) become the next argument. */
static void call_push(store_call *call, size_t len)
{
    call->offs[call->argc] = call->args_len;
    call->lens[call->argc++] = len;
    call->args_len += len;
}

/* Copies len bytes of s as the next argument; the status says out of memory. */
static void call_add(store_call *call, const char *s, size_t len)
{
    char *at = call->argc < HD_REDIS_ARGS_MAX ? call_reserve(call, len) : NULL;
    if (at == NULL) {
        call->status = HD_EUNAVAILABLE;
        return;
    }
    memcpy(at, s, len);
    call_push(call, len);
}

/* NULL travels as '' (the scripts' arg() reads it back as nil). */
static void call_add_str(store_call *call, const char *s)
{
    call_add(call, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

static void call_add_int(store_call *call, int64_t v)
{
    char buf[HD_REDIS_INT_LEN];
    call_add(call, buf, (size_t)snprintf(buf, sizeof buf, "%" PRId64, v));
}

/* j as compact JSON, written straight into the call's bytes; -1 (status set) on failure. */
static int call_add_json(store_call *call, const json_t *j)
{
    if (call->argc >= HD_REDIS_ARGS_MAX) {
        call->status = HD_EUNAVAILABLE;
        return -1;
    }
    size_t room = call->args_cap - call->args_len;
    size_t n = json_dumpb(j, call->args + call->args_len, room, JSON_COMPACT);
    if (n > room) {
        if (call_reserve(call, n) == NULL)
            return -1;
        n = json_dumpb(j, call->args + call->args_len, n, JSON_COMPACT);
    }
    if (n == 0) {
        call->status = HD_EBADREQ;
        return -1;
    }
    call_push(call, n);
    return 0;
}

/* A new operation with the arguments every script starts with; NULL only when out of
 * memory, after answering 503 (the one answer that cannot wait for the next turn). */
static store_call *call_start(hd_redis_store *st, hd_script_id script, int64_t now_ms,
                              hd_result_cb cb, void *ud)
{
    store_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        hd_result r = {.status = HD_EUNAVAILABLE};
        cb(&r, ud);
        return NULL;
    }
    char iso[HD_TIME_LEN + 1] = "";
    if (now_ms > 0)
        hd_time_iso(now_ms, iso);
    call->st = st;
    call->script = script;
    call->cb = cb;
    call->ud = ud;
    call->status = HD_OK;
    call->argc = HD_REDIS_HEAD_ARGS;
    call->args = call->inline_args;
    call->args_cap = sizeof call->inline_args;
    call_add_str(call, st->prefix);
    call_add_int(call, now_ms);
    call_add_str(call, iso);
    return call;
}

static void on_call_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                          void *ud);
static void goodbye_when_idle(hd_redis_store *st);

static int call_issue(store_call *call)
{
    hd_redis_store *st = call->st;
    int eval = call->send == HD_SEND_EVAL;
    const char *argv[HD_REDIS_ARGS_MAX];
    argv[0] = eval ? "EVAL" : "EVALSHA";
    argv[1] = eval ? hd_scripts[call->script].body : st->sha[call->script];
    argv[2] = "0"; /* numkeys: keys come from the prefix (see the header) */
    call->lens[0] = strlen(argv[0]);
    call->lens[1] = strlen(argv[1]);
    call->lens[2] = 1;
    for (int i = HD_REDIS_HEAD_ARGS; i < call->argc; i++)
        argv[i] = call->args + call->offs[i];
    return rc_command_argv(st->conn, on_call_reply, call, call->argc, argv, call->lens);
}

/* Sends call, or queues its failure: a status set while building, or a closing store. */
static void call_send(store_call *call)
{
    if (call->status == HD_OK && (call->st->closing || call_issue(call) != RC_OK))
        call->status = HD_EUNAVAILABLE;
    if (call->status != HD_OK)
        call_fail_later(call, call->status);
    else
        call->st->inflight++;
}

/* Pipelined after this, EVALSHA finds the script. */
static void script_load(hd_redis_store *st, hd_script_id script)
{
    rc_command(st->conn, NULL, NULL, "SCRIPT LOAD %s", hd_scripts[script].body);
}

/* ---- answers ---- */

/* An answer decoded: the result, and the JSON it borrows (released after the callback). */
typedef struct hd_answer {
    hd_result r;
    json_t *owned[3]; /* what r borrows from: parsed answers */
} hd_answer;

static json_t *non_null(json_t *v) { return json_is_null(v) ? NULL : v; }

/* A script's JSON answer as a->r. -1 when it is not one. */
static int json_answer(const redisReply *reply, hd_answer *a)
{
    if (reply->type != REDIS_REPLY_STRING)
        return -1;
    json_t *root = a->owned[0] = json_loadb(reply->str, reply->len, 0, NULL);
    json_t *status = json_object_get(root, "status");
    if (!json_is_integer(status))
        return -1;
    a->r.status = (int)json_integer_value(status);
    a->r.message = non_null(json_object_get(root, "message"));
    a->r.conversation = non_null(json_object_get(root, "conversation"));
    a->r.list = non_null(json_object_get(root, "list"));
    a->r.duplicate = (int)json_integer_value(json_object_get(root, "duplicate"));
    a->r.created = (int)json_integer_value(json_object_get(root, "created"));
    a->r.previous_agent = json_string_value(json_object_get(root, "previous_agent"));
    return 0;
}

/* The post script's answer (see hd_lua_post): its status alone, or these. */
enum {
    POST_STATUS,
    POST_SEQ,
    POST_CHAT,
    POST_SESSION,
    POST_DUPLICATE,
    POST_CREATED,
    POST_CONVERSATION,
    POST_STORED,
    POST_ASSIGNED,
    POST_FIELDS /* their count */
};

/* JSON the script answers as it stored it; NULL when the element is none. */
static json_t *reply_json(const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING ? json_loadb(e->str, e->len, 0, NULL) : NULL;
}

/* call's message completed with what only the script knew, as it appended them: the node
 * hands on the message that was stored, without reading it back. NULL when the answer
 * lacks them. */
static json_t *post_message(store_call *call, redisReply *const *f)
{
    const redisReply *seq = f[POST_SEQ], *chat = f[POST_CHAT], *sess = f[POST_SESSION];
    if (seq->type != REDIS_REPLY_INTEGER || chat->type != REDIS_REPLY_STRING ||
        (sess->type != REDIS_REPLY_STRING && sess->type != REDIS_REPLY_NIL))
        return NULL;
    json_t *m = call->message;
    json_t *session =
        sess->type == REDIS_REPLY_NIL ? json_null() : json_stringn(sess->str, sess->len);
    if (json_object_set_new(m, "ticket_chat_id", json_stringn(chat->str, chat->len)) != 0 ||
        json_object_set_new(m, "session_id", session) != 0 ||
        json_object_set_new(m, "seq", json_integer(seq->integer)) != 0)
        return NULL;
    return m;
}

/* The post script's answer as a->r: JSON is parsed only for a conversation it created or
 * a duplicate's stored message. -1 when it is not one. */
static int post_answer(store_call *call, const redisReply *reply, hd_answer *a)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0 ||
        reply->element[POST_STATUS]->type != REDIS_REPLY_INTEGER)
        return -1;
    a->r.status = (int)reply->element[POST_STATUS]->integer;
    if (a->r.status != HD_OK)
        return 0;
    redisReply *const *f = reply->element;
    if (reply->elements != POST_FIELDS || f[POST_DUPLICATE]->type != REDIS_REPLY_INTEGER ||
        f[POST_CREATED]->type != REDIS_REPLY_INTEGER)
        return -1;
    a->r.duplicate = f[POST_DUPLICATE]->integer != 0;
    a->r.created = f[POST_CREATED]->integer != 0;
    if (a->r.created) {
        a->r.conversation = a->owned[0] = reply_json(f[POST_CONVERSATION]);
        if (a->r.conversation == NULL)
            return -1;
        a->r.list = a->owned[2] = reply_json(f[POST_ASSIGNED]);
    }
    if (a->r.duplicate)
        a->r.message = a->owned[1] = reply_json(f[POST_STORED]);
    else
        a->r.message = post_message(call, f);
    a->r.chat_id = f[POST_CHAT]->str;
    a->r.seq = f[POST_SEQ]->type == REDIS_REPLY_INTEGER ? f[POST_SEQ]->integer : 0;
    if (f[POST_STORED]->type == REDIS_REPLY_STRING) {
        a->r.message_text = f[POST_STORED]->str;
        a->r.message_text_len = f[POST_STORED]->len;
    }
    return a->r.message != NULL ? 0 : -1;
}

static void call_answer_reply(store_call *call, int status, const redisReply *reply,
                              const char *errstr)
{
    hd_answer a;
    memset(&a, 0, sizeof a);
    int ok = status == RC_OK && (call->script == HD_SCRIPT_POST ? post_answer(call, reply, &a)
                                                                : json_answer(reply, &a)) == 0;
    if (!ok) {
        memset(&a.r, 0, sizeof a.r);
        a.r.status = HD_EUNAVAILABLE;
        /* A script error or a malformed answer is a bug or Redis out of memory, not an
         * outage (those are the connection's to log). */
        if (status == RC_ERR_REPLY || status == RC_OK)
            fprintf(stderr, "helpdesk store: %s script failed: %s\n", hd_scripts[call->script].name,
                    status == RC_OK ? "unexpected answer" : errstr);
    }
    hd_redis_store *st = call->st;
    call->cb(&a.r, call->ud);
    for (size_t i = 0; i < sizeof(a.owned) / sizeof(a.owned[0]); i++)
        json_decref(a.owned[i]);
    call_free(call);
    st->inflight--;
    goodbye_when_idle(st);
}

static void on_call_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                          void *ud)
{
    store_call *call = ud;
    (void)conn;
    if (status == RC_ERR_REPLY && call->send != HD_SEND_EVAL &&
        strncmp(errstr, "NOSCRIPT", 8) == 0) {
        if (call->send++ == HD_SEND_SHA)
            script_load(call->st, call->script);
        if (call_issue(call) == RC_OK)
            return;
        status = RC_ERR_CLOSED;
    }
    call_answer_reply(call, status, reply, errstr);
}

/* ---- input checks (400), before anything is sent ---- */

/* Valid UTF-8: results are JSON, and jansson refuses anything else. */
static int text_ok(const char *s)
{
    json_t *j = s != NULL ? json_string(s) : NULL;
    json_decref(j);
    return j != NULL;
}

static int id_ok(const char *s)
{
    return s != NULL && s[0] != '\0' && strnlen(s, HD_ID_MAX + 1) <= HD_ID_MAX && text_ok(s);
}

static int optional_id_ok(const char *s) { return s == NULL || id_ok(s); }

static int agent_ok(const hd_agent *a)
{
    if (a == NULL || !id_ok(a->id) || (a->name != NULL && !text_ok(a->name)) || a->max_chats < 1)
        return 0;
    for (size_t i = 0; i < a->n_depts; i++)
        if (!id_ok(a->depts[i]))
            return 0;
    return 1;
}

/* A post without a conversation id may create one: it needs a session and an id to give. */
static int post_ok(const hd_post *p)
{
    if (p->ticket_chat_id == NULL &&
        (!id_ok(p->session_id) || !id_ok(p->new_chat_id) || !optional_id_ok(p->dept) ||
         (p->customer != NULL && !json_is_object(p->customer))))
        return 0;
    return optional_id_ok(p->client_msg_id);
}

/* A string member of obj, or null (borrowed). */
static json_t *member_string(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? v : json_null();
}

/* An object member of obj, or null (borrowed). */
static json_t *member_object(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_object(v) ? v : json_null();
}

/* ---- the operations ---- */

static hd_redis_store *store_of(hd_store *base) { return (hd_redis_store *)base; }

static void call_add_access(store_call *call, const hd_access *a)
{
    call_add_str(call, a != NULL ? a->session_id : NULL);
    call_add_str(call, a != NULL ? a->agent_id : NULL);
}

/* The message without ticket_chat_id, session_id and seq, which only the script knows
 * for sure (a customer's first message creates the conversation; an agent's names it by
 * id only): kept in call for the answer to complete, and sent without its closing brace,
 * for the script appends them. */
static void call_add_message(store_call *call, const hd_post *p)
{
    call->message = hd_message_build(p, "", NULL, 0);
    if (call->message == NULL) {
        call->status = HD_EBADREQ;
        return;
    }
    json_object_del(call->message, "ticket_chat_id");
    json_object_del(call->message, "session_id");
    json_object_del(call->message, "seq");
    if (call_add_json(call, call->message) == 0)
        call->lens[call->argc - 1]--; /* the closing brace */
}

/* The customer object a conversation created by p keeps (store.h), normalized, and the
 * name the script gives one made from the session when there is none; sent only by a
 * post that names no conversation (the one kind that may create it), '' otherwise. */
static void call_add_customer(store_call *call, const hd_post *p)
{
    const char *name = NULL;
    if (p->ticket_chat_id == NULL && json_is_object(p->customer)) {
        json_t *c = json_pack("{s:s,s:O,s:O,s:O}", "session_id", p->session_id, "name",
                              member_string(p->customer, "name"), "email",
                              member_string(p->customer, "email"), "fields",
                              member_object(p->customer, "fields"));
        if (c == NULL || call_add_json(call, c) != 0)
            call->status = HD_EBADREQ;
        json_decref(c);
    } else {
        call_add_str(call, NULL);
        if (p->ticket_chat_id == NULL && p->sender_type != NULL &&
            strcmp(p->sender_type, "customer") == 0)
            name = p->sender_name;
    }
    call_add_str(call, name);
}

/* Whose read seq a post advances: the poster has read up to its own message. */
static const char *post_reader(const hd_post *p)
{
    if (p->sender_type != NULL && strcmp(p->sender_type, "agent") == 0)
        return "agent";
    if (p->sender_type != NULL && strcmp(p->sender_type, "customer") == 0)
        return "customer";
    return NULL;
}

static void redis_post(hd_store *base, const hd_post *p, hd_result_cb cb, void *ud)
{
    store_call *call = call_start(store_of(base), HD_SCRIPT_POST, p->now_ms, cb, ud);
    if (call == NULL)
        return;
    call_add_str(call, p->ticket_chat_id);
    call_add_str(call, p->session_id);
    call_add_str(call, p->dept);
    call_add_access(call, &p->access);
    call_add_str(call, p->client_msg_id);
    call_add_str(call, p->new_chat_id);
    call_add_message(call, p);
    call_add_str(call, p->assign ? "1" : "0");
    call_add_int(call, HD_REDIS_ROUTE_MAX);
    if (call->st->clock_known) /* see the file comment */
        call_add_int(call, hd_now_ms() + call->st->clock_offset_ms +
                               (int64_t)call->st->command_timeout_ms -
                               call->st->command_timeout_ms / HD_REDIS_FENCE_SHARE);
    else
        call_add_str(call, NULL);
    call_add_customer(call, p);
    call_add_str(call, post_reader(p));
    if (!post_ok(p))
        call->status = HD_EBADREQ;
    call_send(call);
}

static void redis_route(hd_store *base, int64_t now_ms, hd_result_cb cb, void *ud)
{
    store_call *call = call_start(store_of(base), HD_SCRIPT_ROUTE, now_ms, cb, ud);
    if (call == NULL)
        return;
    call_add_int(call, HD_REDIS_ROUTE_MAX);
    call_send(call);
}

/* The agent's departments as a JSON array. */
static void call_add_depts(store_call *call, const hd_agent *agent)
{
    json_t *a = json_array();
    for (size_t i = 0; i < agent->n_depts; i++)
        json_array_append_new(a, json_string(agent->depts[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    if (s == NULL)
        call->status = HD_EBADREQ;
    call_add_str(call, s);
    free(s);
}

/* The agent's profile, as the script takes it: id, name, departments, max_chats. */
static void call_add_agent(store_call *call, const hd_agent *agent)
{
    if (!agent_ok(agent)) {
        call->status = HD_EBADREQ;
        return;
    }
    call_add_str(call, agent->id);
    call_add_str(call, agent->name);
    call_add_depts(call, agent);
    call_add_int(call, agent->max_chats);
}

static void redis_take(hd_store *base, const char *chat_id, const hd_agent *agent, int64_t now_ms,
                       hd_result_cb cb, void *ud)
{
    store_call *call = call_start(store_of(base), HD_SCRIPT_TAKE, now_ms, cb, ud);
    if (call == NULL)
        return;
    call_add_str(call, chat_id);
    call_add_agent(call, agent);
    call_send(call);
}

static void redis_transfer(hd_store *base, const char *chat_id, const hd_access *access,
                           const char *agent_id, const char *dept, int64_t now_ms, hd_result_cb cb,
                           void *ud)
{
    store_call *call = call_start(store_of(base), HD_SCRIPT_TRANSFER, now_ms, cb, ud);
    if (call == NULL)
        return;
    call_add_str(call, chat_id);
    call_add_access(call, access);
    call_add_str(call, agent_id);
    call_add_str(call, dept);
    if (!optional_id_ok(dept))
        call->status = HD_EBADREQ;
    call_send(call);
}

static void redis_close_chat(hd_store *base, const char *chat_id, const hd_access *access,
                             const char *by, const char *reason, int64_t now_ms, hd_result_cb cb,
                             void *ud)
{
    store_call *call = call_start(store_of(base), HD_SCRIPT_CLOSE, now_ms, cb, ud);
    if (call == NULL)
        return;
    call_add_str(call, chat_id);
    call_add_access(call, access);
    call_add_str(call, by);
    call_add_str(call, reason);
    if (!id_ok(by) || !optional_id_ok(reason))
        call->status = HD_EBADREQ;
    call_send(call);
}

static void redis_history(hd_store *base, const char *chat_id, const hd_access *access,
                          int64_t after_seq, size_t limit, hd_result_cb cb, void *ud)
{
    store_call *call = call_start(store_of(base), HD_SCRIPT_HISTORY, 0, cb, ud);
    if (call == NULL)
        return;
    call_add_str(call, chat_id);
    call_add_access(call, access);
    call_add_int(call, after_seq);
    call_add_int(call, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    call_send(call);
}

static void redis_conversations(hd_store *base, const hd_access *who, int open_only,
                                hd_result_cb cb, void *ud)
{
    store_call *call = call_start(store_of(base), HD_SCRIPT_CONVERSATIONS, 0, cb, ud);
    if (call == NULL)
        return;
    call_add_access(call, who);
    call_add_int(call, open_only != 0);
    call_send(call);
}

static void redis_inquiries(hd_store *base, hd_result_cb cb, void *ud)
{
    store_call *call = call_start(store_of(base), HD_SCRIPT_INQUIRIES, 0, cb, ud);
    if (call != NULL)
        call_send(call);
}

static void redis_agent_presence(hd_store *base, const hd_agent *agent, int delta, int online,
                                 int64_t now_ms, hd_result_cb cb, void *ud)
{
    hd_redis_store *st = store_of(base);
    store_call *call = call_start(st, HD_SCRIPT_PRESENCE, now_ms, cb, ud);
    if (call == NULL)
        return;
    call_add_agent(call, agent);
    call_add_int(call, delta);
    call_add_int(call, online);
    call_add_str(call, st->node);
    call_add_int(call, st->ttl_ms);
    call_send(call);
}

static void redis_sweep(hd_store *base, int64_t now_ms, int64_t timeout_ms, hd_result_cb cb,
                        void *ud)
{
    store_call *call = call_start(store_of(base), HD_SCRIPT_SWEEP, now_ms, cb, ud);
    if (call == NULL)
        return;
    call_add_int(call, timeout_ms);
    call_add_int(call, HD_REDIS_SWEEP_MAX);
    call_send(call);
}

static void redis_read(hd_store *base, const char *chat_id, const hd_access *access,
                       const char *reader, int64_t seq, hd_result_cb cb, void *ud)
{
    store_call *call = call_start(store_of(base), HD_SCRIPT_READ, 0, cb, ud);
    if (call == NULL)
        return;
    call_add_str(call, chat_id);
    call_add_access(call, access);
    call_add_str(call, reader);
    call_add_int(call, seq);
    if (reader == NULL || (strcmp(reader, "agent") != 0 && strcmp(reader, "customer") != 0))
        call->status = HD_EBADREQ;
    call_send(call);
}

static void redis_agents(hd_store *base, int64_t now_ms, hd_result_cb cb, void *ud)
{
    store_call *call = call_start(store_of(base), HD_SCRIPT_AGENTS, now_ms, cb, ud);
    if (call != NULL)
        call_send(call);
}

static void redis_departments(hd_store *base, int64_t now_ms, hd_result_cb cb, void *ud)
{
    store_call *call = call_start(store_of(base), HD_SCRIPT_DEPARTMENTS, now_ms, cb, ud);
    if (call != NULL)
        call_send(call);
}

static void redis_queue_status(hd_store *base, const char *dept, int64_t now_ms, hd_result_cb cb,
                               void *ud)
{
    store_call *call = call_start(store_of(base), HD_SCRIPT_QUEUE_STATUS, now_ms, cb, ud);
    if (call == NULL)
        return;
    call_add_str(call, dept);
    if (!optional_id_ok(dept))
        call->status = HD_EBADREQ;
    call_send(call);
}

/* The record as stored (store.h): the six keys, each of its type or null; NULL when the
 * session id is missing or not an id. */
static json_t *visitor_record(const json_t *in)
{
    json_t *sid = json_object_get(in, "session_id");
    if (!json_is_object(in) || !id_ok(json_string_value(sid)))
        return NULL;
    json_t *created = json_object_get(in, "created_at");
    if (!json_is_string(created) && !json_is_integer(created))
        created = json_null();
    return json_pack("{s:O,s:O,s:O,s:O,s:O,s:O}", "session_id", sid, "name",
                     member_string(in, "name"), "email", member_string(in, "email"), "fields",
                     member_object(in, "fields"), "user_id", member_string(in, "user_id"),
                     "created_at", created);
}

static void redis_visitor(hd_store *base, json_t *record, int64_t ttl_ms, int64_t now_ms,
                          hd_result_cb cb, void *ud)
{
    store_call *call = call_start(store_of(base), HD_SCRIPT_VISITOR, now_ms, cb, ud);
    if (call == NULL)
        return;
    json_t *rec = ttl_ms > 0 ? visitor_record(record) : NULL;
    if (rec == NULL) {
        call->status = HD_EBADREQ;
    } else {
        call_add_str(call, json_string_value(json_object_get(rec, "session_id")));
        call_add_json(call, rec);
        call_add_int(call, ttl_ms);
    }
    json_decref(rec);
    call_send(call);
}

/* ---- liveness ---- */

/* Redis's clock against this node's: the reply's time minus the request's midpoint. */
typedef struct time_probe {
    hd_redis_store *st;
    int64_t sent_ms;
} time_probe;

static void on_time(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                    void *ud)
{
    time_probe *tp = ud;
    (void)conn;
    (void)errstr;
    if (status == RC_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        reply->element[1]->type == REDIS_REPLY_STRING) {
        int64_t redis_ms = strtoll(reply->element[0]->str, NULL, 10) * 1000 +
                           strtoll(reply->element[1]->str, NULL, 10) / 1000;
        int64_t mid = tp->sent_ms + (hd_now_ms() - tp->sent_ms) / 2;
        tp->st->clock_offset_ms = redis_ms - mid;
        tp->st->clock_known = 1;
    }
    free(tp);
}

static void heartbeat_send(hd_redis_store *st)
{
    char ttl[HD_REDIS_INT_LEN];
    snprintf(ttl, sizeof ttl, "%" PRIu32, st->ttl_ms);
    rc_command(st->conn, NULL, NULL, "SET %s 1 PX %s", st->node_key, ttl);
    time_probe *tp = malloc(sizeof(*tp));
    if (tp == NULL)
        abort();
    *tp = (time_probe){st, hd_now_ms()};
    if (rc_command(st->conn, on_time, tp, "TIME") != RC_OK)
        free(tp);
}

static void on_heartbeat(uv_timer_t *t) { heartbeat_send(t->data); }

/* A (re)connected Redis hears from this instance at once, not a third of a ttl later,
 * and gets every script before the calls that follow. */
static void on_conn_state(rc_conn *conn, int ready, void *ud)
{
    hd_redis_store *st = ud;
    (void)conn;
    if (!ready)
        return;
    heartbeat_send(st);
    for (int i = 0; i < HD_SCRIPT_COUNT; i++)
        script_load(st, (hd_script_id)i);
}

/* ---- life cycle ---- */

static void store_free(hd_redis_store *st)
{
    free(st->prefix);
    free(st->node);
    free(st->node_key);
    free(st);
}

/* The heartbeat, the failed queue's handle and the connection have all closed. */
static void on_closed(void *ud)
{
    hd_redis_store *st = ud;
    void (*done)(void *) = st->done;
    void *done_ud = st->done_ud;
    store_free(st);
    if (done != NULL)
        done(done_ud);
}

/* Every call sent has been answered: the connection can go. */
static void on_goodbye(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                       void *ud)
{
    hd_redis_store *st = ud;
    (void)status, (void)reply, (void)errstr;
    sb_countdown_add(&st->closed);
    rc_close(conn, sb_countdown_done, &st->closed);
    sb_defer_close(&st->failed, &st->closed);
    sb_countdown_done(&st->closed); /* every close has started */
}

/* Once no call is in flight, deletes the liveness key, which takes this node's agents out
 * of routing now rather than a ttl later, then closes. */
static void goodbye_when_idle(hd_redis_store *st)
{
    if (!st->closing || st->inflight > 0 || st->goodbye_sent)
        return;
    st->goodbye_sent = 1;
    if (rc_command(st->conn, on_goodbye, st, "DEL %s", st->node_key) != RC_OK)
        on_goodbye(st->conn, RC_ERR_CLOSED, NULL, NULL, st);
}

static void redis_close(hd_store *base, void (*done)(void *ud), void *ud)
{
    hd_redis_store *st = store_of(base);
    if (st->closing)
        return;
    st->closing = 1;
    st->done = done;
    st->done_ud = ud;
    sb_countdown_start(&st->closed, on_closed, st);
    sb_countdown_close(&st->closed, (uv_handle_t *)&st->heartbeat);
    goodbye_when_idle(st);
}

static const hd_store_ops redis_ops = {
    .post = redis_post,
    .route = redis_route,
    .take = redis_take,
    .transfer = redis_transfer,
    .close_chat = redis_close_chat,
    .history = redis_history,
    .conversations = redis_conversations,
    .inquiries = redis_inquiries,
    .agent_presence = redis_agent_presence,
    .sweep = redis_sweep,
    .read = redis_read,
    .agents = redis_agents,
    .departments = redis_departments,
    .queue_status = redis_queue_status,
    .visitor = redis_visitor,
    .close = redis_close,
};

static void sha1_hex(const char *s, char out[HD_REDIS_SHA_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), md, &n, EVP_sha1(), NULL);
    for (unsigned int i = 0; i < n && 2 * i < HD_REDIS_SHA_HEX; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* This instance's presence name: the node id plus a ULID, so that a node restarted under
 * the same id never inherits the socket counts of its previous life. */
static int store_names(hd_redis_store *st, const hd_redis_config *cfg)
{
    const char *node_id = cfg->node_id != NULL ? cfg->node_id : HD_REDIS_DEFAULT_NODE;
    char ulid[HD_ULID_LEN + 1];
    hd_ulid(hd_now_ms(), ulid);
    st->prefix = strdup(cfg->prefix != NULL ? cfg->prefix : HD_REDIS_DEFAULT_PREFIX);
    size_t node_len = strlen(node_id) + 1 + HD_ULID_LEN + 1;
    st->node = malloc(node_len);
    if (st->prefix == NULL || st->node == NULL)
        return -1;
    snprintf(st->node, node_len, "%s:%s", node_id, ulid);
    size_t key_len = strlen(st->prefix) + strlen("node:") + node_len;
    st->node_key = malloc(key_len);
    if (st->node_key == NULL)
        return -1;
    snprintf(st->node_key, key_len, "%snode:%s", st->prefix, st->node);
    return 0;
}

hd_store *hd_store_redis_new(uv_loop_t *loop, const hd_redis_config *cfg, char *err, size_t errlen)
{
    hd_redis_store *st = calloc(1, sizeof *st);
    if (st == NULL || store_names(st, cfg) != 0) {
        if (st != NULL)
            store_free(st);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->base.ops = &redis_ops;
    st->ttl_ms =
        cfg->presence_ttl_ms != 0 ? cfg->presence_ttl_ms : HD_REDIS_DEFAULT_PRESENCE_TTL_MS;
    for (int i = 0; i < HD_SCRIPT_COUNT; i++)
        sha1_hex(hd_scripts[i].body, st->sha[i]);
    rc_config rc;
    rc_config_init(&rc, cfg->url);
    rc.command_timeout_ms = cfg->command_timeout_ms;
    st->command_timeout_ms =
        cfg->command_timeout_ms ? cfg->command_timeout_ms : RC_DEFAULT_COMMAND_TIMEOUT_MS;
    rc.on_state = on_conn_state;
    rc.ud = st;
    st->conn = rc_conn_new(loop, &rc, err, errlen);
    if (st->conn == NULL) {
        store_free(st);
        return NULL;
    }
    sb_defer_init(loop, &st->failed, on_failed, st);
    uv_timer_init(loop, &st->heartbeat);
    st->heartbeat.data = st;
    uint64_t period =
        st->ttl_ms >= HD_REDIS_HEARTBEATS_PER_TTL ? st->ttl_ms / HD_REDIS_HEARTBEATS_PER_TTL : 1;
    uv_timer_start(&st->heartbeat, on_heartbeat, period, period);
    return &st->base;
}

int hd_store_redis_ready(const char **reason, void *ud)
{
    hd_redis_store *st = ud;
    if (!st->closing && rc_ready(st->conn))
        return 1;
    *reason = "redis unavailable";
    return 0;
}
