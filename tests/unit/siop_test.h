/* sio_test.h: helpers shared by the Socket.IO test files. */
#ifndef SB_SIO_TEST_H
#define SB_SIO_TEST_H

#include "socketio_codec.h"
#include "test.h"

/* Feeds one text message from an exact-size heap copy (the decoder keeps no pointer into
 * it), so a read past len is an ASan error rather than a read of the literal's NUL. */
static inline int siop_test_feed_text(siop_decoder *d, const char *text, siop_packet *out)
{
    size_t len = strlen(text);
    char *copy = test_exact_copy(text, len);
    int rc = siop_decoder_feed_text(d, copy, len, out);
    free(copy);
    return rc;
}

/* Decodes a complete non-binary text with a fresh decoder; the packet must be valid. */
static inline void siop_test_decode(const char *text, siop_packet *out)
{
    siop_decoder d;
    siop_decoder_init(&d, SIOP_DEFAULT_MAX_ATTACHMENTS);
    siop_packet_init(out);
    if (siop_test_feed_text(&d, text, out) != SIOP_OK)
        TEST_FAIL("decoding '%s': %s", text, d.errstr);
    siop_decoder_free(&d);
}

/* json_loads that must succeed, for expected values written as JSON text. */
static inline json_t *siop_test_json(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    if (v == NULL)
        TEST_FAIL("bad JSON in test '%s': %s", text, err.text);
    return v;
}

/* Checks that v is the JSON value written in text. */
#define ASSERT_JSON_EQ(v, text)                                                                    \
    do {                                                                                           \
        json_t *want_ = siop_test_json(text);                                                      \
        if (!json_equal((v), want_)) {                                                             \
            char *got_ = (v) ? json_dumps((v), JSON_ENCODE_ANY | JSON_COMPACT) : NULL;             \
            TEST_FAIL("%s is %s, want %s", #v, got_ ? got_ : "NULL", text);                        \
        }                                                                                          \
        json_decref(want_);                                                                        \
    } while (0)

#endif
