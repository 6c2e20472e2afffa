/*
 * daemon/appdoc.h — the documents the daemon serves about one app, for the API (api.c) and the event stream
 * (sse.c), which serve them byte for byte alike.
 *
 *   latest   {"id","pid","name","time", <the members of its latest stats message, as the agent sent them>}:
 *            GET /api/v1/apps/{id} and the stream's `stats` events. Built from the model's body (stats.h) once
 *            per stats message, on the first request for it, and cached in the app (app->doc); compact, so
 *            that it fits a Server-Sent Events `data:` line.
 *   summary  {"id","pid","name","connected","connected_at","last_update","disconnected_at","interval_ms",
 *            "samples","library","argv"}: GET /api/v1/apps and the stream's `app` events.
 * Loop thread only.
 */
#ifndef MEMSCOPE_DAEMON_APPDOC_H
#define MEMSCOPE_DAEMON_APPDOC_H

#include <cjson/cJSON.h>

#include "registry.h"

/* A reference to the app's latest document; NULL before its first stats message (errno 0) or when out of
 * memory (errno ENOMEM). O(1) when cached, else O(document). */
msd_blob *msd_appdoc_latest(msd_app *app);

/* The app's summary; NULL when out of memory. */
cJSON *msd_appdoc_summary(const msd_app *app);

#endif /* MEMSCOPE_DAEMON_APPDOC_H */
