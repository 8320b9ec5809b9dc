/* socket_events.h: the client events of /helpdesk (spec §3): support, typing, read, take,
 * transfer, close, status, history, chats (socket_events.c).
 *
 * Above conversations.h, through which it carries out what it accepts.
 */
#ifndef HD_SOCKET_EVENTS_H
#define HD_SOCKET_EVENTS_H

#include "conversations.h"

/* Registers the events' handlers on the namespace; their ud is cv. */
void hd_events_register(hd_conversations *cv);

#endif
