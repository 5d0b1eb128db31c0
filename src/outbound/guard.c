/*
 * guard.c - public_only calls (outbound.h): the check of each address a
 * call connects to, and the early check of a URL's host.
 *
 * The check sits in libcurl's open-socket hook, which gets the address
 * after name resolution and before any socket exists: a name that
 * resolves to 127.0.0.1 (or rebinds there between an early check and the
 * call) is refused without a packet sent. With several addresses for a
 * name, libcurl goes on to the next one, so a name with one public and one
 * private address still reaches the public one.
 */
#include "outbound/guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/netaddr.h"
#include "outbound/outbound.h"

static curl_socket_t open_public(void *arg, curlsocktype purpose, struct curl_sockaddr *address)
{
    outbound_guard *g = arg;
    /* curl_sockaddr's addr holds the whole address (addrlen bytes), whatever
     * its declared type. */
    const struct sockaddr *sa = &address->addr;
    netaddr_kind kind = netaddr_classify(sa);
    if (purpose != CURLSOCKTYPE_IPCXN || kind != NETADDR_PUBLIC) {
        char text[INET6_ADDRSTRLEN] = "?";
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, text, sizeof text);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, text,
                      sizeof text);
        log_warn("outbound: not connecting to %s (a %s address): this call may reach "
                 "public addresses only", text, netaddr_kind_name(kind));
        g->refused++;
        return CURL_SOCKET_BAD;
    }
    g->allowed++;
    return socket(address->family, address->socktype, address->protocol);
}

void outbound_guard_attach(CURL *easy, outbound_guard *g)
{
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_public);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, g);
    /* "" overrides http_proxy and friends: through a proxy, the address
     * checked would be the proxy's, not the target's. */
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
}

bool outbound_guard_refused_all(const outbound_guard *g)
{
    return g->refused > 0 && g->allowed == 0;
}

/* "localhost", "LOCALHOST." - resolved by libcurl itself, never by DNS. */
static bool is_localhost(const char *host)
{
    size_t n = strlen(host);
    if (n > 0 && host[n - 1] == '.')
        n--;
    return n == 9 && strncasecmp(host, "localhost", 9) == 0;
}

bool outbound_url_not_public(const char *url, const char **what)
{
    CURLU *u = curl_url();
    char *host = NULL;
    bool refused = false;
    netaddr_kind kind;
    /* libcurl's own parser: the host it would connect to, with IPv4 forms
     * such as 2130706433 or 0x7f.1 already turned into 127.0.0.1. */
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        if (is_localhost(host)) {
            refused = true;
            *what = netaddr_kind_name(NETADDR_LOOPBACK);
        } else if (netaddr_literal(host, &kind) && kind != NETADDR_PUBLIC) {
            refused = true;
            *what = netaddr_kind_name(kind);
        }
    }
    curl_free(host);
    curl_url_cleanup(u);
    return refused;
}
