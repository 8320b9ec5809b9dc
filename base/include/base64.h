/* base64.h: base64 (RFC 4648 §4) for binary packets in Engine.IO polling payloads, and
 * base64url (§5) for JWTs and random ids.
 *
 * Both decoders are strict: they refuse whitespace, characters of the other alphabet and
 * misplaced padding, rather than guess what a sender meant. base64 is padded, as Engine.IO
 * sends it; base64url is unpadded, as JWTs (RFC 7515 §2) carry it, and its decoder also
 * refuses the texts that are not the one canonical encoding of their bytes (a last
 * character with unused bits set), so no two tokens decode to the same bytes.
 * Encoders and decoders append to a buffer the caller owns.
 */
#ifndef SB_BASE64_H
#define SB_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

#define SB_BASE64_OK  0
#define SB_BASE64_ERR (-1)

/* Characters of base64url for n bytes (no padding, no NUL). */
#define SB_BASE64_URL_LEN(n) (((n)*4 + 2) / 3)
/* Characters of the padded base64 of n bytes. */
#define SB_BASE64_LEN(n) (((n) + 2) / 3 * 4)

/* Appends the padded base64 of the len bytes at data to out. */
void sb_base64_encode(sb_buf *out, const void *data, size_t len);

/* Appends the bytes the len characters of padded base64 at text stand for to out.
 * SB_BASE64_ERR (out unchanged) when text is not base64: a length that is not a multiple
 * of 4, a character outside the alphabet, padding other than one or two '=' at the end. */
int sb_base64_decode(sb_buf *out, const void *text, size_t len);

/* Appends the unpadded base64url of the len bytes at data to out. */
void sb_base64_url_encode(sb_buf *out, const void *data, size_t len);

/* Writes the unpadded base64url of the len bytes at data to out, which has room for
 * SB_BASE64_URL_LEN(len) characters (no NUL is written); returns how many it wrote. */
size_t sb_base64_url_write(char *out, const void *data, size_t len);

/* Appends the bytes the len characters of unpadded base64url at text stand for to out.
 * SB_BASE64_ERR (out unchanged) when text is not the canonical base64url of some bytes. */
int sb_base64_url_decode(sb_buf *out, const void *text, size_t len);

#endif
