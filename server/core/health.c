/* health.c: GET /healthz and GET /readyz (see health.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "health.h"

#define EIO_HEALTH_BODY_MAX 160
#define EIO_JSON            "application/json"
#define EIO_HEALTH_LINE_MAX 256 /* one counter's HELP, TYPE and value */

int eio_health_handle(eio_http_request *req, void *ud)
{
    eio_health *h = ud;
    const char *path = eio_http_path(req);
    char body[EIO_HEALTH_BODY_MAX];
    if (strcmp(eio_http_method(req), "GET") && strcmp(eio_http_method(req), "HEAD"))
        return 1;
    if (!strcmp(path, "/healthz")) {
        eio_http_respond(req, 200, EIO_JSON, "{\"status\":\"ok\"}", 15);
        return 0;
    }
    if (strcmp(path, "/readyz"))
        return 1;
    const char *reason = "not ready";
    if (!h->ready || h->ready(&reason, h->ud)) {
        eio_http_respond(req, 200, EIO_JSON, "{\"status\":\"ready\"}", 18);
        return 0;
    }
    int n = snprintf(body, sizeof(body), "{\"status\":\"not ready\",\"reason\":\"%s\"}", reason);
    eio_http_respond(req, 503, EIO_JSON, body, (size_t)n);
    return 0;
}

void eio_health_attach(eio_server *srv, eio_health *h)
{
    eio_server_set_http_handler(srv, eio_health_handle, h);
}

void eio_metric(sb_buf *out, const char *type, const char *name, const char *help, uint64_t v)
{
    char line[EIO_HEALTH_LINE_MAX];
    int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help,
                     name, type, name, v);
    if (n > 0)
        sb_buf_append(out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void counter(sb_buf *b, const char *name, const char *help, uint64_t v)
{
    eio_metric(b, "counter", name, help, v);
}

void eio_forward_metrics(const eio_server *srv, sb_buf *out)
{
    eio_forward_stats st;
    eio_server_forward_stats(srv, &st);
    counter(out, "switchboard_forwarded_requests_total",
            "Engine.IO requests and upgrades relayed to the node holding their session.",
            st.forwarded);
    counter(out, "switchboard_forward_failures_total",
            "Relayed requests answered \"Session ID unknown\": no node held the session.",
            st.failed);
    counter(out, "switchboard_forwarded_served_total",
            "Engine.IO requests and upgrades other nodes relayed here.", st.served);
}

int eio_metrics_handle(eio_http_request *req, void *srv)
{
    sb_buf b;
    if (strcmp(eio_http_method(req), "GET") || strcmp(eio_http_path(req), "/metrics"))
        return 1;
    sb_buf_init(&b);
    eio_forward_metrics(srv, &b);
    eio_http_respond(req, 200, "text/plain; version=0.0.4", b.data, b.len);
    sb_buf_free(&b);
    return 0;
}
