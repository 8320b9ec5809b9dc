/* node.c: what the parts of the helpdesk ask of the node they share (node.h). */
#include "node.h"

int hd_node_ready(hd_node *node)
{
    const char *why;
    return !node->health.ready || node->health.ready(&why, node->health.ud);
}
