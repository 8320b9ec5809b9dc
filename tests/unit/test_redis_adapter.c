/* test_redis_adapter.c: the Redis adapter codec's refusals, its encoding rules (checked
 * against bytes notepack.io wrote), its init layouts, and the channel names. Vectors are hex
 * (msgpack) or JSON text, as in rdap_vectors.h. */
#include "rdap_test.h"
#include "rdap_vectors.h"

#define PH(n) RDAP_PH(n)

typedef enum rda_kind { BROADCAST, REQUEST, RESPONSE } rda_kind;

/* Decodes len bytes at msg as kind; returns the status and copies errstr into why. */
static int decode_bytes(rda_kind kind, const uint8_t *msg, size_t len, char *why, size_t cap)
{
    rdap_decoder d;
    rdap_decoder_init(&d);
    int rc;
    if (kind == BROADCAST) {
        rdap_broadcast b;
        rc = rdap_broadcast_decode(&d, msg, len, &b);
        rdap_broadcast_clear(&b);
    } else if (kind == REQUEST) {
        rdap_request q;
        rc = rdap_request_decode(&d, msg, len, &q);
        rdap_request_clear(&q);
    } else {
        rdap_response p;
        rc = rdap_response_decode(&d, msg, len, &p);
        rdap_response_clear(&p);
    }
    snprintf(why, cap, "%s", d.errstr);
    return rc;
}

static int decode_as(rda_kind kind, const char *vec, char *why, size_t cap)
{
    size_t len;
    uint8_t *msg = rdap_test_bytes(vec, &len);
    int rc = decode_bytes(kind, msg, len, why, cap);
    free(msg);
    return rc;
}

typedef struct refusal {
    rda_kind kind;
    const char *bytes;
    const char *why; /* the start of errstr */
} refusal;

/* Broadcast pieces: [uid "u", packet, opts]. */
#define U         "93a175"
#define PKT(data) "82a47479706502a464617461" data            /* {type: 2, data} */
#define EV        PKT("91a165")                              /* {type: 2, data: ["e"]} */
#define PH_MAP    "82ac5f706c616365686f6c646572c3a36e756d00" /* {_placeholder: true, num: 0} */

static const refusal REFUSALS[] = {
    {BROADCAST, "", "truncated msgpack"},
    {BROADCAST, "93", "msgpack count beyond the message"},
    {BROADCAST, "c1", "invalid msgpack marker 0xc1"},
    {BROADCAST, "ddffffffff", "msgpack count beyond the message"},
    {BROADCAST, "dfffffffff", "msgpack count beyond the message"},
    {BROADCAST, U "dc7fff", "msgpack count beyond the message"},
    {BROADCAST, "c6ffffffff", "truncated msgpack"},
    {BROADCAST, U "c67fffffff00", "truncated msgpack"},
    {BROADCAST, U "d9", "truncated msgpack"},
    {BROADCAST, U EV "8000", "1 trailing bytes"},
    {BROADCAST, "80", "a broadcast is an array"},
    {BROADCAST, "92a17580", "a broadcast is an array"},
    {BROADCAST, "930181a4747970650280", "uid is not a string"},
    {BROADCAST, "93c4017581a4747970650280", "binary data outside"},
    {BROADCAST, "93d40075" EV "80", "unsupported msgpack ext type 0"},
    {BROADCAST, U "9080", "packet is not an object"},
    {BROADCAST, U "81a4747970650780", "packet.type is not a Socket.IO packet type"},
    {BROADCAST, U "8080", "packet.type is not a Socket.IO packet type"},
    {BROADCAST, U "81a474797065a13280", "packet.type is not a Socket.IO packet type"},
    {BROADCAST, U "82a47479706502a36e73700180", "packet.nsp is not a string"},
    {BROADCAST, U "82a47479706502a36e7370a10080", "packet.nsp holds a NUL byte"},
    {BROADCAST, U "82a47479706502a26964ff80", "packet.id is not an ack id"},
    {BROADCAST, U "82a47479706502a26964cf002000000000000080", "packet.id is not an ack id"},
    {BROADCAST, U "82a47479706502a26964a13180", "packet.id is not an ack id"},
    {BROADCAST, U EV "90", "opts is not an object"},
    {BROADCAST, U EV "81a5726f6f6d73a178", "rooms is not an array"},
    {BROADCAST, U EV "81a5726f6f6d7391c3", "rooms is not a string"},
    {BROADCAST, U EV "81a5726f6f6d7391cb3ff8000000000000", "rooms is not a string"},
    {BROADCAST,
     U EV "81a6657863657074"
          "91a100",
     "except holds a NUL byte"},
    {BROADCAST, U EV "81a5666c61677301", "opts.flags is not an object"},
    {BROADCAST, U EV "81a5666c61677381a178c40100", "binary data outside"},
    {BROADCAST, U PKT("91" PH_MAP) "80", "data holds an object that looks like a placeholder"},
    {BROADCAST, U PKT("92c40101" PH_MAP) "80",
     "data holds an object that looks like a placeholder"},
    {BROADCAST, U "82a47479706500a46461746191c4010180", "binary data in a CONNECT packet"},
    {BROADCAST, U PKT("91a1ff") "80", "string is not UTF-8"},
    {BROADCAST, U PKT("918101c3") "80", "object key is not a string"},
    {BROADCAST, U PKT("9181a100c3") "80", "object key holds a NUL byte"},
    {BROADCAST, U PKT("9181a1ffc3") "80", "object key is not UTF-8"},
    {BROADCAST, U PKT("91d40500") "80", "unsupported msgpack ext type 5"},
    {BROADCAST, U PKT("91c705ff0000000000") "80", "malformed msgpack timestamp"},
    {BROADCAST, "{}", "1 trailing bytes"},
    {REQUEST, "", "truncated msgpack"},
    {REQUEST, "{", "invalid JSON"},
    {REQUEST, "{\"type\":1}x", "invalid JSON"},
    {REQUEST, "90", "the message is not an object"},
    {REQUEST, "{}", "request without a type"},
    {REQUEST, "{\"type\":10}", "unknown request type"},
    {REQUEST, "{\"type\":-1}", "unknown request type"},
    {REQUEST, "{\"type\":\"7\"}", "unknown request type"},
    {REQUEST, "{\"type\":1.5}", "unknown request type"},
    {REQUEST, "{\"type\":1,\"uid\":5}", "uid is not a string"},
    {REQUEST, "{\"type\":1,\"uid\":\"a\\u0000b\"}", "uid holds a NUL byte"},
    {REQUEST, "{\"type\":1,\"requestId\":[]}", "requestId is not a string"},
    {REQUEST, "{\"type\":2,\"sid\":1}", "sid is not a string"},
    {REQUEST, "{\"type\":2,\"room\":{}}", "room is not a string"},
    {REQUEST, "{\"type\":0,\"rooms\":{}}", "rooms is not an array"},
    {REQUEST, "{\"type\":4,\"close\":1}", "close is not a boolean"},
    {REQUEST, "{\"type\":6,\"data\":{}}", "SERVER_SIDE_EMIT data is not an array"},
    {REQUEST, "{\"type\":5,\"opts\":[]}", "opts is not an object"},
    {REQUEST, "{\"type\":7,\"packet\":{\"type\":2,\"data\":[{\"_placeholder\":true,\"num\":0}]}}",
     "data holds an object that looks like a placeholder"},
    {REQUEST, "{\"type\":7,\"packet\":{\"type\":2,\"data\":[{\"_placeholder\":true}]}}",
     "data holds an object that looks like a placeholder"},
    {REQUEST, "{\"type\":7,\"packet\":[]}", "packet is not an object"},
    /* A repeated key: the bins of the value it replaces are left over. */
    {REQUEST,
     "83a47479706507a67061636b657482a47479706502a46461746191c40101"
     "a67061636b657481a47479706502",
     "binary data outside"},
    {REQUEST, "82a47479706506a46461746191c40101", "binary data outside"},
    {RESPONSE, "{\"type\":10}", "unknown request type"},
    {RESPONSE, "{\"clientCount\":-1}", "clientCount is not a count"},
    {RESPONSE, "{\"clientCount\":\"1\"}", "clientCount is not a count"},
    {RESPONSE, "{\"sockets\":{}}", "sockets is not an array"},
    {RESPONSE, "{\"requestId\":1}", "requestId is not a string"},
    {RESPONSE, "{\"rooms\":[null]}", "rooms is not a string"},
    {RESPONSE, "81a464617461c40101", "binary data outside"},
    /* Found by fuzzing: msgpack-c hands an empty str out with a NULL pointer. */
    {RESPONSE, "83a00279706509", "object key is not a string"},
    {RESPONSE, "{\"type\":9,\"packet\":{\"_placeholder\":true,\"num\":0}}",
     "data holds an object that looks like a placeholder"},
};

#define REFUSAL_COUNT (sizeof REFUSALS / sizeof REFUSALS[0])

TEST_IMPL(rda_decode_refusals)
{
    char why[RDAP_ERRSTR_LEN];
    for (size_t i = 0; i < REFUSAL_COUNT; i++) {
        const refusal *r = &REFUSALS[i];
        if (decode_as(r->kind, r->bytes, why, sizeof why) != RDAP_ERR)
            TEST_FAIL("'%s' was accepted", r->bytes);
        if (strncmp(why, r->why, strlen(r->why)) != 0)
            TEST_FAIL("'%s': errstr '%s', want '%s'", r->bytes, why, r->why);
    }
    return 0;
}

/* Every proper prefix of a message is refused, reading nothing past its end. */
TEST_IMPL(rda_decode_refuses_every_prefix)
{
    static const struct {
        rda_kind kind;
        const char *bytes;
    } vectors[] = {{BROADCAST, BC_BINARY},
                   {REQUEST, REQ_BROADCAST_BINARY},
                   {RESPONSE, RES_BROADCAST_ACK_BINARY}};
    char why[RDAP_ERRSTR_LEN];
    for (size_t v = 0; v < sizeof vectors / sizeof vectors[0]; v++) {
        size_t len;
        uint8_t *full = rdap_test_bytes(vectors[v].bytes, &len);
        for (size_t n = 0; n < len; n++) {
            uint8_t *msg = test_exact_copy(full, n);
            ASSERT_EQ(decode_bytes(vectors[v].kind, msg, n, why, sizeof why), RDAP_ERR);
            ASSERT(why[0] != '\0');
            free(msg);
        }
        free(full);
    }
    return 0;
}

/* A failed decode leaves nothing to free, even when it failed after copying fields. */
TEST_IMPL(rda_decode_failure_leaves_nothing)
{
    const char *bad_request = "{\"type\":1,\"uid\":\"u\",\"requestId\":\"r\",\"rooms\":1}";
    size_t len;
    uint8_t *msg = rdap_test_bytes(bad_request, &len);
    rdap_decoder d;
    rdap_decoder_init(&d);
    rdap_request q;
    ASSERT_EQ(rdap_request_decode(&d, msg, len, &q), RDAP_ERR);
    ASSERT(q.uid == NULL && q.request_id == NULL && !q.has_rooms && q.type == RDAP_TYPE_NONE);
    free(msg);

    msg = rdap_test_bytes(U EV "90", &len);
    rdap_broadcast b;
    ASSERT_EQ(rdap_broadcast_decode(&d, msg, len, &b), RDAP_ERR);
    ASSERT(b.uid == NULL && b.packet.data == NULL && b.packet.nsp == NULL);
    ASSERT(b.opts.flags == NULL && b.opts.rooms.n == 0);
    rdap_broadcast_clear(&b);
    free(msg);
    return 0;
}

/* What Node reads although Node never writes it: the other format, the binary types on the
 * wire, missing nsp, unknown keys, integral reals, integer rooms. */
TEST_IMPL(rda_decode_accepts_what_node_reads)
{
    rdap_request q;
    /* SERVER_SIDE_EMIT as msgpack: {type: 6, uid: "u", data: ["e", 1]} */
    rdap_test_request("83a47479706506a3756964a175a46461746192a16501", &q);
    ASSERT_EQ(q.type, RDAP_SERVER_SIDE_EMIT);
    ASSERT_STR_EQ(q.uid, "u");
    ASSERT_JSON_EQ(q.data, "[\"e\",1]");
    rdap_request_clear(&q);

    /* BROADCAST as JSON, without nsp; unknown keys are ignored. */
    rdap_test_request("{\"uid\":\"u\",\"requestId\":\"r\",\"type\":7,\"extra\":1,"
                      "\"packet\":{\"type\":2,\"data\":[\"e\"]},\"opts\":{}}",
                      &q);
    ASSERT_STR_EQ(q.packet.nsp, "/");
    ASSERT_EQ(q.packet.type, SIOP_PACKET_EVENT);
    ASSERT(q.has_opts && q.opts.rooms.n == 0 && q.opts.flags == NULL);
    rdap_request_clear(&q);

    /* Types as integral reals, integer rooms. */
    rdap_test_request("{\"type\":2.0,\"opts\":{\"rooms\":[123,-5,\"x\"],\"except\":[]},"
                      "\"rooms\":[7]}",
                      &q);
    ASSERT_EQ(q.type, RDAP_REMOTE_JOIN);
    ASSERT_ROOMS(q.opts.rooms, "123,-5,x");
    ASSERT_ROOMS(q.rooms, "7");
    rdap_request_clear(&q);

    /* Empty strings and keys: {type: 1, uid: "", "": ""} */
    rdap_test_request("83a47479706501a3756964a0a0a0", &q);
    ASSERT_STR_EQ(q.uid, "");
    rdap_request_clear(&q);

    rdap_broadcast b;
    /* A packet of type BINARY_EVENT on the wire, with and without binary. */
    rdap_test_broadcast(U "82a47479706505a46461746192a165c4010180", &b);
    ASSERT_EQ(b.packet.type, SIOP_PACKET_BINARY_EVENT);
    ASSERT_EQ(b.packet.n_attachments, 1);
    rdap_broadcast_clear(&b);
    rdap_test_broadcast(U "82a47479706505a46461746191a16580", &b);
    ASSERT_EQ(b.packet.type, SIOP_PACKET_EVENT);
    rdap_broadcast_clear(&b);
    /* An ACK with binary is a BINARY_ACK; a packet without data has none. */
    rdap_test_broadcast(U "82a47479706503a46461746191c4010180", &b);
    ASSERT_EQ(b.packet.type, SIOP_PACKET_BINARY_ACK);
    rdap_broadcast_clear(&b);
    rdap_test_broadcast(U "81a4747970650180", &b);
    ASSERT_EQ(b.packet.type, SIOP_PACKET_DISCONNECT);
    ASSERT(b.packet.data == NULL);
    rdap_broadcast_clear(&b);
    return 0;
}

/* msgpack values Node never writes but decodes: float32, uint64 beyond int64, ext 0, maps
 * with an array index key after another key or with a repeated key. */
TEST_IMPL(rda_decode_other_msgpack_forms)
{
    rdap_broadcast b;
    rdap_test_broadcast(U PKT("95ca3fc00000ca40000000cfffffffffffffffffc7020001ffd000") "80", &b);
    ASSERT_JSON_EQ(b.packet.data, "[1.5,2,18446744073709551616.0," PH(0) ",0]");
    ASSERT_EQ(b.packet.type, SIOP_PACKET_BINARY_EVENT);
    ASSERT_EQ(b.packet.attachments[0].len, 2);
    ASSERT(memcmp(b.packet.attachments[0].data, "\x01\xff", 2) == 0);
    rdap_broadcast_clear(&b);

    /* Bins are numbered as Node's object enumerates its keys, which is how they are packed
     * again: an array index key first, a repeated key in the place of its first occurrence
     * (with its last value). Numbered in the message's order, a decode of the re-encoding
     * swapped them. BROADCAST_ACK {type: 9, requestId: "r", packet: [ack]}: */
#define ACK_HEAD "83a47479706509a9726571756573744964a172a67061636b657491"
    static const struct {
        const char *msg, *tree, *packed;
    } orders[] = {
        /* {b: <01>, "1": <02>}; {"1": <02>, b: <01>} */
        {ACK_HEAD "82a162c40101a131c40102", "[{\"1\":" PH(0) ",\"b\":" PH(1) "}]",
         ACK_HEAD "82a131c40102a162c40101"},
        {ACK_HEAD "82a131c40102a162c40101", "[{\"1\":" PH(0) ",\"b\":" PH(1) "}]",
         ACK_HEAD "82a131c40102a162c40101"},
        /* {a: 0, b: <01>, a: <02>} */
        {ACK_HEAD "83a16100a162c40101a161c40102", "[{\"a\":" PH(0) ",\"b\":" PH(1) "}]",
         ACK_HEAD "82a161c40102a162c40101"},
    };
#undef ACK_HEAD
    for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++) {
        rdap_response p;
        rdap_test_response(orders[i].msg, &p);
        char *tree = json_dumps(p.ack, JSON_COMPACT);
        ASSERT_STR_EQ(tree, orders[i].tree);
        free(tree);
        ASSERT_EQ(p.n_ack_attachments, 2);
        ASSERT(p.ack_attachments[0].len == 1 && p.ack_attachments[0].data[0] == 0x02);
        ASSERT(p.ack_attachments[1].len == 1 && p.ack_attachments[1].data[0] == 0x01);
        sb_buf out;
        sb_buf_init(&out);
        ASSERT_EQ(rdap_response_encode(&p, &out), RDAP_OK);
        ASSERT_VECTOR_EQ(out, orders[i].packed);
        sb_buf_free(&out);
        rdap_response_clear(&p);
    }
    return 0;
}

/* ---- encoding --------------------------------------------------------------------------- */

static void encode_ack(json_t *ack, sb_buf *out)
{
    rdap_response p;
    rdap_response_init(&p, RDAP_BROADCAST_ACK);
    p.request_id = test_exact_copy("r", 2);
    p.ack = ack;
    ASSERT_EQ(rdap_response_encode(&p, out), RDAP_OK);
    rdap_response_clear(&p);
}

/* notepack.io's number choices; from 2^64 on Node writes garbage, this side float64. */
TEST_IMPL(rda_encode_numbers_like_notepack)
{
    json_t *nums =
        json_pack("[f,f,f,I,f,f,I,I]", 2.0, 2.5, 9223372036854775808.0, (json_int_t)INT64_MIN, -0.0,
                  0.1, (json_int_t)9007199254740994LL, (json_int_t)-1099511627776LL);
    sb_buf out;
    sb_buf_init(&out);
    encode_ack(nums, &out);
    ASSERT_VECTOR_EQ(out, "83a47479706509a9726571756573744964a172a67061636b65749802cb400400000000"
                          "0000cf8000000000000000d3800000000000000000cb3fb999999999999acf002000"
                          "0000000002d3ffffff0000000000");
    sb_buf_reset(&out);
    encode_ack(json_pack("[f,f]", 18446744073709551616.0, 1e300), &out);
    ASSERT_VECTOR_EQ(out, "83a47479706509a9726571756573744964a172a67061636b657492cb43f00000000000"
                          "00cb7e37e43c8800759c");
    sb_buf_free(&out);
    return 0;
}

/* Object.keys() order: array indices ascending, then the other keys as inserted. */
TEST_IMPL(rda_encode_js_key_order)
{
    json_t *obj = siop_test_json("{\"b\":1,\"10\":2,\"2\":3,\"a\":4,\"01\":5,\"4294967295\":6,"
                                 "\"4294967294\":7,\"-1\":8,\"1.5\":9}");
    sb_buf out;
    sb_buf_init(&out);
    encode_ack(obj, &out);
    ASSERT_VECTOR_EQ(out, "83a47479706509a9726571756573744964a172a67061636b657489a13203a2313002aa"
                          "3432393439363732393407a16201a16104a2303105aa34323934393637323935"
                          "06a22d3108a3312e3509");
    sb_buf_free(&out);
    return 0;
}

/* Each refused struct leaves out as it was. */
static void assert_refused(int rc, sb_buf *out)
{
    ASSERT_EQ(rc, RDAP_ERR);
    ASSERT_BUF_EQ(*out, "xy");
}

static json_t *nested_arrays(size_t depth)
{
    json_t *v = json_array();
    for (size_t i = 1; i < depth; i++) {
        json_t *outer = json_array();
        json_array_append_new(outer, v);
        v = outer;
    }
    return v;
}

static void refuse_broadcast(void (*spoil)(rdap_broadcast *b), size_t which)
{
    rdap_broadcast b;
    rdap_broadcast_init(&b);
    b.uid = test_exact_copy("u", 2);
    b.packet.data = siop_test_json("[\"e\"]");
    spoil(&b);
    sb_buf out;
    sb_buf_init(&out);
    sb_buf_append_str(&out, "xy");
    if (rdap_broadcast_encode(&b, &out) != RDAP_ERR)
        TEST_FAIL("spoiler %zu: the broadcast was encoded", which);
    assert_refused(RDAP_ERR, &out);
    sb_buf_free(&out);
    rdap_broadcast_clear(&b);
}

static void no_uid(rdap_broadcast *b)
{
    free(b->uid);
    b->uid = NULL;
}
static void bad_uid(rdap_broadcast *b) { b->uid[0] = '\xff'; }
static void bad_type(rdap_broadcast *b) { b->packet.type = (siop_packet_type)7; }
static void negative_id(rdap_broadcast *b) { b->packet.id = -2; }
static void huge_id(rdap_broadcast *b) { b->packet.id = SIOP_MAX_ACK_ID + 1; }
static void dangling_placeholder(rdap_broadcast *b)
{
    json_array_append_new(b->packet.data, siop_placeholder_new(0));
}
static void malformed_placeholder(rdap_broadcast *b)
{
    json_array_append_new(b->packet.data, siop_test_json("{\"_placeholder\":true,\"num\":\"0\"}"));
}
static void binary_connect(rdap_broadcast *b)
{
    b->packet.type = SIOP_PACKET_CONNECT;
    json_decref(b->packet.data);
    b->packet.data = siop_test_json("{\"a\":" PH(0) "}");
    b->packet.attachments = calloc(1, sizeof *b->packet.attachments);
    b->packet.n_attachments = 1;
}
static void too_deep(rdap_broadcast *b)
{
    /* array, packet, data: 3 levels before these */
    json_array_append_new(b->packet.data, nested_arrays(30));
}
static void null_room(rdap_broadcast *b)
{
    rdap_rooms_add(&b->opts.rooms, "a");
    free(b->opts.rooms.names[0]);
    b->opts.rooms.names[0] = NULL;
}
static void flags_not_object(rdap_broadcast *b)
{
    json_decref(b->opts.flags);
    b->opts.flags = json_integer(1);
}

TEST_IMPL(rda_encode_refusals)
{
    void (*spoilers[])(rdap_broadcast *) = {no_uid,
                                            bad_uid,
                                            bad_type,
                                            negative_id,
                                            huge_id,
                                            dangling_placeholder,
                                            malformed_placeholder,
                                            binary_connect,
                                            too_deep,
                                            null_room,
                                            flags_not_object};
    for (size_t i = 0; i < sizeof spoilers / sizeof spoilers[0]; i++)
        refuse_broadcast(spoilers[i], i);

    sb_buf out;
    sb_buf_init(&out);
    sb_buf_append_str(&out, "xy");
    rdap_request q;
    rdap_request_init(&q, (rdap_type)10);
    assert_refused(rdap_request_encode(&q, &out), &out);
    q.type = RDAP_TYPE_NONE;
    assert_refused(rdap_request_encode(&q, &out), &out);
    /* A placeholder without its attachment in a JSON request. */
    q.type = RDAP_SERVER_SIDE_EMIT;
    q.has_packet = 1;
    q.packet.data = siop_test_json("[" PH(0) "]");
    assert_refused(rdap_request_encode(&q, &out), &out);
    rdap_request_clear(&q);

    rdap_response p;
    rdap_response_init(&p, RDAP_SERVER_SIDE_EMIT);
    p.type = (rdap_type)12;
    assert_refused(rdap_response_encode(&p, &out), &out);
    rdap_response_clear(&p);
    rdap_response_init(&p, RDAP_BROADCAST_CLIENT_COUNT);
    p.client_count = -5;
    assert_refused(rdap_response_encode(&p, &out), &out);
    rdap_response_clear(&p);
    rdap_response_init(&p, RDAP_BROADCAST_ACK);
    p.ack = siop_test_json(PH(0));
    assert_refused(rdap_response_encode(&p, &out), &out);
    rdap_response_clear(&p);
    sb_buf_free(&out);
    return 0;
}

/* The deepest data this codec both writes and reads back. */
TEST_IMPL(rda_encode_depth_limit)
{
    rdap_broadcast b;
    rdap_broadcast_init(&b);
    b.uid = test_exact_copy("u", 2);
    b.packet.data = nested_arrays(RDAP_MAX_DEPTH - 2);
    sb_buf out;
    sb_buf_init(&out);
    ASSERT_EQ(rdap_broadcast_encode(&b, &out), RDAP_OK);
    rdap_broadcast back;
    rdap_decoder d;
    rdap_decoder_init(&d);
    ASSERT_EQ(rdap_broadcast_decode(&d, out.data, out.len, &back), RDAP_OK);
    ASSERT(json_equal(back.packet.data, b.packet.data));
    rdap_broadcast_clear(&back);
    json_decref(b.packet.data);
    b.packet.data = nested_arrays(RDAP_MAX_DEPTH - 1);
    sb_buf_reset(&out);
    ASSERT_EQ(rdap_broadcast_encode(&b, &out), RDAP_ERR);
    sb_buf_free(&out);
    rdap_broadcast_clear(&b);
    return 0;
}

/* Binary packets go out with the type Node writes (EVENT/ACK) and come back binary. */
TEST_IMPL(rda_encode_binary_packet_types)
{
    rdap_request q;
    rdap_request_init(&q, RDAP_BROADCAST);
    q.uid = test_exact_copy("u", 2);
    q.request_id = test_exact_copy("r", 2);
    q.packet.type = SIOP_PACKET_BINARY_ACK;
    q.packet.data = siop_test_json("[" PH(0) "]");
    q.packet.attachments = calloc(1, sizeof *q.packet.attachments);
    q.packet.attachments[0].data = test_exact_copy("\x01", 1);
    q.packet.attachments[0].len = 1;
    q.packet.n_attachments = 1;
    sb_buf out;
    sb_buf_init(&out);
    ASSERT_EQ(rdap_request_encode(&q, &out), RDAP_OK);
    /* notepack.encode({uid, requestId, type: 7, packet: {type: 3, data: [<01>], nsp: "/"},
     * opts: {rooms: [], except: [], flags: {}}}) */
    ASSERT_VECTOR_EQ(out, "85a3756964a175a9726571756573744964a172a47479706507a67061636b657483a474"
                          "79706503a46461746191c40101a36e7370a12fa46f70747383a5726f6f6d7390a6"
                          "65786365707490a5666c61677380");
    rdap_request back;
    rdap_decoder d;
    rdap_decoder_init(&d);
    ASSERT_EQ(rdap_request_decode(&d, out.data, out.len, &back), RDAP_OK);
    ASSERT_EQ(back.packet.type, SIOP_PACKET_BINARY_ACK);
    rdap_request_clear(&back);
    rdap_request_clear(&q);
    sb_buf_free(&out);
    return 0;
}

/* JSON unless Node packs the type, or there is binary. */
TEST_IMPL(rda_encode_format_choice)
{
    sb_buf out;
    sb_buf_init(&out);
    rdap_request q;
    rdap_request_init(&q, RDAP_REMOTE_JOIN);
    q.has_packet = 1;
    q.packet.data = siop_test_json("[\"e\"]");
    ASSERT_EQ(rdap_request_encode(&q, &out), RDAP_OK);
    ASSERT_EQ(out.data[0], '{');
    q.packet.type = SIOP_PACKET_BINARY_EVENT;
    json_array_append_new(q.packet.data, siop_placeholder_new(0));
    q.packet.attachments = calloc(1, sizeof *q.packet.attachments);
    q.packet.attachments[0].data = test_exact_copy("", 1);
    q.packet.n_attachments = 1;
    sb_buf_reset(&out);
    ASSERT_EQ(rdap_request_encode(&q, &out), RDAP_OK);
    ASSERT(out.data[0] != '{');
    rdap_request_clear(&q);

    rdap_response p;
    rdap_response_init(&p, RDAP_BROADCAST_ACK); /* an acknowledgement of undefined */
    sb_buf_reset(&out);
    ASSERT_EQ(rdap_response_encode(&p, &out), RDAP_OK);
    ASSERT_MEM_EQ(out.data, out.len, "\x81\xa4type\x09");
    rdap_response_clear(&p);
    sb_buf_free(&out);
    return 0;
}

typedef struct layout {
    rdap_type type;
    const char *json;
} layout;

static void assert_text(const sb_buf *b, const char *text)
{
    if (b->len != strlen(text) || memcmp(b->data, text, b->len) != 0)
        TEST_FAIL("wrote %.*s, want %s", (int)b->len, (const char *)b->data, text);
}

/* The fields rdap_request_init() and rdap_response_init() mark, as Node writes them. */
TEST_IMPL(rda_init_layouts)
{
    static const layout requests[] = {
        {RDAP_SOCKETS, "{\"uid\":\"u\",\"type\":0,\"rooms\":[]}"},
        {RDAP_ALL_ROOMS, "{\"uid\":\"u\",\"type\":1}"},
        {RDAP_REMOTE_JOIN, "{\"uid\":\"u\",\"type\":2,\"opts\":{\"rooms\":[],\"except\":[]},"
                           "\"rooms\":[]}"},
        {RDAP_REMOTE_LEAVE, "{\"uid\":\"u\",\"type\":3,\"opts\":{\"rooms\":[],\"except\":[]},"
                            "\"rooms\":[]}"},
        {RDAP_REMOTE_DISCONNECT, "{\"uid\":\"u\",\"type\":4,\"opts\":{\"rooms\":[],\"except\":[]},"
                                 "\"close\":false}"},
        {RDAP_REMOTE_FETCH, "{\"uid\":\"u\",\"type\":5,\"opts\":{\"rooms\":[],\"except\":[]}}"},
        {RDAP_SERVER_SIDE_EMIT, "{\"uid\":\"u\",\"type\":6,\"data\":[]}"},
    };
    static const layout responses[] = {
        {RDAP_SOCKETS, "{\"sockets\":[]}"},
        {RDAP_ALL_ROOMS, "{\"rooms\":[]}"},
        {RDAP_REMOTE_JOIN, "{}"},
        {RDAP_REMOTE_FETCH, "{\"sockets\":[]}"},
        {RDAP_SERVER_SIDE_EMIT, "{\"type\":6}"},
        {RDAP_BROADCAST_CLIENT_COUNT, "{\"type\":8,\"clientCount\":0}"},
    };
    sb_buf out;
    sb_buf_init(&out);
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        rdap_request q;
        rdap_request_init(&q, requests[i].type);
        q.uid = test_exact_copy("u", 2);
        sb_buf_reset(&out);
        ASSERT_EQ(rdap_request_encode(&q, &out), RDAP_OK);
        assert_text(&out, requests[i].json);
        rdap_request_clear(&q);
    }
    for (size_t i = 0; i < sizeof responses / sizeof responses[0]; i++) {
        rdap_response p;
        rdap_response_init(&p, responses[i].type);
        sb_buf_reset(&out);
        ASSERT_EQ(rdap_response_encode(&p, &out), RDAP_OK);
        assert_text(&out, responses[i].json);
        rdap_response_clear(&p);
    }
    /* BROADCAST: {uid, type: 7, packet: {type: 2, nsp: "/"}, opts: {rooms, except, flags}} */
    rdap_request q;
    rdap_request_init(&q, RDAP_BROADCAST);
    q.uid = test_exact_copy("u", 2);
    sb_buf_reset(&out);
    ASSERT_EQ(rdap_request_encode(&q, &out), RDAP_OK);
    ASSERT_VECTOR_EQ(out, "84a3756964a175a47479706507a67061636b657482a47479706502a36e7370a12fa46f"
                          "70747383a5726f6f6d7390a665786365707490a5666c61677380");
    rdap_request_clear(&q);
    sb_buf_free(&out);
    return 0;
}

TEST_IMPL(rda_rooms_add_copies)
{
    rdap_rooms r;
    rdap_rooms_init(&r);
    char name[] = "room";
    rdap_rooms_add(&r, name);
    name[0] = 'x';
    rdap_rooms_add(&r, "");
    ASSERT_EQ(r.n, 2);
    ASSERT_STR_EQ(r.names[0], "room");
    ASSERT_STR_EQ(r.names[1], "");
    rdap_rooms_clear(&r);
    ASSERT(r.names == NULL && r.n == 0);
    rdap_rooms_clear(&r);
    return 0;
}

TEST_IMPL(rda_flags)
{
    rdap_opts o;
    rdap_opts_init(&o);
    ASSERT(!rdap_opts_volatile(&o) && rdap_opts_compress(&o));
    o.flags = siop_test_json("{\"volatile\":true,\"compress\":false}");
    ASSERT(rdap_opts_volatile(&o) && !rdap_opts_compress(&o));
    json_decref(o.flags);
    o.flags = siop_test_json("{\"volatile\":1,\"compress\":true}");
    ASSERT(!rdap_opts_volatile(&o) && rdap_opts_compress(&o));
    rdap_opts_clear(&o);
    return 0;
}

TEST_IMPL(rda_type_names)
{
    ASSERT_STR_EQ(rdap_type_name(RDAP_SOCKETS), "SOCKETS");
    ASSERT_STR_EQ(rdap_type_name(RDAP_REMOTE_FETCH), "REMOTE_FETCH");
    ASSERT_STR_EQ(rdap_type_name(RDAP_BROADCAST_ACK), "BROADCAST_ACK");
    ASSERT_STR_EQ(rdap_type_name(RDAP_TYPE_NONE), "NONE");
    ASSERT_STR_EQ(rdap_type_name((rdap_type)10), "NONE");
    return 0;
}

/* ---- channels --------------------------------------------------------------------------- */

#define ASSERT_CHANNEL(call, text)                                                                 \
    do {                                                                                           \
        sb_buf ch_;                                                                                \
        sb_buf_init(&ch_);                                                                         \
        call;                                                                                      \
        assert_text(&ch_, (text));                                                                 \
        sb_buf_free(&ch_);                                                                         \
    } while (0)

TEST_IMPL(rda_channel_names)
{
    ASSERT_CHANNEL(rdap_channel_broadcast(&ch_, NULL, NULL, NULL), "socket.io#/#");
    ASSERT_CHANNEL(rdap_channel_broadcast(&ch_, "app", "/admin", NULL), "app#/admin#");
    ASSERT_CHANNEL(rdap_channel_broadcast(&ch_, NULL, "/", "room1"), "socket.io#/#room1#");
    ASSERT_CHANNEL(rdap_channel_broadcast(&ch_, NULL, "/", ""), "socket.io#/##");
    ASSERT_CHANNEL(rdap_channel_request(&ch_, NULL, "/"), "socket.io-request#/#");
    ASSERT_CHANNEL(rdap_channel_request(&ch_, "app", "/chat"), "app-request#/chat#");
    ASSERT_CHANNEL(rdap_channel_response(&ch_, NULL, "/", NULL), "socket.io-response#/#");
    ASSERT_CHANNEL(rdap_channel_response(&ch_, NULL, "/", "VaG4CY"),
                   "socket.io-response#/#VaG4CY#");
    ASSERT_CHANNEL(rdap_channel_broadcast_pattern(&ch_, NULL, "/"), "socket.io#/#*");
    ASSERT_CHANNEL(rdap_channel_broadcast_pattern(&ch_, "a*b\\", "/x?[y]"),
                   "a\\*b\\\\#/x\\?\\[y\\]#*");
    return 0;
}

/* Node's rule: the room's channel when the broadcast names exactly one room. */
TEST_IMPL(rda_channel_for_broadcast)
{
    rdap_opts o;
    rdap_opts_init(&o);
    ASSERT_CHANNEL(rdap_channel_broadcast_for(&ch_, NULL, "/", &o), "socket.io#/#");
    rdap_rooms_add(&o.except, "x");
    rdap_rooms_add(&o.rooms, "r1");
    ASSERT_CHANNEL(rdap_channel_broadcast_for(&ch_, NULL, "/", &o), "socket.io#/#r1#");
    rdap_rooms_add(&o.rooms, "r2");
    ASSERT_CHANNEL(rdap_channel_broadcast_for(&ch_, NULL, "/", &o), "socket.io#/#");
    rdap_opts_clear(&o);
    return 0;
}

static void assert_room_of(const char *channel, const char *nsp, const char *room)
{
    const char *got;
    size_t len;
    int rc = rdap_channel_broadcast_room(channel, strlen(channel), NULL, nsp, &got, &len);
    if (room == NULL) {
        if (rc != 0)
            TEST_FAIL("%s: read as a broadcast channel of %s", channel, nsp);
        return;
    }
    if (rc != 1 || len != strlen(room) || memcmp(got, room, len) != 0)
        TEST_FAIL("%s: room not %s", channel, room);
}

TEST_IMPL(rda_channel_rooms)
{
    assert_room_of("socket.io#/#", "/", "");
    assert_room_of("socket.io#/#room1#", "/", "room1");
    assert_room_of("socket.io#/#a#b#", "/", "a#b");
    assert_room_of("socket.io#/##", "/", "");
    assert_room_of("socket.io#/#room1", "/", NULL);
    assert_room_of("socket.io#/admin#", "/", NULL);
    assert_room_of("socket.io#/admin#r#", "/admin", "r");
    assert_room_of("socket.io-request#/#", "/", NULL);
    assert_room_of("socket.io#/", "/", NULL);
    assert_room_of("other#/#", "/", NULL);
    return 0;
}

/* The sender's uid is read from the headers of what the encoder writes, for every string
 * header size; anything else (another uid, a prefix, a truncated or other message) is not
 * taken for it. */
TEST_IMPL(rda_broadcast_sent_by_reads_the_uid)
{
    static const size_t lens[] = {1, 31, 32, 255, 256, 300};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        char uid[301], other[301];
        memset(uid, 'a', lens[i]);
        uid[lens[i]] = '\0';
        memcpy(other, uid, lens[i] + 1);
        other[lens[i] - 1] = 'b';
        rdap_broadcast b;
        rdap_broadcast_init(&b);
        b.uid = test_exact_copy(uid, lens[i] + 1);
        b.packet.data = json_pack("[s]", "hello");
        sb_buf out;
        sb_buf_init(&out);
        ASSERT_EQ(rdap_broadcast_encode(&b, &out), RDAP_OK);
        ASSERT_EQ(rdap_broadcast_sent_by(out.data, out.len, uid), 1);
        ASSERT_EQ(rdap_broadcast_sent_by(out.data, out.len, other), 0);
        uid[lens[i] - 1] = '\0'; /* a prefix of the real one */
        ASSERT_EQ(rdap_broadcast_sent_by(out.data, out.len, uid), 0);
        /* cut anywhere before the uid's last byte */
        size_t uid_end = 0;
        while (uid_end + lens[i] <= out.len && memcmp(out.data + uid_end, b.uid, lens[i]))
            uid_end++;
        uid_end += lens[i];
        for (size_t cut = 0; cut < uid_end; cut += cut < 8 ? 1 : 16)
            ASSERT_EQ(rdap_broadcast_sent_by(out.data, cut, b.uid), 0);
        ASSERT_EQ(rdap_broadcast_sent_by(out.data, uid_end - 1, b.uid), 0);
        sb_buf_free(&out);
        rdap_broadcast_clear(&b);
    }
    static const uint8_t not_array[] = {0xa1, 'u'};
    ASSERT_EQ(rdap_broadcast_sent_by(not_array, sizeof(not_array), "u"), 0);
    return 0;
}
