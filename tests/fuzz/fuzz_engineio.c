/* fuzz_engineio.c: libFuzzer target for the Engine.IO decoders.
 *
 * Each input is read as a polling body (v4, and both v3 forms), as a WebSocket text frame,
 * as a binary frame (v4 and v3) and as base64. Besides not crashing, leaking or reading out of
 * bounds, what is accepted must come back unchanged through the matching encoder: a body through
 * eiop_payload_append() (packet for packet: non-canonical base64 such as "AB==" may legitimately
 * re-encode to other text), a text frame byte for byte, base64 bytes through encode and decode.
 */
#include <string.h>

#include "base64.h"
#include "engineio_codec.h"
#include "fuzz.h"

static int packets_equal(const eiop_packet *a, const eiop_packet *b)
{
    return a->type == b->type && a->binary == b->binary && a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* Reads body and writes every packet into again; returns the reader's final status. */
static int payload_reencode(const uint8_t *body, size_t len, sb_buf *again)
{
    eiop_payload_reader r;
    eiop_packet p;
    int rc;
    eiop_payload_reader_init(&r, body, len);
    while ((rc = eiop_payload_reader_next(&r, &p)) == EIOP_OK)
        eiop_payload_append(again, &p);
    FUZZ_CHECK(rc == EIOP_DONE || r.errstr[0] != '\0');
    eiop_payload_reader_free(&r);
    return rc;
}

/* Reads both bodies (of one form) in lockstep: they must hold the same packets. */
static void payloads_match_form(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                                eiop_payload_form form)
{
    eiop_payload_reader ra, rb;
    eiop_packet pa, pb;
    int rca, rcb;
    eiop_payload_reader_init_form(&ra, a, alen, form);
    eiop_payload_reader_init_form(&rb, b, blen, form);
    do {
        rca = eiop_payload_reader_next(&ra, &pa);
        rcb = eiop_payload_reader_next(&rb, &pb);
        FUZZ_CHECK(rca == rcb && rca != EIOP_ERR);
        FUZZ_CHECK(rca != EIOP_OK || packets_equal(&pa, &pb));
    } while (rca == EIOP_OK);
    eiop_payload_reader_free(&ra);
    eiop_payload_reader_free(&rb);
}

static void payloads_match(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    payloads_match_form(a, alen, b, blen, EIOP_FORM_V4);
}

static void check_payload(const uint8_t *data, size_t size)
{
    sb_buf again;
    sb_buf_init(&again);
    if (payload_reencode(data, size, &again) == EIOP_DONE)
        payloads_match(data, size, again.data, again.len);
    sb_buf_free(&again);
}

static void v3_append(sb_buf *out, eiop_payload_form form, const eiop_packet *p)
{
    if (form == EIOP_FORM_V3_TEXT)
        eiop_payload_append_v3(out, p);
    else
        eiop_payload_append_v3_binary(out, p);
}

/* A v3 body (either form) that reads whole must read the same once re-encoded; the bytes
 * may differ ("0:" skipped, leading zeros, non-canonical base64). */
static void check_payload_v3(const uint8_t *data, size_t size, eiop_payload_form form)
{
    eiop_payload_reader r;
    eiop_packet p;
    sb_buf again;
    int rc;
    sb_buf_init(&again);
    eiop_payload_reader_init_form(&r, data, size, form);
    while ((rc = eiop_payload_reader_next(&r, &p)) == EIOP_OK)
        v3_append(&again, form, &p);
    FUZZ_CHECK(rc == EIOP_DONE || r.errstr[0] != '\0');
    eiop_payload_reader_free(&r);
    if (rc == EIOP_DONE && again.len > 0)
        payloads_match_form(data, size, again.data, again.len, form);
    sb_buf_free(&again);
}

static void check_utf16(const uint8_t *data, size_t size)
{
    size_t units = eiop_utf16_len(data, size), bytes = 0;
    FUZZ_CHECK(units <= size);
    FUZZ_CHECK(eiop_utf16_span(data, size, units, &bytes) == 0 && bytes == size);
    FUZZ_CHECK(eiop_utf16_span(data, size, units + 1, &bytes) == -1);
}

static void check_frames_v3(const uint8_t *data, size_t size)
{
    eiop_packet p;
    const char *why = NULL;
    sb_buf scratch, again;
    sb_buf_init(&scratch);
    sb_buf_init(&again);
    if (eiop_packet_decode_frame_v3(data, size, 0, &scratch, &p, &why) == EIOP_OK)
        FUZZ_CHECK(p.binary && p.len + 1 == size && data[0] == EIOP_PACKET_MESSAGE);
    else
        FUZZ_CHECK(why != NULL);
    if (eiop_packet_decode_frame_v3(data, size, 1, &scratch, &p, &why) == EIOP_OK && p.binary) {
        /* a "b4" frame: its bytes re-encode to base64 that decodes to them again */
        eiop_packet_encode_base64_v3(&again, p.data, p.len);
        eiop_packet q;
        sb_buf back;
        sb_buf_init(&back);
        FUZZ_CHECK(eiop_packet_decode_frame_v3(again.data, again.len, 1, &back, &q, NULL) ==
                   EIOP_OK);
        FUZZ_CHECK(packets_equal(&p, &q));
        sb_buf_free(&back);
    }
    sb_buf_free(&scratch);
    sb_buf_free(&again);
}

static void check_frames(const uint8_t *data, size_t size)
{
    eiop_packet p;
    const char *why;
    if (eiop_packet_decode_frame(data, size, 1, &p, &why) == EIOP_OK) {
        sb_buf out;
        sb_buf_init(&out);
        eiop_packet_encode_text(&out, p.type, p.data, p.len);
        FUZZ_CHECK(out.len == size && memcmp(out.data, data, size) == 0);
        sb_buf_free(&out);
    } else {
        FUZZ_CHECK(why != NULL);
    }
    FUZZ_CHECK(eiop_packet_decode_frame(data, size, 0, &p, NULL) == EIOP_OK);
    FUZZ_CHECK(p.binary && p.len == size && (size == 0 || memcmp(p.data, data, size) == 0));
}

static void check_base64(const uint8_t *data, size_t size)
{
    sb_buf bytes, text, back;
    sb_buf_init(&bytes);
    sb_buf_init(&text);
    sb_buf_init(&back);
    if (sb_base64_decode(&bytes, data, size) == SB_BASE64_OK) {
        FUZZ_CHECK(bytes.len <= size / 4 * 3);
        sb_base64_encode(&text, bytes.data, bytes.len);
        FUZZ_CHECK(text.len == size);
        FUZZ_CHECK(sb_base64_decode(&back, text.data, text.len) == SB_BASE64_OK);
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
    check_payload_v3(data, size, EIOP_FORM_V3_TEXT);
    check_payload_v3(data, size, EIOP_FORM_V3_BINARY);
    check_utf16(data, size);
    check_frames(data, size);
    check_frames_v3(data, size);
    check_base64(data, size);
    return 0;
}
