/* webhooks.c: the webhooks (webhooks.h): the embedded feed, or the Redis one
 * (webhook_redis.h), in front of the delivery engine (webhook_queue.h). */
#include "webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook_queue.h"
#include "webhook_redis.h"

struct hd_webhooks {
    hd_whq *q;  /* embedded */
    hd_whr *r;  /* Redis */
    size_t max; /* embedded: events kept */
    int64_t last_ms;
    uint64_t n; /* events made in last_ms */
    int full_logged;
    hd_webhook_stats own; /* when the caller gives none */
    void (*done)(void *ud);
    void *done_ud;
};

hd_webhooks *hd_webhooks_new(uv_loop_t *loop, const hd_webhooks_config *cfg, char *err,
                             size_t errlen)
{
    hd_webhooks *w = calloc(1, sizeof *w);
    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->max = cfg->memory_max ? cfg->memory_max : HD_WEBHOOKS_DEFAULT_MEMORY_MAX;
    hd_whq_config q = {
        .urls = cfg->urls,
        .n_urls = cfg->n_urls,
        .secret = cfg->secret,
        .retry_s = cfg->retry_s ? cfg->retry_s : HD_WEBHOOKS_DEFAULT_RETRY_S,
        .timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : HD_WEBHOOKS_DEFAULT_TIMEOUT_MS,
        .backoff_min_ms =
            cfg->backoff_min_ms ? cfg->backoff_min_ms : HD_WEBHOOKS_DEFAULT_BACKOFF_MIN_MS,
        .backoff_max_ms =
            cfg->backoff_max_ms ? cfg->backoff_max_ms : HD_WEBHOOKS_DEFAULT_BACKOFF_MAX_MS,
        .max_inflight = HD_WEBHOOKS_MAX_INFLIGHT,
        .stats = cfg->stats ? cfg->stats : &w->own,
    };
    if (cfg->secret == NULL || strlen(cfg->secret) < HD_WEBHOOKS_MIN_SECRET) {
        snprintf(err, errlen, "the webhook secret must be at least %d bytes",
                 HD_WEBHOOKS_MIN_SECRET);
        free(w);
        return NULL;
    }
    if (cfg->redis_url != NULL) {
        hd_whr_config rc = {cfg->redis_url, cfg->prefix, cfg->node_id, 0, w->max};
        w->r = hd_whr_new(loop, &rc, &q, err, errlen);
    } else {
        w->q = hd_whq_new(loop, &q, err, errlen);
    }
    if (w->q == NULL && w->r == NULL) {
        free(w);
        return NULL;
    }
    return w;
}

void hd_webhooks_event(const char *type, const char *data, size_t len, void *ud)
{
    hd_webhooks *w = ud;
    if (w == NULL || w->q == NULL)
        return;
    if (hd_whq_count(w->q) >= w->max) {
        if (!w->full_logged) {
            w->full_logged = 1;
            fprintf(stderr,
                    "helpdesk webhooks: %zu events wait for delivery (the embedded limit): the "
                    "oldest are dropped and counted in /metrics\n",
                    w->max);
        }
        hd_whq_drop_oldest(w->q);
    } else if (hd_whq_count(w->q) < w->max / 2) {
        w->full_logged = 0;
    }
    /* "<ms>-<n>" like a stream id: unique and increasing even if the clock steps back */
    int64_t now = hd_whq_wall_ms();
    if (now > w->last_ms) {
        w->last_ms = now;
        w->n = 0;
    } else {
        w->n++;
    }
    char id[48];
    snprintf(id, sizeof id, "%lld-%llu", (long long)w->last_ms, (unsigned long long)w->n);
    if (hd_whq_push(w->q, id, w->last_ms, type, strlen(type), data, len) != 0)
        fprintf(stderr, "helpdesk webhooks: out of memory: event %s (%s) not sent\n", id, type);
}

static void on_feed_closed(void *ud)
{
    hd_webhooks *w = ud;
    void (*done)(void *) = w->done;
    void *done_ud = w->done_ud;
    free(w);
    if (done != NULL)
        done(done_ud);
}

void hd_webhooks_close(hd_webhooks *w, void (*done)(void *ud), void *ud)
{
    if (w == NULL) {
        if (done != NULL)
            done(ud);
        return;
    }
    w->done = done;
    w->done_ud = ud;
    if (w->r != NULL)
        hd_whr_close(w->r, on_feed_closed, w);
    else
        hd_whq_close(w->q, on_feed_closed, w);
}
