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

json_t *hd_client_customer(const hd_client *c)
{
    if (c->role != HD_ROLE_CUSTOMER || (!c->email && !c->fields))
        return NULL;
    json_t *fields = c->fields ? json_loads(c->fields, 0, NULL) : NULL;
    return json_pack("{s:s,s:s?,s:s?,s:o?}", "session_id", c->id, "name", c->name, "email",
                     c->email, "fields", fields);
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

/* Copies s (len bytes with its NUL, 0: absent) to *tail and moves it on. */
static char *tail_copy(char **tail, const char *s, size_t len)
{
    if (!len)
        return NULL;
    char *d = memcpy(*tail, s, len);
    *tail += len;
    return d;
}

static size_t len_or_0(const char *s) { return *s ? strlen(s) + 1 : 0; }

/* One allocation for the struct, the id, the name and a customer's email and fields (idle
 * sockets are most sockets, and each allocation costs its rounding and header too). */
hd_client *hd_client_new(const hd_config *cfg, const hd_identity *id)
{
    int customer = id->role == HD_ROLE_CUSTOMER;
    size_t id_len = len_or_0(id->id), name_len = len_or_0(id->name);
    size_t email_len = customer ? len_or_0(id->email) : 0;
    size_t fields_len = customer ? len_or_0(id->fields) : 0;
    hd_client *c = calloc(1, sizeof(*c) + id_len + name_len + email_len + fields_len);
    if (!c)
        abort();
    char *tail = (char *)(c + 1);
    c->role = id->role;
    c->id = tail_copy(&tail, id->id, id_len);
    c->name = tail_copy(&tail, id->name, name_len);
    c->email = tail_copy(&tail, id->email, email_len);
    c->fields = tail_copy(&tail, id->fields, fields_len);
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
