/* eio_test.h: clients for the tests of a real server, on the test's own libuv loop.
 *
 * The server under test and these clients share one loop and one thread: a test opens a
 * connection, then runs the loop (eio_test_run_until) until what it waits for has come. A
 * client speaks just enough HTTP/1.1 and RFC 6455 by hand for Engine.IO v4: one polling
 * request per connection ("Connection: close", its response read to the end), or one
 * websocket whose text frames are kept in order as Engine.IO packets ("0{…}", "2", "42[…]").
 * Every connection belongs to the eio_test_net it was opened on and is freed with it.
 */
#ifndef SB_EIO_TEST_H
#define SB_EIO_TEST_H

#include <uv.h>

#include "buffer.h"
#include "test.h"
#include "websocket_codec.h"

#define EIO_TEST_HOST    "127.0.0.1"
#define EIO_TEST_WAIT_MS 1000 /* longest wait for anything a test expects to happen */
#define EIO_TEST_TICK_MS 5    /* the loop wakes at least this often while a test waits */

typedef struct eio_test_conn eio_test_conn;
typedef struct eio_test_net eio_test_net;

/* Runs for each text packet a websocket receives, after it was kept. */
typedef void (*eio_test_packet_cb)(eio_test_conn *c, const char *packet, void *ud);

struct eio_test_conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    eio_test_net *net;
    eio_test_conn *next; /* in net->conns */
    sb_buf request;      /* written once connected */
    sb_buf in;           /* received bytes not consumed yet */
    int websocket;       /* 1: a websocket, 0: one HTTP request */
    int closing;         /* uv_close called on our end */
    int closed;          /* its close callback ran */
    int eof;             /* the server ended the connection */
    /* HTTP, once eof: the response */
    int status; /* 0 until the whole response is in */
    char *body; /* NUL-terminated copy of the body */
    /* websocket */
    int upgraded;    /* "101 Switching Protocols" received */
    int close_frame; /* the server's close frame received */
    uint16_t close_code;
    ws_reader ws;
    char **packets; /* text frames received, in order (owned) */
    size_t n_packets, packets_cap;
    eio_test_packet_cb on_packet;
    void *on_packet_ud;
};

struct eio_test_net {
    uv_loop_t *loop;
    int port;        /* the server's */
    uv_timer_t tick; /* wakes EIO_TEST_RUN_UNTIL (unreferenced otherwise) */
    eio_test_conn *conns;
};

void eio_test_net_init(eio_test_net *net, uv_loop_t *loop, int port);
/* Closes every connection still open and the tick timer: run the loop to the end after
 * it, then call eio_test_net_free. */
void eio_test_net_close(eio_test_net *net);
void eio_test_net_free(eio_test_net *net);

/* Runs the loop until cond (an expression) holds; fails the test, naming cond, when it
 * does not within EIO_TEST_WAIT_MS. */
#define EIO_TEST_RUN_UNTIL(net, cond)                                                              \
    do {                                                                                           \
        uint64_t end_ = eio_test_deadline(net, EIO_TEST_WAIT_MS);                                  \
        while (!(cond))                                                                            \
            if (!eio_test_step((net), end_))                                                       \
                TEST_FAIL("waited %d ms in vain for %s", EIO_TEST_WAIT_MS, #cond);                 \
    } while (0)
/* Loop time ms from now. */
uint64_t eio_test_deadline(eio_test_net *net, uint64_t ms);
/* Runs one turn of the loop (it waits at most a tick); 0 once the loop time reached end. */
int eio_test_step(eio_test_net *net, uint64_t end);
/* Runs the loop for ms milliseconds, whatever happens. */
void eio_test_run_for(eio_test_net *net, uint64_t ms);

/* A websocket to the endpoint with this query ("EIO=4&transport=websocket[&sid=…]"). */
eio_test_conn *eio_test_ws_open(eio_test_net *net, const char *query);
/* Waits for the 101 and, when want_open, for the OPEN packet of a new session. */
void eio_test_ws_wait_open(eio_test_conn *c, int want_open);
/* Sends one text frame (an Engine.IO packet), masked as a client must. */
void eio_test_ws_send(eio_test_conn *c, const char *packet);
/* Sends a close frame with code 1000. */
void eio_test_ws_send_close(eio_test_conn *c);
/* Waits until the websocket has received n packets; returns the last of them. */
const char *eio_test_ws_wait_packets(eio_test_conn *c, size_t n);
/* The packet received at i, or NULL when fewer came. */
const char *eio_test_ws_packet(const eio_test_conn *c, size_t i);

/* One HTTP request to the endpoint: method, query, and a body (NULL: none). */
eio_test_conn *eio_test_http(eio_test_net *net, const char *method, const char *query,
                             const char *body);
/* Waits for the whole response of an HTTP request, checks its status, returns its body. */
const char *eio_test_http_wait(eio_test_conn *c, int status);
/* The polling handshake: waits for the OPEN packet and copies its sid into sid. */
void eio_test_poll_open(eio_test_net *net, char *sid, size_t len);
/* A request on the polling session sid, with a body for POST. */
eio_test_conn *eio_test_poll(eio_test_net *net, const char *sid, const char *method,
                             const char *body);

/* Closes our end at once, as a client that goes away without a goodbye. */
void eio_test_drop(eio_test_conn *c);
/* 1 when our end is closed (the server ended it, or the test dropped it). */
int eio_test_gone(const eio_test_conn *c);

#endif
