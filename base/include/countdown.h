/* countdown.h: one callback once the last of several closes has finished.
 *
 * An object that owns uv handles and connections closes asynchronously: each of them
 * reports its close through a callback of its own, and the object may be freed only after
 * the last one. A countdown counts them, so no owner keeps a hand-counted "3 closes to
 * come". The owner starts it holding one count of its own, adds one per close it starts
 * (sb_countdown_close() does both for a uv handle), and gives its own count back with
 * sb_countdown_done() once every close has started: done runs once, at the last count,
 * which is that very call when nothing was left to wait for (or nothing needed closing).
 * done usually frees the object holding the countdown: nothing touches the countdown after.
 */
#ifndef SB_COUNTDOWN_H
#define SB_COUNTDOWN_H

#include <uv.h>

typedef void (*sb_countdown_cb)(void *ud);

typedef struct sb_countdown {
    unsigned left;        /* closes still to come, plus the owner's count until given back */
    sb_countdown_cb done; /* runs once, when left reaches 0 */
    void *ud;             /* done's argument */
} sb_countdown;

/* Starts counting, with one count held by the caller (see the file comment). */
void sb_countdown_start(sb_countdown *cd, sb_countdown_cb done, void *ud);

/* One more close to wait for; its end calls sb_countdown_done(cd). */
void sb_countdown_add(sb_countdown *cd);

/* Closes h (uv_close) as one of the closes cd waits for. h->data is taken for cd: the
 * handle's own callbacks must not run after this (uv_close stops them). */
void sb_countdown_close(sb_countdown *cd, uv_handle_t *h);

/* One close has finished (or the caller gives its own count back). cd is a void * so that
 * this serves directly as a void (*)(void *ud) completion callback, with cd as ud. */
void sb_countdown_done(void *cd);

#endif
