/* sio_test.c: the Socket.IO server fixture of the socket and ack tests (see sio_test.h). */
#include "sio_test.h"

#define SIO_TEST_CONNECT_QUERY "EIO=4&transport=websocket"

static void on_connection(sio_socket *s, void *ud)
{
    sio_test_fixture *f = ud;
    ASSERT(f->n_sockets < SIO_TEST_MAX_SOCKETS);
    sio_test_socket *t = &f->sockets[f->n_sockets++];
    t->sock = sio_socket_ref(s);
    sio_socket_set_userdata(s, t);
}

static void on_disconnect(sio_socket *s, const char *reason, void *ud)
{
    sio_test_fixture *f = ud;
    sio_test_socket *t = sio_socket_userdata(s);
    ASSERT(t != NULL);
    t->disconnects++;
    t->reason = reason;
    f->disconnects++;
}

static void on_done(void *ud)
{
    sio_test_fixture *f = ud;
    f->done++;
}

void sio_test_start(sio_test_fixture *f, const sio_options *opts)
{
    eio_config cfg;
    char err[256];
    memset(f, 0, sizeof(*f));
    eio_config_defaults(&cfg);
    cfg.host = EIO_TEST_HOST;
    cfg.port = 0;
    ASSERT_EQ(uv_loop_init(&f->loop), 0);
    f->srv = sio_server_new(&f->loop, &cfg, opts, err, sizeof(err));
    if (!f->srv)
        TEST_FAIL("sio_server_new: %s", err);
    f->nsp = sio_server_of(f->srv, "/");
    sio_namespace_on_connection(f->nsp, on_connection, f);
    sio_namespace_on_disconnect(f->nsp, on_disconnect, f);
    eio_test_net_init(&f->net, &f->loop, eio_server_port(sio_server_engine(f->srv)));
}

sio_test_socket *sio_test_connect(sio_test_fixture *f)
{
    size_t n = f->n_sockets;
    eio_test_conn *c = eio_test_ws_open(&f->net, SIO_TEST_CONNECT_QUERY);
    eio_test_ws_wait_open(c, 1);
    eio_test_ws_send(c, "40");
    EIO_TEST_RUN_UNTIL(&f->net, f->n_sockets > n);
    const char *connect = eio_test_ws_wait_packets(c, 2);
    if (strncmp(connect, "40{\"sid\":", 9) != 0)
        TEST_FAIL("expected CONNECT, got \"%s\"", connect);
    f->sockets[n].conn = c;
    return &f->sockets[n];
}

void sio_test_shutdown(sio_test_fixture *f)
{
    if (!f->srv->shutting_down)
        sio_server_shutdown(f->srv, on_done, f);
    EIO_TEST_RUN_UNTIL(&f->net, f->done);
}

void sio_test_stop(sio_test_fixture *f)
{
    sio_test_shutdown(f);
    eio_test_net_close(&f->net);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ASSERT_EQ(f->done, 1);
    for (size_t i = 0; i < f->n_sockets; i++)
        sio_socket_unref(f->sockets[i].sock);
    sio_server_free(f->srv);
    eio_test_net_free(&f->net);
    ASSERT_EQ(uv_loop_close(&f->loop), 0);
}
