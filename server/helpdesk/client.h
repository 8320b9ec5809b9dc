/* client.h: what the helpdesk keeps per socket, from its token, and the names derived from
 * it: the socket's rooms and what it may touch.
 *
 * The bottom of the helpdesk: it includes none of the helpdesk's own headers but the
 * public ones, and every other file may include it. A socket's hd_client is its userdata
 * (sio_socket_set_userdata), set once the token checks out.
 */
#ifndef HD_CLIENT_H
#define HD_CLIENT_H

#include "helpdesk.h"

#define HD_ROOM_MAX (HD_ID_MAX + 16) /* "session:" + id */

#define HD_SYNC_ROOMS    0x1
#define HD_SYNC_PRESENCE 0x2

/* Per socket, from its token: small, because idle connections are most connections. */
typedef struct hd_client {
    hd_role role;
    char *id;     /* sub (in the same allocation); NULL for an API key */
    char *name;   /* in the same allocation, NULL when absent */
    char **depts; /* owned */
    size_t n_depts;
    int max_chats;
    int64_t exp;       /* seconds; 0: never (API key) */
    double tokens;     /* rate limit bucket */
    int64_t refill_ms; /* when tokens was last topped up */
    int present;       /* counted in the agent's presence (the store said so) */
    int joined;        /* in the chat rooms of its open conversations */
    int syncing;       /* HD_SYNC_* operations in flight */
    int resync_queued; /* in the queue of sockets to sync again */
    int gone;          /* the socket left while an operation was in flight */
    json_t *resume;    /* the auth payload's resume, until the socket is in its rooms */
} hd_client;

/* The client of identity id, with cfg's defaults where the token names none (owned by the
 * caller: hd_client_free). */
hd_client *hd_client_new(const hd_config *cfg, const hd_identity *id);
void hd_client_free(hd_client *c);
hd_client *hd_client_of(sio_socket *s);
void hd_agent_of(const hd_client *c, hd_agent *out);
void hd_room(char *buf, const char *kind, const char *id); /* "kind:id" into HD_ROOM_MAX */
/* What a customer (its session) or an agent (its conversations) may touch; supervisors
 * and API keys may touch anything. */
hd_access hd_access_of(hd_role role, const char *id);

#endif
