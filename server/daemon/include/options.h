/* options.h: command-line and environment configuration shared by the binaries.
 *
 * Every option is a flag (--port 3000 or --port=3000) and an environment variable named
 * SWITCHBOARD_ plus the flag in capitals with '-' as '_' (SWITCHBOARD_PORT); the flag wins.
 * A binary adds its own options (echo's --engine-io) through the same table, so they get
 * the same syntax, environment variable, validation and --help line.
 */
#ifndef SBD_OPTIONS_H
#define SBD_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "socketio.h"

#define SBD_OPTIONS_PATH_MAX 256 /* longest endpoint path accepted */
#define SBD_EXIT_USAGE       2   /* exit status for invalid options */

typedef enum sbd_option_kind {
    SBD_OPT_FLAG = 0,   /* int: 1 when given (env: 1/0, true/false, yes/no, on/off) */
    SBD_OPT_STRING = 1, /* const char *, pointing into argv or the environment */
    SBD_OPT_U32 = 2,    /* uint32_t within [min, max] */
    SBD_OPT_SIZE = 3,   /* size_t within [min, max] */
    SBD_OPT_INT = 4,    /* int within [min, max] */
    SBD_OPT_LIST = 5    /* sbd_option_list: the flag repeated, or the variable comma-separated */
} sbd_option_kind;

#define SBD_OPTION_LIST_MAX     16   /* values of one repeatable option */
#define SBD_OPTION_LIST_STORAGE 2048 /* bytes of the environment value, split */

typedef struct sbd_option_list {
    const char *items[SBD_OPTION_LIST_MAX]; /* into argv, or into storage */
    size_t n;
    int from_env; /* items came from the environment */
    char storage[SBD_OPTION_LIST_STORAGE];
} sbd_option_list;

typedef struct sbd_option {
    const char *name; /* flag without "--", e.g. "engine-io" */
    sbd_option_kind kind;
    void *target;      /* where the value goes (type per kind) */
    uint64_t min, max; /* bounds of numeric kinds */
    const char *help;  /* one line for --help */
} sbd_option;

typedef struct sbd_options {
    eio_config eio;  /* host, port, path, heartbeat, payload and queue limits, CORS, cookie */
    sio_options sio; /* connect timeout, recovery window */
    char path[SBD_OPTIONS_PATH_MAX]; /* eio.path normalised to "/name/" */
    const char *redis; /* cluster mode: redis://[user:password@]host[:port][/db]; NULL: embedded */
    const char *redis_prefix; /* channel key of the cluster (default "socket.io") */
    const char *node_id;      /* this node's name in logs and answers; NULL: random */
    int redis_room_channels;  /* 1: a channel per local room instead of one pattern per namespace */
    int cluster_engine;    /* 1 (with redis only): requests for other nodes' sessions are relayed */
    int no_cluster_engine; /* --no-cluster-engine */
} sbd_options;

typedef enum sbd_options_status {
    SBD_OPTIONS_OK = 0,   /* parsed: run */
    SBD_OPTIONS_HELP = 1, /* --help was printed: exit 0 */
    SBD_OPTIONS_ERR = 2   /* a message is on stderr: exit SBD_EXIT_USAGE */
} sbd_options_status;

/* The documented defaults (127.0.0.1:3000, path /socket.io/, Node's timings, 4 MiB queue). */
void sbd_options_defaults(sbd_options *o);
/* Reads the environment, then argv. extra (n_extra entries, may be NULL) are the binary's
 * own options. prog names the binary in messages. */
int sbd_options_parse(sbd_options *o, const char *prog, int argc, char **argv,
                      const sbd_option *extra, size_t n_extra);

#endif
