/* idle.c: the `idle` workload: N websocket clients joined to /helpdesk that then do
 * nothing but answer pings; what each costs the server in RSS, and how fast they connect.
 * With --waves 2 (bench/run's `storm`), a reconnect storm: once the first wave is
 * connected and held, every client is dropped at once and all reconnect immediately; what
 * is reported (connect time, failures) is the last wave's.
 *
 * The one idea: a process may hold only so many descriptors, so past --per-process
 * connections the clients live in several forked processes, each with its own epoll loop,
 * connecting a bounded number at a time from 127.0.0.2.. so that no source address runs
 * out of ports. Each child reports on a pipe when its share is connected and holds the
 * connections until the parent closes the control pipe; the parent reads the servers' RSS
 * before (after a warm-up batch) and after. Between waves each child waits on the control
 * pipe for one byte from the parent, so that every child drops its clients at the same time.
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

#define MAX_PORTS          16
#define MAX_PROCS          16
#define CONNECT_TIMEOUT_NS (120ull * 1000000000ull)

typedef struct idle {
    int ready, failed;
    int dropping; /* closing a wave's clients on purpose: not failures */
    char first_error[160];
} idle;

static idle I;

static void on_ready(lg_conn *c, void *ud) { I.ready++; }

static void on_closed(lg_conn *c, const char *why, void *ud)
{
    if (I.dropping)
        return;
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

/* Holds the connections, answering pings, until the control pipe has a byte (1: next wave)
 * or is closed (0: the end). */
static int hold_until_told(lg_loop *L, int control_fd)
{
    for (;;) {
        struct pollfd p = {.fd = control_fd, .events = POLLIN};
        if (poll(&p, 1, 0) > 0) {
            char b;
            return read(control_fd, &b, 1) == 1;
        }
        lg_poll(L, 100000000);
    }
}

/* Each wave: connect the share, report "ready failed ns drop_ns first_error"; between
 * waves, drop every client at once (close, as a process that dies would) and reconnect. */
static void child(int from, int count, const int *ports, int n_ports, int concurrency,
                  const char *token, int waves, int report_fd, int control_fd)
{
    lg_loop L;
    memset(&I, 0, sizeof I);
    lg_conn *conns = calloc((size_t)count, sizeof *conns);
    if (!conns || lg_loop_init(&L, &HANDLERS, NULL) != 0)
        _exit(1);
    for (int w = 0; w < waves; w++) {
        uint64_t drop_ns = 0;
        if (w > 0) {
            if (!hold_until_told(&L, control_fd))
                break;
            uint64_t d0 = lg_now_ns();
            I.dropping = 1;
            for (int i = 0; i < count; i++)
                if (conns[i].loop) /* started: never-started slots have no descriptor */
                    lg_conn_close(&conns[i], "dropped");
            I.dropping = 0;
            drop_ns = lg_now_ns() - d0;
            I.ready = I.failed = 0;
            I.first_error[0] = '\0';
        }
        uint64_t t0 = lg_now_ns();
        connect_share(&L, conns, from, count, ports, n_ports, concurrency, token);
        uint64_t t1 = lg_now_ns();
        dprintf(report_fd, "%d %d %llu %llu %s\n", I.ready, I.failed, (unsigned long long)(t1 - t0),
                (unsigned long long)drop_ns, I.first_error[0] ? I.first_error : "-");
    }
    hold_until_told(&L, control_fd);
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
    int n_ports = lg_parse_int_list(
        lg_opt_str(argc, argv, "--ports", lg_opt_str(argc, argv, "--port", "3000")), ports,
        MAX_PORTS);
    int n_pids = lg_parse_int_list(lg_opt_str(argc, argv, "--server-pids", ""), pids, MAX_PORTS);
    int n = (int)lg_opt_int(argc, argv, "--connections", 10000);
    int per_proc = (int)lg_opt_int(argc, argv, "--per-process", 19000);
    int warmup = (int)lg_opt_int(argc, argv, "--warmup", 100);
    int concurrency = (int)lg_opt_int(argc, argv, "--concurrency", 256);
    double hold = lg_opt_num(argc, argv, "--hold", 2);
    int waves = (int)lg_opt_int(argc, argv, "--waves", 1);
    const char *secret = lg_opt_str(argc, argv, "--jwt-secret", "bench-jwt-secret-0123456789");
    const char *label = lg_opt_str(argc, argv, "--label", "server");
    const char *workload =
        lg_opt_str(argc, argv, "--workload-name", n_ports > 1 ? "idle-many" : "idle");
    int procs = (n + per_proc - 1) / per_proc;
    /* every client of a share may be mid-handshake at once, never more */
    if (concurrency < 1)
        concurrency = 1;
    if (concurrency > per_proc)
        concurrency = per_proc;
    if (n_ports < 1 || n < 1 || procs > MAX_PROCS || waves < 1 || waves > 10) {
        fprintf(stderr, "idle: bad --ports/--connections/--per-process/--waves\n");
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
    FILE *rf[MAX_PROCS];
    int ready = 0, failed = 0, first_ready = 0, first_failed = 0;
    double connect_s = 0, first_connect_s = 0, drop_s = 0;
    long after_first = 0;
    int earlier_short = 0; /* waves before the last that did not all connect */
    char first_error[160] = "";
    for (int w = 0; w < waves; w++) {
        uint64_t t0 = lg_now_ns();
        if (w == 0) {
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
                    child(from, count, ports, n_ports, concurrency, token, waves, rp[1], cp[0]);
                }
                close(rp[1]);
                close(cp[0]);
                report[p] = rp[0];
                control[p] = cp[1];
                rf[p] = fdopen(report[p], "r");
            }
        } else {
            /* the first wave is held; now every child drops its clients and reconnects */
            sleep_polling(&L, hold);
            if (w == 1) {
                after_first = sum_rss(pids, n_pids);
                first_ready = ready;
                first_failed = failed;
                first_connect_s = connect_s;
            }
            earlier_short += ready != n || failed != 0;
            t0 = lg_now_ns();
            for (int p = 0; p < procs; p++)
                if (write(control[p], "n", 1) != 1)
                    return 1;
        }
        ready = failed = 0;
        double wave_drop_s = 0;
        for (int p = 0; p < procs; p++) {
            int r = 0, f = 0;
            unsigned long long ns = 0, dns = 0;
            char err[160] = "-";
            /* connect_share bounds the child's time; the line always comes */
            while (rf[p] &&
                   fscanf(rf[p], "%d %d %llu %llu %159[^\n]", &r, &f, &ns, &dns, err) != 5) {
                if (feof(rf[p]) || ferror(rf[p]))
                    break;
                lg_poll(&L, 50000000);
            }
            ready += r;
            failed +=
                f + (r + f == 0 ? (n - p * per_proc < per_proc ? n - p * per_proc : per_proc) : 0);
            if (dns / 1e9 > wave_drop_s)
                wave_drop_s = dns / 1e9;
            if (!first_error[0] && strcmp(err, "-") != 0)
                snprintf(first_error, sizeof first_error, "%s", err);
        }
        /* a later wave's time runs from its first reconnect, not from the drop */
        connect_s = (double)(lg_now_ns() - t0) / 1e9 - wave_drop_s;
        drop_s = wave_drop_s;
    }
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
    if (waves == 1) {
        first_ready = ready;
        first_failed = failed;
        first_connect_s = connect_s;
        after_first = after;
    }
    int ok = ready == n && failed == 0 && still == n && before > 0 && !earlier_short;
    double per_conn = ready ? (double)(after - before) * 1024.0 / ready : 0;
    printf("{\"workload\":\"%s\",\"server\":\"%s\",\"connections\":%d,\"nodes\":%d,"
           "\"loadgen_processes\":%d,\"rss_before_kib\":%ld,\"rss_after_kib\":%ld,"
           "\"bytes_per_connection\":%.0f,\"connects_per_s\":%.0f,\"connect_s\":%.2f,"
           "\"failed\":%d,\"held\":%d,\"waves\":%d,\"concurrency\":%d,"
           "\"first_wave_connections\":%d,\"first_wave_failed\":%d,\"first_wave_connect_s\":%.2f,"
           "\"rss_after_first_wave_kib\":%ld,\"drop_s\":%.2f,\"ok\":%s}\n",
           workload, label, ready, n_ports, procs, before, after, per_conn,
           connect_s > 0 ? ready / connect_s : 0, connect_s, failed, still, waves, concurrency,
           first_ready, first_failed, first_connect_s, after_first, waves > 1 ? drop_s : 0,
           ok ? "true" : "false");
    fprintf(stderr,
            "%s %s: %d connections on %d node(s) by %d process(es): RSS %.1f -> %.1f MiB, "
            "%.0f bytes/connection, %.0f connects/s; failed %d, still open at the end %d: %s\n",
            workload, label, ready, n_ports, procs, before / 1024.0, after / 1024.0, per_conn,
            connect_s > 0 ? ready / connect_s : 0, failed, still, ok ? "ok" : "FAILED");
    if (waves > 1)
        fprintf(stderr,
                "  %d waves of %d at most %d at a time: first wave %.2f s (%d failed), "
                "dropped in %.2f s, last wave reconnected in %.2f s (%d failed)\n",
                waves, n, concurrency, first_connect_s, first_failed, drop_s, connect_s, failed);
    if (first_error[0] || I.first_error[0])
        fprintf(stderr, "  first error: %s\n", first_error[0] ? first_error : I.first_error);
    return ok ? 0 : 1;
}
