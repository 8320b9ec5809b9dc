/* test_base64.c: the strict base64 that carries binary packets in polling payloads.
 * Vectors from RFC 4648, section 10. */
#include "engineio_codec.h"
#include "test.h"

#include <openssl/evp.h>

/* Larger than one OpenSSL chunk (48 KiB in, 64 KiB out), and not a multiple of 3. */
#define LARGE_BYTES (200 * 1024 + 1)

static void expect_encode(const char *bytes, size_t len, const char *want)
{
    sb_buf out;
    sb_buf_init(&out);
    eiop_base64_encode(&out, (const uint8_t *)bytes, len);
    if (out.len != strlen(want) || (out.len > 0 && memcmp(out.data, want, out.len) != 0))
        TEST_FAIL("encode(\"%.*s\") = \"%.*s\", want \"%s\"", (int)len, bytes, (int)out.len,
                  (const char *)out.data, want);
    sb_buf_free(&out);
}

/* Decodes text (from an exact-size copy) and checks rc and, on success, the bytes. */
static void expect_decode(const char *text, int want_rc, const char *want, size_t want_len)
{
    size_t len = strlen(text);
    uint8_t *copy = test_exact_copy(text, len);
    sb_buf out;
    sb_buf_init(&out);
    int rc = eiop_base64_decode(&out, copy, len);
    if (rc != want_rc)
        TEST_FAIL("decode(\"%s\") returned %d, want %d", text, rc, want_rc);
    if (rc == EIOP_OK)
        ASSERT(out.len == want_len && (want_len == 0 || memcmp(out.data, want, want_len) == 0));
    else
        ASSERT_EQ(out.len, 0);
    sb_buf_free(&out);
    free(copy);
}

TEST_IMPL(base64_rfc4648_vectors)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                        "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        expect_encode(plain[i], strlen(plain[i]), coded[i]);
        expect_decode(coded[i], EIOP_OK, plain[i], strlen(plain[i]));
    }
    expect_encode("\x01\x02\x03\x04", 4, "AQIDBA==");
    expect_encode("\xfb\xff", 2, "+/8=");
    expect_decode("+/8=", EIOP_OK, "\xfb\xff", 2);
    expect_decode("AAAA", EIOP_OK, "\0\0\0", 3);
    return 0;
}

TEST_IMPL(base64_decode_is_strict)
{
    static const char *const bad[] = {
        "Zg=",       /* length not a multiple of 4 */
        "Zg",        /* unpadded */
        "Z===",      /* three padding characters */
        "====",      /* nothing but padding */
        "Zg==Zm8=",  /* padding before the end */
        "Z=g=",      /* padding inside the last group */
        "Zm9v\n",    /* whitespace, which EVP_DecodeBlock would skip */
        " Zm9v",
        "Zm 9",
        "Zm9-",      /* base64url characters are not in this alphabet */
        "Zm9_",
        "Zm9\x80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_decode(bad[i], EIOP_ERR, NULL, 0);
    return 0;
}

TEST_IMPL(base64_decode_appends_and_rolls_back)
{
    sb_buf out;
    sb_buf_init(&out);
    sb_buf_append_str(&out, "kept:");
    ASSERT_EQ(eiop_base64_decode(&out, (const uint8_t *)"Zm9v", 4), EIOP_OK);
    ASSERT_EQ(eiop_base64_decode(&out, (const uint8_t *)"Zm9v!!!!", 8), EIOP_ERR);
    ASSERT_BUF_EQ(out, "kept:foo");
    sb_buf_free(&out);
    return 0;
}

TEST_IMPL(base64_round_trip_across_chunks)
{
    uint8_t *bytes = malloc(LARGE_BYTES);
    ASSERT(bytes != NULL);
    for (size_t i = 0; i < LARGE_BYTES; i++)
        bytes[i] = (uint8_t)(i * 7 + i / 251);
    sb_buf text, back;
    sb_buf_init(&text);
    sb_buf_init(&back);
    eiop_base64_encode(&text, bytes, LARGE_BYTES);
    /* The chunks must join into exactly what one OpenSSL call gives. */
    uint8_t *whole = malloc(4 * ((LARGE_BYTES + 2) / 3) + 1);
    ASSERT(whole != NULL);
    ASSERT_EQ(text.len, EVP_EncodeBlock(whole, bytes, LARGE_BYTES));
    ASSERT(memcmp(text.data, whole, text.len) == 0);
    free(whole);
    ASSERT_EQ(eiop_base64_decode(&back, text.data, text.len), EIOP_OK);
    ASSERT_EQ(back.len, LARGE_BYTES);
    ASSERT(memcmp(back.data, bytes, LARGE_BYTES) == 0);
    sb_buf_free(&text);
    sb_buf_free(&back);
    free(bytes);
    return 0;
}
