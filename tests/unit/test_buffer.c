/* test_buffer.c: sb_buf, the buffer every encoder writes into. */
#include "buffer.h"
#include "test.h"

/* Enough appends to force several reallocations past the initial capacity. */
#define GROW_BYTES 10000

TEST_IMPL(buf_starts_empty)
{
    sb_buf b;
    sb_buf_init(&b);
    ASSERT(b.data == NULL);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(b.cap, 0);
    sb_buf_free(&b);
    return 0;
}

TEST_IMPL(buf_append_grows_and_keeps_bytes)
{
    sb_buf b;
    sb_buf_init(&b);
    for (size_t i = 0; i < GROW_BYTES; i++)
        sb_buf_append_byte(&b, (uint8_t)i);
    ASSERT_EQ(b.len, GROW_BYTES);
    ASSERT(b.cap >= b.len);
    for (size_t i = 0; i < GROW_BYTES; i++)
        ASSERT_EQ(b.data[i], (uint8_t)i);
    sb_buf_free(&b);
    ASSERT(b.data == NULL && b.len == 0 && b.cap == 0);
    return 0;
}

TEST_IMPL(buf_append_str_and_bytes)
{
    sb_buf b;
    sb_buf_init(&b);
    sb_buf_append_str(&b, "4hello");
    sb_buf_append_byte(&b, 0x1e);
    sb_buf_append(&b, "2\0x", 3);
    sb_buf_append(&b, NULL, 0);
    sb_buf_append_str(&b, "");
    ASSERT_BUF_EQ(b, "4hello\x1e"
                     "2\0x");
    sb_buf_free(&b);
    return 0;
}

TEST_IMPL(buf_append_u64_decimal)
{
    sb_buf b;
    sb_buf_init(&b);
    sb_buf_append_u64(&b, 0);
    sb_buf_append_byte(&b, ' ');
    sb_buf_append_u64(&b, 42);
    sb_buf_append_byte(&b, ' ');
    sb_buf_append_u64(&b, 9007199254740991ULL);
    sb_buf_append_byte(&b, ' ');
    sb_buf_append_u64(&b, UINT64_MAX);
    ASSERT_BUF_EQ(b, "0 42 9007199254740991 18446744073709551615");
    sb_buf_free(&b);
    return 0;
}

TEST_IMPL(buf_reset_keeps_allocation)
{
    sb_buf b;
    sb_buf_init(&b);
    sb_buf_append_str(&b, "some bytes");
    uint8_t *data = b.data;
    size_t cap = b.cap;
    sb_buf_reset(&b);
    ASSERT_EQ(b.len, 0);
    ASSERT(b.data == data);
    ASSERT_EQ(b.cap, cap);
    sb_buf_append_str(&b, "again");
    ASSERT_BUF_EQ(b, "again");
    sb_buf_free(&b);
    return 0;
}

TEST_IMPL(buf_reserve_ensures_room)
{
    sb_buf b;
    sb_buf_init(&b);
    sb_buf_append_str(&b, "abc");
    sb_buf_reserve(&b, GROW_BYTES);
    ASSERT(b.cap >= 3 + GROW_BYTES);
    ASSERT_BUF_EQ(b, "abc");
    uint8_t *data = b.data;
    sb_buf_append(&b, "x", 1);
    ASSERT(b.data == data);
    sb_buf_free(&b);
    return 0;
}

TEST_IMPL(buf_release_hands_over_allocation)
{
    sb_buf b;
    sb_buf_init(&b);
    sb_buf_append_str(&b, "mine now");
    size_t len = 0;
    uint8_t *data = sb_buf_release(&b, &len);
    ASSERT_MEM_EQ(data, len, "mine now");
    ASSERT(b.data == NULL && b.len == 0 && b.cap == 0);
    free(data);
    sb_buf_append_str(&b, "reusable");
    ASSERT_BUF_EQ(b, "reusable");
    sb_buf_free(&b);
    return 0;
}
