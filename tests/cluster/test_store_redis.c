/* test_store_redis.c: server/helpdesk/store_redis and commands against a real redis-server.
 *
 *   test_store_redis <name>             runs one test of the TESTS table
 *   test_store_redis contract <case>    runs one case of tests/store/store_contract.c
 *   test_store_redis --list             prints the test names
 *
 * Each test starts its own `redis-server` (path in $SB_REDIS_SERVER, else from PATH) on a
 * free loopback port, as a child that dies with the test (PDEATHSIG) and is killed at the
 * end. Every wait is bounded: run_until() takes a deadline, and an alarm ends a test that
 * hangs anywhere else. Checks from outside go through a blocking hiredis connection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "../store/store_contract.h"
#include "../unit/test.h"
#include "commands.h"
#include "message.h"
#include "store_redis.h"

#define TEST_ALARM_S     55    /* a test that runs longer than this is killed */
#define REDIS_START_MS   5000  /* longest wait for a started redis-server to answer */
#define REDIS_PORT_TRIES 5     /* free ports tried, in case another test takes one first */
#define WAIT_READY_MS    8000  /* longest wait for a store to connect */
#define WAIT_OPS_MS      20000 /* longest wait for a batch of operations */
#define SHORT_TIMEOUT_MS 500   /* command timeout of the store that sees Redis hang */
#define SHORT_TTL_MS     600   /* presence ttl of the heartbeat test */
#define CLAIM_IDLE_MS    300   /* commands pending this long are reclaimed (tests) */
#define CLAIM_EVERY_MS   100

#define N_AGENTS          30
#define AGENT_MAX_CHATS   3
#define N_CONVERSATIONS   200
#define MAX_ROUNDS        200
#define N_SESSIONS_EVENTS 3
#define MSGS_PER_SESSION  50
#define N_COMMANDS        100
#define N_DEAD_COMMANDS   5
#define RETRIED_COMMAND   1000 /* the "i" of the command a consumer retries once */
#define N_CLOSE_RACE      20
#define THROUGHPUT_POSTS  10000
#define THROUGHPUT_CHATS  100

/* ---- redis-server child processes (as in test_redis_conn.c) ---- */

#define MAX_CHILDREN 4
static pid_t children[MAX_CHILDREN];
static char data_dir[64]; /* the AOF directory of a test that restarts Redis, or "" */

static void kill_children(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
    if (data_dir[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", data_dir);
        (void)!system(cmd);
        data_dir[0] = '\0';
    }
}

static void on_alarm(int sig)
{
    static const char msg[] = "test timed out\n";
    (void)sig;
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] > 0)
            kill(children[i], SIGKILL);
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT(fd >= 0);
    ASSERT(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    ASSERT(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static redisContext *sync_connect(int port)
{
    struct timeval tv = {2, 0};
    redisContext *ctx = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (ctx == NULL || ctx->err) {
        if (ctx != NULL)
            redisFree(ctx);
        return NULL;
    }
    redisSetTimeout(ctx, tv);
    return ctx;
}

/* One command from outside; the caller frees the reply. */
static redisReply *sync_command(int port, const char *fmt, ...)
{
    redisContext *ctx = sync_connect(port);
    ASSERT(ctx != NULL);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    redisFree(ctx);
    ASSERT(r != NULL);
    return r;
}

static long long sync_integer(int port, const char *fmt, const char *arg)
{
    redisReply *r = sync_command(port, fmt, arg);
    ASSERT(r->type == REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* The process id of the Redis answering on port, or -1 when none answers. */
static long redis_pid_on(int port)
{
    redisContext *ctx = sync_connect(port);
    if (ctx == NULL)
        return -1;
    redisReply *r = redisCommand(ctx, "INFO server");
    long pid = -1;
    const char *at = NULL;
    if (r != NULL && r->type == REDIS_REPLY_STRING)
        at = strstr(r->str, "process_id:");
    if (at != NULL)
        pid = strtol(at + strlen("process_id:"), NULL, 10);
    if (r != NULL)
        freeReplyObject(r);
    redisFree(ctx);
    return pid;
}

static void child_forget(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == pid)
            children[i] = 0;
}

/* Starts redis-server on port with extra arguments (NULL-terminated) and waits until it
 * answers; -1 when it exits first. The answer must come from this child: free_port()
 * lets the port go before Redis binds it, so under ctest -j another test's Redis may
 * hold it. */
static pid_t redis_try_start(int port, const char *const *extra)
{
    const char *bin = getenv("SB_REDIS_SERVER") ? getenv("SB_REDIS_SERVER") : "redis-server";
    char port_s[16];
    const char *argv[32] = {bin, "--port",       port_s, "--bind",     "127.0.0.1", "--save",
                            "",  "--appendonly", "no",   "--loglevel", "warning"};
    int argc = 11;
    snprintf(port_s, sizeof port_s, "%d", port);
    for (; extra != NULL && *extra != NULL; extra++)
        argv[argc++] = *extra;
    argv[argc] = NULL;
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        (void)!freopen("/dev/null", "w", stdout);
        execvp(bin, (char *const *)argv);
        _exit(127);
    }
    int slot = 0;
    while (slot < MAX_CHILDREN && children[slot] != 0)
        slot++;
    ASSERT(slot < MAX_CHILDREN);
    children[slot] = pid;
    for (int waited = 0; waited < REDIS_START_MS; waited += 10) {
        if (redis_pid_on(port) == pid)
            return pid;
        if (waitpid(pid, NULL, WNOHANG) != 0) {
            child_forget(pid);
            return -1;
        }
        sleep_ms(10);
    }
    TEST_FAIL("redis-server on port %d did not start", port);
}

static pid_t redis_start(int port, const char *const *extra)
{
    pid_t pid = redis_try_start(port, extra);
    if (pid < 0)
        TEST_FAIL("redis-server on port %d exited", port);
    return pid;
}

static void redis_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    child_forget(pid);
}

/* ---- the fixture: Redis, a loop, and bounded waits ---- */

typedef struct fixture {
    uv_loop_t loop;
    uv_timer_t tick; /* wakes run_until() */
    int port;
    char url[64];
    pid_t redis;
} fixture;

static void on_tick(uv_timer_t *t) { (void)t; }

static void loop_init(uv_loop_t *loop, uv_timer_t *tick)
{
    ASSERT(uv_loop_init(loop) == 0);
    uv_timer_init(loop, tick);
    uv_timer_start(tick, on_tick, 5, 5);
    uv_unref((uv_handle_t *)tick);
    loop->data = tick;
}

/* Closes the loop, checking that nothing was left open on it. */
static void loop_close(uv_loop_t *loop, uv_timer_t *tick)
{
    uv_close((uv_handle_t *)tick, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(loop), 0);
}

static void fixture_start(fixture *f, const char *const *redis_args)
{
    memset(f, 0, sizeof *f);
    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    alarm(TEST_ALARM_S);
    loop_init(&f->loop, &f->tick);
    for (int i = 0; i < REDIS_PORT_TRIES && f->redis <= 0; i++) {
        f->port = free_port();
        f->redis = redis_try_start(f->port, redis_args);
    }
    ASSERT(f->redis > 0);
    snprintf(f->url, sizeof f->url, "redis://127.0.0.1:%d", f->port);
}

static void fixture_close(fixture *f)
{
    loop_close(&f->loop, &f->tick);
    kill_children();
}

/* One turn of loop, which the tick handle (unreferenced between waits, so that closing
 * can finish) wakes within milliseconds. */
static void run_once(uv_loop_t *loop)
{
    uv_handle_t *tick = loop->data;
    uv_ref(tick);
    uv_run(loop, UV_RUN_ONCE);
    uv_unref(tick);
    uv_update_time(loop);
}

/* Runs loop until cond(arg) holds or ms pass; returns whether it held. */
static int run_until(uv_loop_t *loop, int (*cond)(void *), void *arg, uint64_t ms)
{
    uv_update_time(loop);
    uint64_t deadline = uv_now(loop) + ms;
    while (!cond(arg) && uv_now(loop) < deadline)
        run_once(loop);
    return cond(arg);
}

static int never(void *arg)
{
    (void)arg;
    return 0;
}

static void run_for(uv_loop_t *loop, uint64_t ms) { run_until(loop, never, NULL, ms); }

/* Runs loop until *counter reaches want. */
static void wait_count(uv_loop_t *loop, int *counter, int want, uint64_t ms)
{
    uv_update_time(loop);
    uint64_t deadline = uv_now(loop) + ms;
    while (*counter < want && uv_now(loop) < deadline)
        run_once(loop);
    if (*counter < want)
        TEST_FAIL("%d of %d callbacks within %" PRIu64 " ms", *counter, want, ms);
}

/* ---- stores ---- */

static int store_is_ready(void *st)
{
    const char *reason = NULL;
    return hd_store_redis_ready(&reason, st);
}

static hd_store *store_open(uv_loop_t *loop, const char *url, const char *node, uint32_t ttl_ms,
                            uint32_t timeout_ms)
{
    hd_redis_config cfg = {
        .url = url, .node_id = node, .presence_ttl_ms = ttl_ms, .command_timeout_ms = timeout_ms};
    char err[256];
    hd_store *st = hd_store_redis_new(loop, &cfg, err, sizeof err);
    if (st == NULL)
        TEST_FAIL("hd_store_redis_new: %s", err);
    if (!run_until(loop, store_is_ready, st, WAIT_READY_MS))
        TEST_FAIL("the store did not connect");
    return st;
}

static void on_done(void *ud) { (*(int *)ud)++; }

static void store_close(uv_loop_t *loop, hd_store *st)
{
    int closed = 0;
    st->ops->close(st, on_done, &closed);
    wait_count(loop, &closed, 1, WAIT_READY_MS);
    ASSERT_EQ(closed, 1);
}

/* ---- operation results ---- */

typedef struct box {
    int called;
    int status, duplicate, created;
    json_t *message, *conversation, *list;
    char previous_agent[HD_ID_MAX + 1];
    int *counter; /* incremented too, when set: waits for many boxes at once */
} box;

static void on_box(const hd_result *r, void *ud)
{
    box *b = ud;
    b->called++;
    b->status = r->status;
    b->duplicate = r->duplicate;
    b->created = r->created;
    b->message = json_incref(r->message);
    b->conversation = json_incref(r->conversation);
    b->list = json_incref(r->list);
    snprintf(b->previous_agent, sizeof b->previous_agent, "%s",
             r->previous_agent != NULL ? r->previous_agent : "");
    if (b->counter != NULL)
        (*b->counter)++;
}

static void box_clear(box *b)
{
    json_decref(b->message);
    json_decref(b->conversation);
    json_decref(b->list);
    int *counter = b->counter;
    memset(b, 0, sizeof *b);
    b->counter = counter;
}

static int box_called(void *b) { return ((box *)b)->called > 0; }

/* Waits for b, which must not have been called before its op returned. */
static int wait_box(uv_loop_t *loop, box *b)
{
    if (!run_until(loop, box_called, b, WAIT_OPS_MS))
        TEST_FAIL("no callback within %d ms", WAIT_OPS_MS);
    ASSERT_EQ(b->called, 1);
    return b->status;
}

static const char *jstr(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL)
        TEST_FAIL("no string \"%s\"", key);
    return s;
}

static json_int_t jint(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        TEST_FAIL("no integer \"%s\"", key);
    return json_integer_value(v);
}

static const char *agent_of(const json_t *conv)
{
    return jstr(json_object_get(conv, "agent"), "id");
}

/* Posts p with fresh ids, as the application does (p->new_chat_id: set when NULL); the
 * callback never runs before this returns. */
static void post_send(hd_store *st, hd_post *p, box *b)
{
    char msg_id[HD_ULID_LEN + 1], chat_id[HD_CHAT_ID_LEN + 1];
    hd_ulid(p->now_ms, msg_id);
    hd_chat_id(p->now_ms, chat_id);
    p->msg_id = msg_id;
    if (p->new_chat_id == NULL)
        p->new_chat_id = chat_id;
    st->ops->post(st, p, on_box, b);
    ASSERT_EQ(b->called, 0);
    p->msg_id = NULL;
    if (p->new_chat_id == chat_id)
        p->new_chat_id = NULL;
}

/* A customer's post (chat NULL: its open conversation or a new one). */
static void post_async(hd_store *st, const char *session, const char *chat, const char *cmid,
                       box *b)
{
    hd_post p = {.ticket_chat_id = chat,
                 .session_id = session,
                 .access = {.session_id = session},
                 .sender_type = "customer",
                 .sender_id = session,
                 .message = "hello",
                 .client_msg_id = cmid,
                 .now_ms = hd_now_ms()};
    post_send(st, &p, b);
}

static int post_wait(uv_loop_t *loop, hd_store *st, const char *session, const char *chat,
                     const char *cmid, box *b)
{
    box_clear(b);
    post_async(st, session, chat, cmid, b);
    return wait_box(loop, b);
}

static hd_agent agent_named(const char *id, int max_chats)
{
    return (hd_agent){.id = id, .name = id, .max_chats = max_chats};
}

static void presence_wait(uv_loop_t *loop, hd_store *st, const hd_agent *a, int delta, int online)
{
    box b = {0};
    st->ops->agent_presence(st, a, delta, online, hd_now_ms(), on_box, &b);
    ASSERT_EQ(wait_box(loop, &b), HD_OK);
    box_clear(&b);
}

static int route_wait(uv_loop_t *loop, hd_store *st, box *b)
{
    box_clear(b);
    st->ops->route(st, hd_now_ms(), on_box, b);
    return wait_box(loop, b);
}

static int history_wait(uv_loop_t *loop, hd_store *st, const char *chat, box *b)
{
    box_clear(b);
    st->ops->history(st, chat, NULL, 0, SIZE_MAX, on_box, b);
    return wait_box(loop, b);
}

/* ---- hd:events, read from outside ---- */

typedef void (*event_fn)(const char *type, json_t *data, void *ud);

/* Calls fn for every entry of hd:events, oldest first. */
static size_t events_each(int port, event_fn fn, void *ud)
{
    redisReply *r = sync_command(port, "XRANGE hd:events - +");
    ASSERT(r->type == REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *fields = r->element[i]->element[1];
        ASSERT(fields->elements == 4);
        ASSERT(strcmp(fields->element[0]->str, "type") == 0);
        ASSERT(strcmp(fields->element[2]->str, "data") == 0);
        json_t *data = json_loads(fields->element[3]->str, 0, NULL);
        ASSERT(data != NULL);
        fn(fields->element[1]->str, data, ud);
        json_decref(data);
    }
    size_t n = r->elements;
    freeReplyObject(r);
    return n;
}

/* ---- (a) the store contract, case by case ---- */

static hd_store *make_contract_store(void *ud)
{
    fixture *f = ud;
    redisReply *r = sync_command(f->port, "FLUSHALL");
    freeReplyObject(r);
    return store_open(&f->loop, f->url, "contract", 0, 0);
}

static void append_event(const char *type, json_t *data, void *ud)
{
    json_array_append_new(ud, json_pack("{s:s,s:O}", "type", type, "data", data));
}

/* hd:events as the contract reads events. */
static json_t *contract_events(void *ud)
{
    fixture *f = ud;
    json_t *events = json_array();
    events_each(f->port, append_event, events);
    return events;
}

static void run_contract_case(const char *name)
{
    fixture f;
    fixture_start(&f, NULL);
    ASSERT_EQ(hd_store_contract_run(name, make_contract_store, contract_events, &f, &f.loop), 0);
    fixture_close(&f);
}

/* ---- (b) two nodes, one Redis: no double assignment, no agent above max_chats ---- */

typedef struct replay {
    int assigned[N_CONVERSATIONS]; /* "assigned" events per conversation */
    char chats[N_CONVERSATIONS][HD_ID_MAX + 1];
    int open[N_AGENTS]; /* replayed load per agent */
    int max_open;
    int n_assigned, n_closed;
} replay;

static int chat_index(const replay *rp, const char *chat)
{
    for (int i = 0; i < N_CONVERSATIONS; i++)
        if (strcmp(rp->chats[i], chat) == 0)
            return i;
    TEST_FAIL("unknown conversation %s", chat);
}

static int agent_index(const char *id)
{
    int n = -1;
    ASSERT(sscanf(id, "a-%d", &n) == 1 && n >= 0 && n < N_AGENTS);
    return n;
}

/* The stream is the order Redis ran the scripts in: replaying it shows every agent's load
 * at every moment, which no callback order can. */
static void replay_event(const char *type, json_t *data, void *ud)
{
    replay *rp = ud;
    if (strcmp(type, "assigned") == 0) {
        rp->assigned[chat_index(rp, jstr(data, "ticket_chat_id"))]++;
        int a = agent_index(agent_of(data));
        if (++rp->open[a] > rp->max_open)
            rp->max_open = rp->open[a];
        rp->n_assigned++;
    } else if (strcmp(type, "closed") == 0) {
        rp->open[agent_index(agent_of(data))]--;
        rp->n_closed++;
    }
}

typedef struct two_nodes {
    fixture f;
    hd_store *st[2];
    char agent_ids[N_AGENTS][8];
    hd_agent agents[N_AGENTS];
    replay rp;
    box posts[N_CONVERSATIONS];
    char pending[N_CONVERSATIONS][HD_ID_MAX + 1]; /* assigned, not closed yet */
    char pending_agent[N_CONVERSATIONS][8];
    int n_pending;
    int seen[N_CONVERSATIONS]; /* in some route list */
    int n_routed;
} two_nodes;

static void two_nodes_agents_online(two_nodes *t)
{
    for (int i = 0; i < N_AGENTS; i++) {
        snprintf(t->agent_ids[i], sizeof t->agent_ids[i], "a-%d", i);
        t->agents[i] = agent_named(t->agent_ids[i], AGENT_MAX_CHATS);
        presence_wait(&t->f.loop, t->st[i % 2], &t->agents[i], 1, 1);
    }
}

static void two_nodes_post_all(two_nodes *t)
{
    int done = 0;
    char sessions[N_CONVERSATIONS][16];
    for (int i = 0; i < N_CONVERSATIONS; i++) {
        snprintf(sessions[i], sizeof sessions[i], "s-%d", i);
        t->posts[i].counter = &done;
        post_async(t->st[i % 2], sessions[i], NULL, NULL, &t->posts[i]);
    }
    wait_count(&t->f.loop, &done, N_CONVERSATIONS, WAIT_OPS_MS);
    for (int i = 0; i < N_CONVERSATIONS; i++) {
        ASSERT_EQ(t->posts[i].status, HD_OK);
        ASSERT_EQ(t->posts[i].created, 1);
        snprintf(t->rp.chats[i], sizeof t->rp.chats[i], "%s",
                 jstr(t->posts[i].conversation, "ticket_chat_id"));
        box_clear(&t->posts[i]);
    }
}

static void two_nodes_take_list(two_nodes *t, const json_t *list)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *conv = json_array_get(list, i);
        int c = chat_index(&t->rp, jstr(conv, "ticket_chat_id"));
        ASSERT_EQ(t->seen[c], 0); /* never assigned twice */
        t->seen[c] = 1;
        t->n_routed++;
        snprintf(t->pending[t->n_pending], sizeof t->pending[0], "%s", t->rp.chats[c]);
        snprintf(t->pending_agent[t->n_pending++], sizeof t->pending_agent[0], "%s",
                 agent_of(conv));
    }
}

/* One round: every conversation assigned so far closes while both nodes route. */
static void two_nodes_round(two_nodes *t)
{
    int done = 0, n = t->n_pending;
    box *closes = calloc((size_t)n + 2, sizeof *closes);
    box *routes = closes + n;
    for (int i = 0; i < n; i++) {
        closes[i].counter = &done;
        hd_access who = {.agent_id = t->pending_agent[i]};
        t->st[i % 2]->ops->close_chat(t->st[i % 2], t->pending[i], &who, "agent", "agent",
                                      hd_now_ms(), on_box, &closes[i]);
    }
    for (int s = 0; s < 2; s++) {
        routes[s].counter = &done;
        t->st[s]->ops->route(t->st[s], hd_now_ms(), on_box, &routes[s]);
    }
    wait_count(&t->f.loop, &done, n + 2, WAIT_OPS_MS);
    t->n_pending = 0;
    for (int i = 0; i < n; i++) {
        ASSERT_EQ(closes[i].status, HD_OK);
        box_clear(&closes[i]);
    }
    for (int s = 0; s < 2; s++) {
        ASSERT_EQ(routes[s].status, HD_OK);
        two_nodes_take_list(t, routes[s].list);
        box_clear(&routes[s]);
    }
    free(closes);
}

static void test_two_nodes_never_assign_twice(void)
{
    static two_nodes t;
    memset(&t, 0, sizeof t);
    fixture_start(&t.f, NULL);
    t.st[0] = store_open(&t.f.loop, t.f.url, "node-a", 0, 0);
    t.st[1] = store_open(&t.f.loop, t.f.url, "node-b", 0, 0);
    two_nodes_agents_online(&t);
    two_nodes_post_all(&t);
    for (int round = 0; t.n_routed < N_CONVERSATIONS || t.n_pending > 0; round++) {
        ASSERT(round < MAX_ROUNDS);
        two_nodes_round(&t);
    }
    ASSERT_EQ(sync_integer(t.f.port, "ZCARD %s", "hd:queue"), 0);
    for (int i = 0; i < N_AGENTS; i++) {
        char key[32];
        snprintf(key, sizeof key, "hd:agent-open:%s", t.agent_ids[i]);
        ASSERT_EQ(sync_integer(t.f.port, "SCARD %s", key), 0);
    }
    events_each(t.f.port, replay_event, &t.rp);
    for (int i = 0; i < N_CONVERSATIONS; i++)
        ASSERT_EQ(t.rp.assigned[i], 1);
    ASSERT_EQ(t.rp.n_assigned, N_CONVERSATIONS);
    ASSERT_EQ(t.rp.n_closed, N_CONVERSATIONS);
    ASSERT(t.rp.max_open <= AGENT_MAX_CHATS);
    ASSERT_EQ(t.rp.max_open, AGENT_MAX_CHATS); /* the limit was reached, not avoided */
    store_close(&t.f.loop, t.st[0]);
    store_close(&t.f.loop, t.st[1]);
    fixture_close(&t.f);
}

/* ---- (c) Redis down: 503, nothing half stored, a retry stores once ---- */

static void expect_all_unavailable(uv_loop_t *loop, hd_store *st, const char *chat)
{
    box b = {0};
    ASSERT_EQ(post_wait(loop, st, "s-1", chat, "m-2", &b), HD_EUNAVAILABLE);
    ASSERT(b.message == NULL && b.conversation == NULL);
    ASSERT_EQ(route_wait(loop, st, &b), HD_EUNAVAILABLE);
    ASSERT_EQ(history_wait(loop, st, chat, &b), HD_EUNAVAILABLE);
    box_clear(&b);
}

/* The conversation's messages carry seq 1..n, and client_msg_id cmid exactly once. */
static void expect_history(uv_loop_t *loop, hd_store *st, const char *chat, size_t n,
                           const char *cmid)
{
    box b = {0};
    ASSERT_EQ(history_wait(loop, st, chat, &b), HD_OK);
    ASSERT_EQ(json_array_size(b.list), n);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(b.list, i);
        ASSERT_EQ(jint(m, "seq"), (json_int_t)i + 1);
        const char *c = json_string_value(json_object_get(m, "client_msg_id"));
        found += c != NULL && strcmp(c, cmid) == 0;
    }
    ASSERT_EQ(found, 1);
    box_clear(&b);
}

static void test_redis_down_503_then_retry_stores_once(void)
{
    fixture f;
    char dir[] = "/tmp/sb-store-redis-XXXXXX";
    ASSERT(mkdtemp(dir) != NULL);
    snprintf(data_dir, sizeof data_dir, "%s", dir);
    /* An AOF synced before every reply: what Redis acknowledged survives its SIGKILL. */
    const char *const aof[] = {
        "--appendonly", "yes", "--appendfsync", "always", "--dir", dir, NULL};
    fixture_start(&f, aof);
    hd_store *st = store_open(&f.loop, f.url, "node-a", 0, SHORT_TIMEOUT_MS);
    box b = {0};
    ASSERT_EQ(post_wait(&f.loop, st, "s-1", NULL, "m-1", &b), HD_OK);
    char chat[HD_ID_MAX + 1];
    snprintf(chat, sizeof chat, "%s", jstr(b.conversation, "ticket_chat_id"));

    /* Killed: every operation answers 503, later, and nothing crashes. */
    redis_kill(f.redis);
    expect_all_unavailable(&f.loop, st, chat);
    f.redis = redis_start(f.port, aof);
    ASSERT(run_until(&f.loop, store_is_ready, st, WAIT_READY_MS));
    /* Its script cache is gone: the store falls back to EVAL by itself. */
    ASSERT_EQ(post_wait(&f.loop, st, "s-1", chat, "m-2", &b), HD_OK);
    ASSERT_EQ(b.duplicate, 0);
    ASSERT_EQ(jint(b.message, "seq"), 2);
    ASSERT_EQ(post_wait(&f.loop, st, "s-1", NULL, "m-2", &b), HD_OK);
    ASSERT_EQ(b.duplicate, 1);
    ASSERT_EQ(jint(b.message, "seq"), 2);

    /* Hung: the post times out (503); Redis, when it wakes, finds it past its deadline and
     * stores nothing (503 means nothing was stored); the retry stores it once. */
    box hung = {0};
    kill(f.redis, SIGSTOP);
    post_async(st, "s-1", chat, "m-3", &hung);
    ASSERT_EQ(wait_box(&f.loop, &hung), HD_EUNAVAILABLE);
    kill(f.redis, SIGCONT);
    ASSERT(run_until(&f.loop, store_is_ready, st, WAIT_READY_MS));
    expect_history(&f.loop, st, chat, 2, "m-2");
    ASSERT_EQ(post_wait(&f.loop, st, "s-1", chat, "m-3", &b), HD_OK);
    ASSERT_EQ(b.duplicate, 0);
    ASSERT_EQ(jint(b.message, "seq"), 3);
    expect_history(&f.loop, st, chat, 3, "m-3");
    box_clear(&hung);
    box_clear(&b);
    store_close(&f.loop, st);
    fixture_close(&f);
}

/* ---- (d) every stored message is in hd:events once, in seq order ---- */

typedef struct event_check {
    char chats[N_SESSIONS_EVENTS][HD_ID_MAX + 1];
    json_int_t next_seq[N_SESSIONS_EVENTS];
    json_t *ids; /* message id -> times seen */
} event_check;

static void check_message_event(const char *type, json_t *data, void *ud)
{
    event_check *ec = ud;
    if (strcmp(type, "message") != 0)
        return;
    const char *chat = jstr(data, "ticket_chat_id");
    int s = 0;
    while (s < N_SESSIONS_EVENTS && strcmp(ec->chats[s], chat) != 0)
        s++;
    ASSERT(s < N_SESSIONS_EVENTS);
    ASSERT_EQ(jint(data, "seq"), ++ec->next_seq[s]);
    const char *id = jstr(data, "id");
    json_int_t seen = json_integer_value(json_object_get(ec->ids, id));
    json_object_set_new(ec->ids, id, json_integer(seen + 1));
}

static void test_events_once_in_seq_order(void)
{
    fixture f;
    fixture_start(&f, NULL);
    hd_store *st[2] = {store_open(&f.loop, f.url, "node-a", 0, 0),
                       store_open(&f.loop, f.url, "node-b", 0, 0)};
    static box posts[N_SESSIONS_EVENTS * MSGS_PER_SESSION];
    static const char *const sessions[N_SESSIONS_EVENTS] = {"s-1", "s-2", "s-3"};
    int done = 0, n = N_SESSIONS_EVENTS * MSGS_PER_SESSION;
    memset(posts, 0, sizeof posts);
    for (int i = 0; i < n; i++) {
        posts[i].counter = &done;
        post_async(st[i % 2], sessions[i % N_SESSIONS_EVENTS], NULL, NULL, &posts[i]);
    }
    wait_count(&f.loop, &done, n, WAIT_OPS_MS);
    event_check ec = {.ids = json_object()};
    for (int i = 0; i < n; i++) {
        ASSERT_EQ(posts[i].status, HD_OK);
        snprintf(ec.chats[i % N_SESSIONS_EVENTS], sizeof ec.chats[0], "%s",
                 jstr(posts[i].message, "ticket_chat_id"));
    }
    events_each(f.port, check_message_event, &ec);
    for (int s = 0; s < N_SESSIONS_EVENTS; s++)
        ASSERT_EQ(ec.next_seq[s], MSGS_PER_SESSION);
    ASSERT_EQ(json_object_size(ec.ids), (size_t)n);
    for (int i = 0; i < n; i++) {
        ASSERT_EQ(json_integer_value(json_object_get(ec.ids, jstr(posts[i].message, "id"))), 1);
        box_clear(&posts[i]);
    }
    json_decref(ec.ids);
    store_close(&f.loop, st[0]);
    store_close(&f.loop, st[1]);
    fixture_close(&f);
}

/* ---- (e) hd:commands: once across consumers; a dead consumer's entries reclaimed ---- */

typedef struct cmd_log {
    int got[N_COMMANDS + RETRIED_COMMAND + 1]; /* deliveries per "i" */
    int handled;                               /* acks */
    int retried;
    int malformed; /* entries without type or JSON data */
} cmd_log;

static void on_command(hd_command *cmd, const char *type, json_t *data, void *ud)
{
    cmd_log *log = ud;
    ASSERT(hd_command_id(cmd) != NULL);
    if (type == NULL || data == NULL) {
        log->malformed++;
        log->handled++;
        hd_command_ack(cmd);
        return;
    }
    ASSERT_STR_EQ(type, "message");
    json_int_t i = jint(data, "i");
    ASSERT(i >= 0 && i <= N_COMMANDS + RETRIED_COMMAND);
    if (i == RETRIED_COMMAND && log->got[i]++ == 0) {
        log->retried++;
        hd_command_retry(cmd); /* as if the store had been down */
        return;
    }
    if (i != RETRIED_COMMAND)
        log->got[i]++;
    log->handled++;
    hd_command_ack(cmd);
}

static hd_commands *consumer_open(fixture *f, const char *node, cmd_log *log)
{
    hd_commands_config cfg = {.url = f->url,
                              .node_id = node,
                              .claim_idle_ms = CLAIM_IDLE_MS,
                              .claim_every_ms = CLAIM_EVERY_MS,
                              .on_command = on_command,
                              .ud = log};
    char err[256];
    hd_commands *c = hd_commands_new(&f->loop, &cfg, err, sizeof err);
    if (c == NULL)
        TEST_FAIL("hd_commands_new: %s", err);
    return c;
}

static void consumer_close(fixture *f, hd_commands *c)
{
    int closed = 0;
    hd_commands_close(c, on_done, &closed);
    wait_count(&f->loop, &closed, 1, WAIT_READY_MS);
}

typedef struct handled_wait {
    const cmd_log *logs;
    int n;
    int want;
} handled_wait;

static int handled_reached(void *arg)
{
    const handled_wait *w = arg;
    int total = 0;
    for (int i = 0; i < w->n; i++)
        total += w->logs[i].handled;
    return total >= w->want;
}

/* Runs the loop until the n consumers' logs have handled want commands in all. */
static void wait_handled(fixture *f, const cmd_log *logs, int n, int want)
{
    handled_wait w = {logs, n, want};
    if (!run_until(&f->loop, handled_reached, &w, WAIT_OPS_MS))
        TEST_FAIL("fewer than %d commands handled", want);
}

static void xadd_command(int port, int i)
{
    char data[32];
    snprintf(data, sizeof data, "{\"i\":%d}", i);
    freeReplyObject(sync_command(port, "XADD hd:commands * type message data %s", data));
}

static long long pending_count(int port)
{
    redisReply *r = sync_command(port, "XPENDING hd:commands switchboard");
    ASSERT(r->type == REDIS_REPLY_ARRAY && r->element[0]->type == REDIS_REPLY_INTEGER);
    long long n = r->element[0]->integer;
    freeReplyObject(r);
    return n;
}

static void test_commands_once_and_reclaimed(void)
{
    fixture f;
    fixture_start(&f, NULL);
    static cmd_log logs[3];
    memset(logs, 0, sizeof logs);
    hd_commands *c1 = consumer_open(&f, "node-a", &logs[0]);
    hd_commands *c2 = consumer_open(&f, "node-b", &logs[1]);
    run_for(&f.loop, 200); /* both in the group */
    for (int i = 0; i < N_COMMANDS; i++)
        xadd_command(f.port, i);
    freeReplyObject(sync_command(f.port, "XADD hd:commands * type message data %s", "not json"));
    freeReplyObject(sync_command(f.port, "XADD hd:commands * data %s", "{}"));
    wait_handled(&f, logs, 2, N_COMMANDS + 2);
    for (int i = 0; i < N_COMMANDS; i++)
        ASSERT_EQ(logs[0].got[i] + logs[1].got[i], 1);
    ASSERT_EQ(logs[0].malformed + logs[1].malformed, 2);
    consumer_close(&f, c1);
    consumer_close(&f, c2);
    ASSERT_EQ(pending_count(f.port), 0);

    /* A consumer that read and died: its entries wait, pending, for another node. */
    for (int i = 0; i < N_DEAD_COMMANDS; i++)
        xadd_command(f.port, N_COMMANDS + i);
    xadd_command(f.port, RETRIED_COMMAND);
    redisReply *r = sync_command(f.port, "XREADGROUP GROUP switchboard dead COUNT 100 "
                                         "STREAMS hd:commands >");
    ASSERT(r->type == REDIS_REPLY_ARRAY);
    ASSERT_EQ(r->element[0]->element[1]->elements, N_DEAD_COMMANDS + 1);
    freeReplyObject(r);
    hd_commands *c3 = consumer_open(&f, "node-c", &logs[2]);
    wait_handled(&f, &logs[2], 1, N_DEAD_COMMANDS + 1);
    for (int i = 0; i < N_DEAD_COMMANDS; i++)
        ASSERT_EQ(logs[2].got[N_COMMANDS + i], 1);
    ASSERT_EQ(logs[2].retried, 1); /* retried once, then reclaimed and acked */
    ASSERT_EQ(logs[2].got[RETRIED_COMMAND], 2);
    consumer_close(&f, c3);
    ASSERT_EQ(pending_count(f.port), 0);
    fixture_close(&f);
}

/* ---- (f) presence ends with a node's heartbeat ---- */

typedef struct frozen_node {
    uv_loop_t loop;
    uv_timer_t tick;
    hd_store *st;
} frozen_node;

/* Posts a conversation in dept and routes it through st; returns the agent it went to,
 * or "" when it stayed queued (written into agent). */
static void route_one(fixture *f, hd_store *st, const char *session, const char *dept, char *agent,
                      size_t len)
{
    box b = {0};
    hd_post p = {.session_id = session,
                 .dept = dept,
                 .access = {.session_id = session},
                 .sender_type = "customer",
                 .sender_id = session,
                 .message = "hi",
                 .now_ms = hd_now_ms()};
    post_send(st, &p, &b);
    ASSERT_EQ(wait_box(&f->loop, &b), HD_OK);
    ASSERT_EQ(route_wait(&f->loop, st, &b), HD_OK);
    json_t *first = json_array_get(b.list, 0);
    snprintf(agent, len, "%s", first != NULL ? agent_of(first) : "");
    box_clear(&b);
}

static void test_presence_expires_without_heartbeat(void)
{
    fixture f;
    fixture_start(&f, NULL);
    static const char *const x_only[] = {"x"}, *const y_only[] = {"y"};
    hd_agent a1 = {.id = "a-1", .name = "a-1", .depts = x_only, .n_depts = 1, .max_chats = 5};
    hd_agent a2 = {.id = "a-2", .name = "a-2", .depts = y_only, .n_depts = 1, .max_chats = 5};
    char agent[HD_ID_MAX + 1];

    /* Node A keeps running; node B runs on a loop of its own that the test stops turning. */
    hd_store *a = store_open(&f.loop, f.url, "node-a", SHORT_TTL_MS, 0);
    frozen_node b;
    loop_init(&b.loop, &b.tick);
    b.st = store_open(&b.loop, f.url, "node-b", SHORT_TTL_MS, 0);
    presence_wait(&b.loop, b.st, &a1, 1, 1);
    presence_wait(&f.loop, a, &a2, 1, 1);
    route_one(&f, a, "s-1", "x", agent, sizeof agent);
    ASSERT_STR_EQ(agent, "a-1");

    /* Two ttls without B: a-1 is gone, a-2 (refreshed by A's heartbeat) is not. */
    run_for(&f.loop, 2 * SHORT_TTL_MS);
    route_one(&f, a, "s-2", "x", agent, sizeof agent);
    ASSERT_STR_EQ(agent, "");
    route_one(&f, a, "s-3", NULL, agent, sizeof agent);
    ASSERT_STR_EQ(agent, "a-2");

    /* B wakes up: its heartbeat brings a-1 back, and the queued conversation goes to it. */
    run_for(&b.loop, SHORT_TTL_MS / 2);
    box r = {0};
    ASSERT_EQ(route_wait(&f.loop, a, &r), HD_OK);
    ASSERT_EQ(json_array_size(r.list), 1);
    ASSERT_STR_EQ(agent_of(json_array_get(r.list, 0)), "a-1");
    box_clear(&r);

    /* A clean close takes B's agents out at once. */
    store_close(&b.loop, b.st);
    loop_close(&b.loop, &b.tick);
    route_one(&f, a, "s-4", "x", agent, sizeof agent);
    ASSERT_STR_EQ(agent, "");
    store_close(&f.loop, a);
    fixture_close(&f);
}

/* ---- smaller properties ---- */

/* Close answers every operation sent before it (they were ahead of it on the wire). */
static void test_close_answers_pending_ops(void)
{
    fixture f;
    fixture_start(&f, NULL);
    hd_store *st = store_open(&f.loop, f.url, "node-a", 0, 0);
    static box posts[N_CLOSE_RACE];
    int done = 0, closed = 0;
    memset(posts, 0, sizeof posts);
    for (int i = 0; i < N_CLOSE_RACE; i++) {
        posts[i].counter = &done;
        post_async(st, "s-1", NULL, NULL, &posts[i]);
    }
    st->ops->close(st, on_done, &closed);
    ASSERT_EQ(done, 0);
    wait_count(&f.loop, &closed, 1, WAIT_READY_MS);
    ASSERT_EQ(done, N_CLOSE_RACE);
    for (int i = 0; i < N_CLOSE_RACE; i++) {
        ASSERT_EQ(posts[i].status, HD_OK);
        ASSERT_EQ(jint(posts[i].message, "seq"), i + 1);
        box_clear(&posts[i]);
    }
    fixture_close(&f);
}

/* Without Redis: every answer is 503, never before the call returns; bad input is 400. */
static void test_no_redis_answers_503_later(void)
{
    fixture f;
    fixture_start(&f, NULL);
    redis_kill(f.redis);
    hd_redis_config cfg = {.url = f.url};
    char err[256];
    hd_store *st = hd_store_redis_new(&f.loop, &cfg, err, sizeof err);
    ASSERT(st != NULL);
    box b = {0};
    ASSERT_EQ(post_wait(&f.loop, st, "s-1", NULL, NULL, &b), HD_EUNAVAILABLE);
    ASSERT_EQ(post_wait(&f.loop, st, "", NULL, NULL, &b), HD_EBADREQ);
    box_clear(&b);
    hd_agent bad = agent_named("a-1", 0);
    st->ops->take(st, "c_1", &bad, hd_now_ms(), on_box, &b);
    ASSERT_EQ(b.called, 0);
    ASSERT_EQ(wait_box(&f.loop, &b), HD_EBADREQ);
    const char *reason = NULL;
    ASSERT_EQ(hd_store_redis_ready(&reason, st), 0);
    ASSERT(reason != NULL);
    store_close(&f.loop, st);
    hd_redis_config bad_url = {.url = "http://x"};
    ASSERT(hd_store_redis_new(&f.loop, &bad_url, err, sizeof err) == NULL);
    fixture_close(&f);
}

/* SCRIPT FLUSH under a running store: NOSCRIPT, then EVAL, and the op still succeeds. */
static void test_script_flush_falls_back_to_eval(void)
{
    fixture f;
    fixture_start(&f, NULL);
    hd_store *st = store_open(&f.loop, f.url, "node-a", 0, 0);
    box b = {0};
    ASSERT_EQ(post_wait(&f.loop, st, "s-1", NULL, NULL, &b), HD_OK);
    freeReplyObject(sync_command(f.port, "SCRIPT FLUSH"));
    ASSERT_EQ(post_wait(&f.loop, st, "s-1", NULL, NULL, &b), HD_OK);
    ASSERT_EQ(jint(b.message, "seq"), 2);
    ASSERT_EQ(post_wait(&f.loop, st, "s-1", NULL, NULL, &b), HD_OK); /* cached again */
    box_clear(&b);
    store_close(&f.loop, st);
    fixture_close(&f);
}

/* What a client sends comes back exactly: text the JSON encoders treat specially, big
 * numbers, ids with colons (which must not reach another key: "c_x:msgs" is no list). */
static void test_json_and_ids_round_trip_exactly(void)
{
    fixture f;
    fixture_start(&f, NULL);
    hd_store *st = store_open(&f.loop, f.url, "node-a", 0, 0);
    static const char session[] = "s:1:open", cmid[] = "m:1";
    json_t *att = json_pack("{s:s,s:s,s:s,s:I}", "url", "https://x.test/a?b=1&c=</script>", "name",
                            "r\u00e9sum\u00e9 \"final\".pdf", "mime", "application/pdf", "size",
                            (json_int_t)12345678901234567LL);
    hd_post p = {.session_id = session,
                 .access = {.session_id = session},
                 .sender_type = "customer",
                 .sender_id = session,
                 .sender_name = "Zo\u00eb \U0001F600",
                 .message = "a \"quote\", a \\ backslash,\nnewline, \u2028, \U0001F680 </script>",
                 .attachment = att,
                 .client_msg_id = cmid,
                 .now_ms = hd_now_ms()};
    char chat_id[HD_CHAT_ID_LEN + 1];
    hd_chat_id(p.now_ms, chat_id);
    p.new_chat_id = chat_id;
    box b = {0};
    post_send(st, &p, &b);
    ASSERT_EQ(wait_box(&f.loop, &b), HD_OK);
    p.msg_id = jstr(b.message, "id");
    json_t *want = hd_message_build(&p, chat_id, session, 1);
    ASSERT(json_equal(b.message, want));
    ASSERT(json_equal(json_object_get(b.conversation, "first_message"), want));
    ASSERT_EQ(history_wait(&f.loop, st, chat_id, &b), HD_OK);
    ASSERT(json_equal(json_array_get(b.list, 0), want));

    char suffixed[HD_CHAT_ID_LEN + 8];
    snprintf(suffixed, sizeof suffixed, "%s:msgs", chat_id);
    ASSERT_EQ(post_wait(&f.loop, st, session, suffixed, NULL, &b), HD_ENOTFOUND);
    ASSERT_EQ(history_wait(&f.loop, st, suffixed, &b), HD_ENOTFOUND);
    hd_agent colon = agent_named("a:open", 2);
    presence_wait(&f.loop, st, &colon, 1, 1);
    ASSERT_EQ(route_wait(&f.loop, st, &b), HD_OK);
    ASSERT_STR_EQ(agent_of(json_array_get(b.list, 0)), "a:open");
    json_decref(want);
    json_decref(att);
    box_clear(&b);
    store_close(&f.loop, st);
    fixture_close(&f);
}

/* ---- (e) a post's answer is the message as stored ---- */

static void append_message_event(const char *type, json_t *data, void *ud)
{
    if (strcmp(type, "message") == 0)
        json_array_append(ud, data);
}

/* Waits for a post's answer, checks its flags, and keeps its message (the caller's
 * reference). */
static json_t *posted(uv_loop_t *loop, box *b, int created, int duplicate)
{
    ASSERT_EQ(wait_box(loop, b), HD_OK);
    ASSERT_EQ(b->created, created);
    ASSERT_EQ(b->duplicate, duplicate);
    ASSERT((b->conversation != NULL) == created); /* only a new conversation comes back */
    json_t *m = json_incref(b->message);
    box_clear(b);
    return m;
}

/* The node builds a post's answer from its own half of the message and the few fields the
 * script answers; it must be the message stored in the history and in hd:events, for a
 * post that creates the conversation, one that joins it, a bot's (whose session_id only
 * the conversation knows) and a retry. The session id needs escaping in JSON. */
static void test_post_answer_is_what_was_stored(void)
{
    fixture f;
    fixture_start(&f, NULL);
    hd_store *st = store_open(&f.loop, f.url, "node-a", 0, 0);
    static const char session[] = "s\"1\\";
    json_t *sent[3]; /* created, joined, the bot's */
    size_t n = sizeof sent / sizeof sent[0];
    box b = {0};
    post_async(st, session, NULL, "m-1", &b);
    sent[0] = posted(&f.loop, &b, 1, 0);
    char chat[HD_ID_MAX + 1];
    snprintf(chat, sizeof chat, "%s", jstr(sent[0], "ticket_chat_id"));
    post_async(st, session, NULL, "m-2", &b);
    sent[1] = posted(&f.loop, &b, 0, 0);
    hd_post bot = {.ticket_chat_id = chat,
                   .sender_type = "bot",
                   .sender_id = "bot-1",
                   .message = "hi",
                   .now_ms = hd_now_ms()};
    post_send(st, &bot, &b);
    sent[2] = posted(&f.loop, &b, 0, 0);
    ASSERT_STR_EQ(jstr(sent[2], "session_id"), session);
    post_async(st, session, chat, "m-2", &b);
    json_t *retry = posted(&f.loop, &b, 0, 1);
    ASSERT(json_equal(retry, sent[1]));

    json_t *events = json_array();
    events_each(f.port, append_message_event, events);
    ASSERT_EQ(history_wait(&f.loop, st, chat, &b), HD_OK);
    ASSERT_EQ(json_array_size(b.list), n);
    ASSERT_EQ(json_array_size(events), n);
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(jint(sent[i], "seq"), (json_int_t)i + 1);
        ASSERT(json_equal(sent[i], json_array_get(b.list, i)));
        ASSERT(json_equal(sent[i], json_array_get(events, i)));
        json_decref(sent[i]);
    }
    json_decref(retry);
    json_decref(events);
    box_clear(&b);
    store_close(&f.loop, st);
    fixture_close(&f);
}

/* Redis's own time per call of cmd since the last CONFIG RESETSTAT (INFO commandstats),
 * in microseconds; -1 when it has no such line. */
static double redis_usec_per_call(int port, const char *cmd)
{
    redisReply *r = sync_command(port, "INFO commandstats");
    char line[64];
    snprintf(line, sizeof line, "cmdstat_%s:", cmd);
    const char *at = r->type == REDIS_REPLY_STRING ? strstr(r->str, line) : NULL;
    at = at != NULL ? strstr(at, "usec_per_call=") : NULL;
    double usec = at != NULL ? strtod(at + strlen("usec_per_call="), NULL) : -1;
    freeReplyObject(r);
    return usec;
}

/* CPU time of this process (user + system), in microseconds. */
static double process_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Not a limit, a measurement: posts per second through one store, all in flight at once
 * (one write per loop turn), with the CPU a post costs on each side (this process: the
 * store's C; Redis: the script), printed for the report. */
static void test_pipelined_posts_throughput(void)
{
    fixture f;
    fixture_start(&f, NULL);
    hd_store *st = store_open(&f.loop, f.url, "node-a", 0, 0);
    box *posts = calloc(THROUGHPUT_POSTS, sizeof *posts);
    char(*sessions)[16] = calloc(THROUGHPUT_CHATS, sizeof *sessions);
    char(*cmids)[16] = calloc(THROUGHPUT_POSTS, sizeof *cmids);
    int done = 0;
    for (int i = 0; i < THROUGHPUT_CHATS; i++)
        snprintf(sessions[i], sizeof sessions[i], "s-%d", i);
    for (int i = 0; i < THROUGHPUT_POSTS; i++)
        snprintf(cmids[i], sizeof cmids[i], "m-%d", i); /* as clients send them */
    freeReplyObject(sync_command(f.port, "CONFIG RESETSTAT"));
    uint64_t t0 = uv_hrtime();
    double cpu0 = process_cpu_us();
    for (int i = 0; i < THROUGHPUT_POSTS; i++) {
        posts[i].counter = &done;
        post_async(st, sessions[i % THROUGHPUT_CHATS], NULL, cmids[i], &posts[i]);
    }
    wait_count(&f.loop, &done, THROUGHPUT_POSTS, WAIT_OPS_MS);
    double cpu = (process_cpu_us() - cpu0) / THROUGHPUT_POSTS;
    double s = (double)(uv_hrtime() - t0) / 1e9;
    printf("%d posts in %.3f s: %.0f posts/s through one store; per post: %.1f us of "
           "this process's CPU, %.1f us in Redis (EVALSHA)\n",
           THROUGHPUT_POSTS, s, THROUGHPUT_POSTS / s, cpu, redis_usec_per_call(f.port, "evalsha"));
    for (int i = 0; i < THROUGHPUT_POSTS; i++) {
        ASSERT_EQ(posts[i].status, HD_OK);
        box_clear(&posts[i]);
    }
    free(posts);
    free(sessions);
    free(cmids);
    store_close(&f.loop, st);
    fixture_close(&f);
}

/* ---- the table ---- */

typedef struct test_entry {
    const char *name;
    void (*run)(void);
} test_entry;

/* CMake registers one ctest per line of this table: keep one TEST(name) per line. */
#define TEST(name)                                                                                 \
    {                                                                                              \
#name, test_##name                                                                         \
    }
/* (the formatter would pack two a line, hiding the second from CMake) */
/* clang-format off */
static const test_entry TESTS[] = {
    TEST(two_nodes_never_assign_twice),
    TEST(redis_down_503_then_retry_stores_once),
    TEST(events_once_in_seq_order),
    TEST(commands_once_and_reclaimed),
    TEST(presence_expires_without_heartbeat),
    TEST(close_answers_pending_ops),
    TEST(no_redis_answers_503_later),
    TEST(script_flush_falls_back_to_eval),
    TEST(json_and_ids_round_trip_exactly),
    TEST(post_answer_is_what_was_stored),
    TEST(pipelined_posts_throughput),
};
/* clang-format on */
#undef TEST

int main(int argc, char **argv)
{
    size_t n = sizeof TESTS / sizeof TESTS[0];
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < n; i++)
            puts(TESTS[i].name);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "contract") == 0) {
        run_contract_case(argv[2]);
        kill_children();
        printf("ok contract %s\n", argv[2]);
        return 0;
    }
    for (size_t i = 0; argc == 2 && i < n; i++)
        if (strcmp(argv[1], TESTS[i].name) == 0) {
            TESTS[i].run();
            kill_children();
            printf("ok %s\n", TESTS[i].name);
            return 0;
        }
    fprintf(stderr, "usage: %s <test> | contract <case> | --list\n", argv[0]);
    return 2;
}
