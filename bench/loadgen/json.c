/* json.c: field readers for the few bodies the load generator inspects.
 *
 * The bodies are the server's messages, whose keys appear once each and whose text we
 * wrote ourselves (no quotes, no key names), so finding `"key"` then `:` is exact and far
 * cheaper than parsing the whole document. Blanks around the colon are allowed, as
 * encoders differ.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "lg.h"

const char *lg_json_find(const char *s, size_t n, const char *key)
{
    size_t klen = strlen(key);
    const char *end = s + n;
    const char *p = s;
    while (p < end) {
        const char *q = memmem(p, (size_t)(end - p), key, klen);
        if (!q)
            return NULL;
        const char *v = q + klen;
        if (q > s && q[-1] == '"' && v < end && *v == '"') {
            v++;
            while (v < end && (*v == ' ' || *v == '\t' || *v == '\n'))
                v++;
            if (v < end && *v == ':') {
                v++;
                while (v < end && (*v == ' ' || *v == '\t' || *v == '\n'))
                    v++;
                return v < end ? v : NULL;
            }
        }
        p = q + 1;
    }
    return NULL;
}

int lg_json_str(const char *s, size_t n, const char *key, char *out, size_t cap)
{
    const char *v = lg_json_find(s, n, key);
    const char *end = s + n;
    if (!v || *v != '"')
        return -1;
    v++;
    const char *q = memchr(v, '"', (size_t)(end - v));
    if (!q || (size_t)(q - v) >= cap)
        return -1;
    memcpy(out, v, (size_t)(q - v));
    out[q - v] = '\0';
    return (int)(q - v);
}

int64_t lg_json_int(const char *s, size_t n, const char *key, int *ok)
{
    const char *v = lg_json_find(s, n, key);
    const char *end = s + n;
    *ok = 0;
    if (!v)
        return 0;
    int neg = 0;
    if (v < end && *v == '-') {
        neg = 1;
        v++;
    }
    int64_t x = 0;
    const char *start = v;
    while (v < end && *v >= '0' && *v <= '9')
        x = x * 10 + (*v++ - '0');
    if (v == start)
        return 0;
    *ok = 1;
    return neg ? -x : x;
}
