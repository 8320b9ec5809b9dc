/* node.h: what every part of the helpdesk on this node shares: the server and the
 * /helpdesk namespace, the store, the configuration, the counters, and whether the app
 * is stopping.
 *
 * Each part keeps its own state in a struct of its own that points to the node; the app
 * (app.c) holds the node and every part. Above client.h, contract.h and metrics.h; below
 * every part (app.c has the whole order).
 */
#ifndef HD_NODE_H
#define HD_NODE_H

#include "health.h"
#include "helpdesk.h"
#include "metrics.h"

typedef struct hd_node {
    sio_server *srv;
    sio_namespace *nsp; /* /helpdesk */
    hd_store *store;    /* the caller's, for the app's life */
    hd_config cfg;
    hd_metrics metrics;
    eio_health health; /* /healthz, /readyz: ready when the store is */
    int stopped;       /* hd_app_stop was called */
} hd_node;

/* 1 when the node can do its whole job (the store, and the cluster's pub/sub, are up). */
int hd_node_ready(hd_node *node);

#endif
