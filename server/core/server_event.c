/* server_event.c: events between the server nodes of a cluster (Node's serverSideEmit).
 *
 * Only the adapter knows the other nodes: sending goes through it, and what they send
 * comes back from it through sio_namespace_receive_server_event(). An answer the
 * application owes another node is a sio_node_reply holding the adapter's reply callback.
 * The namespace lists the unanswered ones so that, when its adapter goes away first, each
 * reply still runs exactly once (with no answer) before the adapter is freed; the
 * application's later send or free then finds an inert ack.
 */
#include <stdlib.h>

#include "sio_internal.h"

struct sio_node_reply {
    sio_namespace *nsp; /* NULL once the reply has run */
    sio_node_reply_cb reply;
    void *ud;
    sb_list link; /* in nsp->node_acks while nsp is set */
};

static sio_node_reply *node_ack_new(sio_namespace *nsp, sio_node_reply_cb reply, void *ud)
{
    sio_node_reply *ack = calloc(1, sizeof(*ack));
    if (!ack)
        abort();
    ack->nsp = nsp;
    ack->reply = reply;
    ack->ud = ud;
    sb_list_insert_head(&nsp->node_acks, &ack->link);
    return ack;
}

/* Runs the reply once (answer NULL: none will come) and leaves ack inert. */
static void node_ack_finish(sio_node_reply *ack, const sio_args *answer)
{
    sio_namespace *nsp = ack->nsp;
    if (!nsp)
        return;
    sb_list_remove(&ack->link);
    ack->nsp = NULL;
    ack->reply(answer, ack->ud);
}

void sio_node_replies_orphan(sio_namespace *nsp)
{
    sio_node_reply *ack;
    while ((ack = SB_LIST_FIRST(&nsp->node_acks, sio_node_reply, link)))
        node_ack_finish(ack, NULL);
}

int sio_node_reply_send(sio_node_reply *ack, const sio_args *args)
{
    int rc = ack->nsp ? SIOP_OK : SIO_ECLOSED;
    if (rc == SIOP_OK && args && args->json && !json_is_array(args->json))
        rc = SIO_EINVAL;
    if (rc == SIOP_OK) {
        /* the adapter always gets an array, empty for an answer without arguments */
        json_t *json = args && args->json ? json_incref(args->json) : json_array();
        sio_args answer = {json, args ? args->attachments : NULL, args ? args->n_attachments : 0,
                           NULL, 0};
        node_ack_finish(ack, &answer);
        json_decref(json);
    } else {
        node_ack_finish(ack, NULL);
    }
    free(ack);
    return rc;
}

void sio_node_reply_free(sio_node_reply *ack)
{
    if (!ack)
        return;
    node_ack_finish(ack, NULL);
    free(ack);
}

void sio_namespace_receive_server_event(sio_namespace *nsp, const char *event, const sio_args *args,
                                        sio_node_reply_cb reply, void *ud)
{
    sio_handler *h = event ? sb_map_get(&nsp->server_handlers, event) : NULL;
    sio_node_reply *ack = reply ? node_ack_new(nsp, reply, ud) : NULL;
    if (!h) {
        sio_node_reply_free(ack);
        return;
    }
    json_t *json = args && args->json ? json_incref(args->json) : json_array();
    sio_args in = {json, args ? args->attachments : NULL, args ? args->n_attachments : 0, NULL, 0};
    h->cb.server(nsp, event, &in, ack, h->ud);
    json_decref(json);
}

/* The checks an emit to clients gets: an encodable event with matching attachments. */
static int server_event_encodable(sio_namespace *nsp, const char *event, const sio_args *args)
{
    sb_buf *b = &nsp->srv->scratch;
    sb_buf_reset(b);
    return siop_event_encode(b, nsp->name, SIOP_NO_ACK, event, args->json, args->n_attachments) ==
           SIOP_OK;
}

int sio_namespace_server_side_emit(sio_namespace *nsp, const char *event, const sio_args *args,
                                   uint32_t timeout_ms, sio_broadcast_ack_cb cb, void *ud)
{
    static const sio_args none = {NULL, NULL, 0, NULL, 0};
    sio_adapter *a = nsp->adapter;
    if (!args)
        args = &none;
    if (!sio_event_name_valid(event) || (cb && timeout_ms == 0))
        return SIO_EINVAL;
    if (args->json && !json_is_array(args->json))
        return SIO_EINVAL;
    if (!server_event_encodable(nsp, event, args))
        return SIO_EINVAL;
    if (!a->ops->server_side_emit)
        return SIOP_ERR;
    return a->ops->server_side_emit(a, event, args, timeout_ms, cb, ud);
}
