/* redis_conn.h: the connection to Redis that the cluster adapter talks through.
 *
 * One rc_conn holds two hiredis async connections on the caller's libuv loop: a command
 * link (PUBLISH, PUBSUB NUMSUB, XADD, EVALSHA, ...) and a subscriber link that only ever
 * carries (P)SUBSCRIBE / (P)UNSUBSCRIBE, because SUBSCRIBE turns a Redis connection into a
 * subscriber-only one. Each link connects, authenticates (AUTH, SELECT) and, after any
 * failure or loss, reconnects by itself with capped exponential backoff.
 *
 * The one idea: the subscription registry, not the socket, is the truth. rc_subscribe()
 * records a refcounted channel; the subscriber link sends SUBSCRIBE for the first
 * reference and UNSUBSCRIBE for the last, and after every reconnect it subscribes to the
 * whole registry again before reporting ready. Callers never resubscribe by hand.
 *
 * Commands never wait for a connection: one issued while the command link is down fails
 * on the next loop turn, and one pending when the link drops fails then, each callback
 * being called exactly once. Commands issued in one loop turn leave in one write.
 * Everything runs on the loop's thread; nothing here blocks (host names are resolved
 * with uv_getaddrinfo).
 */
#ifndef RC_REDIS_CONN_H
#define RC_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Status codes. The ones a reply callback can see say why there is no (good) reply. */
#define RC_OK          0
#define RC_ERR_REPLY   (-1) /* Redis answered with an error reply (reply holds it) */
#define RC_ERR_DOWN    (-2) /* the command link was not connected: nothing was sent */
#define RC_ERR_LOST    (-3) /* the connection dropped before the reply came */
#define RC_ERR_TIMEOUT (-4) /* no reply within command_timeout_ms: the connection was dropped */
#define RC_ERR_BUSY    (-5) /* max_pending or max_pending_bytes reached: nothing was sent */
#define RC_ERR_CLOSED  (-6) /* rc_close() was called */
#define RC_ERR_ARG     (-7) /* bad format or arguments, or a command reserved to this layer */
#define RC_ERR_NOMEM   (-8) /* out of memory */
#define RC_ERR_URL     (-9) /* the URL is not of the supported form */

/* Limits of rc_url (bytes, without the terminating NUL) and of its numbers. */
#define RC_URL_HOST_MAX     253
#define RC_URL_USER_MAX     128
#define RC_URL_PASSWORD_MAX 512
#define RC_URL_DEFAULT_PORT 6379
#define RC_URL_DB_MAX       2147483647

/* Defaults for the rc_config fields left 0. */
#define RC_DEFAULT_CONNECT_TIMEOUT_MS 3000        /* TCP connect plus AUTH / SELECT / PING */
#define RC_DEFAULT_COMMAND_TIMEOUT_MS 10000       /* longest wait for the next reply */
#define RC_DEFAULT_BACKOFF_MIN_MS     100         /* first retry delay; doubles per failure */
#define RC_DEFAULT_BACKOFF_MAX_MS     5000        /* ... up to this */
#define RC_DEFAULT_MAX_PENDING        100000      /* commands awaiting a reply */
#define RC_DEFAULT_MAX_PENDING_BYTES  (64u << 20) /* their encoded size */

/* A parsed redis://[user:password@]host[:port][/db] (user and password percent-decoded). */
typedef struct rc_url {
    char host[RC_URL_HOST_MAX + 1];         /* name or IP literal, IPv6 without brackets */
    int port;                               /* 1..65535, RC_URL_DEFAULT_PORT when absent */
    int db;                                 /* SELECT index, 0 when absent */
    char user[RC_URL_USER_MAX + 1];         /* "" when absent: AUTH <password> */
    char password[RC_URL_PASSWORD_MAX + 1]; /* "" when absent: no AUTH */
} rc_url;

typedef struct rc_conn rc_conn;

/* One pub/sub message; everything is borrowed for the duration of the callback. */
typedef struct rc_message {
    const char *pattern; /* the matching rc_psubscribe pattern, NULL for a channel */
    const char *channel; /* the channel it was published on (binary-safe) */
    size_t channel_len;
    const uint8_t *data; /* the payload, binary-safe */
    size_t len;
} rc_message;

/* A command's outcome, called exactly once per accepted command, never from inside
 * rc_command*() and never after rc_close() has returned. status is RC_OK with reply set,
 * RC_ERR_REPLY with reply set and errstr = reply->str, or another RC_ERR_* with reply
 * NULL. reply and errstr are borrowed: hiredis frees them when the callback returns. */
typedef void (*rc_reply_cb)(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                            void *ud);
/* A message on a channel or pattern that has references (a late message for one just
 * unsubscribed is dropped). */
typedef void (*rc_message_cb)(rc_conn *conn, const rc_message *msg, void *ud);
/* rc_ready(conn) changed to ready (1 or 0): for /readyz. */
typedef void (*rc_state_cb)(rc_conn *conn, int ready, void *ud);
/* One log line, without newline; it never holds the password. It must not call rc_*.
 * Each link logs each transition once: "<link> link connected to host:port db N",
 * "<link> link lost (<reason>), reconnecting", then at most one "<link> link cannot connect
 * to host:port (<reason>); retrying quietly, ..." however many attempts fail, then
 * "<link> link reconnected after 1.6 s (4 failed attempts)[, 3 subscriptions restored]". */
typedef void (*rc_log_cb)(const char *line, void *ud);
/* rc_close() finished: every handle is closed and conn is freed. */
typedef void (*rc_close_cb)(void *ud);

typedef struct rc_config {
    const char *url;             /* redis://[user:password@]host[:port][/db]; copied */
    uint32_t connect_timeout_ms; /* per attempt, connect through the AUTH/SELECT/PING replies */
    uint32_t command_timeout_ms; /* pending commands and no reply for this long: drop the link
                                    (an idle command link sends PING every 5 s to notice) */
    uint32_t backoff_min_ms;     /* first reconnect delay (each delay gets up to -50% jitter) */
    uint32_t backoff_max_ms;     /* cap of the doubling delay */
    size_t max_pending;          /* commands awaiting a reply before RC_ERR_BUSY */
    size_t max_pending_bytes;    /* their encoded bytes before RC_ERR_BUSY */
    rc_message_cb on_message;    /* may be NULL */
    rc_state_cb on_state;        /* may be NULL */
    rc_log_cb on_log;            /* NULL: "redis: <line>" on stderr */
    void *ud;                    /* passed to the four callbacks above */
} rc_config;

/* Parses url into *out. Returns RC_OK, or RC_ERR_URL with a reason in err (errlen bytes)
 * that never repeats the credentials. Accepts redis:// only (no rediss://, no unix). */
int rc_url_parse(const char *url, rc_url *out, char *err, size_t errlen);

/* Fills cfg with zeros (every default) and url. */
void rc_config_init(rc_config *cfg, const char *url);

/* Creates the connection and starts connecting both links at once. Returns NULL with a
 * reason in err when cfg->url is invalid or memory runs out. The loop must keep running
 * until rc_close()'s callback. */
rc_conn *rc_conn_new(uv_loop_t *loop, const rc_config *cfg, char *err, size_t errlen);

/* 1 when both links are connected and authenticated and every subscription in the
 * registry has been confirmed by Redis since the subscriber link's last (re)connect. */
int rc_ready(const rc_conn *conn);

/* Sends a command, hiredis printf style (%s C string, %b binary: pointer then size_t).
 * Returns RC_OK: cb will be called exactly once, on a later loop turn. Returns
 * RC_ERR_CLOSED (after rc_close) or RC_ERR_NOMEM: cb will never be called. cb may be NULL
 * to ignore the outcome. Commands that would change the link's own state (the subscribe
 * family, MONITOR, AUTH, SELECT, HELLO, RESET, QUIT) fail with RC_ERR_ARG. Blocking
 * commands (BLPOP, XREAD BLOCK) hold up every later reply and count toward
 * command_timeout_ms: keep them off this link. */
int rc_command(rc_conn *conn, rc_reply_cb cb, void *ud, const char *fmt, ...);
/* The same with argc arguments of argvlen[i] bytes each (binary-safe); argv is copied. */
int rc_command_argv(rc_conn *conn, rc_reply_cb cb, void *ud, int argc, const char **argv,
                    const size_t *argvlen);

/* Adds a reference to channel (a C string; copied). The first reference subscribes, now
 * if the subscriber link is up, else when it is. RC_OK, RC_ERR_CLOSED or RC_ERR_NOMEM. */
int rc_subscribe(rc_conn *conn, const char *channel);
/* Drops a reference; the last one unsubscribes. RC_ERR_ARG when channel has none. */
int rc_unsubscribe(rc_conn *conn, const char *channel);
/* The same for PSUBSCRIBE glob patterns (a separate registry from channels). */
int rc_psubscribe(rc_conn *conn, const char *pattern);
int rc_punsubscribe(rc_conn *conn, const char *pattern);
/* 1 when channel (pattern: 1 for a PSUBSCRIBE pattern) has references and Redis has
 * confirmed the subscription on the current subscriber connection. */
int rc_subscribed(const rc_conn *conn, const char *channel, int pattern);

/* Disconnects both links and stops every timer. Every command whose callback has not run
 * gets it before this returns (RC_ERR_CLOSED, or the status it was refused with); after
 * it returns no callback runs but done (which may be NULL), called on the loop once conn
 * is freed, after which uv_loop_close() can succeed. Safe from any of this connection's
 * callbacks except on_log; a second call is ignored. */
void rc_close(rc_conn *conn, rc_close_cb done, void *ud);

/* A short constant description of a status code, for logs and errstr. */
const char *rc_strerror(int status);

#endif
