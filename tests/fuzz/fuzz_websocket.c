/* fuzz_websocket.c: libFuzzer target for the WebSocket frame reader and writers.
 *
 * Each input is what a client sends, frames back to back, read by a server's reader twice
 * in lockstep: whole, and in two chunks split where the first byte says. A frame cannot
 * depend on how its bytes arrived, so both must give the same frames and end the same way
 * (same close code, or wanting the same bytes), and a read that wants more must leave the
 * bytes as they were. What is accepted must come back through the writers: the masked
 * header (where the original chose the shortest length form) and the masked payload, byte
 * for byte. Text messages must be UTF-8 at fin, close payloads that parse must re-encode,
 * and ws_utf8_valid() must agree with a plain reading of the Unicode standard's table.
 */
#include <string.h>

#include "fuzz.h"
#include "websocket_codec.h"

#define FUZZ_MAX_PAYLOAD 1024 /* below -max_len, so 1009 is reached with whole frames too */
#define FUZZ_SPLIT_SCALE 255  /* the first byte picks the split point in [0, size] */
#define FUZZ_FIN         0x80
#define FUZZ_MASK_BIT    0x80
#define FUZZ_CONTROL_BIT 0x08
#define FUZZ_MASK_LEN    4

/* A server's reader over a copy of the input, given first avail bytes, then the rest. The
 * copy is exactly as long as what has been given, so a read past it is an ASan report. */
typedef struct feed {
    ws_reader r;
    uint8_t *buf;
    const uint8_t *data;
    size_t size, avail, pos;
} feed;

/* The bytes of the message read so far. */
typedef struct message {
    uint8_t bytes[FUZZ_MAX_PAYLOAD];
    size_t len;
} message;

static void feed_init(feed *fd, const uint8_t *data, size_t size, size_t avail)
{
    ws_reader_init(&fd->r, FUZZ_MAX_PAYLOAD, 1);
    fd->buf = malloc(avail > 0 ? avail : 1);
    FUZZ_CHECK(fd->buf != NULL);
    if (avail > 0)
        memcpy(fd->buf, data, avail);
    fd->data = data;
    fd->size = size;
    fd->avail = avail;
    fd->pos = 0;
}

/* Reads the next frame, giving the reader the rest of the input when it wants more. */
static ssize_t feed_next(feed *fd, ws_frame *f, size_t *need)
{
    for (;;) {
        size_t rest = fd->avail - fd->pos;
        ssize_t n = ws_read_frame(&fd->r, fd->buf + fd->pos, rest, f, need);
        FUZZ_CHECK(n <= (ssize_t)rest);
        if (n != 0) {
            fd->pos += n > 0 ? (size_t)n : 0;
            return n;
        }
        FUZZ_CHECK(*need > rest);
        FUZZ_CHECK(rest == 0 || memcmp(fd->buf + fd->pos, fd->data + fd->pos, rest) == 0);
        if (fd->avail == fd->size)
            return 0;
        fd->buf = realloc(fd->buf, fd->size);
        FUZZ_CHECK(fd->buf != NULL);
        memcpy(fd->buf + fd->avail, fd->data + fd->avail, fd->size - fd->avail);
        fd->avail = fd->size;
    }
}

static int frames_equal(const ws_frame *a, const feed *fa, const ws_frame *b, const feed *fb)
{
    return a->opcode == b->opcode && a->fin == b->fin && a->msg_opcode == b->msg_opcode &&
           a->len == b->len && a->payload - fa->buf == b->payload - fb->buf &&
           (a->len == 0 || memcmp(a->payload, b->payload, a->len) == 0);
}

/* How many continuation bytes follow a lead byte c, or -1 when c cannot lead. */
static int ref_utf8_more(uint8_t c)
{
    if (c <= 0x7F)
        return 0;
    if (c >= 0xC2 && c <= 0xDF)
        return 1;
    if (c >= 0xE0 && c <= 0xEF)
        return 2;
    if (c >= 0xF0 && c <= 0xF4)
        return 3;
    return -1;
}

/* The Unicode Standard's table 3-7 (well-formed UTF-8), read the long way: only the byte
 * after E0, ED, F0 and F4 has a narrower range than 80-BF. */
static int ref_utf8_valid(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint8_t c = s[i], lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
        uint8_t hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
        int more = ref_utf8_more(c);
        if (more < 0 || len - i - 1 < (size_t)more)
            return 0;
        for (int k = 1; k <= more; k++, lo = 0x80, hi = 0xBF)
            if (s[i + k] < lo || s[i + k] > hi)
                return 0;
        i += (size_t)more + 1;
    }
    return 1;
}

/* The header writers give back the header at orig, masked or not, where the original
 * chose the shortest length form, and a shorter one where it did not. */
static void check_header(const uint8_t *orig, size_t header, const ws_frame *f)
{
    uint8_t out[WS_HEADER_MAX], plain[WS_SERVER_HEADER_MAX], room[2 * WS_SERVER_HEADER_MAX];
    size_t written = ws_frame_header_masked(out, f->opcode, f->len, orig + header - FUZZ_MASK_LEN);
    size_t unmasked = written - FUZZ_MASK_LEN;
    FUZZ_CHECK(orig[1] & FUZZ_MASK_BIT);
    FUZZ_CHECK(written <= header);
    out[0] = (uint8_t)((out[0] & ~FUZZ_FIN) | (orig[0] & FUZZ_FIN));
    FUZZ_CHECK(written < header || memcmp(out, orig, header) == 0);
    FUZZ_CHECK(ws_frame_header(plain, f->opcode, f->len) == unmasked);
    FUZZ_CHECK(ws_frame_header_before(room + sizeof room, f->opcode, f->len) == unmasked);
    FUZZ_CHECK(memcmp(room + sizeof room - unmasked, plain, unmasked) == 0);
    FUZZ_CHECK(plain[0] == (out[0] | FUZZ_FIN) && plain[1] == (out[1] & ~FUZZ_MASK_BIT));
    FUZZ_CHECK(memcmp(plain + 2, out + 2, unmasked - 2) == 0);
}

/* Masking the payload again, in two pieces, gives back the bytes the client sent. */
static void check_remask(const uint8_t *orig, size_t header, const ws_frame *f)
{
    const uint8_t *mask = orig + header - FUZZ_MASK_LEN;
    size_t cut = f->len / 3;
    uint8_t *again = malloc(f->len > 0 ? f->len : 1);
    FUZZ_CHECK(again != NULL);
    if (f->len > 0)
        memcpy(again, f->payload, f->len);
    ws_mask(again, cut, mask, 0);
    ws_mask(again + cut, f->len - cut, mask, cut);
    FUZZ_CHECK(f->len == 0 || memcmp(again, orig + header, f->len) == 0);
    free(again);
}

/* A close payload that parses must come back through ws_close_payload(). */
static void check_close(const ws_frame *f)
{
    char reason[WS_CONTROL_MAX + 1];
    uint8_t out[WS_CONTROL_MAX];
    const uint8_t *got;
    size_t got_len;
    uint16_t code;
    if (ws_close_parse(f->payload, f->len, &code, &got, &got_len) != 0) {
        FUZZ_CHECK(f->len > 0); /* no payload is a close without a code */
        return;
    }
    FUZZ_CHECK(f->len == 0 ? code == WS_CLOSE_NO_STATUS : code != WS_CLOSE_NO_STATUS);
    FUZZ_CHECK(got_len == 0 || ref_utf8_valid(got, got_len));
    if (got_len > 0 && memchr(got, '\0', got_len) != NULL)
        return; /* ws_close_payload() takes a C string */
    if (got_len > 0)
        memcpy(reason, got, got_len);
    reason[got_len] = '\0';
    FUZZ_CHECK(ws_close_payload(out, code, reason) == f->len);
    FUZZ_CHECK(f->len == 0 || memcmp(out, f->payload, f->len) == 0);
}

/* What every frame the reader gives must be; data frames are gathered into msg. */
static void check_frame(const uint8_t *orig, uint8_t *at, size_t n, const ws_frame *f, message *msg)
{
    FUZZ_CHECK(f->payload >= at && f->payload + f->len == at + n);
    check_header(orig, n - f->len, f);
    check_remask(orig, n - f->len, f);
    if (f->opcode & FUZZ_CONTROL_BIT) {
        FUZZ_CHECK(f->fin && f->len <= WS_CONTROL_MAX && f->msg_opcode == 0);
        if (f->opcode == WS_OP_CLOSE)
            check_close(f);
        return;
    }
    FUZZ_CHECK(f->msg_opcode == WS_OP_TEXT || f->msg_opcode == WS_OP_BINARY);
    FUZZ_CHECK(f->opcode == WS_OP_CONTINUATION || f->opcode == f->msg_opcode);
    FUZZ_CHECK(msg->len + f->len <= FUZZ_MAX_PAYLOAD);
    if (f->len > 0)
        memcpy(msg->bytes + msg->len, f->payload, f->len);
    msg->len += f->len;
    if (f->fin) {
        FUZZ_CHECK(f->msg_opcode != WS_OP_TEXT || ref_utf8_valid(msg->bytes, msg->len));
        msg->len = 0;
    }
}

static void check_reads(const uint8_t *data, size_t size)
{
    feed whole, part;
    message msg = {.len = 0};
    ws_frame a, b;
    size_t need_a = 0, need_b = 0;
    ssize_t na, nb;
    feed_init(&whole, data, size, size);
    feed_init(&part, data, size, size > 0 ? size * data[0] / FUZZ_SPLIT_SCALE : 0);
    do {
        na = feed_next(&whole, &a, &need_a);
        nb = feed_next(&part, &b, &need_b);
        FUZZ_CHECK(na == nb);
        if (na > 0) {
            FUZZ_CHECK(frames_equal(&a, &whole, &b, &part));
            check_frame(data + whole.pos - (size_t)na, whole.buf + whole.pos - (size_t)na,
                        (size_t)na, &a, &msg);
        }
    } while (na > 0);
    if (na == 0)
        FUZZ_CHECK(need_a == need_b && whole.pos == part.pos);
    else
        FUZZ_CHECK(whole.r.close_code != 0 && whole.r.close_code == part.r.close_code);
    free(whole.buf);
    free(part.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_reads(data, size);
    FUZZ_CHECK(ws_utf8_valid(data, size) == ref_utf8_valid(data, size));
    return 0;
}
