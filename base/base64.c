/* base64.c: the base64 and base64url of base64.h.
 *
 * One encoder and one decoder serve both alphabets, which differ only in the characters
 * for 62 and 63. The work is done a group at a time (3 bytes, 4 characters); a last
 * partial group is 2 characters for one byte or 3 for two. Plain C rather than OpenSSL's
 * EVP_EncodeBlock/EVP_DecodeBlock: those take int lengths, skip whitespace and do not
 * check padding, so every caller had to chunk and pre-check around them.
 */
#include "base64.h"

#include <pthread.h>
#include <string.h>

#define B64_GROUP_BYTES 3
#define B64_GROUP_CHARS 4
#define B64_SEXTET_BITS 6
#define B64_SEXTET_MASK 0x3f
#define B64_MAX_PAD 2
#define B64_PAD '='
#define B64_VALUES 64
#define B64_CHARS 256 /* the values of every byte, for decoding */

typedef struct b64_alphabet {
    const char *chars;          /* the character of each value 0 to 63 */
    int canonical;              /* decoding refuses unused bits set in a partial group */
    int8_t values[B64_CHARS];   /* the value of each character, -1 for none: a table built
                                   once (tests per character made decoding 4x slower) */
} b64_alphabet;

static b64_alphabet B64_STD = {
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 0, {0}};
static b64_alphabet B64_URL = {
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 1, {0}};
static pthread_once_t b64_values_once = PTHREAD_ONCE_INIT;

static void b64_values_build(void)
{
    b64_alphabet *abc[] = {&B64_STD, &B64_URL};
    for (size_t a = 0; a < sizeof(abc) / sizeof(abc[0]); a++) {
        memset(abc[a]->values, -1, sizeof(abc[a]->values));
        for (int v = 0; v < B64_VALUES; v++)
            abc[a]->values[(uint8_t)abc[a]->chars[v]] = (int8_t)v;
    }
}

/* The characters of the len bytes at in, without padding; returns how many. */
static size_t b64_write(char *out, const uint8_t *in, size_t len, const b64_alphabet *abc)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i += B64_GROUP_BYTES) {
        size_t bytes = len - i < B64_GROUP_BYTES ? len - i : B64_GROUP_BYTES;
        uint32_t group = (uint32_t)in[i] << 16;
        if (bytes > 1)
            group |= (uint32_t)in[i + 1] << 8;
        if (bytes > 2)
            group |= in[i + 2];
        /* b bytes need b + 1 characters, 6 bits each */
        for (size_t c = 0; c <= bytes; c++) {
            unsigned shift = B64_SEXTET_BITS * (B64_GROUP_CHARS - 1 - (unsigned)c);
            out[n++] = abc->chars[(group >> shift) & B64_SEXTET_MASK];
        }
    }
    return n;
}

static void b64_append(sb_buf *out, const void *data, size_t len, const b64_alphabet *abc,
                       int pad)
{
    if (len == 0)
        return;
    size_t groups = len / B64_GROUP_BYTES + (len % B64_GROUP_BYTES != 0);
    sb_buf_reserve(out, groups * B64_GROUP_CHARS);
    size_t n = b64_write((char *)out->data + out->len, data, len, abc);
    out->len += n;
    for (; pad && n % B64_GROUP_CHARS != 0; n++)
        out->data[out->len++] = B64_PAD;
}

/* The 24 bits of the n characters at text (n <= 4, missing ones read as 0), or -1 when
 * one is not in the alphabet. */
static int32_t b64_group(const uint8_t *text, size_t n, const b64_alphabet *abc)
{
    int32_t v[B64_GROUP_CHARS] = {abc->values[text[0]], abc->values[text[1]],
                                  n > 2 ? abc->values[text[2]] : 0,
                                  n > 3 ? abc->values[text[3]] : 0};
    if ((v[0] | v[1] | v[2] | v[3]) < 0)
        return -1;
    return v[0] << 3 * B64_SEXTET_BITS | v[1] << 2 * B64_SEXTET_BITS |
           v[2] << B64_SEXTET_BITS | v[3];
}

/* Writes the bytes of the n characters at text (one group, n of 2 to 4) to out; returns
 * how many, or -1. */
static int b64_read_group(uint8_t *out, const uint8_t *text, size_t n, const b64_alphabet *abc)
{
    int bytes = (int)n - 1; /* n characters carry n - 1 whole bytes */
    int32_t group = b64_group(text, n, abc);
    /* the bits after the last whole byte: 2 or 4 of them in a partial group */
    int32_t unused = ((int32_t)1 << (8 * (B64_GROUP_BYTES - bytes))) - 1;
    if (group < 0 || (abc->canonical && (group & unused) != 0))
        return -1;
    for (int b = 0; b < bytes; b++)
        out[b] = (uint8_t)(group >> (8 * (B64_GROUP_BYTES - 1 - b)));
    return bytes;
}

/* Appends the bytes of len characters without padding (len % 4 is never 1: one character
 * is not a byte). On error out->len is where it was. */
static int b64_read(sb_buf *out, const uint8_t *text, size_t len, const b64_alphabet *abc)
{
    if (len % B64_GROUP_CHARS == 1)
        return SB_BASE64_ERR;
    pthread_once(&b64_values_once, b64_values_build);
    sb_buf_reserve(out, len / B64_GROUP_CHARS * B64_GROUP_BYTES + B64_GROUP_BYTES);
    uint8_t *p = out->data + out->len;
    for (size_t i = 0; i < len; i += B64_GROUP_CHARS) {
        size_t chars = len - i < B64_GROUP_CHARS ? len - i : B64_GROUP_CHARS;
        int got = b64_read_group(p, text + i, chars, abc);
        if (got < 0)
            return SB_BASE64_ERR;
        p += got;
    }
    out->len = (size_t)(p - out->data);
    return SB_BASE64_OK;
}

void sb_base64_encode(sb_buf *out, const void *data, size_t len)
{
    b64_append(out, data, len, &B64_STD, 1);
}

int sb_base64_decode(sb_buf *out, const void *text, size_t len)
{
    const uint8_t *t = text;
    if (len % B64_GROUP_CHARS != 0)
        return SB_BASE64_ERR;
    size_t pad = 0;
    while (pad < B64_MAX_PAD && pad < len && t[len - 1 - pad] == B64_PAD)
        pad++;
    return b64_read(out, t, len - pad, &B64_STD);
}

void sb_base64_url_encode(sb_buf *out, const void *data, size_t len)
{
    b64_append(out, data, len, &B64_URL, 0);
}

size_t sb_base64_url_write(char *out, const void *data, size_t len)
{
    return b64_write(out, data, len, &B64_URL);
}

int sb_base64_url_decode(sb_buf *out, const void *text, size_t len)
{
    return b64_read(out, text, len, &B64_URL);
}
