/*
 * daemon/host.h — is this Host header one of ours? (DNS rebinding: a page from another origin that resolves its
 * own name to 127.0.0.1 still sends its own name as Host.)
 */
#ifndef MEMSCOPE_DAEMON_HOST_H
#define MEMSCOPE_DAEMON_HOST_H

#include <stdbool.h>

/*
 * True when host (a Host header value, NULL when absent) names us: localhost, 127.0.0.1, [::1] or `bound` (the
 * bound address as it appears in a Host header: "127.0.0.1", "[::1]"), with our_port or no port. With a wildcard
 * bind any IP literal is fine (DNS rebinding needs a host *name*). Can't fail; O(strlen(host)), at most 300 bytes
 * are looked at (longer values are refused).
 */
bool msd_host_allowed(const char *bound, bool wildcard, int our_port, const char *host);

#endif /* MEMSCOPE_DAEMON_HOST_H */
