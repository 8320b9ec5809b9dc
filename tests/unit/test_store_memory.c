/* test_store_memory.c: the store contract (tests/store/store_contract.c), case by case,
 * against the in-memory store of the embedded mode. Its callbacks run before its ops
 * return, so no loop is given: the contract checks that too. */
#include "../store/store_contract.h"
#include "test.h"

#define CASES_LISTED 26 /* the case tests below */

static hd_store *make_memory(void *ud) { return hd_store_memory_new(); }

static int run_case(const char *name)
{
    return hd_store_contract_run(name, make_memory, NULL, NULL);
}

/* Every contract case has its test here: a case the contract adds fails this one until it
 * is listed. */
TEST_IMPL(hd_store_mem_every_case_listed)
{
    size_t n = 0;
    while (hd_store_contract_cases[n])
        n++;
    ASSERT_EQ(n, CASES_LISTED);
    return 0;
}

TEST_IMPL(hd_store_mem_post_creates_queued_conversation)
{
    return run_case("post_creates_queued_conversation");
}
TEST_IMPL(hd_store_mem_post_seq_gap_free) { return run_case("post_seq_gap_free"); }
TEST_IMPL(hd_store_mem_post_idempotent_client_msg_id)
{
    return run_case("post_idempotent_client_msg_id");
}
TEST_IMPL(hd_store_mem_post_unknown_404) { return run_case("post_unknown_404"); }
TEST_IMPL(hd_store_mem_unknown_chat_404_everywhere)
{
    return run_case("unknown_chat_404_everywhere");
}
TEST_IMPL(hd_store_mem_post_other_session_403) { return run_case("post_other_session_403"); }
TEST_IMPL(hd_store_mem_post_agent_not_assigned_403)
{
    return run_case("post_agent_not_assigned_403");
}
TEST_IMPL(hd_store_mem_post_closed_409) { return run_case("post_closed_409"); }
TEST_IMPL(hd_store_mem_post_assign_routes_in_one_step)
{
    return run_case("post_assign_routes_in_one_step");
}
TEST_IMPL(hd_store_mem_route_least_loaded) { return run_case("route_least_loaded"); }
TEST_IMPL(hd_store_mem_route_ties_longest_idle) { return run_case("route_ties_longest_idle"); }
TEST_IMPL(hd_store_mem_route_respects_max_chats) { return run_case("route_respects_max_chats"); }
TEST_IMPL(hd_store_mem_route_dept_filter) { return run_case("route_dept_filter"); }
TEST_IMPL(hd_store_mem_route_away_agent_skipped) { return run_case("route_away_agent_skipped"); }
TEST_IMPL(hd_store_mem_presence_counts_sockets) { return run_case("presence_counts_sockets"); }
TEST_IMPL(hd_store_mem_route_queue_drains_on_close)
{
    return run_case("route_queue_drains_on_close");
}
TEST_IMPL(hd_store_mem_take_409_when_taken) { return run_case("take_409_when_taken"); }
TEST_IMPL(hd_store_mem_take_403_full) { return run_case("take_403_full"); }
TEST_IMPL(hd_store_mem_transfer_to_queue) { return run_case("transfer_to_queue"); }
TEST_IMPL(hd_store_mem_transfer_to_agent) { return run_case("transfer_to_agent"); }
TEST_IMPL(hd_store_mem_transfer_to_full_agent_403)
{
    return run_case("transfer_to_full_agent_403");
}
TEST_IMPL(hd_store_mem_close_twice_409) { return run_case("close_twice_409"); }
TEST_IMPL(hd_store_mem_history_after_seq_limit) { return run_case("history_after_seq_limit"); }
TEST_IMPL(hd_store_mem_conversations_by_session_and_agent)
{
    return run_case("conversations_by_session_and_agent");
}
TEST_IMPL(hd_store_mem_inquiries_oldest_first) { return run_case("inquiries_oldest_first"); }
TEST_IMPL(hd_store_mem_sweep_closes_inactive) { return run_case("sweep_closes_inactive"); }
