/* signals.c: graceful stop on the first SIGTERM / SIGINT, immediate exit on the second. */
#include "signals.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static void on_signal(uv_signal_t *h, int signum)
{
    sbd_signals *s = h->data;
    if (++s->received > 1) {
        fprintf(stderr, "%s: second signal, exiting now\n", s->prog);
        _Exit(SBD_EXIT_FORCED);
    }
    fprintf(stderr, "%s: %s received, shutting down\n", s->prog,
            signum == SIGTERM ? "SIGTERM" : "SIGINT");
    s->stop(s->ud);
}

void sbd_signals_start(sbd_signals *s, uv_loop_t *loop, const char *prog, sbd_stop_cb stop,
                       void *ud)
{
    s->received = 0;
    s->prog = prog;
    s->stop = stop;
    s->ud = ud;
    uv_signal_init(loop, &s->term);
    uv_signal_init(loop, &s->intr);
    s->term.data = s->intr.data = s;
    uv_signal_start(&s->term, on_signal, SIGTERM);
    uv_signal_start(&s->intr, on_signal, SIGINT);
}

void sbd_signals_close(sbd_signals *s)
{
    uv_close((uv_handle_t *)&s->term, NULL);
    uv_close((uv_handle_t *)&s->intr, NULL);
}
