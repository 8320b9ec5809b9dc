/* test_socketio_legacy.c: Socket.IO protocol v4 (socket.io-client 2.x on an Engine.IO v3
 * session, allow_eio3): what Node's socket.io 4.8 answers such a client, on a real server
 * with a websocket client speaking the packets by hand. */
#include <jansson.h>

#include "engine_internal.h"
#include "sio_test.h"

#define LEGACY_QUERY "EIO=3&transport=websocket"

typedef struct legacy_seen {
    char id[64];
    char token[32];
    char *auth; /* the auth payload, compact JSON (owned) */
} legacy_seen;

static void refuse_plain(sio_socket *s, void *ud)
{
    (void)ud;
    sio_socket_refuse(s, "go away", NULL);
}

static void refuse_with_data(sio_socket *s, void *ud)
{
    (void)ud;
    json_t *data = json_pack("{s:s}", "code", "nope");
    sio_socket_refuse(s, "go away", data);
    json_decref(data);
}

static void on_q_connection(sio_socket *s, void *ud)
{
    legacy_seen *seen = ud;
    snprintf(seen->id, sizeof(seen->id), "%s", sio_socket_id(s));
    if (sio_socket_query_param(s, "token", seen->token, sizeof(seen->token)) < 0)
        seen->token[0] = '\0';
    seen->auth = json_dumps(sio_socket_auth(s), JSON_COMPACT | JSON_SORT_KEYS);
}

/* The sid of the session, from its OPEN packet ("0{"sid":"…",…}"). */
static void open_sid(const char *open, char *sid, size_t len)
{
    json_t *o = json_loads(open + 1, 0, NULL);
    ASSERT(o != NULL);
    snprintf(sid, len, "%s", json_string_value(json_object_get(o, "sid")));
    json_decref(o);
}

TEST_IMPL(sio_legacy_connect_and_refusals)
{
    sio_test_fixture f;
    legacy_seen seen = {{0}, {0}, NULL};
    char sid[EIO_SID_LEN + 1], want[96];
    sio_test_start(&f, NULL);
    f.srv->engine->cfg.allow_eio3 = 1;
    sio_namespace_set_auth(sio_server_of(f.srv, "/plain"), refuse_plain, NULL);
    sio_namespace_set_auth(sio_server_of(f.srv, "/data"), refuse_with_data, NULL);
    sio_namespace_on_connection(sio_server_of(f.srv, "/q"), on_q_connection, &seen);

    eio_test_conn *c = eio_test_ws_open(&f.net, LEGACY_QUERY);
    eio_test_ws_wait_open(c, 1);
    open_sid(eio_test_ws_packet(c, 0), sid, sizeof(sid));
    /* "/" at once, without the client asking, and with no payload: its id is the sid */
    ASSERT_STR_EQ(eio_test_ws_wait_packets(c, 2), "40");
    EIO_TEST_RUN_UNTIL(&f.net, f.n_sockets == 1);
    ASSERT_STR_EQ(sio_socket_id(f.sockets[0].sock), sid);
    ASSERT_STR_EQ(sio_socket_pid(f.sockets[0].sock), "");

    /* a refusal without data is its message, a string; with data, the data (err.data) */
    eio_test_ws_send(c, "40/plain,");
    ASSERT_STR_EQ(eio_test_ws_wait_packets(c, 3), "44/plain,\"go away\"");
    eio_test_ws_send(c, "40/data,");
    ASSERT_STR_EQ(eio_test_ws_wait_packets(c, 4), "44/data,{\"code\":\"nope\"}");
    eio_test_ws_send(c, "40/none,");
    ASSERT_STR_EQ(eio_test_ws_wait_packets(c, 5), "44/none,{\"message\":\"Invalid namespace\"}");

    /* the CONNECT's query: the auth payload, and found by sio_socket_query_param */
    eio_test_ws_send(c, "40/q?token=a%20b&x=1&x=2,");
    ASSERT_STR_EQ(eio_test_ws_wait_packets(c, 6), "40/q,");
    snprintf(want, sizeof(want), "/q#%s", sid);
    ASSERT_STR_EQ(seen.id, want);
    ASSERT_STR_EQ(seen.token, "a b");
    ASSERT_STR_EQ(seen.auth, "{\"token\":\"a b\",\"x\":\"2\"}");
    free(seen.auth);
    sio_test_stop(&f);
    return 0;
}

TEST_IMPL(sio_legacy_off_by_default)
{
    sio_test_fixture f;
    sio_test_start(&f, NULL);
    eio_test_conn *c = eio_test_http(&f.net, "GET", "EIO=3&transport=polling", NULL);
    ASSERT_STR_EQ(eio_test_http_wait(c, 400),
                  "{\"code\":5,\"message\":\"Unsupported protocol version\"}");
    sio_test_stop(&f);
    return 0;
}
