/* socketio.c: Socket.IO v5 packets in text form, with binary attachments kept aside.
 *
 * The decoder reads the header fields left to right in socket.io-parser's order (type,
 * attachment count, namespace, ack id), hands the rest to jansson, then checks the packet
 * with siop_packet_invalid(). The encoders check what they are given with that same
 * function, so this side never writes a packet that a peer's parser (or ours) would refuse.
 */
#include "socketio_codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIOP_MAIN_NAMESPACE      "/"
#define SIOP_NAMESPACE_START     '/'
#define SIOP_NAMESPACE_END       ','
#define SIOP_ATTACHMENTS_END     '-'
#define SIOP_PLACEHOLDER_KEY     "_placeholder"
#define SIOP_PLACEHOLDER_NUM_KEY "num"
#define SIOP_PACKET_TYPE_COUNT   7
/* JavaScript's Number.MAX_SAFE_INTEGER (2^53 - 1), the bound SIOP_MAX_ACK_ID also is. */
#define SIOP_SAFE_INTEGER_MAX  ((double)SIOP_MAX_ACK_ID)
#define SIOP_JSON_DECODE_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)
/* Compact like JSON.stringify; jansson leaves '/' unescaped unless asked to escape it. */
#define SIOP_JSON_ENCODE_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

static const char *const SIOP_PACKET_TYPE_NAMES[SIOP_PACKET_TYPE_COUNT] = {
    "CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"};

/* Event names with a meaning of their own on one side or the other (socket.io-parser). */
static const char *const SIOP_RESERVED_EVENTS[] = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"};

/* Parsing a decimal field: the outcomes the callers report differently. */
typedef enum siop_number_status {
    SIOP_NUMBER_OK,
    SIOP_NUMBER_NONE,   /* no digit where the number should start */
    SIOP_NUMBER_TOO_BIG /* more than the caller's maximum */
} siop_number_status;

/* Allocation failure aborts, as in buffer.h. */
static void *siop_alloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "socketio: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return p;
}

void siop_packet_init(siop_packet *p)
{
    p->type = SIOP_PACKET_CONNECT;
    p->nsp = NULL;
    p->id = SIOP_NO_ACK;
    p->data = NULL;
    p->n_attachments = 0;
    p->attachments = NULL;
}

void siop_packet_clear(siop_packet *p)
{
    free(p->nsp);
    json_decref(p->data);
    /* A packet still collecting attachments has NULL slots for the missing ones. */
    if (p->attachments != NULL)
        for (size_t i = 0; i < p->n_attachments; i++)
            free(p->attachments[i].data);
    free(p->attachments);
    siop_packet_init(p);
}

const char *siop_packet_type_name(siop_packet_type t)
{
    return (unsigned)t < SIOP_PACKET_TYPE_COUNT ? SIOP_PACKET_TYPE_NAMES[t] : "UNKNOWN";
}

static int siop_type_is_binary(siop_packet_type t)
{
    return t == SIOP_PACKET_BINARY_EVENT || t == SIOP_PACKET_BINARY_ACK;
}

static int siop_type_takes_ack(siop_packet_type t)
{
    return t == SIOP_PACKET_EVENT || t == SIOP_PACKET_ACK || siop_type_is_binary(t);
}

/* ---- placeholders ------------------------------------------------------------------- */

json_t *siop_placeholder_new(size_t num)
{
    return json_pack("{s:b, s:I}", SIOP_PLACEHOLDER_KEY, 1, SIOP_PLACEHOLDER_NUM_KEY,
                     (json_int_t)num);
}

int siop_placeholder_num(const json_t *v, size_t *num)
{
    if (!json_is_true(json_object_get(v, SIOP_PLACEHOLDER_KEY)))
        return 0;
    const json_t *n = json_object_get(v, SIOP_PLACEHOLDER_NUM_KEY);
    if (!json_is_integer(n) || json_integer_value(n) < 0)
        return 0;
    *num = (size_t)json_integer_value(n);
    return 1;
}

/* Counts the well-formed placeholders in v, and sets *bad when an object claims to be one
 * ("_placeholder": true, which is all socket.io-parser looks at) but is malformed or names
 * attachment n or beyond. */
static size_t siop_placeholder_scan(const json_t *v, size_t n, int *bad)
{
    size_t count = 0, i, num;
    json_t *child;
    if (json_is_array(v)) {
        json_array_foreach(v, i, child) count += siop_placeholder_scan(child, n, bad);
    } else if (json_is_true(json_object_get(v, SIOP_PLACEHOLDER_KEY))) {
        if (siop_placeholder_num(v, &num) && num < n)
            count++;
        else
            *bad = 1;
    } else if (json_is_object(v)) {
        /* jansson's iteration API is not const-qualified; nothing here writes. */
        json_t *obj = (json_t *)v;
        for (void *it = json_object_iter(obj); it != NULL; it = json_object_iter_next(obj, it))
            count += siop_placeholder_scan(json_object_iter_value(it), n, bad);
    }
    return count;
}

size_t siop_placeholder_count(const json_t *v)
{
    int bad = 0;
    return siop_placeholder_scan(v, SIZE_MAX, &bad);
}

/* ---- validation (shared by the decoder and the encoders) ----------------------------- */

static int siop_event_name_reserved(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof SIOP_RESERVED_EVENTS / sizeof SIOP_RESERVED_EVENTS[0]; i++)
        if (strlen(SIOP_RESERVED_EVENTS[i]) == len &&
            memcmp(SIOP_RESERVED_EVENTS[i], name, len) == 0)
            return 1;
    return 0;
}

static int siop_event_name_valid(const json_t *name)
{
    if (json_is_number(name))
        return 1;
    return json_is_string(name) &&
           !siop_event_name_reserved(json_string_value(name), json_string_length(name));
}

/* socket.io-parser's isPayloadValid, except that EVENT and ACK data is also required when
 * absent (the protocol makes it mandatory; the JavaScript parser only checks what is there). */
static int siop_data_valid(siop_packet_type type, const json_t *data)
{
    switch (type) {
    case SIOP_PACKET_CONNECT: return data == NULL || json_is_object(data);
    case SIOP_PACKET_DISCONNECT: return data == NULL;
    case SIOP_PACKET_CONNECT_ERROR: return json_is_string(data) || json_is_object(data);
    case SIOP_PACKET_EVENT:
    case SIOP_PACKET_BINARY_EVENT:
        return json_is_array(data) && siop_event_name_valid(json_array_get(data, 0));
    case SIOP_PACKET_ACK:
    case SIOP_PACKET_BINARY_ACK: return json_is_array(data);
    }
    return 0;
}

/* NULL when the packet is acceptable, else the reason it is not. n_attachments is the
 * number of attachments the packet carries (0 for the non-binary types). */
static const char *siop_packet_invalid(siop_packet_type type, int64_t id, const json_t *data,
                                       size_t n_attachments)
{
    if ((unsigned)type >= SIOP_PACKET_TYPE_COUNT)
        return "unknown packet type";
    if (id != SIOP_NO_ACK && (!siop_type_takes_ack(type) || id < 0 || id > SIOP_MAX_ACK_ID))
        return "invalid ack id";
    if (!siop_data_valid(type, data))
        return "invalid payload";
    int bad = 0;
    siop_placeholder_scan(data, n_attachments, &bad);
    return bad ? "illegal attachments" : NULL;
}

/* ---- decoding ----------------------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static int siop_fail(siop_decoder *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->errstr, sizeof d->errstr, fmt, ap);
    va_end(ap);
    return SIOP_ERR;
}

static int siop_is_digit(char c) { return c >= '0' && c <= '9'; }

/* Reads the decimal number at s[*pos] (at least one digit), stopping as soon as it exceeds
 * max so that no digit string, however long, can overflow. */
static siop_number_status siop_parse_number(const char *s, size_t len, size_t *pos, uint64_t max,
                                            uint64_t *out)
{
    size_t i = *pos;
    uint64_t v = 0;
    if (i >= len || !siop_is_digit(s[i]))
        return SIOP_NUMBER_NONE;
    for (; i < len && siop_is_digit(s[i]); i++) {
        unsigned digit = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - digit) / 10 || (v = v * 10 + digit) > max)
            return SIOP_NUMBER_TOO_BIG;
    }
    *pos = i;
    *out = v;
    return SIOP_NUMBER_OK;
}

static int siop_parse_attachments(siop_decoder *d, const char *s, size_t len, size_t *pos,
                                  siop_packet *p)
{
    uint64_t n;
    siop_number_status st = siop_parse_number(s, len, pos, d->max_attachments, &n);
    if (st == SIOP_NUMBER_TOO_BIG)
        return siop_fail(d, "too many attachments (at most %zu)", d->max_attachments);
    if (st != SIOP_NUMBER_OK || *pos >= len || s[*pos] != SIOP_ATTACHMENTS_END)
        return siop_fail(d, "illegal attachments count");
    (*pos)++;
    p->n_attachments = (size_t)n;
    return SIOP_OK;
}

/* A namespace starts with '/' and runs to the next ',' or to the end of the text. */
static int siop_parse_namespace(siop_decoder *d, const char *s, size_t len, size_t *pos,
                                siop_packet *p)
{
    if (*pos >= len || s[*pos] != SIOP_NAMESPACE_START) {
        p->nsp = sb_strndup(SIOP_MAIN_NAMESPACE, strlen(SIOP_MAIN_NAMESPACE));
        return SIOP_OK;
    }
    const char *start = s + *pos;
    const char *end = memchr(start, SIOP_NAMESPACE_END, len - *pos);
    size_t n = end != NULL ? (size_t)(end - start) : len - *pos;
    /* nsp is handed out as a C string: an embedded NUL would silently shorten it. */
    if (memchr(start, '\0', n) != NULL)
        return siop_fail(d, "invalid namespace");
    p->nsp = sb_strndup(start, n);
    *pos += n + (end != NULL);
    return SIOP_OK;
}

/* Reads type, attachment count, namespace and ack id; *pos ends where the JSON starts. */
static int siop_parse_header(siop_decoder *d, const char *s, size_t len, size_t *pos,
                             siop_packet *p)
{
    if (len == 0)
        return siop_fail(d, "empty packet");
    if (s[0] < '0' || s[0] >= '0' + SIOP_PACKET_TYPE_COUNT)
        return siop_fail(d, "unknown packet type");
    p->type = (siop_packet_type)(s[0] - '0');
    *pos = 1;
    if (siop_type_is_binary(p->type) && siop_parse_attachments(d, s, len, pos, p) != SIOP_OK)
        return SIOP_ERR;
    if (siop_parse_namespace(d, s, len, pos, p) != SIOP_OK)
        return SIOP_ERR;
    uint64_t id;
    siop_number_status st = siop_parse_number(s, len, pos, SIOP_MAX_ACK_ID, &id);
    if (st == SIOP_NUMBER_TOO_BIG)
        return siop_fail(d, "invalid ack id");
    if (st == SIOP_NUMBER_OK)
        p->id = (int64_t)id;
    return SIOP_OK;
}

/* Turns the reals in v that JavaScript would print as integers (integral, within
 * Number.MAX_SAFE_INTEGER) into json integers. Steals v and returns what replaces it. */
static json_t *siop_json_restore_ints(json_t *v)
{
    size_t i;
    json_t *child;
    if (json_is_real(v)) {
        double r = json_real_value(v);
        if (r < -SIOP_SAFE_INTEGER_MAX || r > SIOP_SAFE_INTEGER_MAX || r != (double)(json_int_t)r)
            return v;
        json_decref(v);
        return json_integer((json_int_t)r);
    }
    /* Replacing a value in place neither moves array elements nor rehashes the object, so
     * the iterations stay valid. */
    if (json_is_array(v))
        json_array_foreach(v, i, child)
            json_array_set_new(v, i, siop_json_restore_ints(json_incref(child)));
    else if (json_is_object(v))
        for (void *it = json_object_iter(v); it != NULL; it = json_object_iter_next(v, it)) {
            child = json_incref(json_object_iter_value(it));
            json_object_iter_set_new(v, it, siop_json_restore_ints(child));
        }
    return v;
}

/* jansson refuses integers beyond json_int_t, which JavaScript sends as plain digits
 * (JSON.stringify(1e20) is "100000000000000000000"). Such a text is parsed again with
 * every number as a double, as JavaScript reads it, and the integers that fit put back. */
json_t *siop_json_loadb(const char *s, size_t len, json_error_t *err)
{
    json_t *v = json_loadb(s, len, SIOP_JSON_DECODE_FLAGS, err);
    if (v != NULL || json_error_code(err) != json_error_numeric_overflow)
        return v;
    v = json_loadb(s, len, SIOP_JSON_DECODE_FLAGS | JSON_DECODE_INT_AS_REAL, err);
    return v != NULL ? siop_json_restore_ints(v) : NULL;
}

/* Decodes one text message into p (initialised by the caller, cleared on error by it). */
static int siop_parse(siop_decoder *d, const char *s, size_t len, siop_packet *p)
{
    size_t pos;
    if (siop_parse_header(d, s, len, &pos, p) != SIOP_OK)
        return SIOP_ERR;
    if (pos < len) {
        json_error_t err;
        p->data = siop_json_loadb(s + pos, len - pos, &err);
        if (p->data == NULL)
            return siop_fail(d, "invalid payload: %s", err.text);
    }
    const char *why = siop_packet_invalid(p->type, p->id, p->data, p->n_attachments);
    return why != NULL ? siop_fail(d, "%s", why) : SIOP_OK;
}

void siop_decoder_init(siop_decoder *d, size_t max_attachments)
{
    siop_packet_init(&d->pending);
    d->received = 0;
    d->has_pending = 0;
    d->max_attachments = max_attachments;
    d->errstr[0] = '\0';
}

void siop_decoder_free(siop_decoder *d)
{
    siop_packet_clear(&d->pending);
    d->received = 0;
    d->has_pending = 0;
}

/* After any error the decoder holds nothing: a half-received binary packet is dropped, so
 * the decoder can be fed again (though the peer has broken the protocol, and the usual
 * answer is to close the connection). */
int siop_decoder_feed_text(siop_decoder *d, const char *text, size_t len, siop_packet *out)
{
    if (d->has_pending) {
        size_t missing = d->pending.n_attachments - d->received;
        siop_decoder_free(d);
        return siop_fail(d, "text message while %zu attachment(s) are still expected", missing);
    }
    siop_packet p;
    siop_packet_init(&p);
    if (siop_parse(d, text, len, &p) != SIOP_OK) {
        siop_packet_clear(&p);
        return SIOP_ERR;
    }
    if (p.n_attachments == 0) {
        *out = p;
        return SIOP_OK;
    }
    /* The count comes from the peer: with a generous max_attachments, failing to allocate
     * is the peer's error, not a reason to abort. */
    p.attachments = calloc(p.n_attachments, sizeof *p.attachments);
    if (p.attachments == NULL) {
        siop_packet_clear(&p);
        return siop_fail(d, "too many attachments (no memory for them)");
    }
    d->pending = p;
    d->has_pending = 1;
    return SIOP_MORE;
}

int siop_decoder_feed_binary(siop_decoder *d, const uint8_t *data, size_t len, siop_packet *out)
{
    if (!d->has_pending)
        return siop_fail(d, "binary message while no packet expects attachments");
    siop_attachment *a = &d->pending.attachments[d->received++];
    a->data = siop_alloc(len);
    if (len > 0)
        memcpy(a->data, data, len);
    a->len = len;
    if (d->received < d->pending.n_attachments)
        return SIOP_MORE;
    *out = d->pending;
    siop_packet_init(&d->pending);
    d->received = 0;
    d->has_pending = 0;
    return SIOP_OK;
}

/* ---- encoding ----------------------------------------------------------------------- */

static int siop_buf_write(const char *buffer, size_t size, void *data)
{
    sb_buf_append(data, buffer, size);
    return 0;
}

/* A namespace that the decoder would read back as itself. */
static int siop_namespace_encodable(const char *nsp)
{
    return nsp[0] == SIOP_NAMESPACE_START && strchr(nsp, SIOP_NAMESPACE_END) == NULL;
}

/* Type, attachment count, namespace and ack id: everything before the data. */
static void siop_encode_prefix(sb_buf *out, siop_packet_type type, const char *nsp, int64_t id,
                               size_t n_attachments)
{
    sb_buf_append_byte(out, (uint8_t)('0' + type));
    if (siop_type_is_binary(type)) {
        sb_buf_append_u64(out, n_attachments);
        sb_buf_append_byte(out, SIOP_ATTACHMENTS_END);
    }
    if (strcmp(nsp, SIOP_MAIN_NAMESPACE) != 0) {
        sb_buf_append_str(out, nsp);
        sb_buf_append_byte(out, SIOP_NAMESPACE_END);
    }
    if (id != SIOP_NO_ACK)
        sb_buf_append_u64(out, (uint64_t)id);
}

static int siop_encode(sb_buf *out, siop_packet_type type, const char *nsp, int64_t id,
                       const json_t *data, size_t n_attachments)
{
    if (nsp == NULL)
        nsp = SIOP_MAIN_NAMESPACE;
    if (!siop_type_is_binary(type))
        n_attachments = 0;
    if (siop_packet_invalid(type, id, data, n_attachments) != NULL ||
        !siop_namespace_encodable(nsp))
        return SIOP_ERR;
    size_t mark = out->len;
    siop_encode_prefix(out, type, nsp, id, n_attachments);
    if (data != NULL &&
        json_dump_callback(data, siop_buf_write, out, SIOP_JSON_ENCODE_FLAGS) != 0) {
        out->len = mark;
        return SIOP_ERR;
    }
    return SIOP_OK;
}

int siop_packet_encode(const siop_packet *p, sb_buf *out)
{
    return siop_encode(out, p->type, p->nsp, p->id, p->data, p->n_attachments);
}

int siop_event_encode(sb_buf *out, const char *nsp, int64_t id, const char *event, json_t *args,
                      size_t n_attachments)
{
    if (event == NULL)
        return SIOP_ERR;
    /* One array per broadcast, not per recipient: its elements are args' own, shared. */
    json_t *data = json_array();
    int rc = SIOP_ERR;
    if (json_array_append_new(data, json_string(event)) == 0 &&
        (args == NULL || json_array_extend(data, args) == 0))
        rc = siop_encode(out, n_attachments > 0 ? SIOP_PACKET_BINARY_EVENT : SIOP_PACKET_EVENT, nsp,
                         id, data, n_attachments);
    json_decref(data);
    return rc;
}

/* 1 when the name needs no escaping inside a JSON string (printable ASCII). */
static int siop_plain_name(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

static int siop_text_args_ok(const char *nsp, const char *args_text, size_t len)
{
    return siop_namespace_encodable(nsp) && len >= 2 && args_text[0] == '[' &&
           args_text[len - 1] == ']';
}

int siop_event_encode_text(sb_buf *out, const char *nsp, int64_t id, const char *event,
                           const char *args_text, size_t len)
{
    if (nsp == NULL)
        nsp = SIOP_MAIN_NAMESPACE;
    if (event == NULL || !siop_plain_name(event) || !siop_text_args_ok(nsp, args_text, len))
        return SIOP_ERR;
    siop_encode_prefix(out, SIOP_PACKET_EVENT, nsp, id, 0);
    sb_buf_append(out, "[\"", 2);
    sb_buf_append_str(out, event);
    sb_buf_append_byte(out, '"');
    if (len > 2)
        sb_buf_append_byte(out, ',');
    sb_buf_append(out, args_text + 1, len - 1);
    return SIOP_OK;
}

int siop_ack_encode_text(sb_buf *out, const char *nsp, int64_t id, const char *args_text,
                         size_t len)
{
    if (nsp == NULL)
        nsp = SIOP_MAIN_NAMESPACE;
    if (id < 0 || !siop_text_args_ok(nsp, args_text, len))
        return SIOP_ERR;
    siop_encode_prefix(out, SIOP_PACKET_ACK, nsp, id, 0);
    sb_buf_append(out, args_text, len);
    return SIOP_OK;
}
