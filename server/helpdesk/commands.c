/* commands.c: the hd:commands consumer (see commands.h).
 *
 * The group is read through stream_group.h: one read at a time is in flight, XGROUP
 * CREATE until the group is known to exist, then XREADGROUP ... BLOCK, sent again as soon
 * as the previous one answers. A timer runs XAUTOCLAIM every claim_every_ms, continuing
 * from the cursor Redis returned, so the whole pending list is walked a batch per tick.
 * Failures wait HD_SG_RETRY_MS, or for the connection to come back, before the next try:
 * nothing here spins.
 */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "stream_group.h"

#define HD_COMMANDS_DEFAULT_PREFIX "hd:"
#define HD_COMMANDS_BLOCK_MS       1000 /* longest XREADGROUP wait */

struct hd_command {
    hd_commands *owner;
    sb_list link; /* in the owner's held list */
    char *id;
    char *type;
    json_t *data;
};

struct hd_commands {
    hd_stream_group sg; /* the connection, the group, the one read, the acks, closing */
    uint32_t claim_idle_ms;
    char cursor[HD_SG_CURSOR_MAX]; /* where the next XAUTOCLAIM starts */
    hd_command_cb on_command;
    void *ud;
    uv_timer_t claim_timer;
    int claiming;     /* XAUTOCLAIM in flight */
    int claim_failed; /* the last XAUTOCLAIM failed: logged once per run of failures */
    sb_list held;     /* handed out, not yet acked or retried (hd_command.link) */
    size_t n_held;
    void (*done)(void *ud);
    void *done_ud;
};

static void pump(void *ud);

/* ---- closing ---- */

/* The timers and the connection have all closed. */
static void on_closed(void *ud)
{
    hd_commands *c = ud;
    void (*done)(void *) = c->done;
    void *done_ud = c->done_ud;
    hd_sg_free(&c->sg);
    free(c);
    if (done != NULL)
        done(done_ud);
}

/* The connection stays while a command is held (its ack needs the connection) or a claim
 * is in flight. */
static int busy(void *ud)
{
    const hd_commands *c = ud;
    return c->n_held > 0 || c->claiming;
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

static hd_command *command_new(hd_commands *c, const hd_stream_entry *e)
{
    hd_command *cmd = calloc(1, sizeof *cmd);
    if (cmd == NULL)
        return NULL;
    cmd->owner = c;
    cmd->id = strdup(e->id);
    cmd->type = e->type != NULL ? strndup(e->type->str, e->type->len) : NULL;
    if (cmd->id == NULL || (e->type != NULL && cmd->type == NULL)) {
        free(cmd->id);
        free(cmd->type);
        free(cmd);
        return NULL;
    }
    if (e->data != NULL)
        cmd->data = json_loadb(e->data->str, e->data->len, 0, NULL);
    return cmd;
}

/* One entry to the application. Out of memory, or an entry this node still holds
 * (reclaimed from itself while slow): it stays pending. Entries read while closing are
 * not handed out: they stay pending for another node. */
static int deliver_entry(const hd_stream_entry *e, void *ud)
{
    hd_commands *c = ud;
    if (c->sg.closing)
        return 1;
    if (held_find(c, e->id) != NULL)
        return 0;
    hd_command *cmd = command_new(c, e);
    if (cmd == NULL)
        return 0;
    sb_list_insert_head(&c->held, &cmd->link);
    c->n_held++;
    c->on_command(cmd, cmd->type, cmd->data, c->ud);
    return 0;
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
    hd_sg_maybe_close(&c->sg);
}

void hd_command_ack(hd_command *cmd)
{
    /* A lost ack leaves the entry pending: handled again after claim_idle_ms (commands.h). */
    hd_sg_ack(&cmd->owner->sg, cmd->id);
    command_release(cmd);
}

void hd_command_retry(hd_command *cmd) { command_release(cmd); }

const char *hd_command_id(const hd_command *cmd) { return cmd->id; }

/* ---- reading ---- */

static size_t batch_room(const hd_commands *c) { return HD_COMMANDS_MAX_HELD - c->n_held; }

static int send_read(void *ud)
{
    hd_commands *c = ud;
    return hd_sg_read(&c->sg, batch_room(c));
}

static void pump(void *ud)
{
    hd_commands *c = ud;
    if (c->n_held < HD_COMMANDS_MAX_HELD)
        hd_sg_pump(&c->sg);
}

/* ---- reclaiming ---- */

static void on_claim_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                           void *ud)
{
    hd_commands *c = ud;
    const char *cursor;
    const redisReply *entries;
    (void)conn;
    c->claiming = 0;
    if (status == RC_OK && hd_stream_claimed(reply, &cursor, &entries) == 0) {
        snprintf(c->cursor, sizeof c->cursor, "%s", cursor);
        c->claim_failed = 0;
        hd_stream_entries(entries, deliver_entry, c);
    } else if (status == RC_ERR_REPLY && !c->claim_failed) {
        c->claim_failed = 1; /* say it once, not every tick */
        fprintf(stderr, "helpdesk commands: XAUTOCLAIM %s: %s\n", c->sg.stream, errstr);
    }
    hd_sg_maybe_close(&c->sg);
}

static void on_claim_timer(uv_timer_t *t)
{
    hd_commands *c = t->data;
    if (c->sg.closing || c->claiming || !c->sg.group_ready || c->n_held >= HD_COMMANDS_MAX_HELD ||
        !rc_ready(c->sg.conn))
        return;
    if (hd_sg_claim(&c->sg, c->claim_idle_ms, c->cursor, batch_room(c), on_claim_reply, c) == RC_OK)
        c->claiming = 1;
}

/* ---- life cycle ---- */

hd_commands *hd_commands_new(uv_loop_t *loop, const hd_commands_config *cfg, char *err,
                             size_t errlen)
{
    hd_commands *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    hd_stream_group_config g = {
        .url = cfg->url,
        .prefix = cfg->prefix != NULL ? cfg->prefix : HD_COMMANDS_DEFAULT_PREFIX,
        .stream = HD_COMMANDS_STREAM,
        .group = HD_COMMANDS_GROUP,
        .consumer = cfg->node_id != NULL ? cfg->node_id : "node",
        .start = "0",
        .log_name = "helpdesk commands",
        .block_ms = HD_COMMANDS_BLOCK_MS,
        .hooks = {.pump = pump,
                  .send_read = send_read,
                  .on_ready = pump,
                  .on_entry = deliver_entry,
                  .busy = busy,
                  .ud = c},
    };
    if (hd_sg_init(&c->sg, loop, &g, err, errlen) != 0) {
        free(c);
        return NULL;
    }
    c->claim_idle_ms =
        cfg->claim_idle_ms != 0 ? cfg->claim_idle_ms : HD_COMMANDS_DEFAULT_CLAIM_IDLE_MS;
    snprintf(c->cursor, sizeof c->cursor, "0-0");
    sb_list_init(&c->held);
    c->on_command = cfg->on_command;
    c->ud = cfg->ud;
    uint32_t every =
        cfg->claim_every_ms != 0 ? cfg->claim_every_ms : HD_COMMANDS_DEFAULT_CLAIM_EVERY_MS;
    uv_timer_init(loop, &c->claim_timer);
    c->claim_timer.data = c;
    uv_timer_start(&c->claim_timer, on_claim_timer, every, every);
    return c;
}

int hd_commands_ready(const char **reason, void *ud)
{
    hd_commands *c = ud;
    if (!c->sg.closing && rc_ready(c->sg.conn))
        return 1;
    *reason = "redis unavailable";
    return 0;
}

void hd_commands_close(hd_commands *c, void (*done)(void *ud), void *ud)
{
    if (c == NULL || c->sg.closing)
        return;
    c->done = done;
    c->done_ud = ud;
    hd_sg_close(&c->sg, on_closed, c);
    sb_countdown_close(&c->sg.closed, (uv_handle_t *)&c->claim_timer);
    hd_sg_maybe_close(&c->sg);
}
