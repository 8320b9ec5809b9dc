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
typedef struct sio_ack_wait sio_ack_wait; /* one emit waiting for acknowledgements */

/* One encoded packet: the text message, then one binary message per attachment. */
typedef struct sio_frame {
    eio_msg *text;         /* owned reference */
    eio_msg **attachments; /* owned array of owned references, n_attachments long */
    size_t n_attachments;
    size_t bytes; /* payload bytes of all the messages, for limits */
} sio_frame;

/* What to broadcast. */
typedef struct sio_broadcast {
    const char *event;
    const sio_args *args; /* never NULL; args->json may be NULL */
    const sio_target *to; /* never NULL; an empty target means everyone */
    int flags;            /* SIO_EMIT_VOLATILE */
} sio_broadcast;

/* A disconnected socket's state kept for connection state recovery. */
typedef struct sio_recovery_record {
    char sid[SIO_ID_LEN + 1]; /* the socket id to give back */
    char pid[SIO_ID_LEN + 1]; /* the private id the client presents */
    char **rooms;             /* owned array of owned names */
    size_t n_rooms;
    json_t *data;      /* owned: the socket's sio_socket_data() */
    sio_frame *missed; /* owned: packets to replay after CONNECT */
    size_t n_missed;
} sio_recovery_record;
void sio_recovery_record_free(sio_recovery_record *sess); /* frees members and sess itself */

/* sess NULL: nothing to restore. Otherwise the callee owns sess. */
typedef void (*sio_restore_cb)(sio_recovery_record *sess, void *ud);

/* The answer of this node's handler to a server-side event from another node: answer is
 * its arguments (borrowed for the call; Node forwards the first one), or NULL when none
 * will come: no handler, the handler freed the sio_node_reply unanswered, or the namespace
 * is going away. */
typedef void (*sio_node_reply_cb)(const sio_args *answer, void *ud);

typedef struct sio_adapter_ops {
    const char *name;
    /* s joins rooms (rooms it is already in are skipped). */
    void (*add)(sio_adapter *a, sio_socket *s, const char *const *rooms, size_t n);
    void (*del)(sio_adapter *a, sio_socket *s, const char *room);
    void (*del_all)(sio_adapter *a, sio_socket *s);
    /* 1 when s is in room (on this node, where s lives). */
    int (*has)(sio_adapter *a, const sio_socket *s, const char *room);
    /* 1 when room has members on this node. */
    int (*has_room)(sio_adapter *a, const char *room);
    /* SIOP_OK, or SIO_EINVAL when b cannot be encoded (nothing was sent). */
    int (*broadcast)(sio_adapter *a, const sio_broadcast *b);
    /* Like broadcast, with ack id sio_ack_wait_id(op): each local recipient is registered
     * with sio_socket_track_ack(); every node reports its count with sio_ack_wait_expect().
     * On SIO_EINVAL op must be left untouched (the caller cancels it). */
    int (*broadcast_ack)(sio_adapter *a, const sio_broadcast *b, sio_ack_wait *op);
    void (*sockets)(sio_adapter *a, const sio_target *to, sio_sockets_cb cb, void *ud);

    /* Cluster-wide operations (Node's addSockets, delSockets, disconnectSockets,
     * fetchSockets, serverSideEmit). Each applies to the sockets `to` designates on every
     * node: this node's are handled before the call returns, with the same effect as
     * sio_socket_join / sio_socket_leave / sio_socket_disconnect on each of them (held by
     * reference, so disconnect handlers that change rooms are harmless); a cluster adapter
     * forwards the same operation to the other nodes, which apply it to theirs with their
     * local implementation. Arguments are borrowed for the call: copy what a message to
     * other nodes needs. The core validates arguments first; NULL means the adapter does
     * not offer the operation and the public call fails with SIOP_ERR. */

    /* Every designated socket joins rooms (n >= 1): fire and forget, nothing reports. */
    void (*add_sockets)(sio_adapter *a, const sio_target *to, const char *const *rooms, size_t n);
    /* Every designated socket leaves rooms (n >= 1), the ones it is not in are skipped. */
    void (*del_sockets)(sio_adapter *a, const sio_target *to, const char *const *rooms, size_t n);
    /* Every designated socket disconnects as with sio_socket_disconnect(s, close_session). */
    void (*disconnect_sockets)(sio_adapter *a, const sio_target *to, int close_session);
    /* The designated sockets, one sio_socket_describe() object each (Node's RemoteSocket),
     * gathered from every node into one array. cb runs exactly once, before the call
     * returns or later: SIO_ACK_OK once every node answered, or SIO_ACK_TIMEOUT with what
     * arrived when some node did not answer within the adapter's request timeout (Node's
     * requestsTimeout). The array is borrowed for the call. When the adapter is freed
     * first, free runs the pending callbacks (SIO_ACK_TIMEOUT). */
    void (*fetch_sockets)(sio_adapter *a, const sio_target *to, sio_fetch_sockets_cb cb, void *ud);
    /* Sends event and args to this namespace on every OTHER node, where the adapter hands
     * it to sio_namespace_receive_server_event(); this node's handlers never run. cb NULL:
     * no answer is expected. Otherwise cb runs exactly once, before the call returns or
     * later, with one entry per answering node in arrival order (the first argument of its
     * answer, null for none): SIO_ACK_OK once every other node answered (at once, with [],
     * when there is none), SIO_ACK_TIMEOUT with the answers so far when timeout_ms (> 0)
     * passes first; nodes whose handler does not answer count as missing. When the adapter
     * is freed first, free runs the pending callbacks (SIO_ACK_TIMEOUT). Returns SIOP_OK,
     * or SIO_EINVAL when args cannot be sent (cb then never runs). */
    int (*server_side_emit)(sio_adapter *a, const char *event, const sio_args *args,
                            uint32_t timeout_ms, sio_broadcast_ack_cb cb, void *ud);

    /* Recovery hooks: persist runs when s leaves for a recoverable reason (before
     * del_all); restore looks a session up by pid and the packets missed since offset
     * (NULL when the client got none). */
    void (*persist_session)(sio_adapter *a, sio_socket *s);
    void (*restore_session)(sio_adapter *a, const char *pid, const char *offset, sio_restore_cb cb,
                            void *ud);
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
/* The local adapter without a recovery log whatever the options say: broadcasts go out as
 * given, with no offset appended, and it keeps no sessions. For a cluster adapter that
 * keeps recovery state where every node finds it. */
sio_adapter *sio_adapter_local_new_unlogged(sio_namespace *nsp);
/* A room of the local adapter got its first member (exists 1) or lost its last (0). */
typedef void (*sio_room_cb)(const char *room, int exists, void *ud);
/* Reports room creations and deletions of local (made by sio_adapter_local_new) to cb
 * (NULL: stop), so that a cluster adapter composing it can follow which rooms this node
 * has members in. */
void sio_adapter_local_on_room(sio_adapter *local, sio_room_cb cb, void *ud);
/* 1 when room of local (made by sio_adapter_local_new) has members on this node. */
int sio_adapter_local_has_room(sio_adapter *local, const char *room);
/* Calls cb once for every room of local with members on this node; cb must not change
 * rooms. */
void sio_adapter_local_each_room(sio_adapter *local, void (*cb)(const char *room, void *ud),
                                 void *ud);

/* ---- helpers for implementations ------------------------------------------------------ */

/* What the application's delivery hook (sio_namespace_on_delivery) says of b: 1 deliver it
 * to this node's sockets, 0 do not. An adapter asks before every local delivery of a
 * broadcast without acks, its own and other nodes'. */
int sio_namespace_delivers(sio_namespace *nsp, const sio_broadcast *b);

/* Encodes an EVENT of nsp (ack_id SIOP_NO_ACK for none) into f. Returns SIOP_OK, or
 * SIO_EINVAL (f empty) when args cannot be encoded: not serialisable, or placeholders
 * that do not match the attachments. */
int sio_frame_encode(sio_frame *f, sio_namespace *nsp, int64_t ack_id, const char *event,
                     const sio_args *args);
void sio_frame_retain(sio_frame *dst, const sio_frame *src); /* dst shares src's messages */
void sio_frame_release(sio_frame *f);

/* Queues f on s's session; drops it when flags has SIO_EMIT_VOLATILE and the session
 * cannot send at once. Returns SIOP_OK or SIO_ECLOSED. */
int sio_socket_send_frame(sio_socket *s, const sio_frame *f, int flags);
/* Registers op's ack id on s. SIO_ELIMIT when s has too many pending acks. */
int sio_socket_track_ack(sio_socket *s, sio_ack_wait *op);
const char *sio_socket_pid(const sio_socket *s); /* "" when recovery is off */
/* New reference to Node's RemoteSocket form of s, what fetch_sockets gathers: {"id",
 * "handshake" (sio_socket_handshake), "rooms" (the n names given, borrowed, in order),
 * "data" (a deep copy of sio_socket_data)}. Plain JSON, so it travels between nodes as is. */
json_t *sio_socket_describe(const sio_socket *s, const char *const *rooms, size_t n);
void *sio_socket_adapter_data(const sio_socket *s);
/* Reports to the server's observer (sio_server_set_observer) that s joined (joined 1) or
 * left (0) room on this node: an adapter calls it for every membership it adds or drops. */
void sio_namespace_room_changed(sio_namespace *nsp, const char *room, const sio_socket *s,
                                int joined);
/* 1 when the server's observer follows the events sent to sockets: then an adapter reports
 * each local recipient of a broadcast with sio_namespace_event_sent(). */
int sio_namespace_events_observed(const sio_namespace *nsp);
void sio_namespace_event_sent(sio_namespace *nsp, sio_socket *s, const sio_broadcast *b);
void sio_socket_set_adapter_data(sio_socket *s, void *p);

int64_t sio_ack_wait_id(const sio_ack_wait *op);
/* How many nodes will report (default 1). */
void sio_ack_wait_expect_nodes(sio_ack_wait *op, unsigned nodes);
/* One node reports how many clients it sent the packet to. */
void sio_ack_wait_expect(sio_ack_wait *op, size_t clients);
/* Clients reported so far with sio_ack_wait_expect(). */
size_t sio_ack_wait_clients(const sio_ack_wait *op);
/* An answer from a client of another node (first argument, borrowed; NULL = none). */
void sio_ack_wait_response(sio_ack_wait *op, json_t *first_arg);
/* done(ud) runs once when op ends (after its callback, or when it is cancelled), just
 * before it is freed: an adapter that keeps op for answers from other nodes forgets it. */
void sio_ack_wait_on_done(sio_ack_wait *op, void (*done)(void *ud), void *ud);
/* An answer from a client of this node to an op made with sio_ack_wait_new_relay(). */
typedef void (*sio_ack_relay_cb)(const sio_args *answer, void *ud);
/* An op for a broadcast with acks that another node asked for (Node's BROADCAST request):
 * no callback of its own; each local client's answer goes to relay (args borrowed) as it
 * comes. Deliver with the local broadcast_ack, then sio_ack_wait_arm(); use
 * sio_ack_wait_on_done() to learn when it ends. */
sio_ack_wait *sio_ack_wait_new_relay(sio_namespace *nsp, sio_ack_relay_cb relay, void *ud);
/* Ends the emit: from now on the op completes on its own (never inside this call);
 * timeout_ms 0 waits for every answer or disconnection. */
void sio_ack_wait_arm(sio_ack_wait *op, uint32_t timeout_ms);

/* A server-side event from another node arrived for nsp: runs the handler registered with
 * sio_namespace_on_server_event() (args borrowed for the call). reply NULL: the sender
 * expects no answer. Otherwise reply runs exactly once, possibly before this returns:
 * with the handler's answer, or with NULL when none will come; at the latest when the
 * namespace's adapter is freed or replaced, before its free runs. */
void sio_namespace_receive_server_event(sio_namespace *nsp, const char *event, const sio_args *args,
                                        sio_node_reply_cb reply, void *ud);

#endif
