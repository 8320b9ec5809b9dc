/* redis_adapter.c: the Redis messages of @socket.io/redis-adapter and its emitter.
 *
 * Every message goes through one intermediate form, a jansson tree in Node's key order:
 * decoding turns the bytes (JSON text, or msgpack through redis_adapter_msgpack.c) into that
 * tree and then picks the fields out of it; encoding builds the tree from the struct and
 * writes it as JSON or packs it. Binary only travels on a message's binary path (a packet's
 * data, a BROADCAST_ACK's argument), as placeholders in the tree.
 */
#include "redis_adapter_codec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_adapter_msgpack.h"

#define RDAP_JSON_START        '{'
#define RDAP_CHANNEL_SEP       "#"
#define RDAP_REQUEST_SUFFIX    "-request"
#define RDAP_RESPONSE_SUFFIX   "-response"
#define RDAP_MAIN_NAMESPACE    "/"
#define RDAP_TYPE_COUNT        10
#define RDAP_PACKET_TYPE_COUNT 7
#define RDAP_BROADCAST_LEN     3 /* [uid, packet, opts] */
#define RDAP_JSON_ENCODE_FLAGS JSON_COMPACT
/* 2^63 as a double: the bound of the integers read as json_int_t. */
#define RDAP_TWO_POW_63  9223372036854775808.0
#define RDAP_DECIMAL_LEN 24

static const char *const RDAP_TYPE_NAMES[RDAP_TYPE_COUNT] = {
    "SOCKETS",          "ALL_ROOMS",         "REMOTE_JOIN",
    "REMOTE_LEAVE",     "REMOTE_DISCONNECT", "REMOTE_FETCH",
    "SERVER_SIDE_EMIT", "BROADCAST",         "BROADCAST_CLIENT_COUNT",
    "BROADCAST_ACK"};

/* The binary paths (redis_adapter_msgpack.h): a broadcast's packet is element 1. */
static const char *const RDAP_BROADCAST_BINARY_PATH[] = {"1", "data", NULL};
static const char *const RDAP_REQUEST_BINARY_PATH[] = {"packet", "data", NULL};
static const char *const RDAP_RESPONSE_BINARY_PATH[] = {"packet", NULL};

/* ---- lifetimes ---------------------------------------------------------------------- */

void rdap_rooms_init(rdap_rooms *r)
{
    r->names = NULL;
    r->n = 0;
}

void rdap_rooms_clear(rdap_rooms *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->names[i]);
    free(r->names);
    rdap_rooms_init(r);
}

static void rdap_rooms_push(rdap_rooms *r, char *owned)
{
    char **grown = realloc(r->names, (r->n + 1) * sizeof *r->names);
    if (grown == NULL) {
        fprintf(stderr, "redis_adapter: out of memory growing a room list\n");
        abort();
    }
    r->names = grown;
    r->names[r->n++] = owned;
}

void rdap_rooms_add(rdap_rooms *r, const char *name)
{
    rdap_rooms_push(r, sb_strndup(name, strlen(name)));
}

void rdap_opts_init(rdap_opts *o)
{
    rdap_rooms_init(&o->rooms);
    rdap_rooms_init(&o->except);
    o->flags = NULL;
}

void rdap_opts_clear(rdap_opts *o)
{
    rdap_rooms_clear(&o->rooms);
    rdap_rooms_clear(&o->except);
    json_decref(o->flags);
    o->flags = NULL;
}

/* What clearing and failed decodes leave: nothing allocated, so nothing left to free. */
static void rdap_broadcast_zero(rdap_broadcast *b)
{
    b->uid = NULL;
    siop_packet_init(&b->packet);
    rdap_opts_init(&b->opts);
}

void rdap_broadcast_init(rdap_broadcast *b)
{
    rdap_broadcast_zero(b);
    b->packet.type = SIOP_PACKET_EVENT;
    b->opts.flags = json_object();
}

void rdap_broadcast_clear(rdap_broadcast *b)
{
    free(b->uid);
    siop_packet_clear(&b->packet);
    rdap_opts_clear(&b->opts);
    rdap_broadcast_zero(b);
}

static void rdap_request_zero(rdap_request *r, rdap_type t)
{
    memset(r, 0, sizeof *r);
    r->type = t;
    siop_packet_init(&r->packet);
    rdap_opts_init(&r->opts);
    rdap_rooms_init(&r->rooms);
    r->close = RDAP_UNSET;
}

void rdap_request_init(rdap_request *r, rdap_type t)
{
    rdap_request_zero(r, t);
    switch (t) {
    case RDAP_SOCKETS: r->has_rooms = 1; break;
    case RDAP_REMOTE_JOIN:
    case RDAP_REMOTE_LEAVE: r->has_opts = r->has_rooms = 1; break;
    case RDAP_REMOTE_DISCONNECT:
        r->has_opts = 1;
        r->close = 0;
        break;
    case RDAP_REMOTE_FETCH: r->has_opts = 1; break;
    case RDAP_SERVER_SIDE_EMIT: r->data = json_array(); break;
    case RDAP_BROADCAST:
        r->has_packet = r->has_opts = 1;
        r->packet.type = SIOP_PACKET_EVENT;
        r->opts.flags = json_object();
        break;
    default: break;
    }
}

void rdap_request_clear(rdap_request *r)
{
    free(r->uid);
    free(r->request_id);
    free(r->sid);
    free(r->room);
    siop_packet_clear(&r->packet);
    rdap_opts_clear(&r->opts);
    rdap_rooms_clear(&r->rooms);
    json_decref(r->data);
    rdap_request_zero(r, RDAP_TYPE_NONE);
}

static void rdap_response_zero(rdap_response *r)
{
    memset(r, 0, sizeof *r);
    r->type = RDAP_TYPE_NONE;
    rdap_rooms_init(&r->rooms);
    r->client_count = RDAP_UNSET;
}

void rdap_response_init(rdap_response *r, rdap_type t)
{
    rdap_response_zero(r);
    switch (t) {
    case RDAP_SOCKETS:
    case RDAP_REMOTE_FETCH: r->sockets = json_array(); break;
    case RDAP_ALL_ROOMS: r->has_rooms = 1; break;
    case RDAP_BROADCAST_CLIENT_COUNT:
        r->client_count = 0;
        r->type = t;
        break;
    case RDAP_SERVER_SIDE_EMIT:
    case RDAP_BROADCAST_ACK: r->type = t; break;
    default: break;
    }
}

static void rdap_attachments_free(siop_attachment *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i].data);
    free(a);
}

void rdap_response_clear(rdap_response *r)
{
    free(r->request_id);
    json_decref(r->sockets);
    rdap_rooms_clear(&r->rooms);
    json_decref(r->data);
    json_decref(r->ack);
    rdap_attachments_free(r->ack_attachments, r->n_ack_attachments);
    rdap_response_zero(r);
}

void rdap_decoder_init(rdap_decoder *d) { d->errstr[0] = '\0'; }

const char *rdap_type_name(rdap_type t)
{
    return t >= 0 && t < RDAP_TYPE_COUNT ? RDAP_TYPE_NAMES[t] : "NONE";
}

int rdap_opts_volatile(const rdap_opts *o)
{
    return json_is_true(json_object_get(o->flags, RDAP_FLAG_VOLATILE));
}

int rdap_opts_compress(const rdap_opts *o)
{
    return !json_is_false(json_object_get(o->flags, RDAP_FLAG_COMPRESS));
}

/* ---- reading a message into JSON ------------------------------------------------------ */

/* A request or response: JSON when it starts with '{', msgpack otherwise (as Node reads). */
static json_t *rdap_message_load(rdap_reader *r, const uint8_t *msg, size_t len,
                                 const char *const *path)
{
    json_t *root;
    if (len > 0 && msg[0] == RDAP_JSON_START) {
        json_error_t err;
        root = siop_json_loadb((const char *)msg, len, &err);
        if (root == NULL) {
            rdap_fail(r->d, "invalid JSON: %s", err.text);
            return NULL;
        }
    } else if ((root = rdap_msgpack_read(r, msg, len, path)) == NULL) {
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        rdap_fail(r->d, "the message is not an object");
        return NULL;
    }
    return root;
}

/* ---- fields out of the JSON ------------------------------------------------------------ */

/* An integer, also when it arrived as an integral real (JavaScript does not tell them apart). */
static int rdap_json_int(const json_t *v, json_int_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 1;
    }
    double r = json_real_value(v);
    if (!json_is_real(v) || r != trunc(r) || r < -RDAP_TWO_POW_63 || r >= RDAP_TWO_POW_63)
        return 0;
    *out = (json_int_t)r;
    return 1;
}

/* Copies a name (uid, id, room…): a string without NUL, handed out as a C string. */
static int rdap_name_copy(rdap_decoder *d, const json_t *v, const char *what, char **out)
{
    if (!json_is_string(v))
        return rdap_fail(d, "%s is not a string", what);
    size_t n = json_string_length(v);
    if (memchr(json_string_value(v), '\0', n) != NULL)
        return rdap_fail(d, "%s holds a NUL byte", what);
    *out = sb_strndup(json_string_value(v), n);
    return RDAP_OK;
}

/* Copies the name under key when the object has one (*out stays NULL otherwise). */
static int rdap_take_name(rdap_decoder *d, const json_t *obj, const char *key, char **out)
{
    const json_t *v = json_object_get(obj, key);
    return v == NULL ? RDAP_OK : rdap_name_copy(d, v, key, out);
}

/* Rooms are strings, or integers in Node (socket.join(42)), which become their decimal text
 * as in the channel name Node builds for them. */
static int rdap_room_copy(rdap_decoder *d, const json_t *v, const char *what, char **out)
{
    if (!json_is_integer(v))
        return rdap_name_copy(d, v, what, out);
    char text[RDAP_DECIMAL_LEN];
    int n = snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    *out = sb_strndup(text, (size_t)n);
    return RDAP_OK;
}

/* Reads the room list under key, if any, into out (and sets *has). */
static int rdap_take_rooms(rdap_decoder *d, const json_t *obj, const char *key, rdap_rooms *out,
                           int *has)
{
    const json_t *arr = json_object_get(obj, key);
    if (arr == NULL)
        return RDAP_OK;
    if (!json_is_array(arr))
        return rdap_fail(d, "%s is not an array", key);
    *has = 1;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char *name;
        if (rdap_room_copy(d, json_array_get(arr, i), key, &name) != RDAP_OK)
            return RDAP_ERR;
        rdap_rooms_push(out, name);
    }
    return RDAP_OK;
}

static int rdap_opts_from_json(rdap_decoder *d, const json_t *v, rdap_opts *out)
{
    int has;
    if (!json_is_object(v))
        return rdap_fail(d, "opts is not an object");
    if (rdap_take_rooms(d, v, "rooms", &out->rooms, &has) != RDAP_OK ||
        rdap_take_rooms(d, v, "except", &out->except, &has) != RDAP_OK)
        return RDAP_ERR;
    json_t *flags = json_object_get(v, "flags");
    if (flags != NULL && !json_is_object(flags))
        return rdap_fail(d, "opts.flags is not an object");
    out->flags = json_incref(flags);
    return RDAP_OK;
}

/* Counts the objects in v that claim to be placeholders ("_placeholder": true is all
 * socket.io-parser looks at), without looking inside them. */
static size_t rdap_count_claims(const json_t *v)
{
    size_t count = 0, i;
    json_t *child;
    if (rdap_claims_placeholder(v))
        return 1;
    if (json_is_array(v)) {
        json_array_foreach(v, i, child) count += rdap_count_claims(child);
    } else if (json_is_object(v)) {
        /* jansson's iteration API is not const-qualified; nothing here writes. */
        json_t *obj = (json_t *)v;
        for (void *it = json_object_iter(obj); it != NULL; it = json_object_iter_next(obj, it))
            count += rdap_count_claims(json_object_iter_value(it));
    }
    return count;
}

/* Gives the bins met on the binary path to the value found there. Every placeholder in
 * value must be one the reader made: a JSON message has none, and a msgpack one has exactly
 * one per bin unless a key was repeated (the bins of the replaced value are then left over). */
static int rdap_attach_bins(rdap_reader *r, json_t *value, siop_attachment **att, size_t *n)
{
    size_t claims = rdap_count_claims(value);
    if (claims > r->n_bins)
        return rdap_fail(r->d, "data holds an object that looks like a placeholder");
    if (claims < r->n_bins)
        return rdap_fail(r->d, "binary data outside a packet's data");
    *att = rdap_reader_take_bins(r, value, n);
    return RDAP_OK;
}

static int rdap_type_is_binary(siop_packet_type t)
{
    return t == SIOP_PACKET_BINARY_EVENT || t == SIOP_PACKET_BINARY_ACK;
}

/* BINARY_EVENT and EVENT differ by 3 in Socket.IO's numbering, as BINARY_ACK and ACK do. */
#define RDAP_BINARY_TYPE_OFFSET (SIOP_PACKET_BINARY_EVENT - SIOP_PACKET_EVENT)

static int rdap_packet_header(rdap_decoder *d, const json_t *v, siop_packet *p)
{
    json_int_t type, id;
    if (!json_is_object(v))
        return rdap_fail(d, "packet is not an object");
    if (!rdap_json_int(json_object_get(v, "type"), &type) || type < 0 ||
        type >= RDAP_PACKET_TYPE_COUNT)
        return rdap_fail(d, "packet.type is not a Socket.IO packet type");
    p->type = (siop_packet_type)type;
    if (rdap_type_is_binary(p->type))
        p->type -= RDAP_BINARY_TYPE_OFFSET;
    const json_t *jid = json_object_get(v, "id");
    if (jid != NULL) {
        if (!rdap_json_int(jid, &id) || id < 0 || id > SIOP_MAX_ACK_ID)
            return rdap_fail(d, "packet.id is not an ack id");
        p->id = id;
    }
    if (json_object_get(v, "nsp") == NULL)
        p->nsp = sb_strndup(RDAP_MAIN_NAMESPACE, strlen(RDAP_MAIN_NAMESPACE));
    else if (rdap_name_copy(d, json_object_get(v, "nsp"), "packet.nsp", &p->nsp) != RDAP_OK)
        return RDAP_ERR;
    return RDAP_OK;
}

/* A packet on the Redis wire: {type, data, id?, nsp} with Node's EVENT/ACK types; the
 * attachments make it BINARY_EVENT/BINARY_ACK (see the header). */
static int rdap_packet_from_json(rdap_reader *r, const json_t *v, siop_packet *p)
{
    if (rdap_packet_header(r->d, v, p) != RDAP_OK)
        return RDAP_ERR;
    p->data = json_incref(json_object_get(v, "data"));
    if (rdap_attach_bins(r, p->data, &p->attachments, &p->n_attachments) != RDAP_OK)
        return RDAP_ERR;
    if (p->n_attachments == 0)
        return RDAP_OK;
    if (p->type != SIOP_PACKET_EVENT && p->type != SIOP_PACKET_ACK)
        return rdap_fail(r->d, "binary data in a %s packet", siop_packet_type_name(p->type));
    p->type += RDAP_BINARY_TYPE_OFFSET;
    return RDAP_OK;
}

/* ---- decoding ------------------------------------------------------------------------- */

/* Picks a message's fields out of its JSON root into out, a struct holding nothing yet. */
typedef int (*rdap_fields_fn)(rdap_reader *r, const json_t *root, void *out);

/* Reads msg (msgpack, or also JSON when json is set) and hands its root to fields. */
static int rdap_read_fields(rdap_decoder *d, const uint8_t *msg, size_t len, int json,
                            const char *const *path, rdap_fields_fn fields, void *out)
{
    rdap_reader r;
    rdap_reader_init(&r, d);
    json_t *root =
        json ? rdap_message_load(&r, msg, len, path) : rdap_msgpack_read(&r, msg, len, path);
    int rc = root != NULL ? fields(&r, root, out) : RDAP_ERR;
    json_decref(root);
    rdap_reader_free(&r);
    return rc;
}

static int rdap_broadcast_fields(rdap_reader *r, const json_t *root, void *out)
{
    rdap_broadcast *b = out;
    if (!json_is_array(root) || json_array_size(root) != RDAP_BROADCAST_LEN)
        return rdap_fail(r->d, "a broadcast is an array [uid, packet, opts]");
    if (rdap_name_copy(r->d, json_array_get(root, 0), "uid", &b->uid) != RDAP_OK ||
        rdap_packet_from_json(r, json_array_get(root, 1), &b->packet) != RDAP_OK)
        return RDAP_ERR;
    return rdap_opts_from_json(r->d, json_array_get(root, 2), &b->opts);
}

int rdap_broadcast_decode(rdap_decoder *d, const uint8_t *msg, size_t len, rdap_broadcast *out)
{
    rdap_broadcast b;
    rdap_broadcast_zero(&b);
    int rc =
        rdap_read_fields(d, msg, len, 0, RDAP_BROADCAST_BINARY_PATH, rdap_broadcast_fields, &b);
    if (rc != RDAP_OK)
        rdap_broadcast_clear(&b);
    *out = b;
    return rc;
}

/* msgpack's array and string headers (the format's spec), read by hand because msgpack-c
 * only unpacks whole objects: here only the first element's bytes matter. */
#define RDAP_MP_FIXARRAY 0x90
#define RDAP_MP_ARRAY16  0xdc
#define RDAP_MP_ARRAY32  0xdd
#define RDAP_MP_FIXSTR   0xa0
#define RDAP_MP_STR8     0xd9
#define RDAP_MP_STR16    0xda

int rdap_broadcast_sent_by(const uint8_t *msg, size_t len, const char *uid)
{
    size_t i, n;
    if (len < 2)
        return 0;
    if ((msg[0] & 0xf0) == RDAP_MP_FIXARRAY)
        i = 1;
    else if (msg[0] == RDAP_MP_ARRAY16)
        i = 3;
    else if (msg[0] == RDAP_MP_ARRAY32)
        i = 5;
    else
        return 0;
    if (i >= len)
        return 0;
    uint8_t h = msg[i++];
    if ((h & 0xe0) == RDAP_MP_FIXSTR) {
        n = h & 0x1f;
    } else if (h == RDAP_MP_STR8 && i < len) {
        n = msg[i++];
    } else if (h == RDAP_MP_STR16 && i + 1 < len) {
        n = (size_t)msg[i] << 8 | msg[i + 1];
        i += 2;
    } else {
        return 0;
    }
    return n == strlen(uid) && n <= len - i && memcmp(msg + i, uid, n) == 0;
}

/* close is a boolean (Node's socket.disconnect(close)). */
static int rdap_take_close(rdap_decoder *d, const json_t *obj, int *close)
{
    const json_t *v = json_object_get(obj, "close");
    if (v == NULL)
        return RDAP_OK;
    if (!json_is_boolean(v))
        return rdap_fail(d, "close is not a boolean");
    *close = json_is_true(v);
    return RDAP_OK;
}

static int rdap_take_type(rdap_decoder *d, const json_t *obj, rdap_type *type)
{
    const json_t *v = json_object_get(obj, "type");
    json_int_t t;
    if (v == NULL)
        return RDAP_OK;
    if (!rdap_json_int(v, &t) || t < 0 || t >= RDAP_TYPE_COUNT)
        return rdap_fail(d, "unknown request type");
    *type = (rdap_type)t;
    return RDAP_OK;
}

/* Whether v nests more than limit containers (counting v itself). */
static int rdap_json_deeper(const json_t *v, int limit)
{
    size_t i;
    json_t *child;
    if (!json_is_array(v) && !json_is_object(v))
        return 0;
    if (limit == 0)
        return 1;
    if (json_is_array(v)) {
        json_array_foreach(v, i, child) if (rdap_json_deeper(child, limit - 1)) return 1;
        return 0;
    }
    json_t *obj = (json_t *)v; /* iteration only reads */
    for (void *it = json_object_iter(obj); it != NULL; it = json_object_iter_next(obj, it))
        if (rdap_json_deeper(json_object_iter_value(it), limit - 1))
            return 1;
    return 0;
}

/* A message of a type Node packs may have come as JSON, which nests deeper than msgpack-c
 * reads: refuse what could not be encoded again. */
static int rdap_check_packable(rdap_decoder *d, const json_t *root)
{
    if (rdap_json_deeper(root, RDAP_MAX_DEPTH))
        return rdap_fail(d, "nested deeper than %d", RDAP_MAX_DEPTH);
    return RDAP_OK;
}

static int rdap_request_fields(rdap_reader *r, const json_t *root, void *out)
{
    rdap_request *q = out;
    rdap_decoder *d = r->d;
    const json_t *v;
    if (rdap_take_type(d, root, &q->type) != RDAP_OK)
        return RDAP_ERR;
    if (q->type == RDAP_TYPE_NONE)
        return rdap_fail(d, "request without a type");
    if (q->type == RDAP_BROADCAST && rdap_check_packable(d, root) != RDAP_OK)
        return RDAP_ERR;
    if (rdap_take_name(d, root, "uid", &q->uid) != RDAP_OK ||
        rdap_take_name(d, root, "requestId", &q->request_id) != RDAP_OK ||
        rdap_take_name(d, root, "sid", &q->sid) != RDAP_OK ||
        rdap_take_name(d, root, "room", &q->room) != RDAP_OK ||
        rdap_take_rooms(d, root, "rooms", &q->rooms, &q->has_rooms) != RDAP_OK ||
        rdap_take_close(d, root, &q->close) != RDAP_OK)
        return RDAP_ERR;
    v = json_object_get(root, "packet");
    q->has_packet = v != NULL;
    if (v != NULL && rdap_packet_from_json(r, v, &q->packet) != RDAP_OK)
        return RDAP_ERR;
    v = json_object_get(root, "opts");
    q->has_opts = v != NULL;
    if (v != NULL && rdap_opts_from_json(d, v, &q->opts) != RDAP_OK)
        return RDAP_ERR;
    q->data = json_incref(json_object_get(root, "data"));
    /* Node applies the event to the data array: anything else would throw there. */
    if (q->type == RDAP_SERVER_SIDE_EMIT && q->data != NULL && !json_is_array(q->data))
        return rdap_fail(d, "SERVER_SIDE_EMIT data is not an array");
    return RDAP_OK;
}

int rdap_request_decode(rdap_decoder *d, const uint8_t *msg, size_t len, rdap_request *out)
{
    rdap_request q;
    rdap_request_zero(&q, RDAP_TYPE_NONE);
    int rc = rdap_read_fields(d, msg, len, 1, RDAP_REQUEST_BINARY_PATH, rdap_request_fields, &q);
    if (rc != RDAP_OK)
        rdap_request_clear(&q);
    *out = q;
    return rc;
}

static int rdap_take_client_count(rdap_decoder *d, const json_t *obj, int64_t *count)
{
    const json_t *v = json_object_get(obj, "clientCount");
    json_int_t n;
    if (v == NULL)
        return RDAP_OK;
    if (!rdap_json_int(v, &n) || n < 0)
        return rdap_fail(d, "clientCount is not a count");
    *count = n;
    return RDAP_OK;
}

static int rdap_response_fields(rdap_reader *r, const json_t *root, void *out)
{
    rdap_response *p = out;
    rdap_decoder *d = r->d;
    if (rdap_take_type(d, root, &p->type) != RDAP_OK ||
        rdap_take_name(d, root, "requestId", &p->request_id) != RDAP_OK ||
        rdap_take_rooms(d, root, "rooms", &p->rooms, &p->has_rooms) != RDAP_OK ||
        rdap_take_client_count(d, root, &p->client_count) != RDAP_OK ||
        (p->type == RDAP_BROADCAST_ACK && rdap_check_packable(d, root) != RDAP_OK))
        return RDAP_ERR;
    p->sockets = json_incref(json_object_get(root, "sockets"));
    if (p->sockets != NULL && !json_is_array(p->sockets))
        return rdap_fail(d, "sockets is not an array");
    p->data = json_incref(json_object_get(root, "data"));
    p->ack = json_incref(json_object_get(root, "packet"));
    return rdap_attach_bins(r, p->ack, &p->ack_attachments, &p->n_ack_attachments);
}

int rdap_response_decode(rdap_decoder *d, const uint8_t *msg, size_t len, rdap_response *out)
{
    rdap_response p;
    rdap_response_zero(&p);
    int rc = rdap_read_fields(d, msg, len, 1, RDAP_RESPONSE_BINARY_PATH, rdap_response_fields, &p);
    if (rc != RDAP_OK)
        rdap_response_clear(&p);
    *out = p;
    return rc;
}

/* ---- struct to JSON ------------------------------------------------------------------- */

/* Adds v (stolen) under key; fails when v is NULL, i.e. could not be built. */
static int rdap_set(json_t *obj, const char *key, json_t *v)
{
    return v != NULL && json_object_set_new(obj, key, v) == 0 ? RDAP_OK : RDAP_ERR;
}

static json_t *rdap_name_json(const char *name) { return name != NULL ? json_string(name) : NULL; }

static json_t *rdap_rooms_json(const rdap_rooms *r)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < r->n; i++) {
        json_t *name = rdap_name_json(r->names[i]);
        if (name == NULL || json_array_append_new(arr, name) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static int rdap_set_flags(json_t *obj, const rdap_opts *o)
{
    return o->flags == NULL || rdap_set(obj, "flags", json_incref(o->flags)) == RDAP_OK ? RDAP_OK
                                                                                        : RDAP_ERR;
}

/* {rooms, except, flags?} as the adapter writes it, or {rooms, flags, except} as the
 * emitter does. */
static json_t *rdap_opts_json(const rdap_opts *o, int emitter)
{
    json_t *obj = json_object();
    if ((o->flags != NULL && !json_is_object(o->flags)) ||
        rdap_set(obj, "rooms", rdap_rooms_json(&o->rooms)) != RDAP_OK ||
        (emitter && rdap_set_flags(obj, o) != RDAP_OK) ||
        rdap_set(obj, "except", rdap_rooms_json(&o->except)) != RDAP_OK ||
        (!emitter && rdap_set_flags(obj, o) != RDAP_OK)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Whether every placeholder claim in v is a placeholder of one of n attachments. */
static int rdap_placeholders_valid(const json_t *v, size_t n)
{
    size_t i, num;
    json_t *child;
    if (rdap_claims_placeholder(v))
        return siop_placeholder_num(v, &num) && num < n;
    if (json_is_array(v)) {
        json_array_foreach(v, i, child) if (!rdap_placeholders_valid(child, n)) return 0;
    } else if (json_is_object(v)) {
        json_t *obj = (json_t *)v; /* iteration only reads */
        for (void *it = json_object_iter(obj); it != NULL; it = json_object_iter_next(obj, it))
            if (!rdap_placeholders_valid(json_object_iter_value(it), n))
                return 0;
    }
    return 1;
}

/* {type, data?, id?, nsp} with the type Node writes: EVENT/ACK for the binary ones. */
static json_t *rdap_packet_json(const siop_packet *p)
{
    siop_packet_type wire = p->type;
    if ((unsigned)p->type >= RDAP_PACKET_TYPE_COUNT ||
        (p->id != SIOP_NO_ACK && (p->id < 0 || p->id > SIOP_MAX_ACK_ID)) ||
        !rdap_placeholders_valid(p->data, p->n_attachments))
        return NULL;
    if (rdap_type_is_binary(wire))
        wire -= RDAP_BINARY_TYPE_OFFSET;
    if (p->n_attachments > 0 && wire != SIOP_PACKET_EVENT && wire != SIOP_PACKET_ACK)
        return NULL;
    json_t *obj = json_object();
    if (rdap_set(obj, "type", json_integer(wire)) != RDAP_OK ||
        (p->data != NULL && rdap_set(obj, "data", json_incref(p->data)) != RDAP_OK) ||
        (p->id != SIOP_NO_ACK && rdap_set(obj, "id", json_integer(p->id)) != RDAP_OK) ||
        rdap_set(obj, "nsp", rdap_name_json(p->nsp != NULL ? p->nsp : RDAP_MAIN_NAMESPACE)) !=
            RDAP_OK) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static int rdap_type_valid(rdap_type t) { return t >= 0 && t < RDAP_TYPE_COUNT; }

/* Node's key order: uid, requestId, type, sid, room, packet, opts, rooms, close, data. */
static json_t *rdap_request_json(const rdap_request *q)
{
    if (!rdap_type_valid(q->type))
        return NULL;
    json_t *obj = json_object();
    if ((q->uid != NULL && rdap_set(obj, "uid", rdap_name_json(q->uid)) != RDAP_OK) ||
        (q->request_id != NULL &&
         rdap_set(obj, "requestId", rdap_name_json(q->request_id)) != RDAP_OK) ||
        rdap_set(obj, "type", json_integer(q->type)) != RDAP_OK ||
        (q->sid != NULL && rdap_set(obj, "sid", rdap_name_json(q->sid)) != RDAP_OK) ||
        (q->room != NULL && rdap_set(obj, "room", rdap_name_json(q->room)) != RDAP_OK) ||
        (q->has_packet && rdap_set(obj, "packet", rdap_packet_json(&q->packet)) != RDAP_OK) ||
        (q->has_opts && rdap_set(obj, "opts", rdap_opts_json(&q->opts, 0)) != RDAP_OK) ||
        (q->has_rooms && rdap_set(obj, "rooms", rdap_rooms_json(&q->rooms)) != RDAP_OK) ||
        (q->close != RDAP_UNSET && rdap_set(obj, "close", json_boolean(q->close)) != RDAP_OK) ||
        (q->data != NULL && rdap_set(obj, "data", json_incref(q->data)) != RDAP_OK)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Node's key order: type, requestId, sockets, rooms, data, clientCount, packet. */
static json_t *rdap_response_json(const rdap_response *p)
{
    if ((p->type != RDAP_TYPE_NONE && !rdap_type_valid(p->type)) ||
        (p->client_count != RDAP_UNSET && p->client_count < 0) ||
        !rdap_placeholders_valid(p->ack, p->n_ack_attachments))
        return NULL;
    json_t *obj = json_object();
    if ((p->type != RDAP_TYPE_NONE && rdap_set(obj, "type", json_integer(p->type)) != RDAP_OK) ||
        (p->request_id != NULL &&
         rdap_set(obj, "requestId", rdap_name_json(p->request_id)) != RDAP_OK) ||
        (p->sockets != NULL && rdap_set(obj, "sockets", json_incref(p->sockets)) != RDAP_OK) ||
        (p->has_rooms && rdap_set(obj, "rooms", rdap_rooms_json(&p->rooms)) != RDAP_OK) ||
        (p->data != NULL && rdap_set(obj, "data", json_incref(p->data)) != RDAP_OK) ||
        (p->client_count != RDAP_UNSET &&
         rdap_set(obj, "clientCount", json_integer(p->client_count)) != RDAP_OK) ||
        (p->ack != NULL && rdap_set(obj, "packet", json_incref(p->ack)) != RDAP_OK)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* ---- encoding ------------------------------------------------------------------------- */

static int rdap_json_write(const char *buffer, size_t size, void *data)
{
    sb_buf_append(data, buffer, size);
    return 0;
}

/* Appends root (stolen; NULL when it could not be built) as msgpack, with att going where
 * its placeholders are on path, or as JSON. Leaves out as it was on failure. */
static int rdap_write(sb_buf *out, json_t *root, int msgpack, const char *const *path,
                      const siop_attachment *att, size_t n_att)
{
    size_t mark = out->len;
    int rc = RDAP_ERR;
    if (root != NULL && msgpack) {
        rc = rdap_msgpack_write(out, root, path, att, n_att);
    } else if (root != NULL) {
        rc = json_dump_callback(root, rdap_json_write, out, RDAP_JSON_ENCODE_FLAGS) == 0 ? RDAP_OK
                                                                                         : RDAP_ERR;
    }
    json_decref(root);
    if (rc != RDAP_OK)
        out->len = mark;
    return rc;
}

int rdap_broadcast_encode(const rdap_broadcast *b, sb_buf *out)
{
    int emitter = b->uid != NULL && strcmp(b->uid, RDAP_EMITTER_UID) == 0;
    json_t *root = json_array();
    if (json_array_append_new(root, rdap_name_json(b->uid)) != 0 ||
        json_array_append_new(root, rdap_packet_json(&b->packet)) != 0 ||
        json_array_append_new(root, rdap_opts_json(&b->opts, emitter)) != 0) {
        json_decref(root);
        root = NULL;
    }
    return rdap_write(out, root, 1, RDAP_BROADCAST_BINARY_PATH, b->packet.attachments,
                      b->packet.n_attachments);
}

/* Node packs BROADCAST requests and BROADCAST_ACK responses, and JSON cannot hold binary. */
int rdap_request_encode(const rdap_request *q, sb_buf *out)
{
    int binary = q->has_packet && q->packet.n_attachments > 0;
    return rdap_write(out, rdap_request_json(q), q->type == RDAP_BROADCAST || binary,
                      RDAP_REQUEST_BINARY_PATH, q->packet.attachments, q->packet.n_attachments);
}

int rdap_response_encode(const rdap_response *p, sb_buf *out)
{
    return rdap_write(out, rdap_response_json(p),
                      p->type == RDAP_BROADCAST_ACK || p->n_ack_attachments > 0,
                      RDAP_RESPONSE_BINARY_PATH, p->ack_attachments, p->n_ack_attachments);
}

/* ---- channels ------------------------------------------------------------------------- */

static void rdap_channel_start(sb_buf *out, const char *key, const char *suffix, const char *nsp)
{
    sb_buf_append_str(out, key != NULL ? key : RDAP_DEFAULT_KEY);
    sb_buf_append_str(out, suffix);
    sb_buf_append_str(out, RDAP_CHANNEL_SEP);
    sb_buf_append_str(out, nsp != NULL ? nsp : RDAP_MAIN_NAMESPACE);
    sb_buf_append_str(out, RDAP_CHANNEL_SEP);
}

void rdap_channel_broadcast(sb_buf *out, const char *key, const char *nsp, const char *room)
{
    rdap_channel_start(out, key, "", nsp);
    if (room != NULL) {
        sb_buf_append_str(out, room);
        sb_buf_append_str(out, RDAP_CHANNEL_SEP);
    }
}

void rdap_channel_broadcast_for(sb_buf *out, const char *key, const char *nsp,
                                const rdap_opts *opts)
{
    rdap_channel_broadcast(out, key, nsp, opts->rooms.n == 1 ? opts->rooms.names[0] : NULL);
}

/* Redis glob patterns give a meaning to these; a backslash makes them plain. */
static void rdap_glob_escaped(sb_buf *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (strchr("*?[]\\", *s) != NULL)
            sb_buf_append_byte(out, '\\');
        sb_buf_append_byte(out, (uint8_t)*s);
    }
}

void rdap_channel_broadcast_pattern(sb_buf *out, const char *key, const char *nsp)
{
    rdap_glob_escaped(out, key != NULL ? key : RDAP_DEFAULT_KEY);
    sb_buf_append_str(out, RDAP_CHANNEL_SEP);
    rdap_glob_escaped(out, nsp != NULL ? nsp : RDAP_MAIN_NAMESPACE);
    sb_buf_append_str(out, RDAP_CHANNEL_SEP "*");
}

void rdap_channel_request(sb_buf *out, const char *key, const char *nsp)
{
    rdap_channel_start(out, key, RDAP_REQUEST_SUFFIX, nsp);
}

void rdap_channel_response(sb_buf *out, const char *key, const char *nsp, const char *uid)
{
    rdap_channel_start(out, key, RDAP_RESPONSE_SUFFIX, nsp);
    if (uid != NULL) {
        sb_buf_append_str(out, uid);
        sb_buf_append_str(out, RDAP_CHANNEL_SEP);
    }
}

int rdap_channel_broadcast_room(const char *channel, size_t len, const char *key, const char *nsp,
                                const char **room, size_t *room_len)
{
    sb_buf prefix;
    sb_buf_init(&prefix);
    rdap_channel_broadcast(&prefix, key, nsp, NULL);
    int match = len >= prefix.len && memcmp(channel, prefix.data, prefix.len) == 0;
    size_t rest = match ? len - prefix.len : 0;
    sb_buf_free(&prefix);
    /* Nothing after the prefix, or a room (which may be "") and its closing '#'. */
    if (!match || (rest > 0 && channel[len - 1] != RDAP_CHANNEL_SEP[0]))
        return 0;
    *room = channel + (len - rest);
    *room_len = rest > 0 ? rest - 1 : 0;
    return 1;
}
