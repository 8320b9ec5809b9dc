/* fuzz_socketio.c: libFuzzer target for the Socket.IO decoder.
 *
 * An input is a sequence of messages separated by 0xff (a byte no UTF-8 text holds). A
 * message starting with 0xfe is fed as a binary attachment (without that byte), any other
 * as a text message, so inputs can also send them in the wrong order. Every packet the
 * decoder completes must encode, decode again to an equal packet, and re-encode to the same
 * text; for events, siop_event_encode() must agree with siop_packet_encode().
 */
#include <string.h>

#include "fuzz.h"
#include "socketio_codec.h"

#define FUZZ_MESSAGE_SEPARATOR 0xff
#define FUZZ_BINARY_MARK       0xfe

static int packets_equal(const siop_packet *a, const siop_packet *b)
{
    if (a->type != b->type || strcmp(a->nsp, b->nsp) != 0 || a->id != b->id ||
        a->n_attachments != b->n_attachments)
        return 0;
    if ((a->data == NULL) != (b->data == NULL) || (a->data && !json_equal(a->data, b->data)))
        return 0;
    for (size_t i = 0; i < a->n_attachments; i++) {
        const siop_attachment *x = &a->attachments[i], *y = &b->attachments[i];
        if (x->len != y->len || (x->len > 0 && memcmp(x->data, y->data, x->len) != 0))
            return 0;
    }
    return 1;
}

/* Decodes text plus p's attachments with a fresh decoder; the packet must complete. */
static void decode_again(const sb_buf *text, const siop_packet *p, siop_packet *q)
{
    siop_decoder d;
    siop_decoder_init(&d, SIOP_DEFAULT_MAX_ATTACHMENTS);
    siop_packet_init(q);
    int rc = siop_decoder_feed_text(&d, (const char *)text->data, text->len, q);
    for (size_t i = 0; i < p->n_attachments; i++) {
        FUZZ_CHECK(rc == SIOP_MORE);
        rc = siop_decoder_feed_binary(&d, p->attachments[i].data, p->attachments[i].len, q);
    }
    FUZZ_CHECK(rc == SIOP_OK);
    siop_decoder_free(&d);
}

/* The broadcast encoder, given the event's parts, must write what the packet encoder did. */
static void check_event_encode(const siop_packet *p, const sb_buf *text)
{
    const json_t *name = json_array_get(p->data, 0);
    if ((p->type != SIOP_PACKET_EVENT && p->type != SIOP_PACKET_BINARY_EVENT) ||
        !json_is_string(name) || memchr(json_string_value(name), 0, json_string_length(name)))
        return;
    json_t *args = json_array();
    for (size_t i = 1; i < json_array_size(p->data); i++)
        json_array_append(args, json_array_get(p->data, i));
    sb_buf out;
    sb_buf_init(&out);
    size_t n = p->type == SIOP_PACKET_BINARY_EVENT ? p->n_attachments : 0;
    int rc = siop_event_encode(&out, p->nsp, p->id, json_string_value(name), args, n);
    /* "50-[...]" has no siop_event_encode form: zero attachments select EVENT. */
    if (n > 0 || p->type == SIOP_PACKET_EVENT)
        FUZZ_CHECK(rc == SIOP_OK && out.len == text->len &&
                   memcmp(out.data, text->data, out.len) == 0);
    sb_buf_free(&out);
    json_decref(args);
}

static void check_round_trip(const siop_packet *p)
{
    sb_buf text, again;
    sb_buf_init(&text);
    sb_buf_init(&again);
    FUZZ_CHECK(siop_packet_encode(p, &text) == SIOP_OK);
    siop_packet q;
    decode_again(&text, p, &q);
    FUZZ_CHECK(packets_equal(p, &q));
    FUZZ_CHECK(siop_packet_encode(&q, &again) == SIOP_OK);
    FUZZ_CHECK(again.len == text.len && memcmp(again.data, text.data, text.len) == 0);
    check_event_encode(p, &text);
    siop_packet_clear(&q);
    sb_buf_free(&text);
    sb_buf_free(&again);
}

static void feed(siop_decoder *d, const uint8_t *msg, size_t len)
{
    siop_packet p;
    int rc;
    d->errstr[0] = '\0';
    if (len > 0 && msg[0] == FUZZ_BINARY_MARK)
        rc = siop_decoder_feed_binary(d, msg + 1, len - 1, &p);
    else
        rc = siop_decoder_feed_text(d, (const char *)msg, len, &p);
    FUZZ_CHECK(rc != SIOP_ERR || d->errstr[0] != '\0');
    if (rc != SIOP_OK)
        return;
    check_round_trip(&p);
    siop_packet_clear(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    siop_decoder d;
    siop_decoder_init(&d, SIOP_DEFAULT_MAX_ATTACHMENTS);
    const uint8_t *end = data + size;
    for (const uint8_t *msg = data;;) {
        const uint8_t *sep = memchr(msg, FUZZ_MESSAGE_SEPARATOR, (size_t)(end - msg));
        size_t len = sep != NULL ? (size_t)(sep - msg) : (size_t)(end - msg);
        /* Each message gets its own heap copy, so reading past it is an ASan error. */
        uint8_t *copy = malloc(len > 0 ? len : 1);
        FUZZ_CHECK(copy != NULL);
        if (len > 0)
            memcpy(copy, msg, len);
        feed(&d, copy, len);
        free(copy);
        if (sep == NULL)
            break;
        msg = sep + 1;
    }
    siop_decoder_free(&d);
    return 0;
}
