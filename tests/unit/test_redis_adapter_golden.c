/* test_redis_adapter_golden.c: what the real @socket.io/redis-adapter 8.x and
 * @socket.io/redis-emitter 5.x publish (rdap_vectors.h), decoded field by field, and encoded
 * back byte for byte; plus messages built from scratch that must come out as Node's. */
#include "rdap_test.h"
#include "rdap_vectors.h"

#define PH(n) RDAP_PH(n)

typedef struct broadcast_vector {
    const char *name;
    const char *bytes;
    const char *channel; /* where Node published it */
    const char *uid;
    siop_packet_type type;
    const char *nsp;
    int64_t id;
    const char *data; /* packet.data as JSON */
    size_t n_attachments;
    const char *rooms; /* names joined with ',' */
    const char *except;
    const char *flags; /* JSON */
    int exact;         /* encodes back to the same bytes */
} broadcast_vector;

#define ADAPTER "VaG4CY"
#define SID1    "oFLagnsQDGlpz7IAAAAA"
#define SID2    "-hAOb92PYk3YNqaXAAAB"
#define SID4    "xtsJB3-8HsApnIfUAAAD"
#define EV      SIOP_PACKET_EVENT
#define BEV     SIOP_PACKET_BINARY_EVENT
#define NO      SIOP_NO_ACK

static const broadcast_vector BROADCASTS[] = {
    {"all", BC_ALL, "socket.io#/#", ADAPTER, EV, "/", NO,
     "[\"hello\",\"world\",42,-7,2.5,true,null,{\"a\":1,\"b\":[1,2]}]", 0, "", "", "{}", 1},
    {"one room", BC_ONE_ROOM, "socket.io#/#room1#", ADAPTER, EV, "/", NO,
     "[\"news\",{\"title\":\"x\"}]", 0, "room1", "", "{}", 1},
    {"rooms and except", BC_ROOMS_EXCEPT, "socket.io#/#", ADAPTER, EV, "/", NO, "[\"multi\",1]", 0,
     "r1,r2", "r3", "{}", 1},
    {"binary", BC_BINARY, "socket.io#/#", ADAPTER, BEV, "/", NO,
     "[\"bin\"," PH(0) ",{\"nested\":{\"buf\":" PH(1) "},\"list\":[" PH(2) "]}]", 3, "", "", "{}",
     1},
    {"volatile", BC_VOLATILE, "socket.io#/#", ADAPTER, EV, "/", NO, "[\"tick\",1]", 0, "", "",
     "{\"volatile\":true}", 1},
    {"compress, volatile, one room", BC_COMPRESS_VOLATILE_ROOM, "socket.io#/#room1#", ADAPTER, EV,
     "/", NO, "[\"x\"]", 0, "room1", "", "{\"compress\":false,\"volatile\":true}", 1},
    {"namespace", BC_ADMIN_NSP, "socket.io#/admin#", "gCBBNO", EV, "/admin", NO, "[\"adm\",\"x\"]",
     0, "", "", "{}", 1},
    {"socket.broadcast", BC_FROM_SOCKET, "socket.io#/#", ADAPTER, EV, "/", NO, "[\"sb\",1]", 0, "",
     SID1, "{}", 1},
    {"socket.to(room)", BC_SOCKET_TO_ROOM, "socket.io#/#room1#", ADAPTER, EV, "/", NO, "[\"sr\",1]",
     0, "room1", SID1, "{}", 1},
    {"integer keys first", BC_KEY_ORDER, "socket.io#/#", ADAPTER, EV, "/", NO,
     "[\"keys\",{\"1\":\"one\",\"2\":\"two\",\"b\":1,\"a\":2}]", 0, "", "", "{}", 1},
    {"socket.emit with recovery", BC_SOCKET_EMIT_RECOVERY, "socket.io#/#" SID4 "#", "37jYA-", BEV,
     "/", 0, "[\"welcome\"," PH(0) "]", 1, SID4, "", "{}", 1},
    /* Node's room 123 is a number; here it is the name "123", written back as a string. */
    {"numeric room", BC_NUMERIC_ROOM, "socket.io#/#123#", ADAPTER, EV, "/", NO, "[\"num-room\"]", 0,
     "123", "", "{}", 0},
    {"empty and unicode", BC_EMPTY_AND_UNICODE, "socket.io#/#", "DXpmJg", EV, "/", NO,
     "[\"e\",{},[],{\"\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87\":\"\xd0\xb7\xd0\xbd\xd0\xb0\xd1\x87\xd0"
     "\xb5\xd0\xbd\xd0\xb8\xd0\xb5\",\"\":\"\"}]",
     0, "", "", "{}", 1},
    {"emitter", BC_EMITTER_ALL, "socket.io#/#", RDAP_EMITTER_UID, EV, "/", NO,
     "[\"from-emitter\",1,\"two\"]", 0, "", "", "{}", 1},
    {"emitter, one room", BC_EMITTER_ONE_ROOM, "socket.io#/#room1#", RDAP_EMITTER_UID, EV, "/", NO,
     "[\"e-room\",{\"x\":1}]", 0, "room1", "", "{}", 1},
    {"emitter, rooms, except, volatile", BC_EMITTER_ROOMS_EXCEPT_VOLATILE, "socket.io#/#",
     RDAP_EMITTER_UID, EV, "/", NO, "[\"e-multi\"]", 0, "a,b", "c", "{\"volatile\":true}", 1},
    {"emitter, binary", BC_EMITTER_BINARY, "socket.io#/#", RDAP_EMITTER_UID, BEV, "/", NO,
     "[\"e-bin\"," PH(0) "]", 1, "", "", "{}", 1},
    {"emitter, namespace", BC_EMITTER_ADMIN, "socket.io#/admin#", RDAP_EMITTER_UID, EV, "/admin",
     NO, "[\"e-adm\",1]", 0, "", "", "{}", 1},
};

#define BROADCAST_COUNT (sizeof BROADCASTS / sizeof BROADCASTS[0])

/* The channel a node computes from the decoded opts is the one Node published on, and
 * reading that channel back gives the room. */
static void check_broadcast_channel(const broadcast_vector *v, const rdap_broadcast *b)
{
    sb_buf ch;
    sb_buf_init(&ch);
    rdap_channel_broadcast_for(&ch, NULL, b->packet.nsp, &b->opts);
    if (ch.len != strlen(v->channel) || memcmp(ch.data, v->channel, ch.len) != 0)
        TEST_FAIL("%s: channel %.*s, Node used %s", v->name, (int)ch.len, ch.data, v->channel);
    const char *room;
    size_t room_len;
    ASSERT(rdap_channel_broadcast_room((const char *)ch.data, ch.len, NULL, b->packet.nsp, &room,
                                       &room_len));
    const char *want = b->opts.rooms.n == 1 ? b->opts.rooms.names[0] : "";
    ASSERT(room_len == strlen(want) && memcmp(room, want, room_len) == 0);
    sb_buf_free(&ch);
}

TEST_IMPL(rda_golden_broadcasts)
{
    for (size_t i = 0; i < BROADCAST_COUNT; i++) {
        const broadcast_vector *v = &BROADCASTS[i];
        rdap_broadcast b;
        rdap_test_broadcast(v->bytes, &b);
        ASSERT_STR_EQ(b.uid, v->uid);
        if (b.packet.type != v->type)
            TEST_FAIL("%s: type %d", v->name, b.packet.type);
        ASSERT_STR_EQ(b.packet.nsp, v->nsp);
        ASSERT_EQ(b.packet.id, v->id);
        ASSERT_JSON_EQ(b.packet.data, v->data);
        ASSERT_EQ(b.packet.n_attachments, v->n_attachments);
        ASSERT_ROOMS(b.opts.rooms, v->rooms);
        ASSERT_ROOMS(b.opts.except, v->except);
        ASSERT_JSON_EQ(b.opts.flags, v->flags);
        check_broadcast_channel(v, &b);
        sb_buf out;
        sb_buf_init(&out);
        ASSERT_EQ(rdap_broadcast_encode(&b, &out), RDAP_OK);
        if (v->exact)
            ASSERT_VECTOR_EQ(out, v->bytes);
        sb_buf_free(&out);
        rdap_broadcast_clear(&b);
    }
    return 0;
}

static void assert_attachment(const siop_attachment *a, const char *bytes, size_t len)
{
    ASSERT_EQ(a->len, len);
    ASSERT(memcmp(a->data, bytes, len) == 0);
}

TEST_IMPL(rda_golden_broadcast_attachments)
{
    rdap_broadcast b;
    rdap_test_broadcast(BC_BINARY, &b);
    assert_attachment(&b.packet.attachments[0], "\x01\x02\x03", 3);
    ASSERT_EQ(b.packet.attachments[1].len, 300); /* bin16 */
    for (size_t i = 0; i < 300; i++)
        ASSERT_EQ(b.packet.attachments[1].data[i], 7);
    assert_attachment(&b.packet.attachments[2], "hi", 2);
    rdap_broadcast_clear(&b);

    rdap_test_broadcast(BC_EMITTER_BINARY, &b);
    assert_attachment(&b.packet.attachments[0], "\xde\xad", 2);
    rdap_broadcast_clear(&b);

    rdap_test_broadcast(BC_SOCKET_EMIT_RECOVERY, &b);
    assert_attachment(&b.packet.attachments[0], "\x01", 1);
    rdap_broadcast_clear(&b);
    return 0;
}

/* Every number and string format notepack.io writes reads back and packs the same. */
TEST_IMPL(rda_golden_numbers_and_strings)
{
    rdap_broadcast b;
    rdap_test_broadcast(BC_NUMBERS, &b);
    const json_t *d = b.packet.data;
    json_t *head = json_array();
    for (size_t i = 0; i < 26; i++)
        json_array_append(head, json_array_get(d, i));
    ASSERT_JSON_EQ(head, "[\"nums\",0,127,128,255,256,65535,65536,4294967295,4294967296,"
                         "9007199254740991,-1,-32,-33,-128,-129,-32768,-32769,-2147483648,"
                         "-2147483649,0.5,-0.25,1152921504606846976,9223372036854775808.0,"
                         "-9223372036854775808,1e-7]");
    json_decref(head);
    /* fixstr, str8 from 32 bytes, str8 up to 255, str16 from 256 */
    size_t lens[] = {31, 32, 255, 256};
    for (size_t i = 0; i < 4; i++)
        ASSERT_EQ(json_string_length(json_array_get(d, 26 + i)), lens[i]);
    ASSERT_STR_EQ(json_string_value(json_array_get(d, 30)),
                  "h\xc3\xa9llo \xe2\x82\xac\xf0\x9d\x84\x9e");
    ASSERT_STR_EQ(json_string_value(json_array_get(d, 31)), "");
    sb_buf out;
    sb_buf_init(&out);
    ASSERT_EQ(rdap_broadcast_encode(&b, &out), RDAP_OK);
    ASSERT_VECTOR_EQ(out, BC_NUMBERS);
    sb_buf_free(&out);
    rdap_broadcast_clear(&b);
    return 0;
}

/* What Node's clients would get: JSON.stringify of the values notepack.io decodes. */
TEST_IMPL(rda_golden_values_as_node_shows_them)
{
    rdap_broadcast b;
    rdap_test_broadcast(BC_DATES, &b);
    ASSERT_JSON_EQ(b.packet.data,
                   "[\"dates\",\"2024-01-02T03:04:05.678Z\",\"1970-01-01T00:00:00.000Z\","
                   "\"1969-12-31T23:59:59.999Z\",\"+010000-01-01T00:00:00.000Z\","
                   "\"-000001-01-01T00:00:00.000Z\",\"+275760-09-13T00:00:00.000Z\","
                   "\"-271821-04-20T00:00:00.000Z\",\"2023-11-14T22:13:20.000Z\"]");
    rdap_broadcast_clear(&b);
    rdap_test_broadcast(BC_NON_FINITE, &b);
    ASSERT_JSON_EQ(b.packet.data, "[\"nf\",null,null,null,0]");
    rdap_broadcast_clear(&b);
    /* notepack.io packs integral numbers from 2^64 on modulo 2^64: Node sent 1e300 as 0. */
    rdap_test_broadcast(BC_NUMBERS_BEYOND_UINT64, &b);
    ASSERT_JSON_EQ(b.packet.data, "[\"big\",0]");
    rdap_broadcast_clear(&b);
    return 0;
}

TEST_IMPL(rda_golden_depth_limit)
{
    rdap_broadcast b;
    rdap_test_broadcast(BC_DEPTH_32, &b);
    sb_buf out;
    sb_buf_init(&out);
    ASSERT_EQ(rdap_broadcast_encode(&b, &out), RDAP_OK);
    ASSERT_VECTOR_EQ(out, BC_DEPTH_32);
    sb_buf_free(&out);
    rdap_broadcast_clear(&b);

    size_t len;
    uint8_t *msg = rdap_test_bytes(BC_DEPTH_33, &len);
    rdap_decoder d;
    rdap_decoder_init(&d);
    ASSERT_EQ(rdap_broadcast_decode(&d, msg, len, &b), RDAP_ERR);
    ASSERT_STR_EQ(d.errstr, "nested deeper than 32");
    free(msg);
    return 0;
}

/* ---- requests --------------------------------------------------------------------------- */

typedef struct request_vector {
    const char *name;
    const char *bytes;
    rdap_type type;
    const char *uid, *request_id, *sid, *room;
    const char *opts_rooms; /* NULL: no opts */
    const char *opts_except;
    const char *flags; /* JSON; NULL: none */
    const char *rooms; /* NULL: none */
    int close;
    const char *data;        /* JSON; NULL: none */
    const char *packet_data; /* JSON; NULL: no packet */
    size_t n_attachments;
} request_vector;

#define UNSET RDAP_UNSET

static const request_vector REQUESTS[] = {
    {"SOCKETS", REQ_SOCKETS, RDAP_SOCKETS, "crafted", "req-sockets", NULL, NULL, NULL, NULL, NULL,
     "room1", UNSET, NULL, NULL, 0},
    {"ALL_ROOMS", REQ_ALL_ROOMS, RDAP_ALL_ROOMS, ADAPTER, "tmb0f6", NULL, NULL, NULL, NULL, NULL,
     NULL, UNSET, NULL, NULL, 0},
    {"REMOTE_JOIN", REQ_REMOTE_JOIN, RDAP_REMOTE_JOIN, ADAPTER, NULL, NULL, NULL, "room1", "", NULL,
     "j1,j2", UNSET, NULL, NULL, 0},
    {"REMOTE_JOIN of one socket", REQ_REMOTE_JOIN_ONE, RDAP_REMOTE_JOIN, "crafted", "req-join",
     SID2, "legacy", NULL, NULL, NULL, NULL, UNSET, NULL, NULL, 0},
    {"REMOTE_LEAVE", REQ_REMOTE_LEAVE, RDAP_REMOTE_LEAVE, ADAPTER, NULL, NULL, NULL, "", "room2",
     NULL, "j2", UNSET, NULL, NULL, 0},
    {"REMOTE_LEAVE of one socket", REQ_REMOTE_LEAVE_ONE, RDAP_REMOTE_LEAVE, "crafted", "req-leave",
     SID2, "legacy", NULL, NULL, NULL, NULL, UNSET, NULL, NULL, 0},
    {"REMOTE_DISCONNECT", REQ_REMOTE_DISCONNECT, RDAP_REMOTE_DISCONNECT, ADAPTER, NULL, NULL, NULL,
     "nobody", "", NULL, NULL, 0, NULL, NULL, 0},
    {"REMOTE_FETCH", REQ_REMOTE_FETCH, RDAP_REMOTE_FETCH, ADAPTER, "PIa5bn", NULL, NULL, "", "",
     NULL, NULL, UNSET, NULL, NULL, 0},
    {"SERVER_SIDE_EMIT", REQ_SERVER_SIDE_EMIT, RDAP_SERVER_SIDE_EMIT, ADAPTER, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, UNSET, "[\"hello\",1,\"two\"]", NULL, 0},
    {"SERVER_SIDE_EMIT with ack", REQ_SERVER_SIDE_EMIT_ACK, RDAP_SERVER_SIDE_EMIT, ADAPTER,
     "PwiVqw", NULL, NULL, NULL, NULL, NULL, NULL, UNSET, "[\"ping\",5]", NULL, 0},
    {"BROADCAST", REQ_BROADCAST, RDAP_BROADCAST, ADAPTER, "X9VAce", NULL, NULL, "", "",
     "{\"timeout\":2000}", NULL, UNSET, NULL, "[\"ack-me\",7]", 0},
    {"BROADCAST, binary", REQ_BROADCAST_BINARY, RDAP_BROADCAST, ADAPTER, "kLSDa3", NULL, NULL,
     "room1", "", "{\"timeout\":2000}", NULL, UNSET, NULL, "[\"ack-bin\"," PH(0) "]", 1},
    {"emitter REMOTE_JOIN", REQ_EMITTER_JOIN, RDAP_REMOTE_JOIN, NULL, NULL, NULL, NULL, "", "",
     NULL, "ej", UNSET, NULL, NULL, 0},
    {"emitter REMOTE_LEAVE", REQ_EMITTER_LEAVE, RDAP_REMOTE_LEAVE, NULL, NULL, NULL, NULL, "room1",
     "", NULL, "ej,ek", UNSET, NULL, NULL, 0},
    {"emitter REMOTE_DISCONNECT", REQ_EMITTER_DISCONNECT, RDAP_REMOTE_DISCONNECT, NULL, NULL, NULL,
     NULL, "nobody", "", NULL, NULL, 1, NULL, NULL, 0},
    {"emitter SERVER_SIDE_EMIT", REQ_EMITTER_SERVER_SIDE_EMIT, RDAP_SERVER_SIDE_EMIT,
     RDAP_EMITTER_UID, NULL, NULL, NULL, NULL, NULL, NULL, NULL, UNSET, "[\"from-emitter\",1]",
     NULL, 0},
};

#define REQUEST_COUNT (sizeof REQUESTS / sizeof REQUESTS[0])

static void check_request(const request_vector *v, const rdap_request *q)
{
    ASSERT_EQ(q->type, v->type);
    ASSERT_NAME(q->uid, v->uid);
    ASSERT_NAME(q->request_id, v->request_id);
    ASSERT_NAME(q->sid, v->sid);
    ASSERT_NAME(q->room, v->room);
    ASSERT_EQ(q->has_opts, v->opts_rooms != NULL);
    if (v->opts_rooms != NULL) {
        ASSERT_ROOMS(q->opts.rooms, v->opts_rooms);
        ASSERT_ROOMS(q->opts.except, v->opts_except);
    }
    ASSERT_JSON_OR_NULL(q->opts.flags, v->flags);
    ASSERT_EQ(q->has_rooms, v->rooms != NULL);
    if (v->rooms != NULL)
        ASSERT_ROOMS(q->rooms, v->rooms);
    ASSERT_EQ(q->close, v->close);
    ASSERT_JSON_OR_NULL(q->data, v->data);
    ASSERT_EQ(q->has_packet, v->packet_data != NULL);
    if (v->packet_data != NULL) {
        ASSERT_JSON_EQ(q->packet.data, v->packet_data);
        ASSERT_STR_EQ(q->packet.nsp, "/");
        ASSERT_EQ(q->packet.id, SIOP_NO_ACK);
        ASSERT_EQ(q->packet.type, v->n_attachments > 0 ? BEV : EV);
    }
    ASSERT_EQ(q->packet.n_attachments, v->n_attachments);
}

TEST_IMPL(rda_golden_requests)
{
    for (size_t i = 0; i < REQUEST_COUNT; i++) {
        const request_vector *v = &REQUESTS[i];
        rdap_request q;
        rdap_test_request(v->bytes, &q);
        check_request(v, &q);
        sb_buf out;
        sb_buf_init(&out);
        ASSERT_EQ(rdap_request_encode(&q, &out), RDAP_OK);
        ASSERT_VECTOR_EQ(out, v->bytes);
        sb_buf_free(&out);
        rdap_request_clear(&q);
    }
    return 0;
}

/* ---- responses -------------------------------------------------------------------------- */

typedef struct response_vector {
    const char *name;
    const char *bytes;
    rdap_type type;
    const char *request_id;
    const char *sockets; /* JSON; NULL: none */
    const char *rooms;   /* NULL: none */
    const char *data;    /* JSON; NULL: none */
    int64_t client_count;
    const char *ack; /* JSON; NULL: none */
    size_t n_ack_attachments;
} response_vector;

static const response_vector RESPONSES[] = {
    {"SOCKETS", RES_SOCKETS, RDAP_TYPE_NONE, "req-sockets", "[\"" SID2 "\"]", NULL, NULL, UNSET,
     NULL, 0},
    {"SOCKETS, none", RES_SOCKETS_EMPTY, RDAP_TYPE_NONE, "req-sockets", "[]", NULL, NULL, UNSET,
     NULL, 0},
    {"ALL_ROOMS", RES_ALL_ROOMS, RDAP_TYPE_NONE, "tmb0f6", NULL, SID2 ",room1", NULL, UNSET, NULL,
     0},
    {"REMOTE_JOIN of one socket", RES_REMOTE_JOIN_ONE, RDAP_TYPE_NONE, "req-join", NULL, NULL, NULL,
     UNSET, NULL, 0},
    {"REMOTE_LEAVE of one socket", RES_REMOTE_LEAVE_ONE, RDAP_TYPE_NONE, "req-leave", NULL, NULL,
     NULL, UNSET, NULL, 0},
    {"SERVER_SIDE_EMIT", RES_SERVER_SIDE_EMIT, RDAP_SERVER_SIDE_EMIT, "PwiVqw", NULL, NULL,
     "{\"pong\":5}", UNSET, NULL, 0},
    {"BROADCAST_CLIENT_COUNT", RES_BROADCAST_CLIENT_COUNT, RDAP_BROADCAST_CLIENT_COUNT, "X9VAce",
     NULL, NULL, NULL, 1, NULL, 0},
    {"BROADCAST_CLIENT_COUNT, 0", RES_BROADCAST_CLIENT_COUNT_ZERO, RDAP_BROADCAST_CLIENT_COUNT,
     "kLSDa3", NULL, NULL, NULL, 0, NULL, 0},
    {"BROADCAST_ACK, string", RES_BROADCAST_ACK_STRING, RDAP_BROADCAST_ACK, "X9VAce", NULL, NULL,
     NULL, UNSET, "\"fine\"", 0},
    {"BROADCAST_ACK, number", RES_BROADCAST_ACK_NUMBER, RDAP_BROADCAST_ACK, "kLSDa3", NULL, NULL,
     NULL, UNSET, "3", 0},
    {"BROADCAST_ACK, binary", RES_BROADCAST_ACK_BINARY, RDAP_BROADCAST_ACK, "X9VAce", NULL, NULL,
     NULL, UNSET, "{\"ok\":true,\"n\":7,\"buf\":" PH(0) "}", 1},
};

#define RESPONSE_COUNT (sizeof RESPONSES / sizeof RESPONSES[0])

static void check_response(const response_vector *v, const rdap_response *p)
{
    ASSERT_EQ(p->type, v->type);
    ASSERT_NAME(p->request_id, v->request_id);
    ASSERT_JSON_OR_NULL(p->sockets, v->sockets);
    ASSERT_EQ(p->has_rooms, v->rooms != NULL);
    if (v->rooms != NULL)
        ASSERT_ROOMS(p->rooms, v->rooms);
    ASSERT_JSON_OR_NULL(p->data, v->data);
    ASSERT_EQ(p->client_count, v->client_count);
    ASSERT_JSON_OR_NULL(p->ack, v->ack);
    ASSERT_EQ(p->n_ack_attachments, v->n_ack_attachments);
}

TEST_IMPL(rda_golden_responses)
{
    for (size_t i = 0; i < RESPONSE_COUNT; i++) {
        const response_vector *v = &RESPONSES[i];
        rdap_response p;
        rdap_test_response(v->bytes, &p);
        check_response(v, &p);
        sb_buf out;
        sb_buf_init(&out);
        ASSERT_EQ(rdap_response_encode(&p, &out), RDAP_OK);
        ASSERT_VECTOR_EQ(out, v->bytes);
        sb_buf_free(&out);
        rdap_response_clear(&p);
    }
    return 0;
}

TEST_IMPL(rda_golden_fetch_response)
{
    rdap_response p;
    rdap_test_response(RES_REMOTE_FETCH, &p);
    ASSERT_EQ(p.type, RDAP_TYPE_NONE);
    ASSERT_STR_EQ(p.request_id, "PIa5bn");
    ASSERT_EQ(json_array_size(p.sockets), 1);
    json_t *s = json_array_get(p.sockets, 0);
    ASSERT_JSON_EQ(json_object_get(s, "id"), "\"" SID2 "\"");
    ASSERT_JSON_EQ(json_object_get(s, "rooms"), "[\"" SID2 "\",\"room1\"]");
    ASSERT_JSON_EQ(json_object_get(s, "data"), "{\"user\":\"alice\"}");
    json_t *hs = json_object_get(s, "handshake");
    ASSERT_JSON_EQ(json_object_get(hs, "auth"), "{\"token\":\"t\"}");
    ASSERT_JSON_EQ(json_object_get(hs, "query"), "{\"EIO\":\"4\",\"transport\":\"websocket\"}");
    ASSERT(json_is_integer(json_object_get(hs, "issued")));
    sb_buf out;
    sb_buf_init(&out);
    ASSERT_EQ(rdap_response_encode(&p, &out), RDAP_OK);
    ASSERT_VECTOR_EQ(out, RES_REMOTE_FETCH);
    sb_buf_free(&out);
    rdap_response_clear(&p);
    return 0;
}

/* ---- built from scratch ----------------------------------------------------------------- */

static char *dup(const char *s) { return test_exact_copy(s, strlen(s) + 1); }

static void encode_request_as(rdap_request *q, const char *vec)
{
    sb_buf out;
    sb_buf_init(&out);
    ASSERT_EQ(rdap_request_encode(q, &out), RDAP_OK);
    ASSERT_VECTOR_EQ(out, vec);
    sb_buf_free(&out);
    rdap_request_clear(q);
}

static void encode_response_as(rdap_response *p, const char *vec)
{
    sb_buf out;
    sb_buf_init(&out);
    ASSERT_EQ(rdap_response_encode(p, &out), RDAP_OK);
    ASSERT_VECTOR_EQ(out, vec);
    sb_buf_free(&out);
    rdap_response_clear(p);
}

static void set_attachment(siop_attachment *a, const char *bytes, size_t len)
{
    a->data = test_exact_copy(bytes, len);
    a->len = len;
}

/* An owned array of one attachment, as a packet holds them. */
static siop_attachment *one_attachment(const char *bytes, size_t len)
{
    siop_attachment *a = malloc(sizeof *a);
    ASSERT(a != NULL);
    set_attachment(a, bytes, len);
    return a;
}

/* rdap_request_init() marks the fields Node writes: filling in the values gives its bytes. */
TEST_IMPL(rda_golden_requests_from_init)
{
    rdap_request q;
    rdap_request_init(&q, RDAP_ALL_ROOMS);
    q.uid = dup(ADAPTER);
    q.request_id = dup("tmb0f6");
    encode_request_as(&q, REQ_ALL_ROOMS);

    rdap_request_init(&q, RDAP_REMOTE_FETCH);
    q.uid = dup(ADAPTER);
    q.request_id = dup("PIa5bn");
    encode_request_as(&q, REQ_REMOTE_FETCH);

    rdap_request_init(&q, RDAP_REMOTE_JOIN);
    q.uid = dup(ADAPTER);
    rdap_rooms_add(&q.opts.rooms, "room1");
    rdap_rooms_add(&q.rooms, "j1");
    rdap_rooms_add(&q.rooms, "j2");
    encode_request_as(&q, REQ_REMOTE_JOIN);

    rdap_request_init(&q, RDAP_REMOTE_DISCONNECT);
    q.uid = dup(ADAPTER);
    rdap_rooms_add(&q.opts.rooms, "nobody");
    encode_request_as(&q, REQ_REMOTE_DISCONNECT);

    rdap_request_init(&q, RDAP_SERVER_SIDE_EMIT);
    q.uid = dup(ADAPTER);
    json_t *args = siop_test_json("[\"hello\",1,\"two\"]");
    json_array_extend(q.data, args);
    json_decref(args);
    encode_request_as(&q, REQ_SERVER_SIDE_EMIT);

    rdap_request_init(&q, RDAP_BROADCAST);
    q.uid = dup(ADAPTER);
    q.request_id = dup("kLSDa3");
    q.packet.type = SIOP_PACKET_BINARY_EVENT;
    q.packet.nsp = dup("/");
    q.packet.data = siop_test_json("[\"ack-bin\"," PH(0) "]");
    q.packet.attachments = one_attachment("\x05\x06\x07", 3);
    q.packet.n_attachments = 1;
    rdap_rooms_add(&q.opts.rooms, "room1");
    json_object_set_new(q.opts.flags, RDAP_FLAG_TIMEOUT, json_integer(2000));
    encode_request_as(&q, REQ_BROADCAST_BINARY);
    return 0;
}

TEST_IMPL(rda_golden_responses_from_init)
{
    rdap_response p;
    rdap_response_init(&p, RDAP_SOCKETS);
    p.request_id = dup("req-sockets");
    json_array_append_new(p.sockets, json_string(SID2));
    encode_response_as(&p, RES_SOCKETS);

    rdap_response_init(&p, RDAP_ALL_ROOMS);
    p.request_id = dup("tmb0f6");
    rdap_rooms_add(&p.rooms, SID2);
    rdap_rooms_add(&p.rooms, "room1");
    encode_response_as(&p, RES_ALL_ROOMS);

    rdap_response_init(&p, RDAP_REMOTE_JOIN);
    p.request_id = dup("req-join");
    encode_response_as(&p, RES_REMOTE_JOIN_ONE);

    rdap_response_init(&p, RDAP_SERVER_SIDE_EMIT);
    p.request_id = dup("PwiVqw");
    p.data = siop_test_json("{\"pong\":5}");
    encode_response_as(&p, RES_SERVER_SIDE_EMIT);

    rdap_response_init(&p, RDAP_BROADCAST_CLIENT_COUNT);
    p.request_id = dup("kLSDa3");
    encode_response_as(&p, RES_BROADCAST_CLIENT_COUNT_ZERO);

    rdap_response_init(&p, RDAP_BROADCAST_ACK);
    p.request_id = dup("X9VAce");
    p.ack = siop_test_json("{\"ok\":true,\"n\":7,\"buf\":" PH(0) "}");
    p.ack_attachments = one_attachment("\x09\x08", 2);
    p.n_ack_attachments = 1;
    encode_response_as(&p, RES_BROADCAST_ACK_BINARY);
    return 0;
}

TEST_IMPL(rda_golden_broadcasts_from_init)
{
    rdap_broadcast b;
    rdap_broadcast_init(&b);
    b.uid = dup(RDAP_EMITTER_UID);
    b.packet.data = siop_test_json("[\"e-multi\"]");
    rdap_rooms_add(&b.opts.rooms, "a");
    rdap_rooms_add(&b.opts.rooms, "b");
    rdap_rooms_add(&b.opts.except, "c");
    json_object_set_new(b.opts.flags, RDAP_FLAG_VOLATILE, json_true());
    sb_buf out;
    sb_buf_init(&out);
    ASSERT_EQ(rdap_broadcast_encode(&b, &out), RDAP_OK);
    ASSERT_VECTOR_EQ(out, BC_EMITTER_ROOMS_EXCEPT_VOLATILE);
    rdap_broadcast_clear(&b);

    rdap_broadcast_init(&b);
    b.uid = dup(ADAPTER);
    b.packet.type = SIOP_PACKET_BINARY_EVENT;
    b.packet.data =
        siop_test_json("[\"bin\"," PH(0) ",{\"nested\":{\"buf\":" PH(1) "},\"list\":[" PH(2) "]}]");
    b.packet.attachments = calloc(3, sizeof *b.packet.attachments);
    ASSERT(b.packet.attachments != NULL);
    b.packet.n_attachments = 3;
    set_attachment(&b.packet.attachments[0], "\x01\x02\x03", 3);
    b.packet.attachments[1].len = 300;
    b.packet.attachments[1].data = malloc(300);
    ASSERT(b.packet.attachments[1].data != NULL);
    memset(b.packet.attachments[1].data, 7, 300);
    set_attachment(&b.packet.attachments[2], "hi", 2);
    sb_buf_reset(&out);
    ASSERT_EQ(rdap_broadcast_encode(&b, &out), RDAP_OK);
    ASSERT_VECTOR_EQ(out, BC_BINARY);
    rdap_broadcast_clear(&b);
    sb_buf_free(&out);
    return 0;
}
