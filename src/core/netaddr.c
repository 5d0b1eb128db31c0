/*
 * netaddr.c - classifying IP addresses (netaddr.h).
 *
 * The ranges follow the IANA IPv4 and IPv6 special-purpose address
 * registries (RFC 6890 and its updates): a range there that is not
 * globally reachable is not public here. Where the registry makes small
 * exceptions inside a range (two anycast addresses in 192.0.0.0/24), the
 * whole range stays refused: a callback has no business there.
 */
#include "core/netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* Whether addr's first `bits` bits equal those of prefix. */
static bool in_prefix(const uint8_t *addr, const uint8_t *prefix, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(addr, prefix, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (addr[whole] & mask) == (prefix[whole] & mask);
}

typedef struct {
    uint8_t prefix[4];
    int bits;
    netaddr_kind kind;
} v4_range;

static const v4_range v4_ranges[] = {
    { { 0, 0, 0, 0 }, 8, NETADDR_UNSPECIFIED },         /* "this network" */
    { { 10, 0, 0, 0 }, 8, NETADDR_PRIVATE },
    { { 100, 64, 0, 0 }, 10, NETADDR_SHARED },
    { { 127, 0, 0, 0 }, 8, NETADDR_LOOPBACK },
    { { 169, 254, 0, 0 }, 16, NETADDR_LINK_LOCAL },
    { { 172, 16, 0, 0 }, 12, NETADDR_PRIVATE },
    { { 192, 0, 0, 0 }, 24, NETADDR_RESERVED },         /* IETF protocol assignments */
    { { 192, 0, 2, 0 }, 24, NETADDR_RESERVED },         /* documentation */
    { { 192, 168, 0, 0 }, 16, NETADDR_PRIVATE },
    { { 198, 18, 0, 0 }, 15, NETADDR_RESERVED },        /* benchmarking */
    { { 198, 51, 100, 0 }, 24, NETADDR_RESERVED },      /* documentation */
    { { 203, 0, 113, 0 }, 24, NETADDR_RESERVED },       /* documentation */
    { { 224, 0, 0, 0 }, 4, NETADDR_MULTICAST },
    { { 240, 0, 0, 0 }, 4, NETADDR_RESERVED },          /* future use; broadcast */
};

netaddr_kind netaddr_classify_v4(const uint8_t addr[4])
{
    for (size_t i = 0; i < sizeof v4_ranges / sizeof v4_ranges[0]; i++)
        if (in_prefix(addr, v4_ranges[i].prefix, v4_ranges[i].bits))
            return v4_ranges[i].kind;
    return NETADDR_PUBLIC;
}

typedef struct {
    uint8_t prefix[16];
    int bits;
    netaddr_kind kind;
} v6_range;

/* Inside 2000::/3, the global unicast space. */
static const v6_range v6_global_exceptions[] = {
    { { 0x20, 0x01, 0x00, 0x02 }, 48, NETADDR_RESERVED },       /* benchmarking */
    { { 0x20, 0x01, 0x0d, 0xb8 }, 32, NETADDR_RESERVED },       /* documentation */
    { { 0x3f, 0xff }, 20, NETADDR_RESERVED },                   /* documentation */
};

/* Outside 2000::/3 (and past the IPv4 forms): nothing there is public. */
static const v6_range v6_other[] = {
    { { 0xfc }, 7, NETADDR_PRIVATE },                   /* unique local */
    { { 0xfe, 0x80 }, 10, NETADDR_LINK_LOCAL },
    { { 0xfe, 0xc0 }, 10, NETADDR_PRIVATE },            /* site-local (deprecated) */
    { { 0xff }, 8, NETADDR_MULTICAST },
};

netaddr_kind netaddr_classify_v6(const uint8_t addr[16])
{
    static const uint8_t zeros[16] = { 0 };
    static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
    static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
    static const uint8_t sixto4[2] = { 0x20, 0x02 };
    static const uint8_t global[1] = { 0x20 };

    /* The IPv4 address inside is where the packet goes. */
    if (memcmp(addr, mapped, 12) == 0 || memcmp(addr, nat64, 12) == 0)
        return netaddr_classify_v4(addr + 12);
    if (in_prefix(addr, sixto4, 16))
        return netaddr_classify_v4(addr + 2);
    if (memcmp(addr, zeros, 15) == 0 && addr[15] <= 1)
        return addr[15] ? NETADDR_LOOPBACK : NETADDR_UNSPECIFIED;
    if (in_prefix(addr, global, 3)) {
        for (size_t i = 0; i < sizeof v6_global_exceptions / sizeof v6_global_exceptions[0]; i++)
            if (in_prefix(addr, v6_global_exceptions[i].prefix, v6_global_exceptions[i].bits))
                return v6_global_exceptions[i].kind;
        return NETADDR_PUBLIC;
    }
    for (size_t i = 0; i < sizeof v6_other / sizeof v6_other[0]; i++)
        if (in_prefix(addr, v6_other[i].prefix, v6_other[i].bits))
            return v6_other[i].kind;
    /* ::/8 (IPv4-compatible, SIIT), 100::/64 (discard), unassigned space. */
    return NETADDR_RESERVED;
}

netaddr_kind netaddr_classify(const struct sockaddr *sa)
{
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return netaddr_classify_v4((const uint8_t *)&in->sin_addr);
    }
    if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return netaddr_classify_v6(in6->sin6_addr.s6_addr);
    }
    return NETADDR_NOT_IP;
}

const char *netaddr_kind_name(netaddr_kind kind)
{
    switch (kind) {
    case NETADDR_PUBLIC: return "public";
    case NETADDR_LOOPBACK: return "loopback";
    case NETADDR_PRIVATE: return "private";
    case NETADDR_LINK_LOCAL: return "link-local";
    case NETADDR_UNSPECIFIED: return "unspecified";
    case NETADDR_SHARED: return "shared (CGNAT)";
    case NETADDR_MULTICAST: return "multicast";
    case NETADDR_RESERVED: return "reserved";
    case NETADDR_NOT_IP: return "not an IP address";
    }
    return "unknown";
}

bool netaddr_literal(const char *host, netaddr_kind *kind)
{
    char buf[INET6_ADDRSTRLEN + 2];
    size_t len = host ? strlen(host) : 0;
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, host, len);
    buf[len] = '\0';
    char *zone = strchr(buf, '%');
    if (zone)
        *zone = '\0';

    uint8_t addr[16];
    if (strchr(buf, ':')) {
        if (inet_pton(AF_INET6, buf, addr) != 1)
            return false;
        *kind = netaddr_classify_v6(addr);
        return true;
    }
    size_t n = strlen(buf);
    if (n > 1 && buf[n - 1] == '.')
        buf[n - 1] = '\0';
    /* inet_aton takes every form a resolver does ("127.1", "0x7f000001",
     * "0177.0.0.1"), but also trailing text after a space: not a host. */
    if (strspn(buf, "0123456789abcdefABCDEFxX.") != strlen(buf))
        return false;
    struct in_addr in;
    if (inet_aton(buf, &in) == 0)
        return false;
    *kind = netaddr_classify_v4((const uint8_t *)&in);
    return true;
}
