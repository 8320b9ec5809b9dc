/* redis_adapter.h: the Redis messages of @socket.io/redis-adapter 8.x and
 * @socket.io/redis-emitter 5.x (no I/O).
 *
 * Nodes of one cluster talk over Redis pub/sub, per namespace nsp and key prefix key
 * (RDA_DEFAULT_KEY unless configured):
 *
 *   key#nsp#            broadcasts: msgpack [uid, packet, opts]     a node PSUBSCRIBEs key#nsp#*
 *   key#nsp#room#       the same, when opts.rooms holds exactly one room
 *   key-request#nsp#    requests: JSON, except BROADCAST (msgpack)  SUBSCRIBE; PUBSUB NUMSUB of
 *                                                                   it counts the nodes
 *   key-response#nsp#       responses: JSON, except BROADCAST_ACK (msgpack)       SUBSCRIBE
 *   key-response#nsp#uid#   where nodes started with publishOnSpecificResponseChannel send
 *                           their responses to the node whose uid asked       SUBSCRIBE
 *
 * The uid names the sending adapter: Node gives each namespace's adapter on each server its
 * own 6 random characters. A node ignores broadcasts carrying its own uid (it delivered them
 * locally). Its own requests come back to it too: Node skips them by uid (SERVER_SIDE_EMIT)
 * or by requestId (SOCKETS, ALL_ROOMS, REMOTE_FETCH, BROADCAST), but applies its own
 * REMOTE_JOIN/LEAVE/DISCONNECT only when they come back, not when it sends them.
 *
 * A receiver reads a request or response as JSON when its first byte is '{' and as msgpack
 * otherwise, whatever its type (Node does the same); the encoders pick the format Node
 * picks for the type. Broadcasts are always msgpack.
 *
 * Binary values (msgpack bin) are kept in "deconstructed" form, as in socketio.h: the JSON
 * holds {"_placeholder":true,"num":N} where the bytes were, numbered depth-first (the order
 * socket.io-parser uses), and the bytes travel alongside as sio_attachment. The encoders
 * put each attachment back as bin where its placeholder is. Binary is only accepted where
 * Node puts it: in a broadcast's packet data and in a BROADCAST_ACK's argument.
 *
 * Decoding copies what it keeps: the decoded structs own everything and do not point into
 * the message. msgpack nesting is limited to RDA_MAX_DEPTH containers on both sides. The
 * msgpack itself goes through msgpack-c, in redis_adapter_msgpack.c.
 */
#ifndef RDA_REDIS_ADAPTER_H
#define RDA_REDIS_ADAPTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "socketio.h"

#define RDA_DEFAULT_KEY "socket.io"
#define RDA_EMITTER_UID "emitter"  /* the uid of every @socket.io/redis-emitter message */
#define RDA_ERRSTR_LEN 128
/* msgpack-c's unpacker refuses deeper nesting (its MSGPACK_EMBED_STACK_SIZE); the encoders
 * refuse it too, so that no node publishes what this codec cannot read back. */
#define RDA_MAX_DEPTH 32
#define RDA_UNSET (-1)  /* an integer field the message does not carry */

/* Keys of opts.flags that Socket.IO sets (socket.io's BroadcastFlags). */
#define RDA_FLAG_VOLATILE "volatile"  /* true: drop for clients that cannot take it now */
#define RDA_FLAG_COMPRESS "compress"  /* false: do not compress */
#define RDA_FLAG_LOCAL "local"        /* true: this node only (such broadcasts are never sent) */
#define RDA_FLAG_TIMEOUT "timeout"    /* ms an acknowledged broadcast waits for answers */

typedef enum rda_status {
    RDA_OK = 0,
    RDA_ERR = -1 /* malformed input (the decoder's errstr says why) or unencodable struct */
} rda_status;

/* Request types and their numbers on the wire (RequestType in both packages). Responses
 * carry a type only for SERVER_SIDE_EMIT, BROADCAST_CLIENT_COUNT and BROADCAST_ACK. */
typedef enum rda_type {
    RDA_TYPE_NONE = -1, /* a response without "type": the requester knows it by requestId */
    RDA_SOCKETS = 0,    /* ids of the sockets in rooms (answered by 8.x, sent only by older) */
    RDA_ALL_ROOMS = 1,
    RDA_REMOTE_JOIN = 2,         /* sockets matching opts join rooms */
    RDA_REMOTE_LEAVE = 3,        /* sockets matching opts leave rooms */
    RDA_REMOTE_DISCONNECT = 4,   /* sockets matching opts disconnect (close: and the transport) */
    RDA_REMOTE_FETCH = 5,        /* id, handshake, rooms and data of sockets matching opts */
    RDA_SERVER_SIDE_EMIT = 6,    /* an event for the other nodes, optionally acknowledged */
    RDA_BROADCAST = 7,           /* a broadcast whose clients' acknowledgements are awaited */
    RDA_BROADCAST_CLIENT_COUNT = 8, /* response: how many clients a node sent BROADCAST to */
    RDA_BROADCAST_ACK = 9           /* response: one client's acknowledgement */
} rda_type;

/* A list of room (or socket) names: owned array of owned NUL-terminated strings. Node also
 * allows integer rooms; they decode to their decimal text. names can serve directly as
 * sio_target's rooms/except. */
typedef struct rda_rooms {
    char **names;
    size_t n;
} rda_rooms;

/* Which sockets a broadcast or remote operation is for. */
typedef struct rda_opts {
    rda_rooms rooms;   /* sockets in any of these rooms; none: every socket */
    rda_rooms except;  /* minus the sockets in any of these */
    json_t *flags;     /* owned object (RDA_FLAG_*), or NULL: no "flags" key (request opts) */
} rda_opts;

/* A broadcast, published on rda_channel_broadcast(). */
typedef struct rda_broadcast {
    char *uid;          /* sending node's uid (owned); RDA_EMITTER_UID from the emitter */
    sio_packet packet;  /* see the notes below */
    rda_opts opts;
} rda_broadcast;

/* Notes on the packets inside broadcasts and BROADCAST requests:
 * - packet.type is the Socket.IO type to send to clients: BINARY_EVENT/BINARY_ACK when there
 *   are attachments. On the Redis wire Node always writes EVENT/ACK (its Socket.IO encoder
 *   makes them binary later); the decoder and encoders convert.
 * - packet.nsp is "/" when the message names none (as Node assumes); a receiver compares it
 *   with its namespace and ignores other namespaces, as Node does.
 * - packet.id is SIO_NO_ACK except for socket.emit() with an ack on a Node server that has
 *   connectionStateRecovery: that emit is published to the socket's own room. BROADCAST
 *   requests never carry one: each receiving node numbers its own acks. */

/* A request, published on rda_channel_request(). Fields the message does not carry are
 * NULL / 0 / RDA_UNSET; has_* mark the fields the message carries (the encoder writes
 * exactly those, in Node's key order: uid, requestId, type, sid, room, packet, opts, rooms,
 * close, data). rda_request_init() marks what Node writes for the type. */
typedef struct rda_request {
    rda_type type;
    char *uid;          /* sending node (owned); NULL: none (emitter's JOIN/LEAVE/DISCONNECT) */
    char *request_id;   /* owned; NULL: none, nobody answers (JOIN/LEAVE/DISCONNECT by opts,
                         * SERVER_SIDE_EMIT without ack) */
    char *sid;          /* owned; one-socket JOIN/LEAVE/DISCONNECT of 7.x senders, else NULL */
    char *room;         /* owned; the room of such a one-socket JOIN/LEAVE, else NULL */
    int has_packet;
    sio_packet packet;  /* BROADCAST: what to send (see the notes above) */
    int has_opts;
    rda_opts opts;      /* JOIN, LEAVE, DISCONNECT, FETCH: which sockets; BROADCAST: and flags */
    int has_rooms;
    rda_rooms rooms;    /* SOCKETS: rooms to list (none: all); JOIN/LEAVE: rooms to join/leave */
    int close;          /* DISCONNECT: 1 to close the transport too, 0, or RDA_UNSET */
    json_t *data;       /* SERVER_SIDE_EMIT: [event, args...] (owned); NULL: none */
} rda_request;

/* A response, published on rda_channel_response() (the requester's uid when the responder
 * uses specific channels; Node's SERVER_SIDE_EMIT answers always use the shared channel).
 * Key order: type, requestId, sockets, rooms, data, clientCount, packet. */
typedef struct rda_response {
    rda_type type;        /* SERVER_SIDE_EMIT, BROADCAST_CLIENT_COUNT, BROADCAST_ACK, or
                           * RDA_TYPE_NONE for the answers to the other requests */
    char *request_id;     /* owned; NULL: none (Node ignores such a response) */
    json_t *sockets;      /* owned; SOCKETS: array of socket ids; REMOTE_FETCH: array of
                           * {id, handshake, rooms, data}; NULL: none */
    int has_rooms;
    rda_rooms rooms;      /* ALL_ROOMS: the responder's rooms (socket ids included) */
    json_t *data;         /* owned; SERVER_SIDE_EMIT: the ack's argument; NULL: none (undefined) */
    int64_t client_count; /* BROADCAST_CLIENT_COUNT; RDA_UNSET: none */
    json_t *ack;          /* owned; BROADCAST_ACK: the client's first ack argument (wire key
                           * "packet"), deconstructed; NULL: none (undefined) */
    sio_attachment *ack_attachments; /* owned array: the bytes of ack's placeholders */
    size_t n_ack_attachments;
} rda_response;

/* ---- lifetimes -------------------------------------------------------------------------- */

void rda_rooms_init(rda_rooms *r);
void rda_rooms_clear(rda_rooms *r);                   /* frees the names; r is empty after */
void rda_rooms_add(rda_rooms *r, const char *name);   /* appends a copy of name */
void rda_opts_init(rda_opts *o);                      /* no rooms, no except, flags NULL */
void rda_opts_clear(rda_opts *o);

/* Empty broadcast with flags {} (Node always sends a flags object). */
void rda_broadcast_init(rda_broadcast *b);
void rda_broadcast_clear(rda_broadcast *b);           /* frees everything; b holds nothing */
/* Empty request of type t marked with the fields Node sends for it: SOCKETS rooms; JOIN and
 * LEAVE opts and rooms; DISCONNECT opts and close 0; FETCH opts; SERVER_SIDE_EMIT data [];
 * BROADCAST packet (EVENT of "/") and opts with flags {}. uid and request_id stay NULL:
 * set them (malloc'd strings) as Node would for the type. */
void rda_request_init(rda_request *r, rda_type t);
void rda_request_clear(rda_request *r);               /* frees everything; r holds nothing */
/* Empty response answering a request of type t, marked as Node writes it: SOCKETS and
 * REMOTE_FETCH sockets []; ALL_ROOMS rooms; SERVER_SIDE_EMIT, BROADCAST_CLIENT_COUNT (0) and
 * BROADCAST_ACK the type; the one-socket JOIN/LEAVE/DISCONNECT only the requestId. */
void rda_response_init(rda_response *r, rda_type t);
void rda_response_clear(rda_response *r);             /* frees everything; r holds nothing */

/* ---- decoding ----------------------------------------------------------------------------- */

typedef struct rda_decoder {
    char errstr[RDA_ERRSTR_LEN]; /* why the last decode returned RDA_ERR */
} rda_decoder;

void rda_decoder_init(rda_decoder *d);

/* Each decodes one whole pub/sub message (bytes, not NUL-terminated) into *out, which is
 * overwritten (not freed first). RDA_OK: the caller clears *out. RDA_ERR: d->errstr says
 * why and *out holds nothing (clearing it is harmless).
 * Refused: truncated or trailing bytes, nesting beyond RDA_MAX_DEPTH, fields of the wrong
 * type, strings that are not UTF-8, NUL bytes in names, binary where Node puts none,
 * objects that look like placeholders (they would be confused with the attachments),
 * msgpack ext types other than timestamps (which become ISO-8601 strings, like the
 * JSON.stringify of the Date that Node would decode). Unknown keys are ignored. */
int rda_broadcast_decode(rda_decoder *d, const uint8_t *msg, size_t len, rda_broadcast *out);
/* 1 when msg is a broadcast sent by uid (its first field), read from the headers alone:
 * a node hears its own broadcasts back through the pattern it subscribes, and skips
 * them without decoding. 0 when msg is anything else, malformed included. */
int rda_broadcast_sent_by(const uint8_t *msg, size_t len, const char *uid);
/* Requests need a known type. A BROADCAST request or BROADCAST_ACK response that came as
 * JSON may not nest deeper than RDA_MAX_DEPTH either, since it is re-encoded as msgpack. */
int rda_request_decode(rda_decoder *d, const uint8_t *msg, size_t len, rda_request *out);
int rda_response_decode(rda_decoder *d, const uint8_t *msg, size_t len, rda_response *out);

/* ---- encoding ----------------------------------------------------------------------------- */

/* Each appends the message to out as the Node side writes it. Broadcasts, BROADCAST
 * requests and BROADCAST_ACK responses are msgpack (and any message carrying attachments,
 * which JSON cannot hold), with notepack.io's choices: the smallest int for integral
 * numbers (2.0 included) up to uint64, float64 for the others, fixstr/str8/str16/str32 and
 * bin8/bin16/bin32 by length, object keys in JavaScript's order (array-index keys such as
 * "2" first, ascending). Everything else is compact JSON. A broadcast from RDA_EMITTER_UID
 * is written as the emitter writes it (opts keys rooms, flags, except). Returns RDA_OK, or
 * RDA_ERR with out as it was: a NULL or non-UTF-8 name, an unknown type, a packet type out
 * of range or with attachments it cannot carry, an ack id out of range, a placeholder with
 * no attachment, flags that are not an object, nesting beyond RDA_MAX_DEPTH. */
int rda_broadcast_encode(const rda_broadcast *b, sb_buf *out);
int rda_request_encode(const rda_request *r, sb_buf *out);
int rda_response_encode(const rda_response *r, sb_buf *out);

/* ---- channels ----------------------------------------------------------------------------- */

/* Each appends a channel name (binary-safe bytes, no NUL terminator: publish with "%b").
 * key NULL means RDA_DEFAULT_KEY, nsp NULL the main namespace "/".
 *
 * key#nsp#, or key#nsp#room# when room is not NULL. */
void rda_channel_broadcast(sb_buf *out, const char *key, const char *nsp, const char *room);
/* The channel Node publishes a broadcast with these opts on: the room's when opts->rooms
 * holds exactly one room. Names in opts must be distinct, as Node's Sets make them. */
void rda_channel_broadcast_for(sb_buf *out, const char *key, const char *nsp,
                               const rda_opts *opts);
/* The PSUBSCRIBE pattern key#nsp#* (glob characters in key and nsp escaped). */
void rda_channel_broadcast_pattern(sb_buf *out, const char *key, const char *nsp);
void rda_channel_request(sb_buf *out, const char *key, const char *nsp);  /* key-request#nsp# */
/* key-response#nsp#, or key-response#nsp#uid# when uid is not NULL. */
void rda_channel_response(sb_buf *out, const char *key, const char *nsp, const char *uid);
/* If channel is a broadcast channel of key and nsp, returns 1 and sets *room and *room_len
 * to its room part (length 0 for key#nsp#; it points into channel). Returns 0 otherwise. Node
 * skips a room's channel when it has no socket in that room. */
int rda_channel_broadcast_room(const char *channel, size_t len, const char *key,
                               const char *nsp, const char **room, size_t *room_len);

/* ---- flags -------------------------------------------------------------------------------- */

int rda_opts_volatile(const rda_opts *o);  /* flags.volatile is true */
int rda_opts_compress(const rda_opts *o);  /* 0 only when flags.compress is false */

const char *rda_type_name(rda_type t);     /* "SOCKETS", "BROADCAST_ACK", … for logs */

#endif
