/* admin.h: the server side of the Socket.IO Admin UI (@socket.io/admin-ui 0.5.1).
 *
 * sio_admin_new() does what the package's instrument(io, opts) does for a Node server: it
 * opens the admin namespace ("/admin") with the same authentication (basic, a bcrypt hash
 * compared off the loop thread; or none), and speaks the UI's protocol on it: "config"
 * (supportedFeatures), "server_stats" every stats interval, "all_sockets" on connect
 * (fetchSockets of every namespace, so every node of a cluster), "socket_connected",
 * "socket_updated", "socket_disconnected", "room_joined", "room_left", "event_received" and
 * "event_sent" (every event of every socket: the development mode's feed), and the operator's
 * actions "emit", "join", "leave" and "_disconnect", applied through the namespaces'
 * adapters (cluster-wide). Its events go out through the admin namespace's adapter, so a UI
 * connected to any node of a cluster sees every node, as with Node.
 *
 * Like instrument(), it stores {"_admin": {"clientId", "transport"}} in each socket's data
 * (sio_socket_data), which is how other nodes learn them through fetchSockets; the UI's
 * "data" is the socket's data without it.
 */
#ifndef SIO_ADMIN_H
#define SIO_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "socketio.h"

typedef struct sio_admin sio_admin;

#define SIO_ADMIN_NAMESPACE         "/admin"
#define SIO_ADMIN_STATS_INTERVAL_MS 2000 /* instrument()'s server_stats period */

typedef struct sio_admin_options {
    const char *namespace_name; /* NULL: "/admin" */
    /* Basic auth: the UI's username and the bcrypt hash ($2a$, $2b$, $2y$) of its password.
     * Both NULL only with no_auth 1 (Node's auth: false). */
    const char *username;
    const char *password_hash;
    int no_auth;
    int read_only; /* no action from the UI: only stats and sockets are shown */
    /* Node's mode "production": server_stats only (with aggregated events); no socket
     * list, no live feed of sockets, rooms and events. 0: "development", Node's default. */
    int production;
    const char *server_id;      /* NULL: the host name, as Node's default */
    uint32_t stats_interval_ms; /* 0: SIO_ADMIN_STATS_INTERVAL_MS */
} sio_admin_options;

/* 0 when opts are usable; otherwise -1 with the reason in err (the hash is not printed). */
int sio_admin_check(const sio_admin_options *opts, char *err, size_t errlen);
/* Instruments srv (its observer, sio_server_set_observer, becomes the admin's). Call it
 * before the loop runs. Returns NULL with a reason in err when sio_admin_check() fails. */
sio_admin *sio_admin_new(sio_server *srv, const sio_admin_options *opts, char *err, size_t errlen);
/* Stops the stats timer and the observer; call it when the server starts shutting down.
 * Password checks still running finish on their own before the loop ends. */
void sio_admin_stop(sio_admin *a);
/* Frees a (NULL is fine) once the loop has ended. */
void sio_admin_free(sio_admin *a);

#endif
