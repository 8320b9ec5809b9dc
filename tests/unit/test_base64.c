/* test_base64.c: base's strict base64 (binary packets in polling payloads) and base64url
 * (JWTs, ids). Vectors from RFC 4648, section 10. */
#include "base64.h"
#include "test.h"

#include <openssl/evp.h>

/* Large, and not a multiple of 3. */
#define LARGE_BYTES (200 * 1024 + 1)

static void expect_encode(const char *bytes, size_t len, const char *want)
{
    sb_buf out;
    sb_buf_init(&out);
    sb_base64_encode(&out, (const uint8_t *)bytes, len);
    if (out.len != strlen(want) || (out.len > 0 && memcmp(out.data, want, out.len) != 0))
        TEST_FAIL("encode(\"%.*s\") = \"%.*s\", want \"%s\"", (int)len, bytes, (int)out.len,
                  (const char *)out.data, want);
    sb_buf_free(&out);
}

typedef int (*decode_fn)(sb_buf *out, const void *text, size_t len);

/* Decodes text (from an exact-size copy) and checks rc and, on success, the bytes. */
static void expect_decoded(decode_fn decode, const char *text, int want_rc, const char *want,
                           size_t want_len)
{
    size_t len = strlen(text);
    uint8_t *copy = test_exact_copy(text, len);
    sb_buf out;
    sb_buf_init(&out);
    int rc = decode(&out, copy, len);
    if (rc != want_rc)
        TEST_FAIL("decode(\"%s\") returned %d, want %d", text, rc, want_rc);
    if (rc == SB_BASE64_OK)
        ASSERT(out.len == want_len && (want_len == 0 || memcmp(out.data, want, want_len) == 0));
    else
        ASSERT_EQ(out.len, 0);
    sb_buf_free(&out);
    free(copy);
}

static void expect_decode(const char *text, int want_rc, const char *want, size_t want_len)
{
    expect_decoded(sb_base64_decode, text, want_rc, want, want_len);
}

TEST_IMPL(base64_rfc4648_vectors)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        expect_encode(plain[i], strlen(plain[i]), coded[i]);
        expect_decode(coded[i], SB_BASE64_OK, plain[i], strlen(plain[i]));
    }
    expect_encode("\x01\x02\x03\x04", 4, "AQIDBA==");
    expect_encode("\xfb\xff", 2, "+/8=");
    expect_decode("+/8=", SB_BASE64_OK, "\xfb\xff", 2);
    expect_decode("AAAA", SB_BASE64_OK, "\0\0\0", 3);
    return 0;
}

TEST_IMPL(base64_decode_is_strict)
{
    static const char *const bad[] = {
        "Zg=",                         /* length not a multiple of 4 */
        "Zg",                          /* unpadded */
        "Z===",                        /* three padding characters */
        "====",                        /* nothing but padding */
        "Zg==Zm8=",                    /* padding before the end */
        "Z=g=",                        /* padding inside the last group */
        "Zm9v\n",                      /* whitespace, which OpenSSL's EVP_DecodeBlock would skip */
        " Zm9v",    "Zm 9",    "Zm9-", /* base64url characters are not in this alphabet */
        "Zm9_",     "Zm9\x80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_decode(bad[i], SB_BASE64_ERR, NULL, 0);
    return 0;
}

TEST_IMPL(base64_decode_appends_and_rolls_back)
{
    sb_buf out;
    sb_buf_init(&out);
    sb_buf_append_str(&out, "kept:");
    ASSERT_EQ(sb_base64_decode(&out, (const uint8_t *)"Zm9v", 4), SB_BASE64_OK);
    ASSERT_EQ(sb_base64_decode(&out, (const uint8_t *)"Zm9v!!!!", 8), SB_BASE64_ERR);
    ASSERT_BUF_EQ(out, "kept:foo");
    sb_buf_free(&out);
    return 0;
}

TEST_IMPL(base64_large_round_trip_matches_openssl)
{
    uint8_t *bytes = malloc(LARGE_BYTES);
    ASSERT(bytes != NULL);
    for (size_t i = 0; i < LARGE_BYTES; i++)
        bytes[i] = (uint8_t)(i * 7 + i / 251);
    sb_buf text, back;
    sb_buf_init(&text);
    sb_buf_init(&back);
    sb_base64_encode(&text, bytes, LARGE_BYTES);
    /* OpenSSL is the reference. */
    uint8_t *whole = malloc(4 * ((LARGE_BYTES + 2) / 3) + 1);
    ASSERT(whole != NULL);
    ASSERT_EQ(text.len, EVP_EncodeBlock(whole, bytes, LARGE_BYTES));
    ASSERT(memcmp(text.data, whole, text.len) == 0);
    free(whole);
    ASSERT_EQ(sb_base64_decode(&back, text.data, text.len), SB_BASE64_OK);
    ASSERT_EQ(back.len, LARGE_BYTES);
    ASSERT(memcmp(back.data, bytes, LARGE_BYTES) == 0);
    sb_buf_free(&text);
    sb_buf_free(&back);
    free(bytes);
    return 0;
}

static void expect_url_encode(const char *bytes, size_t len, const char *want)
{
    sb_buf out;
    sb_buf_init(&out);
    sb_buf_append_str(&out, ">");
    sb_base64_url_encode(&out, bytes, len);
    ASSERT_EQ(out.len, 1 + strlen(want));
    ASSERT(memcmp(out.data + 1, want, out.len - 1) == 0);
    char raw[SB_BASE64_URL_LEN(8) + 1];
    ASSERT(len <= 8);
    memset(raw, '#', sizeof(raw));
    ASSERT_EQ(sb_base64_url_write(raw, bytes, len), strlen(want));
    ASSERT_EQ(SB_BASE64_URL_LEN(len), strlen(want));
    ASSERT(memcmp(raw, want, strlen(want)) == 0 && raw[strlen(want)] == '#');
    sb_buf_free(&out);
}

static void expect_url_decode(const char *text, int want_rc, const char *want, size_t want_len)
{
    expect_decoded(sb_base64_url_decode, text, want_rc, want, want_len);
}

TEST_IMPL(base64_url_rfc4648_vectors_unpadded)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        expect_url_encode(plain[i], strlen(plain[i]), coded[i]);
        expect_url_decode(coded[i], SB_BASE64_OK, plain[i], strlen(plain[i]));
    }
    /* 62 and 63 are '-' and '_' here */
    expect_url_encode("\xfb\xff", 2, "-_8");
    expect_url_decode("-_8", SB_BASE64_OK, "\xfb\xff", 2);
    expect_url_encode("\xfb\xef\xbe", 3, "----");
    expect_url_encode("\xff\xff\xff", 3, "____");
    return 0;
}

TEST_IMPL(base64_url_decode_is_strict_and_canonical)
{
    static const char *const bad[] = {
        "Zg==",                  /* padding is not part of base64url */
        "Zg=",   "Z",            /* one character is no byte */
        "Zm9vY", "+/8",          /* the standard alphabet's 62 and 63 */
        "Zm 9",  "Zm9v\n", "Zh", /* unused bits set: "Zg" is the one encoding of "f" */
        "Zm9",                   /* unused bits set: "Zm8" is the one encoding of "fo" */
        "-_9",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_url_decode(bad[i], SB_BASE64_ERR, NULL, 0);
    return 0;
}

TEST_IMPL(base64_url_decode_appends_and_rolls_back)
{
    sb_buf out;
    sb_buf_init(&out);
    sb_buf_append_str(&out, "kept:");
    ASSERT_EQ(sb_base64_url_decode(&out, "Zm9v", 4), SB_BASE64_OK);
    ASSERT_EQ(sb_base64_url_decode(&out, "Zm9vZm9v!", 9), SB_BASE64_ERR);
    ASSERT_EQ(sb_base64_url_decode(&out, "Zm9vZh", 6), SB_BASE64_ERR);
    ASSERT_BUF_EQ(out, "kept:foo");
    sb_buf_free(&out);
    return 0;
}

/* Every byte value, at every position of a group, through both alphabets. */
TEST_IMPL(base64_both_alphabets_round_trip_every_byte)
{
    uint8_t bytes[256 + 2];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (uint8_t)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof(bytes); len++) {
        sb_buf text, back;
        sb_buf_init(&text);
        sb_buf_init(&back);
        sb_base64_encode(&text, bytes, len);
        ASSERT_EQ(sb_base64_decode(&back, text.data, text.len), SB_BASE64_OK);
        ASSERT(back.len == len && (len == 0 || memcmp(back.data, bytes, len) == 0));
        sb_buf_reset(&text);
        sb_buf_reset(&back);
        sb_base64_url_encode(&text, bytes, len);
        ASSERT_EQ(text.len, SB_BASE64_URL_LEN(len));
        ASSERT_EQ(sb_base64_url_decode(&back, text.data, text.len), SB_BASE64_OK);
        ASSERT(back.len == len && (len == 0 || memcmp(back.data, bytes, len) == 0));
        sb_buf_free(&text);
        sb_buf_free(&back);
    }
    return 0;
}
