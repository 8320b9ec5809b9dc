/* base64.c: the base64 and base64url of base64.h, on OpenSSL's EVP_EncodeBlock and
 * EVP_DecodeBlock.
 *
 * OpenSSL does the groups; this file adds what it leaves to the caller: its block functions
 * take int lengths (so large buffers go through in chunks of whole groups, which
 * concatenate into one valid encoding), its decoder skips whitespace and does not insist on
 * padding (so the strict checks are made first), and it knows only the standard alphabet
 * (base64url is translated to and from it, and its canonical last group checked here).
 */
#include "base64.h"

#include <openssl/evp.h>
#include <string.h>

#define B64_GROUP_BYTES  3
#define B64_GROUP_CHARS  4
#define B64_MAX_PAD      2
#define B64_PAD          '='
#define B64_CHUNK_GROUPS 16384 /* a chunk: whole groups, well within int */
#define B64_CHUNK_BYTES  (B64_GROUP_BYTES * B64_CHUNK_GROUPS)
#define B64_CHUNK_CHARS  (B64_GROUP_CHARS * B64_CHUNK_GROUPS)
#define B64_SMALL_GROUPS 16 /* sb_base64_url_write's chunk, on the stack */

static int b64_std_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

static uint8_t b64_to_url(uint8_t c) { return c == '+' ? '-' : c == '/' ? '_' : c; }

void sb_base64_encode(sb_buf *out, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        size_t n = len < B64_CHUNK_BYTES ? len : B64_CHUNK_BYTES;
        /* + 1: EVP_EncodeBlock NUL-terminates what it writes. */
        sb_buf_reserve(out, B64_GROUP_CHARS * ((n + 2) / B64_GROUP_BYTES) + 1);
        out->len += (size_t)EVP_EncodeBlock(out->data + out->len, p, (int)n);
        p += n;
        len -= n;
    }
}

int sb_base64_decode(sb_buf *out, const void *text, size_t len)
{
    const uint8_t *t = text;
    if (len % B64_GROUP_CHARS != 0)
        return SB_BASE64_ERR;
    size_t pad = 0;
    while (pad < B64_MAX_PAD && pad < len && t[len - 1 - pad] == B64_PAD)
        pad++;
    for (size_t i = 0; i < len - pad; i++)
        if (!b64_std_char(t[i]))
            return SB_BASE64_ERR;
    size_t mark = out->len;
    while (len > 0) {
        size_t n = len < B64_CHUNK_CHARS ? len : B64_CHUNK_CHARS;
        sb_buf_reserve(out, n / B64_GROUP_CHARS * B64_GROUP_BYTES);
        int got = EVP_DecodeBlock(out->data + out->len, t, (int)n);
        if (got < 0) {
            out->len = mark;
            return SB_BASE64_ERR;
        }
        out->len += (size_t)got;
        t += n;
        len -= n;
    }
    /* EVP_DecodeBlock counts the zero bytes that stand for the padding. */
    out->len -= pad;
    return SB_BASE64_OK;
}

void sb_base64_url_encode(sb_buf *out, const void *data, size_t len)
{
    size_t mark = out->len;
    sb_base64_encode(out, data, len);
    while (out->len > mark && out->data[out->len - 1] == B64_PAD)
        out->len--;
    for (size_t i = mark; i < out->len; i++)
        out->data[i] = b64_to_url(out->data[i]);
}

size_t sb_base64_url_write(char *out, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint8_t chunk[B64_GROUP_CHARS * B64_SMALL_GROUPS + 1];
    size_t n = 0;
    while (len > 0) {
        size_t take =
            len < B64_GROUP_BYTES * B64_SMALL_GROUPS ? len : B64_GROUP_BYTES * B64_SMALL_GROUPS;
        EVP_EncodeBlock(chunk, p, (int)take);
        for (size_t i = 0; i < SB_BASE64_URL_LEN(take); i++)
            out[n++] = (char)b64_to_url(chunk[i]);
        p += take;
        len -= take;
    }
    return n;
}

/* The value of a base64url character, or -1. */
static int b64_url_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return 26 + (c - 'a');
    if (c >= '0' && c <= '9')
        return 52 + (c - '0');
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* The unused low bits of a last partial group must be zero, or two texts would decode to
 * the same bytes. A tail of 2 characters (12 bits) carries one byte, 4 bits spare; a tail
 * of 3 (18 bits) carries two, 2 bits spare; a tail of 1 carries nothing and is never valid. */
static int b64_url_canonical_tail(int last_value, size_t len)
{
    size_t tail = len % B64_GROUP_CHARS;
    int unused = tail == 2 ? 0x0f : tail == 3 ? 0x03 : 0;
    return tail != 1 && (last_value & unused) == 0;
}

int sb_base64_url_decode(sb_buf *out, const void *text, size_t len)
{
    const uint8_t *t = text;
    sb_buf std;
    sb_buf_init(&std);
    int v = 0;
    for (size_t i = 0; i < len && v >= 0; i++) {
        v = b64_url_value(t[i]);
        sb_buf_append_byte(&std, t[i] == '-' ? '+' : t[i] == '_' ? '/' : t[i]);
    }
    int rc = SB_BASE64_ERR;
    if (v >= 0 && b64_url_canonical_tail(v, len)) {
        while (std.len % B64_GROUP_CHARS != 0)
            sb_buf_append_byte(&std, B64_PAD);
        rc = sb_base64_decode(out, std.data, std.len);
    }
    sb_buf_free(&std);
    return rc;
}
