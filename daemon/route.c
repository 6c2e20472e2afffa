/*
 * daemon/route.c — finding a request's route, and the answers every view shares (see route.h).
 * Entry point: msd_route_dispatch().
 */
#include <string.h>

#include "route.h"

#define SEGS_MAX 16 /* a path with more segments matches no route */

msd_resp msd_resp_out_of_memory(void)
{
    static const char oom[] = "{\"error\":\"out of memory\"}";
    return (msd_resp){.status = 500, .static_body = oom, .static_len = sizeof(oom) - 1};
}

void msd_req_json(msd_req *r, int status, msd_blob *body)
{
    msd_resp resp = body ? (msd_resp){.status = status, .body = body} : msd_resp_out_of_memory();
    msd_req_answer(r, &resp);
}

void msd_req_cjson(msd_req *r, int status, cJSON *o)
{
    msd_blob *b = o ? msd_blob_from_string(cJSON_PrintUnformatted(o)) : NULL;
    cJSON_Delete(o);
    msd_req_json(r, status, b);
}

void msd_req_built(msd_req *r, int status, cJSON *o, bool built)
{
    if (!built) {
        cJSON_Delete(o);
        o = NULL;
    }
    msd_req_cjson(r, status, o);
}

void msd_req_error(msd_req *r, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    msd_blob *b = NULL;
    if (o && cJSON_AddStringToObject(o, "error", msg))
        b = msd_blob_from_string(cJSON_PrintUnformatted(o));
    cJSON_Delete(o);
    if (!b) {
        msd_req_json(r, 500, NULL);
        return;
    }
    msd_resp resp = {.status = status, .body = b};
    if (status == 401)
        resp.headers[resp.nheaders++] = (msd_header){"WWW-Authenticate", "Bearer"};
    else if (status == 405)
        resp.headers[resp.nheaders++] = (msd_header){"Allow", "GET, HEAD, POST"};
    msd_req_answer(r, &resp);
}

bool msd_route_needs_token(const char *method)
{
    return strcmp(method, "POST") == 0;
}

/* The path's non-empty segments: where each starts in r->segs (NUL-terminated there) and in r->path, its length. */
typedef struct segments {
    char *at[SEGS_MAX];
    size_t off[SEGS_MAX], len[SEGS_MAX], n;
} segments;

static size_t segment_len(const char *p)
{
    size_t len = 0;
    while (p[len] && p[len] != '/')
        len++;
    return len;
}

/* True when pattern matches the segments; fills r's params and rest. Every request is matched against the
 * table in order, so this is a byte loop over short strings rather than calls to strcspn and strncmp. */
static bool match(const char *pattern, const segments *sg, msd_req *r)
{
    const char *p = pattern;
    size_t i = 0, np = 0;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            return i == sg->n;
        size_t len = segment_len(p);
        if (i >= sg->n)
            return false;
        if (p[0] == '{' && len >= 5 && memcmp(p + len - 4, "...}", 4) == 0) { /* the rest: one segment or more */
            r->rest = r->path + sg->off[i];
            return true;
        }
        if (p[0] == '{') {
            if (np < MSD_ROUTE_PARAMS)
                r->params[np++] = sg->at[i];
        } else if (sg->len[i] != len || memcmp(sg->at[i], p, len) != 0) {
            return false;
        }
        i++;
        p += len;
    }
}

void msd_route_dispatch(msd_daemon *d, const msd_route *table, size_t n, msd_req *r)
{
    size_t plen = strlen(r->path);
    if (plen > MSD_PATH_MAX) {
        msd_req_error(r, 414, "path too long");
        return;
    }
    memcpy(r->segs, r->path, plen + 1);
    segments sg;
    sg.n = 0;
    for (char *s = r->segs; *s;) {
        if (*s == '/') {
            *s++ = '\0';
            continue;
        }
        if (sg.n == SEGS_MAX) {
            msd_req_error(r, 404, "no such endpoint");
            return;
        }
        size_t len = segment_len(s);
        sg.at[sg.n] = s;
        sg.off[sg.n] = (size_t)(s - r->segs);
        sg.len[sg.n++] = len;
        s += len;
    }
    const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
    for (size_t i = 0; i < n; i++) {
        r->rest = NULL;
        /* the first byte tells GET from POST: most rows are passed over without a call */
        if (table[i].method[0] != method[0] || strcmp(table[i].method, method) != 0 || !match(table[i].pattern, &sg, r))
            continue;
        if (msd_route_needs_token(r->method) && !r->authorized) {
            msd_req_error(r, 401, "missing or wrong token: send Authorization: Bearer <token>");
            return;
        }
        table[i].fn(d, r);
        return;
    }
    msd_req_error(r, 404, "no such endpoint");
}
