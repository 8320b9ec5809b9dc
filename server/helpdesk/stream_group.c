/* stream_group.c: a Redis stream read as one consumer of a consumer group (see
 * stream_group.h). */
#include "stream_group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HD_SG_NUM_LEN 24

/* ---- replies ---- */

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

int hd_stream_entries(const redisReply *entries, hd_stream_entry_cb cb, void *ud)
{
    if (entries == NULL || entries->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        const redisReply *fields = e->element[1];
        hd_stream_entry entry = {.id = e->element[0]->str,
                                 .deleted = fields->type != REDIS_REPLY_ARRAY,
                                 .type = field_value(fields, "type"),
                                 .data = field_value(fields, "data")};
        int stop = cb(&entry, ud);
        if (stop != 0)
            return stop;
    }
    return 0;
}

int hd_stream_claimed(const redisReply *reply, const char **cursor, const redisReply **entries)
{
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return -1;
    *cursor = reply->element[0]->str;
    *entries = reply->element[1];
    return 0;
}

char *hd_stream_key(const char *prefix, const char *name)
{
    size_t lp = strlen(prefix), ln = strlen(name);
    char *s = malloc(lp + ln + 1);
    if (s != NULL) {
        memcpy(s, prefix, lp);
        memcpy(s + lp, name, ln + 1);
    }
    return s;
}

/* ---- closing ---- */

void hd_sg_close(hd_stream_group *g, sb_countdown_cb closed, void *ud)
{
    g->closing = 1;
    sb_countdown_start(&g->closed, closed, ud);
    sb_countdown_close(&g->closed, (uv_handle_t *)&g->retry_timer);
}

/* The connection closes once nothing depends on it: no read in flight, no ack unanswered
 * (hiredis drops unsent writes), nothing the owner waits for. */
void hd_sg_maybe_close(hd_stream_group *g)
{
    if (!g->closing || g->conn_closing || g->reading || g->acks > 0 || g->hooks.busy(g->hooks.ud))
        return;
    g->conn_closing = 1;
    sb_countdown_add(&g->closed);
    rc_close(g->conn, sb_countdown_done, &g->closed);
    sb_countdown_done(&g->closed); /* every close has started */
}

/* ---- reading ---- */

static void on_retry_timer(uv_timer_t *t)
{
    hd_stream_group *g = t->data;
    g->hooks.pump(g->hooks.ud);
}

static void retry_later(hd_stream_group *g)
{
    if (!g->closing)
        uv_timer_start(&g->retry_timer, on_retry_timer, HD_SG_RETRY_MS, 0);
}

/* The group can vanish under a live connection (FLUSHALL, a Redis restarted empty). */
void hd_sg_read_failed(hd_stream_group *g, int status, const char *errstr)
{
    if (status == RC_ERR_REPLY && strncmp(errstr, "NOGROUP", 7) == 0)
        g->group_ready = 0;
    retry_later(g);
}

static void on_group_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                           void *ud)
{
    hd_stream_group *g = ud;
    (void)conn, (void)reply;
    g->reading = 0;
    if (status == RC_OK || (status == RC_ERR_REPLY && strncmp(errstr, "BUSYGROUP", 9) == 0)) {
        g->group_ready = 1;
        g->hooks.pump(g->hooks.ud);
    } else {
        if (status == RC_ERR_REPLY)
            fprintf(stderr, "%s: XGROUP CREATE %s: %s\n", g->log_name, g->stream, errstr);
        retry_later(g);
    }
    hd_sg_maybe_close(g);
}

/* XREADGROUP answers [[stream, [entry, ...]]], or nil when BLOCK ran out. */
static void on_read_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                          void *ud)
{
    hd_stream_group *g = ud;
    (void)conn;
    g->reading = 0;
    if (status == RC_OK) {
        for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++)
            if (reply->element[i]->type == REDIS_REPLY_ARRAY && reply->element[i]->elements == 2 &&
                hd_stream_entries(reply->element[i]->element[1], g->hooks.on_entry, g->hooks.ud) !=
                    0)
                break;
        g->hooks.pump(g->hooks.ud);
    } else {
        hd_sg_read_failed(g, status, errstr);
    }
    hd_sg_maybe_close(g);
}

static size_t batch(size_t count) { return count < HD_SG_BATCH ? count : HD_SG_BATCH; }

int hd_sg_read(hd_stream_group *g, size_t count)
{
    char n[HD_SG_NUM_LEN], block[HD_SG_NUM_LEN];
    snprintf(n, sizeof n, "%zu", batch(count));
    snprintf(block, sizeof block, "%u", (unsigned)g->block_ms);
    return rc_command(g->conn, on_read_reply, g,
                      "XREADGROUP GROUP %s %s COUNT %s BLOCK %s STREAMS %s >", g->group,
                      g->consumer, n, block, g->stream);
}

int hd_sg_claim(hd_stream_group *g, uint32_t idle_ms, const char *cursor, size_t count,
                rc_reply_cb cb, void *ud)
{
    char idle[HD_SG_NUM_LEN], n[HD_SG_NUM_LEN];
    snprintf(idle, sizeof idle, "%u", (unsigned)idle_ms);
    snprintf(n, sizeof n, "%zu", batch(count));
    return rc_command(g->conn, cb, ud, "XAUTOCLAIM %s %s %s %s %s COUNT %s", g->stream, g->group,
                      g->consumer, idle, cursor, n);
}

void hd_sg_pump(hd_stream_group *g)
{
    if (g->closing || g->reading || !rc_ready(g->conn))
        return;
    g->reading = 1;
    int rc = g->group_ready
                 ? g->hooks.send_read(g->hooks.ud)
                 : rc_command(g->conn, on_group_reply, g, "XGROUP CREATE %s %s %s MKSTREAM",
                              g->stream, g->group, g->start);
    if (rc != RC_OK) {
        g->reading = 0;
        retry_later(g);
    }
}

/* ---- acks ---- */

static void on_ack_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                         void *ud)
{
    hd_stream_group *g = ud;
    (void)conn, (void)status, (void)reply, (void)errstr;
    g->acks--;
    hd_sg_maybe_close(g);
}

void hd_sg_ack(hd_stream_group *g, const char *id)
{
    if (rc_command(g->conn, on_ack_reply, g, "XACK %s %s %s", g->stream, g->group, id) == RC_OK)
        g->acks++;
}

/* ---- life cycle ---- */

static void on_conn_state(rc_conn *conn, int ready, void *ud)
{
    hd_stream_group *g = ud;
    (void)conn;
    if (ready && !g->closing)
        g->hooks.on_ready(g->hooks.ud);
}

void hd_sg_free(hd_stream_group *g)
{
    free(g->stream);
    free(g->consumer);
    g->stream = g->consumer = NULL;
}

int hd_sg_init(hd_stream_group *g, uv_loop_t *loop, const hd_stream_group_config *cfg, char *err,
               size_t errlen)
{
    memset(g, 0, sizeof *g);
    g->stream = hd_stream_key(cfg->prefix, cfg->stream);
    g->consumer = strdup(cfg->consumer);
    if (g->stream == NULL || g->consumer == NULL) {
        hd_sg_free(g);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    g->group = cfg->group;
    g->start = cfg->start;
    g->log_name = cfg->log_name;
    g->block_ms = cfg->block_ms;
    g->hooks = cfg->hooks;
    rc_config rc;
    rc_config_init(&rc, cfg->url);
    rc.command_timeout_ms = cfg->block_ms + HD_SG_TIMEOUT_MARGIN_MS;
    rc.on_state = on_conn_state;
    rc.ud = g;
    g->conn = rc_conn_new(loop, &rc, err, errlen);
    if (g->conn == NULL) {
        hd_sg_free(g);
        return -1;
    }
    uv_timer_init(loop, &g->retry_timer);
    g->retry_timer.data = g;
    return 0;
}
