/* fanout.c: the `fanout` workload: the backend emits through Redis, in the
 * @socket.io/redis-emitter format, to one room of N members; how many deliveries per
 * second the server makes and how long each takes from PUBLISH to the client.
 *
 * The one idea: emits are numbered and carry their publish time (CLOCK_MONOTONIC, one
 * machine), every member checks that it gets each number once and in order, and at most
 * `window` emits are incomplete at a time, so the run measures the server's pace, not an
 * ever-growing queue. All N members share one customer session, so they are all in
 * session:<sub>, a room the relay manages.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lg.h"

#define MAX_PIDS    16
#define COUNT_RING  4096
#define STALL_NS    (5ull * 1000000000ull)
#define FANOUT_SUB  "s-fanout"
#define FANOUT_ROOM "session:" FANOUT_SUB

typedef struct fanout {
    int members, ready, closed;
    int64_t *expect; /* per member: the next k it should get */
    uint32_t counts[COUNT_RING];
    int64_t emitted, complete, measure_from_k;
    uint64_t received, received_measured, missing, duplicates, reordered, errors;
    lg_samples lat;
    char first_error[160];
} fanout;

static fanout F;

static void on_ready(lg_conn *c, void *ud) { F.ready++; }

static void on_closed(lg_conn *c, const char *why, void *ud)
{
    F.closed++;
    if (!F.first_error[0])
        snprintf(F.first_error, sizeof F.first_error, "member connection ended: %s", why);
}

static void on_event(lg_conn *c, const char *name, size_t name_len, const char *body, size_t n,
                     void *ud)
{
    if (name_len != 6 || memcmp(name, "notice", 6) != 0)
        return;
    int ok1, ok2;
    int64_t k = lg_json_int(body, n, "k", &ok1);
    int64_t t = lg_json_int(body, n, "t", &ok2);
    if (!ok1 || !ok2 || k < 1 || k > F.emitted) {
        F.errors++;
        return;
    }
    uint64_t now_us = lg_now_ns() / 1000;
    int64_t *exp = &F.expect[c->index];
    if (k < *exp) {
        F.duplicates++;
        return;
    }
    if (k > *exp) {
        F.reordered += (uint64_t)(k - *exp);
        F.missing += (uint64_t)(k - *exp);
    }
    *exp = k + 1;
    F.received++;
    if (k >= F.measure_from_k) {
        F.received_measured++;
        lg_samples_add(&F.lat, (now_us - (uint64_t)t) * 1000);
    }
    if (++F.counts[k % COUNT_RING] == (uint32_t)F.members)
        F.complete++;
}

static const lg_handlers HANDLERS = {on_ready, on_event, NULL, on_closed};

int lg_fanout_main(int argc, char **argv)
{
    F.members = (int)lg_opt_int(argc, argv, "--members", 1000);
    int64_t emits = lg_opt_int(argc, argv, "--emits", 2000);
    int window = (int)lg_opt_int(argc, argv, "--window", 4);
    int port = (int)lg_opt_int(argc, argv, "--port", 3000);
    int redis_port = (int)lg_opt_int(argc, argv, "--redis-port", 6379);
    double max_s = lg_opt_num(argc, argv, "--max-seconds", 30);
    const char *secret = lg_opt_str(argc, argv, "--jwt-secret", "bench-jwt-secret-0123456789");
    const char *label = lg_opt_str(argc, argv, "--label", "server");
    int server_pids[MAX_PIDS], redis_pids[MAX_PIDS];
    int n_server =
        lg_parse_int_list(lg_opt_str(argc, argv, "--server-pids", ""), server_pids, MAX_PIDS);
    int n_redis =
        lg_parse_int_list(lg_opt_str(argc, argv, "--redis-pids", ""), redis_pids, MAX_PIDS);
    if (F.members < 1 || emits < 10 || window < 1 || window >= COUNT_RING / 2) {
        fprintf(stderr, "fanout: bad --members/--emits/--window\n");
        return 2;
    }
    char claims[160];
    snprintf(claims, sizeof claims,
             "{\"sub\":\"" FANOUT_SUB "\",\"role\":\"customer\",\"exp\":%ld}",
             (long)time(NULL) + 3600);
    char *token = lg_jwt(secret, claims);
    lg_conn *conns = calloc((size_t)F.members, sizeof *conns);
    F.expect = calloc((size_t)F.members, sizeof *F.expect);
    lg_loop L;
    lg_emitter E;
    if (!token || !conns || !F.expect || lg_loop_init(&L, &HANDLERS, NULL) != 0)
        return 1;
    if (lg_emitter_connect(&E, redis_port) != 0) {
        fprintf(stderr, "fanout: cannot reach Redis on port %d\n", redis_port);
        return 1;
    }
    for (int i = 0; i < F.members; i++) {
        conns[i].index = i;
        conns[i].token = token;
        F.expect[i] = 1;
        lg_conn_start(&L, &conns[i], port, 1 + i % LG_MAX_SOURCE_ADDRS);
    }
    uint64_t until = lg_now_ns() + 60ull * 1000000000ull;
    while (F.ready + F.closed < F.members && lg_now_ns() < until)
        lg_poll(&L, 10000000);
    int ok = F.ready == F.members;
    double elapsed = 0;
    int64_t cpu0 = 0, cpu1 = 0, rcpu0 = 0, rcpu1 = 0, lg0 = 0, lg1 = 0;
    uint64_t t_measure = 0;
    if (ok) {
        /* the first tenth warms up and is not measured */
        F.measure_from_k = emits / 10 + 1;
        uint64_t start = lg_now_ns(), last_progress = start,
                 deadline = start + (uint64_t)(max_s * 1e9);
        int64_t last_complete = 0;
        while (F.complete < emits && !F.closed) {
            uint64_t now = lg_now_ns();
            if (now > deadline || now - last_progress > STALL_NS)
                break;
            while (F.emitted < emits && F.emitted - F.complete < window) {
                F.emitted++;
                if (F.emitted == F.measure_from_k) {
                    t_measure = lg_now_ns();
                    cpu0 = lg_pids_cpu_us(server_pids, n_server);
                    rcpu0 = lg_pids_cpu_us(redis_pids, n_redis);
                    lg0 = lg_proc_cpu_us(getpid());
                }
                F.counts[F.emitted % COUNT_RING] = 0;
                if (lg_emitter_publish(&E, LG_NSP, FANOUT_ROOM, "notice", F.emitted,
                                       (int64_t)(lg_now_ns() / 1000)) != 0) {
                    snprintf(F.first_error, sizeof F.first_error, "PUBLISH failed");
                    F.closed++;
                    break;
                }
            }
            lg_poll(&L, 2000000);
            lg_emitter_drain(&E);
            if (F.complete != last_complete) {
                last_complete = F.complete;
                last_progress = lg_now_ns();
            }
        }
        uint64_t t_end = lg_now_ns();
        cpu1 = lg_pids_cpu_us(server_pids, n_server);
        rcpu1 = lg_pids_cpu_us(redis_pids, n_redis);
        lg1 = lg_proc_cpu_us(getpid());
        elapsed = t_measure ? (double)(t_end - t_measure) / 1e9 : 0;
    }
    uint64_t expected = (uint64_t)F.members * (uint64_t)emits;
    uint64_t lost = expected > F.received ? expected - F.received : 0;
    ok = ok && lost == 0 && F.duplicates == 0 && F.errors == 0 && F.closed == 0 &&
         F.complete == emits;
    double rate = elapsed > 0 ? (double)F.received_measured / elapsed : 0;
    double server_us =
        F.received_measured ? (double)(cpu1 - cpu0) / (double)F.received_measured : 0;
    double lg_us = F.received_measured ? (double)(lg1 - lg0) / (double)F.received_measured : 0;
    printf(
        "{\"workload\":\"fanout\",\"server\":\"%s\",\"members\":%d,\"emits\":%lld,\"window\":%d,"
        "\"deliveries_per_s\":%.0f,\"emits_per_s\":%.1f,"
        "\"latency_us\":{\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"p999\":%.0f,\"max\":%.0f},"
        "\"server_cpu_us_per_delivery\":%.3f,\"server_cpu_util\":%.2f,"
        "\"redis_cpu_util\":%.2f,\"loadgen_cpu_util\":%.2f,\"loadgen_us_per_delivery\":%.3f,\"loadgen_ceiling_per_s\":%.0f,"
        "\"lost\":%llu,\"duplicates\":%llu,\"out_of_order\":%llu,\"errors\":%llu,\"ok\":%s}\n",
        label, F.members, (long long)emits, window, rate,
        elapsed > 0 ? (double)(emits - F.measure_from_k + 1) / elapsed : 0,
        lg_samples_pct(&F.lat, 50), lg_samples_pct(&F.lat, 90), lg_samples_pct(&F.lat, 99),
        lg_samples_pct(&F.lat, 99.9), lg_samples_pct(&F.lat, 100), server_us,
        elapsed > 0 ? (double)(cpu1 - cpu0) / (elapsed * 1e6) : 0,
        elapsed > 0 ? (double)(rcpu1 - rcpu0) / (elapsed * 1e6) : 0,
        elapsed > 0 ? (double)(lg1 - lg0) / (elapsed * 1e6) : 0, lg_us, lg_us > 0 ? 1e6 / lg_us : 0,
        (unsigned long long)lost, (unsigned long long)F.duplicates, (unsigned long long)F.reordered,
        (unsigned long long)F.errors, ok ? "true" : "false");
    fprintf(stderr,
            "fanout %s: %d members x %lld emits: %.0f deliveries/s, latency p50/p99/p99.9 "
            "%.0f/%.0f/%.0f us, server %.2f us/delivery, loadgen ceiling %.0f/s; lost %llu dup "
            "%llu: %s\n",
            label, F.members, (long long)emits, rate, lg_samples_pct(&F.lat, 50),
            lg_samples_pct(&F.lat, 99), lg_samples_pct(&F.lat, 99.9), server_us,
            lg_us > 0 ? 1e6 / lg_us : 0, (unsigned long long)lost, (unsigned long long)F.duplicates,
            ok ? "ok" : "FAILED");
    if (F.first_error[0])
        fprintf(stderr, "  first error: %s\n", F.first_error);
    lg_emitter_close(&E);
    return ok ? 0 : 1;
}
