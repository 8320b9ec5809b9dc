/* sio_test.h: a real sio_server with websocket clients, for the tests of sockets and acks.
 *
 * The server listens on 127.0.0.1 (port 0) on the fixture's loop; sio_test_connect opens a
 * websocket client (eio_test.h) that joins "/" and waits until the server's socket is
 * connected. The fixture keeps a reference to every socket that connected, with a log of
 * its disconnect handler's calls, and releases them at sio_test_stop, which also checks
 * that the shutdown finished and that the loop has nothing left.
 */
#ifndef SB_SIO_TEST_H
#define SB_SIO_TEST_H

#include "eio_test.h"
#include "sio_internal.h"

#define SIO_TEST_MAX_SOCKETS 8

typedef struct sio_test_socket {
    sio_socket *sock;    /* a reference of the fixture's */
    eio_test_conn *conn; /* its client */
    int disconnects;     /* disconnect handler calls */
    const char *reason;  /* the last one's, a SIO_REASON_* or EIO_REASON_* literal */
} sio_test_socket;

typedef struct sio_test_fixture {
    uv_loop_t loop;
    sio_server *srv;
    sio_namespace *nsp; /* "/" */
    eio_test_net net;
    sio_test_socket sockets[SIO_TEST_MAX_SOCKETS]; /* in connection order */
    size_t n_sockets;
    int disconnects; /* disconnect handler calls, every socket */
    int done;        /* shutdown's done calls */
} sio_test_fixture;

/* opts NULL: the defaults. */
void sio_test_start(sio_test_fixture *f, const sio_options *opts);
/* A client that joined "/"; returns its socket's entry once the server has connected it. */
sio_test_socket *sio_test_connect(sio_test_fixture *f);
/* Shuts the server down and waits until it is done (the clients are still there). */
void sio_test_shutdown(sio_test_fixture *f);
/* Shuts the server down (unless the test did), releases the sockets and checks that the
 * loop ends clean. */
void sio_test_stop(sio_test_fixture *f);

#endif
