/* store_contract.c: the store contract's cases (see store_contract.h).
 *
 * A case reads like a scenario: customers open conversations, agents come online, the
 * store routes; after each step the result is checked against store.h. The helpers below
 * keep each step to one line: they fill the request the way the application would (fresh
 * message and conversation ids, the access of the party acting), run the op, wait for its
 * callback and keep its result in the case's context until the next step.
 */
#include <stdarg.h>

#include "../unit/test.h"
#include "message.h"
#include "store_contract.h"

#define MINUTE      60            /* seconds */
#define INACTIVITY  (30 * MINUTE) /* the contract's default inactivity timeout */
#define HISTORY_ALL 1000          /* a history limit above any case's message count */

typedef struct ct {
    hd_store *st;
    uv_loop_t *loop; /* NULL: the store calls back before its ops return */
    int done;        /* the current step's callback has run */
    int status, duplicate, created;
    json_t *message, *conversation, *list; /* the last step's result, held */
    char *previous_agent;                  /* the last step's, copied; NULL when none */
    int64_t t0;                            /* the case's time zero, ms */
} ct;

/* A conversation id kept across steps (results only live until the next one). */
typedef struct chat_ref {
    char s[HD_ID_MAX + 1];
} chat_ref;

/* ---- running a step ---- */

static void forget_result(ct *t)
{
    json_decref(t->message);
    json_decref(t->conversation);
    json_decref(t->list);
    free(t->previous_agent);
    t->message = t->conversation = t->list = NULL;
    t->previous_agent = NULL;
}

static void on_result(const hd_result *r, void *ud)
{
    ct *t = ud;
    ASSERT(!t->done); /* exactly one callback per op */
    t->done = 1;
    t->status = r->status;
    t->duplicate = r->duplicate;
    t->created = r->created;
    /* a post's message comes as a tree, as text, or both: the same message either way */
    json_t *from_text =
        r->message_text ? json_loadb(r->message_text, r->message_text_len, 0, NULL) : NULL;
    ASSERT(!r->message_text || from_text);
    ASSERT(!r->message || !from_text || json_equal(r->message, from_text));
    t->message = r->message ? json_incref(r->message) : from_text ? json_incref(from_text) : NULL;
    json_decref(from_text);
    if (t->message && r->chat_id)
        ASSERT_STR_EQ(r->chat_id, json_string_value(json_object_get(t->message, "ticket_chat_id")));
    t->conversation = json_incref(r->conversation);
    t->list = json_incref(r->list);
    t->previous_agent = r->previous_agent ? strdup(r->previous_agent) : NULL;
    ASSERT(!r->previous_agent || t->previous_agent);
}

static void step_begin(ct *t)
{
    forget_result(t);
    t->done = 0;
}

/* Waits for the step's callback; a store without a loop must have called it already. */
static int step_end(ct *t)
{
    while (!t->done) {
        ASSERT(t->loop != NULL);
        uv_run(t->loop, UV_RUN_ONCE);
    }
    return t->status;
}

static int64_t at(const ct *t, int64_t seconds) { return t->t0 + seconds * 1000; }

/* ---- the ops, as the application calls them ---- */

static hd_post customer_post(const char *session, const char *chat, const char *text, int64_t ms)
{
    return (hd_post){.ticket_chat_id = chat,
                     .session_id = session,
                     .access = {.session_id = session},
                     .sender_type = "customer",
                     .sender_id = session,
                     .message = text,
                     .now_ms = ms};
}

static hd_post agent_post(const char *agent_id, const char *chat, const char *text, int64_t ms)
{
    return (hd_post){.ticket_chat_id = chat,
                     .access = {.agent_id = agent_id},
                     .sender_type = "agent",
                     .sender_id = agent_id,
                     .sender_name = agent_id,
                     .message = text,
                     .now_ms = ms};
}

/* The backend (API key): no access restriction. */
static hd_post bot_post(const char *chat, const char *text, int64_t ms)
{
    return (hd_post){.ticket_chat_id = chat,
                     .sender_type = "bot",
                     .sender_id = "bot-1",
                     .sender_name = "Bot",
                     .message = text,
                     .now_ms = ms};
}

/* Gives p fresh ids, as the application does for every post. */
static int post(ct *t, hd_post p)
{
    char msg_id[HD_ULID_LEN + 1], chat_id[HD_CHAT_ID_LEN + 1];
    hd_ulid(p.now_ms, msg_id);
    hd_chat_id(p.now_ms, chat_id);
    p.msg_id = msg_id;
    p.new_chat_id = chat_id;
    step_begin(t);
    t->st->ops->post(t->st, &p, on_result, t);
    return step_end(t);
}

static int presence(ct *t, const hd_agent *a, int delta, int online, int64_t ms)
{
    step_begin(t);
    t->st->ops->agent_presence(t->st, a, delta, online, ms, on_result, t);
    return step_end(t);
}

static int route(ct *t, int64_t ms)
{
    step_begin(t);
    t->st->ops->route(t->st, ms, on_result, t);
    return step_end(t);
}

static int take(ct *t, const char *chat, const hd_agent *a, int64_t ms)
{
    step_begin(t);
    t->st->ops->take(t->st, chat, a, ms, on_result, t);
    return step_end(t);
}

static int transfer(ct *t, const char *chat, const hd_access *who, const char *agent_id,
                    const char *dept, int64_t ms)
{
    step_begin(t);
    t->st->ops->transfer(t->st, chat, who, agent_id, dept, ms, on_result, t);
    return step_end(t);
}

static int close_chat(ct *t, const char *chat, const hd_access *who, const char *by,
                      const char *reason, int64_t ms)
{
    step_begin(t);
    t->st->ops->close_chat(t->st, chat, who, by, reason, ms, on_result, t);
    return step_end(t);
}

static int history(ct *t, const char *chat, const hd_access *who, int64_t after_seq, size_t limit)
{
    step_begin(t);
    t->st->ops->history(t->st, chat, who, after_seq, limit, on_result, t);
    return step_end(t);
}

static int conversations(ct *t, const hd_access *who, int open_only)
{
    step_begin(t);
    t->st->ops->conversations(t->st, who, open_only, on_result, t);
    return step_end(t);
}

static int inquiries(ct *t)
{
    step_begin(t);
    t->st->ops->inquiries(t->st, on_result, t);
    return step_end(t);
}

static int sweep(ct *t, int64_t ms, int64_t timeout_seconds)
{
    step_begin(t);
    t->st->ops->sweep(t->st, ms, timeout_seconds * 1000, on_result, t);
    return step_end(t);
}

/* ---- reading results ---- */

/* The value of key, which must be present (null included). */
static json_t *field(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        TEST_FAIL("no \"%s\" in %s", key, obj ? "the object" : "a NULL object");
    return v;
}

/* A string field's value, or NULL when it is null. */
static const char *str(const json_t *obj, const char *key)
{
    json_t *v = field(obj, key);
    ASSERT(json_is_string(v) || json_is_null(v));
    return json_string_value(v);
}

static json_int_t num(const json_t *obj, const char *key)
{
    json_t *v = field(obj, key);
    ASSERT(json_is_integer(v));
    return json_integer_value(v);
}

/* The id of a conversation's agent, or NULL when it has none. */
static const char *agent_of(const json_t *conv)
{
    json_t *a = field(conv, "agent");
    return json_is_null(a) ? NULL : str(a, "id");
}

static void assert_null(const json_t *obj, const char *key)
{
    if (!json_is_null(field(obj, key)))
        TEST_FAIL("\"%s\" is not null", key);
}

static void assert_time(const json_t *obj, const char *key, int64_t ms)
{
    char want[HD_TIME_LEN + 1];
    hd_time_iso(ms, want);
    ASSERT_STR_EQ(str(obj, key), want);
}

static chat_ref ref_of(const json_t *conv)
{
    chat_ref r;
    snprintf(r.s, sizeof(r.s), "%s", str(conv, "ticket_chat_id"));
    return r;
}

/* Every key store.h gives a conversation, each of its type. */
static void assert_conversation_shape(const json_t *c)
{
    static const char *const strings[] = {"ticket_chat_id", "session_id", "status", "created_at",
                                          "queued_at"};
    static const char *const nullable[] = {"dept",          "agent",     "last_message",
                                           "first_message", "closed_by", "reason"};
    ASSERT(json_is_object(c));
    for (size_t i = 0; i < sizeof(strings) / sizeof(*strings); i++)
        ASSERT(json_is_string(field(c, strings[i])));
    for (size_t i = 0; i < sizeof(nullable) / sizeof(*nullable); i++)
        field(c, nullable[i]);
    num(c, "last_seq");
}

/* The status and agent (NULL: none) of the step's conversation. */
static void assert_state(const ct *t, const char *status, const char *agent_id)
{
    assert_conversation_shape(t->conversation);
    ASSERT_STR_EQ(str(t->conversation, "status"), status);
    const char *agent = agent_of(t->conversation);
    if (agent_id)
        ASSERT_STR_EQ(agent, agent_id);
    else if (agent)
        TEST_FAIL("assigned to %s, want nobody", agent);
}

/* The list's items have these values of key, in this order (n of them, then the values). */
static void assert_list(const json_t *list, const char *key, size_t n, ...)
{
    ASSERT(json_is_array(list));
    if (json_array_size(list) != n)
        TEST_FAIL("list of %zu, want %zu", json_array_size(list), n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        ASSERT_STR_EQ(str(json_array_get(list, i), key), va_arg(ap, const char *));
    va_end(ap);
}

/* The messages of the list are seq first, first + 1, … (n of them). */
static void assert_seqs(const json_t *list, int64_t first, size_t n)
{
    ASSERT(json_is_array(list));
    ASSERT_EQ(json_array_size(list), n);
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ(num(json_array_get(list, i), "seq"), first + (int64_t)i);
}

/* ---- scenario steps ---- */

static hd_agent agent(const char *id, int max_chats)
{
    return (hd_agent){.id = id, .name = id, .max_chats = max_chats};
}

/* One socket of a connects, online. */
static void connect_agent(ct *t, const hd_agent *a, int64_t ms)
{
    ASSERT_EQ(presence(t, a, 1, 1, ms), HD_OK);
}

/* session opens a conversation (in dept, NULL: none) with its first message. */
static chat_ref open_chat(ct *t, const char *session, const char *dept, int64_t ms)
{
    hd_post p = customer_post(session, NULL, "hello", ms);
    p.dept = dept;
    ASSERT_EQ(post(t, p), HD_OK);
    ASSERT_EQ(t->created, 1);
    return ref_of(t->conversation);
}

static void take_ok(ct *t, const char *chat, const hd_agent *a, int64_t ms)
{
    ASSERT_EQ(take(t, chat, a, ms), HD_OK);
    assert_state(t, "assigned", a->id);
}

#define AS_SESSION(s) (&(hd_access){.session_id = (s)})
#define AS_AGENT(a)   (&(hd_access){.agent_id = (a)})
#define AS_BACKEND    (&(hd_access){0})

/* ---- cases: post ---- */

static void post_creates_queued_conversation(ct *t)
{
    hd_post p = customer_post("s-1", NULL, "hello", at(t, 0));
    p.dept = "sales";
    ASSERT_EQ(post(t, p), HD_OK);
    ASSERT_EQ(t->created, 1);
    ASSERT_EQ(t->duplicate, 0);
    assert_state(t, "queued", NULL);
    chat_ref a = ref_of(t->conversation);
    ASSERT_STR_EQ(str(t->conversation, "session_id"), "s-1");
    ASSERT_STR_EQ(str(t->conversation, "dept"), "sales");
    ASSERT_EQ(num(t->conversation, "last_seq"), 1);
    assert_time(t->conversation, "created_at", at(t, 0));
    assert_time(t->conversation, "queued_at", at(t, 0));
    assert_null(t->conversation, "closed_by");
    assert_null(t->conversation, "reason");
    ASSERT_EQ(num(field(t->conversation, "first_message"), "seq"), 1);
    ASSERT_EQ(num(field(t->conversation, "last_message"), "seq"), 1);

    json_t *m = t->message;
    ASSERT_EQ(num(m, "seq"), 1);
    ASSERT_STR_EQ(str(m, "ticket_chat_id"), a.s);
    ASSERT_STR_EQ(str(m, "session_id"), "s-1");
    ASSERT_STR_EQ(str(m, "message"), "hello");
    ASSERT_STR_EQ(str(field(m, "sender"), "type"), "customer");
    ASSERT_STR_EQ(str(field(m, "sender"), "id"), "s-1");
    ASSERT(json_is_false(field(m, "attachment")));
    assert_null(m, "client_msg_id");
    assert_time(m, "created_at", at(t, 0));

    /* One open conversation per session: the next post without an id joins it. */
    ASSERT_EQ(post(t, customer_post("s-1", NULL, "anyone?", at(t, 1))), HD_OK);
    ASSERT_EQ(t->created, 0);
    ASSERT_STR_EQ(str(t->message, "ticket_chat_id"), a.s);
    ASSERT_EQ(num(t->message, "seq"), 2);
    /* A post's conversation may be NULL unless it created it (store.h): history shows it. */
    ASSERT_EQ(history(t, a.s, AS_BACKEND, 0, HISTORY_ALL), HD_OK);
    ASSERT_EQ(num(field(t->conversation, "first_message"), "seq"), 1);
    ASSERT_EQ(num(field(t->conversation, "last_message"), "seq"), 2);

    chat_ref b = open_chat(t, "s-2", NULL, at(t, 2));
    ASSERT(strcmp(a.s, b.s) != 0);
    assert_null(t->conversation, "dept");
}

/* Customers, the agent and the backend write in turn; seq never skips or repeats. */
static void post_seq_gap_free(ct *t)
{
    hd_agent a1 = agent("a-1", 5);
    chat_ref a = open_chat(t, "s-1", NULL, at(t, 0));
    take_ok(t, a.s, &a1, at(t, 1));
    for (int64_t seq = 2; seq <= 10; seq++) {
        hd_post p = seq % 3 == 0   ? customer_post("s-1", NULL, "c", at(t, seq))
                    : seq % 3 == 1 ? agent_post("a-1", a.s, "a", at(t, seq))
                                   : bot_post(a.s, "b", at(t, seq));
        ASSERT_EQ(post(t, p), HD_OK);
        ASSERT_EQ(num(t->message, "seq"), seq);
    }
    ASSERT_EQ(history(t, a.s, AS_BACKEND, 0, HISTORY_ALL), HD_OK);
    assert_seqs(t->list, 1, 10);
    ASSERT_EQ(num(t->conversation, "last_seq"), 10);
}

static void post_idempotent_client_msg_id(ct *t)
{
    hd_post p = customer_post("s-1", NULL, "first", at(t, 0));
    p.client_msg_id = "m-1";
    ASSERT_EQ(post(t, p), HD_OK);
    chat_ref a = ref_of(t->conversation);
    char first_id[HD_ID_MAX + 1];
    snprintf(first_id, sizeof(first_id), "%s", str(t->message, "id"));
    ASSERT_STR_EQ(str(t->message, "client_msg_id"), "m-1");

    /* The retry, by id or through the session: the stored message, nothing added. */
    hd_post retry = customer_post("s-1", a.s, "first, again", at(t, 1));
    retry.client_msg_id = "m-1";
    ASSERT_EQ(post(t, retry), HD_OK);
    ASSERT_EQ(t->duplicate, 1);
    ASSERT_EQ(t->created, 0);
    ASSERT_STR_EQ(str(t->message, "id"), first_id);
    ASSERT_STR_EQ(str(t->message, "message"), "first");
    ASSERT_EQ(history(t, a.s, AS_BACKEND, 0, HISTORY_ALL), HD_OK); /* nothing added */
    ASSERT_EQ(num(t->conversation, "last_seq"), 1);
    retry.ticket_chat_id = NULL;
    ASSERT_EQ(post(t, retry), HD_OK);
    ASSERT_EQ(t->duplicate, 1);

    hd_post next = customer_post("s-1", a.s, "second", at(t, 2));
    next.client_msg_id = "m-2";
    ASSERT_EQ(post(t, next), HD_OK);
    ASSERT_EQ(t->duplicate, 0);
    ASSERT_EQ(num(t->message, "seq"), 2);

    /* client_msg_id is per conversation. */
    hd_post other = customer_post("s-2", NULL, "mine", at(t, 3));
    other.client_msg_id = "m-1";
    ASSERT_EQ(post(t, other), HD_OK);
    ASSERT_EQ(t->duplicate, 0);
    ASSERT_EQ(t->created, 1);

    /* A retry still finds its message once the conversation closed; a new send does not. */
    ASSERT_EQ(close_chat(t, a.s, AS_BACKEND, "backend", "backend", at(t, 4)), HD_OK);
    ASSERT_EQ(post(t, next), HD_OK);
    ASSERT_EQ(t->duplicate, 1);
    ASSERT_EQ(num(t->message, "seq"), 2);
    next.client_msg_id = "m-3";
    ASSERT_EQ(post(t, next), HD_ECONFLICT);
}

static void post_unknown_404(ct *t)
{
    ASSERT_EQ(post(t, customer_post("s-1", "c_unknown", "hi", at(t, 0))), HD_ENOTFOUND);
    ASSERT_EQ(post(t, bot_post("c_unknown", "hi", at(t, 0))), HD_ENOTFOUND);
    ASSERT(t->message == NULL && t->conversation == NULL);
    ASSERT_EQ(conversations(t, AS_SESSION("s-1"), 0), HD_OK);
    assert_list(t->list, "ticket_chat_id", 0);
}

static void unknown_chat_404_everywhere(ct *t)
{
    hd_agent a1 = agent("a-1", 5);
    connect_agent(t, &a1, at(t, 0));
    ASSERT_EQ(take(t, "c_unknown", &a1, at(t, 1)), HD_ENOTFOUND);
    ASSERT_EQ(transfer(t, "c_unknown", AS_BACKEND, NULL, NULL, at(t, 1)), HD_ENOTFOUND);
    ASSERT_EQ(close_chat(t, "c_unknown", AS_BACKEND, "backend", "backend", at(t, 1)), HD_ENOTFOUND);
    ASSERT_EQ(history(t, "c_unknown", AS_BACKEND, 0, HISTORY_ALL), HD_ENOTFOUND);
}

static void post_other_session_403(ct *t)
{
    chat_ref a = open_chat(t, "s-1", NULL, at(t, 0));
    ASSERT_EQ(post(t, customer_post("s-2", a.s, "not mine", at(t, 1))), HD_EFORBIDDEN);
    ASSERT_EQ(history(t, a.s, AS_SESSION("s-2"), 0, HISTORY_ALL), HD_EFORBIDDEN);
    ASSERT_EQ(close_chat(t, a.s, AS_SESSION("s-2"), "customer", "customer", at(t, 1)),
              HD_EFORBIDDEN);
    /* Speaking for another session without naming the conversation. */
    hd_post p = customer_post("s-1", NULL, "spoofed", at(t, 1));
    p.access.session_id = "s-2";
    ASSERT_EQ(post(t, p), HD_EFORBIDDEN);

    ASSERT_EQ(history(t, a.s, AS_SESSION("s-1"), 0, HISTORY_ALL), HD_OK);
    assert_seqs(t->list, 1, 1);
    assert_state(t, "queued", NULL);
}

static void post_agent_not_assigned_403(ct *t)
{
    hd_agent a1 = agent("a-1", 5), a2 = agent("a-2", 5);
    chat_ref a = open_chat(t, "s-1", NULL, at(t, 0));
    ASSERT_EQ(post(t, agent_post("a-1", a.s, "queued", at(t, 1))), HD_EFORBIDDEN);
    take_ok(t, a.s, &a2, at(t, 2));
    ASSERT_EQ(post(t, agent_post("a-1", a.s, "not mine", at(t, 3))), HD_EFORBIDDEN);
    ASSERT_EQ(history(t, a.s, AS_AGENT(a1.id), 0, HISTORY_ALL), HD_EFORBIDDEN);
    ASSERT_EQ(post(t, agent_post("a-2", a.s, "mine", at(t, 4))), HD_OK);
    ASSERT_EQ(num(t->message, "seq"), 2);
    ASSERT_STR_EQ(str(field(t->message, "sender"), "type"), "agent");
    ASSERT_STR_EQ(str(field(t->message, "sender"), "id"), "a-2");
    /* An agent must name the conversation (spec §3): nothing to find or open. */
    ASSERT_EQ(post(t, agent_post("a-2", NULL, "where?", at(t, 5))), HD_EBADREQ);
}

static void post_closed_409(ct *t)
{
    chat_ref a = open_chat(t, "s-1", NULL, at(t, 0));
    ASSERT_EQ(close_chat(t, a.s, AS_SESSION("s-1"), "customer", "customer", at(t, 1)), HD_OK);
    ASSERT_EQ(post(t, customer_post("s-1", a.s, "late", at(t, 2))), HD_ECONFLICT);
    ASSERT_EQ(post(t, bot_post(a.s, "late", at(t, 2))), HD_ECONFLICT);
    /* Without an id, the session starts over. */
    chat_ref b = open_chat(t, "s-1", NULL, at(t, 3));
    ASSERT(strcmp(a.s, b.s) != 0);
    ASSERT_EQ(history(t, a.s, AS_SESSION("s-1"), 0, HISTORY_ALL), HD_OK);
    assert_seqs(t->list, 1, 1);
}

/* ---- cases: routing ---- */

/* Auto routing (post->assign): a conversation created while an agent is free is assigned
 * in the same step as its first message, after the queue's older conversations. */
static void post_assign_routes_in_one_step(ct *t)
{
    hd_agent a1 = agent("a-1", 1), a2 = agent("a-2", 1), a3 = agent("a-3", 1);
    chat_ref old = open_chat(t, "s-0", NULL, at(t, 0)); /* queued: nobody online */
    connect_agent(t, &a1, at(t, 1));
    connect_agent(t, &a2, at(t, 2));
    hd_post p = customer_post("s-1", NULL, "hello", at(t, 3));
    p.assign = 1;
    ASSERT_EQ(post(t, p), HD_OK);
    ASSERT_EQ(t->created, 1);
    ASSERT_EQ(num(t->message, "seq"), 1);
    chat_ref c1 = ref_of(t->conversation);
    assert_list(t->list, "ticket_chat_id", 2, old.s, c1.s);
    ASSERT_STR_EQ(agent_of(json_array_get(t->list, 0)), "a-1"); /* idle the longest */
    assert_state(t, "assigned", "a-2");
    ASSERT_EQ(num(t->conversation, "last_seq"), 1);
    ASSERT_EQ(num(field(t->conversation, "first_message"), "seq"), 1);

    /* Nobody free: it waits in the queue. */
    p = customer_post("s-2", NULL, "hello", at(t, 4));
    p.assign = 1;
    ASSERT_EQ(post(t, p), HD_OK);
    assert_state(t, "queued", NULL);
    ASSERT(t->list == NULL || json_array_size(t->list) == 0);
    /* Manual routing (no assign): queued even with an agent free. */
    connect_agent(t, &a3, at(t, 5));
    ASSERT_EQ(post(t, customer_post("s-3", NULL, "hello", at(t, 6))), HD_OK);
    assert_state(t, "queued", NULL);
    ASSERT(t->list == NULL || json_array_size(t->list) == 0);
}

static void route_least_loaded(ct *t)
{
    hd_agent a1 = agent("a-1", 3), a2 = agent("a-2", 3);
    connect_agent(t, &a1, at(t, 0));
    take_ok(t, open_chat(t, "s-1", NULL, at(t, 1)).s, &a1, at(t, 1));
    connect_agent(t, &a2, at(t, 2)); /* idle for less time than a-1, but with less work */
    chat_ref c2 = open_chat(t, "s-2", NULL, at(t, 3));
    ASSERT_EQ(route(t, at(t, 3)), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, c2.s);
    ASSERT_STR_EQ(agent_of(json_array_get(t->list, 0)), "a-2");
    assert_conversation_shape(json_array_get(t->list, 0));
    ASSERT_STR_EQ(str(json_array_get(t->list, 0), "status"), "assigned");

    open_chat(t, "s-3", NULL, at(t, 4));
    ASSERT_EQ(route(t, at(t, 4)), HD_OK); /* 1 and 1: a-1 idle since 1 s, a-2 since 3 s */
    ASSERT_STR_EQ(agent_of(json_array_get(t->list, 0)), "a-1");
    open_chat(t, "s-4", NULL, at(t, 5));
    ASSERT_EQ(route(t, at(t, 5)), HD_OK);
    ASSERT_STR_EQ(agent_of(json_array_get(t->list, 0)), "a-2");
}

/* Idle time counts from coming online, then from the last assignment; a tie left after
 * both goes to the smaller agent id, so that every store decides alike. */
static void route_ties_longest_idle(ct *t)
{
    hd_agent a1 = agent("a-1", 5), a2 = agent("a-2", 5), a3 = agent("a-3", 5);
    connect_agent(t, &a3, at(t, 0));
    connect_agent(t, &a1, at(t, 1));
    connect_agent(t, &a2, at(t, 2));
    chat_ref c1 = open_chat(t, "s-1", NULL, at(t, 3));
    chat_ref c2 = open_chat(t, "s-2", NULL, at(t, 4));
    chat_ref c3 = open_chat(t, "s-3", NULL, at(t, 5));
    ASSERT_EQ(route(t, at(t, 10)), HD_OK);
    assert_list(t->list, "ticket_chat_id", 3, c1.s, c2.s, c3.s);
    ASSERT_STR_EQ(agent_of(json_array_get(t->list, 0)), "a-3");
    ASSERT_STR_EQ(agent_of(json_array_get(t->list, 1)), "a-1");
    ASSERT_STR_EQ(agent_of(json_array_get(t->list, 2)), "a-2");

    open_chat(t, "s-4", NULL, at(t, 11));
    ASSERT_EQ(route(t, at(t, 12)), HD_OK); /* all at 1 open, all idle since 10 s */
    ASSERT_STR_EQ(agent_of(json_array_get(t->list, 0)), "a-1");
}

static void route_respects_max_chats(ct *t)
{
    hd_agent a1 = agent("a-1", 1);
    connect_agent(t, &a1, at(t, 0));
    chat_ref c1 = open_chat(t, "s-1", NULL, at(t, 1));
    chat_ref c2 = open_chat(t, "s-2", NULL, at(t, 2));
    ASSERT_EQ(route(t, at(t, 3)), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, c1.s);
    ASSERT_EQ(route(t, at(t, 4)), HD_OK);
    assert_list(t->list, "ticket_chat_id", 0);
    ASSERT_EQ(inquiries(t), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, c2.s);
}

static void route_dept_filter(ct *t)
{
    static const char *const sales[] = {"sales"}, *const support[] = {"support"};
    hd_agent a1 = {.id = "a-1", .name = "Ann", .depts = sales, .n_depts = 1, .max_chats = 5};
    hd_agent a2 = {.id = "a-2", .name = "Bob", .depts = support, .n_depts = 1, .max_chats = 5};
    hd_agent a3 = agent("a-3", 5); /* no departments: serves every one */
    connect_agent(t, &a1, at(t, 0));
    connect_agent(t, &a2, at(t, 0));
    chat_ref c1 = open_chat(t, "s-1", "support", at(t, 1));
    chat_ref c2 = open_chat(t, "s-2", "billing", at(t, 2));
    chat_ref c3 = open_chat(t, "s-3", NULL, at(t, 3)); /* any agent */
    chat_ref c4 = open_chat(t, "s-4", "sales", at(t, 4));
    ASSERT_EQ(route(t, at(t, 5)), HD_OK);
    assert_list(t->list, "ticket_chat_id", 3, c1.s, c3.s, c4.s);
    ASSERT_STR_EQ(agent_of(json_array_get(t->list, 0)), "a-2");
    ASSERT_STR_EQ(agent_of(json_array_get(t->list, 1)), "a-1"); /* a-2 already has one */
    ASSERT_STR_EQ(agent_of(json_array_get(t->list, 2)), "a-1");
    ASSERT_STR_EQ(str(field(json_array_get(t->list, 1), "agent"), "name"), "Ann");

    connect_agent(t, &a3, at(t, 6));
    ASSERT_EQ(route(t, at(t, 7)), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, c2.s);
    ASSERT_STR_EQ(agent_of(json_array_get(t->list, 0)), "a-3");
}

static void route_away_agent_skipped(ct *t)
{
    hd_agent a1 = agent("a-1", 1), a2 = agent("a-2", 5);
    ASSERT_EQ(presence(t, &a1, 1, 0, at(t, 0)), HD_OK); /* connects away */
    chat_ref c1 = open_chat(t, "s-1", NULL, at(t, 1));
    ASSERT_EQ(route(t, at(t, 2)), HD_OK);
    assert_list(t->list, "ticket_chat_id", 0);
    ASSERT_EQ(presence(t, &a1, 0, 1, at(t, 3)), HD_OK); /* status: online */
    ASSERT_EQ(route(t, at(t, 3)), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, c1.s);

    /* Online but with no socket left is not available either. */
    connect_agent(t, &a2, at(t, 4));
    ASSERT_EQ(presence(t, &a2, -1, -1, at(t, 5)), HD_OK);
    chat_ref c2 = open_chat(t, "s-2", NULL, at(t, 6));
    ASSERT_EQ(route(t, at(t, 6)), HD_OK);
    assert_list(t->list, "ticket_chat_id", 0);
    ASSERT_EQ(presence(t, &a2, 1, -1, at(t, 7)), HD_OK); /* back, still online */
    ASSERT_EQ(route(t, at(t, 7)), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, c2.s);
}

/* Sockets are counted: the agent stays available until its last one goes. */
static void presence_counts_sockets(ct *t)
{
    hd_agent a1 = agent("a-1", 5);
    connect_agent(t, &a1, at(t, 0));
    connect_agent(t, &a1, at(t, 0));
    ASSERT_EQ(presence(t, &a1, -1, -1, at(t, 1)), HD_OK);
    chat_ref c1 = open_chat(t, "s-1", NULL, at(t, 2));
    ASSERT_EQ(route(t, at(t, 2)), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, c1.s);
    ASSERT_EQ(presence(t, &a1, -1, -1, at(t, 3)), HD_OK);
    open_chat(t, "s-2", NULL, at(t, 4));
    ASSERT_EQ(route(t, at(t, 4)), HD_OK);
    assert_list(t->list, "ticket_chat_id", 0);
}

static void route_queue_drains_on_close(ct *t)
{
    hd_agent a1 = agent("a-1", 1);
    connect_agent(t, &a1, at(t, 0));
    chat_ref c1 = open_chat(t, "s-1", NULL, at(t, 1));
    chat_ref c2 = open_chat(t, "s-2", NULL, at(t, 2));
    open_chat(t, "s-3", NULL, at(t, 3));
    ASSERT_EQ(route(t, at(t, 4)), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, c1.s);
    ASSERT_EQ(close_chat(t, c1.s, AS_AGENT("a-1"), "agent", "agent", at(t, 5)), HD_OK);
    assert_state(t, "closed", "a-1");
    ASSERT_STR_EQ(t->previous_agent, "a-1");
    ASSERT_EQ(route(t, at(t, 6)), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, c2.s);
    ASSERT_STR_EQ(agent_of(json_array_get(t->list, 0)), "a-1");
}

/* ---- cases: take, transfer, close ---- */

static void take_409_when_taken(ct *t)
{
    hd_agent a1 = agent("a-1", 5), a2 = agent("a-2", 5);
    chat_ref c1 = open_chat(t, "s-1", NULL, at(t, 0));
    take_ok(t, c1.s, &a1, at(t, 1));
    ASSERT_STR_EQ(str(field(t->conversation, "agent"), "name"), "a-1");
    ASSERT_EQ(take(t, c1.s, &a2, at(t, 2)), HD_ECONFLICT);
    assert_state(t, "assigned", "a-1");
    ASSERT_EQ(take(t, c1.s, &a1, at(t, 2)), HD_ECONFLICT); /* not queued, even for its agent */
    ASSERT_EQ(close_chat(t, c1.s, AS_BACKEND, "backend", "backend", at(t, 3)), HD_OK);
    ASSERT_EQ(take(t, c1.s, &a2, at(t, 4)), HD_ECONFLICT);
    assert_state(t, "closed", "a-1");
}

static void take_403_full(ct *t)
{
    static const char *const sales[] = {"sales"};
    hd_agent a1 = agent("a-1", 1);
    hd_agent a2 = {.id = "a-2", .depts = sales, .n_depts = 1, .max_chats = 5};
    chat_ref c1 = open_chat(t, "s-1", NULL, at(t, 0));
    chat_ref c2 = open_chat(t, "s-2", NULL, at(t, 1));
    chat_ref c3 = open_chat(t, "s-3", "support", at(t, 2));
    take_ok(t, c1.s, &a1, at(t, 3));
    ASSERT_EQ(take(t, c2.s, &a1, at(t, 4)), HD_EFORBIDDEN);
    ASSERT_EQ(take(t, c3.s, &a2, at(t, 5)), HD_EFORBIDDEN);
    ASSERT_EQ(inquiries(t), HD_OK);
    assert_list(t->list, "ticket_chat_id", 2, c2.s, c3.s);
}

static void transfer_to_queue(ct *t)
{
    hd_agent a1 = agent("a-1", 1);
    chat_ref c1 = open_chat(t, "s-1", "sales", at(t, 0));
    chat_ref c2 = open_chat(t, "s-2", NULL, at(t, 1));
    take_ok(t, c1.s, &a1, at(t, 2));
    ASSERT_EQ(transfer(t, c1.s, AS_AGENT("a-1"), NULL, "billing", at(t, 5)), HD_OK);
    assert_state(t, "queued", NULL);
    ASSERT_STR_EQ(t->previous_agent, "a-1");
    ASSERT_STR_EQ(str(t->conversation, "dept"), "billing");
    assert_time(t->conversation, "queued_at", at(t, 5));
    ASSERT_EQ(inquiries(t), HD_OK);
    assert_list(t->list, "ticket_chat_id", 2, c2.s, c1.s); /* back of the queue */
    ASSERT_STR_EQ(str(json_array_get(t->list, 1), "dept"), "billing");

    ASSERT_EQ(post(t, agent_post("a-1", c1.s, "still here?", at(t, 6))), HD_EFORBIDDEN);
    ASSERT_EQ(transfer(t, c1.s, AS_AGENT("a-1"), NULL, NULL, at(t, 6)), HD_EFORBIDDEN);
    take_ok(t, c2.s, &a1, at(t, 7)); /* its slot is free again */

    /* Without a department, the conversation keeps its own. */
    ASSERT_EQ(transfer(t, c2.s, AS_BACKEND, NULL, NULL, at(t, 8)), HD_OK);
    assert_state(t, "queued", NULL);
    assert_null(t->conversation, "dept");
}

static void transfer_to_agent(ct *t)
{
    hd_agent a1 = agent("a-1", 2), a2 = agent("a-2", 2);
    connect_agent(t, &a1, at(t, 0));
    connect_agent(t, &a2, at(t, 0));
    chat_ref c1 = open_chat(t, "s-1", "sales", at(t, 1));
    take_ok(t, c1.s, &a1, at(t, 2));
    ASSERT_EQ(transfer(t, c1.s, AS_AGENT("a-1"), "a-2", "vip", at(t, 3)), HD_OK);
    assert_state(t, "assigned", "a-2");
    ASSERT_STR_EQ(t->previous_agent, "a-1");
    ASSERT_STR_EQ(str(t->conversation, "dept"), "vip");

    ASSERT_EQ(conversations(t, AS_AGENT("a-1"), 1), HD_OK);
    assert_list(t->list, "ticket_chat_id", 0);
    ASSERT_EQ(conversations(t, AS_AGENT("a-2"), 1), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, c1.s);
    ASSERT_EQ(transfer(t, c1.s, AS_AGENT("a-1"), "a-1", NULL, at(t, 4)), HD_EFORBIDDEN);
    ASSERT_EQ(transfer(t, c1.s, AS_BACKEND, "nobody", NULL, at(t, 4)), HD_EFORBIDDEN);
    ASSERT_EQ(post(t, agent_post("a-2", c1.s, "hello, I am a-2", at(t, 5))), HD_OK);
}

static void transfer_to_full_agent_403(ct *t)
{
    hd_agent a1 = agent("a-1", 2), a2 = agent("a-2", 1), a3 = agent("a-3", 5);
    connect_agent(t, &a1, at(t, 0));
    connect_agent(t, &a2, at(t, 0));
    chat_ref c1 = open_chat(t, "s-1", NULL, at(t, 1));
    chat_ref c2 = open_chat(t, "s-2", NULL, at(t, 2));
    take_ok(t, c1.s, &a1, at(t, 3));
    take_ok(t, c2.s, &a2, at(t, 3));
    ASSERT_EQ(transfer(t, c1.s, AS_BACKEND, "a-2", NULL, at(t, 4)), HD_EFORBIDDEN);
    ASSERT_EQ(presence(t, &a3, 1, 0, at(t, 4)), HD_OK); /* away */
    ASSERT_EQ(transfer(t, c1.s, AS_BACKEND, "a-3", NULL, at(t, 5)), HD_EFORBIDDEN);
    ASSERT_EQ(history(t, c1.s, AS_AGENT("a-1"), 0, HISTORY_ALL), HD_OK);
    assert_state(t, "assigned", "a-1");

    ASSERT_EQ(close_chat(t, c1.s, AS_AGENT("a-1"), "agent", "agent", at(t, 6)), HD_OK);
    ASSERT_EQ(transfer(t, c1.s, AS_BACKEND, "a-1", NULL, at(t, 7)), HD_ECONFLICT);
    ASSERT_EQ(transfer(t, c1.s, AS_BACKEND, NULL, NULL, at(t, 7)), HD_ECONFLICT);
}

static void close_twice_409(ct *t)
{
    hd_agent a1 = agent("a-1", 1);
    chat_ref c1 = open_chat(t, "s-1", NULL, at(t, 0));
    take_ok(t, c1.s, &a1, at(t, 1));
    ASSERT_EQ(close_chat(t, c1.s, AS_SESSION("s-1"), "customer", "customer", at(t, 2)), HD_OK);
    assert_state(t, "closed", "a-1");
    ASSERT_STR_EQ(str(t->conversation, "closed_by"), "customer");
    ASSERT_STR_EQ(str(t->conversation, "reason"), "customer");
    ASSERT_STR_EQ(t->previous_agent, "a-1");
    ASSERT_EQ(close_chat(t, c1.s, AS_BACKEND, "backend", "backend", at(t, 3)), HD_ECONFLICT);
    ASSERT_EQ(close_chat(t, c1.s, AS_AGENT("a-1"), "agent", "agent", at(t, 3)), HD_ECONFLICT);

    /* Still readable by both parties; the agent's slot is free. */
    ASSERT_EQ(history(t, c1.s, AS_SESSION("s-1"), 0, HISTORY_ALL), HD_OK);
    assert_seqs(t->list, 1, 1);
    ASSERT_EQ(history(t, c1.s, AS_AGENT("a-1"), 0, HISTORY_ALL), HD_OK);
    assert_state(t, "closed", "a-1");
    take_ok(t, open_chat(t, "s-2", NULL, at(t, 4)).s, &a1, at(t, 5));

    /* A queued conversation closes with nobody to free. */
    chat_ref c3 = open_chat(t, "s-3", NULL, at(t, 6));
    ASSERT_EQ(close_chat(t, c3.s, AS_BACKEND, "backend", "backend", at(t, 7)), HD_OK);
    ASSERT(t->previous_agent == NULL);
    ASSERT_EQ(inquiries(t), HD_OK);
    assert_list(t->list, "ticket_chat_id", 0);
}

/* ---- cases: reads ---- */

static void history_after_seq_limit(ct *t)
{
    chat_ref c1 = open_chat(t, "s-1", NULL, at(t, 0));
    for (int i = 2; i <= 5; i++)
        ASSERT_EQ(post(t, customer_post("s-1", c1.s, "more", at(t, i))), HD_OK);
    ASSERT_EQ(history(t, c1.s, AS_SESSION("s-1"), 0, 2), HD_OK);
    assert_seqs(t->list, 1, 2);
    ASSERT_EQ(num(t->conversation, "last_seq"), 5);
    ASSERT_EQ(history(t, c1.s, AS_SESSION("s-1"), 2, HISTORY_ALL), HD_OK);
    assert_seqs(t->list, 3, 3);
    ASSERT_EQ(history(t, c1.s, AS_BACKEND, 3, 1), HD_OK);
    assert_seqs(t->list, 4, 1);
    ASSERT_EQ(history(t, c1.s, AS_BACKEND, 5, HISTORY_ALL), HD_OK);
    assert_seqs(t->list, 6, 0);
    ASSERT_EQ(history(t, c1.s, AS_BACKEND, 99, HISTORY_ALL), HD_OK);
    assert_seqs(t->list, 100, 0);
}

static void conversations_by_session_and_agent(ct *t)
{
    hd_agent a1 = agent("a-1", 5);
    chat_ref old = open_chat(t, "s-1", NULL, at(t, 0));
    ASSERT_EQ(close_chat(t, old.s, AS_SESSION("s-1"), "customer", "customer", at(t, 1)), HD_OK);
    chat_ref cur = open_chat(t, "s-1", NULL, at(t, 2));
    chat_ref other = open_chat(t, "s-2", NULL, at(t, 3));
    take_ok(t, cur.s, &a1, at(t, 4));

    ASSERT_EQ(conversations(t, AS_SESSION("s-1"), 0), HD_OK);
    assert_list(t->list, "ticket_chat_id", 2, cur.s, old.s); /* newest first */
    assert_list(t->list, "status", 2, "assigned", "closed");
    assert_conversation_shape(json_array_get(t->list, 1));
    ASSERT_EQ(conversations(t, AS_SESSION("s-1"), 1), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, cur.s);
    ASSERT_EQ(conversations(t, AS_SESSION("s-2"), 0), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, other.s);
    ASSERT_EQ(conversations(t, AS_SESSION("s-unknown"), 0), HD_OK);
    assert_list(t->list, "ticket_chat_id", 0);

    ASSERT_EQ(conversations(t, AS_AGENT("a-1"), 0), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, cur.s);
    ASSERT_EQ(close_chat(t, cur.s, AS_AGENT("a-1"), "agent", "agent", at(t, 5)), HD_OK);
    ASSERT_EQ(conversations(t, AS_AGENT("a-1"), 0), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, cur.s);
    ASSERT_EQ(conversations(t, AS_AGENT("a-1"), 1), HD_OK);
    assert_list(t->list, "ticket_chat_id", 0);
    ASSERT_EQ(conversations(t, AS_BACKEND, 0), HD_EBADREQ); /* whose? */
}

static void inquiries_oldest_first(ct *t)
{
    hd_agent a1 = agent("a-1", 5);
    chat_ref c1 = open_chat(t, "s-1", "sales", at(t, 0));
    chat_ref c2 = open_chat(t, "s-2", NULL, at(t, 1));
    chat_ref c3 = open_chat(t, "s-3", NULL, at(t, 2));
    ASSERT_EQ(inquiries(t), HD_OK);
    assert_list(t->list, "ticket_chat_id", 3, c1.s, c2.s, c3.s);
    assert_list(t->list, "session_id", 3, "s-1", "s-2", "s-3");
    json_t *first = json_array_get(t->list, 0);
    ASSERT_STR_EQ(str(first, "dept"), "sales");
    assert_time(first, "queued_at", at(t, 0));
    ASSERT_EQ(num(field(first, "first_message"), "seq"), 1);
    ASSERT_STR_EQ(str(field(first, "first_message"), "message"), "hello");
    ASSERT_EQ(json_object_size(first), 5);

    take_ok(t, c2.s, &a1, at(t, 3));
    ASSERT_EQ(inquiries(t), HD_OK);
    assert_list(t->list, "ticket_chat_id", 2, c1.s, c3.s);
}

/* ---- cases: inactivity ---- */

static void sweep_closes_inactive(ct *t)
{
    hd_agent a1 = agent("a-1", 1);
    chat_ref idle = open_chat(t, "s-1", NULL, at(t, 0));
    chat_ref taken = open_chat(t, "s-2", NULL, at(t, 0));
    chat_ref talked = open_chat(t, "s-3", NULL, at(t, 0));
    take_ok(t, taken.s, &a1, at(t, 1 * MINUTE)); /* an assignment is activity */
    ASSERT_EQ(post(t, customer_post("s-3", talked.s, "hi?", at(t, 10 * MINUTE))), HD_OK);

    ASSERT_EQ(sweep(t, at(t, INACTIVITY + MINUTE), INACTIVITY), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, idle.s);
    assert_list(t->list, "status", 1, "closed");
    assert_list(t->list, "closed_by", 1, "system");
    assert_list(t->list, "reason", 1, "inactive");
    ASSERT_EQ(sweep(t, at(t, INACTIVITY + MINUTE), INACTIVITY), HD_OK);
    assert_list(t->list, "ticket_chat_id", 0); /* each closes once */

    ASSERT_EQ(sweep(t, at(t, INACTIVITY + 2 * MINUTE), INACTIVITY), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, taken.s);
    take_ok(t, open_chat(t, "s-4", NULL, at(t, 33 * MINUTE)).s, &a1, at(t, 33 * MINUTE));
    ASSERT_EQ(sweep(t, at(t, INACTIVITY + 11 * MINUTE), INACTIVITY), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, talked.s);
    ASSERT_EQ(post(t, customer_post("s-1", idle.s, "back", at(t, 50 * MINUTE))), HD_ECONFLICT);
}

/* ---- the table ---- */

/* Every case, once: both tables below are made from this list. */
/* clang-format off */
#define CONTRACT_CASES(X)                                                                \
    X(post_creates_queued_conversation) X(post_seq_gap_free)                             \
    X(post_idempotent_client_msg_id) X(post_unknown_404) X(unknown_chat_404_everywhere)  \
    X(post_other_session_403) X(post_agent_not_assigned_403) X(post_closed_409)          \
    X(post_assign_routes_in_one_step) X(route_least_loaded) X(route_ties_longest_idle)   \
    X(route_respects_max_chats)                                                          \
    X(route_dept_filter) X(route_away_agent_skipped) X(presence_counts_sockets)          \
    X(route_queue_drains_on_close) X(take_409_when_taken) X(take_403_full)               \
    X(transfer_to_queue) X(transfer_to_agent) X(transfer_to_full_agent_403)              \
    X(close_twice_409) X(history_after_seq_limit) X(conversations_by_session_and_agent)  \
    X(inquiries_oldest_first) X(sweep_closes_inactive)
/* clang-format on */

#define CASE_NAME(name) #name,
#define CASE_FN(name)   name,
const char *const hd_store_contract_cases[] = {CONTRACT_CASES(CASE_NAME) NULL};
static void (*const CASE_FNS[])(ct *t) = {CONTRACT_CASES(CASE_FN)};
#undef CASE_NAME
#undef CASE_FN

static void on_store_closed(void *ud)
{
    ct *t = ud;
    ASSERT(!t->done);
    t->done = 1;
}

int hd_store_contract_run(const char *test_name, hd_store_make_fn make, void *ud, uv_loop_t *loop)
{
    size_t i = 0;
    while (hd_store_contract_cases[i] && strcmp(hd_store_contract_cases[i], test_name) != 0)
        i++;
    if (!hd_store_contract_cases[i])
        TEST_FAIL("no store contract case named %s", test_name);
    ct t = {.st = make(ud), .loop = loop, .t0 = hd_now_ms()};
    ASSERT(t.st != NULL);
    CASE_FNS[i](&t);
    step_begin(&t);
    t.st->ops->close(t.st, on_store_closed, &t);
    step_end(&t);
    return 0;
}
