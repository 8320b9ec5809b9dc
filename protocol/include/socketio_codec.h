/* socketio.h: Socket.IO v5 packet codec (no I/O).
 *
 * Text form: <type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]
 * e.g. 2["hello",1]   2/admin,["a"]   3/admin,13["b"]   51-["f",{"_placeholder":true,"num":0}]
 *
 * Binary packets (BINARY_EVENT, BINARY_ACK) arrive as that text followed by one Engine.IO
 * binary message per attachment. This codec keeps them in "deconstructed" form: the JSON
 * data holds {"_placeholder":true,"num":N} objects and the packet carries the attachment
 * bytes alongside, in order. Applications read the placeholders to find the buffers and
 * build them (siop_placeholder_new) to send buffers; nothing is converted on the way.
 *
 * The decoder is fed one Engine.IO message at a time (text, then binary attachments) and
 * hands out a packet once it is complete, like hiredis's reader.
 */
#ifndef SIOP_SOCKETIO_CODEC_H
#define SIOP_SOCKETIO_CODEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

#define SIOP_PROTOCOL_VERSION        5
#define SIOP_ERRSTR_LEN              128
#define SIOP_DEFAULT_MAX_ATTACHMENTS 10
#define SIOP_NO_ACK                  (-1)
/* Ack ids are JavaScript numbers on the other side: larger ids would not survive. */
#define SIOP_MAX_ACK_ID 9007199254740991LL

typedef enum siop_status {
    SIOP_OK = 0,   /* a complete packet was produced */
    SIOP_MORE = 1, /* the packet awaits more binary attachments */
    SIOP_ERR = -1  /* malformed input; errstr says why */
} siop_status;

typedef enum siop_packet_type {
    SIOP_PACKET_CONNECT = 0,
    SIOP_PACKET_DISCONNECT = 1,
    SIOP_PACKET_EVENT = 2,
    SIOP_PACKET_ACK = 3,
    SIOP_PACKET_CONNECT_ERROR = 4,
    SIOP_PACKET_BINARY_EVENT = 5,
    SIOP_PACKET_BINARY_ACK = 6
} siop_packet_type;

typedef struct siop_attachment {
    uint8_t *data; /* owned by the packet (malloc) */
    size_t len;
} siop_attachment;

typedef struct siop_packet {
    siop_packet_type type;
    char *nsp;                    /* owned, NUL-terminated; "/" when the text named none */
    int64_t id;                   /* ack id, or SIOP_NO_ACK */
    json_t *data;                 /* owned reference, or NULL when the packet has no data */
    size_t n_attachments;         /* attachments announced (binary types), 0 otherwise */
    siop_attachment *attachments; /* owned array of n_attachments once complete */
} siop_packet;

/* Zeroes p (nsp NULL, id SIOP_NO_ACK, no data). */
void siop_packet_init(siop_packet *p);
/* Frees everything p owns and re-initialises it. */
void siop_packet_clear(siop_packet *p);

/* Validation of decoded packets follows socket.io-parser: CONNECT data absent or an object;
 * DISCONNECT without data; CONNECT_ERROR data a string or an object; EVENT data a non-empty
 * array whose first element is a string that is not a reserved event name (connect,
 * connect_error, disconnect, disconnecting, newListener, removeListener) or a number; ACK
 * data an array; ack ids only on EVENT/ACK types, decimal, at most SIOP_MAX_ACK_ID;
 * placeholders must name an attachment that exists. */
typedef struct siop_decoder {
    siop_packet pending;          /* a binary packet collecting attachments (owned) */
    size_t received;              /* attachments received so far for pending */
    int has_pending;              /* 1 while pending awaits attachments */
    size_t max_attachments;       /* larger announcements are refused */
    char errstr[SIOP_ERRSTR_LEN]; /* reason for the last SIOP_ERR */
} siop_decoder;

void siop_decoder_init(siop_decoder *d, size_t max_attachments);
void siop_decoder_free(siop_decoder *d);
/* Feeds one text message. SIOP_OK: *out holds the packet (caller clears it). SIOP_MORE: a
 * binary packet now awaits attachments. SIOP_ERR: also when a text arrives while attachments
 * are still expected. */
int siop_decoder_feed_text(siop_decoder *d, const char *text, size_t len, siop_packet *out);
/* Feeds one binary attachment (copied). SIOP_OK when it was the last one, SIOP_MORE when more
 * are due, SIOP_ERR when no binary packet is pending. */
int siop_decoder_feed_binary(siop_decoder *d, const uint8_t *data, size_t len, siop_packet *out);

/* Appends the text form of p to out. For BINARY_* types the attachment count written is
 * p->n_attachments; the attachments themselves are sent by the caller as binary messages.
 * Returns SIOP_OK, or SIOP_ERR when p cannot be encoded (bad type, data not serialisable). */
int siop_packet_encode(const siop_packet *p, sb_buf *out);

/* Appends the text form of an EVENT/BINARY_EVENT without building a packet: the event name
 * is prepended to args (a JSON array, borrowed, may be NULL). n_attachments > 0 selects
 * BINARY_EVENT. This is the broadcast path: encode once, send to many. */
int siop_event_encode(sb_buf *out, const char *nsp, int64_t id, const char *event, json_t *args,
                      size_t n_attachments);

/* The same two packets with their arguments given as JSON text already (args_text: a JSON
 * array, len bytes, trusted to be well-formed and free of placeholders): the path for a
 * payload that goes out both as an event and as an ack, encoded once. SIOP_ERR when nsp
 * or the event name cannot be encoded. */
int siop_event_encode_text(sb_buf *out, const char *nsp, int64_t id, const char *event,
                           const char *args_text, size_t len);
int siop_ack_encode_text(sb_buf *out, const char *nsp, int64_t id, const char *args_text,
                         size_t len);

/* New reference to {"_placeholder":true,"num":num}. */
json_t *siop_placeholder_new(size_t num);
/* If v is a well-formed placeholder, stores its num and returns 1; else 0. */
int siop_placeholder_num(const json_t *v, size_t *num);
/* Counts placeholders anywhere inside v (recursively). */
size_t siop_placeholder_count(const json_t *v);

/* Parses one JSON value (any type, NULs allowed in strings) the way JavaScript reads it:
 * integers beyond json_int_t become reals instead of an error. New reference, or NULL with
 * err filled. Other codecs reading JSON from Node use it too. */
json_t *siop_json_loadb(const char *s, size_t len, json_error_t *err);

const char *siop_packet_type_name(siop_packet_type t); /* "CONNECT", "EVENT", … for logs */

#endif
