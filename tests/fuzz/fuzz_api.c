/*
 * tests/fuzz/fuzz_api.c — libFuzzer target: HTTP requests as the route table sees them (issue 8).
 *
 * Input layout (fields separated by '\n', missing fields are empty):
 *   byte 0          flags: bits 0-1 method (GET, HEAD, POST, or the next field's text), bit 2 "the token was
 *                   right" (so the fuzzer reaches the POST endpoints without guessing a 64-digit token),
 *                   bits 3-4 how the app answers a forwarded request (reply, timeout, disconnect, send failure)
 *   path            the URL path ("/api/v1/apps/1/trace/top", ...)
 *   query           "key=value&key=value" (values looked up through the query function, as MHD does)
 *   authorization   an Authorization header, checked with msd_token_check() like http.c does
 *   host            a Host header, checked with msd_host_allowed() against the bound address flags bits 6-7
 *                   choose (127.0.0.1, [::1], 0.0.0.0 or [::])
 *   reply           the app's reply message to a forwarded request ({"type":"reply","id":1,"ok":true,...})
 *   body            the rest: the request body
 * Every answer must be exactly one, with a status in 200..599 and a JSON body (api_env.c checks).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_env.h"
#include "host.h"
#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NFIELDS 7

typedef struct query {
    char *names[32];
    char *values[32];
    int n;
} query;

static const char *query_arg(void *ctx, const char *name)
{
    query *q = ctx;
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->names[i], name) == 0)
            return q->values[i];
    return NULL;
}

/* Splits "a=1&b&c=3" in place, as MHD would hand the arguments over (a name without '=' has an empty value). */
static void parse_query(char *s, query *q)
{
    q->n = 0;
    for (char *save = NULL, *kv = strtok_r(s, "&", &save); kv && q->n < 32; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq)
            *eq++ = '\0';
        q->names[q->n] = kv;
        q->values[q->n++] = eq ? eq : kv + strlen(kv);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 70000)
        return 0;
    unsigned flags = data[0];
    /* A NUL-terminated copy; each field is cut at its '\n' (the body, last, may hold anything but NUL). */
    char *buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    char *field[NFIELDS] = {0};
    size_t body_len = 0;
    char *p = buf;
    int nf = (flags & 3) == 3 ? NFIELDS : NFIELDS - 1; /* an explicit method takes the first field */
    char *f[NFIELDS];
    for (int i = 0; i < nf; i++) {
        f[i] = p;
        if (i == nf - 1) {
            body_len = (size_t)(buf + size - 1 - p);
            break;
        }
        char *nl = memchr(p, '\n', (size_t)(buf + size - 1 - p));
        if (!nl) {
            for (int j = i + 1; j < nf; j++)
                f[j] = buf + size - 1; /* empty */
            body_len = 0;
            break;
        }
        *nl = '\0';
        p = nl + 1;
    }
    static const char *const methods[] = {"GET", "HEAD", "POST"};
    int k = 0;
    const char *method = (flags & 3) == 3 ? f[k++] : methods[flags & 3];
    for (int i = 0; i < NFIELDS - 1; i++)
        field[i] = f[k + i];
    /* Paths come from MHD NUL-terminated; so do header values. */
    const char *path = field[0][0] == '/' ? field[0] : "/";
    query q;
    parse_query(field[1], &q);
    bool authorized = (flags & 4) || msd_token_check(FUZZ_TOKEN, field[2]);
    static const struct {
        const char *bound;
        bool wildcard;
    } binds[] = {{"127.0.0.1", false}, {"[::1]", false}, {"0.0.0.0", true}, {"[::]", true}};
    const char *host = field[3];
    bool host_ok = msd_host_allowed(binds[flags >> 6].bound, binds[flags >> 6].wildcard, 7070, host);
    if (host_ok && strlen(host) > 300)
        abort(); /* the contract: longer values are refused */
    const char *reply = field[4];
    static const int reply_status[] = {0, -ETIMEDOUT, -ECONNRESET, 0};
    fuzz_ipc_fail = (flags >> 3 & 3) == 3 ? ((flags >> 5 & 1) ? -ENOBUFS : -ENOTCONN) : 0;
    fuzz_http req = {
        .method = method, .path = path, .query = query_arg, .query_ctx = &q,
        .body = field[5], .body_len = body_len, .authorized = authorized,
    };
    fuzz_request(&req, reply_status[flags >> 3 & 3], reply, strlen(reply));
    fuzz_ipc_fail = 0;
    free(buf);
    return 0;
}
