/*
 * daemon/host.c — the Host header check against DNS rebinding (see host.h). A pure function, apart from http.c
 * so that the fuzzers (issue 8) reach it without a server.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "host.h"

bool msd_host_allowed(const char *bound, bool wildcard, int our_port, const char *host)
{
    if (!host || !host[0] || strlen(host) > 300)
        return false;
    char name[304];
    const char *port = NULL;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close)
            return false;
        memcpy(name, host, (size_t)(close - host) + 1);
        name[close - host + 1] = '\0';
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return false;
    } else {
        const char *colon = strchr(host, ':');
        size_t n = colon ? (size_t)(colon - host) : strlen(host);
        memcpy(name, host, n);
        name[n] = '\0';
        port = colon ? colon + 1 : NULL;
    }
    if (port) {
        char *end;
        long p = strtol(port, &end, 10);
        if (*port == '\0' || *end != '\0' || p != our_port)
            return false;
    }
    if (strcasecmp(name, "localhost") == 0 || strcmp(name, "127.0.0.1") == 0 || strcmp(name, "[::1]") == 0 ||
        strcmp(name, bound) == 0)
        return true;
    if (wildcard) {
        unsigned char buf[sizeof(struct in6_addr)];
        char inner[304];
        size_t n = strlen(name);
        if (name[0] == '[' && n > 2) {
            memcpy(inner, name + 1, n - 2);
            inner[n - 2] = '\0';
            return inet_pton(AF_INET6, inner, buf) == 1;
        }
        return inet_pton(AF_INET, name, buf) == 1;
    }
    return false;
}
