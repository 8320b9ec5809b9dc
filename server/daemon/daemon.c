/* daemon.c: the shutdown chain (see daemon.h).
 *
 * Each step starts only when the previous one reported done, because the order matters:
 * the servers' clients must be told before the store they write to closes, and the store
 * before the cluster links it may still use.
 */
#include "daemon.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void chain_next(void *ud)
{
    sbd_daemon *d = ud;
    if (d->next < d->n_steps) {
        sbd_step *s = &d->steps[d->next++];
        s->close(s->part, chain_next, d);
        return;
    }
    if (d->signals_started)
        sbd_signals_close(&d->signals);
}

static void on_stop(void *ud) { chain_next(ud); }

void sbd_daemon_init(sbd_daemon *d, const char *prog)
{
    memset(d, 0, sizeof(*d));
    d->prog = prog;
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&d->loop);
}

void sbd_daemon_on_shutdown(sbd_daemon *d, sbd_close_fn close, void *part)
{
    if (!part)
        return;
    if (d->n_steps == SBD_STEPS_MAX)
        abort(); /* a binary lists its parts at build time: more is a programming error */
    d->steps[d->n_steps++] = (sbd_step){close, part};
}

void sbd_daemon_run(sbd_daemon *d)
{
    sbd_signals_start(&d->signals, &d->loop, d->prog, on_stop, d);
    d->signals_started = 1;
    uv_run(&d->loop, UV_RUN_DEFAULT);
}

int sbd_daemon_finish(sbd_daemon *d)
{
    if (uv_loop_close(&d->loop) != 0) {
        fprintf(stderr, "%s: handles left open at exit\n", d->prog);
        return SBD_EXIT_FAILURE;
    }
    return 0;
}

int sbd_daemon_abort(sbd_daemon *d, int status)
{
    chain_next(d);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    uv_loop_close(&d->loop);
    return status;
}
