/* metrics.c: the node's counters in the Prometheus text format (GET /metrics). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "buffer.h"
#include "health.h"
#include "helpdesk.h"
#include "metrics.h"

/* Upper bounds of the latency buckets, in microseconds (the last is +Inf). */
static const int64_t bucket_us[HD_LATENCY_BUCKETS - 1] = {
    250, 500, 1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};

void hd_metrics_latency(hd_metrics *m, int64_t us)
{
    for (int i = 0; i < HD_LATENCY_BUCKETS - 1; i++)
        if (us <= bucket_us[i])
            m->latency_buckets[i]++;
    m->latency_buckets[HD_LATENCY_BUCKETS - 1]++;
    m->latency_count++;
    m->latency_sum_s += (double)us / 1e6;
}

static void line(sb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(sb_buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_buf_append(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void counter(sb_buf *b, const char *name, const char *help, uint64_t v)
{
    eio_metric(b, "counter", name, help, v);
}

static void gauge(sb_buf *b, const char *name, const char *help, uint64_t v)
{
    eio_metric(b, "gauge", name, help, v);
}

static void histogram(sb_buf *b, const hd_metrics *m)
{
    const char *name = "switchboard_support_ack_seconds";
    line(b, "# HELP %s From a support event's arrival to its acknowledgement.\n", name);
    line(b, "# TYPE %s histogram\n", name);
    for (int i = 0; i < HD_LATENCY_BUCKETS - 1; i++)
        line(b, "%s_bucket{le=\"%g\"} %llu\n", name, (double)bucket_us[i] / 1e6,
             (unsigned long long)m->latency_buckets[i]);
    line(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
         (unsigned long long)m->latency_buckets[HD_LATENCY_BUCKETS - 1]);
    line(b, "%s_sum %.6f\n%s_count %llu\n", name, m->latency_sum_s, name,
         (unsigned long long)m->latency_count);
}

static void webhooks(sb_buf *b, const hd_webhook_stats *w)
{
    const char *name = "switchboard_webhook_deliveries_total";
    /* one line() holds 256 bytes: the help text goes apart from the type */
    line(b, "# HELP %s Webhook deliveries (event and URL) by result: ", name);
    line(b, "delivered (2xx), failed_attempt (to be retried), dropped (given up: retry time ");
    line(b, "over, or the embedded memory full).\n# TYPE %s counter\n", name);
    line(b, "%s{result=\"delivered\"} %llu\n", name, (unsigned long long)w->delivered);
    line(b, "%s{result=\"failed_attempt\"} %llu\n", name, (unsigned long long)w->failed_attempts);
    line(b, "%s{result=\"dropped\"} %llu\n", name, (unsigned long long)w->dropped);
    gauge(b, "switchboard_webhook_pending_events",
          "Events this node holds that some webhook URL has not had yet.", w->pending);
    uint64_t age = 0;
    if (w->oldest_ms > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        age = now > w->oldest_ms ? (uint64_t)(now - w->oldest_ms) / 1000 : 0;
    }
    gauge(b, "switchboard_webhook_oldest_pending_seconds",
          "Age of the oldest event this node has not yet delivered to every webhook URL.", age);
}

char *hd_metrics_render(const hd_metrics *m, sio_server *srv, sio_namespace *nsp, size_t *len,
                        size_t queue_length)
{
    sb_buf b;
    sb_buf_init(&b);
    gauge(&b, "switchboard_connections", "Open Engine.IO sessions.",
          eio_server_session_count(sio_server_engine(srv)));
    line(&b, "# HELP switchboard_sockets Connected Socket.IO sockets per namespace.\n"
             "# TYPE switchboard_sockets gauge\n");
    line(&b, "switchboard_sockets{namespace=\"/\"} %zu\n",
         sio_namespace_socket_count(sio_server_of(srv, "/")));
    line(&b, "switchboard_sockets{namespace=\"%s\"} %zu\n", HD_NAMESPACE,
         sio_namespace_socket_count(nsp));
    counter(&b, "switchboard_messages_in_total", "Support messages received.", m->messages_in);
    counter(&b, "switchboard_messages_stored_total", "Support messages stored by this node.",
            m->messages_stored);
    counter(&b, "switchboard_messages_out_total", "Support messages delivered to chat rooms.",
            m->messages_out);
    counter(&b, "switchboard_store_errors_total", "Store operations that failed (503).",
            m->store_errors);
    counter(&b, "switchboard_refused_total", "Events and requests refused with a 4xx.", m->refused);
    counter(&b, "switchboard_auth_failures_total", "Connections refused by the token check.",
            m->auth_failures);
    counter(&b, "switchboard_status_store_calls_total",
            "Store calls made for the status endpoint (its answers are shared for 1 s).",
            m->status_store_calls);
    gauge(&b, "switchboard_routing_queue_length", "Conversations waiting for an agent.",
          queue_length);
    histogram(&b, m);
    webhooks(&b, &m->webhooks);
    eio_forward_metrics(sio_server_engine(srv), &b);
    return (char *)sb_buf_release(&b, len);
}
