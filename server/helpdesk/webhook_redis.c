/* webhook_redis.c: the webhooks' Redis feed (see webhook_redis.h).
 *
 * The group is read through stream_group.h: one read at a time is in flight (XGROUP
 * CREATE until the group exists, then, in each term of holding the lease, XAUTOCLAIM
 * batches until the cursor comes back 0-0, then XREADGROUP ... BLOCK); one lease command
 * at a time (SET NX PX, or the renewal script). A reply from an earlier term (the lease
 * was lost meanwhile) hands nothing to the engine: its entries stay pending for the next
 * deliverer. Failures wait HD_SG_RETRY_MS.
 */
#include "webhook_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream_group.h"

#define HD_WHR_DEFAULT_PREFIX "hd:"
#define HD_WHR_NUM_LEN        24

/* Renews the lease only while it is still this node's. */
static const char renew_script[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
/* Gives the lease back only while it is still this node's. */
static const char release_script[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end";

struct hd_whr {
    hd_stream_group sg; /* the connection, the group, the one read, the acks, closing */
    uv_loop_t *loop;
    hd_whq *q;
    char *lease_key;
    uint32_t lease_ms;
    size_t max_held;
    uv_timer_t lease_timer;
    int leader;
    uint64_t term;        /* grows at every taking and losing of the lease */
    uint64_t lease_until; /* loop time the lease may expire (from when it was last sent) */
    uint64_t lease_sent;
    int lease_op; /* SET or renewal in flight */
    int claimed;  /* this term: every entry pending at the start is claimed */
    char cursor[HD_SG_CURSOR_MAX];
    uint64_t read_term;  /* the term the read in flight was sent in */
    size_t ops_inflight; /* the release */
    void (*done)(void *ud);
    void *done_ud;
};

static void pump(void *ud);

/* ---- closing ---- */

static void whr_free(hd_whr *r)
{
    free(r->lease_key);
    free(r);
}

static void on_closed(void *ud)
{
    hd_whr *r = ud;
    void (*done)(void *) = r->done;
    void *done_ud = r->done_ud;
    hd_sg_free(&r->sg);
    whr_free(r);
    if (done != NULL)
        done(done_ud);
}

/* The connection stays while a lease command or the release is unanswered. */
static int busy(void *ud)
{
    const hd_whr *r = ud;
    return r->lease_op || r->ops_inflight > 0;
}

static void on_op_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                        void *ud)
{
    hd_whr *r = ud;
    (void)conn, (void)status, (void)reply, (void)errstr;
    r->ops_inflight--;
    hd_sg_maybe_close(&r->sg);
}

static void release_lease(hd_whr *r)
{
    if (rc_command(r->sg.conn, on_op_reply, r, "EVAL %s 1 %s %s", release_script, r->lease_key,
                   r->sg.consumer) == RC_OK)
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
    if (!r->sg.closing)
        fprintf(stderr, "helpdesk webhooks: this node stops delivering (%s)\n", why);
}

static void take_lease(hd_whr *r)
{
    r->leader = 1;
    r->term++;
    r->lease_until = r->lease_sent + r->lease_ms;
    r->claimed = 0;
    snprintf(r->cursor, sizeof r->cursor, "0-0");
    fprintf(stderr, "helpdesk webhooks: this node delivers the events (%s, group %s)\n",
            r->sg.stream, HD_WEBHOOKS_GROUP);
    pump(r);
}

static void on_set_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                         void *ud)
{
    hd_whr *r = ud;
    (void)conn, (void)errstr;
    r->lease_op = 0;
    int taken = status == RC_OK && reply->type == REDIS_REPLY_STATUS;
    if (taken && r->sg.closing)
        release_lease(r); /* taken while closing: given back at once */
    else if (taken)
        take_lease(r);
    hd_sg_maybe_close(&r->sg);
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
    hd_sg_maybe_close(&r->sg);
}

static void on_lease_timer(uv_timer_t *t)
{
    hd_whr *r = t->data;
    uint64_t now = uv_now(r->loop);
    if (r->sg.closing)
        return;
    if (r->leader && now + r->lease_ms / 5 >= r->lease_until)
        step_down(r, "the lease could not be renewed in time");
    if (r->lease_op || !rc_ready(r->sg.conn))
        return;
    char ttl[HD_WHR_NUM_LEN];
    snprintf(ttl, sizeof ttl, "%u", (unsigned)r->lease_ms);
    r->lease_sent = now;
    int rc = r->leader ? rc_command(r->sg.conn, on_renew_reply, r, "EVAL %s 1 %s %s %s",
                                    renew_script, r->lease_key, r->sg.consumer, ttl)
                       : rc_command(r->sg.conn, on_set_reply, r, "SET %s %s NX PX %s", r->lease_key,
                                    r->sg.consumer, ttl);
    if (rc == RC_OK)
        r->lease_op = 1;
}

/* ---- reading ---- */

static void on_ack_done(const char *id, void *ud)
{
    hd_whr *r = ud;
    /* a lost ack leaves the entry pending: delivered again after a takeover (at least once) */
    hd_sg_ack(&r->sg, id);
    pump(r); /* reading pauses at max_held */
}

/* 1 when a reply belongs to the current term of holding the lease. */
static int current(const hd_whr *r)
{
    return r->leader && !r->sg.closing && r->read_term == r->term;
}

/* An entry to the engine, while the reply is of the current term. */
static int push_entry(const hd_stream_entry *e, void *ud)
{
    hd_whr *r = ud;
    if (!current(r))
        return 1;
    if (e->deleted) { /* deleted from the stream: nothing to send */
        on_ack_done(e->id, r);
        return 0;
    }
    int64_t created = strtoll(e->id, NULL, 10); /* a stream id starts with its ms */
    if (hd_whq_push(r->q, e->id, created, e->type ? e->type->str : "", e->type ? e->type->len : 0,
                    e->data ? e->data->str : "null", e->data ? e->data->len : 4) != 0)
        step_down(r, "out of memory"); /* the entries stay pending: claimed next term */
    return 0;
}

static void on_claim_reply(rc_conn *conn, int status, const redisReply *reply, const char *errstr,
                           void *ud)
{
    hd_whr *r = ud;
    const char *cursor;
    const redisReply *entries;
    (void)conn;
    r->sg.reading = 0;
    if (status == RC_OK && hd_stream_claimed(reply, &cursor, &entries) == 0) {
        if (current(r)) {
            hd_stream_entries(entries, push_entry, r);
            snprintf(r->cursor, sizeof r->cursor, "%s", cursor);
            if (strcmp(r->cursor, "0-0") == 0)
                r->claimed = 1;
        }
        pump(r);
    } else {
        if (status == RC_ERR_REPLY)
            fprintf(stderr, "helpdesk webhooks: XAUTOCLAIM %s: %s\n", r->sg.stream, errstr);
        hd_sg_read_failed(&r->sg, status, errstr);
    }
    hd_sg_maybe_close(&r->sg);
}

/* Every pending entry first, oldest first (idle time 0: nobody else holds the lease), then
 * new ones. */
static int send_read(void *ud)
{
    hd_whr *r = ud;
    size_t room = r->max_held - hd_whq_count(r->q);
    r->read_term = r->term;
    if (!r->claimed)
        return hd_sg_claim(&r->sg, 0, r->cursor, room, on_claim_reply, r);
    return hd_sg_read(&r->sg, room);
}

static void pump(void *ud)
{
    hd_whr *r = ud;
    if (r->leader && hd_whq_count(r->q) < r->max_held) /* else an ack calls again */
        hd_sg_pump(&r->sg);
}

static void on_ready(void *ud)
{
    hd_whr *r = ud;
    on_lease_timer(&r->lease_timer);
    pump(r);
}

/* ---- life cycle ---- */

hd_whr *hd_whr_new(uv_loop_t *loop, const hd_whr_config *cfg, const hd_whq_config *qcfg, char *err,
                   size_t errlen)
{
    const char *prefix = cfg->prefix != NULL ? cfg->prefix : HD_WHR_DEFAULT_PREFIX;
    hd_whr *r = calloc(1, sizeof *r);
    if (r != NULL)
        r->lease_key = hd_stream_key(prefix, HD_WHR_LEASE_KEY);
    if (r == NULL || r->lease_key == NULL) {
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
    hd_stream_group_config g = {
        .url = cfg->url,
        .prefix = prefix,
        .stream = "events",
        .group = HD_WEBHOOKS_GROUP,
        .consumer = cfg->node_id != NULL ? cfg->node_id : "node",
        .start = "$",
        .log_name = "helpdesk webhooks",
        .block_ms = HD_WHR_BLOCK_MS,
        .hooks = {.pump = pump,
                  .send_read = send_read,
                  .on_ready = on_ready,
                  .on_entry = push_entry,
                  .busy = busy,
                  .ud = r},
    };
    if (hd_sg_init(&r->sg, loop, &g, err, errlen) != 0) {
        hd_whq_close(r->q, NULL, NULL);
        whr_free(r);
        return NULL;
    }
    uv_timer_init(loop, &r->lease_timer);
    r->lease_timer.data = r;
    uint32_t every = r->lease_ms / 3 ? r->lease_ms / 3 : 1;
    uv_timer_start(&r->lease_timer, on_lease_timer, every, every);
    return r;
}

void hd_whr_close(hd_whr *r, void (*done)(void *ud), void *ud)
{
    if (r == NULL || r->sg.closing)
        return;
    int was_leader = r->leader;
    r->done = done;
    r->done_ud = ud;
    hd_sg_close(&r->sg, on_closed, r);
    step_down(r, "closing");
    if (was_leader)
        release_lease(r);
    sb_countdown_add(&r->sg.closed);
    hd_whq_close(r->q, sb_countdown_done, &r->sg.closed);
    sb_countdown_close(&r->sg.closed, (uv_handle_t *)&r->lease_timer);
    hd_sg_maybe_close(&r->sg);
}
