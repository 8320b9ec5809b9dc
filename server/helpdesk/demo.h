/* demo.h: the development demo (--demo, loopback only: main.c refuses it otherwise): agent
 * and supervisor tokens for the console without minting them by hand.
 *
 * POST /demo/token {"id","role":"agent"|"supervisor","name"?,"dept"?:[…]} answers
 * {"token","expires_at"}: an HS256 token signed with the JWT secret, valid HD_DEMO_TOKEN_S.
 * With demo off the path is not the helpdesk's (404). The demo widget key
 * (HD_DEMO_WIDGET_KEY) is contract.c's. Layer 2 (app.c).
 */
#ifndef HD_DEMO_H
#define HD_DEMO_H

#include "node.h"

#define HD_DEMO_TOKEN_S (12 * 3600)

/* Answers req and returns 0 when it is the demo's, else returns 1. */
int hd_demo_route(hd_node *node, eio_http_request *req);

#endif
