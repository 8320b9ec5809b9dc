/* test_socketio_encode.c: the Socket.IO encoders and the placeholder helpers. */
#include "siop_test.h"

#define PH(n) "{\"_placeholder\":true,\"num\":" #n "}"

/* Encodes p into a buffer that already holds the Engine.IO MESSAGE digit, as a transport
 * would, and checks everything after it. */
static void expect_encoded(const siop_packet *p, const char *want)
{
    sb_buf out;
    sb_buf_init(&out);
    sb_buf_append_byte(&out, '4');
    if (siop_packet_encode(p, &out) != SIOP_OK)
        TEST_FAIL("encoding for '%s' failed", want);
    if (out.len != 1 + strlen(want) || memcmp(out.data + 1, want, out.len - 1) != 0)
        TEST_FAIL("encoded '%.*s', want '%s'", (int)out.len - 1, (const char *)out.data + 1, want);
    sb_buf_free(&out);
}

/* Checks that encoding p fails and leaves the buffer as it was. */
static void expect_refused(const siop_packet *p, const char *what)
{
    sb_buf out;
    sb_buf_init(&out);
    sb_buf_append_str(&out, "kept");
    if (siop_packet_encode(p, &out) != SIOP_ERR)
        TEST_FAIL("encoding %s should fail", what);
    ASSERT_BUF_EQ(out, "kept");
    sb_buf_free(&out);
}

static siop_packet packet_of(siop_packet_type type, const char *nsp, int64_t id, const char *json)
{
    siop_packet p;
    siop_packet_init(&p);
    p.type = type;
    p.nsp = nsp != NULL ? strdup(nsp) : NULL;
    p.id = id;
    p.data = json != NULL ? siop_test_json(json) : NULL;
    return p;
}

TEST_IMPL(sio_encode_json_is_compact_and_unescaped)
{
    siop_packet p = packet_of(SIOP_PACKET_EVENT, "/chat/room", SIOP_NO_ACK,
                              "[ \"a/b\", { \"k\" : [1, 2.5, null, true] }, \"\xc3\xa9\" ]");
    expect_encoded(&p, "2/chat/room,[\"a/b\",{\"k\":[1,2.5,null,true]},\"\xc3\xa9\"]");
    siop_packet_clear(&p);
    return 0;
}

TEST_IMPL(sio_encode_main_namespace_forms)
{
    siop_packet p = packet_of(SIOP_PACKET_CONNECT, NULL, SIOP_NO_ACK, "{\"sid\":\"x\"}");
    expect_encoded(&p, "0{\"sid\":\"x\"}");
    siop_packet_clear(&p);
    p = packet_of(SIOP_PACKET_DISCONNECT, "/", SIOP_NO_ACK, NULL);
    expect_encoded(&p, "1");
    siop_packet_clear(&p);
    p = packet_of(SIOP_PACKET_CONNECT_ERROR, "/admin", SIOP_NO_ACK, "\"nope\"");
    expect_encoded(&p, "4/admin,\"nope\"");
    siop_packet_clear(&p);
    return 0;
}

TEST_IMPL(sio_encode_binary_counts_attachments)
{
    siop_packet p = packet_of(SIOP_PACKET_BINARY_ACK, "/", 0, "[" PH(0) "," PH(1) "]");
    p.n_attachments = 2;
    expect_encoded(&p, "62-0[" PH(0) "," PH(1) "]");
    siop_packet_clear(&p);
    /* The count is only written for the binary types. */
    p = packet_of(SIOP_PACKET_ACK, "/", 3, "[]");
    p.n_attachments = 2;
    expect_encoded(&p, "33[]");
    siop_packet_clear(&p);
    return 0;
}

TEST_IMPL(sio_encode_refuses_invalid_packets)
{
    static const struct {
        siop_packet_type type;
        const char *nsp;
        int64_t id;
        const char *json;
        size_t n;
        const char *what;
    } bad[] = {
        {(siop_packet_type)7, "/", SIOP_NO_ACK, NULL, 0, "an unknown type"},
        {SIOP_PACKET_EVENT, "admin", SIOP_NO_ACK, "[\"a\"]", 0, "a namespace without '/'"},
        {SIOP_PACKET_EVENT, "/a,b", SIOP_NO_ACK, "[\"a\"]", 0, "a namespace with ','"},
        {SIOP_PACKET_EVENT, "", SIOP_NO_ACK, "[\"a\"]", 0, "an empty namespace"},
        {SIOP_PACKET_EVENT, "/", SIOP_NO_ACK, NULL, 0, "an EVENT without data"},
        {SIOP_PACKET_EVENT, "/", SIOP_NO_ACK, "[\"connect\"]", 0, "a reserved event"},
        {SIOP_PACKET_ACK, "/", 1, "{}", 0, "an ACK with an object"},
        {SIOP_PACKET_CONNECT, "/", 1, NULL, 0, "an ack id on CONNECT"},
        {SIOP_PACKET_EVENT, "/", -2, "[\"a\"]", 0, "a negative ack id"},
        {SIOP_PACKET_EVENT, "/", SIOP_MAX_ACK_ID + 1, "[\"a\"]", 0, "a too large ack id"},
        {SIOP_PACKET_DISCONNECT, "/", SIOP_NO_ACK, "{}", 0, "a DISCONNECT with data"},
        {SIOP_PACKET_BINARY_EVENT, "/", SIOP_NO_ACK, "[\"a\"," PH(1) "]", 1, "a stray placeholder"},
        {SIOP_PACKET_EVENT, "/", SIOP_NO_ACK, "[\"a\"," PH(0) "]", 0, "a placeholder in an EVENT"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        siop_packet p = packet_of(bad[i].type, bad[i].nsp, bad[i].id, bad[i].json);
        p.n_attachments = bad[i].n;
        expect_refused(&p, bad[i].what);
        siop_packet_clear(&p);
    }
    return 0;
}

TEST_IMPL(sio_encode_refuses_unserialisable_data)
{
    siop_packet p = packet_of(SIOP_PACKET_EVENT, "/", SIOP_NO_ACK, NULL);
    p.data = json_pack("[s, s]", "a", "b");
    json_array_append_new(p.data, json_stringn_nocheck("\xff", 1)); /* not UTF-8 */
    expect_refused(&p, "invalid UTF-8");
    siop_packet_clear(&p);
    return 0;
}

TEST_IMPL(sio_encode_decode_round_trip)
{
    static const char *const texts[] = {
        "0",
        "0/admin,{\"token\":\"123\"}",
        "1/admin,",
        "2[\"hey\",\"Jude\"]",
        "2/admin,13[\"foo\",{\"a\":[1,2,{\"b\":null}]}]",
        "39007199254740991[]",
        "4{\"message\":\"Not authorized\",\"data\":{\"code\":403}}",
        "4\"x\"",
        "52-/admin,[\"baz\"," PH(0) "," PH(1) "]",
        "61-15[\"bar\"," PH(0) "]",
        "50-[1]",
        "2[\"a\",\"x\\u0000y\",\"\\u0001\\n\\\"\\\\\"]",
        "2[\"a\",-5,0,1.5,-0.25,true,false]",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        siop_decoder d;
        siop_decoder_init(&d, SIOP_DEFAULT_MAX_ATTACHMENTS);
        siop_packet p;
        siop_packet_init(&p);
        int rc = siop_test_feed_text(&d, texts[i], &p);
        ASSERT(rc == SIOP_OK || rc == SIOP_MORE);
        if (rc == SIOP_MORE) { /* keep the decoded header; attachments are not encoded */
            p = d.pending;
            siop_packet_init(&d.pending);
            d.has_pending = 0;
        }
        expect_encoded(&p, texts[i]);
        siop_packet_clear(&p);
        siop_decoder_free(&d);
    }
    return 0;
}

/* jansson prints a double with up to 17 significant digits and JavaScript with the fewest
 * that read back the same, so the texts can differ ("0.10000000000000001" for 0.1); the
 * values must not. */
TEST_IMPL(sio_encode_reals_read_back_equal)
{
    siop_packet p = packet_of(SIOP_PACKET_EVENT, "/", SIOP_NO_ACK, NULL);
    p.data = json_pack("[s, f, f, f, f, f]", "n", 0.1, 1e20, -0.0, 1.0 / 3, 5e-324);
    sb_buf out;
    sb_buf_init(&out);
    ASSERT_EQ(siop_packet_encode(&p, &out), SIOP_OK);
    sb_buf_append_byte(&out, '\0');
    siop_packet back;
    siop_test_decode((const char *)out.data, &back);
    ASSERT(json_equal(p.data, back.data));
    siop_packet_clear(&back);
    siop_packet_clear(&p);
    sb_buf_free(&out);
    return 0;
}

TEST_IMPL(sio_event_encode_forms)
{
    sb_buf out;
    sb_buf_init(&out);
    ASSERT_EQ(siop_event_encode(&out, "/", SIOP_NO_ACK, "ping", NULL, 0), SIOP_OK);
    ASSERT_BUF_EQ(out, "2[\"ping\"]");
    sb_buf_reset(&out);
    json_t *args = json_pack("[s, i, o]", "Jude", 7, siop_placeholder_new(0));
    ASSERT_EQ(siop_event_encode(&out, "/admin", 42, "hey", args, 1), SIOP_OK);
    ASSERT_BUF_EQ(out, "51-/admin,42[\"hey\",\"Jude\",7," PH(0) "]");
    /* args is borrowed: still whole and still ours to free. */
    ASSERT_EQ(json_array_size(args), 3);
    ASSERT_EQ(args->refcount, 1);
    json_decref(args);
    sb_buf_free(&out);
    return 0;
}

TEST_IMPL(sio_event_encode_refusals)
{
    sb_buf out;
    sb_buf_init(&out);
    json_t *object = json_object();
    ASSERT_EQ(siop_event_encode(&out, "/", SIOP_NO_ACK, NULL, NULL, 0), SIOP_ERR);
    ASSERT_EQ(siop_event_encode(&out, "/", SIOP_NO_ACK, "disconnect", NULL, 0), SIOP_ERR);
    ASSERT_EQ(siop_event_encode(&out, "/", SIOP_NO_ACK, "a", object, 0), SIOP_ERR);
    ASSERT_EQ(siop_event_encode(&out, "/", SIOP_NO_ACK, "\xff", NULL, 0), SIOP_ERR);
    ASSERT_EQ(siop_event_encode(&out, "nsp", SIOP_NO_ACK, "a", NULL, 0), SIOP_ERR);
    ASSERT_EQ(siop_event_encode(&out, "/", SIOP_MAX_ACK_ID + 1, "a", NULL, 0), SIOP_ERR);
    ASSERT_EQ(out.len, 0);
    json_decref(object);
    sb_buf_free(&out);
    return 0;
}

TEST_IMPL(sio_placeholder_helpers)
{
    json_t *ph = siop_placeholder_new(3);
    char *text = json_dumps(ph, JSON_COMPACT);
    ASSERT_STR_EQ(text, PH(3));
    free(text);
    size_t num = 0;
    ASSERT_EQ(siop_placeholder_num(ph, &num), 1);
    ASSERT_EQ(num, 3);
    json_decref(ph);
    static const char *const not_placeholders[] = {
        "[]",
        "1",
        "{}",
        "{\"_placeholder\":false,\"num\":0}",
        "{\"_placeholder\":1,\"num\":0}",
        "{\"_placeholder\":true}",
        "{\"_placeholder\":true,\"num\":-1}",
        "{\"_placeholder\":true,\"num\":1.0}",
        "{\"_placeholder\":true,\"num\":\"1\"}",
    };
    for (size_t i = 0; i < sizeof not_placeholders / sizeof not_placeholders[0]; i++) {
        json_t *v = siop_test_json(not_placeholders[i]);
        ASSERT_EQ(siop_placeholder_num(v, &num), 0);
        json_decref(v);
    }
    ASSERT_EQ(siop_placeholder_num(NULL, &num), 0);
    return 0;
}

TEST_IMPL(sio_placeholder_count_recurses)
{
    json_t *v = siop_test_json("[\"a\"," PH(0) ",{\"x\":[" PH(1) ",{\"_placeholder\":true}]},"
                                                                 "{\"y\":{\"z\":" PH(2) "}}]");
    ASSERT_EQ(siop_placeholder_count(v), 3);
    json_decref(v);
    ASSERT_EQ(siop_placeholder_count(NULL), 0);
    v = json_string(PH(0)); /* the text of a placeholder is only a string */
    ASSERT_EQ(siop_placeholder_count(v), 0);
    json_decref(v);
    return 0;
}

TEST_IMPL(sio_packet_type_names)
{
    ASSERT_STR_EQ(siop_packet_type_name(SIOP_PACKET_CONNECT), "CONNECT");
    ASSERT_STR_EQ(siop_packet_type_name(SIOP_PACKET_CONNECT_ERROR), "CONNECT_ERROR");
    ASSERT_STR_EQ(siop_packet_type_name(SIOP_PACKET_BINARY_ACK), "BINARY_ACK");
    ASSERT_STR_EQ(siop_packet_type_name((siop_packet_type)-1), "UNKNOWN");
    return 0;
}
