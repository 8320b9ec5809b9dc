/* map.h: a string-keyed hash map for the Socket.IO layer (namespaces, sockets by id, rooms,
 * event handlers, recovery sessions).
 *
 * Open addressing with linear probing and backward-shift deletion, so a put or a delete
 * allocates nothing until the table grows. Keys are borrowed: each entry's key must live as
 * long as the entry, which is natural when the key is a field of the value (room->name,
 * socket->id). Each map hashes with its own random SipHash key, so names chosen by clients
 * cannot be crafted to collide.
 */
#ifndef SB_MAP_H
#define SB_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct sb_map_slot {
    const char *key; /* borrowed; NULL marks a free slot */
    void *value;     /* the caller's pointer */
    uint64_t hash;   /* cached hash of key */
} sb_map_slot;

typedef struct sb_map {
    sb_map_slot *slots; /* cap slots, NULL until the first put */
    size_t cap;         /* a power of two, or 0 */
    size_t count;       /* entries in use */
    uint64_t k0, k1;    /* SipHash key of this map */
} sb_map;

void sb_map_init(sb_map *m);
/* Frees the table only: keys and values belong to the caller. */
void sb_map_free(sb_map *m);
void *sb_map_get(const sb_map *m, const char *key);
/* Inserts or replaces; key is borrowed (see file comment). */
void sb_map_put(sb_map *m, const char *key, void *value);
/* Removes key; returns its value, or NULL when absent. */
void *sb_map_del(sb_map *m, const char *key);
/* Iteration: size_t pos = 0; while ((v = sb_map_next(m, &pos)) != NULL) …
 * The map must not change during an iteration. */
void *sb_map_next(const sb_map *m, size_t *pos);

#endif
