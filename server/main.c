/* main.c: the switchboard daemon.
 *
 * Wires the configuration (flags and environment, options.h) to a Socket.IO server that
 * serves the helpdesk (server/helpdesk: namespace /helpdesk, REST, /metrics), relays plain
 * Socket.IO on the default namespace "/", answers GET /healthz and /readyz for load
 * balancers, and stops gracefully on SIGTERM/SIGINT: every client gets a CLOSE (so it
 * reconnects elsewhere), the loop ends, exit status 0.
 * Without --redis everything lives in this process (the embedded mode, one node). With
 * --redis the node joins a cluster (server/cluster) and the helpdesk keeps its state in
 * Redis (store_redis.h); /readyz then follows Redis.
 */
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "admin.h"
#include "cluster_engine.h"
#include "daemon.h"
#include "health.h"
#include "helpdesk.h"
#include "netaddr.h"
#include "options.h"
#include "redis_adapter.h"
#include "socketio.h"
#include "store_redis.h"
#include "web.h"

#define PROG          "switchboard"
#define SB_MIN_SECRET 16 /* bytes: shorter HS256 secrets can be brute-forced */
#define SB_MIN_WIDGET_KEY                                                                          \
    8 /* bytes: a widget key is public, it only has to be unguessable                              \
         enough not to be hit by chance */
#define SB_STORE_TIMEOUT_MS 3000

typedef struct daemon_ctx {
    sbd_daemon daemon; /* loop, signals, shutdown chain */
    sio_server *srv;
    cl_cluster *cluster; /* NULL: embedded mode */
    hd_store *store;
    hd_commands *commands; /* hd:commands consumer; NULL: embedded mode */
    hd_webhooks *webhooks; /* NULL: no --webhook-url */
    int embedded;
    hd_app *app;
    sbd_web *web;     /* NULL: no --web */
    sio_admin *admin; /* NULL: no --admin-* */
} daemon_ctx;

typedef struct hd_flags {
    const char *jwt_secret;
    sbd_option_list api_keys;
    sbd_option_list widget_keys;
    sbd_option_list trusted_proxies;
    const char *routing;
    sbd_option_list webhook_urls;
    const char *web; /* --web DIR */
    hd_config cfg;
    sio_admin_options admin; /* --admin-*: the Admin UI's namespace */
    int admin_on;            /* one of them was given */
} hd_flags;

/* The shutdown chain's steps (daemon.h), in the order main lists them: the server tells
 * every client (so it reconnects elsewhere), then the backend's consumer stops, then the
 * store and the cluster links close. */
static void stop_server(void *part, sbd_done_cb done, void *done_ud)
{
    daemon_ctx *ctx = part;
    hd_app_stop(ctx->app);
    sio_admin_stop(ctx->admin);
    sio_server_shutdown(ctx->srv, done, done_ud);
}

/* The memory store stops feeding the webhooks before they close. */
static void close_webhooks(void *part, sbd_done_cb done, void *done_ud)
{
    daemon_ctx *ctx = part;
    if (ctx->embedded)
        hd_store_memory_set_sink(ctx->store, NULL, NULL);
    hd_webhooks_close(ctx->webhooks, done, done_ud);
}

static void close_commands(void *part, sbd_done_cb done, void *done_ud)
{
    hd_commands_close(part, done, done_ud);
}

static void close_store(void *part, sbd_done_cb done, void *done_ud)
{
    hd_store *store = part;
    store->ops->close(store, done, done_ud);
}

static void close_cluster(void *part, sbd_done_cb done, void *done_ud)
{
    cl_cluster_close(part, done, done_ud);
}

static void log_listening(const sbd_options *o, int port)
{
    const char *host = o->eio.host;
    int v6 = strchr(host, ':') != NULL;
    printf("%s: listening on http://%s%s%s:%d%s (helpdesk namespace %s, %s)\n", PROG, v6 ? "[" : "",
           host, v6 ? "]" : "", port, o->eio.path, HD_NAMESPACE,
           o->redis ? "state in Redis" : "embedded: state in memory, lost on restart");
    fflush(stdout);
}

static size_t helpdesk_options(hd_flags *f, sbd_option *t)
{
    const sbd_option opts[] = {
        {"jwt-secret", SBD_OPT_STRING, &f->jwt_secret, 0, 0,
         "HS256 secret shared with the backend (signed tokens)"},
        {"api-key", SBD_OPT_LIST, &f->api_keys, 0, 0,
         "an API key of a trusted integration (repeatable; env: comma-separated)"},
        {"routing", SBD_OPT_STRING, &f->routing, 0, 0,
         "auto (default) or manual: agents take from the queue"},
        {"max-chats", SBD_OPT_INT, &f->cfg.max_chats, 1, HD_MAX_CHATS_LIMIT,
         "an agent's concurrent conversations when its token says none (default 5)"},
        {"inactivity-timeout", SBD_OPT_U32, &f->cfg.inactivity_s, 0, UINT32_MAX,
         "seconds without a message before a conversation closes, 0 = never (default 1800)"},
        {"max-message-bytes", SBD_OPT_SIZE, &f->cfg.max_message, 1, SIZE_MAX,
         "longest message text (default 16384)"},
        {"rate-limit", SBD_OPT_U32, &f->cfg.rate, 0, UINT32_MAX,
         "events per second per socket, 0 = unlimited (default 10)"},
        {"rate-burst", SBD_OPT_U32, &f->cfg.burst, 1, UINT32_MAX,
         "events a socket may send at once (default 20)"},
        {"jwt-skew", SBD_OPT_INT, &f->cfg.auth.skew_s, 0, 3600,
         "clock skew tolerated on exp and nbf, in seconds (default 30)"},
        {"webhook-url", SBD_OPT_LIST, &f->webhook_urls, 0, 0,
         "POST every backend event to this http(s) URL (repeatable; env: comma-separated)"},
        {"webhook-secret", SBD_OPT_STRING, &f->cfg.webhook_secret, 0, 0,
         "HMAC-SHA256 key of X-Switchboard-Signature (at least 16 bytes; required with a URL)"},
        {"webhook-retry-for", SBD_OPT_U32, &f->cfg.webhook_retry_s, 1, 30 * 86400,
         "seconds an event is retried before it is dropped (default 86400)"},
        {"webhook-timeout", SBD_OPT_U32, &f->cfg.webhook_timeout_ms, 1, 600000,
         "ms without an answer before an attempt fails (default 10000)"},
        {"webhook-memory-max", SBD_OPT_SIZE, &f->cfg.webhook_memory_max, 1, 10000000,
         "events waiting in memory (embedded) or read ahead (Redis) (default 10000)"},
        {"webhook-backoff-min", SBD_OPT_U32, &f->cfg.webhook_backoff_min_ms, 1, 3600000,
         "ms before the first retry, doubling with jitter (default 1000)"},
        {"webhook-backoff-max", SBD_OPT_U32, &f->cfg.webhook_backoff_max_ms, 1, 86400000,
         "cap of the retry delay in ms (default 300000)"},
        {"widget-key", SBD_OPT_LIST, &f->widget_keys, 0, 0,
         "a website widget's public key for visitor registration (repeatable; env: "
         "comma-separated); needs --jwt-secret, honoured from the --cors-origin origins"},
        {"identity-secret", SBD_OPT_STRING, &f->cfg.identity_secret, 0, 0,
         "verifies visitors' user_id: user_hash = hex HMAC-SHA256(secret, user_id)"},
        {"visitor-ttl", SBD_OPT_U32, &f->cfg.visitor_ttl_s, 60, UINT32_MAX,
         "seconds a visitor token is valid (default 2592000: 30 days)"},
        {"trusted-proxy", SBD_OPT_LIST, &f->trusted_proxies, 0, 0,
         "a proxy network (10.0.0.0/8, an address) whose X-Forwarded-For names the client "
         "(repeatable; env: comma-separated)"},
        {"visitor-rate", SBD_OPT_U32, &f->cfg.visitor_rate, 0, UINT32_MAX,
         "visitor registrations per minute per client address, 0 = unlimited (default 10)"},
        {"web", SBD_OPT_STRING, &f->web, 0, 0,
         "serve this folder's pages: /widget.js, /console/ (the repository's web/)"},
        {"demo", SBD_OPT_FLAG, &f->cfg.demo, 0, 1,
         "development only, loopback --host only: the demo page /demo/, its widget key "
         "\"" HD_DEMO_WIDGET_KEY "\" and agent tokens from POST /demo/token"},
    };
    memcpy(t, opts, sizeof(opts));
    return sizeof(opts) / sizeof(opts[0]);
}

/* 1 when only this machine can reach host. */
static int loopback_host(const char *host)
{
    static const char *const loopback[] = {"127.0.0.0/8", "::1"};
    return !strcmp(host, "localhost") || sb_net_contains_any(loopback, 2, host);
}

/* The Admin UI (@socket.io/admin-ui) on its namespace: admin.h. */
static size_t admin_options(hd_flags *f, sbd_option *t)
{
    sio_admin_options *a = &f->admin;
    const sbd_option opts[] = {
        {"admin-user", SBD_OPT_STRING, &a->username, 0, 0,
         "Admin UI: the username of its basic auth (enables the admin namespace)"},
        {"admin-password-hash", SBD_OPT_STRING, &a->password_hash, 0, 0,
         "Admin UI: bcrypt hash ($2b$, $2y$, $2a$) of its password"},
        {"admin-no-auth", SBD_OPT_FLAG, &a->no_auth, 0, 1,
         "Admin UI without authentication (loopback --host only)"},
        {"admin-read-only", SBD_OPT_FLAG, &a->read_only, 0, 1,
         "Admin UI: show only, no join, leave, disconnect or emit"},
        {"admin-production", SBD_OPT_FLAG, &a->production, 0, 1,
         "Admin UI in Node's production mode: server stats only, no socket list or live feed"},
        {"admin-namespace", SBD_OPT_STRING, &a->namespace_name, 0, 0,
         "Admin UI: its namespace (default /admin)"},
        {"admin-server-id", SBD_OPT_STRING, &a->server_id, 0, 0,
         "Admin UI: this node's name in it (default --node-id, else the host name)"},
        {"admin-stats-interval", SBD_OPT_U32, &a->stats_interval_ms, 100, 3600000,
         "Admin UI: ms between server_stats (default 2000)"},
    };
    memcpy(t, opts, sizeof(opts));
    return sizeof(opts) / sizeof(opts[0]);
}

/* The admin namespace exists only when an --admin-* option asks for it. */
static int admin_finish(const sbd_options *o, hd_flags *f)
{
    sio_admin_options *a = &f->admin;
    f->admin_on = a->username || a->password_hash || a->no_auth || a->read_only || a->production ||
                  a->namespace_name || a->server_id || a->stats_interval_ms;
    if (!f->admin_on)
        return 0;
    if (a->no_auth && (a->username || a->password_hash)) {
        fprintf(stderr,
                "%s: --admin-no-auth and --admin-user/--admin-password-hash exclude "
                "each other\n",
                PROG);
        return -1;
    }
    if (a->no_auth && !loopback_host(o->eio.host)) {
        fprintf(stderr,
                "%s: --admin-no-auth lets anyone who can reach it disconnect clients: only with "
                "a loopback --host (127.0.0.1, ::1), not %s\n",
                PROG, o->eio.host);
        return -1;
    }
    if (!a->no_auth && (!a->username || !a->password_hash)) {
        fprintf(stderr,
                "%s: the Admin UI needs --admin-user and --admin-password-hash "
                "(SWITCHBOARD_ADMIN_PASSWORD_HASH), or --admin-no-auth\n",
                PROG);
        return -1;
    }
    if (!a->server_id)
        a->server_id = o->node_id;
    char err[256];
    if (sio_admin_check(a, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: admin UI: %s\n", PROG, err);
        return -1;
    }
    return 0;
}

/* Checks what the options cannot check alone; prints why and returns -1 when the helpdesk
 * cannot run as configured. Never prints a secret. */
static int helpdesk_finish(hd_flags *f)
{
    if (f->jwt_secret && !*f->jwt_secret)
        f->jwt_secret = NULL;
    if (!f->jwt_secret && f->api_keys.n == 0) {
        fprintf(stderr,
                "%s: no credentials configured: set --jwt-secret (SWITCHBOARD_JWT_SECRET) for "
                "customer and agent tokens, or --api-key (SWITCHBOARD_API_KEY) for integrations\n",
                PROG);
        return -1;
    }
    if (f->jwt_secret && strlen(f->jwt_secret) < SB_MIN_SECRET) {
        fprintf(stderr, "%s: --jwt-secret is too short (at least %d bytes)\n", PROG, SB_MIN_SECRET);
        return -1;
    }
    for (size_t i = 0; i < f->api_keys.n; i++)
        if (strlen(f->api_keys.items[i]) < SB_MIN_SECRET) {
            fprintf(stderr, "%s: API key #%zu is too short (at least %d bytes)\n", PROG, i + 1,
                    SB_MIN_SECRET);
            return -1;
        }
    if (f->widget_keys.n && !f->jwt_secret) {
        fprintf(stderr,
                "%s: --widget-key needs --jwt-secret (SWITCHBOARD_JWT_SECRET): the relay signs "
                "visitor tokens with it\n",
                PROG);
        return -1;
    }
    for (size_t i = 0; i < f->widget_keys.n; i++)
        if (strlen(f->widget_keys.items[i]) < SB_MIN_WIDGET_KEY) {
            fprintf(stderr, "%s: widget key #%zu is too short (at least %d bytes)\n", PROG, i + 1,
                    SB_MIN_WIDGET_KEY);
            return -1;
        }
    for (size_t i = 0; i < f->trusted_proxies.n; i++)
        if (!sb_net_valid(f->trusted_proxies.items[i])) {
            fprintf(stderr,
                    "%s: invalid value for --trusted-proxy: '%s' (expected an address or "
                    "address/bits)\n",
                    PROG, f->trusted_proxies.items[i]);
            return -1;
        }
    if (f->cfg.identity_secret && !*f->cfg.identity_secret)
        f->cfg.identity_secret = NULL;
    if (f->cfg.identity_secret && strlen(f->cfg.identity_secret) < SB_MIN_SECRET) {
        fprintf(stderr, "%s: --identity-secret is too short (at least %d bytes)\n", PROG,
                SB_MIN_SECRET);
        return -1;
    }
    if (f->routing && strcmp(f->routing, "auto") && strcmp(f->routing, "manual")) {
        fprintf(stderr, "%s: invalid value for --routing: '%s' (expected auto or manual)\n", PROG,
                f->routing);
        return -1;
    }
    if (f->webhook_urls.n > 0 &&
        (!f->cfg.webhook_secret || strlen(f->cfg.webhook_secret) < HD_WEBHOOKS_MIN_SECRET)) {
        fprintf(stderr, "%s: --webhook-url needs --webhook-secret of at least %d bytes\n", PROG,
                HD_WEBHOOKS_MIN_SECRET);
        return -1;
    }
    if (f->cfg.webhook_backoff_max_ms < f->cfg.webhook_backoff_min_ms) {
        fprintf(stderr, "%s: --webhook-backoff-max is below --webhook-backoff-min\n", PROG);
        return -1;
    }
    f->cfg.webhook_urls = f->webhook_urls.items;
    f->cfg.n_webhook_urls = f->webhook_urls.n;
    f->cfg.manual_routing = f->routing && !strcmp(f->routing, "manual");
    f->cfg.auth.jwt_secret = (const unsigned char *)f->jwt_secret;
    f->cfg.auth.jwt_secret_len = f->jwt_secret ? strlen(f->jwt_secret) : 0;
    f->cfg.auth.api_keys = f->api_keys.items;
    f->cfg.auth.n_api_keys = f->api_keys.n;
    f->cfg.widget_keys = f->widget_keys.items;
    f->cfg.n_widget_keys = f->widget_keys.n;
    f->cfg.trusted_proxies = f->trusted_proxies.items;
    f->cfg.n_trusted_proxies = f->trusted_proxies.n;
    return 0;
}

/* --demo hands out agent tokens to whoever asks: only where nobody else can ask. */
static int demo_finish(const sbd_options *o, const hd_flags *f)
{
    const char *host = o->eio.host;
    if (!loopback_host(host)) {
        fprintf(stderr,
                "%s: --demo gives agent tokens to anyone who can reach it: only with a "
                "loopback --host (127.0.0.1, ::1), not %s\n",
                PROG, host);
        return -1;
    }
    if (!f->jwt_secret) {
        fprintf(stderr, "%s: --demo needs --jwt-secret: it signs the demo's tokens\n", PROG);
        return -1;
    }
    return 0;
}

static int parse(sbd_options *o, hd_flags *f, int argc, char **argv)
{
    sbd_option extra[48]; /* helpdesk_options' and admin_options' rows fit */
    memset(f, 0, sizeof(*f));
    hd_config_defaults(&f->cfg);
    sbd_options_defaults(o);
    size_t n_extra = helpdesk_options(f, extra);
    n_extra += admin_options(f, extra + n_extra);
    switch (sbd_options_parse(o, PROG, argc, argv, extra, n_extra)) {
    case SBD_OPTIONS_HELP: return 0;
    case SBD_OPTIONS_ERR: return SBD_EXIT_USAGE;
    default: break;
    }
    f->cfg.cors_origin = o->eio.cors_origin; /* the visitors' Origin check */
    if (helpdesk_finish(f) || (f->cfg.demo && demo_finish(o, f)) || admin_finish(o, f))
        return SBD_EXIT_USAGE;
    return -1;
}

/* The cluster's links are back (or lost): conversations catch up on what went by. */
static void on_cluster_ready(int ready, void *ud)
{
    daemon_ctx *ctx = ud;
    if (ready && ctx->app)
        hd_app_links_up(ctx->app);
}

/* The store and the cluster adapter of the configured mode; 0, or -1 with err set. */
static int open_state(daemon_ctx *ctx, uv_loop_t *loop, const sbd_options *o, char *err,
                      size_t errlen)
{
    if (!o->redis) {
        ctx->store = hd_store_memory_new();
        return 0;
    }
    cl_config cfg = {
        o->redis, o->redis_prefix, o->node_id, 0, !o->redis_room_channels, on_cluster_ready, ctx};
    ctx->cluster = cl_cluster_new(loop, &cfg, err, errlen);
    if (!ctx->cluster)
        return -1;
    /* 503 within a client's usual ack timeout (5 s) when Redis hangs, not after 10 s. */
    hd_redis_config rcfg = {o->redis, NULL, cl_cluster_uid(ctx->cluster), 0, SB_STORE_TIMEOUT_MS};
    ctx->store = hd_store_redis_new(loop, &rcfg, err, errlen);
    return ctx->store ? 0 : -1;
}

static int ready(const char **reason, void *ud)
{
    daemon_ctx *ctx = ud;
    if (!ctx->cluster)
        return 1;
    return cl_cluster_ready(reason, ctx->cluster) && hd_store_redis_ready(reason, ctx->store) &&
           (!ctx->commands || hd_commands_ready(reason, ctx->commands));
}

/* The chain for the parts made so far; the server part only once the app exists. */
static void list_shutdown(daemon_ctx *ctx)
{
    sbd_daemon *d = &ctx->daemon;
    sbd_daemon_on_shutdown(d, stop_server, ctx->app ? ctx : NULL);
    sbd_daemon_on_shutdown(d, close_webhooks, ctx->webhooks ? ctx : NULL);
    sbd_daemon_on_shutdown(d, close_commands, ctx->commands);
    sbd_daemon_on_shutdown(d, close_store, ctx->store);
    sbd_daemon_on_shutdown(d, close_cluster, ctx->cluster);
}

/* The webhooks, fed by the memory store (embedded) or by hd:events through Redis. */
static int start_webhooks(daemon_ctx *ctx, uv_loop_t *loop, const sbd_options *o,
                          const hd_config *cfg)
{
    char err[256];
    hd_webhooks_config w = {
        .urls = cfg->webhook_urls,
        .n_urls = cfg->n_webhook_urls,
        .secret = cfg->webhook_secret,
        .retry_s = cfg->webhook_retry_s,
        .timeout_ms = cfg->webhook_timeout_ms,
        .backoff_min_ms = cfg->webhook_backoff_min_ms,
        .backoff_max_ms = cfg->webhook_backoff_max_ms,
        .memory_max = cfg->webhook_memory_max,
        .redis_url = o->redis,
        .node_id = o->node_id     ? o->node_id
                   : ctx->cluster ? cl_cluster_uid(ctx->cluster)
                                  : NULL,
        .stats = hd_app_webhook_stats(ctx->app),
    };
    ctx->webhooks = hd_webhooks_new(loop, &w, err, sizeof(err));
    if (!ctx->webhooks) {
        fprintf(stderr, "%s: webhooks: %s\n", PROG, err);
        return -1;
    }
    if (!o->redis) {
        ctx->embedded = 1;
        hd_store_memory_set_sink(ctx->store, hd_webhooks_event, ctx->webhooks);
        fprintf(stderr,
                "%s: embedded mode: webhook events wait for delivery in memory, at most %zu "
                "(beyond, the oldest are dropped; lost on restart: --redis keeps them)\n",
                PROG, cfg->webhook_memory_max);
    }
    return 0;
}

/* --web: the pages, read before anything else is made (a bad folder only has to be said);
 * answered after the helpdesk's own paths once the server exists (start_web). */
static int load_web(daemon_ctx *ctx, const hd_flags *f)
{
    char err[512];
    if (!f->web)
        return 0;
    ctx->web = sbd_web_load(f->web, f->cfg.demo, err, sizeof(err));
    if (!ctx->web) {
        fprintf(stderr, "%s: --web: %s\n", PROG, err);
        return -1;
    }
    fprintf(stderr, "%s: web: %zu pages and files (%zu KiB) from %s\n", PROG,
            sbd_web_files(ctx->web), sbd_web_bytes(ctx->web) / 1024, f->web);
    if (!sbd_web_has(ctx->web, "/vendor/socket.io.min.js"))
        fprintf(stderr,
                "%s: web: vendor/socket.io.min.js is missing, so the pages cannot connect "
                "(scripts/setup.sh copies it from npm)\n",
                PROG);
    return 0;
}

static void start_web(daemon_ctx *ctx, const sbd_options *o, const hd_flags *f)
{
    eio_server *engine = sio_server_engine(ctx->srv);
    if (ctx->web)
        eio_server_add_http_handler(engine, sbd_web_handle, ctx->web);
    if (f->cfg.demo) {
        int v6 = strchr(o->eio.host, ':') != NULL;
        char base[128];
        snprintf(base, sizeof(base), "http://%s%s%s:%d", v6 ? "[" : "", o->eio.host, v6 ? "]" : "",
                 eio_server_port(engine));
        printf("%s: demo (development only): a website with the widget on %s/demo/\n"
               "%s: demo: the agent console on %s/console/#demo=agent-1&name=Ada\n",
               PROG, base, PROG, base);
    }
}

static int fail(daemon_ctx *ctx, int status)
{
    sbd_web_free(ctx->web);
    ctx->web = NULL;
    list_shutdown(ctx);
    return sbd_daemon_abort(&ctx->daemon, status);
}

int main(int argc, char **argv)
{
    sbd_options o;
    hd_flags flags;
    daemon_ctx ctx;
    char err[256];

    int rc = parse(&o, &flags, argc, argv);
    if (rc >= 0)
        return rc;
    memset(&ctx, 0, sizeof(ctx));
    if (load_web(&ctx, &flags))
        return SBD_EXIT_USAGE;
    sbd_daemon_init(&ctx.daemon, PROG);
    uv_loop_t *loop = &ctx.daemon.loop;
    if (open_state(&ctx, loop, &o, err, sizeof(err))) {
        fprintf(stderr, "%s: --redis: %s\n", PROG, err);
        return fail(&ctx, SBD_EXIT_USAGE);
    }
    if (o.cluster_engine)
        o.eio.sid_prefix = cl_cluster_uid(ctx.cluster); /* sids name their node */
    ctx.srv = sio_server_new(loop, &o.eio, &o.sio, err, sizeof(err));
    if (!ctx.srv) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return fail(&ctx, SBD_EXIT_FAILURE);
    }
    if (ctx.cluster)
        sio_server_set_adapter(ctx.srv, cl_adapter_new, ctx.cluster);
    if (o.cluster_engine)
        cl_engine_attach(ctx.cluster, sio_server_engine(ctx.srv));
    ctx.app = hd_app_new(ctx.srv, ctx.store, &flags.cfg, ready, &ctx);
    if (flags.admin_on && !(ctx.admin = sio_admin_new(ctx.srv, &flags.admin, err, sizeof(err)))) {
        fprintf(stderr, "%s: admin UI: %s\n", PROG, err);
        return fail(&ctx, SBD_EXIT_USAGE);
    }
    if (o.redis) {
        /* A stable --node-id keeps one consumer per node in the group across restarts. */
        const char *consumer = o.node_id ? o.node_id : cl_cluster_uid(ctx.cluster);
        hd_commands_config ccfg = {o.redis, NULL, consumer, 0, 0, hd_backend_command, ctx.app};
        ctx.commands = hd_commands_new(loop, &ccfg, err, sizeof(err));
        if (!ctx.commands)
            fprintf(stderr, "%s: hd:commands: %s (the backend's commands are not read)\n", PROG,
                    err);
    }
    if (flags.cfg.n_webhook_urls > 0 && start_webhooks(&ctx, loop, &o, &flags.cfg) != 0)
        return fail(&ctx, SBD_EXIT_USAGE);
    start_web(&ctx, &o, &flags);
    if (!o.redis)
        fprintf(
            stderr,
            "%s: embedded mode: conversations are kept in memory and lost on restart (--redis keeps them)\n",
            PROG);
    log_listening(&o, eio_server_port(sio_server_engine(ctx.srv)));
    list_shutdown(&ctx);
    sbd_daemon_run(&ctx.daemon);
    sio_server_free(ctx.srv);
    sio_admin_free(ctx.admin);
    hd_app_free(ctx.app);
    sbd_web_free(ctx.web);
    return sbd_daemon_finish(&ctx.daemon);
}
