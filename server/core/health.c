/* health.c: GET /healthz and GET /readyz (see health.h). */
#include <stdio.h>
#include <string.h>

#include "health.h"

#define EIO_HEALTH_BODY_MAX 160
#define EIO_JSON            "application/json"

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
