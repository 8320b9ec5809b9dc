/* redis_adapter_msgpack.c: msgpack in and out of jansson, as notepack.io and JavaScript
 * see it (see redis_adapter_msgpack.h for the binary path).
 *
 * msgpack-c allocates every array and map it is told about before reading its elements,
 * so a 5-byte message declaring 2^32 elements costs it gigabytes: rdap_msgpack_check() walks
 * the headers first and refuses any count the remaining bytes cannot hold. Packing follows
 * notepack.io's choices, which msgpack-c shares for ints, strings, bins and containers;
 * what is left is JavaScript's: integral doubles are ints, and object keys that are array
 * indices come first.
 */
#include "redis_adapter_msgpack.h"

#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RDAP_PLACEHOLDER_KEY     "_placeholder"
#define RDAP_PLACEHOLDER_NUM_KEY "num"
/* msgpack-c writes lengths and counts as 32-bit numbers at most. */
#define RDAP_MSGPACK_MAX_LEN UINT32_MAX
/* The msgpack ext types notepack.io reads: timestamps (the spec's), and ArrayBuffers, which
 * notepack.io 2.x wrote as ext 0 and 3.x still reads as binary. */
#define RDAP_EXT_TIMESTAMP   (-1)
#define RDAP_EXT_ARRAYBUFFER 0
/* JavaScript object keys that are array indices (canonical decimal, below 2^32 - 1) are
 * enumerated first, in numeric order; notepack.io writes keys in that order. */
#define RDAP_ARRAY_INDEX_MAX    4294967294ULL
#define RDAP_ARRAY_INDEX_DIGITS 10
/* 2^63 and 2^64 as doubles: the ranges of msgpack's int64 and uint64. */
#define RDAP_TWO_POW_63 9223372036854775808.0
#define RDAP_TWO_POW_64 18446744073709551616.0
/* A JavaScript Date holds at most 8.64e15 ms either side of the epoch. */
#define RDAP_DATE_MAX_MS 8640000000000000LL
#define RDAP_MS_PER_S    1000LL
#define RDAP_NS_PER_MS   1000000LL
#define RDAP_MS_PER_DAY  86400000LL
#define RDAP_ISO_LEN     32
#define RDAP_INDEX_LEN   24

void *rdap_alloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "redis_adapter: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return p;
}

int rdap_fail(rdap_decoder *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->errstr, sizeof d->errstr, fmt, ap);
    va_end(ap);
    return RDAP_ERR;
}

int rdap_claims_placeholder(const json_t *v)
{
    return json_is_true(json_object_get(v, RDAP_PLACEHOLDER_KEY));
}

/* The rest of path below the element called (key, len), or NULL when the element is not
 * on it. An empty rest means the element is the binary path's value itself. */
static const char *const *rdap_path_step(const char *const *path, const char *key, size_t len)
{
    if (path == NULL || path[0] == NULL || strlen(path[0]) != len || memcmp(path[0], key, len) != 0)
        return NULL;
    return path + 1;
}

static const char *const *rdap_path_index(const char *const *path, size_t i, char *buf)
{
    if (path == NULL || path[0] == NULL)
        return NULL; /* off the binary path: no index to write */
    int n = snprintf(buf, RDAP_INDEX_LEN, "%zu", i);
    return rdap_path_step(path, buf, (size_t)n);
}

/* ---- JavaScript's key order ----------------------------------------------------------- */

/* JavaScript's array index keys: canonical decimal below 2^32 - 1. */
static int rdap_array_index(const char *key, size_t len, uint64_t *index)
{
    uint64_t v = 0;
    if (len == 0 || len > RDAP_ARRAY_INDEX_DIGITS || (len > 1 && key[0] == '0'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (key[i] < '0' || key[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(key[i] - '0');
    }
    *index = v;
    return v <= RDAP_ARRAY_INDEX_MAX;
}

/* Where a key goes in Object.keys() order: array indices first, ascending, then the other
 * keys in insertion order. */
typedef struct rdap_key_rank {
    uint64_t index; /* the array index, when is_index */
    size_t pos;     /* insertion order */
    int is_index;
} rdap_key_rank;

/* Ranks the key (key, len) inserted at pos; returns whether it is an array index. */
static int rdap_key_rank_set(rdap_key_rank *k, const char *key, size_t len, size_t pos)
{
    k->pos = pos;
    k->index = 0;
    k->is_index = rdap_array_index(key, len, &k->index);
    return k->is_index;
}

static int rdap_key_rank_cmp(const void *pa, const void *pb)
{
    const rdap_key_rank *a = pa, *b = pb;
    if (a->is_index != b->is_index)
        return a->is_index ? -1 : 1;
    if (a->is_index && a->index != b->index)
        return a->index < b->index ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

#define RDAP_ENTRIES_ON_STACK 16 /* objects up to this many keys need no allocation */

/* ---- msgpack structure check ---------------------------------------------------------- */

typedef enum rdap_mp_kind {
    RDAP_MP_SCALAR, /* fixed size: nil, booleans, numbers, fixext */
    RDAP_MP_SIZED,  /* a length, then that many bytes: str, bin, ext */
    RDAP_MP_ARRAY,
    RDAP_MP_MAP,
    RDAP_MP_INVALID /* 0xc1, which the format never uses */
} rdap_mp_kind;

/* The markers 0xc0..0xdf: what follows the marker byte. */
typedef struct rdap_mp_marker {
    uint8_t kind;     /* rdap_mp_kind */
    uint8_t size_len; /* bytes of the big-endian length or count after the marker */
    uint8_t extra;    /* bytes between that and the body (the ext type) */
    uint8_t fixed;    /* body bytes of a scalar */
} rdap_mp_marker;

#define RDAP_MP_MARKER_FIRST 0xc0
static const rdap_mp_marker RDAP_MP_MARKERS[] = {
    {RDAP_MP_SCALAR, 0, 0, 0},  {RDAP_MP_INVALID, 0, 0, 0}, {RDAP_MP_SCALAR, 0, 0, 0}, /* c0-c2 */
    {RDAP_MP_SCALAR, 0, 0, 0},  {RDAP_MP_SIZED, 1, 0, 0},   {RDAP_MP_SIZED, 2, 0, 0},  /* c3-c5 */
    {RDAP_MP_SIZED, 4, 0, 0},   {RDAP_MP_SIZED, 1, 1, 0},   {RDAP_MP_SIZED, 2, 1, 0},  /* c6-c8 */
    {RDAP_MP_SIZED, 4, 1, 0},   {RDAP_MP_SCALAR, 0, 0, 4},  {RDAP_MP_SCALAR, 0, 0, 8}, /* c9-cb */
    {RDAP_MP_SCALAR, 0, 0, 1},  {RDAP_MP_SCALAR, 0, 0, 2},  {RDAP_MP_SCALAR, 0, 0, 4}, /* cc-ce */
    {RDAP_MP_SCALAR, 0, 0, 8},  {RDAP_MP_SCALAR, 0, 0, 1},  {RDAP_MP_SCALAR, 0, 0, 2}, /* cf-d1 */
    {RDAP_MP_SCALAR, 0, 0, 4},  {RDAP_MP_SCALAR, 0, 0, 8},  {RDAP_MP_SCALAR, 0, 0, 2}, /* d2-d4 */
    {RDAP_MP_SCALAR, 0, 0, 3},  {RDAP_MP_SCALAR, 0, 0, 5},  {RDAP_MP_SCALAR, 0, 0, 9}, /* d5-d7 */
    {RDAP_MP_SCALAR, 0, 0, 17}, {RDAP_MP_SIZED, 1, 0, 0},   {RDAP_MP_SIZED, 2, 0, 0},  /* d8-da */
    {RDAP_MP_SIZED, 4, 0, 0},   {RDAP_MP_ARRAY, 2, 0, 0},   {RDAP_MP_ARRAY, 4, 0, 0},  /* db-dd */
    {RDAP_MP_MAP, 2, 0, 0},     {RDAP_MP_MAP, 4, 0, 0}};                               /* de-df */

/* One value's header: its kind, header bytes, then body bytes or elements (a map's count
 * doubled: keys and values). */
typedef struct rdap_mp_head {
    rdap_mp_kind kind;
    size_t head;
    uint64_t size;
} rdap_mp_head;

static void rdap_mp_fix(rdap_mp_head *h, rdap_mp_kind kind, uint64_t size)
{
    h->kind = kind;
    h->head = 1;
    h->size = kind == RDAP_MP_MAP ? 2 * size : size;
}

/* Reads the header at p (avail > 0 bytes). Returns 0 when it runs past avail. */
static int rdap_mp_read_head(const uint8_t *p, size_t avail, rdap_mp_head *h)
{
    uint8_t m = p[0];
    if (m <= 0x7f || m >= 0xe0)
        rdap_mp_fix(h, RDAP_MP_SCALAR, 0);
    else if (m <= 0x8f)
        rdap_mp_fix(h, RDAP_MP_MAP, m & 0x0f);
    else if (m <= 0x9f)
        rdap_mp_fix(h, RDAP_MP_ARRAY, m & 0x0f);
    else if (m < RDAP_MP_MARKER_FIRST)
        rdap_mp_fix(h, RDAP_MP_SIZED, m & 0x1f);
    else {
        const rdap_mp_marker *mk = &RDAP_MP_MARKERS[m - RDAP_MP_MARKER_FIRST];
        if (1 + (size_t)mk->size_len > avail)
            return 0;
        uint64_t n = mk->fixed;
        for (size_t i = 1; i <= mk->size_len; i++)
            n = n << 8 | p[i];
        rdap_mp_fix(h, (rdap_mp_kind)mk->kind, n);
        h->head = 1 + mk->size_len + mk->extra;
    }
    return h->head <= avail;
}

/* Checks that msg is exactly one msgpack value, nested at most RDAP_MAX_DEPTH containers
 * deep (msgpack-c's limit, counting empty containers too), with every declared count and
 * length present. pending[k] counts the elements still due at nesting level k. */
static int rdap_msgpack_check(rdap_decoder *d, const uint8_t *msg, size_t len)
{
    uint64_t pending[RDAP_MAX_DEPTH + 1];
    size_t level = 0, pos = 0;
    pending[0] = 1;
    for (;;) {
        while (pending[level] == 0) {
            if (level == 0)
                return pos == len ? RDAP_OK : rdap_fail(d, "%zu trailing bytes", len - pos);
            level--;
        }
        rdap_mp_head h;
        if (pos >= len || !rdap_mp_read_head(msg + pos, len - pos, &h))
            return rdap_fail(d, "truncated msgpack");
        pending[level]--;
        pos += h.head;
        if (h.kind == RDAP_MP_INVALID)
            return rdap_fail(d, "invalid msgpack marker 0x%02x", msg[pos - 1]);
        if (h.kind == RDAP_MP_SCALAR || h.kind == RDAP_MP_SIZED) {
            if (h.size > len - pos)
                return rdap_fail(d, "truncated msgpack");
            pos += (size_t)h.size;
            continue;
        }
        if (level + 1 > RDAP_MAX_DEPTH)
            return rdap_fail(d, "nested deeper than %d", RDAP_MAX_DEPTH);
        /* Every element takes at least one byte. */
        if (h.size > len - pos)
            return rdap_fail(d, "msgpack count beyond the message");
        pending[++level] = h.size;
    }
}

/* ---- msgpack to JSON ------------------------------------------------------------------ */

void rdap_reader_init(rdap_reader *r, rdap_decoder *d)
{
    r->d = d;
    r->bins = NULL;
    r->n_bins = r->cap_bins = 0;
}

void rdap_reader_free(rdap_reader *r)
{
    free(r->bins);
    r->bins = NULL;
    r->n_bins = r->cap_bins = 0;
}

static json_t *rdap_reader_add_bin(rdap_reader *r, const char *ptr, size_t len)
{
    if (r->n_bins == r->cap_bins) {
        size_t cap = r->cap_bins > 0 ? 2 * r->cap_bins : 4;
        rdap_bin *grown = realloc(r->bins, cap * sizeof *grown);
        if (grown == NULL) {
            fprintf(stderr, "redis_adapter: out of memory collecting binary values\n");
            abort();
        }
        r->bins = grown;
        r->cap_bins = cap;
    }
    r->bins[r->n_bins] = (rdap_bin){ptr, len};
    return siop_placeholder_new(r->n_bins++);
}

/* Numbers the placeholders below v in the order they come, depth-first in the tree's key
 * order, and puts their bins in that order into ordered (r->n_bins of them). */
static void rdap_renumber_bins(const rdap_reader *r, json_t *v, rdap_bin *ordered, size_t *next)
{
    size_t num, i;
    json_t *child;
    if (siop_placeholder_num(v, &num)) {
        /* Every placeholder here is one the reader made, for a bin of its own. */
        if (num >= r->n_bins || *next >= r->n_bins) {
            fprintf(stderr, "redis_adapter: a placeholder without its bin\n");
            abort();
        }
        ordered[*next] = r->bins[num];
        json_integer_set(json_object_get(v, RDAP_PLACEHOLDER_NUM_KEY), (json_int_t)(*next)++);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child) rdap_renumber_bins(r, child, ordered, next);
    } else if (json_is_object(v)) {
        for (void *it = json_object_iter(v); it != NULL; it = json_object_iter_next(v, it))
            rdap_renumber_bins(r, json_object_iter_value(it), ordered, next);
    }
}

/* Hands the bins over as owned copies, numbered as rdap_pack() will meet them: the reader
 * numbers them in the message's order, but a repeated key keeps the place of its first
 * occurrence in the object (as in JavaScript) with the value of its last. */
siop_attachment *rdap_reader_take_bins(rdap_reader *r, json_t *value, size_t *n)
{
    *n = r->n_bins;
    if (r->n_bins == 0)
        return NULL;
    rdap_bin *ordered = rdap_alloc(r->n_bins * sizeof *ordered);
    size_t met = 0;
    rdap_renumber_bins(r, value, ordered, &met);
    if (met != r->n_bins) {
        fprintf(stderr, "redis_adapter: %zu bins for %zu placeholders\n", r->n_bins, met);
        abort();
    }
    siop_attachment *a = rdap_alloc(r->n_bins * sizeof *a);
    for (size_t i = 0; i < r->n_bins; i++) {
        a[i].len = ordered[i].len;
        a[i].data = rdap_alloc(a[i].len);
        if (a[i].len > 0)
            memcpy(a[i].data, ordered[i].ptr, a[i].len);
    }
    free(ordered);
    r->n_bins = 0;
    return a;
}

/* A number as JavaScript holds it: integral values are integers (JSON.stringify writes
 * them without a fraction, and notepack.io packs them as ints), NaN and the infinities are
 * what JSON.stringify makes of them, null. */
static json_t *rdap_json_number(double v)
{
    if (!isfinite(v))
        return json_null();
    if (v == trunc(v) && v >= -RDAP_TWO_POW_63 && v < RDAP_TWO_POW_63)
        return json_integer((json_int_t)v);
    return json_real(v);
}

static int64_t rdap_floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Date.prototype.toISOString() of ms since the epoch (|ms| <= RDAP_DATE_MAX_MS), with the
 * civil-from-days conversion of H. Hinnant's "chrono-compatible date algorithms". */
static json_t *rdap_iso_date(int64_t ms)
{
    int64_t days = rdap_floor_div(ms, RDAP_MS_PER_DAY), in_day = ms - days * RDAP_MS_PER_DAY;
    int64_t z = days + 719468, era = rdap_floor_div(z, 146097), doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (month <= 2);
    char iso[RDAP_ISO_LEN], ystr[RDAP_ISO_LEN];
    /* Years outside 0..9999 take the expanded form: a sign and six digits. */
    if (year >= 0 && year <= 9999)
        snprintf(ystr, sizeof ystr, "%04lld", (long long)year);
    else
        snprintf(ystr, sizeof ystr, "%c%06lld", year < 0 ? '-' : '+',
                 (long long)(year < 0 ? -year : year));
    snprintf(iso, sizeof iso, "%s-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ", ystr,
             (long long)month, (long long)day, (long long)(in_day / 3600000),
             (long long)(in_day / 60000 % 60), (long long)(in_day / 1000 % 60),
             (long long)(in_day % 1000));
    return json_string(iso);
}

/* A msgpack timestamp as the JSON that Node's clients would see: notepack.io decodes it to
 * new Date(s * 1e3 + ns / 1e6) (the fraction of a ms truncated toward zero) and
 * JSON.stringify writes its toISOString(), or null for a Date out of range. */
static json_t *rdap_timestamp_json(rdap_reader *r, const msgpack_object *o)
{
    msgpack_timestamp ts;
    if (!msgpack_object_to_timestamp(o, &ts)) {
        rdap_fail(r->d, "malformed msgpack timestamp");
        return NULL;
    }
    if (ts.tv_sec > RDAP_DATE_MAX_MS / RDAP_MS_PER_S + 1 ||
        ts.tv_sec < -(RDAP_DATE_MAX_MS / RDAP_MS_PER_S) - 1)
        return json_null();
    int64_t ms = ts.tv_sec * RDAP_MS_PER_S + ts.tv_nsec / RDAP_NS_PER_MS;
    if (ms < 0 && ts.tv_nsec % RDAP_NS_PER_MS != 0)
        ms++;
    if (ms > RDAP_DATE_MAX_MS || ms < -RDAP_DATE_MAX_MS)
        return json_null();
    return rdap_iso_date(ms);
}

static json_t *rdap_from_msgpack(rdap_reader *r, const msgpack_object *o, int binary,
                                 const char *const *path);

static json_t *rdap_ext_json(rdap_reader *r, const msgpack_object *o, int binary)
{
    if (o->via.ext.type == RDAP_EXT_TIMESTAMP)
        return rdap_timestamp_json(r, o);
    if (o->via.ext.type == RDAP_EXT_ARRAYBUFFER && binary)
        return rdap_reader_add_bin(r, o->via.ext.ptr, o->via.ext.size);
    rdap_fail(r->d, "unsupported msgpack ext type %d", o->via.ext.type);
    return NULL;
}

/* msgpack-c leaves the pointer of an empty str NULL, which jansson and memcmp refuse. */
static const char *rdap_str_ptr(const msgpack_object_str *s) { return s->size > 0 ? s->ptr : ""; }

static json_t *rdap_string_json(rdap_reader *r, const char *ptr, size_t len)
{
    json_t *s = json_stringn(ptr, len);
    if (s == NULL)
        rdap_fail(r->d, "string is not UTF-8");
    return s;
}

static json_t *rdap_array_json(rdap_reader *r, const msgpack_object_array *a, int binary,
                               const char *const *path)
{
    char index[RDAP_INDEX_LEN];
    json_t *arr = json_array();
    for (uint32_t i = 0; i < a->size; i++) {
        json_t *v = rdap_from_msgpack(r, &a->ptr[i], binary, rdap_path_index(path, i, index));
        if (v == NULL || json_array_append_new(arr, v) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *rdap_map_value_json(rdap_reader *r, const msgpack_object_kv *kv, int binary,
                                   const char *const *path)
{
    const msgpack_object *k = &kv->key;
    if (k->type != MSGPACK_OBJECT_STR) {
        rdap_fail(r->d, "object key is not a string");
        return NULL;
    }
    /* jansson reads no NUL in JSON keys: such a key could not travel on as JSON. */
    if (memchr(rdap_str_ptr(&k->via.str), '\0', k->via.str.size) != NULL) {
        rdap_fail(r->d, "object key holds a NUL byte");
        return NULL;
    }
    return rdap_from_msgpack(r, &kv->val, binary,
                             rdap_path_step(path, rdap_str_ptr(&k->via.str), k->via.str.size));
}

/* The order in which JavaScript enumerates the keys of m once notepack.io has assigned them
 * to an object, as ranks whose pos is the pair's place in m: in stack (room for
 * RDAP_ENTRIES_ON_STACK) when they fit, else an owned array. NULL when that is m's own order
 * (no key is an array index). A key that is not a string is ranked as a plain key; it is
 * refused when its turn comes. */
static rdap_key_rank *rdap_map_order(const msgpack_object_map *m, rdap_key_rank *stack)
{
    int any_index = 0;
    for (uint32_t i = 0; i < m->size && !any_index; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        uint64_t index;
        any_index = k->type == MSGPACK_OBJECT_STR &&
                    rdap_array_index(rdap_str_ptr(&k->via.str), k->via.str.size, &index);
    }
    if (!any_index)
        return NULL;
    rdap_key_rank *order =
        m->size <= RDAP_ENTRIES_ON_STACK ? stack : rdap_alloc(m->size * sizeof *order);
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR)
            rdap_key_rank_set(&order[i], rdap_str_ptr(&k->via.str), k->via.str.size, i);
        else
            order[i] = (rdap_key_rank){0, i, 0};
    }
    qsort(order, m->size, sizeof *order, rdap_key_rank_cmp);
    return order;
}

/* The object is built in the order JavaScript enumerates the keys of the object notepack.io
 * makes of m, which is also the order rdap_pack_object() writes them in (a message with an
 * array index key after another key, which notepack.io never writes, comes out with the
 * index first). rdap_reader_take_bins() then numbers the bins in that order. */
static json_t *rdap_map_json(rdap_reader *r, const msgpack_object_map *m, int binary,
                             const char *const *path)
{
    rdap_key_rank stack[RDAP_ENTRIES_ON_STACK];
    rdap_key_rank *order = rdap_map_order(m, stack);
    json_t *obj = json_object();
    for (uint32_t i = 0; i < m->size && obj != NULL; i++) {
        const msgpack_object_kv *kv = &m->ptr[order != NULL ? order[i].pos : i];
        const msgpack_object *k = &kv->key;
        json_t *v = rdap_map_value_json(r, kv, binary, path);
        if (v == NULL ||
            json_object_setn_new(obj, rdap_str_ptr(&k->via.str), k->via.str.size, v) != 0) {
            if (v != NULL)
                rdap_fail(r->d, "object key is not UTF-8");
            json_decref(obj);
            obj = NULL;
        }
    }
    if (order != stack)
        free(order);
    if (obj == NULL)
        return NULL;
    /* On the binary path it would be taken for an attachment. */
    if (binary && rdap_claims_placeholder(obj)) {
        rdap_fail(r->d, "data holds an object that looks like a placeholder");
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Converts o; binary: o is below the binary path; path: the keys still to follow to it
 * (NULL: o is off the path; empty: o is the path's value). */
static json_t *rdap_from_msgpack(rdap_reader *r, const msgpack_object *o, int binary,
                                 const char *const *path)
{
    if (path != NULL && path[0] == NULL) {
        binary = 1;
        path = NULL;
    }
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return json_null();
    case MSGPACK_OBJECT_BOOLEAN: return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        /* Beyond int64 only as JavaScript holds it: a double. */
        return o->via.u64 <= INT64_MAX ? json_integer((json_int_t)o->via.u64)
                                       : json_real((double)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return rdap_json_number(o->via.f64);
    case MSGPACK_OBJECT_STR: return rdap_string_json(r, rdap_str_ptr(&o->via.str), o->via.str.size);
    case MSGPACK_OBJECT_BIN:
        if (binary)
            return rdap_reader_add_bin(r, o->via.bin.ptr, o->via.bin.size);
        rdap_fail(r->d, "binary data outside a packet's data");
        return NULL;
    case MSGPACK_OBJECT_EXT: return rdap_ext_json(r, o, binary);
    case MSGPACK_OBJECT_ARRAY: return rdap_array_json(r, &o->via.array, binary, path);
    case MSGPACK_OBJECT_MAP: return rdap_map_json(r, &o->via.map, binary, path);
    }
    rdap_fail(r->d, "unknown msgpack type");
    return NULL;
}

json_t *rdap_msgpack_read(rdap_reader *r, const uint8_t *msg, size_t len, const char *const *path)
{
    if (rdap_msgpack_check(r->d, msg, len) != RDAP_OK)
        return NULL;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    json_t *root = NULL;
    if (msgpack_unpack_next(&up, (const char *)msg, len, &off) == MSGPACK_UNPACK_SUCCESS)
        root = rdap_from_msgpack(r, &up.data, 0, path);
    else
        rdap_fail(r->d, "msgpack-c could not unpack the message");
    msgpack_unpacked_destroy(&up);
    return root;
}

/* ---- JSON to msgpack ------------------------------------------------------------------ */

typedef struct rdap_packer {
    msgpack_packer pk;
    const siop_attachment *att; /* what the placeholders on the binary path stand for */
    size_t n_att;
} rdap_packer;

static int rdap_buf_write(void *data, const char *buf, size_t len)
{
    sb_buf_append(data, buf, len);
    return 0;
}

static int rdap_pack(rdap_packer *w, const json_t *v, int binary, const char *const *path,
                     int depth);

/* notepack.io packs integral numbers as the smallest int that holds them (msgpack-c picks the
 * same), up to uint64; other numbers as float64. */
static int rdap_pack_real(msgpack_packer *pk, double v)
{
    if (v == trunc(v) && v >= -RDAP_TWO_POW_63 && v < RDAP_TWO_POW_63)
        return msgpack_pack_int64(pk, (int64_t)v);
    if (v == trunc(v) && v >= 0 && v < RDAP_TWO_POW_64)
        return msgpack_pack_uint64(pk, (uint64_t)v);
    return msgpack_pack_double(pk, v);
}

static int rdap_pack_bytes(msgpack_packer *pk, const void *p, size_t len, int is_str)
{
    if (len > RDAP_MSGPACK_MAX_LEN)
        return RDAP_ERR;
    if (is_str)
        return msgpack_pack_str(pk, len) == 0 && msgpack_pack_str_body(pk, p, len) == 0 ? RDAP_OK
                                                                                        : RDAP_ERR;
    return msgpack_pack_bin(pk, len) == 0 && msgpack_pack_bin_body(pk, p, len) == 0 ? RDAP_OK
                                                                                    : RDAP_ERR;
}

/* A placeholder on the binary path goes out as its attachment's bytes. */
static int rdap_pack_placeholder(rdap_packer *w, const json_t *v)
{
    size_t num;
    if (!siop_placeholder_num(v, &num) || num >= w->n_att)
        return RDAP_ERR;
    return rdap_pack_bytes(&w->pk, w->att[num].data, w->att[num].len, 0);
}

typedef struct rdap_entry {
    const char *key;
    size_t len;
    const json_t *value;
    rdap_key_rank rank;
} rdap_entry;

static int rdap_entry_cmp(const void *pa, const void *pb)
{
    const rdap_entry *a = pa, *b = pb;
    return rdap_key_rank_cmp(&a->rank, &b->rank);
}

/* The entries of obj in the order Object.keys() gives them: in stack (room for
 * RDAP_ENTRIES_ON_STACK) when they fit, else an owned array. */
static rdap_entry *rdap_object_entries(const json_t *v, size_t *n, rdap_entry *stack)
{
    json_t *obj = (json_t *)v; /* iteration only reads */
    size_t count = json_object_size(obj), i = 0;
    int any_index = 0;
    rdap_entry *e = count <= RDAP_ENTRIES_ON_STACK ? stack : rdap_alloc(count * sizeof *e);
    for (void *it = json_object_iter(obj); it != NULL; it = json_object_iter_next(obj, it), i++) {
        e[i].key = json_object_iter_key(it);
        e[i].len = json_object_iter_key_len(it);
        e[i].value = json_object_iter_value(it);
        any_index |= rdap_key_rank_set(&e[i].rank, e[i].key, e[i].len, i);
    }
    if (any_index)
        qsort(e, count, sizeof *e, rdap_entry_cmp);
    *n = count;
    return e;
}

static int rdap_pack_object(rdap_packer *w, const json_t *v, int binary, const char *const *path,
                            int depth)
{
    size_t n;
    rdap_entry stack[RDAP_ENTRIES_ON_STACK];
    rdap_entry *e = rdap_object_entries(v, &n, stack);
    int rc = n <= RDAP_MSGPACK_MAX_LEN && msgpack_pack_map(&w->pk, n) == 0 ? RDAP_OK : RDAP_ERR;
    for (size_t i = 0; i < n && rc == RDAP_OK; i++) {
        rc = rdap_pack_bytes(&w->pk, e[i].key, e[i].len, 1);
        if (rc == RDAP_OK)
            rc = rdap_pack(w, e[i].value, binary, rdap_path_step(path, e[i].key, e[i].len),
                           depth + 1);
    }
    if (e != stack)
        free(e);
    return rc;
}

static int rdap_pack_array(rdap_packer *w, const json_t *v, int binary, const char *const *path,
                           int depth)
{
    char index[RDAP_INDEX_LEN];
    size_t n = json_array_size(v);
    if (n > RDAP_MSGPACK_MAX_LEN || msgpack_pack_array(&w->pk, n) != 0)
        return RDAP_ERR;
    for (size_t i = 0; i < n; i++)
        if (rdap_pack(w, json_array_get(v, i), binary, rdap_path_index(path, i, index),
                      depth + 1) != RDAP_OK)
            return RDAP_ERR;
    return RDAP_OK;
}

/* Packs v, nested in depth containers; binary and path as in rdap_from_msgpack(). */
static int rdap_pack(rdap_packer *w, const json_t *v, int binary, const char *const *path,
                     int depth)
{
    msgpack_packer *pk = &w->pk;
    if (path != NULL && path[0] == NULL) {
        binary = 1;
        path = NULL;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if (binary && rdap_claims_placeholder(v))
            return rdap_pack_placeholder(w, v);
        return depth < RDAP_MAX_DEPTH ? rdap_pack_object(w, v, binary, path, depth) : RDAP_ERR;
    case JSON_ARRAY:
        return depth < RDAP_MAX_DEPTH ? rdap_pack_array(w, v, binary, path, depth) : RDAP_ERR;
    case JSON_STRING: return rdap_pack_bytes(pk, json_string_value(v), json_string_length(v), 1);
    case JSON_INTEGER:
        return msgpack_pack_int64(pk, json_integer_value(v)) == 0 ? RDAP_OK : RDAP_ERR;
    case JSON_REAL: return rdap_pack_real(pk, json_real_value(v)) == 0 ? RDAP_OK : RDAP_ERR;
    case JSON_TRUE: return msgpack_pack_true(pk) == 0 ? RDAP_OK : RDAP_ERR;
    case JSON_FALSE: return msgpack_pack_false(pk) == 0 ? RDAP_OK : RDAP_ERR;
    case JSON_NULL: return msgpack_pack_nil(pk) == 0 ? RDAP_OK : RDAP_ERR;
    }
    return RDAP_ERR;
}

int rdap_msgpack_write(sb_buf *out, const json_t *root, const char *const *path,
                       const siop_attachment *att, size_t n_att)
{
    rdap_packer w;
    msgpack_packer_init(&w.pk, out, rdap_buf_write);
    w.att = att;
    w.n_att = n_att;
    return rdap_pack(&w, root, 0, path, 0);
}
