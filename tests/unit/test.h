/* test.h: what every unit test file includes.
 *
 * A test is `TEST_IMPL(name) { ...; return 0; }`, listed once in test-list.h. A failed
 * ASSERT prints where and what, then aborts: ctest marks the test failed, and the abort
 * leaves a stack for ASan or a debugger, which a plain return would not.
 */
#ifndef SB_TEST_H
#define SB_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_IMPL(name)                                                                            \
    int run_test_##name(void);                                                                     \
    int run_test_##name(void)

#define TEST_FAIL(...)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

#define ASSERT(expr)                                                                               \
    do {                                                                                           \
        if (!(expr))                                                                               \
            TEST_FAIL("assertion failed: %s", #expr);                                              \
    } while (0)

#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                                           \
        if (a_ != b_)                                                                              \
            TEST_FAIL("%s == %s: %" PRIdMAX " != %" PRIdMAX, #a, #b, a_, b_);                      \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                                       \
            TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",                    \
                      b_ ? b_ : "(null)");                                                         \
    } while (0)

/* Compares n bytes at p with the string literal lit, which may hold NULs and 0x1e. */
#define ASSERT_MEM_EQ(p, n, lit)                                                                   \
    do {                                                                                           \
        size_t n_ = (n);                                                                           \
        if (n_ != sizeof(lit) - 1 || (n_ > 0 && memcmp((p), (lit), n_) != 0))                      \
            TEST_FAIL("%s == %s: \"%.*s\" (%zu bytes) differs", #p, #lit, (int)n_,                 \
                      (const char *)(p), n_);                                                      \
    } while (0)

#define ASSERT_BUF_EQ(buf, lit) ASSERT_MEM_EQ((buf).data, (buf).len, lit)

/* A heap copy of exactly n bytes, with nothing after it: decoders fed this cannot read past
 * the end without ASan noticing, which a string literal's NUL would hide. */
static inline void *test_exact_copy(const void *p, size_t n)
{
    void *copy = malloc(n > 0 ? n : 1);
    if (copy == NULL)
        abort();
    if (n > 0)
        memcpy(copy, p, n);
    return copy;
}

#endif
