/* metrics.h: the node's counters and the latency histogram of support, and their
 * Prometheus text (GET /metrics, rest.c).
 *
 * Beside client.h at the bottom of the helpdesk: it includes none of the helpdesk's own
 * headers but the public ones.
 */
#ifndef HD_METRICS_H
#define HD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "socketio.h"
#include "webhooks.h"

#define HD_LATENCY_BUCKETS 12

typedef struct hd_metrics {
    uint64_t messages_in;                         /* support messages received (any source) */
    uint64_t messages_stored;                     /* stored by this node */
    uint64_t messages_out;                        /* support deliveries emitted by this node */
    uint64_t store_errors;                        /* store answers 503 */
    uint64_t refused;                             /* events answered with a 4xx */
    uint64_t auth_failures;                       /* CONNECTs refused */
    uint64_t status_store_calls;                  /* queue_status calls of the status endpoint */
    uint64_t latency_buckets[HD_LATENCY_BUCKETS]; /* support: receipt to ack, cumulative le */
    uint64_t latency_count;
    double latency_sum_s;
    hd_webhook_stats webhooks; /* kept by the webhooks (webhooks.h) when configured */
} hd_metrics;

void hd_metrics_latency(hd_metrics *m, int64_t us);
/* The text of /metrics: m, the sessions and sockets of srv (nsp: /helpdesk), and
 * queue_length conversations waiting for an agent (malloc'd, *len bytes). */
char *hd_metrics_render(const hd_metrics *m, sio_server *srv, sio_namespace *nsp, size_t *len,
                        size_t queue_length);

#endif
