/* rest.h: the HTTP side of the helpdesk (spec §5): messages in from the backend, the read
 * endpoints, /metrics, and the health endpoints (rest.c).
 *
 * The top part: above backend.h, conversations.h, visitors.h and status_cache.h; only app.c
 * includes it.
 */
#ifndef HD_REST_H
#define HD_REST_H

#include "conversations.h"
#include "status_cache.h"
#include "visitors.h"

/* What the endpoints reach: the app holds it. */
typedef struct hd_rest {
    hd_conversations *cv;   /* requests that post */
    hd_visitors *visitors;  /* /visitors, /visitors/refresh */
    hd_status_cache status; /* status?dept=: the answers shared per dept */
} hd_rest;

/* Becomes the engine's HTTP handler. */
void hd_rest_attach(hd_rest *rest, hd_conversations *cv, hd_visitors *visitors);
/* Frees what the endpoints hold (after the store has closed). */
void hd_rest_free(hd_rest *rest);

#endif
