/* random.c: the random bytes and ids of random.h.
 *
 * getrandom() with no flags blocks only until the kernel's pool is first seeded (early
 * boot), then never; it may return fewer bytes than asked when a signal arrives, so the
 * loop keeps asking. Any other failure (ENOSYS on a kernel older than 3.17, a seccomp
 * filter) is fatal, see random.h.
 */
#include "random.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base64.h"

#define SB_RANDOM_GROUP_BYTES 3 /* 24 bits: a whole number of bytes and of characters */
#define SB_RANDOM_GROUP_CHARS SB_BASE64_URL_LEN(SB_RANDOM_GROUP_BYTES)

typedef struct random_pool {
    uint8_t bytes[SB_RANDOM_POOL_BYTES];
    size_t left; /* unused bytes, at the end of bytes */
} random_pool;

static _Thread_local random_pool pool;
static pthread_once_t fork_hook_once = PTHREAD_ONCE_INIT;

/* The child is a copy of the forking thread, pool included: it must not hand out the
 * bytes its parent will hand out too. */
static void pool_forget_in_child(void) { pool.left = 0; }

static void fork_hook_install(void)
{
    if (pthread_atfork(NULL, NULL, pool_forget_in_child) != 0) {
        fprintf(stderr, "sb_random: cannot register the fork handler\n");
        abort();
    }
}

static void kernel_random(uint8_t *out, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom(out, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            fprintf(stderr, "sb_random: getrandom failed (%s): no id without randomness\n",
                    got < 0 ? strerror(errno) : "no bytes");
            abort();
        }
        out += got;
        n -= (size_t)got;
    }
}

void sb_random_bytes(void *out, size_t n)
{
    uint8_t *p = out;
    pthread_once(&fork_hook_once, fork_hook_install);
    if (n >= SB_RANDOM_POOL_BYTES / 2) {
        kernel_random(p, n); /* large requests would only churn the pool */
        return;
    }
    if (pool.left < n) {
        kernel_random(pool.bytes, sizeof(pool.bytes));
        pool.left = sizeof(pool.bytes);
    }
    uint8_t *from = pool.bytes + sizeof(pool.bytes) - pool.left;
    memcpy(p, from, n);
    memset(from, 0, n); /* what was handed out does not stay behind in the pool */
    pool.left -= n;
}

/* A whole group of random bytes at a time, so that every character is 6 random bits. */
void sb_random_id(char *out, size_t len)
{
    for (size_t i = 0; i < len; i += SB_RANDOM_GROUP_CHARS) {
        uint8_t raw[SB_RANDOM_GROUP_BYTES];
        char text[SB_RANDOM_GROUP_CHARS];
        sb_random_bytes(raw, sizeof(raw));
        sb_base64_url_write(text, raw, sizeof(raw));
        size_t n = len - i < sizeof(text) ? len - i : sizeof(text);
        memcpy(out + i, text, n);
    }
    out[len] = '\0';
}
