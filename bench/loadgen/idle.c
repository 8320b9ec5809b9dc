/* idle.c: the `idle` workload: N websocket clients joined to /helpdesk that then do
 * nothing but answer pings; what each costs the server in RSS, and how fast they connect.
 *
 * The one idea: a process may hold only so many descriptors, so past --per-process
 * connections the clients live in several forked processes, each with its own epoll loop,
 * connecting a bounded number at a time from 127.0.0.2.. so that no source address runs
 * out of ports. Each child reports on a pipe when its share is connected and holds the
 * connections until the parent closes the control pipe; the parent reads the servers' RSS
 * before (after a warm-up batch) and after.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lg.h"

#define MAX_PORTS 16
#define MAX_PROCS 16
#define CONNECT_TIMEOUT_NS (120ull * 1000000000ull)

typedef struct idle {
    int ready, failed;
    char first_error[160];
} idle;

static idle I;

static void on_ready(lg_conn *c, void *ud) { I.ready++; }

static void on_closed(lg_conn *c, const char *why, void *ud)
{
    I.failed++;
    if (!I.first_error[0])
        snprintf(I.first_error, sizeof I.first_error, "%s", why);
}

static const lg_handlers HANDLERS = {on_ready, NULL, NULL, on_closed};

/* Connects clients [from, from+count), at most `concurrency` handshakes at a time. */
static int connect_share(lg_loop *L, lg_conn *conns, int from, int count, const int *ports,
                         int n_ports, int concurrency, const char *token)
{
    int started = 0;
    uint64_t until = lg_now_ns() + CONNECT_TIMEOUT_NS;
    while (I.ready + I.failed < count) {
        while (started < count && started - (I.ready + I.failed) < concurrency) {
            lg_conn *c = &conns[started];
            int g = from + started;
            c->index = g;
            c->token = token;
            if (lg_conn_start(L, c, ports[g % n_ports], 1 + g % LG_MAX_SOURCE_ADDRS) != 0) {
                I.failed++;
                if (!I.first_error[0])
                    snprintf(I.first_error, sizeof I.first_error, "socket/connect: %s",
                             strerror(errno));
            }
            started++;
        }
        if (lg_now_ns() > until)
            return -1;
        lg_poll(L, 50000000);
    }
    return 0;
}

static void child(int from, int count, const int *ports, int n_ports, int concurrency,
                  const char *token, int report_fd, int control_fd)
{
    lg_loop L;
    memset(&I, 0, sizeof I);
    lg_conn *conns = calloc((size_t)count, sizeof *conns);
    if (!conns || lg_loop_init(&L, &HANDLERS, NULL) != 0)
        _exit(1);
    uint64_t t0 = lg_now_ns();
    connect_share(&L, conns, from, count, ports, n_ports, concurrency, token);
    uint64_t t1 = lg_now_ns();
    dprintf(report_fd, "%d %d %llu %s\n", I.ready, I.failed, (unsigned long long)(t1 - t0),
            I.first_error[0] ? I.first_error : "-");
    /* hold, answering pings, until the parent closes the control pipe */
    for (;;) {
        struct pollfd p = {.fd = control_fd, .events = POLLIN};
        if (poll(&p, 1, 0) > 0)
            break;
        lg_poll(&L, 100000000);
    }
    dprintf(report_fd, "%d\n", L.open_conns);
    _exit(0);
}

static long sum_rss(const int *pids, int n)
{
    long sum = 0;
    for (int i = 0; i < n; i++) {
        long v = lg_proc_rss_kib(pids[i]);
        if (v > 0)
            sum += v;
    }
    return sum;
}

static void sleep_polling(lg_loop *L, double s)
{
    uint64_t until = lg_now_ns() + (uint64_t)(s * 1e9);
    while (lg_now_ns() < until)
        lg_poll(L, (int64_t)(until - lg_now_ns()));
}

int lg_idle_main(int argc, char **argv)
{
    int ports[MAX_PORTS], pids[MAX_PORTS];
    int n_ports = lg_parse_int_list(lg_opt_str(argc, argv, "--ports", lg_opt_str(argc, argv, "--port", "3000")), ports, MAX_PORTS);
    int n_pids = lg_parse_int_list(lg_opt_str(argc, argv, "--server-pids", ""), pids, MAX_PORTS);
    int n = (int)lg_opt_int(argc, argv, "--connections", 10000);
    int per_proc = (int)lg_opt_int(argc, argv, "--per-process", 19000);
    int warmup = (int)lg_opt_int(argc, argv, "--warmup", 100);
    int concurrency = (int)lg_opt_int(argc, argv, "--concurrency", 256);
    double hold = lg_opt_num(argc, argv, "--hold", 2);
    const char *secret = lg_opt_str(argc, argv, "--jwt-secret", "bench-jwt-secret-0123456789");
    const char *label = lg_opt_str(argc, argv, "--label", "server");
    const char *workload = lg_opt_str(argc, argv, "--workload-name", n_ports > 1 ? "idle-many" : "idle");
    int procs = (n + per_proc - 1) / per_proc;
    if (n_ports < 1 || n < 1 || procs > MAX_PROCS) {
        fprintf(stderr, "idle: bad --ports/--connections/--per-process\n");
        return 2;
    }
    /* one customer token for all: the cost measured is the connection's, not the room's */
    char claims[160];
    snprintf(claims, sizeof claims, "{\"sub\":\"s-idle\",\"role\":\"customer\",\"exp\":%ld}",
             (long)time(NULL) + 3600);
    char *token = lg_jwt(secret, claims);

    lg_loop L;
    lg_conn *warm = calloc((size_t)warmup + 1, sizeof *warm);
    if (!token || !warm || lg_loop_init(&L, &HANDLERS, NULL) != 0)
        return 1;
    if (connect_share(&L, warm, 1000000, warmup, ports, n_ports, concurrency, token) != 0 ||
        I.failed) {
        fprintf(stderr, "idle %s: warm-up failed: %s\n", label, I.first_error);
        printf("{\"workload\":\"%s\",\"server\":\"%s\",\"ok\":false}\n", workload, label);
        return 1;
    }
    sleep_polling(&L, 0.5);
    long before = sum_rss(pids, n_pids);

    int report[MAX_PROCS], control[MAX_PROCS];
    pid_t kids[MAX_PROCS];
    uint64_t t0 = lg_now_ns();
    for (int p = 0; p < procs; p++) {
        int from = p * per_proc, count = n - from < per_proc ? n - from : per_proc;
        int rp[2], cp[2];
        if (pipe(rp) != 0 || pipe(cp) != 0)
            return 1;
        fflush(NULL);
        kids[p] = fork();
        if (kids[p] == 0) {
            close(rp[0]);
            close(cp[1]);
            /* the earlier children's pipes: holding them would keep those children alive */
            for (int q = 0; q < p; q++) {
                close(report[q]);
                close(control[q]);
            }
            child(from, count, ports, n_ports, concurrency, token, rp[1], cp[0]);
        }
        close(rp[1]);
        close(cp[0]);
        report[p] = rp[0];
        control[p] = cp[1];
    }
    int ready = 0, failed = 0;
    char first_error[160] = "";
    FILE *rf[MAX_PROCS];
    for (int p = 0; p < procs; p++) {
        rf[p] = fdopen(report[p], "r");
        int r = 0, f = 0;
        unsigned long long ns = 0;
        char err[160] = "-";
        /* connect_share bounds the child's time; the line always comes */
        while (rf[p] && fscanf(rf[p], "%d %d %llu %159[^\n]", &r, &f, &ns, err) != 4) {
            if (feof(rf[p]) || ferror(rf[p]))
                break;
            lg_poll(&L, 50000000);
        }
        ready += r;
        failed += f + (r + f == 0 ? (n - p * per_proc < per_proc ? n - p * per_proc : per_proc) : 0);
        if (!first_error[0] && strcmp(err, "-") != 0)
            snprintf(first_error, sizeof first_error, "%s", err);
    }
    double connect_s = (double)(lg_now_ns() - t0) / 1e9;
    sleep_polling(&L, hold);
    long after = sum_rss(pids, n_pids);
    int still = 0;
    for (int p = 0; p < procs; p++) {
        close(control[p]);
        int open = 0;
        if (rf[p] && fscanf(rf[p], "%d", &open) == 1)
            still += open;
        if (rf[p])
            fclose(rf[p]);
        waitpid(kids[p], NULL, 0);
    }
    int ok = ready == n && failed == 0 && still == n && before > 0;
    double per_conn = ready ? (double)(after - before) * 1024.0 / ready : 0;
    printf("{\"workload\":\"%s\",\"server\":\"%s\",\"connections\":%d,\"nodes\":%d,"
           "\"loadgen_processes\":%d,\"rss_before_kib\":%ld,\"rss_after_kib\":%ld,"
           "\"bytes_per_connection\":%.0f,\"connects_per_s\":%.0f,\"connect_s\":%.2f,"
           "\"failed\":%d,\"held\":%d,\"ok\":%s}\n",
           workload, label, ready, n_ports, procs, before, after, per_conn, ready / connect_s, connect_s,
           failed, still, ok ? "true" : "false");
    fprintf(stderr,
            "%s %s: %d connections on %d node(s) by %d process(es): RSS %.1f -> %.1f MiB, "
            "%.0f bytes/connection, %.0f connects/s; failed %d, still open at the end %d: %s\n",
            workload, label, ready, n_ports, procs, before / 1024.0, after / 1024.0, per_conn,
            ready / connect_s, failed, still, ok ? "ok" : "FAILED");
    if (first_error[0] || I.first_error[0])
        fprintf(stderr, "  first error: %s\n", first_error[0] ? first_error : I.first_error);
    return ok ? 0 : 1;
}
