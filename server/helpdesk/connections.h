/* connections.h: a socket's life on /helpdesk: the auth hook, the rooms of its role, the
 * chat rooms and presence the store gives it (retried while the store cannot answer), and
 * what its leaving gives back (connections.c).
 *
 * Above conversations.h (an agent's presence lets routing try again) and delivery.h (the
 * conversations a socket resumes).
 */
#ifndef HD_CONNECTIONS_H
#define HD_CONNECTIONS_H

#include "conversations.h"
#include "delivery.h"
#include "node.h"

typedef struct hd_connections {
    hd_node *node;
    hd_conversations *convs;
    hd_delivery *delivery;
    sio_socket **resync; /* sockets whose rooms or presence the store refused (503):
                            retried every tick (referenced) */
    size_t n_resync, cap_resync;
} hd_connections;

void hd_conn_init(hd_connections *cn, hd_node *node, hd_conversations *convs,
                  hd_delivery *delivery);
void hd_conn_free(hd_connections *cn);
/* The namespace's hooks (sio_namespace_set_auth, _on_connection, _on_disconnect); ud is
 * the hd_connections. */
void hd_conn_auth(sio_socket *s, void *ud);
void hd_conn_connected(sio_socket *s, void *ud);
void hd_conn_disconnected(sio_socket *s, const char *reason, void *ud);
void hd_conn_resync(hd_connections *cn);      /* the tick's retry */
void hd_conn_resync_drop(hd_connections *cn); /* releases the sockets waiting for a retry */

#endif
