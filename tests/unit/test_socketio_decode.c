/* test_socketio_decode.c: what the Socket.IO decoder refuses, and the edges it accepts.
 * The rules are socket.io-parser's (lib/index.ts: decodeString, isPayloadValid,
 * reconstructPacket), made strict where the JavaScript relies on Number() coercion. */
#include "siop_test.h"

#define PH(n) "{\"_placeholder\":true,\"num\":" #n "}"

/* Feeds text of len bytes to a fresh decoder and checks it fails for the reason want. */
static void expect_error_n(size_t max_attachments, const char *text, size_t len, const char *want)
{
    siop_decoder d;
    siop_decoder_init(&d, max_attachments);
    siop_packet p;
    siop_packet_init(&p);
    char *copy = test_exact_copy(text, len);
    int rc = siop_decoder_feed_text(&d, copy, len, &p);
    free(copy);
    if (rc != SIOP_ERR || strstr(d.errstr, want) == NULL)
        TEST_FAIL("'%.*s': rc %d, errstr '%s', want SIOP_ERR '%s'", (int)len, text, rc, d.errstr,
                  want);
    ASSERT(!d.has_pending);
    siop_decoder_free(&d);
}

static void expect_error(const char *text, const char *want)
{
    expect_error_n(SIOP_DEFAULT_MAX_ATTACHMENTS, text, strlen(text), want);
}

static void expect_accepted(const char *text)
{
    siop_packet p;
    siop_test_decode(text, &p);
    siop_packet_clear(&p);
}

/* Feeds text to a fresh decoder and checks it announces attachments (and frees it). */
static void expect_more(size_t max_attachments, const char *text)
{
    siop_decoder d;
    siop_decoder_init(&d, max_attachments);
    siop_packet p;
    if (siop_test_feed_text(&d, text, &p) != SIOP_MORE)
        TEST_FAIL("'%s': want SIOP_MORE (%s)", text, d.errstr);
    siop_decoder_free(&d);
}

TEST_IMPL(sio_decode_unknown_type)
{
    expect_error("", "empty packet");
    expect_error("7", "unknown packet type");
    expect_error("9[\"a\"]", "unknown packet type");
    expect_error("a", "unknown packet type");
    expect_error(" 2[\"a\"]", "unknown packet type");
    expect_error("-1", "unknown packet type");
    return 0;
}

TEST_IMPL(sio_decode_illegal_attachments_count)
{
    /* socket.io-parser's own tests: "5woooot" and "5" are "Illegal attachments". */
    expect_error("5woooot", "illegal attachments count");
    expect_error("5", "illegal attachments count");
    expect_error("6", "illegal attachments count");
    expect_error("5-[\"a\"]", "illegal attachments count");
    expect_error("51[\"a\"]", "illegal attachments count");
    expect_error("5x-[\"a\"]", "illegal attachments count");
    expect_error("5 1-[\"a\"]", "illegal attachments count");
    expect_error("5+1-[\"a\"]", "illegal attachments count");
    return 0;
}

TEST_IMPL(sio_decode_too_many_attachments)
{
    expect_more(SIOP_DEFAULT_MAX_ATTACHMENTS, "510-[\"a\"]");
    expect_error("511-[\"a\"]", "too many attachments (at most 10)");
    expect_error("518446744073709551616-[\"a\"]", "too many attachments");
    expect_error("59999999999999999999999999999999999999-[\"a\"]", "too many attachments");
    expect_error_n(0, "51-[\"a\"]", 8, "too many attachments (at most 0)");
    expect_more(SIZE_MAX, "53-[\"a\"]");
    return 0;
}

TEST_IMPL(sio_decode_invalid_payload)
{
    static const char *const bad[] = {
        "2abc",
        "2{}",
        "2[]",
        "2[{}]",
        "2[null]",
        "2[true]",
        "2[[\"a\"]]",
        "2",
        "2/admin,",
        "2/admin[\"a\"]",
        "2[\"a\"]x",
        "2[\"a\"] [1]",
        "2[\"a\"",
        "2\"a\"",
        "3",
        "3{}",
        "3\"a\"",
        "1[\"a\"]",
        "1null",
        "1{}",
        "0[]",
        "0\"x\"",
        "0null",
        "0true",
        "4",
        "4[]",
        "4null",
        "4true",
        "51-{\"a\":" PH(0) "}",
        "61-" PH(0),
        "2[\"\xff\"]",
        "2[\"\\ud800\"]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(bad[i], "invalid payload");
    return 0;
}

TEST_IMPL(sio_decode_reserved_event_names)
{
    static const char *const reserved[] = {
        "2[\"connect\"]",
        "2[\"connect_error\"]",
        "2[\"disconnect\",1]",
        "2[\"disconnecting\"]",
        "2[\"newListener\"]",
        "2/admin,7[\"removeListener\"]",
        "51-[\"connect\"," PH(0) "]",
    };
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        expect_error(reserved[i], "invalid payload");
    /* Names that only look like reserved ones are ordinary events. */
    static const char *const fine[] = {
        "2[\"Connect\"]",
        "2[\"connect \"]",
        "2[\"connect\\u0000\"]",
        "2[\"disconnected\"]",
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++)
        expect_accepted(fine[i]);
    return 0;
}

TEST_IMPL(sio_decode_accepted_data_shapes)
{
    static const char *const ok[] = {
        "2[1]",
        "2[1.5,\"x\"]",
        "2[\"a\",null,{},[]]",
        "3[]",
        "3[null]",
        "4\"oops\"",
        "4{\"message\":\"x\",\"data\":{\"a\":1}}",
        "0{}",
        "0/admin,{\"token\":\"123\"}",
        "2 [\"padded\"] ",
        "60-[]",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        expect_accepted(ok[i]);
    return 0;
}

TEST_IMPL(sio_decode_ack_ids)
{
    siop_packet p;
    siop_test_decode("29007199254740991[\"a\"]", &p);
    ASSERT_EQ(p.id, SIOP_MAX_ACK_ID);
    siop_packet_clear(&p);
    siop_test_decode("2007[\"a\"]", &p);
    ASSERT_EQ(p.id, 7);
    siop_packet_clear(&p);
    siop_test_decode("30[]", &p);
    ASSERT_EQ(p.id, 0);
    siop_packet_clear(&p);
    expect_error("29007199254740992[\"a\"]", "invalid ack id");
    expect_error("218446744073709551616[\"a\"]", "invalid ack id");
    expect_error("2999999999999999999999999999999999999999[\"a\"]", "invalid ack id");
    /* Only EVENT and ACK packets (binary or not) carry ids. */
    expect_error("0/admin,1", "invalid ack id");
    expect_error("01{}", "invalid ack id");
    expect_error("11", "invalid ack id");
    expect_error("41\"x\"", "invalid ack id");
    return 0;
}

TEST_IMPL(sio_decode_namespace_forms)
{
    siop_packet p;
    siop_test_decode("0/admin", &p); /* socket.io-parser lets the namespace run to the end */
    ASSERT_STR_EQ(p.nsp, "/admin");
    ASSERT(p.data == NULL);
    siop_packet_clear(&p);
    siop_test_decode("2/,[\"a\"]", &p);
    ASSERT_STR_EQ(p.nsp, "/");
    siop_packet_clear(&p);
    siop_test_decode("0/a/b?x=1&y=\xc3\xa9,{}", &p);
    ASSERT_STR_EQ(p.nsp, "/a/b?x=1&y=\xc3\xa9");
    siop_packet_clear(&p);
    siop_test_decode("3/admin,5[]", &p);
    ASSERT_STR_EQ(p.nsp, "/admin");
    ASSERT_EQ(p.id, 5);
    siop_packet_clear(&p);
    static const char nul[] = "2/ad\0min,[\"a\"]";
    expect_error_n(SIOP_DEFAULT_MAX_ATTACHMENTS, nul, sizeof nul - 1, "invalid namespace");
    expect_error("2admin,[\"a\"]", "invalid payload");
    return 0;
}

TEST_IMPL(sio_decode_text_while_attachments_pending)
{
    siop_decoder d;
    siop_decoder_init(&d, SIOP_DEFAULT_MAX_ATTACHMENTS);
    siop_packet p;
    siop_packet_init(&p);
    ASSERT_EQ(siop_test_feed_text(&d, "52-[\"a\"," PH(0) "," PH(1) "]", &p), SIOP_MORE);
    ASSERT_EQ(siop_decoder_feed_binary(&d, (const uint8_t *)"x", 1, &p), SIOP_MORE);
    ASSERT_EQ(siop_test_feed_text(&d, "2[\"b\"]", &p), SIOP_ERR);
    ASSERT(strstr(d.errstr, "1 attachment(s) are still expected") != NULL);
    /* The half-received packet is dropped: the decoder starts afresh. */
    ASSERT(!d.has_pending);
    ASSERT_EQ(siop_decoder_feed_binary(&d, (const uint8_t *)"y", 1, &p), SIOP_ERR);
    ASSERT_EQ(siop_test_feed_text(&d, "2[\"b\"]", &p), SIOP_OK);
    ASSERT_JSON_EQ(p.data, "[\"b\"]");
    siop_packet_clear(&p);
    siop_decoder_free(&d);
    return 0;
}

TEST_IMPL(sio_decode_binary_without_pending_packet)
{
    siop_decoder d;
    siop_decoder_init(&d, SIOP_DEFAULT_MAX_ATTACHMENTS);
    siop_packet p;
    ASSERT_EQ(siop_decoder_feed_binary(&d, (const uint8_t *)"x", 1, &p), SIOP_ERR);
    ASSERT(strstr(d.errstr, "no packet expects attachments") != NULL);
    ASSERT_EQ(siop_test_feed_text(&d, "51-[\"a\"," PH(0) "]", &p), SIOP_MORE);
    ASSERT_EQ(siop_decoder_feed_binary(&d, NULL, 0, &p), SIOP_OK);
    ASSERT_EQ(p.n_attachments, 1);
    ASSERT(p.attachments[0].data != NULL);
    ASSERT_EQ(p.attachments[0].len, 0);
    siop_packet_clear(&p);
    ASSERT_EQ(siop_decoder_feed_binary(&d, (const uint8_t *)"x", 1, &p), SIOP_ERR);
    siop_decoder_free(&d);
    return 0;
}

TEST_IMPL(sio_decode_placeholders_must_name_attachments)
{
    expect_error("51-[\"a\"," PH(1) "]", "illegal attachments");
    expect_error("51-[\"a\"," PH(-1) "]", "illegal attachments");
    expect_error("51-[\"a\",{\"_placeholder\":true,\"num\":\"0\"}]", "illegal attachments");
    expect_error("51-[\"a\",{\"_placeholder\":true,\"num\":0.5}]", "illegal attachments");
    expect_error("51-[\"a\",{\"_placeholder\":true}]", "illegal attachments");
    expect_error("52-[\"a\",{\"deep\":[" PH(2) "]}]", "illegal attachments");
    /* Without attachments nothing can be named: a plain EVENT may not carry placeholders. */
    expect_error("2[\"a\"," PH(0) "]", "illegal attachments");
    expect_error("50-[\"a\"," PH(0) "]", "illegal attachments");
    expect_more(SIOP_DEFAULT_MAX_ATTACHMENTS, "52-[\"a\",{\"deep\":[" PH(1) "]}," PH(0) "]");
    expect_more(SIOP_DEFAULT_MAX_ATTACHMENTS, "51-[\"a\"]"); /* unused attachments are allowed */
    expect_accepted("2[\"a\",{\"_placeholder\":false,\"num\":9},{\"_placeholder\":1}]");
    return 0;
}

TEST_IMPL(sio_decode_binary_with_zero_attachments)
{
    siop_packet p;
    siop_test_decode("50-[\"a\"]", &p);
    ASSERT_EQ(p.type, SIOP_PACKET_BINARY_EVENT);
    ASSERT_EQ(p.n_attachments, 0);
    ASSERT(p.attachments == NULL);
    siop_packet_clear(&p);
    return 0;
}

TEST_IMPL(sio_decode_json_details)
{
    siop_packet p;
    siop_test_decode("2[\"a\",\"x\\u0000y\",\"\xe2\x82\xac\"]", &p);
    ASSERT_EQ(json_string_length(json_array_get(p.data, 1)), 3);
    ASSERT(memcmp(json_string_value(json_array_get(p.data, 1)), "x\0y", 3) == 0);
    ASSERT_STR_EQ(json_string_value(json_array_get(p.data, 2)), "\xe2\x82\xac");
    siop_packet_clear(&p);
    /* A repeated key keeps its last value, as JSON.parse does. */
    siop_test_decode("2[\"a\",{\"k\":1,\"k\":2}]", &p);
    ASSERT_JSON_EQ(p.data, "[\"a\",{\"k\":2}]");
    siop_packet_clear(&p);
    return 0;
}

TEST_IMPL(sio_decode_integers_beyond_int64)
{
    siop_packet p;
    siop_test_decode("2[\"a\",100000000000000000000,12,-99999999999999999999,1.5,{\"n\":[7]}]", &p);
    ASSERT(json_is_real(json_array_get(p.data, 1)));
    ASSERT(json_real_value(json_array_get(p.data, 1)) == 1e20);
    ASSERT(json_is_integer(json_array_get(p.data, 2)));
    ASSERT_EQ(json_integer_value(json_array_get(p.data, 2)), 12);
    ASSERT(json_real_value(json_array_get(p.data, 3)) == -99999999999999999999.0);
    ASSERT(json_is_real(json_array_get(p.data, 4)));
    ASSERT_JSON_EQ(json_array_get(p.data, 5), "{\"n\":[7]}");
    siop_packet_clear(&p);
    siop_test_decode("2[\"a\",9223372036854775807]", &p);
    ASSERT(json_is_integer(json_array_get(p.data, 1)));
    siop_packet_clear(&p);
    /* Placeholder numbers stay integers on that path too. */
    expect_more(SIOP_DEFAULT_MAX_ATTACHMENTS, "51-[\"a\"," PH(0) ",100000000000000000000]");
    return 0;
}

TEST_IMPL(sio_decoder_free_releases_pending)
{
    siop_decoder d;
    siop_decoder_init(&d, SIOP_DEFAULT_MAX_ATTACHMENTS);
    siop_packet p;
    ASSERT_EQ(siop_test_feed_text(&d, "53-/x,9[\"a\"," PH(0) "," PH(2) "]", &p), SIOP_MORE);
    ASSERT_EQ(siop_decoder_feed_binary(&d, (const uint8_t *)"abc", 3, &p), SIOP_MORE);
    ASSERT(d.has_pending);
    ASSERT_EQ(d.received, 1);
    siop_decoder_free(&d); /* LeakSanitizer checks that nothing stays behind */
    ASSERT(!d.has_pending);
    return 0;
}
