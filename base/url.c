/* url.c: hex digits, percent-decoding and query pairs (see url.h). */
#include "url.h"

#include <string.h>

int sb_hex_value(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

size_t sb_url_decode(const char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (in[i] == '%' && i + 2 < n && (hi = sb_hex_value(in[i + 1])) >= 0 &&
            (lo = sb_hex_value(in[i + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = in[i] == '+' ? ' ' : in[i];
        }
    }
    return o;
}

const char *sb_query_find(const char *q, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    while (*q) {
        const char *end = strchr(q, '&');
        size_t flen = end ? (size_t)(end - q) : strlen(q);
        if (flen >= nlen && !strncmp(q, name, nlen) && (flen == nlen || q[nlen] == '=')) {
            *len = flen > nlen ? flen - nlen - 1 : 0;
            return q + nlen + (flen > nlen);
        }
        q += flen + (end ? 1 : 0);
    }
    return NULL;
}
