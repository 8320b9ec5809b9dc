/* rest.h: the HTTP side of the helpdesk (spec §5): messages in from the backend, the read
 * endpoints, /metrics, and the health endpoints (rest.c).
 *
 * The top part: above backend.h and conversations.h; only app.c includes it.
 */
#ifndef HD_REST_H
#define HD_REST_H

#include "conversations.h"

/* Becomes the engine's HTTP handler; requests that post go through cv. */
void hd_rest_attach(hd_conversations *cv);

#endif
