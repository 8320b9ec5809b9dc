/* test_acks.c: acknowledgements (ack.c), both directions, on a real server and clients.
 *
 * Server to client, each emit expecting answers is one sio_ack_wait: it completes exactly
 * once (all answers in, a recipient gone, or its timer), never inside the emit call. The
 * clients here answer every event that asks for it with a JSON text of their own, or stay
 * silent. A cluster is played by an adapter that is the local one plus a second node the
 * test speaks for (sio_ack_wait_expect / sio_ack_wait_response, as the Redis adapter does).
 */
#include "sio_test.h"

#define ACK_TIMEOUT_MS       1000 /* long enough never to fire in a test that expects answers */
#define SHORT_ACK_TIMEOUT_MS 30   /* a timeout no answer is expected within */
/* a timeout the answers given come well within, even on a loaded machine, and the tests
 * still wait past */
#define ANSWER_WINDOW_MS    200
#define PAST_TIMEOUT_MS     90 /* run this long after a timeout to see nothing else fires */
#define SMALL_PENDING_LIMIT 2
#define PACKET_MAX          128

/* ---- clients that answer ---------------------------------------------------------- */

/* What one client does with the events it receives. */
typedef struct responder {
    const char *answer; /* JSON array to answer with; NULL: never answer */
    int asked;          /* events received that expect an answer */
    int64_t last_id;    /* the last one's ack id */
} responder;

/* The ack id of an EVENT packet ("42<id>[…]"), or SIOP_NO_ACK. */
static int64_t event_ack_id(const char *packet)
{
    siop_decoder d;
    siop_packet p;
    int64_t id = SIOP_NO_ACK;
    if (strncmp(packet, "42", 2) != 0)
        return SIOP_NO_ACK;
    siop_decoder_init(&d, SIOP_DEFAULT_MAX_ATTACHMENTS);
    siop_packet_init(&p);
    if (siop_decoder_feed_text(&d, packet + 1, strlen(packet + 1), &p) == SIOP_OK)
        id = p.id;
    siop_packet_clear(&p);
    siop_decoder_free(&d);
    return id;
}

static void send_ack(eio_test_conn *c, int64_t id, const char *args)
{
    char packet[PACKET_MAX];
    snprintf(packet, sizeof(packet), "43%" PRId64 "%s", id, args);
    eio_test_ws_send(c, packet);
}

static void respond(eio_test_conn *c, const char *packet, void *ud)
{
    responder *r = ud;
    int64_t id = event_ack_id(packet);
    if (id == SIOP_NO_ACK)
        return;
    r->asked++;
    r->last_id = id;
    if (r->answer)
        send_ack(c, id, r->answer);
}

static sio_test_socket *connect_responder(sio_test_fixture *f, responder *r, const char *answer)
{
    sio_test_socket *t = sio_test_connect(f);
    r->answer = answer;
    t->conn->on_packet = respond;
    t->conn->on_packet_ud = r;
    return t;
}

/* ---- what the callbacks saw ------------------------------------------------------- */

typedef struct ack_log {
    int calls;
    int status;
    char *json; /* the answer's arguments (single) or the responses (broadcast) */
} ack_log;

static void log_result(ack_log *log, int status, json_t *json)
{
    log->calls++;
    log->status = status;
    free(log->json);
    log->json = json ? json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

static void on_single(sio_socket *s, int status, const sio_args *args, void *ud)
{
    log_result(ud, status, args ? args->json : NULL);
}

static void on_broadcast(int status, json_t *responses, void *ud)
{
    log_result(ud, status, responses);
}

static void count_call(void *ud) { (*(int *)ud)++; }

/* A broadcast's responses hold each answer once, in whatever order they came. */
static void expect_responses(const ack_log *log, const char *const *want, size_t n)
{
    json_t *got = json_loads(log->json, 0, NULL);
    ASSERT(json_is_array(got));
    ASSERT_EQ(json_array_size(got), n);
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (size_t j = 0; j < n; j++)
            found |= strcmp(json_string_value(json_array_get(got, j)), want[i]) == 0;
        if (!found)
            TEST_FAIL("response \"%s\" missing from %s", want[i], log->json);
    }
    json_decref(got);
}

static int emit_question(sio_socket *s, uint32_t timeout_ms, ack_log *log)
{
    return sio_socket_emit_ack(s, "question", NULL, timeout_ms, on_single, log);
}

static int broadcast_question(sio_namespace *nsp, const sio_target *to, uint32_t timeout_ms,
                              ack_log *log)
{
    return sio_namespace_emit_ack(nsp, to, "question", NULL, timeout_ms, on_broadcast, log);
}

/* ---- one socket ------------------------------------------------------------------- */

TEST_IMPL(ack_single_answer_runs_the_callback_once)
{
    sio_test_fixture f;
    responder r = {0};
    ack_log log = {0};
    sio_test_start(&f, NULL);
    sio_test_socket *t = connect_responder(&f, &r, "[\"yes\",2]");
    ASSERT_EQ(emit_question(t->sock, ANSWER_WINDOW_MS, &log), SIOP_OK);
    ASSERT_EQ(log.calls, 0); /* never inside the emit */
    EIO_TEST_RUN_UNTIL(&f.net, log.calls > 0);
    ASSERT_EQ(log.status, SIO_ACK_OK);
    ASSERT_STR_EQ(log.json, "[\"yes\",2]");
    send_ack(t->conn, r.last_id, "[\"again\"]"); /* an id already answered is ignored */
    eio_test_run_for(&f.net, ANSWER_WINDOW_MS);  /* and the timer was stopped */
    ASSERT_EQ(log.calls, 1);
    ASSERT(sio_socket_connected(t->sock));
    sio_test_stop(&f);
    ASSERT_EQ(log.calls, 1);
    free(log.json);
    return 0;
}

TEST_IMPL(ack_single_timeout_fires_once)
{
    sio_test_fixture f;
    responder r = {0};
    ack_log log = {0};
    sio_test_start(&f, NULL);
    sio_test_socket *t = connect_responder(&f, &r, NULL);
    ASSERT_EQ(emit_question(t->sock, SHORT_ACK_TIMEOUT_MS, &log), SIOP_OK);
    EIO_TEST_RUN_UNTIL(&f.net, log.calls > 0 && r.asked > 0);
    ASSERT_EQ(log.status, SIO_ACK_TIMEOUT);
    ASSERT(log.json == NULL);
    send_ack(t->conn, r.last_id, "[\"late\"]"); /* too late: ignored */
    eio_test_run_for(&f.net, PAST_TIMEOUT_MS);
    ASSERT_EQ(log.calls, 1);
    ASSERT(sio_socket_connected(t->sock)); /* a timeout does not end the socket */
    sio_test_stop(&f);
    ASSERT_EQ(log.calls, 1);
    return 0;
}

TEST_IMPL(ack_single_without_timeout_ends_with_the_socket)
{
    sio_test_fixture f;
    responder r = {0};
    ack_log log = {0};
    sio_test_start(&f, NULL);
    sio_test_socket *t = connect_responder(&f, &r, NULL);
    ASSERT_EQ(emit_question(t->sock, 0, &log), SIOP_OK);
    EIO_TEST_RUN_UNTIL(&f.net, r.asked > 0);
    ASSERT_EQ(log.calls, 0);
    eio_test_drop(t->conn);
    EIO_TEST_RUN_UNTIL(&f.net, log.calls > 0);
    ASSERT_EQ(log.status, SIO_ACK_DISCONNECTED);
    ASSERT(log.json == NULL);
    sio_test_stop(&f);
    ASSERT_EQ(log.calls, 1);
    return 0;
}

TEST_IMPL(ack_pending_at_shutdown_ends_as_disconnected)
{
    sio_test_fixture f;
    responder r = {0};
    ack_log log = {0};
    sio_test_start(&f, NULL);
    sio_test_socket *t = connect_responder(&f, &r, NULL);
    ASSERT_EQ(emit_question(t->sock, 0, &log), SIOP_OK);
    ASSERT_EQ(emit_question(t->sock, ACK_TIMEOUT_MS, &log), SIOP_OK);
    sio_test_stop(&f); /* ends before the timer would have: the timer is closed too */
    ASSERT_EQ(log.calls, 2);
    ASSERT_EQ(log.status, SIO_ACK_DISCONNECTED);
    return 0;
}

TEST_IMPL(ack_pending_limit_refuses_further_emits)
{
    sio_test_fixture f;
    sio_options opts;
    responder r = {0};
    ack_log log = {0}, refused = {0};
    sio_options_defaults(&opts);
    opts.max_pending_acks = SMALL_PENDING_LIMIT;
    sio_test_start(&f, &opts);
    sio_test_socket *t = connect_responder(&f, &r, NULL);
    for (int i = 0; i < SMALL_PENDING_LIMIT; i++)
        ASSERT_EQ(emit_question(t->sock, SHORT_ACK_TIMEOUT_MS, &log), SIOP_OK);
    ASSERT_EQ(emit_question(t->sock, SHORT_ACK_TIMEOUT_MS, &refused), SIO_ELIMIT);
    EIO_TEST_RUN_UNTIL(&f.net, log.calls == SMALL_PENDING_LIMIT);
    ASSERT_EQ(log.status, SIO_ACK_TIMEOUT);
    ASSERT_EQ(emit_question(t->sock, SHORT_ACK_TIMEOUT_MS, &log), SIOP_OK); /* room again */
    EIO_TEST_RUN_UNTIL(&f.net,
                       log.calls == SMALL_PENDING_LIMIT + 1 && r.asked == SMALL_PENDING_LIMIT + 1);
    eio_test_run_for(&f.net, EIO_TEST_TICK_MS);
    ASSERT_EQ(r.asked, SMALL_PENDING_LIMIT + 1); /* the refused emit sent nothing */
    sio_test_stop(&f);
    ASSERT_EQ(refused.calls, 0);
    ASSERT_EQ(log.calls, SMALL_PENDING_LIMIT + 1);
    return 0;
}

/* ---- broadcasts ------------------------------------------------------------------- */

TEST_IMPL(ack_broadcast_collects_every_answer)
{
    static const char *const want[] = {"a", "b", "c"};
    sio_test_fixture f;
    responder r[3] = {{0}};
    ack_log log = {0};
    sio_test_start(&f, NULL);
    connect_responder(&f, &r[0], "[\"a\"]");
    connect_responder(&f, &r[1], "[\"b\",\"only the first argument counts\"]");
    connect_responder(&f, &r[2], "[\"c\"]");
    ASSERT_EQ(broadcast_question(f.nsp, NULL, ACK_TIMEOUT_MS, &log), SIOP_OK);
    ASSERT_EQ(log.calls, 0);
    EIO_TEST_RUN_UNTIL(&f.net, log.calls > 0);
    ASSERT_EQ(log.status, SIO_ACK_OK);
    expect_responses(&log, want, 3);
    sio_test_stop(&f);
    ASSERT_EQ(log.calls, 1);
    free(log.json);
    return 0;
}

TEST_IMPL(ack_broadcast_timeout_keeps_the_partial_responses)
{
    static const char *const want[] = {"a", "b"};
    sio_test_fixture f;
    responder r[3] = {{0}};
    ack_log log = {0};
    sio_test_start(&f, NULL);
    connect_responder(&f, &r[0], "[\"a\"]");
    connect_responder(&f, &r[1], NULL);
    connect_responder(&f, &r[2], "[\"b\"]");
    ASSERT_EQ(broadcast_question(f.nsp, NULL, ANSWER_WINDOW_MS, &log), SIOP_OK);
    EIO_TEST_RUN_UNTIL(&f.net, log.calls > 0 && r[1].asked > 0);
    ASSERT_EQ(log.status, SIO_ACK_TIMEOUT);
    expect_responses(&log, want, 2);
    send_ack(f.sockets[1].conn, r[1].last_id, "[\"late\"]");
    eio_test_run_for(&f.net, PAST_TIMEOUT_MS);
    ASSERT_EQ(log.calls, 1);
    sio_test_stop(&f);
    ASSERT_EQ(log.calls, 1);
    free(log.json);
    return 0;
}

TEST_IMPL(ack_broadcast_recipient_leaving_is_disconnected)
{
    static const char *const want[] = {"a"};
    sio_test_fixture f;
    responder r[2] = {{0}};
    ack_log log = {0};
    sio_test_start(&f, NULL);
    connect_responder(&f, &r[0], "[\"a\"]");
    sio_test_socket *silent = connect_responder(&f, &r[1], NULL);
    ASSERT_EQ(broadcast_question(f.nsp, NULL, ACK_TIMEOUT_MS, &log), SIOP_OK);
    EIO_TEST_RUN_UNTIL(&f.net, r[1].asked > 0);
    eio_test_drop(silent->conn);
    EIO_TEST_RUN_UNTIL(&f.net, log.calls > 0);
    ASSERT_EQ(log.status, SIO_ACK_DISCONNECTED);
    expect_responses(&log, want, 1);
    sio_test_stop(&f);
    ASSERT_EQ(log.calls, 1);
    free(log.json);
    return 0;
}

TEST_IMPL(ack_broadcast_to_nobody_completes_after_the_call)
{
    sio_test_fixture f;
    responder r = {0};
    ack_log log = {0};
    const char *room = "empty";
    sio_target to = {&room, 1, NULL, 0};
    sio_test_start(&f, NULL);
    connect_responder(&f, &r, "[\"not asked\"]");
    ASSERT_EQ(broadcast_question(f.nsp, &to, ACK_TIMEOUT_MS, &log), SIOP_OK);
    ASSERT_EQ(log.calls, 0);
    EIO_TEST_RUN_UNTIL(&f.net, log.calls > 0);
    ASSERT_EQ(log.status, SIO_ACK_OK);
    ASSERT_STR_EQ(log.json, "[]");
    ASSERT_EQ(r.asked, 0);
    sio_test_stop(&f);
    ASSERT_EQ(log.calls, 1);
    free(log.json);
    return 0;
}

TEST_IMPL(ack_wait_cancel_runs_on_done_not_the_callback)
{
    sio_test_fixture f;
    ack_log log = {0};
    int done = 0;
    sio_test_start(&f, NULL);
    sio_ack_wait *op = sio_ack_wait_new_broadcast(f.nsp, on_broadcast, &log);
    sio_ack_wait_on_done(op, count_call, &done);
    sio_ack_wait_cancel(op);
    ASSERT_EQ(done, 1);
    eio_test_run_for(&f.net, EIO_TEST_TICK_MS);
    ASSERT_EQ(log.calls, 0);
    sio_test_stop(&f);
    ASSERT_EQ(done, 1);
    return 0;
}

/* ---- relays: a broadcast another node asked for ------------------------------------ */

typedef struct relay_log {
    int answers;
    int done;
    char *last; /* the last answer's arguments */
} relay_log;

static void on_relay(const sio_args *answer, void *ud)
{
    relay_log *log = ud;
    log->answers++;
    free(log->last);
    log->last = json_dumps(answer->json, JSON_COMPACT);
}

static void on_relay_done(void *ud)
{
    relay_log *log = ud;
    log->done++;
}

/* Delivers "question" to everyone with the local adapter, as the Redis adapter does. */
static sio_ack_wait *relay_question(sio_test_fixture *f, relay_log *log)
{
    static const sio_target everyone = {NULL, 0, NULL, 0};
    static const sio_args none = {NULL, NULL, 0, NULL, 0};
    sio_broadcast b = {"question", &none, &everyone, 0};
    sio_adapter *a = f->nsp->adapter;
    sio_ack_wait *op = sio_ack_wait_new_relay(f->nsp, on_relay, log);
    sio_ack_wait_on_done(op, on_relay_done, log);
    ASSERT_EQ(a->ops->broadcast_ack(a, &b, op), SIOP_OK);
    return op;
}

TEST_IMPL(ack_relay_passes_each_answer_on)
{
    sio_test_fixture f;
    responder r[2] = {{0}};
    relay_log log = {0};
    sio_test_start(&f, NULL);
    connect_responder(&f, &r[0], "[\"a\"]");
    connect_responder(&f, &r[1], "[\"a\"]");
    sio_ack_wait *op = relay_question(&f, &log);
    ASSERT_EQ(sio_ack_wait_clients(op), 2);
    sio_ack_wait_arm(op, ACK_TIMEOUT_MS);
    EIO_TEST_RUN_UNTIL(&f.net, log.done > 0);
    ASSERT_EQ(log.answers, 2);
    ASSERT_STR_EQ(log.last, "[\"a\"]");
    sio_test_stop(&f);
    ASSERT_EQ(log.done, 1);
    free(log.last);
    return 0;
}

TEST_IMPL(ack_relay_ends_at_its_timeout)
{
    sio_test_fixture f;
    responder r[2] = {{0}};
    relay_log log = {0};
    sio_test_start(&f, NULL);
    connect_responder(&f, &r[0], "[\"a\"]");
    connect_responder(&f, &r[1], NULL);
    sio_ack_wait *op = relay_question(&f, &log);
    sio_ack_wait_arm(op, ANSWER_WINDOW_MS);
    EIO_TEST_RUN_UNTIL(&f.net, log.done > 0 && r[1].asked > 0);
    ASSERT_EQ(log.answers, 1);
    send_ack(f.sockets[1].conn, r[1].last_id, "[\"late\"]");
    eio_test_run_for(&f.net, PAST_TIMEOUT_MS);
    ASSERT_EQ(log.answers, 1);
    sio_test_stop(&f);
    ASSERT_EQ(log.done, 1);
    free(log.last);
    return 0;
}

/* ---- answers from other nodes ----------------------------------------------------- */

/* The local adapter as one of two nodes: a broadcast with acks also waits for the other
 * node, whose op the test gets in *other_node_op (NULL again once the op has ended). */
#define NODES 2
static sio_adapter_ops two_node_ops;
static const sio_adapter_ops *local_ops;
static sio_ack_wait **other_node_op;

static void forget_op(void *ud) { *(sio_ack_wait **)ud = NULL; }

static int two_node_broadcast_ack(sio_adapter *a, const sio_broadcast *b, sio_ack_wait *op)
{
    int rc = local_ops->broadcast_ack(a, b, op);
    if (rc != SIOP_OK)
        return rc;
    sio_ack_wait_expect_nodes(op, NODES);
    *other_node_op = op;
    sio_ack_wait_on_done(op, forget_op, other_node_op);
    return rc;
}

static sio_adapter *two_node_new(sio_namespace *nsp, void *ud)
{
    sio_adapter *a = sio_adapter_local_new(nsp, NULL);
    local_ops = a->ops;
    two_node_ops = *a->ops;
    two_node_ops.broadcast_ack = two_node_broadcast_ack;
    a->ops = &two_node_ops;
    other_node_op = ud;
    return a;
}

TEST_IMPL(ack_broadcast_waits_for_the_other_node)
{
    static const char *const want[] = {"here", "there"};
    sio_test_fixture f;
    responder r = {0};
    ack_log log = {0};
    sio_ack_wait *op = NULL;
    json_t *there = json_string("there");
    sio_test_start(&f, NULL);
    sio_server_set_adapter(f.srv, two_node_new, &op);
    connect_responder(&f, &r, "[\"here\"]");
    ASSERT_EQ(broadcast_question(f.nsp, NULL, ACK_TIMEOUT_MS, &log), SIOP_OK);
    ASSERT(op != NULL);
    EIO_TEST_RUN_UNTIL(&f.net, r.asked > 0);
    eio_test_run_for(&f.net, EIO_TEST_TICK_MS * 4); /* the local answer comes in */
    ASSERT_EQ(log.calls, 0);                        /* the other node has not reported */
    sio_ack_wait_expect(op, 1);
    ASSERT_EQ(sio_ack_wait_clients(op), 2);
    sio_ack_wait_response(op, there);
    EIO_TEST_RUN_UNTIL(&f.net, log.calls > 0);
    ASSERT_EQ(log.status, SIO_ACK_OK);
    expect_responses(&log, want, 2);
    ASSERT(op == NULL);
    sio_test_stop(&f);
    ASSERT_EQ(log.calls, 1);
    json_decref(there);
    free(log.json);
    return 0;
}

TEST_IMPL(ack_broadcast_silent_node_times_out)
{
    static const char *const want[] = {"here"};
    sio_test_fixture f;
    responder r = {0};
    ack_log log = {0};
    sio_ack_wait *op = NULL;
    sio_test_start(&f, NULL);
    sio_server_set_adapter(f.srv, two_node_new, &op);
    connect_responder(&f, &r, "[\"here\"]");
    ASSERT_EQ(broadcast_question(f.nsp, NULL, ANSWER_WINDOW_MS, &log), SIOP_OK);
    EIO_TEST_RUN_UNTIL(&f.net, log.calls > 0);
    ASSERT_EQ(log.status, SIO_ACK_TIMEOUT);
    expect_responses(&log, want, 1);
    ASSERT(op == NULL);
    eio_test_run_for(&f.net, PAST_TIMEOUT_MS);
    sio_test_stop(&f);
    ASSERT_EQ(log.calls, 1);
    free(log.json);
    return 0;
}

/* ---- client to server ------------------------------------------------------------- */

static void answer_now(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack,
                       void *ud)
{
    json_t *answer = json_pack("[s]", "pong");
    sio_args out = {answer, NULL, 0, NULL, 0};
    ASSERT(ack != NULL);
    ASSERT_EQ(sio_ack_send(ack, &out), SIOP_OK);
    json_decref(answer);
}

static void keep_ack(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack, void *ud)
{
    *(sio_ack **)ud = ack;
}

TEST_IMPL(ack_to_client_carries_the_handler_answer)
{
    sio_test_fixture f;
    sio_test_start(&f, NULL);
    sio_namespace_on(f.nsp, "ping", answer_now, NULL);
    sio_test_socket *t = sio_test_connect(&f);
    eio_test_ws_send(t->conn, "427[\"ping\"]");
    ASSERT_STR_EQ(eio_test_ws_wait_packets(t->conn, 3), "437[\"pong\"]");
    sio_test_stop(&f);
    return 0;
}

TEST_IMPL(ack_to_client_after_it_left_is_eclosed)
{
    sio_test_fixture f;
    sio_ack *kept = NULL;
    sio_test_start(&f, NULL);
    sio_namespace_on(f.nsp, "later", keep_ack, &kept);
    sio_test_socket *t = sio_test_connect(&f);
    eio_test_ws_send(t->conn, "421[\"later\"]");
    EIO_TEST_RUN_UNTIL(&f.net, kept != NULL);
    eio_test_drop(t->conn);
    EIO_TEST_RUN_UNTIL(&f.net, f.disconnects > 0);
    ASSERT(sio_ack_socket(kept) == t->sock);          /* the ack keeps its socket alive */
    ASSERT_EQ(sio_ack_send(kept, NULL), SIO_ECLOSED); /* and frees itself all the same */
    sio_test_stop(&f);
    return 0;
}
