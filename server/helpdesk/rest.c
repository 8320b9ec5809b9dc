/* rest.c: the HTTP side of the helpdesk (spec §5): messages in from the backend, the read
 * endpoints (conversations, messages, the queue, and v1.1's agents, departments and
 * status), /metrics, and the health endpoints.
 *
 * The visitors' endpoints are visitors.c's (a widget key, no token); every other endpoint
 * takes "Authorization: Bearer <token>": an API key may do everything; a
 * customer token may read its own session only; agents and supervisors may read what
 * they may read on the socket (the agents and departments lists: agents too, to
 * pick a transfer's target; an agent's conversations: that agent, and supervisors). The status
 * endpoint is the widget's: any valid token, or a widget key as the query parameter widget_key; its
 * answers are shared per dept for a second (status_cache.h). Answers are JSON in the socket
 * contract's shapes
 * ({"status_code","data"} or {"status_code","error":{code,message}}). Store operations
 * answer later, so such requests are deferred (eio_http_defer) until the store has.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "client.h"
#include "contract.h"
#include "demo.h"
#include "message.h"
#include "rest.h"

#define REST_PREFIX    "/api/v1/helpdesk/"
#define REST_PATH_MAX  512
#define REST_PARAM_MAX 32
#define REST_VALUE_MAX 1024 /* a query parameter's value that is not a number */

typedef struct rest_req {
    hd_node *node;
    eio_http_deferred *d;
    int created_status; /* HTTP status for a 200 of the store (201 for a new message) */
} rest_req;

static void on_store_answer(const hd_result *r, void *ud)
{
    rest_req *x = ud;
    json_t *parsed = !r->message && r->message_text
                         ? json_loadb(r->message_text, r->message_text_len, 0, NULL)
                         : NULL;
    json_t *data = r->message ? r->message : parsed ? parsed : r->list ? r->list : r->conversation;
    if (r->status != HD_OK) {
        if (r->status != HD_EUNAVAILABLE)
            x->node->metrics.refused++;
        hd_respond_json(NULL, x->d, r->status, hd_error_body(r->status, NULL), NULL);
    } else {
        int http = r->duplicate ? HD_OK : x->created_status;
        hd_respond_json(NULL, x->d, http,
                        json_pack("{s:i,s:O?}", "status_code", HD_OK, "data", data), NULL);
    }
    json_decref(parsed);
    free(x);
}

static rest_req *defer(hd_node *node, eio_http_request *req, int created_status)
{
    rest_req *x = malloc(sizeof(*x));
    if (!x)
        abort();
    x->node = node;
    x->created_status = created_status;
    x->d = eio_http_defer(req);
    return x;
}

/* ---- who is asking -------------------------------------------------------------------------- */

static void respond_unauthorized(hd_node *node, eio_http_request *req, const char *why)
{
    node->metrics.auth_failures++;
    hd_respond_json(req, NULL, 401, hd_unauthorized_body(why), NULL);
}

static int bearer(hd_node *node, eio_http_request *req, hd_identity *id)
{
    char header[HD_TOKEN_MAX + 16];
    int n = eio_http_header(req, "authorization", header, sizeof(header));
    const char *why = NULL;
    if (n <= 7 || strncasecmp(header, "Bearer ", 7))
        why = HD_AUTH_MISSING_TOKEN;
    else
        why = hd_auth_verify(&node->cfg.auth, header + 7, 0, hd_now_ms() / 1000, id);
    if (!why)
        return 0;
    respond_unauthorized(node, req, why);
    return -1;
}

/* ---- endpoints ----------------------------------------------------------------------------------
 */

static void post_message(hd_conversations *cv, eio_http_request *req, const hd_identity *id,
                         const char *chat)
{
    size_t len;
    const uint8_t *raw = eio_http_body(req, &len);
    json_error_t jerr;
    json_t *body = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, &jerr);
    hd_post p;
    char msg_id[HD_ULID_LEN + 1];
    const char *why = NULL;
    int st = id->role == HD_ROLE_API ? 0 : HD_EFORBIDDEN;
    if (!st && !body)
        st = HD_EBADREQ, why = "the body is not JSON";
    if (!st)
        st = hd_backend_post(cv->node->cfg.max_message, body, chat, &p, msg_id, &why);
    if (st) {
        cv->node->metrics.refused++;
        hd_respond_error(req, st, why);
        json_decref(body);
        return;
    }
    hd_conv_post(cv, &p, on_store_answer, defer(cv->node, req, 201));
    json_decref(body);
}

static int query_int(eio_http_request *req, const char *name, long long dflt, long long min,
                     long long *out)
{
    char buf[REST_PARAM_MAX];
    *out = dflt;
    int n = eio_http_query_param(req, name, buf, sizeof(buf));
    if (n < 0 || (n == 0 && dflt >= 0))
        return 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (n == 0 || *end || v < min)
        return -1;
    *out = v;
    return 0;
}

static void get_messages(hd_node *node, eio_http_request *req, const hd_identity *id,
                         const char *chat)
{
    long long after, limit;
    if (query_int(req, "after_seq", 0, 0, &after) ||
        query_int(req, "limit", HD_HISTORY_DEFAULT, 1, &limit)) {
        hd_respond_error(req, HD_EBADREQ, "after_seq and limit must be integers");
        return;
    }
    hd_access access = hd_access_of(id->role, id->id);
    node->store->ops->history(node->store, chat, &access, after,
                              (size_t)(limit > HD_HISTORY_MAX ? HD_HISTORY_MAX : limit),
                              on_store_answer, defer(node, req, HD_OK));
}

static void get_conversations(hd_node *node, eio_http_request *req, const hd_identity *id,
                              const char *session)
{
    if ((id->role == HD_ROLE_CUSTOMER && strcmp(id->id, session)) || id->role == HD_ROLE_AGENT) {
        hd_respond_error(req, HD_EFORBIDDEN, NULL);
        return;
    }
    hd_access who = {session, NULL};
    node->store->ops->conversations(node->store, &who, 0, on_store_answer, defer(node, req, HD_OK));
}

static void get_inquiries(hd_node *node, eio_http_request *req, const hd_identity *id)
{
    if (id->role == HD_ROLE_CUSTOMER) {
        hd_respond_error(req, HD_EFORBIDDEN, NULL);
        return;
    }
    node->store->ops->inquiries(node->store, on_store_answer, defer(node, req, HD_OK));
}

/* ---- the agents' workspace (v1.1) --------------------------------------------------------- */

static int supervises(const hd_identity *id)
{
    return id->role == HD_ROLE_API || id->role == HD_ROLE_SUPERVISOR;
}

/* agents/ and departments/: API keys, supervisors and agents (who pick a transfer's target
 * from them); not customers. */
static void get_team(hd_node *node, eio_http_request *req, const hd_identity *id, int agents)
{
    if (id->role == HD_ROLE_CUSTOMER) {
        node->metrics.refused++;
        hd_respond_error(req, HD_EFORBIDDEN, NULL);
        return;
    }
    hd_store *store = node->store;
    if (agents)
        store->ops->agents(store, hd_now_ms(), on_store_answer, defer(node, req, HD_OK));
    else
        store->ops->departments(store, hd_now_ms(), on_store_answer, defer(node, req, HD_OK));
}

/* agents/{agent_id}/conversations/: that agent's open ones, for it, supervisors, API keys. */
static void get_agent_conversations(hd_node *node, eio_http_request *req, const hd_identity *id,
                                    const char *agent_id)
{
    if (!supervises(id) && !(id->role == HD_ROLE_AGENT && !strcmp(id->id, agent_id))) {
        node->metrics.refused++;
        hd_respond_error(req, HD_EFORBIDDEN, NULL);
        return;
    }
    hd_access who = {NULL, agent_id};
    node->store->ops->conversations(node->store, &who, 1, on_store_answer, defer(node, req, HD_OK));
}

/* status?dept=: {agents_online, queue_length}, for a widget key or any valid token; the
 * answer may be up to a second old (status_cache.h). */
static void get_status(hd_rest *rest, eio_http_request *req)
{
    hd_node *node = rest->cv->node;
    char key[REST_VALUE_MAX], dept[REST_VALUE_MAX];
    hd_identity id;
    if (eio_http_query_param(req, "widget_key", key, sizeof(key)) >= 0) {
        if (!hd_widget_key_ok(&node->cfg, key)) {
            respond_unauthorized(node, req, "unknown widget key");
            return;
        }
    } else if (bearer(node, req, &id)) {
        return;
    }
    int n = eio_http_query_param(req, "dept", dept, sizeof(dept));
    if (n > HD_ID_MAX) {
        node->metrics.refused++;
        hd_respond_error(req, HD_EBADREQ, "dept is too long");
        return;
    }
    hd_status_get(&rest->status, req, n > 0 ? dept : "");
}

/* ---- /metrics
 * ------------------------------------------------------------------------------------ */

static void on_metrics_queue(const hd_result *r, void *ud)
{
    rest_req *x = ud;
    size_t len;
    char *text = hd_metrics_render(&x->node->metrics, x->node->srv, x->node->nsp, &len,
                                   r->status == HD_OK ? json_array_size(r->list) : 0);
    eio_http_deferred_respond(x->d, 200, "text/plain; version=0.0.4", text, len);
    free(text);
    free(x);
}

/* ---- routing
 * ---------------------------------------------------------------------------------------- */

/* Splits "a/b/c/" (REST_PREFIX removed) into at most n segments; returns the count, or -1
 * when a segment is empty or too long. */
static int split_path(const char *path, char seg[][HD_ID_MAX + 1], int n)
{
    int count = 0;
    while (*path) {
        const char *slash = strchr(path, '/');
        size_t len = slash ? (size_t)(slash - path) : strlen(path);
        if (!len || len > HD_ID_MAX || count == n)
            return -1;
        memcpy(seg[count], path, len);
        seg[count++][len] = '\0';
        path += len + (slash ? 1 : 0);
    }
    return count;
}

static int rest_api(hd_rest *rest, eio_http_request *req, const char *method, const char *path)
{
    hd_conversations *cv = rest->cv;
    char seg[3][HD_ID_MAX + 1];
    hd_identity id;
    int n = split_path(path + strlen(REST_PREFIX), seg, 3);
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    int messages = n == 3 && !strcmp(seg[0], "conversations") && !strcmp(seg[2], "messages");
    int convs = n == 3 && !strcmp(seg[0], "customer") && !strcmp(seg[2], "conversations");
    int inquiries = n == 1 && !strcmp(seg[0], "inquiries");
    int agents = n == 1 && !strcmp(seg[0], "agents");
    int agent_convs = n == 3 && !strcmp(seg[0], "agents") && !strcmp(seg[2], "conversations");
    int depts = n == 1 && !strcmp(seg[0], "departments");
    int status = n == 1 && !strcmp(seg[0], "status");
    if (!messages && !convs && !inquiries && !agents && !agent_convs && !depts && !status)
        return 1;
    if (!(get || (post && messages))) {
        hd_respond_error(req, 405, "method not allowed");
        return 0;
    }
    if (status) { /* a widget key will do */
        get_status(rest, req);
        return 0;
    }
    if (bearer(cv->node, req, &id))
        return 0;
    if (messages && post)
        post_message(cv, req, &id, seg[1]);
    else if (messages)
        get_messages(cv->node, req, &id, seg[1]);
    else if (convs)
        get_conversations(cv->node, req, &id, seg[1]);
    else if (agents || depts)
        get_team(cv->node, req, &id, agents);
    else if (agent_convs)
        get_agent_conversations(cv->node, req, &id, seg[1]);
    else
        get_inquiries(cv->node, req, &id);
    return 0;
}

static int rest_handler(eio_http_request *req, void *ud)
{
    hd_rest *rest = ud;
    hd_conversations *cv = rest->cv;
    hd_node *node = cv->node;
    const char *path = eio_http_path(req);
    if (!strncmp(path, REST_PREFIX, strlen(REST_PREFIX)) &&
        hd_visitors_route(rest->visitors, req, path + strlen(REST_PREFIX)) == 0)
        return 0;
    if (!strncmp(path, REST_PREFIX, strlen(REST_PREFIX)))
        return rest_api(rest, req, eio_http_method(req), path);
    if (!strcmp(path, "/metrics") && !strcmp(eio_http_method(req), "GET")) {
        node->store->ops->inquiries(node->store, on_metrics_queue, defer(node, req, HD_OK));
        return 0;
    }
    if (!hd_demo_route(node, req))
        return 0;
    return eio_health_handle(req, &node->health);
}

void hd_rest_attach(hd_rest *rest, hd_conversations *cv, hd_visitors *visitors)
{
    rest->cv = cv;
    rest->visitors = visitors;
    hd_status_init(&rest->status, cv->node);
    eio_server_set_http_handler(sio_server_engine(cv->node->srv), rest_handler, rest);
}

void hd_rest_free(hd_rest *rest) { hd_status_free(&rest->status); }
