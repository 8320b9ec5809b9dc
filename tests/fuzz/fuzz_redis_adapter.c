/* fuzz_redis_adapter.c: libFuzzer target for the Redis adapter message decoders.
 *
 * The first byte of an input picks the decoder (broadcast, request, response; modulo 3),
 * the rest is the message. A message that decodes must have an errstr-free success, encode,
 * decode again to an equal struct (numbers compared by value: a JSON 2.0 packs as the int
 * 2, as in JavaScript), and encode again to the very same bytes. A refusal must say why.
 */
#include <string.h>

#include "fuzz.h"
#include "redis_adapter_codec.h"

enum { FUZZ_BROADCAST, FUZZ_REQUEST, FUZZ_RESPONSE, FUZZ_KINDS };

/* json_equal, except that numbers are equal when their values are. */
static int json_same(const json_t *a, const json_t *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (json_is_number(a) && json_is_number(b))
        return json_is_integer(a) && json_is_integer(b)
                   ? json_integer_value(a) == json_integer_value(b)
                   : json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b))
        return 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_same(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    if (json_is_object(a)) {
        json_t *obj = (json_t *)a; /* iteration only reads */
        if (json_object_size(a) != json_object_size(b))
            return 0;
        for (void *it = json_object_iter(obj); it != NULL; it = json_object_iter_next(obj, it))
            if (!json_same(
                    json_object_iter_value(it),
                    json_object_getn(b, json_object_iter_key(it), json_object_iter_key_len(it))))
                return 0;
        return 1;
    }
    return json_equal(a, b);
}

static int names_same(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static int rooms_same(const rdap_rooms *a, const rdap_rooms *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->names[i], b->names[i]) != 0)
            return 0;
    return 1;
}

static int opts_same(const rdap_opts *a, const rdap_opts *b)
{
    return rooms_same(&a->rooms, &b->rooms) && rooms_same(&a->except, &b->except) &&
           json_same(a->flags, b->flags);
}

static int attachments_same(const siop_attachment *a, size_t na, const siop_attachment *b,
                            size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (a[i].len != b[i].len || (a[i].len > 0 && memcmp(a[i].data, b[i].data, a[i].len) != 0))
            return 0;
    return 1;
}

static int packets_same(const siop_packet *a, const siop_packet *b)
{
    return a->type == b->type && names_same(a->nsp, b->nsp) && a->id == b->id &&
           json_same(a->data, b->data) &&
           attachments_same(a->attachments, a->n_attachments, b->attachments, b->n_attachments);
}

static int broadcasts_same(const rdap_broadcast *a, const rdap_broadcast *b)
{
    return names_same(a->uid, b->uid) && packets_same(&a->packet, &b->packet) &&
           opts_same(&a->opts, &b->opts);
}

static int requests_same(const rdap_request *a, const rdap_request *b)
{
    return a->type == b->type && names_same(a->uid, b->uid) &&
           names_same(a->request_id, b->request_id) && names_same(a->sid, b->sid) &&
           names_same(a->room, b->room) && a->has_packet == b->has_packet &&
           packets_same(&a->packet, &b->packet) && a->has_opts == b->has_opts &&
           opts_same(&a->opts, &b->opts) && a->has_rooms == b->has_rooms &&
           rooms_same(&a->rooms, &b->rooms) && a->close == b->close && json_same(a->data, b->data);
}

static int responses_same(const rdap_response *a, const rdap_response *b)
{
    return a->type == b->type && names_same(a->request_id, b->request_id) &&
           json_same(a->sockets, b->sockets) && a->has_rooms == b->has_rooms &&
           rooms_same(&a->rooms, &b->rooms) && json_same(a->data, b->data) &&
           a->client_count == b->client_count && json_same(a->ack, b->ack) &&
           attachments_same(a->ack_attachments, a->n_ack_attachments, b->ack_attachments,
                            b->n_ack_attachments);
}

static int bufs_same(const sb_buf *a, const sb_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* One kind's decode, encode, equality and clear, so that the checks are written once. */
typedef struct fuzz_ops {
    size_t size;
    int (*decode)(rdap_decoder *d, const uint8_t *msg, size_t len, void *out);
    int (*encode)(const void *m, sb_buf *out);
    int (*same)(const void *a, const void *b);
    void (*clear)(void *m);
} fuzz_ops;

#define FUZZ_OPS(T, name)                                                                          \
    static int name##_decode_any(rdap_decoder *d, const uint8_t *msg, size_t len, void *out)       \
    {                                                                                              \
        return rdap_##name##_decode(d, msg, len, out);                                             \
    }                                                                                              \
    static int name##_encode_any(const void *m, sb_buf *out)                                       \
    {                                                                                              \
        return rdap_##name##_encode(m, out);                                                       \
    }                                                                                              \
    static int name##_same_any(const void *a, const void *b) { return name##s_same(a, b); }        \
    static void name##_clear_any(void *m) { rdap_##name##_clear(m); }                              \
    static const fuzz_ops name##_ops = {sizeof(T), name##_decode_any, name##_encode_any,           \
                                        name##_same_any, name##_clear_any};

FUZZ_OPS(rdap_broadcast, broadcast)
FUZZ_OPS(rdap_request, request)
FUZZ_OPS(rdap_response, response)

static const fuzz_ops *const FUZZ_KIND_OPS[FUZZ_KINDS] = {&broadcast_ops, &request_ops,
                                                          &response_ops};

static void check_round_trip(const fuzz_ops *ops, const void *m)
{
    sb_buf first, second;
    sb_buf_init(&first);
    sb_buf_init(&second);
    FUZZ_CHECK(ops->encode(m, &first) == RDAP_OK);
    void *again = malloc(ops->size);
    FUZZ_CHECK(again != NULL);
    rdap_decoder d;
    rdap_decoder_init(&d);
    FUZZ_CHECK(ops->decode(&d, first.data, first.len, again) == RDAP_OK);
    FUZZ_CHECK(ops->same(m, again));
    FUZZ_CHECK(ops->encode(again, &second) == RDAP_OK);
    FUZZ_CHECK(bufs_same(&first, &second));
    ops->clear(again);
    free(again);
    sb_buf_free(&first);
    sb_buf_free(&second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const fuzz_ops *ops = FUZZ_KIND_OPS[data[0] % FUZZ_KINDS];
    /* A heap copy of exactly the message, so reading past it is an ASan error. */
    size_t len = size - 1;
    uint8_t *msg = malloc(len > 0 ? len : 1);
    void *m = malloc(ops->size);
    FUZZ_CHECK(msg != NULL && m != NULL);
    if (len > 0)
        memcpy(msg, data + 1, len);
    rdap_decoder d;
    rdap_decoder_init(&d);
    if (ops->decode(&d, msg, len, m) == RDAP_OK)
        check_round_trip(ops, m);
    else
        FUZZ_CHECK(d.errstr[0] != '\0');
    ops->clear(m);
    free(m);
    free(msg);
    return 0;
}
