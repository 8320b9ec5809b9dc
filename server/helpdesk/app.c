/* app.c: the helpdesk application's lifecycle: it registers the hooks of the socket's life
 * (connections.c), the events, REST and the timers.
 */
#include <stdlib.h>
#include <string.h>

#include "hd_internal.h"

#define HD_TICK_MS 2000  /* retries what Redis refused; routes slots freed where no event
                            reached this node */
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
}

/* ---- timers ----------------------------------------------------------------------------- */

static void on_route_timer(uv_timer_t *t)
{
    hd_resync(t->data);
    hd_delivery_tick(t->data);
    hd_route_kick(t->data);
}

static void on_sweep_timer(uv_timer_t *t)
{
    hd_deliver_sweep(t->data);
}

static uint64_t sweep_period_ms(const hd_config *cfg)
{
    uint64_t ms = (uint64_t)cfg->inactivity_s * 1000 / 4;
    return ms < HD_SWEEP_MIN_MS ? HD_SWEEP_MIN_MS : ms > HD_SWEEP_MAX_MS ? HD_SWEEP_MAX_MS : ms;
}

static void start_timers(hd_app *app)
{
    uv_loop_t *loop = sio_server_loop(app->srv);
    uv_timer_init(loop, &app->route_timer);
    uv_timer_init(loop, &app->sweep_timer);
    uv_idle_init(loop, &app->catchup_idle);
    app->route_timer.data = app->sweep_timer.data = app->catchup_idle.data = app;
    app->handles_open = 3;
    uv_timer_start(&app->route_timer, on_route_timer, HD_TICK_MS, HD_TICK_MS);
    if (app->cfg.inactivity_s) {
        uint64_t period = sweep_period_ms(&app->cfg);
        uv_timer_start(&app->sweep_timer, on_sweep_timer, period, period);
    }
}

hd_app *hd_app_new(sio_server *srv, hd_store *store, const hd_config *cfg,
                   int (*ready)(const char **reason, void *ud), void *ready_ud)
{
    hd_app *app = calloc(1, sizeof(*app));
    if (!app)
        abort();
    app->srv = srv;
    app->store = store;
    app->cfg = *cfg;
    app->health.ready = ready;
    app->health.ud = ready_ud;
    app->nsp = sio_server_of(srv, HD_NAMESPACE);
    sio_namespace_set_auth(app->nsp, hd_conn_auth, app);
    sio_namespace_keep_auth(app->nsp, 0); /* the token is read in on_auth, then not needed */
    sio_namespace_on_connection(app->nsp, hd_conn_connected, app);
    sio_namespace_on_disconnect(app->nsp, hd_conn_disconnected, app);
    sio_namespace_on_delivery(app->nsp, hd_delivery_hook, app);
    sb_map_init(&app->chats);
    hd_events_register(app);
    hd_rest_attach(app);
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
    if (app->stopped)
        return;
    app->stopped = 1;
    hd_resync_drop(app);
    hd_delivery_stop(app);
    uv_close((uv_handle_t *)&app->route_timer, on_timer_closed);
    uv_close((uv_handle_t *)&app->sweep_timer, on_timer_closed);
    uv_close((uv_handle_t *)&app->catchup_idle, on_timer_closed);
}

void hd_app_free(hd_app *app)
{
    if (!app)
        return;
    free(app->resync);
    hd_delivery_free(app);
    sb_buf_free(&app->scratch);
    free(app);
}

void hd_app_links_up(hd_app *app)
{
    if (!app->stopped)
        hd_delivery_links_up(app);
}

int hd_app_ready(hd_app *app)
{
    const char *why;
    return !app->health.ready || app->health.ready(&why, app->health.ud);
}
