/*
 * tests/integration/fake_app.c — a test agent: speaks docs/PROTOCOL.md with plain sockets and cJSON, no
 * libmemscope. It plays a plausible app (a population of "Node" objects, a GC with three generations, a
 * tracer) and can misbehave on purpose, so the daemon can be tested before and independently of the real agent.
 *
 *   fake_app --socket PATH [--name NAME] [--interval-ms N] [--objects N] [--grow N] [--cycles N]
 *            [--count N] [--reply-delay-ms N] [--types N] [--mode MODE]
 * --types N adds N more types to every stats message (about 100 bytes each: 5000 make a ~500 KB frame).
 * MODE: normal | malformed (a non-JSON frame after the first stats) | oversized (announces a 2 MiB frame)
 *       | wrong-version (hello with protocol 99) | never-read (never reads the socket) | die-mid-frame (half a
 *       stats frame, then exits) | no-reply (ignores requests) | no-hello (connects and says nothing)
 *       | indented (stats printed with newlines and tabs, as json.dumps(indent=2) would)
 *       | lenient (after the first stats, one that cJSON reads but RFC 8259 forbids: a leading zero).
 * Exit codes: 0 done (--count reached), 3 refused by the daemon (reason on stdout), 4 the daemon closed the
 * connection, 1 other errors, 2 bad flags.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define FRAME_MAX (1u << 20)
#define NODE_ALLOC_LINE 4242 /* the "source line" the tracer attributes Node allocations to */

static struct {
    const char *socket, *name, *mode;
    long interval_ms, objects, grow, cycles, count, reply_delay_ms, types;
} opt = {.name = "fake_app", .mode = "normal", .interval_ms = 100, .objects = 100, .cycles = 42};

static struct {
    double alive, created, destroyed;
    int gc_enabled;
    double thresholds[3], collections[3], collected[3];
    int tracing, nframes;
    long seq;
} app = {.gc_enabled = 1, .thresholds = {700, 10, 10}, .nframes = 1};

static int fd = -1;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int write_all(const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_raw(const char *payload, size_t n)
{
    uint8_t h[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    return write_all(h, 4) < 0 || write_all(payload, n) < 0 ? -1 : 0;
}

static int send_json(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return -1;
    int rc = send_raw(s, strlen(s));
    free(s);
    return rc;
}

/* Reads one frame (blocking). Returns the parsed payload or NULL on EOF/error. */
static cJSON *read_frame(void)
{
    uint8_t h[4];
    size_t got = 0;
    while (got < 4) {
        ssize_t r = read(fd, h + got, 4 - got);
        if (r <= 0)
            return NULL;
        got += (size_t)r;
    }
    uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    if (n == 0 || n > FRAME_MAX)
        return NULL;
    char *buf = malloc(n + 1);
    if (!buf)
        return NULL;
    for (got = 0; got < n;) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) {
            free(buf);
            return NULL;
        }
        got += (size_t)r;
    }
    cJSON *j = cJSON_ParseWithLength(buf, n);
    free(buf);
    return j;
}

static cJSON *stats_message(void)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", "stats");
    cJSON_AddNumberToObject(m, "seq", (double)++app.seq);
    cJSON_AddNumberToObject(m, "dropped", 0);
    cJSON *heap = cJSON_AddObjectToObject(m, "heap");
    cJSON_AddNumberToObject(heap, "pool_bytes_in_use", app.alive * 64);
    cJSON_AddNumberToObject(heap, "system_bytes_in_use", 4096);
    cJSON_AddNumberToObject(heap, "blocks_in_use", app.alive);
    cJSON_AddNumberToObject(heap, "arena_size", 262144);
    cJSON_AddNumberToObject(heap, "pool_size", 4096);
    cJSON *pools = cJSON_AddArrayToObject(m, "pools");
    for (int i = 0; i < 16; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "block_size", 16 * (i + 1));
        cJSON_AddNumberToObject(p, "pools", i == 3 ? 1 + app.alive * 64 / 4096 : 0);
        cJSON_AddNumberToObject(p, "blocks_in_use", i == 3 ? app.alive : 0);
        cJSON_AddNumberToObject(p, "blocks_free", i == 3 ? 10 : 0);
        cJSON_AddItemToArray(pools, p);
    }
    cJSON *rc = cJSON_AddObjectToObject(m, "refcount");
    cJSON_AddNumberToObject(rc, "objects_alive", app.alive + 7);
    cJSON_AddNumberToObject(rc, "objects_created", app.created + 7);
    cJSON_AddNumberToObject(rc, "objects_destroyed", app.destroyed);
    cJSON *types = cJSON_AddArrayToObject(m, "types");
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "name", "Node");
    cJSON_AddNumberToObject(t, "alive", app.alive);
    cJSON_AddNumberToObject(t, "bytes", app.alive * 64);
    cJSON_AddNumberToObject(t, "created", app.created);
    cJSON_AddNumberToObject(t, "destroyed", app.destroyed);
    cJSON_AddItemToArray(types, t);
    t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "name", "Config");
    cJSON_AddNumberToObject(t, "alive", 7);
    cJSON_AddNumberToObject(t, "bytes", 7 * 32);
    cJSON_AddNumberToObject(t, "created", 7);
    cJSON_AddNumberToObject(t, "destroyed", 0);
    cJSON_AddItemToArray(types, t);
    for (long i = 0; i < opt.types; i++) { /* --types: many more, for big frames */
        char name[32];
        snprintf(name, sizeof(name), "Extra%05ld", i);
        t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "name", name);
        cJSON_AddNumberToObject(t, "alive", (double)i);
        cJSON_AddNumberToObject(t, "bytes", (double)i * 16);
        cJSON_AddNumberToObject(t, "created", (double)i);
        cJSON_AddNumberToObject(t, "destroyed", 0);
        cJSON_AddItemToArray(types, t);
    }
    cJSON *gc = cJSON_AddObjectToObject(m, "gc");
    cJSON_AddBoolToObject(gc, "enabled", app.gc_enabled);
    cJSON *gens = cJSON_AddArrayToObject(gc, "generations");
    for (int i = 0; i < 3; i++) {
        cJSON *g = cJSON_CreateObject();
        cJSON_AddNumberToObject(g, "count", 0);
        cJSON_AddNumberToObject(g, "threshold", app.thresholds[i]);
        cJSON_AddNumberToObject(g, "collections", app.collections[i]);
        cJSON_AddNumberToObject(g, "collected", app.collected[i]);
        cJSON_AddNumberToObject(g, "uncollectable", 0);
        cJSON_AddItemToArray(gens, g);
    }
    cJSON_AddNumberToObject(gc, "pause_total_ns", 1000 * (app.collections[0] + app.collections[1] + app.collections[2]));
    cJSON_AddNumberToObject(gc, "pause_max_ns", 1000);
    cJSON_AddNumberToObject(gc, "garbage", 0);
    cJSON *tr = cJSON_AddObjectToObject(m, "trace");
    cJSON_AddBoolToObject(tr, "tracing", app.tracing);
    cJSON_AddNumberToObject(tr, "nframes", app.nframes);
    cJSON_AddNumberToObject(tr, "current", app.tracing ? app.alive * 64 : 0);
    cJSON_AddNumberToObject(tr, "peak", app.tracing ? app.alive * 64 : 0);
    return m;
}

static cJSON *trace_entry(double size, double count, int line)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "file", "fake_app.c");
    cJSON_AddNumberToObject(e, "lineno", line);
    cJSON_AddNumberToObject(e, "size", size);
    cJSON_AddNumberToObject(e, "count", count);
    return e;
}

/* Answers one request; returns the result or NULL with *err set. */
static cJSON *run_request(const char *method, const cJSON *params, const char **err)
{
    cJSON *r = cJSON_CreateObject();
    if (strcmp(method, "gc.collect") == 0) {
        const cJSON *g = cJSON_GetObjectItem(params, "generation");
        int gen = cJSON_IsNumber(g) ? g->valueint : 2;
        app.collections[gen]++;
        app.collected[gen] += (double)opt.cycles;
        cJSON_AddNumberToObject(r, "generation", gen);
        cJSON_AddNumberToObject(r, "collected", (double)opt.cycles);
        cJSON_AddNumberToObject(r, "uncollectable", 0);
        cJSON_AddNumberToObject(r, "duration_ns", 12345);
        cJSON *bt = cJSON_AddArrayToObject(r, "by_type");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "type", "Node");
        cJSON_AddNumberToObject(e, "collected", (double)opt.cycles);
        cJSON_AddItemToArray(bt, e);
    } else if (strcmp(method, "gc.enable") == 0 || strcmp(method, "gc.disable") == 0) {
        cJSON_AddBoolToObject(r, "was_enabled", app.gc_enabled);
        app.gc_enabled = strcmp(method, "gc.enable") == 0;
        cJSON_AddBoolToObject(r, "enabled", app.gc_enabled);
    } else if (strcmp(method, "gc.set_threshold") == 0) {
        const cJSON *t = cJSON_GetObjectItem(params, "thresholds"), *v;
        int i = 0;
        cJSON_ArrayForEach(v, t) if (i < 3) app.thresholds[i++] = v->valuedouble;
        cJSON_AddItemToObject(r, "thresholds", cJSON_CreateDoubleArray(app.thresholds, 3));
    } else if (strcmp(method, "trace.start") == 0) {
        const cJSON *n = cJSON_GetObjectItem(params, "nframes");
        app.tracing = 1;
        app.nframes = cJSON_IsNumber(n) ? n->valueint : 1;
        cJSON_AddBoolToObject(r, "tracing", 1);
        cJSON_AddNumberToObject(r, "nframes", app.nframes);
    } else if (strcmp(method, "trace.stop") == 0) {
        app.tracing = 0;
        cJSON_AddBoolToObject(r, "tracing", 0);
    } else if (strcmp(method, "trace.top") == 0 || strcmp(method, "trace.snapshot") == 0) {
        if (!app.tracing) {
            cJSON_Delete(r);
            *err = "tracing is not started";
            return NULL;
        }
        if (method[6] == 't') { /* top */
            const cJSON *key = cJSON_GetObjectItem(params, "key");
            cJSON_AddStringToObject(r, "key", cJSON_IsString(key) ? key->valuestring : "lineno");
            cJSON_AddNumberToObject(r, "total_size", app.alive * 64 + 512);
            cJSON_AddNumberToObject(r, "total_count", app.alive + 1);
            cJSON *st = cJSON_AddArrayToObject(r, "stats");
            cJSON_AddItemToArray(st, trace_entry(app.alive * 64, app.alive, NODE_ALLOC_LINE));
            cJSON_AddItemToArray(st, trace_entry(512, 1, 77));
        } else { /* snapshot: one trace per line, frames innermost first */
            cJSON_AddNumberToObject(r, "traceback_limit", app.nframes);
            cJSON *traces = cJSON_AddArrayToObject(r, "traces");
            int lines[2] = {NODE_ALLOC_LINE, 77};
            double sizes[2] = {app.alive * 64, 512}, counts[2] = {app.alive, 1};
            for (int i = 0; i < 2; i++) {
                cJSON *t = cJSON_CreateObject();
                cJSON_AddNumberToObject(t, "size", sizes[i]);
                cJSON_AddNumberToObject(t, "count", counts[i]);
                cJSON *frames = cJSON_AddArrayToObject(t, "frames");
                cJSON *f = cJSON_CreateObject();
                cJSON_AddStringToObject(f, "file", "fake_app.c");
                cJSON_AddNumberToObject(f, "lineno", lines[i]);
                cJSON_AddItemToArray(frames, f);
                cJSON_AddItemToArray(traces, t);
            }
        }
    } else {
        cJSON_Delete(r);
        *err = "unknown method";
        return NULL;
    }
    return r;
}

static int handle(cJSON *m)
{
    const cJSON *type = cJSON_GetObjectItem(m, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "request") != 0 || strcmp(opt.mode, "no-reply") == 0)
        return 0;
    if (opt.reply_delay_ms)
        usleep((useconds_t)opt.reply_delay_ms * 1000);
    const cJSON *id = cJSON_GetObjectItem(m, "id"), *method = cJSON_GetObjectItem(m, "method");
    const char *err = "bad request";
    cJSON *res = cJSON_IsString(method) ? run_request(method->valuestring, cJSON_GetObjectItem(m, "params"), &err)
                                        : NULL;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "type", "reply");
    cJSON_AddNumberToObject(r, "id", cJSON_IsNumber(id) ? id->valuedouble : 0);
    cJSON_AddBoolToObject(r, "ok", res != NULL);
    if (res)
        cJSON_AddItemToObject(r, "result", res);
    else
        cJSON_AddStringToObject(r, "error", err);
    return send_json(r);
}

static long flag_long(const char *v)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < 0) {
        fprintf(stderr, "fake_app: bad number %s\n", v);
        exit(2);
    }
    return x;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "fake_app: %s needs a value\n", f);
            return 2;
        }
        i++;
        if (!strcmp(f, "--socket")) opt.socket = v;
        else if (!strcmp(f, "--name")) opt.name = v;
        else if (!strcmp(f, "--mode")) opt.mode = v;
        else if (!strcmp(f, "--interval-ms")) opt.interval_ms = flag_long(v);
        else if (!strcmp(f, "--objects")) opt.objects = flag_long(v);
        else if (!strcmp(f, "--grow")) opt.grow = flag_long(v);
        else if (!strcmp(f, "--cycles")) opt.cycles = flag_long(v);
        else if (!strcmp(f, "--count")) opt.count = flag_long(v);
        else if (!strcmp(f, "--reply-delay-ms")) opt.reply_delay_ms = flag_long(v);
        else if (!strcmp(f, "--types")) opt.types = flag_long(v);
        else {
            fprintf(stderr, "fake_app: unknown flag %s\n", f);
            return 2;
        }
    }
    if (!opt.socket) {
        fprintf(stderr, "fake_app: --socket is required\n");
        return 2;
    }
    app.alive = app.created = (double)opt.objects;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", opt.socket);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("fake_app: connect");
        return 1;
    }
    if (!strcmp(opt.mode, "no-hello")) {
        char c;
        return read(fd, &c, 1) == 0 ? 4 : 1; /* wait for the daemon to give up on us */
    }
    cJSON *hello = cJSON_CreateObject();
    cJSON_AddStringToObject(hello, "type", "hello");
    cJSON_AddNumberToObject(hello, "protocol", !strcmp(opt.mode, "wrong-version") ? 99 : 1);
    cJSON_AddNumberToObject(hello, "pid", getpid());
    cJSON_AddStringToObject(hello, "app", opt.name);
    cJSON *av = cJSON_AddArrayToObject(hello, "argv");
    for (int i = 0; i < argc; i++)
        cJSON_AddItemToArray(av, cJSON_CreateString(argv[i]));
    cJSON_AddStringToObject(hello, "library", "fake-0.1");
    cJSON_AddNumberToObject(hello, "small_threshold", 256);
    cJSON_AddNumberToObject(hello, "interval_ms", (double)opt.interval_ms);
    if (send_json(hello) < 0)
        return 1;
    cJSON *w = read_frame();
    const cJSON *wt = cJSON_GetObjectItem(w, "type");
    if (!cJSON_IsString(wt) || strcmp(wt->valuestring, "welcome") != 0) {
        const cJSON *reason = cJSON_GetObjectItem(w, "reason");
        printf("refused: %s\n", cJSON_IsString(reason) ? reason->valuestring : "(no answer)");
        cJSON_Delete(w);
        return 3;
    }
    cJSON_Delete(w);

    int never_read = !strcmp(opt.mode, "never-read");
    double next = now_ms();
    for (long sent = 0;;) {
        double wait = next - now_ms();
        struct pollfd p = {.fd = fd, .events = never_read ? 0 : POLLIN};
        int pr = poll(&p, 1, wait > 0 ? (int)wait + 1 : 0);
        if (pr > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
            cJSON *m = read_frame();
            if (!m)
                return 4;
            int rc = handle(m);
            cJSON_Delete(m);
            if (rc < 0)
                return 4;
            continue;
        }
        if (now_ms() < next)
            continue;
        next += (double)opt.interval_ms;
        if (opt.count && sent == opt.count) {
            send_raw("{\"type\":\"bye\"}", 14);
            return 0;
        }
        if (sent == 1 && !strcmp(opt.mode, "malformed")) {
            send_raw("this is not json", 16);
        } else if (sent == 1 && !strcmp(opt.mode, "oversized")) {
            uint8_t h[4] = {0, 0x20, 0, 0}; /* 2 MiB */
            write_all(h, 4);
        } else if (sent == 1 && !strcmp(opt.mode, "lenient")) {
            static const char lenient[] = "{\"type\":\"stats\",\"seq\":02}";
            send_raw(lenient, sizeof(lenient) - 1);
        } else if (!strcmp(opt.mode, "indented")) {
            cJSON *st = stats_message();
            char *s = cJSON_Print(st);
            cJSON_Delete(st);
            if (!s || send_raw(s, strlen(s)) < 0)
                return 4;
            free(s);
        } else if (sent == 1 && !strcmp(opt.mode, "die-mid-frame")) {
            char *s = cJSON_PrintUnformatted(stats_message());
            size_t n = strlen(s);
            uint8_t h[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
            write_all(h, 4);
            write_all(s, n / 2);
            _exit(5);
        } else if (send_json(stats_message()) < 0) {
            return 4;
        }
        sent++;
        app.alive += (double)opt.grow;
        app.created += (double)opt.grow;
    }
}
