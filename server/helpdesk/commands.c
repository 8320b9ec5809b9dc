/* commands.c: the hd:commands consumer (see commands.h).
 *
 * One read at a time is in flight: XGROUP CREATE until the group is known to exist, then
 * XREADGROUP ... BLOCK, sent again as soon as the previous one answers. A timer runs
 * XAUTOCLAIM every claim_every_ms, continuing from the cursor Redis returned, so the whole
 * pending list is walked a batch per tick. Failures wait HD_COMMANDS_RETRY_MS, or for the
 * connection to come back, before the next try: nothing here spins.
 */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "countdown.h"
#include "list.h"
#include "redis_conn.h"

#define HD_COMMANDS_DEFAULT_PREFIX    "hd:"
#define HD_COMMANDS_BLOCK_MS          1000 /* longest XREADGROUP wait */
#define HD_COMMANDS_TIMEOUT_MARGIN_MS 5000 /* the connection's command timeout: block + this */
#define HD_COMMANDS_BATCH             64   /* entries per read or claim */
#define HD_COMMANDS_RETRY_MS          1000 /* after a failed read or group creation */
#define HD_COMMANDS_CURSOR_MAX        64   /* a stream id: two 64-bit numbers and a dash */
#define HD_COMMANDS_NUM_LEN           24

struct hd_command {
    hd_commands *owner;
    sb_list link; /* in the owner's held list */
    char *id;
    char *type;
    json_t *data;
};

struct hd_commands {
    rc_conn *conn;
    char *stream;
    char *consumer;
    uint32_t claim_idle_ms;
    char cursor[HD_COMMANDS_CURSOR_MAX]; /* where the next XAUTOCLAIM starts */
    hd_command_cb on_command;
    void *ud;
    uv_timer_t claim_timer;
    uv_timer_t retry_timer;
    int group_ready;  /* XGROUP CREATE succeeded (or the group existed) */
    int reading;      /* XGROUP CREATE or XREADGROUP in flight */
    int claiming;     /* XAUTOCLAIM in flight */
    int claim_failed; /* the last XAUTOCLAIM failed: logged once per run of failures */
    size_t acks_inflight;
    sb_list held; /* handed out, not yet acked or retried (hd_command.link) */
    size_t n_held;
    int closing;
    int conn_closing;
    sb_countdown closed; /* the timers and the connection, at close */
    void (*done)(void *ud);
    void *done_ud;
};

static void pump(hd_commands *c);

/* ---- closing ---- */

static void consumer_free(hd_commands *c)
{
    free(c->stream);
    free(c->consumer);
    free(c);
}

/* The timers and the connection have all closed. */
static void on_closed(void *ud)
{
    hd_commands *c = ud;
    void (*done)(void *) = c->done;
    void *done_ud = c->done_ud;
    consumer_free(c);
    if (done != NULL)
        done(done_ud);
}

/* Closes the connection once nothing depends on it: no command held (its ack needs the
 * connection), no ack unanswered (hiredis drops unsent writes), no read in flight. */
static void maybe_finish(hd_commands *c)
{
    if (!c->closing || c->conn_closing || c->n_held > 0 || c->acks_inflight > 0 || c->reading ||
        c->claiming)
        return;
    c->conn_closing = 1;
    sb_countdown_add(&c->closed);
    rc_close(c->conn, sb_countdown_done, &c->closed);
    sb_countdown_done(&c->closed); /* every close has started */
}

/* ---- commands handed out ---- */

static hd_command *held_find(const hd_commands *c, const char *id)
{
    sb_list *q;
    SB_LIST_FOREACH(q, &c->held)
    {
        hd_command *cmd = SB_LIST_DATA(q, hd_command, link);
        if (strcmp(cmd->id, id) == 0)
            return cmd;
    }
    return NULL;
}

static const redisReply *field_value(const redisReply *fields, const char *name)
{
    if (fields == NULL || fields->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(fields->element[i]->str, name) == 0 &&
            fields->element[i + 1]->type == REDIS_REPLY_STRING)
            return fields->element[i + 1];
    return NULL;
}

static hd_command *command_new(hd_commands *c, const char *id, const redisReply *fields)
{
    const redisReply *type = field_value(fields, "type");
    const redisReply *data = field_value(fields, "data");
    hd_command *cmd = calloc(1, sizeof *cmd);
    if (cmd == NULL)
        return NULL;
    cmd->owner = c;
    cmd->id = strdup(id);
    cmd->type = type != NULL ? strndup(type->str, type->len) : NULL;
    if (cmd->id == NULL || (type != NULL && cmd->type == NULL)) {
        free(cmd->id);
        free(cmd->type);
        free(cmd);
        return NULL;
    }
    if (data != NULL)
        cmd->data = json_loadb(data->str, data->len, 0, NULL);
    return cmd;
}

/* One [id, [field, value, ...]] entry to the application. Out of memory, or an entry
 * this node still holds (reclaimed from itself while slow): it stays pending. */
static void deliver_entry(hd_commands *c, const redisReply *e)
{
    if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || held_find(c, e->element[0]->str) != NULL)
        return;
    hd_command *cmd = command_new(c, e->element[0]->str, e->element[1]);
    if (cmd == NULL)
        return;
    sb_list_insert_head(&c->held, &cmd->link);
    c->n_held++;
    c->on_command(cmd, cmd->type, cmd->data, c->ud);
}

/* Entries read while closing are not handed out: they stay pending for another node. */
static void deliver_entries(hd_commands *c, const redisReply *entries)
{
    if (entries == NULL || entries->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < entries->elements && !c->closing; i++)
        deliver_entry(c, entries->element[i]);
}

static void command_release(hd_command *cmd)
{
    hd_commands *c = cmd->owner;
    sb_list_remove(&cmd->link);
    c->n_held--;
    free(cmd->id);
    free(cmd->type);
    json_decref(cmd->data);
    free(cmd);
    pump(c); /* reading pauses while HD_COMMANDS_MAX_HELD are held */
    maybe_finish(c);
}

static void on_ack_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                         void *ud)
{
    hd_commands *c = ud;
    (void)conn, (void)status, (void)reply, (void)errstr;
    c->acks_inflight--;
    maybe_finish(c);
}

void hd_command_ack(hd_command *cmd)
{
    hd_commands *c = cmd->owner;
    /* A lost ack leaves the entry pending: handled again after claim_idle_ms (commands.h). */
    if (rc_command(c->conn, on_ack_reply, c, "XACK %s %s %s", c->stream, HD_COMMANDS_GROUP,
                   cmd->id) == RC_OK)
        c->acks_inflight++;
    command_release(cmd);
}

void hd_command_retry(hd_command *cmd) { command_release(cmd); }

const char *hd_command_id(const hd_command *cmd) { return cmd->id; }

/* ---- reading ---- */

static void on_retry_timer(uv_timer_t *t) { pump(t->data); }

static void retry_later(hd_commands *c)
{
    if (!c->closing)
        uv_timer_start(&c->retry_timer, on_retry_timer, HD_COMMANDS_RETRY_MS, 0);
}

static void on_group_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                           void *ud)
{
    hd_commands *c = ud;
    (void)conn, (void)reply;
    c->reading = 0;
    if (status == RC_OK || (status == RC_ERR_REPLY && strncmp(errstr, "BUSYGROUP", 9) == 0)) {
        c->group_ready = 1;
        pump(c);
    } else {
        if (status == RC_ERR_REPLY)
            fprintf(stderr, "helpdesk commands: XGROUP CREATE %s: %s\n", c->stream, errstr);
        retry_later(c);
    }
    maybe_finish(c);
}

/* XREADGROUP answers [[stream, [entry, ...]]], or nil when BLOCK ran out. */
static void on_read_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                          void *ud)
{
    hd_commands *c = ud;
    (void)conn;
    c->reading = 0;
    if (status == RC_OK) {
        for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++)
            if (reply->element[i]->type == REDIS_REPLY_ARRAY && reply->element[i]->elements == 2)
                deliver_entries(c, reply->element[i]->element[1]);
        pump(c);
    } else {
        /* The group can vanish under a live connection (FLUSHALL, a Redis restarted empty). */
        if (status == RC_ERR_REPLY && strncmp(errstr, "NOGROUP", 7) == 0)
            c->group_ready = 0;
        retry_later(c);
    }
    maybe_finish(c);
}

static size_t batch_room(const hd_commands *c)
{
    size_t room = HD_COMMANDS_MAX_HELD - c->n_held;
    return room < HD_COMMANDS_BATCH ? room : HD_COMMANDS_BATCH;
}

static int send_read(hd_commands *c)
{
    char count[HD_COMMANDS_NUM_LEN], block[HD_COMMANDS_NUM_LEN];
    snprintf(count, sizeof count, "%zu", batch_room(c));
    snprintf(block, sizeof block, "%d", HD_COMMANDS_BLOCK_MS);
    return rc_command(c->conn, on_read_reply, c,
                      "XREADGROUP GROUP %s %s COUNT %s BLOCK %s STREAMS %s >", HD_COMMANDS_GROUP,
                      c->consumer, count, block, c->stream);
}

static void pump(hd_commands *c)
{
    if (c->closing || c->reading || c->n_held >= HD_COMMANDS_MAX_HELD || !rc_ready(c->conn))
        return;
    c->reading = 1;
    int rc = c->group_ready
                 ? send_read(c)
                 : rc_command(c->conn, on_group_reply, c, "XGROUP CREATE %s %s 0 MKSTREAM",
                              c->stream, HD_COMMANDS_GROUP);
    if (rc != RC_OK) {
        c->reading = 0;
        retry_later(c);
    }
}

static void on_conn_state(rc_conn *conn, int ready, void *ud)
{
    (void)conn;
    if (ready)
        pump(ud);
}

/* ---- reclaiming ---- */

/* XAUTOCLAIM answers [next cursor, [entry, ...], [deleted id, ...]] (Redis 7). */
static void on_claim_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                           void *ud)
{
    hd_commands *c = ud;
    (void)conn;
    c->claiming = 0;
    if (status == RC_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING) {
        snprintf(c->cursor, sizeof c->cursor, "%s", reply->element[0]->str);
        c->claim_failed = 0;
        deliver_entries(c, reply->element[1]);
    } else if (status == RC_ERR_REPLY && !c->claim_failed) {
        c->claim_failed = 1; /* say it once, not every tick */
        fprintf(stderr, "helpdesk commands: XAUTOCLAIM %s: %s\n", c->stream, errstr);
    }
    maybe_finish(c);
}

static void on_claim_timer(uv_timer_t *t)
{
    hd_commands *c = t->data;
    if (c->closing || c->claiming || !c->group_ready || c->n_held >= HD_COMMANDS_MAX_HELD ||
        !rc_ready(c->conn))
        return;
    char idle[HD_COMMANDS_NUM_LEN], count[HD_COMMANDS_NUM_LEN];
    snprintf(idle, sizeof idle, "%u", (unsigned)c->claim_idle_ms);
    snprintf(count, sizeof count, "%zu", batch_room(c));
    if (rc_command(c->conn, on_claim_reply, c, "XAUTOCLAIM %s %s %s %s %s COUNT %s", c->stream,
                   HD_COMMANDS_GROUP, c->consumer, idle, c->cursor, count) == RC_OK)
        c->claiming = 1;
}

/* ---- life cycle ---- */

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s != NULL) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

hd_commands *hd_commands_new(uv_loop_t *loop, const hd_commands_config *cfg, char *err,
                             size_t errlen)
{
    hd_commands *c = calloc(1, sizeof *c);
    if (c != NULL) {
        c->stream = concat(cfg->prefix != NULL ? cfg->prefix : HD_COMMANDS_DEFAULT_PREFIX,
                           HD_COMMANDS_STREAM);
        c->consumer = strdup(cfg->node_id != NULL ? cfg->node_id : "node");
    }
    if (c == NULL || c->stream == NULL || c->consumer == NULL) {
        if (c != NULL)
            consumer_free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->claim_idle_ms =
        cfg->claim_idle_ms != 0 ? cfg->claim_idle_ms : HD_COMMANDS_DEFAULT_CLAIM_IDLE_MS;
    snprintf(c->cursor, sizeof c->cursor, "0-0");
    sb_list_init(&c->held);
    c->on_command = cfg->on_command;
    c->ud = cfg->ud;
    rc_config rc;
    rc_config_init(&rc, cfg->url);
    rc.command_timeout_ms = HD_COMMANDS_BLOCK_MS + HD_COMMANDS_TIMEOUT_MARGIN_MS;
    rc.on_state = on_conn_state;
    rc.ud = c;
    c->conn = rc_conn_new(loop, &rc, err, errlen);
    if (c->conn == NULL) {
        consumer_free(c);
        return NULL;
    }
    uint32_t every =
        cfg->claim_every_ms != 0 ? cfg->claim_every_ms : HD_COMMANDS_DEFAULT_CLAIM_EVERY_MS;
    uv_timer_init(loop, &c->claim_timer);
    c->claim_timer.data = c;
    uv_timer_start(&c->claim_timer, on_claim_timer, every, every);
    uv_timer_init(loop, &c->retry_timer);
    c->retry_timer.data = c;
    return c;
}

int hd_commands_ready(const char **reason, void *ud)
{
    hd_commands *c = ud;
    if (!c->closing && rc_ready(c->conn))
        return 1;
    *reason = "redis unavailable";
    return 0;
}

void hd_commands_close(hd_commands *c, void (*done)(void *ud), void *ud)
{
    if (c == NULL || c->closing)
        return;
    c->closing = 1;
    c->done = done;
    c->done_ud = ud;
    sb_countdown_start(&c->closed, on_closed, c);
    sb_countdown_close(&c->closed, (uv_handle_t *)&c->claim_timer);
    sb_countdown_close(&c->closed, (uv_handle_t *)&c->retry_timer);
    maybe_finish(c);
}
