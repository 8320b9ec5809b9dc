/* recovery.c: the recovery log and the sessions of dropped sockets (see recovery.h).
 *
 * Both are FIFO lists: the log in sequence order, sessions in disconnection order. The
 * window is the same for every entry, so expiry always removes from the head; it runs
 * lazily, whenever the structure is touched, which needs no timer. The size limits drop
 * the oldest entries first. A restore consumes its session: a private id recovers once.
 */
#include "recovery.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "map.h"

typedef struct rec_packet {
    struct rec_packet *next;
    uint64_t seq;
    uint64_t at; /* loop time when logged */
    sio_frame frame;
    char **rooms; /* target rooms, then except rooms: one allocation with the names */
    size_t n_rooms;
    size_t n_except;
    size_t bytes;
} rec_packet;

typedef struct rec_session {
    sb_list link;      /* in r->by_age */
    uint64_t at;       /* loop time of the disconnection */
    uint64_t position; /* see sio_recovery_persist */
    char sid[SIO_ID_LEN + 1];
    char pid[SIO_ID_LEN + 1]; /* the map key */
    char **rooms;             /* one allocation with the names */
    size_t n_rooms;
    json_t *data;
} rec_session;

struct sio_recovery {
    uv_loop_t *loop;
    uint64_t window_ms;
    size_t max_packets, max_bytes, max_sessions;
    rec_packet *head, *tail;
    size_t n_packets, bytes;
    uint64_t last_seq;   /* newest sequence number logged */
    uint64_t purged_seq; /* newest sequence number dropped from the log */
    sb_map sessions;     /* pid → rec_session */
    sb_list by_age;      /* the same sessions, oldest disconnection first */
};

/* Copies a list of names into one allocation: the pointer array, then the strings. */
static char **names_dup(const char *const *a, size_t na, const char *const *b, size_t nb)
{
    size_t size = (na + nb) * sizeof(char *);
    for (size_t i = 0; i < na; i++)
        size += strlen(a[i]) + 1;
    for (size_t i = 0; i < nb; i++)
        size += strlen(b[i]) + 1;
    char **v = malloc(size ? size : 1);
    if (!v)
        abort();
    char *p = (char *)(v + na + nb);
    for (size_t i = 0; i < na + nb; i++) {
        const char *src = i < na ? a[i] : b[i - na];
        size_t len = strlen(src) + 1;
        memcpy(p, src, len);
        v[i] = p;
        p += len;
    }
    return v;
}

sio_recovery *sio_recovery_new(uv_loop_t *loop, const sio_options *opts)
{
    sio_recovery *r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    r->loop = loop;
    r->window_ms = opts->recovery_window_ms;
    r->max_packets = opts->recovery_max_packets;
    r->max_bytes = opts->recovery_max_bytes;
    r->max_sessions = opts->recovery_max_sessions;
    sb_map_init(&r->sessions);
    sb_list_init(&r->by_age);
    return r;
}

static void packet_drop_head(sio_recovery *r)
{
    rec_packet *p = r->head;
    r->head = p->next;
    if (!r->head)
        r->tail = NULL;
    r->n_packets--;
    r->bytes -= p->bytes;
    r->purged_seq = p->seq;
    sio_frame_release(&p->frame);
    free(p->rooms);
    free(p);
}

static void session_remove(sio_recovery *r, rec_session *s)
{
    sb_map_del(&r->sessions, s->pid);
    sb_list_remove(&s->link);
}

static void session_free(rec_session *s)
{
    json_decref(s->data);
    free(s->rooms);
    free(s);
}

static rec_session *session_oldest(sio_recovery *r)
{
    return SB_LIST_FIRST(&r->by_age, rec_session, link);
}

static void recovery_expire(sio_recovery *r)
{
    uint64_t now = uv_now(r->loop);
    rec_session *s;
    while (r->head && r->head->at + r->window_ms < now)
        packet_drop_head(r);
    while ((s = session_oldest(r)) && s->at + r->window_ms < now) {
        session_remove(r, s);
        session_free(s);
    }
}

void sio_recovery_free(sio_recovery *r)
{
    rec_session *s;
    while (r->head)
        packet_drop_head(r);
    while ((s = session_oldest(r))) {
        session_remove(r, s);
        session_free(s);
    }
    sb_map_free(&r->sessions);
    free(r);
}

uint64_t sio_recovery_position(const sio_recovery *r) { return r->last_seq; }

void sio_recovery_next_offset(const sio_recovery *r, char out[SIO_OFFSET_LEN])
{
    snprintf(out, SIO_OFFSET_LEN, "%" PRIu64, r->last_seq + 1);
}

void sio_recovery_log(sio_recovery *r, const sio_target *to, const sio_frame *f)
{
    rec_packet *p = calloc(1, sizeof(*p));
    if (!p)
        abort();
    p->seq = ++r->last_seq;
    p->at = uv_now(r->loop);
    sio_frame_retain(&p->frame, f);
    p->rooms = names_dup(to->rooms, to->n_rooms, to->except, to->n_except);
    p->n_rooms = to->n_rooms;
    p->n_except = to->n_except;
    p->bytes = f->bytes;
    if (r->tail)
        r->tail->next = p;
    else
        r->head = p;
    r->tail = p;
    r->n_packets++;
    r->bytes += p->bytes;
    recovery_expire(r);
    while (r->head && (r->n_packets > r->max_packets || r->bytes > r->max_bytes))
        packet_drop_head(r);
}

void sio_recovery_persist(sio_recovery *r, const char *sid, const char *pid,
                          const char *const *rooms, size_t n_rooms, json_t *data, uint64_t position)
{
    rec_session *old = sb_map_get(&r->sessions, pid);
    if (old) {
        session_remove(r, old);
        session_free(old);
    }
    recovery_expire(r);
    rec_session *s;
    while ((s = session_oldest(r)) && r->sessions.count >= r->max_sessions) {
        session_remove(r, s);
        session_free(s);
    }
    if (r->max_sessions == 0)
        return;
    s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->at = uv_now(r->loop);
    s->position = position;
    snprintf(s->sid, sizeof(s->sid), "%s", sid);
    snprintf(s->pid, sizeof(s->pid), "%s", pid);
    s->rooms = names_dup(rooms, n_rooms, NULL, 0);
    s->n_rooms = n_rooms;
    s->data = data ? json_deep_copy(data) : json_object();
    sb_list_insert_tail(&r->by_age, &s->link);
    sb_map_put(&r->sessions, s->pid, s);
}

static int names_intersect(char *const *a, size_t na, char *const *b, size_t nb)
{
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (strcmp(a[i], b[j]) == 0)
                return 1;
    return 0;
}

/* Node's shouldIncludePacket: sent to everyone or to one of the session's rooms, and none
 * of the session's rooms excluded. */
static int packet_for(const rec_packet *p, const rec_session *s)
{
    int included = p->n_rooms == 0 || names_intersect(p->rooms, p->n_rooms, s->rooms, s->n_rooms);
    return included && !names_intersect(p->rooms + p->n_rooms, p->n_except, s->rooms, s->n_rooms);
}

/* Where to replay from: after the client's offset, but never before the session's position
 * (an older offset would hand it packets that were never meant for it). */
static int restore_start(const sio_recovery *r, const rec_session *s, const char *offset,
                         uint64_t *from)
{
    *from = s->position;
    if (offset) {
        char *end;
        if (offset[0] < '0' || offset[0] > '9')
            return 0;
        unsigned long long v = strtoull(offset, &end, 10);
        if (*end != '\0' || v > r->last_seq)
            return 0;
        if (v > *from)
            *from = v;
    }
    return *from >= r->purged_seq; /* every packet after from is still in the log */
}

static sio_recovery_record *session_take(rec_session *rs)
{
    sio_recovery_record *sess = calloc(1, sizeof(*sess));
    if (!sess)
        abort();
    memcpy(sess->sid, rs->sid, sizeof(sess->sid));
    memcpy(sess->pid, rs->pid, sizeof(sess->pid));
    sess->n_rooms = rs->n_rooms;
    sess->rooms = calloc(rs->n_rooms ? rs->n_rooms : 1, sizeof(char *));
    if (!sess->rooms)
        abort();
    for (size_t i = 0; i < rs->n_rooms; i++)
        if (!(sess->rooms[i] = strdup(rs->rooms[i])))
            abort();
    sess->data = rs->data;
    rs->data = NULL;
    return sess;
}

sio_recovery_record *sio_recovery_restore(sio_recovery *r, const char *pid, const char *offset)
{
    uint64_t from;
    recovery_expire(r);
    rec_session *rs = sb_map_get(&r->sessions, pid);
    if (!rs)
        return NULL;
    session_remove(r, rs);
    if (!restore_start(r, rs, offset, &from)) {
        session_free(rs);
        return NULL;
    }
    sio_recovery_record *sess = session_take(rs);
    size_t n = 0;
    for (rec_packet *p = r->head; p; p = p->next)
        if (p->seq > from && packet_for(p, rs))
            n++;
    sess->missed = calloc(n ? n : 1, sizeof(sio_frame));
    if (!sess->missed)
        abort();
    for (rec_packet *p = r->head; p; p = p->next)
        if (p->seq > from && packet_for(p, rs))
            sio_frame_retain(&sess->missed[sess->n_missed++], &p->frame);
    session_free(rs);
    return sess;
}

void sio_recovery_record_free(sio_recovery_record *sess)
{
    if (!sess)
        return;
    for (size_t i = 0; i < sess->n_rooms; i++)
        free(sess->rooms[i]);
    free(sess->rooms);
    json_decref(sess->data);
    for (size_t i = 0; i < sess->n_missed; i++)
        sio_frame_release(&sess->missed[i]);
    free(sess->missed);
    free(sess);
}
