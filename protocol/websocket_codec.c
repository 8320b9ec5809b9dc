/* websocket.c: RFC 6455 frames read from and written into the caller's bytes.
 *
 * ws_read_frame() checks a frame in the order its bytes arrive: first byte, second byte,
 * extended length, then the payload. Each check needs only bytes already seen, so a frame
 * fed in pieces fails with the same close code as when it arrives whole, and a message
 * over the limit fails on its header, before the payload is waited for. Nothing in buf
 * changes until the whole frame is there: the caller may call again later on the same
 * bytes. The UTF-8 of text is checked with Bjoern Hoehrmann's DFA, whose one word of state
 * carries a character cut between two fragments over to the next.
 */
#include "websocket_codec.h"

#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* First byte. */
#define WS_FIN         0x80
#define WS_RSV_BITS    0x70 /* RSV1-3: no extension is ever negotiated */
#define WS_OPCODE_BITS 0x0F
#define WS_CONTROL_BIT 0x08 /* opcodes 0x8-0xF are control frames */
/* Second byte. */
#define WS_MASK_BIT       0x80
#define WS_LEN_BITS       0x7F
#define WS_LEN_7_MAX      125 /* the longest length the second byte holds itself */
#define WS_LEN_16         126 /* a 16-bit length follows */
#define WS_LEN_64         127 /* a 64-bit length follows */
#define WS_LEN_64_TOP_BIT (UINT64_C(1) << 63)

#define WS_BASE_HEADER    2
#define WS_MASK_KEY_LEN   4
#define WS_CLOSE_CODE_LEN 2
#define WS_CLOSE_APP_MIN  3000 /* 3000-4999: libraries and applications */
#define WS_CLOSE_APP_MAX  4999

#define WS_GUID     "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_SHA1_LEN 20

/* Hoehrmann's DFA (http://bjoern.hoehrmann.de/utf-8/decoder/dfa/): 256 byte classes, then
 * the transitions from state + class. A state is a multiple of 12, named for the byte it waits
 * for; no overlong form, surrogate or code point above U+10FFFF gets through. */
#define WS_UTF8_ACCEPT      0
#define WS_UTF8_REJECT      12
#define WS_UTF8_CLASSES     256
#define WS_UTF8_TRANSITIONS 108 /* 9 states of 12 classes */
#define WS_ASCII_MAX        0x7F
#define WS_ASCII_HIGH_BITS  UINT64_C(0x8080808080808080)
#define WS_UTF8_CONT_MASK   0xC0 /* continuation bytes are 10xxxxxx */
#define WS_UTF8_CONT_BITS   0x80

static const uint8_t WS_UTF8_DFA[WS_UTF8_CLASSES + WS_UTF8_TRANSITIONS] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 0, 0, 0, /* 0x00 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 0, 0, 0, /* 0x10 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 0, 0, 0, /* 0x20 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 0, 0, 0, /* 0x30 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 0, 0, 0, /* 0x40 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 0, 0, 0, /* 0x50 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 0, 0, 0, /* 0x60 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 0, 0, 0, /* 0x70 */
    1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, 1, 1, 1, /* 0x80 */
    9,  9,  9,  9,  9,  9,  9,  9,  9,  9,  9,  9,  9, 9, 9, 9, /* 0x90 */
    7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7, 7, 7, 7, /* 0xA0 */
    7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7, 7, 7, 7, /* 0xB0 */
    8,  8,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, /* 0xC0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, /* 0xD0 */
    10, 3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3, 4, 3, 3, /* 0xE0 */
    11, 6,  6,  6,  5,  8,  8,  8,  8,  8,  8,  8,  8, 8, 8, 8, /* 0xF0 */
    0,  12, 24, 36, 60, 96, 84, 12, 12, 12, 48, 72,             /* accept */
    12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,             /* reject */
    12, 0,  12, 12, 12, 12, 12, 0,  12, 0,  12, 12,             /* one more 80-BF */
    12, 24, 12, 12, 12, 12, 12, 24, 12, 24, 12, 12,             /* two more 80-BF */
    12, 12, 12, 12, 12, 12, 12, 24, 12, 12, 12, 12,             /* after E0: A0-BF */
    12, 24, 12, 12, 12, 12, 12, 12, 12, 24, 12, 12,             /* after ED: 80-9F */
    12, 12, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12,             /* after F0: 90-BF */
    12, 36, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12,             /* after F1-F3: 80-BF */
    12, 36, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,             /* after F4: 80-8F */
};

/* How many bytes at the start of s are ASCII, eight at a time while it can. */
static size_t ws_ascii_prefix(const uint8_t *s, size_t len)
{
    size_t i = 0;
    uint64_t word;
    for (; i + sizeof word <= len; i += sizeof word) {
        memcpy(&word, s + i, sizeof word);
        if (word & WS_ASCII_HIGH_BITS)
            break;
    }
    while (i < len && s[i] <= WS_ASCII_MAX)
        i++;
    return i;
}

/* Runs the DFA from state over len bytes and returns the state it ends in. Text is mostly
 * ASCII (JSON), so runs of it between characters are skipped without the table. */
static uint32_t ws_utf8_run(uint32_t state, const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len && state != WS_UTF8_REJECT; i++) {
        if (state == WS_UTF8_ACCEPT) {
            i += ws_ascii_prefix(s + i, len - i);
            if (i == len)
                break;
        }
        state = WS_UTF8_DFA[WS_UTF8_CLASSES + state + WS_UTF8_DFA[s[i]]];
    }
    return state;
}

int ws_utf8_valid(const uint8_t *s, size_t len)
{
    return ws_utf8_run(WS_UTF8_ACCEPT, s, len) == WS_UTF8_ACCEPT;
}

void ws_reader_init(ws_reader *r, uint64_t max_payload, int require_mask)
{
    memset(r, 0, sizeof *r);
    r->max_payload = max_payload;
    r->require_mask = require_mask != 0;
}

static ssize_t ws_fail(ws_reader *r, uint16_t code, const char *why)
{
    r->close_code = code;
    r->errstr = why;
    return -1;
}

static int ws_is_control(uint8_t op) { return (op & WS_CONTROL_BIT) != 0; }

static int ws_opcode_known(uint8_t op)
{
    return op == WS_OP_CONTINUATION || op == WS_OP_TEXT || op == WS_OP_BINARY ||
           op == WS_OP_CLOSE || op == WS_OP_PING || op == WS_OP_PONG;
}

/* The checks the first two bytes allow: bits, opcode, control frame form, message order. */
static ssize_t ws_check_start(ws_reader *r, uint8_t b0, uint8_t b1)
{
    uint8_t op = b0 & WS_OPCODE_BITS;
    if (b0 & WS_RSV_BITS)
        return ws_fail(r, WS_CLOSE_PROTOCOL_ERROR, "reserved bits set without an extension");
    if (!ws_opcode_known(op))
        return ws_fail(r, WS_CLOSE_PROTOCOL_ERROR, "unknown opcode");
    if (ws_is_control(op) && !(b0 & WS_FIN))
        return ws_fail(r, WS_CLOSE_PROTOCOL_ERROR, "fragmented control frame");
    if (ws_is_control(op) && (b1 & WS_LEN_BITS) > WS_CONTROL_MAX)
        return ws_fail(r, WS_CLOSE_PROTOCOL_ERROR, "control frame over 125 bytes");
    if (op == WS_OP_CONTINUATION && r->msg_opcode == 0)
        return ws_fail(r, WS_CLOSE_PROTOCOL_ERROR, "continuation without a message");
    if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && r->msg_opcode != 0)
        return ws_fail(r, WS_CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one");
    if (r->require_mask && !(b1 & WS_MASK_BIT))
        return ws_fail(r, WS_CLOSE_PROTOCOL_ERROR, "unmasked frame from a client");
    return 0;
}

static uint64_t ws_get_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void ws_put_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = n; i-- > 0; v >>= 8)
        p[i] = (uint8_t)v;
}

/* The bytes of extended length that the second byte announces. */
static size_t ws_ext_len(uint8_t b1)
{
    uint8_t len7 = b1 & WS_LEN_BITS;
    return len7 == WS_LEN_16 ? sizeof(uint16_t) : len7 == WS_LEN_64 ? sizeof(uint64_t) : 0;
}

static size_t ws_header_len(uint8_t b1)
{
    return WS_BASE_HEADER + ws_ext_len(b1) + (b1 & WS_MASK_BIT ? WS_MASK_KEY_LEN : 0);
}

/* Reads the payload length into *plen. Returns 1, 0 when the extended length is not all
 * in buf yet (*need then holds the header length), or -1. */
static int ws_read_length(ws_reader *r, const uint8_t *buf, size_t len, uint64_t *plen,
                          size_t *need)
{
    size_t ext = ws_ext_len(buf[1]);
    if (len < WS_BASE_HEADER + ext) {
        *need = ws_header_len(buf[1]);
        return 0;
    }
    *plen = ext == 0 ? buf[1] & WS_LEN_BITS : ws_get_be(buf + WS_BASE_HEADER, ext);
    if (*plen & WS_LEN_64_TOP_BIT) {
        ws_fail(r, WS_CLOSE_PROTOCOL_ERROR, "64-bit payload length with the top bit set");
        return -1;
    }
    return 1;
}

/* The message size limit, summed over fragments; control frames are bounded by 125. */
static ssize_t ws_check_size(ws_reader *r, uint8_t op, uint64_t plen, size_t header)
{
    uint64_t so_far = op == WS_OP_CONTINUATION ? r->msg_len : 0;
    if (!ws_is_control(op) && plen > r->max_payload - so_far)
        return ws_fail(r, WS_CLOSE_TOO_BIG, "message over the size limit");
    if (plen > (uint64_t)SSIZE_MAX - header)
        return ws_fail(r, WS_CLOSE_TOO_BIG, "frame larger than memory can hold");
    return 0;
}

/* The whole frame is in buf: unmask it, check its text, move the message state on. */
static ssize_t ws_take_frame(ws_reader *r, uint8_t *buf, size_t header, size_t plen, ws_frame *f)
{
    uint8_t op = buf[0] & WS_OPCODE_BITS;
    uint8_t *payload = buf + header;
    *f = (ws_frame){op, (buf[0] & WS_FIN) != 0, 0, payload, plen};
    if (buf[1] & WS_MASK_BIT)
        ws_mask(payload, plen, payload - WS_MASK_KEY_LEN, 0);
    if (ws_is_control(op))
        return (ssize_t)(header + plen);
    f->msg_opcode = op == WS_OP_CONTINUATION ? r->msg_opcode : op;
    if (f->msg_opcode == WS_OP_TEXT) {
        r->utf8_state = ws_utf8_run(r->utf8_state, payload, plen);
        if (r->utf8_state == WS_UTF8_REJECT || (f->fin && r->utf8_state != WS_UTF8_ACCEPT))
            return ws_fail(r, WS_CLOSE_INVALID_DATA, "text that is not UTF-8");
    }
    r->msg_opcode = f->fin ? 0 : f->msg_opcode;
    r->msg_len = f->fin ? 0 : r->msg_len + plen;
    return (ssize_t)(header + plen);
}

ssize_t ws_read_frame(ws_reader *r, uint8_t *buf, size_t len, ws_frame *f, size_t *need)
{
    size_t scratch, header;
    uint64_t plen;
    int got;
    if (need == NULL)
        need = &scratch;
    if (r->close_code != 0)
        return -1;
    if (len < WS_BASE_HEADER) {
        *need = WS_BASE_HEADER;
        return 0;
    }
    if (ws_check_start(r, buf[0], buf[1]) < 0)
        return -1;
    if ((got = ws_read_length(r, buf, len, &plen, need)) <= 0)
        return got;
    header = ws_header_len(buf[1]);
    if (ws_check_size(r, buf[0] & WS_OPCODE_BITS, plen, header) < 0)
        return -1;
    if (len < header + plen) {
        *need = header + (size_t)plen;
        return 0;
    }
    return ws_take_frame(r, buf, header, (size_t)plen, f);
}

/* The bytes of extended length a payload of len bytes needs in the shortest form. */
static size_t ws_ext_for(uint64_t len)
{
    return len <= WS_LEN_7_MAX ? 0 : len <= UINT16_MAX ? sizeof(uint16_t) : sizeof(uint64_t);
}

static size_t ws_header_write(uint8_t *out, enum ws_opcode op, uint64_t len, uint8_t mask_bit)
{
    size_t ext = ws_ext_for(len);
    out[0] = WS_FIN | (uint8_t)op;
    if (ext == 0) {
        out[1] = mask_bit | (uint8_t)len;
    } else {
        out[1] = mask_bit | (ext == sizeof(uint16_t) ? WS_LEN_16 : WS_LEN_64);
        ws_put_be(out + WS_BASE_HEADER, len, ext);
    }
    return WS_BASE_HEADER + ext;
}

size_t ws_frame_header(uint8_t out[WS_SERVER_HEADER_MAX], enum ws_opcode op, uint64_t len)
{
    return ws_header_write(out, op, len, 0);
}

size_t ws_frame_header_before(uint8_t *end, enum ws_opcode op, uint64_t len)
{
    size_t n = WS_BASE_HEADER + ws_ext_for(len);
    return ws_header_write(end - n, op, len, 0);
}

size_t ws_frame_header_masked(uint8_t out[WS_HEADER_MAX], enum ws_opcode op, uint64_t len,
                              const uint8_t mask[4])
{
    size_t n = ws_header_write(out, op, len, WS_MASK_BIT);
    memcpy(out + n, mask, WS_MASK_KEY_LEN);
    return n + WS_MASK_KEY_LEN;
}

/* The mask is rotated to start at offset, repeated into a 64-bit word and applied eight
 * bytes at a time; memcpy keeps the loads legal at any alignment and any byte order. */
void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset)
{
    uint8_t wide[2 * WS_MASK_KEY_LEN];
    uint64_t key, word;
    size_t i = 0;
    for (size_t k = 0; k < sizeof wide; k++)
        wide[k] = mask[(offset + k) % WS_MASK_KEY_LEN];
    memcpy(&key, wide, sizeof key);
    for (; i + sizeof word <= len; i += sizeof word) {
        memcpy(&word, data + i, sizeof word);
        word ^= key;
        memcpy(data + i, &word, sizeof word);
    }
    for (; i < len; i++)
        data[i] ^= wide[i % WS_MASK_KEY_LEN];
}

/* The codes a peer may send (RFC 6455 7.4): 1004 is reserved, 1005 and 1006 stand locally
 * for a close without a code or without a close frame, 1015 for a failed TLS handshake;
 * other codes under 3000 are left to later revisions of the protocol. */
static int ws_close_code_valid(uint16_t code)
{
    return (code >= WS_CLOSE_NORMAL && code <= WS_CLOSE_UNSUPPORTED) ||
           (code >= WS_CLOSE_INVALID_DATA && code <= WS_CLOSE_INTERNAL) ||
           (code >= WS_CLOSE_APP_MIN && code <= WS_CLOSE_APP_MAX);
}

int ws_close_parse(const uint8_t *payload, size_t len, uint16_t *code, const uint8_t **reason,
                   size_t *reason_len)
{
    *code = WS_CLOSE_NO_STATUS;
    *reason = NULL;
    *reason_len = 0;
    if (len == 0)
        return 0;
    if (len < WS_CLOSE_CODE_LEN)
        return -1;
    uint16_t got = (uint16_t)ws_get_be(payload, WS_CLOSE_CODE_LEN);
    if (!ws_close_code_valid(got) ||
        !ws_utf8_valid(payload + WS_CLOSE_CODE_LEN, len - WS_CLOSE_CODE_LEN))
        return -1;
    *code = got;
    *reason = payload + WS_CLOSE_CODE_LEN;
    *reason_len = len - WS_CLOSE_CODE_LEN;
    return 0;
}

/* The longest prefix of s, at most max bytes, that does not end inside a character. */
static size_t ws_utf8_cut(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n <= max)
        return n;
    while (max > 0 && ((uint8_t)s[max] & WS_UTF8_CONT_MASK) == WS_UTF8_CONT_BITS)
        max--;
    return max;
}

size_t ws_close_payload(uint8_t out[WS_CONTROL_MAX], uint16_t code, const char *reason)
{
    size_t n;
    if (code == WS_CLOSE_NO_STATUS)
        return 0;
    n = reason != NULL ? ws_utf8_cut(reason, WS_CONTROL_MAX - WS_CLOSE_CODE_LEN) : 0;
    ws_put_be(out, code, WS_CLOSE_CODE_LEN);
    if (n > 0)
        memcpy(out + WS_CLOSE_CODE_LEN, reason, n);
    return WS_CLOSE_CODE_LEN + n;
}

/* EVP_EncodeBlock writes the NUL after the 28 characters. */
void ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1])
{
    uint8_t digest[WS_SHA1_LEN];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) ||
        !EVP_DigestUpdate(ctx, key, key_len) ||
        !EVP_DigestUpdate(ctx, WS_GUID, sizeof WS_GUID - 1) ||
        !EVP_DigestFinal_ex(ctx, digest, NULL))
        abort();
    EVP_MD_CTX_free(ctx);
    EVP_EncodeBlock((unsigned char *)out, digest, WS_SHA1_LEN);
}
