/* demo.c: tokens for the demo's console (see demo.h). */
#include "demo.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "contract.h"
#include "message.h"

#define DEMO_NAME_MAX 64

/* An id the console can show and a room name can carry: letters, digits, '-', '_', '.'. */
static int plain_id(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (!n || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", s[i]))
            return 0;
    return 1;
}

/* The claims of a valid request (new reference), or NULL with *why set. */
static json_t *claims_of(json_t *body, int64_t now_s, const char **why)
{
    const char *id = NULL, *role = "agent", *name = NULL;
    json_t *dept = NULL;
    *why = "expected {\"id\", \"role\": \"agent\" or \"supervisor\", \"name\"?, \"dept\"?: [ids]}";
    if (json_unpack(body, "{s:s,s?s,s?s,s?o}", "id", &id, "role", &role, "name", &name, "dept",
                    &dept) ||
        !plain_id(id, HD_ID_MAX) || (strcmp(role, "agent") && strcmp(role, "supervisor")) ||
        (name && strlen(name) > DEMO_NAME_MAX))
        return NULL;
    if (dept && (!json_is_array(dept) || json_array_size(dept) > HD_MAX_DEPTS))
        return NULL;
    size_t i;
    json_t *d;
    json_array_foreach(dept, i, d)
    {
        if (!json_is_string(d) || !plain_id(json_string_value(d), HD_ID_MAX))
            return NULL;
    }
    json_t *claims =
        json_pack("{s:s,s:s,s:s,s:I,s:I}", "sub", id, "role", role, "name", name ? name : id, "iat",
                  (json_int_t)now_s, "exp", (json_int_t)now_s + HD_DEMO_TOKEN_S);
    if (dept)
        json_object_set(claims, "dept", dept);
    return claims;
}

int hd_demo_route(hd_node *node, eio_http_request *req)
{
    if (!node->cfg.demo || strcmp(eio_http_path(req), "/demo/token"))
        return 1;
    if (strcmp(eio_http_method(req), "POST")) {
        hd_respond_error(req, 405, "method not allowed");
        return 0;
    }
    size_t len;
    const uint8_t *raw = eio_http_body(req, &len);
    json_t *body = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    int64_t now_s = hd_now_ms() / 1000;
    const char *why = "the body is not JSON";
    json_t *claims = body ? claims_of(body, now_s, &why) : NULL;
    json_decref(body);
    if (!claims) {
        hd_respond_error(req, HD_EBADREQ, why);
        return 0;
    }
    char *token = hd_jwt_sign_claims(&node->cfg.auth, claims);
    json_decref(claims);
    if (!token)
        abort(); /* --demo is refused without a JWT secret */
    hd_respond_json(
        req, NULL, 200,
        json_pack("{s:s,s:I}", "token", token, "expires_at", (json_int_t)now_s + HD_DEMO_TOKEN_S),
        NULL);
    free(token);
    return 0;
}
