/* visitors.h: website visitors (spec §1): a page registers a visitor with a public widget
 * key and gets a visitor token the relay signs itself; the token is renewed with it.
 *
 *   POST /api/v1/helpdesk/visitors          {widget_key, name?, email?, fields?, user_id?,
 *                                            user_hash?} → 201 {visitor_token, session_id,
 *                                            expires_at}
 *   POST /api/v1/helpdesk/visitors/refresh  Authorization: Bearer <visitor token> → 200, the
 *                                            same with a new token
 *
 * Both are rate limited per client address (a refresh counts as a registration: both sign
 * and write the store): a token bucket per address in a table of at most HD_VISITOR_ADDRS
 * addresses that forgets an address once its bucket is full again, and the least recently
 * seen one when it is full. A refresh records the visitor again (the store keeps the record
 * as long as the new token lives, and the backend hears a "visitor" event for it again).
 *
 * Layer 2: above node.h; rest.c routes to it.
 */
#ifndef HD_VISITORS_H
#define HD_VISITORS_H

#include "list.h"
#include "map.h"
#include "node.h"

#define HD_VISITOR_ADDRS 4096 /* client addresses the rate limiter remembers at most */

typedef struct hd_visitors {
    hd_node *node;
    sb_map addrs;   /* client address -> its bucket (hd_visitor_addr, visitors.c) */
    sb_list lru;    /* the buckets, least recently used first */
    size_t n_addrs; /* at most HD_VISITOR_ADDRS */
} hd_visitors;

void hd_visitors_init(hd_visitors *v, hd_node *node);
void hd_visitors_free(hd_visitors *v);
/* The rate limit (cfg.visitor_rate per minute, 0: none): 1 when addr may register at now_ms
 * (a token is taken); else 0 and *retry_s, the seconds until it may. */
int hd_visitors_allow(hd_visitors *v, const char *addr, int64_t now_ms, uint32_t *retry_s);
/* Answers the request when path (below /api/v1/helpdesk/) is one of the visitors' and
 * returns 0; returns 1, having done nothing, when it is not. */
int hd_visitors_route(hd_visitors *v, eio_http_request *req, const char *path);

#endif
