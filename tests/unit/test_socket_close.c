/* test_socket_close.c: how a Socket.IO socket (and the session under it) ends.
 *
 * A real sio_server and websocket clients (sio_test.h): each test checks that the
 * disconnect handler ran exactly once, with the reason of the path it takes, and what
 * the client was told.
 */
#include "sio_test.h"

#define SHORT_CONNECT_TIMEOUT_MS 30

TEST_IMPL(socket_close_client_leaves_namespace)
{
    sio_test_fixture f;
    sio_test_start(&f, NULL);
    sio_test_socket *t = sio_test_connect(&f);
    eio_test_ws_send(t->conn, "41");
    EIO_TEST_RUN_UNTIL(&f.net, f.disconnects > 0);
    ASSERT_EQ(t->disconnects, 1);
    ASSERT_STR_EQ(t->reason, SIO_REASON_CLIENT_DISCONNECT);
    ASSERT(!sio_socket_connected(t->sock));
    ASSERT_EQ(sio_namespace_socket_count(f.nsp), 0);
    ASSERT_EQ(eio_server_session_count(sio_server_engine(f.srv)), 1); /* the session stays */
    sio_test_stop(&f);
    ASSERT_EQ(t->disconnects, 1);
    return 0;
}

TEST_IMPL(socket_close_client_drops_connection)
{
    sio_test_fixture f;
    sio_test_start(&f, NULL);
    sio_test_socket *t = sio_test_connect(&f);
    eio_test_drop(t->conn);
    EIO_TEST_RUN_UNTIL(&f.net, f.disconnects > 0);
    ASSERT_EQ(t->disconnects, 1);
    ASSERT_STR_EQ(t->reason, EIO_REASON_TRANSPORT_CLOSE);
    ASSERT_EQ(sio_socket_emit(t->sock, "late", NULL, 0), SIO_ECLOSED);
    sio_test_stop(&f);
    ASSERT_EQ(t->disconnects, 1);
    return 0;
}

TEST_IMPL(socket_close_server_disconnect_keeps_the_session)
{
    sio_test_fixture f;
    sio_test_start(&f, NULL);
    sio_test_socket *t = sio_test_connect(&f);
    sio_socket_disconnect(t->sock, 0);
    ASSERT_EQ(t->disconnects, 1);
    ASSERT_STR_EQ(t->reason, SIO_REASON_SERVER_DISCONNECT);
    ASSERT_STR_EQ(eio_test_ws_wait_packets(t->conn, 3), "41");
    sio_socket_disconnect(t->sock, 0); /* already gone: nothing more */
    eio_test_run_for(&f.net, EIO_TEST_TICK_MS);
    ASSERT_EQ(t->conn->n_packets, 3);
    ASSERT(!eio_test_gone(t->conn));
    sio_test_stop(&f);
    ASSERT_EQ(t->disconnects, 1);
    return 0;
}

TEST_IMPL(socket_close_server_disconnect_with_session_closes_it)
{
    sio_test_fixture f;
    sio_test_start(&f, NULL);
    sio_test_socket *t = sio_test_connect(&f);
    sio_socket_disconnect(t->sock, 1);
    ASSERT_EQ(t->disconnects, 1);
    ASSERT_STR_EQ(t->reason, SIO_REASON_SERVER_DISCONNECT);
    EIO_TEST_RUN_UNTIL(&f.net, eio_test_gone(t->conn));
    ASSERT_EQ(t->conn->n_packets, 4);
    ASSERT_STR_EQ(eio_test_ws_packet(t->conn, 2), "41"); /* the namespace goes first */
    ASSERT_STR_EQ(eio_test_ws_packet(t->conn, 3), "1");  /* then the session */
    ASSERT_EQ(eio_server_session_count(sio_server_engine(f.srv)), 0);
    sio_test_stop(&f);
    ASSERT_EQ(t->disconnects, 1);
    return 0;
}

/* A parse error: Node closes the engine session, and sockets see "forced close". */
TEST_IMPL(socket_close_malformed_packet_is_forced_close)
{
    sio_test_fixture f;
    sio_test_start(&f, NULL);
    sio_test_socket *t = sio_test_connect(&f);
    eio_test_ws_send(t->conn, "42[unterminated");
    EIO_TEST_RUN_UNTIL(&f.net, f.disconnects > 0);
    ASSERT_EQ(t->disconnects, 1);
    ASSERT_STR_EQ(t->reason, EIO_REASON_FORCED_CLOSE);
    EIO_TEST_RUN_UNTIL(&f.net, eio_test_gone(t->conn));
    ASSERT_STR_EQ(eio_test_ws_packet(t->conn, 2), "1");
    sio_test_stop(&f);
    ASSERT_EQ(t->disconnects, 1);
    return 0;
}

TEST_IMPL(socket_close_server_shutdown_disconnects_every_socket_once)
{
    sio_test_fixture f;
    sio_test_start(&f, NULL);
    sio_test_socket *a = sio_test_connect(&f);
    sio_test_socket *b = sio_test_connect(&f);
    sio_test_shutdown(&f);
    EIO_TEST_RUN_UNTIL(&f.net, eio_test_gone(a->conn) && eio_test_gone(b->conn));
    ASSERT_EQ(f.disconnects, 2);
    ASSERT_EQ(a->disconnects, 1);
    ASSERT_EQ(b->disconnects, 1);
    ASSERT_STR_EQ(a->reason, EIO_REASON_SHUTDOWN);
    ASSERT_STR_EQ(b->reason, EIO_REASON_SHUTDOWN);
    ASSERT_STR_EQ(eio_test_ws_packet(a->conn, 2), "1");
    ASSERT_STR_EQ(eio_test_ws_packet(b->conn, 2), "1");
    sio_test_stop(&f);
    ASSERT_EQ(f.disconnects, 2);
    return 0;
}

/* A session that joins no namespace in time is closed; no socket ever existed. */
TEST_IMPL(socket_close_connect_timeout_closes_the_session)
{
    sio_test_fixture f;
    sio_options opts;
    sio_options_defaults(&opts);
    opts.connect_timeout_ms = SHORT_CONNECT_TIMEOUT_MS;
    sio_test_start(&f, &opts);
    eio_test_conn *c = eio_test_ws_open(&f.net, "EIO=4&transport=websocket");
    eio_test_ws_wait_open(c, 1);
    EIO_TEST_RUN_UNTIL(&f.net, eio_test_gone(c));
    ASSERT_EQ(c->n_packets, 2);
    ASSERT_STR_EQ(eio_test_ws_packet(c, 1), "1");
    ASSERT(c->close_frame);
    ASSERT_EQ(eio_server_session_count(sio_server_engine(f.srv)), 0);
    ASSERT_EQ(f.n_sockets, 0);
    ASSERT_EQ(f.disconnects, 0);
    sio_test_stop(&f);
    return 0;
}
