/* test_engineio_v3.c: Engine.IO v3 polling payloads (socket.io-client 2.x) and v3 frames.
 * The golden vectors are what engine.io-parser 2 (engine.io's build/parser-v3, the code
 * Node's server runs with allowEIO3) encodes and decodes: lengths in UTF-16 code units in
 * the string form, in bytes in the binary form. */
#include "eiop_test.h"

static void v3_expect_error(const char *body, size_t len, eiop_payload_form form, const char *why)
{
    payload_fixture f;
    eiop_packet p;
    int rc;
    payload_open_form(&f, body, len, form);
    while ((rc = eiop_payload_reader_next(&f.r, &p)) == EIOP_OK)
        ;
    if (rc != EIOP_ERR || strstr(f.r.errstr, why) == NULL)
        TEST_FAIL("payload \"%.*s\": rc %d, errstr \"%s\", want \"%s\"", (int)len, body, rc,
                  f.r.errstr, why);
    payload_close(&f);
}

#define V3_EXPECT_ERROR(lit, form, why) v3_expect_error((lit), sizeof(lit) - 1, (form), (why))

static const eiop_packet *text_packet(eiop_packet *p, eiop_packet_type t, const char *data)
{
    *p = (eiop_packet){t, 0, (const uint8_t *)data, strlen(data)};
    return p;
}

TEST_IMPL(eio3_utf16_lengths)
{
    ASSERT_EQ(eiop_utf16_len((const uint8_t *)"", 0), 0);
    ASSERT_EQ(eiop_utf16_len((const uint8_t *)"abc", 3), 3);
    ASSERT_EQ(eiop_utf16_len((const uint8_t *)"h\xc3\xa9llo", 6), 5);     /* é: 1 */
    ASSERT_EQ(eiop_utf16_len((const uint8_t *)"\xe2\x82\xac", 3), 1);     /* €: 1 */
    ASSERT_EQ(eiop_utf16_len((const uint8_t *)"\xf0\x9f\x98\x80", 4), 2); /* 😀: 2 */
    ASSERT_EQ(eiop_utf16_len((const uint8_t *)"\xff\x80", 2), 2);         /* U+FFFD each */
    ASSERT_EQ(eiop_utf16_len((const uint8_t *)"\xf0\x9f\x98", 3), 3);     /* cut short */
    size_t bytes = 99;
    ASSERT_EQ(eiop_utf16_span((const uint8_t *)"a\xf0\x9f\x98\x80z", 6, 3, &bytes), 0);
    ASSERT_EQ(bytes, 5);
    /* one unit short of the pair, or past the end */
    ASSERT_EQ(eiop_utf16_span((const uint8_t *)"a\xf0\x9f\x98\x80z", 6, 2, &bytes), -1);
    ASSERT_EQ(eiop_utf16_span((const uint8_t *)"ab", 2, 3, &bytes), -1);
    ASSERT_EQ(eiop_utf16_span((const uint8_t *)"ab", 2, 0, &bytes), 0);
    ASSERT_EQ(bytes, 0);
    return 0;
}

TEST_IMPL(eio3_string_payload_encode_golden)
{
    sb_buf b;
    eiop_packet p;
    sb_buf_init(&b);
    /* encodePayload([message "héllo 😀", ping, message '42["a"]'], false) */
    eiop_payload_append_v3(&b,
                           text_packet(&p, EIOP_PACKET_MESSAGE, "h\xc3\xa9llo \xf0\x9f\x98\x80"));
    eiop_payload_append_v3(&b, text_packet(&p, EIOP_PACKET_PING, ""));
    eiop_payload_append_v3(&b, text_packet(&p, EIOP_PACKET_MESSAGE, "42[\"a\"]"));
    ASSERT_BUF_EQ(b, "9:4h\xc3\xa9llo \xf0\x9f\x98\x80"
                     "1:2"
                     "8:442[\"a\"]");
    /* encodePayload([message <01 02 03 04>, message "x"], false): base64 for b64=1 */
    sb_buf_reset(&b);
    p = (eiop_packet){EIOP_PACKET_MESSAGE, 1, (const uint8_t *)"\x01\x02\x03\x04", 4};
    eiop_payload_append_v3(&b, &p);
    eiop_payload_append_v3(&b, text_packet(&p, EIOP_PACKET_MESSAGE, "x"));
    ASSERT_BUF_EQ(b, "10:b4AQIDBA==2:4x");
    sb_buf_free(&b);
    return 0;
}

TEST_IMPL(eio3_binary_payload_encode_golden)
{
    sb_buf b;
    eiop_packet p;
    sb_buf_init(&b);
    /* encodePayload([message "4😀é", message <01 02 03>], true): lengths in bytes, as byte
     * values, the text one counting its UTF-8 */
    eiop_payload_append_v3_binary(
        &b, text_packet(&p, EIOP_PACKET_MESSAGE, "4\xf0\x9f\x98\x80\xc3\xa9"));
    p = (eiop_packet){EIOP_PACKET_MESSAGE, 1, (const uint8_t *)"\x01\x02\x03", 3};
    eiop_payload_append_v3_binary(&b, &p);
    ASSERT_BUF_EQ(b, "\x00\x08\xff"
                     "44\xf0\x9f\x98\x80\xc3\xa9"
                     "\x01\x04\xff\x04\x01\x02\x03");
    /* a length of two digits */
    sb_buf_reset(&b);
    eiop_payload_append_v3_binary(&b, text_packet(&p, EIOP_PACKET_MESSAGE, "0123456789"));
    ASSERT_BUF_EQ(b, "\x00\x01\x01\xff"
                     "40123456789");
    sb_buf_free(&b);
    return 0;
}

TEST_IMPL(eio3_string_payload_decode)
{
    payload_fixture f;
    /* "0:" is skipped as engine.io-parser 2 skips it; leading zeros are a number */
    PAYLOAD_OPEN_FORM(&f,
                      "2:4\xc3\xa9"
                      "0:"
                      "5:4\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
                      "1:2"
                      "01:6"
                      "6:b4AQID",
                      EIOP_FORM_V3_TEXT);
    EXPECT_PACKET(&f, EIOP_PACKET_MESSAGE, 0, "\xc3\xa9");
    EXPECT_PACKET(&f, EIOP_PACKET_MESSAGE, 0, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80");
    EXPECT_PACKET(&f, EIOP_PACKET_PING, 0, "");
    EXPECT_PACKET(&f, EIOP_PACKET_NOOP, 0, "");
    EXPECT_PACKET(&f, EIOP_PACKET_MESSAGE, 1, "\x01\x02\x03");
    eiop_packet p;
    ASSERT_EQ(eiop_payload_reader_next(&f.r, &p), EIOP_DONE);
    payload_close(&f);
    return 0;
}

TEST_IMPL(eio3_string_payload_errors)
{
    V3_EXPECT_ERROR("", EIOP_FORM_V3_TEXT, "empty payload");
    V3_EXPECT_ERROR("x:4", EIOP_FORM_V3_TEXT, "bad packet length");
    V3_EXPECT_ERROR(":4", EIOP_FORM_V3_TEXT, "bad packet length");
    V3_EXPECT_ERROR("14", EIOP_FORM_V3_TEXT, "bad packet length");   /* no ':' */
    V3_EXPECT_ERROR("1:41", EIOP_FORM_V3_TEXT, "bad packet length"); /* trailing */
    V3_EXPECT_ERROR("5:4abc", EIOP_FORM_V3_TEXT, "past the end");
    V3_EXPECT_ERROR("2:4\xf0\x9f\x98\x80", EIOP_FORM_V3_TEXT, "past the end"); /* half a pair */
    V3_EXPECT_ERROR("99999999999999999999:4", EIOP_FORM_V3_TEXT, "bad packet length");
    V3_EXPECT_ERROR("1:9", EIOP_FORM_V3_TEXT, "unknown packet type");
    V3_EXPECT_ERROR("4:b4A=", EIOP_FORM_V3_TEXT, "invalid base64");
    V3_EXPECT_ERROR("6:b2AQID", EIOP_FORM_V3_TEXT, "not a message");
    return 0;
}

TEST_IMPL(eio3_binary_payload_decode)
{
    payload_fixture f;
    PAYLOAD_OPEN_FORM(&f,
                      "\x00\x08\xff"
                      "44\xf0\x9f\x98\x80\xc3\xa9"
                      "\x01\x04\xff\x04\x01\x02\x03"
                      "\x00\x01\xff"
                      "2",
                      EIOP_FORM_V3_BINARY);
    EXPECT_PACKET(&f, EIOP_PACKET_MESSAGE, 0, "4\xf0\x9f\x98\x80\xc3\xa9");
    EXPECT_PACKET(&f, EIOP_PACKET_MESSAGE, 1, "\x01\x02\x03");
    EXPECT_PACKET(&f, EIOP_PACKET_PING, 0, "");
    eiop_packet p;
    ASSERT_EQ(eiop_payload_reader_next(&f.r, &p), EIOP_DONE);
    payload_close(&f);
    return 0;
}

TEST_IMPL(eio3_binary_payload_errors)
{
    V3_EXPECT_ERROR("\x02\x01\xff"
                    "2",
                    EIOP_FORM_V3_BINARY, "bad packet kind");
    V3_EXPECT_ERROR("\x00\xff"
                    "2",
                    EIOP_FORM_V3_BINARY, "bad packet length");
    V3_EXPECT_ERROR("\x00\x0a\xff"
                    "2",
                    EIOP_FORM_V3_BINARY, "bad packet length");
    V3_EXPECT_ERROR("\x00\x01", EIOP_FORM_V3_BINARY, "bad packet length");
    V3_EXPECT_ERROR("\x00\x05\xff"
                    "2",
                    EIOP_FORM_V3_BINARY, "past the end");
    V3_EXPECT_ERROR("\x00\x00\xff", EIOP_FORM_V3_BINARY, "past the end"); /* empty packet */
    V3_EXPECT_ERROR("\x01\x02\xff\x02\x01", EIOP_FORM_V3_BINARY, "not a message");
    return 0;
}

TEST_IMPL(eio3_payload_round_trip)
{
    static const char *const texts[] = {"", "42[\"m\",\"\xf0\x9f\x98\x80\"]",
                                        "a\xc3\xa9\xe2\x82\xac"};
    for (int form = EIOP_FORM_V3_TEXT; form <= EIOP_FORM_V3_BINARY; form++) {
        sb_buf b;
        sb_buf_init(&b);
        eiop_packet p, got;
        for (size_t i = 0; i < 3; i++) {
            text_packet(&p, EIOP_PACKET_MESSAGE, texts[i]);
            if (form == EIOP_FORM_V3_TEXT)
                eiop_payload_append_v3(&b, &p);
            else
                eiop_payload_append_v3_binary(&b, &p);
        }
        p = (eiop_packet){EIOP_PACKET_MESSAGE, 1, (const uint8_t *)"\x00\xff", 2};
        if (form == EIOP_FORM_V3_TEXT)
            eiop_payload_append_v3(&b, &p);
        else
            eiop_payload_append_v3_binary(&b, &p);
        eiop_payload_reader r;
        eiop_payload_reader_init_form(&r, b.data, b.len, (eiop_payload_form)form);
        for (size_t i = 0; i < 3; i++) {
            ASSERT_EQ(eiop_payload_reader_next(&r, &got), EIOP_OK);
            ASSERT_EQ(got.binary, 0);
            ASSERT_EQ(got.len, strlen(texts[i]));
            ASSERT(memcmp(got.data, texts[i], got.len) == 0);
        }
        ASSERT_EQ(eiop_payload_reader_next(&r, &got), EIOP_OK);
        ASSERT_EQ(got.binary, 1);
        ASSERT_EQ(got.len, 2);
        ASSERT(memcmp(got.data, "\x00\xff", 2) == 0);
        ASSERT_EQ(eiop_payload_reader_next(&r, &got), EIOP_DONE);
        eiop_payload_reader_free(&r);
        sb_buf_free(&b);
    }
    return 0;
}

TEST_IMPL(eio3_websocket_frames)
{
    eiop_packet p;
    const char *why = NULL;
    sb_buf scratch;
    sb_buf_init(&scratch);
    ASSERT_EQ(
        eiop_packet_decode_frame_v3((const uint8_t *)"\x04\x01\x02", 3, 0, &scratch, &p, &why),
        EIOP_OK);
    ASSERT_EQ(p.type, EIOP_PACKET_MESSAGE);
    ASSERT_EQ(p.binary, 1);
    ASSERT_MEM_EQ(p.data, p.len, "\x01\x02");
    ASSERT_EQ(eiop_packet_decode_frame_v3((const uint8_t *)"\x04", 1, 0, &scratch, &p, &why),
              EIOP_OK);
    ASSERT_EQ(p.len, 0);
    ASSERT(p.data != NULL);
    ASSERT_EQ(eiop_packet_decode_frame_v3((const uint8_t *)"2", 1, 1, &scratch, &p, &why), EIOP_OK);
    ASSERT_EQ(p.type, EIOP_PACKET_PING);
    ASSERT_EQ(eiop_packet_decode_frame_v3((const uint8_t *)"", 0, 0, &scratch, &p, &why), EIOP_ERR);
    ASSERT(why != NULL);
    ASSERT_EQ(eiop_packet_decode_frame_v3((const uint8_t *)"\x02x", 2, 0, &scratch, &p, &why),
              EIOP_ERR);
    /* "b4" and base64 in a text frame: a client that sends no binary (forceBase64) */
    ASSERT_EQ(eiop_packet_decode_frame_v3((const uint8_t *)"b4AQID", 6, 1, &scratch, &p, &why),
              EIOP_OK);
    ASSERT_EQ(p.binary, 1);
    ASSERT_MEM_EQ(p.data, p.len, "\x01\x02\x03");
    ASSERT_EQ(eiop_packet_decode_frame_v3((const uint8_t *)"b4AQI", 5, 1, &scratch, &p, &why),
              EIOP_ERR);
    ASSERT(strstr(why, "base64") != NULL);
    ASSERT_EQ(eiop_packet_decode_frame_v3((const uint8_t *)"b2AQID", 6, 1, &scratch, &p, &why),
              EIOP_ERR);
    sb_buf_reset(&scratch);
    eiop_packet_encode_base64_v3(&scratch, (const uint8_t *)"\x01\x02\x03\x04", 4);
    ASSERT_BUF_EQ(scratch, "b4AQIDBA==");
    sb_buf_free(&scratch);
    return 0;
}
