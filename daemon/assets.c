/*
 * daemon/assets.c — serves the dashboard's files. Entry point: msd_web_answer(), reached from http.c's
 * on_request() for the URLs msd_web_owns() claims.
 *
 * Headers on every file: its Content-Type, X-Content-Type-Options: nosniff, a strict Content-Security-Policy
 * (MSD_WEB_CSP: scripts and styles only from files of this origin, so an injected string can never run),
 * Referrer-Policy: no-referrer (the first URL carries the token), and caching by validation: embedded files have
 * a strong ETag computed at build time and "Cache-Control: no-cache", so a browser asks again on every load and
 * gets a 304 without a body until memscoped is rebuilt with other files. Files from --web-dir are "no-store":
 * they are being edited.
 *
 * Path traversal with --web-dir is impossible by construction: a URL path is accepted only when each segment is
 * made of [A-Za-z0-9._-], does not start with a dot and the whole is short; the file is then opened with
 * O_NOFOLLOW and its resolved path must still lie under the resolved directory (which rules out symlinked
 * directories pointing elsewhere). Anything else is a 404.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api.h"
#include "assets.h"
#include "events.h"

#define WEB_FILE_MAX (16u << 20) /* a file from --web-dir larger than this is refused (the page is ~200 KiB) */
#define URL_PATH_MAX 256

static char web_dir[PATH_MAX]; /* resolved --web-dir, "" when serving the embedded files */

int msd_assets_set_dir(const char *dir)
{
    char resolved[PATH_MAX];
    struct stat st;
    if (!realpath(dir, resolved)) {
        int e = errno;
        fprintf(stderr, "memscoped: --web-dir %s: %s\n", dir, strerror(e));
        return -e;
    }
    if (stat(resolved, &st) < 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "memscoped: --web-dir %s: not a directory\n", dir);
        return -ENOTDIR;
    }
    if (strlen(resolved) + URL_PATH_MAX + 2 > sizeof(web_dir)) {
        fprintf(stderr, "memscoped: --web-dir %s: path too long\n", dir);
        return -ENAMETOOLONG;
    }
    memcpy(web_dir, resolved, strlen(resolved) + 1);
    return 0;
}

const msd_asset *msd_asset_find(const char *path)
{
    for (size_t i = 0; i < msd_assets_count; i++)
        if (strcmp(msd_assets[i].path, path) == 0)
            return &msd_assets[i];
    return NULL;
}

bool msd_web_owns(const char *url)
{
    return strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0 || strcmp(url, "/favicon.ico") == 0 ||
           strncmp(url, "/assets/", 8) == 0 || strcmp(url, MSD_EVENTS_PATH) == 0;
}

/* True when every segment of path ("/a/b.js") is a plain name: no "..", no hidden files, no odd bytes. */
static bool safe_path(const char *path)
{
    size_t n = strlen(path);
    if (n < 2 || n >= URL_PATH_MAX || path[0] != '/')
        return false;
    for (const char *p = path; *p; p++) {
        if (*p == '/') {
            if (p[1] == '/' || p[1] == '.' || p[1] == '\0')
                return false;
            continue;
        }
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '_' || *p == '-'))
            return false;
    }
    return true;
}

static const char *type_of(const char *path)
{
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"}, {".png", "image/png"}, {".ico", "image/x-icon"},
        {".json", "application/json"}, {".txt", "text/plain; charset=utf-8"}, {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/*
 * Reads the file for URL path `path` from --web-dir into a malloc'ed buffer. Returns 0 with *data and *len set,
 * -ENOENT when there is no such (safe) file, or another negative errno (-ENOMEM, -EFBIG, -EIO).
 */
static int read_web_file(const char *path, char **data, size_t *len)
{
    char full[PATH_MAX], resolved[PATH_MAX];
    if (!safe_path(path))
        return -ENOENT;
    if (snprintf(full, sizeof(full), "%s%s", web_dir, path) >= (int)sizeof(full)) /* cannot happen: see set_dir */
        return -ENOENT;
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -ENOENT;
    struct stat st;
    size_t dl = strlen(web_dir);
    /* The resolved path must still be inside the directory: no symlinked directory leads out of it. */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !realpath(full, resolved) ||
        strncmp(resolved, web_dir, dl) != 0 || resolved[dl] != '/') {
        close(fd);
        return -ENOENT;
    }
    if ((uint64_t)st.st_size > WEB_FILE_MAX) {
        close(fd);
        return -EFBIG;
    }
    size_t n = (size_t)st.st_size, got = 0;
    char *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return -EIO;
    }
    *data = buf;
    *len = n;
    return 0;
}

static void add_common_headers(struct MHD_Response *r, const char *type)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "Content-Security-Policy", MSD_WEB_CSP);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
}

static void blob_free(void *cls)
{
    msd_blob_unref(cls);
}

static enum MHD_Result send_json_error(struct MHD_Connection *mc, unsigned status, const char *msg)
{
    static char oom[] = "{\"error\":\"out of memory\"}";
    msd_blob *b = msd_api_error(msg);
    struct MHD_Response *r =
        b ? MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data, blob_free, b)
          : MHD_create_response_from_buffer(sizeof(oom) - 1, oom, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        msd_blob_unref(b);
        return MHD_NO;
    }
    if (!b)
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(mc, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* True when the request's If-None-Match names etag (or is "*"). */
static bool etag_matches(struct MHD_Connection *mc, const char *etag)
{
    const char *inm = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (!inm)
        return false;
    if (strcmp(inm, "*") == 0)
        return true;
    size_t el = strlen(etag);
    for (const char *p = strstr(inm, etag); p; p = strstr(p + 1, etag)) /* a list: "a", W/"b" */
        if ((p == inm || p[-1] == ' ' || p[-1] == ',' || p[-1] == '/') &&
            (p[el] == '\0' || p[el] == ',' || p[el] == ' '))
            return true;
    return false;
}

static enum MHD_Result send_file(struct MHD_Connection *mc, const char *path)
{
    char *data = NULL;
    size_t len = 0;
    int rc = web_dir[0] ? read_web_file(path, &data, &len) : -ENOENT;
    if (rc == 0) {
        struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, data, free);
        if (!r) {
            free(data);
            return send_json_error(mc, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        }
        add_common_headers(r, type_of(path));
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        enum MHD_Result ret = MHD_queue_response(mc, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (rc == -ENOMEM)
        return send_json_error(mc, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    if (rc != -ENOENT)
        msd_log("--web-dir: cannot serve %s: %s", path, strerror(-rc));
    const msd_asset *a = msd_asset_find(path);
    if (!a)
        return send_json_error(mc, MHD_HTTP_NOT_FOUND, "no such file");
    bool fresh = etag_matches(mc, a->etag);
    /* The embedded bytes live as long as the process: no copy, no free. */
    struct MHD_Response *r = MHD_create_response_from_buffer(fresh ? 0 : a->len, (void *)a->data,
                                                             MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    add_common_headers(r, a->type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, a->etag);
    enum MHD_Result ret = MHD_queue_response(mc, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

int msd_web_answer(msd_daemon *d, struct MHD_Connection *mc, const char *url, const char *method)
{
    bool head = strcmp(method, "HEAD") == 0;
    if (strcmp(url, MSD_EVENTS_PATH) == 0)
        return msd_events_open(d, mc, head);
    if (strcmp(url, "/") == 0)
        url = "/index.html";
    else if (strcmp(url, "/favicon.ico") == 0)
        url = "/assets/favicon.svg";
    return send_file(mc, url); /* MHD itself leaves the body out of a HEAD answer */
}
