/* contract.h: what the contract says of the socket's events, the REST endpoints and
 * hd:commands alike: a message payload's checks and the error body of a refusal; and the
 * widget keys' check.
 *
 * Beside client.h at the bottom of the helpdesk: it includes none of the helpdesk's own
 * headers but the public ones.
 */
#ifndef HD_CONTRACT_H
#define HD_CONTRACT_H

#include <jansson.h>
#include <stddef.h>

#include "helpdesk.h"
#include "store.h"

/* An optional id field of o: absent or null sets *out NULL; else it must be a string of
 * 1..HD_ID_MAX bytes (borrowed from o). 0, or -1 when it is not. */
int hd_id_field(json_t *o, const char *key, const char **out);
/* A post's text, attachment and client_msg_id from a payload (borrowed from it), the text
 * at most max_message bytes; 0 or an HD_E* status with *why set. */
int hd_parse_message(size_t max_message, json_t *payload, hd_post *p, const char **why);
/* The contract's error body {"status_code","error":{"code","message"}} (new reference);
 * detail NULL: the status's usual message. */
json_t *hd_error_body(int status, const char *detail);
const char *hd_error_code(int status);
/* A bad or missing credential's body {"status_code":401,"error":{"code":"unauthorized",
 * "message":why}} (new reference): the REST endpoints' and the visitors' 401. */
json_t *hd_unauthorized_body(const char *why);
/* Answers an HTTP request with body as compact JSON and takes the reference to body: d
 * when the answer was deferred (eio_http_defer), else req; headers: extra whole
 * "Name: value\r\n" lines, or NULL (not sent on a deferred answer). */
void hd_respond_json(eio_http_request *req, eio_http_deferred *d, int status, json_t *body,
                     const char *headers);
/* hd_respond_json of the contract's error body (hd_error_body) for status. */
void hd_respond_error(eio_http_request *req, int status, const char *detail);
/* 1 when key is one of cfg's widget keys (--widget-key), compared in constant time, or the
 * demo's with --demo; 0 for NULL or when none is configured. */
int hd_widget_key_ok(const hd_config *cfg, const char *key);

#endif
