/* webhook_redis.c: the webhooks' Redis feed (see webhook_redis.h).
 *
 * One read at a time is in flight (XGROUP CREATE until the group exists, then, in each
 * term of holding the lease, XAUTOCLAIM batches until the cursor comes back 0-0, then
 * XREADGROUP ... BLOCK); one lease command at a time (SET NX PX, or the renewal script).
 * A reply from an earlier term (the lease was lost meanwhile) hands nothing to the engine:
 * its entries stay pending for the next deliverer. Failures wait HD_WHR_RETRY_MS.
 */
#include "webhook_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "countdown.h"
#include "redis_conn.h"

#define HD_WHR_DEFAULT_PREFIX "hd:"
#define HD_WHR_RETRY_MS       1000
#define HD_WHR_TIMEOUT_MARGIN 5000 /* the connection's command timeout: block + this */
#define HD_WHR_BATCH          64
#define HD_WHR_NUM_LEN        24
#define HD_WHR_CURSOR_MAX     64

/* Renews the lease only while it is still this node's. */
static const char renew_script[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
/* Gives the lease back only while it is still this node's. */
static const char release_script[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end";

struct hd_whr {
    uv_loop_t *loop;
    rc_conn *conn;
    hd_whq *q;
    char *stream;
    char *lease_key;
    char *consumer;
    uint32_t lease_ms;
    size_t max_held;
    uv_timer_t lease_timer;
    uv_timer_t retry_timer;
    int leader;
    uint64_t term;        /* grows at every taking and losing of the lease */
    uint64_t lease_until; /* loop time the lease may expire (from when it was last sent) */
    uint64_t lease_sent;
    int lease_op;    /* SET or renewal in flight */
    int group_ready; /* the group exists */
    int claimed;     /* this term: every entry pending at the start is claimed */
    char cursor[HD_WHR_CURSOR_MAX];
    int reading; /* XGROUP CREATE, XAUTOCLAIM or XREADGROUP in flight */
    uint64_t read_term;
    size_t ops_inflight; /* XACKs and the release */
    int closing;
    int conn_closing;
    sb_countdown closed;
    void (*done)(void *ud);
    void *done_ud;
};

static void pump(hd_whr *r);

/* ---- closing ---- */

static void whr_free(hd_whr *r)
{
    free(r->stream);
    free(r->lease_key);
    free(r->consumer);
    free(r);
}

static void on_closed(void *ud)
{
    hd_whr *r = ud;
    void (*done)(void *) = r->done;
    void *done_ud = r->done_ud;
    whr_free(r);
    if (done != NULL)
        done(done_ud);
}

static void maybe_finish(hd_whr *r)
{
    if (!r->closing || r->conn_closing || r->reading || r->lease_op || r->ops_inflight > 0)
        return;
    r->conn_closing = 1;
    sb_countdown_add(&r->closed);
    rc_close(r->conn, sb_countdown_done, &r->closed);
    sb_countdown_done(&r->closed); /* every close has started */
}

static void on_op_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                        void *ud)
{
    hd_whr *r = ud;
    (void)conn, (void)status, (void)reply, (void)errstr;
    r->ops_inflight--;
    maybe_finish(r);
}

static void release_lease(hd_whr *r)
{
    if (rc_command(r->conn, on_op_reply, r, "EVAL %s 1 %s %s", release_script, r->lease_key,
                   r->consumer) == RC_OK)
        r->ops_inflight++;
}

/* ---- the lease ---- */

static void step_down(hd_whr *r, const char *why)
{
    if (!r->leader)
        return;
    r->leader = 0;
    r->term++;
    hd_whq_clear(r->q); /* the un-acked entries stay pending in the group */
    if (!r->closing)
        fprintf(stderr, "helpdesk webhooks: this node stops delivering (%s)\n", why);
}

static void take_lease(hd_whr *r)
{
    r->leader = 1;
    r->term++;
    r->lease_until = r->lease_sent + r->lease_ms;
    r->claimed = 0;
    snprintf(r->cursor, sizeof r->cursor, "0-0");
    fprintf(stderr, "helpdesk webhooks: this node delivers the events (%s, group %s)\n", r->stream,
            HD_WEBHOOKS_GROUP);
    pump(r);
}

static void on_set_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                         void *ud)
{
    hd_whr *r = ud;
    (void)conn, (void)errstr;
    r->lease_op = 0;
    int taken = status == RC_OK && reply->type == REDIS_REPLY_STATUS;
    if (taken && r->closing)
        release_lease(r); /* taken while closing: given back at once */
    else if (taken)
        take_lease(r);
    maybe_finish(r);
}

static void on_renew_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                           void *ud)
{
    hd_whr *r = ud;
    (void)conn, (void)errstr;
    r->lease_op = 0;
    if (r->leader && status == RC_OK && reply->type == REDIS_REPLY_INTEGER) {
        if (reply->integer == 1)
            r->lease_until = r->lease_sent + r->lease_ms;
        else
            step_down(r, "another node holds the lease");
    }
    maybe_finish(r);
}

static void on_lease_timer(uv_timer_t *t)
{
    hd_whr *r = t->data;
    uint64_t now = uv_now(r->loop);
    if (r->closing)
        return;
    if (r->leader && now + r->lease_ms / 5 >= r->lease_until)
        step_down(r, "the lease could not be renewed in time");
    if (r->lease_op || !rc_ready(r->conn))
        return;
    char ttl[HD_WHR_NUM_LEN];
    snprintf(ttl, sizeof ttl, "%u", (unsigned)r->lease_ms);
    r->lease_sent = now;
    int rc = r->leader ? rc_command(r->conn, on_renew_reply, r, "EVAL %s 1 %s %s %s", renew_script,
                                    r->lease_key, r->consumer, ttl)
                       : rc_command(r->conn, on_set_reply, r, "SET %s %s NX PX %s", r->lease_key,
                                    r->consumer, ttl);
    if (rc == RC_OK)
        r->lease_op = 1;
}

/* ---- reading ---- */

static void on_retry_timer(uv_timer_t *t) { pump(t->data); }

static void retry_later(hd_whr *r)
{
    if (!r->closing)
        uv_timer_start(&r->retry_timer, on_retry_timer, HD_WHR_RETRY_MS, 0);
}

static void on_ack_done(const char *id, void *ud)
{
    hd_whr *r = ud;
    if (rc_command(r->conn, on_op_reply, r, "XACK %s %s %s", r->stream, HD_WEBHOOKS_GROUP, id) ==
        RC_OK)
        r->ops_inflight++;
    /* a lost ack leaves the entry pending: delivered again after a takeover (at least once) */
    pump(r); /* reading pauses at max_held */
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

/* [id, [field, value, ...]] to the engine; 0, or -1 when the engine could not take it. */
static int push_entry(hd_whr *r, const redisReply *e)
{
    if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    const char *id = e->element[0]->str;
    if (e->element[1]->type != REDIS_REPLY_ARRAY) { /* deleted from the stream: nothing to send */
        on_ack_done(id, r);
        return 0;
    }
    const redisReply *type = field_value(e->element[1], "type");
    const redisReply *data = field_value(e->element[1], "data");
    int64_t created = strtoll(id, NULL, 10); /* a stream id starts with its ms */
    return hd_whq_push(r->q, id, created, type ? type->str : "", type ? type->len : 0,
                       data ? data->str : "null", data ? data->len : 4);
}

static void push_entries(hd_whr *r, const redisReply *entries)
{
    if (entries == NULL || entries->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < entries->elements && r->leader; i++)
        if (push_entry(r, entries->element[i]) != 0)
            step_down(r, "out of memory"); /* the entries stay pending: claimed next term */
}

/* 1 when a reply belongs to the current term of holding the lease. */
static int current(const hd_whr *r) { return r->leader && !r->closing && r->read_term == r->term; }

static void on_group_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                           void *ud)
{
    hd_whr *r = ud;
    (void)conn, (void)reply;
    r->reading = 0;
    if (status == RC_OK || (status == RC_ERR_REPLY && strncmp(errstr, "BUSYGROUP", 9) == 0)) {
        r->group_ready = 1;
        pump(r);
    } else {
        if (status == RC_ERR_REPLY)
            fprintf(stderr, "helpdesk webhooks: XGROUP CREATE %s: %s\n", r->stream, errstr);
        retry_later(r);
    }
    maybe_finish(r);
}

/* XAUTOCLAIM answers [next cursor, [entry, ...], [deleted id, ...]]. */
static void on_claim_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                           void *ud)
{
    hd_whr *r = ud;
    (void)conn;
    r->reading = 0;
    if (status == RC_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING) {
        if (current(r)) {
            push_entries(r, reply->element[1]);
            snprintf(r->cursor, sizeof r->cursor, "%s", reply->element[0]->str);
            if (strcmp(r->cursor, "0-0") == 0)
                r->claimed = 1;
        }
        pump(r);
    } else {
        if (status == RC_ERR_REPLY) {
            fprintf(stderr, "helpdesk webhooks: XAUTOCLAIM %s: %s\n", r->stream, errstr);
            if (strncmp(errstr, "NOGROUP", 7) == 0)
                r->group_ready = 0;
        }
        retry_later(r);
    }
    maybe_finish(r);
}

/* XREADGROUP answers [[stream, [entry, ...]]], or nil when BLOCK ran out. */
static void on_read_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                          void *ud)
{
    hd_whr *r = ud;
    (void)conn;
    r->reading = 0;
    if (status == RC_OK) {
        for (size_t i = 0; current(r) && reply->type == REDIS_REPLY_ARRAY && i < reply->elements;
             i++)
            if (reply->element[i]->type == REDIS_REPLY_ARRAY && reply->element[i]->elements == 2)
                push_entries(r, reply->element[i]->element[1]);
        pump(r);
    } else {
        /* the group can vanish under a live connection (FLUSHALL, a Redis restarted empty) */
        if (status == RC_ERR_REPLY && strncmp(errstr, "NOGROUP", 7) == 0)
            r->group_ready = 0;
        retry_later(r);
    }
    maybe_finish(r);
}

static void pump(hd_whr *r)
{
    if (r->closing || !r->leader || r->reading || !rc_ready(r->conn))
        return;
    size_t held = hd_whq_count(r->q);
    if (held >= r->max_held)
        return; /* an ack calls again */
    size_t room = r->max_held - held;
    char count[HD_WHR_NUM_LEN], block[HD_WHR_NUM_LEN];
    snprintf(count, sizeof count, "%zu", room < HD_WHR_BATCH ? room : HD_WHR_BATCH);
    snprintf(block, sizeof block, "%d", HD_WHR_BLOCK_MS);
    r->reading = 1;
    r->read_term = r->term;
    int rc;
    if (!r->group_ready)
        rc = rc_command(r->conn, on_group_reply, r, "XGROUP CREATE %s %s $ MKSTREAM", r->stream,
                        HD_WEBHOOKS_GROUP);
    else if (!r->claimed)
        rc = rc_command(r->conn, on_claim_reply, r, "XAUTOCLAIM %s %s %s 0 %s COUNT %s", r->stream,
                        HD_WEBHOOKS_GROUP, r->consumer, r->cursor, count);
    else
        rc = rc_command(r->conn, on_read_reply, r,
                        "XREADGROUP GROUP %s %s COUNT %s BLOCK %s STREAMS %s >", HD_WEBHOOKS_GROUP,
                        r->consumer, count, block, r->stream);
    if (rc != RC_OK) {
        r->reading = 0;
        retry_later(r);
    }
}

static void on_conn_state(rc_conn *conn, int ready, void *ud)
{
    hd_whr *r = ud;
    (void)conn;
    if (ready && !r->closing) {
        on_lease_timer(&r->lease_timer);
        pump(r);
    }
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

hd_whr *hd_whr_new(uv_loop_t *loop, const hd_whr_config *cfg, const hd_whq_config *qcfg, char *err,
                   size_t errlen)
{
    const char *prefix = cfg->prefix != NULL ? cfg->prefix : HD_WHR_DEFAULT_PREFIX;
    hd_whr *r = calloc(1, sizeof *r);
    if (r != NULL) {
        r->stream = concat(prefix, "events");
        r->lease_key = concat(prefix, HD_WHR_LEASE_KEY);
        r->consumer = strdup(cfg->node_id != NULL ? cfg->node_id : "node");
    }
    if (r == NULL || r->stream == NULL || r->lease_key == NULL || r->consumer == NULL) {
        if (r != NULL)
            whr_free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->loop = loop;
    r->lease_ms = cfg->lease_ms ? cfg->lease_ms : HD_WHR_DEFAULT_LEASE_MS;
    r->max_held = cfg->max_held ? cfg->max_held : 1;
    hd_whq_config q = *qcfg;
    q.on_done = on_ack_done;
    q.ud = r;
    r->q = hd_whq_new(loop, &q, err, errlen);
    if (r->q == NULL) {
        whr_free(r);
        return NULL;
    }
    rc_config rc;
    rc_config_init(&rc, cfg->url);
    rc.command_timeout_ms = HD_WHR_BLOCK_MS + HD_WHR_TIMEOUT_MARGIN;
    rc.on_state = on_conn_state;
    rc.ud = r;
    r->conn = rc_conn_new(loop, &rc, err, errlen);
    if (r->conn == NULL) {
        hd_whq_close(r->q, NULL, NULL);
        whr_free(r);
        return NULL;
    }
    uv_timer_init(loop, &r->lease_timer);
    r->lease_timer.data = r;
    uint32_t every = r->lease_ms / 3 ? r->lease_ms / 3 : 1;
    uv_timer_start(&r->lease_timer, on_lease_timer, every, every);
    uv_timer_init(loop, &r->retry_timer);
    r->retry_timer.data = r;
    return r;
}

void hd_whr_close(hd_whr *r, void (*done)(void *ud), void *ud)
{
    if (r == NULL || r->closing)
        return;
    int was_leader = r->leader;
    r->closing = 1;
    step_down(r, "closing");
    r->done = done;
    r->done_ud = ud;
    if (was_leader)
        release_lease(r);
    sb_countdown_start(&r->closed, on_closed, r);
    sb_countdown_add(&r->closed);
    hd_whq_close(r->q, sb_countdown_done, &r->closed);
    sb_countdown_close(&r->closed, (uv_handle_t *)&r->lease_timer);
    sb_countdown_close(&r->closed, (uv_handle_t *)&r->retry_timer);
    maybe_finish(r);
}
