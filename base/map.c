/* map.c: the string-keyed hash map of map.h.
 *
 * The table stays at most two thirds full (SIO_MAP_MAX_LOAD, as Python's dicts) so probe
 * runs stay short (some 2 probes to find a key, 5 to miss one) without a table of mostly
 * empty slots: the maps of sockets and rooms have an entry per connection; deletion
 * shifts the following run back instead of leaving tombstones, so lookups never slow down
 * after many joins and leaves. SipHash-1-3 is the keyed hash Redis uses for its dicts.
 */
#include "map.h"

#include <stdlib.h>
#include <string.h>

#include "random.h"

#define SIO_MAP_MIN_CAP      8
#define SIO_MAP_MAX_LOAD_NUM 2 /* grow when count + 1 > cap * 2/3 */
#define SIO_MAP_MAX_LOAD_DEN 3

#define ROTL(x, b)               (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(v0, v1, v2, v3) sipround(&(v0), &(v1), &(v2), &(v3))

static inline void sipround(uint64_t *v0, uint64_t *v1, uint64_t *v2, uint64_t *v3)
{
    *v0 += *v1;
    *v1 = ROTL(*v1, 13);
    *v1 ^= *v0;
    *v0 = ROTL(*v0, 32);
    *v2 += *v3;
    *v3 = ROTL(*v3, 16);
    *v3 ^= *v2;
    *v0 += *v3;
    *v3 = ROTL(*v3, 21);
    *v3 ^= *v0;
    *v2 += *v1;
    *v1 = ROTL(*v1, 17);
    *v1 ^= *v2;
    *v2 = ROTL(*v2, 32);
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t siphash13(const uint8_t *in, size_t len, uint64_t k0, uint64_t k1)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    size_t full = len - (len % 8);
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = load_le64(in + i);
        v3 ^= m;
        SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++)
        b |= (uint64_t)in[full + i] << (8 * i);
    v3 ^= b;
    SIPROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    for (int i = 0; i < 3; i++)
        SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

void sb_map_init(sb_map *m)
{
    uint64_t key[2];
    memset(m, 0, sizeof(*m));
    sb_random_bytes(key, sizeof(key));
    m->k0 = key[0];
    m->k1 = key[1];
}

void sb_map_free(sb_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

static uint64_t map_hash(const sb_map *m, const char *key)
{
    return siphash13((const uint8_t *)key, strlen(key), m->k0, m->k1);
}

/* Index of key's slot, or of the free slot where it would go. */
static size_t map_find(const sb_map *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slots[i].key && (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
        i = (i + 1) & mask;
    return i;
}

static void map_grow(sb_map *m)
{
    sb_map_slot *old = m->slots;
    size_t old_cap = m->cap;
    m->cap = old_cap ? old_cap * 2 : SIO_MAP_MIN_CAP;
    m->slots = calloc(m->cap, sizeof(*m->slots));
    if (!m->slots)
        abort();
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].key)
            continue;
        size_t j = map_find(m, old[i].key, old[i].hash);
        m->slots[j] = old[i];
    }
    free(old);
}

void *sb_map_get(const sb_map *m, const char *key)
{
    if (m->count == 0)
        return NULL;
    size_t i = map_find(m, key, map_hash(m, key));
    return m->slots[i].key ? m->slots[i].value : NULL;
}

void sb_map_put(sb_map *m, const char *key, void *value)
{
    if ((m->count + 1) * SIO_MAP_MAX_LOAD_DEN > m->cap * SIO_MAP_MAX_LOAD_NUM)
        map_grow(m);
    uint64_t h = map_hash(m, key);
    size_t i = map_find(m, key, h);
    if (!m->slots[i].key)
        m->count++;
    m->slots[i].key = key;
    m->slots[i].value = value;
    m->slots[i].hash = h;
}

void *sb_map_del(sb_map *m, const char *key)
{
    if (m->count == 0)
        return NULL;
    size_t mask = m->cap - 1, i = map_find(m, key, map_hash(m, key));
    if (!m->slots[i].key)
        return NULL;
    void *value = m->slots[i].value;
    /* Backward shift: move later entries of the run into the hole when their home slot
     * does not lie (cyclically) between the hole and their current position. */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].key)
            break;
        size_t home = (size_t)m->slots[j].hash & mask;
        int between = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (between)
            continue;
        m->slots[hole] = m->slots[j];
        hole = j;
    }
    m->slots[hole].key = NULL;
    m->slots[hole].value = NULL;
    m->count--;
    return value;
}

void *sb_map_next(const sb_map *m, size_t *pos)
{
    while (*pos < m->cap) {
        const sb_map_slot *s = &m->slots[(*pos)++];
        if (s->key)
            return s->value;
    }
    return NULL;
}
