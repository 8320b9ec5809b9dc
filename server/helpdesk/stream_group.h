/* stream_group.h: reading a Redis stream as one consumer of a consumer group, on a
 * connection of its own: what the hd:commands consumer (commands.c) and the webhooks'
 * Redis feed (webhook_redis.c) share.
 *
 * The owner embeds an hd_stream_group and decides what to read and when; the group holds
 * the connection, the one read in flight, the group's creation, the entries of the
 * replies, the acks, the retry timer and the closing. hd_sg_pump() sends XGROUP CREATE
 * ... MKSTREAM until the group is known to exist (BUSYGROUP: it was), then the owner's
 * read (hooks.send_read: hd_sg_read(), or hd_sg_claim() with a callback of its own, which
 * then clears g->reading). A failed read waits HD_SG_RETRY_MS, or for the connection to
 * come back: nothing spins. A group gone under a live connection (NOGROUP: FLUSHALL, a
 * Redis restarted empty) is created again by the next pump.
 *
 * The connection is its own: XREADGROUP BLOCK would hold up every reply on a shared one.
 */
#ifndef HD_STREAM_GROUP_H
#define HD_STREAM_GROUP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "countdown.h"
#include "redis_conn.h"

#define HD_SG_RETRY_MS          1000 /* after a failed read or group creation */
#define HD_SG_TIMEOUT_MARGIN_MS 5000 /* the connection's command timeout: block + this */
#define HD_SG_BATCH             64   /* most entries per read or claim */
#define HD_SG_CURSOR_MAX        64   /* a stream id: two 64-bit numbers and a dash */

/* One entry of a reply; everything is borrowed from the reply. */
typedef struct hd_stream_entry {
    const char *id;         /* "1700000000000-0" */
    int deleted;            /* no fields: deleted from the stream (XAUTOCLAIM, Redis 6.2) */
    const redisReply *type; /* the "type" field's value (a string reply), or NULL */
    const redisReply *data; /* the "data" field's value, or NULL */
} hd_stream_entry;

/* Called per entry, in stream order: 0 goes on to the next, anything else stops. */
typedef int (*hd_stream_entry_cb)(const hd_stream_entry *e, void *ud);

/* Hands the entries [[id, [field, value, ...]], ...] of a reply to cb (entries not of that
 * form are skipped). Returns 0, or cb's non-zero answer that stopped it. */
int hd_stream_entries(const redisReply *entries, hd_stream_entry_cb cb, void *ud);

/* XAUTOCLAIM's answer [next cursor, [entry, ...], [deleted id, ...]]: 0 with *cursor and
 * *entries (for hd_stream_entries) borrowed from it, or -1 when it has another form. */
int hd_stream_claimed(const redisReply *reply, const char **cursor, const redisReply **entries);

/* prefix followed by name, malloc'ed (a key: "hd:" "commands"); NULL out of memory. */
char *hd_stream_key(const char *prefix, const char *name);

/* What the owner does for the group; ud is the owner. */
typedef struct hd_stream_group_hooks {
    /* The owner's pump: its own conditions, then hd_sg_pump(). Called after a good read,
     * the group's creation, a retry's wait. */
    void (*pump)(void *ud);
    /* The group exists and no read is in flight: sends the owner's read (hd_sg_read or
     * hd_sg_claim), returning its RC_ status. */
    int (*send_read)(void *ud);
    /* The connection is up (again), and the group is not closing. */
    void (*on_ready)(void *ud);
    /* Each entry hd_sg_read() brings. */
    hd_stream_entry_cb on_entry;
    /* 1 while the owner still needs the connection: closing waits for it (and for the
     * read and the acks in flight) before closing the connection. */
    int (*busy)(void *ud);
    void *ud;
} hd_stream_group_hooks;

typedef struct hd_stream_group_config {
    const char *url;    /* redis://[user:password@]host[:port][/db] (copied) */
    const char *prefix; /* the stream's key is prefix followed by stream (copied) */
    const char *stream;
    const char *group;    /* the group's name: a constant, not copied */
    const char *consumer; /* this node's name in the group (copied) */
    const char *start;    /* where a group created here starts: "0" every entry, "$" new ones */
    const char *log_name; /* what the logs start with ("helpdesk commands"): a constant */
    uint32_t block_ms;    /* XREADGROUP's BLOCK */
    hd_stream_group_hooks hooks;
} hd_stream_group_config;

typedef struct hd_stream_group {
    rc_conn *conn;
    char *stream; /* the key */
    char *consumer;
    const char *group;
    const char *start;
    const char *log_name;
    uint32_t block_ms;
    hd_stream_group_hooks hooks;
    uv_timer_t retry_timer;
    int group_ready; /* XGROUP CREATE succeeded (or the group existed) */
    int reading;     /* XGROUP CREATE or the owner's read in flight */
    size_t acks;     /* XACKs unanswered */
    int closing;
    int conn_closing;
    sb_countdown closed; /* the retry timer, the owner's handles, the connection */
} hd_stream_group;

/* Copies the names and starts connecting. 0, or -1 with a reason in err (a bad URL, out of
 * memory), g then holding nothing. */
int hd_sg_init(hd_stream_group *g, uv_loop_t *loop, const hd_stream_group_config *cfg, char *err,
               size_t errlen);
/* Frees the names, once closed (or when hd_sg_init failed). */
void hd_sg_free(hd_stream_group *g);

/* Sends XGROUP CREATE or the owner's read unless one is in flight, the group is closing
 * or the connection is down (it calls on_ready when it is back). */
void hd_sg_pump(hd_stream_group *g);
/* XREADGROUP ... COUNT count (at most HD_SG_BATCH) BLOCK ... STREAMS <stream> >: the
 * entries go to hooks.on_entry, then hooks.pump; a failure waits. For hooks.send_read. */
int hd_sg_read(hd_stream_group *g, size_t count);
/* XAUTOCLAIM <stream> <group> <consumer> idle_ms cursor COUNT count (at most
 * HD_SG_BATCH), answered to cb (hd_stream_claimed reads the reply). */
int hd_sg_claim(hd_stream_group *g, uint32_t idle_ms, const char *cursor, size_t count,
                rc_reply_cb cb, void *ud);
/* A read failed: NOGROUP forgets the group, and the next pump waits HD_SG_RETRY_MS. */
void hd_sg_read_failed(hd_stream_group *g, int status, const char *errstr);
/* XACK; a lost ack leaves the entry pending. */
void hd_sg_ack(hd_stream_group *g, const char *id);

/* Starts closing: no read is sent any more, the retry timer closes. The owner adds its
 * own closes to g->closed (sb_countdown_close), then calls hd_sg_maybe_close. closed(ud)
 * runs once they and the connection have closed; it frees what holds g. */
void hd_sg_close(hd_stream_group *g, sb_countdown_cb closed, void *ud);
/* Closing, and nothing in flight nor the owner busy: closes the connection. Called by
 * the owner whenever something of its own it waits for ends. */
void hd_sg_maybe_close(hd_stream_group *g);

#endif
