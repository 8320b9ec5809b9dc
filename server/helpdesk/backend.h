/* backend.h: what the helpdesk backend sends in (spec §5), by either road: a REST POST
 * (rest.c) or an entry of the Redis stream hd:commands (backend.c).
 *
 * Above conversations.h, through which it carries the messages and commands out; rest.c
 * is above it.
 */
#ifndef HD_BACKEND_H
#define HD_BACKEND_H

#include <jansson.h>
#include <stddef.h>

#include "commands.h"
#include "conversations.h"

/* A backend message (REST body or hd:commands data) as a post into chat, its text at most
 * max_message bytes; msg_id holds HD_ULID_LEN + 1 bytes. 0 or an HD_E* status with *why
 * set. */
int hd_backend_post(size_t max_message, json_t *body, const char *chat, hd_post *p, char *msg_id,
                    const char **why);
/* Carries out one hd:commands entry (message, close, transfer) through cv; the entry is
 * acked once the store has decided, left pending when it could not be reached. */
void hd_backend_apply(hd_conversations *cv, hd_command *cmd, const char *type, json_t *data);

#endif
