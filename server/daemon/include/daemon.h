/* daemon.h: the life of a binary around its servers: the loop, the signals, the shutdown chain.
 *
 * A binary creates its parts on sbd_daemon's loop, then lists how to close each one, in the
 * order they must close (servers first, so clients are told; then consumers, stores, the
 * cluster links). The first SIGTERM/SIGINT runs the chain, one step after the previous one
 * reported done; after the last step the signal handles close and the loop ends. A second
 * signal during the chain exits at once (signals.h). A binary whose start-up fails runs the
 * same chain for the parts it made (sbd_daemon_abort), so every handle closes either way.
 */
#ifndef SBD_DAEMON_H
#define SBD_DAEMON_H

#include <stddef.h>
#include <uv.h>

#include "signals.h"

#define SBD_STEPS_MAX    8 /* parts one binary closes in turn */
#define SBD_EXIT_FAILURE 1 /* exit status when the daemon cannot start or leaves handles open */

/* Called once, when the step's part has closed. */
typedef void (*sbd_done_cb)(void *done_ud);
/* Starts closing part; calls done(done_ud) once it is closed (possibly before returning). */
typedef void (*sbd_close_fn)(void *part, sbd_done_cb done, void *done_ud);

typedef struct sbd_step {
    sbd_close_fn close;
    void *part;
} sbd_step;

typedef struct sbd_daemon {
    uv_loop_t loop;      /* every part of the binary runs on it */
    const char *prog;    /* the binary's name, for log lines */
    sbd_signals signals; /* started by sbd_daemon_run */
    int signals_started;
    sbd_step steps[SBD_STEPS_MAX]; /* the shutdown chain, in order */
    size_t n_steps;
    size_t next; /* step the chain runs next */
} sbd_daemon;

/* Initialises the loop and ignores SIGPIPE (a peer that went away is an error on write). */
void sbd_daemon_init(sbd_daemon *d, const char *prog);
/* Appends a step to the shutdown chain; a NULL part is skipped (a part this mode lacks). */
void sbd_daemon_on_shutdown(sbd_daemon *d, sbd_close_fn close, void *part);
/* Starts the signal handles and runs the loop until the chain has run after a signal. */
void sbd_daemon_run(sbd_daemon *d);
/* After sbd_daemon_run and after the binary freed its parts: closes the loop. Returns 0, or
 * SBD_EXIT_FAILURE (said on stderr) when handles were left open. */
int sbd_daemon_finish(sbd_daemon *d);
/* Start-up failed: runs the chain over the parts made so far, closes the loop, returns
 * status. */
int sbd_daemon_abort(sbd_daemon *d, int status);

#endif
