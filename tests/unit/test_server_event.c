/* test_server_event.c: the adapter seam's cluster-wide operations, seen from an adapter.
 *
 * A real sio_server on 127.0.0.1 (port 0) with no client: the tests call what a cluster
 * adapter calls when another node's serverSideEmit arrives
 * (sio_namespace_receive_server_event) and check the reply contract (exactly once, with
 * the answer or NULL, before the adapter is freed), then the public calls on the local
 * adapter and on an adapter that lacks the new operations.
 */
#include "adapter.h"
#include "test.h"

#define TEST_HOST "127.0.0.1"

typedef struct fixture {
    uv_loop_t loop;
    sio_server *srv;
    sio_namespace *nsp;
} fixture;

static void fixture_start(fixture *f, sio_adapter_factory adapter, void *ud)
{
    eio_config cfg;
    char err[256];
    eio_config_defaults(&cfg);
    cfg.host = TEST_HOST;
    cfg.port = 0;
    ASSERT_EQ(uv_loop_init(&f->loop), 0);
    f->srv = sio_server_new(&f->loop, &cfg, NULL, err, sizeof(err));
    if (!f->srv)
        TEST_FAIL("sio_server_new: %s", err);
    if (adapter)
        sio_server_set_adapter(f->srv, adapter, ud);
    f->nsp = sio_server_of(f->srv, "/");
}

static void fixture_stop(fixture *f)
{
    sio_server_shutdown(f->srv, NULL, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    sio_server_free(f->srv);
    ASSERT_EQ(uv_loop_close(&f->loop), 0);
}

/* What the adapter's reply callback saw. */
typedef struct reply_log {
    int calls;
    char *answer;     /* JSON text of the answer's arguments; NULL: none will come */
    const int *freed; /* when set: the adapter must not be freed yet at reply time */
} reply_log;

static void on_reply(const sio_args *answer, void *ud)
{
    reply_log *log = ud;
    log->calls++;
    if (log->freed)
        ASSERT_EQ(*log->freed, 0);
    free(log->answer);
    log->answer = answer ? json_dumps(answer->json, JSON_COMPACT) : NULL;
}

/* Handlers: answer at once with ["pong", args...], or keep the ack in *ud. */
static void on_ping(sio_namespace *nsp, const char *event, const sio_args *args,
                    sio_node_reply *ack, void *ud)
{
    json_t *answer = json_pack("[s]", "pong");
    json_array_extend(answer, args->json);
    sio_args out = {answer, NULL, 0, NULL, 0};
    int *seen = ud;
    (*seen)++;
    ASSERT_STR_EQ(event, "ping");
    if (ack)
        ASSERT_EQ(sio_node_reply_send(ack, &out), SIOP_OK);
    json_decref(answer);
}

static void on_keep(sio_namespace *nsp, const char *event, const sio_args *args,
                    sio_node_reply *ack, void *ud)
{
    *(sio_node_reply **)ud = ack;
}

static void receive(fixture *f, const char *event, const char *args_json, reply_log *log)
{
    json_t *json = json_loads(args_json, 0, NULL);
    sio_args args = {json, NULL, 0, NULL, 0};
    sio_namespace_receive_server_event(f->nsp, event, &args, log ? on_reply : NULL, log);
    json_decref(json);
}

TEST_IMPL(server_event_reply_runs_once_with_the_answer)
{
    fixture f;
    reply_log log = {0};
    int seen = 0;
    fixture_start(&f, NULL, NULL);
    sio_namespace_on_server_event(f.nsp, "ping", on_ping, &seen);
    receive(&f, "ping", "[1,{\"a\":true}]", &log);
    ASSERT_EQ(seen, 1);
    ASSERT_EQ(log.calls, 1);
    ASSERT_STR_EQ(log.answer, "[\"pong\",1,{\"a\":true}]");
    receive(&f, "ping", "[]", NULL); /* no answer expected: the handler gets no ack */
    ASSERT_EQ(seen, 2);
    ASSERT_EQ(log.calls, 1);
    free(log.answer);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(server_event_without_handler_replies_none)
{
    fixture f;
    reply_log log = {0};
    int seen = 0;
    fixture_start(&f, NULL, NULL);
    receive(&f, "nobody", "[]", &log);
    ASSERT_EQ(log.calls, 1);
    ASSERT(log.answer == NULL);
    sio_namespace_on_server_event(f.nsp, "ping", on_ping, &seen);
    sio_namespace_on_server_event(f.nsp, "ping", NULL, NULL); /* removed again */
    receive(&f, "ping", "[]", &log);
    ASSERT_EQ(log.calls, 2);
    ASSERT_EQ(seen, 0);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(server_event_answer_later_or_never)
{
    fixture f;
    reply_log answered = {0}, dropped = {0};
    sio_node_reply *kept = NULL;
    fixture_start(&f, NULL, NULL);
    sio_namespace_on_server_event(f.nsp, "later", on_keep, &kept);
    receive(&f, "later", "[]", &answered);
    ASSERT(kept != NULL);
    ASSERT_EQ(answered.calls, 0);
    ASSERT_EQ(sio_node_reply_send(kept, NULL), SIOP_OK);
    ASSERT_EQ(answered.calls, 1);
    ASSERT_STR_EQ(answered.answer, "[]");
    receive(&f, "later", "[]", &dropped);
    sio_node_reply_free(kept);
    ASSERT_EQ(dropped.calls, 1);
    ASSERT(dropped.answer == NULL);
    free(answered.answer);
    fixture_stop(&f);
    return 0;
}

/* An adapter that is the local one but notes when it is freed. */
static void noting_free(sio_adapter *a);
static const sio_adapter_ops *noting_local_ops;
static sio_adapter_ops noting_ops;
static int *noting_freed;

static sio_adapter *noting_new(sio_namespace *nsp, void *ud)
{
    sio_adapter *a = sio_adapter_local_new(nsp, NULL);
    noting_local_ops = a->ops;
    noting_ops = *a->ops;
    noting_ops.free = noting_free;
    noting_freed = ud;
    a->ops = &noting_ops;
    return a;
}

static void noting_free(sio_adapter *a)
{
    (*noting_freed)++;
    noting_local_ops->free(a);
}

TEST_IMPL(server_event_pending_answer_ends_before_the_adapter)
{
    fixture f;
    int freed = 0;
    reply_log log = {0};
    sio_node_reply *kept = NULL;
    log.freed = &freed;
    fixture_start(&f, noting_new, &freed);
    sio_namespace_on_server_event(f.nsp, "later", on_keep, &kept);
    receive(&f, "later", "[]", &log);
    ASSERT(kept != NULL);
    fixture_stop(&f); /* the reply runs (with none) before the adapter's free */
    ASSERT_EQ(log.calls, 1);
    ASSERT(log.answer == NULL);
    ASSERT(freed > 0);
    ASSERT_EQ(sio_node_reply_send(kept, NULL), SIO_ECLOSED); /* inert, and freed */
    ASSERT_EQ(log.calls, 1);
    return 0;
}

/* ---- sending, and the other operations, on the local adapter ---------------------------- */

typedef struct result_log {
    int calls;
    int status;
    char *json;
} result_log;

static void on_result(int status, json_t *result, void *ud)
{
    result_log *log = ud;
    log->calls++;
    log->status = status;
    free(log->json);
    log->json = json_dumps(result, JSON_COMPACT);
}

TEST_IMPL(server_side_emit_alone_completes_at_once_without_local_handlers)
{
    fixture f;
    result_log log = {0};
    int seen = 0;
    json_t *json = json_pack("[i]", 1);
    json_t *not_array = json_object();
    sio_args args = {json, NULL, 0, NULL, 0}, bad = {not_array, NULL, 0, NULL, 0};
    fixture_start(&f, NULL, NULL);
    sio_namespace_on_server_event(f.nsp, "ping", on_ping, &seen);
    ASSERT_EQ(sio_namespace_server_side_emit(f.nsp, "ping", &args, 1000, on_result, &log), SIOP_OK);
    ASSERT_EQ(log.calls, 1);
    ASSERT_EQ(log.status, SIO_ACK_OK);
    ASSERT_STR_EQ(log.json, "[]");
    ASSERT_EQ(sio_namespace_server_side_emit(f.nsp, "ping", NULL, 0, NULL, NULL), SIOP_OK);
    ASSERT_EQ(seen, 0); /* as Node: the emitting node's own handlers never run */
    ASSERT_EQ(sio_namespace_server_side_emit(f.nsp, "disconnect", NULL, 1000, on_result, &log),
              SIO_EINVAL);
    ASSERT_EQ(sio_namespace_server_side_emit(f.nsp, "ping", NULL, 0, on_result, &log), SIO_EINVAL);
    ASSERT_EQ(sio_namespace_server_side_emit(f.nsp, "ping", &bad, 1000, on_result, &log),
              SIO_EINVAL);
    ASSERT_EQ(log.calls, 1);
    json_decref(json);
    json_decref(not_array);
    free(log.json);
    fixture_stop(&f);
    return 0;
}

TEST_IMPL(socket_operations_validate_and_fetch_nothing_without_sockets)
{
    fixture f;
    result_log log = {0};
    const char *rooms[] = {"a", NULL};
    const char *except[] = {"b"};
    sio_target to = {rooms, 1, except, 1}, broken = {rooms, 2, NULL, 0};
    fixture_start(&f, NULL, NULL);
    ASSERT_EQ(sio_namespace_sockets_join(f.nsp, NULL, rooms, 1), SIOP_OK);
    ASSERT_EQ(sio_namespace_sockets_join(f.nsp, &to, rooms, 0), SIOP_OK);
    ASSERT_EQ(sio_namespace_sockets_join(f.nsp, &to, rooms, 2), SIO_EINVAL);
    ASSERT_EQ(sio_namespace_sockets_leave(f.nsp, &broken, rooms, 1), SIO_EINVAL);
    ASSERT_EQ(sio_namespace_disconnect_sockets(f.nsp, &to, 1), SIOP_OK);
    ASSERT_EQ(sio_namespace_disconnect_sockets(f.nsp, &broken, 0), SIO_EINVAL);
    ASSERT_EQ(sio_namespace_fetch_sockets(f.nsp, &to, NULL, NULL), SIO_EINVAL);
    ASSERT_EQ(sio_namespace_fetch_sockets(f.nsp, &broken, on_result, &log), SIO_EINVAL);
    ASSERT_EQ(log.calls, 0);
    ASSERT_EQ(sio_namespace_fetch_sockets(f.nsp, NULL, on_result, &log), SIOP_OK);
    ASSERT_EQ(log.calls, 1);
    ASSERT_EQ(log.status, SIO_ACK_OK);
    ASSERT_STR_EQ(log.json, "[]");
    free(log.json);
    fixture_stop(&f);
    return 0;
}

/* An adapter written before the cluster-wide operations: the local one without them. */
static sio_adapter_ops older_ops;

static sio_adapter *older_new(sio_namespace *nsp, void *ud)
{
    sio_adapter *a = sio_adapter_local_new(nsp, NULL);
    older_ops = *a->ops;
    older_ops.add_sockets = NULL;
    older_ops.del_sockets = NULL;
    older_ops.disconnect_sockets = NULL;
    older_ops.fetch_sockets = NULL;
    older_ops.server_side_emit = NULL;
    a->ops = &older_ops;
    return a;
}

TEST_IMPL(socket_operations_an_adapter_lacks_fail_with_err)
{
    fixture f;
    result_log log = {0};
    const char *room = "a";
    fixture_start(&f, older_new, NULL);
    ASSERT_EQ(sio_namespace_sockets_join(f.nsp, NULL, &room, 1), SIOP_ERR);
    ASSERT_EQ(sio_namespace_sockets_leave(f.nsp, NULL, &room, 1), SIOP_ERR);
    ASSERT_EQ(sio_namespace_disconnect_sockets(f.nsp, NULL, 0), SIOP_ERR);
    ASSERT_EQ(sio_namespace_fetch_sockets(f.nsp, NULL, on_result, &log), SIOP_ERR);
    ASSERT_EQ(sio_namespace_server_side_emit(f.nsp, "x", NULL, 1000, on_result, &log), SIOP_ERR);
    ASSERT_EQ(log.calls, 0);
    fixture_stop(&f);
    return 0;
}
