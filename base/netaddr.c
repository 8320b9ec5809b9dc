/* netaddr.c: networks and addresses in text form (netaddr.h). */
#include "netaddr.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct net_addr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t bytes[16];
} net_addr;

static int addr_parse(const char *text, size_t len, net_addr *out)
{
    char buf[SB_NETADDR_TEXT_MAX];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, out->bytes) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, buf, out->bytes) == 1)
        out->family = AF_INET6;
    else
        return -1;
    return 0;
}

static int addr_bits(const net_addr *a) { return a->family == AF_INET ? 32 : 128; }

/* net into its address and prefix length; -1 when it does not parse. */
static int net_parse(const char *net, net_addr *base, int *bits)
{
    const char *slash = strchr(net, '/');
    if (addr_parse(net, slash ? (size_t)(slash - net) : strlen(net), base))
        return -1;
    *bits = addr_bits(base);
    if (slash) {
        char *end;
        long v = strtol(slash + 1, &end, 10);
        if (slash[1] < '0' || slash[1] > '9' || *end || v < 0 || v > *bits)
            return -1;
        *bits = (int)v;
    }
    return 0;
}

int sb_net_valid(const char *net)
{
    net_addr base;
    int bits;
    return net && net_parse(net, &base, &bits) == 0;
}

int sb_net_contains(const char *net, const char *addr)
{
    net_addr base, a;
    int bits;
    if (!net || !addr || net_parse(net, &base, &bits) || addr_parse(addr, strlen(addr), &a) ||
        a.family != base.family)
        return 0;
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(base.bytes, a.bytes, (size_t)whole))
        return 0;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return rest == 0 || (base.bytes[whole] & mask) == (a.bytes[whole] & mask);
}

int sb_net_contains_any(const char *const *nets, size_t n, const char *addr)
{
    for (size_t i = 0; i < n; i++)
        if (sb_net_contains(nets[i], addr))
            return 1;
    return 0;
}

static void copy_addr(char *out, size_t len, const char *s, size_t n)
{
    if (len == 0)
        return;
    if (n >= len)
        n = len - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

void sb_net_client_addr(const char *const *trusted, size_t n, const char *peer,
                        const char *forwarded, char *out, size_t len)
{
    copy_addr(out, len, peer, strlen(peer));
    if (!forwarded || !sb_net_contains_any(trusted, n, peer))
        return;
    /* From the right: skip the trusted proxies, take the first other address. */
    const char *end = forwarded + strlen(forwarded);
    while (end > forwarded) {
        const char *start = end;
        while (start > forwarded && start[-1] != ',')
            start--;
        const char *a = start, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        char text[SB_NETADDR_TEXT_MAX];
        net_addr parsed;
        if (addr_parse(a, (size_t)(b - a), &parsed))
            return; /* not an address: trust nothing further left */
        copy_addr(text, sizeof(text), a, (size_t)(b - a));
        if (!sb_net_contains_any(trusted, n, text)) {
            copy_addr(out, len, a, (size_t)(b - a));
            return;
        }
        end = start > forwarded ? start - 1 : forwarded;
    }
}
