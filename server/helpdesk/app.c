/* app.c: the wiring of the helpdesk: it holds the node and every part's state, registers
 * their hooks on the namespace and the engine, runs the timers, and starts and stops it all.
 *
 * The parts are layered; a file includes its own header and those of the layers below it,
 * never one of its own layer or above (the public include/ headers and message.h, the
 * stores' own, anyone may include):
 *
 *   layer  header           what it holds
 *   0      client.h         the per-socket state: hd_client, hd_client_of, hd_access_of,
 *                           hd_room
 *   0      contract.h       a message payload's checks, the error body
 *   0      metrics.h        the counters and their Prometheus text
 *   0      stream_group.h   a Redis stream read as one consumer of a group: the
 *                           connection, the group's creation, the entries, acks, closing
 *   1      node.h           what every part shares: server, namespace, store, cfg, counters
 *   2      delivery.h       what this node delivered per conversation, and the catch-ups
 *   2      visitors.h       website visitors: registration, refresh, their rate limit
 *   2      status_cache.h   the status endpoint's answers, shared per dept for a second
 *   2      demo.h           --demo: the console's tokens without minting them by hand
 *   3      conversations.h  the store's decisions carried out: emits, joins, auto routing
 *   4      connections.h    a socket's life: auth, its rooms and presence, the resync
 *   4      socket_events.h  the client events: support, typing, read, take, ...
 *   4      backend.h        the backend's messages and hd:commands
 *   5      rest.h           the REST endpoints (holding the status cache), /metrics, health
 *   6      app.c            this file: the wiring, which includes them all
 *
 * Each part gets from here the state of the parts below it that it calls (hd_conv_init,
 * hd_conn_init); no part calls one of its own layer or above, and none calls app.c.
 *
 * Beside the app, started by main.c: the webhooks (include/webhooks.h), layered on their
 * own: webhook_queue.h (the delivery engine, HTTP) and stream_group.h below
 * webhook_redis.h (the Redis feed) below webhooks.c. The app only lends them its counters
 * (hd_app_webhook_stats). The hd:commands consumer (include/commands.h) reads its stream
 * through stream_group.h too.
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "connections.h"
#include "conversations.h"
#include "delivery.h"
#include "node.h"
#include "rest.h"
#include "socket_events.h"
#include "visitors.h"

/* retries what Redis refused; routes slots freed where no event reached this node */
#define HD_TICK_MS      2000
#define HD_SWEEP_MIN_MS 1000
#define HD_SWEEP_MAX_MS 30000

void hd_config_defaults(hd_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->auth.skew_s = HD_AUTH_DEFAULT_SKEW_S;
    cfg->max_chats = HD_DEFAULT_MAX_CHATS;
    cfg->inactivity_s = HD_DEFAULT_INACTIVITY_S;
    cfg->max_message = HD_DEFAULT_MAX_MESSAGE;
    cfg->rate = HD_DEFAULT_RATE;
    cfg->burst = HD_DEFAULT_BURST;
    cfg->webhook_retry_s = HD_WEBHOOKS_DEFAULT_RETRY_S;
    cfg->webhook_timeout_ms = HD_WEBHOOKS_DEFAULT_TIMEOUT_MS;
    cfg->webhook_memory_max = HD_WEBHOOKS_DEFAULT_MEMORY_MAX;
    cfg->webhook_backoff_min_ms = HD_WEBHOOKS_DEFAULT_BACKOFF_MIN_MS;
    cfg->webhook_backoff_max_ms = HD_WEBHOOKS_DEFAULT_BACKOFF_MAX_MS;
    cfg->visitor_ttl_s = HD_DEFAULT_VISITOR_TTL_S;
    cfg->visitor_rate = HD_DEFAULT_VISITOR_RATE;
}

struct hd_app {
    hd_node node; /* what every part shares */
    hd_delivery delivery;
    hd_conversations convs;
    hd_connections conns;
    hd_visitors visitors;
    hd_rest rest;
    uv_timer_t route_timer; /* periodic auto routing (another node's freed slot...) */
    uv_timer_t sweep_timer; /* inactivity closes */
    int handles_open;       /* the timers whose close callback is pending */
};

/* ---- timers ----------------------------------------------------------------------------- */

static void on_route_timer(uv_timer_t *t)
{
    hd_app *app = t->data;
    hd_conn_resync(&app->conns);
    hd_delivery_tick(&app->delivery);
    hd_conv_route(&app->convs);
}

static void on_sweep_timer(uv_timer_t *t)
{
    hd_app *app = t->data;
    hd_conv_sweep(&app->convs);
}

static uint64_t sweep_period_ms(const hd_config *cfg)
{
    uint64_t ms = (uint64_t)cfg->inactivity_s * 1000 / 4;
    return ms < HD_SWEEP_MIN_MS ? HD_SWEEP_MIN_MS : ms > HD_SWEEP_MAX_MS ? HD_SWEEP_MAX_MS : ms;
}

static void start_timers(hd_app *app)
{
    uv_loop_t *loop = sio_server_loop(app->node.srv);
    uv_timer_init(loop, &app->route_timer);
    uv_timer_init(loop, &app->sweep_timer);
    app->route_timer.data = app->sweep_timer.data = app;
    app->handles_open = 2;
    uv_timer_start(&app->route_timer, on_route_timer, HD_TICK_MS, HD_TICK_MS);
    if (app->node.cfg.inactivity_s) {
        uint64_t period = sweep_period_ms(&app->node.cfg);
        uv_timer_start(&app->sweep_timer, on_sweep_timer, period, period);
    }
}

/* The namespace's hooks: a socket's life, the delivery hook, the events; and REST. */
static void register_hooks(hd_app *app)
{
    sio_namespace *nsp = app->node.nsp;
    sio_namespace_set_auth(nsp, hd_conn_auth, &app->conns);
    sio_namespace_keep_auth(nsp, 0); /* the token is read in hd_conn_auth, then not needed */
    sio_namespace_on_connection(nsp, hd_conn_connected, &app->conns);
    sio_namespace_on_disconnect(nsp, hd_conn_disconnected, &app->conns);
    sio_namespace_on_delivery(nsp, hd_delivery_hook, &app->delivery);
    hd_events_register(&app->convs);
    hd_rest_attach(&app->rest, &app->convs, &app->visitors);
}

hd_app *hd_app_new(sio_server *srv, hd_store *store, const hd_config *cfg,
                   int (*ready)(const char **reason, void *ud), void *ready_ud)
{
    hd_app *app = calloc(1, sizeof(*app));
    if (!app)
        abort();
    hd_node *node = &app->node;
    node->srv = srv;
    node->store = store;
    node->cfg = *cfg;
    node->health.ready = ready;
    node->health.ud = ready_ud;
    node->nsp = sio_server_of(srv, HD_NAMESPACE);
    hd_delivery_init(&app->delivery, node);
    hd_conv_init(&app->convs, node, &app->delivery);
    hd_conn_init(&app->conns, node, &app->convs, &app->delivery);
    hd_visitors_init(&app->visitors, node);
    register_hooks(app);
    start_timers(app);
    return app;
}

static void on_timer_closed(uv_handle_t *h)
{
    hd_app *app = h->data;
    app->handles_open--;
}

void hd_app_stop(hd_app *app)
{
    if (app->node.stopped)
        return;
    app->node.stopped = 1;
    hd_conn_resync_drop(&app->conns);
    hd_delivery_stop(&app->delivery);
    hd_conv_stop(&app->convs);
    uv_close((uv_handle_t *)&app->route_timer, on_timer_closed);
    uv_close((uv_handle_t *)&app->sweep_timer, on_timer_closed);
}

void hd_app_free(hd_app *app)
{
    if (!app)
        return;
    hd_conn_free(&app->conns);
    hd_rest_free(&app->rest);
    hd_visitors_free(&app->visitors);
    hd_delivery_free(&app->delivery);
    hd_conv_free(&app->convs);
    free(app);
}

hd_webhook_stats *hd_app_webhook_stats(hd_app *app) { return &app->node.metrics.webhooks; }

void hd_app_links_up(hd_app *app)
{
    if (!app->node.stopped)
        hd_delivery_links_up(&app->delivery);
}

/* ud is the app (helpdesk.h): the backend part sees only the conversations. */
void hd_backend_command(hd_command *cmd, const char *type, json_t *data, void *ud)
{
    hd_app *app = ud;
    hd_backend_apply(&app->convs, cmd, type, data);
}
