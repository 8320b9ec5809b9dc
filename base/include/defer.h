/* defer.h: requests answered on the next loop turn ("fail it later").
 *
 * The one idea: a request that cannot even be sent (bad input, a link that is down, no
 * memory) is still answered through its callback, but never from inside the call that made
 * it, whose caller may hold state the callback changes, or retry at once. An sb_defer
 * queues such requests and runs each from an idle handle on the next loop turn, oldest
 * first. Requests queued while those run wait for the turn after, so a caller that retries
 * at once cannot spin the loop. Requests are the caller's structs, linked through an
 * sb_list link of their own (intrusive, nothing allocated here).
 */
#ifndef SB_DEFER_H
#define SB_DEFER_H

#include <stddef.h>
#include <uv.h>

#include "countdown.h"
#include "list.h"

/* Answers one request; link is unlinked, and the request is the callback's (to free). */
typedef void (*sb_defer_cb)(sb_list *link, void *ud);

typedef struct sb_defer {
    uv_idle_t idle;  /* active while requests wait */
    sb_list queue;   /* the waiting requests' links, oldest first */
    size_t count;    /* requests in queue */
    sb_defer_cb run; /* answers each request */
    void *ud;        /* run's argument */
} sb_defer;

/* d must stay where it is until sb_defer_close() has finished. */
void sb_defer_init(uv_loop_t *loop, sb_defer *d, sb_defer_cb run, void *ud);

/* Queues the request whose link this is: run() gets it on a later loop turn, never inside
 * this call. */
void sb_defer_push(sb_defer *d, sb_list *link);

/* Answers every waiting request now, including those queued meanwhile: for an owner that
 * is closing, for which there is no next turn. */
void sb_defer_flush(sb_defer *d);

/* Flushes, then closes the idle handle as one of cd's closes. Nothing may be pushed after. */
void sb_defer_close(sb_defer *d, sb_countdown *cd);

#endif
