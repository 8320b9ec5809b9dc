/* test_store_memory.c: the store contract (tests/store/store_contract.c), case by case,
 * against the in-memory store of the embedded mode. Its callbacks run before its ops
 * return, so no loop is given: the contract checks that too. */
#include "../store/store_contract.h"
#include "test.h"

#define CASES_LISTED 34 /* the case tests below */

/* The sink keeps every event as the contract reads them: {"type","data" (parsed)}. */
static void keep_event(const char *type, const char *data, size_t len, void *ud)
{
    json_t *parsed = json_loadb(data, len, 0, NULL);
    ASSERT(parsed != NULL);
    ASSERT_EQ(strlen(data), len);
    json_array_append_new(ud, json_pack("{s:s,s:o}", "type", type, "data", parsed));
}

static hd_store *make_memory(void *ud)
{
    hd_store *st = hd_store_memory_new();
    hd_store_memory_set_sink(st, keep_event, ud);
    return st;
}

static json_t *memory_events(void *ud) { return json_deep_copy(ud); }

static int run_case(const char *name)
{
    json_t *events = json_array();
    int rc = hd_store_contract_run(name, make_memory, memory_events, events, NULL);
    json_decref(events);
    return rc;
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
TEST_IMPL(hd_store_mem_customer_fixed_at_creation)
{
    return run_case("customer_fixed_at_creation");
}
TEST_IMPL(hd_store_mem_read_and_unread) { return run_case("read_and_unread"); }
TEST_IMPL(hd_store_mem_close_unanswered) { return run_case("close_unanswered"); }
TEST_IMPL(hd_store_mem_conversations_every_open) { return run_case("conversations_every_open"); }
TEST_IMPL(hd_store_mem_agents_listed) { return run_case("agents_listed"); }
TEST_IMPL(hd_store_mem_departments_and_queue_status)
{
    return run_case("departments_and_queue_status");
}
TEST_IMPL(hd_store_mem_visitor_registered) { return run_case("visitor_registered"); }
TEST_IMPL(hd_store_mem_events_every_change) { return run_case("events_every_change"); }
