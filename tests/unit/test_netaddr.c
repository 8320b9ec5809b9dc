/* test_netaddr.c: networks, addresses and the client address behind trusted proxies
 * (netaddr.h). */
#include "netaddr.h"
#include "test.h"

TEST_IMPL(netaddr_networks_parse)
{
    ASSERT_EQ(sb_net_valid("10.0.0.0/8"), 1);
    ASSERT_EQ(sb_net_valid("127.0.0.1"), 1);
    ASSERT_EQ(sb_net_valid("fd00::/8"), 1);
    ASSERT_EQ(sb_net_valid("::1"), 1);
    ASSERT_EQ(sb_net_valid("10.0.0.0/33"), 0);
    ASSERT_EQ(sb_net_valid("10.0.0.0/"), 0);
    ASSERT_EQ(sb_net_valid("10.0.0.0/-1"), 0);
    ASSERT_EQ(sb_net_valid("10.0.0.0/8x"), 0);
    ASSERT_EQ(sb_net_valid("example.com"), 0);
    ASSERT_EQ(sb_net_valid(""), 0);
    ASSERT_EQ(sb_net_valid(NULL), 0);
    return 0;
}

TEST_IMPL(netaddr_contains_by_prefix)
{
    ASSERT_EQ(sb_net_contains("10.0.0.0/8", "10.200.3.4"), 1);
    ASSERT_EQ(sb_net_contains("10.0.0.0/8", "11.0.0.1"), 0);
    ASSERT_EQ(sb_net_contains("192.168.4.0/22", "192.168.7.255"), 1);
    ASSERT_EQ(sb_net_contains("192.168.4.0/22", "192.168.8.0"), 0);
    ASSERT_EQ(sb_net_contains("127.0.0.1", "127.0.0.1"), 1);
    ASSERT_EQ(sb_net_contains("127.0.0.1", "127.0.0.2"), 0);
    ASSERT_EQ(sb_net_contains("0.0.0.0/0", "203.0.113.9"), 1);
    ASSERT_EQ(sb_net_contains("fd00::/8", "fd12::1"), 1);
    ASSERT_EQ(sb_net_contains("fd00::/8", "fe80::1"), 0);
    ASSERT_EQ(sb_net_contains("::1", "::1"), 1);
    ASSERT_EQ(sb_net_contains("10.0.0.0/8", "::1"), 0); /* families do not mix */
    ASSERT_EQ(sb_net_contains("10.0.0.0/8", "not an address"), 0);
    return 0;
}

static const char *client(const char *peer, const char *forwarded)
{
    static char out[SB_NETADDR_TEXT_MAX];
    const char *trusted[] = {"127.0.0.1", "10.0.0.0/8"};
    sb_net_client_addr(trusted, 2, peer, forwarded, out, sizeof(out));
    return out;
}

TEST_IMPL(netaddr_client_behind_trusted_proxies)
{
    /* Not through a trusted proxy: the header is the client's to forge. */
    ASSERT_STR_EQ(client("198.51.100.7", "203.0.113.1"), "198.51.100.7");
    /* Through one: the address it appended. */
    ASSERT_STR_EQ(client("127.0.0.1", "203.0.113.1"), "203.0.113.1");
    ASSERT_STR_EQ(client("127.0.0.1", " 1.2.3.4 , 203.0.113.1 "), "203.0.113.1");
    /* Through two: the rightmost untrusted entry; what the client wrote left of it is not
     * believed. */
    ASSERT_STR_EQ(client("127.0.0.1", "6.6.6.6, 203.0.113.1, 10.1.2.3"), "203.0.113.1");
    ASSERT_STR_EQ(client("127.0.0.1", "2001:db8::5"), "2001:db8::5");
    /* No header, an empty one, garbage, or only proxies: the peer. */
    ASSERT_STR_EQ(client("127.0.0.1", NULL), "127.0.0.1");
    ASSERT_STR_EQ(client("127.0.0.1", ""), "127.0.0.1");
    ASSERT_STR_EQ(client("127.0.0.1", "unknown"), "127.0.0.1");
    ASSERT_STR_EQ(client("127.0.0.1", "203.0.113.1, junk"), "127.0.0.1");
    ASSERT_STR_EQ(client("127.0.0.1", "10.0.0.1, 127.0.0.1"), "127.0.0.1");
    return 0;
}
