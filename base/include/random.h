/* random.h: every random byte the server uses, and the random ids made of them, from one
 * source: the kernel's CSPRNG, getrandom(2).
 *
 * Ids are a security matter: a guessable Engine.IO session id or Socket.IO private id lets
 * a stranger take over a connection. So there is no weak fallback: when the kernel cannot
 * give randomness, the process aborts with a message rather than make an id without it.
 * Bytes come from a per-thread pool refilled with one getrandom() call per
 * SB_RANDOM_POOL_BYTES (a system call per id was a measurable share of a stored message's
 * CPU); a forked child refills before it draws, so parent and child never share bytes.
 */
#ifndef SB_RANDOM_H
#define SB_RANDOM_H

#include <stddef.h>

#define SB_RANDOM_POOL_BYTES 4096 /* drawn from the kernel at a time, per thread */

/* Fills the n bytes at out with random bytes. Aborts when the kernel cannot give them. */
void sb_random_bytes(void *out, size_t n);

/* Writes len random characters and a NUL to out (len + 1 bytes): the base64url (RFC 4648
 * §5: A-Z a-z 0-9 - _, safe in URLs, cookies and Redis keys) of random bytes, cut to len,
 * so each character is 6 random bits and 20 characters are the base64url of 15 random
 * bytes, which is what Node's base64id makes (the Engine.IO sid, Socket.IO ids). Aborts
 * like sb_random_bytes(). */
void sb_random_id(char *out, size_t len);

#endif
