/* chat.c: the `chat` workload (and `cluster`, which is chat with the agents on another
 * node): customers send `support`, the agent each conversation is assigned to replies.
 *
 * The one idea: every number reported is checked before it is believed. Each customer
 * owns one conversation (its session "s-<i>"); every message carries a client_msg_id that
 * names its sender and number ("c<i>-<n>", the agent's reply "r<i>-<n>"), every ack is
 * matched to the emit it answers by ack id and client_msg_id, and every `support` that
 * arrives is ticked off by seq in a per-conversation table, on the customer's side and on
 * the agent's. At the end the seqs acked must run without a gap, each must have reached
 * both parties once, and every emit must have been acked: anything else is counted and
 * fails the run.
 *
 * Phases: connect the agents, then the customers; "hello" (each customer's first message
 * opens its conversation; wait until every conversation is assigned); run (warm-up, then
 * the measured window), closed loop (each customer keeps `window` messages awaiting the
 * agent's reply) or at a fixed offered rate; drain; verify; report.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lg.h"

#define ROLE_CUSTOMER    0
#define ROLE_AGENT       1
#define ACK_RING         8192 /* acks one connection may await */
#define RTT_RING         1024 /* messages one customer may have awaiting a reply */
#define PHASE_TIMEOUT_NS (30ull * 1000000000ull)
#define DRAIN_TIMEOUT_NS (5ull * 1000000000ull)
#define MAX_PIDS         16
#define TEXT_MAX         8192

typedef struct pending {
    uint32_t ack_id; /* 0: free */
    uint32_t n;
    int conv;
    uint64_t sent;
} pending;

typedef struct conv {
    char chat_id[136];
    int has_chat;
    uint8_t *seen_customer; /* by seq: deliveries to the customer */
    uint8_t *seen_agent;    /* by seq: deliveries to the agent */
    uint8_t *acked;         /* by seq: acks naming it */
    size_t cap;
    int64_t max_seq;
    uint32_t next_n;
    uint32_t awaiting; /* sent, reply not yet received */
    uint64_t sent_at[RTT_RING];
} conv;

typedef struct chat {
    int customers, agents, window, msg_bytes, closed_loop;
    double rate;
    lg_conn *conns; /* customers, then agents */
    pending **pend; /* per connection, ACK_RING */
    conv *convs;
    char text[TEXT_MAX];
    int phase; /* 0 connect, 1 hello, 2 run, 3 drain */
    uint64_t measure_from, measure_to;
    /* counters */
    int ready, closed_early, hello_acked, assigned;
    uint64_t stored, stored_in_window, deliveries, deliveries_in_window, sent;
    uint64_t errors, duplicates, unmatched, skipped, acks_awaited, replies_awaited;
    char first_error[200];
    lg_samples ack_lat, agent_ack_lat, rtt_lat;
} chat;

static chat G;

static void error_note(const char *what, const char *body, size_t n)
{
    G.errors++;
    if (!G.first_error[0])
        snprintf(G.first_error, sizeof G.first_error, "%s: %.*s", what, (int)(n > 140 ? 140 : n),
                 body);
}

static int ensure_seq(conv *cv, int64_t seq)
{
    if (seq < 0 || seq > 100000000)
        return -1;
    if ((size_t)seq < cv->cap)
        return 0;
    size_t cap = cv->cap ? cv->cap : 256;
    while (cap <= (size_t)seq)
        cap *= 2;
    uint8_t **arrs[3] = {&cv->seen_customer, &cv->seen_agent, &cv->acked};
    for (int i = 0; i < 3; i++) {
        uint8_t *a = realloc(*arrs[i], cap);
        if (!a)
            return -1;
        memset(a + cv->cap, 0, cap - cv->cap);
        *arrs[i] = a;
    }
    cv->cap = cap;
    return 0;
}

/* "<prefix>s-<i>" or "c<i>-<n>": the number after the last '-' (or after `skip` chars). */
static long trailing_number(const char *s)
{
    const char *d = strrchr(s, '-');
    return d ? strtol(d + 1, NULL, 10) : -1;
}

/* Only messages sent in the measured window count (never the hello phase's, which open
 * every conversation at once). */
static int in_window(uint64_t t)
{
    return G.measure_from != 0 && t >= G.measure_from && (G.measure_to == 0 || t < G.measure_to);
}

static pending *pend_slot(int conn, uint32_t ack_id) { return &G.pend[conn][ack_id % ACK_RING]; }

static void send_customer(int i)
{
    conv *cv = &G.convs[i];
    lg_conn *c = &G.conns[i];
    if (c->state != LG_READY)
        return;
    uint32_t n = cv->next_n++;
    char buf[TEXT_MAX + 256];
    int len =
        snprintf(buf, sizeof buf,
                 "[\"support\",{\"session_id\":\"s-%d\",\"message\":\"%s\","
                 "\"attachment\":false,\"ticket_chat_id\":null,\"client_msg_id\":\"c%d-%u\"}]",
                 i, G.text, i, n);
    uint64_t now = lg_now_ns();
    uint32_t id = c->next_ack_id + 1;
    pending *p = pend_slot(i, id);
    if (p->ack_id != 0) {
        error_note("ack ring full", "", 0);
        return;
    }
    *p = (pending){.ack_id = id, .n = n, .conv = i, .sent = now};
    G.acks_awaited++;
    cv->sent_at[n % RTT_RING] = now;
    if (n > 0) {
        cv->awaiting++;
        G.replies_awaited++;
    }
    G.sent++;
    lg_emit(c, buf, (size_t)len, 1, 0);
}

static void agent_reply(lg_conn *c, int i, uint32_t n, const char *chat_id)
{
    char buf[TEXT_MAX + 256];
    int len = snprintf(buf, sizeof buf,
                       "[\"support\",{\"ticket_chat_id\":\"%s\",\"session_id\":\"s-%d\","
                       "\"message\":\"%s\",\"attachment\":false,\"client_msg_id\":\"r%d-%u\"}]",
                       chat_id, i, G.text, i, n);
    uint32_t id = c->next_ack_id + 1;
    pending *p = pend_slot(c->index, id);
    if (p->ack_id != 0) {
        error_note("ack ring full", "", 0);
        return;
    }
    *p = (pending){.ack_id = id, .n = n, .conv = i, .sent = lg_now_ns()};
    G.acks_awaited++;
    G.sent++;
    lg_emit(c, buf, (size_t)len, 1, 1);
}

static void on_ready(lg_conn *c, void *ud) { G.ready++; }

static void on_closed(lg_conn *c, const char *why, void *ud)
{
    G.closed_early++;
    error_note(c->role == ROLE_AGENT ? "agent connection ended" : "customer connection ended", why,
               strlen(why));
}

static void on_support(lg_conn *c, const char *body, size_t n)
{
    int ok;
    uint64_t now = lg_now_ns();
    G.deliveries++;
    if (in_window(now))
        G.deliveries_in_window++;
    if (lg_json_int(body, n, "status_code", &ok) != 200 || !ok) {
        error_note("support event not 200", body, n);
        return;
    }
    char sid[136], cmid[136], chat_id[136];
    int64_t seq = lg_json_int(body, n, "seq", &ok);
    if (!ok || lg_json_str(body, n, "session_id", sid, sizeof sid) < 0 ||
        lg_json_str(body, n, "client_msg_id", cmid, sizeof cmid) < 0 ||
        lg_json_str(body, n, "ticket_chat_id", chat_id, sizeof chat_id) < 0) {
        error_note("support event without seq/session_id/client_msg_id", body, n);
        return;
    }
    long i = trailing_number(sid);
    if (i < 0 || i >= G.customers || (c->role == ROLE_CUSTOMER && i != c->index)) {
        error_note("support event for another session", body, n);
        return;
    }
    conv *cv = &G.convs[i];
    if (ensure_seq(cv, seq) != 0) {
        error_note("seq out of range", body, n);
        return;
    }
    uint8_t *seen = c->role == ROLE_CUSTOMER ? cv->seen_customer : cv->seen_agent;
    if (seen[seq]++ > 0)
        G.duplicates++;
    long msg_n = trailing_number(cmid);
    if (c->role == ROLE_CUSTOMER) {
        if (cmid[0] != 'r' || msg_n < 0)
            return;
        if (cv->awaiting == 0) {
            error_note("reply to nothing awaited", body, n);
            return;
        }
        cv->awaiting--;
        G.replies_awaited--;
        uint64_t sent = cv->sent_at[(uint32_t)msg_n % RTT_RING];
        if (in_window(sent))
            lg_samples_add(&G.rtt_lat, now - sent);
        if (G.closed_loop && G.phase == 2)
            send_customer((int)i);
        return;
    }
    if (cmid[0] == 'c' && msg_n >= 1 && G.phase >= 2)
        agent_reply(c, (int)i, (uint32_t)msg_n, chat_id);
}

static void on_event(lg_conn *c, const char *name, size_t name_len, const char *body, size_t n,
                     void *ud)
{
    if (name_len == 7 && memcmp(name, "support", 7) == 0)
        on_support(c, body, n);
    else if (name_len == 8 && memcmp(name, "assigned", 8) == 0 && c->role == ROLE_AGENT)
        G.assigned++;
}

static void on_ack(lg_conn *c, uint32_t ack_id, const char *body, size_t n, void *ud)
{
    uint64_t now = lg_now_ns();
    pending *p = pend_slot(c->index, ack_id);
    if (p->ack_id != ack_id) {
        G.unmatched++;
        error_note("ack for no emit", body, n);
        return;
    }
    pending q = *p;
    p->ack_id = 0;
    G.acks_awaited--;
    int ok;
    if (lg_json_int(body, n, "status_code", &ok) != 200 || !ok) {
        error_note("ack not 200", body, n);
        return;
    }
    char cmid[136], want[64];
    snprintf(want, sizeof want, "%c%d-%u", c->role == ROLE_CUSTOMER ? 'c' : 'r', q.conv, q.n);
    int64_t seq = lg_json_int(body, n, "seq", &ok);
    if (lg_json_str(body, n, "client_msg_id", cmid, sizeof cmid) < 0 || strcmp(cmid, want) != 0 ||
        !ok) {
        G.unmatched++;
        error_note("ack for another message", body, n);
        return;
    }
    conv *cv = &G.convs[q.conv];
    if (ensure_seq(cv, seq) != 0) {
        error_note("seq out of range", body, n);
        return;
    }
    if (cv->acked[seq]++ > 0)
        G.duplicates++;
    if (seq > cv->max_seq)
        cv->max_seq = seq;
    G.stored++;
    if (in_window(q.sent)) {
        G.stored_in_window++;
        lg_samples_add(c->role == ROLE_CUSTOMER ? &G.ack_lat : &G.agent_ack_lat, now - q.sent);
    }
    if (c->role == ROLE_CUSTOMER && q.n == 0) {
        if (lg_json_str(body, n, "ticket_chat_id", cv->chat_id, sizeof cv->chat_id) > 0)
            cv->has_chat = 1;
        G.hello_acked++;
    }
}

static const lg_handlers HANDLERS = {on_ready, on_event, on_ack, on_closed};

/* --perf-ctl FIFO: the control FIFO of a `perf stat -D -1 --control fifo:FIFO` watching the
 * servers (bench/run), told "enable" and "disable" at the ends of the measured window, so
 * that what perf counts covers the time whose stored messages it is divided by. */
static int perf_ctl_open(const char *path)
{
    if (!path[0])
        return -1;
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        fprintf(stderr, "chat: --perf-ctl %s: %s (nothing counted)\n", path, strerror(errno));
    return fd;
}

static void perf_ctl(int fd, const char *cmd)
{
    if (fd >= 0 && write(fd, cmd, strlen(cmd)) < 0)
        fprintf(stderr, "chat: --perf-ctl: %s\n", strerror(errno));
}

/* Polls until cond() holds or the timeout; returns 0 when it held. */
static int wait_for(lg_loop *L, int (*cond)(void), uint64_t timeout_ns)
{
    uint64_t until = lg_now_ns() + timeout_ns;
    while (!cond()) {
        if (lg_now_ns() > until || G.closed_early)
            return -1;
        lg_poll(L, 10000000);
    }
    return 0;
}

static int agents_ready(void) { return G.ready >= G.agents; }
static int all_ready(void) { return G.ready >= G.agents + G.customers; }
static int hello_done(void) { return G.hello_acked >= G.customers && G.assigned >= G.customers; }

/* Counters, not a scan of every ack slot: this runs after every poll of the drain, while
 * the last acks are still being timed. */
static int drained(void) { return G.acks_awaited == 0 && G.replies_awaited == 0; }

/* After the drain: seqs acked must run 1..max without a gap, each reaching the customer
 * and (after the hello, whose delivery to the agent races its assignment) the agent once.
 * Of those counted, *lost_late are deliveries missing past the last seq that side received
 * (still queued at the cut-off, not skipped) and *gaps_late the gaps of conversations that
 * still await at least as many acks: at a fixed rate the server cannot keep up with, these
 * are the backlog it had not worked off when the drain gave up, not messages it dropped. */
static void verify(uint64_t *lost, uint64_t *gaps, uint64_t *unanswered, uint64_t *lost_late,
                   uint64_t *gaps_late)
{
    *lost = *gaps = *unanswered = *lost_late = *gaps_late = 0;
    uint32_t *pending_acks = calloc((size_t)G.customers, sizeof *pending_acks);
    for (int c = 0; c < G.customers + G.agents; c++)
        for (int k = 0; k < ACK_RING; k++)
            if (G.pend[c][k].ack_id) {
                (*unanswered)++;
                if (pending_acks && G.pend[c][k].conv >= 0 && G.pend[c][k].conv < G.customers)
                    pending_acks[G.pend[c][k].conv]++;
            }
    for (int i = 0; i < G.customers; i++) {
        conv *cv = &G.convs[i];
        int64_t last_c = 0, last_a = 0;
        uint64_t conv_gaps = 0;
        for (int64_t s = 1; s <= cv->max_seq; s++) {
            if (cv->seen_customer[s])
                last_c = s;
            if (cv->seen_agent[s])
                last_a = s;
        }
        for (int64_t s = 1; s <= cv->max_seq; s++) {
            if (!cv->acked[s])
                conv_gaps++;
            if (!cv->seen_customer[s]) {
                (*lost)++;
                if (s > last_c)
                    (*lost_late)++;
            }
            if (s >= 2 && !cv->seen_agent[s]) {
                (*lost)++;
                if (s > last_a)
                    (*lost_late)++;
            }
        }
        *gaps += conv_gaps;
        if (pending_acks && conv_gaps <= pending_acks[i])
            *gaps_late += conv_gaps;
        *unanswered += cv->awaiting;
    }
    free(pending_acks);
}

static void fill_text(int bytes)
{
    static const char words[] = "hello I have a question about my order ";
    if (bytes >= TEXT_MAX)
        bytes = TEXT_MAX - 1;
    for (int i = 0; i < bytes; i++)
        G.text[i] = words[i % (sizeof words - 1)];
    G.text[bytes] = '\0';
}

static char *token_for(const char *secret, int role, int i, int max_chats)
{
    char claims[256];
    long exp = (long)time(NULL) + 3600;
    if (role == ROLE_CUSTOMER)
        snprintf(claims, sizeof claims,
                 "{\"sub\":\"s-%d\",\"role\":\"customer\",\"exp\":%ld,\"name\":\"Customer %d\"}", i,
                 exp, i);
    else
        snprintf(claims, sizeof claims,
                 "{\"sub\":\"a-%d\",\"role\":\"agent\",\"exp\":%ld,\"name\":\"Agent %d\","
                 "\"max_chats\":%d}",
                 i, exp, i, max_chats);
    return lg_jwt(secret, claims);
}

static void print_pct(FILE *f, const char *name, lg_samples *s)
{
    fprintf(f, "\"%s\":{\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"p999\":%.0f,\"max\":%.0f}", name,
            lg_samples_pct(s, 50), lg_samples_pct(s, 90), lg_samples_pct(s, 99),
            lg_samples_pct(s, 99.9), lg_samples_pct(s, 100));
}

int lg_chat_main(int argc, char **argv)
{
    G.customers = (int)lg_opt_int(argc, argv, "--customers", 200);
    G.agents = (int)lg_opt_int(argc, argv, "--agents", 20);
    G.window = (int)lg_opt_int(argc, argv, "--window", 1);
    G.rate = lg_opt_num(argc, argv, "--rate", 0);
    G.closed_loop = G.rate <= 0;
    G.msg_bytes = (int)lg_opt_int(argc, argv, "--message-bytes", 64);
    double warmup_s = lg_opt_num(argc, argv, "--warmup", 2);
    double duration_s = lg_opt_num(argc, argv, "--duration", 10);
    int port = (int)lg_opt_int(argc, argv, "--port", 3000);
    int agent_port = (int)lg_opt_int(argc, argv, "--agent-port", port);
    const char *secret = lg_opt_str(argc, argv, "--jwt-secret", "bench-jwt-secret-0123456789");
    const char *label = lg_opt_str(argc, argv, "--label", "server");
    const char *workload =
        lg_opt_str(argc, argv, "--workload-name", port == agent_port ? "chat" : "cluster");
    const char *perf_ctl_path = lg_opt_str(argc, argv, "--perf-ctl", "");
    int perf_fd = -1;
    int server_pids[MAX_PIDS], redis_pids[MAX_PIDS];
    int n_server =
        lg_parse_int_list(lg_opt_str(argc, argv, "--server-pids", ""), server_pids, MAX_PIDS);
    int n_redis =
        lg_parse_int_list(lg_opt_str(argc, argv, "--redis-pids", ""), redis_pids, MAX_PIDS);
    int max_chats = (G.customers + G.agents - 1) / G.agents + 1;
    if (G.window < 1 || G.window > RTT_RING / 2 || G.customers < 1 || G.agents < 1) {
        fprintf(stderr, "chat: bad --customers/--agents/--window\n");
        return 2;
    }
    fill_text(G.msg_bytes);

    int total = G.customers + G.agents;
    G.conns = calloc((size_t)total, sizeof *G.conns);
    G.convs = calloc((size_t)G.customers, sizeof *G.convs);
    G.pend = calloc((size_t)total, sizeof *G.pend);
    char **tokens = calloc((size_t)total, sizeof *tokens);
    lg_loop L;
    if (!G.conns || !G.convs || !G.pend || !tokens || lg_loop_init(&L, &HANDLERS, NULL) != 0)
        return 1;
    for (int c = 0; c < total; c++) {
        G.pend[c] = calloc(ACK_RING, sizeof **G.pend);
        int agent = c >= G.customers;
        G.conns[c].index = c;
        G.conns[c].role = agent ? ROLE_AGENT : ROLE_CUSTOMER;
        tokens[c] = token_for(secret, G.conns[c].role, agent ? c - G.customers : c, max_chats);
        G.conns[c].token = tokens[c];
        if (!G.pend[c] || !tokens[c])
            return 1;
    }

    /* connect: agents first, so that every new conversation finds one */
    uint64_t t_connect = lg_now_ns();
    for (int c = G.customers; c < total; c++)
        if (lg_conn_start(&L, &G.conns[c], agent_port, 1 + c % LG_MAX_SOURCE_ADDRS) != 0)
            error_note("connect", "socket", 6);
    if (wait_for(&L, agents_ready, PHASE_TIMEOUT_NS) != 0)
        goto fail;
    for (int c = 0; c < G.customers; c++)
        if (lg_conn_start(&L, &G.conns[c], port, 1 + c % LG_MAX_SOURCE_ADDRS) != 0)
            error_note("connect", "socket", 6);
    if (wait_for(&L, all_ready, PHASE_TIMEOUT_NS) != 0)
        goto fail;
    double connect_s = (double)(lg_now_ns() - t_connect) / 1e9;

    G.phase = 1;
    for (int i = 0; i < G.customers; i++)
        send_customer(i);
    if (wait_for(&L, hello_done, PHASE_TIMEOUT_NS) != 0) {
        error_note("hello phase", "not every conversation was acked and assigned", 45);
        goto fail;
    }

    G.phase = 2;
    uint64_t t0 = lg_now_ns();
    G.measure_from = t0 + (uint64_t)(warmup_s * 1e9);
    uint64_t t_end = G.measure_from + (uint64_t)(duration_s * 1e9);
    int64_t cpu0 = 0, rcpu0 = 0, lgcpu0 = 0;
    int measuring = 0;
    uint64_t interval = G.closed_loop ? 0 : (uint64_t)(1e9 / G.rate);
    uint64_t next_send = t0;
    int rr = 0;
    if (G.closed_loop)
        for (int i = 0; i < G.customers; i++)
            for (int w = 0; w < G.window; w++)
                send_customer(i);
    for (;;) {
        uint64_t now = lg_now_ns();
        if (!measuring && now >= G.measure_from) {
            measuring = 1;
            perf_fd = perf_ctl_open(perf_ctl_path);
            perf_ctl(perf_fd, "enable\n");
            cpu0 = lg_pids_cpu_us(server_pids, n_server);
            rcpu0 = lg_pids_cpu_us(redis_pids, n_redis);
            lgcpu0 = lg_proc_cpu_us(getpid());
        }
        if (now >= t_end)
            break;
        if (G.closed_early)
            goto fail;
        int64_t wait = (int64_t)(t_end - now);
        if (!G.closed_loop) {
            while (next_send <= now) {
                int i = rr++ % G.customers;
                if (G.convs[i].awaiting >= RTT_RING / 2)
                    G.skipped++;
                else
                    send_customer(i);
                next_send += interval;
            }
            wait = (int64_t)(next_send - now);
        }
        if (!measuring && (int64_t)(G.measure_from - now) < wait)
            wait = (int64_t)(G.measure_from - now);
        lg_poll(&L, wait);
    }
    G.measure_to = t_end;
    perf_ctl(perf_fd, "disable\n");
    if (perf_fd >= 0)
        close(perf_fd);
    int64_t cpu1 = lg_pids_cpu_us(server_pids, n_server);
    int64_t rcpu1 = lg_pids_cpu_us(redis_pids, n_redis);
    int64_t lgcpu1 = lg_proc_cpu_us(getpid());
    G.phase = 3;
    wait_for(&L, drained, DRAIN_TIMEOUT_NS);

    uint64_t lost, gaps, unanswered, lost_late, gaps_late;
    verify(&lost, &gaps, &unanswered, &lost_late, &gaps_late);
    double secs = duration_s;
    double stored_rate = (double)G.stored_in_window / secs;
    double server_us = G.stored_in_window ? (double)(cpu1 - cpu0) / (double)G.stored_in_window : 0;
    double redis_us = G.stored_in_window ? (double)(rcpu1 - rcpu0) / (double)G.stored_in_window : 0;
    double lg_us = G.stored_in_window ? (double)(lgcpu1 - lgcpu0) / (double)G.stored_in_window : 0;
    int ok = lost == 0 && gaps == 0 && unanswered == 0 && G.errors == 0 && G.duplicates == 0 &&
             G.unmatched == 0 && G.stored_in_window > 0;
    /* saturated: a fixed offered rate the server did not keep up with, and nothing else
     * wrong: every shortfall is work still queued at the cut-off (bench/run decides
     * whether that fails the run; for the reference it does not) */
    int saturated = !ok && !G.closed_loop && G.stored_in_window > 0 && unanswered > 0 &&
                    G.errors == 0 && G.duplicates == 0 && G.unmatched == 0 && lost == lost_late &&
                    gaps == gaps_late;
    printf("{\"workload\":\"%s\",\"server\":\"%s\",\"mode\":\"%s\",\"customers\":%d,\"agents\":%d,"
           "\"window\":%d,\"offered_per_s\":%.0f,\"duration_s\":%.1f,\"connect_s\":%.2f,"
           "\"stored\":%llu,\"stored_per_s\":%.0f,\"deliveries_per_s\":%.0f,",
           workload, label, G.closed_loop ? "closed" : "rate", G.customers, G.agents, G.window,
           G.rate, secs, connect_s, (unsigned long long)G.stored_in_window, stored_rate,
           (double)G.deliveries_in_window / secs);
    print_pct(stdout, "ack_us", &G.ack_lat);
    putchar(',');
    print_pct(stdout, "agent_ack_us", &G.agent_ack_lat);
    putchar(',');
    print_pct(stdout, "rtt_us", &G.rtt_lat);
    printf(",\"server_cpu_us_per_msg\":%.2f,\"server_cpu_util\":%.2f,\"redis_cpu_us_per_msg\":%.2f,"
           "\"loadgen_cpu_util\":%.2f,\"loadgen_us_per_msg\":%.2f,\"loadgen_ceiling_per_s\":%.0f,"
           "\"lost\":%llu,\"duplicates\":%llu,\"seq_gaps\":%llu,\"unanswered\":%llu,"
           "\"errors\":%llu,\"skipped\":%llu,\"lost_in_flight\":%llu,\"gaps_in_flight\":%llu,"
           "\"saturated\":%s,\"ok\":%s",
           server_us, (double)(cpu1 - cpu0) / (secs * 1e6), redis_us,
           (double)(lgcpu1 - lgcpu0) / (secs * 1e6), lg_us, lg_us > 0 ? 1e6 / lg_us : 0,
           (unsigned long long)lost, (unsigned long long)G.duplicates, (unsigned long long)gaps,
           (unsigned long long)unanswered, (unsigned long long)G.errors,
           (unsigned long long)G.skipped, (unsigned long long)lost_late,
           (unsigned long long)gaps_late, saturated ? "true" : "false", ok ? "true" : "false");
    if (G.first_error[0]) {
        printf(",\"first_error\":\"");
        for (const char *p = G.first_error; *p; p++)
            if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
                putchar(*p);
        putchar('"');
    }
    printf("}\n");
    fflush(stdout);
    fprintf(
        stderr,
        "%s %s (%s): %.0f stored/s, %.0f deliveries/s, ack p50/p99/p99.9 %.0f/%.0f/%.0f us, "
        "agent ack p50/p99 %.0f/%.0f us, rtt p50/p99 %.0f/%.0f us, server %.1f us/msg, redis %.1f us/msg, loadgen %.1f us/msg "
        "(ceiling %.0f/s); lost %llu dup %llu gaps %llu unanswered %llu errors %llu: %s\n",
        workload, label, G.closed_loop ? "closed loop" : "fixed rate", stored_rate,
        (double)G.deliveries_in_window / secs, lg_samples_pct(&G.ack_lat, 50),
        lg_samples_pct(&G.ack_lat, 99), lg_samples_pct(&G.ack_lat, 99.9),
        lg_samples_pct(&G.agent_ack_lat, 50), lg_samples_pct(&G.agent_ack_lat, 99),
        lg_samples_pct(&G.rtt_lat, 50), lg_samples_pct(&G.rtt_lat, 99), server_us, redis_us, lg_us,
        lg_us > 0 ? 1e6 / lg_us : 0, (unsigned long long)lost, (unsigned long long)G.duplicates,
        (unsigned long long)gaps, (unsigned long long)unanswered, (unsigned long long)G.errors,
        ok          ? "ok"
        : saturated ? "SATURATED (behind the offered rate; nothing lost)"
                    : "FAILED");
    if (G.first_error[0])
        fprintf(stderr, "  first error: %s\n", G.first_error);
    return ok ? 0 : 1;

fail:
    printf("{\"workload\":\"%s\",\"server\":\"%s\",\"mode\":\"%s\",\"ok\":false,\"phase\":%d,"
           "\"ready\":%d,\"hello_acked\":%d,\"assigned\":%d,\"first_error\":\"",
           workload, label, G.closed_loop ? "closed" : "rate", G.phase, G.ready, G.hello_acked,
           G.assigned);
    for (const char *p = G.first_error; *p; p++)
        if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            putchar(*p);
    printf("\"}\n");
    fprintf(stderr, "%s %s: FAILED in phase %d (ready %d/%d, hello acked %d, assigned %d): %s\n",
            workload, label, G.phase, G.ready, total, G.hello_acked, G.assigned,
            G.first_error[0] ? G.first_error : "timed out");
    return 1;
}
