/* store_memory.c: the store of the embedded mode, plain C on the loop's thread.
 *
 * Every operation runs to its end before it returns, so each is atomic for free and its
 * callback runs synchronously. A conversation is one struct linked into up to four lists
 * at once (the queue, the open conversations by last activity, its session's, its
 * agent's), so routing, sweeping and listing walk only what they may return. Maps give
 * O(1) lookup by conversation, session and agent id, and per conversation by
 * client_msg_id; a conversation's messages are an array indexed by seq - 1.
 *
 * Nothing is forgotten before the store closes: closed conversations stay readable
 * (history, conversations), so memory grows with the conversations of the process's
 * lifetime. That is the embedded mode's bargain (one node, lost on restart); a deployment
 * that needs bounded memory or durability configures Redis. Visitor records are the
 * exception, for anyone on a web page may make one: each expires with its ttl, and at
 * most MEM_VISITORS_MAX are kept (the oldest go first).
 *
 * Events (store.h) go to the sink as they are made, the same types and data that the
 * Redis store appends to hd:events; with no sink none is built.
 *
 * Results share the stored message objects (no copy per delivery): callers must treat a
 * result's JSON as read-only, which store.h already implies by lending it.
 */
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "map.h"
#include "message.h"
#include "store.h"

#define MEM_MSGS_FIRST_CAP 8 /* messages a conversation holds before its array grows */
/* visitor records kept at most: a record is a few hundred bytes, at most some 3 KB with
 * fields at their bound (contract.h), so some 30 MB at worst */
#define MEM_VISITORS_MAX 10000

typedef enum { CONV_QUEUED, CONV_ASSIGNED, CONV_CLOSED } conv_status;

static const char *const STATUS_NAMES[] = {"queued", "assigned", "closed"};

/* The lists a conversation can be in, each through its own links. */
enum { IN_QUEUE, IN_OPEN, IN_SESSION, IN_AGENT, IN_LISTS };

typedef struct mem_conv mem_conv;

typedef struct mem_agent {
    char *id;     /* the map key */
    char *name;   /* NULL: none */
    char **depts; /* n_depts 0: every department */
    size_t n_depts;
    int max_chats;
    int sockets; /* connected sockets: the sum of presence deltas, never below 0 */
    int online;  /* 1 online, 0 away */
    int open;    /* assigned conversations not closed */
    int assigned_ever;
    int64_t idle_since; /* last assignment; if none, when it last became available */
    sb_list convs;      /* conversations it has, closed ones included */
} mem_agent;

typedef struct mem_session {
    char *id;       /* the map key */
    mem_conv *open; /* its queued or assigned conversation, or NULL */
    sb_list convs;  /* every conversation it had, oldest first */
} mem_session;

/* A stored message, kept as the JSON text it was sent as: one allocation instead of a
 * tree of some thirty, which is most of what a long conversation costs. Reads (history,
 * a retry, a conversation's first and last message) parse it again. */
typedef struct mem_msg {
    char *cmid; /* client_msg_id, at the start of data, or NULL */
    size_t len; /* bytes of text */
    char *text; /* the message, compact JSON, NUL-terminated, inside data */
    char data[];
} mem_msg;

struct mem_conv {
    char *id; /* the map key */
    mem_session *session;
    char *dept; /* NULL: none */
    conv_status status;
    mem_agent *agent; /* kept when closed, so that the agent may still read it */
    int64_t created_at, queued_at, last_activity;
    uint64_t serial;          /* creation order: breaks created_at ties */
    char *closed_by, *reason; /* NULL until closed */
    char *customer;           /* the customer object, compact JSON, fixed at creation */
    int had_agent;            /* ever assigned: else it closes "unanswered" */
    int64_t agent_read;       /* the seq each side has read up to (<= n_msgs) */
    int64_t customer_read;
    mem_msg **msgs; /* msgs[seq - 1] */
    size_t n_msgs, cap_msgs;
    sb_map by_client_msg_id; /* client_msg_id → message; the key lives in the message */
    sb_list links[IN_LISTS]; /* links[k]: its place in the list k */
};

/* A visitor record (the visitor op), in the visitors map and list. */
typedef struct mem_visitor {
    char *session_id; /* the map key */
    char *text;       /* the record, compact JSON */
    int64_t expires_ms;
    sb_list link; /* in st->visitor_order */
} mem_visitor;

typedef struct mem_store {
    hd_store base;
    sb_map convs;    /* id → mem_conv */
    sb_map sessions; /* id → mem_session */
    sb_map agents;   /* id → mem_agent */
    sb_list queue;   /* queued: by queued_at, then enqueue order */
    sb_list open;    /* queued or assigned: by last_activity */
    uint64_t serial;
    sb_buf scratch;        /* the message being posted, as text */
    sb_map visitors;       /* session id → mem_visitor */
    sb_list visitor_order; /* oldest registration first */
    hd_event_sink sink;    /* NULL: events are not made */
    void *sink_ud;
} mem_store;

/* ---- memory: the project treats running out of it as fatal ---- */

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

static char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* Strings reach results only after text_ok() accepted them, so a NULL from jansson here
 * can only be memory exhaustion. */
static json_t *must(json_t *j)
{
    if (!j)
        abort();
    return j;
}

/* ---- input checks, before anything changes ---- */

/* Valid UTF-8: jansson refuses anything else, and results are JSON. */
static int text_ok(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    json_decref(j);
    return j != NULL;
}

static int id_ok(const char *s)
{
    return s && s[0] && strnlen(s, HD_ID_MAX + 1) <= HD_ID_MAX && text_ok(s);
}

static int agent_ok(const hd_agent *a)
{
    if (!a || !id_ok(a->id) || (a->name && !text_ok(a->name)) || a->max_chats < 1)
        return 0;
    for (size_t i = 0; i < a->n_depts; i++)
        if (!id_ok(a->depts[i]))
            return 0;
    return 1;
}

/* ---- intrusive lists (sb_list, through links[k] for the list k) ---- */

static mem_conv *conv_of(const sb_list *link, int k)
{
    return SB_LIST_DATA(link - k, mem_conv, links);
}

/* The first conversation of l, a list k, or NULL. */
static mem_conv *list_first(const sb_list *l, int k)
{
    return sb_list_empty(l) ? NULL : conv_of(l->next, k);
}

/* The order a sorted list keeps; 0 for the lists that only append. */
static int64_t list_key(const mem_conv *c, int k)
{
    return k == IN_QUEUE ? c->queued_at : k == IN_OPEN ? c->last_activity : 0;
}

/* Inserts c after the last element whose key is not greater. Keys are normally "now", the
 * greatest yet, so this stops at the tail unless the callers' clocks disagree. */
static void list_insert(sb_list *l, mem_conv *c, int k)
{
    sb_list *after = l->prev;
    while (after != l && list_key(conv_of(after, k), k) > list_key(c, k))
        after = after->prev;
    sb_list_insert_after(after, &c->links[k]);
}

/* ---- results ---- */

/* text: the message's JSON (len bytes); cmid: its client_msg_id or NULL. */
static mem_msg *msg_new(const uint8_t *text, size_t len, const char *cmid)
{
    size_t clen = cmid ? strlen(cmid) + 1 : 0;
    mem_msg *m = malloc(sizeof(*m) + clen + len + 1);
    if (!m)
        abort();
    m->cmid = cmid ? memcpy(m->data, cmid, clen) : NULL;
    m->text = m->data + clen;
    m->len = len;
    memcpy(m->text, text, len);
    m->text[len] = '\0';
    return m;
}

static json_t *msg_json(const mem_msg *m)
{
    return must(json_loadb(m->text, m->len, JSON_DECODE_ANY, NULL));
}

static json_t *agent_json(const mem_agent *a)
{
    return a ? must(json_pack("{s:s,s:s?}", "id", a->id, "name", a->name)) : json_null();
}

static json_t *customer_json(const mem_conv *c) { return must(json_loads(c->customer, 0, NULL)); }

static json_t *conv_json(const mem_conv *c)
{
    char created[HD_TIME_LEN + 1], queued[HD_TIME_LEN + 1];
    hd_time_iso(c->created_at, created);
    hd_time_iso(c->queued_at, queued);
    json_t *first = c->n_msgs ? msg_json(c->msgs[0]) : NULL;
    json_t *last = c->n_msgs ? msg_json(c->msgs[c->n_msgs - 1]) : NULL;
    return must(json_pack(
        "{s:s,s:s,s:s?,s:s,s:o,s:s,s:s,s:I,s:o?,s:o?,s:s?,s:s?,s:o,s:I}", "ticket_chat_id", c->id,
        "session_id", c->session->id, "dept", c->dept, "status", STATUS_NAMES[c->status], "agent",
        agent_json(c->agent), "created_at", created, "queued_at", queued, "last_seq",
        (json_int_t)c->n_msgs, "last_message", last, "first_message", first, "closed_by",
        c->closed_by, "reason", c->reason, "customer", customer_json(c), "unread",
        (json_int_t)((int64_t)c->n_msgs - c->agent_read)));
}

static json_t *inquiry_json(const mem_conv *c)
{
    char queued[HD_TIME_LEN + 1];
    hd_time_iso(c->queued_at, queued);
    return must(json_pack("{s:s,s:s,s:s?,s:o?,s:s,s:o}", "ticket_chat_id", c->id, "session_id",
                          c->session->id, "dept", c->dept, "first_message",
                          c->n_msgs ? msg_json(c->msgs[0]) : NULL, "queued_at", queued, "customer",
                          customer_json(c)));
}

/* ---- events (to the sink) ---- */

static void emit_text(mem_store *st, const char *type, const char *data, size_t len)
{
    if (st->sink)
        st->sink(type, data, len, st->sink_ud);
}

/* Emits data (a reference handed over) as compact JSON text. */
static void emit_json(mem_store *st, const char *type, json_t *data)
{
    char *text = json_dumps(data, JSON_COMPACT);
    if (!text)
        abort();
    emit_text(st, type, text, strlen(text));
    free(text);
    json_decref(data);
}

/* "assigned", "closed": the conversation; "transferred": plus previous_agent. */
static void emit_conv(mem_store *st, const char *type, const mem_conv *c, int with_previous,
                      const char *previous_agent)
{
    if (!st->sink)
        return;
    json_t *j = conv_json(c);
    if (with_previous)
        json_object_set_new(j, "previous_agent",
                            previous_agent ? must(json_string(previous_agent)) : json_null());
    emit_json(st, type, j);
}

/* c entered the queue. */
static void emit_queued(mem_store *st, const mem_conv *c)
{
    if (st->sink)
        emit_json(st, "queued", inquiry_json(c));
}

/* Calls back, then drops the result's references (the callback borrowed them). */
static void reply(hd_result *r, hd_result_cb cb, void *ud)
{
    cb(r, ud);
    json_decref(r->message);
    json_decref(r->conversation);
    json_decref(r->list);
}

static void reply_status(int status, hd_result_cb cb, void *ud)
{
    hd_result r = {.status = status};
    reply(&r, cb, ud);
}

static void reply_conv(int status, const mem_conv *c, const char *previous_agent, hd_result_cb cb,
                       void *ud)
{
    hd_result r = {
        .status = status, .conversation = conv_json(c), .previous_agent = previous_agent};
    reply(&r, cb, ud);
}

/* ---- conversations ---- */

/* who NULL, or both its fields NULL: no restriction. A closed conversation keeps its
 * agent, so the agent passes and then meets the 409 (or reads the history). */
static int access_ok(const mem_conv *c, const hd_access *who)
{
    if (who && who->session_id && strcmp(who->session_id, c->session->id) != 0)
        return 0;
    if (who && who->agent_id && (!c->agent || strcmp(who->agent_id, c->agent->id) != 0))
        return 0;
    return 1;
}

/* The conversation chat_id if who may touch it; else NULL, *status saying why. */
static mem_conv *conv_for(mem_store *st, const char *chat_id, const hd_access *who, int *status)
{
    mem_conv *c = chat_id ? sb_map_get(&st->convs, chat_id) : NULL;
    *status = !c ? HD_ENOTFOUND : !access_ok(c, who) ? HD_EFORBIDDEN : HD_OK;
    return *status == HD_OK ? c : NULL;
}

static mem_session *session_get(mem_store *st, const char *id)
{
    mem_session *s = sb_map_get(&st->sessions, id);
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->id = xstrdup(id);
        sb_list_init(&s->convs);
        sb_map_put(&st->sessions, s->id, s);
    }
    return s;
}

/* A string member of obj, or null. */
static json_t *member_string(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_incref(v) : json_null();
}

/* The customer object a conversation created by p keeps (store.h), as compact JSON text. */
static char *customer_text(const hd_post *p)
{
    const json_t *in = p->customer;
    json_t *fields = json_object_get(in, "fields");
    json_t *name = in ? member_string(in, "name")
                   : p->sender_name && strcmp(p->sender_type, "customer") == 0
                       ? must(json_string(p->sender_name))
                       : json_null();
    json_t *c = must(json_pack("{s:s,s:o,s:o,s:O}", "session_id", p->session_id, "name", name,
                               "email", member_string(in, "email"), "fields",
                               json_is_object(fields) ? fields : json_null()));
    char *text = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    if (!text)
        abort();
    return text;
}

static mem_conv *conv_create(mem_store *st, const hd_post *p)
{
    mem_conv *c = xcalloc(1, sizeof(*c));
    for (int k = 0; k < IN_LISTS; k++)
        sb_list_init(&c->links[k]);
    c->id = xstrdup(p->new_chat_id);
    c->session = session_get(st, p->session_id);
    c->dept = xstrdup(p->dept);
    c->customer = customer_text(p);
    c->status = CONV_QUEUED;
    c->created_at = c->queued_at = c->last_activity = p->now_ms;
    c->serial = ++st->serial;
    sb_map_init(&c->by_client_msg_id);
    sb_map_put(&st->convs, c->id, c);
    c->session->open = c;
    list_insert(&c->session->convs, c, IN_SESSION);
    list_insert(&st->queue, c, IN_QUEUE);
    list_insert(&st->open, c, IN_OPEN);
    return c;
}

/* Something happened in c: the inactivity clock restarts. */
static void conv_touch(mem_store *st, mem_conv *c, int64_t now_ms)
{
    sb_list_remove(&c->links[IN_OPEN]);
    c->last_activity = now_ms;
    list_insert(&st->open, c, IN_OPEN);
}

/* Stores the message text (a copy) as the next seq of c; returns the stored message. */
static mem_msg *conv_append(mem_store *st, mem_conv *c, const sb_buf *text, const char *cmid,
                            int64_t now_ms)
{
    if (c->n_msgs == c->cap_msgs) {
        size_t cap = c->cap_msgs ? c->cap_msgs * 2 : MEM_MSGS_FIRST_CAP;
        mem_msg **grown = realloc(c->msgs, cap * sizeof(*grown));
        if (!grown)
            abort();
        c->msgs = grown;
        c->cap_msgs = cap;
    }
    mem_msg *m = msg_new(text->data, text->len, cmid);
    c->msgs[c->n_msgs++] = m;
    if (m->cmid)
        sb_map_put(&c->by_client_msg_id, m->cmid, m);
    conv_touch(st, c, now_ms);
    return m;
}

static void conv_set_dept(mem_conv *c, const char *dept)
{
    if (!dept)
        return;
    free(c->dept);
    c->dept = xstrdup(dept);
}

/* Takes c away from its agent, if it has one (c is open). */
static void conv_unassign(mem_conv *c)
{
    if (!c->agent)
        return;
    c->agent->open--;
    sb_list_remove(&c->links[IN_AGENT]);
    c->agent = NULL;
}

static void conv_leave_queue(mem_store *st, mem_conv *c)
{
    if (c->status == CONV_QUEUED)
        sb_list_remove(&c->links[IN_QUEUE]);
}

static void conv_assign(mem_store *st, mem_conv *c, mem_agent *a, int64_t now_ms)
{
    conv_unassign(c);
    conv_leave_queue(st, c);
    c->status = CONV_ASSIGNED;
    c->agent = a;
    c->had_agent = 1;
    a->open++;
    a->assigned_ever = 1;
    a->idle_since = now_ms;
    list_insert(&a->convs, c, IN_AGENT);
    conv_touch(st, c, now_ms);
}

static void conv_requeue(mem_store *st, mem_conv *c, const char *dept, int64_t now_ms)
{
    conv_unassign(c);
    conv_leave_queue(st, c);
    conv_set_dept(c, dept);
    c->status = CONV_QUEUED;
    c->queued_at = now_ms;
    list_insert(&st->queue, c, IN_QUEUE);
    conv_touch(st, c, now_ms);
}

/* The agent keeps c in its list (it may read it), but the slot is free again. A
 * conversation that never had an agent closes "unanswered", whatever the reason given. */
static void conv_close(mem_store *st, mem_conv *c, const char *by, const char *reason)
{
    if (!c->had_agent)
        reason = "unanswered";
    conv_leave_queue(st, c);
    if (c->agent)
        c->agent->open--;
    sb_list_remove(&c->links[IN_OPEN]);
    if (c->session->open == c)
        c->session->open = NULL;
    c->status = CONV_CLOSED;
    c->closed_by = xstrdup(by);
    c->reason = xstrdup(reason);
}

static void conv_free(mem_conv *c)
{
    for (size_t i = 0; i < c->n_msgs; i++)
        free(c->msgs[i]);
    free(c->msgs);
    sb_map_free(&c->by_client_msg_id);
    free(c->id);
    free(c->dept);
    free(c->closed_by);
    free(c->reason);
    free(c->customer);
    free(c);
}

/* ---- agents ---- */

static int agent_available(const mem_agent *a) { return a->sockets > 0 && a->online; }

static int agent_serves(const mem_agent *a, const char *dept)
{
    if (a->n_depts == 0 || !dept)
        return 1;
    for (size_t i = 0; i < a->n_depts; i++)
        if (strcmp(a->depts[i], dept) == 0)
            return 1;
    return 0;
}

static int agent_has_room(const mem_agent *a) { return a->open < a->max_chats; }

static void agent_free_depts(mem_agent *a)
{
    for (size_t i = 0; i < a->n_depts; i++)
        free(a->depts[i]);
    free(a->depts);
    a->depts = NULL;
    a->n_depts = 0;
}

/* The token is the authority on who the agent is: every op that is given one stores it. */
static void agent_set_profile(mem_agent *a, const hd_agent *in)
{
    free(a->name);
    a->name = xstrdup(in->name);
    agent_free_depts(a);
    a->depts = xcalloc(in->n_depts, sizeof(*a->depts));
    for (size_t i = 0; i < in->n_depts; i++)
        a->depts[i] = xstrdup(in->depts[i]);
    a->n_depts = in->n_depts;
    a->max_chats = in->max_chats;
}

/* A new agent is online (away is something an agent says) with no socket yet. */
static mem_agent *agent_upsert(mem_store *st, const hd_agent *in, int64_t now_ms)
{
    mem_agent *a = sb_map_get(&st->agents, in->id);
    if (!a) {
        a = xcalloc(1, sizeof(*a));
        a->id = xstrdup(in->id);
        sb_list_init(&a->convs);
        a->online = 1;
        a->idle_since = now_ms;
        sb_map_put(&st->agents, a->id, a);
    }
    agent_set_profile(a, in);
    return a;
}

static void agent_free(mem_agent *a)
{
    agent_free_depts(a);
    free(a->id);
    free(a->name);
    free(a);
}

/* Is a a better pick than b: fewer open, then idle longer, then the smaller id (so that
 * every store decides the same). */
static int agent_better(const mem_agent *a, const mem_agent *b)
{
    if (a->open != b->open)
        return a->open < b->open;
    if (a->idle_since != b->idle_since)
        return a->idle_since < b->idle_since;
    return strcmp(a->id, b->id) < 0;
}

/* ---- operations ---- */

/* The agents that could take one more conversation now (a new array, *n long). */
static mem_agent **agents_with_room(mem_store *st, size_t *n)
{
    mem_agent **v = xcalloc(st->agents.count, sizeof(*v)), *a;
    size_t pos = 0;
    *n = 0;
    while ((a = sb_map_next(&st->agents, &pos)) != NULL)
        if (agent_available(a) && agent_has_room(a))
            v[(*n)++] = a;
    return v;
}

/* The index in v of the agent c should go to, or n when none serves its department. */
static size_t agent_pick(mem_agent *const *v, size_t n, const mem_conv *c)
{
    size_t best = n;
    for (size_t i = 0; i < n; i++)
        if (agent_serves(v[i], c->dept) && (best == n || agent_better(v[i], v[best])))
            best = i;
    return best;
}

/* One pass suffices: an assignment only ever takes room away, so a conversation skipped
 * for want of an agent cannot become assignable later in the same call. Appends the
 * assignments made to list. */
static void route_queue(mem_store *st, int64_t now_ms, json_t *list)
{
    size_t n;
    mem_agent **v = agents_with_room(st, &n);
    sb_list *q, *next;
    SB_LIST_FOREACH_SAFE(q, next, &st->queue)
    {
        mem_conv *c = conv_of(q, IN_QUEUE);
        if (n == 0)
            break;
        size_t i = agent_pick(v, n, c);
        if (i == n)
            continue;
        conv_assign(st, c, v[i], now_ms);
        json_t *j = conv_json(c);
        json_array_append_new(list, j);
        if (st->sink)
            emit_json(st, "assigned", json_incref(j));
        if (!agent_has_room(v[i]))
            v[i] = v[--n];
    }
    free(v);
}

/* A post without a conversation id opens one for its session: it needs a session and an
 * id to give, and agents must always name the conversation (spec §3). */
static int post_new_check(mem_store *st, const hd_post *p)
{
    if (!id_ok(p->session_id) || !id_ok(p->new_chat_id) || (p->dept && !id_ok(p->dept)))
        return HD_EBADREQ;
    if (p->access.agent_id || sb_map_get(&st->convs, p->new_chat_id))
        return HD_EBADREQ;
    if (p->access.session_id && strcmp(p->access.session_id, p->session_id) != 0)
        return HD_EFORBIDDEN;
    if (p->customer && !json_is_object(p->customer))
        return HD_EBADREQ;
    return HD_OK;
}

/* The conversation p goes to; NULL with HD_OK: the session has none open, create it. */
static mem_conv *post_target(mem_store *st, const hd_post *p, int *status)
{
    if (p->ticket_chat_id)
        return conv_for(st, p->ticket_chat_id, &p->access, status);
    *status = post_new_check(st, p);
    mem_session *s = *status == HD_OK ? sb_map_get(&st->sessions, p->session_id) : NULL;
    return s ? s->open : NULL;
}

/* msg: a reference handed over (NULL: the text only); stored: the text as kept; assigned:
 * the assignments made with a conversation created now (a reference handed over, or
 * NULL). */
static void reply_post(const mem_conv *c, json_t *msg, const mem_msg *stored, int64_t seq,
                       int duplicate, int created, json_t *assigned, hd_result_cb cb, void *ud)
{
    /* the conversation only for a new one: the caller needs it only to announce it */
    hd_result r = {.status = HD_OK,
                   .message = msg,
                   .conversation = created ? conv_json(c) : NULL,
                   .list = assigned,
                   .duplicate = duplicate,
                   .created = created,
                   .message_text = stored->text,
                   .message_text_len = stored->len,
                   .chat_id = c->id,
                   .seq = seq};
    reply(&r, cb, ud);
}

/* A retry is answered before the closed check: its message was stored before the close. */
static void mem_post(hd_store *base, const hd_post *p, hd_result_cb cb, void *ud)
{
    mem_store *st = (mem_store *)base;
    int status;
    mem_conv *c = post_target(st, p, &status);
    if (status != HD_OK)
        return reply_status(status, cb, ud);
    mem_msg *dup =
        c && p->client_msg_id ? sb_map_get(&c->by_client_msg_id, p->client_msg_id) : NULL;
    if (dup) {
        json_t *msg = msg_json(dup);
        return reply_post(c, msg, dup, json_integer_value(json_object_get(msg, "seq")), 1, 0, NULL,
                          cb, ud);
    }
    if (c && c->status == CONV_CLOSED)
        return reply_status(HD_ECONFLICT, cb, ud);
    if (p->client_msg_id && !id_ok(p->client_msg_id))
        return reply_status(HD_EBADREQ, cb, ud);
    sb_buf *text = &st->scratch;
    sb_buf_reset(text);
    if (c ? hd_message_text(p, c->id, c->session->id, (int64_t)c->n_msgs + 1, text)
          : hd_message_text(p, p->new_chat_id, p->session_id, 1, text))
        return reply_status(HD_EBADREQ, cb, ud); /* a missing field, text not UTF-8 */
    int created = c == NULL;
    if (created)
        c = conv_create(st, p);
    mem_msg *stored = conv_append(st, c, text, p->client_msg_id, p->now_ms);
    /* the poster has read up to its own message */
    if (strcmp(p->sender_type, "agent") == 0)
        c->agent_read = (int64_t)c->n_msgs;
    else if (strcmp(p->sender_type, "customer") == 0)
        c->customer_read = (int64_t)c->n_msgs;
    emit_text(st, "message", stored->text, stored->len);
    json_t *assigned = created && p->assign ? must(json_array()) : NULL;
    if (assigned)
        route_queue(st, p->now_ms, assigned);
    if (created && c->status == CONV_QUEUED)
        emit_queued(st, c);
    reply_post(c, NULL, stored, (int64_t)c->n_msgs, 0, created, assigned, cb, ud);
}

static void mem_route(hd_store *base, int64_t now_ms, hd_result_cb cb, void *ud)
{
    mem_store *st = (mem_store *)base;
    hd_result r = {.status = HD_OK, .list = must(json_array())};
    route_queue(st, now_ms, r.list);
    reply(&r, cb, ud);
}

/* Manual taking ignores away/offline: the agent asked for this conversation itself. */
static void mem_take(hd_store *base, const char *chat_id, const hd_agent *agent, int64_t now_ms,
                     hd_result_cb cb, void *ud)
{
    mem_store *st = (mem_store *)base;
    int status;
    mem_conv *c = conv_for(st, chat_id, NULL, &status);
    if (c && !agent_ok(agent))
        status = HD_EBADREQ;
    if (status != HD_OK)
        return reply_status(status, cb, ud);
    if (c->status != CONV_QUEUED)
        return reply_conv(HD_ECONFLICT, c, NULL, cb, ud);
    mem_agent *a = agent_upsert(st, agent, now_ms);
    if (!agent_serves(a, c->dept) || !agent_has_room(a))
        return reply_status(HD_EFORBIDDEN, cb, ud);
    conv_assign(st, c, a, now_ms);
    emit_conv(st, "assigned", c, 0, NULL);
    reply_conv(HD_OK, c, NULL, cb, ud);
}

/* May c go to agent_id (NULL: back to the queue)? *to: the agent, when named. An agent
 * "transferring" to itself keeps its slot, so only another agent's room is checked. */
static int transfer_check(mem_store *st, const mem_conv *c, const char *agent_id, const char *dept,
                          mem_agent **to)
{
    if (c->status == CONV_CLOSED)
        return HD_ECONFLICT;
    if (dept && !id_ok(dept))
        return HD_EBADREQ;
    *to = agent_id ? sb_map_get(&st->agents, agent_id) : NULL;
    if (agent_id && (!*to || !agent_available(*to)))
        return HD_EFORBIDDEN;
    if (*to && *to != c->agent && !agent_has_room(*to))
        return HD_EFORBIDDEN;
    return HD_OK;
}

static void mem_transfer(hd_store *base, const char *chat_id, const hd_access *access,
                         const char *agent_id, const char *dept, int64_t now_ms, hd_result_cb cb,
                         void *ud)
{
    mem_store *st = (mem_store *)base;
    int status;
    mem_agent *to = NULL;
    mem_conv *c = conv_for(st, chat_id, access, &status);
    if (c)
        status = transfer_check(st, c, agent_id, dept, &to);
    if (status != HD_OK)
        return reply_status(status, cb, ud);
    const char *previous = c->agent ? c->agent->id : NULL; /* agents live as long as st */
    if (to) {
        conv_set_dept(c, dept);
        conv_assign(st, c, to, now_ms);
    } else {
        conv_requeue(st, c, dept, now_ms);
    }
    emit_conv(st, "transferred", c, 1, previous);
    if (!to)
        emit_queued(st, c);
    reply_conv(HD_OK, c, previous, cb, ud);
}

static void mem_close_chat(hd_store *base, const char *chat_id, const hd_access *access,
                           const char *by, const char *reason, int64_t now_ms, hd_result_cb cb,
                           void *ud)
{
    mem_store *st = (mem_store *)base;
    int status;
    mem_conv *c = conv_for(st, chat_id, access, &status);
    if (c && c->status == CONV_CLOSED)
        status = HD_ECONFLICT;
    else if (c && (!id_ok(by) || (reason && !id_ok(reason))))
        status = HD_EBADREQ;
    if (status != HD_OK)
        return reply_status(status, cb, ud);
    const char *previous = c->agent ? c->agent->id : NULL;
    conv_close(st, c, by, reason);
    emit_conv(st, "closed", c, 0, NULL);
    reply_conv(HD_OK, c, previous, cb, ud);
}

static void mem_history(hd_store *base, const char *chat_id, const hd_access *access,
                        int64_t after_seq, size_t limit, hd_result_cb cb, void *ud)
{
    mem_store *st = (mem_store *)base;
    int status;
    mem_conv *c = conv_for(st, chat_id, access, &status);
    if (!c)
        return reply_status(status, cb, ud);
    size_t from = after_seq <= 0                     ? 0
                  : (uint64_t)after_seq >= c->n_msgs ? c->n_msgs
                                                     : (size_t)after_seq;
    size_t count = c->n_msgs - from < limit ? c->n_msgs - from : limit;
    hd_result r = {.status = HD_OK, .list = must(json_array()), .conversation = conv_json(c)};
    for (size_t i = from; i < from + count; i++)
        json_array_append_new(r.list, msg_json(c->msgs[i]));
    reply(&r, cb, ud);
}

static int newest_first(const void *x, const void *y)
{
    const mem_conv *a = *(const mem_conv *const *)x, *b = *(const mem_conv *const *)y;
    if (a->created_at != b->created_at)
        return a->created_at > b->created_at ? -1 : 1;
    return a->serial > b->serial ? -1 : a->serial < b->serial;
}

/* The list to look through for who: its session's, else its agent's (NULL: none). */
static const sb_list *conversations_of(mem_store *st, const hd_access *who)
{
    if (who->session_id) {
        mem_session *s = sb_map_get(&st->sessions, who->session_id);
        return s ? &s->convs : NULL;
    }
    mem_agent *a = sb_map_get(&st->agents, who->agent_id);
    return a ? &a->convs : NULL;
}

static json_t *conversations_json(const sb_list *l, int k, const hd_access *who, int open_only)
{
    size_t n = 0, cap = 0;
    const sb_list *q;
    SB_LIST_FOREACH(q, l)
    cap++;
    const mem_conv **v = xcalloc(cap, sizeof(*v));
    SB_LIST_FOREACH(q, l)
    {
        const mem_conv *c = conv_of(q, k);
        if (access_ok(c, who) && !(open_only && c->status == CONV_CLOSED))
            v[n++] = c;
    }
    qsort(v, n, sizeof(*v), newest_first);
    json_t *list = must(json_array());
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, conv_json(v[i]));
    free(v);
    return list;
}

/* Both fields set: the session's conversations that agent has. Neither: every open one. */
static void mem_conversations(hd_store *base, const hd_access *who, int open_only, hd_result_cb cb,
                              void *ud)
{
    mem_store *st = (mem_store *)base;
    int everyone = !who || (!who->session_id && !who->agent_id);
    if (everyone && !open_only)
        return reply_status(HD_EBADREQ, cb, ud);
    int k = everyone ? IN_OPEN : who->session_id ? IN_SESSION : IN_AGENT;
    const sb_list *l = everyone ? &st->open : conversations_of(st, who);
    hd_result r = {.status = HD_OK,
                   .list = l ? conversations_json(l, k, who, open_only) : must(json_array())};
    reply(&r, cb, ud);
}

static void mem_inquiries(hd_store *base, hd_result_cb cb, void *ud)
{
    mem_store *st = (mem_store *)base;
    hd_result r = {.status = HD_OK, .list = must(json_array())};
    sb_list *q;
    SB_LIST_FOREACH(q, &st->queue)
    json_array_append_new(r.list, inquiry_json(conv_of(q, IN_QUEUE)));
    reply(&r, cb, ud);
}

static void mem_agent_presence(hd_store *base, const hd_agent *agent, int delta, int online,
                               int64_t now_ms, hd_result_cb cb, void *ud)
{
    mem_store *st = (mem_store *)base;
    if (!agent_ok(agent))
        return reply_status(HD_EBADREQ, cb, ud);
    mem_agent *a = agent_upsert(st, agent, now_ms);
    int was_available = agent_available(a);
    a->sockets = a->sockets + delta > 0 ? a->sockets + delta : 0;
    if (online >= 0)
        a->online = online != 0;
    if (!was_available && agent_available(a) && !a->assigned_ever)
        a->idle_since = now_ms;
    reply_status(HD_OK, cb, ud);
}

/* The open list is ordered by last activity, so this walks only what it closes. */
static void mem_sweep(hd_store *base, int64_t now_ms, int64_t timeout_ms, hd_result_cb cb, void *ud)
{
    mem_store *st = (mem_store *)base;
    hd_result r = {.status = HD_OK, .list = must(json_array())};
    mem_conv *c;
    while ((c = list_first(&st->open, IN_OPEN)) != NULL && c->last_activity < now_ms - timeout_ms) {
        conv_close(st, c, "system", "inactive");
        json_t *j = conv_json(c);
        json_array_append_new(r.list, j);
        if (st->sink)
            emit_json(st, "closed", json_incref(j));
    }
    reply(&r, cb, ud);
}

/* reader: "agent" or "customer"; the other party's access may not mark it (403). */
static void mem_read(hd_store *base, const char *chat_id, const hd_access *access,
                     const char *reader, int64_t seq, hd_result_cb cb, void *ud)
{
    mem_store *st = (mem_store *)base;
    int agent_side = reader && strcmp(reader, "agent") == 0;
    if (!agent_side && !(reader && strcmp(reader, "customer") == 0))
        return reply_status(HD_EBADREQ, cb, ud);
    int status;
    mem_conv *c = conv_for(st, chat_id, access, &status);
    if (c && access && (agent_side ? access->session_id : access->agent_id))
        status = HD_EFORBIDDEN;
    if (status != HD_OK)
        return reply_status(status, cb, ud);
    int64_t *read = agent_side ? &c->agent_read : &c->customer_read;
    int64_t upto = seq < (int64_t)c->n_msgs ? seq : (int64_t)c->n_msgs;
    if (upto > *read)
        *read = upto;
    reply_conv(HD_OK, c, NULL, cb, ud);
}

static int by_agent_id(const void *x, const void *y)
{
    return strcmp((*(const mem_agent *const *)x)->id, (*(const mem_agent *const *)y)->id);
}

/* Every agent, ordered by id (a new array, st->agents.count long). */
static mem_agent **agents_sorted(mem_store *st)
{
    mem_agent **v = xcalloc(st->agents.count, sizeof(*v)), *a;
    size_t pos = 0, n = 0;
    while ((a = sb_map_next(&st->agents, &pos)) != NULL)
        v[n++] = a;
    qsort(v, n, sizeof(*v), by_agent_id);
    return v;
}

static void mem_agents(hd_store *base, int64_t now_ms, hd_result_cb cb, void *ud)
{
    mem_store *st = (mem_store *)base;
    (void)now_ms;
    mem_agent **v = agents_sorted(st);
    hd_result r = {.status = HD_OK, .list = must(json_array())};
    for (size_t i = 0; i < st->agents.count; i++) {
        const mem_agent *a = v[i];
        json_t *depts = must(json_array());
        for (size_t d = 0; d < a->n_depts; d++)
            json_array_append_new(depts, must(json_string(a->depts[d])));
        json_array_append_new(
            r.list,
            must(json_pack("{s:s,s:s?,s:o,s:s,s:b,s:i,s:i}", "id", a->id, "name", a->name, "dept",
                           depts, "status", a->online ? "online" : "away", "online", a->sockets > 0,
                           "open_chats", a->open, "max_chats", a->max_chats)));
    }
    free(v);
    reply(&r, cb, ud);
}

/* One department's counts, while departments counts them. */
typedef struct dept_count {
    const char *dept; /* borrowed from an agent or a conversation */
    int agents_online, queue_length;
} dept_count;

static int by_dept(const void *x, const void *y)
{
    return strcmp(((const dept_count *)x)->dept, ((const dept_count *)y)->dept);
}

static dept_count *dept_find(dept_count *v, size_t n, const char *dept)
{
    dept_count key = {.dept = dept};
    return bsearch(&key, v, n, sizeof(*v), by_dept);
}

/* Every department an agent names or a queued conversation is in, sorted, once each. */
static dept_count *depts_known(mem_store *st, size_t *n)
{
    size_t cap = 0, pos = 0;
    mem_agent *a;
    sb_list *q;
    while ((a = sb_map_next(&st->agents, &pos)) != NULL)
        cap += a->n_depts;
    SB_LIST_FOREACH(q, &st->queue)
    cap++;
    dept_count *v = xcalloc(cap, sizeof(*v));
    *n = 0;
    for (pos = 0; (a = sb_map_next(&st->agents, &pos)) != NULL;)
        for (size_t i = 0; i < a->n_depts; i++)
            v[(*n)++].dept = a->depts[i];
    SB_LIST_FOREACH(q, &st->queue)
    {
        const mem_conv *c = conv_of(q, IN_QUEUE);
        if (c->dept)
            v[(*n)++].dept = c->dept;
    }
    qsort(v, *n, sizeof(*v), by_dept);
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++)
        if (kept == 0 || strcmp(v[kept - 1].dept, v[i].dept) != 0)
            v[kept++] = v[i];
    *n = kept;
    return v;
}

static void mem_departments(hd_store *base, int64_t now_ms, hd_result_cb cb, void *ud)
{
    mem_store *st = (mem_store *)base;
    (void)now_ms;
    size_t n, pos = 0;
    dept_count *v = depts_known(st, &n);
    int serve_all = 0; /* available agents without departments: they count in each */
    mem_agent *a;
    while ((a = sb_map_next(&st->agents, &pos)) != NULL) {
        if (!agent_available(a))
            continue;
        serve_all += a->n_depts == 0;
        for (size_t i = 0; i < a->n_depts; i++)
            dept_find(v, n, a->depts[i])->agents_online++;
    }
    sb_list *q;
    SB_LIST_FOREACH(q, &st->queue)
    {
        const mem_conv *c = conv_of(q, IN_QUEUE);
        if (c->dept)
            dept_find(v, n, c->dept)->queue_length++;
    }
    hd_result r = {.status = HD_OK, .list = must(json_array())};
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            r.list,
            must(json_pack("{s:s,s:i,s:i}", "dept", v[i].dept, "agents_online",
                           v[i].agents_online + serve_all, "queue_length", v[i].queue_length)));
    free(v);
    reply(&r, cb, ud);
}

static void mem_queue_status(hd_store *base, const char *dept, int64_t now_ms, hd_result_cb cb,
                             void *ud)
{
    mem_store *st = (mem_store *)base;
    (void)now_ms;
    if (dept && !id_ok(dept))
        return reply_status(HD_EBADREQ, cb, ud);
    int online = 0, queued = 0;
    size_t pos = 0;
    mem_agent *a;
    while ((a = sb_map_next(&st->agents, &pos)) != NULL)
        online += agent_available(a) && agent_serves(a, dept);
    sb_list *q;
    SB_LIST_FOREACH(q, &st->queue)
    {
        const mem_conv *c = conv_of(q, IN_QUEUE);
        queued += !dept || (c->dept && strcmp(c->dept, dept) == 0);
    }
    hd_result r = {.status = HD_OK,
                   .conversation = must(
                       json_pack("{s:i,s:i}", "agents_online", online, "queue_length", queued))};
    reply(&r, cb, ud);
}

/* ---- visitors ---- */

static void visitor_drop(mem_store *st, mem_visitor *v)
{
    sb_map_del(&st->visitors, v->session_id);
    sb_list_remove(&v->link);
    free(v->session_id);
    free(v->text);
    free(v);
}

/* The record as stored: the six keys of store.h, each of its type or null; NULL when the
 * session id is missing or not an id. */
static json_t *visitor_record(const json_t *in)
{
    json_t *sid = json_object_get(in, "session_id");
    if (!json_is_object(in) || !id_ok(json_string_value(sid)))
        return NULL;
    json_t *fields = json_object_get(in, "fields");
    json_t *created = json_object_get(in, "created_at");
    return must(json_pack(
        "{s:O,s:o,s:o,s:O,s:o,s:O}", "session_id", sid, "name", member_string(in, "name"), "email",
        member_string(in, "email"), "fields", json_is_object(fields) ? fields : json_null(),
        "user_id", member_string(in, "user_id"), "created_at",
        json_is_string(created) || json_is_integer(created) ? created : json_null()));
}

/* Expired records go first, then the oldest while there are too many: the list is in
 * registration order, which is expiry order while the ttl is the same for all. */
static void mem_visitor_op(hd_store *base, json_t *record, int64_t ttl_ms, int64_t now_ms,
                           hd_result_cb cb, void *ud)
{
    mem_store *st = (mem_store *)base;
    json_t *rec = ttl_ms > 0 ? visitor_record(record) : NULL;
    if (!rec)
        return reply_status(HD_EBADREQ, cb, ud);
    mem_visitor *v =
        sb_map_get(&st->visitors, json_string_value(json_object_get(rec, "session_id")));
    if (v)
        visitor_drop(st, v);
    while (!sb_list_empty(&st->visitor_order)) {
        mem_visitor *old = SB_LIST_FIRST(&st->visitor_order, mem_visitor, link);
        if (old->expires_ms > now_ms && st->visitors.count < MEM_VISITORS_MAX)
            break;
        visitor_drop(st, old);
    }
    v = xcalloc(1, sizeof(*v));
    v->session_id = xstrdup(json_string_value(json_object_get(rec, "session_id")));
    v->text = json_dumps(rec, JSON_COMPACT);
    if (!v->text)
        abort();
    v->expires_ms = now_ms + ttl_ms;
    sb_map_put(&st->visitors, v->session_id, v);
    sb_list_insert_tail(&st->visitor_order, &v->link);
    emit_text(st, "visitor", v->text, strlen(v->text));
    hd_result r = {.status = HD_OK, .conversation = rec};
    reply(&r, cb, ud);
}

static void mem_close(hd_store *base, void (*done)(void *ud), void *ud)
{
    mem_store *st = (mem_store *)base;
    size_t pos = 0;
    void *v;
    while ((v = sb_map_next(&st->convs, &pos)) != NULL)
        conv_free(v);
    for (pos = 0; (v = sb_map_next(&st->agents, &pos)) != NULL;)
        agent_free(v);
    for (pos = 0; (v = sb_map_next(&st->sessions, &pos)) != NULL;) {
        free(((mem_session *)v)->id);
        free(v);
    }
    sb_map_free(&st->convs);
    sb_map_free(&st->agents);
    sb_map_free(&st->sessions);
    while (!sb_list_empty(&st->visitor_order))
        visitor_drop(st, SB_LIST_FIRST(&st->visitor_order, mem_visitor, link));
    sb_map_free(&st->visitors);
    sb_buf_free(&st->scratch);
    free(st);
    if (done)
        done(ud);
}

static const hd_store_ops MEM_OPS = {
    .post = mem_post,
    .route = mem_route,
    .take = mem_take,
    .transfer = mem_transfer,
    .close_chat = mem_close_chat,
    .history = mem_history,
    .conversations = mem_conversations,
    .inquiries = mem_inquiries,
    .agent_presence = mem_agent_presence,
    .sweep = mem_sweep,
    .read = mem_read,
    .agents = mem_agents,
    .departments = mem_departments,
    .queue_status = mem_queue_status,
    .visitor = mem_visitor_op,
    .close = mem_close,
};

void hd_store_memory_set_sink(hd_store *base, hd_event_sink sink, void *ud)
{
    mem_store *st = (mem_store *)base;
    st->sink = sink;
    st->sink_ud = ud;
}

hd_store *hd_store_memory_new(void)
{
    mem_store *st = xcalloc(1, sizeof(*st));
    st->base.ops = &MEM_OPS;
    sb_list_init(&st->queue);
    sb_list_init(&st->open);
    sb_map_init(&st->convs);
    sb_map_init(&st->sessions);
    sb_map_init(&st->agents);
    sb_map_init(&st->visitors);
    sb_list_init(&st->visitor_order);
    return &st->base;
}
