/* namespace.c: namespaces: the CONNECT flow, event handlers, broadcasts and the other
 * operations on the sockets a target designates.
 *
 * A CONNECT goes through up to three steps, each of which may finish later than it
 * started: restore (the adapter looks the recovery session up), authorize (the
 * application's auth hook), accept. The socket exists from the first step, attached to its
 * client, so a client that goes away meanwhile detaches it and the later steps see a
 * closed socket and only release their references. Order as in Node's namespace.ts:
 * restore, then middleware, then connect.
 */
#include <stdlib.h>
#include <string.h>

#include "sio_internal.h"

#define SIO_EVENT_NAME_LEN 32 /* room for a numeric event name in text form */

static sio_namespace *namespace_new(sio_server *srv, const char *name)
{
    sio_namespace *nsp = calloc(1, sizeof(*nsp));
    if (!nsp)
        abort();
    nsp->srv = srv;
    nsp->name = strdup(name);
    if (!nsp->name)
        abort();
    sb_map_init(&nsp->sockets);
    sb_map_init(&nsp->handlers);
    sb_map_init(&nsp->server_handlers);
    sb_list_init(&nsp->node_acks);
    sb_map_put(&srv->namespaces, nsp->name, nsp);
    nsp->adapter = srv->adapter_new(nsp, srv->adapter_ud);
    return nsp;
}

sio_namespace *sio_namespace_find(sio_server *srv, const char *name)
{
    return sb_map_get(&srv->namespaces, name);
}

sio_namespace *sio_server_of(sio_server *srv, const char *name)
{
    if (!name || name[0] != '/')
        return NULL;
    sio_namespace *nsp = sio_namespace_find(srv, name);
    return nsp ? nsp : namespace_new(srv, name);
}

static void handlers_free(sb_map *handlers)
{
    size_t pos = 0;
    sio_handler *h;
    while ((h = sb_map_next(handlers, &pos)) != NULL)
        free(h);
    sb_map_free(handlers);
}

void sio_namespace_free(sio_namespace *nsp)
{
    handlers_free(&nsp->handlers);
    handlers_free(&nsp->server_handlers);
    sb_map_free(&nsp->sockets);
    sio_node_replies_orphan(nsp);
    nsp->adapter->ops->free(nsp->adapter);
    free(nsp->name);
    free(nsp);
}

const char *sio_namespace_name(const sio_namespace *nsp) { return nsp->name; }
sio_server *sio_namespace_server(const sio_namespace *nsp) { return nsp->srv; }
size_t sio_namespace_socket_count(const sio_namespace *nsp) { return nsp->sockets.count; }

sio_socket *sio_namespace_socket(sio_namespace *nsp, const char *id)
{
    return sb_map_get(&nsp->sockets, id);
}

void sio_namespace_set_auth(sio_namespace *nsp, sio_auth_cb cb, void *ud)
{
    nsp->auth_cb = cb;
    nsp->auth_ud = ud;
}

void sio_namespace_keep_auth(sio_namespace *nsp, int keep) { nsp->forget_auth = !keep; }

void sio_namespace_on_connection(sio_namespace *nsp, sio_connection_cb cb, void *ud)
{
    nsp->connection_cb = cb;
    nsp->connection_ud = ud;
}

void sio_namespace_on_disconnect(sio_namespace *nsp, sio_disconnect_cb cb, void *ud)
{
    nsp->disconnect_cb = cb;
    nsp->disconnect_ud = ud;
}

/* Replaces the handler of event in handlers: returns the new entry for the caller to set
 * its callback, or NULL (the handler removed) when set is 0. */
static sio_handler *handler_replace(sb_map *handlers, const char *event, int set, void *ud)
{
    free(sb_map_del(handlers, event));
    if (!set)
        return NULL;
    size_t len = strlen(event);
    sio_handler *h = malloc(sizeof(*h) + len + 1);
    if (!h)
        abort();
    h->ud = ud;
    memcpy(h->event, event, len + 1);
    sb_map_put(handlers, h->event, h);
    return h;
}

void sio_namespace_on(sio_namespace *nsp, const char *event, sio_event_cb cb, void *ud)
{
    sio_handler *h = handler_replace(&nsp->handlers, event, cb != NULL, ud);
    if (h)
        h->cb.client = cb;
}

void sio_namespace_on_server_event(sio_namespace *nsp, const char *event, sio_server_event_cb cb,
                                   void *ud)
{
    sio_handler *h = handler_replace(&nsp->server_handlers, event, cb != NULL, ud);
    if (h)
        h->cb.server = cb;
}

void sio_namespace_on_any(sio_namespace *nsp, sio_event_cb cb, void *ud)
{
    nsp->any_cb = cb;
    nsp->any_ud = ud;
}

void sio_namespace_on_delivery(sio_namespace *nsp, sio_delivery_cb cb, void *ud)
{
    nsp->delivery_cb = cb;
    nsp->delivery_ud = ud;
}

int sio_namespace_delivers(sio_namespace *nsp, const sio_broadcast *b)
{
    return !nsp->delivery_cb || nsp->delivery_cb(nsp, b->event, b->args, b->to, nsp->delivery_ud);
}

int sio_namespace_has_local_room(sio_namespace *nsp, const char *room)
{
    return nsp->adapter->ops->has_room(nsp->adapter, room);
}

void sio_namespace_room_changed(sio_namespace *nsp, const char *room, const sio_socket *s,
                                int joined)
{
    const sio_observer *obs = nsp->srv->observer;
    if (obs && obs->room)
        obs->room(nsp, room, s->id, joined, nsp->srv->observer_ud);
}

int sio_namespace_events_observed(const sio_namespace *nsp)
{
    return nsp->srv->observer && nsp->srv->observer->event;
}

void sio_namespace_event_sent(sio_namespace *nsp, sio_socket *s, const sio_broadcast *b)
{
    if (sio_namespace_events_observed(nsp))
        nsp->srv->observer->event(s, 1, b->event, b->args, nsp->srv->observer_ud);
}

/* ---- CONNECT ----------------------------------------------------------------------- */

static void namespace_authorize(sio_socket *s)
{
    sio_namespace *nsp = s->nsp;
    s->state = SIO_SOCKET_AUTHORIZING;
    s->auth_pending = 1;
    sio_socket_ref(s); /* released by sio_socket_accept / sio_socket_refuse */
    if (nsp->auth_cb)
        nsp->auth_cb(s, nsp->auth_ud);
    else
        sio_socket_accept(s);
}

static void on_restored(sio_recovery_record *sess, void *ud)
{
    sio_socket *s = ud;
    if (sess && (s->state != SIO_SOCKET_RESTORING || sb_map_get(&s->nsp->sockets, sess->sid))) {
        /* the client left meanwhile, or that id is in use again: start afresh */
        sio_recovery_record_free(sess);
        sess = NULL;
    }
    if (sess) {
        memcpy(s->id_buf, sess->sid, sizeof(s->id_buf));
        memcpy(s->pid, sess->pid, sizeof(s->pid));
        json_decref(s->data);
        s->data = sess->data;
        sess->data = NULL;
        s->restored = sess;
        s->recovered = 1;
    }
    if (s->state == SIO_SOCKET_RESTORING)
        namespace_authorize(s);
    sio_socket_unref(s);
}

/* Recovery applies when the CONNECT payload carries a string pid, and an offset that is
 * a string or absent: a client that received no broadcast before dropping has none. Node
 * refuses the latter; the adapter replays from the session's own position instead. */
static int namespace_restore(sio_namespace *nsp, sio_socket *s)
{
    const char *pid = json_string_value(json_object_get(s->auth, "pid"));
    json_t *offset = json_object_get(s->auth, "offset");
    if (nsp->srv->opts.recovery_window_ms == 0 || !pid || strlen(pid) != SIO_ID_LEN)
        return 0;
    if (offset && !json_is_string(offset))
        return 0;
    sio_socket_ref(s);
    nsp->adapter->ops->restore_session(nsp->adapter, pid, json_string_value(offset), on_restored,
                                       s);
    return 1;
}

void sio_namespace_connect(sio_namespace *nsp, sio_client *c, json_t *auth, const char *query)
{
    sio_socket *s = sio_socket_new(nsp, c, auth, query);
    if (c->legacy || !namespace_restore(nsp, s)) /* no recovery in protocol v4 */
        namespace_authorize(s);
    sio_socket_unref(s); /* the client's reference keeps it */
}

int sio_socket_accept(sio_socket *s)
{
    if (!s->auth_pending)
        return SIO_EINVAL;
    s->auth_pending = 0;
    int rc = SIO_ECLOSED;
    if (s->state == SIO_SOCKET_AUTHORIZING && s->client && !s->client->closing) {
        sio_socket_connect(s);
        rc = SIOP_OK;
    }
    sio_socket_unref(s);
    return rc;
}

int sio_socket_refuse(sio_socket *s, const char *message, json_t *data)
{
    if (!s->auth_pending)
        return SIO_EINVAL;
    s->auth_pending = 0;
    int rc = SIO_ECLOSED;
    if (s->state == SIO_SOCKET_AUTHORIZING && s->client && !s->client->closing) {
        siop_packet p;
        siop_packet_init(&p);
        p.type = SIOP_PACKET_CONNECT_ERROR;
        p.nsp = s->nsp->name;
        if (s->client->legacy) /* Node sends protocol v4 clients err.data || err.message */
            p.data = json_is_object(data) || json_is_string(data)
                         ? json_incref(data)
                         : json_string(message ? message : "");
        else
            p.data = json_pack("{s:s}", "message", message ? message : "");
        if (data && !s->client->legacy)
            json_object_set(p.data, "data", data);
        sio_client_send_packet(s->client, &p);
        json_decref(p.data);
        sio_socket_close(s, NULL);
        rc = SIOP_OK;
    }
    sio_socket_unref(s);
    return rc;
}

/* ---- events ------------------------------------------------------------------------ */

/* The event name as text: Node accepts a number in its place. */
static const char *event_name(json_t *v, char *buf, size_t len)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        snprintf(buf, len, "%.17g", json_number_value(v));
    return buf;
}

void sio_namespace_dispatch(sio_namespace *nsp, sio_socket *s, siop_packet *p)
{
    char buf[SIO_EVENT_NAME_LEN];
    json_t *name = json_incref(json_array_get(p->data, 0));
    const char *event = event_name(name, buf, sizeof(buf));
    json_array_remove(p->data, 0);
    sio_args args = {p->data, p->attachments, p->n_attachments, NULL, 0};
    sio_ack *ack = p->id != SIOP_NO_ACK ? sio_ack_new(s, p->id) : NULL;
    const sio_observer *obs = nsp->srv->observer;
    if (obs && obs->event)
        obs->event(s, 0, event, &args, nsp->srv->observer_ud);
    sio_handler *h = sb_map_get(&nsp->handlers, event);
    if (h)
        h->cb.client(s, event, &args, ack, h->ud);
    else if (nsp->any_cb)
        nsp->any_cb(s, event, &args, ack, nsp->any_ud);
    else if (ack)
        sio_ack_free(ack);
    json_decref(name);
}

/* ---- broadcasts -------------------------------------------------------------------- */

static const sio_target everyone = {NULL, 0, NULL, 0};

static int names_valid(const char *const *names, size_t n)
{
    if (n > 0 && !names)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!names[i])
            return 0;
    return 1;
}

static int target_valid(const sio_target *to)
{
    return !to || (names_valid(to->rooms, to->n_rooms) && names_valid(to->except, to->n_except));
}

static int broadcast_prepare(sio_broadcast *b, const sio_target *to, const char *event,
                             const sio_args *args, int flags)
{
    static const sio_args none = {NULL, NULL, 0, NULL, 0};
    if (!sio_event_name_valid(event) || !target_valid(to))
        return SIO_EINVAL;
    if (args && args->json && !json_is_array(args->json))
        return SIO_EINVAL;
    b->event = event;
    b->args = args ? args : &none;
    b->to = to ? to : &everyone;
    b->flags = flags;
    return SIOP_OK;
}

int sio_namespace_emit(sio_namespace *nsp, const sio_target *to, const char *event,
                       const sio_args *args, int flags)
{
    sio_broadcast b;
    int rc = broadcast_prepare(&b, to, event, args, flags);
    if (rc != SIOP_OK)
        return rc;
    return nsp->adapter->ops->broadcast(nsp->adapter, &b);
}

int sio_namespace_emit_ack(sio_namespace *nsp, const sio_target *to, const char *event,
                           const sio_args *args, uint32_t timeout_ms, sio_broadcast_ack_cb cb,
                           void *ud)
{
    sio_broadcast b;
    int rc = broadcast_prepare(&b, to, event, args, 0);
    if (rc != SIOP_OK)
        return rc;
    if (timeout_ms == 0 || !cb)
        return SIO_EINVAL;
    sio_ack_wait *op = sio_ack_wait_new_broadcast(nsp, cb, ud);
    if (nsp->adapter->ops->broadcast_ack(nsp->adapter, &b, op) != SIOP_OK) {
        sio_ack_wait_cancel(op);
        return SIO_EINVAL;
    }
    sio_ack_wait_arm(op, timeout_ms);
    return SIOP_OK;
}

void sio_namespace_sockets(sio_namespace *nsp, const sio_target *to, sio_sockets_cb cb, void *ud)
{
    nsp->adapter->ops->sockets(nsp->adapter, to ? to : &everyone, cb, ud);
}

/* ---- cluster-wide operations on sockets ---------------------------------------------- */

/* SIOP_OK when to and rooms are usable and the adapter offers the operation. */
static int socket_op_check(int offered, const sio_target *to, const char *const *rooms, size_t n)
{
    if (!target_valid(to) || !names_valid(rooms, n))
        return SIO_EINVAL;
    return offered ? SIOP_OK : SIOP_ERR;
}

typedef void (*rooms_op)(sio_adapter *a, const sio_target *to, const char *const *rooms, size_t n);

static int namespace_rooms_op(sio_namespace *nsp, rooms_op op, const sio_target *to,
                              const char *const *rooms, size_t n)
{
    int rc = socket_op_check(op != NULL, to, rooms, n);
    if (rc == SIOP_OK && n > 0)
        op(nsp->adapter, to ? to : &everyone, rooms, n);
    return rc;
}

int sio_namespace_sockets_join(sio_namespace *nsp, const sio_target *to, const char *const *rooms,
                               size_t n)
{
    return namespace_rooms_op(nsp, nsp->adapter->ops->add_sockets, to, rooms, n);
}

int sio_namespace_sockets_leave(sio_namespace *nsp, const sio_target *to, const char *const *rooms,
                                size_t n)
{
    return namespace_rooms_op(nsp, nsp->adapter->ops->del_sockets, to, rooms, n);
}

int sio_namespace_disconnect_sockets(sio_namespace *nsp, const sio_target *to, int close_session)
{
    sio_adapter *a = nsp->adapter;
    int rc = socket_op_check(a->ops->disconnect_sockets != NULL, to, NULL, 0);
    if (rc == SIOP_OK)
        a->ops->disconnect_sockets(a, to ? to : &everyone, close_session);
    return rc;
}

int sio_namespace_fetch_sockets(sio_namespace *nsp, const sio_target *to, sio_fetch_sockets_cb cb,
                                void *ud)
{
    sio_adapter *a = nsp->adapter;
    int rc = socket_op_check(a->ops->fetch_sockets != NULL, to, NULL, 0);
    if (rc == SIOP_OK && !cb)
        rc = SIO_EINVAL;
    if (rc == SIOP_OK)
        a->ops->fetch_sockets(a, to ? to : &everyone, cb, ud);
    return rc;
}
