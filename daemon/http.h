/*
 * daemon/http.h — the HTTP driver: libmicrohttpd driven by the libuv loop, each request handed to the route
 * table the daemon context names (d->routes, routes.c) as an msd_req (route.h). It knows no view.
 */
#ifndef MEMSCOPE_DAEMON_HTTP_H
#define MEMSCOPE_DAEMON_HTTP_H

#include "daemon.h"

/* Binds cfg.http_host:cfg.http_port (port 0: any free port) and starts serving. On success returns 0 and the
 * bound port in *port. -EADDRINUSE (after printing which address is busy), -EINVAL, or another negative errno. */
int msd_http_start(msd_daemon *d, int *port);

/* Answers every request still waiting for a late answer with 503, lets open streams send what they have (their
 * views must have ended them: msd_sse_stop()), then stops the server. The loop must run once more afterwards
 * for the handles to close; msd_http_free() after the loop has ended. */
void msd_http_stop(msd_daemon *d);
void msd_http_free(msd_daemon *d);

#endif /* MEMSCOPE_DAEMON_HTTP_H */
