/* contract.c: what the contract (spec §3, §5) says of every road in alike: the socket's
 * events, the REST endpoints and hd:commands. A message payload is checked here the same
 * for all three, and a refusal is answered with the same error body on all of them.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"

/* An optional id field: absent or null → NULL; else a string of 1..HD_ID_MAX bytes. */
int hd_id_field(json_t *o, const char *key, const char **out)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > HD_ID_MAX)
        return -1;
    *out = json_string_value(v);
    return 0;
}

static int attachment_valid(json_t *a)
{
    json_t *size = json_object_get(a, "size");
    if (!json_is_string(json_object_get(a, "url")))
        return 0;
    if (json_object_get(a, "name") && !json_is_string(json_object_get(a, "name")))
        return 0;
    if (json_object_get(a, "mime") && !json_is_string(json_object_get(a, "mime")))
        return 0;
    return !size || (json_is_integer(size) && json_integer_value(size) >= 0);
}

int hd_parse_message(size_t max_message, json_t *payload, hd_post *p, const char **why)
{
    json_t *text = json_object_get(payload, "message");
    json_t *att = json_object_get(payload, "attachment");
    if (!json_is_object(payload))
        return *why = "the payload must be an object", HD_EBADREQ;
    if (!json_is_string(text))
        return *why = "message must be a string", HD_EBADREQ;
    if (json_string_length(text) > max_message)
        return *why = NULL, HD_ETOOLARGE;
    if (!att || json_is_null(att) || json_is_false(att))
        att = json_false();
    else if (!json_is_object(att) || !attachment_valid(att))
        return *why = "attachment must be false or {url, name, mime, size}", HD_EBADREQ;
    if (json_string_length(text) == 0 && json_is_false(att))
        return *why = "empty message", HD_EBADREQ;
    if (hd_id_field(payload, "client_msg_id", &p->client_msg_id))
        return *why = "client_msg_id must be a short string", HD_EBADREQ;
    p->message = json_string_value(text);
    p->attachment = att;
    return 0;
}

/* ---- the error body ---------------------------------------------------------------------- */

const char *hd_error_code(int status)
{
    switch (status) {
    case HD_EBADREQ: return "bad_request";
    case HD_EEXPIRED: return "token_expired";
    case HD_EFORBIDDEN: return "forbidden";
    case HD_ENOTFOUND: return "not_found";
    case HD_ECONFLICT: return "conflict";
    case HD_ETOOLARGE: return "too_large";
    case HD_ERATE: return "rate_limited";
    case HD_EUNAVAILABLE: return "store_unavailable";
    default: return "error";
    }
}

static const char *default_detail(int status)
{
    switch (status) {
    case HD_EEXPIRED: return "the token has expired";
    case HD_EFORBIDDEN: return "not allowed for this role or conversation";
    case HD_ENOTFOUND: return "unknown conversation";
    case HD_ECONFLICT: return "the conversation is closed or taken";
    case HD_ETOOLARGE: return "message too large";
    case HD_ERATE: return "too many events, slow down";
    case HD_EUNAVAILABLE: return "store unavailable, nothing was stored: retry";
    default: return "malformed request";
    }
}

json_t *hd_error_body(int status, const char *detail)
{
    return json_pack("{s:i,s:{s:s,s:s}}", "status_code", status, "error", "code",
                     hd_error_code(status), "message", detail ? detail : default_detail(status));
}

void hd_respond_error(eio_http_request *req, int status, const char *detail)
{
    hd_respond_json(req, NULL, status, hd_error_body(status, detail), NULL);
}

/* ---- widget keys --------------------------------------------------------------------------- */

int hd_widget_key_ok(const hd_config *cfg, const char *key)
{
    if (key && cfg->demo && !strcmp(key, HD_DEMO_WIDGET_KEY))
        return 1;
    return key != NULL && hd_key_in(cfg->widget_keys, cfg->n_widget_keys, key, strlen(key));
}

/* ---- HTTP answers -------------------------------------------------------------------------- */

json_t *hd_unauthorized_body(const char *why)
{
    return json_pack("{s:i,s:{s:s,s:s}}", "status_code", 401, "error", "code", "unauthorized",
                     "message", why);
}

void hd_respond_json(eio_http_request *req, eio_http_deferred *d, int status, json_t *body,
                     const char *headers)
{
    char *text = json_dumps(body, JSON_COMPACT);
    size_t len = text ? strlen(text) : 0;
    if (d)
        eio_http_deferred_respond(d, status, "application/json", text, len);
    else
        eio_http_respond_with(req, status, "application/json", text, len, headers);
    free(text);
    json_decref(body);
}
