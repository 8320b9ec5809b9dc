/* websocket.h: RFC 6455 framing, with no I/O: parse frames out of the caller's bytes,
 * write frame headers into the caller's buffer.
 *
 * Written here rather than taken from a library on purpose: wslay (the packaged one)
 * keeps a 4 KiB input buffer inside every connection's context, more than a whole idle
 * connection may cost us. This reader keeps a few words of state per connection; the
 * bytes stay in the caller's buffer (a read slab shared by all connections, or the
 * leftover of one incomplete frame), and payloads are unmasked in place there.
 *
 * Use: ws_reader_init() once per connection, then call ws_read_frame() on the bytes
 * received so far until it returns 0 (keep the rest: no whole frame yet) or -1 (protocol
 * error: send a close frame with r->close_code and drop the connection). Every frame it
 * returns is whole and valid: masking, opcode, reserved bits, control frame rules,
 * continuation order, the message size limit (summed over fragments) and the UTF-8 of
 * text messages (checked across fragments) are already checked.
 */
#ifndef WS_WEBSOCKET_CODEC_H
#define WS_WEBSOCKET_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WS_HEADER_MAX        14  /* longest frame header: 2 + 8 bytes of length + 4 of mask */
#define WS_SERVER_HEADER_MAX 10  /* longest unmasked (server-to-client) header */
#define WS_CONTROL_MAX       125 /* longest control frame payload */
#define WS_ACCEPT_LEN        28  /* base64 of a SHA-1 digest */

/* Opcodes (RFC 6455 section 5.2). */
enum ws_opcode {
    WS_OP_CONTINUATION = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA
};

/* Close codes (RFC 6455 section 7.4.1) the server sends. */
enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL_ERROR = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005,    /* never sent: a close frame without a code */
    WS_CLOSE_INVALID_DATA = 1007, /* text that is not UTF-8 */
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009, /* message over max_payload */
    WS_CLOSE_INTERNAL = 1011
};

typedef struct ws_reader {
    uint64_t max_payload; /* largest message, summed over its fragments */
    uint64_t msg_len;     /* bytes of the fragmented message so far */
    uint32_t utf8_state;  /* UTF-8 validation state carried across text fragments */
    uint8_t msg_opcode;   /* WS_OP_TEXT / WS_OP_BINARY while a fragmented message is open, else 0 */
    uint8_t require_mask; /* 1 on the server side: clients must mask (RFC 6455 5.1) */
    uint16_t close_code;  /* after -1: the code to close with */
    const char *errstr;   /* after -1: why, a static string */
} ws_reader;

typedef struct ws_frame {
    uint8_t opcode;     /* WS_OP_*; a continuation keeps WS_OP_CONTINUATION */
    uint8_t fin;        /* 1 on the last frame of a message (always 1 for control frames) */
    uint8_t msg_opcode; /* the message's opcode (TEXT/BINARY) for data frames, else 0 */
    uint8_t *payload;   /* unmasked, inside the caller's buffer */
    size_t len;         /* payload bytes */
} ws_frame;

/* max_payload: largest message accepted (close 1009 beyond). require_mask: 1 for a
 * server reading a client, 0 for a client reading a server (masked or not, both pass). */
void ws_reader_init(ws_reader *r, uint64_t max_payload, int require_mask);

/* Parses the frame at the start of buf (len bytes). Returns the bytes it spans (> 0) and
 * fills f, its payload unmasked in place; 0 when buf does not hold the whole frame yet
 * (*need, when need is not NULL, is then the total the frame needs, or a lower bound
 * while even the header is incomplete); -1 on a protocol error (r->close_code and
 * r->errstr say which; the reader stays failed). */
ssize_t ws_read_frame(ws_reader *r, uint8_t *buf, size_t len, ws_frame *f, size_t *need);

/* Writes the header of an unmasked frame with fin set into out and returns its length
 * (2, 4 or 10). The payload of len bytes follows it on the wire. */
size_t ws_frame_header(uint8_t out[WS_SERVER_HEADER_MAX], enum ws_opcode op, uint64_t len);

/* The same header, written so that it ends exactly at end (for headroom before a payload
 * already in place); returns its length. */
size_t ws_frame_header_before(uint8_t *end, enum ws_opcode op, uint64_t len);

/* A masked header (client to server) with fin set; returns its length (6, 8 or 14). */
size_t ws_frame_header_masked(uint8_t out[WS_HEADER_MAX], enum ws_opcode op, uint64_t len,
                              const uint8_t mask[4]);

/* XORs len bytes with the mask, as if they began at offset bytes into the payload. */
void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset);

/* Reads a close frame's payload: the code (WS_CLOSE_NO_STATUS when empty) and reason.
 * Returns 0, or -1 when the payload is invalid (one byte, a code that may not be sent,
 * a reason that is not UTF-8): the answer is then a close with 1002. */
int ws_close_parse(const uint8_t *payload, size_t len, uint16_t *code, const uint8_t **reason,
                   size_t *reason_len);

/* Writes a close payload (code in network order, then reason) and returns its length:
 * 0 for WS_CLOSE_NO_STATUS, which stands for an empty payload. reason may be NULL; one
 * longer than WS_CONTROL_MAX - 2 bytes is cut at the last whole UTF-8 character. */
size_t ws_close_payload(uint8_t out[WS_CONTROL_MAX], uint16_t code, const char *reason);

/* 1 when the len bytes are valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
int ws_utf8_valid(const uint8_t *s, size_t len);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2): writes WS_ACCEPT_LEN
 * characters and a NUL into out. Allocation failure aborts, as in the rest of protocol/. */
void ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1]);

#endif
