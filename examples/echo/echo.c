/* echo.c: switchboard-echo, the server the official compliance suites expect.
 *
 * Socket.IO mode (default, path /socket.io/), as the socket.io-protocol test-suite's
 * reference server: namespaces "/" and "/custom" emit "auth" with the handshake payload
 * on connection; "message" is answered with "message-back" and the same arguments
 * (binary included); "message-with-ack" is acknowledged with its arguments.
 *
 * Beyond the suites, for the project's own tests: "request-ack" (...args) makes the server
 * emit "ack-me" (...args) expecting an ack, and the client's answer comes back as
 * "ack-result"; "join" (room) joins a room and acks; "to-room" (room, ...args) broadcasts
 * "room-message" (...args) to that room; "to-room-except" (room, except, ...args) the same
 * minus the sockets in room except; "to-all" (...args) broadcasts "all-message" (...args) to
 * the namespace; "whoami" is acked with the node id; namespace "/refuse" refuses every
 * CONNECT.
 *
 * Cluster-wide operations (Node's io.in(target).socketsJoin() and siblings), on "/" and
 * "/custom". A target is null or absent (every socket), a room name, an array of room
 * names, or {"rooms": names, "except": names}. Each is acknowledged: with no argument when
 * it only acts, with its result otherwise, and with (result or null, error message) when
 * it fails:
 *   "sockets-join" (target, room or rooms)   the designated sockets join, then the ack;
 *   "sockets-leave" (target, room or rooms)  they leave, then the ack;
 *   "disconnect-sockets" (target, close)     the ack first (the sender may be designated),
 *                                            then they disconnect; close true also closes
 *                                            each one's whole connection;
 *   "fetch-sockets" (target)                 acked with [{id, handshake, rooms, data}];
 *   "set-data" (object)                      merged into the sender's socket.data, then the ack;
 *   "server-side-emit" (event, ...args)      serverSideEmit to the other nodes, acked with
 *                                            the array of their answers ([] on one node).
 * Server-side events (from another node's serverSideEmit or the emitter): "ping-node" is
 * answered with this node's id; "server-message" (...args) is emitted as "server-message"
 * to every socket of the namespace on this node.
 *
 * With --redis the echo is a cluster node (server/cluster/redis_adapter.h) named by
 * --node-id (default: its random uid; "local" without --redis), and it answers GET /healthz
 * and /readyz as the daemon does.
 *
 * --engine-io mode (path /engine.io/): the raw Engine.IO echo of the engine.io-protocol
 * test-suite, every message sent back as it came, with no Socket.IO layer at all.
 */
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "cluster_engine.h"
#include "daemon.h"
#include "health.h"
#include "options.h"
#include "redis_adapter.h"
#include "socketio.h"

#define PROG                 "switchboard-echo"
#define ECHO_EIO_PATH        "/engine.io/"
#define ECHO_SIO_PATH        "/socket.io/"
#define ECHO_ACK_TIMEOUT_MS  10000
#define ECHO_NODE_TIMEOUT_MS 5000 /* for answers from other nodes: Node's requestsTimeout */
#define ECHO_MAX_ROOMS       16   /* room names in one target or one sockets-join */
#define ECHO_NODE_ID         "local"

typedef struct echo_ctx {
    sio_server *sio;     /* Socket.IO mode */
    eio_server *eio;     /* --engine-io mode */
    sbd_daemon daemon;   /* loop, signals, shutdown chain */
    cl_cluster *cluster; /* NULL: one node */
    eio_health health;
    const char *node_id; /* the answer to "ping-node" and "whoami" */
} echo_ctx;

/* ---- Socket.IO mode ---------------------------------------------------------------- */

static void on_connection(sio_socket *s, void *ud)
{
    json_t *json = json_pack("[O]", sio_socket_auth(s));
    sio_args args = {json, NULL, 0, NULL, 0};
    sio_socket_emit(s, "auth", &args, 0);
    json_decref(json);
}

static void on_message(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                       void *ud)
{
    sio_socket_emit(s, "message-back", args, 0);
    sio_ack_free(ack);
}

static void on_message_with_ack(sio_socket *s, const char *event, const sio_args *args,
                                sio_ack *ack, void *ud)
{
    if (ack)
        sio_ack_send(ack, args);
}

static void on_ack_reply(sio_socket *s, int status, const sio_args *reply, void *ud)
{
    if (status == SIO_ACK_OK)
        sio_socket_emit(s, "ack-result", reply, 0);
}

static void on_request_ack(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                           void *ud)
{
    sio_socket_emit_ack(s, "ack-me", args, ECHO_ACK_TIMEOUT_MS, on_ack_reply, NULL);
    sio_ack_free(ack);
}

/* The first argument as a room name, or NULL. */
static const char *room_arg(const sio_args *args)
{
    return json_string_value(json_array_get(args->json, 0));
}

static void on_join(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack, void *ud)
{
    const char *room = room_arg(args);
    if (room)
        sio_socket_join(s, room);
    if (ack)
        sio_ack_send(ack, NULL);
}

/* Emits the arguments from the skip-th on as event to `to`. */
static void emit_rest(sio_socket *s, const sio_target *to, const char *event, const sio_args *args,
                      size_t skip)
{
    json_t *rest = json_array();
    for (size_t i = skip; i < json_array_size(args->json); i++)
        json_array_append(rest, json_array_get(args->json, i));
    sio_args out = {rest, args->attachments, args->n_attachments, NULL, 0};
    sio_namespace_emit(sio_socket_namespace(s), to, event, &out, 0);
    json_decref(rest);
}

static void on_to_room(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                       void *ud)
{
    const char *room = room_arg(args);
    sio_ack_free(ack);
    if (!room)
        return;
    sio_target to = {&room, 1, NULL, 0};
    emit_rest(s, &to, "room-message", args, 1);
}

static void on_to_room_except(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                              void *ud)
{
    const char *room = room_arg(args);
    const char *except = json_string_value(json_array_get(args->json, 1));
    sio_ack_free(ack);
    if (!room || !except)
        return;
    sio_target to = {&room, 1, &except, 1};
    emit_rest(s, &to, "room-message", args, 2);
}

static void on_to_all(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                      void *ud)
{
    sio_ack_free(ack);
    emit_rest(s, NULL, "all-message", args, 0);
}

static void on_whoami(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                      void *ud)
{
    const echo_ctx *ctx = ud;
    if (!ack)
        return;
    json_t *answer = json_pack("[s]", ctx->node_id);
    sio_args out = {answer, NULL, 0, NULL, 0};
    sio_ack_send(ack, &out);
    json_decref(answer);
}

/* ---- cluster-wide operations ------------------------------------------------------- */

typedef struct echo_target {
    sio_target to;
    const char *rooms[ECHO_MAX_ROOMS]; /* borrowed from the event's arguments */
    const char *except[ECHO_MAX_ROOMS];
} echo_target;

/* Room names from a string or an array of strings (NULL or null: none) into names.
 * Returns how many, or -1 for anything else or more than max. */
static int room_names(json_t *v, const char **names, size_t max)
{
    size_t i;
    json_t *room;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        names[0] = json_string_value(v);
        return 1;
    }
    if (!json_is_array(v) || json_array_size(v) > max)
        return -1;
    json_array_foreach(v, i, room)
    {
        if (!json_is_string(room))
            return -1;
        names[i] = json_string_value(room);
    }
    return (int)json_array_size(v);
}

/* Reads a target argument (see the file comment); -1 when malformed. */
static int target_parse(json_t *v, echo_target *t)
{
    int object = json_is_object(v);
    int n_rooms = room_names(object ? json_object_get(v, "rooms") : v, t->rooms, ECHO_MAX_ROOMS);
    int n_except = object ? room_names(json_object_get(v, "except"), t->except, ECHO_MAX_ROOMS) : 0;
    if (n_rooms < 0 || n_except < 0)
        return -1;
    t->to = (sio_target){t->rooms, (size_t)n_rooms, t->except, (size_t)n_except};
    return 0;
}

/* Acks (result, message): result may be NULL (null). Frees ack. */
static void ack_failure(sio_ack *ack, json_t *result, const char *message)
{
    json_t *json = json_pack("[O?s]", result, message);
    sio_args out = {json, NULL, 0, NULL, 0};
    sio_ack_send(ack, &out);
    json_decref(json);
}

/* Acks with one argument (borrowed). Frees ack. */
static void ack_result(sio_ack *ack, json_t *result)
{
    json_t *json = json_pack("[O]", result);
    sio_args out = {json, NULL, 0, NULL, 0};
    sio_ack_send(ack, &out);
    json_decref(json);
}

/* Acks with no argument on SIOP_OK, else with the error. Frees ack (which may be NULL). */
static void ack_status(sio_ack *ack, int rc)
{
    if (!ack)
        return;
    if (rc == SIOP_OK)
        sio_ack_send(ack, NULL);
    else
        ack_failure(ack, NULL, sio_strerror(rc));
}

typedef int (*rooms_op)(sio_namespace *nsp, const sio_target *to, const char *const *rooms,
                        size_t n);

/* "sockets-join" and "sockets-leave": (target, room or rooms). */
static void on_rooms_op(sio_socket *s, const sio_args *args, sio_ack *ack, rooms_op op)
{
    echo_target t;
    const char *rooms[ECHO_MAX_ROOMS];
    int n = room_names(json_array_get(args->json, 1), rooms, ECHO_MAX_ROOMS);
    int rc = SIO_EINVAL;
    if (target_parse(json_array_get(args->json, 0), &t) == 0 && n >= 0)
        rc = op(sio_socket_namespace(s), &t.to, rooms, (size_t)n);
    ack_status(ack, rc);
}

static void on_sockets_join(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                            void *ud)
{
    on_rooms_op(s, args, ack, sio_namespace_sockets_join);
}

static void on_sockets_leave(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                             void *ud)
{
    on_rooms_op(s, args, ack, sio_namespace_sockets_leave);
}

static void on_disconnect_sockets(sio_socket *s, const char *event, const sio_args *args,
                                  sio_ack *ack, void *ud)
{
    echo_target t;
    if (target_parse(json_array_get(args->json, 0), &t) != 0) {
        ack_status(ack, SIO_EINVAL);
        return;
    }
    ack_status(ack, SIOP_OK);
    sio_namespace_disconnect_sockets(sio_socket_namespace(s), &t.to,
                                     json_is_true(json_array_get(args->json, 1)));
}

/* The ack of "fetch-sockets" and "server-side-emit" when the result arrives. */
static void on_node_results(int status, json_t *results, void *ud)
{
    if (status == SIO_ACK_OK)
        ack_result(ud, results);
    else
        ack_failure(ud, results, sio_ack_status_message(status));
}

static void on_fetch_sockets(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                             void *ud)
{
    echo_target t;
    int rc = SIO_EINVAL;
    if (!ack)
        return;
    if (target_parse(json_array_get(args->json, 0), &t) == 0)
        rc = sio_namespace_fetch_sockets(sio_socket_namespace(s), &t.to, on_node_results, ack);
    if (rc != SIOP_OK)
        ack_status(ack, rc);
}

static void on_set_data(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                        void *ud)
{
    json_t *fields = json_array_get(args->json, 0);
    int rc = json_is_object(fields) ? SIOP_OK : SIO_EINVAL;
    if (rc == SIOP_OK)
        json_object_update(sio_socket_data(s), fields);
    ack_status(ack, rc);
}

static void on_server_side_emit(sio_socket *s, const char *event, const sio_args *args,
                                sio_ack *ack, void *ud)
{
    const char *name = room_arg(args);
    int rc = SIO_EINVAL;
    if (!ack)
        return;
    if (name) {
        json_t *rest = json_array();
        for (size_t i = 1; i < json_array_size(args->json); i++)
            json_array_append(rest, json_array_get(args->json, i));
        sio_args out = {rest, args->attachments, args->n_attachments, NULL, 0};
        rc = sio_namespace_server_side_emit(sio_socket_namespace(s), name, &out,
                                            ECHO_NODE_TIMEOUT_MS, on_node_results, ack);
        json_decref(rest);
    }
    if (rc != SIOP_OK)
        ack_status(ack, rc);
}

static void on_ping_node(sio_namespace *nsp, const char *event, const sio_args *args,
                         sio_node_reply *ack, void *ud)
{
    const echo_ctx *ctx = ud;
    json_t *answer = json_pack("[s]", ctx->node_id);
    sio_args out = {answer, NULL, 0, NULL, 0};
    if (ack)
        sio_node_reply_send(ack, &out);
    json_decref(answer);
}

static void on_server_message(sio_namespace *nsp, const char *event, const sio_args *args,
                              sio_node_reply *ack, void *ud)
{
    sio_node_reply_free(ack);
    sio_namespace_emit(nsp, NULL, "server-message", args, SIO_EMIT_LOCAL);
}

static void on_refuse_auth(sio_socket *s, void *ud)
{
    json_t *data = json_pack("{s:s}", "reason", "test");
    sio_socket_refuse(s, "refused", data);
    json_decref(data);
}

static void echo_namespace(echo_ctx *ctx, const char *name)
{
    sio_namespace *nsp = sio_server_of(ctx->sio, name);
    sio_namespace_on_connection(nsp, on_connection, NULL);
    sio_namespace_on(nsp, "message", on_message, NULL);
    sio_namespace_on(nsp, "message-with-ack", on_message_with_ack, NULL);
    sio_namespace_on(nsp, "request-ack", on_request_ack, NULL);
    sio_namespace_on(nsp, "join", on_join, NULL);
    sio_namespace_on(nsp, "to-room", on_to_room, NULL);
    sio_namespace_on(nsp, "to-room-except", on_to_room_except, NULL);
    sio_namespace_on(nsp, "to-all", on_to_all, NULL);
    sio_namespace_on(nsp, "whoami", on_whoami, ctx);
    sio_namespace_on(nsp, "sockets-join", on_sockets_join, NULL);
    sio_namespace_on(nsp, "sockets-leave", on_sockets_leave, NULL);
    sio_namespace_on(nsp, "disconnect-sockets", on_disconnect_sockets, NULL);
    sio_namespace_on(nsp, "fetch-sockets", on_fetch_sockets, NULL);
    sio_namespace_on(nsp, "set-data", on_set_data, NULL);
    sio_namespace_on(nsp, "server-side-emit", on_server_side_emit, NULL);
    sio_namespace_on_server_event(nsp, "ping-node", on_ping_node, ctx);
    sio_namespace_on_server_event(nsp, "server-message", on_server_message, ctx);
}

/* ---- Engine.IO mode ---------------------------------------------------------------- */

static void on_eio_open(eio_session *s, void *ud) {}

static void on_eio_message(eio_session *s, const uint8_t *data, size_t len, int binary, void *ud)
{
    eio_session_send(s, data, len, binary);
}

static void on_eio_close(eio_session *s, const char *reason, void *ud) {}

/* ---- lifecycle --------------------------------------------------------------------- */

/* The shutdown chain (daemon.h): the server tells every client, then the cluster closes. */
static void stop_server(void *part, sbd_done_cb done, void *done_ud)
{
    echo_ctx *ctx = part;
    if (ctx->sio)
        sio_server_shutdown(ctx->sio, done, done_ud);
    else
        eio_server_shutdown(ctx->eio, done, done_ud);
}

static void close_cluster(void *part, sbd_done_cb done, void *done_ud)
{
    cl_cluster_close(part, done, done_ud);
}

static int echo_start(echo_ctx *ctx, uv_loop_t *loop, const sbd_options *o, int engine_io)
{
    static const eio_callbacks eio_cb = {on_eio_open, on_eio_message, on_eio_close, NULL};
    char err[256];
    if (o->redis && !engine_io) {
        cl_config cfg = {o->redis, o->redis_prefix, o->node_id, 0, !o->redis_room_channels, NULL,
                         NULL};
        ctx->cluster = cl_cluster_new(loop, &cfg, err, sizeof(err));
        if (!ctx->cluster) {
            fprintf(stderr, "%s: --redis: %s\n", PROG, err);
            return -1;
        }
        ctx->node_id = o->node_id ? o->node_id : cl_cluster_uid(ctx->cluster);
    }
    eio_config ecfg = o->eio;
    if (ctx->cluster && o->cluster_engine)
        ecfg.sid_prefix = cl_cluster_uid(ctx->cluster); /* sids name their node */
    if (engine_io)
        ctx->eio = eio_server_new(loop, &ecfg, &eio_cb, ctx, err, sizeof(err));
    else
        ctx->sio = sio_server_new(loop, &ecfg, &o->sio, err, sizeof(err));
    if (!ctx->eio && !ctx->sio) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return -1;
    }
    if (ctx->cluster)
        sio_server_set_adapter(ctx->sio, cl_adapter_new, ctx->cluster);
    if (ctx->cluster && o->cluster_engine)
        cl_engine_attach(ctx->cluster, sio_server_engine(ctx->sio));
    if (ctx->sio) {
        echo_namespace(ctx, "/");
        echo_namespace(ctx, "/custom");
        sio_namespace_set_auth(sio_server_of(ctx->sio, "/refuse"), on_refuse_auth, NULL);
    }
    eio_server *engine = ctx->sio ? sio_server_engine(ctx->sio) : ctx->eio;
    ctx->health = (eio_health){ctx->cluster ? cl_cluster_ready : NULL, ctx->cluster};
    eio_health_attach(engine, &ctx->health);
    eio_server_add_http_handler(engine, eio_metrics_handle, engine); /* the relay's counters */
    printf("%s: %s echo listening on %s:%d%s\n", PROG, engine_io ? "Engine.IO" : "Socket.IO",
           o->eio.host, eio_server_port(engine), o->eio.path);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    int engine_io = 0;
    const sbd_option extra[] = {
        {"engine-io", SBD_OPT_FLAG, &engine_io, 0, 1,
         "raw Engine.IO echo on /engine.io/ instead of Socket.IO"},
    };
    sbd_options o;
    echo_ctx ctx;

    sbd_options_defaults(&o);
    o.eio.path = NULL; /* the default depends on the mode */
    switch (sbd_options_parse(&o, PROG, argc, argv, extra, sizeof(extra) / sizeof(extra[0]))) {
    case SBD_OPTIONS_HELP: return 0;
    case SBD_OPTIONS_ERR: return SBD_EXIT_USAGE;
    default: break;
    }
    if (!o.eio.path)
        o.eio.path = engine_io ? ECHO_EIO_PATH : ECHO_SIO_PATH;
    memset(&ctx, 0, sizeof(ctx));
    ctx.node_id = ECHO_NODE_ID;
    sbd_daemon_init(&ctx.daemon, PROG);
    if (echo_start(&ctx, &ctx.daemon.loop, &o, engine_io) != 0) {
        sbd_daemon_on_shutdown(&ctx.daemon, close_cluster, ctx.cluster);
        return sbd_daemon_abort(&ctx.daemon, SBD_EXIT_FAILURE);
    }
    sbd_daemon_on_shutdown(&ctx.daemon, stop_server, &ctx);
    sbd_daemon_on_shutdown(&ctx.daemon, close_cluster, ctx.cluster);
    sbd_daemon_run(&ctx.daemon);
    if (ctx.sio)
        sio_server_free(ctx.sio);
    else
        eio_server_free(ctx.eio);
    return sbd_daemon_finish(&ctx.daemon);
}
