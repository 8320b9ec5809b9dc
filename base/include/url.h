/* url.h: the pieces of URLs every layer reads: hex digits, percent-decoding, query pairs.
 *
 * Decoding is lenient as Node's querystring is (an escape that is not two hex digits stays
 * as written), because a client's query reaches the application as Node would give it; a
 * caller that must refuse bad escapes (a Redis URL's password) checks them with
 * sb_hex_value itself.
 */
#ifndef SB_URL_H
#define SB_URL_H

#include <stddef.h>

/* The value of the hex digit ch (either case), or -1. */
int sb_hex_value(int ch);

/* Decodes the n bytes at in into out (room for n, no NUL written) as a query string is
 * encoded: %XX becomes its byte and '+' a space. Returns the length written. */
size_t sb_url_decode(const char *in, size_t n, char *out);

/* Finds the pair name[=value] in the query q ("a=1&b=2", no '?'): returns the start of its
 * value (empty for a bare name) and its length in *len, or NULL when q has no such pair.
 * The value is not decoded. */
const char *sb_query_find(const char *q, const char *name, size_t *len);

#endif
