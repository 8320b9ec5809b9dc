/* eiop_test.h: helpers shared by the Engine.IO codec test files. */
#ifndef SB_EIOP_TEST_H
#define SB_EIOP_TEST_H

#include "engineio_codec.h"
#include "test.h"

/* A payload reader of one form over an exact-size heap copy of a literal (the reader
 * keeps pointers into it, so a read past len is an ASan error). */
typedef struct payload_fixture {
    uint8_t *body;
    eiop_payload_reader r;
} payload_fixture;

static inline void payload_open_form(payload_fixture *f, const char *lit, size_t len,
                                     eiop_payload_form form)
{
    f->body = test_exact_copy(lit, len);
    eiop_payload_reader_init_form(&f->r, f->body, len, form);
}

#define PAYLOAD_OPEN(f, lit)            payload_open_form((f), (lit), sizeof(lit) - 1, EIOP_FORM_V4)
#define PAYLOAD_OPEN_FORM(f, lit, form) payload_open_form((f), (lit), sizeof(lit) - 1, (form))

static inline void payload_close(payload_fixture *f)
{
    eiop_payload_reader_free(&f->r);
    free(f->body);
}

/* Reads one packet and checks its type, binary flag and bytes. */
#define EXPECT_PACKET(f, t, bin, lit)                                                              \
    do {                                                                                           \
        eiop_packet p_;                                                                            \
        ASSERT_EQ(eiop_payload_reader_next(&(f)->r, &p_), EIOP_OK);                                \
        ASSERT_EQ(p_.type, (t));                                                                   \
        ASSERT_EQ(p_.binary, (bin));                                                               \
        ASSERT(p_.data != NULL);                                                                   \
        ASSERT_MEM_EQ(p_.data, p_.len, lit);                                                       \
    } while (0)

#endif
