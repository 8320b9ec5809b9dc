/* webhook_queue.h: the webhooks' delivery engine, whatever the feed (webhooks.h).
 *
 * The one idea: an event is held once, with one slot per URL; each URL keeps a FIFO per
 * conversation of the slots it still owes, and only a FIFO's head is ever in flight or
 * waiting for its retry. A conversation with nothing in flight and nothing to wait for
 * sits in its URL's ready list; a URL sends the heads of ready conversations while it has
 * fewer than max_inflight requests out. A failed head waits in its URL's timer heap for its
 * backoff. When every URL is done with an event (delivered, or dropped) the feed is told
 * (on_done: the Redis feed acks it) and the event is freed.
 *
 * HTTP is libcurl's multi interface driven by the loop: curl's sockets are uv_poll
 * handles, its timeout one uv_timer (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION).
 * The layer below webhooks.c and webhook_redis.c.
 */
#ifndef HD_WEBHOOK_QUEUE_H
#define HD_WEBHOOK_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "webhooks.h"

typedef struct hd_whq hd_whq;

/* Every URL is done with the event id (delivered or dropped); not called for events
 * dropped by hd_whq_clear or hd_whq_close. */
typedef void (*hd_whq_done_cb)(const char *id, void *ud);

typedef struct hd_whq_config {
    const char *const *urls; /* copied */
    size_t n_urls;
    const char *secret; /* copied */
    uint32_t retry_s, timeout_ms, backoff_min_ms, backoff_max_ms;
    size_t max_inflight;
    hd_webhook_stats *stats; /* never NULL */
    hd_whq_done_cb on_done;  /* may be NULL */
    void *ud;
} hd_whq_config;

/* NULL with a reason in err (a URL that is not http(s)://, libcurl failing to start). */
hd_whq *hd_whq_new(uv_loop_t *loop, const hd_whq_config *cfg, char *err, size_t errlen);

/* Queues one event for every URL: id the delivery id, created_ms its wall-clock time (ms),
 * data its JSON text (spliced into the body as it is; text that is not JSON goes as a
 * JSON string). Returns 0, or -1 out of memory (nothing queued). */
int hd_whq_push(hd_whq *q, const char *id, int64_t created_ms, const char *type, size_t type_len,
                const char *data, size_t data_len);
/* Events held. */
size_t hd_whq_count(const hd_whq *q);
/* Drops the oldest held event for every URL that still owes it (a request in flight for
 * it is cancelled), counting each as dropped; on_done is called. */
void hd_whq_drop_oldest(hd_whq *q);
/* Forgets every held event and cancels every request, without counting or on_done (the
 * Redis feed lost its lease: the entries stay pending for the next deliverer). */
void hd_whq_clear(hd_whq *q);
/* hd_whq_clear, then closes every handle; done(ud) once q is freed. */
void hd_whq_close(hd_whq *q, void (*done)(void *ud), void *ud);

/* "2024-01-02T03:04:05.678Z" for a wall-clock time in ms (out: at least 32 bytes). */
void hd_whq_iso_time(int64_t ms, char *out, size_t outlen);
/* The wall-clock time in ms. */
int64_t hd_whq_wall_ms(void);

#endif
