/* connections.c: a socket's life on /helpdesk, from its CONNECT until it has left.
 *
 * A CONNECT to /helpdesk is checked before the namespace accepts it (spec §1): the token
 * comes from the auth payload, or from ?token=…&token_source=api for clients that cannot
 * send one. What the token says is kept per socket as a small hd_client (client.h);
 * nothing of a refused socket is kept. A connected socket joins the rooms of its role
 * (spec §2) and the chat rooms of its open conversations; an agent's sockets count as its
 * presence, which the socket gives back when it leaves.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "connections.h"
#include "message.h"

/* A store callback for updates nothing waits for (a failure is healed elsewhere: the
 * node's heartbeat expiry, the next resync). */
static void ignore_result(const hd_result *r, void *ud) {}

void hd_conn_init(hd_connections *cn, hd_node *node, hd_conversations *convs, hd_delivery *delivery)
{
    cn->node = node;
    cn->convs = convs;
    cn->delivery = delivery;
}

void hd_conn_free(hd_connections *cn) { free(cn->resync); }

/* ---- where a socket belongs ----------------------------------------------------------------
 * A connected socket joins the chat rooms of its open conversations, and an agent's socket
 * counts in its presence. Both come from the store; when it cannot answer (Redis down),
 * the socket is queued and the tick asks again, so a socket that connected during an
 * outage is not left outside its conversations, nor an agent outside routing. The client
 * may leave meanwhile: it is then freed by the last operation (c->gone), and a presence
 * the store granted to a gone socket is taken back. */

typedef struct sync_op {
    hd_connections *cn;
    sio_socket *socket; /* referenced */
    hd_client *client;  /* kept alive by client->syncing */
    int kind;           /* HD_SYNC_* */
} sync_op;

static void resync_queue(hd_connections *cn, sio_socket *s, hd_client *c)
{
    if (c->resync_queued || cn->node->stopped)
        return;
    if (cn->n_resync == cn->cap_resync) {
        size_t cap = cn->cap_resync ? cn->cap_resync * 2 : 16;
        sio_socket **v = realloc(cn->resync, cap * sizeof(*v));
        if (!v)
            abort();
        cn->resync = v;
        cn->cap_resync = cap;
    }
    cn->resync[cn->n_resync++] = sio_socket_ref(s);
    c->resync_queued = 1;
}

static void sync_finish(sync_op *op)
{
    hd_client *c = op->client;
    c->syncing &= ~op->kind;
    if (c->gone && !c->syncing)
        hd_client_free(c);
    sio_socket_unref(op->socket);
    free(op);
}

static void on_sync_presence(const hd_result *r, void *ud)
{
    sync_op *op = ud;
    hd_client *c = op->client;
    hd_store *store = op->cn->node->store;
    hd_agent agent;
    if (r->status == HD_OK && c->gone && !op->cn->node->stopped) {
        hd_agent_of(c, &agent);
        store->ops->agent_presence(store, &agent, -1, -1, hd_now_ms(), ignore_result, NULL);
    } else if (r->status == HD_OK && !c->gone) {
        c->present = 1;
        hd_conv_route(op->cn->convs);
    } else if (!c->gone) {
        resync_queue(op->cn, op->socket, c);
    }
    sync_finish(op);
}

static void on_sync_rooms(const hd_result *r, void *ud)
{
    sync_op *op = ud;
    hd_client *c = op->client;
    size_t i;
    json_t *conv;
    char chat[HD_ROOM_MAX];
    if (r->status == HD_OK && !c->gone) {
        c->joined = 1;
        json_array_foreach(r->list, i, conv)
        {
            const char *chat_id = json_string_value(json_object_get(conv, "ticket_chat_id"));
            if (!chat_id)
                continue;
            hd_room(chat, "chat", chat_id);
            sio_socket_join(op->socket, chat);
        }
        hd_delivery_resume(op->cn->delivery, op->socket, c, r->list);
    } else if (!c->gone) {
        resync_queue(op->cn, op->socket, c);
    }
    sync_finish(op);
}

static sync_op *sync_start(hd_connections *cn, sio_socket *s, hd_client *c, int kind)
{
    sync_op *op = malloc(sizeof(*op));
    if (!op)
        abort();
    *op = (sync_op){cn, sio_socket_ref(s), c, kind};
    c->syncing |= kind;
    return op;
}

/* Puts a connected socket where the store says it belongs: the chat rooms of its open
 * conversations, and (an agent) its presence. */
static void sync_socket(hd_connections *cn, sio_socket *s)
{
    hd_client *c = hd_client_of(s);
    hd_store *store = cn->node->store;
    if (!c || cn->node->stopped)
        return;
    if (!c->joined && !(c->syncing & HD_SYNC_ROOMS) && c->role != HD_ROLE_API) {
        hd_access who = hd_access_of(c->role, c->id);
        if (c->role == HD_ROLE_SUPERVISOR)
            who.agent_id = c->id; /* its own conversations, like an agent */
        store->ops->conversations(store, &who, 1, on_sync_rooms,
                                  sync_start(cn, s, c, HD_SYNC_ROOMS));
    }
    if (c->role == HD_ROLE_AGENT && !c->present && !(c->syncing & HD_SYNC_PRESENCE)) {
        hd_agent agent;
        hd_agent_of(c, &agent);
        store->ops->agent_presence(store, &agent, +1, -1, hd_now_ms(), on_sync_presence,
                                   sync_start(cn, s, c, HD_SYNC_PRESENCE));
    }
}

void hd_conn_resync(hd_connections *cn)
{
    sio_socket **v = cn->resync;
    size_t n = cn->n_resync;
    cn->resync = NULL;
    cn->n_resync = cn->cap_resync = 0;
    for (size_t i = 0; i < n; i++) {
        hd_client *c = hd_client_of(v[i]);
        if (c)
            c->resync_queued = 0;
        if (c && hd_node_ready(cn->node))
            sync_socket(cn, v[i]);
        else if (c)
            resync_queue(cn, v[i], c);
        sio_socket_unref(v[i]);
    }
    free(v);
}

void hd_conn_resync_drop(hd_connections *cn)
{
    for (size_t i = 0; i < cn->n_resync; i++)
        sio_socket_unref(cn->resync[i]);
    cn->n_resync = 0;
}

/* ---- the auth hook ---------------------------------------------------------------------- */

static const char *credentials(sio_socket *s, char *buf, size_t len, int *api_source)
{
    char source[8];
    json_t *tok = json_object_get(sio_socket_auth(s), "token");
    *api_source = sio_socket_query_param(s, "token_source", source, sizeof(source)) >= 0 &&
                  !strcmp(source, "api");
    if (json_is_string(tok)) /* a NUL inside would cut the token short: refuse it whole */
        return strlen(json_string_value(tok)) == json_string_length(tok) ? json_string_value(tok)
                                                                         : "";
    if (sio_socket_query_param(s, "token", buf, len) > 0)
        return buf;
    return NULL;
}

void hd_conn_auth(sio_socket *s, void *ud)
{
    hd_connections *cn = ud;
    char buf[HD_TOKEN_MAX + 2];
    int api_source;
    hd_identity id;
    const char *token = credentials(s, buf, sizeof(buf), &api_source);
    const char *why =
        hd_auth_verify(&cn->node->cfg.auth, token, api_source, hd_now_ms() / 1000, &id);
    if (why) {
        cn->node->metrics.auth_failures++;
        json_t *data = json_pack("{s:s}", "code", why);
        sio_socket_refuse(s, "unauthorized", data);
        json_decref(data);
        return;
    }
    hd_client *c = hd_client_new(&cn->node->cfg, &id);
    c->resume = hd_resume_parse(sio_socket_auth(s));
    sio_socket_set_userdata(s, c);
    sio_socket_accept(s);
}

/* ---- connections ------------------------------------------------------------------------ */

static void join_role_rooms(sio_socket *s, const hd_client *c)
{
    char room[HD_ROOM_MAX];
    if (c->role == HD_ROLE_CUSTOMER) {
        hd_room(room, "session", c->id);
        sio_socket_join(s, room);
        return;
    }
    if (c->role != HD_ROLE_AGENT && c->role != HD_ROLE_SUPERVISOR)
        return;
    hd_room(room, "agent", c->id);
    sio_socket_join(s, room);
    sio_socket_join(s, "agents");
    for (size_t i = 0; i < c->n_depts; i++) {
        hd_room(room, "dept", c->depts[i]);
        sio_socket_join(s, room);
    }
}

void hd_conn_connected(sio_socket *s, void *ud)
{
    hd_connections *cn = ud;
    hd_client *c = hd_client_of(s);
    join_role_rooms(s, c);
    sync_socket(cn, s);
}

void hd_conn_disconnected(sio_socket *s, const char *reason, void *ud)
{
    hd_connections *cn = ud;
    hd_client *c = hd_client_of(s);
    if (!c)
        return;
    sio_socket_set_userdata(s, NULL);
    if (c->present && !cn->node->stopped) {
        hd_agent agent;
        hd_agent_of(c, &agent);
        cn->node->store->ops->agent_presence(cn->node->store, &agent, -1, -1, hd_now_ms(),
                                             ignore_result, NULL);
    }
    c->present = 0;
    c->gone = 1;
    if (!c->syncing)
        hd_client_free(c); /* else the last sync operation frees it */
}
