/* message.c: ids, timestamps and the message object (see message.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "message.h"
#include "random.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int64_t hd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void digits(char *out, int v, int n)
{
    while (n-- > 0) {
        out[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Every stored message takes a timestamp: the date part is kept per second, and the
 * digits are written directly (snprintf was a measurable share of a message's CPU). */
void hd_time_iso(int64_t ms, char *out)
{
    static int64_t cached_secs = -1;
    static char cached[HD_TIME_LEN + 1];
    int64_t secs = ms / 1000;
    if (secs != cached_secs) {
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d.000Z", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_secs = secs;
    }
    memcpy(out, cached, HD_TIME_LEN + 1);
    digits(out + HD_TIME_LEN - 4, (int)(ms % 1000), 3);
}

/* 80 random bits per id: ids made on several nodes at once must not collide. */
void hd_ulid(int64_t ms, char *out)
{
    unsigned char rnd[10];
    sb_random_bytes(rnd, sizeof(rnd));
    uint64_t t = (uint64_t)ms;
    for (int i = 9; i >= 0; i--) {
        out[i] = crockford[t & 31];
        t >>= 5;
    }
    /* 80 random bits as 16 characters of 5 bits. */
    for (int i = 0; i < 16; i++) {
        int bit = i * 5, byte = bit / 8, shift = bit % 8;
        unsigned v = (unsigned)rnd[byte] << 8 | (byte + 1 < 10 ? rnd[byte + 1] : 0);
        out[10 + i] = crockford[(v >> (11 - shift)) & 31];
    }
    out[HD_ULID_LEN] = '\0';
}

void hd_chat_id(int64_t ms, char *out)
{
    out[0] = 'c';
    out[1] = '_';
    hd_ulid(ms, out + 2);
}

static json_t *string_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static int append_json(const char *buffer, size_t size, void *data)
{
    sb_buf_append(data, buffer, size);
    return 0;
}

/* v written by jansson; NULL (not given) as null unless required. */
static int text_value(sb_buf *out, const char *key, json_t *v, int required)
{
    sb_buf_append_str(out, key);
    if (!v) {
        sb_buf_append_str(out, "null");
        return required ? -1 : 0;
    }
    return json_dump_callback(v, append_json, out, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* A string (NULL: absent) as JSON; json_string() refuses text that is not UTF-8. */
static int text_string(sb_buf *out, const char *key, const char *s, int required)
{
    json_t *v = s ? json_string(s) : NULL;
    int rc = s && !v ? -1 : text_value(out, key, v, required);
    json_decref(v);
    return rc;
}

int hd_message_text(const hd_post *p, const char *chat_id, const char *session_id, int64_t seq,
                    sb_buf *out)
{
    char created[HD_TIME_LEN + 1];
    size_t mark = out->len;
    hd_time_iso(p->now_ms, created);
    /* the id (a ULID) and the time need no escaping */
    sb_buf_append_str(out, "{\"id\":\"");
    sb_buf_append_str(out, p->msg_id);
    int rc = text_string(out, "\",\"ticket_chat_id\":", chat_id, 1) ||
             text_string(out, ",\"session_id\":", session_id, 0);
    sb_buf_append_str(out, ",\"seq\":");
    sb_buf_append_u64(out, (uint64_t)seq);
    rc = rc || text_string(out, ",\"sender\":{\"type\":", p->sender_type, 1) ||
         text_string(out, ",\"id\":", p->sender_id, 1) ||
         text_string(out, ",\"name\":", p->sender_name, 0);
    sb_buf_append_byte(out, '}');
    rc = rc || text_string(out, ",\"message\":", p->message, 1);
    if (!rc && p->attachment)
        rc = text_value(out, ",\"attachment\":", p->attachment, 1);
    else if (!rc)
        sb_buf_append_str(out, ",\"attachment\":false");
    rc = rc || text_string(out, ",\"client_msg_id\":", p->client_msg_id, 0);
    sb_buf_append_str(out, ",\"created_at\":\"");
    sb_buf_append_str(out, created);
    sb_buf_append_str(out, "\"}");
    if (rc)
        out->len = mark;
    return rc ? -1 : 0;
}

json_t *hd_message_build(const hd_post *p, const char *chat_id, const char *session_id, int64_t seq)
{
    char created[HD_TIME_LEN + 1];
    hd_time_iso(p->now_ms, created);
    json_t *sender = json_pack("{s:s,s:s,s:o}", "type", p->sender_type, "id", p->sender_id, "name",
                               string_or_null(p->sender_name));
    return json_pack("{s:s,s:s,s:o,s:I,s:o,s:s,s:O,s:o,s:s}", "id", p->msg_id, "ticket_chat_id",
                     chat_id, "session_id", string_or_null(session_id), "seq", (json_int_t)seq,
                     "sender", sender, "message", p->message, "attachment",
                     p->attachment ? p->attachment : json_false(), "client_msg_id",
                     string_or_null(p->client_msg_id), "created_at", created);
}
