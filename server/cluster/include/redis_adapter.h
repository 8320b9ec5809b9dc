/* redis_adapter.h: the cluster adapter: scale-out through Redis pub/sub, wire-compatible
 * with @socket.io/redis-adapter 8.x and @socket.io/redis-emitter 5.x.
 *
 * One cl_cluster per process holds the Redis connection (redis_conn.h) and this node's
 * uid; it is the sio_adapter_factory of the server, so every namespace gets an rca
 * adapter. Such an adapter composes the local adapter (adapter_local.c), which keeps the
 * rooms and delivers to this node's sockets, and adds the other nodes: broadcasts are
 * published for them, theirs are delivered here, and the requests of
 * protocol/include/redis_adapter_codec.h (fetchSockets, serverSideEmit, broadcasts with acks,
 * remote joins...) go both ways.
 *
 * Unlike Node, which PSUBSCRIBEs key#nsp#* and drops what it has no room for, a node
 * subscribes to key#nsp# plus key#nsp#room# for exactly the rooms it has local members in
 * (socket ids included), so Redis only sends what some local socket wants.
 *
 * Lifetime: cl_cluster_new() before sio_server_set_adapter(srv, cl_adapter_new, c);
 * cl_cluster_close() once sio_server_shutdown() has called its done (every adapter is
 * freed by then). Redis being down never blocks a node: local delivery goes on, the
 * connection retries with capped backoff, cl_cluster_ready() says 0, and cluster-wide
 * operations that get no answer end with SIO_ACK_TIMEOUT.
 */
#ifndef RCA_REDIS_ADAPTER_H
#define RCA_REDIS_ADAPTER_H

#include <stdint.h>
#include <uv.h>

#include "adapter.h"

#define CL_DEFAULT_REQUEST_TIMEOUT_MS 5000 /* Node's requestsTimeout */
#define CL_UID_LEN                    12   /* random characters of a node's uid */

typedef struct cl_cluster cl_cluster;

typedef struct cl_config {
    const char *url;             /* redis://[user:password@]host[:port][/db] (copied) */
    const char *prefix;          /* channel key (copied); NULL: RDAP_DEFAULT_KEY "socket.io" */
    const char *node_id;         /* name in logs (copied); NULL: the uid */
    uint32_t request_timeout_ms; /* fetchSockets and friends; 0: the default */
    int psubscribe;              /* 1: PSUBSCRIBE key#nsp#* as Node does, instead of one
                                    channel per local room (see the file comment) */
    /* May be NULL: readiness (cl_cluster_ready) changed. A 1 after a 0 means every
     * subscription is back after a reconnect: what was broadcast meanwhile is lost to this
     * node, and an application that must not lose anything catches up then. */
    void (*on_ready)(int ready, void *ud);
    void *ud;
} cl_config;

/* Connects (in the background) to Redis. NULL with a reason in err when the URL is
 * invalid. */
cl_cluster *cl_cluster_new(uv_loop_t *loop, const cl_config *cfg, char *err, size_t errlen);
/* The sio_adapter_factory: ud is the cl_cluster. */
sio_adapter *cl_adapter_new(sio_namespace *nsp, void *ud);
/* An eio_ready_cb for /readyz: 1 when Redis is connected and every subscription is
 * confirmed; ud is the cl_cluster. */
int cl_cluster_ready(const char **reason, void *ud);
/* This node's uid on the wire (random, as Node's). */
const char *cl_cluster_uid(const cl_cluster *c);
/* Closes the connection; done(ud) runs once everything is freed (done may be NULL). */
void cl_cluster_close(cl_cluster *c, void (*done)(void *ud), void *ud);

#endif
