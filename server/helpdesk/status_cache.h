/* status_cache.h: the widget's status answers (GET .../status?dept=, rest.c), shared per
 * dept. The endpoint is public (a website's widget key) and the store's queue_status walks
 * the whole queue (a Lua script on Redis), so a flood of requests must not become a flood
 * of store calls: an answer younger than HD_STATUS_TTL_MS is given again, concurrent misses
 * for one dept wait for the one store call in flight, and at most HD_STATUS_DEPTS depts are
 * held, so at most that many calls are in flight whatever depts clients name.
 *
 * Layer 2, beside delivery.h and visitors.h: above node.h; rest.c holds and calls it.
 */
#ifndef HD_STATUS_CACHE_H
#define HD_STATUS_CACHE_H

#include "list.h"
#include "map.h"
#include "node.h"

#define HD_STATUS_TTL_MS 1000 /* an answer is given again while younger than this */
#define HD_STATUS_DEPTS  256  /* depts held at once, answered or asked */

typedef struct hd_status_cache {
    hd_node *node;
    sb_map by_dept;  /* dept ("" = every dept) -> its entry (status_cache.c) */
    sb_list entries; /* the entries, the least recently asked of the store first */
    size_t count;
} hd_status_cache;

void hd_status_init(hd_status_cache *sc, hd_node *node);
/* Answers req, whose asker the caller has checked, with dept's {agents_online,
 * queue_length} (dept "": every dept; at most HD_ID_MAX bytes): at once from a fresh
 * answer, else deferred until the store answers. */
void hd_status_get(hd_status_cache *sc, eio_http_request *req, const char *dept);
/* Frees every entry. The store has answered every call by then (its close runs every
 * pending callback, and the app is freed after it). */
void hd_status_free(hd_status_cache *sc);

#endif
