/* test_random.c: sb_random_bytes and sb_random_id (random.h). */
#include "map.h"
#include "random.h"
#include "test.h"

#include <sys/wait.h>
#include <unistd.h>

#define ID_LEN       20 /* the Engine.IO sid and Socket.IO ids */
#define MANY_IDS     100000
#define ALPHABET_IDS 20000 /* every character at every position, with room to spare */
#define BYTE_VALUES  256
#define SPREAD_BYTES 65536 /* a missing byte value is a chance of e^-256 */
#define SMALL_DRAW   32

static const char URL_ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int url_char(char c) { return c != '\0' && strchr(URL_ALPHABET, c) != NULL; }

TEST_IMPL(random_bytes_differ_between_draws)
{
    uint8_t a[SMALL_DRAW], b[SMALL_DRAW];
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    sb_random_bytes(a, sizeof(a));
    sb_random_bytes(b, sizeof(b));
    ASSERT(memcmp(a, b, sizeof(a)) != 0);
    sb_random_bytes(a, 0); /* nothing asked, nothing written */
    return 0;
}

/* Small draws come from the pool, large ones straight from the kernel: both cover every
 * byte value, which a stuck or zeroed source would not. */
TEST_IMPL(random_bytes_cover_every_value)
{
    uint8_t *big = malloc(SPREAD_BYTES);
    ASSERT(big != NULL);
    int seen[2][BYTE_VALUES];
    memset(seen, 0, sizeof(seen));
    sb_random_bytes(big, SPREAD_BYTES);
    for (size_t i = 0; i < SPREAD_BYTES; i++)
        seen[0][big[i]] = 1;
    for (size_t i = 0; i < SPREAD_BYTES; i += SMALL_DRAW)
        sb_random_bytes(big + i, SMALL_DRAW);
    for (size_t i = 0; i < SPREAD_BYTES; i++)
        seen[1][big[i]] = 1;
    for (int v = 0; v < BYTE_VALUES; v++)
        ASSERT(seen[0][v] && seen[1][v]);
    free(big);
    return 0;
}

TEST_IMPL(random_id_length_and_alphabet)
{
    char id[ID_LEN * 2 + 2];
    for (size_t len = 0; len <= ID_LEN * 2; len++) {
        memset(id, '#', sizeof(id));
        sb_random_id(id, len);
        ASSERT_EQ(strlen(id), len);
        ASSERT(id[len + 1] == '#'); /* nothing written past the NUL */
        for (size_t i = 0; i < len; i++)
            ASSERT(url_char(id[i]));
    }
    return 0;
}

/* Every character of the alphabet shows at every position of a 20-character id: no
 * position has bits that are always set or clear (the last one included). */
TEST_IMPL(random_id_every_character_at_every_position)
{
    static int seen[ID_LEN][sizeof(URL_ALPHABET) - 1];
    memset(seen, 0, sizeof(seen));
    char id[ID_LEN + 1];
    for (int n = 0; n < ALPHABET_IDS; n++) {
        sb_random_id(id, ID_LEN);
        for (size_t i = 0; i < ID_LEN; i++)
            seen[i][strchr(URL_ALPHABET, id[i]) - URL_ALPHABET]++;
    }
    for (size_t i = 0; i < ID_LEN; i++)
        for (size_t c = 0; c < sizeof(URL_ALPHABET) - 1; c++)
            if (seen[i][c] == 0)
                TEST_FAIL("'%c' never at position %zu", URL_ALPHABET[c], i);
    return 0;
}

TEST_IMPL(random_id_unique_over_many)
{
    char *ids = malloc((size_t)MANY_IDS * (ID_LEN + 1));
    ASSERT(ids != NULL);
    sb_map seen;
    sb_map_init(&seen);
    for (size_t n = 0; n < MANY_IDS; n++) {
        char *id = ids + n * (ID_LEN + 1);
        sb_random_id(id, ID_LEN);
        ASSERT(sb_map_get(&seen, id) == NULL);
        sb_map_put(&seen, id, id);
    }
    ASSERT_EQ(seen.count, MANY_IDS);
    sb_map_free(&seen);
    free(ids);
    return 0;
}

/* A forked child must not hand out the bytes its parent's pool still holds. */
TEST_IMPL(random_bytes_differ_after_fork)
{
    uint8_t warm, parent[SMALL_DRAW], child[SMALL_DRAW];
    sb_random_bytes(&warm, 1); /* the pool is full of bytes the child inherits */
    int fds[2];
    ASSERT(pipe(fds) == 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        sb_random_bytes(child, sizeof(child));
        _exit(write(fds[1], child, sizeof(child)) == (ssize_t)sizeof(child) ? 0 : 1);
    }
    sb_random_bytes(parent, sizeof(parent));
    ASSERT(read(fds[0], child, sizeof(child)) == (ssize_t)sizeof(child));
    int status;
    ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fds[0]);
    close(fds[1]);
    ASSERT(memcmp(parent, child, sizeof(parent)) != 0);
    return 0;
}
