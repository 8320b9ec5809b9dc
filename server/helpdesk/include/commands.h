/* commands.h: the backend's command feed, the Redis stream hd:commands (spec §5):
 * XADD hd:commands * type <message|close|transfer> data <json>.
 *
 * The one idea: every node reads the stream in ONE consumer group ("switchboard"), each
 * as its own consumer (its node id), so Redis hands each entry to one node; an entry stays
 * pending until that node acks it. Entries left pending (the node died, or asked to retry
 * because the store was down) are reclaimed with XAUTOCLAIM by whichever node looks next
 * once they have been idle for claim_idle_ms. Nothing is lost when a node dies; an entry
 * is handled again only when its node died (or lost Redis) between handling and ack, so
 * a "message" command should carry a client_msg_id to make that harmless.
 *
 * The consumer has its own Redis connection: its XREADGROUP BLOCK would hold up every
 * reply behind it on a shared one.
 */
#ifndef HD_COMMANDS_H
#define HD_COMMANDS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define HD_COMMANDS_STREAM "commands" /* after the prefix: "hd:commands" */
#define HD_COMMANDS_GROUP  "switchboard"
/* above the store's command timeout, so an entry still being handled is not taken */
#define HD_COMMANDS_DEFAULT_CLAIM_IDLE_MS  15000
#define HD_COMMANDS_DEFAULT_CLAIM_EVERY_MS 3000
/* entries handed out and not yet acked or retried: reading pauses at this many */
#define HD_COMMANDS_MAX_HELD 256

typedef struct hd_commands hd_commands;
typedef struct hd_command hd_command;

/* One entry for the application. type is NULL when the entry has no "type" field; data
 * is NULL when "data" is missing or not JSON. Both live until hd_command_ack() or
 * hd_command_retry(), one of which must be called exactly once per command (it may be
 * later, from another callback). */
typedef void (*hd_command_cb)(hd_command *cmd, const char *type, json_t *data, void *ud);

typedef struct hd_commands_config {
    const char *url;         /* redis://[user:password@]host[:port][/db] (copied) */
    const char *prefix;      /* key prefix (copied); NULL: "hd:" */
    const char *node_id;     /* consumer name in the group (copied); unique per node */
    uint32_t claim_idle_ms;  /* reclaim entries pending this long; 0: the default */
    uint32_t claim_every_ms; /* how often to look for them; 0: the default */
    hd_command_cb on_command;
    void *ud;
} hd_commands_config;

/* Starts consuming in the background (creating the group, and the stream, when missing).
 * NULL with a reason in err when the URL is invalid or memory runs out. */
hd_commands *hd_commands_new(uv_loop_t *loop, const hd_commands_config *cfg, char *err,
                             size_t errlen);

/* Handled, or refused for good: XACK, then frees cmd. */
void hd_command_ack(hd_command *cmd);
/* Not handled now (the store was unavailable): stays pending, to be reclaimed after
 * claim_idle_ms by this node or another. Frees cmd. */
void hd_command_retry(hd_command *cmd);
/* The stream entry id ("1700000000000-0"), for logs; lives as long as cmd. */
const char *hd_command_id(const hd_command *cmd);

/* An eio_ready_cb-compatible check: 1 when the connection is up; ud is the consumer. */
int hd_commands_ready(const char **reason, void *ud);

/* Stops reading and claiming, waits until every command handed out has been acked or
 * retried and every ack has been answered, then closes the connection; done(ud) runs once
 * everything is freed (done may be NULL). Entries read but not yet handed out stay
 * pending for another node. */
void hd_commands_close(hd_commands *c, void (*done)(void *ud), void *ud);

#endif
