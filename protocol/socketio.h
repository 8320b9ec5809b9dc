/* socketio.h: Socket.IO v5 packet codec (no I/O).
 *
 * Text form: <type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]
 * e.g. 2["hello",1]   2/admin,["a"]   3/admin,13["b"]   51-["f",{"_placeholder":true,"num":0}]
 *
 * Binary packets (BINARY_EVENT, BINARY_ACK) arrive as that text followed by one Engine.IO
 * binary message per attachment. This codec keeps them in "deconstructed" form: the JSON
 * data holds {"_placeholder":true,"num":N} objects and the packet carries the attachment
 * bytes alongside, in order. Applications read the placeholders to find the buffers and
 * build them (sio_placeholder_new) to send buffers; nothing is converted on the way.
 *
 * The decoder is fed one Engine.IO message at a time (text, then binary attachments) and
 * hands out a packet once it is complete, like hiredis's reader.
 */
#ifndef SIO_SOCKETIO_H
#define SIO_SOCKETIO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

#define SIO_PROTOCOL_VERSION 5
#define SIO_ERRSTR_LEN 128
#define SIO_DEFAULT_MAX_ATTACHMENTS 10
#define SIO_NO_ACK (-1)
/* Ack ids are JavaScript numbers on the other side: larger ids would not survive. */
#define SIO_MAX_ACK_ID 9007199254740991LL

typedef enum sio_status {
    SIO_OK = 0,    /* a complete packet was produced */
    SIO_MORE = 1,  /* the packet awaits more binary attachments */
    SIO_ERR = -1   /* malformed input; errstr says why */
} sio_status;

typedef enum sio_packet_type {
    SIO_PACKET_CONNECT = 0,
    SIO_PACKET_DISCONNECT = 1,
    SIO_PACKET_EVENT = 2,
    SIO_PACKET_ACK = 3,
    SIO_PACKET_CONNECT_ERROR = 4,
    SIO_PACKET_BINARY_EVENT = 5,
    SIO_PACKET_BINARY_ACK = 6
} sio_packet_type;

typedef struct sio_attachment {
    uint8_t *data; /* owned by the packet (malloc) */
    size_t len;
} sio_attachment;

typedef struct sio_packet {
    sio_packet_type type;
    char *nsp;                   /* owned, NUL-terminated; "/" when the text named none */
    int64_t id;                  /* ack id, or SIO_NO_ACK */
    json_t *data;                /* owned reference, or NULL when the packet has no data */
    size_t n_attachments;        /* attachments announced (binary types), 0 otherwise */
    sio_attachment *attachments; /* owned array of n_attachments once complete */
} sio_packet;

/* Zeroes p (nsp NULL, id SIO_NO_ACK, no data). */
void sio_packet_init(sio_packet *p);
/* Frees everything p owns and re-initialises it. */
void sio_packet_clear(sio_packet *p);

/* Validation of decoded packets follows socket.io-parser: CONNECT data absent or an object;
 * DISCONNECT without data; CONNECT_ERROR data a string or an object; EVENT data a non-empty
 * array whose first element is a string that is not a reserved event name (connect,
 * connect_error, disconnect, disconnecting, newListener, removeListener) or a number; ACK
 * data an array; ack ids only on EVENT/ACK types, decimal, at most SIO_MAX_ACK_ID;
 * placeholders must name an attachment that exists. */
typedef struct sio_decoder {
    sio_packet pending;           /* a binary packet collecting attachments (owned) */
    size_t received;              /* attachments received so far for pending */
    int has_pending;              /* 1 while pending awaits attachments */
    size_t max_attachments;       /* larger announcements are refused */
    char errstr[SIO_ERRSTR_LEN];  /* reason for the last SIO_ERR */
} sio_decoder;

void sio_decoder_init(sio_decoder *d, size_t max_attachments);
void sio_decoder_free(sio_decoder *d);
/* Feeds one text message. SIO_OK: *out holds the packet (caller clears it). SIO_MORE: a
 * binary packet now awaits attachments. SIO_ERR: also when a text arrives while attachments
 * are still expected. */
int sio_decoder_feed_text(sio_decoder *d, const char *text, size_t len, sio_packet *out);
/* Feeds one binary attachment (copied). SIO_OK when it was the last one, SIO_MORE when more
 * are due, SIO_ERR when no binary packet is pending. */
int sio_decoder_feed_binary(sio_decoder *d, const uint8_t *data, size_t len, sio_packet *out);

/* Appends the text form of p to out. For BINARY_* types the attachment count written is
 * p->n_attachments; the attachments themselves are sent by the caller as binary messages.
 * Returns SIO_OK, or SIO_ERR when p cannot be encoded (bad type, data not serialisable). */
int sio_packet_encode(const sio_packet *p, sb_buf *out);

/* Appends the text form of an EVENT/BINARY_EVENT without building a packet: the event name
 * is prepended to args (a JSON array, borrowed, may be NULL). n_attachments > 0 selects
 * BINARY_EVENT. This is the broadcast path: encode once, send to many. */
int sio_event_encode(sb_buf *out, const char *nsp, int64_t id, const char *event, json_t *args,
                     size_t n_attachments);

/* The same two packets with their arguments given as JSON text already (args_text: a JSON
 * array, len bytes, trusted to be well-formed and free of placeholders): the path for a
 * payload that goes out both as an event and as an ack, encoded once. SIO_ERR when nsp
 * or the event name cannot be encoded. */
int sio_event_encode_text(sb_buf *out, const char *nsp, int64_t id, const char *event,
                          const char *args_text, size_t len);
int sio_ack_encode_text(sb_buf *out, const char *nsp, int64_t id, const char *args_text,
                        size_t len);

/* New reference to {"_placeholder":true,"num":num}. */
json_t *sio_placeholder_new(size_t num);
/* If v is a well-formed placeholder, stores its num and returns 1; else 0. */
int sio_placeholder_num(const json_t *v, size_t *num);
/* Counts placeholders anywhere inside v (recursively). */
size_t sio_placeholder_count(const json_t *v);

/* Parses one JSON value (any type, NULs allowed in strings) the way JavaScript reads it:
 * integers beyond json_int_t become reals instead of an error. New reference, or NULL with
 * err filled. Other codecs reading JSON from Node use it too. */
json_t *sio_json_loadb(const char *s, size_t len, json_error_t *err);

const char *sio_packet_type_name(sio_packet_type t); /* "CONNECT", "EVENT", … for logs */

#endif
