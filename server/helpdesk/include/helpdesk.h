/* helpdesk.h: the helpdesk application: the /helpdesk namespace of the contract
 * (../shared/spec/helpdesk.md), its REST endpoints and its backend feed, on a sio_server.
 *
 * The application is a user of the core's C API and of a store (store.h): it checks who a
 * client is (auth.h), validates what it sends, asks the store, which decides atomically,
 * and then carries the decision out: joins rooms cluster-wide, emits, acknowledges. It
 * never acknowledges a message the store has not stored.
 */
#ifndef HD_HELPDESK_H
#define HD_HELPDESK_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "commands.h"
#include "socketio.h"
#include "store.h"
#include "webhooks.h"

#define HD_NAMESPACE            "/helpdesk"
#define HD_DEFAULT_MAX_CHATS    5
#define HD_DEFAULT_INACTIVITY_S 1800  /* 30 min, as the contract says */
#define HD_DEFAULT_MAX_MESSAGE  16384 /* bytes of a message's text */
#define HD_DEFAULT_RATE         10    /* events per second per socket */
#define HD_DEFAULT_BURST        20    /* events a socket may send at once */
#define HD_HISTORY_DEFAULT      50    /* history without a limit */
#define HD_HISTORY_MAX          200   /* largest history page */

/* a visitor token's life (30 days), and registrations per minute per client address */
#define HD_DEFAULT_VISITOR_TTL_S (30 * 24 * 3600)
#define HD_DEFAULT_VISITOR_RATE  10

/* The widget key the demo page uses, valid with --demo only. */
#define HD_DEMO_WIDGET_KEY "demo-widget"

typedef struct hd_config {
    hd_auth_config auth;   /* JWT secret, API keys, skew (borrowed for the app's life) */
    int manual_routing;    /* 1: agents take from the queue; 0: auto routing */
    int max_chats;         /* an agent's limit when its token names none */
    uint32_t inactivity_s; /* close conversations idle this long; 0: never */
    size_t max_message;    /* longest message text in bytes (413 beyond) */
    uint32_t rate;         /* events per second per socket; 0: unlimited */
    uint32_t burst;        /* bucket size of the rate limit */
    /* webhooks (webhooks.h); main.c starts them, the app only shows their counters */
    const char *const *webhook_urls; /* --webhook-url (repeatable) */
    size_t n_webhook_urls;
    const char *webhook_secret;      /* --webhook-secret */
    uint32_t webhook_retry_s;        /* --webhook-retry-for, default 86400 */
    uint32_t webhook_timeout_ms;     /* --webhook-timeout, default 10000 */
    size_t webhook_memory_max;       /* embedded: events kept in memory, default 10000 */
    uint32_t webhook_backoff_min_ms; /* --webhook-backoff-min: first retry delay, default 1000 */
    uint32_t webhook_backoff_max_ms; /* --webhook-backoff-max: its cap, default 300000 */
    /* visitors (spec §1) */
    const char *const *widget_keys; /* --widget-key (repeatable) */
    size_t n_widget_keys;
    const char *identity_secret; /* --identity-secret: user_hash = hex HMAC-SHA256(it, user_id) */
    uint32_t visitor_ttl_s;      /* --visitor-ttl, default 30 days */
    uint32_t visitor_rate;       /* --visitor-rate: registrations per minute per address */
    /* --trusted-proxy (repeatable): networks of the proxies whose X-Forwarded-For names the
     * client address the visitors' rate limit counts */
    const char *const *trusted_proxies;
    size_t n_trusted_proxies;
    const char *cors_origin; /* the engine's --cors-origin list (main.c): the Origin check */
    int demo; /* --demo (loopback only, main.c): HD_DEMO_WIDGET_KEY and POST /demo/token */
} hd_config;

typedef struct hd_app hd_app;

void hd_config_defaults(hd_config *cfg);
/* Registers /helpdesk on srv and the REST endpoints on its engine (the health endpoints
 * too: ready says when the store is). store is owned by the caller and must outlive the
 * app. */
hd_app *hd_app_new(sio_server *srv, hd_store *store, const hd_config *cfg,
                   int (*ready)(const char **reason, void *ud), void *ready_ud);
/* The node's links to other nodes came back after a loss (cluster mode): every
 * conversation with sockets here catches up on what was broadcast meanwhile. */
void hd_app_links_up(hd_app *app);
/* Stops the app's timers; call before sio_server_shutdown(). */
void hd_app_stop(hd_app *app);
/* The hd_command_cb (commands.h) that carries out the backend's hd:commands entries:
 * message, close, transfer. ud is the app. */
void hd_backend_command(hd_command *cmd, const char *type, json_t *data, void *ud);
/* Where the webhooks keep their counters for /metrics (the app's own, for its life). */
hd_webhook_stats *hd_app_webhook_stats(hd_app *app);
/* Frees the app once the server has shut down. */
void hd_app_free(hd_app *app);

#endif
