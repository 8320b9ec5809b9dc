/* socketio.c: the Socket.IO server's lifecycle and the engine callbacks that feed it.
 *
 * The shutdown is done when two things are: the engine has shut down (which closes every
 * session, so every client and socket has been detached), and every uv handle this layer
 * opened (the connect timer, ack timers) has run its close callback. Then the namespaces
 * and adapters are freed and the application's done callback runs; the server struct and
 * the engine themselves are freed by sio_server_free() once the loop has ended.
 */
#include <stdlib.h>
#include <string.h>

#include "sio_internal.h"

#define SIO_DEFAULT_CONNECT_TIMEOUT_MS 45000       /* Node's connectTimeout */
#define SIO_DEFAULT_RECOVERY_PACKETS   10000       /* log entries kept per namespace */
#define SIO_DEFAULT_RECOVERY_BYTES     (16u << 20) /* log bytes kept per namespace */
#define SIO_DEFAULT_RECOVERY_SESSIONS  100000      /* disconnected sessions per namespace */
#define SIO_DEFAULT_MAX_PENDING_ACKS   1024        /* per socket */

void sio_options_defaults(sio_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->connect_timeout_ms = SIO_DEFAULT_CONNECT_TIMEOUT_MS;
    opts->recovery_window_ms = 0;
    opts->recovery_max_packets = SIO_DEFAULT_RECOVERY_PACKETS;
    opts->recovery_max_bytes = SIO_DEFAULT_RECOVERY_BYTES;
    opts->recovery_max_sessions = SIO_DEFAULT_RECOVERY_SESSIONS;
    opts->max_attachments = SIOP_DEFAULT_MAX_ATTACHMENTS;
    opts->max_pending_acks = SIO_DEFAULT_MAX_PENDING_ACKS;
}

const char *sio_strerror(int err)
{
    switch (err) {
    case SIOP_OK: return "ok";
    case SIOP_ERR: return "error";
    case SIO_ECLOSED: return "socket is not connected";
    case SIO_ELIMIT: return "limit reached";
    case SIO_EINVAL: return "invalid argument";
    default: return "unknown error";
    }
}

const char *sio_ack_status_message(int status)
{
    switch (status) {
    case SIO_ACK_OK: return "ok";
    case SIO_ACK_TIMEOUT: return "operation has timed out";
    case SIO_ACK_DISCONNECTED: return "socket has been disconnected";
    default: return "unknown status";
    }
}

/* Event names Node refuses to emit (socket-types.ts RESERVED_EVENTS). */
int sio_event_name_valid(const char *event)
{
    static const char *const reserved[] = {"connect",       "connect_error", "disconnect",
                                           "disconnecting", "newListener",   "removeListener"};
    if (!event)
        return 0;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(event, reserved[i]) == 0)
            return 0;
    return 1;
}

static void on_open(eio_session *s, void *ud)
{
    sio_server *srv = ud;
    /* observed first: a legacy client is connected to "/" at once, and may be closed by
     * its connection handler before sio_client_open returns */
    if (srv->observer && srv->observer->session_open)
        srv->observer->session_open(s, srv->observer_ud);
    sio_client_open(srv, s);
}

static void on_message(eio_session *s, const uint8_t *data, size_t len, int binary, void *ud)
{
    sio_server *srv = ud;
    sio_client *c = eio_session_data(s);
    if (srv->observer && srv->observer->message)
        srv->observer->message(0, len, srv->observer_ud);
    if (c)
        sio_client_message(c, data, len, binary);
}

static void on_close(eio_session *s, const char *reason, void *ud)
{
    sio_server *srv = ud;
    sio_client *c = eio_session_data(s);
    eio_session_set_data(s, NULL);
    if (c)
        sio_client_closed(c, reason);
    if (srv->observer && srv->observer->session_close)
        srv->observer->session_close(s, reason, srv->observer_ud);
}

/* Node's socket.conn.on("upgrade") seen by each socket of the session. */
static void on_upgrade(eio_session *s, void *ud)
{
    sio_server *srv = ud;
    sio_client *c = eio_session_data(s);
    const sio_observer *obs = srv->observer;
    if (!obs)
        return;
    if (obs->session_upgrade)
        obs->session_upgrade(s, srv->observer_ud);
    if (!c || !obs->socket_upgrade)
        return;
    sb_list *q;
    SB_LIST_FOREACH(q, &c->sockets)
    {
        sio_socket *t = SB_LIST_DATA(q, sio_socket, client_link);
        if (t->state == SIO_SOCKET_CONNECTED)
            obs->socket_upgrade(t, srv->observer_ud);
    }
}

void sio_server_set_observer(sio_server *srv, const sio_observer *obs, void *ud)
{
    srv->observer = obs;
    srv->observer_ud = obs ? ud : NULL;
}

sio_namespace *sio_server_namespace_next(sio_server *srv, size_t *pos)
{
    return srv->finished ? NULL : sb_map_next(&srv->namespaces, pos);
}

sio_server *sio_server_new(uv_loop_t *loop, const eio_config *cfg, const sio_options *opts,
                           char *err, size_t errlen)
{
    static const eio_callbacks callbacks = {on_open, on_message, on_close, on_upgrade};
    sio_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        abort();
    srv->loop = loop;
    if (opts)
        srv->opts = *opts;
    else
        sio_options_defaults(&srv->opts);
    sb_map_init(&srv->namespaces);
    sb_list_init(&srv->waiting);
    sb_buf_init(&srv->scratch);
    siop_decoder_init(&srv->decoder, srv->opts.max_attachments);
    srv->adapter_new = sio_adapter_local_new;
    srv->engine = eio_server_new(loop, cfg, &callbacks, srv, err, errlen);
    if (!srv->engine) {
        sb_map_free(&srv->namespaces);
        sb_buf_free(&srv->scratch);
        free(srv);
        return NULL;
    }
    uv_timer_init(loop, &srv->connect_timer);
    srv->connect_timer.data = srv;
    sio_server_handle_opened(srv);
    sio_server_of(srv, "/"); /* Node's io.sockets always exists */
    return srv;
}

eio_server *sio_server_engine(sio_server *srv) { return srv->engine; }
uv_loop_t *sio_server_loop(const sio_server *srv) { return srv->loop; }
const sio_options *sio_server_options(const sio_server *srv) { return &srv->opts; }

/* As Node's io.adapter(): existing namespaces ("/" at least) get the new adapter too,
 * which is why this must run before any client connects. */
void sio_server_set_adapter(sio_server *srv, sio_adapter_factory f, void *ud)
{
    size_t pos = 0;
    sio_namespace *nsp;
    srv->adapter_new = f ? f : sio_adapter_local_new;
    srv->adapter_ud = f ? ud : NULL;
    while ((nsp = sb_map_next(&srv->namespaces, &pos)) != NULL) {
        sio_node_replies_orphan(nsp);
        nsp->adapter->ops->free(nsp->adapter);
        nsp->adapter = srv->adapter_new(nsp, srv->adapter_ud);
    }
}

void sio_server_handle_opened(sio_server *srv) { srv->handles_open++; }

void sio_server_handle_closed(uv_handle_t *h)
{
    sio_server *srv = h->data;
    srv->handles_open--;
    sio_server_maybe_finish(srv);
}

static void server_release_namespaces(sio_server *srv)
{
    size_t pos = 0;
    sio_namespace *nsp;
    while ((nsp = sb_map_next(&srv->namespaces, &pos)) != NULL)
        sio_namespace_free(nsp);
    sb_map_free(&srv->namespaces);
    sb_buf_free(&srv->scratch);
}

void sio_server_maybe_finish(sio_server *srv)
{
    if (!srv->shutting_down || !srv->engine_gone || srv->handles_open > 0 || srv->finished)
        return;
    srv->finished = 1;
    server_release_namespaces(srv);
    if (srv->done)
        srv->done(srv->done_ud);
}

static void on_engine_gone(void *ud)
{
    sio_server *srv = ud;
    srv->engine_gone = 1;
    sio_server_maybe_finish(srv);
}

void sio_server_free(sio_server *srv)
{
    if (!srv)
        return;
    eio_server_free(srv->engine);
    free(srv);
}

void sio_server_shutdown(sio_server *srv, void (*done)(void *ud), void *ud)
{
    if (srv->shutting_down)
        return;
    srv->shutting_down = 1;
    /* nothing is observed while the namespaces are being freed */
    srv->observer = NULL;
    srv->observer_ud = NULL;
    srv->done = done;
    srv->done_ud = ud;
    uv_timer_stop(&srv->connect_timer);
    uv_close((uv_handle_t *)&srv->connect_timer, sio_server_handle_closed);
    eio_server_shutdown(srv->engine, on_engine_gone, srv);
}
