/*
 * bench/heapsnapshot/pause_bench.c — what a heap snapshot costs the app: the walk of its object graph
 * (ms__heapgraph_build, the whole pause the agent reports as pause_ms; the graph is sent afterwards by the agent
 * thread), and the snapshot's size on the wire and as a .heapsnapshot. Goal (issue 15): under 100 ms per million
 * objects.
 *
 * The heap is a libmemscope heap of the shape analysis_bench generates (the demo's docstore), built with the
 * library's own objects from a fixed seed:
 *   'docs'    list -[i]-> Document (a dict: ['title'] -> str (its own), ['author'] -> str (one of 200 shared),
 *                                   ['tags'] -> list -[i]-> 2 shared str, ['folder'] -> Folder)
 *   'folders' list -[i]-> Folder -.children-> list -[i]-> its 100 Documents (cycles, through ['folder'])
 *   'audit'   AuditEntry -.next-> AuditEntry -> ... (one per document: .doc, .msg -> its own str, and every 16th
 *             .prev -> a weak reference to the entry before it)
 *   garbage   Session <-> Session cycles, one per 1000 documents (the collector is off: they stay)
 * 5 objects per document. `--shape nodes` is the other end: N fixed-field objects (two fields each, no dicts, no
 * strs) in a binary tree, the cheapest objects to walk.
 *
 *   pause_bench [--rounds R] [--sizes N1,N2,...] [--shape docstore|nodes]
 * Defaults: 6 rounds, sizes 100000,1000000,3000000, docstore. Round 1 is the process' first snapshot (every object
 * gets its id then); the others are repeats, as an operator's second and third snapshot are. Prints per size:
 *   pause         the agent's way: ms__heapgraph_build with a reserve that the agent thread made when the request
 *                 came; its first walk and the median of the repeats, in ms and ms per million objects
 *   agent thread  the best times of making that reserve, and of ms__heapgraph_finish (after the pause)
 *   without       the same heap, walked and finished on the app's thread without a reserve, as
 *                 ms_heapsnapshot_write does (its file writing not included)
 *   size          the wire image (what crosses the socket) and the .heapsnapshot, in MB
 * Each (size, way) runs in a process of its own, on a heap of its own. Times are the thread's CPU time
 * (bench/cpu_clock.h), which is the wall time of the pause on a machine where the app has its core.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <memscope/memscope.h>

#include "heapgraph_internal.h"

#include "../cpu_clock.h"
#include "../../tests/xorshift.h"

/* The thread's CPU time in seconds (bench/cpu_clock.h: what a shared machine's other tenants take is not ours). */
static double now(void) { return (double)bench_cpu_ns() / 1e9; }

static void *check(void *p)
{
    if (!p) {
        fprintf(stderr, "pause_bench: out of memory building the heap\n");
        exit(1);
    }
    return p;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(uint32_t n) { return (uint32_t)(test_xorshift64(&rng) % n); }

/* ---- The types ---------------------------------------------------------------------------------------------- */

typedef struct folder {
    MS_OBJECT_HEAD;
    ms_object *children;
} folder;
static const size_t folder_refs[] = {offsetof(folder, children), 0};
static const char *const folder_names[] = {"children"};
static const ms_type folder_type = {.name = "Folder", .size = sizeof(folder), .flags = MS_TYPE_GC,
                                    .ref_offsets = folder_refs, .ref_names = folder_names};

typedef struct audit_entry {
    MS_OBJECT_HEAD;
    ms_object *next, *doc, *msg, *prev;
} audit_entry;
static const size_t audit_refs[] = {offsetof(audit_entry, next), offsetof(audit_entry, doc),
                                    offsetof(audit_entry, msg), offsetof(audit_entry, prev), 0};
static const char *const audit_names[] = {"next", "doc", "msg", "prev"};
static const ms_type audit_type = {.name = "AuditEntry", .size = sizeof(audit_entry), .flags = MS_TYPE_GC,
                                   .ref_offsets = audit_refs, .ref_names = audit_names};

typedef struct pair {
    MS_OBJECT_HEAD;
    ms_object *a, *b;
} pair;
static const size_t pair_refs[] = {offsetof(pair, a), offsetof(pair, b), 0};
static const char *const session_names[] = {"peer", "other"};
static const ms_type session_type = {.name = "Session", .size = sizeof(pair), .flags = MS_TYPE_GC,
                                     .ref_offsets = pair_refs, .ref_names = session_names};
static const char *const node_names[] = {"left", "right"};
static const ms_type node_type = {.name = "Node", .size = sizeof(pair), .flags = MS_TYPE_GC,
                                  .ref_offsets = pair_refs, .ref_names = node_names};

/* ---- The heaps ---------------------------------------------------------------------------------------------- */

/* What the program holds from C: never released (the process exits after the walks). */
static ms_object *roots[3];

static void docstore(size_t objects)
{
    size_t docs = objects / 5;
    ms_object *keys[4], *authors[200], *tags[50];
    static const char *const key_names[] = {"title", "author", "tags", "folder"};
    for (int i = 0; i < 4; i++)
        keys[i] = check(ms_str_new(key_names[i]));
    char s[64];
    for (int i = 0; i < 200; i++) {
        snprintf(s, sizeof s, "author %d", i);
        authors[i] = check(ms_str_new(s));
    }
    for (int i = 0; i < 50; i++) {
        snprintf(s, sizeof s, "tag-%d", i);
        tags[i] = check(ms_str_new(s));
    }
    ms_object *doclist = check(ms_list_new()), *folders = check(ms_list_new());
    audit_entry *audit = NULL;
    folder *f = NULL;
    for (size_t d = 0; d < docs; d++) {
        if (d % 100 == 0) {
            f = check((folder *)ms_new(&folder_type));
            f->children = check(ms_list_new());
            if (ms_list_append_take(folders, (ms_object *)f) < 0)
                check(NULL);
        }
        ms_object *doc = check(ms_dict_new()), *tl = check(ms_list_new());
        snprintf(s, sizeof s, "Document number %zu", d);
        ms_object *title = check(ms_str_new(s));
        int rc = ms_dict_set(doc, keys[0], title) | ms_dict_set(doc, keys[1], authors[rnd(200)]) |
                 ms_list_append(tl, tags[rnd(50)]) | ms_list_append(tl, tags[rnd(50)]) |
                 ms_dict_set(doc, keys[2], tl) | ms_dict_set(doc, keys[3], (ms_object *)f) |
                 ms_list_append(f->children, doc) | ms_list_append(doclist, doc);
        if (rc < 0)
            check(NULL);
        ms_decref(title);
        ms_decref(tl);

        audit_entry *e = check((audit_entry *)ms_new(&audit_type));
        e->next = (ms_object *)audit; /* the reference the list head held */
        ms_incref(doc);
        e->doc = doc;
        snprintf(s, sizeof s, "created document %zu", d);
        e->msg = check(ms_str_new(s));
        if (audit && d % 16 == 0)
            e->prev = (ms_object *)check(ms_weakref_new((ms_object *)audit, NULL, NULL));
        audit = e;
        ms_decref(doc);

        if (d % 1000 == 999) { /* garbage: a Session pair nothing outside holds */
            pair *p = check((pair *)ms_new(&session_type)), *q = check((pair *)ms_new(&session_type));
            p->a = (ms_object *)q; /* the reference ms_new returned */
            ms_incref((ms_object *)p);
            q->a = (ms_object *)p;
            ms_decref((ms_object *)p);
        }
    }
    roots[0] = doclist;
    roots[1] = folders;
    roots[2] = (ms_object *)audit;
    if (ms_root_name(doclist, "docs") | ms_root_name(folders, "folders") | ms_root_name(roots[2], "audit"))
        check(NULL);
}

/* A complete binary tree of n Nodes, built bottom-up so that no recursion is needed. */
static void nodes(size_t n)
{
    pair **level = check(malloc(n * sizeof *level));
    for (size_t i = 0; i < n; i++)
        level[i] = check((pair *)ms_new(&node_type));
    for (size_t i = n; i-- > 1;) { /* node i's parent is (i - 1) / 2; each child's reference moves to it */
        pair *p = level[(i - 1) / 2];
        if (i % 2)
            p->a = (ms_object *)level[i];
        else
            p->b = (ms_object *)level[i];
    }
    roots[0] = (ms_object *)level[0];
    free(level);
    if (ms_root_name(roots[0], "tree"))
        check(NULL);
}

/* ---- The measurement ---------------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int count_bytes(void *ctx, const void *bytes, size_t n)
{
    (void)bytes;
    *(uint64_t *)ctx += n;
    return 0;
}

/* One heap, `rounds` walks: with a reserve made before each (the agent's path: its thread prepares the memory
 * when the request arrives, the pause is the walk alone) or without (ms_heapsnapshot_write's). Prints its part
 * of the size's line. */
static int run(const char *shape, size_t objects, int rounds, bool reserve)
{
    ms_lock();
    if (strcmp(shape, "nodes") == 0)
        nodes(objects);
    else
        docstore(objects);
    double first = 0, prep = 1e9, fin = 1e9, *repeats = check(malloc((size_t)rounds * sizeof *repeats));
    uint64_t wire = 0, v8 = 0;
    uint32_t nn = 0, ne = 0;
    for (int r = 0; r < rounds; r++) {
        ms__heapgraph *hg;
        ms__heapgraph_reserve *rs = NULL;
        double t0 = now();
        if (reserve && !(rs = ms__heapgraph_reserve_new()))
            check(NULL);
        double t1 = now();
        int rc = ms__heapgraph_build(rs, &hg);
        double t = now() - t1;
        ms__heapgraph_reserve_free(rs);
        double t2 = now();
        if (rc == 0 && (rc = ms__heapgraph_finish(hg)) != 0)
            ms__heapgraph_free(hg);
        double tf = now() - t2;
        if (tf < fin)
            fin = tf;
        if (!reserve) /* ms_heapsnapshot_write's way: all of it on the app's thread */
            t += tf;
        if (rc) {
            fprintf(stderr, "pause_bench: the walk failed: %s\n", ms_strerror(rc));
            ms_unlock();
            return 1;
        }
        if (t1 - t0 < prep)
            prep = t1 - t0;
        if (r > 0)
            repeats[r - 1] = t;
        if (r == 0) {
            first = t;
            nn = hg->g.node_count;
            ne = hg->g.edge_count;
            wire = msc_hg_wire_size(&hg->g);
            if ((rc = msc_hg_write_v8(&hg->g, count_bytes, &v8)) != 0) {
                fprintf(stderr, "pause_bench: writing the .heapsnapshot: %s\n", ms_strerror(rc));
                ms_unlock();
                return 1;
            }
        }
        ms__heapgraph_free(hg);
    }
    ms_unlock();
    double m = (double)(nn - 2) / 1e6;
    qsort(repeats, (size_t)rounds - 1, sizeof *repeats, cmp_double);
    double median = rounds == 1 ? first : repeats[(rounds - 1) / 2];
    free(repeats);
    if (reserve)
        printf("%9zu %9u %9u %8.1f %6.1f %8.1f %6.1f %8.1f %8.1f", objects, nn - 2, ne, first * 1e3,
               first * 1e3 / m, median * 1e3, median * 1e3 / m, prep * 1e3, fin * 1e3);
    else
        printf(" %8.1f %8.1f %8.1f %8.1f\n", first * 1e3, median * 1e3, (double)wire / 1e6, (double)v8 / 1e6);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    int rounds = 6;
    const char *sizes = "100000,1000000,3000000", *shape = "docstore";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc)
            sizes = argv[++i];
        else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc)
            shape = argv[++i];
        else {
            fprintf(stderr, "usage: pause_bench [--rounds R] [--sizes N1,N2,...] [--shape docstore|nodes]\n");
            return 2;
        }
    }
    if (rounds < 1 || (strcmp(shape, "docstore") != 0 && strcmp(shape, "nodes") != 0)) {
        fprintf(stderr, "pause_bench: --rounds must be >= 1 and --shape docstore or nodes\n");
        return 2;
    }
    ms_gc_disable(); /* the Session cycles stay, and no collection runs between the walks */
    printf("shape %s: the app's pause for a heap snapshot (ms__heapgraph_build): its first walk, and the median of %d "
           "repeats\n", shape, rounds - 1);
    printf("%-29s %-31s %-17s %-17s %s\n", "", "---- pause, agent path ----", "- agent thread -", "- without reserve",
           "---- size ----");
    printf("%9s %9s %9s %8s %6s %8s %6s %8s %8s %8s %8s %8s %8s\n", "heap", "objects", "edges", "first", "ms/M",
           "repeat", "ms/M", "reserve", "finish", "first", "repeat", "wire MB", "v8 MB");
    /* Each size in its own heap: a child process per size, so that the sizes do not add up. */
    char *list = strdup(sizes);
    int status = 0;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        long n = atol(tok);
        if (n < 10) {
            fprintf(stderr, "pause_bench: bad size '%s'\n", tok);
            status = 2;
            break;
        }
        for (int reserve = 1; reserve >= 0 && status == 0; reserve--) {
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0)
                _exit(run(shape, (size_t)n, rounds, reserve));
            int ws;
            if (pid < 0 || waitpid(pid, &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
                status = 1;
        }
        if (status)
            break;
    }
    free(list);
    return status;
}
