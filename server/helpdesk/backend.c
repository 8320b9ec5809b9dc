/* backend.c: what the helpdesk backend sends in (spec §5), by either road: a POST to
 * /api/v1/helpdesk/conversations/{id}/messages/ (rest.c) or an entry of the Redis stream
 * hd:commands (commands.h). Both are stored and delivered exactly like a support message.
 *
 * A command is acked once the store has decided, whatever it decided; a store that could
 * not be reached (503) leaves it pending, so it is retried later, by this node or another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "contract.h"
#include "message.h"

static int sender_valid(json_t *sender)
{
    const char *type = json_string_value(json_object_get(sender, "type"));
    json_t *id = json_object_get(sender, "id"), *name = json_object_get(sender, "name");
    if (!type || (strcmp(type, "bot") && strcmp(type, "agent") && strcmp(type, "system")))
        return 0;
    if (!json_is_string(id) || !json_string_length(id) || json_string_length(id) > HD_ID_MAX)
        return 0;
    return !name || json_is_null(name) || json_is_string(name);
}

int hd_backend_post(size_t max_message, json_t *body, const char *chat, hd_post *p, char *msg_id,
                    const char **why)
{
    json_t *sender = json_object_get(body, "sender");
    memset(p, 0, sizeof(*p));
    int st = hd_parse_message(max_message, body, p, why);
    if (st)
        return st;
    if (!chat || !*chat || strlen(chat) > HD_ID_MAX)
        return *why = "ticket_chat_id is required", HD_EBADREQ;
    if (!sender_valid(sender))
        return *why = "sender must be {type: bot|agent|system, id, name}", HD_EBADREQ;
    p->ticket_chat_id = chat;
    p->sender_type = json_string_value(json_object_get(sender, "type"));
    p->sender_id = json_string_value(json_object_get(sender, "id"));
    p->sender_name = json_string_value(json_object_get(sender, "name"));
    p->now_ms = hd_now_ms();
    hd_ulid(p->now_ms, msg_id);
    p->msg_id = msg_id;
    p->new_chat_id = chat; /* a post naming its conversation never creates one */
    return 0;
}

/* ---- hd:commands ----------------------------------------------------------------------------- */

static void on_command_done(const hd_result *r, void *ud)
{
    hd_command *cmd = ud;
    if (r->status == HD_EUNAVAILABLE) {
        hd_command_retry(cmd);
        return;
    }
    if (r->status != HD_OK)
        fprintf(stderr, "switchboard: hd:commands entry %s refused: %d %s\n", hd_command_id(cmd),
                r->status, hd_error_code(r->status));
    hd_command_ack(cmd);
}

static void command_refused(hd_command *cmd, const char *why)
{
    fprintf(stderr, "switchboard: hd:commands entry %s refused: %s\n", hd_command_id(cmd), why);
    hd_command_ack(cmd);
}

void hd_backend_apply(hd_conversations *cv, hd_command *cmd, const char *type, json_t *data)
{
    const char *chat = json_string_value(json_object_get(data, "ticket_chat_id"));
    const char *why = NULL;
    if (!type || !json_is_object(data) || !chat) {
        command_refused(cmd, "needs a type and JSON data with ticket_chat_id");
        return;
    }
    if (!strcmp(type, "message")) {
        hd_post p;
        char msg_id[HD_ULID_LEN + 1];
        if (hd_backend_post(cv->node->cfg.max_message, data, chat, &p, msg_id, &why))
            command_refused(cmd, why);
        else
            hd_conv_post(cv, &p, on_command_done, cmd);
    } else if (!strcmp(type, "close")) {
        hd_access any = {NULL, NULL};
        hd_conv_close(cv, chat, &any, "backend", "backend", on_command_done, cmd);
    } else if (!strcmp(type, "transfer")) {
        hd_access any = {NULL, NULL};
        const char *agent_id = json_string_value(json_object_get(data, "agent_id"));
        const char *dept = json_string_value(json_object_get(data, "dept"));
        hd_conv_transfer(cv, chat, &any, agent_id, dept, on_command_done, cmd);
    } else {
        command_refused(cmd, "unknown type (message, close or transfer)");
    }
}
