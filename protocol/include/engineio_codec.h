/* engineio.h: Engine.IO v4 packet and payload codec, and v3's payloads (no I/O).
 *
 * A packet is a type (0..6) plus data. Over WebSocket, one frame is one packet: a text
 * frame is the type digit followed by UTF-8 data, a binary frame is a MESSAGE whose data
 * is the whole frame. Over HTTP long-polling, one body (a "payload") holds one or more
 * packets separated by the record separator 0x1e; a binary packet inside a payload is
 * 'b' followed by the base64 of its bytes.
 *
 * Decoding follows hiredis's reader shape: initialise a reader over a body, pull packets
 * until EIOP_DONE; on EIOP_ERR the reader's errstr says what was wrong. Decoded packets
 * point into the input buffer (text) or into the reader's scratch buffer (binary), so a
 * packet is valid until the next call on the same reader and while the input lives.
 */
#ifndef EIOP_ENGINEIO_CODEC_H
#define EIOP_ENGINEIO_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

#define EIOP_PROTOCOL_VERSION 4
#define EIOP_RECORD_SEPARATOR 0x1e
#define EIOP_ERRSTR_LEN       128

typedef enum eiop_status {
    EIOP_OK = 0,   /* a packet was produced */
    EIOP_DONE = 1, /* no more packets in the input */
    EIOP_ERR = -1  /* malformed input; errstr says why */
} eiop_status;

typedef enum eiop_packet_type {
    EIOP_PACKET_OPEN = 0,
    EIOP_PACKET_CLOSE = 1,
    EIOP_PACKET_PING = 2,
    EIOP_PACKET_PONG = 3,
    EIOP_PACKET_MESSAGE = 4,
    EIOP_PACKET_UPGRADE = 5,
    EIOP_PACKET_NOOP = 6
} eiop_packet_type;

typedef struct eiop_packet {
    eiop_packet_type type; /* one of the seven types */
    int binary;            /* 1: data is raw bytes of a binary MESSAGE; 0: UTF-8 text */
    const uint8_t *data;   /* bytes after the type digit (borrowed; see file comment) */
    size_t len;            /* length of data */
} eiop_packet;

/* Decodes one WebSocket frame. is_text says whether it arrived as a text frame.
 * Returns EIOP_OK or EIOP_ERR with *errstr set to a static message. out->data borrows frame. */
int eiop_packet_decode_frame(const uint8_t *frame, size_t len, int is_text, eiop_packet *out,
                             const char **errstr);

/* How a polling body is framed. Engine.IO v3 (socket.io-client 2.x) has two forms: a string
 * "<length>:<packet>" per packet, the length counted in UTF-16 code units as JavaScript
 * counts a string's length, a binary packet being "b4" and base64; and, when the client
 * reads binary and a packet is binary, bytes: 0 (text) or 1 (binary), the length's decimal
 * digits as byte values 0..9, 0xff, then the packet (a text packet's type digit and UTF-8
 * data, or a binary packet's type byte and data), its length counted in bytes. */
typedef enum eiop_payload_form {
    EIOP_FORM_V4 = 0,    /* v4: packets separated by 0x1e */
    EIOP_FORM_V3_TEXT,   /* v3 string payload */
    EIOP_FORM_V3_BINARY, /* v3 binary payload (Content-Type: application/octet-stream) */
} eiop_payload_form;

typedef struct eiop_payload_reader {
    const uint8_t *buf;           /* the body being read (borrowed) */
    size_t len;                   /* its length */
    size_t pos;                   /* offset of the next record */
    sb_buf scratch;               /* decoded base64 of the last binary packet (owned) */
    eiop_payload_form form;       /* how the body is framed */
    int err;                      /* set once an error was returned */
    char errstr[EIOP_ERRSTR_LEN]; /* human-readable reason for the error */
} eiop_payload_reader;

/* Reads a polling body. An empty body is an error (a payload holds at least one packet). */
void eiop_payload_reader_init(eiop_payload_reader *r, const uint8_t *buf, size_t len);
/* The same for a body of the given form. In the v3 string form an empty packet ("0:") is
 * skipped, as engine.io-parser 2 skips it; a length that is not digits and ':', or that
 * runs past the end of the body or into the middle of a character, is an error. */
void eiop_payload_reader_init_form(eiop_payload_reader *r, const uint8_t *buf, size_t len,
                                   eiop_payload_form form);
/* Returns EIOP_OK with *out filled, EIOP_DONE at the end, or EIOP_ERR (and keeps returning it). */
int eiop_payload_reader_next(eiop_payload_reader *r, eiop_packet *out);
void eiop_payload_reader_free(eiop_payload_reader *r); /* frees scratch; buf is not touched */

/* Appends one packet to a polling payload being built in out: the separator first when
 * out->len > 0, then the type digit and data, or 'b' and base64 for binary packets. */
void eiop_payload_append(sb_buf *out, const eiop_packet *p);

/* Appends one packet to a v3 string payload: "<length>:" and the packet, or "b4" and the
 * base64 of a binary packet. */
void eiop_payload_append_v3(sb_buf *out, const eiop_packet *p);
/* Appends one packet to a v3 binary payload (see eiop_payload_form). */
void eiop_payload_append_v3_binary(sb_buf *out, const eiop_packet *p);

/* UTF-16 code units of the len bytes of UTF-8 text at s (a JavaScript string's length):
 * 2 for a character outside the BMP, 1 for any other character or for a byte that is not
 * part of a well-formed sequence (a decoder replaces it with U+FFFD). */
size_t eiop_utf16_len(const uint8_t *s, size_t len);
/* How many bytes from s hold exactly units UTF-16 code units: 0 with *bytes set, or -1
 * when the text ends first or the count ends inside a character. */
int eiop_utf16_span(const uint8_t *s, size_t len, size_t units, size_t *bytes);

/* Decodes one Engine.IO v3 WebSocket frame: a text frame as in v4, or "b4" and base64 (a
 * client that does not send binary) decoded into scratch (reset first; out->data points
 * into it; a binary frame does not use it, and may pass NULL), a binary frame as the packet
 * type byte followed by the data. */
int eiop_packet_decode_frame_v3(const uint8_t *frame, size_t len, int is_text, sb_buf *scratch,
                                eiop_packet *out, const char **errstr);
/* Appends "b4" and the base64 of a binary message: v3's form for a client that asked for
 * base64 (b64=1), in a polling payload or a WebSocket text frame. */
void eiop_packet_encode_base64_v3(sb_buf *out, const uint8_t *data, size_t len);

/* Appends the text form of a packet (type digit + data) as sent in a WebSocket text frame.
 * Binary packets are sent as their raw data in a binary frame and need no encoding. */
void eiop_packet_encode_text(sb_buf *out, eiop_packet_type type, const uint8_t *data, size_t len);

/* Appends the OPEN packet:
 * 0{"sid":…,"upgrades":[…],"pingInterval":…,"pingTimeout":…,"maxPayload":…}. upgrades is an array
 * of n transport names (n may be 0). */
void eiop_handshake_encode(sb_buf *out, const char *sid, const char *const *upgrades, size_t n,
                           uint64_t ping_interval_ms, uint64_t ping_timeout_ms,
                           uint64_t max_payload);

const char *eiop_packet_type_name(eiop_packet_type t); /* "open", "close", … for logs */

#endif
