/* engineio.h: Engine.IO v4 packet and payload codec (no I/O).
 *
 * A packet is a type (0..6) plus data. Over WebSocket, one frame is one packet: a text
 * frame is the type digit followed by UTF-8 data, a binary frame is a MESSAGE whose data
 * is the whole frame. Over HTTP long-polling, one body (a "payload") holds one or more
 * packets separated by the record separator 0x1e; a binary packet inside a payload is
 * 'b' followed by the base64 of its bytes.
 *
 * Decoding follows hiredis's reader shape: initialise a reader over a body, pull packets
 * until EIO_DONE; on EIO_ERR the reader's errstr says what was wrong. Decoded packets
 * point into the input buffer (text) or into the reader's scratch buffer (binary), so a
 * packet is valid until the next call on the same reader and while the input lives.
 */
#ifndef EIO_ENGINEIO_H
#define EIO_ENGINEIO_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

#define EIO_PROTOCOL_VERSION 4
#define EIO_RECORD_SEPARATOR 0x1e
#define EIO_ERRSTR_LEN 128

typedef enum eio_status {
    EIO_OK = 0,    /* a packet was produced */
    EIO_DONE = 1,  /* no more packets in the input */
    EIO_ERR = -1   /* malformed input; errstr says why */
} eio_status;

typedef enum eio_packet_type {
    EIO_PACKET_OPEN = 0,
    EIO_PACKET_CLOSE = 1,
    EIO_PACKET_PING = 2,
    EIO_PACKET_PONG = 3,
    EIO_PACKET_MESSAGE = 4,
    EIO_PACKET_UPGRADE = 5,
    EIO_PACKET_NOOP = 6
} eio_packet_type;

typedef struct eio_packet {
    eio_packet_type type; /* one of the seven types */
    int binary;           /* 1: data is raw bytes of a binary MESSAGE; 0: UTF-8 text */
    const uint8_t *data;  /* bytes after the type digit (borrowed; see file comment) */
    size_t len;           /* length of data */
} eio_packet;

/* Decodes one WebSocket frame. is_text says whether it arrived as a text frame.
 * Returns EIO_OK or EIO_ERR with *errstr set to a static message. out->data borrows frame. */
int eio_packet_decode_frame(const uint8_t *frame, size_t len, int is_text, eio_packet *out,
                            const char **errstr);

typedef struct eio_payload_reader {
    const uint8_t *buf;             /* the body being read (borrowed) */
    size_t len;                     /* its length */
    size_t pos;                     /* offset of the next record */
    sb_buf scratch;                 /* decoded base64 of the last binary packet (owned) */
    int err;                        /* set once an error was returned */
    char errstr[EIO_ERRSTR_LEN];    /* human-readable reason for the error */
} eio_payload_reader;

/* Reads a polling body. An empty body is an error (a payload holds at least one packet). */
void eio_payload_reader_init(eio_payload_reader *r, const uint8_t *buf, size_t len);
/* Returns EIO_OK with *out filled, EIO_DONE at the end, or EIO_ERR (and keeps returning it). */
int eio_payload_reader_next(eio_payload_reader *r, eio_packet *out);
void eio_payload_reader_free(eio_payload_reader *r); /* frees scratch; buf is not touched */

/* Appends one packet to a polling payload being built in out: the separator first when
 * out->len > 0, then the type digit and data, or 'b' and base64 for binary packets. */
void eio_payload_append(sb_buf *out, const eio_packet *p);

/* Appends the text form of a packet (type digit + data) as sent in a WebSocket text frame.
 * Binary packets are sent as their raw data in a binary frame and need no encoding. */
void eio_packet_encode_text(sb_buf *out, eio_packet_type type, const uint8_t *data, size_t len);

/* Appends the OPEN packet: 0{"sid":…,"upgrades":[…],"pingInterval":…,"pingTimeout":…,"maxPayload":…}.
 * upgrades is an array of n transport names (n may be 0). */
void eio_handshake_encode(sb_buf *out, const char *sid, const char *const *upgrades, size_t n,
                          uint64_t ping_interval_ms, uint64_t ping_timeout_ms, uint64_t max_payload);

/* Base64 (standard alphabet, padded), through OpenSSL. decode is strict: it refuses
 * characters outside the alphabet, bad padding and lengths that are not a multiple of 4.
 * Returns EIO_OK or EIO_ERR. */
void eio_base64_encode(sb_buf *out, const uint8_t *data, size_t len);
int eio_base64_decode(sb_buf *out, const uint8_t *text, size_t len);

const char *eio_packet_type_name(eio_packet_type t); /* "open", "close", … for logs */

#endif
