/* status_cache.c: the status endpoint's answers, shared per dept (status_cache.h).
 *
 * An entry holds a dept's last answer (the HTTP status and the JSON text) and the time the
 * store was asked for it, and, while a call is in flight, the requests waiting for it. A
 * 503 of the store is given to those waiting but not kept: the next request asks again.
 *
 * The table is bounded: a new dept takes the place of the least recently asked entry that
 * is not in flight. When every entry is in flight, the request is answered 503 (the
 * contract's error body) rather than made to wait: waiting would need a queue that no
 * entry holds, growing with what the flood sends, and only a client naming hundreds of
 * depts at once gets there; depts already held (the real ones a site's widgets ask for)
 * are still answered from their entries. So at most HD_STATUS_DEPTS store calls are in
 * flight for this endpoint, and its memory is that many entries plus the open requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "message.h"
#include "status_cache.h"

#define STATUS_JSON "application/json"

typedef struct status_waiter {
    sb_list link; /* in its entry's waiters */
    eio_http_deferred *d;
} status_waiter;

typedef struct status_entry {
    hd_status_cache *sc;
    sb_list link;      /* in sc->entries */
    sb_list waiters;   /* the requests deferred until the store answers */
    int in_flight;     /* a queue_status call is pending */
    uint64_t asked_ms; /* loop time of the last call: the answer is at least that recent */
    int status;        /* the kept answer's HTTP status; 0: none kept */
    char *body;        /* its JSON text (malloc'd) */
    size_t len;
    char dept[HD_ID_MAX + 1]; /* the key; "" = every dept */
} status_entry;

void hd_status_init(hd_status_cache *sc, hd_node *node)
{
    sc->node = node;
    sb_map_init(&sc->by_dept);
    sb_list_init(&sc->entries);
    sc->count = 0;
}

static void respond(hd_node *node, eio_http_request *req, eio_http_deferred *d, int status,
                    const char *body, size_t len)
{
    if (status >= 400 && status < 500)
        node->metrics.refused++;
    if (d)
        eio_http_deferred_respond(d, status, STATUS_JSON, body, len);
    else
        eio_http_respond(req, status, STATUS_JSON, body, len);
}

static void entry_drop(status_entry *e)
{
    hd_status_cache *sc = e->sc;
    sb_map_del(&sc->by_dept, e->dept);
    sb_list_remove(&e->link);
    sc->count--;
    free(e->body);
    free(e);
}

/* A new entry for dept, or NULL when every entry is in flight (see the file comment). */
static status_entry *entry_new(hd_status_cache *sc, const char *dept)
{
    if (sc->count >= HD_STATUS_DEPTS) {
        status_entry *victim = NULL;
        sb_list *q;
        SB_LIST_FOREACH(q, &sc->entries)
        {
            status_entry *e = SB_LIST_DATA(q, status_entry, link);
            if (!e->in_flight) {
                victim = e;
                break;
            }
        }
        if (!victim)
            return NULL;
        entry_drop(victim);
    }
    status_entry *e = calloc(1, sizeof(*e));
    if (!e)
        abort();
    e->sc = sc;
    snprintf(e->dept, sizeof(e->dept), "%s", dept);
    sb_list_init(&e->waiters);
    sb_list_insert_tail(&sc->entries, &e->link);
    sb_map_put(&sc->by_dept, e->dept, e);
    sc->count++;
    return e;
}

static void on_store_answer(const hd_result *r, void *ud)
{
    status_entry *e = ud;
    hd_node *node = e->sc->node;
    json_t *body = r->status == HD_OK
                       ? json_pack("{s:i,s:O?}", "status_code", HD_OK, "data", r->conversation)
                       : hd_error_body(r->status, NULL);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    size_t len = text ? strlen(text) : 0;
    int status = r->status;
    e->in_flight = 0;
    free(e->body);
    e->body = NULL;
    e->len = 0;
    e->status = 0;
    if (status != HD_EUNAVAILABLE && text) {
        e->body = text;
        e->len = len;
        e->status = status;
    }
    /* every waiter gets this answer exactly once; the list is emptied first */
    sb_list waiting;
    sb_list_insert_head(&e->waiters, &waiting); /* the head's place: waiting takes them all */
    sb_list_remove(&e->waiters);
    sb_list *q, *tmp;
    SB_LIST_FOREACH_SAFE(q, tmp, &waiting)
    {
        status_waiter *w = SB_LIST_DATA(q, status_waiter, link);
        sb_list_remove(&w->link);
        respond(node, NULL, w->d, status, text, len);
        free(w);
    }
    if (!e->status) {
        free(text);
        entry_drop(e);
    }
}

void hd_status_get(hd_status_cache *sc, eio_http_request *req, const char *dept)
{
    hd_node *node = sc->node;
    uint64_t now = uv_now(sio_server_loop(node->srv));
    status_entry *e = sb_map_get(&sc->by_dept, dept);
    if (e && !e->in_flight && e->status && now - e->asked_ms < HD_STATUS_TTL_MS) {
        respond(node, req, NULL, e->status, e->body, e->len);
        return;
    }
    if (!e)
        e = entry_new(sc, dept);
    if (!e) {
        json_t *body = hd_error_body(HD_EUNAVAILABLE, "too many departments asked at once");
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        respond(node, req, NULL, HD_EUNAVAILABLE, text, text ? strlen(text) : 0);
        free(text);
        return;
    }
    status_waiter *w = malloc(sizeof(*w));
    if (!w)
        abort();
    w->d = eio_http_defer(req);
    sb_list_insert_tail(&e->waiters, &w->link);
    if (e->in_flight)
        return;
    /* the memory store answers before queue_status returns: e is ready for that */
    e->in_flight = 1;
    e->asked_ms = now;
    sb_list_remove(&e->link);
    sb_list_insert_tail(&sc->entries, &e->link);
    node->metrics.status_store_calls++;
    node->store->ops->queue_status(node->store, e->dept[0] ? e->dept : NULL, hd_now_ms(),
                                   on_store_answer, e);
}

void hd_status_free(hd_status_cache *sc)
{
    sb_list *q, *tmp;
    SB_LIST_FOREACH_SAFE(q, tmp, &sc->entries) { entry_drop(SB_LIST_DATA(q, status_entry, link)); }
    sb_map_free(&sc->by_dept);
}
