/* client.c: the per-socket state of the helpdesk (client.h): made from a token's
 * identity, freed when the socket has left and no operation holds it any more.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "message.h"

hd_access hd_access_of(hd_role role, const char *id)
{
    hd_access a = {NULL, NULL};
    if (role == HD_ROLE_CUSTOMER)
        a.session_id = id;
    else if (role == HD_ROLE_AGENT)
        a.agent_id = id;
    return a;
}

void hd_room(char *buf, const char *kind, const char *id)
{
    snprintf(buf, HD_ROOM_MAX, "%s:%s", kind, id);
}

hd_client *hd_client_of(sio_socket *s) { return sio_socket_userdata(s); }

void hd_agent_of(const hd_client *c, hd_agent *out)
{
    out->id = c->id;
    out->name = c->name;
    out->depts = (const char *const *)c->depts;
    out->n_depts = c->n_depts;
    out->max_chats = c->max_chats;
}

static char *dup_or_null(const char *s)
{
    if (!s || !*s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* One allocation for the struct, the id and the name (idle sockets are most sockets, and
 * each allocation costs its rounding and header too). */
hd_client *hd_client_new(const hd_config *cfg, const hd_identity *id)
{
    size_t id_len = *id->id ? strlen(id->id) + 1 : 0;
    size_t name_len = *id->name ? strlen(id->name) + 1 : 0;
    hd_client *c = calloc(1, sizeof(*c) + id_len + name_len);
    if (!c)
        abort();
    char *tail = (char *)(c + 1);
    c->role = id->role;
    if (id_len) {
        c->id = memcpy(tail, id->id, id_len);
        tail += id_len;
    }
    if (name_len)
        c->name = memcpy(tail, id->name, name_len);
    c->max_chats = id->max_chats > 0 ? id->max_chats : cfg->max_chats;
    c->exp = id->exp;
    c->tokens = cfg->burst;
    c->refill_ms = hd_now_ms();
    if (id->n_depts) {
        c->depts = calloc(id->n_depts, sizeof(*c->depts));
        if (!c->depts)
            abort();
        for (size_t i = 0; i < id->n_depts; i++)
            c->depts[i] = dup_or_null(id->depts[i]);
        c->n_depts = id->n_depts;
    }
    return c;
}

void hd_client_free(hd_client *c)
{
    json_decref(c->resume);
    for (size_t i = 0; i < c->n_depts; i++)
        free(c->depts[i]);
    free(c->depts);
    free(c);
}
