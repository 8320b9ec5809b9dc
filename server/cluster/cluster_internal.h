/* cluster_internal.h: what the three files of the cluster adapter share (PRIVATE to
 * server/cluster; the API is redis_adapter.h).
 *
 * cluster_adapter.c holds the cluster (one per process: the Redis connection, whose
 * messages it hands to the adapter of their namespace) and the adapter of each namespace,
 * with its rooms and broadcasts; cluster_requests.c the requests between nodes;
 * cluster_recovery.c connection state recovery in Redis. The adapter struct is shared;
 * what each part keeps for itself (a request, a pending broadcast, a restore) is
 * defined in its file, and the functions below are the only calls across files.
 */
#ifndef CL_CLUSTER_INTERNAL_H
#define CL_CLUSTER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "list.h"
#include "map.h"
#include "redis_adapter.h"
#include "redis_adapter_codec.h"
#include "redis_conn.h"

#define CL_NUMBER_MAX 24 /* a uint64 in decimal, plus NUL */

typedef struct cl_adapter cl_adapter;
typedef struct cl_pending cl_pending;
typedef struct cl_restore cl_restore;
typedef struct cl_engine cl_engine;

/* One per process: the connection, this node's uid, what every adapter shares. */
struct cl_cluster {
    uv_loop_t *loop;
    rc_conn *conn;
    char *key;     /* the channel prefix */
    char *node_id; /* for logs */
    char uid[CL_UID_LEN + 1];
    uint32_t request_timeout_ms;
    sb_list adapters; /* cl_adapter.link: one per namespace */
    uint64_t next_request;
    sb_buf out; /* encoding buffer reused by every message */
    rdap_decoder dec;
    int psubscribe;                        /* cl_config.psubscribe */
    void (*on_ready)(int ready, void *ud); /* cl_config's */
    void *ready_ud;
    int publish_failed_logged; /* one log line per outage, not one per message */
    int xadd_failed_logged;    /* the same for the recovery stream */
    cl_engine *engine;         /* requests relayed between nodes (cluster_engine.c), or NULL */
    void (*done)(void *ud);
    void *done_ud;
};

/* One per namespace; cluster_requests.c and cluster_recovery.c keep their state here. */
struct cl_adapter {
    sio_adapter base;
    sio_adapter *local;
    cl_cluster *cluster;
    sb_list link;          /* in cl_cluster.adapters */
    char *ch_broadcast;    /* key#nsp# */
    char *pattern;         /* key#nsp#* when the cluster psubscribes, else NULL */
    char *ch_request;      /* key-request#nsp# */
    char *ch_response;     /* key-response#nsp# */
    char *ch_response_own; /* key-response#nsp#uid# */
    sb_map rooms;          /* name → cl_room, without the pattern subscription only */
    sb_map requests;       /* request id → cl_request (ours, awaiting answers) */
    /* recovery in Redis; stream NULL when --recovery-window is 0 */
    char *stream;                   /* key-stream#nsp#: the recoverable broadcasts */
    char *session_prefix;           /* key-session#nsp#, followed by a pid */
    size_t max_packets;             /* the stream's MAXLEN, and the most a restore replays */
    char max_len[CL_NUMBER_MAX];    /* max_packets in decimal */
    char max_replay[CL_NUMBER_MAX]; /* max_packets + 1: more means some are gone */
    char window[CL_NUMBER_MAX];     /* the window in ms: a session's expiry */
    sb_list pending;                /* cl_pending.link: broadcasts waiting for their stream id */
    sb_list restores;               /* cl_restore.link: restores waiting for Redis */
};

/* ---- cluster_adapter.c: helpers every part uses ---------------------------------- */

/* A line on stderr naming the node. */
void cl__log(cl_cluster *c, const char *fmt, ...);
/* strdup that aborts when out of memory. */
char *cl__xstrdup(const char *s);
/* The bytes of b as a new C string. */
char *cl__buf_string(const sb_buf *b);
/* A target's rooms and exceptions as opts (copied), and back (borrowing o's names). */
void cl__opts_from_target(rdap_opts *o, const sio_target *to);
sio_target cl__target_from_opts(const rdap_opts *o);
/* [event, ...args] as a new JSON array. */
json_t *cl__event_array(const char *event, const sio_args *args);
/* PUBLISHes c->out on channel. */
void cl__publish_out(cl_cluster *c, const char *channel);

/* ---- cluster_adapter.c: broadcasts ------------------------------------------------- */

/* Fills p for the other nodes, borrowing b's attachments until cl__packet_unborrow. */
void cl__packet_fill(siop_packet *p, sio_namespace *nsp, const sio_broadcast *b);
void cl__packet_unborrow(siop_packet *p);
/* The event name of p's [event, ...args], or NULL; *rest gets a new array of the args. */
const char *cl__packet_event(const siop_packet *p, json_t **rest);
/* A packet another node or the emitter broadcast: to this node's sockets it designates. */
void cl__deliver(cl_adapter *a, const siop_packet *p, const rdap_opts *opts);
/* PUBLISHes m for the other nodes on the channel of its rooms. */
void cl__publish_broadcast(cl_adapter *a, const rdap_broadcast *m);
/* m as this node sends b to the other nodes (the packet borrows b's attachments). */
void cl__broadcast_fill(cl_adapter *a, rdap_broadcast *m, const sio_broadcast *b);

/* ---- cluster_requests.c ------------------------------------------------------------ */

/* The adapter ops that ask the other nodes. */
void cl__fetch_sockets(sio_adapter *base, const sio_target *to, sio_fetch_sockets_cb cb, void *ud);
int cl__server_side_emit(sio_adapter *base, const char *event, const sio_args *args,
                         uint32_t timeout_ms, sio_broadcast_ack_cb cb, void *ud);
int cl__broadcast_ack(sio_adapter *base, const sio_broadcast *b, sio_ack_wait *op);
void cl__add_sockets(sio_adapter *base, const sio_target *to, const char *const *rooms, size_t n);
void cl__del_sockets(sio_adapter *base, const sio_target *to, const char *const *rooms, size_t n);
void cl__disconnect_sockets(sio_adapter *base, const sio_target *to, int close_session);
/* A message on a's request channel (another node asks) or response channels (answers to
 * our requests). */
void cl__on_request_message(cl_adapter *a, const uint8_t *data, size_t len);
void cl__on_response_message(cl_adapter *a, const uint8_t *data, size_t len);
/* Ends a's requests as the adapter goes away (a->requests is left empty). */
void cl__requests_end(cl_adapter *a);

/* ---- cluster_engine.c -------------------------------------------------------------- */

/* 1 when m is on the engine's channel (then handled). */
int cl__engine_on_message(cl_engine *e, const rc_message *m);
/* Drops what is left, unsubscribes, and frees e once its timer has closed. */
void cl__engine_close(cl_engine *e);

/* ---- cluster_recovery.c ------------------------------------------------------------ */

/* Sets up recovery in Redis when the window is on (a->stream stays NULL otherwise). */
void cl__recovery_init(cl_adapter *a, const char *name);
/* Drops pending broadcasts, ends pending restores, frees what init took. */
void cl__recovery_detach(cl_adapter *a);
/* cl_broadcast when a->stream is set and b is neither volatile nor local. */
int cl__broadcast_recoverable(cl_adapter *a, const sio_broadcast *b);
/* The adapter ops of recovery (the local adapter's when a->stream is NULL). */
void cl__persist_session(sio_adapter *base, sio_socket *s);
void cl__restore_session(sio_adapter *base, const char *pid, const char *offset, sio_restore_cb cb,
                         void *ud);

#endif
