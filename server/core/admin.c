/* admin.c: the Admin UI's server side (admin.h), a port of @socket.io/admin-ui 0.5.1's
 * dist/index.js on the public API of socketio.h.
 *
 * The one idea: the admin is an application of the core like any other, plus the
 * server-wide observer (sio_server_set_observer) that tells it what happens in every
 * namespace. What it learns becomes an emit on the admin namespace, which the adapter
 * spreads to every node, exactly as instrument() does with Node's adapter. The password is
 * checked with libcrypt's bcrypt on libuv's thread pool, so a login does not stall the
 * loop for the hash's cost (some 100 ms at cost 10).
 */
#include "admin.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapter.h"
#include "map.h"
#include "random.h"

#define ADMIN_SESSION_BYTES 8    /* Node's randomBytes(8).toString("hex") */
#define ADMIN_SESSIONS_MAX  1024 /* remembered UI sessions; beyond, logging in again is needed */
#define ADMIN_CLIENT_ID_LEN 12   /* Node's clientId.substring(0, 12) */
#define ADMIN_HOST_LEN      256
#define ADMIN_ISO_LEN       32
#define ADMIN_MS_PER_S      1000
#define ADMIN_US_PER_MS     1000
#define ADMIN_NS_PER_S      1e9
#define ADMIN_CHECKS_MAX    2    /* bcrypt checks at once: half of libuv's default thread pool */
#define ADMIN_BUCKETS_FIRST 16   /* aggregated-event entries allocated at first */
#define ADMIN_BUCKETS_MAX   4096 /* entries between two server_stats; beyond, counts are lost */

typedef enum bucket_type {
    B_RAW_CONNECTION = 0,
    B_RAW_DISCONNECTION,
    B_PACKETS_IN,
    B_PACKETS_OUT,
    B_BYTES_IN,
    B_BYTES_OUT
} bucket_type;

static const char *const bucket_names[] = {"rawConnection", "rawDisconnection", "packetsIn",
                                           "packetsOut",    "bytesIn",          "bytesOut"};

/* One of Node's EventBuffer entries: a count per second, type and sub-type. */
typedef struct bucket {
    uint64_t second; /* ms since the epoch, a whole second */
    bucket_type type;
    char *sub_type; /* owned; NULL: none */
    uint64_t count;
} bucket;

struct sio_admin {
    sio_server *srv;
    sio_namespace *nsp;
    char *username, *password_hash, *server_id;
    int read_only;
    int production;   /* sio_admin_options.production */
    json_t *features; /* config.supportedFeatures */
    char hostname[ADMIN_HOST_LEN];
    uint64_t started;     /* uv_hrtime() at creation, for uptime */
    uint64_t wall_offset; /* wall clock minus loop time, in ms (renewed every stats tick) */
    uv_timer_t timer;
    int timer_open;
    uint32_t interval_ms;
    int stopped;
    size_t polling;  /* sessions on the polling transport */
    unsigned checks; /* password checks on the thread pool */
    bucket *buckets;
    size_t n_buckets, cap_buckets;
    sb_map sessions; /* UI session id → (the map key) */
    sio_observer observer;
};

/* ---- time --------------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    uv_timeval64_t tv;
    if (uv_gettimeofday(&tv) != 0)
        return 0;
    return (uint64_t)tv.tv_sec * ADMIN_MS_PER_S + (uint64_t)tv.tv_usec / ADMIN_US_PER_MS;
}

/* The wall clock from the loop's cached time: what the hooks stamp, many times per loop
 * turn on a busy node, costs no system call. */
static uint64_t wall_ms(const sio_admin *a)
{
    return a->wall_offset + uv_now(sio_server_loop(a->srv));
}

static void wall_sync(sio_admin *a) { a->wall_offset = now_ms() - uv_now(sio_server_loop(a->srv)); }

/* JSON.stringify(new Date()): "2026-01-02T03:04:05.678Z". */
static json_t *iso_now(const sio_admin *a)
{
    uint64_t ms = wall_ms(a);
    time_t t = (time_t)(ms / ADMIN_MS_PER_S);
    struct tm tm;
    char buf[ADMIN_ISO_LEN], out[ADMIN_ISO_LEN + 8];
    if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        return json_null();
    snprintf(out, sizeof(out), "%s.%03uZ", buf, (unsigned)(ms % ADMIN_MS_PER_S));
    return json_string(out);
}

/* ---- emitting --------------------------------------------------------------------------- */

/* Emits event with args (stolen) to every admin socket of the cluster. */
static void admin_broadcast(sio_admin *a, const char *event, json_t *args)
{
    sio_args sa = {args, NULL, 0, NULL, 0};
    if (args && !a->stopped)
        sio_namespace_emit(a->nsp, NULL, event, &sa, 0);
    json_decref(args);
}

/* ---- aggregated events ---------------------------------------------------------------- */

static void bucket_add(sio_admin *a, bucket_type type, const char *sub_type, uint64_t count)
{
    uint64_t second = wall_ms(a) / ADMIN_MS_PER_S * ADMIN_MS_PER_S;
    for (size_t i = a->n_buckets; i-- > 0;) {
        bucket *b = &a->buckets[i];
        if (b->second != second)
            break; /* buckets are in time order: older ones cannot match */
        if (b->type == type && (b->sub_type == sub_type ||
                                (b->sub_type && sub_type && strcmp(b->sub_type, sub_type) == 0))) {
            b->count += count;
            return;
        }
    }
    if (a->n_buckets == ADMIN_BUCKETS_MAX)
        return; /* a stats interval far longer than Node's 2 s */
    if (a->n_buckets == a->cap_buckets) {
        a->cap_buckets = a->cap_buckets ? a->cap_buckets * 2 : ADMIN_BUCKETS_FIRST;
        a->buckets = realloc(a->buckets, a->cap_buckets * sizeof(*a->buckets));
        if (!a->buckets)
            abort();
    }
    bucket *b = &a->buckets[a->n_buckets++];
    b->second = second;
    b->type = type;
    b->sub_type = sub_type ? strdup(sub_type) : NULL;
    if (sub_type && !b->sub_type)
        abort();
    b->count = count;
}

/* EventBuffer.getValuesAndClear(). */
static json_t *buckets_take(sio_admin *a)
{
    json_t *out = json_array();
    for (size_t i = 0; i < a->n_buckets; i++) {
        bucket *b = &a->buckets[i];
        json_t *o = json_pack("{s:I, s:s}", "timestamp", (json_int_t)b->second, "type",
                              bucket_names[b->type]);
        if (b->sub_type)
            json_object_set_new(o, "subType", json_string(b->sub_type));
        json_object_set_new(o, "count", json_integer((json_int_t)b->count));
        json_array_append_new(out, o);
        free(b->sub_type);
    }
    a->n_buckets = 0;
    return out;
}

/* ---- server_stats ---------------------------------------------------------------------- */

static json_t *namespaces_stats(sio_admin *a)
{
    json_t *list = json_array();
    size_t pos = 0;
    sio_namespace *nsp;
    while ((nsp = sio_server_namespace_next(a->srv, &pos)) != NULL)
        json_array_append_new(list, json_pack("{s:s, s:I}", "name", sio_namespace_name(nsp),
                                              "socketsCount",
                                              (json_int_t)sio_namespace_socket_count(nsp)));
    return list;
}

static void emit_stats(sio_admin *a)
{
    double uptime = (double)(uv_hrtime() - a->started) / ADMIN_NS_PER_S; /* process.uptime() */
    json_t *stats =
        json_pack("{s:s, s:s, s:I, s:f, s:I, s:I, s:o, s:o}", "serverId", a->server_id, "hostname",
                  a->hostname, "pid", (json_int_t)getpid(), "uptime", uptime, "clientsCount",
                  (json_int_t)eio_server_session_count(sio_server_engine(a->srv)),
                  "pollingClientsCount", (json_int_t)a->polling, "aggregatedEvents",
                  buckets_take(a), "namespaces", namespaces_stats(a));
    admin_broadcast(a, "server_stats", json_pack("[o]", stats));
}

static void on_stats_timer(uv_timer_t *t)
{
    wall_sync(t->data);
    emit_stats(t->data);
}

/* ---- serialising sockets ------------------------------------------------------------ */

/* instrument()'s serialize() from a RemoteSocket description (sio_socket_describe, or
 * fetchSockets from any node). New reference. */
static json_t *serialize(json_t *desc, const char *nsp)
{
    json_t *data = json_object_get(desc, "data");
    json_t *admin = json_object_get(data, "_admin");
    json_t *hs = json_object_get(desc, "handshake");
    json_t *copy = json_is_object(data) ? json_copy(data) : json_object();
    json_object_del(copy, "_admin");
    json_t *headers = json_object_get(hs, "headers");
    json_t *xff = json_object_get(headers, "x-forwarded-for");
    json_t *address = json_object_get(headers, "cf-connecting-ip");
    if (!address)
        address = xff ? xff : json_object_get(hs, "address");
    json_t *handshake = json_pack(
        "{s:O?, s:o, s:O?, s:O?, s:b, s:O?, s:O?, s:b}", "address", address, "headers",
        headers ? json_incref(headers) : json_object(), "query", json_object_get(hs, "query"),
        "issued", json_object_get(hs, "issued"), "secure",
        json_is_true(json_object_get(hs, "secure")), "time", json_object_get(hs, "time"), "url",
        json_object_get(hs, "url"), "xdomain", json_is_true(json_object_get(hs, "xdomain")));
    json_t *rooms = json_object_get(desc, "rooms");
    return json_pack("{s:O?, s:O?, s:O?, s:s, s:o, s:o, s:O}", "id", json_object_get(desc, "id"),
                     "clientId", json_object_get(admin, "clientId"), "transport",
                     json_object_get(admin, "transport"), "nsp", nsp, "data", copy, "handshake",
                     handshake, "rooms", rooms ? rooms : json_array());
}

static const char *transport_name(eio_session *session)
{
    return session && eio_session_transport(session) == EIO_TRANSPORT_WEBSOCKET ? "websocket"
                                                                                : "polling";
}

/* ---- observer --------------------------------------------------------------------------- */

static void on_session_open(eio_session *session, void *ud)
{
    sio_admin *a = ud;
    bucket_add(a, B_RAW_CONNECTION, NULL, 1);
    if (eio_session_transport(session) == EIO_TRANSPORT_POLLING)
        a->polling++;
}

static void on_session_upgrade(eio_session *session, void *ud)
{
    sio_admin *a = ud;
    if (a->polling > 0)
        a->polling--;
}

static void on_session_close(eio_session *session, const char *reason, void *ud)
{
    sio_admin *a = ud;
    bucket_add(a, B_RAW_DISCONNECTION, reason, 1);
    if (eio_session_transport(session) == EIO_TRANSPORT_POLLING && a->polling > 0)
        a->polling--;
}

static void on_message(int out, size_t len, void *ud)
{
    sio_admin *a = ud;
    bucket_add(a, out ? B_PACKETS_OUT : B_PACKETS_IN, NULL, 1);
    bucket_add(a, out ? B_BYTES_OUT : B_BYTES_IN, NULL, len);
}

static void on_socket_connect(sio_socket *s, void *ud)
{
    sio_admin *a = ud;
    char client_id[ADMIN_CLIENT_ID_LEN + 1];
    snprintf(client_id, sizeof(client_id), "%s", sio_socket_client_id(s));
    json_object_set_new(sio_socket_data(s), "_admin",
                        json_pack("{s:s, s:s}", "clientId", client_id, "transport",
                                  transport_name(sio_socket_session(s))));
    const char *own = sio_socket_id(s);
    json_t *desc = sio_socket_describe(s, &own, 1);
    const char *nsp = sio_namespace_name(sio_socket_namespace(s));
    admin_broadcast(a, "socket_connected", json_pack("[o, o]", serialize(desc, nsp), iso_now(a)));
    json_decref(desc);
}

static void on_socket_upgrade(sio_socket *s, void *ud)
{
    sio_admin *a = ud;
    json_t *admin = json_object_get(sio_socket_data(s), "_admin");
    if (json_is_object(admin))
        json_object_set_new(admin, "transport", json_string("websocket"));
    admin_broadcast(a, "socket_updated",
                    json_pack("[{s:s, s:s, s:s}]", "id", sio_socket_id(s), "nsp",
                              sio_namespace_name(sio_socket_namespace(s)), "transport",
                              "websocket"));
}

static void on_socket_disconnect(sio_socket *s, const char *reason, void *ud)
{
    sio_admin *a = ud;
    admin_broadcast(a, "socket_disconnected",
                    json_pack("[s, s, s, o]", sio_namespace_name(sio_socket_namespace(s)),
                              sio_socket_id(s), reason ? reason : "", iso_now(a)));
}

static void on_room(sio_namespace *nsp, const char *room, const char *id, int joined, void *ud)
{
    sio_admin *a = ud;
    admin_broadcast(a, joined ? "room_joined" : "room_left",
                    json_pack("[s, s, s, o]", sio_namespace_name(nsp), room, id, iso_now(a)));
}

/* Node's onAny / onAnyOutgoing listeners: [nsp, id, [event, ...args], date], binary
 * attachments carried along under the same placeholders. Not for the admin's own sockets,
 * whose emits would feed themselves. */
static void on_event(sio_socket *s, int out, const char *event, const sio_args *args, void *ud)
{
    sio_admin *a = ud;
    sio_namespace *nsp = sio_socket_namespace(s);
    if (nsp == a->nsp || a->stopped)
        return;
    json_t *list = json_pack("[s]", event);
    json_t *rest = sio_args_json(args);
    if (json_is_array(rest))
        json_array_extend(list, rest);
    json_decref(rest);
    sio_args sa = {
        json_pack("[s, s, o, o]", sio_namespace_name(nsp), sio_socket_id(s), list, iso_now(a)),
        args->attachments, args->n_attachments, NULL, 0};
    if (sa.json)
        sio_namespace_emit(a->nsp, NULL, out ? "event_sent" : "event_received", &sa, 0);
    json_decref(sa.json);
}

/* ---- all_sockets ------------------------------------------------------------------------ */

typedef struct fetch_all {
    sio_socket *admin_socket; /* referenced */
    json_t *sockets;
    size_t pending; /* namespaces not answered yet, plus one while they are being asked */
} fetch_all;

static void fetch_all_step(fetch_all *f)
{
    if (--f->pending > 0)
        return;
    sio_args args = {json_pack("[O]", f->sockets), NULL, 0, NULL, 0};
    sio_socket_emit(f->admin_socket, "all_sockets", &args, 0);
    json_decref(args.json);
    json_decref(f->sockets);
    sio_socket_unref(f->admin_socket);
    free(f);
}

typedef struct fetch_one {
    fetch_all *all;
    char *nsp;
} fetch_one;

static void on_fetched(int status, json_t *sockets, void *ud)
{
    fetch_one *one = ud;
    size_t i;
    json_t *desc;
    json_array_foreach(sockets, i, desc)
        json_array_append_new(one->all->sockets, serialize(desc, one->nsp));
    fetch_all_step(one->all);
    free(one->nsp);
    free(one);
}

/* Node's fetchAllSockets(): fetchSockets() of every namespace, through the adapters. */
static void send_all_sockets(sio_admin *a, sio_socket *s)
{
    fetch_all *f = calloc(1, sizeof(*f));
    if (!f)
        abort();
    f->admin_socket = sio_socket_ref(s);
    f->sockets = json_array();
    f->pending = 1;
    size_t pos = 0;
    sio_namespace *nsp;
    while ((nsp = sio_server_namespace_next(a->srv, &pos)) != NULL) {
        fetch_one *one = malloc(sizeof(*one));
        if (!one || !(one->nsp = strdup(sio_namespace_name(nsp))))
            abort();
        one->all = f;
        f->pending++;
        if (sio_namespace_fetch_sockets(nsp, NULL, on_fetched, one) != SIOP_OK) {
            free(one->nsp);
            free(one);
            f->pending--;
        }
    }
    fetch_all_step(f);
}

/* ---- the UI's actions -------------------------------------------------------------------- */

/* What every action names: a namespace and a filter, a room (or a socket id) that makes
 * io.of(nsp).in(filter), or nothing (absent, null, false, "") for io.of(nsp), as Node's
 * `if (filter)`. The ack the UI never asks for is freed if a client sent one. */
typedef struct action {
    sio_namespace *nsp; /* NULL: the server has no such namespace */
    const char *filter;
    sio_target to;
    const sio_target *target; /* &to, or NULL: every socket of nsp */
} action;

static int action_parse(sio_admin *a, const sio_args *args, size_t filter_at, sio_ack *ack,
                        action *act)
{
    json_t *filter = json_array_get(args->json, filter_at);
    if (ack)
        sio_ack_free(ack);
    memset(act, 0, sizeof(*act));
    /* the namespace the UI names, without creating it (Node's io.of() would) */
    json_t *name = json_array_get(args->json, 0);
    act->nsp = json_is_string(name) ? sio_namespace_find(a->srv, json_string_value(name)) : NULL;
    if (json_is_string(filter) && json_string_length(filter) > 0) {
        act->filter = json_string_value(filter);
        act->to.rooms = &act->filter;
        act->to.n_rooms = 1;
        act->target = &act->to;
    } else if (filter && !json_is_null(filter) && !json_is_string(filter) &&
               !json_is_false(filter)) {
        return -1; /* a filter that names no room designates nobody, not everybody */
    }
    return act->nsp ? 0 : -1;
}

/* "join" / "leave" (nsp, room, filter). */
static void on_rooms_action(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                            void *ud)
{
    action act;
    const char *room = json_string_value(json_array_get(args->json, 1));
    if (action_parse(ud, args, 2, ack, &act) != 0 || !room)
        return;
    if (strcmp(event, "join") == 0)
        sio_namespace_sockets_join(act.nsp, act.target, &room, 1);
    else
        sio_namespace_sockets_leave(act.nsp, act.target, &room, 1);
}

/* "_disconnect" (nsp, close, filter). */
static void on_disconnect_action(sio_socket *s, const char *event, const sio_args *args,
                                 sio_ack *ack, void *ud)
{
    action act;
    if (action_parse(ud, args, 2, ack, &act) == 0)
        sio_namespace_disconnect_sockets(act.nsp, act.target,
                                         json_is_true(json_array_get(args->json, 1)));
}

/* "emit" (nsp, filter, ev, ...args): binary attachments travel with their placeholders. */
static void on_emit_action(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                           void *ud)
{
    action act;
    const char *ev = json_string_value(json_array_get(args->json, 2));
    if (action_parse(ud, args, 1, ack, &act) != 0 || !ev)
        return;
    json_t *rest = json_array();
    for (size_t i = 3; i < json_array_size(args->json); i++)
        json_array_append(rest, json_array_get(args->json, i));
    sio_args out = {rest, args->attachments, args->n_attachments, NULL, 0};
    sio_namespace_emit(act.nsp, act.target, ev, &out, 0);
    json_decref(rest);
}

/* ---- connection ------------------------------------------------------------------------- */

static void on_admin_connection(sio_socket *s, void *ud)
{
    sio_admin *a = ud;
    char *session_id = sio_socket_userdata(s);
    if (session_id) {
        sio_args sa = {json_pack("[s]", session_id), NULL, 0, NULL, 0};
        sio_socket_emit(s, "session", &sa, 0);
        json_decref(sa.json);
        free(session_id);
        sio_socket_set_userdata(s, NULL);
    }
    sio_args cfg = {json_pack("[{s:O}]", "supportedFeatures", a->features), NULL, 0, NULL, 0};
    sio_socket_emit(s, "config", &cfg, 0);
    json_decref(cfg.json);
    if (!a->production)
        send_all_sockets(a, s);
}

/* ---- authentication ----------------------------------------------------------------------- */

typedef struct password_check {
    uv_work_t work;
    sio_admin *admin;
    sio_socket *socket; /* the auth hook's reference */
    char *password;
    int ok;
} password_check;

static void check_password(uv_work_t *w)
{
    password_check *c = w->data;
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd)
        return;
    const char *h = crypt_rn(c->password, c->admin->password_hash, cd, (int)sizeof(*cd));
    size_t len = strlen(c->admin->password_hash);
    c->ok = h && strlen(h) == len && CRYPTO_memcmp(h, c->admin->password_hash, len) == 0;
    OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
}

/* The session id the UI presents when it reconnects. */
static char *session_new(sio_admin *a)
{
    unsigned char raw[ADMIN_SESSION_BYTES];
    char *hex = malloc(2 * ADMIN_SESSION_BYTES + 1);
    if (!hex)
        abort();
    sb_random_bytes(raw, sizeof(raw));
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    if (a->sessions.count < ADMIN_SESSIONS_MAX) {
        char *key = strdup(hex);
        if (!key)
            abort();
        sb_map_put(&a->sessions, key, key);
    }
    return hex;
}

static void password_checked(uv_work_t *w, int status)
{
    password_check *c = w->data;
    if (c->ok && status == 0) {
        sio_socket_set_userdata(c->socket, session_new(c->admin));
        sio_socket_ref(c->socket);
        sio_socket_accept(c->socket);
        free(sio_socket_userdata(c->socket)); /* still there: the client left meanwhile */
        sio_socket_set_userdata(c->socket, NULL);
        sio_socket_unref(c->socket);
    } else {
        sio_socket_refuse(c->socket, "invalid credentials", NULL);
    }
    c->admin->checks--;
    OPENSSL_cleanse(c->password, strlen(c->password));
    free(c->password);
    free(c);
}

static void on_auth(sio_socket *s, void *ud)
{
    sio_admin *a = ud;
    json_t *auth = sio_socket_auth(s);
    const char *session_id = json_string_value(json_object_get(auth, "sessionId"));
    if (session_id && sb_map_get(&a->sessions, session_id)) {
        sio_socket_accept(s);
        return;
    }
    const char *user = json_string_value(json_object_get(auth, "username"));
    const char *password = json_string_value(json_object_get(auth, "password"));
    if (!user || !password || strcmp(user, a->username) != 0) {
        sio_socket_refuse(s, "invalid credentials", NULL);
        return;
    }
    /* Guessing passwords in a loop must not take the whole thread pool from the rest of
     * the process (its DNS lookups, say): over the limit, a login is refused at once, and
     * says so, so that an operator refused while someone guesses knows to retry. */
    if (a->checks >= ADMIN_CHECKS_MAX) {
        sio_socket_refuse(s, "too many login attempts, try again", NULL);
        return;
    }
    password_check *c = calloc(1, sizeof(*c));
    if (!c || !(c->password = strdup(password)))
        abort();
    c->admin = a;
    c->socket = s;
    c->work.data = c;
    if (uv_queue_work(sio_server_loop(a->srv), &c->work, check_password, password_checked) != 0) {
        free(c->password);
        free(c);
        sio_socket_refuse(s, "invalid credentials", NULL);
        return;
    }
    a->checks++;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

#define ADMIN_BCRYPT_LEN 60 /* "$2b$" cost "$" 22 characters of salt, 31 of hash */

int sio_admin_check(const sio_admin_options *o, char *err, size_t errlen)
{
    const char *name = o->namespace_name ? o->namespace_name : SIO_ADMIN_NAMESPACE;
    if (name[0] != '/') {
        snprintf(err, errlen, "the admin namespace must start with '/': %s", name);
        return -1;
    }
    if (o->no_auth)
        return 0;
    const char *h = o->password_hash;
    if (!o->username || !*o->username || !h) {
        snprintf(err, errlen, "the admin UI needs a username and a bcrypt password hash");
        return -1;
    }
    if (strlen(h) != ADMIN_BCRYPT_LEN || strncmp(h, "$2", 2) != 0 || !strchr("aby", h[2]) ||
        crypt_checksalt(h) != CRYPT_SALT_OK) {
        snprintf(err, errlen, "the admin password must be a valid bcrypt hash ($2b$, $2y$, $2a$)");
        return -1;
    }
    return 0;
}

static int admin_configure(sio_admin *a, const sio_admin_options *o, char *err, size_t errlen)
{
    if (sio_admin_check(o, err, errlen) != 0)
        return -1;
    const char *name = o->namespace_name ? o->namespace_name : SIO_ADMIN_NAMESPACE;
    if (!o->no_auth &&
        (!(a->username = strdup(o->username)) || !(a->password_hash = strdup(o->password_hash))))
        abort();
    if (gethostname(a->hostname, sizeof(a->hostname)) != 0)
        snprintf(a->hostname, sizeof(a->hostname), "localhost");
    a->hostname[sizeof(a->hostname) - 1] = '\0';
    if (!(a->server_id = strdup(o->server_id && *o->server_id ? o->server_id : a->hostname)))
        abort();
    a->read_only = o->read_only;
    a->production = o->production;
    a->interval_ms = o->stats_interval_ms ? o->stats_interval_ms : SIO_ADMIN_STATS_INTERVAL_MS;
    a->nsp = sio_server_of(a->srv, name);
    return 0;
}

/* instrument()'s supportedFeatures on a Socket.IO v4 server. */
static void admin_features(sio_admin *a)
{
    static const char *const actions[] = {"EMIT",  "JOIN",   "LEAVE",      "DISCONNECT",
                                          "MJOIN", "MLEAVE", "MDISCONNECT"};
    a->features = json_array();
    for (size_t i = 0; !a->read_only && i < sizeof(actions) / sizeof(actions[0]); i++)
        json_array_append_new(a->features, json_string(actions[i]));
    json_array_append_new(a->features, json_string("AGGREGATED_EVENTS"));
    if (!a->production)
        json_array_append_new(a->features, json_string("ALL_EVENTS"));
    if (a->read_only)
        return;
    sio_namespace_on(a->nsp, "emit", on_emit_action, a);
    sio_namespace_on(a->nsp, "join", on_rooms_action, a);
    sio_namespace_on(a->nsp, "leave", on_rooms_action, a);
    sio_namespace_on(a->nsp, "_disconnect", on_disconnect_action, a);
}

sio_admin *sio_admin_new(sio_server *srv, const sio_admin_options *opts, char *err, size_t errlen)
{
    sio_admin *a = calloc(1, sizeof(*a));
    if (!a)
        abort();
    a->srv = srv;
    sb_map_init(&a->sessions);
    if (admin_configure(a, opts, err, errlen) != 0) {
        sio_admin_free(a);
        return NULL;
    }
    admin_features(a);
    if (a->password_hash)
        sio_namespace_set_auth(a->nsp, on_auth, a);
    sio_namespace_on_connection(a->nsp, on_admin_connection, a);
    a->observer.session_open = on_session_open;
    a->observer.session_upgrade = on_session_upgrade;
    a->observer.session_close = on_session_close;
    a->observer.message = on_message;
    if (!a->production) { /* instrument()'s registerVerboseListeners() */
        a->observer.socket_connect = on_socket_connect;
        a->observer.socket_upgrade = on_socket_upgrade;
        a->observer.socket_disconnect = on_socket_disconnect;
        a->observer.room = on_room;
        a->observer.event = on_event;
    }
    sio_server_set_observer(srv, &a->observer, a);
    eio_server_keep_headers(sio_server_engine(srv), 1);
    a->started = uv_hrtime();
    wall_sync(a);
    uv_timer_init(sio_server_loop(srv), &a->timer);
    a->timer.data = a;
    a->timer_open = 1;
    uv_timer_start(&a->timer, on_stats_timer, a->interval_ms, a->interval_ms);
    uv_unref((uv_handle_t *)&a->timer); /* as Node's interval.unref() */
    return a;
}

void sio_admin_stop(sio_admin *a)
{
    if (!a || a->stopped)
        return;
    a->stopped = 1;
    sio_server_set_observer(a->srv, NULL, NULL);
    if (a->timer_open) {
        uv_timer_stop(&a->timer);
        uv_close((uv_handle_t *)&a->timer, NULL);
        a->timer_open = 0;
    }
}

void sio_admin_free(sio_admin *a)
{
    if (!a)
        return;
    size_t pos = 0;
    char *key;
    while ((key = sb_map_next(&a->sessions, &pos)) != NULL)
        free(key);
    sb_map_free(&a->sessions);
    for (size_t i = 0; i < a->n_buckets; i++)
        free(a->buckets[i].sub_type);
    free(a->buckets);
    json_decref(a->features);
    free(a->username);
    free(a->password_hash);
    free(a->server_id);
    free(a);
}
