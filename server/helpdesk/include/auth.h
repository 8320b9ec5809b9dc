/* auth.h: who a helpdesk client is, from the credentials it connects with (spec §1).
 *
 * The one idea: a token is either a configured API key (a trusted integration, no identity
 * of its own) or an HS256 JWT signed with the secret shared with the backend, whose claims
 * say who the client is. Every check answers a reason code, which the caller sends back in
 * CONNECT_ERROR as {"message":"unauthorized","data":{"code":<reason>}}; nothing here logs,
 * copies or echoes a token or a secret. Keys and the JWT signature are compared in
 * constant time.
 */
#ifndef HD_AUTH_H
#define HD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define HD_MAX_DEPTS           16    /* departments a token may name */
#define HD_NAME_MAX            128   /* longest display name, in bytes */
#define HD_TOKEN_MAX           4096  /* longest token accepted, in bytes */
#define HD_MAX_CHATS_LIMIT     1000  /* largest max_chats claim accepted */
#define HD_AUTH_DEFAULT_SKEW_S 30    /* clock skew tolerance when configuration says nothing */
#define HD_EMAIL_MAX           254   /* longest email claim, in bytes (RFC 5321's path limit) */
#define HD_FIELDS_MAX          2048  /* a customer's fields, as compact JSON text, in bytes */
#define HD_FIELDS_KEYS         32    /* keys in a customer's fields */
#define HD_FIELDS_KEY_MAX      64    /* bytes of a field's name */
#define HD_FIELDS_VALUE_MAX    512   /* bytes of a field's string value */
#define HD_VISITOR_CLAIM       "vis" /* marks a visitor token, which the relay signed itself */

/* Reason codes (part of the contract). hd_auth_verify() returns one of these pointers. */
#define HD_AUTH_MISSING_TOKEN      "missing_token"       /* no token, or an empty one */
#define HD_AUTH_MALFORMED          "malformed_token"     /* not a JWT, bad base64/JSON, too long */
#define HD_AUTH_UNSUPPORTED_ALG    "unsupported_alg"     /* header alg is not "HS256" */
#define HD_AUTH_BAD_SIGNATURE      "bad_signature"       /* signature does not match the secret */
#define HD_AUTH_EXPIRED            "token_expired"       /* exp + skew < now */
#define HD_AUTH_NOT_YET_VALID      "token_not_yet_valid" /* nbf - skew > now */
#define HD_AUTH_INVALID_CLAIMS     "invalid_claims"      /* a claim missing, mistyped, too big */
#define HD_AUTH_INVALID_API_KEY    "invalid_api_key"     /* token_source=api and no key matched */
#define HD_AUTH_JWT_NOT_CONFIGURED "jwt_not_configured"  /* a JWT, but no secret configured */

typedef enum hd_role { HD_ROLE_CUSTOMER, HD_ROLE_AGENT, HD_ROLE_SUPERVISOR, HD_ROLE_API } hd_role;

/* A verified client. Strings are NUL-terminated copies; ids are printable ASCII, no spaces. */
typedef struct hd_identity {
    hd_role role;
    char id[HD_ID_MAX + 1];                  /* sub; "" for an API key */
    char name[HD_NAME_MAX + 1];              /* "" when absent */
    char depts[HD_MAX_DEPTS][HD_ID_MAX + 1]; /* dept claim, in token order */
    size_t n_depts;                          /* 0: absent or empty */
    int max_chats;                           /* 0: absent (use the configured default) */
    int64_t exp;                             /* seconds since the epoch; 0 for an API key */
    char email[HD_EMAIL_MAX + 1];            /* customers: the email claim, "" when absent */
    char fields[HD_FIELDS_MAX + 1];          /* customers: the fields claim as compact JSON
                                                text, "" when absent */
    int visitor;                             /* a visitor token (claim "vis": 1, spec §1) */
} hd_identity;

/* Borrowed by hd_auth_verify() for the duration of the call. */
typedef struct hd_auth_config {
    const unsigned char *jwt_secret; /* NULL or jwt_secret_len 0: JWTs are refused */
    size_t jwt_secret_len;
    const char *const *api_keys; /* NUL-terminated keys; may be NULL when n_api_keys is 0 */
    size_t n_api_keys;
    int skew_s; /* clock skew tolerance in seconds (HD_AUTH_DEFAULT_SKEW_S) */
} hd_auth_config;

/* Checks token (NUL-terminated; NULL counts as missing). api_source: the client said
 * token_source=api. now_s: seconds since the epoch. Returns NULL and fills *out on success;
 * returns a reason code (a static string) and zeroes *out on failure. */
const char *hd_auth_verify(const hd_auth_config *cfg, const char *token, int api_source,
                           int64_t now_s, hd_identity *out);

/* "customer", "agent", "supervisor", "api" ("unknown" for anything else). */
const char *hd_role_name(hd_role r);

/* 1 when a verified identity's token has expired by now_s (exp + skew < now); API keys
 * never expire. */
int hd_identity_expired(const hd_auth_config *cfg, const hd_identity *id, int64_t now_s);

/* The customer claims (spec §1), also what a visitor registration sends.
 * hd_email_check: 1 when s (n bytes) looks like an address: at most HD_EMAIL_MAX bytes, no
 * spaces or control characters, one '@' with something on either side.
 * hd_fields_compact: fields must be a flat object of at most HD_FIELDS_KEYS keys of
 * 1..HD_FIELDS_KEY_MAX bytes (no control characters), each value a string of at most
 * HD_FIELDS_VALUE_MAX bytes, a number or a boolean, and at most HD_FIELDS_MAX bytes as compact
 * JSON, which is written to out (HD_FIELDS_MAX + 1 bytes). Returns 0, HD_EBADREQ when it is
 * not such an object, or HD_ETOOLARGE when it breaks a bound. */
int hd_email_check(const char *s, size_t n);
int hd_fields_compact(const json_t *fields, char *out);

/* 1 when key (len bytes) is one of keys, compared in constant time: every key is compared,
 * through digests, so neither a key's bytes nor its length leak. */
int hd_key_in(const char *const *keys, size_t n_keys, const char *key, size_t len);

/* The visitor tokens the relay signs (visitors.c), and the tests (the benchmark's load
 * generator signs its own: bench/loadgen/jwt.c): claims_json (a JSON object, signed byte for
 * byte as given) as an HS256 JWT with header
 * {"alg":"HS256","typ":"JWT"}. Returns a malloc'd string the caller frees, or NULL when secret is
 * NULL or empty. */
char *hd_jwt_sign_hs256(const unsigned char *secret, size_t len, const char *claims_json);
/* The relay's own tokens (visitors.c, demo.c): claims (borrowed) as compact JSON, signed with
 * cfg's JWT secret; the same ownership, NULL when there is no secret. */
char *hd_jwt_sign_claims(const hd_auth_config *cfg, const json_t *claims);

#endif
