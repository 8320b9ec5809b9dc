/* visitors.c: website visitors (visitors.h, spec §1): registration, refresh, and the rate
 * limit per client address.
 *
 * A registration is checked in the order that costs an abuser the most and tells an honest
 * page what is wrong: the rate limit first (every attempt counts, a refused one too, so
 * widget keys and user hashes cannot be guessed at speed), then the Origin, the body, the
 * widget key, the visitor's details, the identity. The relay then signs a customer token
 * (HS256, the configured JWT secret) marked as a visitor's (claim "vis": 1), records the
 * visitor in the store (which appends the "visitor" event for the backend) and answers
 * only once the store has: a token whose visitor the backend never heard of is not given
 * out.
 *
 * The client address is the peer's, unless the peer is one of the --trusted-proxy networks:
 * then it is the address that proxy appended to X-Forwarded-For (netaddr.h). Any client can
 * send that header, so it is believed only from a proxy the operator named.
 */
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "message.h"
#include "netaddr.h"
#include "random.h"
#include "visitors.h"

#define VIS_ADDR_MAX     64 /* an address in text form (INET6_ADDRSTRLEN is 46) */
#define VIS_ORIGIN_MAX   512
#define VIS_HEAD_MAX     16384 /* the core's limit on a request's headers (431 beyond) */
#define VIS_RANDOM_LEN   22    /* "v_" + 22 base64url characters: 132 random bits */
#define VIS_USER_PREFIX  "u_"
#define VIS_GUEST_PREFIX "v_"
#define VIS_HASH_HEX     (2 * 32) /* hex HMAC-SHA256 */
#define VIS_MINUTE_MS    60000.0
#define VIS_BEARER       "Bearer "

/* ---- the rate limit per client address ---- */

typedef struct hd_visitor_addr {
    sb_list link;    /* in lru */
    double tokens;   /* as of seen_ms */
    int64_t seen_ms; /* the last request from this address */
    char addr[VIS_ADDR_MAX];
} hd_visitor_addr;

void hd_visitors_init(hd_visitors *v, hd_node *node)
{
    v->node = node;
    sb_map_init(&v->addrs);
    sb_list_init(&v->lru);
    v->n_addrs = 0;
}

static void addr_drop(hd_visitors *v, hd_visitor_addr *a)
{
    sb_map_del(&v->addrs, a->addr);
    sb_list_remove(&a->link);
    v->n_addrs--;
    free(a);
}

void hd_visitors_free(hd_visitors *v)
{
    while (!sb_list_empty(&v->lru))
        addr_drop(v, SB_LIST_FIRST(&v->lru, hd_visitor_addr, link));
    sb_map_free(&v->addrs);
}

/* An address idle for a minute has a full bucket again, as one never seen: forgotten. So
 * the table holds only the addresses of the last minute, and at most HD_VISITOR_ADDRS of
 * them (a flood from more addresses evicts the least recently seen). */
static void addrs_forget(hd_visitors *v, int64_t now_ms)
{
    hd_visitor_addr *a;
    while ((a = SB_LIST_FIRST(&v->lru, hd_visitor_addr, link)) &&
           (now_ms - a->seen_ms >= (int64_t)VIS_MINUTE_MS || v->n_addrs >= HD_VISITOR_ADDRS))
        addr_drop(v, a);
}

int hd_visitors_allow(hd_visitors *v, const char *addr, int64_t now_ms, uint32_t *retry_s)
{
    uint32_t rate = v->node->cfg.visitor_rate;
    if (!rate)
        return 1;
    addrs_forget(v, now_ms);
    hd_visitor_addr *a = sb_map_get(&v->addrs, addr);
    if (a) {
        double refill = (double)(now_ms - a->seen_ms) * rate / VIS_MINUTE_MS;
        a->tokens = fmin((double)rate, a->tokens + fmax(refill, 0.0));
        sb_list_remove(&a->link);
    } else {
        a = calloc(1, sizeof(*a));
        if (!a)
            abort();
        snprintf(a->addr, sizeof(a->addr), "%s", addr);
        a->tokens = rate;
        sb_map_put(&v->addrs, a->addr, a);
        v->n_addrs++;
    }
    a->seen_ms = now_ms > a->seen_ms ? now_ms : a->seen_ms;
    sb_list_insert_tail(&v->lru, &a->link);
    if (a->tokens >= 1.0) {
        a->tokens -= 1.0;
        return 1;
    }
    /* whole milliseconds first, so that float noise does not add a second */
    int64_t wait_ms = (int64_t)ceil((1.0 - a->tokens) * VIS_MINUTE_MS / rate - 1e-6);
    *retry_s = (uint32_t)((wait_ms + 999) / 1000);
    if (*retry_s < 1)
        *retry_s = 1;
    return 0;
}

/* ---- answers ---- */

static void refuse(hd_visitors *v, eio_http_request *req, int status, const char *detail)
{
    json_t *body = status == 401 ? hd_unauthorized_body(detail) : hd_error_body(status, detail);
    if (status != HD_EUNAVAILABLE)
        v->node->metrics.refused++;
    hd_respond_json(req, NULL, status, body, NULL);
}

static void refuse_rate(hd_visitors *v, eio_http_request *req, uint32_t retry_s)
{
    char headers[48];
    snprintf(headers, sizeof(headers), "Retry-After: %u\r\n", (unsigned)retry_s);
    v->node->metrics.refused++;
    hd_respond_json(req, NULL, HD_ERATE,
                    hd_error_body(HD_ERATE, "too many visitor registrations from this address"),
                    headers);
}

/* ---- the checks ---- */

/* Whether origin is one of the configured origins: the engine's --cors-origin, a
 * comma-separated list, or "*" for any. */
static int origin_listed(const char *list, const char *origin)
{
    size_t olen = strlen(origin);
    if (!list)
        return 0;
    if (!strcmp(list, "*"))
        return 1;
    while (*list) {
        const char *end = strchr(list, ',');
        size_t n = end ? (size_t)(end - list) : strlen(list);
        while (n && *list == ' ')
            list++, n--;
        while (n && list[n - 1] == ' ')
            n--;
        if (n == olen && !strncmp(list, origin, n))
            return 1;
        list += (end ? (size_t)(end - list) + 1 : strlen(list));
    }
    return 0;
}

/* A page the relay served itself (--web: the demo page, a team's page beside the console):
 * Origin's host[:port] is the request's Host. A browser sets both, and a page elsewhere
 * cannot make them agree; the scheme is not compared (TLS may end at a proxy). */
static int same_origin(eio_http_request *req, const char *origin)
{
    char host[VIS_ORIGIN_MAX];
    const char *sep = strstr(origin, "://");
    return sep && eio_http_header(req, "host", host, sizeof(host)) > 0 && !strcmp(sep + 3, host);
}

/* The widget key is public: it is only honoured from the configured origins (and the
 * relay's own, above). A browser sends
 * Origin with every cross-origin POST (and with same-origin POSTs too), so a page on another
 * site cannot use the key from its visitors' browsers. A request without Origin comes from no
 * page: a server-to-server call (the team's backend registering a signed-in user, a mobile
 * app), which could send whatever Origin it liked, so checking it would stop nothing: it is
 * allowed, as widget platforms allow their server-side APIs. */
static int origin_ok(const hd_node *node, eio_http_request *req)
{
    char origin[VIS_ORIGIN_MAX];
    if (eio_http_header(req, "origin", origin, sizeof(origin)) >= 0)
        return origin_listed(node->cfg.cors_origin, origin) || same_origin(req, origin);
    /* absent, or too long to be a listed one: which? (the core keeps no longer heads) */
    char *whole = malloc(VIS_HEAD_MAX + 1);
    if (!whole)
        abort();
    int n = eio_http_header(req, "origin", whole, VIS_HEAD_MAX + 1);
    free(whole);
    return n < 0;
}

/* A display name or a field: any UTF-8 (jansson checked it) but control characters. */
static int text_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < ' ' || (unsigned char)s[i] == 0x7f)
            return 0;
    return 1;
}

/* An optional string field: absent, null or "" sets *out NULL; else a string of at most max
 * bytes without control characters. 0, HD_ETOOLARGE or HD_EBADREQ. */
static int text_field(json_t *body, const char *key, size_t max, const char **out)
{
    json_t *f = json_object_get(body, key);
    *out = NULL;
    if (!f || json_is_null(f))
        return 0;
    if (!json_is_string(f) || !text_ok(json_string_value(f), json_string_length(f)))
        return HD_EBADREQ;
    if (json_string_length(f) > max)
        return HD_ETOOLARGE;
    *out = json_string_length(f) ? json_string_value(f) : NULL;
    return 0;
}

/* Who a token is made for: from a registration's body or a refreshed token. */
typedef struct vis_who {
    char session[HD_ID_MAX + 1];
    const char *name;    /* NULL: absent (the strings are borrowed) */
    const char *email;   /* likewise */
    json_t *fields;      /* borrowed; NULL: absent */
    const char *user_id; /* a verified user's id, NULL for a guest */
} vis_who;

/* The details a page may send: name, email, fields. 0 or an HD_E* status with *why. */
static int details(json_t *body, vis_who *w, const char **why)
{
    char compact[HD_FIELDS_MAX + 1];
    int st = text_field(body, "name", HD_NAME_MAX, &w->name);
    if (st)
        return *why = "name must be a short string", st;
    st = text_field(body, "email", HD_EMAIL_MAX, &w->email);
    if (st || (w->email && !hd_email_check(w->email, strlen(w->email))))
        return *why = "email must be an email address", st ? st : HD_EBADREQ;
    json_t *f = json_object_get(body, "fields");
    w->fields = f && !json_is_null(f) ? f : NULL;
    st = w->fields ? hd_fields_compact(w->fields, compact) : 0;
    if (st)
        return *why = st == HD_ETOOLARGE
                          ? "fields: too many keys, or a key, a value or the whole too long"
                          : "fields must be a flat object of strings, numbers and booleans",
               st;
    return 0;
}

/* user_hash = hex HMAC-SHA256(identity secret, user_id), either case, compared in constant
 * time. */
static int user_hash_ok(const char *secret, const char *user_id, const char *user_hash)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char want[VIS_HASH_HEX + 1], got[VIS_HASH_HEX + 1];
    static const char hex[] = "0123456789abcdef";
    if (!user_hash || strlen(user_hash) != VIS_HASH_HEX ||
        !HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)user_id,
              strlen(user_id), mac, &mac_len) ||
        mac_len * 2 != VIS_HASH_HEX)
        return 0;
    for (unsigned i = 0; i < mac_len; i++) {
        want[2 * i] = hex[mac[i] >> 4];
        want[2 * i + 1] = hex[mac[i] & 0xf];
    }
    for (size_t i = 0; i < VIS_HASH_HEX; i++)
        got[i] =
            (char)(user_hash[i] >= 'A' && user_hash[i] <= 'F' ? user_hash[i] + 32 : user_hash[i]);
    return CRYPTO_memcmp(want, got, VIS_HASH_HEX) == 0;
}

static int id_chars_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

/* The session: u_<user_id> for a verified user, else a fresh v_<random>. Identity
 * verification is all or nothing: a user_id the relay cannot verify is refused, never
 * taken as a guest, so a page never believes a user signed in who is not. Without an
 * identity secret nothing can be verified: 401 too (the page's credentials cannot be
 * checked, which is what 401 says; 400 would say the request itself is wrong, and it is
 * not). 0 or an HD_E* / 401 status with *why. */
static int session_of(const hd_config *cfg, json_t *body, vis_who *w, const char **why)
{
    json_t *uid = json_object_get(body, "user_id"), *hash = json_object_get(body, "user_hash");
    if (json_is_null(uid))
        uid = NULL;
    if (!uid) {
        if (hash && !json_is_null(hash))
            return *why = "user_hash without user_id", HD_EBADREQ;
        char random[VIS_RANDOM_LEN + 1];
        sb_random_id(random, VIS_RANDOM_LEN);
        snprintf(w->session, sizeof(w->session), VIS_GUEST_PREFIX "%s", random);
        return 0;
    }
    const char *user_id = json_string_value(uid);
    if (!user_id || !*user_id || !id_chars_ok(user_id) ||
        json_string_length(uid) > HD_ID_MAX - strlen(VIS_USER_PREFIX))
        return *why = "user_id must be a short string of printable characters", HD_EBADREQ;
    if (!cfg->identity_secret)
        return *why = "identity verification is not configured", 401;
    if (!user_hash_ok(cfg->identity_secret, user_id, json_string_value(hash)))
        return *why = "user_hash does not match user_id", 401;
    snprintf(w->session, sizeof(w->session), VIS_USER_PREFIX "%s", user_id);
    w->user_id = user_id;
    return 0;
}

/* ---- the token and the record ---- */

typedef struct vis_req {
    hd_visitors *v;
    eio_http_deferred *d;
    int http_status; /* 201: registered; 200: refreshed */
    char *token;
    int64_t exp_ms;
    char session[HD_ID_MAX + 1];
} vis_req;

static char *sign(const hd_node *node, const vis_who *w, int64_t now_s, int64_t exp_s)
{
    json_t *claims =
        json_pack("{s:s,s:s,s:I,s:I,s:i}", "sub", w->session, "role", "customer", "iat",
                  (json_int_t)now_s, "exp", (json_int_t)exp_s, HD_VISITOR_CLAIM, 1);
    if (w->name)
        json_object_set_new(claims, "name", json_string(w->name));
    if (w->email)
        json_object_set_new(claims, "email", json_string(w->email));
    if (w->fields)
        json_object_set(claims, "fields", w->fields);
    char *token = hd_jwt_sign_claims(&node->cfg.auth, claims);
    json_decref(claims);
    return token;
}

static void on_recorded(const hd_result *r, void *ud)
{
    vis_req *x = ud;
    if (r->status != HD_OK) {
        if (r->status == HD_EUNAVAILABLE)
            x->v->node->metrics.store_errors++;
        hd_respond_json(NULL, x->d, r->status, hd_error_body(r->status, NULL), NULL);
    } else {
        char expires[HD_TIME_LEN + 1];
        hd_time_iso(x->exp_ms, expires);
        json_t *body =
            json_pack("{s:i,s:{s:s,s:s,s:s}}", "status_code", HD_OK, "data", "visitor_token",
                      x->token, "session_id", x->session, "expires_at", expires);
        hd_respond_json(NULL, x->d, x->http_status, body, NULL);
    }
    free(x->token);
    free(x);
}

/* Signs the token for w, records the visitor, and answers http_status once the store has. */
static void issue(hd_visitors *v, eio_http_request *req, const vis_who *w, int http_status)
{
    hd_node *node = v->node;
    int64_t now_ms = hd_now_ms(), ttl_ms = (int64_t)node->cfg.visitor_ttl_s * 1000;
    int64_t exp_s = (now_ms + ttl_ms) / 1000;
    char *token = sign(node, w, now_ms / 1000, exp_s);
    if (!token || strlen(token) > HD_TOKEN_MAX) {
        free(token);
        refuse(v, req, HD_ETOOLARGE, "the visitor's details make too long a token");
        return;
    }
    if (!hd_node_ready(node)) {
        free(token);
        node->metrics.store_errors++;
        refuse(v, req, HD_EUNAVAILABLE, NULL);
        return;
    }
    char created[HD_TIME_LEN + 1];
    hd_time_iso(now_ms, created);
    json_t *record = json_pack("{s:s,s:s?,s:s?,s:O?,s:s?,s:s}", "session_id", w->session, "name",
                               w->name, "email", w->email, "fields", w->fields, "user_id",
                               w->user_id, "created_at", created);
    vis_req *x = calloc(1, sizeof(*x));
    if (!x)
        abort();
    x->v = v;
    x->http_status = http_status;
    x->token = token;
    x->exp_ms = exp_s * 1000;
    memcpy(x->session, w->session, sizeof(x->session));
    x->d = eio_http_defer(req);
    node->store->ops->visitor(node->store, record, ttl_ms, now_ms, on_recorded, x);
    json_decref(record);
}

/* ---- the endpoints ---- */

static void do_register(hd_visitors *v, eio_http_request *req)
{
    const hd_config *cfg = &v->node->cfg;
    size_t len;
    const uint8_t *raw = eio_http_body(req, &len);
    json_t *body = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *key = json_object_get(body, "widget_key");
    vis_who w;
    const char *why = NULL;
    int st = 0;
    memset(&w, 0, sizeof(w));
    if (!json_is_object(body))
        st = HD_EBADREQ, why = "the body must be a JSON object";
    else if (!hd_widget_key_ok(cfg, json_string_value(key)))
        st = 401, why = "unknown widget key";
    if (!st)
        st = details(body, &w, &why);
    if (!st)
        st = session_of(cfg, body, &w, &why);
    if (st)
        refuse(v, req, st, why);
    else
        issue(v, req, &w, 201);
    json_decref(body);
}

/* A visitor token renewed: the same session and details, a new expiry. Only visitor tokens
 * (the relay's own, marked "vis"): a backend's customer token is the backend's to renew. */
static void do_refresh(hd_visitors *v, eio_http_request *req)
{
    hd_node *node = v->node;
    char header[HD_TOKEN_MAX + sizeof(VIS_BEARER)];
    hd_identity id;
    vis_who w;
    const char *why = HD_AUTH_MISSING_TOKEN;
    int n = eio_http_header(req, "authorization", header, sizeof(header));
    size_t plen = strlen(VIS_BEARER);
    if (n > (int)plen && !strncasecmp(header, VIS_BEARER, plen))
        why = hd_auth_verify(&node->cfg.auth, header + plen, 0, hd_now_ms() / 1000, &id);
    if (why) {
        node->metrics.auth_failures++;
        refuse(v, req, 401, why);
        return;
    }
    if (id.role != HD_ROLE_CUSTOMER || !id.visitor) {
        refuse(v, req, HD_EFORBIDDEN, "only a visitor token may be refreshed");
        return;
    }
    memset(&w, 0, sizeof(w));
    memcpy(w.session, id.id, sizeof(w.session));
    w.name = *id.name ? id.name : NULL;
    w.email = *id.email ? id.email : NULL;
    w.fields = *id.fields ? json_loads(id.fields, 0, NULL) : NULL;
    if (!strncmp(id.id, VIS_USER_PREFIX, strlen(VIS_USER_PREFIX)))
        w.user_id = id.id + strlen(VIS_USER_PREFIX);
    issue(v, req, &w, HD_OK);
    json_decref(w.fields);
}

/* The address the rate limit counts (see the top comment). */
static void client_addr(const hd_visitors *v, eio_http_request *req, char *out, size_t len)
{
    char forwarded[VIS_HEAD_MAX];
    const hd_config *cfg = &v->node->cfg;
    int n = cfg->n_trusted_proxies
                ? eio_http_header(req, "x-forwarded-for", forwarded, sizeof(forwarded))
                : -1;
    sb_net_client_addr(cfg->trusted_proxies, cfg->n_trusted_proxies, eio_http_remote_addr(req),
                       n >= 0 ? forwarded : NULL, out, len);
}

/* The loop's clock: monotonic, unlike the wall clock, which may step back. */
static int64_t loop_ms(const hd_visitors *v)
{
    return (int64_t)uv_now(sio_server_loop(v->node->srv));
}

int hd_visitors_route(hd_visitors *v, eio_http_request *req, const char *path)
{
    int reg = !strcmp(path, "visitors") || !strcmp(path, "visitors/");
    int refresh = !strcmp(path, "visitors/refresh") || !strcmp(path, "visitors/refresh/");
    uint32_t retry_s = 0;
    char addr[SB_NETADDR_TEXT_MAX];
    if (!reg && !refresh)
        return 1;
    client_addr(v, req, addr, sizeof(addr));
    if (strcmp(eio_http_method(req), "POST"))
        refuse(v, req, 405, "method not allowed");
    else if (!hd_visitors_allow(v, addr, loop_ms(v), &retry_s))
        refuse_rate(v, req, retry_s);
    else if (!origin_ok(v->node, req))
        refuse(v, req, HD_EFORBIDDEN, "this origin may not register visitors");
    else if (reg)
        do_register(v, req);
    else
        do_refresh(v, req);
    return 0;
}
