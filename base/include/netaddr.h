/* netaddr.h: IP addresses in text form matched against networks ("10.0.0.0/8",
 * "fd00::/8", or one address), with inet_pton doing the parsing.
 *
 * For the helpdesk's trusted proxies: a request that came through one of them is counted
 * under the client address the proxy put in X-Forwarded-For.
 */
#ifndef SB_NETADDR_H
#define SB_NETADDR_H

#include <stddef.h>

#define SB_NETADDR_TEXT_MAX 64 /* an address in text form, with room (INET6_ADDRSTRLEN is 46) */

/* 1 when net is "<address>" or "<address>/<prefix bits>" (IPv4 or IPv6), else 0. */
int sb_net_valid(const char *net);
/* 1 when addr (an IPv4 or IPv6 address in text form) lies in net; 0 when it does not, or
 * when either does not parse. An IPv4 address does not match an IPv6 network. */
int sb_net_contains(const char *net, const char *addr);
/* 1 when addr lies in one of the n networks. */
int sb_net_contains_any(const char *const *nets, size_t n, const char *addr);
/* The client address of a request from peer that carries forwarded (the value of
 * X-Forwarded-For, may be NULL): when peer is one of the n trusted proxies, the rightmost
 * address of forwarded that is not itself a trusted proxy (each proxy appends the address
 * it got the request from, so the entries left of the first untrusted one may be forged);
 * otherwise, or when forwarded holds no valid address there, peer. Copied into out (len
 * bytes). */
void sb_net_client_addr(const char *const *trusted, size_t n, const char *peer,
                        const char *forwarded, char *out, size_t len);

#endif
