/* fuzz_engineio.c: libFuzzer target for the Engine.IO decoders.
 *
 * Each input is read as a polling body, as a WebSocket text frame, as a binary frame and
 * as base64. Besides not crashing, leaking or reading out of bounds, what is accepted must
 * come back unchanged through the matching encoder: a body through eio_payload_append()
 * (packet for packet: non-canonical base64 such as "AB==" may legitimately re-encode to
 * other text), a text frame byte for byte, base64 bytes through encode and decode.
 */
#include <string.h>

#include "engineio.h"
#include "fuzz.h"

static int packets_equal(const eio_packet *a, const eio_packet *b)
{
    return a->type == b->type && a->binary == b->binary && a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* Reads body and writes every packet into again; returns the reader's final status. */
static int payload_reencode(const uint8_t *body, size_t len, sb_buf *again)
{
    eio_payload_reader r;
    eio_packet p;
    int rc;
    eio_payload_reader_init(&r, body, len);
    while ((rc = eio_payload_reader_next(&r, &p)) == EIO_OK)
        eio_payload_append(again, &p);
    FUZZ_CHECK(rc == EIO_DONE || r.errstr[0] != '\0');
    eio_payload_reader_free(&r);
    return rc;
}

/* Reads both bodies in lockstep: they must hold the same packets. */
static void payloads_match(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    eio_payload_reader ra, rb;
    eio_packet pa, pb;
    int rca, rcb;
    eio_payload_reader_init(&ra, a, alen);
    eio_payload_reader_init(&rb, b, blen);
    do {
        rca = eio_payload_reader_next(&ra, &pa);
        rcb = eio_payload_reader_next(&rb, &pb);
        FUZZ_CHECK(rca == rcb && rca != EIO_ERR);
        FUZZ_CHECK(rca != EIO_OK || packets_equal(&pa, &pb));
    } while (rca == EIO_OK);
    eio_payload_reader_free(&ra);
    eio_payload_reader_free(&rb);
}

static void check_payload(const uint8_t *data, size_t size)
{
    sb_buf again;
    sb_buf_init(&again);
    if (payload_reencode(data, size, &again) == EIO_DONE)
        payloads_match(data, size, again.data, again.len);
    sb_buf_free(&again);
}

static void check_frames(const uint8_t *data, size_t size)
{
    eio_packet p;
    const char *why;
    if (eio_packet_decode_frame(data, size, 1, &p, &why) == EIO_OK) {
        sb_buf out;
        sb_buf_init(&out);
        eio_packet_encode_text(&out, p.type, p.data, p.len);
        FUZZ_CHECK(out.len == size && memcmp(out.data, data, size) == 0);
        sb_buf_free(&out);
    } else {
        FUZZ_CHECK(why != NULL);
    }
    FUZZ_CHECK(eio_packet_decode_frame(data, size, 0, &p, NULL) == EIO_OK);
    FUZZ_CHECK(p.binary && p.len == size && (size == 0 || memcmp(p.data, data, size) == 0));
}

static void check_base64(const uint8_t *data, size_t size)
{
    sb_buf bytes, text, back;
    sb_buf_init(&bytes);
    sb_buf_init(&text);
    sb_buf_init(&back);
    if (eio_base64_decode(&bytes, data, size) == EIO_OK) {
        FUZZ_CHECK(bytes.len <= size / 4 * 3);
        eio_base64_encode(&text, bytes.data, bytes.len);
        FUZZ_CHECK(text.len == size);
        FUZZ_CHECK(eio_base64_decode(&back, text.data, text.len) == EIO_OK);
        FUZZ_CHECK(back.len == bytes.len &&
                   (bytes.len == 0 || memcmp(back.data, bytes.data, bytes.len) == 0));
    } else {
        FUZZ_CHECK(bytes.len == 0);
    }
    sb_buf_free(&bytes);
    sb_buf_free(&text);
    sb_buf_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_payload(data, size);
    check_frames(data, size);
    check_base64(data, size);
    return 0;
}
