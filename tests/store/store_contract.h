/* store_contract.h: the behaviour every hd_store must show, as named cases that run
 * against any store (the memory store from the unit tests, the Redis store from the
 * cluster tests).
 *
 * Each case makes its own store with make(ud), drives it through its ops only, checks every
 * result against store.h and spec/helpdesk.md, and closes it. make must return a store
 * that holds nothing yet (for Redis: an empty database, or keys of its own). Times are
 * the case's own, counted from the wall clock at its start, so a store that keeps
 * wall-clock expiries (presence heartbeats) sees plausible ones. They only move forward:
 * how a store orders what callers with disagreeing clocks stamped is not in the contract.
 *
 * A failed check aborts with its file and line, as every ASSERT in tests/unit/test.h.
 */
#ifndef HD_STORE_CONTRACT_H
#define HD_STORE_CONTRACT_H

#include <uv.h>

#include "store.h"

typedef hd_store *(*hd_store_make_fn)(void *ud);

/* Every event the store made since make(ud), oldest first: a new JSON array of
 * {"type": string, "data": the data parsed} (the Redis store's hd:events, the memory
 * store's sink). */
typedef json_t *(*hd_store_events_fn)(void *ud);

/* Runs the case named test_name; returns 0 when it passed. loop: NULL for a store whose
 * callbacks run before its ops return (checked); else the loop its callbacks run on,
 * turned with UV_RUN_ONCE until each callback has run. An unknown name fails. */
int hd_store_contract_run(const char *test_name, hd_store_make_fn make, hd_store_events_fn events,
                          void *ud, uv_loop_t *loop);

/* Every case's name, then NULL. */
extern const char *const hd_store_contract_cases[];

#endif
