/*
 * daemon/http.h — the HTTP server: libmicrohttpd driven by the libuv loop.
 */
#ifndef MEMSCOPE_DAEMON_HTTP_H
#define MEMSCOPE_DAEMON_HTTP_H

#include "daemon.h"

/* Binds cfg.http_host:cfg.http_port (port 0: any free port) and starts serving. On success returns 0 and the
 * bound port in *port. -EADDRINUSE (after printing which address is busy), -EINVAL, or another negative errno. */
int msd_http_start(msd_daemon *d, int *port);

/* Answers every request still waiting on an app, then stops the server. The loop must run once more afterwards
 * for the handles to close; msd_http_free() after the loop has ended. */
void msd_http_stop(msd_daemon *d);
void msd_http_free(msd_daemon *d);

/* Makes MHD run on the next loop turn. For whoever called MHD_resume_connection() outside http.c (events.c):
 * in external polling mode MHD does not notice a resume until MHD_run() is called. Never runs MHD itself. */
void msd_http_wake(msd_daemon *d);

#endif /* MEMSCOPE_DAEMON_HTTP_H */
