/* test_hd_visitors.c: the visitors' rate limit per client address (visitors.h): a token
 * bucket per address, in a table that forgets idle addresses and never holds more than
 * HD_VISITOR_ADDRS of them, whatever the flood. */
#include <stdio.h>

#include "test.h"
#include "visitors.h"

#define T0 ((int64_t)1700000000000)

static void setup(hd_node *node, hd_visitors *v, uint32_t rate)
{
    memset(node, 0, sizeof(*node));
    node->cfg.visitor_rate = rate;
    hd_visitors_init(v, node);
}

TEST_IMPL(hd_visitors_bucket)
{
    hd_node node;
    hd_visitors v;
    uint32_t retry = 0;
    setup(&node, &v, 3);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(hd_visitors_allow(&v, "10.0.0.1", T0, &retry), 1);
    ASSERT_EQ(hd_visitors_allow(&v, "10.0.0.1", T0, &retry), 0);
    ASSERT_EQ(retry, 20);                                        /* 3 a minute: one every 20 s */
    ASSERT_EQ(hd_visitors_allow(&v, "10.0.0.2", T0, &retry), 1); /* another address */
    ASSERT_EQ(hd_visitors_allow(&v, "10.0.0.1", T0 + 19000, &retry), 0);
    ASSERT_EQ(retry, 1);
    ASSERT_EQ(hd_visitors_allow(&v, "10.0.0.1", T0 + 20000, &retry), 1);
    ASSERT_EQ(hd_visitors_allow(&v, "10.0.0.1", T0 + 20000, &retry), 0);
    /* a clock that goes back takes nothing away and gives nothing */
    ASSERT_EQ(hd_visitors_allow(&v, "10.0.0.1", T0, &retry), 0);
    hd_visitors_free(&v);
    return 0;
}

TEST_IMPL(hd_visitors_unlimited)
{
    hd_node node;
    hd_visitors v;
    uint32_t retry = 0;
    setup(&node, &v, 0);
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ(hd_visitors_allow(&v, "10.0.0.1", T0, &retry), 1);
    ASSERT_EQ(v.n_addrs, 0);
    hd_visitors_free(&v);
    return 0;
}

/* A flood from many addresses: the table stays at its bound (the least recently seen go),
 * and an address idle for a minute is forgotten. */
TEST_IMPL(hd_visitors_bounded)
{
    hd_node node;
    hd_visitors v;
    uint32_t retry = 0;
    char addr[64];
    setup(&node, &v, 2);
    ASSERT_EQ(hd_visitors_allow(&v, "192.168.0.1", T0, &retry), 1);
    ASSERT_EQ(hd_visitors_allow(&v, "192.168.0.1", T0, &retry), 1);
    for (int i = 0; i < 3 * HD_VISITOR_ADDRS; i++) {
        snprintf(addr, sizeof(addr), "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
        ASSERT_EQ(hd_visitors_allow(&v, addr, T0 + i / 1000, &retry), 1);
        ASSERT(v.n_addrs <= HD_VISITOR_ADDRS);
    }
    ASSERT_EQ(v.n_addrs, HD_VISITOR_ADDRS);
    /* the most recent one is remembered: its bucket has one token left */
    ASSERT_EQ(hd_visitors_allow(&v, addr, T0 + 20, &retry), 1);
    ASSERT_EQ(hd_visitors_allow(&v, addr, T0 + 20, &retry), 0);
    /* a minute of quiet: every address forgotten but the one seen now */
    ASSERT_EQ(hd_visitors_allow(&v, "192.168.0.9", T0 + 60000 + 100, &retry), 1);
    ASSERT_EQ(v.n_addrs, 1);
    hd_visitors_free(&v);
    ASSERT_EQ(v.n_addrs, 0);
    return 0;
}
