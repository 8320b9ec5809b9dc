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

/* Per socket, from its token: small, because idle connections are most connections (the
 * strings share the struct's allocation; the flags are bytes, after the words). */
typedef struct hd_client {
    hd_role role;
    int max_chats;
    char *id;     /* sub (in the same allocation); NULL for an API key */
    char *name;   /* in the same allocation, NULL when absent */
    char *email;  /* a customer's email claim, in the same allocation, NULL when absent */
    char *fields; /* a customer's fields claim (compact JSON), likewise */
    char **depts; /* owned */
    size_t n_depts;
    int64_t exp;           /* seconds; 0: never (API key) */
    double tokens;         /* rate limit bucket */
    int64_t refill_ms;     /* when tokens was last topped up */
    json_t *resume;        /* the auth payload's resume, until the socket is in its rooms */
    uint8_t present;       /* counted in the agent's presence (the store said so) */
    uint8_t joined;        /* in the chat rooms of its open conversations */
    uint8_t syncing;       /* HD_SYNC_* operations in flight */
    uint8_t resync_queued; /* in the queue of sockets to sync again */
    uint8_t gone;          /* the socket left while an operation was in flight */
} hd_client;

/* The client of identity id, with cfg's defaults where the token names none (owned by the
 * caller: hd_client_free). */
hd_client *hd_client_new(const hd_config *cfg, const hd_identity *id);
void hd_client_free(hd_client *c);
hd_client *hd_client_of(sio_socket *s);
void hd_agent_of(const hd_client *c, hd_agent *out);
/* Who a customer is, for the conversation it creates (hd_post.customer, spec §3):
 * {"session_id","name","email","fields"} (new reference), or NULL when the client is no
 * customer or its token names neither email nor fields (the store then makes the same
 * object of the session id and the sender's name). */
json_t *hd_client_customer(const hd_client *c);
void hd_room(char *buf, const char *kind, const char *id); /* "kind:id" into HD_ROOM_MAX */
/* What a customer (its session) or an agent (its conversations) may touch; supervisors
 * and API keys may touch anything. */
hd_access hd_access_of(hd_role role, const char *id);

#endif
