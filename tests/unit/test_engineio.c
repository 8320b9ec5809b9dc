/* test_engineio.c: Engine.IO v4 frames, polling payloads and the handshake.
 * The golden vectors are the examples of the engine.io-protocol and socket.io-protocol
 * documents (https://github.com/socketio/engine.io-protocol, socket.io-protocol). */
#include "eiop_test.h"
#include "engineio_codec.h"

/* Decodes the frame lit from an exact-size heap copy and checks the packet it gives. */
static void expect_frame(const char *lit, size_t len, int is_text, eiop_packet_type type,
                         int binary, const char *data, size_t data_len)
{
    uint8_t *frame = test_exact_copy(lit, len);
    eiop_packet p;
    const char *why = "unset";
    if (eiop_packet_decode_frame(frame, len, is_text, &p, &why) != EIOP_OK)
        TEST_FAIL("frame \"%.*s\": %s", (int)len, lit, why);
    ASSERT(why == NULL);
    ASSERT_EQ(p.type, type);
    ASSERT_EQ(p.binary, binary);
    ASSERT(p.data != NULL);
    ASSERT_EQ(p.len, data_len);
    ASSERT(memcmp(p.data, data, data_len) == 0);
    free(frame);
}

#define EXPECT_FRAME(lit, is_text, type, binary, data)                                             \
    expect_frame((lit), sizeof(lit) - 1, (is_text), (type), (binary), (data), sizeof(data) - 1)

static void expect_text_frame_error(const char *lit, size_t len, const char *want)
{
    uint8_t *frame = test_exact_copy(lit, len);
    eiop_packet p;
    const char *why = NULL;
    ASSERT_EQ(eiop_packet_decode_frame(frame, len, 1, &p, &why), EIOP_ERR);
    if (why == NULL || strstr(why, want) == NULL)
        TEST_FAIL("frame \"%.*s\": errstr \"%s\", want \"%s\"", (int)len, lit, why, want);
    free(frame);
}

#define EXPECT_TEXT_FRAME_ERROR(lit, want) expect_text_frame_error((lit), sizeof(lit) - 1, (want))

/* Reads a whole body that must fail, and checks the reason mentions why. */
static void expect_payload_error(const char *body, size_t len, const char *why)
{
    payload_fixture f;
    payload_open_form(&f, body, len, EIOP_FORM_V4);
    eiop_packet p;
    int rc;
    while ((rc = eiop_payload_reader_next(&f.r, &p)) == EIOP_OK)
        ;
    if (rc != EIOP_ERR || strstr(f.r.errstr, why) == NULL)
        TEST_FAIL("payload \"%.*s\": rc %d, errstr \"%s\", want \"%s\"", (int)len, body, rc,
                  f.r.errstr, why);
    ASSERT(f.r.err);
    payload_close(&f);
}

#define EXPECT_PAYLOAD_ERROR(lit, why) expect_payload_error((lit), sizeof(lit) - 1, (why))

TEST_IMPL(eio_frame_text_packets)
{
    EXPECT_FRAME("4hello", 1, EIOP_PACKET_MESSAGE, 0, "hello");
    EXPECT_FRAME("2probe", 1, EIOP_PACKET_PING, 0, "probe");
    EXPECT_FRAME("3probe", 1, EIOP_PACKET_PONG, 0, "probe");
    EXPECT_FRAME("5", 1, EIOP_PACKET_UPGRADE, 0, "");
    EXPECT_FRAME("6", 1, EIOP_PACKET_NOOP, 0, "");
    EXPECT_FRAME("40{\"token\":\"123\"}", 1, EIOP_PACKET_MESSAGE, 0, "0{\"token\":\"123\"}");
    return 0;
}

TEST_IMPL(eio_frame_binary_is_raw_message)
{
    EXPECT_FRAME("\x01\x02\x03\x04", 0, EIOP_PACKET_MESSAGE, 1, "\x01\x02\x03\x04");
    /* A binary frame starting with a type digit is still raw data (v4 dropped the prefix). */
    EXPECT_FRAME("4abc", 0, EIOP_PACKET_MESSAGE, 1, "4abc");
    EXPECT_FRAME("", 0, EIOP_PACKET_MESSAGE, 1, "");
    eiop_packet p;
    ASSERT_EQ(eiop_packet_decode_frame(NULL, 0, 0, &p, NULL), EIOP_OK);
    ASSERT(p.data != NULL);
    ASSERT_EQ(p.len, 0);
    return 0;
}

TEST_IMPL(eio_frame_text_errors)
{
    EXPECT_TEXT_FRAME_ERROR("", "without a packet type");
    EXPECT_TEXT_FRAME_ERROR("7", "unknown packet type");
    EXPECT_TEXT_FRAME_ERROR("/4", "unknown packet type");
    /* 'b' + base64 exists only inside polling payloads. */
    EXPECT_TEXT_FRAME_ERROR("bAQIDBA==", "unknown packet type");
    return 0;
}

TEST_IMPL(eio_payload_spec_text_example)
{
    payload_fixture f;
    PAYLOAD_OPEN(&f, "4hello\x1e"
                     "2\x1e"
                     "4world");
    EXPECT_PACKET(&f, EIOP_PACKET_MESSAGE, 0, "hello");
    EXPECT_PACKET(&f, EIOP_PACKET_PING, 0, "");
    EXPECT_PACKET(&f, EIOP_PACKET_MESSAGE, 0, "world");
    eiop_packet p;
    ASSERT_EQ(eiop_payload_reader_next(&f.r, &p), EIOP_DONE);
    ASSERT_EQ(eiop_payload_reader_next(&f.r, &p), EIOP_DONE);
    payload_close(&f);
    return 0;
}

TEST_IMPL(eio_payload_spec_binary_example)
{
    payload_fixture f;
    PAYLOAD_OPEN(&f, "4hello\x1e"
                     "bAQIDBA==");
    EXPECT_PACKET(&f, EIOP_PACKET_MESSAGE, 0, "hello");
    EXPECT_PACKET(&f, EIOP_PACKET_MESSAGE, 1, "\x01\x02\x03\x04");
    eiop_packet p;
    ASSERT_EQ(eiop_payload_reader_next(&f.r, &p), EIOP_DONE);
    payload_close(&f);
    return 0;
}

TEST_IMPL(eio_payload_socketio_sample_session)
{
    payload_fixture f;
    PAYLOAD_OPEN(&f, "42[\"hello\"]\x1e"
                     "42[\"world\"]");
    EXPECT_PACKET(&f, EIOP_PACKET_MESSAGE, 0, "2[\"hello\"]");
    EXPECT_PACKET(&f, EIOP_PACKET_MESSAGE, 0, "2[\"world\"]");
    payload_close(&f);
    return 0;
}

TEST_IMPL(eio_payload_binary_packets_in_sequence)
{
    payload_fixture f;
    PAYLOAD_OPEN(&f, "bAQI=\x1e"
                     "b\x1e"
                     "bAA==\x1e"
                     "6");
    EXPECT_PACKET(&f, EIOP_PACKET_MESSAGE, 1, "\x01\x02");
    EXPECT_PACKET(&f, EIOP_PACKET_MESSAGE, 1, "");
    EXPECT_PACKET(&f, EIOP_PACKET_MESSAGE, 1, "\x00");
    EXPECT_PACKET(&f, EIOP_PACKET_NOOP, 0, "");
    payload_close(&f);
    return 0;
}

TEST_IMPL(eio_payload_empty_is_error)
{
    EXPECT_PAYLOAD_ERROR("", "empty payload");
    eiop_payload_reader r;
    eiop_packet p;
    eiop_payload_reader_init(&r, NULL, 0);
    ASSERT_EQ(eiop_payload_reader_next(&r, &p), EIOP_ERR);
    eiop_payload_reader_free(&r);
    return 0;
}

TEST_IMPL(eio_payload_empty_record_is_error)
{
    EXPECT_PAYLOAD_ERROR("\x1e", "empty packet at offset 0");
    EXPECT_PAYLOAD_ERROR("\x1e"
                         "4a",
                         "empty packet at offset 0");
    EXPECT_PAYLOAD_ERROR("4a\x1e\x1e"
                         "4b",
                         "empty packet at offset 3");
    EXPECT_PAYLOAD_ERROR("4a\x1e", "trailing separator");
    EXPECT_PAYLOAD_ERROR("4a\x1e"
                         "2\x1e",
                         "trailing separator");
    return 0;
}

TEST_IMPL(eio_payload_unknown_type_is_error)
{
    EXPECT_PAYLOAD_ERROR("7", "unknown packet type (0x37) at offset 0");
    EXPECT_PAYLOAD_ERROR("4a\x1ex", "unknown packet type (0x78) at offset 3");
    EXPECT_PAYLOAD_ERROR("B", "unknown packet type");
    EXPECT_PAYLOAD_ERROR("9:4hello", "unknown packet type"); /* a v3 length prefix */
    return 0;
}

TEST_IMPL(eio_payload_invalid_base64_is_error)
{
    EXPECT_PAYLOAD_ERROR("bAQIDBA=", "invalid base64 in binary packet at offset 0");
    EXPECT_PAYLOAD_ERROR("bAQIDBA", "invalid base64");
    EXPECT_PAYLOAD_ERROR("4a\x1e"
                         "bAQ!D",
                         "invalid base64 in binary packet at offset 3");
    EXPECT_PAYLOAD_ERROR("bAQ ID", "invalid base64");
    EXPECT_PAYLOAD_ERROR("bAQ=DBA=", "invalid base64");
    return 0;
}

TEST_IMPL(eio_payload_error_is_sticky)
{
    payload_fixture f;
    PAYLOAD_OPEN(&f, "4a\x1e"
                     "9\x1e"
                     "4b");
    EXPECT_PACKET(&f, EIOP_PACKET_MESSAGE, 0, "a");
    eiop_packet p;
    ASSERT_EQ(eiop_payload_reader_next(&f.r, &p), EIOP_ERR);
    char first[EIOP_ERRSTR_LEN];
    memcpy(first, f.r.errstr, sizeof first);
    ASSERT_EQ(eiop_payload_reader_next(&f.r, &p), EIOP_ERR);
    ASSERT_STR_EQ(f.r.errstr, first);
    payload_close(&f);
    return 0;
}

TEST_IMPL(eio_payload_append_builds_spec_body)
{
    sb_buf out;
    sb_buf_init(&out);
    eiop_packet hello = {EIOP_PACKET_MESSAGE, 0, (const uint8_t *)"hello", 5};
    eiop_packet ping = {EIOP_PACKET_PING, 0, NULL, 0};
    eiop_packet bin = {EIOP_PACKET_MESSAGE, 1, (const uint8_t *)"\x01\x02\x03\x04", 4};
    eiop_payload_append(&out, &hello);
    eiop_payload_append(&out, &ping);
    eiop_payload_append(&out, &bin);
    ASSERT_BUF_EQ(out, "4hello\x1e"
                       "2\x1e"
                       "bAQIDBA==");
    sb_buf_free(&out);
    return 0;
}

TEST_IMPL(eio_payload_append_then_read_round_trip)
{
    static const uint8_t bytes[] = {0x00, 0x1e, 0xff, 0x34};
    eiop_packet in[] = {
        {EIOP_PACKET_MESSAGE, 1, bytes, sizeof bytes},
        {EIOP_PACKET_MESSAGE, 0, (const uint8_t *)"\xe2\x82\xac\xe2\x82\xac", 6},
        {EIOP_PACKET_CLOSE, 0, NULL, 0},
        {EIOP_PACKET_MESSAGE, 1, NULL, 0},
    };
    sb_buf out;
    sb_buf_init(&out);
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        eiop_payload_append(&out, &in[i]);
    eiop_payload_reader r;
    eiop_payload_reader_init(&r, out.data, out.len);
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        eiop_packet p;
        ASSERT_EQ(eiop_payload_reader_next(&r, &p), EIOP_OK);
        ASSERT_EQ(p.type, in[i].type);
        ASSERT_EQ(p.binary, in[i].binary);
        ASSERT_EQ(p.len, in[i].len);
        ASSERT(p.len == 0 || memcmp(p.data, in[i].data, p.len) == 0);
    }
    eiop_packet p;
    ASSERT_EQ(eiop_payload_reader_next(&r, &p), EIOP_DONE);
    eiop_payload_reader_free(&r);
    sb_buf_free(&out);
    return 0;
}

TEST_IMPL(eio_packet_encode_text_forms)
{
    sb_buf out;
    sb_buf_init(&out);
    eiop_packet_encode_text(&out, EIOP_PACKET_PONG, (const uint8_t *)"probe", 5);
    ASSERT_BUF_EQ(out, "3probe");
    sb_buf_reset(&out);
    eiop_packet_encode_text(&out, EIOP_PACKET_NOOP, NULL, 0);
    ASSERT_BUF_EQ(out, "6");
    sb_buf_reset(&out);
    eiop_packet_encode_text(&out, EIOP_PACKET_MESSAGE, (const uint8_t *)"2[\"hey\",\"Jude\"]", 15);
    ASSERT_BUF_EQ(out, "42[\"hey\",\"Jude\"]");
    sb_buf_free(&out);
    return 0;
}

TEST_IMPL(eio_handshake_spec_example)
{
    static const char *const upgrades[] = {"websocket"};
    sb_buf out;
    sb_buf_init(&out);
    eiop_handshake_encode(&out, "lv_VI97HAXpY6yYWAAAC", upgrades, 1, 25000, 5000, 1000000);
    ASSERT_BUF_EQ(out, "0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[\"websocket\"],"
                       "\"pingInterval\":25000,\"pingTimeout\":5000,\"maxPayload\":1000000}");
    sb_buf_free(&out);
    return 0;
}

TEST_IMPL(eio_handshake_without_upgrades)
{
    sb_buf out;
    sb_buf_init(&out);
    eiop_handshake_encode(&out, "abc/def", NULL, 0, 1, 2, UINT64_MAX);
    /* maxPayload is clamped to what a JavaScript number holds exactly. */
    ASSERT_BUF_EQ(out, "0{\"sid\":\"abc/def\",\"upgrades\":[],\"pingInterval\":1,"
                       "\"pingTimeout\":2,\"maxPayload\":9007199254740991}");
    sb_buf_free(&out);
    return 0;
}

TEST_IMPL(eio_packet_type_names)
{
    ASSERT_STR_EQ(eiop_packet_type_name(EIOP_PACKET_OPEN), "open");
    ASSERT_STR_EQ(eiop_packet_type_name(EIOP_PACKET_MESSAGE), "message");
    ASSERT_STR_EQ(eiop_packet_type_name(EIOP_PACKET_NOOP), "noop");
    ASSERT_STR_EQ(eiop_packet_type_name((eiop_packet_type)7), "unknown");
    return 0;
}
