/* app.c: the helpdesk application's lifecycle, the auth hook and connections.
 *
 * A CONNECT to /helpdesk is checked before the namespace accepts it (spec §1): the token
 * comes from the auth payload, or from ?token=…&token_source=api for clients that cannot
 * send one. What the token says is kept per socket as a small hd_client; nothing of a
 * refused socket is kept. A connected socket joins the rooms of its role (spec §2) and
 * the chat rooms of its open conversations; an agent's sockets count as its presence.
 */
#include <stdio.h>
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

static void on_auth(sio_socket *s, void *ud)
{
    hd_app *app = ud;
    char buf[HD_TOKEN_MAX + 2];
    int api_source;
    hd_identity id;
    const char *token = credentials(s, buf, sizeof(buf), &api_source);
    const char *why = hd_auth_verify(&app->cfg.auth, token, api_source, hd_now_ms() / 1000, &id);
    if (why) {
        app->metrics.auth_failures++;
        json_t *data = json_pack("{s:s}", "code", why);
        sio_socket_refuse(s, "unauthorized", data);
        json_decref(data);
        return;
    }
    hd_client *c = hd_client_new(&app->cfg, &id);
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

static void on_connection(sio_socket *s, void *ud)
{
    hd_app *app = ud;
    hd_client *c = hd_client_of(s);
    join_role_rooms(s, c);
    hd_sync_socket(app, s);
}

static void on_disconnect(sio_socket *s, const char *reason, void *ud)
{
    hd_app *app = ud;
    hd_client *c = hd_client_of(s);
    if (!c)
        return;
    sio_socket_set_userdata(s, NULL);
    if (c->present && !app->stopped) {
        hd_agent agent;
        hd_agent_of(c, &agent);
        app->store->ops->agent_presence(app->store, &agent, -1, -1, hd_now_ms(), hd_ignore_result,
                                        NULL);
    }
    c->present = 0;
    c->gone = 1;
    if (!c->syncing)
        hd_client_free(c); /* else the last sync operation frees it */
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
    sio_namespace_set_auth(app->nsp, on_auth, app);
    sio_namespace_keep_auth(app->nsp, 0); /* the token is read in on_auth, then not needed */
    sio_namespace_on_connection(app->nsp, on_connection, app);
    sio_namespace_on_disconnect(app->nsp, on_disconnect, app);
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
