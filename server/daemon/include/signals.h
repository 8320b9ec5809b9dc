/* signals.h: SIGTERM / SIGINT handling shared by the binaries.
 *
 * The first signal asks the application to stop gracefully (its stop callback starts the
 * shutdown); a second one, while that shutdown runs, exits at once. The handles stay
 * active until sbd_signals_close(), which the application calls when its shutdown is done
 * so that the loop can end.
 */
#ifndef SBD_SIGNALS_H
#define SBD_SIGNALS_H

#include <uv.h>

#define SBD_EXIT_FORCED 1 /* exit status when a second signal cuts the shutdown short */

typedef void (*sbd_stop_cb)(void *ud);

typedef struct sbd_signals {
    uv_signal_t term; /* SIGTERM */
    uv_signal_t intr; /* SIGINT */
    int received;     /* signals seen so far */
    const char *prog; /* for the log lines */
    sbd_stop_cb stop;
    void *ud;
} sbd_signals;

void sbd_signals_start(sbd_signals *s, uv_loop_t *loop, const char *prog, sbd_stop_cb stop,
                       void *ud);
void sbd_signals_close(sbd_signals *s);

#endif
