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
 * "room-message" (...args) to that room; namespace "/refuse" refuses every CONNECT.
 *
 * --engine-io mode (path /engine.io/): the raw Engine.IO echo of the engine.io-protocol
 * test-suite, every message sent back as it came, with no Socket.IO layer at all.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "options.h"
#include "signals.h"
#include "socketio.h"

#define PROG "switchboard-echo"
#define ECHO_EIO_PATH "/engine.io/"
#define ECHO_SIO_PATH "/socket.io/"
#define SB_EXIT_FAILURE 1
#define ECHO_ACK_TIMEOUT_MS 10000

typedef struct echo_ctx {
    sio_server *sio;     /* Socket.IO mode */
    eio_server *eio;     /* --engine-io mode */
    sb_signals signals;
} echo_ctx;

/* ---- Socket.IO mode ---------------------------------------------------------------- */

static void on_connection(sio_socket *s, void *ud) {
    json_t *json = json_pack("[O]", sio_socket_auth(s));
    sio_args args = {json, NULL, 0};
    sio_socket_emit(s, "auth", &args, 0);
    json_decref(json);
}

static void on_message(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                       void *ud) {
    sio_socket_emit(s, "message-back", args, 0);
    sio_ack_free(ack);
}

static void on_message_with_ack(sio_socket *s, const char *event, const sio_args *args,
                                sio_ack *ack, void *ud) {
    if (ack) sio_ack_send(ack, args);
}

static void on_ack_reply(sio_socket *s, int status, const sio_args *reply, void *ud) {
    if (status == SIO_ACK_OK) sio_socket_emit(s, "ack-result", reply, 0);
}

static void on_request_ack(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                           void *ud) {
    sio_socket_emit_ack(s, "ack-me", args, ECHO_ACK_TIMEOUT_MS, on_ack_reply, NULL);
    sio_ack_free(ack);
}

/* The first argument as a room name, or NULL. */
static const char *room_arg(const sio_args *args) {
    return json_string_value(json_array_get(args->json, 0));
}

static void on_join(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                    void *ud) {
    const char *room = room_arg(args);
    if (room) sio_socket_join(s, room);
    if (ack) sio_ack_send(ack, NULL);
}

static void on_to_room(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                       void *ud) {
    const char *room = room_arg(args);
    sio_ack_free(ack);
    if (!room) return;
    json_t *rest = json_array();
    for (size_t i = 1; i < json_array_size(args->json); i++)
        json_array_append(rest, json_array_get(args->json, i));
    sio_args out = {rest, args->attachments, args->n_attachments};
    sio_target to = {&room, 1, NULL, 0};
    sio_namespace_emit(sio_socket_namespace(s), &to, "room-message", &out, 0);
    json_decref(rest);
}

static void on_refuse_auth(sio_socket *s, void *ud) {
    json_t *data = json_pack("{s:s}", "reason", "test");
    sio_socket_refuse(s, "refused", data);
    json_decref(data);
}

static void echo_namespace(sio_server *srv, const char *name) {
    sio_namespace *nsp = sio_server_of(srv, name);
    sio_namespace_on_connection(nsp, on_connection, NULL);
    sio_namespace_on(nsp, "message", on_message, NULL);
    sio_namespace_on(nsp, "message-with-ack", on_message_with_ack, NULL);
    sio_namespace_on(nsp, "request-ack", on_request_ack, NULL);
    sio_namespace_on(nsp, "join", on_join, NULL);
    sio_namespace_on(nsp, "to-room", on_to_room, NULL);
}

/* ---- Engine.IO mode ---------------------------------------------------------------- */

static void on_eio_open(eio_session *s, void *ud) {}

static void on_eio_message(eio_session *s, const uint8_t *data, size_t len, int binary, void *ud) {
    eio_session_send(s, data, len, binary);
}

static void on_eio_close(eio_session *s, const char *reason, void *ud) {}

/* ---- lifecycle --------------------------------------------------------------------- */

static void on_shutdown_done(void *ud) {
    echo_ctx *ctx = ud;
    sb_signals_close(&ctx->signals);
}

static void on_stop(void *ud) {
    echo_ctx *ctx = ud;
    if (ctx->sio) sio_server_shutdown(ctx->sio, on_shutdown_done, ctx);
    else eio_server_shutdown(ctx->eio, on_shutdown_done, ctx);
}

static int echo_start(echo_ctx *ctx, uv_loop_t *loop, const sb_options *o, int engine_io) {
    static const eio_callbacks eio_cb = {on_eio_open, on_eio_message, on_eio_close};
    char err[256];
    if (engine_io) ctx->eio = eio_server_new(loop, &o->eio, &eio_cb, ctx, err, sizeof(err));
    else ctx->sio = sio_server_new(loop, &o->eio, &o->sio, err, sizeof(err));
    if (!ctx->eio && !ctx->sio) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return -1;
    }
    if (ctx->sio) {
        echo_namespace(ctx->sio, "/");
        echo_namespace(ctx->sio, "/custom");
        sio_namespace_set_auth(sio_server_of(ctx->sio, "/refuse"), on_refuse_auth, NULL);
    }
    eio_server *engine = ctx->sio ? sio_server_engine(ctx->sio) : ctx->eio;
    printf("%s: %s echo listening on %s:%d%s\n", PROG, engine_io ? "Engine.IO" : "Socket.IO",
           o->eio.host, eio_server_port(engine), o->eio.path);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    int engine_io = 0;
    const sb_option extra[] = {
        {"engine-io", SB_OPT_FLAG, &engine_io, 0, 1,
         "raw Engine.IO echo on /engine.io/ instead of Socket.IO"},
    };
    sb_options o;
    echo_ctx ctx;
    uv_loop_t loop;

    sb_options_defaults(&o);
    o.eio.path = NULL; /* the default depends on the mode */
    switch (sb_options_parse(&o, PROG, argc, argv, extra, sizeof(extra) / sizeof(extra[0]))) {
    case SB_OPTIONS_HELP: return 0;
    case SB_OPTIONS_ERR: return SB_EXIT_USAGE;
    default: break;
    }
    if (!o.eio.path) o.eio.path = engine_io ? ECHO_EIO_PATH : ECHO_SIO_PATH;
    signal(SIGPIPE, SIG_IGN);
    memset(&ctx, 0, sizeof(ctx));
    uv_loop_init(&loop);
    if (echo_start(&ctx, &loop, &o, engine_io) != 0) {
        uv_loop_close(&loop);
        return SB_EXIT_FAILURE;
    }
    sb_signals_start(&ctx.signals, &loop, PROG, on_stop, &ctx);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (ctx.sio) sio_server_free(ctx.sio);
    else eio_server_free(ctx.eio);
    return uv_loop_close(&loop) == 0 ? 0 : SB_EXIT_FAILURE;
}
