/* test_forward.c: the core's seam for sessions held by another node (engine.h: sid tags,
 * eio_vconn on the owner), without Redis.
 *
 * A real eio_server with a sid prefix on 127.0.0.1 (port 0); requests are fed to virtual
 * connections as another node would relay them, and what the server writes is collected
 * from the callbacks. Each test shuts the server down at the end, which must end every
 * virtual connection still open (ASan checks that nothing is left).
 */
#include "eio_test.h"
#include "engine_internal.h"

#define TAG           "node1"
#define SID_MAX       64
#define REQUEST_MAX   256
#define HANDSHAKE_REQ "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"

typedef struct sink {
    sb_buf out; /* every byte the virtual connection wrote */
    int ends;   /* end() calls */
    int keep;   /* the last end()'s */
} sink;

typedef struct fixture {
    uv_loop_t loop;
    eio_server *srv;
    eio_test_net net;
    int done;
} fixture;

static void on_output(const uint8_t *bytes, size_t len, void *ud)
{
    sb_buf_append(&((sink *)ud)->out, bytes, len);
}

static void on_end(int keep, const uint8_t *bytes, size_t len, void *ud)
{
    sink *k = ud;
    sb_buf_append(&k->out, bytes, len);
    k->ends++;
    k->keep = keep;
}

/* 1 when what k collected contains text. */
static int has(const sink *k, const char *text)
{
    size_t n = strlen(text);
    for (size_t i = 0; i + n <= k->out.len; i++)
        if (!memcmp(k->out.data + i, text, n))
            return 1;
    return 0;
}

static const eio_vconn_callbacks sink_callbacks = {on_output, on_end};

static void on_done(void *ud) { ((fixture *)ud)->done++; }

static void fixture_start(fixture *f)
{
    eio_config cfg;
    char err[256];
    memset(f, 0, sizeof(*f));
    eio_config_defaults(&cfg);
    cfg.host = EIO_TEST_HOST;
    cfg.port = 0;
    cfg.sid_prefix = TAG;
    ASSERT_EQ(uv_loop_init(&f->loop), 0);
    f->srv = eio_server_new(&f->loop, &cfg, NULL, NULL, err, sizeof(err));
    if (!f->srv)
        TEST_FAIL("eio_server_new: %s", err);
    eio_test_net_init(&f->net, &f->loop, eio_server_port(f->srv));
}

static void fixture_stop(fixture *f)
{
    eio_server_shutdown(f->srv, on_done, f);
    EIO_TEST_RUN_UNTIL(&f->net, f->done);
    eio_test_net_close(&f->net);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    eio_server_free(f->srv);
    eio_test_net_free(&f->net);
    ASSERT_EQ(uv_loop_close(&f->loop), 0);
}

/* Feeds request to a new virtual connection; k collects what it writes. */
static eio_vconn *relay(fixture *f, sink *k, const char *request)
{
    eio_vconn *v = eio_vconn_new(f->srv, &sink_callbacks, k);
    ASSERT(v != NULL);
    eio_vconn_feed(v, (const uint8_t *)request, strlen(request));
    return v;
}

/* A handshake relayed through a virtual connection: its sid, from the OPEN packet. */
static void handshake(fixture *f, char *sid)
{
    sink k = {0};
    relay(f, &k, HANDSHAKE_REQ);
    EIO_TEST_RUN_UNTIL(&f->net, k.ends == 1);
    ASSERT_EQ(k.keep, 1);
    sb_buf_append_byte(&k.out, '\0');
    const char *at = strstr((const char *)k.out.data, "\"sid\":\"");
    ASSERT(at != NULL);
    at += strlen("\"sid\":\"");
    size_t n = strcspn(at, "\"");
    ASSERT(n < SID_MAX);
    memcpy(sid, at, n);
    sid[n] = '\0';
    sb_buf_free(&k.out);
}

TEST_IMPL(forward_sid_tag)
{
    char tag[EIO_SID_TAG_MAX + 1];
    ASSERT_EQ(eio_sid_tag("abc_-9.xxxxxxxxxxxxxxxxxxxx", tag, sizeof(tag)), 6);
    ASSERT_STR_EQ(tag, "abc_-9");
    ASSERT_EQ(eio_sid_tag("xxxxxxxxxxxxxxxxxxxx", tag, sizeof(tag)), -1); /* Node's: none */
    ASSERT_EQ(eio_sid_tag(".xxxx", tag, sizeof(tag)), -1);
    ASSERT_EQ(eio_sid_tag("a#b.xxxx", tag, sizeof(tag)), -1);               /* not base64url */
    ASSERT_EQ(eio_sid_tag("aaaaaaaaaaaaaaaaa.xxxx", tag, sizeof(tag)), -1); /* too long */
    return 0;
}

TEST_IMPL(forward_sid_prefix_is_checked)
{
    uv_loop_t loop;
    eio_config cfg;
    char err[256];
    ASSERT_EQ(uv_loop_init(&loop), 0);
    eio_config_defaults(&cfg);
    cfg.port = 0;
    cfg.sid_prefix = "no.dots";
    ASSERT(eio_server_new(&loop, &cfg, NULL, NULL, err, sizeof(err)) == NULL);
    ASSERT(strstr(err, "sid prefix") != NULL);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    return 0;
}

/* The sid names the node; a POST and a GET relayed for it are served like local ones. */
TEST_IMPL(forward_vconn_serves_polling)
{
    fixture f;
    char sid[SID_MAX], req[REQUEST_MAX], tag[EIO_SID_TAG_MAX + 1];
    sink post = {0}, get = {0};
    fixture_start(&f);
    handshake(&f, sid);
    ASSERT(eio_sid_tag(sid, tag, sizeof(tag)) > 0);
    ASSERT_STR_EQ(tag, TAG);
    ASSERT_EQ(strlen(sid), strlen(TAG) + 1 + EIO_SID_LEN);
    snprintf(req, sizeof(req),
             "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"
             "content-length: 1\r\n\r\n2",
             sid);
    relay(&f, &post, req);
    EIO_TEST_RUN_UNTIL(&f.net, post.ends == 1);
    ASSERT(has(&post, "\r\n\r\nok"));
    snprintf(req, sizeof(req), "GET /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n\r\n",
             sid);
    relay(&f, &get, req);
    EIO_TEST_RUN_UNTIL(&f.net, get.ends == 1);
    ASSERT(has(&get, "\r\n\r\n3")); /* the PONG */
    eio_forward_stats st;
    eio_server_forward_stats(f.srv, &st);
    ASSERT_EQ(st.served, 3);
    sb_buf_free(&post.out);
    sb_buf_free(&get.out);
    fixture_stop(&f);
    return 0;
}

/* A GET parked on a virtual connection that is closed from outside (the client went):
 * end() does not run, and the session takes the next GET as if nothing had been parked. */
TEST_IMPL(forward_vconn_close_unparks)
{
    fixture f;
    char sid[SID_MAX], req[REQUEST_MAX];
    sink parked = {0}, next = {0};
    fixture_start(&f);
    handshake(&f, sid);
    snprintf(req, sizeof(req), "GET /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n\r\n",
             sid);
    eio_vconn *v = relay(&f, &parked, req);
    eio_test_run_for(&f.net, 20);
    ASSERT(eio_vconn_parked(v));
    eio_session *s = eio__session_find(f.srv, sid);
    ASSERT(s != NULL && s->get != NULL);
    eio_vconn_close(v);
    ASSERT(s->get == NULL);
    relay(&f, &next, req);
    eio_test_run_for(&f.net, 20);
    ASSERT(s->get != NULL); /* parked, not refused as a second GET */
    ASSERT_EQ(parked.ends, 0);
    fixture_stop(&f); /* the shutdown answers the parked GET with the CLOSE */
    ASSERT_EQ(next.ends, 1);
    ASSERT(has(&next, "\r\n\r\n1"));
    sb_buf_free(&next.out);
    return 0;
}

/* An unknown sid on a virtual connection is answered there: no second hop. */
TEST_IMPL(forward_vconn_unknown_sid)
{
    fixture f;
    sink k = {0};
    fixture_start(&f);
    relay(
        &f, &k,
        "GET /socket.io/?EIO=4&transport=polling&sid=other.xxxxxxxxxxxxxxxxxxxx HTTP/1.1\r\n\r\n");
    EIO_TEST_RUN_UNTIL(&f.net, k.ends == 1);
    ASSERT(has(&k, "Session ID unknown"));
    sb_buf_free(&k.out);
    fixture_stop(&f);
    return 0;
}
