/*
 * cli/http.c — the connection to memscoped: one libcurl easy handle reused for every request of the process
 * (watch makes many), the API token for POSTs, and the one-line error messages. Entry point: cli_fetch().
 *
 * Errors are worded for the person at the terminal: which URL could not be reached and why (the OS's reason,
 * e.g. "Connection refused", rather than curl's generic one), or the daemon's own {"error": ...} message with the
 * HTTP status, prefixed with the app it was about.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli.h"

/* Replies bigger than this are refused: the largest documents (a stats message, a trace diff) are a few MiB. */
#define REPLY_MAX (256u << 20)

struct cli_http {
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
    char *token_src; /* where the token came from, for the 401 message */
};

/* What a reply's bytes go into; errors are kept for the message, since curl only says "write error". */
typedef struct sink {
    msc_buf b;
    int err; /* -ENOBUFS (beyond REPLY_MAX), -ENOMEM, or 0 */
} sink;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink *k = ud;
    size_t n = size * nmemb;
    int rc = msc_buf_append_max(&k->b, ptr, n, REPLY_MAX);
    if (rc < 0) {
        k->err = rc;
        return 0; /* curl then fails with CURLE_WRITE_ERROR */
    }
    return n;
}

/* "a/b.sock" -> "a/b.token", as the daemon names its token file (daemon/sockpath.c, msd_socket_sibling). */
static char *sibling_token(const char *socket_path)
{
    size_t n = strlen(socket_path);
    if (n > 5 && strcmp(socket_path + n - 5, ".sock") == 0)
        n -= 5;
    char *out = NULL;
    return asprintf(&out, "%.*s.token", (int)n, socket_path) < 0 ? NULL : out;
}

char *cli_default_token_file(void)
{
    const char *sock = getenv("MEMSCOPE_SOCKET");
    if (sock && sock[0])
        return sibling_token(sock);
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    char *out = NULL;
    if (geteuid() != 0 && xdg && xdg[0] == '/') {
        if (asprintf(&out, "%s/memscope/memscoped.token", xdg) < 0)
            return NULL;
        /* A user's CLI may talk to the system daemon (run as root) when no user daemon exists. */
        if (access(out, F_OK) == 0 || access("/run/memscope/memscoped.token", F_OK) != 0)
            return out;
        free(out);
    }
    return strdup("/run/memscope/memscoped.token");
}

int cli_take_url_token(cli_ctx *c)
{
    char *q = strchr(c->url, '?');
    if (q) {
        char *t = strstr(q, "?token=");
        if (!t)
            t = strstr(q, "&token=");
        if (t) {
            t += 7;
            char *tok = strndup(t, strcspn(t, "&#"));
            if (!tok)
                return -1;
            free(c->token);
            c->token = tok;
        }
        *q = '\0';
    }
    size_t n = strlen(c->url);
    while (n > 0 && c->url[n - 1] == '/')
        c->url[--n] = '\0';
    return 0;
}

/* Reads the first line of path as the token; CLI_FAIL with the error printed. */
static int read_token_file(const char *path, char **out)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        cli_error("cannot read the token file %s: %s (is memscoped running? use --token-file or MEMSCOPE_TOKEN)",
                  path, strerror(errno));
        return CLI_FAIL;
    }
    char line[512];
    char *got = fgets(line, sizeof(line), f);
    fclose(f);
    size_t n = got ? strcspn(line, "\r\n") : 0;
    if (n == 0) {
        cli_error("the token file %s is empty", path);
        return CLI_FAIL;
    }
    line[n] = '\0';
    if (!(*out = strdup(line))) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* The token for a POST: --token-file, else MEMSCOPE_TOKEN or the URL's ?token=, else the default file. */
static int load_token(cli_ctx *c)
{
    cli_http *h = c->http;
    if (h->token_src)
        return CLI_OK; /* already decided */
    const char *src;
    char *path = NULL;
    if (c->token_file) {
        free(c->token);
        c->token = NULL;
        if (read_token_file(c->token_file, &c->token) != CLI_OK)
            return CLI_FAIL;
        src = c->token_file;
    } else if (c->token) {
        src = "MEMSCOPE_TOKEN or the URL";
    } else {
        if (!(path = cli_default_token_file())) {
            cli_error("out of memory");
            return CLI_FAIL;
        }
        if (read_token_file(path, &c->token) != CLI_OK) {
            free(path);
            return CLI_FAIL;
        }
        src = path;
    }
    h->token_src = strdup(src);
    free(path);
    if (!h->token_src) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int open_http(cli_ctx *c)
{
    if (c->http)
        return CLI_OK;
    cli_http *h = calloc(1, sizeof(*h));
    if (!h || !(h->curl = curl_easy_init())) {
        free(h);
        cli_error("out of memory (libcurl)");
        return CLI_FAIL;
    }
    c->http = h;
    return CLI_OK;
}

void cli_http_close(cli_ctx *c)
{
    if (!c->http)
        return;
    curl_easy_cleanup(c->http->curl);
    free(c->http->token_src);
    free(c->http);
    c->http = NULL;
}

void cli_reply_free(cli_reply *r)
{
    msc_buf_free(&r->body);
    cJSON_Delete(r->json);
    *r = (cli_reply){0};
}

int cli_print_json(cli_reply *r)
{
    const char *p = msc_buf_bytes(&r->body);
    size_t n = r->body.len;
    if (n)
        fwrite(p, 1, n, stdout);
    if (n == 0 || p[n - 1] != '\n')
        putchar('\n');
    cli_reply_free(r);
    return CLI_OK;
}

static void transport_error(cli_ctx *c, CURLcode rc, const sink *k)
{
    cli_http *h = c->http;
    long oserr = 0;
    curl_easy_getinfo(h->curl, CURLINFO_OS_ERRNO, &oserr);
    if (k->err == -ENOMEM)
        cli_error("out of memory reading the reply of memscoped at %s", c->url);
    else if (k->err == -ENOBUFS)
        cli_error("the reply of memscoped at %s is larger than %u MiB", c->url, REPLY_MAX >> 20);
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        cli_error("no answer from memscoped at %s within %g s", c->url, c->timeout_s);
    else if (rc == CURLE_COULDNT_CONNECT && oserr)
        cli_error("cannot reach memscoped at %s: %s", c->url, strerror((int)oserr));
    else if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
        cli_error("bad URL %s: %s", c->url, h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
    else
        cli_error("cannot reach memscoped at %s: %s", c->url, h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
}

static void http_error(cli_ctx *c, long status, const cJSON *json)
{
    const char *msg = jstr(json, "error", NULL);
    const char *who = c->subject[0] ? c->subject : NULL;
    if (!json) {
        cli_error("unexpected answer from %s (HTTP %ld, not JSON): is memscoped listening there?", c->url, status);
    } else if (status == 401) {
        cli_error("memscoped refused the token from %s (HTTP 401): is it the token of the daemon at %s?",
                  c->http->token_src ? c->http->token_src : "nowhere", c->url);
    } else if (who) {
        cli_error("%s: %s (HTTP %ld)", who, msg ? msg : "request failed", status);
    } else {
        cli_error("%s (HTTP %ld)", msg ? msg : "request failed", status);
    }
}

/* The request headers (and the Authorization line they point into, freed by the caller after the request).
 * -1 when out of memory, with nothing left allocated. */
static int build_headers(const cli_ctx *c, bool post, struct curl_slist **out, char **auth)
{
    struct curl_slist *hdr = NULL, *t;
    *auth = NULL;
    if (!(hdr = curl_slist_append(NULL, "Accept: application/json")))
        return -1;
    if (post) {
        if (asprintf(auth, "Authorization: Bearer %s", c->token) < 0) {
            *auth = NULL;
            curl_slist_free_all(hdr);
            return -1;
        }
        /* "Expect:" off: the daemon answers small bodies at once; waiting for 100-continue only adds a delay. */
        const char *extra[] = {"Content-Type: application/json", *auth, "Expect:"};
        for (size_t i = 0; i < 3; i++) {
            if (!(t = curl_slist_append(hdr, extra[i]))) {
                curl_slist_free_all(hdr);
                free(*auth);
                *auth = NULL;
                return -1;
            }
            hdr = t;
        }
    }
    *out = hdr;
    return 0;
}

/* The handle's options for one request to url with headers hdr: what every request of the CLI has in common. */
static void easy_setup(cli_ctx *c, const char *url, struct curl_slist *hdr)
{
    cli_http *h = c->http;
    CURL *e = h->curl;
    curl_easy_reset(e);
    h->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* watch owns SIGINT; curl must not install handlers */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(c->timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->timeout_s < 10 ? c->timeout_s * 1000 : 10000));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "memscope/" CLI_VERSION);
}

/* Runs the request, then frees what easy_setup's caller built for it (the handle stays, for the next one). */
static CURLcode easy_perform(CURL *e, struct curl_slist *hdr, char *auth, char *url)
{
    CURLcode rc = curl_easy_perform(e);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdr);
    free(auth);
    free(url);
    return rc;
}

/* Performs METHOD c->url + path: 0 with *r filled on a 2xx JSON answer, else CLI_FAIL with the error printed. */
static int call(cli_ctx *c, const char *method, const char *body, cli_reply *r, const char *path)
{
    *r = (cli_reply){0};
    bool post = strcmp(method, "POST") == 0;
    if (open_http(c) != CLI_OK || (post && load_token(c) != CLI_OK))
        return CLI_FAIL;
    cli_http *h = c->http;
    CURL *e = h->curl;
    char *url = NULL, *auth = NULL;
    struct curl_slist *hdr = NULL;
    sink k = {MSC_BUF_INIT, 0};
    if (asprintf(&url, "%s%s", c->url, path) < 0)
        url = NULL; /* undefined after a failure */
    if (!url || build_headers(c, post, &hdr, &auth) < 0) {
        free(url);
        cli_error("out of memory");
        return CLI_FAIL;
    }
    easy_setup(c, url, hdr);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &k);
    if (post) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    CURLcode rc = easy_perform(e, hdr, auth, url);
    if (rc != CURLE_OK) {
        transport_error(c, rc, &k);
        msc_buf_free(&k.b);
        return CLI_FAIL;
    }
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    /* A C string for cJSON: a NUL after the bytes, and a pointer even for an empty body. */
    const char *text = msc_buf_cstr(&k.b);
    if (!text) {
        msc_buf_free(&k.b);
        cli_error("out of memory");
        return CLI_FAIL;
    }
    cJSON *json = cJSON_ParseWithLength(text, k.b.len);
    if (status < 200 || status > 299 || !json) {
        http_error(c, status, json);
        cJSON_Delete(json);
        msc_buf_free(&k.b);
        return CLI_FAIL;
    }
    *r = (cli_reply){.status = status, .body = k.b, .json = json};
    return CLI_OK;
}

int cli_get_apps(cli_ctx *c, cli_reply *r)
{
    return call(c, "GET", NULL, r, "/api/v1/apps");
}

int cli_fetch(cli_ctx *c, const char *method, const char *body, cli_reply *r, const char *path_fmt, ...)
{
    char *path = NULL;
    va_list ap;
    va_start(ap, path_fmt);
    int n = vasprintf(&path, path_fmt, ap);
    va_end(ap);
    if (n < 0) {
        *r = (cli_reply){0};
        cli_error("out of memory");
        return CLI_FAIL;
    }
    int rc = call(c, method, body, r, path);
    free(path);
    if (rc != CLI_OK)
        return rc;
    return c->json ? cli_print_json(r) : -1;
}

/* ---- Downloads ---------------------------------------------------------------------------------------------- */

/* Where a download's bytes go: decided at the first byte of the body (the headers, and so the status and the
 * suggested name, are all in by then), or at the end for an empty body. */
typedef struct dl {
    cli_download *d;
    CURL *curl;
    char suggested[256]; /* Content-Disposition's filename, already reduced to a safe name; "" when none */
    char tmp[4096 + 8];  /* the file being written, "" for stdout */
    FILE *out;           /* NULL until decided */
    bool failed_status;  /* a non-2xx answer: its body goes to err_body, for the message */
    msc_buf err_body;
    int err;       /* errno of a failed open/write, or -ENOBUFS/-ENOMEM for err_body */
    bool started;  /* the destination was decided */
} dl;

/* The filename parameter of a Content-Disposition header line (RFC 6266: filename="x" or filename=x), reduced
 * to its last path component. An empty, hidden ('.') or control-character name is refused: "" is stored. */
static void take_filename(dl *s, const char *v, size_t n)
{
    const char *end = v + n;
    const char *p = NULL;
    for (const char *q = v; q + 9 <= end; q++)
        if (strncasecmp(q, "filename=", 9) == 0 && (q == v || q[-1] == ';' || q[-1] == ' ')) {
            p = q + 9;
            break;
        }
    if (!p)
        return;
    char name[256];
    size_t k = 0;
    bool quoted = p < end && *p == '"';
    if (quoted)
        p++;
    for (; p < end && k + 1 < sizeof(name); p++) {
        if (quoted ? *p == '"' : (*p == ';' || *p == ' ' || *p == '\r' || *p == '\n'))
            break;
        if (quoted && *p == '\\' && p + 1 < end)
            p++;
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return;
        name[k++] = *p;
    }
    name[k] = '\0';
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (!base[0] || base[0] == '.')
        return;
    snprintf(s->suggested, sizeof(s->suggested), "%s", base);
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    dl *s = ud;
    size_t n = size * nmemb;
    static const char key[] = "content-disposition:";
    if (n > sizeof(key) - 1 && strncasecmp(ptr, key, sizeof(key) - 1) == 0)
        take_filename(s, ptr + sizeof(key) - 1, n - (sizeof(key) - 1));
    return n;
}

/* Decides where the body goes, once. 0, or -1 when the file cannot be created (s->err set). */
static int dl_start(dl *s)
{
    if (s->started)
        return s->out || s->failed_status ? 0 : -1;
    s->started = true;
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        s->failed_status = true;
        return 0;
    }
    cli_download *d = s->d;
    const char *name = d->file ? d->file : s->suggested[0] ? s->suggested : d->fallback;
    snprintf(d->saved, sizeof(d->saved), "%s", name);
    if (strcmp(name, "-") == 0) {
        s->out = stdout;
        return 0;
    }
    snprintf(s->tmp, sizeof(s->tmp), "%s.tmp", name);
    if (!(s->out = fopen(s->tmp, "wbe"))) {
        s->err = errno;
        s->tmp[0] = '\0';
        return -1;
    }
    return 0;
}

static size_t on_file_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    dl *s = ud;
    size_t n = size * nmemb;
    if (dl_start(s) < 0)
        return 0;
    if (s->failed_status) {
        int rc = msc_buf_append_max(&s->err_body, ptr, n, 1u << 20);
        if (rc < 0) {
            s->err = rc;
            return 0;
        }
        return n;
    }
    if (fwrite(ptr, 1, n, s->out) != n) {
        s->err = errno ? errno : EIO;
        return 0;
    }
    s->d->bytes += n;
    return n;
}

/* Ends the file: closes it and renames it into place (ok), or removes what was written. -1 when closing or
 * renaming failed (s->err set). */
static int dl_finish(dl *s, bool ok)
{
    int rc = 0;
    if (s->out && s->out != stdout) {
        if (fclose(s->out) != 0 && ok) {
            s->err = errno;
            rc = -1;
        }
        if (ok && rc == 0 && rename(s->tmp, s->d->saved) != 0) {
            s->err = errno;
            rc = -1;
        }
        if (!ok || rc < 0)
            unlink(s->tmp);
    } else if (s->out == stdout && fflush(stdout) != 0 && ok) {
        s->err = errno;
        rc = -1;
    }
    s->out = NULL;
    return rc;
}

int cli_download_to(cli_ctx *c, cli_download *d, const char *path_fmt, ...)
{
    d->saved[0] = '\0';
    d->bytes = 0;
    char *path = NULL, *url = NULL, *auth = NULL;
    va_list ap;
    va_start(ap, path_fmt);
    int n = vasprintf(&path, path_fmt, ap);
    va_end(ap);
    struct curl_slist *hdr = NULL;
    if (n < 0)
        path = NULL;
    if (!path || asprintf(&url, "%s%s", c->url, path) < 0)
        url = NULL;
    free(path);
    if (!url || open_http(c) != CLI_OK || build_headers(c, false, &hdr, &auth) < 0) {
        free(url);
        if (!url)
            cli_error("out of memory");
        return CLI_FAIL;
    }
    cli_http *h = c->http;
    CURL *e = h->curl;
    dl s = {.d = d, .curl = e, .err_body = MSC_BUF_INIT};
    easy_setup(c, url, hdr);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_file_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    CURLcode rc = easy_perform(e, hdr, auth, url);
    int out = CLI_FAIL;
    if (rc == CURLE_OK)
        (void)dl_start(&s); /* an empty body: the file is created now (a failure sets s.err) */
    if (s.err > 0 && !s.failed_status) {
        cli_error("cannot write %s: %s", s.tmp[0] ? s.tmp : d->saved, strerror(s.err));
    } else if (s.err == -ENOMEM) {
        cli_error("out of memory reading the reply of memscoped at %s", c->url);
    } else if (rc != CURLE_OK && s.err == 0) {
        sink k = {MSC_BUF_INIT, 0};
        transport_error(c, rc, &k);
    } else if (s.failed_status) {
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        const char *text = msc_buf_cstr(&s.err_body);
        cJSON *json = text ? cJSON_ParseWithLength(text, s.err_body.len) : NULL;
        http_error(c, status, json);
        cJSON_Delete(json);
    } else {
        out = CLI_OK;
    }
    if (dl_finish(&s, out == CLI_OK) < 0) {
        cli_error("cannot write %s: %s", d->saved, strerror(s.err));
        out = CLI_FAIL;
    }
    msc_buf_free(&s.err_body);
    return out;
}
