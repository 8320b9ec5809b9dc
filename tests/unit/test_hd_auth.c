/* test_hd_auth.c: helpdesk credentials (spec §1): API keys and HS256 JWTs.
 *
 * The golden tokens were made by an independent implementation, node's crypto:
 *   const b = (s) => Buffer.from(s).toString('base64url');
 *   const input = b(header) + '.' + b(claims);
 *   input + '.' + crypto.createHmac('sha256', SECRET).update(input).digest('base64url')
 * with header {"alg":"HS256","typ":"JWT"} unless said otherwise. Other tokens are signed by
 * hd_jwt_sign_hs256(), which hd_auth_sign_matches_node checks against node's bytes.
 */
#include "auth.h"
#include "test.h"

#define SECRET     "helpdesk-golden-secret-0123456789"
#define NOW        ((int64_t)1700000000)
#define GOLDEN_EXP ((int64_t)2000000000)
#define SKEW       30

/* {"sub":"s-123","role":"customer","exp":2000000000,"name":"Ana Lima"} */
#define GOLDEN_CUSTOMER_HEADER "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
#define GOLDEN_CUSTOMER_PAYLOAD                                                                    \
    "eyJzdWIiOiJzLTEyMyIsInJvbGUiOiJjdXN0b21lciIsImV4cCI6MjAwMDAwMDAwMCwibmFtZSI6IkFuYSBMaW1h"     \
    "In0"
#define GOLDEN_CUSTOMER_SIG "ED9MDnCysiP4-LIRM0gjexWZgbdWG2BrcDtLSa4fT0M"
#define GOLDEN_CUSTOMER     GOLDEN_CUSTOMER_HEADER "." GOLDEN_CUSTOMER_PAYLOAD "." GOLDEN_CUSTOMER_SIG
#define GOLDEN_CUSTOMER_CLAIMS                                                                     \
    "{\"sub\":\"s-123\",\"role\":\"customer\",\"exp\":2000000000,\"name\":\"Ana Lima\"}"

/* {"sub":"agent-7","role":"agent","exp":2000000000,"name":"Bo","dept":["sales","billing"],
 *  "max_chats":5} */
#define GOLDEN_AGENT                                                                               \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZ2VudC03Iiwicm9sZSI6ImFnZW50IiwiZXhwIjoy"    \
    "MDAwMDAwMDAwLCJuYW1lIjoiQm8iLCJkZXB0IjpbInNhbGVzIiwiYmlsbGluZyJdLCJtYXhfY2hhdHMiOjV9.ARP"     \
    "Ly5KKp135Jtp6huZJFZvwzj4pw6R6YsU3YawtTkk"

/* {"sub":"sup-1","role":"supervisor","exp":2000000000.75,"nbf":1600000000,"iat":1600000000} */
#define GOLDEN_SUPERVISOR                                                                          \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzdXAtMSIsInJvbGUiOiJzdXBlcnZpc29yIiwiZXhw"    \
    "IjoyMDAwMDAwMDAwLjc1LCJuYmYiOjE2MDAwMDAwMDAsImlhdCI6MTYwMDAwMDAwMH0.0nhGwd3X00Dz5qr4ccncR"    \
    "fQkuyOQByHrdeBLSRkRbPA"

/* Header {"alg":"none","typ":"JWT"}, claims {"sub":"s-123","role":"customer","exp":2000000000},
 * empty signature. */
#define GOLDEN_ALG_NONE                                                                            \
    "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJzLTEyMyIsInJvbGUiOiJjdXN0b21lciIsImV4cCI6"     \
    "MjAwMDAwMDAwMH0."

/* Header {"alg":"HS512","typ":"JWT"}, same claims, HMAC-SHA512 with SECRET. */
#define GOLDEN_HS512                                                                               \
    "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzLTEyMyIsInJvbGUiOiJjdXN0b21lciIsImV4cCI6"    \
    "MjAwMDAwMDAwMH0.iZKSta5herhnt5NuoeOi61K5MulJJXwNV2K7A8OmFoARuCf5XUP51WH2L96sjorFlSiAVG5rZQ"   \
    "uZIJdaEqveOw"

static const char *const KEYS[] = {"key-alpha-1", "key-beta-22"};

static hd_auth_config test_cfg(void)
{
    hd_auth_config cfg = {(const unsigned char *)SECRET, sizeof(SECRET) - 1, KEYS,
                          sizeof KEYS / sizeof KEYS[0], SKEW};
    return cfg;
}

/* Verifies a heap copy of token that ends at its NUL, so any read past it is ASan's. */
static const char *verify_at(const hd_auth_config *cfg, const char *token, int api_source,
                             int64_t now_s, hd_identity *out)
{
    char *copy = test_exact_copy(token, strlen(token) + 1);
    const char *why = hd_auth_verify(cfg, copy, api_source, now_s, out);
    free(copy);
    return why;
}

/* Checks the reason token gets (NULL: accepted) with the test configuration at NOW. */
static void expect(const char *token, const char *want)
{
    hd_auth_config cfg = test_cfg();
    hd_identity id;
    const char *why = verify_at(&cfg, token, 0, NOW, &id);
    if (want == NULL ? why != NULL : (why == NULL || strcmp(why, want) != 0))
        TEST_FAIL("token %s: got %s, want %s", token, why ? why : "(accepted)",
                  want ? want : "(accepted)");
}

/* The identity a token accepted with the test configuration at NOW stands for. */
static hd_identity accepted(const char *token)
{
    hd_auth_config cfg = test_cfg();
    hd_identity id;
    const char *why = verify_at(&cfg, token, 0, NOW, &id);
    if (why != NULL)
        TEST_FAIL("token %s refused: %s", token, why);
    return id;
}

/* Signs claims with SECRET and checks the reason, as expect() does. */
static void expect_claims(const char *claims, const char *want)
{
    char *token = hd_jwt_sign_hs256((const unsigned char *)SECRET, sizeof(SECRET) - 1, claims);
    ASSERT(token != NULL);
    expect(token, want);
    free(token);
}

/* Claims formats around one varied piece (the %s). */
#define CUSTOMER_WITH "{\"sub\":\"s-1\",\"role\":\"customer\",\"exp\":2000000000%s}"
#define SUB_AS        "{\"sub\":%s,\"role\":\"agent\",\"exp\":2000000000}"
#define ROLE_AS       "{\"sub\":\"s-1\",\"role\":%s,\"exp\":2000000000}"
#define NAME_AS       "{\"sub\":\"s-1\",\"role\":\"customer\",\"exp\":2000000000,\"name\":%s}"
#define DEPT_AS       "{\"sub\":\"s-1\",\"role\":\"customer\",\"exp\":2000000000,\"dept\":%s}"
#define MAX_CHATS_AS  "{\"sub\":\"s-1\",\"role\":\"customer\",\"exp\":2000000000,\"max_chats\":%s}"

static void expect_with(const char *claims_fmt, const char *value, const char *want)
{
    char claims[HD_TOKEN_MAX];
    snprintf(claims, sizeof claims, claims_fmt, value);
    expect_claims(claims, want);
}

static void expect_each(const char *claims_fmt, const char *const *values, size_t n,
                        const char *want)
{
    for (size_t i = 0; i < n; i++)
        expect_with(claims_fmt, values[i], want);
}

/* A JSON string of max characters is accepted in the claim, one more is refused. */
static void expect_string_limit(const char *claims_fmt, size_t max)
{
    char value[HD_TOKEN_MAX];
    for (size_t n = max; n <= max + 1; n++) {
        value[0] = '"';
        memset(value + 1, 'x', n);
        strcpy(value + 1 + n, "\"");
        expect_with(claims_fmt, value, n <= max ? NULL : HD_AUTH_INVALID_CLAIMS);
    }
}

TEST_IMPL(hd_auth_golden_customer)
{
    hd_identity id = accepted(GOLDEN_CUSTOMER);
    ASSERT_EQ(id.role, HD_ROLE_CUSTOMER);
    ASSERT_STR_EQ(id.id, "s-123");
    ASSERT_STR_EQ(id.name, "Ana Lima");
    ASSERT_EQ(id.exp, GOLDEN_EXP);
    ASSERT_EQ(id.n_depts, 0);
    ASSERT_EQ(id.max_chats, 0);
    return 0;
}

TEST_IMPL(hd_auth_golden_agent)
{
    hd_identity id = accepted(GOLDEN_AGENT);
    ASSERT_EQ(id.role, HD_ROLE_AGENT);
    ASSERT_STR_EQ(id.id, "agent-7");
    ASSERT_STR_EQ(id.name, "Bo");
    ASSERT_EQ(id.n_depts, 2);
    ASSERT_STR_EQ(id.depts[0], "sales");
    ASSERT_STR_EQ(id.depts[1], "billing");
    ASSERT_EQ(id.max_chats, 5);
    return 0;
}

/* A real exp rounds down; a past nbf and unknown claims (iat) are fine. */
TEST_IMPL(hd_auth_golden_supervisor)
{
    hd_identity id = accepted(GOLDEN_SUPERVISOR);
    ASSERT_EQ(id.role, HD_ROLE_SUPERVISOR);
    ASSERT_STR_EQ(id.id, "sup-1");
    ASSERT_STR_EQ(id.name, "");
    ASSERT_EQ(id.exp, GOLDEN_EXP);
    return 0;
}

TEST_IMPL(hd_auth_sign_matches_node)
{
    char *token = hd_jwt_sign_hs256((const unsigned char *)SECRET, sizeof(SECRET) - 1,
                                    GOLDEN_CUSTOMER_CLAIMS);
    ASSERT_STR_EQ(token, GOLDEN_CUSTOMER);
    free(token);
    return 0;
}

TEST_IMPL(hd_auth_sign_verify_round_trip)
{
    static const unsigned char secret[] = {0x00, 0xff, 0x10, 0x80, 0x7f, 0x01};
    char *token = hd_jwt_sign_hs256(
        secret, sizeof secret,
        "{\"sub\":\"a.b_c-d@e\",\"role\":\"agent\",\"exp\":1700003600,\"name\":\"Zoë Ñ\","
        "\"dept\":[],\"max_chats\":1000}");
    ASSERT(token != NULL);
    hd_auth_config cfg = {secret, sizeof secret, NULL, 0, SKEW};
    hd_identity id;
    ASSERT(verify_at(&cfg, token, 0, NOW, &id) == NULL);
    ASSERT_STR_EQ(id.id, "a.b_c-d@e");
    ASSERT_STR_EQ(id.name, "Zoë Ñ");
    ASSERT_EQ(id.n_depts, 0);
    ASSERT_EQ(id.max_chats, 1000);
    ASSERT_EQ(id.exp, 1700003600);
    free(token);
    ASSERT(hd_jwt_sign_hs256(NULL, 0, "{}") == NULL);
    return 0;
}

TEST_IMPL(hd_auth_alg_none_refused)
{
    expect(GOLDEN_ALG_NONE, HD_AUTH_UNSUPPORTED_ALG);
    /* alg none with a valid HS256 signature does not help either. */
    expect("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." GOLDEN_CUSTOMER_PAYLOAD "." GOLDEN_CUSTOMER_SIG,
           HD_AUTH_UNSUPPORTED_ALG);
    return 0;
}

TEST_IMPL(hd_auth_alg_other_refused)
{
    expect(GOLDEN_HS512, HD_AUTH_UNSUPPORTED_ALG);
    /* {"typ":"JWT"}, {"alg":"hs256"}, {"alg":null}, {"alg":"HS256 "} */
    static const char *const headers[] = {"eyJ0eXAiOiJKV1QifQ", "eyJhbGciOiJoczI1NiJ9",
                                          "eyJhbGciOm51bGx9", "eyJhbGciOiJIUzI1NiAifQ"};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char token[HD_TOKEN_MAX];
        snprintf(token, sizeof token, "%s.%s.%s", headers[i], GOLDEN_CUSTOMER_PAYLOAD,
                 GOLDEN_CUSTOMER_SIG);
        expect(token, HD_AUTH_UNSUPPORTED_ALG);
    }
    return 0;
}

/* {"alg":"HS256","crit":["exp"]}: an extension we would have to understand. */
TEST_IMPL(hd_auth_crit_header_refused)
{
    expect("eyJhbGciOiJIUzI1NiIsImNyaXQiOlsiZXhwIl19." GOLDEN_CUSTOMER_PAYLOAD
           "." GOLDEN_CUSTOMER_SIG,
           HD_AUTH_MALFORMED);
    return 0;
}

TEST_IMPL(hd_auth_wrong_secret)
{
    hd_auth_config cfg = test_cfg();
    cfg.jwt_secret_len--; /* same bytes but the last: a near miss */
    hd_identity id;
    ASSERT_STR_EQ(verify_at(&cfg, GOLDEN_CUSTOMER, 0, NOW, &id), HD_AUTH_BAD_SIGNATURE);
    cfg.jwt_secret = (const unsigned char *)"another secret";
    cfg.jwt_secret_len = strlen("another secret");
    ASSERT_STR_EQ(verify_at(&cfg, GOLDEN_CUSTOMER, 0, NOW, &id), HD_AUTH_BAD_SIGNATURE);
    return 0;
}

TEST_IMPL(hd_auth_tampered_token)
{
    /* The agent's payload under the customer's signature. */
    expect(GOLDEN_CUSTOMER_HEADER
           ".eyJzdWIiOiJhZ2VudC03Iiwicm9sZSI6ImFnZW50IiwiZXhwIjoyMDAwMDAwMDAwLCJuYW1lIjoiQm8iLCJk"
           "ZXB0IjpbInNhbGVzIiwiYmlsbGluZyJdLCJtYXhfY2hhdHMiOjV9." GOLDEN_CUSTOMER_SIG,
           HD_AUTH_BAD_SIGNATURE);
    /* One payload character changed (still base64url and JSON: "s-123" becomes "s1123"). */
    char token[] = GOLDEN_CUSTOMER;
    token[sizeof(GOLDEN_CUSTOMER_HEADER) + 12] ^= 0x01;
    expect(token, HD_AUTH_BAD_SIGNATURE);
    /* One signature bit, a truncated signature, no signature. */
    expect(GOLDEN_CUSTOMER_HEADER "." GOLDEN_CUSTOMER_PAYLOAD
                                  ".FD9MDnCysiP4-LIRM0gjexWZgbdWG2BrcDtLSa4fT0M",
           HD_AUTH_BAD_SIGNATURE);
    expect(GOLDEN_CUSTOMER_HEADER "." GOLDEN_CUSTOMER_PAYLOAD
                                  ".ED9MDnCysiP4-LIRM0gjexWZgbdWG2BrcDtLSa4f",
           HD_AUTH_BAD_SIGNATURE);
    expect(GOLDEN_CUSTOMER_HEADER "." GOLDEN_CUSTOMER_PAYLOAD ".", HD_AUTH_BAD_SIGNATURE);
    expect(GOLDEN_CUSTOMER "A", HD_AUTH_BAD_SIGNATURE); /* 33 bytes: a longer signature */
    return 0;
}

TEST_IMPL(hd_auth_expiry_and_skew)
{
    char extra[64];
    expect_claims("{\"sub\":\"s-1\",\"role\":\"customer\",\"exp\":1699999969}",
                  HD_AUTH_EXPIRED); /* NOW - SKEW - 1 */
    expect_claims("{\"sub\":\"s-1\",\"role\":\"customer\",\"exp\":1699999970}",
                  NULL); /* NOW - SKEW: within the tolerance */
    expect_claims("{\"sub\":\"s-1\",\"role\":\"customer\",\"exp\":1699999990.5}", NULL);
    expect_claims("{\"sub\":\"s-1\",\"role\":\"customer\",\"exp\":-1}", HD_AUTH_EXPIRED);
    expect_claims("{\"sub\":\"s-1\",\"role\":\"customer\",\"exp\":9223372036854775807}", NULL);
    snprintf(extra, sizeof extra, ",\"nbf\":%" PRId64, NOW + SKEW + 1);
    expect_with(CUSTOMER_WITH, extra, HD_AUTH_NOT_YET_VALID);
    snprintf(extra, sizeof extra, ",\"nbf\":%" PRId64, NOW + SKEW);
    expect_with(CUSTOMER_WITH, extra, NULL);
    expect_with(CUSTOMER_WITH, ",\"nbf\":9223372036854775807", HD_AUTH_NOT_YET_VALID);
    expect_with(CUSTOMER_WITH, ",\"nbf\":null", NULL);
    expect_with(CUSTOMER_WITH, ",\"nbf\":\"0\"", HD_AUTH_INVALID_CLAIMS);
    return 0;
}

TEST_IMPL(hd_auth_identity_expired)
{
    hd_auth_config cfg = test_cfg();
    hd_identity id;
    ASSERT(verify_at(&cfg, GOLDEN_CUSTOMER, 0, NOW, &id) == NULL);
    ASSERT_EQ(hd_identity_expired(&cfg, &id, GOLDEN_EXP + SKEW), 0);
    ASSERT_EQ(hd_identity_expired(&cfg, &id, GOLDEN_EXP + SKEW + 1), 1);
    ASSERT(verify_at(&cfg, KEYS[0], 1, NOW, &id) == NULL);
    ASSERT_EQ(hd_identity_expired(&cfg, &id, INT64_MAX), 0);
    return 0;
}

TEST_IMPL(hd_auth_claims_required)
{
    expect_claims("{\"role\":\"customer\",\"exp\":2000000000}", HD_AUTH_INVALID_CLAIMS);
    expect_claims("{\"sub\":\"s-1\",\"exp\":2000000000}", HD_AUTH_INVALID_CLAIMS);
    expect_claims("{\"sub\":\"s-1\",\"role\":\"customer\"}", HD_AUTH_INVALID_CLAIMS);
    expect_claims("{\"sub\":\"s-1\",\"role\":\"customer\",\"exp\":null}", HD_AUTH_INVALID_CLAIMS);
    expect_claims("{\"sub\":\"s-1\",\"role\":\"customer\",\"exp\":\"2000000000\"}",
                  HD_AUTH_INVALID_CLAIMS);
    expect_claims("{\"sub\":\"s-1\",\"role\":\"customer\",\"exp\":1e300}", HD_AUTH_INVALID_CLAIMS);
    expect_claims("{\"sub\":null,\"role\":\"customer\",\"exp\":2000000000}",
                  HD_AUTH_INVALID_CLAIMS);
    return 0;
}

TEST_IMPL(hd_auth_claims_sub)
{
    expect_string_limit(SUB_AS, HD_ID_MAX);
    static const char *const bad[] = {"\"\"",         "\"s 1\"",      "\"s\\n1\"", "\"s\\u0001\"",
                                      "\"s\\u007f\"", "\"s\\u00e9\"", "12",        "[\"s\"]"};
    expect_each(SUB_AS, bad, sizeof bad / sizeof bad[0], HD_AUTH_INVALID_CLAIMS);
    return 0;
}

TEST_IMPL(hd_auth_claims_role)
{
    static const char *const bad[] = {"\"api\"", "\"Agent\"", "\"admin\"", "\"\"", "1", "null"};
    expect_each(ROLE_AS, bad, sizeof bad / sizeof bad[0], HD_AUTH_INVALID_CLAIMS);
    return 0;
}

TEST_IMPL(hd_auth_claims_dept)
{
    static const char *const bad[] = {"\"sales\"", "{\"a\":1}", "[\"sales\",3]",
                                      "[\"\"]",    "[\"a b\"]", "[[\"sales\"]]"};
    expect_each(DEPT_AS, bad, sizeof bad / sizeof bad[0], HD_AUTH_INVALID_CLAIMS);
    expect_with(DEPT_AS, "null", NULL);
    expect_with(DEPT_AS, "[]", NULL);
    /* A department id is held to the same limit as sub. */
    expect_string_limit("{\"sub\":\"s-1\",\"role\":\"agent\",\"exp\":2000000000,\"dept\":[%s]}",
                        HD_ID_MAX);
    char depts[HD_TOKEN_MAX] = "[\"d0\"";
    for (int i = 1; i < HD_MAX_DEPTS; i++)
        snprintf(depts + strlen(depts), sizeof depts - strlen(depts), ",\"d%d\"", i);
    size_t open = strlen(depts);
    strcat(depts, "]");
    expect_with(DEPT_AS, depts, NULL); /* exactly HD_MAX_DEPTS */
    snprintf(depts + open, sizeof depts - open, ",\"one-more\"]");
    expect_with(DEPT_AS, depts, HD_AUTH_INVALID_CLAIMS);
    return 0;
}

TEST_IMPL(hd_auth_claims_name_and_max_chats)
{
    expect_string_limit(NAME_AS, HD_NAME_MAX);
    static const char *const bad_names[] = {"\"a\\nb\"", "\"a\\u007fb\"", "7", "[]"};
    expect_each(NAME_AS, bad_names, sizeof bad_names / sizeof bad_names[0], HD_AUTH_INVALID_CLAIMS);
    expect_with(NAME_AS, "null", NULL);
    expect_with(MAX_CHATS_AS, "1", NULL);
    expect_with(MAX_CHATS_AS, "1000", NULL);
    static const char *const bad_max[] = {"0", "-1", "1001", "5.0", "\"5\"", "true"};
    expect_each(MAX_CHATS_AS, bad_max, sizeof bad_max / sizeof bad_max[0], HD_AUTH_INVALID_CLAIMS);
    return 0;
}

/* Grows a padding claim until the token crosses HD_TOKEN_MAX: the last one at or under the
 * limit is accepted, the first one over it refused before anything else is looked at. */
TEST_IMPL(hd_auth_oversize_token)
{
    char claims[HD_TOKEN_MAX], pad[HD_TOKEN_MAX];
    size_t last_len = 0;
    for (size_t n = 2800; n < sizeof pad; n++) {
        memset(pad, 'p', n);
        pad[n] = '\0';
        snprintf(claims, sizeof claims,
                 "{\"sub\":\"s-1\",\"role\":\"customer\",\"exp\":2000000000,\"pad\":\"%s\"}", pad);
        char *token = hd_jwt_sign_hs256((const unsigned char *)SECRET, sizeof(SECRET) - 1, claims);
        size_t len = strlen(token);
        expect(token, len <= HD_TOKEN_MAX ? NULL : HD_AUTH_MALFORMED);
        free(token);
        if (len > HD_TOKEN_MAX)
            break;
        last_len = len;
    }
    ASSERT(last_len >= HD_TOKEN_MAX - 2);
    /* An oversize API key is refused too, without being compared. */
    char big[HD_TOKEN_MAX + 2];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    hd_auth_config cfg = test_cfg();
    hd_identity id;
    ASSERT_STR_EQ(verify_at(&cfg, big, 1, NOW, &id), HD_AUTH_MALFORMED);
    return 0;
}

TEST_IMPL(hd_auth_malformed_base64)
{
    /* Characters outside base64url, padding, and a stray length in each segment. */
    expect(GOLDEN_CUSTOMER_HEADER "=." GOLDEN_CUSTOMER_PAYLOAD "." GOLDEN_CUSTOMER_SIG,
           HD_AUTH_MALFORMED);
    expect("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9+." GOLDEN_CUSTOMER_PAYLOAD "." GOLDEN_CUSTOMER_SIG,
           HD_AUTH_MALFORMED);
    expect(GOLDEN_CUSTOMER_HEADER "." GOLDEN_CUSTOMER_PAYLOAD "=." GOLDEN_CUSTOMER_SIG,
           HD_AUTH_BAD_SIGNATURE); /* the payload is only decoded once the signature holds */
    expect(GOLDEN_CUSTOMER_HEADER "." GOLDEN_CUSTOMER_PAYLOAD "." GOLDEN_CUSTOMER_SIG "=",
           HD_AUTH_MALFORMED);
    expect(GOLDEN_CUSTOMER_HEADER "." GOLDEN_CUSTOMER_PAYLOAD
                                  ".ED9MDnCysiP4+LIRM0gjexWZgbdWG2BrcDtLSa4fT0M",
           HD_AUTH_MALFORMED);
    expect(GOLDEN_CUSTOMER_HEADER "." GOLDEN_CUSTOMER_PAYLOAD
                                  ".ED9MDnCysiP4/LIRM0gjexWZgbdWG2BrcDtLSa4fT0M",
           HD_AUTH_MALFORMED);
    expect(GOLDEN_CUSTOMER_HEADER "." GOLDEN_CUSTOMER_PAYLOAD
                                  ".ED9MDnCysiP4 LIRM0gjexWZgbdWG2BrcDtLSa4fT0M",
           HD_AUTH_MALFORMED);
    expect(GOLDEN_CUSTOMER_HEADER "." GOLDEN_CUSTOMER_PAYLOAD "." GOLDEN_CUSTOMER_SIG "xy",
           HD_AUTH_MALFORMED); /* 45 characters: 1 left over, which no byte string gives */
    /* Same bytes as the real signature, but with unused low bits set: not canonical. */
    expect(GOLDEN_CUSTOMER_HEADER "." GOLDEN_CUSTOMER_PAYLOAD
                                  ".ED9MDnCysiP4-LIRM0gjexWZgbdWG2BrcDtLSa4fT0N",
           HD_AUTH_MALFORMED);
    return 0;
}

TEST_IMPL(hd_auth_malformed_json)
{
    /* Headers: [1], "not json", {"alg":"HS256","alg":"HS256"}, empty. */
    static const char *const headers[] = {"WzFd", "bm90IGpzb24",
                                          "eyJhbGciOiJIUzI1NiIsImFsZyI6IkhTMjU2In0", ""};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char token[HD_TOKEN_MAX];
        snprintf(token, sizeof token, "%s.%s.%s", headers[i], GOLDEN_CUSTOMER_PAYLOAD,
                 GOLDEN_CUSTOMER_SIG);
        expect(token, HD_AUTH_MALFORMED);
    }
    /* Signed payloads that are not one JSON object. */
    expect_claims("not json", HD_AUTH_MALFORMED);
    expect_claims("[\"sub\"]", HD_AUTH_MALFORMED);
    expect_claims("", HD_AUTH_MALFORMED);
    /* Two roles: two readers of one token could disagree on who it names. */
    expect_with(ROLE_AS, "\"customer\",\"role\":\"supervisor\"", HD_AUTH_MALFORMED);
    expect_claims("{\"sub\":\"s\\u0000x\",\"role\":\"customer\",\"exp\":2000000000}",
                  HD_AUTH_MALFORMED);
    return 0;
}

TEST_IMPL(hd_auth_segment_count)
{
    expect(GOLDEN_CUSTOMER_HEADER "." GOLDEN_CUSTOMER_PAYLOAD, HD_AUTH_MALFORMED);
    expect(GOLDEN_CUSTOMER "." GOLDEN_CUSTOMER_SIG, HD_AUTH_MALFORMED);
    expect(GOLDEN_CUSTOMER ".", HD_AUTH_MALFORMED);
    expect("." GOLDEN_CUSTOMER, HD_AUTH_MALFORMED);
    expect(GOLDEN_CUSTOMER_HEADER, HD_AUTH_MALFORMED);
    expect("..", HD_AUTH_MALFORMED);
    expect("...", HD_AUTH_MALFORMED);
    expect("not-a-token", HD_AUTH_MALFORMED);
    return 0;
}

TEST_IMPL(hd_auth_missing_token)
{
    hd_auth_config cfg = test_cfg();
    hd_identity id;
    ASSERT_STR_EQ(hd_auth_verify(&cfg, NULL, 0, NOW, &id), HD_AUTH_MISSING_TOKEN);
    ASSERT_STR_EQ(hd_auth_verify(&cfg, "", 0, NOW, &id), HD_AUTH_MISSING_TOKEN);
    ASSERT_STR_EQ(hd_auth_verify(&cfg, "", 1, NOW, &id), HD_AUTH_MISSING_TOKEN);
    return 0;
}

TEST_IMPL(hd_auth_api_key_by_source)
{
    hd_auth_config cfg = test_cfg();
    hd_identity id;
    for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++) {
        ASSERT(verify_at(&cfg, KEYS[i], 1, NOW, &id) == NULL);
        ASSERT_EQ(id.role, HD_ROLE_API);
        ASSERT_STR_EQ(id.id, "");
        ASSERT_EQ(id.exp, 0);
    }
    return 0;
}

TEST_IMPL(hd_auth_api_key_by_equality)
{
    hd_auth_config cfg = test_cfg();
    hd_identity id;
    ASSERT(verify_at(&cfg, "key-beta-22", 0, NOW, &id) == NULL);
    ASSERT_EQ(id.role, HD_ROLE_API);
    /* A key shaped like a JWT is still a key. */
    static const char *const jwt_key[] = {GOLDEN_HS512};
    cfg.api_keys = jwt_key;
    cfg.n_api_keys = 1;
    ASSERT(verify_at(&cfg, GOLDEN_HS512, 0, NOW, &id) == NULL);
    ASSERT_EQ(id.role, HD_ROLE_API);
    return 0;
}

TEST_IMPL(hd_auth_api_key_mismatch)
{
    hd_auth_config cfg = test_cfg();
    hd_identity id;
    static const char *const wrong[] = {"key-alpha-", "key-alpha-12", "KEY-ALPHA-1", "key-alpha-2",
                                        GOLDEN_CUSTOMER};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++)
        ASSERT_STR_EQ(verify_at(&cfg, wrong[i], 1, NOW, &id), HD_AUTH_INVALID_API_KEY);
    /* Without token_source=api a wrong key is just a token that is not a JWT. */
    ASSERT_STR_EQ(verify_at(&cfg, "key-alpha-", 0, NOW, &id), HD_AUTH_MALFORMED);
    cfg.api_keys = NULL;
    cfg.n_api_keys = 0;
    ASSERT_STR_EQ(verify_at(&cfg, "key-alpha-1", 1, NOW, &id), HD_AUTH_INVALID_API_KEY);
    return 0;
}

TEST_IMPL(hd_auth_jwt_not_configured)
{
    hd_auth_config cfg = test_cfg();
    cfg.jwt_secret = NULL;
    cfg.jwt_secret_len = 0;
    hd_identity id;
    ASSERT_STR_EQ(verify_at(&cfg, GOLDEN_CUSTOMER, 0, NOW, &id), HD_AUTH_JWT_NOT_CONFIGURED);
    ASSERT_STR_EQ(verify_at(&cfg, GOLDEN_ALG_NONE, 0, NOW, &id), HD_AUTH_JWT_NOT_CONFIGURED);
    ASSERT(verify_at(&cfg, KEYS[0], 0, NOW, &id) == NULL);
    /* An empty secret would let anyone sign: it counts as none. */
    cfg.jwt_secret = (const unsigned char *)"";
    ASSERT_STR_EQ(verify_at(&cfg, GOLDEN_CUSTOMER, 0, NOW, &id), HD_AUTH_JWT_NOT_CONFIGURED);
    return 0;
}

/* A refusal leaves nothing of a half-read token behind. */
TEST_IMPL(hd_auth_failure_zeroes_identity)
{
    hd_auth_config cfg = test_cfg();
    hd_identity id, zero;
    memset(&zero, 0, sizeof zero);
    memset(&id, 0xa5, sizeof id);
    /* sub, role, name and dept read, then max_chats refused. */
    char *token = hd_jwt_sign_hs256(
        (const unsigned char *)SECRET, sizeof(SECRET) - 1,
        "{\"sub\":\"s-1\",\"role\":\"agent\",\"exp\":2000000000,\"name\":\"N\",\"dept\":[\"d\"],"
        "\"max_chats\":0}");
    ASSERT_STR_EQ(verify_at(&cfg, token, 0, NOW, &id), HD_AUTH_INVALID_CLAIMS);
    ASSERT(memcmp(&id, &zero, sizeof id) == 0);
    free(token);
    memset(&id, 0xa5, sizeof id);
    ASSERT_STR_EQ(verify_at(&cfg, GOLDEN_CUSTOMER, 0, GOLDEN_EXP + SKEW + 1, &id), HD_AUTH_EXPIRED);
    ASSERT(memcmp(&id, &zero, sizeof id) == 0);
    return 0;
}

TEST_IMPL(hd_auth_role_names)
{
    ASSERT_STR_EQ(hd_role_name(HD_ROLE_CUSTOMER), "customer");
    ASSERT_STR_EQ(hd_role_name(HD_ROLE_AGENT), "agent");
    ASSERT_STR_EQ(hd_role_name(HD_ROLE_SUPERVISOR), "supervisor");
    ASSERT_STR_EQ(hd_role_name(HD_ROLE_API), "api");
    ASSERT_STR_EQ(hd_role_name((hd_role)42), "unknown");
    return 0;
}

/* ---- the customer claims: email, fields, the visitor marker ---- */

#define EMAIL_AS  "{\"sub\":\"s-1\",\"role\":\"customer\",\"exp\":2000000000,\"email\":%s}"
#define FIELDS_AS "{\"sub\":\"s-1\",\"role\":\"customer\",\"exp\":2000000000,\"fields\":%s}"

/* The identity of claims signed with SECRET, which must be accepted. */
static hd_identity accepted_claims(const char *claims)
{
    char *token = hd_jwt_sign_hs256((const unsigned char *)SECRET, sizeof(SECRET) - 1, claims);
    hd_identity id = accepted(token);
    free(token);
    return id;
}

/* An email of n bytes ("x...x@example.com") in a JSON string. */
static void email_of(char *out, size_t n)
{
    static const char tail[] = "@example.com";
    out[0] = '"';
    memset(out + 1, 'x', n - (sizeof tail - 1));
    strcpy(out + 1 + n - (sizeof tail - 1), tail);
    strcat(out, "\"");
}

TEST_IMPL(hd_auth_claims_email)
{
    char claims[HD_TOKEN_MAX], value[HD_TOKEN_MAX];
    snprintf(claims, sizeof claims, EMAIL_AS, "\"ana@example.com\"");
    hd_identity id = accepted_claims(claims);
    ASSERT_STR_EQ(id.email, "ana@example.com");
    ASSERT_STR_EQ(id.fields, "");
    ASSERT_EQ(id.visitor, 0);
    ASSERT_STR_EQ(accepted(GOLDEN_CUSTOMER).email, ""); /* absent */
    expect_with(EMAIL_AS, "null", NULL);
    expect_with(EMAIL_AS, "\"zo\\u00eb@b\\u00fccher.example\"", NULL); /* UTF-8 is fine */
    email_of(value, HD_EMAIL_MAX);
    expect_with(EMAIL_AS, value, NULL);
    email_of(value, HD_EMAIL_MAX + 1);
    expect_with(EMAIL_AS, value, HD_AUTH_INVALID_CLAIMS);
    static const char *const bad[] = {"\"\"",
                                      "\"ana\"",
                                      "\"@example.com\"",
                                      "\"ana@\"",
                                      "\"a@b@c\"",
                                      "\"a b@example\"",
                                      "\"a\\n@b\"",
                                      "\"a\\u007f@b\"",
                                      "7",
                                      "[\"a@b\"]",
                                      "{}"};
    expect_each(EMAIL_AS, bad, sizeof bad / sizeof bad[0], HD_AUTH_INVALID_CLAIMS);
    ASSERT_EQ(hd_email_check("a@b", 3), 1);
    ASSERT_EQ(hd_email_check("a@b", 2), 0); /* the length given is what counts */
    return 0;
}

TEST_IMPL(hd_auth_claims_fields)
{
    char claims[HD_TOKEN_MAX];
    snprintf(claims, sizeof claims, FIELDS_AS,
             "{\"plan\": \"pro\", \"seats\": 12, \"ratio\": 0.5, \"trial\": false}");
    hd_identity id = accepted_claims(claims);
    ASSERT_STR_EQ(id.fields, "{\"plan\":\"pro\",\"seats\":12,\"ratio\":0.5,\"trial\":false}");
    expect_with(FIELDS_AS, "null", NULL);
    expect_with(FIELDS_AS, "{}", NULL);
    static const char *const bad[] = {
        "[]",       "\"plan\"",      "7",        "{\"a\":{\"b\":1}}", "{\"a\":[1]}", "{\"a\":null}",
        "{\"\":1}", "{\"a\\nb\":1}", "{\"k\":\"" /* a value over the limit: below */};
    expect_each(FIELDS_AS, bad, sizeof bad / sizeof bad[0] - 1, HD_AUTH_INVALID_CLAIMS);
    return 0;
}

/* Each bound: at the bound accepted, one over refused; in a token invalid_claims, and from
 * hd_fields_compact 413 (a wrong shape is 400). */
TEST_IMPL(hd_auth_fields_bounds)
{
    char out[HD_FIELDS_MAX + 1];
    json_t *f = json_object();
    char key[HD_FIELDS_KEY_MAX + 2];
    for (int i = 0; i < HD_FIELDS_KEYS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(f, key, json_integer(i));
    }
    ASSERT_EQ(hd_fields_compact(f, out), 0);
    json_object_set_new(f, "one-more", json_true());
    ASSERT_EQ(hd_fields_compact(f, out), HD_ETOOLARGE);
    ASSERT_STR_EQ(out, "");
    json_object_clear(f);

    memset(key, 'k', HD_FIELDS_KEY_MAX);
    key[HD_FIELDS_KEY_MAX] = '\0';
    json_object_set_new(f, key, json_true());
    ASSERT_EQ(hd_fields_compact(f, out), 0);
    key[HD_FIELDS_KEY_MAX] = 'k';
    key[HD_FIELDS_KEY_MAX + 1] = '\0';
    json_object_set_new(f, key, json_true());
    ASSERT_EQ(hd_fields_compact(f, out), HD_ETOOLARGE);
    json_object_clear(f);

    char value[HD_FIELDS_VALUE_MAX + 2];
    memset(value, 'v', HD_FIELDS_VALUE_MAX);
    value[HD_FIELDS_VALUE_MAX] = '\0';
    json_object_set_new(f, "v", json_string(value));
    ASSERT_EQ(hd_fields_compact(f, out), 0);
    strcat(value, "v");
    json_object_set_new(f, "v", json_string(value));
    ASSERT_EQ(hd_fields_compact(f, out), HD_ETOOLARGE);
    json_object_set_new(f, "v", json_object()); /* a wrong shape wins over a bound */
    json_object_set_new(f, "w", json_string(value));
    ASSERT_EQ(hd_fields_compact(f, out), HD_EBADREQ);
    json_object_clear(f);

    /* The whole: values of HD_FIELDS_VALUE_MAX bytes until the text passes HD_FIELDS_MAX. */
    size_t len = 0;
    value[HD_FIELDS_VALUE_MAX] = '\0';
    for (int i = 0; len <= HD_FIELDS_MAX; i++) {
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(f, key, json_string(value));
        char *text = json_dumps(f, JSON_COMPACT);
        len = strlen(text);
        int want = len <= HD_FIELDS_MAX ? 0 : HD_ETOOLARGE;
        ASSERT_EQ(hd_fields_compact(f, out), want);
        if (!want)
            ASSERT_STR_EQ(out, text);
        free(text);
    }
    json_t *top = json_pack("{s:s,s:s,s:i,s:O}", "sub", "s-1", "role", "customer", "exp",
                            2000000000, "fields", f);
    char *claims = json_dumps(top, JSON_COMPACT);
    expect_claims(claims, HD_AUTH_INVALID_CLAIMS);
    free(claims);
    json_decref(top);
    ASSERT_EQ(hd_fields_compact(json_null(), out), HD_EBADREQ);
    ASSERT_EQ(hd_fields_compact(NULL, out), HD_EBADREQ);
    json_decref(f);

    /* And through a token: the bounds of the keys. */
    char fields[HD_TOKEN_MAX] = "{\"k0\":0";
    for (int i = 1; i < HD_FIELDS_KEYS; i++)
        snprintf(fields + strlen(fields), sizeof fields - strlen(fields), ",\"k%d\":%d", i, i);
    size_t open = strlen(fields);
    strcat(fields, "}");
    expect_with(FIELDS_AS, fields, NULL);
    snprintf(fields + open, sizeof fields - open, ",\"one-more\":1}");
    expect_with(FIELDS_AS, fields, HD_AUTH_INVALID_CLAIMS);
    return 0;
}

TEST_IMPL(hd_auth_visitor_claim)
{
    hd_identity id =
        accepted_claims("{\"sub\":\"v_1\",\"role\":\"customer\",\"exp\":2000000000,\"vis\":1}");
    ASSERT_EQ(id.visitor, 1);
    ASSERT_EQ(accepted(GOLDEN_CUSTOMER).visitor, 0);
    expect_claims("{\"sub\":\"v_1\",\"role\":\"customer\",\"exp\":2000000000,\"vis\":null}", NULL);
    static const char *const bad[] = {"2", "0", "true", "\"1\"", "1.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_with("{\"sub\":\"v_1\",\"role\":\"customer\",\"exp\":2000000000,\"vis\":%s}", bad[i],
                    HD_AUTH_INVALID_CLAIMS);
    /* only a customer is a visitor */
    expect_claims("{\"sub\":\"a\",\"role\":\"agent\",\"exp\":2000000000,\"vis\":1}",
                  HD_AUTH_INVALID_CLAIMS);
    return 0;
}

TEST_IMPL(hd_auth_key_in)
{
    ASSERT_EQ(hd_key_in(KEYS, 2, "key-beta-22", 11), 1);
    ASSERT_EQ(hd_key_in(KEYS, 2, "key-beta-22", 10), 0);
    ASSERT_EQ(hd_key_in(KEYS, 2, "key-beta-2", 10), 0);
    ASSERT_EQ(hd_key_in(KEYS, 2, "", 0), 0);
    ASSERT_EQ(hd_key_in(KEYS, 0, "key-alpha-1", 11), 0);
    ASSERT_EQ(hd_key_in(NULL, 0, "key-alpha-1", 11), 0);
    ASSERT_EQ(hd_key_in(KEYS, 2, NULL, 0), 0);
    return 0;
}
