/* buffer.c: the growable byte buffer behind every encoder in protocol/.
 *
 * Growth doubles the capacity so a run of appends costs amortised O(1); the buffer never
 * shrinks, which lets hot paths sb_buf_reset() one buffer and reuse its allocation.
 * Allocation failure aborts (see buffer.h), so no encoder carries an out-of-memory path.
 */
#include "buffer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Small enough not to waste memory on tiny packets, large enough to skip the first
 * few doublings that every non-trivial packet would go through. */
#define SB_BUF_MIN_CAP 64
/* UINT64_MAX has 20 decimal digits. */
#define SB_U64_DIGITS_MAX 20

static void sb_buf_oom(size_t want)
{
    fprintf(stderr, "sb_buf: out of memory allocating %zu bytes\n", want);
    abort();
}

void sb_buf_init(sb_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void sb_buf_free(sb_buf *b)
{
    free(b->data);
    sb_buf_init(b);
}

void sb_buf_reset(sb_buf *b) { b->len = 0; }

void sb_buf_reserve(sb_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        sb_buf_oom(SIZE_MAX);
    size_t need = b->len + extra;
    if (need <= b->cap)
        return;
    size_t cap = b->cap < SB_BUF_MIN_CAP ? SB_BUF_MIN_CAP : b->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *data = realloc(b->data, cap);
    if (data == NULL)
        sb_buf_oom(cap);
    b->data = data;
    b->cap = cap;
}

void sb_buf_append(sb_buf *b, const void *p, size_t n)
{
    /* n == 0 may come with p == NULL, which memcpy must not see. */
    if (n == 0)
        return;
    sb_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void sb_buf_append_byte(sb_buf *b, uint8_t c)
{
    sb_buf_reserve(b, 1);
    b->data[b->len++] = c;
}

void sb_buf_append_str(sb_buf *b, const char *s) { sb_buf_append(b, s, strlen(s)); }

void sb_buf_append_u64(sb_buf *b, uint64_t v)
{
    char digits[SB_U64_DIGITS_MAX];
    size_t n = 0;
    do {
        digits[SB_U64_DIGITS_MAX - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    sb_buf_append(b, digits + SB_U64_DIGITS_MAX - n, n);
}

uint8_t *sb_buf_release(sb_buf *b, size_t *len)
{
    uint8_t *data = b->data;
    if (len != NULL)
        *len = b->len;
    sb_buf_init(b);
    return data;
}

char *sb_strndup(const char *s, size_t n)
{
    char *copy = malloc(n + 1);
    if (!copy)
        abort();
    memcpy(copy, s, n);
    copy[n] = '\0';
    return copy;
}
