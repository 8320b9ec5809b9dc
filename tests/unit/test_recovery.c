/* test_recovery.c: the connection state recovery store (recovery.c), then one recovery
 * end to end through a real server.
 *
 * The store reads the time from its loop (uv_now), so a test moves time on by sleeping
 * past the window and updating the loop's clock: nothing runs on the loop. Packets are
 * logged with the text they carry, and what a restore hands back is compared by text.
 */
#include "engine_internal.h"
#include "recovery.h"
#include "sio_test.h"

#define WINDOW_MS            60000 /* long enough that nothing expires unless a test waits */
#define SHORT_WINDOW_MS      20
#define PAST_SHORT_WINDOW_MS 40  /* sleep this long to be past SHORT_WINDOW_MS */
#define MAX_ROOMS            8   /* rooms a test session is in, its own included */
#define CONNECT_MAX          160 /* a CONNECT packet with a pid and an offset */

typedef struct fixture {
    uv_loop_t loop;
    sio_options opts;
    sio_recovery *rec;
} fixture;

static void fixture_options(fixture *f)
{
    memset(f, 0, sizeof(*f));
    sio_options_defaults(&f->opts);
    f->opts.recovery_window_ms = WINDOW_MS;
}

static void fixture_open(fixture *f)
{
    ASSERT_EQ(uv_loop_init(&f->loop), 0);
    f->rec = sio_recovery_new(&f->loop, &f->opts);
}

static void fixture_start(fixture *f)
{
    fixture_options(f);
    fixture_open(f);
}

static void fixture_stop(fixture *f)
{
    sio_recovery_free(f->rec);
    ASSERT_EQ(uv_loop_close(&f->loop), 0);
}

static void move_past_window(fixture *f)
{
    uv_sleep(PAST_SHORT_WINDOW_MS);
    uv_update_time(&f->loop);
}

/* Logs a packet carrying text, sent to rooms (NULL-terminated; NULL: everyone) except
 * the rooms in except (NULL-terminated, may be NULL). */
static void log_to(fixture *f, const char *text, const char *const *rooms,
                   const char *const *except)
{
    sio_target to = {rooms, 0, except, 0};
    while (rooms && rooms[to.n_rooms])
        to.n_rooms++;
    while (except && except[to.n_except])
        to.n_except++;
    sio_frame frame = {eio_msg_new(EIOP_PACKET_MESSAGE, text, strlen(text), 0), NULL, 0,
                       strlen(text)};
    sio_recovery_log(f->rec, &to, &frame);
    sio_frame_release(&frame); /* the store holds its own reference */
}

static void log_all(fixture *f, const char *text) { log_to(f, text, NULL, NULL); }

/* Keeps the session of pid (socket id "sid-<pid>"), in its own room and in rooms. */
static void persist(fixture *f, const char *pid, const char *const *rooms, json_t *data,
                    uint64_t position)
{
    char sid[SIO_ID_LEN + 1];
    const char *names[MAX_ROOMS] = {sid};
    size_t n = 1;
    snprintf(sid, sizeof(sid), "sid-%s", pid);
    while (rooms && *rooms && n < MAX_ROOMS)
        names[n++] = *rooms++;
    sio_recovery_persist(f->rec, sid, pid, names, n, data, position);
}

/* Restores pid from offset and checks the packets handed back: want is NULL-terminated. */
static void expect_restored(fixture *f, const char *pid, const char *offset,
                            const char *const *want)
{
    char sid[SIO_ID_LEN + 1];
    sio_recovery_record *rec = sio_recovery_restore(f->rec, pid, offset);
    size_t n = 0;
    if (!rec)
        TEST_FAIL("%s was not restored from offset %s", pid, offset ? offset : "(none)");
    snprintf(sid, sizeof(sid), "sid-%s", pid);
    ASSERT_STR_EQ(rec->sid, sid);
    ASSERT_STR_EQ(rec->pid, pid);
    while (want[n])
        n++;
    ASSERT_EQ(rec->n_missed, n);
    for (size_t i = 0; i < n; i++) {
        const eio_msg *m = rec->missed[i].text;
        if (m->len != strlen(want[i]) || memcmp(EIO_MSG_DATA(m), want[i], m->len) != 0)
            TEST_FAIL("missed packet %zu is \"%.*s\", want \"%s\"", i, (int)m->len,
                      (const char *)EIO_MSG_DATA(m), want[i]);
    }
    sio_recovery_record_free(rec);
}

static void expect_not_restored(fixture *f, const char *pid, const char *offset)
{
    sio_recovery_record *rec = sio_recovery_restore(f->rec, pid, offset);
    if (rec)
        TEST_FAIL("%s was restored from offset %s", pid, offset ? offset : "(none)");
}

/* ---- the log ---------------------------------------------------------------------- */

TEST_IMPL(recovery_position_counts_logged_packets)
{
    fixture f;
    char next[SIO_OFFSET_LEN];
    fixture_start(&f);
    ASSERT_EQ(sio_recovery_position(f.rec), 0);
    sio_recovery_next_offset(f.rec, next);
    ASSERT_STR_EQ(next, "1");
    log_all(&f, "a");
    log_all(&f, "b");
    ASSERT_EQ(sio_recovery_position(f.rec), 2);
    sio_recovery_next_offset(f.rec, next);
    ASSERT_STR_EQ(next, "3");
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(recovery_restore_replays_what_followed_the_offset)
{
    static const char *const rest[] = {"b", "c", NULL};
    fixture f;
    fixture_start(&f);
    persist(&f, "P", NULL, NULL, 0);
    log_all(&f, "a");
    log_all(&f, "b");
    log_all(&f, "c");
    expect_restored(&f, "P", "1", rest);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(recovery_restore_without_offset_starts_at_the_position)
{
    static const char *const rest[] = {"b", "c", NULL};
    fixture f;
    fixture_start(&f);
    log_all(&f, "a");
    persist(&f, "P", NULL, NULL, sio_recovery_position(f.rec));
    log_all(&f, "b");
    log_all(&f, "c");
    expect_restored(&f, "P", NULL, rest);
    fixture_stop(&f);
    return 0;
}

/* An offset older than the session's position would hand it packets of another time. */
TEST_IMPL(recovery_restore_never_replays_before_the_position)
{
    static const char *const rest[] = {"c", NULL};
    fixture f;
    fixture_start(&f);
    log_all(&f, "a");
    log_all(&f, "b");
    persist(&f, "P", NULL, NULL, sio_recovery_position(f.rec));
    log_all(&f, "c");
    expect_restored(&f, "P", "1", rest);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(recovery_restore_keeps_to_the_session_rooms)
{
    static const char *const r1[] = {"r1", NULL}, *const r2[] = {"r2", NULL};
    static const char *const own[] = {"sid-P", NULL};
    static const char *const mine[] = {"to r1", "to all", NULL};
    fixture f;
    fixture_start(&f);
    persist(&f, "P", r1, NULL, 0);
    log_to(&f, "to r1", r1, NULL);
    log_to(&f, "to r2", r2, NULL);
    log_to(&f, "to all but r1", NULL, r1);
    log_to(&f, "to r1 but not P itself", r1, own);
    log_all(&f, "to all");
    expect_restored(&f, "P", "0", mine);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(recovery_restore_gives_back_rooms_and_data_as_persisted)
{
    static const char *const rooms[] = {"r1", "r2", NULL};
    fixture f;
    json_t *data = json_pack("{s:i}", "v", 1);
    fixture_start(&f);
    persist(&f, "P", rooms, data, 0);
    json_object_set_new(data, "v", json_integer(2)); /* the store kept a copy */
    sio_recovery_record *rec = sio_recovery_restore(f.rec, "P", NULL);
    ASSERT(rec != NULL);
    ASSERT_EQ(rec->n_rooms, 3);
    ASSERT_STR_EQ(rec->rooms[0], "sid-P");
    ASSERT_STR_EQ(rec->rooms[1], "r1");
    ASSERT_STR_EQ(rec->rooms[2], "r2");
    ASSERT_EQ(json_integer_value(json_object_get(rec->data, "v")), 1);
    ASSERT_EQ(rec->n_missed, 0);
    sio_recovery_record_free(rec);
    json_decref(data);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(recovery_restore_consumes_the_session)
{
    static const char *const none[] = {NULL};
    fixture f;
    fixture_start(&f);
    persist(&f, "P", NULL, NULL, 0);
    expect_restored(&f, "P", NULL, none);
    expect_not_restored(&f, "P", NULL);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(recovery_unknown_pid_is_not_restored)
{
    fixture f;
    fixture_start(&f);
    persist(&f, "P", NULL, NULL, 0);
    expect_not_restored(&f, "Q", NULL);
    expect_not_restored(&f, "", "0");
    fixture_stop(&f);
    return 0;
}

/* An offset the log never gave out: the session is refused, and dropped with it (a
 * restore consumes its session whatever the outcome; Node's adapter keeps it). */
TEST_IMPL(recovery_unknown_offset_is_not_restored)
{
    static const char *const bad[] = {"", "x", "-1", "+1", " 1", "1x", "3", "99999999999999999999"};
    static const char *const rest[] = {"b", NULL};
    fixture f;
    fixture_start(&f);
    log_all(&f, "a");
    log_all(&f, "b");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        persist(&f, "P", NULL, NULL, 0);
        expect_not_restored(&f, "P", bad[i]);
        expect_not_restored(&f, "P", "1");
    }
    persist(&f, "P", NULL, NULL, 0);
    expect_restored(&f, "P", "1", rest);
    fixture_stop(&f);
    return 0;
}

/* ---- the window ------------------------------------------------------------------- */

TEST_IMPL(recovery_session_past_the_window_is_gone)
{
    static const char *const none[] = {NULL};
    fixture f;
    fixture_options(&f);
    f.opts.recovery_window_ms = SHORT_WINDOW_MS;
    fixture_open(&f);
    persist(&f, "old", NULL, NULL, 0);
    move_past_window(&f);
    persist(&f, "new", NULL, NULL, 0);
    expect_not_restored(&f, "old", NULL);
    expect_restored(&f, "new", NULL, none);
    fixture_stop(&f);
    return 0;
}

/* A packet past the window leaves the log, and a session that would need it is refused:
 * it could only be given part of what it missed. */
TEST_IMPL(recovery_packets_past_the_window_are_purged)
{
    static const char *const rest[] = {"b", NULL};
    fixture f;
    fixture_options(&f);
    f.opts.recovery_window_ms = SHORT_WINDOW_MS;
    fixture_open(&f);
    log_all(&f, "a");
    move_past_window(&f);
    persist(&f, "needs a", NULL, NULL, 0);
    persist(&f, "after a", NULL, NULL, 1);
    log_all(&f, "b"); /* the log is trimmed as it is touched */
    expect_not_restored(&f, "needs a", NULL);
    expect_restored(&f, "after a", NULL, rest);
    fixture_stop(&f);
    return 0;
}

/* ---- bounds ----------------------------------------------------------------------- */

TEST_IMPL(recovery_log_keeps_at_most_max_packets)
{
    static const char *const rest[] = {"b", "c", NULL};
    fixture f;
    fixture_options(&f);
    f.opts.recovery_max_packets = 2;
    fixture_open(&f);
    persist(&f, "needs a", NULL, NULL, 0);
    persist(&f, "after a", NULL, NULL, 0);
    log_all(&f, "a");
    log_all(&f, "b");
    log_all(&f, "c");
    expect_not_restored(&f, "needs a", NULL);
    expect_restored(&f, "after a", "1", rest);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(recovery_log_keeps_at_most_max_bytes)
{
    static const char *const rest[] = {"bbb", NULL};
    fixture f;
    fixture_options(&f);
    f.opts.recovery_max_bytes = 5;
    fixture_open(&f);
    persist(&f, "needs a", NULL, NULL, 0);
    persist(&f, "after a", NULL, NULL, 0);
    log_all(&f, "aaa");
    log_all(&f, "bbb"); /* 6 bytes: "aaa" goes */
    expect_not_restored(&f, "needs a", NULL);
    expect_restored(&f, "after a", "1", rest);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(recovery_sessions_over_the_limit_evict_the_oldest)
{
    static const char *const none[] = {NULL};
    fixture f;
    fixture_options(&f);
    f.opts.recovery_max_sessions = 2;
    fixture_open(&f);
    persist(&f, "A", NULL, NULL, 0);
    persist(&f, "B", NULL, NULL, 0);
    persist(&f, "C", NULL, NULL, 0);
    expect_not_restored(&f, "A", NULL);
    expect_restored(&f, "B", NULL, none);
    expect_restored(&f, "C", NULL, none);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(recovery_persist_again_replaces_the_session)
{
    fixture f;
    json_t *first = json_pack("{s:i}", "v", 1), *second = json_pack("{s:i}", "v", 2);
    fixture_options(&f);
    f.opts.recovery_max_sessions = 2;
    fixture_open(&f);
    persist(&f, "A", NULL, NULL, 0);
    persist(&f, "P", NULL, first, 0);
    persist(&f, "P", NULL, second, 0); /* takes the place of the first, not another one */
    sio_recovery_record *rec = sio_recovery_restore(f.rec, "P", NULL);
    ASSERT(rec != NULL);
    ASSERT_EQ(json_integer_value(json_object_get(rec->data, "v")), 2);
    sio_recovery_record_free(rec);
    expect_not_restored(&f, "P", NULL);
    rec = sio_recovery_restore(f.rec, "A", NULL);
    ASSERT(rec != NULL);
    sio_recovery_record_free(rec);
    json_decref(first);
    json_decref(second);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(recovery_without_room_for_sessions_keeps_none)
{
    fixture f;
    fixture_options(&f);
    f.opts.recovery_max_sessions = 0;
    fixture_open(&f);
    persist(&f, "P", NULL, NULL, 0);
    expect_not_restored(&f, "P", NULL);
    fixture_stop(&f);
    return 0;
}

/* ---- end to end ------------------------------------------------------------------- */

/* A client that drops and comes back with its pid and last offset gets its socket id
 * back and the broadcast it missed, with that broadcast's offset. */
TEST_IMPL(recovery_reconnect_replays_the_missed_broadcast)
{
    sio_test_fixture f;
    sio_options opts;
    char hello[CONNECT_MAX];
    sio_options_defaults(&opts);
    opts.recovery_window_ms = WINDOW_MS;
    sio_test_start(&f, &opts);
    sio_test_socket *first = sio_test_connect(&f);
    json_t *connect = json_loads(eio_test_ws_packet(first->conn, 1) + 2, 0, NULL);
    const char *pid = json_string_value(json_object_get(connect, "pid"));
    ASSERT(pid != NULL);
    ASSERT_EQ(sio_namespace_emit(f.nsp, NULL, "news", NULL, 0), SIOP_OK);
    ASSERT_STR_EQ(eio_test_ws_wait_packets(first->conn, 3), "42[\"news\",\"1\"]");
    eio_test_drop(first->conn);
    EIO_TEST_RUN_UNTIL(&f.net, f.disconnects > 0);
    ASSERT_EQ(sio_namespace_emit(f.nsp, NULL, "missed", NULL, 0), SIOP_OK);

    eio_test_conn *again = eio_test_ws_open(&f.net, "EIO=4&transport=websocket");
    eio_test_ws_wait_open(again, 1);
    snprintf(hello, sizeof(hello), "40{\"pid\":\"%s\",\"offset\":\"1\"}", pid);
    eio_test_ws_send(again, hello);
    eio_test_ws_wait_packets(again, 3);
    ASSERT(strstr(eio_test_ws_packet(again, 1), sio_socket_id(first->sock)) != NULL); /* same id */
    ASSERT_STR_EQ(eio_test_ws_packet(again, 2), "42[\"missed\",\"2\"]");
    EIO_TEST_RUN_UNTIL(&f.net, f.n_sockets == 2);
    ASSERT(sio_socket_recovered(f.sockets[1].sock));
    ASSERT_STR_EQ(sio_socket_id(f.sockets[1].sock), sio_socket_id(first->sock));
    json_decref(connect);
    sio_test_stop(&f);
    return 0;
}
