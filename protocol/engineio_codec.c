/* engineio.c: Engine.IO v4 packets and polling payloads (their base64 is base64.h's).
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
    r->buf = buf;
    r->len = len;
    r->pos = 0;
    sb_buf_init(&r->scratch);
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

int eiop_payload_reader_next(eiop_payload_reader *r, eiop_packet *out)
{
    if (r->err)
        return EIOP_ERR;
    if (r->len == 0)
        return eiop_reader_fail(r, "empty payload");
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
