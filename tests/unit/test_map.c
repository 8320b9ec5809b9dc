/* test_map.c: sb_map, the string-keyed hash map of map.h. */
#include "map.h"
#include "test.h"

/* Enough entries for several doublings past the first table. */
#define MANY    2000
#define KEY_LEN 16

typedef struct entry {
    char key[KEY_LEN]; /* the map key lives in the value, as map.h suggests */
    int value;
} entry;

static entry *entries_new(size_t n)
{
    entry *v = calloc(n, sizeof(*v));
    ASSERT(v != NULL);
    for (size_t i = 0; i < n; i++) {
        snprintf(v[i].key, sizeof(v[i].key), "k%zu", i);
        v[i].value = (int)i;
    }
    return v;
}

static void map_fill(sb_map *m, entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sb_map_put(m, v[i].key, &v[i]);
    ASSERT_EQ(m->count, n);
}

TEST_IMPL(map_starts_empty)
{
    sb_map m;
    sb_map_init(&m);
    size_t pos = 0;
    ASSERT_EQ(m.count, 0);
    ASSERT(sb_map_get(&m, "a") == NULL);
    ASSERT(sb_map_del(&m, "a") == NULL);
    ASSERT(sb_map_next(&m, &pos) == NULL);
    sb_map_free(&m);
    return 0;
}

TEST_IMPL(map_put_get_del)
{
    sb_map m;
    int a = 1, b = 2, c = 3;
    sb_map_init(&m);
    sb_map_put(&m, "a", &a);
    sb_map_put(&m, "b", &b);
    ASSERT_EQ(m.count, 2);
    ASSERT(sb_map_get(&m, "a") == &a);
    ASSERT(sb_map_get(&m, "b") == &b);
    ASSERT(sb_map_get(&m, "c") == NULL);
    ASSERT(sb_map_get(&m, "") == NULL);
    sb_map_put(&m, "a", &c); /* replaces, does not add */
    ASSERT_EQ(m.count, 2);
    ASSERT(sb_map_get(&m, "a") == &c);
    ASSERT(sb_map_del(&m, "a") == &c);
    ASSERT(sb_map_del(&m, "a") == NULL);
    ASSERT(sb_map_get(&m, "a") == NULL);
    ASSERT(sb_map_get(&m, "b") == &b);
    ASSERT_EQ(m.count, 1);
    sb_map_put(&m, "", &a); /* the empty string is a key like any other */
    ASSERT(sb_map_get(&m, "") == &a);
    sb_map_free(&m);
    ASSERT(m.slots == NULL && m.cap == 0 && m.count == 0);
    return 0;
}

TEST_IMPL(map_grows_and_keeps_every_entry)
{
    sb_map m;
    entry *v = entries_new(MANY);
    sb_map_init(&m);
    for (size_t i = 0; i < MANY; i++) {
        sb_map_put(&m, v[i].key, &v[i]);
        ASSERT_EQ(m.count, i + 1);
        /* at most two thirds full, a power of two */
        ASSERT(m.count * 3 <= m.cap * 2);
        ASSERT((m.cap & (m.cap - 1)) == 0);
    }
    for (size_t i = 0; i < MANY; i++)
        ASSERT(sb_map_get(&m, v[i].key) == &v[i]);
    sb_map_free(&m);
    free(v);
    return 0;
}

/* Deleting shifts the rest of a probe run back: whatever stays must still be found, and
 * what went must not be, whatever the order of the deletes. */
TEST_IMPL(map_del_keeps_the_rest_findable)
{
    sb_map m;
    entry *v = entries_new(MANY);
    sb_map_init(&m);
    map_fill(&m, v, MANY);
    for (size_t i = 0; i < MANY; i += 3)
        ASSERT(sb_map_del(&m, v[i].key) == &v[i]);
    for (size_t i = MANY; i-- > 0;)
        if (i % 3 == 1)
            ASSERT(sb_map_del(&m, v[i].key) == &v[i]);
    for (size_t i = 0; i < MANY; i++)
        ASSERT(sb_map_get(&m, v[i].key) == (i % 3 == 2 ? &v[i] : NULL));
    for (size_t i = 0; i < MANY; i++)
        sb_map_del(&m, v[i].key);
    ASSERT_EQ(m.count, 0);
    for (size_t i = 0; i < MANY; i++)
        ASSERT(sb_map_get(&m, v[i].key) == NULL);
    sb_map_free(&m);
    free(v);
    return 0;
}

TEST_IMPL(map_next_visits_each_entry_once)
{
    sb_map m;
    entry *v = entries_new(MANY);
    int *seen = calloc(MANY, sizeof(*seen));
    ASSERT(seen != NULL);
    sb_map_init(&m);
    map_fill(&m, v, MANY);
    for (size_t i = 0; i < MANY; i += 2)
        sb_map_del(&m, v[i].key);
    size_t pos = 0, visited = 0;
    entry *e;
    while ((e = sb_map_next(&m, &pos)) != NULL) {
        seen[e->value]++;
        visited++;
    }
    ASSERT_EQ(visited, MANY / 2);
    for (size_t i = 0; i < MANY; i++)
        ASSERT_EQ(seen[i], i % 2);
    sb_map_free(&m);
    free(seen);
    free(v);
    return 0;
}

/* The map must not change during an iteration (map.h): deleting moves entries across the
 * cursor. What callers do instead is collect, then delete; that empties the map. */
TEST_IMPL(map_collect_then_delete)
{
    sb_map m;
    entry *v = entries_new(MANY);
    entry **found = calloc(MANY, sizeof(*found));
    ASSERT(found != NULL);
    sb_map_init(&m);
    map_fill(&m, v, MANY);
    size_t pos = 0, n = 0;
    entry *e;
    while ((e = sb_map_next(&m, &pos)) != NULL)
        found[n++] = e;
    ASSERT_EQ(n, MANY);
    for (size_t i = 0; i < n; i++)
        ASSERT(sb_map_del(&m, found[i]->key) == found[i]);
    ASSERT_EQ(m.count, 0);
    pos = 0;
    ASSERT(sb_map_next(&m, &pos) == NULL);
    sb_map_free(&m);
    free(found);
    free(v);
    return 0;
}

TEST_IMPL(map_keys_differ_per_map)
{
    sb_map a, b;
    sb_map_init(&a);
    sb_map_init(&b);
    /* 128 random bits each: equal only if randomness is broken */
    ASSERT(a.k0 != b.k0 || a.k1 != b.k1);
    sb_map_free(&a);
    sb_map_free(&b);
    return 0;
}
