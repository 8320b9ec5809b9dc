/* main.c: the switchboard daemon.
 *
 * Wires the configuration (flags and environment, options.h) to a Socket.IO server whose
 * default namespace "/" accepts every connection, answers GET /healthz and /readyz for load
 * balancers, and stops gracefully on SIGTERM/SIGINT:
 * every client gets a CLOSE (so it reconnects elsewhere), the loop ends, exit status 0.
 * With --redis the node joins a cluster (server/cluster/redis_adapter.h): /readyz then
 * follows Redis, and the Redis connection closes after the clients.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "health.h"
#include "options.h"
#include "redis_adapter.h"
#include "signals.h"
#include "socketio.h"

#define PROG "switchboard"
#define SB_EXIT_FAILURE 1

typedef struct daemon_ctx {
    sio_server *srv;
    rca_cluster *cluster; /* NULL: embedded mode */
    sb_signals signals;
    eio_health health;
} daemon_ctx;

static void on_cluster_closed(void *ud) {
    daemon_ctx *ctx = ud;
    sb_signals_close(&ctx->signals);
}

static void on_shutdown_done(void *ud) {
    daemon_ctx *ctx = ud;
    if (ctx->cluster) rca_cluster_close(ctx->cluster, on_cluster_closed, ctx);
    else sb_signals_close(&ctx->signals);
}

static void on_stop(void *ud) {
    daemon_ctx *ctx = ud;
    sio_server_shutdown(ctx->srv, on_shutdown_done, ctx);
}

static void log_listening(const sb_options *o, int port) {
    const char *host = o->eio.host;
    int v6 = strchr(host, ':') != NULL;
    printf("%s: listening on http://%s%s%s:%d%s\n", PROG, v6 ? "[" : "", host, v6 ? "]" : "", port,
           o->eio.path);
    fflush(stdout);
}

int main(int argc, char **argv) {
    sb_options o;
    daemon_ctx ctx;
    uv_loop_t loop;
    char err[256];

    sb_options_defaults(&o);
    switch (sb_options_parse(&o, PROG, argc, argv, NULL, 0)) {
    case SB_OPTIONS_HELP: return 0;
    case SB_OPTIONS_ERR: return SB_EXIT_USAGE;
    default: break;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    ctx.cluster = NULL;
    if (o.redis) {
        rca_config cfg = {o.redis, o.redis_prefix, o.node_id, 0, !o.redis_room_channels};
        ctx.cluster = rca_cluster_new(&loop, &cfg, err, sizeof(err));
        if (!ctx.cluster) {
            fprintf(stderr, "%s: --redis: %s\n", PROG, err);
            uv_loop_close(&loop);
            return SB_EXIT_USAGE;
        }
    }
    ctx.srv = sio_server_new(&loop, &o.eio, &o.sio, err, sizeof(err));
    if (!ctx.srv) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        if (ctx.cluster) rca_cluster_close(ctx.cluster, NULL, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return SB_EXIT_FAILURE;
    }
    if (ctx.cluster) sio_server_set_adapter(ctx.srv, rca_adapter_new, ctx.cluster);
    ctx.health = (eio_health){ctx.cluster ? rca_cluster_ready : NULL, ctx.cluster};
    eio_health_attach(sio_server_engine(ctx.srv), &ctx.health);
    log_listening(&o, eio_server_port(sio_server_engine(ctx.srv)));
    sb_signals_start(&ctx.signals, &loop, PROG, on_stop, &ctx);
    uv_run(&loop, UV_RUN_DEFAULT);
    sio_server_free(ctx.srv);
    if (uv_loop_close(&loop) != 0) {
        fprintf(stderr, "%s: handles left open at exit\n", PROG);
        return SB_EXIT_FAILURE;
    }
    return 0;
}
