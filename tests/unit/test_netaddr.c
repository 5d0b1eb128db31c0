/* test_netaddr.c - which addresses are public: IPv4, IPv6, the IPv6 forms
 * that embed IPv4, the edges of each range, and IP literals as URL hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "core/netaddr.h"

static netaddr_kind v4(const char *text)
{
    struct in_addr a;
    assert_int_equal(inet_pton(AF_INET, text, &a), 1);
    return netaddr_classify_v4((const uint8_t *)&a);
}

static netaddr_kind v6(const char *text)
{
    struct in6_addr a;
    assert_int_equal(inet_pton(AF_INET6, text, &a), 1);
    return netaddr_classify_v6(a.s6_addr);
}

typedef struct {
    const char *addr;
    netaddr_kind kind;
} case_;

static void check_v4(const case_ *cases)
{
    for (; cases->addr; cases++)
        if (v4(cases->addr) != cases->kind)
            fail_msg("%s: %s, expected %s", cases->addr, netaddr_kind_name(v4(cases->addr)),
                     netaddr_kind_name(cases->kind));
}

static void check_v6(const case_ *cases)
{
    for (; cases->addr; cases++)
        if (v6(cases->addr) != cases->kind)
            fail_msg("%s: %s, expected %s", cases->addr, netaddr_kind_name(v6(cases->addr)),
                     netaddr_kind_name(cases->kind));
}

static void ipv4_ranges_and_their_edges(void **state)
{
    static const case_ cases[] = {
        { "0.0.0.0", NETADDR_UNSPECIFIED },
        { "0.255.255.255", NETADDR_UNSPECIFIED },
        { "1.0.0.0", NETADDR_PUBLIC },
        { "9.255.255.255", NETADDR_PUBLIC },
        { "10.0.0.0", NETADDR_PRIVATE },
        { "10.255.255.255", NETADDR_PRIVATE },
        { "11.0.0.0", NETADDR_PUBLIC },
        { "100.63.255.255", NETADDR_PUBLIC },
        { "100.64.0.0", NETADDR_SHARED },
        { "100.127.255.255", NETADDR_SHARED },
        { "100.128.0.0", NETADDR_PUBLIC },
        { "126.255.255.255", NETADDR_PUBLIC },
        { "127.0.0.1", NETADDR_LOOPBACK },
        { "127.255.255.254", NETADDR_LOOPBACK },
        { "128.0.0.0", NETADDR_PUBLIC },
        { "169.253.255.255", NETADDR_PUBLIC },
        { "169.254.0.1", NETADDR_LINK_LOCAL },
        { "169.254.169.254", NETADDR_LINK_LOCAL },     /* cloud metadata */
        { "169.255.0.0", NETADDR_PUBLIC },
        { "172.15.255.255", NETADDR_PUBLIC },
        { "172.16.0.0", NETADDR_PRIVATE },
        { "172.31.255.255", NETADDR_PRIVATE },
        { "172.32.0.0", NETADDR_PUBLIC },
        { "192.0.0.8", NETADDR_RESERVED },
        { "192.0.1.1", NETADDR_PUBLIC },
        { "192.0.2.1", NETADDR_RESERVED },
        { "192.167.255.255", NETADDR_PUBLIC },
        { "192.168.0.0", NETADDR_PRIVATE },
        { "192.168.255.255", NETADDR_PRIVATE },
        { "192.169.0.0", NETADDR_PUBLIC },
        { "198.17.255.255", NETADDR_PUBLIC },
        { "198.18.0.0", NETADDR_RESERVED },
        { "198.19.255.255", NETADDR_RESERVED },
        { "198.20.0.0", NETADDR_PUBLIC },
        { "198.51.100.7", NETADDR_RESERVED },
        { "203.0.113.7", NETADDR_RESERVED },
        { "8.8.8.8", NETADDR_PUBLIC },
        { "223.255.255.255", NETADDR_PUBLIC },
        { "224.0.0.1", NETADDR_MULTICAST },
        { "239.255.255.255", NETADDR_MULTICAST },
        { "240.0.0.1", NETADDR_RESERVED },
        { "255.255.255.255", NETADDR_RESERVED },
        { NULL, 0 },
    };
    check_v4(cases);
}

static void ipv6_ranges_and_their_edges(void **state)
{
    static const case_ cases[] = {
        { "::", NETADDR_UNSPECIFIED },
        { "::1", NETADDR_LOOPBACK },
        { "::2", NETADDR_RESERVED },
        { "::127.0.0.1", NETADDR_RESERVED },        /* IPv4-compatible (deprecated) */
        { "100::1", NETADDR_RESERVED },             /* discard-only */
        { "1fff:ffff::1", NETADDR_RESERVED },       /* not allocated */
        { "2000::1", NETADDR_PUBLIC },
        { "2001:4860:4860::8888", NETADDR_PUBLIC },
        { "2606:4700:4700::1111", NETADDR_PUBLIC },
        { "2001:db8::1", NETADDR_RESERVED },        /* documentation */
        { "2001:db9::1", NETADDR_PUBLIC },
        { "2001:2::1", NETADDR_RESERVED },          /* benchmarking */
        { "3fff::1", NETADDR_RESERVED },
        { "3fff:1000::1", NETADDR_PUBLIC },
        { "4000::1", NETADDR_RESERVED },
        { "fbff:ffff::1", NETADDR_RESERVED },
        { "fc00::1", NETADDR_PRIVATE },
        { "fdff:ffff::1", NETADDR_PRIVATE },
        { "fe7f::1", NETADDR_RESERVED },
        { "fe80::1", NETADDR_LINK_LOCAL },
        { "febf:ffff::1", NETADDR_LINK_LOCAL },
        { "fec0::1", NETADDR_PRIVATE },             /* site-local (deprecated) */
        { "ff02::1", NETADDR_MULTICAST },
        { NULL, 0 },
    };
    check_v6(cases);
}

static void ipv6_forms_of_ipv4_are_judged_by_the_ipv4_inside(void **state)
{
    static const case_ cases[] = {
        { "::ffff:127.0.0.1", NETADDR_LOOPBACK },
        { "::ffff:7f00:1", NETADDR_LOOPBACK },
        { "::ffff:10.0.0.1", NETADDR_PRIVATE },
        { "::ffff:169.254.169.254", NETADDR_LINK_LOCAL },
        { "::ffff:0.0.0.0", NETADDR_UNSPECIFIED },
        { "::ffff:100.64.0.1", NETADDR_SHARED },
        { "::ffff:224.0.0.1", NETADDR_MULTICAST },
        { "::ffff:8.8.8.8", NETADDR_PUBLIC },
        { "64:ff9b::127.0.0.1", NETADDR_LOOPBACK },    /* NAT64 */
        { "64:ff9b::192.168.0.1", NETADDR_PRIVATE },
        { "64:ff9b::8.8.8.8", NETADDR_PUBLIC },
        { "64:ff9b:1::1", NETADDR_RESERVED },          /* local-use NAT64 */
        { "2002:7f00:1::", NETADDR_LOOPBACK },         /* 6to4 of 127.0.0.1 */
        { "2002:a9fe:a9fe::1", NETADDR_LINK_LOCAL },
        { "2002:808:808::1", NETADDR_PUBLIC },
        { "::ffff:0:127.0.0.1", NETADDR_RESERVED },    /* SIIT */
        { NULL, 0 },
    };
    check_v6(cases);
}

static void socket_addresses_are_classified_by_family(void **state)
{
    struct sockaddr_in in = { .sin_family = AF_INET };
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    assert_int_equal(netaddr_classify((struct sockaddr *)&in), NETADDR_LOOPBACK);
    struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
    inet_pton(AF_INET6, "::ffff:192.168.1.1", &in6.sin6_addr);
    assert_int_equal(netaddr_classify((struct sockaddr *)&in6), NETADDR_PRIVATE);
    inet_pton(AF_INET6, "2606:4700::1", &in6.sin6_addr);
    assert_int_equal(netaddr_classify((struct sockaddr *)&in6), NETADDR_PUBLIC);
    struct sockaddr unix_sa = { .sa_family = AF_UNIX };
    assert_int_equal(netaddr_classify(&unix_sa), NETADDR_NOT_IP);
    assert_int_equal(netaddr_classify(NULL), NETADDR_NOT_IP);
}

static void literals_in_every_form_a_resolver_takes(void **state)
{
    static const case_ cases[] = {
        { "127.0.0.1", NETADDR_LOOPBACK },
        { "127.1", NETADDR_LOOPBACK },
        { "2130706433", NETADDR_LOOPBACK },
        { "0x7f000001", NETADDR_LOOPBACK },
        { "0177.0.0.1", NETADDR_LOOPBACK },
        { "127.0.0.1.", NETADDR_LOOPBACK },
        { "0", NETADDR_UNSPECIFIED },
        { "10.0.0.1", NETADDR_PRIVATE },
        { "8.8.8.8", NETADDR_PUBLIC },
        { "[::1]", NETADDR_LOOPBACK },
        { "::1", NETADDR_LOOPBACK },
        { "[::ffff:127.0.0.1]", NETADDR_LOOPBACK },
        { "[fe80::1%eth0]", NETADDR_LINK_LOCAL },
        { "[2606:4700::1]", NETADDR_PUBLIC },
        { NULL, 0 },
    };
    for (const case_ *c = cases; c->addr; c++) {
        netaddr_kind kind = NETADDR_NOT_IP;
        if (!netaddr_literal(c->addr, &kind) || kind != c->kind)
            fail_msg("%s: %s, expected %s", c->addr, netaddr_kind_name(kind),
                     netaddr_kind_name(c->kind));
    }
}

static void host_names_are_not_literals(void **state)
{
    const char *names[] = { "localhost", "example.com", "cb.localhost", "deadbeef", "face.b00c",
                            "127.0.0.1 x", "1.2.3.4.5", "[example.com]", "[]", "", "[::1",
                            "::zz", NULL };
    netaddr_kind kind;
    for (int i = 0; names[i]; i++)
        if (netaddr_literal(names[i], &kind))
            fail_msg("'%s' was taken for an address", names[i]);
    assert_false(netaddr_literal(NULL, &kind));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ipv4_ranges_and_their_edges),
        cmocka_unit_test(ipv6_ranges_and_their_edges),
        cmocka_unit_test(ipv6_forms_of_ipv4_are_judged_by_the_ipv4_inside),
        cmocka_unit_test(socket_addresses_are_classified_by_family),
        cmocka_unit_test(literals_in_every_form_a_resolver_takes),
        cmocka_unit_test(host_names_are_not_literals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
