/* buffer.h: the growable byte buffer every encoder in protocol/ writes into.
 *
 * The caller owns the buffer: sb_buf_init() it (or zero it), let encoders append,
 * read data/len, then sb_buf_free(). Appending never shrinks; sb_buf_reset() keeps the
 * allocation for reuse, which is what hot paths want. Out of memory aborts (as jansson
 * and the rest of the process would not survive it either).
 */
#ifndef SB_BUFFER_H
#define SB_BUFFER_H

#include <stddef.h>
#include <stdint.h>

typedef struct sb_buf {
    uint8_t *data; /* bytes written so far; NULL until the first append */
    size_t len;    /* bytes in use */
    size_t cap;    /* bytes allocated */
} sb_buf;

void sb_buf_init(sb_buf *b);
void sb_buf_free(sb_buf *b);                  /* frees data; b is empty and reusable after */
void sb_buf_reset(sb_buf *b);                 /* len = 0, keeps the allocation */
void sb_buf_reserve(sb_buf *b, size_t extra); /* ensures cap >= len + extra */
void sb_buf_append(sb_buf *b, const void *p, size_t n);
void sb_buf_append_byte(sb_buf *b, uint8_t c);
void sb_buf_append_str(sb_buf *b, const char *s);
void sb_buf_append_u64(sb_buf *b, uint64_t v); /* decimal digits, no sign */
/* A NUL-terminated copy of the n bytes at s (malloc; the caller frees it). */
char *sb_strndup(const char *s, size_t n);
/* Hands the allocation to the caller (who frees it with free()); b is left empty. */
uint8_t *sb_buf_release(sb_buf *b, size_t *len);

#endif
