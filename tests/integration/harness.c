/*
 * tests/integration/harness.c — see harness.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "harness.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *bin(const char *var)
{
    const char *p = getenv(var);
    if (!p) {
        fprintf(stderr, "harness: %s is not set (run through meson test)\n", var);
        abort();
    }
    return p;
}

/* fork + exec path with argv; stdout to out_fd[1] when out_fd != NULL (stderr too when both_to_pipe); as
 * uid/gid when uid is not (uid_t)-1. */
static pid_t spawn_as(const char *path, const char **argv, int *out_fd, bool both_to_pipe, uid_t uid, gid_t gid)
{
    int p[2] = {-1, -1};
    if (out_fd && pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        if (uid != (uid_t)-1 && (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0))
            _exit(126);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (out_fd) {
            dup2(p[1], 1);
            if (both_to_pipe)
                dup2(p[1], 2);
        }
        execv(path, (char *const *)argv); /* execv does not modify the strings */
        _exit(127);
    }
    if (out_fd) {
        close(p[1]);
        *out_fd = p[0];
    }
    return pid;
}

static pid_t spawn(const char *path, const char **argv, int *out_fd, bool both_to_pipe)
{
    return spawn_as(path, argv, out_fd, both_to_pipe, (uid_t)-1, (gid_t)-1);
}

static void rm_rf(const char *dir)
{
    if (!dir[0] || strncmp(dir, "/tmp", 4) != 0)
        return;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "harness: could not remove %s\n", dir);
}

int daemon_start(daemon_proc *d, const char *const *extra)
{
    memset(d, 0, sizeof(*d));
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(d->dir, sizeof(d->dir), "%s/msd-test-XXXXXX", tmp);
    if (!mkdtemp(d->dir))
        return -1;
    snprintf(d->socket, sizeof(d->socket), "%s/run/memscoped.sock", d->dir);
    char data[300];
    snprintf(data, sizeof(data), "%s/data", d->dir);
    const char *argv[64] = {"memscoped", "--socket", d->socket, "--http", "127.0.0.1:0", "--data-dir", data};
    int n = 7;
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    d->pid = spawn(bin("MEMSCOPED"), argv, &d->out_fd, false);
    if (d->pid < 0)
        return -1;
    /* Read stdout until the URL line: ".../?token=..." */
    char buf[4096];
    size_t len = 0;
    double deadline = now_ms() + 5000;
    while (now_ms() < deadline && len < sizeof(buf) - 1) {
        struct pollfd p = {.fd = d->out_fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t r = read(d->out_fd, buf + len, sizeof(buf) - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        char *u = strstr(buf, "http://127.0.0.1:");
        char *t = u ? strstr(u, "/?token=") : NULL;
        if (t && strchr(t, '\n')) {
            d->port = atoi(u + strlen("http://127.0.0.1:"));
            sscanf(t + strlen("/?token="), "%79[0-9a-zA-Z._~-]", d->token);
            snprintf(d->base, sizeof(d->base), "http://127.0.0.1:%d", d->port);
            return 0;
        }
    }
    fprintf(stderr, "harness: memscoped did not get ready; its stdout: %.*s\n", (int)len, buf);
    proc_kill(d->pid);
    close(d->out_fd);
    rm_rf(d->dir);
    return -1;
}

int daemon_run_expect_exit(const char *const *args, int timeout_ms, char **output)
{
    const char *argv[64] = {"memscoped"};
    int n = 1;
    for (int i = 0; args && args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int fd;
    pid_t pid = spawn(bin("MEMSCOPED"), argv, &fd, true);
    if (pid < 0)
        return -1;
    char *buf = calloc(1, 65536);
    size_t len = 0;
    double deadline = now_ms() + timeout_ms;
    while (now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        ssize_t r = read(fd, buf + len, 65535 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    int st = proc_wait(pid, (int)(deadline - now_ms()) > 0 ? (int)(deadline - now_ms()) : 0);
    if (st < 0)
        proc_kill(pid);
    if (output)
        *output = buf;
    else
        free(buf);
    return st;
}

int proc_wait(pid_t pid, int timeout_ms)
{
    double deadline = now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0)
            return -1;
        if (now_ms() >= deadline)
            return -1;
        usleep(5000);
    }
}

void proc_kill(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int daemon_stop(daemon_proc *d)
{
    int st = -1;
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        st = proc_wait(d->pid, 5000);
        if (st < 0)
            proc_kill(d->pid);
        d->pid = 0;
        close(d->out_fd);
    }
    rm_rf(d->dir);
    d->dir[0] = '\0';
    return st;
}

pid_t app_start_as(const daemon_proc *d, uid_t uid, gid_t gid, const char *const *args)
{
    const char *argv[64] = {"fake_app", "--socket", d->socket};
    int n = 3;
    for (int i = 0; args && args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return spawn_as(bin("FAKE_APP"), argv, NULL, false, uid, gid);
}

pid_t app_start(const daemon_proc *d, const char *const *args)
{
    return app_start_as(d, (uid_t)-1, (gid_t)-1, args);
}

/* A response body into an http_file (NUL-terminated), as it comes. */
static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    http_file *s = arg;
    char *nd = realloc(s->body, s->len + size * n + 1);
    if (!nd)
        return 0;
    memcpy(nd + s->len, p, size * n);
    s->body = nd;
    s->len += size * n;
    nd[s->len] = '\0';
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    http_file *f = arg;
    size_t len = size * n;
    char line[600];
    snprintf(line, sizeof(line), "%.*s", (int)(len < 599 ? len : 599), p);
    line[strcspn(line, "\r\n")] = '\0';
    if (strncasecmp(line, "Content-Disposition: ", 21) == 0)
        snprintf(f->disposition, sizeof(f->disposition), "%.500s", line + 21);
    if (strncasecmp(line, "Content-Type: ", 14) == 0)
        snprintf(f->type, sizeof(f->type), "%.120s", line + 14);
    return len;
}

long http_get_file(const daemon_proc *d, const char *path, http_file *f)
{
    memset(f, 0, sizeof(*f));
    CURL *c = curl_easy_init();
    if (!c)
        return 0;
    char url[600];
    snprintf(url, sizeof(url), "%s%s", d->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code;
}

long http_req(const daemon_proc *d, const char *method, const char *path, const char *body, const char *token,
              const char *host, char **out)
{
    CURL *c = curl_easy_init();
    if (!c)
        return 0;
    char url[512], auth[200], hosth[300];
    snprintf(url, sizeof(url), "%s%s", d->base, path);
    struct curl_slist *h = NULL;
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    if (host) {
        snprintf(hosth, sizeof(hosth), "Host: %s", host);
        h = curl_slist_append(h, hosth);
    }
    http_file s = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* never route the loopback through a configured proxy */
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (out)
        *out = s.body;
    else
        free(s.body);
    return code;
}

long http_json(const daemon_proc *d, const char *method, const char *path, const char *body, const char *token,
               cJSON **json)
{
    char *out = NULL;
    long code = http_req(d, method, path, body, token, NULL, &out);
    *json = out ? cJSON_Parse(out) : NULL;
    free(out);
    return code;
}

bool wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    double deadline = now_ms() + timeout_ms;
    for (;;) {
        if (cond(arg))
            return true;
        if (now_ms() >= deadline)
            return false;
        usleep(20000);
    }
}

cJSON *find_app(const daemon_proc *d, const char *name)
{
    cJSON *j = NULL;
    if (http_json(d, "GET", "/api/v1/apps", NULL, NULL, &j) != 200) {
        cJSON_Delete(j);
        return NULL;
    }
    cJSON *a, *found = NULL;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(j, "apps")) {
        const cJSON *n = cJSON_GetObjectItem(a, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            found = a; /* the last one: the newest */
    }
    cJSON *copy = found ? cJSON_Duplicate(found, 1) : NULL;
    cJSON_Delete(j);
    return copy;
}

typedef struct app_cond {
    const daemon_proc *d;
    const char *name;
    bool connected;
    int min_samples;
    long id;
} app_cond;

static bool app_matches(void *arg)
{
    app_cond *c = arg;
    cJSON *a = find_app(c->d, c->name);
    bool ok = a && cJSON_IsTrue(cJSON_GetObjectItem(a, "connected")) == c->connected &&
              cJSON_GetNumberValue(cJSON_GetObjectItem(a, "samples")) >= c->min_samples;
    if (ok)
        c->id = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(a, "id"));
    cJSON_Delete(a);
    return ok;
}

long wait_app(const daemon_proc *d, const char *name, bool connected, int min_samples, int timeout_ms)
{
    app_cond c = {.d = d, .name = name, .connected = connected, .min_samples = min_samples, .id = -1};
    return wait_until(app_matches, &c, timeout_ms) ? c.id : -1;
}

long app_samples(const daemon_proc *d, const char *name)
{
    cJSON *a = find_app(d, name);
    long n = a ? (long)cJSON_GetNumberValue(cJSON_GetObjectItem(a, "samples")) : -1;
    cJSON_Delete(a);
    return n;
}
