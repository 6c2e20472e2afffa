/*
 * daemon/appdoc.c — the app documents (see appdoc.h). Entry point: msd_appdoc_latest().
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "appdoc.h"
#include "json.h"
#include "jsonstr.h"

/*
 * Writes ",\"time\":" and wall as printf's "%.3f" would, without printf (whose float formatting was a visible
 * part of each message's cost): for wall >= 2^20 (any real clock), wall - floor(wall) has at most 32 fraction bits,
 * so its product by 1000 is exact and rounding it to nearest-even is exactly printf's rounding. Other values go
 * through snprintf. Returns the length; buf holds at least 64 bytes.
 */
static int format_time(char *buf, double wall)
{
    if (!(wall >= 1048576.0 && wall < 9007199254740992.0))
        return snprintf(buf, 64, ",\"time\":%.3f", wall);
    double sec = floor(wall), ms = nearbyint((wall - sec) * 1000.0);
    if (ms >= 1000.0) {
        sec += 1;
        ms -= 1000.0;
    }
    char digits[24];
    int nd = 0;
    for (unsigned long long v = (unsigned long long)sec; v; v /= 10)
        digits[nd++] = (char)('0' + v % 10);
    memcpy(buf, ",\"time\":", 8);
    int n = 8;
    while (nd)
        buf[n++] = digits[--nd];
    unsigned m = (unsigned)ms;
    buf[n++] = '.';
    buf[n++] = (char)('0' + m / 100);
    buf[n++] = (char)('0' + m / 10 % 10);
    buf[n++] = (char)('0' + m % 10);
    buf[n] = '\0';
    return n;
}

msd_blob *msd_appdoc_latest(msd_app *app)
{
    errno = 0;
    if (app->samples == 0)
        return NULL;
    if (app->doc && app->doc_samples == app->samples)
        return msd_blob_ref(app->doc);
    const msc_buf *body = &app->stats->body;
    size_t need = 64 + MSC_JSON_STR_MAX(strlen(app->name)) + 64 + body->len + 2;
    /* When nobody else holds the previous document (no response is being sent from it) and it is big enough,
     * it is rewritten in place: no malloc and free of a few KB per message. */
    msd_blob *b = app->doc;
    if (!b || b->refs != 1 || b->cap < need) {
        if (!(b = msd_blob_new(NULL, need + need / 8))) { /* some room: the next message may be longer */
            errno = ENOMEM;
            return NULL;
        }
    }
    char *w = b->data;
    w += snprintf(w, 64, "{\"id\":%llu,\"pid\":%lld,\"name\":", (unsigned long long)app->id, (long long)app->pid);
    w += msc_json_str(w, app->name, strlen(app->name));
    w += format_time(w, app->last_update);
    if (body->len)
        memcpy(w, msc_buf_bytes(body), body->len);
    w += body->len;
    *w++ = '}';
    *w = '\0';
    b->len = (size_t)(w - b->data);
    if (b != app->doc) {
        msd_blob_unref(app->doc);
        app->doc = b;
    }
    app->doc_samples = app->samples;
    return msd_blob_ref(b);
}

cJSON *msd_appdoc_summary(const msd_app *app)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int ok = cJSON_AddNumberToObject(o, "id", (double)app->id) && cJSON_AddNumberToObject(o, "pid", (double)app->pid) &&
             cJSON_AddStringToObject(o, "name", app->name) && cJSON_AddBoolToObject(o, "connected", app->connected) &&
             cJSON_AddNumberToObject(o, "connected_at", round(app->connected_at * 1000) / 1000) &&
             (app->last_update ? cJSON_AddNumberToObject(o, "last_update", round(app->last_update * 1000) / 1000)
                               : cJSON_AddNullToObject(o, "last_update")) &&
             (app->connected ? cJSON_AddNullToObject(o, "disconnected_at")
                             : cJSON_AddNumberToObject(o, "disconnected_at",
                                                       round(app->disconnected_at * 1000) / 1000)) &&
             cJSON_AddNumberToObject(o, "interval_ms", (double)app->interval_ms) &&
             cJSON_AddNumberToObject(o, "samples", (double)app->samples) &&
             (app->library ? cJSON_AddStringToObject(o, "library", app->library)
                           : cJSON_AddNullToObject(o, "library"));
    if (ok && app->argv) {
        cJSON *argv = cJSON_Duplicate(app->argv, 1);
        ok = argv && cJSON_AddItemToObject(o, "argv", argv);
        if (!ok)
            cJSON_Delete(argv);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
