/* main.c: sb-loadgen, the benchmark's load generator: picks the workload and reads options.
 *
 *   sb-loadgen idle   --ports P[,P..] --connections N [--server-pids ..] ...
 *   sb-loadgen chat   --port P [--agent-port P2] --customers C --agents A [--rate R] ...
 *   sb-loadgen fanout --port P --redis-port R --members N --emits K ...
 *
 * Each prints one JSON line on stdout and a readable summary on stderr, and exits 1 when
 * what it measured did not verify (losses, duplicates, gaps, errors).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg.h"

const char *lg_opt_str(int argc, char **argv, const char *name, const char *dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return dflt;
}

long lg_opt_int(int argc, char **argv, const char *name, long dflt)
{
    const char *s = lg_opt_str(argc, argv, name, NULL);
    return s ? strtol(s, NULL, 10) : dflt;
}

double lg_opt_num(int argc, char **argv, const char *name, double dflt)
{
    const char *s = lg_opt_str(argc, argv, name, NULL);
    return s ? strtod(s, NULL) : dflt;
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: sb-loadgen idle|chat|fanout [options]\n"
        "  common: --jwt-secret S --label NAME --server-pids P,P.. --redis-pids P\n"
        "  idle:   --ports P,P.. --connections N [--per-process 19000] [--warmup 100]\n"
        "          [--concurrency 256 (handshakes at once, at most --per-process)] [--hold 2]\n"
        "          [--waves 1 (2: connect, hold, drop all at once, reconnect; a storm)]\n"
        "          [--workload-name idle]\n"
        "  chat:   --port P [--agent-port P2] --customers C --agents A [--window W]\n"
        "          [--rate R (messages/s offered; 0 = closed loop)] [--warmup S] [--duration S]\n"
        "          [--message-bytes B] [--perf-ctl FIFO (perf stat --control: the window)]\n"
        "          [--workload-name chat]\n"
        "  fanout: --port P --redis-port R --members N --emits K [--window W]\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 2;
    }
    if (strcmp(argv[1], "idle") == 0)
        return lg_idle_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "chat") == 0)
        return lg_chat_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "fanout") == 0)
        return lg_fanout_main(argc - 1, argv + 1);
    usage();
    return 2;
}
