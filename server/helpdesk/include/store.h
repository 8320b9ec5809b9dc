/* store.h: where conversations, messages, the queue and agent presence live, and where
 * every routing decision is taken.
 *
 * The one idea: each operation below is ONE atomic step of the store. The in-memory store
 * (store_memory.c, the embedded default) runs it as plain C on the loop's thread; the Redis
 * store (store_redis.c) runs it as one Lua script, so that any number of nodes sharing a
 * Redis never assign a conversation twice, never put an agent above max_chats, never give
 * a seq twice, and never half-store a message. The application (app.c) only asks and then
 * carries out what the store decided: joins, emits, acks.
 *
 * Every operation ends with exactly one call of its callback, which may run before the
 * operation returns (the memory store always does; the Redis store never does). Strings
 * and JSON passed in are borrowed for the duration of the call; a result's JSON is
 * borrowed for the duration of the callback (json_incref what you keep).
 *
 * With Redis, every change is also appended to the stream hd:events in the same atomic
 * step (fields "type" and "data"): "message" (the message), "assigned" and "closed" (the
 * conversation), "transferred" (the conversation plus "previous_agent": id or null),
 * "queued" (the inquiry, whenever a conversation enters the queue: created and not assigned
 * in the same step, or transferred back to it) and "visitor" (the record of the visitor op).
 * The memory store gives the same events, with the same data, to its sink
 * (hd_store_memory_set_sink).
 */
#ifndef HD_STORE_H
#define HD_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Outcomes, as the contract's status codes. */
#define HD_OK           200
#define HD_EBADREQ      400 /* malformed request */
#define HD_EEXPIRED     401 /* token expired */
#define HD_EFORBIDDEN   403 /* not allowed for this role or conversation */
#define HD_ENOTFOUND    404 /* unknown conversation */
#define HD_ECONFLICT    409 /* conversation closed, or taken by another agent */
#define HD_ETOOLARGE    413 /* message too large */
#define HD_ERATE        429 /* rate limited */
#define HD_EUNAVAILABLE 503 /* the store could not be reached: nothing changed */

#define HD_ID_MAX 128 /* longest session, agent, conversation or client_msg_id accepted */

typedef struct hd_store hd_store;

/* Who may touch a conversation. A NULL field means "no restriction of that kind": the
 * backend (API key) and supervisors pass both NULL. */
typedef struct hd_access {
    const char *session_id; /* a customer: the conversation must belong to this session */
    const char *agent_id;   /* an agent: the conversation must be assigned to this agent */
} hd_access;

/* One agent as the token describes it. */
typedef struct hd_agent {
    const char *id;
    const char *name;         /* may be NULL */
    const char *const *depts; /* departments; n_depts 0: every department */
    size_t n_depts;
    int max_chats; /* concurrent conversation limit (> 0) */
} hd_agent;

/* A message to store (support from a client, the REST endpoint or hd:commands). */
typedef struct hd_post {
    const char *ticket_chat_id; /* NULL: the session's open conversation, or a new one */
    const char *session_id;     /* customer posts: the sender's session; else NULL */
    const char *dept;           /* department of a conversation created now; NULL: none */
    hd_access access;           /* checked against the conversation (403) */
    const char *sender_type;    /* "customer" | "agent" | "bot" | "system" */
    const char *sender_id;
    const char *sender_name;   /* may be NULL */
    const char *message;       /* the text (validated by the caller) */
    json_t *attachment;        /* false, or the {url,name,mime,size} object */
    const char *client_msg_id; /* NULL: not idempotent */
    const char *msg_id;        /* the id to give the message (a fresh ULID) */
    const char *new_chat_id;   /* the id to give a conversation created now */
    int assign;                /* auto routing: a conversation created now is routed in
                                  the same step (see post) */
    json_t *customer;          /* who the customer is, {session_id,name,email,fields} (absent:
                                  null), kept by a conversation created now and never changed;
                                  NULL: the session id, and sender_name when a customer posts.
                                  Its session_id is always the conversation's; a member of
                                  another type is null; not an object: 400 */
    int64_t now_ms;            /* created_at, last activity */
} hd_post;

/* What an operation produced. Unused fields are NULL / 0. */
typedef struct hd_result {
    int status;                 /* HD_OK or an HD_E* code */
    json_t *message;            /* post: the stored message (the one stored before on a duplicate);
                                   may be NULL when message_text is set */
    json_t *conversation;       /* the conversation after the operation (see below); post:
                                   may be NULL unless created */
    json_t *list;               /* history: messages; conversations / inquiries: their list;
                                   route, and a post that created and routed: assignments
                                   made; sweep: conversations closed */
    int duplicate;              /* post: client_msg_id was already stored: nothing changed */
    int created;                /* post: this call created the conversation (it is queued) */
    const char *previous_agent; /* transfer / close: the agent who had the conversation, or NULL */
    /* post: the message as compact JSON text, when the store has it (may be NULL) */
    const char *message_text;
    size_t message_text_len;
    const char *chat_id; /* post: the conversation's id */
    int64_t seq;         /* post: the message's seq */
    /* post, filled by the relay (conversations.c), not by stores: the support event's arguments
     * [{"status_code":200,"data":message}] as JSON text, encoded once for the room and the
     * sender's ack; NULL when not built */
    const char *support_args;
    size_t support_args_len;
} hd_result;

/* A conversation, as results hold it:
 *   {"ticket_chat_id","session_id","dept" (string|null),"status":"queued|assigned|closed",
 *    "agent":{"id","name"}|null,"created_at","queued_at" (ISO 8601, ms, UTC),"last_seq",
 *    "last_message": message|null, "first_message": message|null,
 *    "closed_by": string|null, "reason": string|null,
 *    "customer": {"session_id","name","email","fields"} (absent values null; fields an
 *                object or null), fixed when the conversation was created,
 *    "unread": last_seq - agent_read_seq, the messages the agent side has not read}
 * agent_read_seq grows with the read op (reader "agent") and with every post of sender
 * type "agent" (the poster has read up to its own message); customer_read_seq likewise
 * with reader "customer" and customer posts (kept, not in the JSON).
 * A conversation that never had an agent closes (close_chat, sweep) with reason
 * "unanswered", whatever reason the caller gave; one transferred back to the queue had one.
 * An assignment (route's list, take, transfer to an agent): the conversation, assigned.
 * An inquiry: {"ticket_chat_id","session_id","dept","first_message","queued_at","customer"}. */

typedef void (*hd_result_cb)(const hd_result *r, void *ud);

typedef struct hd_store_ops {
    /* Stores a message: creates the conversation when post->ticket_chat_id is NULL and the
     * session has no open one (status queued); 404 unknown, 403 access, 409 closed. The
     * next seq, gap-free; client_msg_id already seen in that conversation: the stored
     * message again with duplicate = 1. The result's message is the message as stored
     * (the same fields and values; key order may differ). Its conversation may be NULL
     * unless created = 1 (a store may skip building it on every message: the caller
     * needs it only to announce a new conversation). With post->assign, a conversation
     * created now is routed in the same atomic step, as route would (the queue oldest
     * first, this one included): list holds the assignments made (NULL or empty: none),
     * conversation its state after them, so that an agent who was free gets the first
     * message live. */
    void (*post)(hd_store *st, const hd_post *post, hd_result_cb cb, void *ud);
    /* Auto routing: assigns queued conversations, oldest first, each to the online agent of
     * its department with the fewest open conversations under max_chats (ties: idle the
     * longest), until none can be. list = the assignments made (may be empty). */
    void (*route)(hd_store *st, int64_t now_ms, hd_result_cb cb, void *ud);
    /* Manual routing: agent takes a queued conversation. 409 when not queued any more
     * (conversation = its current state), 403 at max_chats or wrong department. */
    void (*take)(hd_store *st, const char *chat_id, const hd_agent *agent, int64_t now_ms,
                 hd_result_cb cb, void *ud);
    /* Moves an assigned conversation: to agent_id directly (403 unknown / offline / full),
     * else back to the queue, in dept when given. access.agent_id: only that agent's.
     * previous_agent says who had it. */
    void (*transfer)(hd_store *st, const char *chat_id, const hd_access *access,
                     const char *agent_id, const char *dept, int64_t now_ms, hd_result_cb cb,
                     void *ud);
    /* Closes a conversation (by: "customer|agent|backend|system", reason: the contract's
     * reason). 409 when already closed. Named close_chat because close (below) is the
     * store's own handle close. */
    void (*close_chat)(hd_store *st, const char *chat_id, const hd_access *access, const char *by,
                       const char *reason, int64_t now_ms, hd_result_cb cb, void *ud);
    /* Messages with seq > after_seq, at most limit, in seq order; conversation set too. */
    void (*history)(hd_store *st, const char *chat_id, const hd_access *access, int64_t after_seq,
                    size_t limit, hd_result_cb cb, void *ud);
    /* The conversations of a customer session (session_id) or of an agent (agent_id, the
     * ones assigned to it); open_only: not closed. Newest first. Both NULL with open_only:
     * every open conversation (a supervisor's); both NULL without it: 400. */
    void (*conversations)(hd_store *st, const hd_access *who, int open_only, hd_result_cb cb,
                          void *ud);
    /* The queue, oldest first, as inquiries. */
    void (*inquiries)(hd_store *st, hd_result_cb cb, void *ud);
    /* Agent presence: delta +1 when one of its sockets connects on this node, -1 when one
     * goes. online: 1 online, 0 away, -1 unchanged. A node that stops refreshing
     * (heartbeat) loses its agents' presence after a timeout. */
    void (*agent_presence)(hd_store *st, const hd_agent *agent, int delta, int online,
                           int64_t now_ms, hd_result_cb cb, void *ud);
    /* Closes every open conversation with no activity since now_ms - timeout_ms, reason
     * "inactive"; list = the conversations closed by this call (each exactly once across a
     * cluster). */
    void (*sweep)(hd_store *st, int64_t now_ms, int64_t timeout_ms, hd_result_cb cb, void *ud);
    /* Records that a side has read up to seq: reader "agent" (the assigned agent, a
     * supervisor or the API) or "customer"; the read seq only grows (max), capped at
     * last_seq. 404 / 403 as history (and 403 for a customer marking the agent side read,
     * or an agent the customer side); 400 for another reader. conversation = the
     * conversation after it. */
    void (*read)(hd_store *st, const char *chat_id, const hd_access *access, const char *reader,
                 int64_t seq, hd_result_cb cb, void *ud);
    /* list = every agent known to the store (seen through agent_presence or take), ordered
     * by id: [{"id","name","dept":[..],"status":"online|away","online":bool (a socket is
     * connected and its node alive),"open_chats":n,"max_chats":n}] */
    void (*agents)(hd_store *st, int64_t now_ms, hd_result_cb cb, void *ud);
    /* list = [{"dept","agents_online","queue_length"}], one per department that an agent
     * names or a queued conversation is in, ordered by dept. agents_online: agents
     * available (online status, connected) that serve the dept (an agent with no depts
     * serves every dept, so it counts in each). */
    void (*departments)(hd_store *st, int64_t now_ms, hd_result_cb cb, void *ud);
    /* conversation = {"agents_online","queue_length"} for dept (NULL: every agent
     * available, the whole queue; else as departments counts it, queue_length = queued in
     * that dept). */
    void (*queue_status)(hd_store *st, const char *dept, int64_t now_ms, hd_result_cb cb, void *ud);
    /* Registers a website visitor: record (borrowed) is {"session_id","name","email",
     * "fields","user_id","created_at"} (absent: null; session_id required, else 400); stored
     * under the session id for ttl_ms (> 0; a later call for the same session replaces it),
     * and appended as the hd:events "visitor" event in the same step. conversation = the
     * record, as stored (those six keys). */
    void (*visitor)(hd_store *st, json_t *record, int64_t ttl_ms, int64_t now_ms, hd_result_cb cb,
                    void *ud);
    /* Closes and frees the store: every pending callback runs first (503 when it could not
     * finish), then done(ud) once every handle is closed (done may be NULL; the memory
     * store calls it at once). */
    void (*close)(hd_store *st, void (*done)(void *ud), void *ud);
} hd_store_ops;

struct hd_store {
    const hd_store_ops *ops;
};

/* The in-memory store of the embedded mode (one node; lost on restart). */
hd_store *hd_store_memory_new(void);

/* Every event the memory store makes (the types and data of hd:events), as it makes it:
 * type and data (compact JSON text, borrowed for the call). One sink; NULL turns it off. */
typedef void (*hd_event_sink)(const char *type, const char *data, size_t len, void *ud);
void hd_store_memory_set_sink(hd_store *st, hd_event_sink sink, void *ud);

#endif
