/* redis_conn.c: the two hiredis links of redis_conn.h, their reconnection, and the
 * subscription registry.
 *
 * Each link is a small state machine: DOWN (its timer waits for the backoff delay),
 * CONNECTING (optional uv_getaddrinfo, then redisAsyncConnect with AUTH, SELECT and PING
 * queued at once; the timer is the attempt's deadline) and UP (for the command link the
 * timer is the reply watchdog). Whatever ends a connection funnels into link_lost(),
 * which forgets the context *before* anything else runs, so no path can free a hiredis
 * context twice or act on one hiredis is already freeing; callbacks from a forgotten
 * context are recognised (ac != link->ac) and ignored.
 *
 * hiredis calls every reply callback exactly once, with NULL when the context goes away.
 * Commands are wrapped in an rc_req that hiredis owns until that call; the user's callback
 * is tracked separately (req->done), so a connection loss or rc_close() can answer it at
 * once and the late NULL call only frees the wrapper.
 */
#define _GNU_SOURCE /* memrchr */
#include "redis_conn.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/sds.h>

#include "countdown.h"
#include "defer.h"
#include "list.h"
#include "map.h"
#include "url.h"

#define RC_URL_INPUT_MAX          2048 /* longest URL accepted */
#define RC_HEALTH_INTERVAL_MS     5000 /* an idle command link sends PING this often */
#define RC_WATCHDOG_CHECKS        4    /* watchdog runs per command timeout */
#define RC_WATCHDOG_MIN_PERIOD_MS 10
#define RC_RESUBSCRIBE_BATCH      256 /* names per SUBSCRIBE when restoring the registry */
#define RC_REASON_MAX             320 /* why a connection ended, as logged */
#define RC_LOG_MAX                512 /* one log line */
#define RC_WHERE_MAX              (RC_URL_HOST_MAX + 16) /* "[host]:port" */

typedef enum rc_link_state {
    RC_LINK_DOWN = 0,   /* waiting for the retry timer */
    RC_LINK_CONNECTING, /* resolving, connecting or waiting for the handshake replies */
    RC_LINK_UP          /* handshake done */
} rc_link_state;

typedef struct rc_link {
    rc_conn *conn;
    const char *name;      /* "command" or "subscriber", for logs */
    int is_sub;            /* 1: the subscriber link */
    redisAsyncContext *ac; /* the current context, NULL when there is none */
    rc_link_state state;
    uv_timer_t timer;         /* DOWN: retry; CONNECTING: deadline; UP (command): watchdog */
    uv_getaddrinfo_t resolve; /* in flight while resolving is 1 */
    int resolving;
    int handshake_left;         /* handshake replies still to come */
    uint32_t backoff_ms;        /* the next retry delay, before jitter */
    int ever_up;                /* has been announced once: later ones are "reconnected" */
    int announced;              /* "connected" was logged and no loss since (for the
                                   subscriber link: only once its registry is restored) */
    int failure_logged;         /* this outage's failed attempts have been logged once */
    unsigned attempts;          /* failed attempts in this outage */
    uint64_t down_since;        /* uv_now() when this outage began */
    int write_due;              /* commands queued: the flusher writes them this turn */
    int writing;                /* the flusher is writing: hiredis asking again means pushback */
    char reason[RC_REASON_MAX]; /* why the last connection or attempt ended */
} rc_link;

/* One command awaiting its reply (pending list) or its failure callback (failed queue). */
typedef struct rc_req {
    sb_list link; /* in c->pending_list, or in c->failed's queue */
    rc_conn *conn;
    rc_reply_cb cb; /* NULL: nobody waits (health PING, or cb NULL given) */
    void *ud;
    size_t len; /* encoded bytes, counted in pending_bytes */
    int status; /* failed queue: the status to report */
    int done;   /* the callback has run (or will not); hiredis may still hold the req */
} rc_req;

/* One channel or pattern of the registry. */
typedef struct rc_sub {
    char *name;               /* owned; also the map key */
    unsigned refs;            /* rc_subscribe() calls not matched by rc_unsubscribe() */
    unsigned inflight;        /* (UN)SUBSCRIBE sent on this connection, confirmation not seen */
    int active;               /* the last confirmation seen was a subscribe */
    struct rc_sub *next_dead; /* scratch list while the registry is reset */
} rc_sub;

struct rc_conn {
    uv_loop_t *loop;
    rc_url url;
    char where[RC_WHERE_MAX]; /* host:port for logs */
    int numeric_host;         /* url.host is an IP literal: no resolution */
    rc_config cfg;            /* with defaults applied; cfg.url is not kept */
    rc_link cmd, sub;

    sb_list pending_list; /* in flight on the command link, oldest first */
    size_t pending, pending_bytes;
    uint64_t last_progress; /* uv_now() of the last reply, or of the first send */
    sb_defer failed;        /* refused commands, answered on the next turn */
    uv_idle_t flusher;      /* writes the links' queued commands, once per loop turn */

    sb_map channels, patterns; /* name -> rc_sub */
    size_t restore_left;       /* restore confirmations still to come */
    size_t restored;           /* names sent by the current restore */

    int ready_reported; /* the last value given to on_state */
    int closing;
    sb_countdown closed; /* the handles and resolutions rc_close() waits for */
    rc_close_cb done;
    void *done_ud;
    uint64_t rng; /* xorshift state for the backoff jitter */
};

static void link_connect(rc_link *l);
static void link_lost(rc_link *l, int status, const char *reason);
static void on_link_timer(uv_timer_t *t);

/* ---- status, logging ---- */

const char *rc_strerror(int status)
{
    switch (status) {
    case RC_OK: return "ok";
    case RC_ERR_REPLY: return "redis error reply";
    case RC_ERR_DOWN: return "redis command link is down";
    case RC_ERR_LOST: return "redis connection lost";
    case RC_ERR_TIMEOUT: return "redis reply timed out";
    case RC_ERR_BUSY: return "too many pending redis commands";
    case RC_ERR_CLOSED: return "redis connection closed";
    case RC_ERR_ARG: return "invalid or reserved redis command";
    case RC_ERR_NOMEM: return "out of memory";
    case RC_ERR_URL: return "invalid redis URL";
    default: return "unknown status";
    }
}

__attribute__((format(printf, 2, 3))) static void rc_log(rc_conn *c, const char *fmt, ...)
{
    char line[RC_LOG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (c->cfg.on_log != NULL)
        c->cfg.on_log(line, c->cfg.ud);
    else
        fprintf(stderr, "redis: %s\n", line);
}

/* ---- URL ---- */

static int url_fail(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "redis URL: %s", msg);
    return RC_ERR_URL;
}

/* Percent-decodes [s, e) into out (cap bytes with the NUL). -1: bad escape, %00, too long. */
static int pct_decode(const char *s, const char *e, char *out, size_t cap)
{
    size_t n = 0;
    while (s < e) {
        int ch = (unsigned char)*s++;
        if (ch == '%') {
            int hi = s < e ? sb_hex_value(s[0]) : -1, lo = s + 1 < e ? sb_hex_value(s[1]) : -1;
            if (hi < 0 || lo < 0 || (hi | lo) == 0)
                return -1;
            ch = hi * 16 + lo;
            s += 2;
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = (char)ch;
    }
    out[n] = '\0';
    return 0;
}

/* Parses the decimal [s, e) into *out when it is in [min, max]. */
static int parse_uint(const char *s, const char *e, long min, long max, int *out)
{
    long v = 0;
    if (s == e)
        return -1;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
        if (v > max)
            return -1;
    }
    if (v < min)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_userinfo(const char *s, const char *e, rc_url *out, char *err, size_t errlen)
{
    const char *colon = memchr(s, ':', (size_t)(e - s));
    if (s == e)
        return url_fail(err, errlen, "empty credentials before '@'");
    if (colon == NULL)
        return url_fail(err, errlen, "credentials must be user:password or :password");
    if (pct_decode(s, colon, out->user, sizeof out->user) != 0)
        return url_fail(err, errlen, "user name too long or badly percent-encoded");
    if (pct_decode(colon + 1, e, out->password, sizeof out->password) != 0)
        return url_fail(err, errlen, "password too long or badly percent-encoded");
    if (out->password[0] == '\0')
        return url_fail(err, errlen, "empty password");
    return RC_OK;
}

static int host_char_ok(char ch, int bracketed)
{
    if (bracketed)
        return sb_hex_value(ch) >= 0 || ch == ':' || ch == '.';
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-' || ch == '_';
}

static int parse_hostport(const char *s, const char *e, rc_url *out, char *err, size_t errlen)
{
    const char *host = s, *host_end, *rest;
    int bracketed = s < e && *s == '[';
    if (bracketed) {
        const char *close = memchr(s, ']', (size_t)(e - s));
        if (close == NULL)
            return url_fail(err, errlen, "missing ']' after an IPv6 address");
        host = s + 1;
        host_end = close;
        rest = close + 1;
        if (rest < e && *rest != ':')
            return url_fail(err, errlen, "unexpected characters after ']'");
    } else {
        const char *colon = memchr(s, ':', (size_t)(e - s));
        if (colon != NULL && memchr(colon + 1, ':', (size_t)(e - colon - 1)) != NULL)
            return url_fail(err, errlen, "an IPv6 address must be in brackets");
        host_end = rest = colon != NULL ? colon : e;
    }
    if (host == host_end)
        return url_fail(err, errlen, "missing host");
    if ((size_t)(host_end - host) > RC_URL_HOST_MAX)
        return url_fail(err, errlen, "host name too long");
    for (const char *p = host; p < host_end; p++)
        if (!host_char_ok(*p, bracketed))
            return url_fail(err, errlen, "invalid character in host");
    memcpy(out->host, host, (size_t)(host_end - host));
    out->host[host_end - host] = '\0';
    if (rest < e && parse_uint(rest + 1, e, 1, 65535, &out->port) != 0)
        return url_fail(err, errlen, "port must be a number from 1 to 65535");
    return RC_OK;
}

int rc_url_parse(const char *url, rc_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->port = RC_URL_DEFAULT_PORT;
    if (url == NULL || url[0] == '\0')
        return url_fail(err, errlen, "empty");
    size_t n = strnlen(url, RC_URL_INPUT_MAX + 1);
    if (n > RC_URL_INPUT_MAX)
        return url_fail(err, errlen, "too long");
    if (strncasecmp(url, "rediss://", 9) == 0)
        return url_fail(err, errlen, "TLS (rediss://) is not supported");
    if (strncasecmp(url, "redis://", 8) != 0)
        return url_fail(err, errlen, "expected redis://[user:password@]host[:port][/db]");
    const char *p = url + 8, *end = url + n;
    /* The last '@': a password may hold '@', '/' or ':'; the part after it never does. */
    const char *at = memrchr(p, '@', (size_t)(end - p));
    if (at != NULL) {
        int rv = parse_userinfo(p, at, out, err, errlen);
        if (rv != RC_OK)
            return rv;
        p = at + 1;
    }
    if (strpbrk(p, "?#") != NULL)
        return url_fail(err, errlen, "query strings and fragments are not supported");
    const char *slash = memchr(p, '/', (size_t)(end - p));
    int rv = parse_hostport(p, slash != NULL ? slash : end, out, err, errlen);
    if (rv != RC_OK)
        return rv;
    if (slash != NULL && slash + 1 < end &&
        parse_uint(slash + 1, end, 0, RC_URL_DB_MAX, &out->db) != 0)
        return url_fail(err, errlen, "database must be a number from 0 to 2147483647");
    return RC_OK;
}

void rc_config_init(rc_config *cfg, const char *url)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->url = url;
}

/* ---- readiness, backoff ---- */

int rc_ready(const rc_conn *c)
{
    return c != NULL && !c->closing && c->cmd.state == RC_LINK_UP && c->sub.state == RC_LINK_UP &&
           c->restore_left == 0;
}

static void update_ready(rc_conn *c)
{
    int ready = rc_ready(c);
    if (c->closing || ready == c->ready_reported)
        return;
    c->ready_reported = ready;
    if (c->cfg.on_state != NULL)
        c->cfg.on_state(c, ready, c->cfg.ud);
}

static uint64_t rng_next(rc_conn *c)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return c->rng;
}

/* The next retry delay: the doubling delay minus up to half of it, so that nodes that lost
 * Redis together do not all come back in the same millisecond. */
static uint64_t link_next_delay(rc_link *l)
{
    rc_conn *c = l->conn;
    uint32_t d = l->backoff_ms;
    l->backoff_ms = d >= c->cfg.backoff_max_ms / 2 ? c->cfg.backoff_max_ms : d * 2;
    return d - rng_next(c) % (d / 2 + 1);
}

/* ---- the command link's pending list and failed queue ---- */

static void pending_push(rc_conn *c, rc_req *r)
{
    if (c->pending == 0)
        c->last_progress = uv_now(c->loop);
    sb_list_insert_tail(&c->pending_list, &r->link);
    c->pending++;
    c->pending_bytes += r->len;
}

static void pending_unlink(rc_conn *c, rc_req *r)
{
    sb_list_remove(&r->link);
    c->pending--;
    c->pending_bytes -= r->len;
}

/* Answers every in-flight command with status. It stops when a callback closes conn,
 * since rc_close() answers the rest itself, unless rc_close() is the caller. */
static void pending_fail_all(rc_conn *c, int status, const char *reason)
{
    rc_req *r;
    while ((r = SB_LIST_FIRST(&c->pending_list, rc_req, link)) != NULL &&
           (!c->closing || status == RC_ERR_CLOSED)) {
        pending_unlink(c, r);
        r->done = 1; /* hiredis still holds r and frees it through on_cmd_reply */
        if (r->cb != NULL)
            r->cb(c, status, NULL, reason, r->ud);
    }
}

static void fail_later(rc_conn *c, rc_req *r, int status)
{
    r->status = status;
    r->done = 1;
    sb_defer_push(&c->failed, &r->link);
}

/* A refused command's answer, on the turn after it was refused (a caller that retries at
 * once cannot spin here); rc_close() gives the rest at once. */
static void on_failed(sb_list *link, void *ud)
{
    rc_conn *c = ud;
    rc_req *r = SB_LIST_DATA(link, rc_req, link);
    if (r->cb != NULL)
        r->cb(c, r->status, NULL, rc_strerror(r->status), r->ud);
    free(r);
}

/* ---- commands ---- */

/* Commands that would change the link's own state behind this layer's back. */
static int command_reserved(const char *cmd, int len)
{
    static const char *const reserved[] = {
        "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe",
        "monitor",   "auth",       "select",     "hello",       "reset",        "quit"};
    /* cmd is "*<argc>\r\n$<len>\r\n<name>\r\n..." as hiredis formats it. */
    const char *end = cmd + len, *p = memchr(cmd, '$', (size_t)len), *name;
    if (p == NULL || (name = memchr(p, '\n', (size_t)(end - p))) == NULL)
        return 1;
    name++;
    const char *name_end = memchr(name, '\r', (size_t)(end - name));
    if (name_end == NULL)
        return 1;
    size_t n = (size_t)(name_end - name);
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strlen(reserved[i]) == n && strncasecmp(name, reserved[i], n) == 0)
            return 1;
    return 0;
}

static void on_cmd_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    rc_req *r = privdata;
    rc_conn *c = r->conn;
    const redisReply *rep = reply;
    if (!r->done && rep == NULL) {
        /* The context is going away: everything in flight fails, r included. */
        if (ac == c->cmd.ac)
            link_lost(&c->cmd, RC_ERR_LOST, ac->errstr);
        if (!r->done) {
            pending_unlink(c, r);
            if (r->cb != NULL && !c->closing)
                r->cb(c, RC_ERR_LOST, NULL, rc_strerror(RC_ERR_LOST), r->ud);
        }
    } else if (!r->done) {
        pending_unlink(c, r);
        r->done = 1;
        c->last_progress = uv_now(c->loop);
        int err = rep->type == REDIS_REPLY_ERROR;
        if (r->cb != NULL)
            r->cb(c, err ? RC_ERR_REPLY : RC_OK, rep, err ? rep->str : NULL, r->ud);
    }
    free(r);
}

/* Sends the formatted command cmd (len bytes, or len < 0 when formatting failed), which it
 * frees. */
/* cmd: a formatted command, freed here with free() or, when is_sds, sdsfree(). */
static int command_submit(rc_conn *c, rc_reply_cb cb, void *ud, char *cmd, int len, int is_sds)
{
    rc_req *r = calloc(1, sizeof *r);
    if (r == NULL) {
        if (is_sds)
            sdsfree(cmd);
        else
            free(cmd);
        return RC_ERR_NOMEM;
    }
    r->conn = c;
    r->cb = cb;
    r->ud = ud;
    r->len = len > 0 ? (size_t)len : 0;
    int status = RC_OK;
    if (len <= 0 || command_reserved(cmd, len))
        status = RC_ERR_ARG;
    else if (c->cmd.state != RC_LINK_UP)
        status = RC_ERR_DOWN;
    else if (c->pending >= c->cfg.max_pending ||
             c->pending_bytes + r->len > c->cfg.max_pending_bytes)
        status = RC_ERR_BUSY;
    else if (redisAsyncFormattedCommand(c->cmd.ac, on_cmd_reply, r, cmd, (size_t)len) != REDIS_OK)
        status = RC_ERR_DOWN;
    if (is_sds)
        sdsfree(cmd);
    else
        free(cmd);
    if (status != RC_OK)
        fail_later(c, r, status);
    else
        pending_push(c, r);
    return RC_OK;
}

int rc_command(rc_conn *c, rc_reply_cb cb, void *ud, const char *fmt, ...)
{
    if (c->closing)
        return RC_ERR_CLOSED;
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    return command_submit(c, cb, ud, len > 0 ? cmd : NULL, len, 0);
}

/* hiredis's sds formatter: redisFormatCommandArgv writes each length with sprintf, which
 * was a tenth of a stored message's CPU. */
int rc_command_argv(rc_conn *c, rc_reply_cb cb, void *ud, int argc, const char **argv,
                    const size_t *argvlen)
{
    if (c->closing)
        return RC_ERR_CLOSED;
    sds cmd = NULL;
    int len = argc > 0 ? redisFormatSdsCommandArgv(&cmd, argc, argv, argvlen) : -1;
    return command_submit(c, cb, ud, len > 0 ? cmd : NULL, len, 1);
}

/* ---- the subscription registry ---- */

static void sub_free(sb_map *map, rc_sub *e)
{
    sb_map_del(map, e->name);
    free(e->name);
    free(e);
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* Sends cmd for e on the subscriber link. */
static int sub_send(rc_conn *c, rc_sub *e, const char *cmd)
{
    const char *argv[2] = {cmd, e->name};
    size_t lens[2] = {strlen(cmd), strlen(e->name)};
    if (redisAsyncCommandArgv(c->sub.ac, on_sub_reply, &c->sub, 2, argv, lens) != REDIS_OK)
        return -1;
    e->inflight++;
    return 0;
}

static int sub_add(rc_conn *c, sb_map *map, const char *name, const char *cmd)
{
    if (c->closing)
        return RC_ERR_CLOSED;
    rc_sub *e = sb_map_get(map, name);
    if (e != NULL && e->refs++ > 0)
        return RC_OK;
    if (e == NULL) {
        if ((e = calloc(1, sizeof *e)) == NULL || (e->name = strdup(name)) == NULL) {
            free(e);
            return RC_ERR_NOMEM;
        }
        e->refs = 1;
        sb_map_put(map, e->name, e);
    }
    /* Not up: the restore after the handshake sends it. */
    if (c->sub.state == RC_LINK_UP)
        sub_send(c, e, cmd);
    return RC_OK;
}

static int sub_del(rc_conn *c, sb_map *map, const char *name, const char *cmd)
{
    if (c->closing)
        return RC_ERR_CLOSED;
    rc_sub *e = sb_map_get(map, name);
    if (e == NULL || e->refs == 0)
        return RC_ERR_ARG;
    if (--e->refs > 0)
        return RC_OK;
    /* Kept until Redis confirms, so a quick resubscribe is tracked in order. */
    if (c->sub.state == RC_LINK_UP)
        sub_send(c, e, cmd);
    if (e->inflight == 0)
        sub_free(map, e);
    return RC_OK;
}

int rc_subscribe(rc_conn *c, const char *channel)
{
    return sub_add(c, &c->channels, channel, "SUBSCRIBE");
}

int rc_unsubscribe(rc_conn *c, const char *channel)
{
    return sub_del(c, &c->channels, channel, "UNSUBSCRIBE");
}

int rc_psubscribe(rc_conn *c, const char *pattern)
{
    return sub_add(c, &c->patterns, pattern, "PSUBSCRIBE");
}

int rc_punsubscribe(rc_conn *c, const char *pattern)
{
    return sub_del(c, &c->patterns, pattern, "PUNSUBSCRIBE");
}

int rc_subscribed(const rc_conn *c, const char *name, int pattern)
{
    if (c->closing || c->sub.state != RC_LINK_UP)
        return 0;
    const rc_sub *e = sb_map_get(pattern ? &c->patterns : &c->channels, name);
    return e != NULL && e->refs > 0 && e->active && e->inflight == 0;
}

/* A new connection knows none of the registry: forget what was in flight, and drop the
 * names nobody references any more. */
static void registry_reset(rc_conn *c)
{
    sb_map *maps[2] = {&c->channels, &c->patterns};
    for (int m = 0; m < 2; m++) {
        rc_sub *dead = NULL, *e;
        size_t pos = 0;
        while ((e = sb_map_next(maps[m], &pos)) != NULL) {
            e->inflight = 0;
            e->active = 0;
            if (e->refs == 0) {
                e->next_dead = dead;
                dead = e;
            }
        }
        while ((e = dead) != NULL) {
            dead = e->next_dead;
            sub_free(maps[m], e);
        }
    }
    c->restore_left = 0;
}

static void registry_free(rc_conn *c)
{
    sb_map *maps[2] = {&c->channels, &c->patterns};
    for (int m = 0; m < 2; m++) {
        rc_sub *e;
        size_t pos = 0;
        while ((e = sb_map_next(maps[m], &pos)) != NULL) {
            free(e->name);
            free(e);
        }
        sb_map_free(maps[m]);
    }
}

/* Sends argv[1..argc) under argv[0] as one command counted by the restore. */
static int restore_send(rc_conn *c, int argc, const char **argv, const size_t *lens)
{
    if (argc < 2)
        return 0;
    if (redisAsyncCommandArgv(c->sub.ac, on_sub_reply, &c->sub, argc, argv, lens) != REDIS_OK)
        return -1;
    c->restore_left += (size_t)(argc - 1);
    return 0;
}

/* Subscribes the new subscriber connection to the whole registry, in batches. */
static int registry_restore(rc_conn *c)
{
    static const char *const cmds[2] = {"SUBSCRIBE", "PSUBSCRIBE"};
    sb_map *maps[2] = {&c->channels, &c->patterns};
    const char *argv[RC_RESUBSCRIBE_BATCH + 1];
    size_t lens[RC_RESUBSCRIBE_BATCH + 1];
    c->restore_left = 0;
    for (int m = 0; m < 2; m++) {
        rc_sub *e;
        size_t pos = 0;
        int argc = 1;
        argv[0] = cmds[m];
        lens[0] = strlen(cmds[m]);
        while ((e = sb_map_next(maps[m], &pos)) != NULL) {
            e->inflight++;
            argv[argc] = e->name;
            lens[argc++] = strlen(e->name);
            if (argc == RC_RESUBSCRIBE_BATCH + 1) {
                if (restore_send(c, argc, argv, lens) != 0)
                    return -1;
                argc = 1;
            }
        }
        if (restore_send(c, argc, argv, lens) != 0)
            return -1;
    }
    c->restored = c->restore_left;
    return 0;
}

static int reply_is_string(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

/* The live registry entry named by a reply element, if the name is one we subscribed. */
static rc_sub *sub_lookup(sb_map *map, const redisReply *name)
{
    if (!reply_is_string(name) || strlen(name->str) != name->len)
        return NULL;
    return sb_map_get(map, name->str);
}

static void deliver(rc_conn *c, const redisReply *pattern, const redisReply *channel,
                    const redisReply *payload)
{
    rc_sub *e = sub_lookup(pattern != NULL ? &c->patterns : &c->channels,
                           pattern != NULL ? pattern : channel);
    if (e == NULL || e->refs == 0 || !reply_is_string(channel) || !reply_is_string(payload) ||
        c->cfg.on_message == NULL)
        return;
    rc_message msg = {pattern != NULL ? pattern->str : NULL, channel->str, channel->len,
                      (const uint8_t *)payload->str, payload->len};
    c->cfg.on_message(c, &msg, c->cfg.ud);
}

static void link_log_up(rc_link *l);

/* A (p)subscribe / (p)unsubscribe confirmation. */
static void confirm(rc_conn *c, sb_map *map, const redisReply *name, int subscribed)
{
    rc_sub *e = sub_lookup(map, name);
    if (e != NULL) {
        if (e->inflight > 0)
            e->inflight--;
        e->active = subscribed;
        if (e->refs == 0 && e->inflight == 0)
            sub_free(map, e);
    }
    /* The restore was sent first on this connection, so its confirmations come first. */
    if (subscribed && c->restore_left > 0 && --c->restore_left == 0) {
        link_log_up(&c->sub);
        update_ready(c);
    }
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    rc_link *l = privdata;
    rc_conn *c = l->conn;
    const redisReply *r = reply;
    if (ac != l->ac)
        return;
    if (r == NULL) {
        link_lost(l, RC_ERR_LOST, ac->errstr);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || !reply_is_string(r->element[0]))
        return;
    const char *kind = r->element[0]->str;
    if (strcasecmp(kind, "message") == 0)
        deliver(c, NULL, r->element[1], r->element[2]);
    else if (strcasecmp(kind, "pmessage") == 0 && r->elements >= 4)
        deliver(c, r->element[1], r->element[2], r->element[3]);
    else if (strcasecmp(kind, "subscribe") == 0 || strcasecmp(kind, "unsubscribe") == 0)
        confirm(c, &c->channels, r->element[1], kind[0] == 's' || kind[0] == 'S');
    else if (strcasecmp(kind, "psubscribe") == 0 || strcasecmp(kind, "punsubscribe") == 0)
        confirm(c, &c->patterns, r->element[1], kind[1] == 's' || kind[1] == 'S');
}

/* ---- the link state machine ---- */

static void link_log_up(rc_link *l)
{
    rc_conn *c = l->conn;
    char restored[64] = "";
    if (l->is_sub && c->restored > 0)
        snprintf(restored, sizeof restored, ", %zu subscriptions restored", c->restored);
    if (!l->ever_up)
        rc_log(c, "%s link connected to %s db %d%s", l->name, c->where, c->url.db, restored);
    else
        rc_log(c, "%s link reconnected after %.1f s (%u failed attempts)%s", l->name,
               (double)(uv_now(c->loop) - l->down_since) / 1000.0, l->attempts, restored);
    l->ever_up = 1;
    l->announced = 1;
    l->backoff_ms = c->cfg.backoff_min_ms; /* not before: a link that never settles backs off */
    l->failure_logged = 0;
    l->attempts = 0;
}

/* Forgets the link's context (the caller or hiredis frees it), answers what depended on it,
 * logs the transition once, and schedules the next attempt. */
static void link_lost(rc_link *l, int status, const char *reason)
{
    rc_conn *c = l->conn;
    int announced = l->announced;
    if (reason != l->reason)
        snprintf(l->reason, sizeof l->reason, "%s",
                 reason != NULL && reason[0] ? reason : "unknown error");
    l->ac = NULL;
    l->state = RC_LINK_DOWN;
    l->handshake_left = 0;
    l->announced = 0;
    if (c->closing)
        return;
    /* A loss before the announcement (say, a SUBSCRIBE refused by an ACL) is one more
     * failed attempt, so a link that never settles does not log every cycle. */
    if (announced) {
        rc_log(c, "%s link lost (%s), reconnecting", l->name, l->reason);
        l->down_since = uv_now(c->loop);
        l->attempts = 0;
        l->failure_logged = 0;
    } else {
        l->attempts++;
        if (!l->failure_logged)
            rc_log(c, "%s link cannot connect to %s (%s); retrying quietly, backoff up to %u ms",
                   l->name, c->where, l->reason, c->cfg.backoff_max_ms);
        l->failure_logged = 1;
    }
    if (l->is_sub)
        registry_reset(c);
    uv_timer_start(&l->timer, on_link_timer, link_next_delay(l),
                   0); /* replaces deadline or watchdog */
    if (!l->is_sub)
        pending_fail_all(c, status, l->reason);
    update_ready(c);
}

/* link_lost() for a context hiredis is not already freeing: frees it too. */
static void link_drop(rc_link *l, int status, const char *reason)
{
    redisAsyncContext *ac = l->ac;
    link_lost(l, status, reason);
    if (ac != NULL)
        redisAsyncFree(ac); /* inside one of ac's callbacks, hiredis defers this to its end */
}

static void link_up(rc_link *l)
{
    rc_conn *c = l->conn;
    l->state = RC_LINK_UP;
    uv_timer_stop(&l->timer);
    if (l->is_sub) {
        if (registry_restore(c) != 0) {
            link_drop(l, RC_ERR_LOST, "cannot send SUBSCRIBE");
            return;
        }
        if (c->restore_left == 0)
            link_log_up(l);
    } else {
        uint64_t period = c->cfg.command_timeout_ms / RC_WATCHDOG_CHECKS;
        c->last_progress = uv_now(c->loop);
        if (period < RC_WATCHDOG_MIN_PERIOD_MS)
            period = RC_WATCHDOG_MIN_PERIOD_MS;
        uv_timer_start(&l->timer, on_link_timer, period, period);
        link_log_up(l);
    }
    update_ready(c);
}

static void on_handshake_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    rc_link *l = privdata;
    const redisReply *r = reply;
    if (ac != l->ac)
        return;
    if (r == NULL) {
        link_lost(l, RC_ERR_LOST, ac->errstr);
    } else if (r->type == REDIS_REPLY_ERROR) {
        char reason[RC_REASON_MAX];
        snprintf(reason, sizeof reason, "%s", r->str);
        link_drop(l, RC_ERR_LOST, reason);
    } else if (--l->handshake_left == 0) {
        link_up(l);
    }
}

static int handshake_send(rc_link *l, int argc, const char **argv)
{
    size_t lens[3];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (redisAsyncCommandArgv(l->ac, on_handshake_reply, l, argc, argv, lens) != REDIS_OK)
        return -1;
    l->handshake_left++;
    return 0;
}

/* AUTH, SELECT and PING, queued before the socket is even connected, so they go first. */
static int link_handshake(rc_link *l)
{
    const rc_url *u = &l->conn->url;
    char db[16];
    snprintf(db, sizeof db, "%d", u->db);
    const char *auth_user[3] = {"AUTH", u->user, u->password};
    const char *auth[2] = {"AUTH", u->password};
    const char *select[2] = {"SELECT", db};
    const char *ping[1] = {"PING"};
    if (u->password[0] != '\0' &&
        (u->user[0] != '\0' ? handshake_send(l, 3, auth_user) : handshake_send(l, 2, auth)) != 0)
        return -1;
    if (u->db != 0 && handshake_send(l, 2, select) != 0)
        return -1;
    return handshake_send(l, 1, ping);
}

/* Debian's hiredis 0.14 libuv adapter ignores a poll error: on POLLERR (a refused connect,
 * a reset) libuv stops the handle and reports status < 0, the adapter returns, and the
 * failure goes unseen until some timeout. hiredis 1.0 fixed it by handling an error as the
 * events it waited for; rc_poll does the same. The adapter still owns the handle and its
 * cleanup; the hooks below decide what it polls for.
 *
 * hiredis asks for writability each time it queues a command and drops it once written.
 * Through the adapter that is a uv_poll_start each way, and libuv re-registers the fd on
 * every one (an epoll_ctl pair): several per command. So a connected link does not poll
 * for writability: it is written once per loop turn by the flusher (a uv_idle_t, as
 * the transport writes its clients), and polls for it only when the kernel pushed back. */
static void rc_poll_rearm(void *privdata);

static void rc_poll(uv_poll_t *handle, int status, int events)
{
    redisLibuvEvents *p = handle->data;
    int ev = status < 0 ? p->events : events;
    if (p->context != NULL && (ev & UV_READABLE))
        redisAsyncHandleRead(p->context);
    if (p->context != NULL && (ev & UV_WRITABLE))
        redisAsyncHandleWrite(p->context);
    if (status < 0 && p->context != NULL)
        rc_poll_rearm(p); /* libuv stopped the handle; hiredis found nothing wrong */
}

static void rc_poll_rearm(void *privdata)
{
    redisLibuvEvents *p = privdata;
    if (p->events != 0)
        uv_poll_start(&p->handle, p->events, rc_poll);
}

static void rc_poll_set(redisLibuvEvents *p, int events)
{
    if (p->events == events)
        return;
    p->events = events;
    if (events != 0)
        uv_poll_start(&p->handle, events, rc_poll);
    else
        uv_poll_stop(&p->handle);
}

static void rc_add_read(void *privdata)
{
    redisLibuvEvents *p = privdata;
    rc_poll_set(p, p->events | UV_READABLE);
}

static void rc_del_read(void *privdata)
{
    redisLibuvEvents *p = privdata;
    rc_poll_set(p, p->events & ~UV_READABLE);
}

static void on_flush(uv_idle_t *h);

static void rc_add_write(void *privdata)
{
    redisLibuvEvents *p = privdata;
    redisAsyncContext *ac = p->context;
    rc_link *l = ac != NULL ? ac->data : NULL;
    /* still connecting (hiredis waits for the connect by writability), or a write that
     * the kernel did not take whole */
    if (l == NULL || l->writing || !(ac->c.flags & REDIS_CONNECTED)) {
        rc_poll_set(p, p->events | UV_WRITABLE);
        return;
    }
    if (!l->write_due) {
        l->write_due = 1;
        uv_idle_start(&l->conn->flusher, on_flush);
    }
}

static void rc_del_write(void *privdata)
{
    redisLibuvEvents *p = privdata;
    rc_poll_set(p, p->events & ~UV_WRITABLE);
}

static void link_flush(rc_link *l)
{
    if (!l->write_due)
        return;
    l->write_due = 0;
    if (l->ac == NULL)
        return;
    l->writing = 1;
    redisAsyncHandleWrite(l->ac);
    l->writing = 0;
}

static void on_flush(uv_idle_t *h)
{
    rc_conn *c = h->data;
    uv_idle_stop(h);
    link_flush(&c->cmd);
    link_flush(&c->sub);
}

static int rc_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (redisLibuvAttach(ac, loop) != REDIS_OK)
        return REDIS_ERR;
    ac->ev.addRead = rc_add_read;
    ac->ev.delRead = rc_del_read;
    ac->ev.addWrite = rc_add_write;
    ac->ev.delWrite = rc_del_write;
    return REDIS_OK;
}

static void on_connected(const redisAsyncContext *ac, int status)
{
    rc_link *l = ac->data;
    if (status != REDIS_OK && ac == l->ac)
        link_lost(l, RC_ERR_LOST, ac->errstr); /* hiredis frees ac when this returns */
}

static void on_disconnected(const redisAsyncContext *ac, int status)
{
    rc_link *l = ac->data;
    if (ac == l->ac)
        link_lost(l, RC_ERR_LOST, status == REDIS_OK ? "disconnected" : ac->errstr);
}

static void link_connect_ip(rc_link *l, const char *ip)
{
    rc_conn *c = l->conn;
    redisAsyncContext *ac = redisAsyncConnect(ip, c->url.port);
    if (ac == NULL) {
        link_lost(l, RC_ERR_LOST, "out of memory");
        return;
    }
    if (ac->err) {
        snprintf(l->reason, sizeof l->reason, "%s", ac->errstr);
        redisAsyncFree(ac);
        link_lost(l, RC_ERR_LOST, l->reason);
        return;
    }
    ac->data = l;
    redisAsyncSetConnectCallback(ac, on_connected);
    redisAsyncSetDisconnectCallback(ac, on_disconnected);
    if (rc_attach(ac, c->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        link_lost(l, RC_ERR_LOST, "cannot watch the socket");
        return;
    }
    redisEnableKeepAlive(&ac->c); /* a peer that vanished without FIN is found in ~30 s */
    l->ac = ac;
    uv_timer_start(&l->timer, on_link_timer, c->cfg.connect_timeout_ms, 0);
    if (link_handshake(l) != 0)
        link_drop(l, RC_ERR_LOST, "cannot queue the handshake");
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    rc_link *l = req->data;
    rc_conn *c = l->conn;
    char ip[INET6_ADDRSTRLEN] = "";
    l->resolving = 0;
    /* IPv4 first, as hiredis does: "localhost" may list ::1 where Redis binds 127.0.0.1. */
    const struct addrinfo *pick = res;
    for (const struct addrinfo *a = res; status == 0 && a != NULL; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    if (status == 0 && pick != NULL)
        uv_ip_name(pick->ai_addr, ip, sizeof ip);
    uv_freeaddrinfo(res);
    if (c->closing) {
        sb_countdown_done(&c->closed);
        return;
    }
    if (ip[0] == '\0') {
        char reason[RC_REASON_MAX];
        snprintf(reason, sizeof reason, "cannot resolve %s: %s", c->url.host,
                 status < 0 ? uv_strerror(status) : "no address");
        link_lost(l, RC_ERR_LOST, reason);
        return;
    }
    link_connect_ip(l, ip);
}

static void link_connect(rc_link *l)
{
    rc_conn *c = l->conn;
    l->state = RC_LINK_CONNECTING;
    if (c->numeric_host) {
        link_connect_ip(l, c->url.host);
        return;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rv = uv_getaddrinfo(c->loop, &l->resolve, on_resolved, c->url.host, NULL, &hints);
    if (rv < 0)
        link_lost(l, RC_ERR_LOST, uv_strerror(rv));
    else
        l->resolving = 1;
}

/* DOWN: time to retry. CONNECTING: the attempt took too long. UP: the command watchdog. */
static void on_link_timer(uv_timer_t *t)
{
    rc_link *l = t->data;
    rc_conn *c = l->conn;
    char reason[RC_REASON_MAX];
    if (l->state == RC_LINK_DOWN) {
        link_connect(l);
    } else if (l->state == RC_LINK_CONNECTING) {
        snprintf(reason, sizeof reason, "no answer within %u ms", c->cfg.connect_timeout_ms);
        link_drop(l, RC_ERR_LOST, reason);
    } else if (!l->is_sub) {
        uint64_t quiet = uv_now(c->loop) - c->last_progress;
        if (c->pending > 0 && quiet >= c->cfg.command_timeout_ms) {
            snprintf(reason, sizeof reason, "no reply within %u ms", c->cfg.command_timeout_ms);
            link_drop(l, RC_ERR_TIMEOUT, reason);
        } else if (c->pending == 0 && quiet >= RC_HEALTH_INTERVAL_MS) {
            rc_command(c, NULL, NULL, "PING"); /* lets the watchdog see a hung server */
        }
    }
}

/* ---- life cycle ---- */

/* Everything rc_close() waited for has closed. */
static void on_closed(void *ud)
{
    rc_conn *c = ud;
    rc_close_cb done = c->done;
    void *done_ud = c->done_ud;
    free(c);
    if (done != NULL)
        done(done_ud);
}

static void link_init(rc_conn *c, rc_link *l, const char *name, int is_sub)
{
    l->conn = c;
    l->name = name;
    l->is_sub = is_sub;
    l->backoff_ms = c->cfg.backoff_min_ms;
    l->down_since = uv_now(c->loop);
    l->resolve.data = l;
    uv_timer_init(c->loop, &l->timer);
    l->timer.data = l;
}

rc_conn *rc_conn_new(uv_loop_t *loop, const rc_config *cfg, char *err, size_t errlen)
{
    rc_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (rc_url_parse(cfg->url, &c->url, err, errlen) != RC_OK) {
        free(c);
        return NULL;
    }
    unsigned char addr[sizeof(struct in6_addr)];
    c->numeric_host =
        inet_pton(AF_INET, c->url.host, addr) == 1 || inet_pton(AF_INET6, c->url.host, addr) == 1;
    if (strchr(c->url.host, ':') != NULL)
        snprintf(c->where, sizeof c->where, "[%s]:%d", c->url.host, c->url.port);
    else
        snprintf(c->where, sizeof c->where, "%s:%d", c->url.host, c->url.port);
    c->loop = loop;
    c->cfg = *cfg;
    c->cfg.url = NULL;
    if (c->cfg.connect_timeout_ms == 0)
        c->cfg.connect_timeout_ms = RC_DEFAULT_CONNECT_TIMEOUT_MS;
    if (c->cfg.command_timeout_ms == 0)
        c->cfg.command_timeout_ms = RC_DEFAULT_COMMAND_TIMEOUT_MS;
    if (c->cfg.backoff_min_ms == 0)
        c->cfg.backoff_min_ms = RC_DEFAULT_BACKOFF_MIN_MS;
    if (c->cfg.backoff_max_ms == 0)
        c->cfg.backoff_max_ms = RC_DEFAULT_BACKOFF_MAX_MS;
    if (c->cfg.backoff_max_ms < c->cfg.backoff_min_ms)
        c->cfg.backoff_max_ms = c->cfg.backoff_min_ms;
    if (c->cfg.max_pending == 0)
        c->cfg.max_pending = RC_DEFAULT_MAX_PENDING;
    if (c->cfg.max_pending_bytes == 0)
        c->cfg.max_pending_bytes = RC_DEFAULT_MAX_PENDING_BYTES;
    c->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)c ^ 0x9e3779b97f4a7c15ull;
    sb_list_init(&c->pending_list);
    sb_map_init(&c->channels);
    sb_map_init(&c->patterns);
    sb_defer_init(loop, &c->failed, on_failed, c);
    uv_idle_init(loop, &c->flusher);
    c->flusher.data = c;
    link_init(c, &c->cmd, "command", 0);
    link_init(c, &c->sub, "subscriber", 1);
    link_connect(&c->cmd);
    link_connect(&c->sub);
    return c;
}

static void link_close(rc_conn *c, rc_link *l)
{
    redisAsyncContext *ac = l->ac;
    l->ac = NULL;
    l->state = RC_LINK_DOWN;
    if (ac != NULL)
        redisAsyncFree(ac); /* its callbacks now see a forgotten context and only free */
    if (l->resolving) {
        /* Cancelled or not (already running), on_resolved still comes. */
        uv_cancel((uv_req_t *)&l->resolve);
        sb_countdown_add(&c->closed);
    }
    sb_countdown_close(&c->closed, (uv_handle_t *)&l->timer);
}

void rc_close(rc_conn *c, rc_close_cb done, void *ud)
{
    if (c == NULL || c->closing)
        return;
    c->closing = 1;
    c->done = done;
    c->done_ud = ud;
    sb_countdown_start(&c->closed, on_closed, c);
    pending_fail_all(c, RC_ERR_CLOSED, rc_strerror(RC_ERR_CLOSED));
    sb_defer_close(&c->failed, &c->closed);
    link_close(c, &c->cmd);
    link_close(c, &c->sub);
    registry_free(c);
    sb_countdown_close(&c->closed, (uv_handle_t *)&c->flusher);
    sb_countdown_done(&c->closed);
}
