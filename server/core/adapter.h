/* adapter.h: the seam through which all room bookkeeping and broadcasts go.
 *
 * Like hiredis's event-loop adapters, an adapter is a small vtable the core calls; each
 * namespace has one. The local adapter (adapter_local.c) keeps rooms in memory and, when
 * recovery is on, the recovery log (recovery.c). A cluster adapter (Redis) implements the
 * same operations, forwarding to other nodes and delivering to this node's sockets with
 * the helpers below. Operations whose answer could come from elsewhere report through a
 * callback, which a local implementation may call before returning.
 *
 * Delivery is shared, not copied: an adapter encodes a broadcast once into a sio_frame
 * (refcounted eio_msg) and hands that frame to every recipient.
 */
#ifndef SIO_ADAPTER_H
#define SIO_ADAPTER_H

#include "socketio.h"

typedef struct sio_adapter sio_adapter;
typedef struct sio_ack_op sio_ack_op; /* one emit waiting for acknowledgements */

/* One encoded packet: the text message, then one binary message per attachment. */
typedef struct sio_frame {
    eio_msg *text;           /* owned reference */
    eio_msg **attachments;   /* owned array of owned references, n_attachments long */
    size_t n_attachments;
    size_t bytes;            /* payload bytes of all the messages, for limits */
} sio_frame;

/* What to broadcast. */
typedef struct sio_broadcast {
    const char *event;
    const sio_args *args;  /* never NULL; args->json may be NULL */
    const sio_target *to;  /* never NULL; an empty target means everyone */
    int flags;             /* SIO_EMIT_VOLATILE */
} sio_broadcast;

/* A disconnected socket's state kept for connection state recovery. */
typedef struct sio_session {
    char sid[SIO_ID_LEN + 1];  /* the socket id to give back */
    char pid[SIO_ID_LEN + 1];  /* the private id the client presents */
    char **rooms;              /* owned array of owned names */
    size_t n_rooms;
    json_t *data;              /* owned: the socket's sio_socket_data() */
    sio_frame *missed;         /* owned: packets to replay after CONNECT */
    size_t n_missed;
} sio_session;
void sio_session_free(sio_session *sess); /* frees members and sess itself */

/* sess NULL: nothing to restore. Otherwise the callee owns sess. */
typedef void (*sio_restore_cb)(sio_session *sess, void *ud);

typedef struct sio_adapter_ops {
    const char *name;
    /* s joins rooms (rooms it is already in are skipped). */
    void (*add)(sio_adapter *a, sio_socket *s, const char *const *rooms, size_t n);
    void (*del)(sio_adapter *a, sio_socket *s, const char *room);
    void (*del_all)(sio_adapter *a, sio_socket *s);
    /* SIO_OK, or SIO_EINVAL when b cannot be encoded (nothing was sent). */
    int (*broadcast)(sio_adapter *a, const sio_broadcast *b);
    /* Like broadcast, with ack id sio_ack_op_id(op): each local recipient is registered
     * with sio_socket_track_ack(); every node reports its count with sio_ack_op_expect().
     * On SIO_EINVAL op must be left untouched (the caller cancels it). */
    int (*broadcast_ack)(sio_adapter *a, const sio_broadcast *b, sio_ack_op *op);
    void (*sockets)(sio_adapter *a, const sio_target *to, sio_sockets_cb cb, void *ud);
    /* Recovery hooks: persist runs when s leaves for a recoverable reason (before
     * del_all); restore looks a session up by pid and the packets missed since offset
     * (NULL when the client got none). */
    void (*persist_session)(sio_adapter *a, sio_socket *s);
    void (*restore_session)(sio_adapter *a, const char *pid, const char *offset,
                            sio_restore_cb cb, void *ud);
    void (*free)(sio_adapter *a);
} sio_adapter_ops;

/* Implementations start with this struct. */
struct sio_adapter {
    const sio_adapter_ops *ops;
    sio_namespace *nsp;
};

/* Creates the adapter of a new namespace. */
typedef sio_adapter *(*sio_adapter_factory)(sio_namespace *nsp, void *ud);
/* Chooses the adapter of every namespace, existing ones included (default: the local
 * one). Call it before the loop runs, while no client is connected. */
void sio_server_set_adapter(sio_server *srv, sio_adapter_factory f, void *ud);
sio_adapter *sio_adapter_local_new(sio_namespace *nsp, void *ud);

/* ---- helpers for implementations ------------------------------------------------------ */

/* Encodes an EVENT of nsp (ack_id SIO_NO_ACK for none) into f. Returns SIO_OK, or
 * SIO_EINVAL (f empty) when args cannot be encoded: not serialisable, or placeholders
 * that do not match the attachments. */
int sio_frame_encode(sio_frame *f, sio_namespace *nsp, int64_t ack_id, const char *event,
                     const sio_args *args);
void sio_frame_retain(sio_frame *dst, const sio_frame *src); /* dst shares src's messages */
void sio_frame_release(sio_frame *f);

/* Queues f on s's session; drops it when flags has SIO_EMIT_VOLATILE and the session
 * cannot send at once. Returns SIO_OK or SIO_ECLOSED. */
int sio_socket_send_frame(sio_socket *s, const sio_frame *f, int flags);
/* Registers op's ack id on s. SIO_ELIMIT when s has too many pending acks. */
int sio_socket_track_ack(sio_socket *s, sio_ack_op *op);
const char *sio_socket_pid(const sio_socket *s); /* "" when recovery is off */
void *sio_socket_adapter_data(const sio_socket *s);
void sio_socket_set_adapter_data(sio_socket *s, void *p);

int64_t sio_ack_op_id(const sio_ack_op *op);
/* How many nodes will report (default 1). */
void sio_ack_op_expect_nodes(sio_ack_op *op, unsigned nodes);
/* One node reports how many clients it sent the packet to. */
void sio_ack_op_expect(sio_ack_op *op, size_t clients);
/* An answer from a client of another node (first argument, borrowed; NULL = none). */
void sio_ack_op_response(sio_ack_op *op, json_t *first_arg);

#endif
