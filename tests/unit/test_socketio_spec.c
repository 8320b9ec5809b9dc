/* test_socketio_spec.c: every example of the socket.io-protocol document ("Packet encoding"
 * and "Sample session", https://github.com/socketio/socket.io-protocol), decoded and encoded. */
#include "siop_test.h"

#define SPEC_MAX_ATTACHMENTS 2

typedef struct blob {
    const char *bytes;
    size_t len;
} blob;

#define BLOB(lit)                                                                                  \
    {                                                                                              \
        (lit), sizeof(lit) - 1                                                                     \
    }

typedef struct spec_vector {
    const char *text;
    siop_packet_type type;
    const char *nsp;
    int64_t id;
    const char *json; /* NULL: the packet has no data */
    size_t n_attachments;
    blob attachments[SPEC_MAX_ATTACHMENTS];
} spec_vector;

#define PH(n) "{\"_placeholder\":true,\"num\":" #n "}"

static const spec_vector SPEC[] = {
    {"0", SIOP_PACKET_CONNECT, "/", SIOP_NO_ACK, NULL, 0, {{0}}},
    {"0{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}",
     SIOP_PACKET_CONNECT,
     "/",
     SIOP_NO_ACK,
     "{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}",
     0,
     {{0}}},
    {"0/admin,", SIOP_PACKET_CONNECT, "/admin", SIOP_NO_ACK, NULL, 0, {{0}}},
    {"0/admin,{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}",
     SIOP_PACKET_CONNECT,
     "/admin",
     SIOP_NO_ACK,
     "{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}",
     0,
     {{0}}},
    {"4{\"message\":\"Not authorized\"}",
     SIOP_PACKET_CONNECT_ERROR,
     "/",
     SIOP_NO_ACK,
     "{\"message\":\"Not authorized\"}",
     0,
     {{0}}},
    {"2[\"foo\"]", SIOP_PACKET_EVENT, "/", SIOP_NO_ACK, "[\"foo\"]", 0, {{0}}},
    {"2/admin,[\"bar\"]", SIOP_PACKET_EVENT, "/admin", SIOP_NO_ACK, "[\"bar\"]", 0, {{0}}},
    {"51-[\"baz\"," PH(0) "]",
     SIOP_PACKET_BINARY_EVENT,
     "/",
     SIOP_NO_ACK,
     "[\"baz\"," PH(0) "]",
     1,
     {BLOB("\x01\x02\x03\x04")}},
    {"52-/admin,[\"baz\"," PH(0) "," PH(1) "]",
     SIOP_PACKET_BINARY_EVENT,
     "/admin",
     SIOP_NO_ACK,
     "[\"baz\"," PH(0) "," PH(1) "]",
     2,
     {BLOB("\x01\x02"), BLOB("\x03\x04")}},
    {"212[\"foo\"]", SIOP_PACKET_EVENT, "/", 12, "[\"foo\"]", 0, {{0}}},
    {"312[]", SIOP_PACKET_ACK, "/", 12, "[]", 0, {{0}}},
    {"2/admin,13[\"foo\"]", SIOP_PACKET_EVENT, "/admin", 13, "[\"foo\"]", 0, {{0}}},
    {"3/admin,13[\"bar\"]", SIOP_PACKET_ACK, "/admin", 13, "[\"bar\"]", 0, {{0}}},
    {"51-14[\"foo\"," PH(0) "]",
     SIOP_PACKET_BINARY_EVENT,
     "/",
     14,
     "[\"foo\"," PH(0) "]",
     1,
     {BLOB("\x01\x02\x03\x04")}},
    {"314[\"bar\"]", SIOP_PACKET_ACK, "/", 14, "[\"bar\"]", 0, {{0}}},
    {"215[\"foo\"]", SIOP_PACKET_EVENT, "/", 15, "[\"foo\"]", 0, {{0}}},
    {"61-15[\"bar\"," PH(0) "]",
     SIOP_PACKET_BINARY_ACK,
     "/",
     15,
     "[\"bar\"," PH(0) "]",
     1,
     {BLOB("\x01\x02\x03\x04")}},
    {"1", SIOP_PACKET_DISCONNECT, "/", SIOP_NO_ACK, NULL, 0, {{0}}},
    {"1/admin,", SIOP_PACKET_DISCONNECT, "/admin", SIOP_NO_ACK, NULL, 0, {{0}}},
    {"2[\"hey\",\"Jude\"]", SIOP_PACKET_EVENT, "/", SIOP_NO_ACK, "[\"hey\",\"Jude\"]", 0, {{0}}},
    {"2[\"hello\"]", SIOP_PACKET_EVENT, "/", SIOP_NO_ACK, "[\"hello\"]", 0, {{0}}},
};

#define SPEC_COUNT (sizeof SPEC / sizeof SPEC[0])

static void decode_vector(const spec_vector *v, siop_packet *p)
{
    siop_decoder d;
    siop_decoder_init(&d, SIOP_DEFAULT_MAX_ATTACHMENTS);
    siop_packet_init(p);
    int rc = siop_test_feed_text(&d, v->text, p);
    for (size_t i = 0; i < v->n_attachments; i++) {
        if (rc != SIOP_MORE)
            TEST_FAIL("'%s': attachment %zu: rc %d (%s)", v->text, i, rc, d.errstr);
        const blob *b = &v->attachments[i];
        rc = siop_decoder_feed_binary(&d, (const uint8_t *)b->bytes, b->len, p);
    }
    if (rc != SIOP_OK)
        TEST_FAIL("'%s': rc %d (%s)", v->text, rc, d.errstr);
    ASSERT(!d.has_pending);
    siop_decoder_free(&d);
}

TEST_IMPL(sio_spec_vectors_decode)
{
    for (size_t i = 0; i < SPEC_COUNT; i++) {
        const spec_vector *v = &SPEC[i];
        siop_packet p;
        decode_vector(v, &p);
        ASSERT_EQ(p.type, v->type);
        ASSERT_STR_EQ(p.nsp, v->nsp);
        ASSERT_EQ(p.id, v->id);
        if (v->json == NULL)
            ASSERT(p.data == NULL);
        else
            ASSERT_JSON_EQ(p.data, v->json);
        ASSERT_EQ(p.n_attachments, v->n_attachments);
        for (size_t k = 0; k < v->n_attachments; k++) {
            ASSERT_EQ(p.attachments[k].len, v->attachments[k].len);
            ASSERT(memcmp(p.attachments[k].data, v->attachments[k].bytes, v->attachments[k].len) ==
                   0);
        }
        siop_packet_clear(&p);
        ASSERT(p.nsp == NULL && p.data == NULL && p.attachments == NULL);
    }
    return 0;
}

/* Builds the packet from the vector's fields (not from decoding) and encodes it. */
static void expect_packet_encodes(const spec_vector *v)
{
    siop_packet p;
    siop_packet_init(&p);
    p.type = v->type;
    p.nsp = strdup(v->nsp);
    p.id = v->id;
    p.data = v->json != NULL ? siop_test_json(v->json) : NULL;
    p.n_attachments = v->n_attachments;
    sb_buf out;
    sb_buf_init(&out);
    ASSERT_EQ(siop_packet_encode(&p, &out), SIOP_OK);
    if (out.len != strlen(v->text) || memcmp(out.data, v->text, out.len) != 0)
        TEST_FAIL("encoded '%.*s', want '%s'", (int)out.len, (const char *)out.data, v->text);
    sb_buf_free(&out);
    siop_packet_clear(&p);
}

/* The broadcast encoder takes the event name apart from its arguments. */
static void expect_event_encodes(const spec_vector *v)
{
    json_t *data = siop_test_json(v->json);
    json_t *args = json_array();
    for (size_t i = 1; i < json_array_size(data); i++)
        json_array_append(args, json_array_get(data, i));
    sb_buf out;
    sb_buf_init(&out);
    const char *event = json_string_value(json_array_get(data, 0));
    ASSERT_EQ(siop_event_encode(&out, v->nsp, v->id, event, args, v->n_attachments), SIOP_OK);
    if (out.len != strlen(v->text) || memcmp(out.data, v->text, out.len) != 0)
        TEST_FAIL("event encoded '%.*s', want '%s'", (int)out.len, (const char *)out.data, v->text);
    sb_buf_free(&out);
    json_decref(args);
    json_decref(data);
}

TEST_IMPL(sio_spec_vectors_encode)
{
    for (size_t i = 0; i < SPEC_COUNT; i++) {
        expect_packet_encodes(&SPEC[i]);
        if (SPEC[i].type == SIOP_PACKET_EVENT || SPEC[i].type == SIOP_PACKET_BINARY_EVENT)
            expect_event_encodes(&SPEC[i]);
    }
    return 0;
}
