/* test_redis_conn.c: server/cluster/redis_conn against a real redis-server.
 *
 *   test_redis_conn <name>   runs one test (one ctest entry each, see RC_TESTS)
 *   test_redis_conn --list   prints the names
 *
 * Each test that needs Redis starts its own `redis-server` (path in $SB_REDIS_SERVER, else
 * from PATH) on a free loopback port, as a child that dies with the test (PDEATHSIG) and is
 * killed at the end. Every wait is bounded: run_until() takes a deadline, and an alarm
 * ends a test that hangs anywhere else.
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

#include "../unit/test.h" /* ASSERT, ASSERT_EQ, TEST_FAIL */
#include "redis_conn.h"

#define TEST_ALARM_S      55   /* a test that runs longer than this is killed */
#define REDIS_START_MS    5000 /* longest wait for a started redis-server to answer */
#define WAIT_READY_MS     8000 /* longest wait for rc_ready() */
#define WAIT_SHORT_MS     2000 /* longest wait for one reply or message */
#define QUIET_MS          300  /* how long "nothing arrives" is watched */
#define MAX_LOGS          64
#define MAX_MSGS          32
#define MAX_STATES        16
#define PIPELINE_COMMANDS 200
#define MANY_CHANNELS     600 /* more than two SUBSCRIBE batches when restoring */

/* ---- redis-server child processes ---- */

#define MAX_CHILDREN 4
static pid_t children[MAX_CHILDREN];

static void kill_children(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
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

/* A blocking client for checks from outside; NULL when Redis does not answer. */
static redisContext *sync_connect(int port, const char *user, const char *password)
{
    struct timeval tv = {0, 200000};
    redisContext *ctx = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (ctx == NULL || ctx->err) {
        if (ctx != NULL)
            redisFree(ctx);
        return NULL;
    }
    redisSetTimeout(ctx, tv);
    if (password != NULL) {
        redisReply *r = user != NULL ? redisCommand(ctx, "AUTH %s %s", user, password)
                                     : redisCommand(ctx, "AUTH %s", password);
        int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        if (r != NULL)
            freeReplyObject(r);
        if (!ok) {
            redisFree(ctx);
            return NULL;
        }
    }
    return ctx;
}

/* One command from outside; the caller frees the reply. */
static redisReply *sync_command(int port, const char *password, const char *fmt, ...)
{
    redisContext *ctx = sync_connect(port, NULL, password);
    ASSERT(ctx != NULL);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    redisFree(ctx);
    ASSERT(r != NULL);
    return r;
}

/* Starts redis-server on port with extra arguments (NULL-terminated) and waits until it
 * answers PING. */
static pid_t redis_start(int port, const char *const *extra)
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
        freopen("/dev/null", "w", stdout);
        execvp(bin, (char *const *)argv);
        _exit(127);
    }
    int slot = 0;
    while (slot < MAX_CHILDREN && children[slot] != 0)
        slot++;
    ASSERT(slot < MAX_CHILDREN);
    children[slot] = pid;
    for (int waited = 0; waited < REDIS_START_MS; waited += 10) {
        redisContext *ctx = sync_connect(port, NULL, NULL);
        if (ctx != NULL) {
            redisReply *r = redisCommand(ctx, "PING");
            /* NOAUTH also proves it is up. */
            int up = r != NULL && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR);
            if (r != NULL)
                freeReplyObject(r);
            redisFree(ctx);
            if (up)
                return pid;
        }
        ASSERT(waitpid(pid, NULL, WNOHANG) == 0);
        sleep_ms(10);
    }
    TEST_FAIL("redis-server on port %d did not start", port);
}

static void redis_stop(pid_t pid, int sig)
{
    kill(pid, sig);
    if (sig != SIGKILL && sig != SIGTERM)
        return;
    waitpid(pid, NULL, 0);
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == pid)
            children[i] = 0;
}

/* ---- the fixture: one loop, one rc_conn, and what its callbacks saw ---- */

typedef struct seen_msg {
    char pattern[64]; /* "" for a channel message */
    char channel[64];
    size_t channel_len;
    uint8_t data[64];
    size_t len;
} seen_msg;

typedef struct fixture {
    uv_loop_t loop;
    uv_timer_t tick; /* wakes run_until() */
    rc_conn *conn;
    int port;
    char url[256];
    char logs[MAX_LOGS][256];
    int n_logs;
    int states[MAX_STATES]; /* every on_state value, in order */
    int n_states;
    seen_msg msgs[MAX_MSGS];
    int n_msgs;
    int closed;           /* rc_close's done ran */
    int close_in_message; /* on_message calls rc_close */
} fixture;

static void on_log(const char *line, void *ud)
{
    fixture *f = ud;
    fprintf(stderr, "log: %s\n", line);
    ASSERT(f->n_logs < MAX_LOGS);
    snprintf(f->logs[f->n_logs++], sizeof f->logs[0], "%s", line);
}

static void on_state(rc_conn *c, int ready, void *ud)
{
    fixture *f = ud;
    ASSERT(c == f->conn);
    ASSERT(f->n_states < MAX_STATES);
    ASSERT_EQ(ready, rc_ready(c));
    f->states[f->n_states++] = ready;
}

static void on_closed(void *ud)
{
    fixture *f = ud;
    f->closed++;
}

static void on_message(rc_conn *c, const rc_message *m, void *ud)
{
    fixture *f = ud;
    ASSERT(f->n_msgs < MAX_MSGS);
    seen_msg *s = &f->msgs[f->n_msgs++];
    ASSERT(m->channel_len < sizeof s->channel && m->len <= sizeof s->data);
    snprintf(s->pattern, sizeof s->pattern, "%s", m->pattern != NULL ? m->pattern : "");
    memcpy(s->channel, m->channel, m->channel_len);
    s->channel_len = m->channel_len;
    memcpy(s->data, m->data, m->len);
    s->len = m->len;
    if (f->close_in_message)
        rc_close(c, on_closed, f);
}

static void on_tick(uv_timer_t *t) { (void)t; }

static void fixture_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    alarm(TEST_ALARM_S);
    ASSERT(uv_loop_init(&f->loop) == 0);
    uv_timer_init(&f->loop, &f->tick);
    uv_timer_start(&f->tick, on_tick, 5, 5);
    uv_unref((uv_handle_t *)&f->tick);
}

static void fixture_config(fixture *f, rc_config *cfg, const char *url)
{
    rc_config_init(cfg, url);
    cfg->on_log = on_log;
    cfg->on_state = on_state;
    cfg->on_message = on_message;
    cfg->ud = f;
    cfg->backoff_max_ms = 800; /* the tests restart Redis: keep the retries brisk */
}

static void fixture_connect(fixture *f, const char *url)
{
    rc_config cfg;
    char err[256];
    fixture_config(f, &cfg, url);
    f->conn = rc_conn_new(&f->loop, &cfg, err, sizeof err);
    if (f->conn == NULL)
        TEST_FAIL("rc_conn_new: %s", err);
}

/* Runs the loop until cond(f) holds or ms pass; returns whether cond held. */
static int run_until(fixture *f, int (*cond)(fixture *), uint64_t ms)
{
    uv_update_time(&f->loop);
    uint64_t deadline = uv_now(&f->loop) + ms;
    while (!(cond != NULL && cond(f)) && uv_now(&f->loop) < deadline) {
        uv_ref((uv_handle_t *)&f->tick);
        uv_run(&f->loop, UV_RUN_ONCE);
        uv_unref((uv_handle_t *)&f->tick);
        uv_update_time(&f->loop);
    }
    return cond != NULL && cond(f);
}

static int is_ready(fixture *f) { return rc_ready(f->conn); }
static int is_not_ready(fixture *f) { return !rc_ready(f->conn); }
static int is_closed(fixture *f) { return f->closed > 0; }

/* Closes conn and the loop, checking that nothing is left behind. */
static void fixture_close(fixture *f)
{
    if (f->conn != NULL && !f->closed)
        rc_close(f->conn, on_closed, f);
    ASSERT(run_until(f, is_closed, WAIT_READY_MS)); /* a running getaddrinfo cannot be cancelled */
    ASSERT_EQ(f->closed, 1);
    uv_close((uv_handle_t *)&f->tick, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(&f->loop), 0);
    kill_children();
}

static int count_logs(const fixture *f, const char *needle)
{
    int n = 0;
    for (int i = 0; i < f->n_logs; i++)
        n += strstr(f->logs[i], needle) != NULL;
    return n;
}

/* ---- replies ---- */

typedef struct reply_box {
    int called;
    int status;
    int type;
    long long integer;
    char str[4096];
    size_t len;
    size_t elements;
    char err[256];
    int close_conn; /* the callback calls rc_close */
    fixture *f;
} reply_box;

static void on_reply(rc_conn *c, int status, const redisReply *r, const char *errstr, void *ud)
{
    reply_box *b = ud;
    b->called++;
    b->status = status;
    ASSERT((r != NULL) == (status == RC_OK || status == RC_ERR_REPLY));
    ASSERT((errstr != NULL) == (status != RC_OK));
    if (errstr != NULL)
        snprintf(b->err, sizeof b->err, "%s", errstr);
    if (r != NULL) {
        b->type = r->type;
        b->integer = r->integer;
        b->elements = r->elements;
        if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
            r->type == REDIS_REPLY_ERROR) {
            ASSERT(r->len <= sizeof b->str);
            memcpy(b->str, r->str, r->len);
            b->len = r->len;
        }
        /* PUBSUB NUMSUB ch: [ch, n] */
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[1]->type == REDIS_REPLY_INTEGER)
            b->integer = r->element[1]->integer;
    }
    if (b->close_conn)
        rc_close(c, on_closed, b->f);
}

static reply_box *waiting_box;
static int box_called(fixture *f)
{
    (void)f;
    return waiting_box->called > 0;
}

/* Waits for b's callback (bounded). */
static void wait_reply(fixture *f, reply_box *b)
{
    waiting_box = b;
    if (!run_until(f, box_called, WAIT_SHORT_MS))
        TEST_FAIL("no reply within %d ms", WAIT_SHORT_MS);
    ASSERT_EQ(b->called, 1);
}

/* PUBSUB NUMSUB channel, as Redis sees it. */
static long long numsub(fixture *f, const char *channel)
{
    reply_box b = {0};
    ASSERT_EQ(rc_command(f->conn, on_reply, &b, "PUBSUB NUMSUB %s", channel), RC_OK);
    wait_reply(f, &b);
    ASSERT_EQ(b.status, RC_OK);
    return b.integer;
}

/* Waits until Redis counts n subscribers of channel. The subscriber link's (UN)SUBSCRIBE
 * and the command link's PUBSUB travel on different connections: only polling orders them. */
static void wait_numsub(fixture *f, const char *channel, long long n)
{
    for (int waited = 0; numsub(f, channel) != n; waited += 10) {
        if (waited >= WAIT_SHORT_MS)
            TEST_FAIL("%s never had %lld subscribers", channel, n);
        run_until(f, NULL, 10);
    }
}

static const char *sub_channel;
static int sub_pattern;
static int is_subscribed(fixture *f) { return rc_subscribed(f->conn, sub_channel, sub_pattern); }

static void wait_subscribed(fixture *f, const char *channel, int pattern)
{
    sub_channel = channel;
    sub_pattern = pattern;
    if (!run_until(f, is_subscribed, WAIT_SHORT_MS))
        TEST_FAIL("%s never subscribed", channel);
}

static int want_msgs;
static int has_msgs(fixture *f) { return f->n_msgs >= want_msgs; }

static void wait_msgs(fixture *f, int n)
{
    want_msgs = n;
    if (!run_until(f, has_msgs, WAIT_SHORT_MS))
        TEST_FAIL("%d messages, wanted %d", f->n_msgs, n);
}

/* Starts Redis on port (0: a free one) with redis_args, and connects to it with userinfo
 * ("user:password@" or "") and db. */
static void start_and_connect_to(fixture *f, int port, const char *const *redis_args,
                                 const char *userinfo, int db)
{
    f->port = port != 0 ? port : free_port();
    redis_start(f->port, redis_args);
    snprintf(f->url, sizeof f->url, "redis://%s127.0.0.1:%d/%d", userinfo, f->port, db);
    fixture_connect(f, f->url);
}

/* The same on a free port, waiting until ready. */
static void start_and_connect(fixture *f, const char *const *redis_args, const char *userinfo,
                              int db)
{
    start_and_connect_to(f, 0, redis_args, userinfo, db);
    if (!run_until(f, is_ready, WAIT_READY_MS))
        TEST_FAIL("not ready within %d ms", WAIT_READY_MS);
}

/* ---- tests ---- */

static void test_url_parse_good_forms(void)
{
    rc_url u;
    char err[128];
    ASSERT_EQ(rc_url_parse("redis://localhost", &u, err, sizeof err), RC_OK);
    ASSERT(strcmp(u.host, "localhost") == 0 && u.port == 6379 && u.db == 0);
    ASSERT(u.user[0] == '\0' && u.password[0] == '\0');
    ASSERT_EQ(rc_url_parse("redis://127.0.0.1:6380/2", &u, err, sizeof err), RC_OK);
    ASSERT(strcmp(u.host, "127.0.0.1") == 0 && u.port == 6380 && u.db == 2);
    ASSERT_EQ(rc_url_parse("redis://:secret@redis.internal:1/0", &u, err, sizeof err), RC_OK);
    ASSERT(strcmp(u.host, "redis.internal") == 0 && u.port == 1 && u.db == 0);
    ASSERT(u.user[0] == '\0' && strcmp(u.password, "secret") == 0);
    ASSERT_EQ(rc_url_parse("redis://alice:p%40ss%2Fw%3a@h", &u, err, sizeof err), RC_OK);
    ASSERT(strcmp(u.user, "alice") == 0 && strcmp(u.password, "p@ss/w:") == 0 &&
           strcmp(u.host, "h") == 0);
    ASSERT_EQ(rc_url_parse("redis://u:pa@ss/x:y@h:7/3", &u, err, sizeof err), RC_OK);
    ASSERT(strcmp(u.password, "pa@ss/x:y") == 0 && strcmp(u.host, "h") == 0 && u.port == 7 &&
           u.db == 3);
    ASSERT_EQ(rc_url_parse("REDIS://[::1]:7000/15", &u, err, sizeof err), RC_OK);
    ASSERT(strcmp(u.host, "::1") == 0 && u.port == 7000 && u.db == 15);
    ASSERT_EQ(rc_url_parse("redis://[fe80::1]", &u, err, sizeof err), RC_OK);
    ASSERT(strcmp(u.host, "fe80::1") == 0 && u.port == 6379);
    ASSERT_EQ(rc_url_parse("redis://my_redis-1.svc/", &u, err, sizeof err), RC_OK);
    ASSERT(strcmp(u.host, "my_redis-1.svc") == 0 && u.db == 0);
}

static void test_url_parse_bad_forms(void)
{
    static const struct {
        const char *url;
        const char *why; /* a part of the error message */
    } bad[] = {
        {"", "empty"},
        {"http://h", "expected redis://"},
        {"h:6379", "expected redis://"},
        {"rediss://h", "TLS"},
        {"redis://", "missing host"},
        {"redis://:6379", "missing host"},
        {"redis:///3", "missing host"},
        {"redis://h:0", "port"},
        {"redis://h:65536", "port"},
        {"redis://h:6x", "port"},
        {"redis://h:", "port"},
        {"redis://h/x", "database"},
        {"redis://h/-1", "database"},
        {"redis://h/2147483648", "database"},
        {"redis://h/1/2", "database"},
        {"redis://alice@h", "user:password"},
        {"redis://@h", "empty credentials"},
        {"redis://:@h", "empty password"},
        {"redis://alice:@h", "empty password"},
        {"redis://:s3cr3t%zz@h", "password"},
        {"redis://:s3cr3t%00@h", "password"},
        {"redis://::1:6379", "brackets"},
        {"redis://[::1", "']'"},
        {"redis://[::1]x", "after ']'"},
        {"redis://[::g]", "invalid character"},
        {"redis://h?db=1", "query"},
        {"redis://h#x", "query"},
        {"redis://h h", "invalid character"},
        {"redis://:s3cr3t@h:99999", "port"},
        {"redis://bob:s3cr3t@", "missing host"},
    };
    rc_url u;
    char err[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (rc_url_parse(bad[i].url, &u, err, sizeof err) != RC_ERR_URL)
            TEST_FAIL("accepted %s", bad[i].url);
        if (strstr(err, bad[i].why) == NULL)
            TEST_FAIL("%s: error \"%s\" lacks \"%s\"", bad[i].url, err, bad[i].why);
        ASSERT(strstr(err, "s3cr3t") == NULL);
        ASSERT(strncmp(err, "redis URL: ", 11) == 0);
    }
    ASSERT_EQ(rc_url_parse(NULL, &u, err, sizeof err), RC_ERR_URL);
    char long_url[4096];
    snprintf(long_url, sizeof long_url, "redis://%0*d", 3000, 0);
    ASSERT_EQ(rc_url_parse(long_url, &u, err, sizeof err), RC_ERR_URL);

    /* rc_conn_new refuses them too, before touching the loop. */
    uv_loop_t loop;
    rc_config cfg;
    ASSERT(uv_loop_init(&loop) == 0);
    rc_config_init(&cfg, "redis://:s3cr3t@h:0");
    ASSERT(rc_conn_new(&loop, &cfg, err, sizeof err) == NULL);
    ASSERT(strstr(err, "port") != NULL && strstr(err, "s3cr3t") == NULL);
    ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void test_connect_and_command_round_trip(void)
{
    fixture f;
    fixture_init(&f);
    start_and_connect(&f, NULL, "", 0);
    ASSERT_EQ(f.n_states, 1);
    ASSERT_EQ(f.states[0], 1);
    ASSERT_EQ(count_logs(&f, "command link connected to 127.0.0.1:"), 1);
    ASSERT_EQ(count_logs(&f, "subscriber link connected to 127.0.0.1:"), 1);
    ASSERT_EQ(f.n_logs, 2);

    /* Binary-safe arguments and replies, through the argv form. */
    static const char key[] = "k\0\r\n\xff", val[] = "v\0al\r\nue\x80";
    const char *set_argv[3] = {"SET", key, val};
    size_t set_lens[3] = {3, sizeof key - 1, sizeof val - 1};
    reply_box set = {0}, get = {0};
    ASSERT_EQ(rc_command_argv(f.conn, on_reply, &set, 3, set_argv, set_lens), RC_OK);
    ASSERT_EQ(rc_command(f.conn, on_reply, &get, "GET %b", key, sizeof key - 1), RC_OK);
    ASSERT_EQ(set.called + get.called, 0); /* never from inside rc_command */
    wait_reply(&f, &get);
    ASSERT_EQ(set.called, 1);
    ASSERT(set.status == RC_OK && set.type == REDIS_REPLY_STATUS);
    ASSERT(get.status == RC_OK && get.type == REDIS_REPLY_STRING);
    ASSERT(get.len == sizeof val - 1 && memcmp(get.str, val, get.len) == 0);

    /* An error reply comes with its text; an integer with its value. */
    reply_box bad = {0}, incr = {0};
    ASSERT_EQ(rc_command(f.conn, on_reply, &bad, "INCR %b", key, sizeof key - 1), RC_OK);
    ASSERT_EQ(rc_command(f.conn, on_reply, &incr, "INCR counter"), RC_OK);
    wait_reply(&f, &incr);
    ASSERT(bad.status == RC_ERR_REPLY && bad.type == REDIS_REPLY_ERROR);
    ASSERT(strstr(bad.err, "not an integer") != NULL);
    ASSERT(incr.status == RC_OK && incr.type == REDIS_REPLY_INTEGER && incr.integer == 1);

    /* Commands that would change the link's state are refused, on the next turn. */
    static const char *const reserved[] = {"SUBSCRIBE x", "psubscribe x*", "MONITOR", "SELECT 1",
                                           "AUTH x",      "QUIT",          "RESET"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        reply_box r = {0};
        ASSERT_EQ(rc_command(f.conn, on_reply, &r, reserved[i]), RC_OK);
        ASSERT_EQ(r.called, 0);
        wait_reply(&f, &r);
        ASSERT_EQ(r.status, RC_ERR_ARG);
    }
    reply_box empty = {0};
    ASSERT_EQ(rc_command_argv(f.conn, on_reply, &empty, 0, NULL, NULL), RC_OK);
    wait_reply(&f, &empty);
    ASSERT_EQ(empty.status, RC_ERR_ARG);
    ASSERT(rc_ready(f.conn));
    fixture_close(&f);
}

static void test_pubsub_binary_round_trip(void)
{
    fixture f;
    fixture_init(&f);
    start_and_connect(&f, NULL, "", 0);
    ASSERT_EQ(rc_subscribe(f.conn, "sb#/#"), RC_OK);
    ASSERT_EQ(rc_psubscribe(f.conn, "sb#/chat#*"), RC_OK);
    ASSERT(!rc_subscribed(f.conn, "sb#/#", 0));
    wait_subscribed(&f, "sb#/#", 0);
    wait_subscribed(&f, "sb#/chat#*", 1);
    ASSERT(!rc_subscribed(f.conn, "sb#/#", 1)); /* patterns are a separate registry */

    static const char payload[] = "\x93\xa3"
                                  "a\0b\r\n\xff\xc0";
    reply_box pub = {0};
    ASSERT_EQ(
        rc_command(f.conn, on_reply, &pub, "PUBLISH %s %b", "sb#/#", payload, sizeof payload - 1),
        RC_OK);
    wait_msgs(&f, 1);
    ASSERT(f.msgs[0].pattern[0] == '\0');
    ASSERT(f.msgs[0].channel_len == 5 && memcmp(f.msgs[0].channel, "sb#/#", 5) == 0);
    ASSERT(f.msgs[0].len == sizeof payload - 1 &&
           memcmp(f.msgs[0].data, payload, f.msgs[0].len) == 0);
    wait_reply(&f, &pub);
    ASSERT(pub.status == RC_OK && pub.integer == 1);

    /* From another client, on a channel the pattern matches; the payload is empty. */
    freeReplyObject(
        sync_command(f.port, NULL, "PUBLISH %s %b", "sb#/chat#room\x01", "", (size_t)0));
    wait_msgs(&f, 2);
    ASSERT(strcmp(f.msgs[1].pattern, "sb#/chat#*") == 0);
    ASSERT(f.msgs[1].channel_len == 14 && memcmp(f.msgs[1].channel, "sb#/chat#room\x01", 14) == 0);
    ASSERT_EQ(f.msgs[1].len, 0);

    /* Channels nobody subscribed stay silent. */
    freeReplyObject(sync_command(f.port, NULL, "PUBLISH other x"));
    run_until(&f, NULL, QUIET_MS);
    ASSERT_EQ(f.n_msgs, 2);
    fixture_close(&f);
}

static void test_subscribe_is_refcounted(void)
{
    fixture f;
    fixture_init(&f);
    start_and_connect(&f, NULL, "", 0);
    ASSERT_EQ(rc_subscribe(f.conn, "room"), RC_OK);
    ASSERT_EQ(rc_subscribe(f.conn, "room"), RC_OK);
    wait_subscribed(&f, "room", 0);
    ASSERT_EQ(numsub(&f, "room"), 1);

    /* The first unsubscribe keeps the subscription. */
    ASSERT_EQ(rc_unsubscribe(f.conn, "room"), RC_OK);
    ASSERT(rc_subscribed(f.conn, "room", 0));
    ASSERT_EQ(numsub(&f, "room"), 1);
    freeReplyObject(sync_command(f.port, NULL, "PUBLISH room one"));
    wait_msgs(&f, 1);

    /* The last one ends it. */
    ASSERT_EQ(rc_unsubscribe(f.conn, "room"), RC_OK);
    ASSERT(!rc_subscribed(f.conn, "room", 0));
    wait_numsub(&f, "room", 0);
    freeReplyObject(sync_command(f.port, NULL, "PUBLISH room two"));
    run_until(&f, NULL, QUIET_MS);
    ASSERT_EQ(f.n_msgs, 1);
    ASSERT_EQ(rc_unsubscribe(f.conn, "room"), RC_ERR_ARG);
    ASSERT_EQ(rc_unsubscribe(f.conn, "never"), RC_ERR_ARG);
    ASSERT_EQ(rc_punsubscribe(f.conn, "room"), RC_ERR_ARG);

    /* Subscribe, unsubscribe, subscribe in one turn: subscribed, once. */
    ASSERT_EQ(rc_subscribe(f.conn, "flip"), RC_OK);
    ASSERT_EQ(rc_unsubscribe(f.conn, "flip"), RC_OK);
    ASSERT_EQ(rc_subscribe(f.conn, "flip"), RC_OK);
    wait_subscribed(&f, "flip", 0);
    ASSERT_EQ(numsub(&f, "flip"), 1);
    /* ... and the reverse ends unsubscribed. */
    ASSERT_EQ(rc_unsubscribe(f.conn, "flip"), RC_OK);
    ASSERT_EQ(rc_subscribe(f.conn, "flip"), RC_OK);
    ASSERT_EQ(rc_unsubscribe(f.conn, "flip"), RC_OK);
    wait_numsub(&f, "flip", 0);
    ASSERT(!rc_subscribed(f.conn, "flip", 0));

    /* Patterns count the same way. */
    ASSERT_EQ(rc_psubscribe(f.conn, "p*"), RC_OK);
    ASSERT_EQ(rc_psubscribe(f.conn, "p*"), RC_OK);
    wait_subscribed(&f, "p*", 1);
    ASSERT_EQ(rc_punsubscribe(f.conn, "p*"), RC_OK);
    ASSERT(rc_subscribed(f.conn, "p*", 1));
    ASSERT_EQ(rc_punsubscribe(f.conn, "p*"), RC_OK);
    ASSERT(!rc_subscribed(f.conn, "p*", 1));
    for (int waited = 0;; waited += 10) {
        reply_box n = {0};
        ASSERT_EQ(rc_command(f.conn, on_reply, &n, "PUBSUB NUMPAT"), RC_OK);
        wait_reply(&f, &n);
        if (n.integer == 0)
            break;
        ASSERT(waited < WAIT_SHORT_MS);
        run_until(&f, NULL, 10);
    }
    fixture_close(&f);
}

static void test_redis_restart_restores_subscriptions(void)
{
    fixture f;
    fixture_init(&f);
    start_and_connect(&f, NULL, "", 0);
    ASSERT_EQ(rc_subscribe(f.conn, "a"), RC_OK);
    ASSERT_EQ(rc_subscribe(f.conn, "b"), RC_OK);
    ASSERT_EQ(rc_psubscribe(f.conn, "p*"), RC_OK);
    char name[32];
    for (int i = 0; i < MANY_CHANNELS; i++) {
        snprintf(name, sizeof name, "many:%d", i);
        ASSERT_EQ(rc_subscribe(f.conn, name), RC_OK);
    }
    wait_subscribed(&f, "a", 0);
    wait_subscribed(&f, "b", 0);
    wait_subscribed(&f, "p*", 1);
    snprintf(name, sizeof name, "many:%d", MANY_CHANNELS - 1);
    wait_subscribed(&f, name, 0);
    int logs_before = f.n_logs;

    /* A command in flight when Redis dies fails once, with RC_ERR_LOST. */
    reply_box blocked = {0};
    ASSERT_EQ(rc_command(f.conn, on_reply, &blocked, "BLPOP nothing 5"), RC_OK);
    run_until(&f, NULL, 50);
    ASSERT_EQ(blocked.called, 0);
    redis_stop(children[0], SIGKILL);
    ASSERT(run_until(&f, is_not_ready, WAIT_SHORT_MS));
    wait_reply(&f, &blocked);
    ASSERT_EQ(blocked.status, RC_ERR_LOST);

    /* While it is down, commands fail fast (on the next turn) and subscribing still works. */
    reply_box down = {0};
    uv_update_time(&f.loop);
    uint64_t t0 = uv_now(&f.loop);
    ASSERT_EQ(rc_command(f.conn, on_reply, &down, "PING"), RC_OK);
    ASSERT_EQ(down.called, 0);
    wait_reply(&f, &down);
    ASSERT_EQ(down.status, RC_ERR_DOWN);
    ASSERT(uv_now(&f.loop) - t0 < 100);
    ASSERT_EQ(rc_subscribe(f.conn, "c"), RC_OK);
    ASSERT_EQ(rc_subscribe(f.conn, "a"), RC_OK);
    ASSERT_EQ(rc_unsubscribe(f.conn, "a"), RC_OK);
    ASSERT(!rc_subscribed(f.conn, "a", 0));

    /* Several retries fail while it stays down; they are not logged one by one. */
    run_until(&f, NULL, 1500);
    ASSERT(!rc_ready(f.conn));
    ASSERT_EQ(count_logs(&f, "command link lost"), 1);
    ASSERT_EQ(count_logs(&f, "subscriber link lost"), 1);
    ASSERT(count_logs(&f, "command link cannot connect") <= 1);
    ASSERT(count_logs(&f, "subscriber link cannot connect") <= 1);
    int outage_logs = f.n_logs - logs_before;
    ASSERT(outage_logs >= 2 && outage_logs <= 4);

    /* Back on the same port: ready again, every subscription restored without help. */
    redis_start(f.port, NULL);
    if (!run_until(&f, is_ready, WAIT_READY_MS))
        TEST_FAIL("not ready again within %d ms", WAIT_READY_MS);
    ASSERT_EQ(f.n_states, 3);
    ASSERT(f.states[0] == 1 && f.states[1] == 0 && f.states[2] == 1);
    ASSERT_EQ(count_logs(&f, "command link reconnected after"), 1);
    ASSERT_EQ(count_logs(&f, "subscriber link reconnected after"), 1);
    snprintf(name, sizeof name, "%d subscriptions restored", MANY_CHANNELS + 4);
    ASSERT_EQ(count_logs(&f, name), 1);
    ASSERT_EQ(f.n_logs - logs_before, outage_logs + 2);
    ASSERT(rc_subscribed(f.conn, "a", 0) && rc_subscribed(f.conn, "b", 0));
    ASSERT(rc_subscribed(f.conn, "c", 0) && rc_subscribed(f.conn, "p*", 1));
    ASSERT_EQ(numsub(&f, "a"), 1);
    ASSERT_EQ(numsub(&f, "many:0"), 1);
    snprintf(name, sizeof name, "many:%d", MANY_CHANNELS - 1);
    ASSERT_EQ(numsub(&f, name), 1);
    freeReplyObject(sync_command(f.port, NULL, "PUBLISH a 1"));
    freeReplyObject(sync_command(f.port, NULL, "PUBLISH b 2"));
    freeReplyObject(sync_command(f.port, NULL, "PUBLISH c 3"));
    freeReplyObject(sync_command(f.port, NULL, "PUBLISH p9 4"));
    wait_msgs(&f, 4);
    ASSERT(f.msgs[0].channel[0] == 'a' && f.msgs[1].channel[0] == 'b' &&
           f.msgs[2].channel[0] == 'c');
    ASSERT(strcmp(f.msgs[3].pattern, "p*") == 0);
    ASSERT_EQ(blocked.called, 1);
    ASSERT_EQ(down.called, 1);
    fixture_close(&f);
}

static void test_auth_and_select(void)
{
    fixture f;
    fixture_init(&f);
    static const char *const args[] = {"--requirepass", "hunter2x", "--user", "alice", "on",
                                       ">wonder1",      "~*",       "&*",     "+@all", NULL};
    start_and_connect(&f, args, ":hunter2x@", 3);
    reply_box set = {0};
    ASSERT_EQ(rc_command(f.conn, on_reply, &set, "SET where db3"), RC_OK);
    wait_reply(&f, &set);
    ASSERT_EQ(set.status, RC_OK);
    redisContext *ctx = sync_connect(f.port, NULL, "hunter2x");
    ASSERT(ctx != NULL);
    redisReply *r = redisCommand(ctx, "GET where");
    ASSERT(r != NULL && r->type == REDIS_REPLY_NIL); /* not in db 0 */
    freeReplyObject(r);
    freeReplyObject(redisCommand(ctx, "SELECT 3"));
    r = redisCommand(ctx, "GET where");
    ASSERT(r != NULL && r->type == REDIS_REPLY_STRING && strcmp(r->str, "db3") == 0);
    freeReplyObject(r);
    redisFree(ctx);
    ASSERT_EQ(rc_subscribe(f.conn, "authed"), RC_OK); /* the subscriber link is authenticated too */
    wait_subscribed(&f, "authed", 0);
    ASSERT_EQ(count_logs(&f, "hunter2x"), 0);
    ASSERT_EQ(count_logs(&f, "db 3"), 2);
    fixture_close(&f);

    /* An ACL user. */
    fixture g;
    fixture_init(&g);
    start_and_connect_to(&g, f.port, args, "alice:wonder1@", 0);
    ASSERT(run_until(&g, is_ready, WAIT_READY_MS));
    reply_box who = {0};
    ASSERT_EQ(rc_command(g.conn, on_reply, &who, "ACL WHOAMI"), RC_OK);
    wait_reply(&g, &who);
    ASSERT(who.len == 5 && memcmp(who.str, "alice", 5) == 0);
    ASSERT_EQ(count_logs(&g, "wonder1"), 0);
    fixture_close(&g);

    /* A wrong password never gets ready, and says why once per link. */
    fixture h;
    fixture_init(&h);
    start_and_connect_to(&h, f.port, args, ":not-it-9@", 0);
    run_until(&h, is_ready, 1500);
    ASSERT(!rc_ready(h.conn));
    ASSERT_EQ(h.n_states, 0);
    ASSERT_EQ(count_logs(&h, "command link cannot connect"), 1);
    ASSERT_EQ(count_logs(&h, "subscriber link cannot connect"), 1);
    ASSERT_EQ(count_logs(&h, "WRONGPASS"), 2);
    ASSERT_EQ(h.n_logs, 2);
    ASSERT_EQ(count_logs(&h, "not-it-9"), 0);
    fixture_close(&h);

    /* A database Redis does not have. */
    fixture d;
    fixture_init(&d);
    start_and_connect_to(&d, f.port, args, ":hunter2x@", 99);
    run_until(&d, is_ready, 500);
    ASSERT(!rc_ready(d.conn));
    ASSERT_EQ(count_logs(&d, "DB index is out of range"), 2);
    fixture_close(&d);
}

static int sub_link_lost(fixture *f) { return count_logs(f, "subscriber link lost") > 0; }

static void test_subscribe_refused_by_acl(void)
{
    fixture f;
    fixture_init(&f);
    /* bob may run commands but not use any channel (no &... rule). */
    static const char *const args[] = {"--user", "bob", "on", ">builder", "~*", "+@all", NULL};
    start_and_connect(&f, args, "bob:builder@", 0);
    ASSERT_EQ(rc_subscribe(f.conn, "forbidden"), RC_OK);
    ASSERT(run_until(&f, sub_link_lost, WAIT_SHORT_MS));
    ASSERT(!rc_ready(f.conn));
    ASSERT_EQ(count_logs(&f, "subscriber link lost (NOPERM"), 1);

    /* Every reconnect restores the registry and is refused again: quietly. */
    run_until(&f, NULL, 1500);
    ASSERT(!rc_ready(f.conn));
    ASSERT_EQ(count_logs(&f, "subscriber link lost"), 1);
    ASSERT(count_logs(&f, "subscriber link cannot connect") <= 1);
    ASSERT_EQ(count_logs(&f, "command link"), 1); /* the command link stayed up */
    reply_box ping = {0};
    ASSERT_EQ(rc_command(f.conn, on_reply, &ping, "PING"), RC_OK);
    wait_reply(&f, &ping);
    ASSERT_EQ(ping.status, RC_OK);

    /* Without the refused channel in the registry, it comes back. */
    ASSERT_EQ(rc_unsubscribe(f.conn, "forbidden"), RC_OK);
    ASSERT(run_until(&f, is_ready, WAIT_READY_MS));
    ASSERT_EQ(count_logs(&f, "subscriber link reconnected"), 1);
    fixture_close(&f);
}

/* Reads Redis's count of read(2) calls on client sockets out of an INFO stats reply. */
static long long total_reads(const reply_box *b)
{
    const char *p = memmem(b->str, b->len, "total_reads_processed:", 22);
    ASSERT(p != NULL);
    return atoll(p + 22);
}

typedef struct pipeline_test {
    fixture *f;
    reply_box before, after;
    reply_box sets[PIPELINE_COMMANDS];
} pipeline_test;

/* Issues PIPELINE_COMMANDS commands and a closing INFO, all in this one loop turn. */
static void on_info_before(rc_conn *c, int status, const redisReply *r, const char *errstr,
                           void *ud)
{
    pipeline_test *t = ud;
    on_reply(c, status, r, errstr, &t->before);
    for (int i = 0; i < PIPELINE_COMMANDS; i++)
        ASSERT_EQ(rc_command(c, on_reply, &t->sets[i], "SET key:%d %d", i, i), RC_OK);
    ASSERT_EQ(rc_command(c, on_reply, &t->after, "INFO stats"), RC_OK);
}

static void test_pipelining_one_write_per_turn(void)
{
    fixture f;
    fixture_init(&f);
    start_and_connect(&f, NULL, "", 0);
    static pipeline_test t;
    memset(&t, 0, sizeof t);
    ASSERT_EQ(rc_command(f.conn, on_info_before, &t, "INFO stats"), RC_OK);
    wait_reply(&f, &t.after);
    for (int i = 0; i < PIPELINE_COMMANDS; i++)
        ASSERT(t.sets[i].called == 1 && t.sets[i].status == RC_OK);
    long long reads = total_reads(&t.after) - total_reads(&t.before);
    fprintf(stderr, "%d commands issued in one turn took %lld read(2) calls in Redis\n",
            PIPELINE_COMMANDS + 1, reads);
    /* One write carries the whole batch (under Redis's 16 KB read buffer); allow a split. */
    ASSERT(reads >= 1 && reads <= 3);
    fixture_close(&f);
}

static void test_command_timeout_drops_hung_server(void)
{
    fixture f;
    fixture_init(&f);
    f.port = free_port();
    pid_t pid = redis_start(f.port, NULL);
    snprintf(f.url, sizeof f.url, "redis://127.0.0.1:%d", f.port);
    rc_config cfg;
    char err[128];
    fixture_config(&f, &cfg, f.url);
    cfg.command_timeout_ms = 300;
    cfg.connect_timeout_ms = 300;
    f.conn = rc_conn_new(&f.loop, &cfg, err, sizeof err);
    ASSERT(f.conn != NULL);
    ASSERT(run_until(&f, is_ready, WAIT_READY_MS));

    redis_stop(pid, SIGSTOP);
    reply_box ping = {0};
    uv_update_time(&f.loop);
    uint64_t t0 = uv_now(&f.loop);
    ASSERT_EQ(rc_command(f.conn, on_reply, &ping, "PING"), RC_OK);
    wait_reply(&f, &ping);
    ASSERT_EQ(ping.status, RC_ERR_TIMEOUT);
    ASSERT(uv_now(&f.loop) - t0 >= 300 && uv_now(&f.loop) - t0 < 1000);
    ASSERT(!rc_ready(f.conn));
    ASSERT_EQ(count_logs(&f, "command link lost (no reply within 300 ms)"), 1);
    run_until(&f, NULL, 800); /* attempts meet a silent server: the connect deadline */
    ASSERT(count_logs(&f, "command link cannot connect") <= 1);

    redis_stop(pid, SIGCONT);
    ASSERT(run_until(&f, is_ready, WAIT_READY_MS));
    ASSERT_EQ(count_logs(&f, "command link reconnected"), 1);
    ASSERT_EQ(count_logs(&f, "subscriber link lost"), 0);
    fixture_close(&f);
}

/* ---- a fake server that answers with garbage ---- */

typedef struct fake_server {
    uv_tcp_t listener;
    uv_tcp_t *clients[8];
    int n_clients;
    int silent; /* 1: read and never answer */
    int pongs;  /* else answer this many first reads with +PONG, then: */
    int reset;  /* 1: reset the connection (RST), 0: answer garbage */
    int reads;
} fake_server;

static void fake_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    static char slab[4096];
    (void)h;
    (void)size;
    *buf = uv_buf_init(slab, sizeof slab);
}

static void fake_write(uv_stream_t *s, const char *text)
{
    uv_buf_t b = uv_buf_init((char *)text, (unsigned)strlen(text));
    uv_try_write(s, &b, 1);
}

static void fake_free(uv_handle_t *h) { free(h); }

static void fake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    fake_server *fs = s->data;
    (void)buf;
    if (n <= 0 || fs->silent)
        return;
    if (fs->reads++ < fs->pongs) {
        fake_write(s, "+PONG\r\n");
    } else if (fs->reset) {
        for (int i = 0; i < fs->n_clients; i++)
            if (fs->clients[i] == (uv_tcp_t *)s)
                fs->clients[i] = NULL;
        uv_tcp_close_reset((uv_tcp_t *)s, fake_free);
    } else {
        fake_write(s, "garbage\r\n$-7\r\n*x\r\n");
    }
}

static void fake_connection(uv_stream_t *server, int status)
{
    fake_server *fs = server->data;
    ASSERT(status == 0 && fs->n_clients < 8);
    uv_tcp_t *client = malloc(sizeof *client);
    uv_tcp_init(server->loop, client);
    client->data = fs;
    fs->clients[fs->n_clients++] = client;
    ASSERT(uv_accept(server, (uv_stream_t *)client) == 0);
    uv_read_start((uv_stream_t *)client, fake_alloc, fake_read);
}

static int fake_listen(fixture *f, fake_server *fs)
{
    struct sockaddr_in a;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(&f->loop, &fs->listener);
    fs->listener.data = fs;
    ASSERT(uv_tcp_bind(&fs->listener, (struct sockaddr *)&a, 0) == 0);
    ASSERT(uv_listen((uv_stream_t *)&fs->listener, 8, fake_connection) == 0);
    uv_tcp_getsockname(&fs->listener, (struct sockaddr *)&bound, &len);
    return ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

static void fake_close(fake_server *fs)
{
    uv_close((uv_handle_t *)&fs->listener, NULL);
    for (int i = 0; i < fs->n_clients; i++)
        if (fs->clients[i] != NULL)
            uv_close((uv_handle_t *)fs->clients[i], fake_free);
}

static void test_garbage_and_silence_never_crash(void)
{
    fixture f;
    fixture_init(&f);
    static fake_server fs;
    memset(&fs, 0, sizeof fs);
    fs.pongs = 2; /* both links' handshakes (PING only) succeed, then garbage */
    int port = fake_listen(&f, &fs);
    snprintf(f.url, sizeof f.url, "redis://127.0.0.1:%d", port);
    fixture_connect(&f, f.url);
    ASSERT(run_until(&f, is_ready, WAIT_READY_MS));
    reply_box get = {0};
    ASSERT_EQ(rc_command(f.conn, on_reply, &get, "GET x"), RC_OK);
    wait_reply(&f, &get);
    ASSERT_EQ(get.status, RC_ERR_LOST);
    ASSERT(strstr(get.err, "Protocol error") != NULL);
    ASSERT(!rc_ready(f.conn));
    ASSERT_EQ(count_logs(&f, "command link lost (Protocol error"), 1);
    /* Retries get garbage from the first byte: one line, then quiet. */
    run_until(&f, NULL, 600);
    ASSERT_EQ(count_logs(&f, "command link cannot connect"), 1);
    ASSERT(!rc_ready(f.conn));
    rc_close(f.conn, on_closed, &f);
    fake_close(&fs);
    fixture_close(&f);

    /* A reset (RST) is seen at once, not at the command timeout: Debian's hiredis 0.14
     * libuv adapter alone would miss it (see rc_poll in redis_conn.c). */
    fixture r;
    fixture_init(&r);
    memset(&fs, 0, sizeof fs);
    fs.pongs = 2;
    fs.reset = 1;
    port = fake_listen(&r, &fs);
    snprintf(r.url, sizeof r.url, "redis://127.0.0.1:%d", port);
    fixture_connect(&r, r.url);
    ASSERT(run_until(&r, is_ready, WAIT_READY_MS));
    reply_box reset = {0};
    ASSERT_EQ(rc_command(r.conn, on_reply, &reset, "GET x"), RC_OK);
    wait_reply(&r, &reset); /* within WAIT_SHORT_MS, far below the 10 s command timeout */
    ASSERT_EQ(reset.status, RC_ERR_LOST);
    ASSERT(strstr(reset.err, "reset by peer") != NULL);
    rc_close(r.conn, on_closed, &r);
    fake_close(&fs);
    fixture_close(&r);

    /* A server that accepts and never answers: the connect deadline ends each attempt. */
    fixture g;
    fixture_init(&g);
    memset(&fs, 0, sizeof fs);
    fs.silent = 1;
    port = fake_listen(&g, &fs);
    snprintf(g.url, sizeof g.url, "redis://127.0.0.1:%d", port);
    rc_config cfg;
    char err[128];
    fixture_config(&g, &cfg, g.url);
    cfg.connect_timeout_ms = 200;
    g.conn = rc_conn_new(&g.loop, &cfg, err, sizeof err);
    ASSERT(g.conn != NULL);
    run_until(&g, NULL, 1000);
    ASSERT(!rc_ready(g.conn));
    ASSERT_EQ(count_logs(&g, "no answer within 200 ms"), 2);
    rc_close(g.conn, on_closed, &g);
    fake_close(&fs);
    fixture_close(&g);
}

static int pending_all_called(reply_box *b, int n)
{
    for (int i = 0; i < n; i++)
        if (b[i].called != 1)
            return 0;
    return 1;
}

static void test_close_answers_pending_then_stays_silent(void)
{
    fixture f;
    fixture_init(&f);
    start_and_connect(&f, NULL, "", 0);
    ASSERT_EQ(rc_subscribe(f.conn, "x"), RC_OK);
    reply_box b[4];
    memset(b, 0, sizeof b);
    ASSERT_EQ(rc_command(f.conn, on_reply, &b[0], "PING"), RC_OK);
    ASSERT_EQ(rc_command(f.conn, on_reply, &b[1], "BLPOP nothing 1"), RC_OK);
    ASSERT_EQ(rc_command(f.conn, on_reply, &b[2], "SUBSCRIBE x"), RC_OK); /* refused, queued */
    ASSERT_EQ(rc_command(f.conn, on_reply, &b[3], "GET %s", "k"), RC_OK);
    rc_close(f.conn, on_closed, &f);
    ASSERT(pending_all_called(b, 4));
    ASSERT(b[0].status == RC_ERR_CLOSED && b[1].status == RC_ERR_CLOSED &&
           b[3].status == RC_ERR_CLOSED);
    ASSERT_EQ(b[2].status, RC_ERR_ARG);
    ASSERT_EQ(f.closed, 0); /* done comes on the loop */
    reply_box late = {0};
    ASSERT_EQ(rc_command(f.conn, on_reply, &late, "PING"), RC_ERR_CLOSED);
    ASSERT_EQ(rc_subscribe(f.conn, "y"), RC_ERR_CLOSED);
    ASSERT(!rc_ready(f.conn));
    rc_close(f.conn, on_closed, &f); /* ignored */
    int states = f.n_states;
    fixture_close(&f);
    ASSERT(pending_all_called(b, 4));
    ASSERT_EQ(late.called, 0);
    ASSERT_EQ(f.n_states, states); /* no "not ready" after close */
}

static void test_close_while_disconnected_or_resolving(void)
{
    /* Nothing listens: the links are between retries. */
    fixture f;
    fixture_init(&f);
    snprintf(f.url, sizeof f.url, "redis://127.0.0.1:%d", free_port());
    fixture_connect(&f, f.url);
    run_until(&f, NULL, 400);
    ASSERT(!rc_ready(f.conn));
    ASSERT_EQ(count_logs(&f, "cannot connect"), 2);
    ASSERT_EQ(count_logs(&f, "Connection refused"), 2);
    reply_box down = {0};
    ASSERT_EQ(rc_command(f.conn, on_reply, &down, "PING"), RC_OK);
    wait_reply(&f, &down);
    ASSERT_EQ(down.status, RC_ERR_DOWN);
    fixture_close(&f);

    /* A host name: closed while uv_getaddrinfo is in flight. */
    fixture g;
    fixture_init(&g);
    snprintf(g.url, sizeof g.url, "redis://localhost:%d", free_port());
    fixture_connect(&g, g.url);
    fixture_close(&g);

    /* A host name, resolved: it connects like an address. */
    fixture h;
    fixture_init(&h);
    h.port = free_port();
    redis_start(h.port, NULL);
    snprintf(h.url, sizeof h.url, "redis://localhost:%d", h.port);
    fixture_connect(&h, h.url);
    ASSERT(run_until(&h, is_ready, WAIT_READY_MS));
    fixture_close(&h);

    /* A name that does not resolve fails like a refused connection. */
    fixture n;
    fixture_init(&n);
    fixture_connect(&n, "redis://no-such-host.invalid:6379");
    run_until(&n, NULL, 1500);
    ASSERT(!rc_ready(n.conn));
    ASSERT(count_logs(&n, "cannot resolve no-such-host.invalid") <= 2);
    fixture_close(&n);
}

static void test_close_from_inside_callbacks(void)
{
    /* From a message callback. */
    fixture f;
    fixture_init(&f);
    start_and_connect(&f, NULL, "", 0);
    ASSERT_EQ(rc_subscribe(f.conn, "bye"), RC_OK);
    wait_subscribed(&f, "bye", 0);
    f.close_in_message = 1;
    freeReplyObject(sync_command(f.port, NULL, "PUBLISH bye 1"));
    freeReplyObject(sync_command(f.port, NULL, "PUBLISH bye 2"));
    ASSERT(run_until(&f, is_closed, WAIT_SHORT_MS));
    ASSERT_EQ(f.n_msgs, 1);
    fixture_close(&f);

    /* From a reply callback, with more replies on the way. */
    fixture g;
    fixture_init(&g);
    start_and_connect(&g, NULL, "", 0);
    reply_box first = {0}, second = {0};
    first.close_conn = 1;
    first.f = &g;
    ASSERT_EQ(rc_command(g.conn, on_reply, &first, "PING"), RC_OK);
    ASSERT_EQ(rc_command(g.conn, on_reply, &second, "PING"), RC_OK);
    ASSERT(run_until(&g, is_closed, WAIT_SHORT_MS));
    ASSERT(first.called == 1 && first.status == RC_OK);
    ASSERT(second.called == 1 && second.status == RC_ERR_CLOSED);
    fixture_close(&g);
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
static const test_entry TESTS[] = {
    TEST(url_parse_good_forms),
    TEST(url_parse_bad_forms),
    TEST(connect_and_command_round_trip),
    TEST(pubsub_binary_round_trip),
    TEST(subscribe_is_refcounted),
    TEST(redis_restart_restores_subscriptions),
    TEST(auth_and_select),
    TEST(subscribe_refused_by_acl),
    TEST(pipelining_one_write_per_turn),
    TEST(command_timeout_drops_hung_server),
    TEST(garbage_and_silence_never_crash),
    TEST(close_answers_pending_then_stays_silent),
    TEST(close_while_disconnected_or_resolving),
    TEST(close_from_inside_callbacks),
};
#undef TEST

int main(int argc, char **argv)
{
    size_t n = sizeof TESTS / sizeof TESTS[0];
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < n; i++)
            puts(TESTS[i].name);
        return 0;
    }
    for (size_t i = 0; argc == 2 && i < n; i++)
        if (strcmp(argv[1], TESTS[i].name) == 0) {
            TESTS[i].run();
            kill_children();
            printf("ok %s\n", TESTS[i].name);
            return 0;
        }
    fprintf(stderr, "usage: %s <test> | --list\n", argv[0]);
    return 2;
}
