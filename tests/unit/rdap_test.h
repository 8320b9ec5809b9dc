/* rda_test.h: helpers shared by the Redis adapter codec tests. */
#ifndef SB_RDA_TEST_H
#define SB_RDA_TEST_H

#include "redis_adapter_codec.h"
#include "siop_test.h"

/* The bytes of a vector (rdap_vectors.h): a JSON message as it is, a msgpack one from hex.
 * An exact-size heap copy, so that a decoder reading past the end trips ASan. */
static inline uint8_t *rdap_test_bytes(const char *vec, size_t *len)
{
    if (vec[0] == '{') {
        *len = strlen(vec);
        return test_exact_copy(vec, *len);
    }
    size_t n = strlen(vec) / 2;
    uint8_t *out = malloc(n > 0 ? n : 1);
    if (out == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        if (sscanf(vec + 2 * i, "%2hhx", &out[i]) != 1)
            TEST_FAIL("bad hex in vector at %zu", 2 * i);
    *len = n;
    return out;
}

/* Checks that buf holds exactly the vector's bytes. */
#define ASSERT_VECTOR_EQ(buf, vec)                                                                 \
    do {                                                                                           \
        size_t n_;                                                                                 \
        uint8_t *want_ = rdap_test_bytes((vec), &n_);                                              \
        if ((buf).len != n_ || memcmp((buf).data, want_, n_) != 0) {                               \
            fprintf(stderr, "got  ");                                                              \
            for (size_t i_ = 0; i_ < (buf).len; i_++)                                              \
                fprintf(stderr, "%02x", (buf).data[i_]);                                           \
            fprintf(stderr, "\nwant ");                                                            \
            for (size_t i_ = 0; i_ < n_; i_++)                                                     \
                fprintf(stderr, "%02x", want_[i_]);                                                \
            TEST_FAIL("\n%s differs from %s", #buf, #vec);                                         \
        }                                                                                          \
        free(want_);                                                                               \
    } while (0)

/* Names joined with ',' ("" for none), for comparing a room list with a literal. */
static inline void rdap_test_join(const rdap_rooms *r, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i < r->n; i++) {
        if (i > 0)
            strncat(out, ",", cap - strlen(out) - 1);
        strncat(out, r->names[i], cap - strlen(out) - 1);
    }
}

#define RDAP_TEST_JOIN_LEN 256
#define ASSERT_ROOMS(r, text)                                                                      \
    do {                                                                                           \
        char joined_[RDAP_TEST_JOIN_LEN];                                                          \
        rdap_test_join(&(r), joined_, sizeof joined_);                                             \
        ASSERT_STR_EQ(joined_, (text));                                                            \
    } while (0)

/* JSON text or NULL: v must be NULL when text is. */
#define ASSERT_JSON_OR_NULL(v, text)                                                               \
    do {                                                                                           \
        if ((text) == NULL)                                                                        \
            ASSERT((v) == NULL);                                                                   \
        else                                                                                       \
            ASSERT_JSON_EQ((v), (text));                                                           \
    } while (0)

#define ASSERT_NAME(s, text)                                                                       \
    do {                                                                                           \
        if ((text) == NULL)                                                                        \
            ASSERT((s) == NULL);                                                                   \
        else                                                                                       \
            ASSERT_STR_EQ((s), (text));                                                            \
    } while (0)

/* rdap_test_broadcast(vec, &out) and its siblings: decoders of a vector, which must decode. */
#define RDAP_TEST_DECODER(kind, type)                                                              \
    static inline void rdap_test_##kind(const char *vec, type *out)                                \
    {                                                                                              \
        size_t len;                                                                                \
        uint8_t *msg = rdap_test_bytes(vec, &len);                                                 \
        rdap_decoder d;                                                                            \
        rdap_decoder_init(&d);                                                                     \
        if (rdap_##kind##_decode(&d, msg, len, out) != RDAP_OK)                                    \
            TEST_FAIL("decoding %s: %s", #kind, d.errstr);                                         \
        free(msg);                                                                                 \
    }
RDAP_TEST_DECODER(broadcast, rdap_broadcast)
RDAP_TEST_DECODER(request, rdap_request)
RDAP_TEST_DECODER(response, rdap_response)

/* {"_placeholder":true,"num":n} in expected JSON. */
#define RDAP_PH(n) "{\"_placeholder\":true,\"num\":" #n "}"

#endif
