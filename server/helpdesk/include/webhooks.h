/* webhooks.h: the backend's events as HTTP POSTs (spec §5, "Webhooks"), in both modes.
 *
 * Every event of the feed (the types and data of hd:events: message, assigned, transferred,
 * closed, queued, visitor, ... the type is opaque) is POSTed to every configured URL as
 * {"id","type","data","created_at"} with the headers Content-Type: application/json,
 * X-Switchboard-Event: <type>, X-Switchboard-Delivery: <id> and X-Switchboard-Signature:
 * sha256=<hex HMAC-SHA256 of the raw body under the secret>. A 2xx answer delivers it;
 * anything else, a connection error or no answer within timeout_ms is retried with capped
 * exponential backoff and jitter until retry_s have passed since the event was made, after
 * which it is dropped and counted. Per URL, the events of one conversation (data's
 * ticket_chat_id, or session_id for visitor events) go one at a time, in order; different
 * conversations go in parallel, at most HD_WEBHOOKS_MAX_INFLIGHT requests per URL; each URL
 * has its own progress.
 *
 * The feed:
 * - embedded (redis_url NULL): the memory store hands each event to hd_webhooks_event (an
 *   hd_event_sink); the id is "<ms>-<n>" like a stream id (unique, increasing). At most
 *   memory_max events are kept: when full, the oldest undelivered one is dropped and counted.
 * - Redis: the consumer group HD_WEBHOOKS_GROUP on the store's stream <prefix>events, read
 *   by whichever node holds a lease key (webhook_redis.h has the whole design); an entry is
 *   acked once every URL has it delivered or dropped, so a node that dies loses nothing.
 *
 * The HTTP client is libcurl's multi interface on the caller's libuv loop: nothing blocks.
 */
#ifndef HD_WEBHOOKS_H
#define HD_WEBHOOKS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define HD_WEBHOOKS_GROUP                  "switchboard-webhooks"
#define HD_WEBHOOKS_MAX_INFLIGHT           8      /* requests in flight per URL */
#define HD_WEBHOOKS_MAX_URLS               16     /* as many as a repeatable option holds */
#define HD_WEBHOOKS_DEFAULT_RETRY_S        86400  /* give an event up after a day */
#define HD_WEBHOOKS_DEFAULT_TIMEOUT_MS     10000  /* no answer within this: a failed attempt */
#define HD_WEBHOOKS_DEFAULT_MEMORY_MAX     10000  /* events kept (embedded) or read ahead (Redis) */
#define HD_WEBHOOKS_DEFAULT_BACKOFF_MIN_MS 1000   /* first retry delay, doubling ... */
#define HD_WEBHOOKS_DEFAULT_BACKOFF_MAX_MS 300000 /* ... up to 5 minutes */
#define HD_WEBHOOKS_MIN_SECRET             16     /* bytes of the signing secret */

/* What /metrics shows (metrics.h renders it); updated by the webhooks, read by the node. */
typedef struct hd_webhook_stats {
    uint64_t delivered;       /* (event, URL) deliveries answered 2xx */
    uint64_t failed_attempts; /* attempts answered otherwise, failed or timed out */
    uint64_t dropped;         /* (event, URL) given up: retry time over, or memory full */
    size_t pending;           /* events held, not yet delivered to every URL */
    int64_t oldest_ms;        /* wall-clock ms the oldest held event was made; 0: none */
} hd_webhook_stats;

typedef struct hd_webhooks_config {
    const char *const *urls; /* http:// or https:// (borrowed for the call) */
    size_t n_urls;
    const char *secret; /* the HMAC key (copied) */
    uint32_t retry_s;   /* 0: the defaults above */
    uint32_t timeout_ms;
    uint32_t backoff_min_ms;
    uint32_t backoff_max_ms;
    size_t memory_max;
    const char *redis_url;   /* NULL: the embedded feed */
    const char *prefix;      /* the store's key prefix; NULL: "hd:" */
    const char *node_id;     /* this node's consumer name (copied); NULL: "node" */
    hd_webhook_stats *stats; /* may be NULL; must outlive the webhooks */
} hd_webhooks_config;

typedef struct hd_webhooks hd_webhooks;

/* Starts delivering (Redis: competing for the lease in the background). NULL with a reason
 * in err when a URL or the Redis URL is invalid, or libcurl cannot start. */
hd_webhooks *hd_webhooks_new(uv_loop_t *loop, const hd_webhooks_config *cfg, char *err,
                             size_t errlen);

/* The embedded feed: one event as the memory store made it (an hd_event_sink, store.h);
 * type and data are copied. ud is the webhooks. Ignored in the Redis mode. */
void hd_webhooks_event(const char *type, const char *data, size_t len, void *ud);

/* Cancels the requests in flight (Redis: their entries stay pending for the next
 * deliverer, and the lease is given back), closes every handle, then done(ud) once
 * everything is freed (done may be NULL). Embedded: the events not delivered are lost,
 * as the conversations are. */
void hd_webhooks_close(hd_webhooks *w, void (*done)(void *ud), void *ud);

#endif
