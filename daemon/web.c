/*
 * daemon/web.c — serves the dashboard's files. Entry point: msd_web_file(), the route of "/", "/index.html",
 * "/favicon.ico" and "/assets/..." (routes.c).
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
 *
 * Files from --web-dir are read on the loop thread (daemon.h: the one exception to its rule): the option is for
 * editing the dashboard, where the files are small and in the page cache, and each GET must see the latest edit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "web.h"

#define WEB_FILE_MAX (16u << 20) /* a file from --web-dir larger than this is refused (the page is ~200 KiB) */
#define URL_PATH_MAX 256

int msd_web_resolve_dir(const char *dir, char **out)
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
    if (strlen(resolved) + URL_PATH_MAX + 2 > PATH_MAX) {
        fprintf(stderr, "memscoped: --web-dir %s: path too long\n", dir);
        return -ENAMETOOLONG;
    }
    free(*out);
    if (!(*out = strdup(resolved)))
        return -ENOMEM;
    return 0;
}

const msd_asset *msd_asset_find(const char *path)
{
    for (size_t i = 0; i < msd_assets_count; i++)
        if (strcmp(msd_assets[i].path, path) == 0)
            return &msd_assets[i];
    return NULL;
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
 * Reads the file for URL path `path` from --web-dir into a blob. Returns 0 with *data set, -ENOENT when there is
 * no such (safe) file, or another negative errno (-ENOMEM, -EFBIG, -EIO).
 */
static int read_web_file(const char *web_dir, const char *path, msd_blob **data)
{
    char full[PATH_MAX], resolved[PATH_MAX];
    if (!safe_path(path))
        return -ENOENT;
    if (snprintf(full, sizeof(full), "%s%s", web_dir, path) >= (int)sizeof(full)) /* cannot happen: resolve_dir */
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
    char *bytes;
    size_t n;
    int rc = msd_read_fd(fd, WEB_FILE_MAX, &bytes, &n);
    if (rc < 0)
        return rc;
    msd_blob *b = msd_blob_adopt(bytes, n, n);
    if (!b)
        return -ENOMEM;
    *data = b;
    return 0;
}

/* The headers of every file: type, CSP and friends, and how it may be cached. */
static void file_headers(msd_resp *resp, const char *type, const char *cache)
{
    resp->type = type;
    static const msd_header common[] = {
        {"Content-Security-Policy", MSD_WEB_CSP}, {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "no-referrer"}, {"X-Frame-Options", "DENY"}, {"Cross-Origin-Resource-Policy", "same-origin"},
    };
    for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
        resp->headers[resp->nheaders++] = common[i];
    resp->headers[resp->nheaders++] = (msd_header){"Cache-Control", cache};
}

/* True when the request's If-None-Match names etag (or is "*"). */
static bool etag_matches(msd_req *r, const char *etag)
{
    const char *inm = msd_req_header(r, "If-None-Match");
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

void msd_web_file(msd_daemon *d, msd_req *r)
{
    const char *path = r->path;
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    else if (strcmp(path, "/favicon.ico") == 0)
        path = "/assets/favicon.svg";
    /* MHD itself leaves the body out of a HEAD answer. */
    msd_blob *data = NULL;
    int rc = d->cfg.web_dir ? read_web_file(d->cfg.web_dir, path, &data) : -ENOENT;
    if (rc == 0) {
        msd_resp resp = {.status = 200, .body = data};
        file_headers(&resp, type_of(path), "no-store"); /* being edited */
        msd_req_answer(r, &resp);
        return;
    }
    if (rc == -ENOMEM) {
        msd_req_error(r, 500, "out of memory");
        return;
    }
    if (rc != -ENOENT)
        msd_log("--web-dir: cannot serve %s: %s", path, strerror(-rc));
    const msd_asset *a = msd_asset_find(path);
    if (!a) {
        msd_req_error(r, 404, "no such file");
        return;
    }
    bool fresh = etag_matches(r, a->etag);
    /* The embedded bytes live as long as the process: no copy, no free. */
    msd_resp resp = {.status = fresh ? 304 : 200, .static_body = a->data, .static_len = fresh ? 0 : a->len};
    file_headers(&resp, a->type, "no-cache");
    resp.headers[resp.nheaders++] = (msd_header){"ETag", a->etag};
    msd_req_answer(r, &resp);
}
