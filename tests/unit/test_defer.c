/* test_defer.c: sb_defer, requests answered on the next loop turn (defer.h). */
#include "defer.h"
#include "test.h"

#define REQUESTS 3
#define MAX_RUNS 16

typedef struct request {
    int id;
    sb_list link;
} request;

/* What the callback saw: request ids in the order they ran, and the turn each ran in. */
typedef struct journal {
    sb_defer *d;
    int turn; /* loop turns run so far by the test */
    int ids[MAX_RUNS];
    int turns[MAX_RUNS];
    int n;
    request *again; /* pushed by the callback when the request of id again_after runs */
    int again_after;
} journal;

static void on_run(sb_list *link, void *ud)
{
    journal *j = ud;
    request *r = SB_LIST_DATA(link, request, link);
    ASSERT(!sb_list_linked(link));
    ASSERT(j->n < MAX_RUNS);
    j->ids[j->n] = r->id;
    j->turns[j->n++] = j->turn;
    if (j->again && r->id == j->again_after) {
        sb_defer_push(j->d, &j->again->link);
        j->again = NULL;
    }
}

/* A loop, a defer on it and REQUESTS requests with ids 0, 1, ... */
typedef struct fixture {
    uv_loop_t loop;
    sb_defer d;
    journal j;
    request r[REQUESTS];
} fixture;

static void setup(fixture *f)
{
    memset(f, 0, sizeof(*f));
    ASSERT_EQ(uv_loop_init(&f->loop), 0);
    f->j.d = &f->d;
    sb_defer_init(&f->loop, &f->d, on_run, &f->j);
    for (int i = 0; i < REQUESTS; i++)
        f->r[i].id = i;
}

static void push(fixture *f, int from, int to)
{
    for (int i = from; i <= to; i++)
        sb_defer_push(&f->d, &f->r[i].link);
}

static void loop_turn(fixture *f)
{
    f->j.turn++;
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void on_closed(void *ud) { (*(int *)ud)++; }

/* Closes the defer (which answers what still waits) and the loop. */
static void teardown(fixture *f)
{
    sb_countdown cd;
    int closed = 0;
    sb_countdown_start(&cd, on_closed, &closed);
    sb_defer_close(&f->d, &cd);
    sb_countdown_done(&cd);
    ASSERT_EQ(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(closed, 1);
    ASSERT_EQ(uv_loop_close(&f->loop), 0);
}

static void expect_ran(const journal *j, int n, int turn)
{
    ASSERT_EQ(j->n, n);
    for (int i = 0; i < n; i++)
        ASSERT_EQ(j->ids[i], i); /* oldest first */
    ASSERT_EQ(j->turns[n - 1], turn);
}

TEST_IMPL(defer_runs_on_the_next_turn_not_before)
{
    fixture f;
    setup(&f);
    push(&f, 0, REQUESTS - 1);
    ASSERT_EQ(f.j.n, 0); /* never inside the call */
    ASSERT_EQ(f.d.count, REQUESTS);
    loop_turn(&f);
    expect_ran(&f.j, REQUESTS, 1);
    ASSERT_EQ(f.j.turns[0], 1);
    ASSERT_EQ(f.d.count, 0);
    teardown(&f);
    return 0;
}

/* A request queued by a callback waits for the turn after: a caller that retries at once
 * cannot keep the loop in one turn. */
TEST_IMPL(defer_pushed_while_running_waits_a_turn)
{
    fixture f;
    setup(&f);
    f.j.again = &f.r[2];
    f.j.again_after = 0;
    push(&f, 0, 1);
    loop_turn(&f);
    expect_ran(&f.j, 2, 1);
    loop_turn(&f);
    expect_ran(&f.j, 3, 2);
    teardown(&f);
    return 0;
}

/* Once the queue is empty the idle handle stops: the loop has nothing left to run. */
TEST_IMPL(defer_idle_when_empty)
{
    fixture f;
    setup(&f);
    ASSERT(!uv_loop_alive(&f.loop));
    push(&f, 0, 0);
    ASSERT(uv_loop_alive(&f.loop));
    ASSERT_EQ(uv_run(&f.loop, UV_RUN_DEFAULT), 0); /* returns: nothing keeps it alive */
    ASSERT_EQ(f.j.n, 1);
    teardown(&f);
    return 0;
}

/* A closing owner has no next turn: flush answers everything now, what it queues too. */
TEST_IMPL(defer_flush_answers_everything_now)
{
    fixture f;
    setup(&f);
    f.j.again = &f.r[2];
    f.j.again_after = 1;
    push(&f, 0, 1);
    sb_defer_flush(&f.d);
    expect_ran(&f.j, REQUESTS, 0);
    ASSERT_EQ(f.d.count, 0);
    loop_turn(&f);
    ASSERT_EQ(f.j.n, REQUESTS);
    teardown(&f);
    return 0;
}

TEST_IMPL(defer_close_answers_what_waits)
{
    fixture f;
    setup(&f);
    push(&f, 0, REQUESTS - 1);
    teardown(&f);
    expect_ran(&f.j, REQUESTS, 0);
    return 0;
}
