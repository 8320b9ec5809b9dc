/* cluster_engine.h: no sticky sessions: Engine.IO requests for a session another node
 * holds are relayed to that node through Redis, as @socket.io/cluster-engine does for Node.
 *
 * Every sid carries its owner's tag (eio_config.sid_prefix = cl_cluster_uid()), so a node
 * that receives a polling GET or POST, or a websocket upgrade, for a session it does not
 * hold knows which node does without asking anyone. It publishes the request's bytes on
 * that node's channel (<prefix>#eio#<uid>); the owner runs them against the session on a
 * virtual connection (engine.h, eio_vconn) and publishes what the session answers back on
 * the requester's channel, which writes it to the client as it is. A websocket stays a
 * tunnel between the two nodes for its whole life: one PUBLISH per read each way.
 *
 * Bounded waits: the requester fails a request ("Session ID unknown", 400, so the client
 * reconnects) at once when PUBLISH says no node listens on the owner's channel (the owner
 * is gone) or Redis is down; when the owner says nothing within the ping timeout; and when
 * a parked GET (the owner says "parked" at once) has no answer within ping interval plus
 * ping timeout. A client that goes away cancels its request on the owner.
 *
 * Lifetime: cl_engine_attach() after the server exists (the cluster was made first, and
 * its uid given to the server as sid_prefix); the cluster's close detaches it, after the
 * server's shutdown has ended every forwarded request.
 */
#ifndef CL_CLUSTER_ENGINE_H
#define CL_CLUSTER_ENGINE_H

#include "engine.h"
#include "redis_adapter.h"

/* Relays srv's requests for other nodes' sessions, and serves theirs for srv's sessions.
 * srv's sid_prefix must be cl_cluster_uid(c). Once per cluster. */
void cl_engine_attach(cl_cluster *c, eio_server *srv);

#endif
