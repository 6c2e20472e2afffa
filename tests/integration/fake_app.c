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
 *       | lenient (after the first stats, one that cJSON reads but RFC 8259 forbids: a leading zero)
 *       | binary-first (a binary frame instead of hello).
 * heapsnapshot (docs/PROTOCOL.md section 6): the answer is a small graph built by hand (heap_graph() below: its
 * retained sizes are known) with --heap-objects K AuditEntry objects, sent in binary frames of --frame-bytes N
 * bytes of data each (default 65536), then the reply. --heap-mode MODE misbehaves: stall (half the frames, then
 * nothing: no more frames, no reply) | lie (graph_bytes 4 more than sent) | corrupt (an edge points past the
 * last node) | unknown-id (three frames with another request's id first, then the real transfer) | error (replies
 * ok: false, "busy: ...").
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

#include "heapgraph.h"

#define FRAME_MAX (1u << 20)
#define NODE_ALLOC_LINE 4242 /* the "source line" the tracer attributes Node allocations to */

static struct {
    const char *socket, *name, *mode, *heap_mode;
    long interval_ms, objects, grow, cycles, count, reply_delay_ms, types, heap_objects, frame_bytes;
} opt = {.name = "fake_app", .mode = "normal", .heap_mode = "normal", .interval_ms = 100, .objects = 100, .cycles = 42,
         .heap_objects = 3, .frame_bytes = 65536};

static struct {
    double alive, created, destroyed;
    int gc_enabled;
    int cycles_on; /* gc.cycles {"enable"} */
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
    } else if (strcmp(method, "gc.cycles") == 0) {
        /* What libmemscope's agent answers, with what was asked echoed ("asked") for the test to check. */
        const cJSON *en = cJSON_GetObjectItem(params, "enable");
        if (cJSON_IsBool(en))
            app.cycles_on = cJSON_IsTrue(en);
        cJSON_AddBoolToObject(r, "enabled", app.cycles_on);
        cJSON_AddBoolToObject(r, "tracing", app.tracing);
        cJSON_AddItemToObject(r, "asked", cJSON_Duplicate(params, 1));
        cJSON *groups = cJSON_AddArrayToObject(r, "groups"), *gr = cJSON_CreateObject();
        cJSON_AddStringToObject(gr, "site", "fake_app.c:97");
        cJSON_AddStringToObject(gr, "key", "fake_app.c:97");
        cJSON *types = cJSON_AddObjectToObject(gr, "types");
        cJSON_AddNumberToObject(types, "Node", 2);
        cJSON_AddNumberToObject(gr, "cycles", 1);
        cJSON_AddNumberToObject(gr, "objects", 2);
        cJSON_AddNumberToObject(gr, "bytes", 96);
        cJSON_AddItemToArray(groups, gr);
        cJSON_AddNumberToObject(r, "collections", app.collections[2]);
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

/* ---- heapsnapshot ------------------------------------------------------------------------------------------- */

/* The graph (common/heapgraph.h's rules), K = --heap-objects:
 *   (roots) -audit-> list -[i]-> AuditEntry x K -.user-> User       the labelled root "audit", 1 external ref
 *           -[0]-> dict -['cache']-> Document -<ref 0>-> Folder <-.parent-> Folder
 *                       -<weak>-> Node                               2 external refs; weak: keeps nothing
 *           -[1]-> (unreachable) -[0], [1]-> Node <-<ref 0>-> Node  a cycle no root reaches
 * self sizes: list 56, AuditEntry 100, User 40, dict 200, Document 500, Folder 64, Node 32. So, K >= 2, retained:
 * list 96 + 100 K, AuditEntry 100 K (as a type), dict 828, Document 628, Folder 128, User 40, Node 64. */
enum { S_DUMMY, S_ROOTS, S_UNREACHABLE, S_LIST, S_ENTRY, S_USER, S_DICT, S_DOC, S_FOLDER, S_NODE, S_AUDIT,
       S_USER_FIELD, S_CACHE, S_REF0, S_PARENT, S_WEAK, S_COUNT };
static const char *const heap_strings[S_COUNT] = {"<dummy>", "(roots)", "(unreachable)", "list", "AuditEntry",
    "User", "dict", "Document", "Folder", "Node", "audit", "user", "['cache']", "<ref 0>", "parent", "<weak>"};

typedef struct heap {
    msc_hg g;
    msc_hg_node *nodes;
    msc_hg_edge *edges;
    uint32_t offsets[S_COUNT + 1];
    char bytes[256];
} heap;

static void heap_build(heap *h, uint32_t k)
{
    uint32_t off = 0;
    for (int i = 0; i < S_COUNT; i++) {
        h->offsets[i] = off;
        memcpy(h->bytes + off, heap_strings[i], strlen(heap_strings[i]));
        off += (uint32_t)strlen(heap_strings[i]);
    }
    h->offsets[S_COUNT] = off;
    uint32_t n = 10 + k, e = 12 + 2 * k;
    h->nodes = calloc(n, sizeof(*h->nodes));
    h->edges = calloc(e, sizeof(*h->edges));
    if (!h->nodes || !h->edges)
        exit(1);
    static const struct { uint32_t type, name, self, nedges, ext; } fixed[10] = {
        {MSC_HG_NODE_SYNTHETIC, S_ROOTS, 0, 3, 0}, {MSC_HG_NODE_SYNTHETIC, S_UNREACHABLE, 0, 2, 0},
        {MSC_HG_NODE_OBJECT, S_LIST, 56, 0, 1}, {MSC_HG_NODE_OBJECT, S_DICT, 200, 2, 2},
        {MSC_HG_NODE_OBJECT, S_USER, 40, 0, 0}, {MSC_HG_NODE_OBJECT, S_DOC, 500, 1, 0},
        {MSC_HG_NODE_OBJECT, S_FOLDER, 64, 1, 0}, {MSC_HG_NODE_OBJECT, S_FOLDER, 64, 1, 0},
        {MSC_HG_NODE_OBJECT, S_NODE, 32, 1, 0}, {MSC_HG_NODE_OBJECT, S_NODE, 32, 1, 0},
    };
    for (uint32_t i = 0; i < n; i++) {
        msc_hg_node *x = &h->nodes[i];
        if (i < 10)
            *x = (msc_hg_node){fixed[i].type, fixed[i].name, 0, fixed[i].self, fixed[i].nedges, fixed[i].ext};
        else
            *x = (msc_hg_node){MSC_HG_NODE_OBJECT, S_ENTRY, 0, 100, 1, 0};
        x->id = 1 + 2 * i;
    }
    h->nodes[2].edge_count = k;
    msc_hg_edge *d = h->edges;
    *d++ = (msc_hg_edge){MSC_HG_EDGE_PROPERTY, S_AUDIT, 2};
    *d++ = (msc_hg_edge){MSC_HG_EDGE_ELEMENT, 0, 3};
    *d++ = (msc_hg_edge){MSC_HG_EDGE_ELEMENT, 1, 1};
    *d++ = (msc_hg_edge){MSC_HG_EDGE_ELEMENT, 0, 8};
    *d++ = (msc_hg_edge){MSC_HG_EDGE_ELEMENT, 1, 9};
    for (uint32_t i = 0; i < k; i++)
        *d++ = (msc_hg_edge){MSC_HG_EDGE_ELEMENT, i, 10 + i};
    *d++ = (msc_hg_edge){MSC_HG_EDGE_PROPERTY, S_CACHE, 5};
    *d++ = (msc_hg_edge){MSC_HG_EDGE_WEAK, S_WEAK, 8};
    *d++ = (msc_hg_edge){MSC_HG_EDGE_INTERNAL, S_REF0, 6};
    *d++ = (msc_hg_edge){MSC_HG_EDGE_PROPERTY, S_PARENT, 7};
    *d++ = (msc_hg_edge){MSC_HG_EDGE_PROPERTY, S_PARENT, 6};
    *d++ = (msc_hg_edge){MSC_HG_EDGE_INTERNAL, S_REF0, 9};
    *d++ = (msc_hg_edge){MSC_HG_EDGE_INTERNAL, S_REF0, 8};
    for (uint32_t i = 0; i < k; i++)
        *d++ = (msc_hg_edge){MSC_HG_EDGE_PROPERTY, S_USER_FIELD, 4};
    h->g = (msc_hg){.node_count = n, .edge_count = e, .string_count = S_COUNT, .nodes = h->nodes,
                    .edges = h->edges, .string_offsets = h->offsets, .string_bytes = h->bytes};
}

static int send_binary(uint32_t id, const void *p, size_t n)
{
    uint32_t word = (uint32_t)(n + 4) | 0x80000000u;
    uint8_t h[8] = {(uint8_t)(word >> 24), (uint8_t)(word >> 16), (uint8_t)(word >> 8), (uint8_t)word,
                    (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};
    return write_all(h, 8) < 0 || write_all(p, n) < 0 ? -1 : 0;
}

static int send_reply(double id, cJSON *result, const char *err)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "type", "reply");
    cJSON_AddNumberToObject(r, "id", id);
    cJSON_AddBoolToObject(r, "ok", result != NULL);
    if (result)
        cJSON_AddItemToObject(r, "result", result);
    else
        cJSON_AddStringToObject(r, "error", err);
    return send_json(r);
}

/* Answers heapsnapshot request `id` as --heap-mode says. */
static int heapsnapshot(double id)
{
    if (!strcmp(opt.heap_mode, "error"))
        return send_reply(id, NULL, "busy: a heap snapshot is already being sent");
    double t0 = now_ms();
    heap h;
    heap_build(&h, (uint32_t)opt.heap_objects);
    uint64_t size = msc_hg_wire_size(&h.g);
    size_t chunk = opt.frame_bytes > 0 && opt.frame_bytes < (1 << 20) - 4 ? (size_t)opt.frame_bytes : (1 << 20) - 4;
    uint8_t *buf = malloc(chunk);
    if (!buf)
        return -1;
    if (!strcmp(opt.heap_mode, "corrupt")) /* an edge to a node that does not exist */
        h.edges[h.g.edge_count - 1].to = h.g.node_count + 5;
    double pause = now_ms() - t0;
    int rc = 0;
    if (!strcmp(opt.heap_mode, "unknown-id"))
        for (int i = 0; i < 3 && rc == 0; i++)
            rc = send_binary((uint32_t)id + 1000, "MSHG garbage", 12);
    uint64_t stop = !strcmp(opt.heap_mode, "stall") ? size / 2 : size;
    for (uint64_t off = 0; rc == 0 && off < stop; off += chunk) {
        size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
        msc_hg_wire_copy(&h.g, off, buf, n);
        rc = send_binary((uint32_t)id, buf, n);
    }
    free(buf);
    free(h.nodes);
    free(h.edges);
    if (rc < 0 || stop < size)
        return rc; /* stall: neither the rest nor a reply */
    cJSON *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "objects", h.g.node_count - 2);
    cJSON_AddNumberToObject(res, "edges", h.g.edge_count);
    cJSON_AddNumberToObject(res, "graph_bytes", (double)size + (!strcmp(opt.heap_mode, "lie") ? 4 : 0));
    cJSON_AddNumberToObject(res, "pause_ms", pause);
    return send_reply(id, res, NULL);
}

static int handle(cJSON *m)
{
    const cJSON *type = cJSON_GetObjectItem(m, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "request") != 0 || strcmp(opt.mode, "no-reply") == 0)
        return 0;
    if (opt.reply_delay_ms)
        usleep((useconds_t)opt.reply_delay_ms * 1000);
    const cJSON *id = cJSON_GetObjectItem(m, "id"), *method = cJSON_GetObjectItem(m, "method");
    if (cJSON_IsString(method) && !strcmp(method->valuestring, "heapsnapshot") && cJSON_IsNumber(id))
        return heapsnapshot(id->valuedouble);
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
        else if (!strcmp(f, "--heap-objects")) opt.heap_objects = flag_long(v);
        else if (!strcmp(f, "--frame-bytes")) opt.frame_bytes = flag_long(v);
        else if (!strcmp(f, "--heap-mode")) opt.heap_mode = v;
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
    if (!strcmp(opt.mode, "binary-first")) {
        char c;
        if (send_binary(1, "MSHG", 4) < 0)
            return 1;
        return read(fd, &c, 1) == 0 ? 4 : 1; /* a protocol error: the daemon closes the connection */
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
