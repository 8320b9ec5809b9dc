/* redis_adapter_msgpack.h: msgpack as notepack.io and JavaScript see it, for
 * redis_adapter.c (internal to protocol/; other layers use redis_adapter.h).
 *
 * A message is read into a jansson tree and a tree is packed into a message. Binary (msgpack
 * bin) may only sit below one value of a message, its "binary path": the keys from the root
 * (array elements named by their decimal index), e.g. {"1", "data", NULL} for a broadcast's
 * packet data. There bins become placeholders on the way in, numbered depth-first in the
 * order JavaScript enumerates object keys (the order they are packed in again), and
 * placeholders become bins on the way out; everywhere else a placeholder-looking object is
 * plain data, and a bin is refused.
 */
#ifndef RDAP_REDIS_ADAPTER_MSGPACK_H
#define RDAP_REDIS_ADAPTER_MSGPACK_H

#include "redis_adapter_codec.h"

/* A bin met on the binary path, pointing into the message. */
typedef struct rdap_bin {
    const char *ptr;
    size_t len;
} rdap_bin;

/* One read: where errors go and the bins met so far, in order. */
typedef struct rdap_reader {
    rdap_decoder *d;
    rdap_bin *bins; /* owned array */
    size_t n_bins;
    size_t cap_bins;
} rdap_reader;

void rdap_reader_init(rdap_reader *r, rdap_decoder *d);
void rdap_reader_free(rdap_reader *r);
/* Hands the bins over as an owned array of owned copies (NULL when there are none), in the
 * order rdap_msgpack_write() meets their placeholders in value, which it renumbers to match.
 * value must hold exactly one placeholder per bin met (the caller checks). */
siop_attachment *rdap_reader_take_bins(rdap_reader *r, json_t *value, size_t *n);

/* Reads one msgpack value that is the whole message. New reference, or NULL with errstr set:
 * malformed or truncated msgpack, trailing bytes, nesting beyond RDAP_MAX_DEPTH, strings or
 * keys that are not UTF-8, keys that are not strings or hold NUL, binary off the path,
 * placeholder-looking objects on it, ext types other than timestamps (which become
 * ISO-8601 strings). Numbers come as JavaScript holds them: integral ones as integers. */
json_t *rdap_msgpack_read(rdap_reader *r, const uint8_t *msg, size_t len, const char *const *path);

/* Appends root packed as notepack.io packs it, with att[num] where placeholder num is on
 * the path. RDAP_ERR (and out partly written: the caller rolls back) for a placeholder with
 * no attachment, nesting beyond RDAP_MAX_DEPTH, or sizes beyond msgpack's 32 bits. */
int rdap_msgpack_write(sb_buf *out, const json_t *root, const char *const *path,
                       const siop_attachment *att, size_t n_att);

/* Whether v is an object with "_placeholder": true (all socket.io-parser looks at). */
int rdap_claims_placeholder(const json_t *v);

/* Sets d->errstr and returns RDAP_ERR. */
__attribute__((format(printf, 2, 3))) int rdap_fail(rdap_decoder *d, const char *fmt, ...);

/* malloc that aborts on failure, as buffer.h does. */
void *rdap_alloc(size_t n);

#endif
