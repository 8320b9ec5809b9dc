/* health.h: the load balancer's view of a node: GET /healthz and GET /readyz.
 *
 * /healthz answers 200 while the process serves (the event loop turns); /readyz answers
 * 200 only when the node can do its whole job, as the readiness callback says (in cluster
 * mode: Redis connected and every subscription in place), else 503 with the reason, so a
 * load balancer sends new clients elsewhere while a node is cut off.
 */
#ifndef EIO_HEALTH_H
#define EIO_HEALTH_H

#include "engine.h"

/* Returns 1 when ready; otherwise 0 and may point *reason at a static string. */
typedef int (*eio_ready_cb)(const char **reason, void *ud);

typedef struct eio_health {
    eio_ready_cb ready; /* NULL: always ready */
    void *ud;
} eio_health;

/* Serves the two endpoints on srv (other paths answer 404). h must outlive srv. */
void eio_health_attach(eio_server *srv, eio_health *h);
/* The same as an eio_http_handler for an application that routes requests itself:
 * answers /healthz and /readyz and returns 0, or returns 1 for any other request. */
int eio_health_handle(eio_http_request *req, void *h);

/* One metric in the Prometheus text format, appended to out: its HELP and TYPE lines
 * (type "counter" or "gauge") and its value. */
void eio_metric(sb_buf *out, const char *type, const char *name, const char *help, uint64_t v);
/* The Prometheus text of srv's forwarding counters (eio_forward_stats), appended to out:
 * switchboard_forwarded_requests_total, switchboard_forward_failures_total,
 * switchboard_forwarded_served_total. */
void eio_forward_metrics(const eio_server *srv, sb_buf *out);
/* GET /metrics with only those, for an application without metrics of its own; returns
 * 1 for any other request. ud is the eio_server. */
int eio_metrics_handle(eio_http_request *req, void *srv);

#endif
