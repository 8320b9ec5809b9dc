/* rest.h: the HTTP side of the helpdesk (spec §5): messages in from the backend, the read
 * endpoints, /metrics, and the health endpoints (rest.c).
 *
 * The top part: above backend.h, conversations.h and visitors.h; only app.c includes it.
 */
#ifndef HD_REST_H
#define HD_REST_H

#include "conversations.h"
#include "visitors.h"

/* What the endpoints reach: the app holds it. */
typedef struct hd_rest {
    hd_conversations *cv;  /* requests that post */
    hd_visitors *visitors; /* /visitors, /visitors/refresh */
} hd_rest;

/* Becomes the engine's HTTP handler. */
void hd_rest_attach(hd_rest *rest, hd_conversations *cv, hd_visitors *visitors);

#endif
