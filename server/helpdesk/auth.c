/* auth.c: API keys and HS256 JWTs (see auth.h).
 *
 * The one idea: nothing in a JWT is trusted before its signature is checked, and the
 * checks run in an order that tells an honest client what is wrong without telling an
 * attacker anything about a secret: the header is read only for "alg", the payload is read
 * only once the HMAC over "header.payload" matches. Segments are read with base's strict
 * base64url, which refuses every text that is not the one canonical unpadded encoding of
 * its bytes.
 */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <string.h>

#include "auth.h"
#include "base64.h"

#define HD_JWT_SEGMENTS  3 /* header.payload.signature */
#define HD_JWT_SEPARATOR '.'
#define HD_JWT_ALG       "HS256"
#define HD_JWT_HEADER    "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define HD_ASCII_DEL     0x7f
/* A real time claim beyond this many seconds (~31 million years) is nonsense, and below it
 * the cast to int64_t is exact enough and never undefined. */
#define HD_CLAIM_TIME_MAX 1e15

static const char *const HD_ROLE_NAMES[] = {"customer", "agent", "supervisor", "api"};

/* A token split at its dots; the segments point into the token. */
typedef struct hd_jwt {
    const char *seg[HD_JWT_SEGMENTS];
    size_t len[HD_JWT_SEGMENTS];
} hd_jwt;

/* ---- primitives ---- */

static int hd_hs256(const unsigned char *key, size_t key_len, const void *data, size_t len,
                    unsigned char *mac, unsigned int *mac_len)
{
    if (key == NULL || key_len == 0 || key_len > INT_MAX)
        return 0;
    return HMAC(EVP_sha256(), key, (int)key_len, data, len, mac, mac_len) != NULL;
}

static int hd_sha256(const void *data, size_t len, unsigned char *md)
{
    return EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL) == 1;
}

static int64_t hd_skew(const hd_auth_config *cfg) { return cfg->skew_s > 0 ? cfg->skew_s : 0; }

/* Written as exp < now - skew so that a huge exp cannot overflow. */
static int hd_time_passed(int64_t exp, int64_t now_s, int64_t skew) { return exp < now_s - skew; }

/* ---- API keys ---- */

/* Digests first, so that keys of any length compare in the same time and a mismatch leaks
 * neither a key's length nor its bytes; every key is compared, match or not. */
int hd_key_in(const char *const *keys, size_t n_keys, const char *token, size_t len)
{
    unsigned char want[SHA256_DIGEST_LENGTH], key[SHA256_DIGEST_LENGTH];
    if (token == NULL || !hd_sha256(token, len, want))
        return 0;
    int match = 0;
    for (size_t i = 0; i < n_keys; i++) {
        const char *k = keys[i];
        if (k != NULL && hd_sha256(k, strlen(k), key))
            match |= CRYPTO_memcmp(want, key, sizeof want) == 0;
    }
    return match;
}

/* ---- JWT ---- */

static int hd_jwt_split(const char *token, size_t len, hd_jwt *jwt)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && token[i] != HD_JWT_SEPARATOR)
            continue;
        if (n == HD_JWT_SEGMENTS)
            return -1;
        jwt->seg[n] = token + start;
        jwt->len[n++] = i - start;
        start = i + 1;
    }
    return n == HD_JWT_SEGMENTS ? 0 : -1;
}

/* The JSON object a segment encodes (new reference), or NULL. Duplicate keys are refused:
 * two "role"s would let two readers of one token disagree on who it names. */
static json_t *hd_jwt_json(const char *seg, size_t len)
{
    sb_buf raw;
    sb_buf_init(&raw);
    json_t *j = NULL;
    if (sb_base64_url_decode(&raw, seg, len) == SB_BASE64_OK && raw.len > 0)
        j = json_loadb((const char *)raw.data, raw.len, JSON_REJECT_DUPLICATES, NULL);
    sb_buf_free(&raw);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static int hd_jwt_configured(const hd_auth_config *cfg)
{
    return cfg->jwt_secret != NULL && cfg->jwt_secret_len > 0;
}

/* "crit" names extensions a verifier must understand (RFC 7515 §4.1.11); we know none. */
static const char *hd_jwt_header_check(const json_t *header)
{
    if (json_object_get(header, "crit") != NULL)
        return HD_AUTH_MALFORMED;
    const char *alg = json_string_value(json_object_get(header, "alg"));
    return alg != NULL && strcmp(alg, HD_JWT_ALG) == 0 ? NULL : HD_AUTH_UNSUPPORTED_ALG;
}

static const char *hd_jwt_signature_check(const hd_auth_config *cfg, const hd_jwt *jwt)
{
    unsigned char want[EVP_MAX_MD_SIZE];
    unsigned int want_len = 0;
    /* What is signed is the token up to the second dot, both segments as sent. */
    size_t signed_len = jwt->len[0] + 1 + jwt->len[1];
    if (!hd_hs256(cfg->jwt_secret, cfg->jwt_secret_len, jwt->seg[0], signed_len, want, &want_len))
        return HD_AUTH_BAD_SIGNATURE;
    sb_buf sig;
    sb_buf_init(&sig);
    const char *why = HD_AUTH_MALFORMED;
    if (sb_base64_url_decode(&sig, jwt->seg[2], jwt->len[2]) == SB_BASE64_OK)
        why = sig.len == want_len && CRYPTO_memcmp(sig.data, want, want_len) == 0
                  ? NULL
                  : HD_AUTH_BAD_SIGNATURE;
    sb_buf_free(&sig);
    return why;
}

/* ---- claims ---- */

/* An optional claim: absent and null both read as absent (NULL). */
static const json_t *hd_claim_optional(const json_t *claims, const char *key)
{
    const json_t *v = json_object_get(claims, key);
    return json_is_null(v) ? NULL : v;
}

/* Room names and store keys are built from ids: printable ASCII, no spaces. */
static int hd_id_char(unsigned char c) { return c > ' ' && c < HD_ASCII_DEL; }

/* A display name is any UTF-8 (jansson checked it) but control characters. */
static int hd_name_char(unsigned char c) { return c >= ' ' && c != HD_ASCII_DEL; }

/* Copies a string claim of min..max bytes, each one ok, into out (max + 1 bytes). */
static int hd_claim_copy(const json_t *v, char *out, size_t min, size_t max,
                         int (*ok)(unsigned char))
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (s == NULL || n < min || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!ok((unsigned char)s[i]))
            return 0;
    memcpy(out, s, n);
    out[n] = '\0';
    return 1;
}

static int hd_claim_id(const json_t *v, char *out)
{
    return hd_claim_copy(v, out, 1, HD_ID_MAX, hd_id_char);
}

static int hd_claim_name(const json_t *v, char *out)
{
    return v == NULL || hd_claim_copy(v, out, 0, HD_NAME_MAX, hd_name_char);
}

static int hd_claim_role(const json_t *v, hd_role *out)
{
    const char *s = json_string_value(v);
    for (int r = HD_ROLE_CUSTOMER; s != NULL && r < HD_ROLE_API; r++)
        if (strcmp(s, HD_ROLE_NAMES[r]) == 0) {
            *out = (hd_role)r;
            return 1;
        }
    return 0;
}

/* A NumericDate (RFC 7519 §2): seconds, integer or real (rounded down). */
static int hd_claim_time(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 1;
    }
    double d = json_is_real(v) ? json_real_value(v) : NAN;
    if (!(fabs(d) <= HD_CLAIM_TIME_MAX))
        return 0;
    *out = (int64_t)floor(d);
    return 1;
}

static int hd_claim_depts(const json_t *v, hd_identity *out)
{
    if (v == NULL)
        return 1;
    if (!json_is_array(v) || json_array_size(v) > HD_MAX_DEPTS)
        return 0;
    for (size_t i = 0; i < json_array_size(v); i++)
        if (!hd_claim_id(json_array_get(v, i), out->depts[i]))
            return 0;
    out->n_depts = json_array_size(v);
    return 1;
}

static int hd_claim_max_chats(const json_t *v, int *out)
{
    if (v == NULL)
        return 1;
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
    if (n < 1 || n > HD_MAX_CHATS_LIMIT)
        return 0;
    *out = (int)n;
    return 1;
}

/* ---- the customer claims (spec §1) ---- */

int hd_email_check(const char *s, size_t n)
{
    const char *at = n <= HD_EMAIL_MAX ? memchr(s, '@', n) : NULL;
    if (at == NULL || at == s || at == s + n - 1 || memchr(at + 1, '@', n - (size_t)(at - s) - 1))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == HD_ASCII_DEL)
            return 0; /* a space or a control character (UTF-8 beyond ASCII is fine) */
    return 1;
}

static int hd_field_value(const json_t *v)
{
    if (json_is_string(v))
        return json_string_length(v) <= HD_FIELDS_VALUE_MAX ? 0 : HD_ETOOLARGE;
    return json_is_number(v) || json_is_boolean(v) ? 0 : HD_EBADREQ;
}

static int hd_field_key(const char *key)
{
    size_t n = strnlen(key, HD_FIELDS_KEY_MAX + 1);
    if (n == 0)
        return HD_EBADREQ;
    for (size_t i = 0; i < n; i++)
        if (!hd_name_char((unsigned char)key[i]))
            return HD_EBADREQ;
    return n <= HD_FIELDS_KEY_MAX ? 0 : HD_ETOOLARGE;
}

int hd_fields_compact(const json_t *fields, char *out)
{
    const char *key;
    const json_t *v;
    out[0] = '\0';
    if (!json_is_object(fields))
        return HD_EBADREQ;
    int why = json_object_size(fields) > HD_FIELDS_KEYS ? HD_ETOOLARGE : 0;
    /* A wrong type is the worse fault: it is reported before a bound. */
    json_object_foreach((json_t *)fields, key, v)
    {
        int k = hd_field_key(key), e = hd_field_value(v);
        if (k == HD_EBADREQ || e == HD_EBADREQ)
            return HD_EBADREQ;
        why = why ? why : k ? k : e;
    }
    if (why)
        return why;
    size_t n = json_dumpb(fields, out, HD_FIELDS_MAX, JSON_COMPACT);
    if (n == 0 || n > HD_FIELDS_MAX) {
        out[0] = '\0';
        return HD_ETOOLARGE;
    }
    out[n] = '\0';
    return 0;
}

static int hd_claim_email(const json_t *v, char *out)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (v == NULL)
        return 1;
    if (s == NULL || !hd_email_check(s, n))
        return 0;
    memcpy(out, s, n + 1);
    return 1;
}

static int hd_claim_fields(const json_t *v, char *out)
{
    return v == NULL || hd_fields_compact(v, out) == 0;
}

/* "vis": 1 marks a token the relay signed for a website visitor (a customer). */
static int hd_claim_visitor(const json_t *v, const hd_identity *id, int *out)
{
    if (v == NULL)
        return 1;
    *out = json_is_integer(v) && json_integer_value(v) == 1 && id->role == HD_ROLE_CUSTOMER;
    return *out;
}

static const char *hd_claims_read(const json_t *claims, hd_identity *out)
{
    int ok = hd_claim_id(json_object_get(claims, "sub"), out->id) &&
             hd_claim_role(json_object_get(claims, "role"), &out->role) &&
             hd_claim_time(json_object_get(claims, "exp"), &out->exp) &&
             hd_claim_name(hd_claim_optional(claims, "name"), out->name) &&
             hd_claim_depts(hd_claim_optional(claims, "dept"), out) &&
             hd_claim_max_chats(hd_claim_optional(claims, "max_chats"), &out->max_chats) &&
             hd_claim_email(hd_claim_optional(claims, "email"), out->email) &&
             hd_claim_fields(hd_claim_optional(claims, "fields"), out->fields) &&
             hd_claim_visitor(hd_claim_optional(claims, HD_VISITOR_CLAIM), out, &out->visitor);
    return ok ? NULL : HD_AUTH_INVALID_CLAIMS;
}

static const char *hd_claims_times(const hd_auth_config *cfg, const json_t *claims, int64_t exp,
                                   int64_t now_s)
{
    const json_t *nbf_claim = hd_claim_optional(claims, "nbf");
    int64_t nbf = 0, skew = hd_skew(cfg);
    if (nbf_claim != NULL && !hd_claim_time(nbf_claim, &nbf))
        return HD_AUTH_INVALID_CLAIMS;
    if (hd_time_passed(exp, now_s, skew))
        return HD_AUTH_EXPIRED;
    /* nbf - skew > now, written so that a huge nbf cannot overflow. */
    if (nbf_claim != NULL && nbf > now_s + skew)
        return HD_AUTH_NOT_YET_VALID;
    return NULL;
}

static const char *hd_jwt_claims_check(const hd_auth_config *cfg, const hd_jwt *jwt, int64_t now_s,
                                       hd_identity *out)
{
    json_t *claims = hd_jwt_json(jwt->seg[1], jwt->len[1]);
    if (claims == NULL)
        return HD_AUTH_MALFORMED;
    const char *why = hd_claims_read(claims, out);
    if (why == NULL)
        why = hd_claims_times(cfg, claims, out->exp, now_s);
    json_decref(claims);
    return why;
}

static const char *hd_jwt_verify(const hd_auth_config *cfg, const char *token, size_t len,
                                 int64_t now_s, hd_identity *out)
{
    hd_jwt jwt;
    if (hd_jwt_split(token, len, &jwt) != 0)
        return HD_AUTH_MALFORMED;
    json_t *header = hd_jwt_json(jwt.seg[0], jwt.len[0]);
    if (header == NULL)
        return HD_AUTH_MALFORMED;
    const char *why =
        hd_jwt_configured(cfg) ? hd_jwt_header_check(header) : HD_AUTH_JWT_NOT_CONFIGURED;
    json_decref(header);
    if (why == NULL)
        why = hd_jwt_signature_check(cfg, &jwt);
    if (why == NULL)
        why = hd_jwt_claims_check(cfg, &jwt, now_s, out);
    return why;
}

/* ---- public ---- */

static const char *hd_auth_check(const hd_auth_config *cfg, const char *token, int api_source,
                                 int64_t now_s, hd_identity *out)
{
    size_t len = token != NULL ? strnlen(token, HD_TOKEN_MAX + 1) : 0;
    if (len == 0)
        return HD_AUTH_MISSING_TOKEN;
    if (len > HD_TOKEN_MAX)
        return HD_AUTH_MALFORMED;
    /* Every token is tried as a key, JWT-shaped or not, so timing says nothing of which. */
    if (hd_key_in(cfg->api_keys, cfg->n_api_keys, token, len)) {
        out->role = HD_ROLE_API;
        return NULL;
    }
    if (api_source)
        return HD_AUTH_INVALID_API_KEY;
    return hd_jwt_verify(cfg, token, len, now_s, out);
}

const char *hd_auth_verify(const hd_auth_config *cfg, const char *token, int api_source,
                           int64_t now_s, hd_identity *out)
{
    memset(out, 0, sizeof *out);
    const char *why = hd_auth_check(cfg, token, api_source, now_s, out);
    if (why != NULL)
        memset(out, 0, sizeof *out);
    return why;
}

const char *hd_role_name(hd_role r)
{
    return (unsigned)r <= HD_ROLE_API ? HD_ROLE_NAMES[r] : "unknown";
}

int hd_identity_expired(const hd_auth_config *cfg, const hd_identity *id, int64_t now_s)
{
    return id->role != HD_ROLE_API && hd_time_passed(id->exp, now_s, hd_skew(cfg));
}

char *hd_jwt_sign_hs256(const unsigned char *secret, size_t len, const char *claims_json)
{
    sb_buf tok;
    sb_buf_init(&tok);
    sb_base64_url_encode(&tok, HD_JWT_HEADER, strlen(HD_JWT_HEADER));
    sb_buf_append_byte(&tok, HD_JWT_SEPARATOR);
    sb_base64_url_encode(&tok, claims_json, strlen(claims_json));
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!hd_hs256(secret, len, tok.data, tok.len, mac, &mac_len)) {
        sb_buf_free(&tok);
        return NULL;
    }
    sb_buf_append_byte(&tok, HD_JWT_SEPARATOR);
    sb_base64_url_encode(&tok, mac, mac_len);
    sb_buf_append_byte(&tok, '\0');
    return (char *)sb_buf_release(&tok, NULL);
}

char *hd_jwt_sign_claims(const hd_auth_config *cfg, const json_t *claims)
{
    char *text = json_dumps(claims, JSON_COMPACT);
    if (!text)
        abort();
    char *token = hd_jwt_sign_hs256(cfg->jwt_secret, cfg->jwt_secret_len, text);
    free(text);
    return token;
}
