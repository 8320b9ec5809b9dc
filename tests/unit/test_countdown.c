/* test_countdown.c: sb_countdown, one callback after the last close (countdown.h). */
#include "countdown.h"
#include "test.h"

#define TIMERS 3

typedef struct watch {
    int calls;         /* times done ran */
    int manual_done;   /* the non-handle close had finished when done ran */
    int manual_closed; /* the non-handle close has finished */
} watch;

static void on_done(void *ud)
{
    watch *w = ud;
    w->calls++;
    w->manual_done = w->manual_closed;
}

TEST_IMPL(countdown_runs_once_after_the_last_close)
{
    uv_loop_t loop;
    uv_timer_t timers[TIMERS];
    sb_countdown cd;
    watch w = {0, 0, 0};
    ASSERT_EQ(uv_loop_init(&loop), 0);
    for (int i = 0; i < TIMERS; i++)
        uv_timer_init(&loop, &timers[i]);
    sb_countdown_start(&cd, on_done, &w);
    for (int i = 0; i < TIMERS; i++)
        sb_countdown_close(&cd, (uv_handle_t *)&timers[i]);
    sb_countdown_add(&cd); /* something that is not a handle, a connection say */
    sb_countdown_done(&cd);
    ASSERT_EQ(w.calls, 0);
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0); /* every handle closes */
    ASSERT_EQ(w.calls, 0);                       /* the connection has not */
    w.manual_closed = 1;
    sb_countdown_done(&cd);
    ASSERT_EQ(w.calls, 1);
    ASSERT(w.manual_done);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    return 0;
}

/* The owner's own count keeps done from running while closes are still being started,
 * however fast they finish. */
TEST_IMPL(countdown_waits_for_the_owner)
{
    sb_countdown cd;
    watch w = {0, 0, 0};
    sb_countdown_start(&cd, on_done, &w);
    sb_countdown_add(&cd);
    sb_countdown_done(&cd); /* that close finished at once */
    ASSERT_EQ(w.calls, 0);
    sb_countdown_done(&cd); /* the owner has started everything */
    ASSERT_EQ(w.calls, 1);
    return 0;
}

TEST_IMPL(countdown_with_nothing_to_close)
{
    sb_countdown cd;
    watch w = {0, 0, 0};
    sb_countdown_start(&cd, on_done, &w);
    ASSERT_EQ(w.calls, 0);
    sb_countdown_done(&cd);
    ASSERT_EQ(w.calls, 1);
    return 0;
}

/* sb_countdown_done is shaped as a completion callback (void (*)(void *)). */
static void finish_later(void (*cb)(void *ud), void *ud) { cb(ud); }

TEST_IMPL(countdown_done_serves_as_a_callback)
{
    sb_countdown cd;
    watch w = {0, 0, 0};
    sb_countdown_start(&cd, on_done, &w);
    sb_countdown_add(&cd);
    sb_countdown_done(&cd);
    finish_later(sb_countdown_done, &cd);
    ASSERT_EQ(w.calls, 1);
    return 0;
}
