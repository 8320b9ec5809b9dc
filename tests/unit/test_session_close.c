/* test_session_close.c: every way an Engine.IO session ends, seen by the application.
 *
 * A real eio_server on 127.0.0.1 (port 0) and clients written by hand (eio_test.h) on the
 * same loop. Each session has a log of its own (its eio_session_data), so a test checks
 * that on_close ran exactly once for it, with the reason the close path gives, and that
 * the session is gone from the server afterwards. The session pointer a test acts on is
 * only used while the session is open; a few tests look at its internals (the parked GET,
 * the probe) to know when the server has seen what the client did.
 */
#include "eio_test.h"
#include "engine_internal.h"

#define MAX_SESSIONS           4
#define SHORT_PING_INTERVAL_MS 20
#define SHORT_PING_TIMEOUT_MS  30  /* for a client that never answers */
#define PONG_TIMEOUT_MS        300 /* for one that answers: its PONG comes well within */
#define HEARTBEATS_SURVIVED    3   /* pings answered while the session must stay open */
#define SMALL_OUTBOUND         256 /* max_outbound for the slow consumer (the OPEN packet fits) */
#define BIG_MESSAGE            300 /* more than SMALL_OUTBOUND */
#define TINY_OUTBOUND          16  /* max_outbound smaller than the OPEN packet */
#define WEBSOCKET_QUERY        "EIO=4&transport=websocket"
#define QUERY_MAX              128 /* WEBSOCKET_QUERY with a sid */

typedef struct session_log {
    int closes;
    const char *reason; /* the last on_close's, an EIO_REASON_* literal */
} session_log;

typedef struct fixture {
    uv_loop_t loop;
    eio_server *srv;
    eio_test_net net;
    session_log logs[MAX_SESSIONS];
    int n_logs;
    int closes;        /* on_close calls, every session */
    int done;          /* shutdown's done calls */
    eio_session *last; /* the newest session, while it is open */
} fixture;

static void on_open(eio_session *s, void *ud)
{
    fixture *f = ud;
    ASSERT(f->n_logs < MAX_SESSIONS);
    eio_session_set_data(s, &f->logs[f->n_logs++]);
    f->last = s;
}

static void on_close(eio_session *s, const char *reason, void *ud)
{
    fixture *f = ud;
    session_log *log = eio_session_data(s);
    ASSERT(log != NULL);
    log->closes++;
    log->reason = reason;
    f->closes++;
    if (f->last == s)
        f->last = NULL;
}

static void on_done(void *ud)
{
    fixture *f = ud;
    f->done++;
}

static void config_defaults(eio_config *cfg)
{
    eio_config_defaults(cfg);
    cfg->host = EIO_TEST_HOST;
    cfg->port = 0;
}

static void fixture_start_with(fixture *f, const eio_config *cfg)
{
    static const eio_callbacks callbacks = {on_open, NULL, on_close, NULL};
    char err[256];
    memset(f, 0, sizeof(*f));
    ASSERT_EQ(uv_loop_init(&f->loop), 0);
    f->srv = eio_server_new(&f->loop, cfg, &callbacks, f, err, sizeof(err));
    if (!f->srv)
        TEST_FAIL("eio_server_new: %s", err);
    eio_test_net_init(&f->net, &f->loop, eio_server_port(f->srv));
}

static void fixture_start(fixture *f)
{
    eio_config cfg;
    config_defaults(&cfg);
    fixture_start_with(f, &cfg);
}

/* Shuts the server down (when the test has not), then checks that everything is gone. */
static void fixture_stop(fixture *f)
{
    eio_server_shutdown(f->srv, on_done, f);
    EIO_TEST_RUN_UNTIL(&f->net, f->done);
    eio_test_net_close(&f->net);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ASSERT_EQ(f->done, 1);
    eio_server_free(f->srv);
    eio_test_net_free(&f->net);
    ASSERT_EQ(uv_loop_close(&f->loop), 0);
}

/* The one session's log, checked: on_close ran exactly once, with reason. */
static void expect_closed_once(fixture *f, const char *reason)
{
    ASSERT_EQ(f->n_logs, 1);
    ASSERT_EQ(f->closes, 1);
    ASSERT_EQ(f->logs[0].closes, 1);
    ASSERT_STR_EQ(f->logs[0].reason, reason);
    ASSERT(f->last == NULL);
}

static eio_test_conn *open_websocket(fixture *f)
{
    eio_test_conn *c = eio_test_ws_open(&f->net, WEBSOCKET_QUERY);
    eio_test_ws_wait_open(c, 1);
    ASSERT(f->last != NULL);
    return c;
}

/* A polling GET the server has parked (nothing was queued for it). */
static eio_test_conn *park_get(fixture *f, const char *sid)
{
    eio_session *s = f->last;
    eio_test_conn *get = eio_test_poll(&f->net, sid, "GET", NULL);
    EIO_TEST_RUN_UNTIL(&f->net, s->get != NULL);
    return get;
}

/* ---- the client ends it ----------------------------------------------------------- */

TEST_IMPL(session_close_websocket_close_frame_is_transport_close)
{
    fixture f;
    fixture_start(&f);
    eio_test_conn *c = open_websocket(&f);
    eio_test_ws_send_close(c);
    EIO_TEST_RUN_UNTIL(&f.net, eio_test_gone(c)); /* the server answered and hung up */
    ASSERT(c->close_frame);
    ASSERT_EQ(c->close_code, WS_CLOSE_NORMAL);
    expect_closed_once(&f, EIO_REASON_TRANSPORT_CLOSE);
    ASSERT_EQ(eio_server_session_count(f.srv), 0);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(session_close_websocket_dropped_is_transport_close)
{
    fixture f;
    fixture_start(&f);
    eio_test_conn *c = open_websocket(&f);
    eio_test_drop(c);
    EIO_TEST_RUN_UNTIL(&f.net, f.closes > 0);
    expect_closed_once(&f, EIO_REASON_TRANSPORT_CLOSE);
    ASSERT_EQ(eio_server_session_count(f.srv), 0);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(session_close_websocket_bad_packet_is_transport_error)
{
    fixture f;
    fixture_start(&f);
    eio_test_conn *c = open_websocket(&f);
    eio_test_ws_send(c, "x"); /* no such packet type */
    EIO_TEST_RUN_UNTIL(&f.net, eio_test_gone(c));
    ASSERT(c->close_frame);
    ASSERT_EQ(c->close_code, WS_CLOSE_PROTOCOL_ERROR);
    expect_closed_once(&f, EIO_REASON_TRANSPORT_ERROR);
    ASSERT_EQ(eio_server_session_count(f.srv), 0);
    fixture_stop(&f);
    return 0;
}

/* The client POSTs CLOSE with no GET parked: its last GET may be racing on another
 * connection, so the session lingers to answer it with a NOOP. */
TEST_IMPL(session_close_polling_close_packet_lingers_for_the_last_get)
{
    fixture f;
    char sid[EIO_SID_LEN + 1];
    fixture_start(&f);
    eio_test_poll_open(&f.net, sid, sizeof(sid));
    ASSERT_STR_EQ(eio_test_http_wait(eio_test_poll(&f.net, sid, "POST", "1"), 200), "ok");
    expect_closed_once(&f, EIO_REASON_TRANSPORT_CLOSE);
    ASSERT_EQ(eio_server_session_count(f.srv), 1);
    ASSERT_STR_EQ(eio_test_http_wait(eio_test_poll(&f.net, sid, "GET", NULL), 200), "6");
    ASSERT_EQ(eio_server_session_count(f.srv), 0);
    ASSERT_EQ(f.closes, 1);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(session_close_polling_close_packet_releases_the_parked_get)
{
    fixture f;
    char sid[EIO_SID_LEN + 1];
    fixture_start(&f);
    eio_test_poll_open(&f.net, sid, sizeof(sid));
    eio_test_conn *get = park_get(&f, sid);
    ASSERT_STR_EQ(eio_test_http_wait(eio_test_poll(&f.net, sid, "POST", "1"), 200), "ok");
    ASSERT_STR_EQ(eio_test_http_wait(get, 200), "6");
    expect_closed_once(&f, EIO_REASON_TRANSPORT_CLOSE);
    ASSERT_EQ(eio_server_session_count(f.srv), 0);
    fixture_stop(&f);
    return 0;
}

/* Two GETs at once: the client is broken. The second is refused, the first gets CLOSE. */
TEST_IMPL(session_close_polling_second_get_is_transport_error)
{
    fixture f;
    char sid[EIO_SID_LEN + 1];
    fixture_start(&f);
    eio_test_poll_open(&f.net, sid, sizeof(sid));
    eio_test_conn *first = park_get(&f, sid);
    const char *refused = eio_test_http_wait(eio_test_poll(&f.net, sid, "GET", NULL), 400);
    ASSERT_STR_EQ(refused, "{\"code\":3,\"message\":\"Bad request\"}");
    ASSERT_STR_EQ(eio_test_http_wait(first, 200), "1");
    expect_closed_once(&f, EIO_REASON_TRANSPORT_ERROR);
    ASSERT_EQ(eio_server_session_count(f.srv), 0);
    fixture_stop(&f);
    return 0;
}

/* ---- the server ends it ----------------------------------------------------------- */

TEST_IMPL(session_close_server_close_websocket_flushes_then_closes)
{
    fixture f;
    fixture_start(&f);
    eio_test_conn *c = open_websocket(&f);
    ASSERT_EQ(eio_session_send(f.last, "hello", 5, 0), 0);
    eio_session_close(f.last);
    expect_closed_once(&f, EIO_REASON_FORCED_CLOSE); /* at once, inside the call */
    EIO_TEST_RUN_UNTIL(&f.net, eio_test_gone(c));
    ASSERT_EQ(c->n_packets, 3);
    ASSERT_STR_EQ(eio_test_ws_packet(c, 1), "4hello");
    ASSERT_STR_EQ(eio_test_ws_packet(c, 2), "1");
    ASSERT(c->close_frame);
    ASSERT_EQ(c->close_code, WS_CLOSE_NORMAL);
    ASSERT_EQ(eio_server_session_count(f.srv), 0);
    ASSERT_EQ(f.closes, 1);
    fixture_stop(&f);
    return 0;
}

/* As Node's polling transport: what was queued leaves first, the CLOSE with the next GET. */
TEST_IMPL(session_close_server_close_polling_sends_the_queue_then_close)
{
    fixture f;
    char sid[EIO_SID_LEN + 1];
    fixture_start(&f);
    eio_test_poll_open(&f.net, sid, sizeof(sid));
    ASSERT_EQ(eio_session_send(f.last, "hello", 5, 0), 0);
    eio_session_close(f.last);
    expect_closed_once(&f, EIO_REASON_FORCED_CLOSE);
    ASSERT_STR_EQ(eio_test_http_wait(eio_test_poll(&f.net, sid, "GET", NULL), 200), "4hello");
    ASSERT_EQ(eio_server_session_count(f.srv), 1);
    ASSERT_STR_EQ(eio_test_http_wait(eio_test_poll(&f.net, sid, "GET", NULL), 200), "1");
    ASSERT_EQ(eio_server_session_count(f.srv), 0);
    eio_test_http_wait(eio_test_poll(&f.net, sid, "GET", NULL), 400); /* unknown sid now */
    ASSERT_EQ(f.closes, 1);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(session_close_send_over_max_outbound_is_slow_consumer)
{
    fixture f;
    eio_config cfg;
    char sid[EIO_SID_LEN + 1], big[BIG_MESSAGE];
    config_defaults(&cfg);
    cfg.max_outbound = SMALL_OUTBOUND;
    fixture_start_with(&f, &cfg);
    eio_test_poll_open(&f.net, sid, sizeof(sid));
    memset(big, 'x', sizeof(big));
    ASSERT_EQ(eio_session_send(f.last, big, sizeof(big), 0), -1);
    expect_closed_once(&f, EIO_REASON_SLOW_CONSUMER);
    ASSERT_EQ(eio_server_session_count(f.srv), 0); /* no GET to tell: gone at once */
    eio_test_http_wait(eio_test_poll(&f.net, sid, "GET", NULL), 400);
    fixture_stop(&f);
    return 0;
}

/* The OPEN packet is the engine's own: a max_outbound smaller than it must not close the
 * session before the application has seen it open. */
TEST_IMPL(session_open_packet_is_not_held_to_max_outbound)
{
    fixture f;
    eio_config cfg;
    char sid[EIO_SID_LEN + 1], message[TINY_OUTBOUND];
    config_defaults(&cfg);
    cfg.max_outbound = TINY_OUTBOUND;
    fixture_start_with(&f, &cfg);
    eio_test_poll_open(&f.net, sid, sizeof(sid));
    ASSERT_EQ(f.n_logs, 1);
    ASSERT_EQ(f.closes, 0);
    ASSERT_EQ(eio_server_session_count(f.srv), 1);
    memset(message, 'x', sizeof(message));
    ASSERT_EQ(eio_session_send(f.last, message, sizeof(message), 0), -1); /* the limit holds */
    expect_closed_once(&f, EIO_REASON_SLOW_CONSUMER);
    fixture_stop(&f);
    return 0;
}

/* ---- heartbeat -------------------------------------------------------------------- */

static void answer_pings(eio_test_conn *c, const char *packet, void *ud)
{
    int *pings = ud;
    if (strcmp(packet, "2") != 0)
        return;
    (*pings)++;
    eio_test_ws_send(c, "3");
}

static void config_short_heartbeat(eio_config *cfg, uint32_t ping_timeout_ms)
{
    config_defaults(cfg);
    cfg->ping_interval_ms = SHORT_PING_INTERVAL_MS;
    cfg->ping_timeout_ms = ping_timeout_ms;
}

TEST_IMPL(session_close_unanswered_ping_is_ping_timeout)
{
    fixture f;
    eio_config cfg;
    config_short_heartbeat(&cfg, SHORT_PING_TIMEOUT_MS);
    fixture_start_with(&f, &cfg);
    eio_test_conn *c = eio_test_ws_open(&f.net, WEBSOCKET_QUERY);
    EIO_TEST_RUN_UNTIL(&f.net, eio_test_gone(c)); /* all it was sent is in */
    expect_closed_once(&f, EIO_REASON_PING_TIMEOUT);
    ASSERT_EQ(c->n_packets, 2); /* OPEN, one PING, and no CLOSE packet after a timeout */
    ASSERT_STR_EQ(eio_test_ws_packet(c, 1), "2");
    ASSERT(c->close_frame);
    ASSERT_EQ(eio_server_session_count(f.srv), 0);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(session_heartbeat_answered_pings_keep_the_session)
{
    fixture f;
    eio_config cfg;
    int pings = 0;
    config_short_heartbeat(&cfg, PONG_TIMEOUT_MS);
    fixture_start_with(&f, &cfg);
    eio_test_conn *c = eio_test_ws_open(&f.net, WEBSOCKET_QUERY);
    c->on_packet = answer_pings; /* before the first PING can come */
    c->on_packet_ud = &pings;
    eio_test_ws_wait_open(c, 1);
    EIO_TEST_RUN_UNTIL(&f.net, pings >= HEARTBEATS_SURVIVED);
    ASSERT_EQ(f.closes, 0);
    ASSERT_EQ(eio_server_session_count(f.srv), 1);
    fixture_stop(&f);
    ASSERT_EQ(f.closes, 1);
    ASSERT_STR_EQ(f.logs[0].reason, EIO_REASON_SHUTDOWN);
    return 0;
}

/* ---- shutdown --------------------------------------------------------------------- */

TEST_IMPL(session_close_shutdown_closes_every_session_once)
{
    fixture f;
    char sid[EIO_SID_LEN + 1];
    fixture_start(&f);
    eio_test_conn *ws = open_websocket(&f);
    eio_test_poll_open(&f.net, sid, sizeof(sid));
    eio_test_conn *get = park_get(&f, sid);
    eio_server_shutdown(f.srv, on_done, &f);
    ASSERT_EQ(f.closes, 2); /* at once, inside the call */
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(f.logs[i].closes, 1);
        ASSERT_STR_EQ(f.logs[i].reason, EIO_REASON_SHUTDOWN);
    }
    ASSERT_STR_EQ(eio_test_http_wait(get, 200), "1");
    EIO_TEST_RUN_UNTIL(&f.net, f.done && eio_test_gone(ws));
    ASSERT_STR_EQ(eio_test_ws_packet(ws, 1), "1");
    ASSERT(ws->close_frame);
    ASSERT_EQ(eio_server_session_count(f.srv), 0);
    fixture_stop(&f);
    ASSERT_EQ(f.closes, 2);
    return 0;
}

/* A session the server is already closing is not closed again by the shutdown. */
TEST_IMPL(session_close_shutdown_leaves_a_closing_session_alone)
{
    fixture f;
    fixture_start(&f);
    eio_test_conn *c = open_websocket(&f);
    eio_session_close(f.last);
    eio_server_shutdown(f.srv, on_done, &f); /* same turn: the session is still closing */
    expect_closed_once(&f, EIO_REASON_FORCED_CLOSE);
    EIO_TEST_RUN_UNTIL(&f.net, f.done && eio_test_gone(c));
    ASSERT_EQ(c->n_packets, 2);
    ASSERT_STR_EQ(eio_test_ws_packet(c, 1), "1");
    fixture_stop(&f);
    ASSERT_EQ(f.closes, 1);
    return 0;
}

/* ---- upgrade from polling to websocket -------------------------------------------- */

/* A probe websocket that answered "3probe": the session is upgrading. */
static eio_test_conn *start_upgrade(fixture *f, const char *sid)
{
    char query[QUERY_MAX];
    snprintf(query, sizeof(query), WEBSOCKET_QUERY "&sid=%s", sid);
    eio_test_conn *probe = eio_test_ws_open(&f->net, query);
    eio_test_ws_wait_open(probe, 0);
    eio_test_ws_send(probe, "2probe");
    ASSERT_STR_EQ(eio_test_ws_wait_packets(probe, 1), "3probe");
    return probe;
}

TEST_IMPL(session_upgrade_probe_dropped_keeps_the_polling_session)
{
    fixture f;
    char sid[EIO_SID_LEN + 1];
    fixture_start(&f);
    eio_test_poll_open(&f.net, sid, sizeof(sid));
    eio_session *s = f.last;
    eio_test_conn *probe = start_upgrade(&f, sid);
    eio_test_drop(probe);
    EIO_TEST_RUN_UNTIL(&f.net, s->probe == NULL);
    ASSERT_EQ(f.closes, 0);
    eio_test_conn *get = park_get(&f, sid); /* polling goes on */
    ASSERT_EQ(eio_session_send(s, "still", 5, 0), 0);
    ASSERT_STR_EQ(eio_test_http_wait(get, 200), "4still");
    ASSERT_EQ(eio_session_transport(s), EIO_TRANSPORT_POLLING);
    eio_session_close(s);
    expect_closed_once(&f, EIO_REASON_FORCED_CLOSE);
    ASSERT_STR_EQ(eio_test_http_wait(eio_test_poll(&f.net, sid, "GET", NULL), 200), "1");
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(session_close_during_upgrade_ends_the_probe_too)
{
    fixture f;
    char sid[EIO_SID_LEN + 1];
    fixture_start(&f);
    eio_test_poll_open(&f.net, sid, sizeof(sid));
    eio_test_conn *probe = start_upgrade(&f, sid);
    eio_session_close(f.last);
    expect_closed_once(&f, EIO_REASON_FORCED_CLOSE);
    ASSERT_STR_EQ(eio_test_http_wait(eio_test_poll(&f.net, sid, "GET", NULL), 200), "1");
    EIO_TEST_RUN_UNTIL(&f.net, eio_test_gone(probe));
    ASSERT(probe->close_frame);
    ASSERT_EQ(probe->n_packets, 1); /* only "3probe": the probe never carried the session */
    ASSERT_EQ(eio_server_session_count(f.srv), 0);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(session_close_upgraded_websocket_dropped_is_transport_close)
{
    fixture f;
    char sid[EIO_SID_LEN + 1];
    fixture_start(&f);
    eio_test_poll_open(&f.net, sid, sizeof(sid));
    eio_session *s = f.last;
    eio_test_conn *ws = start_upgrade(&f, sid);
    eio_test_ws_send(ws, "5");
    EIO_TEST_RUN_UNTIL(&f.net, eio_session_transport(s) == EIO_TRANSPORT_WEBSOCKET);
    ASSERT_EQ(f.closes, 0);
    eio_test_drop(ws);
    EIO_TEST_RUN_UNTIL(&f.net, f.closes > 0);
    expect_closed_once(&f, EIO_REASON_TRANSPORT_CLOSE);
    ASSERT_EQ(eio_server_session_count(f.srv), 0);
    eio_test_http_wait(eio_test_poll(&f.net, sid, "GET", NULL), 400);
    fixture_stop(&f);
    return 0;
}
