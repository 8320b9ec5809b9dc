/* engineio.c: Engine.IO v4 packets and polling payloads, and v3's payloads (their base64 is
 * base64.h's).
 *
 * A payload is read one record at a time without copying: a record is the bytes between
 * two separators (or an end of the body), and every record must hold a packet, so an empty
 * one (leading, doubled or trailing separator) is an error rather than something to skip.
 * A text record has exactly the form of a WebSocket text frame, so both go through
 * eiop_packet_decode_frame(); a 'b' record is base64 decoded into the reader's scratch.
 */
#include "engineio_codec.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

#define EIOP_PACKET_TYPE_COUNT 7
#define EIOP_BINARY_PREFIX     'b'
#define EIOP_V3_LENGTH_END     0xff /* ends a length in a v3 binary payload */
/* A length's digits read at most (no body is 10^18 bytes; engine.io-parser stops at 310) */
#define EIOP_V3_LENGTH_DIGITS_MAX 18
/* Handshake numbers are read by JavaScript, where integers above 2^53 - 1 lose precision. */
#define EIOP_JSON_SAFE_INTEGER_MAX 9007199254740991ULL

static const char *const EIOP_PACKET_TYPE_NAMES[EIOP_PACKET_TYPE_COUNT] = {
    "open", "close", "ping", "pong", "message", "upgrade", "noop"};

/* What a zero-length binary packet points at: data is never NULL, so consumers can pass it
 * to memcpy and friends without a special case. */
static const uint8_t EIOP_EMPTY_DATA[1];

int eiop_packet_decode_frame(const uint8_t *frame, size_t len, int is_text, eiop_packet *out,
                             const char **errstr)
{
    const char *why = NULL;
    if (!is_text) {
        *out = (eiop_packet){EIOP_PACKET_MESSAGE, 1, len > 0 ? frame : EIOP_EMPTY_DATA, len};
    } else if (len == 0) {
        why = "text frame without a packet type";
    } else if (frame[0] < '0' || frame[0] >= '0' + EIOP_PACKET_TYPE_COUNT) {
        why = "unknown packet type";
    } else {
        *out = (eiop_packet){(eiop_packet_type)(frame[0] - '0'), 0, frame + 1, len - 1};
    }
    if (errstr != NULL)
        *errstr = why;
    return why == NULL ? EIOP_OK : EIOP_ERR;
}

void eiop_payload_reader_init(eiop_payload_reader *r, const uint8_t *buf, size_t len)
{
    eiop_payload_reader_init_form(r, buf, len, EIOP_FORM_V4);
}

void eiop_payload_reader_init_form(eiop_payload_reader *r, const uint8_t *buf, size_t len,
                                   eiop_payload_form form)
{
    r->buf = buf;
    r->len = len;
    r->pos = 0;
    sb_buf_init(&r->scratch);
    r->form = form;
    r->err = 0;
    r->errstr[0] = '\0';
}

__attribute__((format(printf, 2, 3))) static int eiop_reader_fail(eiop_payload_reader *r,
                                                                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errstr, sizeof r->errstr, fmt, ap);
    va_end(ap);
    r->err = 1;
    return EIOP_ERR;
}

/* Decodes one non-empty record that starts at offset at of the body. */
static int eiop_record_decode(eiop_payload_reader *r, const uint8_t *rec, size_t n, size_t at,
                              eiop_packet *out)
{
    if (rec[0] != EIOP_BINARY_PREFIX) {
        const char *why;
        if (eiop_packet_decode_frame(rec, n, 1, out, &why) != EIOP_OK)
            return eiop_reader_fail(r, "%s (0x%02x) at offset %zu", why, rec[0], at);
        return EIOP_OK;
    }
    sb_buf_reset(&r->scratch);
    if (sb_base64_decode(&r->scratch, rec + 1, n - 1) != SB_BASE64_OK)
        return eiop_reader_fail(r, "invalid base64 in binary packet at offset %zu", at);
    return eiop_packet_decode_frame(r->scratch.data, r->scratch.len, 0, out, NULL);
}

static int eiop_v3_text_next(eiop_payload_reader *r, eiop_packet *out);
static int eiop_v3_binary_next(eiop_payload_reader *r, eiop_packet *out);

int eiop_payload_reader_next(eiop_payload_reader *r, eiop_packet *out)
{
    if (r->err)
        return EIOP_ERR;
    if (r->len == 0)
        return eiop_reader_fail(r, "empty payload");
    if (r->form == EIOP_FORM_V3_TEXT)
        return eiop_v3_text_next(r, out);
    if (r->form == EIOP_FORM_V3_BINARY)
        return eiop_v3_binary_next(r, out);
    if (r->pos == r->len) {
        /* Past the last record: if a separator ended the body, an empty record follows it. */
        if (r->buf[r->len - 1] != EIOP_RECORD_SEPARATOR)
            return EIOP_DONE;
        return eiop_reader_fail(r, "empty packet at offset %zu (trailing separator)", r->pos);
    }
    const uint8_t *rec = r->buf + r->pos;
    const uint8_t *sep = memchr(rec, EIOP_RECORD_SEPARATOR, r->len - r->pos);
    size_t n = sep != NULL ? (size_t)(sep - rec) : r->len - r->pos;
    size_t at = r->pos;
    r->pos += n + (sep != NULL);
    if (n == 0)
        return eiop_reader_fail(r, "empty packet at offset %zu", at);
    return eiop_record_decode(r, rec, n, at, out);
}

void eiop_payload_reader_free(eiop_payload_reader *r) { sb_buf_free(&r->scratch); }

/* ---- Engine.IO v3 payloads ---- */

/* Bytes of the UTF-8 sequence a lead byte starts, and the UTF-16 units it stands for; a
 * byte that starts no well-formed sequence is one byte, one unit (U+FFFD). */
static size_t eiop_utf8_seq(const uint8_t *s, size_t len, size_t *units)
{
    size_t n = s[0] < 0x80   ? 1
               : s[0] < 0xc2 ? 0
               : s[0] < 0xe0 ? 2
               : s[0] < 0xf0 ? 3
               : s[0] < 0xf5 ? 4
                             : 0;
    *units = 1;
    if (n <= 1 || n > len)
        return 1;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 1;
    *units = n == 4 ? 2 : 1;
    return n;
}

size_t eiop_utf16_len(const uint8_t *s, size_t len)
{
    size_t total = 0, units;
    for (size_t i = 0; i < len; total += units)
        i += eiop_utf8_seq(s + i, len - i, &units);
    return total;
}

int eiop_utf16_span(const uint8_t *s, size_t len, size_t units, size_t *bytes)
{
    size_t i = 0, u;
    while (units > 0) {
        if (i == len)
            return -1;
        size_t n = eiop_utf8_seq(s + i, len - i, &u);
        if (u > units)
            return -1; /* the count ends between the two halves of a surrogate pair */
        units -= u;
        i += n;
    }
    *bytes = i;
    return 0;
}

/* "b4" and base64 into scratch: a binary message. */
static const char *eiop_base64_packet_v3(const uint8_t *rec, size_t n, sb_buf *scratch,
                                         eiop_packet *out)
{
    if (n < 2 || rec[1] != '0' + EIOP_PACKET_MESSAGE)
        return "base64 packet that is not a message";
    sb_buf_reset(scratch);
    if (sb_base64_decode(scratch, rec + 2, n - 2) != SB_BASE64_OK)
        return "invalid base64 in binary packet";
    eiop_packet_decode_frame(scratch->data, scratch->len, 0, out, NULL);
    return NULL;
}

/* A v3 text packet: the type digit and data, or 'b', the type digit and base64. */
static int eiop_v3_record(eiop_payload_reader *r, const uint8_t *rec, size_t n, size_t at,
                          eiop_packet *out)
{
    if (rec[0] != EIOP_BINARY_PREFIX)
        return eiop_record_decode(r, rec, n, at, out);
    const char *why = eiop_base64_packet_v3(rec, n, &r->scratch, out);
    if (why != NULL)
        return eiop_reader_fail(r, "%s at offset %zu", why, at);
    return EIOP_OK;
}

/* Reads the digits of a length up to the byte end: ASCII digits in the string form, byte
 * values 0..9 in the binary form (digit_base 0). */
static int eiop_v3_length(eiop_payload_reader *r, uint8_t digit_base, uint8_t end, size_t *n)
{
    size_t at = r->pos, digits = 0;
    *n = 0;
    while (r->pos < r->len && r->buf[r->pos] != end) {
        uint8_t d = (uint8_t)(r->buf[r->pos] - digit_base);
        if (d > 9 || digits == EIOP_V3_LENGTH_DIGITS_MAX)
            return eiop_reader_fail(r, "bad packet length at offset %zu", at);
        *n = *n * 10 + d;
        digits++;
        r->pos++;
    }
    if (digits == 0 || r->pos == r->len)
        return eiop_reader_fail(r, "bad packet length at offset %zu", at);
    r->pos++; /* the end marker */
    return EIOP_OK;
}

static int eiop_v3_text_next(eiop_payload_reader *r, eiop_packet *out)
{
    for (;;) {
        size_t at = r->pos, units, bytes;
        if (r->pos == r->len)
            return EIOP_DONE;
        if (eiop_v3_length(r, '0', ':', &units) != EIOP_OK)
            return EIOP_ERR;
        if (eiop_utf16_span(r->buf + r->pos, r->len - r->pos, units, &bytes) != 0)
            return eiop_reader_fail(r, "packet length past the end of the payload at offset %zu",
                                    at);
        const uint8_t *rec = r->buf + r->pos;
        r->pos += bytes;
        if (bytes > 0)
            return eiop_v3_record(r, rec, bytes, at, out);
    }
}

static int eiop_v3_binary_next(eiop_payload_reader *r, eiop_packet *out)
{
    size_t at = r->pos, n;
    if (r->pos == r->len)
        return EIOP_DONE;
    uint8_t kind = r->buf[r->pos++];
    if (kind > 1)
        return eiop_reader_fail(r, "bad packet kind (0x%02x) at offset %zu", kind, at);
    if (eiop_v3_length(r, 0, EIOP_V3_LENGTH_END, &n) != EIOP_OK)
        return EIOP_ERR;
    if (n == 0 || n > r->len - r->pos)
        return eiop_reader_fail(r, "packet length past the end of the payload at offset %zu", at);
    const uint8_t *rec = r->buf + r->pos;
    r->pos += n;
    if (kind == 0)
        return eiop_v3_record(r, rec, n, at, out);
    const char *why;
    if (eiop_packet_decode_frame_v3(rec, n, 0, NULL, out, &why) != EIOP_OK)
        return eiop_reader_fail(r, "%s at offset %zu", why, at);
    return EIOP_OK;
}

int eiop_packet_decode_frame_v3(const uint8_t *frame, size_t len, int is_text, sb_buf *scratch,
                                eiop_packet *out, const char **errstr)
{
    const char *why = NULL;
    if (is_text && len > 0 && frame[0] == EIOP_BINARY_PREFIX) {
        why = eiop_base64_packet_v3(frame, len, scratch, out);
        if (errstr != NULL)
            *errstr = why;
        return why == NULL ? EIOP_OK : EIOP_ERR;
    }
    if (is_text)
        return eiop_packet_decode_frame(frame, len, 1, out, errstr);
    if (len == 0)
        why = "binary frame without a packet type";
    else if (frame[0] != EIOP_PACKET_MESSAGE)
        why = "binary packet that is not a message";
    else
        *out =
            (eiop_packet){EIOP_PACKET_MESSAGE, 1, len > 1 ? frame + 1 : EIOP_EMPTY_DATA, len - 1};
    if (errstr != NULL)
        *errstr = why;
    return why == NULL ? EIOP_OK : EIOP_ERR;
}

static void eiop_v3_length_append(sb_buf *out, size_t n, uint8_t digit_base, uint8_t end)
{
    char digits[sizeof "18446744073709551615"];
    int k = snprintf(digits, sizeof digits, "%zu", n);
    for (int i = 0; i < k; i++)
        sb_buf_append_byte(out, (uint8_t)(digits[i] - '0' + digit_base));
    sb_buf_append_byte(out, end);
}

void eiop_payload_append_v3(sb_buf *out, const eiop_packet *p)
{
    if (!p->binary) {
        eiop_v3_length_append(out, 1 + eiop_utf16_len(p->data, p->len), '0', ':');
        eiop_packet_encode_text(out, p->type, p->data, p->len);
        return;
    }
    eiop_v3_length_append(out, 2 + SB_BASE64_LEN(p->len), '0', ':');
    eiop_packet_encode_base64_v3(out, p->data, p->len);
}

void eiop_packet_encode_base64_v3(sb_buf *out, const uint8_t *data, size_t len)
{
    sb_buf_append_byte(out, EIOP_BINARY_PREFIX);
    sb_buf_append_byte(out, '0' + EIOP_PACKET_MESSAGE);
    sb_base64_encode(out, data, len);
}

void eiop_payload_append_v3_binary(sb_buf *out, const eiop_packet *p)
{
    sb_buf_append_byte(out, p->binary ? 1 : 0);
    eiop_v3_length_append(out, 1 + p->len, 0, EIOP_V3_LENGTH_END);
    if (p->binary) {
        sb_buf_append_byte(out, EIOP_PACKET_MESSAGE);
        sb_buf_append(out, p->data, p->len);
    } else {
        eiop_packet_encode_text(out, p->type, p->data, p->len);
    }
}

void eiop_payload_append(sb_buf *out, const eiop_packet *p)
{
    if (out->len > 0)
        sb_buf_append_byte(out, EIOP_RECORD_SEPARATOR);
    if (!p->binary) {
        eiop_packet_encode_text(out, p->type, p->data, p->len);
        return;
    }
    sb_buf_append_byte(out, EIOP_BINARY_PREFIX);
    sb_base64_encode(out, p->data, p->len);
}

void eiop_packet_encode_text(sb_buf *out, eiop_packet_type type, const uint8_t *data, size_t len)
{
    sb_buf_reserve(out, 1 + len);
    sb_buf_append_byte(out, (uint8_t)('0' + type));
    sb_buf_append(out, data, len);
}

static json_int_t eiop_json_count(uint64_t v)
{
    return (json_int_t)(v < EIOP_JSON_SAFE_INTEGER_MAX ? v : EIOP_JSON_SAFE_INTEGER_MAX);
}

/* The names come from the server, not the peer: one that is not UTF-8 is a programming
 * error, reported like out-of-memory (which is the other way jansson fails here). */
static void eiop_handshake_fail(const char *what)
{
    fprintf(stderr, "eiop_handshake_encode: %s (not UTF-8, or out of memory)\n", what);
    abort();
}

void eiop_handshake_encode(sb_buf *out, const char *sid, const char *const *upgrades, size_t n,
                           uint64_t ping_interval_ms, uint64_t ping_timeout_ms,
                           uint64_t max_payload)
{
    json_t *names = json_array();
    for (size_t i = 0; i < n; i++)
        if (names == NULL || json_array_append_new(names, json_string(upgrades[i])) != 0)
            eiop_handshake_fail("upgrade name");
    /* json_pack keeps the keys in this order, the order the Node server sends them in. */
    json_t *open =
        json_pack("{s:s, s:o, s:I, s:I, s:I}", "sid", sid, "upgrades", names, "pingInterval",
                  eiop_json_count(ping_interval_ms), "pingTimeout",
                  eiop_json_count(ping_timeout_ms), "maxPayload", eiop_json_count(max_payload));
    char *text = open != NULL ? json_dumps(open, JSON_COMPACT) : NULL;
    if (text == NULL)
        eiop_handshake_fail("sid");
    eiop_packet_encode_text(out, EIOP_PACKET_OPEN, (const uint8_t *)text, strlen(text));
    free(text);
    json_decref(open);
}

const char *eiop_packet_type_name(eiop_packet_type t)
{
    return (unsigned)t < EIOP_PACKET_TYPE_COUNT ? EIOP_PACKET_TYPE_NAMES[t] : "unknown";
}
