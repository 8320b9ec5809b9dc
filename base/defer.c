/* defer.c: the next-turn queue of defer.h.
 *
 * An active idle handle makes the loop poll without blocking and runs its callback once
 * per turn, which is "the next turn" for whatever was queued during this one. The handle
 * is active only while something waits, so an idle sb_defer costs the loop nothing.
 */
#include "defer.h"

/* Runs the n oldest requests, fewer when a run flushed them meanwhile. */
static void defer_run(sb_defer *d, size_t n)
{
    while (n-- > 0 && !sb_list_empty(&d->queue)) {
        sb_list *link = d->queue.next;
        sb_list_remove(link);
        d->count--;
        d->run(link, d->ud);
    }
    if (d->count == 0)
        uv_idle_stop(&d->idle);
}

/* Only what was queued before this turn: the rest waits for the next one. */
static void on_idle(uv_idle_t *h)
{
    sb_defer *d = h->data;
    defer_run(d, d->count);
}

void sb_defer_init(uv_loop_t *loop, sb_defer *d, sb_defer_cb run, void *ud)
{
    uv_idle_init(loop, &d->idle);
    d->idle.data = d;
    sb_list_init(&d->queue);
    d->count = 0;
    d->run = run;
    d->ud = ud;
}

void sb_defer_push(sb_defer *d, sb_list *link)
{
    sb_list_insert_tail(&d->queue, link);
    if (d->count++ == 0)
        uv_idle_start(&d->idle, on_idle);
}

void sb_defer_flush(sb_defer *d)
{
    while (d->count > 0)
        defer_run(d, d->count);
}

void sb_defer_close(sb_defer *d, sb_countdown *cd)
{
    sb_defer_flush(d);
    sb_countdown_close(cd, (uv_handle_t *)&d->idle);
}
