/* delivery.c: no acknowledged message is missed (spec §3 and §4, v1.1).
 *
 * A support message reaches a node's sockets as a broadcast to its chat room: this node's
 * own, or another node's through the adapter. Every socket in a chat room on this node
 * gets the same broadcasts from the moment it joins, so one number per conversation says
 * what they all have: `last`, the seq delivered here. Through the core's delivery hook the
 * node sees each support broadcast before its sockets do:
 *
 *   seq <= last      a repeat (a retry, or a catch-up that already brought it): dropped
 *   seq == last + 1  delivered; last = seq
 *   seq > last + 1   something was missed (a link was down, two nodes' broadcasts crossed):
 *                    dropped, and the conversation catches up
 *
 * A catch-up reads the conversation's messages after `last` from the store and delivers
 * them in seq order. Meanwhile the next message in order still goes to the room at once
 * (its members may leave before the catch-up lands: a conversation that closes), but for
 * the sockets the catch-up is for; anything else is dropped and read again. It runs
 * when the node's links come back (hd_delivery_links_up), when a gap shows, and for
 * sockets that need more than the room's stream ("wants"): an agent assigned after the
 * first message (the backlog, the last HD_BACKLOG), a socket that joins a conversation
 * (what was stored between the store's answer and the join) or resumes one (its resume
 * seq). Catch-ups start on the next loop turn (an idle handle), after the broadcast that
 * asked for one has been delivered.
 *
 * A room joined here starts receiving broadcasts once this node's subscription to it is
 * confirmed (cluster mode, one channel per room), a moment after the join: a conversation
 * newly tracked is read once more HD_VERIFY_MS later, by the tick, so that a message
 * broadcast in that moment and followed by no other still arrives.
 *
 * A conversation is tracked only while its chat room has members here; the tick forgets
 * the others.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "delivery.h"

#define HD_BACKLOG    50   /* messages an agent assigned later gets (spec §4) */
#define HD_RESUME_MAX 32   /* conversations one resume may name */
#define HD_VERIFY_MS  1000 /* a conversation newly tracked is read again after this */

enum {
    CHAT_IDLE,     /* nothing to do */
    CHAT_QUEUED,   /* in d->pending: a catch-up starts on the next loop turn */
    CHAT_FETCHING, /* a history read is in flight */
    CHAT_WAITING   /* the store could not answer: retried by the tick, the links' return,
                      or the next message of the conversation */
};

/* Sockets that need messages of a conversation after `from`, beyond the room's stream. */
typedef struct hd_want {
    struct hd_want *next;
    sio_socket *socket; /* one socket (referenced), or NULL: every local socket in target */
    int64_t from;       /* it has (or does not want) every message up to this seq */
    int started;        /* the read in flight began after it was added */
    char target[];      /* the room ("agent:<id>"), or the socket's id */
} hd_want;

struct hd_chat {
    hd_delivery *delivery;
    int64_t last;       /* the chat room's members here have every message up to it */
    int64_t seen;       /* the highest seq seen live while catching up or after a gap */
    int64_t read_after; /* the read in flight: messages after this seq */
    uint64_t verify_at; /* uv_now() after which the tick reads it once more; 0: no */
    int state;          /* CHAT_* */
    hd_want *wants;
    hd_chat *next_pending;
    char id[]; /* the map key */
};

/* ---- conversations tracked ---------------------------------------------------------- */

static hd_chat *chat_new(hd_delivery *d, const char *id, int64_t last)
{
    size_t len = strlen(id) + 1;
    hd_chat *c = calloc(1, sizeof(*c) + len);
    if (!c)
        abort();
    memcpy(c->id, id, len);
    c->delivery = d;
    c->last = last;
    c->verify_at = uv_now(sio_server_loop(d->node->srv)) + HD_VERIFY_MS;
    sb_map_put(&d->chats, c->id, c);
    return c;
}

static void want_free(hd_want *w)
{
    if (w->socket)
        sio_socket_unref(w->socket);
    free(w);
}

static void wants_free(hd_chat *c)
{
    while (c->wants) {
        hd_want *w = c->wants;
        c->wants = w->next;
        want_free(w);
    }
}

static void chat_free(hd_chat *c)
{
    wants_free(c);
    free(c);
}

/* Adds a want: socket s, or (s NULL) the local sockets of room. */
static void want_add(hd_chat *c, sio_socket *s, const char *room, int64_t from)
{
    const char *target = s ? sio_socket_id(s) : room;
    size_t len = strlen(target) + 1;
    hd_want *w = calloc(1, sizeof(*w) + len);
    if (!w)
        abort();
    memcpy(w->target, target, len);
    w->socket = s ? sio_socket_ref(s) : NULL;
    w->from = from < 0 ? 0 : from;
    w->next = c->wants;
    c->wants = w;
}

/* Drops the wants a finished read served (the ones it started with). */
static void wants_served(hd_chat *c)
{
    hd_want **p = &c->wants;
    while (*p) {
        hd_want *w = *p;
        if (w->started) {
            *p = w->next;
            want_free(w);
        } else {
            p = &w->next;
        }
    }
}

static void run_catchups(uv_idle_t *h);

static void schedule(hd_delivery *d, hd_chat *c)
{
    if (c->state != CHAT_IDLE && c->state != CHAT_WAITING)
        return; /* queued already, or a read in flight: it looks again when it ends */
    if (d->node->stopped)
        return;
    c->state = CHAT_QUEUED;
    c->next_pending = d->pending;
    d->pending = c;
    uv_idle_start(&d->catchup_idle, run_catchups);
}

/* ---- catching up ---------------------------------------------------------------------- */

/* Emits one stored message as support, this node's sockets only, without the hook. */
static void emit_local(hd_delivery *d, const sio_target *to, sio_socket *s, json_t *args)
{
    sio_args a = {args, NULL, 0, NULL, 0};
    d->delivering = 1;
    if (s)
        sio_socket_emit(s, "support", &a, 0);
    else
        sio_namespace_emit(d->node->nsp, to, "support", &a, SIO_EMIT_LOCAL);
    d->delivering = 0;
}

/* Message m to every want that lacks it, and to the chat room's members (but the wants'
 * targets) when they lack it. */
static void deliver_stored(hd_chat *c, json_t *m)
{
    hd_delivery *d = c->delivery;
    json_int_t seq = json_integer_value(json_object_get(m, "seq"));
    json_t *args = json_pack("[{s:i,s:O}]", "status_code", HD_OK, "data", m);
    size_t n = 0;
    for (hd_want *w = c->wants; w; w = w->next)
        n++;
    const char **except = calloc(n ? n : 1, sizeof(*except));
    if (!except || !args)
        abort();
    n = 0;
    for (hd_want *w = c->wants; w; w = w->next) {
        except[n++] = w->target;
        if (seq <= w->from)
            continue;
        const char *rooms[1] = {w->target};
        sio_target to = {rooms, 1, NULL, 0};
        emit_local(d, &to, w->socket, args);
        w->from = seq;
    }
    if (seq > c->last) {
        char room[HD_ROOM_MAX];
        hd_room(room, "chat", c->id);
        const char *rooms[1] = {room};
        sio_target to = {rooms, 1, except, n};
        emit_local(d, &to, NULL, args);
        c->last = seq;
        d->node->metrics.messages_out++;
    }
    free(except);
    json_decref(args);
}

static void on_fetched(const hd_result *r, void *ud)
{
    hd_chat *c = ud;
    hd_delivery *d = c->delivery;
    size_t i;
    json_t *m;
    c->state = CHAT_IDLE;
    if (d->node->stopped) /* its wants are released (hd_delivery_stop) */
        return;
    if (r->status == HD_EUNAVAILABLE) {
        c->state = CHAT_WAITING;
        return;
    }
    if (r->status != HD_OK) { /* gone or not readable: nothing to bring */
        wants_served(c);
        c->seen = 0;
        return;
    }
    int64_t reached = c->read_after;
    json_array_foreach(r->list, i, m)
    {
        deliver_stored(c, m);
        reached = json_integer_value(json_object_get(m, "seq"));
    }
    int more = json_array_size(r->list) >= HD_HISTORY_MAX || c->seen > reached;
    if (!more) { /* the wants have everything the store had, and so has the room */
        wants_served(c);
        c->seen = 0;
    }
    if (more || c->wants)
        schedule(d, c);
}

static void fetch(hd_chat *c)
{
    hd_delivery *d = c->delivery;
    int64_t after = c->last;
    for (hd_want *w = c->wants; w; w = w->next) {
        w->started = 1;
        if (w->from < after)
            after = w->from;
    }
    c->state = CHAT_FETCHING;
    c->read_after = after;
    d->node->store->ops->history(d->node->store, c->id, NULL, after, HD_HISTORY_MAX, on_fetched, c);
}

/* The catch-ups queued (d->catchup_idle), on the loop turn after they were asked for. */
static void run_catchups(uv_idle_t *h)
{
    hd_delivery *d = h->data;
    hd_chat *list = d->pending;
    d->pending = NULL;
    uv_idle_stop(h);
    while (list) {
        hd_chat *c = list;
        list = c->next_pending;
        c->next_pending = NULL;
        c->state = CHAT_IDLE;
        if (!d->node->stopped)
            fetch(c);
    }
}

/* ---- the delivery hook ---------------------------------------------------------------- */

/* The chat room's local members but the wants' targets get a live message now: those get
 * it, in order, from the catch-up. */
static void deliver_around_wants(hd_chat *c, const sio_args *args)
{
    hd_delivery *d = c->delivery;
    char room[HD_ROOM_MAX];
    size_t n = 0;
    for (hd_want *w = c->wants; w; w = w->next)
        n++;
    const char **except = calloc(n, sizeof(*except));
    if (!except)
        abort();
    n = 0;
    for (hd_want *w = c->wants; w; w = w->next)
        except[n++] = w->target;
    hd_room(room, "chat", c->id);
    const char *rooms[1] = {room};
    sio_target to = {rooms, 1, except, n};
    d->delivering = 1;
    sio_namespace_emit(d->node->nsp, &to, "support", args, SIO_EMIT_LOCAL);
    d->delivering = 0;
    free(except);
}

/* A support broadcast to one chat room: deliver it (1) or not (0), per the file comment.
 * While a catch-up is on its way, the next message in order still goes to the room at
 * once (a member may leave the room, the conversation closing, before the catch-up
 * lands); only the sockets waiting for older messages get it from the catch-up. */
static int support_arrives(hd_delivery *d, const char *chat_id, int64_t seq, const sio_args *args)
{
    hd_chat *c = sb_map_get(&d->chats, chat_id);
    if (!c) {
        char room[HD_ROOM_MAX];
        hd_room(room, "chat", chat_id);
        if (!sio_namespace_has_local_room(d->node->nsp, room))
            return 1; /* nobody here to deliver to */
        c = chat_new(d, chat_id, seq - 1);
    }
    if (seq <= c->last)
        return 0;
    if (seq > c->last + 1 || (c->state != CHAT_IDLE && c->wants)) {
        if (seq > c->seen)
            c->seen = seq;
        if (seq == c->last + 1) {
            deliver_around_wants(c, args);
            c->last = seq;
        }
        schedule(d, c); /* (a catch-up under way looks again when it ends) */
        return 0;
    }
    c->last = seq;
    if (c->state == CHAT_WAITING && c->seen <= c->last)
        c->state = CHAT_IDLE; /* the read that failed looked for nothing this does not prove */
    else if (c->state == CHAT_WAITING)
        schedule(d, c); /* traffic again: the store may be back too */
    return 1;
}

/* The agent's copy of "assigned" (it has last_seq): the agent's sockets here get the
 * backlog after it. */
static void assigned_arrives(hd_delivery *d, json_t *body)
{
    const char *chat_id = json_string_value(json_object_get(body, "ticket_chat_id"));
    const char *agent_id = json_string_value(json_object_get(json_object_get(body, "agent"), "id"));
    json_t *last_seq = json_object_get(body, "last_seq");
    char room[HD_ROOM_MAX];
    if (!chat_id || !agent_id || !json_is_integer(last_seq))
        return;
    hd_room(room, "agent", agent_id);
    if (!sio_namespace_has_local_room(d->node->nsp, room))
        return;
    int64_t from = json_integer_value(last_seq) - HD_BACKLOG;
    if (from < 0)
        from = 0;
    hd_chat *c = sb_map_get(&d->chats, chat_id);
    if (!c) /* what the chat room's members here have is unknown: from the backlog's start */
        c = chat_new(d, chat_id, from);
    c->verify_at = uv_now(sio_server_loop(d->node->srv)) + HD_VERIFY_MS;
    want_add(c, NULL, room, from);
    schedule(d, c);
}

int hd_delivery_hook(sio_namespace *nsp, const char *event, const sio_args *args,
                     const sio_target *to, void *ud)
{
    hd_delivery *d = ud;
    (void)nsp;
    if (d->delivering)
        return 1;
    int support = strcmp(event, "support") == 0;
    if (!support && strcmp(event, "assigned") != 0)
        return 1;
    if (support && d->emit_chat) /* this node's own: it knows what it sends */
        return support_arrives(d, d->emit_chat, d->emit_seq, args);
    json_t *tree = sio_args_json(args);
    json_t *body = json_array_get(tree, 0);
    int deliver = 1;
    if (!support) {
        assigned_arrives(d, body);
    } else {
        json_t *data = json_object_get(body, "data");
        const char *chat_id = json_string_value(json_object_get(data, "ticket_chat_id"));
        json_t *seq = json_object_get(data, "seq");
        char room[HD_ROOM_MAX];
        if (chat_id && json_is_integer(seq) && to->n_rooms == 1 && to->n_except == 0) {
            hd_room(room, "chat", chat_id);
            if (strcmp(room, to->rooms[0]) == 0) /* else not the relay's: relayed as it is */
                deliver = support_arrives(d, chat_id, json_integer_value(seq), args);
        }
    }
    json_decref(tree);
    return deliver;
}

/* ---- starting, sockets joining, links coming back, the tick, stopping ------------------ */

void hd_delivery_init(hd_delivery *d, hd_node *node)
{
    d->node = node;
    sb_map_init(&d->chats);
    uv_idle_init(sio_server_loop(node->srv), &d->catchup_idle);
    d->catchup_idle.data = d;
}

/* s joined the chat room of chat_id, whose last seq the store said is last_seq; resume:
 * the seq the client said it has (-1: none). */
static void socket_joined(hd_delivery *d, sio_socket *s, const char *chat_id, int64_t last_seq,
                          int64_t resume)
{
    hd_chat *c = sb_map_get(&d->chats, chat_id);
    if (!c) { /* what was stored between the store's answer and the join */
        c = chat_new(d, chat_id, last_seq);
        schedule(d, c);
    }
    int64_t from = resume >= 0 ? resume : last_seq;
    if (from < c->last) {
        want_add(c, s, NULL, from);
        schedule(d, c);
    }
}

void hd_delivery_links_up(hd_delivery *d)
{
    size_t pos = 0;
    hd_chat *c;
    while ((c = sb_map_next(&d->chats, &pos)) != NULL)
        schedule(d, c);
}

void hd_delivery_tick(hd_delivery *d)
{
    size_t pos = 0, n = 0;
    hd_chat *c;
    uint64_t now = uv_now(sio_server_loop(d->node->srv));
    hd_chat **gone = calloc(d->chats.count ? d->chats.count : 1, sizeof(*gone));
    if (!gone)
        abort();
    while ((c = sb_map_next(&d->chats, &pos)) != NULL) {
        char room[HD_ROOM_MAX];
        hd_room(room, "chat", c->id);
        if (c->verify_at && c->verify_at <= now && c->state == CHAT_IDLE) {
            c->verify_at = 0;
            schedule(d, c);
        } else if (c->state == CHAT_WAITING)
            schedule(d, c);
        else if (c->state == CHAT_IDLE && !c->wants &&
                 !sio_namespace_has_local_room(d->node->nsp, room))
            gone[n++] = c;
    }
    for (size_t i = 0; i < n; i++) {
        sb_map_del(&d->chats, gone[i]->id);
        chat_free(gone[i]);
    }
    free(gone);
}

/* The sockets that wanted messages are released while the server is still there. */
void hd_delivery_stop(hd_delivery *d)
{
    size_t pos = 0;
    hd_chat *c;
    while ((c = sb_map_next(&d->chats, &pos)) != NULL)
        wants_free(c);
    uv_close((uv_handle_t *)&d->catchup_idle, NULL);
}

/* Only after the store has answered every read: a read in flight holds its hd_chat. */
void hd_delivery_free(hd_delivery *d)
{
    size_t pos = 0;
    hd_chat *c;
    while ((c = sb_map_next(&d->chats, &pos)) != NULL)
        chat_free(c);
    sb_map_free(&d->chats);
    d->pending = NULL;
}

/* ---- resume: conversations the socket is not in the room of ---------------------------- */

typedef struct resume_op {
    hd_node *node;
    sio_socket *socket; /* referenced */
    hd_access access;   /* its strings in who[] */
    int64_t after;
    char *chat_id;
    char who[];
} resume_op;

static void resume_read(resume_op *op);

static void on_resume_read(const hd_result *r, void *ud)
{
    resume_op *op = ud;
    size_t i, n = json_array_size(r->list);
    json_t *m;
    if (r->status == HD_OK && !op->node->stopped) {
        json_array_foreach(r->list, i, m)
        {
            json_t *args = json_pack("[{s:i,s:O}]", "status_code", HD_OK, "data", m);
            sio_args a = {args, NULL, 0, NULL, 0};
            sio_socket_emit(op->socket, "support", &a, 0);
            json_decref(args);
            op->after = json_integer_value(json_object_get(m, "seq"));
        }
        if (n == HD_HISTORY_MAX && sio_socket_connected(op->socket)) {
            resume_read(op);
            return;
        }
    }
    sio_socket_unref(op->socket);
    free(op->chat_id);
    free(op);
}

static void resume_read(resume_op *op)
{
    op->node->store->ops->history(op->node->store, op->chat_id, &op->access, op->after,
                                  HD_HISTORY_MAX, on_resume_read, op);
}

/* A resumed conversation the socket is not in (closed, say): read as the socket may. */
static void resume_direct(hd_delivery *d, sio_socket *s, const hd_client *cl, const char *chat_id,
                          int64_t after)
{
    size_t len = cl->id ? strlen(cl->id) + 1 : 0;
    resume_op *op = calloc(1, sizeof(*op) + len);
    if (!op)
        abort();
    op->node = d->node;
    op->socket = sio_socket_ref(s);
    op->after = after;
    op->chat_id = strdup(chat_id);
    if (!op->chat_id)
        abort();
    if (len)
        memcpy(op->who, cl->id, len);
    op->access = hd_access_of(cl->role, len ? op->who : NULL);
    resume_read(op);
}

json_t *hd_resume_parse(json_t *auth)
{
    json_t *resume = json_object_get(auth, "resume");
    const char *chat;
    json_t *seq;
    if (!json_is_object(resume) || json_object_size(resume) == 0 ||
        json_object_size(resume) > HD_RESUME_MAX)
        return NULL;
    json_object_foreach(resume, chat, seq)
    {
        if (!json_is_integer(seq) || json_integer_value(seq) < 0 || !*chat ||
            strlen(chat) > HD_ID_MAX)
            return NULL;
    }
    return json_incref(resume);
}

void hd_delivery_resume(hd_delivery *d, sio_socket *s, hd_client *cl, json_t *open)
{
    const char *chat_id;
    json_t *seq, *conv;
    size_t i;
    json_array_foreach(open, i, conv)
    {
        const char *id = json_string_value(json_object_get(conv, "ticket_chat_id"));
        json_t *from = id && cl->resume ? json_object_get(cl->resume, id) : NULL;
        if (id)
            socket_joined(d, s, id, json_integer_value(json_object_get(conv, "last_seq")),
                          from ? json_integer_value(from) : -1);
        if (from)
            json_object_del(cl->resume, id);
    }
    json_object_foreach(cl->resume, chat_id, seq)
    {
        resume_direct(d, s, cl, chat_id, json_integer_value(seq));
    }
    json_decref(cl->resume);
    cl->resume = NULL;
}
