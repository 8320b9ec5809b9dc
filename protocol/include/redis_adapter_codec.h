/* redis_adapter.h: the Redis messages of @socket.io/redis-adapter 8.x and
 * @socket.io/redis-emitter 5.x (no I/O).
 *
 * Nodes of one cluster talk over Redis pub/sub, per namespace nsp and key prefix key
 * (RDAP_DEFAULT_KEY unless configured):
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
 * socket.io-parser uses), and the bytes travel alongside as siop_attachment. The encoders
 * put each attachment back as bin where its placeholder is. Binary is only accepted where
 * Node puts it: in a broadcast's packet data and in a BROADCAST_ACK's argument.
 *
 * Decoding copies what it keeps: the decoded structs own everything and do not point into
 * the message. msgpack nesting is limited to RDAP_MAX_DEPTH containers on both sides. The
 * msgpack itself goes through msgpack-c, in redis_adapter_msgpack.c.
 */
#ifndef RDAP_REDIS_ADAPTER_CODEC_H
#define RDAP_REDIS_ADAPTER_CODEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "socketio_codec.h"

#define RDAP_DEFAULT_KEY "socket.io"
#define RDAP_EMITTER_UID "emitter" /* the uid of every @socket.io/redis-emitter message */
#define RDAP_ERRSTR_LEN  128
/* msgpack-c's unpacker refuses deeper nesting (its MSGPACK_EMBED_STACK_SIZE); the encoders
 * refuse it too, so that no node publishes what this codec cannot read back. */
#define RDAP_MAX_DEPTH 32
#define RDAP_UNSET     (-1) /* an integer field the message does not carry */

/* Keys of opts.flags that Socket.IO sets (socket.io's BroadcastFlags). */
#define RDAP_FLAG_VOLATILE "volatile" /* true: drop for clients that cannot take it now */
#define RDAP_FLAG_COMPRESS "compress" /* false: do not compress */
#define RDAP_FLAG_LOCAL    "local"    /* true: this node only (such broadcasts are never sent) */
#define RDAP_FLAG_TIMEOUT  "timeout"  /* ms an acknowledged broadcast waits for answers */

typedef enum rdap_status {
    RDAP_OK = 0,
    RDAP_ERR = -1 /* malformed input (the decoder's errstr says why) or unencodable struct */
} rdap_status;

/* Request types and their numbers on the wire (RequestType in both packages). Responses
 * carry a type only for SERVER_SIDE_EMIT, BROADCAST_CLIENT_COUNT and BROADCAST_ACK. */
typedef enum rdap_type {
    RDAP_TYPE_NONE = -1, /* a response without "type": the requester knows it by requestId */
    RDAP_SOCKETS = 0,    /* ids of the sockets in rooms (answered by 8.x, sent only by older) */
    RDAP_ALL_ROOMS = 1,
    RDAP_REMOTE_JOIN = 2,       /* sockets matching opts join rooms */
    RDAP_REMOTE_LEAVE = 3,      /* sockets matching opts leave rooms */
    RDAP_REMOTE_DISCONNECT = 4, /* sockets matching opts disconnect (close: and the transport) */
    RDAP_REMOTE_FETCH = 5,      /* id, handshake, rooms and data of sockets matching opts */
    RDAP_SERVER_SIDE_EMIT = 6,  /* an event for the other nodes, optionally acknowledged */
    RDAP_BROADCAST = 7,         /* a broadcast whose clients' acknowledgements are awaited */
    RDAP_BROADCAST_CLIENT_COUNT = 8, /* response: how many clients a node sent BROADCAST to */
    RDAP_BROADCAST_ACK = 9           /* response: one client's acknowledgement */
} rdap_type;

/* A list of room (or socket) names: owned array of owned NUL-terminated strings. Node also
 * allows integer rooms; they decode to their decimal text. names can serve directly as
 * sio_target's rooms/except. */
typedef struct rdap_rooms {
    char **names;
    size_t n;
} rdap_rooms;

/* Which sockets a broadcast or remote operation is for. */
typedef struct rdap_opts {
    rdap_rooms rooms;  /* sockets in any of these rooms; none: every socket */
    rdap_rooms except; /* minus the sockets in any of these */
    json_t *flags;     /* owned object (RDAP_FLAG_*), or NULL: no "flags" key (request opts) */
} rdap_opts;

/* A broadcast, published on rdap_channel_broadcast(). */
typedef struct rdap_broadcast {
    char *uid;          /* sending node's uid (owned); RDAP_EMITTER_UID from the emitter */
    siop_packet packet; /* see the notes below */
    rdap_opts opts;
} rdap_broadcast;

/* Notes on the packets inside broadcasts and BROADCAST requests:
 * - packet.type is the Socket.IO type to send to clients: BINARY_EVENT/BINARY_ACK when there
 *   are attachments. On the Redis wire Node always writes EVENT/ACK (its Socket.IO encoder
 *   makes them binary later); the decoder and encoders convert.
 * - packet.nsp is "/" when the message names none (as Node assumes); a receiver compares it
 *   with its namespace and ignores other namespaces, as Node does.
 * - packet.id is SIOP_NO_ACK except for socket.emit() with an ack on a Node server that has
 *   connectionStateRecovery: that emit is published to the socket's own room. BROADCAST
 *   requests never carry one: each receiving node numbers its own acks. */

/* A request, published on rdap_channel_request(). Fields the message does not carry are
 * NULL / 0 / RDAP_UNSET; has_* mark the fields the message carries (the encoder writes
 * exactly those, in Node's key order: uid, requestId, type, sid, room, packet, opts, rooms,
 * close, data). rdap_request_init() marks what Node writes for the type. */
typedef struct rdap_request {
    rdap_type type;
    char *uid;        /* sending node (owned); NULL: none (emitter's JOIN/LEAVE/DISCONNECT) */
    char *request_id; /* owned; NULL: none, nobody answers (JOIN/LEAVE/DISCONNECT by opts,
                       * SERVER_SIDE_EMIT without ack) */
    char *sid;        /* owned; one-socket JOIN/LEAVE/DISCONNECT of 7.x senders, else NULL */
    char *room;       /* owned; the room of such a one-socket JOIN/LEAVE, else NULL */
    int has_packet;
    siop_packet packet; /* BROADCAST: what to send (see the notes above) */
    int has_opts;
    rdap_opts opts; /* JOIN, LEAVE, DISCONNECT, FETCH: which sockets; BROADCAST: and flags */
    int has_rooms;
    rdap_rooms rooms; /* SOCKETS: rooms to list (none: all); JOIN/LEAVE: rooms to join/leave */
    int close;        /* DISCONNECT: 1 to close the transport too, 0, or RDAP_UNSET */
    json_t *data;     /* SERVER_SIDE_EMIT: [event, args...] (owned); NULL: none */
} rdap_request;

/* A response, published on rdap_channel_response() (the requester's uid when the responder
 * uses specific channels; Node's SERVER_SIDE_EMIT answers always use the shared channel).
 * Key order: type, requestId, sockets, rooms, data, clientCount, packet. */
typedef struct rdap_response {
    rdap_type type;   /* SERVER_SIDE_EMIT, BROADCAST_CLIENT_COUNT, BROADCAST_ACK, or
                       * RDAP_TYPE_NONE for the answers to the other requests */
    char *request_id; /* owned; NULL: none (Node ignores such a response) */
    json_t *sockets;  /* owned; SOCKETS: array of socket ids; REMOTE_FETCH: array of
                       * {id, handshake, rooms, data}; NULL: none */
    int has_rooms;
    rdap_rooms rooms;     /* ALL_ROOMS: the responder's rooms (socket ids included) */
    json_t *data;         /* owned; SERVER_SIDE_EMIT: the ack's argument; NULL: none (undefined) */
    int64_t client_count; /* BROADCAST_CLIENT_COUNT; RDAP_UNSET: none */
    json_t *ack;          /* owned; BROADCAST_ACK: the client's first ack argument (wire key
                           * "packet"), deconstructed; NULL: none (undefined) */
    siop_attachment *ack_attachments; /* owned array: the bytes of ack's placeholders */
    size_t n_ack_attachments;
} rdap_response;

/* ---- lifetimes -------------------------------------------------------------------------- */

void rdap_rooms_init(rdap_rooms *r);
void rdap_rooms_clear(rdap_rooms *r);                 /* frees the names; r is empty after */
void rdap_rooms_add(rdap_rooms *r, const char *name); /* appends a copy of name */
void rdap_opts_init(rdap_opts *o);                    /* no rooms, no except, flags NULL */
void rdap_opts_clear(rdap_opts *o);

/* Empty broadcast with flags {} (Node always sends a flags object). */
void rdap_broadcast_init(rdap_broadcast *b);
void rdap_broadcast_clear(rdap_broadcast *b); /* frees everything; b holds nothing */
/* Empty request of type t marked with the fields Node sends for it: SOCKETS rooms; JOIN and
 * LEAVE opts and rooms; DISCONNECT opts and close 0; FETCH opts; SERVER_SIDE_EMIT data [];
 * BROADCAST packet (EVENT of "/") and opts with flags {}. uid and request_id stay NULL:
 * set them (malloc'd strings) as Node would for the type. */
void rdap_request_init(rdap_request *r, rdap_type t);
void rdap_request_clear(rdap_request *r); /* frees everything; r holds nothing */
/* Empty response answering a request of type t, marked as Node writes it: SOCKETS and
 * REMOTE_FETCH sockets []; ALL_ROOMS rooms; SERVER_SIDE_EMIT, BROADCAST_CLIENT_COUNT (0) and
 * BROADCAST_ACK the type; the one-socket JOIN/LEAVE/DISCONNECT only the requestId. */
void rdap_response_init(rdap_response *r, rdap_type t);
void rdap_response_clear(rdap_response *r); /* frees everything; r holds nothing */

/* ---- decoding ----------------------------------------------------------------------------- */

typedef struct rdap_decoder {
    char errstr[RDAP_ERRSTR_LEN]; /* why the last decode returned RDAP_ERR */
} rdap_decoder;

void rdap_decoder_init(rdap_decoder *d);

/* Each decodes one whole pub/sub message (bytes, not NUL-terminated) into *out, which is
 * overwritten (not freed first). RDAP_OK: the caller clears *out. RDAP_ERR: d->errstr says
 * why and *out holds nothing (clearing it is harmless).
 * Refused: truncated or trailing bytes, nesting beyond RDAP_MAX_DEPTH, fields of the wrong
 * type, strings that are not UTF-8, NUL bytes in names, binary where Node puts none,
 * objects that look like placeholders (they would be confused with the attachments),
 * msgpack ext types other than timestamps (which become ISO-8601 strings, like the
 * JSON.stringify of the Date that Node would decode). Unknown keys are ignored. */
int rdap_broadcast_decode(rdap_decoder *d, const uint8_t *msg, size_t len, rdap_broadcast *out);
/* 1 when msg is a broadcast sent by uid (its first field), read from the headers alone:
 * a node hears its own broadcasts back through the pattern it subscribes, and skips
 * them without decoding. 0 when msg is anything else, malformed included. */
int rdap_broadcast_sent_by(const uint8_t *msg, size_t len, const char *uid);
/* Requests need a known type. A BROADCAST request or BROADCAST_ACK response that came as
 * JSON may not nest deeper than RDAP_MAX_DEPTH either, since it is re-encoded as msgpack. */
int rdap_request_decode(rdap_decoder *d, const uint8_t *msg, size_t len, rdap_request *out);
int rdap_response_decode(rdap_decoder *d, const uint8_t *msg, size_t len, rdap_response *out);

/* ---- encoding ----------------------------------------------------------------------------- */

/* Each appends the message to out as the Node side writes it. Broadcasts, BROADCAST
 * requests and BROADCAST_ACK responses are msgpack (and any message carrying attachments,
 * which JSON cannot hold), with notepack.io's choices: the smallest int for integral
 * numbers (2.0 included) up to uint64, float64 for the others, fixstr/str8/str16/str32 and
 * bin8/bin16/bin32 by length, object keys in JavaScript's order (array-index keys such as
 * "2" first, ascending). Everything else is compact JSON. A broadcast from RDAP_EMITTER_UID
 * is written as the emitter writes it (opts keys rooms, flags, except). Returns RDAP_OK, or
 * RDAP_ERR with out as it was: a NULL or non-UTF-8 name, an unknown type, a packet type out
 * of range or with attachments it cannot carry, an ack id out of range, a placeholder with
 * no attachment, flags that are not an object, nesting beyond RDAP_MAX_DEPTH. */
int rdap_broadcast_encode(const rdap_broadcast *b, sb_buf *out);
int rdap_request_encode(const rdap_request *r, sb_buf *out);
int rdap_response_encode(const rdap_response *r, sb_buf *out);

/* ---- channels ----------------------------------------------------------------------------- */

/* Each appends a channel name (binary-safe bytes, no NUL terminator: publish with "%b").
 * key NULL means RDAP_DEFAULT_KEY, nsp NULL the main namespace "/".
 *
 * key#nsp#, or key#nsp#room# when room is not NULL. */
void rdap_channel_broadcast(sb_buf *out, const char *key, const char *nsp, const char *room);
/* The channel Node publishes a broadcast with these opts on: the room's when opts->rooms
 * holds exactly one room. Names in opts must be distinct, as Node's Sets make them. */
void rdap_channel_broadcast_for(sb_buf *out, const char *key, const char *nsp,
                                const rdap_opts *opts);
/* The PSUBSCRIBE pattern key#nsp#* (glob characters in key and nsp escaped). */
void rdap_channel_broadcast_pattern(sb_buf *out, const char *key, const char *nsp);
void rdap_channel_request(sb_buf *out, const char *key, const char *nsp); /* key-request#nsp# */
/* key-response#nsp#, or key-response#nsp#uid# when uid is not NULL. */
void rdap_channel_response(sb_buf *out, const char *key, const char *nsp, const char *uid);
/* If channel is a broadcast channel of key and nsp, returns 1 and sets *room and *room_len
 * to its room part (length 0 for key#nsp#; it points into channel). Returns 0 otherwise. Node
 * skips a room's channel when it has no socket in that room. */
int rdap_channel_broadcast_room(const char *channel, size_t len, const char *key, const char *nsp,
                                const char **room, size_t *room_len);

/* ---- flags -------------------------------------------------------------------------------- */

int rdap_opts_volatile(const rdap_opts *o); /* flags.volatile is true */
int rdap_opts_compress(const rdap_opts *o); /* 0 only when flags.compress is false */

const char *rdap_type_name(rdap_type t); /* "SOCKETS", "BROADCAST_ACK", … for logs */

#endif
