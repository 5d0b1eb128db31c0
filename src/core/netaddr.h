/*
 * netaddr.h - what kind of network an IP address belongs to, so that calls
 * whose target an API caller chose (approval callbacks) can be kept off the
 * server's own host and networks (server-side request forgery).
 *
 * "Public" means globally reachable unicast: everything the IANA
 * special-purpose registries mark as not globally reachable is something
 * else - loopback, private, link-local (cloud metadata lives at
 * 169.254.169.254), the unspecified address, shared CGNAT space,
 * multicast, and ranges reserved for documentation, benchmarks or the
 * future. An IPv6 address that embeds an IPv4 one (IPv4-mapped
 * ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) is judged by the
 * IPv4 address inside, since that is where a packet may end up.
 *
 * Pure functions; no I/O, no allocation.
 */
#ifndef SP_NETADDR_H
#define SP_NETADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

typedef enum {
    NETADDR_PUBLIC,
    NETADDR_LOOPBACK,       /* 127/8, ::1 */
    NETADDR_PRIVATE,        /* 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10 */
    NETADDR_LINK_LOCAL,     /* 169.254/16, fe80::/10 */
    NETADDR_UNSPECIFIED,    /* 0.0.0.0 (0/8: "this network"), :: */
    NETADDR_SHARED,         /* 100.64/10: carrier-grade NAT */
    NETADDR_MULTICAST,      /* 224/4, ff00::/8 */
    NETADDR_RESERVED,       /* documentation, benchmarking, 240/4, broadcast, ... */
    NETADDR_NOT_IP,         /* not AF_INET or AF_INET6 (e.g. a Unix socket) */
} netaddr_kind;

/* addr: 4 bytes, network order. */
netaddr_kind netaddr_classify_v4(const uint8_t addr[4]);
/* addr: 16 bytes, network order. */
netaddr_kind netaddr_classify_v6(const uint8_t addr[16]);
/* sa may be NULL (NETADDR_NOT_IP). */
netaddr_kind netaddr_classify(const struct sockaddr *sa);

/* The kind in a word, for logs and messages: "public", "loopback", ... */
const char *netaddr_kind_name(netaddr_kind kind);

/*
 * Whether host is an IP address written out (a URL's host part, as libcurl
 * normalises it: dotted IPv4, or IPv6 in brackets or not, a trailing dot or
 * a "%zone" allowed); if so, *kind says what it is. Host names are false:
 * only resolving them says where they lead.
 */
bool netaddr_literal(const char *host, netaddr_kind *kind);

#endif
