/* webhook_redis.h: the webhooks' feed with Redis: the store's stream <prefix>events, read
 * through the consumer group HD_WEBHOOKS_GROUP by one node at a time.
 *
 * The one idea: a lease key (<prefix>webhooks:lease, SET NX PX, renewed every third of its
 * time) makes one node the deliverer, so the events of a conversation are sent by one node
 * in stream order, whatever the number of nodes. The deliverer reads the group with
 * XREADGROUP into its delivery engine (webhook_queue.h) and XACKs an entry once every URL
 * has it delivered or given up. A node that takes the lease first XAUTOCLAIMs every entry
 * still pending in the group (the dead deliverer's, oldest first, idle time 0: nobody else
 * holds the lease) and only then reads new ones: every pending entry is older than every
 * new one, so the order holds across the takeover and nothing un-acked is lost. Progress
 * per URL is not kept in Redis: after a takeover an entry is delivered again to every URL
 * (at least once; the receiver deduplicates by id, spec §5). A deliverer that cannot renew
 * its lease stops before it can expire (its margin: a fifth of the lease), cancelling its
 * requests; one that shuts down gives the lease back, so another node continues at once.
 *
 * The group is created at the stream's end ($): events made before webhooks were first
 * configured are not sent (they stay in the stream for a reader of its own). At most
 * max_held entries are read ahead; reading pauses there until entries are acked.
 *
 * Its own Redis connection: XREADGROUP BLOCK would hold up every reply on a shared one.
 * The renewal and acks wait behind a block (at most HD_WHR_BLOCK_MS), which the lease's
 * margin covers.
 */
#ifndef HD_WEBHOOK_REDIS_H
#define HD_WEBHOOK_REDIS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "webhook_queue.h"

#define HD_WHR_LEASE_KEY        "webhooks:lease" /* after the prefix */
#define HD_WHR_DEFAULT_LEASE_MS 5000
#define HD_WHR_BLOCK_MS         1000

typedef struct hd_whr hd_whr;

typedef struct hd_whr_config {
    const char *url;    /* copied */
    const char *prefix; /* NULL: "hd:" */
    const char *node_id;
    uint32_t lease_ms; /* 0: HD_WHR_DEFAULT_LEASE_MS */
    size_t max_held;   /* entries read ahead */
} hd_whr_config;

/* Creates the engine from qcfg (its on_done is the feed's) and starts competing for the
 * lease. NULL with a reason in err. */
hd_whr *hd_whr_new(uv_loop_t *loop, const hd_whr_config *cfg, const hd_whq_config *qcfg, char *err,
                   size_t errlen);
/* Cancels every request, gives the lease back, closes; done(ud) once freed. */
void hd_whr_close(hd_whr *r, void (*done)(void *ud), void *ud);

#endif
