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
    hd_store_events_fn events; /* the store's events so far */
    void *ud;                  /* make's and events' */
    uv_loop_t *loop;           /* NULL: the store calls back before its ops return */
    int done;                  /* the current step's callback has run */
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

static int read_upto(ct *t, const char *chat, const hd_access *who, const char *reader, int64_t seq)
{
    step_begin(t);
    t->st->ops->read(t->st, chat, who, reader, seq, on_result, t);
    return step_end(t);
}

static int agents(ct *t, int64_t ms)
{
    step_begin(t);
    t->st->ops->agents(t->st, ms, on_result, t);
    return step_end(t);
}

static int departments(ct *t, int64_t ms)
{
    step_begin(t);
    t->st->ops->departments(t->st, ms, on_result, t);
    return step_end(t);
}

static int queue_status(ct *t, const char *dept, int64_t ms)
{
    step_begin(t);
    t->st->ops->queue_status(t->st, dept, ms, on_result, t);
    return step_end(t);
}

static int visitor(ct *t, json_t *record, int64_t ttl_ms, int64_t ms)
{
    step_begin(t);
    t->st->ops->visitor(t->st, record, ttl_ms, ms, on_result, t);
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
    ASSERT(num(c, "unread") >= 0 && num(c, "unread") <= num(c, "last_seq"));
    json_t *customer = field(c, "customer");
    ASSERT(json_is_object(customer) && json_object_size(customer) == 4);
    ASSERT_STR_EQ(str(customer, "session_id"), str(c, "session_id"));
    str(customer, "name");
    str(customer, "email");
    ASSERT(json_is_object(field(customer, "fields")) || json_is_null(field(customer, "fields")));
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
    ASSERT_EQ(json_object_size(first), 6);
    ASSERT_STR_EQ(str(field(first, "customer"), "session_id"), "s-1");

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
    assert_list(t->list, "reason", 1, "unanswered"); /* it never had an agent */
    ASSERT_EQ(sweep(t, at(t, INACTIVITY + MINUTE), INACTIVITY), HD_OK);
    assert_list(t->list, "ticket_chat_id", 0); /* each closes once */

    ASSERT_EQ(sweep(t, at(t, INACTIVITY + 2 * MINUTE), INACTIVITY), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, taken.s);
    assert_list(t->list, "reason", 1, "inactive");
    take_ok(t, open_chat(t, "s-4", NULL, at(t, 33 * MINUTE)).s, &a1, at(t, 33 * MINUTE));
    ASSERT_EQ(sweep(t, at(t, INACTIVITY + 11 * MINUTE), INACTIVITY), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, talked.s);
    assert_list(t->list, "reason", 1, "unanswered");
    ASSERT_EQ(post(t, customer_post("s-1", idle.s, "back", at(t, 50 * MINUTE))), HD_ECONFLICT);
}

/* ---- cases: v1.1 ---- */

/* The conversation keeps the customer its creating post named, whatever later posts say;
 * without one, its session and the customer's sender name. */
static void customer_fixed_at_creation(ct *t)
{
    json_t *who = json_pack("{s:s,s:s,s:s,s:{s:s,s:i,s:b},s:s}", "session_id", "s-1", "name", "Ann",
                            "email", "ann@example.com", "fields", "plan", "pro", "seats", 3, "vip",
                            1, "extra", "dropped");
    json_t *want = json_pack("{s:s,s:s,s:s,s:O}", "session_id", "s-1", "name", "Ann", "email",
                             "ann@example.com", "fields", json_object_get(who, "fields"));
    hd_post p = customer_post("s-1", NULL, "hello", at(t, 0));
    p.customer = who;
    ASSERT_EQ(post(t, p), HD_OK);
    ASSERT_EQ(t->created, 1);
    chat_ref c1 = ref_of(t->conversation);
    assert_conversation_shape(t->conversation);
    ASSERT(json_equal(field(t->conversation, "customer"), want));

    json_t *other = json_pack("{s:s,s:s}", "session_id", "s-1", "name", "Not Ann");
    p = customer_post("s-1", NULL, "again", at(t, 1));
    p.customer = other;
    ASSERT_EQ(post(t, p), HD_OK);
    ASSERT_EQ(t->created, 0);
    ASSERT_EQ(history(t, c1.s, AS_BACKEND, 0, HISTORY_ALL), HD_OK);
    ASSERT(json_equal(field(t->conversation, "customer"), want));
    ASSERT_EQ(inquiries(t), HD_OK);
    ASSERT(json_equal(field(json_array_get(t->list, 0), "customer"), want));
    ASSERT_EQ(conversations(t, AS_SESSION("s-1"), 0), HD_OK);
    ASSERT(json_equal(field(json_array_get(t->list, 0), "customer"), want));

    /* Without one: the session, and the name the customer posts under. */
    p = customer_post("s-2", NULL, "hi", at(t, 2));
    p.sender_name = "Bea";
    ASSERT_EQ(post(t, p), HD_OK);
    json_t *customer = field(t->conversation, "customer");
    ASSERT_STR_EQ(str(customer, "session_id"), "s-2");
    ASSERT_STR_EQ(str(customer, "name"), "Bea");
    assert_null(customer, "email");
    assert_null(customer, "fields");
    ASSERT_EQ(post(t, customer_post("s-3", NULL, "hi", at(t, 3))), HD_OK);
    assert_null(field(t->conversation, "customer"), "name");

    /* Absent or mistyped members are null; a customer that is no object is refused. */
    json_t *odd = json_pack("{s:i,s:s}", "name", 7, "fields", "not an object");
    p = customer_post("s-4", NULL, "hi", at(t, 4));
    p.customer = odd;
    ASSERT_EQ(post(t, p), HD_OK);
    customer = field(t->conversation, "customer");
    ASSERT_STR_EQ(str(customer, "session_id"), "s-4");
    assert_null(customer, "name");
    assert_null(customer, "email");
    assert_null(customer, "fields");
    json_t *bad = json_string("Ann");
    p = customer_post("s-5", NULL, "hi", at(t, 5));
    p.customer = bad;
    ASSERT_EQ(post(t, p), HD_EBADREQ);
    ASSERT_EQ(conversations(t, AS_SESSION("s-5"), 0), HD_OK);
    assert_list(t->list, "ticket_chat_id", 0);
    json_decref(who);
    json_decref(want);
    json_decref(other);
    json_decref(odd);
    json_decref(bad);
}

/* unread = last_seq - what the agent side read: the read op and agent posts move it. */
static void read_and_unread(ct *t)
{
    hd_agent a1 = agent("a-1", 5);
    chat_ref c1 = open_chat(t, "s-1", NULL, at(t, 0));
    ASSERT_EQ(num(t->conversation, "unread"), 1);
    ASSERT_EQ(post(t, customer_post("s-1", c1.s, "2", at(t, 1))), HD_OK);
    ASSERT_EQ(post(t, customer_post("s-1", c1.s, "3", at(t, 2))), HD_OK);
    take_ok(t, c1.s, &a1, at(t, 3));
    ASSERT_EQ(num(t->conversation, "unread"), 3);

    ASSERT_EQ(read_upto(t, c1.s, AS_AGENT("a-1"), "agent", 2), HD_OK);
    assert_state(t, "assigned", "a-1");
    ASSERT_EQ(num(t->conversation, "unread"), 1);
    ASSERT_EQ(read_upto(t, c1.s, AS_AGENT("a-1"), "agent", 1), HD_OK); /* only grows */
    ASSERT_EQ(num(t->conversation, "unread"), 1);
    ASSERT_EQ(read_upto(t, c1.s, AS_BACKEND, "agent", 99), HD_OK); /* capped at last_seq */
    ASSERT_EQ(num(t->conversation, "unread"), 0);
    ASSERT_EQ(post(t, customer_post("s-1", c1.s, "4", at(t, 4))), HD_OK);
    ASSERT_EQ(conversations(t, AS_AGENT("a-1"), 1), HD_OK);
    ASSERT_EQ(num(json_array_get(t->list, 0), "unread"), 1);
    ASSERT_EQ(post(t, agent_post("a-1", c1.s, "5", at(t, 5))), HD_OK); /* read up to its own */
    ASSERT_EQ(history(t, c1.s, AS_BACKEND, 0, HISTORY_ALL), HD_OK);
    ASSERT_EQ(num(t->conversation, "unread"), 0);
    ASSERT_EQ(post(t, bot_post(c1.s, "6", at(t, 6))), HD_OK); /* a bot reads for nobody */
    ASSERT_EQ(history(t, c1.s, AS_BACKEND, 0, HISTORY_ALL), HD_OK);
    ASSERT_EQ(num(t->conversation, "unread"), 1);

    /* The customer's side is kept apart from the agent's. */
    ASSERT_EQ(read_upto(t, c1.s, AS_SESSION("s-1"), "customer", 6), HD_OK);
    ASSERT_EQ(num(t->conversation, "unread"), 1);
    ASSERT_EQ(read_upto(t, c1.s, AS_SESSION("s-1"), "agent", 6), HD_EFORBIDDEN);
    ASSERT_EQ(read_upto(t, c1.s, AS_AGENT("a-1"), "customer", 6), HD_EFORBIDDEN);
    ASSERT_EQ(read_upto(t, c1.s, AS_SESSION("s-2"), "customer", 6), HD_EFORBIDDEN);
    ASSERT_EQ(read_upto(t, c1.s, AS_AGENT("a-2"), "agent", 6), HD_EFORBIDDEN);
    ASSERT_EQ(read_upto(t, "c_unknown", AS_BACKEND, "agent", 1), HD_ENOTFOUND);
    ASSERT_EQ(read_upto(t, c1.s, AS_BACKEND, "robot", 1), HD_EBADREQ);
    ASSERT_EQ(read_upto(t, c1.s, AS_BACKEND, NULL, 1), HD_EBADREQ);
    ASSERT_EQ(history(t, c1.s, AS_BACKEND, 0, HISTORY_ALL), HD_OK);
    ASSERT_EQ(num(t->conversation, "unread"), 1);

    /* A closed conversation may still be marked read. */
    ASSERT_EQ(close_chat(t, c1.s, AS_AGENT("a-1"), "agent", "agent", at(t, 7)), HD_OK);
    ASSERT_EQ(read_upto(t, c1.s, AS_AGENT("a-1"), "agent", 6), HD_OK);
    ASSERT_EQ(num(t->conversation, "unread"), 0);
}

/* A conversation that never had an agent closes "unanswered", whoever closes it. */
static void close_unanswered(ct *t)
{
    hd_agent a1 = agent("a-1", 5);
    chat_ref c1 = open_chat(t, "s-1", NULL, at(t, 0));
    ASSERT_EQ(close_chat(t, c1.s, AS_SESSION("s-1"), "customer", "customer", at(t, 1)), HD_OK);
    ASSERT_STR_EQ(str(t->conversation, "reason"), "unanswered");
    ASSERT_STR_EQ(str(t->conversation, "closed_by"), "customer");
    chat_ref c2 = open_chat(t, "s-2", NULL, at(t, 2));
    ASSERT_EQ(close_chat(t, c2.s, AS_BACKEND, "backend", NULL, at(t, 3)), HD_OK);
    ASSERT_STR_EQ(str(t->conversation, "reason"), "unanswered");
    ASSERT_STR_EQ(str(t->conversation, "closed_by"), "backend");

    /* One that had an agent keeps the reason given, back in the queue or not. */
    chat_ref c3 = open_chat(t, "s-3", NULL, at(t, 4));
    take_ok(t, c3.s, &a1, at(t, 5));
    ASSERT_EQ(transfer(t, c3.s, AS_AGENT("a-1"), NULL, NULL, at(t, 6)), HD_OK);
    assert_state(t, "queued", NULL);
    ASSERT_EQ(close_chat(t, c3.s, AS_SESSION("s-3"), "customer", "customer", at(t, 7)), HD_OK);
    ASSERT_STR_EQ(str(t->conversation, "reason"), "customer");
    chat_ref c4 = open_chat(t, "s-4", NULL, at(t, 8));
    take_ok(t, c4.s, &a1, at(t, 9));
    ASSERT_EQ(close_chat(t, c4.s, AS_AGENT("a-1"), "agent", "agent", at(t, 10)), HD_OK);
    ASSERT_STR_EQ(str(t->conversation, "reason"), "agent");
}

/* Both fields NULL and open only: every open conversation, newest first. */
static void conversations_every_open(ct *t)
{
    hd_agent a1 = agent("a-1", 5);
    chat_ref c1 = open_chat(t, "s-1", NULL, at(t, 0));
    chat_ref c2 = open_chat(t, "s-2", NULL, at(t, 1));
    chat_ref c3 = open_chat(t, "s-3", NULL, at(t, 2));
    take_ok(t, c3.s, &a1, at(t, 3));
    ASSERT_EQ(close_chat(t, c1.s, AS_BACKEND, "backend", "backend", at(t, 4)), HD_OK);
    ASSERT_EQ(post(t, customer_post("s-2", c2.s, "still there?", at(t, 5))), HD_OK);
    ASSERT_EQ(conversations(t, AS_BACKEND, 1), HD_OK);
    assert_list(t->list, "ticket_chat_id", 2, c3.s, c2.s);
    assert_list(t->list, "status", 2, "assigned", "queued");
    assert_conversation_shape(json_array_get(t->list, 0));
    ASSERT_EQ(num(json_array_get(t->list, 1), "unread"), 2);
    ASSERT_EQ(conversations(t, NULL, 1), HD_OK);
    assert_list(t->list, "ticket_chat_id", 2, c3.s, c2.s);
    ASSERT_EQ(conversations(t, AS_BACKEND, 0), HD_EBADREQ);
}

/* The JSON of one agent of the agents list. */
static void assert_agent(const json_t *a, const char *id, const char *name, size_t n_depts,
                         const char *status, int online, int open, int max)
{
    ASSERT_STR_EQ(str(a, "id"), id);
    if (name)
        ASSERT_STR_EQ(str(a, "name"), name);
    else
        assert_null(a, "name");
    ASSERT(json_is_array(field(a, "dept")));
    ASSERT_EQ(json_array_size(field(a, "dept")), n_depts);
    ASSERT_STR_EQ(str(a, "status"), status);
    ASSERT(json_is_boolean(field(a, "online")));
    ASSERT_EQ(json_is_true(field(a, "online")), online);
    ASSERT_EQ(num(a, "open_chats"), open);
    ASSERT_EQ(num(a, "max_chats"), max);
    ASSERT_EQ(json_object_size(a), 7);
}

static void agents_listed(ct *t)
{
    static const char *const sales[] = {"sales", "vip"};
    hd_agent a1 = agent("a-1", 2);
    hd_agent a2 = {.id = "a-2", .depts = sales, .n_depts = 2, .max_chats = 3};
    hd_agent a3 = agent("a-3", 4);
    ASSERT_EQ(agents(t, at(t, 0)), HD_OK);
    assert_list(t->list, "id", 0);
    connect_agent(t, &a2, at(t, 0));
    ASSERT_EQ(presence(t, &a1, 1, 0, at(t, 1)), HD_OK);               /* connects away */
    take_ok(t, open_chat(t, "s-1", NULL, at(t, 2)).s, &a3, at(t, 3)); /* known, no socket */
    take_ok(t, open_chat(t, "s-2", "sales", at(t, 4)).s, &a2, at(t, 5));
    ASSERT_EQ(agents(t, at(t, 6)), HD_OK);
    assert_list(t->list, "id", 3, "a-1", "a-2", "a-3");
    assert_agent(json_array_get(t->list, 0), "a-1", "a-1", 0, "away", 1, 0, 2);
    assert_agent(json_array_get(t->list, 1), "a-2", NULL, 2, "online", 1, 1, 3);
    ASSERT_STR_EQ(json_string_value(json_array_get(field(json_array_get(t->list, 1), "dept"), 1)),
                  "vip");
    assert_agent(json_array_get(t->list, 2), "a-3", "a-3", 0, "online", 0, 1, 4);

    ASSERT_EQ(presence(t, &a2, -1, -1, at(t, 7)), HD_OK);
    ASSERT_EQ(presence(t, &a1, 0, 1, at(t, 7)), HD_OK);
    ASSERT_EQ(agents(t, at(t, 8)), HD_OK);
    assert_agent(json_array_get(t->list, 0), "a-1", "a-1", 0, "online", 1, 0, 2);
    assert_agent(json_array_get(t->list, 1), "a-2", NULL, 2, "online", 0, 1, 3);
}

/* One entry of the departments list. */
static void assert_dept(const json_t *d, const char *dept, int online, int queued)
{
    ASSERT_STR_EQ(str(d, "dept"), dept);
    ASSERT_EQ(num(d, "agents_online"), online);
    ASSERT_EQ(num(d, "queue_length"), queued);
    ASSERT_EQ(json_object_size(d), 3);
}

static void assert_queue_status(ct *t, const char *dept, int online, int queued)
{
    ASSERT_EQ(queue_status(t, dept, at(t, 10)), HD_OK);
    ASSERT_EQ(num(t->conversation, "agents_online"), online);
    ASSERT_EQ(num(t->conversation, "queue_length"), queued);
    ASSERT_EQ(json_object_size(t->conversation), 2);
}

/* agents_online: available agents serving the department (one without departments serves
 * each); queue_length: its queued conversations. */
static void departments_and_queue_status(ct *t)
{
    static const char *const sales[] = {"sales"}, *const sales_support[] = {"sales", "support"},
                             *const billing[] = {"billing"};
    hd_agent a1 = {.id = "a-1", .depts = sales, .n_depts = 1, .max_chats = 1};
    hd_agent a2 = {.id = "a-2", .depts = sales_support, .n_depts = 2, .max_chats = 3};
    hd_agent a3 = agent("a-3", 3);
    hd_agent a4 = {.id = "a-4", .depts = billing, .n_depts = 1, .max_chats = 3};
    ASSERT_EQ(departments(t, at(t, 0)), HD_OK);
    assert_list(t->list, "dept", 0);
    assert_queue_status(t, NULL, 0, 0);
    connect_agent(t, &a1, at(t, 0));
    ASSERT_EQ(presence(t, &a2, 1, 0, at(t, 0)), HD_OK); /* away */
    connect_agent(t, &a3, at(t, 0));
    connect_agent(t, &a4, at(t, 0));
    ASSERT_EQ(presence(t, &a4, -1, -1, at(t, 0)), HD_OK); /* gone */
    open_chat(t, "s-1", "vip", at(t, 1));
    open_chat(t, "s-2", "sales", at(t, 2));
    open_chat(t, "s-3", NULL, at(t, 3));
    chat_ref c4 = open_chat(t, "s-4", "sales", at(t, 4));
    take_ok(t, c4.s, &a1, at(t, 5)); /* no longer queued; a-1 still counts (full) */

    ASSERT_EQ(departments(t, at(t, 6)), HD_OK);
    assert_list(t->list, "dept", 4, "billing", "sales", "support", "vip");
    assert_dept(json_array_get(t->list, 0), "billing", 1, 0);
    assert_dept(json_array_get(t->list, 1), "sales", 2, 1);
    assert_dept(json_array_get(t->list, 2), "support", 1, 0);
    assert_dept(json_array_get(t->list, 3), "vip", 1, 1);
    assert_queue_status(t, NULL, 2, 3);
    assert_queue_status(t, "sales", 2, 1);
    assert_queue_status(t, "vip", 1, 1);
    assert_queue_status(t, "nobody-here", 1, 0);
    ASSERT_EQ(queue_status(t, "", at(t, 10)), HD_EBADREQ);

    ASSERT_EQ(presence(t, &a3, 0, 0, at(t, 11)), HD_OK); /* away: counts nowhere */
    ASSERT_EQ(departments(t, at(t, 12)), HD_OK);
    assert_dept(json_array_get(t->list, 0), "billing", 0, 0);
    assert_dept(json_array_get(t->list, 1), "sales", 1, 1);
    assert_queue_status(t, NULL, 1, 3);
}

static void visitor_registered(ct *t)
{
    json_t *in =
        json_pack("{s:s,s:s,s:{s:s},s:s,s:i}", "session_id", "v_1", "name", "Ann", "fields", "plan",
                  "pro", "created_at", "2026-01-01T00:00:00.000Z", "extra", 1);
    json_t *want = json_pack("{s:s,s:s,s:n,s:O,s:n,s:s}", "session_id", "v_1", "name", "Ann",
                             "email", "fields", json_object_get(in, "fields"), "user_id",
                             "created_at", "2026-01-01T00:00:00.000Z");
    ASSERT_EQ(visitor(t, in, 60000, at(t, 0)), HD_OK);
    ASSERT(json_equal(t->conversation, want));
    ASSERT_EQ(visitor(t, in, 60000, at(t, 1)), HD_OK); /* again: replaced */
    json_t *no_session = json_pack("{s:s}", "name", "Ann");
    ASSERT_EQ(visitor(t, no_session, 60000, at(t, 2)), HD_EBADREQ);
    ASSERT_EQ(visitor(t, in, 0, at(t, 2)), HD_EBADREQ);
    json_t *events = t->events(t->ud);
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(events); i++) {
        json_t *e = json_array_get(events, i);
        ASSERT_STR_EQ(str(e, "type"), "visitor");
        ASSERT(json_equal(field(e, "data"), want));
        n++;
    }
    ASSERT_EQ(n, 2);
    json_decref(events);
    json_decref(no_session);
    json_decref(want);
    json_decref(in);
}

/* ---- cases: events ---- */

/* The events expected so far, to compare with the store's. */
static void expect(json_t *want, const char *type, json_t *data)
{
    json_array_append_new(want, json_pack("{s:s,s:O}", "type", type, "data", data));
}

/* The conversation with previous_agent added, as the transferred event has it. */
static json_t *with_previous(const json_t *conv, const char *previous_agent)
{
    json_t *j = json_deep_copy(conv);
    json_object_set_new(j, "previous_agent",
                        previous_agent ? json_string(previous_agent) : json_null());
    return j;
}

/* The queue's inquiry for chat. */
static json_t *inquiry_of(ct *t, const char *chat)
{
    ASSERT_EQ(inquiries(t), HD_OK);
    for (size_t i = 0; i < json_array_size(t->list); i++)
        if (strcmp(str(json_array_get(t->list, i), "ticket_chat_id"), chat) == 0)
            return json_incref(json_array_get(t->list, i));
    TEST_FAIL("%s is not queued", chat);
}

static void assert_events(ct *t, const json_t *want)
{
    json_t *got = t->events(t->ud);
    for (size_t i = 0; i < json_array_size(want) || i < json_array_size(got); i++) {
        json_t *w = json_array_get(want, i), *g = json_array_get(got, i);
        if (!w || !g || !json_equal(w, g)) {
            char *ws = w ? json_dumps(w, JSON_COMPACT) : NULL;
            char *gs = g ? json_dumps(g, JSON_COMPACT) : NULL;
            TEST_FAIL("event %zu: want %s\ngot %s", i, ws ? ws : "none", gs ? gs : "none");
        }
    }
    json_decref(got);
}

/* Every change makes its event, in order, with the data the results show: the same in
 * every store (hd:events for Redis, the sink for memory). */
static void events_every_change(ct *t)
{
    hd_agent a1 = agent("a-1", 1), a2 = agent("a-2", 2);
    json_t *want = json_array(), *j;

    chat_ref c1 = open_chat(t, "s-1", NULL, at(t, 0)); /* not routed: queued */
    expect(want, "message", t->message);
    expect(want, "queued", j = inquiry_of(t, c1.s));
    json_decref(j);
    connect_agent(t, &a1, at(t, 1));

    /* Routed with its post: the queue's oldest goes to a-1, the new one stays queued. */
    hd_post p = customer_post("s-2", NULL, "hello", at(t, 2));
    p.assign = 1;
    p.client_msg_id = "m-1";
    ASSERT_EQ(post(t, p), HD_OK);
    chat_ref c2 = ref_of(t->conversation);
    expect(want, "message", t->message);
    assert_list(t->list, "ticket_chat_id", 1, c1.s);
    expect(want, "assigned", json_array_get(t->list, 0));
    expect(want, "queued", j = inquiry_of(t, c2.s));
    json_decref(j);
    ASSERT_EQ(post(t, p), HD_OK); /* a retry changes nothing */
    ASSERT_EQ(t->duplicate, 1);

    connect_agent(t, &a2, at(t, 3));
    take_ok(t, c2.s, &a2, at(t, 4));
    expect(want, "assigned", t->conversation);
    ASSERT_EQ(transfer(t, c2.s, AS_AGENT("a-2"), NULL, "sales", at(t, 5)), HD_OK);
    expect(want, "transferred", j = with_previous(t->conversation, "a-2"));
    json_decref(j);
    expect(want, "queued", j = inquiry_of(t, c2.s));
    json_decref(j);
    ASSERT_EQ(post(t, agent_post("a-1", c1.s, "hi", at(t, 6))), HD_OK);
    expect(want, "message", t->message);
    ASSERT_EQ(transfer(t, c1.s, AS_AGENT("a-1"), "a-2", NULL, at(t, 7)), HD_OK);
    expect(want, "transferred", j = with_previous(t->conversation, "a-1"));
    json_decref(j);
    ASSERT_EQ(read_upto(t, c1.s, AS_AGENT("a-2"), "agent", 2), HD_OK); /* no event */
    ASSERT_EQ(close_chat(t, c1.s, AS_AGENT("a-2"), "agent", "agent", at(t, 8)), HD_OK);
    expect(want, "closed", t->conversation);
    ASSERT_EQ(sweep(t, at(t, INACTIVITY + MINUTE), INACTIVITY), HD_OK);
    assert_list(t->list, "ticket_chat_id", 1, c2.s);
    expect(want, "closed", json_array_get(t->list, 0));
    json_t *record = json_pack("{s:s}", "session_id", "v_1");
    ASSERT_EQ(visitor(t, record, 60000, at(t, 9)), HD_OK);
    expect(want, "visitor", t->conversation);
    json_decref(record);
    assert_events(t, want);
    json_decref(want);
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
    X(inquiries_oldest_first) X(sweep_closes_inactive)                                   \
    X(customer_fixed_at_creation) X(read_and_unread) X(close_unanswered)                 \
    X(conversations_every_open) X(agents_listed) X(departments_and_queue_status)         \
    X(visitor_registered) X(events_every_change)
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

int hd_store_contract_run(const char *test_name, hd_store_make_fn make, hd_store_events_fn events,
                          void *ud, uv_loop_t *loop)
{
    size_t i = 0;
    while (hd_store_contract_cases[i] && strcmp(hd_store_contract_cases[i], test_name) != 0)
        i++;
    if (!hd_store_contract_cases[i])
        TEST_FAIL("no store contract case named %s", test_name);
    ct t = {.st = make(ud), .events = events, .ud = ud, .loop = loop, .t0 = hd_now_ms()};
    ASSERT(t.st != NULL);
    CASE_FNS[i](&t);
    step_begin(&t);
    t.st->ops->close(t.st, on_store_closed, &t);
    step_end(&t);
    return 0;
}
