/* adapter_local.c: the in-memory adapter (Node's Adapter, plus SessionAwareAdapter when
 * recovery is on).
 *
 * Membership is one node per (room, socket) pair, linked into the room's list and into the
 * socket's entry, so joining, leaving and leaving everything never search more than the
 * socket's own rooms. One room is implicit: every socket is in the room named by its id
 * (unless it left it), and that room has no room object, map entry or node of its own (that
 * was some 140 bytes per idle connection): the socket's entry holds the node that keeps its
 * place in the joining order, and the socket is found by id in the namespace. So the
 * members of a room are the explicit ones plus, if there is one, the connected socket whose
 * id is the name and whose entry has it joined (a socket may also join another's id).
 *
 * A broadcast first collects its recipients, then delivers: collection marks each visited
 * entry with the broadcast's epoch, which skips excepted sockets and deduplicates the union
 * of rooms without any per-broadcast set. Recipients are held by reference during
 * delivery, so a handler that disconnects sockets meanwhile is harmless.
 * The cluster-wide operations on sockets (join, leave, disconnect, fetch) collect their
 * sockets the same way; there is no other node, so a server-side emit goes nowhere.
 */
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "list.h"
#include "map.h"
#include "recovery.h"

typedef struct local_room local_room;
typedef struct local_entry local_entry;

typedef struct local_member {
    local_room *room; /* NULL: the entry's own-id room */
    local_entry *entry;
    sb_list room_link;               /* in room->members */
    struct local_member *entry_next; /* in entry->rooms */
} local_member;

struct local_room {
    sb_list members; /* local_member.room_link, newest first */
    size_t size;
    char name[]; /* the map key */
};

struct local_entry {
    sio_socket *sock;
    local_member *rooms;
    sb_list link;        /* in the adapter's list of sockets */
    uint64_t mark;       /* epoch of the last broadcast that visited it */
    uint64_t first_sent; /* sequence of the first logged packet sent to it; 0: none */
    local_member own;    /* in rooms while the socket is in its own-id room (own.entry
                            is then set, else NULL); own.room is always NULL */
};

typedef struct local_adapter {
    sio_adapter base;
    sb_map rooms;    /* name → local_room */
    sb_list entries; /* local_entry.link, newest first */
    uint64_t epoch;
    sio_socket **scratch; /* recipient vector reused by broadcasts */
    size_t scratch_cap;
    int scratch_busy;    /* a broadcast from a delivery callback gets its own vector */
    sio_recovery *rec;   /* NULL when recovery is off */
    sio_room_cb room_cb; /* sio_adapter_local_on_room() */
    void *room_ud;
} local_adapter;

typedef struct recipients {
    sio_socket **v;
    size_t n, cap;
    int scratch; /* v is the adapter's scratch vector */
} recipients;

/* ---- rooms ------------------------------------------------------------------------- */

static const char *member_name(const local_member *m)
{
    return m->room ? m->room->name : sio_socket_id(m->entry->sock);
}

/* The entry that is in the implicit room name (its own id), or NULL. */
static local_entry *own_holder(local_adapter *a, const char *name)
{
    sio_socket *s = sio_namespace_socket(a->base.nsp, name);
    local_entry *e = s ? sio_socket_adapter_data(s) : NULL;
    return e && e->own.entry ? e : NULL;
}

/* Whether room name has members on this node, explicit or implicit. */
static int room_exists(local_adapter *a, const char *name)
{
    return sb_map_get(&a->rooms, name) != NULL || own_holder(a, name) != NULL;
}

static local_entry *entry_of(local_adapter *a, sio_socket *s)
{
    local_entry *e = sio_socket_adapter_data(s);
    if (e)
        return e;
    e = calloc(1, sizeof(*e));
    if (!e)
        abort();
    e->sock = s;
    sb_list_insert_head(&a->entries, &e->link);
    sio_socket_set_adapter_data(s, e);
    return e;
}

static local_room *room_of(local_adapter *a, const char *name)
{
    local_room *r = sb_map_get(&a->rooms, name);
    if (r)
        return r;
    size_t len = strlen(name);
    r = calloc(1, sizeof(*r) + len + 1);
    if (!r)
        abort();
    memcpy(r->name, name, len + 1);
    sb_list_init(&r->members);
    int existed = a->room_cb && own_holder(a, name);
    sb_map_put(&a->rooms, r->name, r);
    if (a->room_cb && !existed)
        a->room_cb(r->name, 1, a->room_ud);
    return r;
}

static void member_unlink_room(local_adapter *a, local_member *m)
{
    local_room *r = m->room;
    sb_list_remove(&m->room_link);
    if (--r->size == 0) {
        sb_map_del(&a->rooms, r->name);
        if (a->room_cb && !own_holder(a, r->name))
            a->room_cb(r->name, 0, a->room_ud);
        free(r);
    }
    free(m);
}

/* Leaves m's room (unlinked from the entry's list by the caller). */
static void member_leave(local_adapter *a, local_member *m)
{
    if (m->room) {
        sio_namespace_room_changed(a->base.nsp, m->room->name, m->entry->sock, 0);
        member_unlink_room(a, m);
        return;
    }
    local_entry *e = m->entry;
    const char *name = sio_socket_id(e->sock);
    e->own.entry = NULL;
    e->own.entry_next = NULL;
    if (a->room_cb && !sb_map_get(&a->rooms, name))
        a->room_cb(name, 0, a->room_ud);
    sio_namespace_room_changed(a->base.nsp, name, e->sock, 0);
}

static void local_add(sio_adapter *base, sio_socket *s, const char *const *rooms, size_t n)
{
    local_adapter *a = (local_adapter *)base;
    local_entry *e = entry_of(a, s);
    for (size_t i = 0; i < n; i++) {
        local_member *m = e->rooms;
        while (m && strcmp(member_name(m), rooms[i]) != 0)
            m = m->entry_next;
        if (m)
            continue;
        if (strcmp(rooms[i], sio_socket_id(s)) == 0) {
            int existed = a->room_cb && sb_map_get(&a->rooms, rooms[i]);
            e->own.entry = e;
            e->own.entry_next = e->rooms;
            e->rooms = &e->own;
            if (a->room_cb && !existed)
                a->room_cb(rooms[i], 1, a->room_ud);
            sio_namespace_room_changed(base->nsp, rooms[i], s, 1);
            continue;
        }
        local_room *r = room_of(a, rooms[i]);
        m = calloc(1, sizeof(*m));
        if (!m)
            abort();
        m->room = r;
        m->entry = e;
        sb_list_insert_head(&r->members, &m->room_link);
        r->size++;
        m->entry_next = e->rooms;
        e->rooms = m;
        sio_namespace_room_changed(base->nsp, rooms[i], s, 1);
    }
}

static void local_del(sio_adapter *base, sio_socket *s, const char *room)
{
    local_entry *e = sio_socket_adapter_data(s);
    if (!e)
        return;
    for (local_member **pm = &e->rooms; *pm; pm = &(*pm)->entry_next) {
        if (strcmp(member_name(*pm), room) != 0)
            continue;
        local_member *m = *pm;
        *pm = m->entry_next;
        member_leave((local_adapter *)base, m);
        return;
    }
}

static int local_has(sio_adapter *base, const sio_socket *s, const char *room)
{
    const local_entry *e = sio_socket_adapter_data(s);
    for (const local_member *m = e ? e->rooms : NULL; m; m = m->entry_next)
        if (strcmp(member_name(m), room) == 0)
            return 1;
    return 0;
}

static void local_del_all(sio_adapter *base, sio_socket *s)
{
    local_adapter *a = (local_adapter *)base;
    local_entry *e = sio_socket_adapter_data(s);
    if (!e)
        return;
    while (e->rooms) {
        local_member *m = e->rooms;
        e->rooms = m->entry_next;
        member_leave(a, m);
    }
    sb_list_remove(&e->link);
    sio_socket_set_adapter_data(s, NULL);
    free(e);
}

/* ---- recipients -------------------------------------------------------------------- */

static void recipients_push(local_adapter *a, recipients *r, local_entry *e)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->v = realloc(r->v, r->cap * sizeof(*r->v));
        if (!r->v)
            abort();
        if (r->scratch) {
            a->scratch = r->v;
            a->scratch_cap = r->cap;
        }
    }
    r->v[r->n++] = sio_socket_ref(e->sock);
}

static void room_mark(local_adapter *a, const char *name, uint64_t epoch)
{
    local_room *r = sb_map_get(&a->rooms, name);
    if (r) {
        sb_list *q;
        SB_LIST_FOREACH(q, &r->members)
        SB_LIST_DATA(q, local_member, room_link)->entry->mark = epoch;
    }
    local_entry *own = own_holder(a, name);
    if (own)
        own->mark = epoch;
}

/* Pushes the explicit members of room the broadcast at epoch has not visited yet. */
static void room_collect(local_adapter *a, local_room *room, uint64_t epoch, recipients *r)
{
    sb_list *q;
    SB_LIST_FOREACH(q, &room->members)
    {
        local_entry *e = SB_LIST_DATA(q, local_member, room_link)->entry;
        if (e->mark == epoch)
            continue;
        e->mark = epoch;
        recipients_push(a, r, e);
    }
}

static void recipients_collect(local_adapter *a, const sio_target *to, recipients *r)
{
    uint64_t epoch = ++a->epoch;
    memset(r, 0, sizeof(*r));
    if (!a->scratch_busy) {
        a->scratch_busy = r->scratch = 1;
        r->v = a->scratch;
        r->cap = a->scratch_cap;
    }
    for (size_t i = 0; i < to->n_except; i++)
        room_mark(a, to->except[i], epoch);
    if (to->n_rooms == 0) {
        sb_list *q;
        SB_LIST_FOREACH(q, &a->entries)
        {
            local_entry *e = SB_LIST_DATA(q, local_entry, link);
            if (e->mark != epoch)
                recipients_push(a, r, e);
        }
        return;
    }
    for (size_t i = 0; i < to->n_rooms; i++) {
        local_room *room = sb_map_get(&a->rooms, to->rooms[i]);
        if (room)
            room_collect(a, room, epoch, r);
        local_entry *own = own_holder(a, to->rooms[i]);
        if (own && own->mark != epoch) {
            own->mark = epoch;
            recipients_push(a, r, own);
        }
    }
}

static void recipients_release(local_adapter *a, recipients *r)
{
    for (size_t i = 0; i < r->n; i++)
        sio_socket_unref(r->v[i]);
    if (r->scratch)
        a->scratch_busy = 0;
    else
        free(r->v);
}

/* ---- broadcasts -------------------------------------------------------------------- */

/* Encodes b; with recovery on, a loggable packet (not volatile) gets its offset appended
 * as last argument and is logged; *seq is then its sequence number, else 0. */
static int local_encode(local_adapter *a, const sio_broadcast *b, sio_frame *f, uint64_t *seq)
{
    *seq = 0;
    if (!a->rec || (b->flags & SIO_EMIT_VOLATILE))
        return sio_frame_encode(f, a->base.nsp, SIOP_NO_ACK, b->event, b->args);
    char offset[SIO_OFFSET_LEN];
    sio_recovery_next_offset(a->rec, offset);
    json_t *tree = sio_args_json(b->args);
    json_t *json = tree ? json_copy(tree) : json_array();
    json_decref(tree);
    json_array_append_new(json, json_string(offset));
    sio_args args = {json, b->args->attachments, b->args->n_attachments, NULL, 0};
    int rc = sio_frame_encode(f, a->base.nsp, SIOP_NO_ACK, b->event, &args);
    json_decref(json);
    if (rc != SIOP_OK)
        return rc;
    sio_recovery_log(a->rec, b->to, f);
    *seq = sio_recovery_position(a->rec);
    return SIOP_OK;
}

static int local_broadcast(sio_adapter *base, const sio_broadcast *b)
{
    local_adapter *a = (local_adapter *)base;
    sio_frame f;
    uint64_t seq;
    recipients r;
    if (!sio_namespace_delivers(base->nsp, b))
        return SIOP_OK;
    if (local_encode(a, b, &f, &seq) != SIOP_OK)
        return SIO_EINVAL;
    recipients_collect(a, b->to, &r);
    int observed = sio_namespace_events_observed(base->nsp);
    for (size_t i = 0; i < r.n; i++) {
        local_entry *e = sio_socket_adapter_data(r.v[i]);
        if (seq && e && !e->first_sent)
            e->first_sent = seq;
        sio_socket_send_frame(r.v[i], &f, b->flags);
        if (observed)
            sio_namespace_event_sent(base->nsp, r.v[i], b);
    }
    recipients_release(a, &r);
    sio_frame_release(&f);
    return SIOP_OK;
}

static int local_broadcast_ack(sio_adapter *base, const sio_broadcast *b, sio_ack_wait *op)
{
    local_adapter *a = (local_adapter *)base;
    sio_frame f;
    recipients r;
    size_t count = 0;
    if (sio_frame_encode(&f, base->nsp, sio_ack_wait_id(op), b->event, b->args) != SIOP_OK)
        return SIO_EINVAL;
    recipients_collect(a, b->to, &r);
    int observed = sio_namespace_events_observed(base->nsp);
    for (size_t i = 0; i < r.n; i++) {
        if (sio_socket_track_ack(r.v[i], op) != SIOP_OK)
            continue; /* skipped: over its limit */
        count++;
        sio_socket_send_frame(r.v[i], &f, b->flags);
        if (observed)
            sio_namespace_event_sent(base->nsp, r.v[i], b);
    }
    recipients_release(a, &r);
    sio_frame_release(&f);
    sio_ack_wait_expect(op, count);
    return SIOP_OK;
}

/* The names of e's rooms in joining order (the list is newest first), borrowed from the
 * rooms; the caller frees the array. */
static const char **entry_room_names(const local_entry *e, size_t *n)
{
    size_t count = 0;
    for (const local_member *m = e->rooms; m; m = m->entry_next)
        count++;
    const char **names = malloc((count ? count : 1) * sizeof(*names));
    if (!names)
        abort();
    size_t i = count;
    for (const local_member *m = e->rooms; m; m = m->entry_next)
        names[--i] = member_name(m);
    *n = count;
    return names;
}

static void local_sockets(sio_adapter *base, const sio_target *to, sio_sockets_cb cb, void *ud)
{
    local_adapter *a = (local_adapter *)base;
    recipients r;
    json_t *ids = json_array();
    recipients_collect(a, to, &r);
    for (size_t i = 0; i < r.n; i++)
        json_array_append_new(ids, json_string(sio_socket_id(r.v[i])));
    recipients_release(a, &r);
    cb(ids, ud);
    json_decref(ids);
}

/* ---- cluster-wide operations on sockets -------------------------------------------- */

static void local_add_sockets(sio_adapter *base, const sio_target *to, const char *const *rooms,
                              size_t n)
{
    local_adapter *a = (local_adapter *)base;
    recipients r;
    recipients_collect(a, to, &r);
    for (size_t i = 0; i < r.n; i++)
        local_add(base, r.v[i], rooms, n);
    recipients_release(a, &r);
}

static void local_del_sockets(sio_adapter *base, const sio_target *to, const char *const *rooms,
                              size_t n)
{
    local_adapter *a = (local_adapter *)base;
    recipients r;
    recipients_collect(a, to, &r);
    for (size_t i = 0; i < r.n; i++)
        for (size_t j = 0; j < n; j++)
            local_del(base, r.v[i], rooms[j]);
    recipients_release(a, &r);
}

/* Disconnect handlers run in the loop: the references recipients hold keep every socket
 * valid, and one that is already gone (a sibling with close_session) is a no-op. */
static void local_disconnect_sockets(sio_adapter *base, const sio_target *to, int close_session)
{
    local_adapter *a = (local_adapter *)base;
    recipients r;
    recipients_collect(a, to, &r);
    for (size_t i = 0; i < r.n; i++)
        sio_socket_disconnect(r.v[i], close_session);
    recipients_release(a, &r);
}

static void local_fetch_sockets(sio_adapter *base, const sio_target *to, sio_fetch_sockets_cb cb,
                                void *ud)
{
    local_adapter *a = (local_adapter *)base;
    recipients r;
    json_t *sockets = json_array();
    recipients_collect(a, to, &r);
    for (size_t i = 0; i < r.n; i++) {
        size_t n;
        const char **names = entry_room_names(sio_socket_adapter_data(r.v[i]), &n);
        json_array_append_new(sockets, sio_socket_describe(r.v[i], names, n));
        free(names);
    }
    recipients_release(a, &r);
    cb(SIO_ACK_OK, sockets, ud);
    json_decref(sockets);
}

/* No other node: nothing to send and no answer to wait for. */
static int local_server_side_emit(sio_adapter *base, const char *event, const sio_args *args,
                                  uint32_t timeout_ms, sio_broadcast_ack_cb cb, void *ud)
{
    if (!cb)
        return SIOP_OK;
    json_t *responses = json_array();
    cb(SIO_ACK_OK, responses, ud);
    json_decref(responses);
    return SIOP_OK;
}

/* ---- recovery ---------------------------------------------------------------------- */

static void local_persist_session(sio_adapter *base, sio_socket *s)
{
    local_adapter *a = (local_adapter *)base;
    local_entry *e = sio_socket_adapter_data(s);
    if (!a->rec || !e)
        return;
    size_t n;
    const char **rooms = entry_room_names(e, &n);
    uint64_t position = e->first_sent ? e->first_sent - 1 : sio_recovery_position(a->rec);
    sio_recovery_persist(a->rec, sio_socket_id(s), sio_socket_pid(s), rooms, n, sio_socket_data(s),
                         position);
    free(rooms);
}

static void local_restore_session(sio_adapter *base, const char *pid, const char *offset,
                                  sio_restore_cb cb, void *ud)
{
    local_adapter *a = (local_adapter *)base;
    cb(a->rec ? sio_recovery_restore(a->rec, pid, offset) : NULL, ud);
}

int sio_adapter_local_has_room(sio_adapter *base, const char *room)
{
    return room_exists((local_adapter *)base, room);
}

void sio_adapter_local_each_room(sio_adapter *base, void (*cb)(const char *room, void *ud),
                                 void *ud)
{
    local_adapter *a = (local_adapter *)base;
    size_t pos = 0;
    local_room *r;
    while ((r = sb_map_next(&a->rooms, &pos)) != NULL)
        cb(r->name, ud);
    sb_list *q;
    SB_LIST_FOREACH(q, &a->entries)
    {
        local_entry *e = SB_LIST_DATA(q, local_entry, link);
        const char *id = sio_socket_id(e->sock);
        if (e->own.entry && !sb_map_get(&a->rooms, id))
            cb(id, ud);
    }
}

void sio_adapter_local_on_room(sio_adapter *base, sio_room_cb cb, void *ud)
{
    local_adapter *a = (local_adapter *)base;
    a->room_cb = cb;
    a->room_ud = ud;
}

static void local_free(sio_adapter *base)
{
    local_adapter *a = (local_adapter *)base;
    local_entry *e;
    while ((e = SB_LIST_FIRST(&a->entries, local_entry, link)))
        local_del_all(base, e->sock);
    sb_map_free(&a->rooms);
    free(a->scratch);
    if (a->rec)
        sio_recovery_free(a->rec);
    free(a);
}

static const sio_adapter_ops local_ops = {
    .name = "local",
    .add = local_add,
    .del = local_del,
    .del_all = local_del_all,
    .has = local_has,
    .has_room = sio_adapter_local_has_room,
    .broadcast = local_broadcast,
    .broadcast_ack = local_broadcast_ack,
    .sockets = local_sockets,
    .add_sockets = local_add_sockets,
    .del_sockets = local_del_sockets,
    .disconnect_sockets = local_disconnect_sockets,
    .fetch_sockets = local_fetch_sockets,
    .server_side_emit = local_server_side_emit,
    .persist_session = local_persist_session,
    .restore_session = local_restore_session,
    .free = local_free,
};

static sio_adapter *local_new(sio_namespace *nsp, int logged)
{
    local_adapter *a = calloc(1, sizeof(*a));
    if (!a)
        abort();
    a->base.ops = &local_ops;
    a->base.nsp = nsp;
    sb_map_init(&a->rooms);
    sb_list_init(&a->entries);
    const sio_options *opts = sio_server_options(sio_namespace_server(nsp));
    if (logged && opts->recovery_window_ms > 0)
        a->rec = sio_recovery_new(sio_server_loop(sio_namespace_server(nsp)), opts);
    return &a->base;
}

sio_adapter *sio_adapter_local_new(sio_namespace *nsp, void *ud) { return local_new(nsp, 1); }

sio_adapter *sio_adapter_local_new_unlogged(sio_namespace *nsp) { return local_new(nsp, 0); }
