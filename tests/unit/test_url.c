/* test_url.c: hex digits, percent-decoding and query pairs (url.h). */
#include <string.h>

#include "test.h"
#include "url.h"

static size_t decode(const char *in, char *out)
{
    size_t n = sb_url_decode(in, strlen(in), out);
    out[n] = '\0';
    return n;
}

TEST_IMPL(url_hex_value_both_cases)
{
    ASSERT_EQ(sb_hex_value('0'), 0);
    ASSERT_EQ(sb_hex_value('9'), 9);
    ASSERT_EQ(sb_hex_value('a'), 10);
    ASSERT_EQ(sb_hex_value('F'), 15);
    ASSERT_EQ(sb_hex_value('g'), -1);
    ASSERT_EQ(sb_hex_value('%'), -1);
    return 0;
}

TEST_IMPL(url_decode_escapes_and_plus)
{
    char out[64];
    ASSERT_EQ(decode("a%20b%2Fc%2fd", out), 7);
    ASSERT_STR_EQ(out, "a b/c/d");
    decode("a+b", out);
    ASSERT_STR_EQ(out, "a b");
    decode("a%2Bb", out); /* an encoded plus stays a plus */
    ASSERT_STR_EQ(out, "a+b");
    return 0;
}

/* As Node's querystring: an escape that is not two hex digits stays as written. */
TEST_IMPL(url_decode_keeps_bad_escapes)
{
    char out[64];
    decode("100%", out);
    ASSERT_STR_EQ(out, "100%");
    decode("%zz%4", out);
    ASSERT_STR_EQ(out, "%zz%4");
    decode("%41%", out);
    ASSERT_STR_EQ(out, "A%");
    return 0;
}

TEST_IMPL(url_query_find_exact_names)
{
    size_t len = 99;
    const char *q = "sidx=1&sid=abc&EIO=4&bare&t=";
    const char *v = sb_query_find(q, "sid", &len);
    ASSERT(v != NULL && len == 3 && strncmp(v, "abc", 3) == 0);
    v = sb_query_find(q, "EIO", &len);
    ASSERT(v != NULL && len == 1 && *v == '4');
    v = sb_query_find(q, "bare", &len);
    ASSERT(v != NULL && len == 0);
    v = sb_query_find(q, "t", &len);
    ASSERT(v != NULL && len == 0);
    ASSERT(sb_query_find(q, "si", &len) == NULL);
    ASSERT(sb_query_find(q, "transport", &len) == NULL);
    ASSERT(sb_query_find("", "sid", &len) == NULL);
    return 0;
}
