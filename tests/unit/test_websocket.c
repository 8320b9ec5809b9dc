/* test_websocket.c: RFC 6455 frames, the reader's rules and close codes, the writers.
 * The golden vectors are the examples of RFC 6455 section 5.7 and the accept key of
 * section 4.2.2. Frames are read from exact-size heap copies, so a read past the bytes
 * given is an ASan report rather than a lucky NUL.
 */
#include "test.h"
#include "websocket_codec.h"

#define TEST_MAX_PAYLOAD (1u << 20)
#define TEST_FIN         0x80
#define TEST_OPCODE_BITS 0x0F
#define FROM_CLIENT      1 /* a server's reader: frames must be masked */
#define FROM_SERVER      0 /* a client's reader */
#define BIG_LEN          65536
#define MASK_LENS        67
#define PREFIX_TEST_LEN  300
#define MASK_SHIFTS      8

static const uint8_t TEST_MASK[4] = {0x37, 0xfa, 0x21, 0x3d}; /* RFC 6455 5.7's */

/* Bytes as a peer sends them, and a reader over them. */
typedef struct wire {
    uint8_t *buf; /* exactly len bytes */
    size_t len;
    size_t pos; /* where the next frame starts */
    ws_reader r;
} wire;

static void wire_init(wire *w, uint64_t max_payload, int require_mask)
{
    memset(w, 0, sizeof *w);
    ws_reader_init(&w->r, max_payload, require_mask);
}

static void wire_raw(wire *w, const void *bytes, size_t n)
{
    uint8_t *grown = realloc(w->buf, w->len + n > 0 ? w->len + n : 1);
    ASSERT(grown != NULL);
    w->buf = grown;
    if (n > 0)
        memcpy(w->buf + w->len, bytes, n);
    w->len += n;
}

/* Appends a frame masked with TEST_MASK; b0 is its whole first byte (fin, bits, opcode). */
static void wire_masked(wire *w, uint8_t b0, const void *payload, size_t n)
{
    uint8_t header[WS_HEADER_MAX];
    enum ws_opcode op = (enum ws_opcode)(b0 & TEST_OPCODE_BITS);
    size_t header_len = ws_frame_header_masked(header, op, n, TEST_MASK);
    header[0] = b0;
    wire_raw(w, header, header_len);
    wire_raw(w, payload, n);
    ws_mask(w->buf + w->len - n, n, TEST_MASK, 0);
}

#define WIRE_RAW(w, lit)        wire_raw((w), (lit), sizeof(lit) - 1)
#define WIRE_MASKED(w, b0, lit) wire_masked((w), (b0), (lit), sizeof(lit) - 1)

/* Reads the next frame, which must be whole and valid, with this payload. */
static void expect_frame(wire *w, uint8_t op, int fin, uint8_t msg_op, const void *payload,
                         size_t n)
{
    ws_frame f;
    size_t need = 0;
    ssize_t got = ws_read_frame(&w->r, w->buf + w->pos, w->len - w->pos, &f, &need);
    if (got <= 0)
        TEST_FAIL("frame at %zu: got %zd, close %u: %s", w->pos, got, w->r.close_code,
                  w->r.errstr ? w->r.errstr : "-");
    ASSERT_EQ(f.opcode, op);
    ASSERT_EQ(f.fin, fin);
    ASSERT_EQ(f.msg_opcode, msg_op);
    ASSERT_EQ(f.len, n);
    ASSERT(f.payload + f.len == w->buf + w->pos + got);
    ASSERT(n == 0 || memcmp(f.payload, payload, n) == 0);
    w->pos += (size_t)got;
}

#define EXPECT_FRAME(w, op, fin, msg_op, lit)                                                      \
    expect_frame((w), (op), (fin), (msg_op), (lit), sizeof(lit) - 1)

/* The next read fails with code, and so does every read after it, even of a valid frame. */
static void expect_error(wire *w, uint16_t code)
{
    uint8_t valid[] = {TEST_FIN | WS_OP_PING, 0x80, 0x37, 0xfa, 0x21, 0x3d};
    ws_frame f;
    ASSERT_EQ(ws_read_frame(&w->r, w->buf + w->pos, w->len - w->pos, &f, NULL), -1);
    ASSERT_EQ(w->r.close_code, code);
    ASSERT(w->r.errstr != NULL);
    ASSERT_EQ(ws_read_frame(&w->r, w->buf + w->pos, w->len - w->pos, &f, NULL), -1);
    ASSERT_EQ(ws_read_frame(&w->r, valid, sizeof valid, &f, NULL), -1);
    ASSERT_EQ(w->r.close_code, code);
}

/* The next read wants more bytes (need in all) and leaves the bytes as they were. */
static void expect_need(wire *w, size_t want)
{
    ws_frame f;
    size_t need = 0, n = w->len - w->pos;
    uint8_t *before = test_exact_copy(w->buf + w->pos, n);
    ASSERT_EQ(ws_read_frame(&w->r, w->buf + w->pos, n, &f, &need), 0);
    ASSERT_EQ(need, want);
    ASSERT(n == 0 || memcmp(before, w->buf + w->pos, n) == 0);
    free(before);
}

static void wire_free(wire *w)
{
    free(w->buf);
    w->buf = NULL;
}

/* These bytes, alone on a server's reader with this limit, fail with code. */
static void expect_raw_error(uint64_t max_payload, const char *bytes, size_t n, uint16_t code)
{
    wire w;
    wire_init(&w, max_payload, FROM_CLIENT);
    wire_raw(&w, bytes, n);
    expect_error(&w, code);
    wire_free(&w);
}

#define EXPECT_RAW_ERROR(max_payload, lit, code)                                                   \
    expect_raw_error((max_payload), (lit), sizeof(lit) - 1, (code))

/* One frame, alone on a server's reader, fails with code. */
static void expect_masked_error(uint8_t b0, const void *payload, size_t n, uint16_t code)
{
    wire w;
    wire_init(&w, TEST_MAX_PAYLOAD, FROM_CLIENT);
    wire_masked(&w, b0, payload, n);
    expect_error(&w, code);
    wire_free(&w);
}

TEST_IMPL(ws_rfc_single_frame_unmasked)
{
    wire w;
    wire_init(&w, TEST_MAX_PAYLOAD, FROM_SERVER);
    WIRE_RAW(&w, "\x81\x05"
                 "Hello");
    EXPECT_FRAME(&w, WS_OP_TEXT, 1, WS_OP_TEXT, "Hello");
    expect_need(&w, 2);
    wire_free(&w);
    return 0;
}

TEST_IMPL(ws_rfc_single_frame_masked)
{
    wire w;
    wire_init(&w, TEST_MAX_PAYLOAD, FROM_CLIENT);
    WIRE_RAW(&w, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
    EXPECT_FRAME(&w, WS_OP_TEXT, 1, WS_OP_TEXT, "Hello");
    ASSERT_MEM_EQ(w.buf + 6, 5, "Hello"); /* unmasked in place */
    wire_free(&w);
    return 0;
}

TEST_IMPL(ws_rfc_fragmented_unmasked)
{
    wire w;
    wire_init(&w, TEST_MAX_PAYLOAD, FROM_SERVER);
    WIRE_RAW(&w, "\x01\x03"
                 "Hel"
                 "\x80\x02"
                 "lo"
                 "\x81\x02"
                 "ok");
    EXPECT_FRAME(&w, WS_OP_TEXT, 0, WS_OP_TEXT, "Hel");
    ASSERT_EQ(w.r.msg_opcode, WS_OP_TEXT);
    EXPECT_FRAME(&w, WS_OP_CONTINUATION, 1, WS_OP_TEXT, "lo");
    ASSERT_EQ(w.r.msg_opcode, 0);
    EXPECT_FRAME(&w, WS_OP_TEXT, 1, WS_OP_TEXT, "ok");
    wire_free(&w);
    return 0;
}

TEST_IMPL(ws_rfc_ping_and_masked_pong)
{
    wire w;
    wire_init(&w, TEST_MAX_PAYLOAD, FROM_SERVER);
    WIRE_RAW(&w, "\x89\x05"
                 "Hello");
    EXPECT_FRAME(&w, WS_OP_PING, 1, 0, "Hello");
    wire_free(&w);

    wire_init(&w, TEST_MAX_PAYLOAD, FROM_CLIENT);
    WIRE_RAW(&w, "\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
    EXPECT_FRAME(&w, WS_OP_PONG, 1, 0, "Hello");
    wire_free(&w);
    return 0;
}

/* A binary frame of n bytes (i & 0xff at i) after the given header, unmasked. */
static void expect_binary(const char *header, size_t header_len, size_t n)
{
    uint8_t *payload = malloc(n);
    uint8_t written[WS_SERVER_HEADER_MAX];
    wire w;
    ASSERT(payload != NULL);
    for (size_t i = 0; i < n; i++)
        payload[i] = (uint8_t)i;
    wire_init(&w, TEST_MAX_PAYLOAD, FROM_SERVER);
    wire_raw(&w, header, header_len);
    wire_raw(&w, payload, n);
    expect_frame(&w, WS_OP_BINARY, 1, WS_OP_BINARY, payload, n);
    ASSERT_EQ(ws_frame_header(written, WS_OP_BINARY, n), header_len);
    ASSERT(memcmp(written, header, header_len) == 0);
    wire_free(&w);
    free(payload);
}

TEST_IMPL(ws_rfc_binary_256_and_64k)
{
    expect_binary("\x82\x7E\x01\x00", 4, 256);
    expect_binary("\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00", 10, BIG_LEN);
    return 0;
}

TEST_IMPL(ws_accept_key_rfc_example)
{
    static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
    char out[WS_ACCEPT_LEN + 1];
    memset(out, 'x', sizeof out);
    ws_accept_key(key, sizeof key - 1, out);
    ASSERT_STR_EQ(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    return 0;
}

TEST_IMPL(ws_read_unmasked_client_frame_is_1002)
{
    EXPECT_RAW_ERROR(TEST_MAX_PAYLOAD,
                     "\x81\x05"
                     "Hello",
                     WS_CLOSE_PROTOCOL_ERROR);
    return 0;
}

TEST_IMPL(ws_read_masked_server_frame_is_accepted)
{
    wire w;
    wire_init(&w, TEST_MAX_PAYLOAD, FROM_SERVER);
    WIRE_MASKED(&w, TEST_FIN | WS_OP_TEXT, "Hello");
    EXPECT_FRAME(&w, WS_OP_TEXT, 1, WS_OP_TEXT, "Hello");
    wire_free(&w);
    return 0;
}

TEST_IMPL(ws_read_reserved_bits_are_1002)
{
    static const uint8_t rsv[] = {0x40, 0x20, 0x10, 0x70};
    for (size_t i = 0; i < sizeof rsv; i++)
        expect_masked_error(TEST_FIN | rsv[i] | WS_OP_TEXT, "Hello", 5, WS_CLOSE_PROTOCOL_ERROR);
    return 0;
}

TEST_IMPL(ws_read_unknown_opcodes_are_1002)
{
    static const uint8_t unknown[] = {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t i = 0; i < sizeof unknown; i++)
        expect_masked_error(TEST_FIN | unknown[i], "x", 1, WS_CLOSE_PROTOCOL_ERROR);
    return 0;
}

TEST_IMPL(ws_read_control_frame_rules)
{
    uint8_t payload[WS_CONTROL_MAX + 1];
    wire w;
    memset(payload, 'p', sizeof payload);
    expect_masked_error(WS_OP_PING, "x", 1, WS_CLOSE_PROTOCOL_ERROR); /* fin clear */
    expect_masked_error(WS_OP_CLOSE, "", 0, WS_CLOSE_PROTOCOL_ERROR);
    expect_masked_error(TEST_FIN | WS_OP_PING, payload, WS_CONTROL_MAX + 1,
                        WS_CLOSE_PROTOCOL_ERROR);
    expect_masked_error(TEST_FIN | WS_OP_CLOSE, payload, WS_CONTROL_MAX + 1,
                        WS_CLOSE_PROTOCOL_ERROR);

    /* The extended forms are refused on the second byte, whatever length they hold. */
    EXPECT_RAW_ERROR(TEST_MAX_PAYLOAD, "\x8A\xFF\x00\x00\x00\x00\x00\x01\x00\x00",
                     WS_CLOSE_PROTOCOL_ERROR);
    EXPECT_RAW_ERROR(TEST_MAX_PAYLOAD, "\x89\xFE\x00\x05\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
                     WS_CLOSE_PROTOCOL_ERROR);

    wire_init(&w, TEST_MAX_PAYLOAD, FROM_CLIENT);
    wire_masked(&w, TEST_FIN | WS_OP_PING, payload, WS_CONTROL_MAX);
    expect_frame(&w, WS_OP_PING, 1, 0, payload, WS_CONTROL_MAX);
    WIRE_MASKED(&w, TEST_FIN | WS_OP_CLOSE, "\x03\xe8");
    EXPECT_FRAME(&w, WS_OP_CLOSE, 1, 0, "\x03\xe8");
    WIRE_MASKED(&w, TEST_FIN | WS_OP_CLOSE, "\x03"); /* ws_close_parse's business */
    EXPECT_FRAME(&w, WS_OP_CLOSE, 1, 0, "\x03");
    wire_free(&w);
    return 0;
}

TEST_IMPL(ws_read_continuation_without_message_is_1002)
{
    wire w;
    expect_masked_error(TEST_FIN | WS_OP_CONTINUATION, "lo", 2, WS_CLOSE_PROTOCOL_ERROR);
    expect_masked_error(WS_OP_CONTINUATION, "lo", 2, WS_CLOSE_PROTOCOL_ERROR);

    wire_init(&w, TEST_MAX_PAYLOAD, FROM_CLIENT);
    WIRE_MASKED(&w, TEST_FIN | WS_OP_TEXT, "Hello");
    WIRE_MASKED(&w, TEST_FIN | WS_OP_CONTINUATION, "lo");
    EXPECT_FRAME(&w, WS_OP_TEXT, 1, WS_OP_TEXT, "Hello");
    expect_error(&w, WS_CLOSE_PROTOCOL_ERROR);
    wire_free(&w);
    return 0;
}

TEST_IMPL(ws_read_new_message_inside_fragmented_is_1002)
{
    static const uint8_t second[] = {WS_OP_TEXT, TEST_FIN | WS_OP_TEXT, WS_OP_BINARY,
                                     TEST_FIN | WS_OP_BINARY};
    for (size_t i = 0; i < sizeof second; i++) {
        wire w;
        wire_init(&w, TEST_MAX_PAYLOAD, FROM_CLIENT);
        WIRE_MASKED(&w, WS_OP_BINARY, "Hel");
        wire_masked(&w, second[i], "lo", 2);
        EXPECT_FRAME(&w, WS_OP_BINARY, 0, WS_OP_BINARY, "Hel");
        expect_error(&w, WS_CLOSE_PROTOCOL_ERROR);
        wire_free(&w);
    }
    return 0;
}

TEST_IMPL(ws_read_length_top_bit_is_1002)
{
    /* Refused on the length alone, before the mask key and payload. */
    EXPECT_RAW_ERROR(UINT64_MAX, "\x82\xFF\x80\x00\x00\x00\x00\x00\x00\x05",
                     WS_CLOSE_PROTOCOL_ERROR);
    return 0;
}

TEST_IMPL(ws_read_non_minimal_lengths_accepted)
{
    wire w;
    wire_init(&w, TEST_MAX_PAYLOAD, FROM_CLIENT);
    WIRE_RAW(&w, "\x82\xFE\x00\x05\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
    WIRE_RAW(&w, "\x82\xFF\x00\x00\x00\x00\x00\x00\x00\x05\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
    WIRE_RAW(&w, "\x82\xFE\x00\x00\x37\xfa\x21\x3d");
    EXPECT_FRAME(&w, WS_OP_BINARY, 1, WS_OP_BINARY, "Hello");
    EXPECT_FRAME(&w, WS_OP_BINARY, 1, WS_OP_BINARY, "Hello");
    EXPECT_FRAME(&w, WS_OP_BINARY, 1, WS_OP_BINARY, "");
    wire_free(&w);
    return 0;
}

/* Every proper prefix of the frame reads as incomplete, wanting known_at + 4 bytes until
 * its length is known at known_at bytes, then the whole frame; none changes a byte. */
static void expect_prefixes(wire *w, size_t known_at)
{
    size_t total = w->len;
    ws_frame f;
    for (size_t n = 0; n < total; n++) {
        uint8_t *part = test_exact_copy(w->buf, n);
        size_t need = 0, want = n < 2 ? 2 : n < known_at ? known_at + 4 : total;
        ASSERT_EQ(ws_read_frame(&w->r, part, n, &f, &need), 0);
        if (need != want)
            TEST_FAIL("prefix of %zu bytes: need %zu, want %zu", n, need, want);
        ASSERT(n == 0 || memcmp(part, w->buf, n) == 0);
        free(part);
    }
}

TEST_IMPL(ws_read_incomplete_byte_by_byte)
{
    static const size_t lens[] = {0, 5, WS_CONTROL_MAX + 1, PREFIX_TEST_LEN};
    static const size_t known_at[] = {2, 2, 4, 4};
    uint8_t payload[PREFIX_TEST_LEN] = {0};
    wire w;
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        wire_init(&w, TEST_MAX_PAYLOAD, FROM_CLIENT);
        wire_masked(&w, TEST_FIN | WS_OP_BINARY, payload, lens[i]);
        expect_prefixes(&w, known_at[i]);
        expect_frame(&w, WS_OP_BINARY, 1, WS_OP_BINARY, payload, lens[i]);
        wire_free(&w);
    }
    wire_init(&w, TEST_MAX_PAYLOAD, FROM_CLIENT);
    WIRE_RAW(&w, "\x81\xFF\x00\x00\x00\x00\x00\x00\x00\x05\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
    expect_prefixes(&w, 10);
    EXPECT_FRAME(&w, WS_OP_TEXT, 1, WS_OP_TEXT, "Hello");
    wire_free(&w);
    return 0;
}

/* Reads the frames of w as its bytes arrive one at a time; returns how many it read. */
static size_t read_trickled(wire *w, ws_frame *frames, size_t max_frames)
{
    size_t count = 0, pos = 0, need = 0;
    for (size_t avail = 0; avail <= w->len; avail++) {
        ws_frame f;
        ssize_t got;
        while ((got = ws_read_frame(&w->r, w->buf + pos, avail - pos, &f, &need)) > 0) {
            ASSERT(count < max_frames);
            frames[count++] = f;
            pos += (size_t)got;
        }
        ASSERT_EQ(got, 0);
        ASSERT(need > avail - pos);
    }
    ASSERT_EQ(pos, w->len);
    return count;
}

TEST_IMPL(ws_read_interleaved_ping)
{
    ws_frame frames[4];
    wire w;
    wire_init(&w, TEST_MAX_PAYLOAD, FROM_CLIENT);
    WIRE_MASKED(&w, WS_OP_TEXT, "Hel");
    WIRE_MASKED(&w, TEST_FIN | WS_OP_PING, "ping");
    WIRE_MASKED(&w, TEST_FIN | WS_OP_PONG, "");
    WIRE_MASKED(&w, TEST_FIN | WS_OP_CONTINUATION, "lo");
    ASSERT_EQ(read_trickled(&w, frames, 4), 4);
    ASSERT_EQ(frames[0].opcode, WS_OP_TEXT);
    ASSERT_MEM_EQ(frames[0].payload, frames[0].len, "Hel");
    ASSERT_EQ(frames[1].opcode, WS_OP_PING);
    ASSERT_EQ(frames[1].msg_opcode, 0);
    ASSERT_MEM_EQ(frames[1].payload, frames[1].len, "ping");
    ASSERT_EQ(frames[2].opcode, WS_OP_PONG);
    ASSERT_EQ(frames[2].len, 0);
    ASSERT_EQ(frames[3].opcode, WS_OP_CONTINUATION);
    ASSERT_EQ(frames[3].msg_opcode, WS_OP_TEXT);
    ASSERT_EQ(frames[3].fin, 1);
    ASSERT_MEM_EQ(frames[3].payload, frames[3].len, "lo");
    wire_free(&w);
    return 0;
}

TEST_IMPL(ws_read_max_payload_single_frame)
{
    wire w;
    wire_init(&w, 5, FROM_CLIENT);
    WIRE_MASKED(&w, TEST_FIN | WS_OP_TEXT, "Hello");
    WIRE_MASKED(&w, TEST_FIN | WS_OP_PING, "longer than five");
    WIRE_MASKED(&w, TEST_FIN | WS_OP_TEXT, "Hello!");
    EXPECT_FRAME(&w, WS_OP_TEXT, 1, WS_OP_TEXT, "Hello");
    EXPECT_FRAME(&w, WS_OP_PING, 1, 0, "longer than five"); /* not a message */
    expect_error(&w, WS_CLOSE_TOO_BIG);
    wire_free(&w);
    return 0;
}

TEST_IMPL(ws_read_max_payload_on_header_alone)
{
    wire w;
    /* 256 bytes over a limit of 255: no mask key or payload yet. */
    EXPECT_RAW_ERROR(255, "\x82\xFE\x01\x00", WS_CLOSE_TOO_BIG);
    EXPECT_RAW_ERROR(UINT32_MAX, "\x82\xFF\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF", WS_CLOSE_TOO_BIG);
    /* No limit, but a frame whose size the return value cannot hold. */
    EXPECT_RAW_ERROR(UINT64_MAX, "\x82\xFF\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF", WS_CLOSE_TOO_BIG);

    wire_init(&w, 256, FROM_CLIENT);
    WIRE_RAW(&w, "\x82\xFE\x01\x00");
    expect_need(&w, 4 + 4 + 256);
    wire_free(&w);
    return 0;
}

TEST_IMPL(ws_read_max_payload_over_fragments)
{
    wire w;
    wire_init(&w, 5, FROM_CLIENT);
    WIRE_MASKED(&w, WS_OP_TEXT, "Hel");
    WIRE_MASKED(&w, TEST_FIN | WS_OP_PING, "0123456789");
    WIRE_MASKED(&w, TEST_FIN | WS_OP_CONTINUATION, "lo");
    WIRE_MASKED(&w, WS_OP_BINARY, "Hel");
    WIRE_MASKED(&w, WS_OP_CONTINUATION, "l");
    WIRE_RAW(&w, "\x80\x82"); /* two more bytes: 6 in all, said by the header alone */
    EXPECT_FRAME(&w, WS_OP_TEXT, 0, WS_OP_TEXT, "Hel");
    EXPECT_FRAME(&w, WS_OP_PING, 1, 0, "0123456789");
    EXPECT_FRAME(&w, WS_OP_CONTINUATION, 1, WS_OP_TEXT, "lo");
    EXPECT_FRAME(&w, WS_OP_BINARY, 0, WS_OP_BINARY, "Hel");
    EXPECT_FRAME(&w, WS_OP_CONTINUATION, 0, WS_OP_BINARY, "l");
    expect_error(&w, WS_CLOSE_TOO_BIG);
    wire_free(&w);
    return 0;
}

TEST_IMPL(ws_read_utf8_split_across_fragments)
{
    wire w;
    wire_init(&w, TEST_MAX_PAYLOAD, FROM_CLIENT);
    WIRE_MASKED(&w, WS_OP_TEXT, "caf\xC3");
    WIRE_MASKED(&w, TEST_FIN | WS_OP_CONTINUATION, "\xA9!");
    WIRE_MASKED(&w, WS_OP_TEXT, "\xF0");
    WIRE_MASKED(&w, TEST_FIN | WS_OP_PING, "\xFF"); /* not text */
    WIRE_MASKED(&w, WS_OP_CONTINUATION, "\x9F\x98");
    WIRE_MASKED(&w, TEST_FIN | WS_OP_CONTINUATION, "\x80");
    WIRE_MASKED(&w, TEST_FIN | WS_OP_BINARY, "\xC0\x80"); /* not text either */
    EXPECT_FRAME(&w, WS_OP_TEXT, 0, WS_OP_TEXT, "caf\xC3");
    EXPECT_FRAME(&w, WS_OP_CONTINUATION, 1, WS_OP_TEXT, "\xA9!");
    EXPECT_FRAME(&w, WS_OP_TEXT, 0, WS_OP_TEXT, "\xF0");
    EXPECT_FRAME(&w, WS_OP_PING, 1, 0, "\xFF");
    EXPECT_FRAME(&w, WS_OP_CONTINUATION, 0, WS_OP_TEXT, "\x9F\x98");
    EXPECT_FRAME(&w, WS_OP_CONTINUATION, 1, WS_OP_TEXT, "\x80");
    EXPECT_FRAME(&w, WS_OP_BINARY, 1, WS_OP_BINARY, "\xC0\x80");
    wire_free(&w);
    return 0;
}

/* A text message of these fragments fails with 1007 on fragment bad_at (from 0). */
static void expect_invalid_text(const char *const *fragments, size_t count, size_t bad_at)
{
    wire w;
    wire_init(&w, TEST_MAX_PAYLOAD, FROM_CLIENT);
    for (size_t i = 0; i < count; i++) {
        uint8_t op = i == 0 ? WS_OP_TEXT : WS_OP_CONTINUATION;
        wire_masked(&w, (uint8_t)(op | (i + 1 == count ? TEST_FIN : 0)), fragments[i],
                    strlen(fragments[i]));
    }
    for (size_t i = 0; i < bad_at; i++)
        expect_frame(&w, i == 0 ? WS_OP_TEXT : WS_OP_CONTINUATION, 0, WS_OP_TEXT, fragments[i],
                     strlen(fragments[i]));
    expect_error(&w, WS_CLOSE_INVALID_DATA);
    wire_free(&w);
}

TEST_IMPL(ws_read_invalid_utf8_is_1007)
{
    static const char *const overlong[] = {"a\xC0\x80"};
    static const char *const surrogate[] = {"\xED\xA0\x80"};
    static const char *const too_high[] = {"\xF4\x90\x80\x80"};
    static const char *const truncated[] = {"ok \xE2\x82"};
    static const char *const early[] = {"\xC0\x80", "never read"};
    static const char *const split_surrogate[] = {"abc\xED", "\xA0\x80"};
    static const char *const truncated_at_fin[] = {"\xE2", "\x82"};
    expect_invalid_text(overlong, 1, 0);
    expect_invalid_text(surrogate, 1, 0);
    expect_invalid_text(too_high, 1, 0);
    expect_invalid_text(truncated, 1, 0);
    expect_invalid_text(early, 2, 0);
    expect_invalid_text(split_surrogate, 2, 1);
    expect_invalid_text(truncated_at_fin, 2, 1);
    return 0;
}

#define EXPECT_UTF8(lit, valid)                                                                    \
    ASSERT_EQ(ws_utf8_valid((const uint8_t *)(lit), sizeof(lit) - 1), (valid))

TEST_IMPL(ws_utf8_valid_cases)
{
    EXPECT_UTF8("", 1);
    EXPECT_UTF8("plain ASCII, long enough for several words at a time", 1);
    EXPECT_UTF8("\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF", 1);
    EXPECT_UTF8("\xF0\x90\x80\x80\xF4\x8F\xBF\xBF", 1);
    EXPECT_UTF8("0123456789abcdef\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5 ok", 1);
    EXPECT_UTF8("\x80", 0);
    EXPECT_UTF8("\xC0\x80", 0);
    EXPECT_UTF8("\xC1\xBF", 0);
    EXPECT_UTF8("\xE0\x80\x80", 0);
    EXPECT_UTF8("\xE0\x9F\xBF", 0);
    EXPECT_UTF8("\xED\xA0\x80", 0);
    EXPECT_UTF8("\xED\xBF\xBF", 0);
    EXPECT_UTF8("\xF0\x8F\xBF\xBF", 0);
    EXPECT_UTF8("\xF4\x90\x80\x80", 0);
    EXPECT_UTF8("\xF5\x80\x80\x80", 0);
    EXPECT_UTF8("\xFE", 0);
    EXPECT_UTF8("\xE2\x82", 0);
    EXPECT_UTF8("0123456\xFF", 0);
    EXPECT_UTF8("01234567\xFF", 0);
    EXPECT_UTF8("0123456789abcdef0\x80", 0);
    return 0;
}

/* Parses a close payload that must be valid, with this code and reason. */
static void expect_close(const char *payload, size_t len, uint16_t code, const char *reason)
{
    uint8_t *copy = test_exact_copy(payload, len);
    const uint8_t *got_reason;
    size_t got_len;
    uint16_t got_code;
    if (ws_close_parse(copy, len, &got_code, &got_reason, &got_len) != 0)
        TEST_FAIL("close payload of %zu bytes, code %u: refused", len, code);
    ASSERT_EQ(got_code, code);
    ASSERT_EQ(got_len, strlen(reason));
    ASSERT(got_len == 0 || memcmp(got_reason, reason, got_len) == 0);
    free(copy);
}

#define EXPECT_CLOSE(lit, code, reason) expect_close((lit), sizeof(lit) - 1, (code), (reason))

static void expect_close_invalid(const char *payload, size_t len)
{
    uint8_t *copy = test_exact_copy(payload, len);
    const uint8_t *reason;
    size_t reason_len;
    uint16_t code;
    if (ws_close_parse(copy, len, &code, &reason, &reason_len) != -1)
        TEST_FAIL("close payload of %zu bytes accepted", len);
    free(copy);
}

#define EXPECT_CLOSE_INVALID(lit) expect_close_invalid((lit), sizeof(lit) - 1)

TEST_IMPL(ws_close_parse_cases)
{
    static const uint16_t valid[] = {1000, 1001, 1002, 1003, 1007, 1008,
                                     1009, 1010, 1011, 3000, 4999};
    static const uint16_t invalid[] = {0, 999, 1004, 1005, 1006, 1012, 1015, 2999, 5000, 65535};
    EXPECT_CLOSE("", WS_CLOSE_NO_STATUS, "");
    EXPECT_CLOSE("\x03\xe8", WS_CLOSE_NORMAL, "");
    EXPECT_CLOSE("\x03\xe9"
                 "going away: caf\xC3\xA9",
                 WS_CLOSE_GOING_AWAY, "going away: caf\xC3\xA9");
    EXPECT_CLOSE_INVALID("\x03");
    EXPECT_CLOSE_INVALID("\x03\xe8\xC0\x80");
    EXPECT_CLOSE_INVALID("\x03\xe8"
                         "ok\xE2\x82");
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        char payload[2] = {(char)(valid[i] >> 8), (char)valid[i]};
        expect_close(payload, 2, valid[i], "");
    }
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        char payload[2] = {(char)(invalid[i] >> 8), (char)invalid[i]};
        expect_close_invalid(payload, 2);
    }
    return 0;
}

TEST_IMPL(ws_close_payload_forms)
{
    uint8_t out[WS_CONTROL_MAX];
    char reason[WS_CONTROL_MAX + 2];
    ASSERT_MEM_EQ(out, ws_close_payload(out, WS_CLOSE_NORMAL, "bye"),
                  "\x03\xe8"
                  "bye");
    ASSERT_MEM_EQ(out, ws_close_payload(out, WS_CLOSE_TOO_BIG, NULL), "\x03\xf1");
    ASSERT_EQ(ws_close_payload(out, WS_CLOSE_NO_STATUS, "ignored"), 0);

    memset(reason, 'a', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    ASSERT_EQ(ws_close_payload(out, WS_CLOSE_POLICY, reason), WS_CONTROL_MAX);
    /* "\xC3\xA9" at bytes 122-123 of the reason would end one byte past the limit. */
    memcpy(reason + WS_CONTROL_MAX - 3, "\xC3\xA9", 2);
    ASSERT_EQ(ws_close_payload(out, WS_CLOSE_POLICY, reason), WS_CONTROL_MAX - 1);
    reason[WS_CONTROL_MAX - 3] = '\0';
    expect_close((const char *)out, WS_CONTROL_MAX - 1, WS_CLOSE_POLICY, reason);
    return 0;
}

/* The header ws_frame_header() writes for a payload of len bytes. */
static void expect_header(enum ws_opcode op, uint64_t len, const char *want, size_t want_len)
{
    uint8_t out[WS_SERVER_HEADER_MAX];
    ASSERT_EQ(ws_frame_header(out, op, len), want_len);
    ASSERT(memcmp(out, want, want_len) == 0);
}

#define EXPECT_HEADER(op, len, lit) expect_header((op), (len), (lit), sizeof(lit) - 1)

TEST_IMPL(ws_frame_header_lengths)
{
    EXPECT_HEADER(WS_OP_BINARY, 0, "\x82\x00");
    EXPECT_HEADER(WS_OP_TEXT, 125, "\x81\x7d");
    EXPECT_HEADER(WS_OP_TEXT, 126, "\x81\x7e\x00\x7e");
    EXPECT_HEADER(WS_OP_BINARY, 65535, "\x82\x7e\xff\xff");
    EXPECT_HEADER(WS_OP_BINARY, 65536, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00");
    EXPECT_HEADER(WS_OP_TEXT, INT64_MAX, "\x81\x7f\x7f\xff\xff\xff\xff\xff\xff\xff");
    EXPECT_HEADER(WS_OP_PING, 0, "\x89\x00");
    EXPECT_HEADER(WS_OP_CLOSE, 2, "\x88\x02");
    return 0;
}

TEST_IMPL(ws_frame_header_before_ends_at_end)
{
    static const uint64_t lens[] = {0, 125, 126, 65535, 65536, INT64_MAX};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t room[2 * WS_SERVER_HEADER_MAX], want[WS_SERVER_HEADER_MAX];
        uint8_t *end = room + WS_SERVER_HEADER_MAX + 1;
        size_t n = ws_frame_header(want, WS_OP_TEXT, lens[i]);
        memset(room, 0xEE, sizeof room);
        ASSERT_EQ(ws_frame_header_before(end, WS_OP_TEXT, lens[i]), n);
        ASSERT(memcmp(end - n, want, n) == 0);
        for (uint8_t *p = room; p < room + sizeof room; p++)
            if (p < end - n || p >= end)
                ASSERT_EQ(*p, 0xEE);
    }
    return 0;
}

TEST_IMPL(ws_frame_header_masked_lengths)
{
    static const uint64_t lens[] = {0, 125, 126, 65535, 65536};
    static const size_t header_lens[] = {6, 6, 8, 8, 14};
    uint8_t out[WS_HEADER_MAX];
    ASSERT_EQ(ws_frame_header_masked(out, WS_OP_TEXT, 5, TEST_MASK), 6);
    ASSERT(memcmp(out, "\x81\x85\x37\xfa\x21\x3d", 6) == 0);
    ASSERT_EQ(ws_frame_header_masked(out, WS_OP_BINARY, 256, TEST_MASK), 8);
    ASSERT(memcmp(out, "\x82\xfe\x01\x00\x37\xfa\x21\x3d", 8) == 0);
    ASSERT_EQ(ws_frame_header_masked(out, WS_OP_BINARY, BIG_LEN, TEST_MASK), 14);
    ASSERT(memcmp(out, "\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00\x37\xfa\x21\x3d", 14) == 0);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        ASSERT_EQ(ws_frame_header_masked(out, WS_OP_BINARY, lens[i], TEST_MASK), header_lens[i]);
    return 0;
}

TEST_IMPL(ws_mask_matches_bytewise)
{
    static const uint8_t mask[4] = {0x01, 0x80, 0x5a, 0xff};
    uint8_t data[MASK_SHIFTS + MASK_LENS], want[MASK_LENS];
    for (size_t len = 0; len <= MASK_LENS; len++)
        for (size_t shift = 0; shift < MASK_SHIFTS; shift++)
            for (size_t offset = 0; offset < MASK_SHIFTS; offset++) {
                uint8_t *at = data + shift; /* every alignment */
                for (size_t i = 0; i < len; i++) {
                    at[i] = (uint8_t)(i * 7 + shift);
                    want[i] = at[i] ^ mask[(i + offset) % 4];
                }
                ws_mask(at, len, mask, offset);
                ASSERT(len == 0 || memcmp(at, want, len) == 0);
            }
    return 0;
}

TEST_IMPL(ws_mask_in_pieces_equals_whole)
{
    uint8_t whole[MASK_LENS], pieces[MASK_LENS];
    for (size_t i = 0; i < MASK_LENS; i++)
        whole[i] = pieces[i] = (uint8_t)(i * 13);
    ws_mask(whole, MASK_LENS, TEST_MASK, 0);
    for (size_t cut = 0; cut <= MASK_LENS; cut++) {
        uint8_t copy[MASK_LENS];
        memcpy(copy, pieces, MASK_LENS);
        ws_mask(copy, cut, TEST_MASK, 0);
        ws_mask(copy + cut, MASK_LENS - cut, TEST_MASK, cut);
        ASSERT(memcmp(copy, whole, MASK_LENS) == 0);
        ws_mask(copy, MASK_LENS, TEST_MASK, 0); /* twice is nothing */
        ASSERT(memcmp(copy, pieces, MASK_LENS) == 0);
    }
    return 0;
}
