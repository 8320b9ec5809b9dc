/* store_redis.h: the hd_store of store.h kept in Redis, shared by every node of a cluster.
 *
 * The one idea: every operation is ONE Lua script (store_redis_scripts.h), which Redis
 * runs as one atomic step whatever the number of nodes: a conversation is never assigned
 * twice, no agent goes above max_chats, no seq is given twice, no message is half stored,
 * and the hd:events entry of a change is appended in the same step as the change. Any
 * Redis failure answers HD_EUNAVAILABLE (503): a script is all or nothing, but a reply
 * lost with the connection may belong to a script that ran, which is why a retry with the
 * same client_msg_id answers duplicate = 1.
 *
 * Keys (prefix "hd:"). The word before the first colon says what a key holds, so no id
 * (ids may hold colons) turns one kind of key into another. Scripts build keys from their
 * arguments, so this needs one Redis (or a primary with replicas), not Redis Cluster.
 *   hd:conv:<id>            HASH session_id, dept, status, agent_id, agent_name, created_at,
 *                           queued_at, last_seq, last_activity, closed_by, reason, order,
 *                           first_message, last_message (message JSON), customer (JSON),
 *                           had_agent ('1' once assigned), agent_read, customer_read
 *   hd:conv-msgs:<id>       LIST of message JSON, index seq - 1 (history is one LRANGE)
 *   hd:conv-cmid:<id>       HASH client_msg_id -> seq
 *   hd:session-open:<sid>   STRING the session's open conversation
 *   hd:session-convs:<sid>  ZSET its conversations by creation order
 *   hd:agent:<id>           HASH name, depts (JSON array), max_chats, status, idle_since,
 *                           assigned_ever
 *   hd:agent-open:<id>      SET its open conversations (their count is its load)
 *   hd:agent-convs:<id>     ZSET every conversation ever assigned to it, by creation order
 *   hd:agent-nodes:<id>     HASH store instance -> the agent's sockets on it
 *   hd:agents               SET every agent seen
 *   hd:queue                ZSET queued conversations by hd:order when queued (FIFO)
 *   hd:open                 ZSET conversations not closed, by last activity (the sweep)
 *   hd:order                STRING the counter behind every insertion order
 *   hd:node:<node_id>:<ULID> STRING liveness of one store instance, PX presence_ttl_ms,
 *                           refreshed every presence_ttl_ms / 3 and deleted by a clean
 *                           close: an agent is available only while online and counted on
 *                           at least one live instance, so a killed node's agents stop
 *                           getting conversations (and a stalled one's come back with it)
 *   hd:visitor:<sid>        STRING a visitor record (JSON), PX its ttl
 *   hd:events               STREAM (type, data), never trimmed here: the backend's feed
 *
 * hd:events data: "message": the message; "assigned", "closed": the conversation;
 * "transferred": the conversation plus "previous_agent" (id or null); "queued": the
 * inquiry; "visitor": the record.
 *
 * Beyond store.h: route and sweep act on at most HD_REDIS_ROUTE_MAX / HD_REDIS_SWEEP_MAX
 * conversations per call (one script holds Redis for its whole run): a full list means
 * there may be more, call again.
 */
#ifndef HD_STORE_REDIS_H
#define HD_STORE_REDIS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store.h"

#define HD_REDIS_DEFAULT_PREFIX          "hd:"
#define HD_REDIS_DEFAULT_PRESENCE_TTL_MS 15000
#define HD_REDIS_ROUTE_MAX               256 /* assignments per route call: a full list means call again */
#define HD_REDIS_SWEEP_MAX               256 /* conversations closed per sweep call: likewise */

typedef struct hd_redis_config {
    const char *url;             /* redis://[user:password@]host[:port][/db] (copied) */
    const char *prefix;          /* key prefix (copied); NULL: HD_REDIS_DEFAULT_PREFIX */
    const char *node_id;         /* this node's name in presence keys (copied); NULL: "node" */
    uint32_t presence_ttl_ms;    /* agents of a node that stops refreshing expire after
                                    this; 0: HD_REDIS_DEFAULT_PRESENCE_TTL_MS */
    uint32_t command_timeout_ms; /* longest wait for Redis before 503; 0: redis_conn's default */
} hd_redis_config;

/* Creates the store and starts connecting in the background (operations answer 503 until
 * connected). NULL with a reason in err when the URL is invalid or memory runs out. The
 * loop must run until the store's close callback. */
hd_store *hd_store_redis_new(uv_loop_t *loop, const hd_redis_config *cfg, char *err, size_t errlen);

/* An eio_ready_cb for /readyz: 1 when Redis is connected; ud is the store. */
int hd_store_redis_ready(const char **reason, void *ud);

#endif
