/*
 * docstore — the demo app: a small in-memory document store that keeps memscope busy the way real programs do.
 *
 *   folders  a tree of Folder objects. A child points back at its parent: in "strong" folders that back-pointer
 *            is a plain reference, so every parent/child pair is a reference cycle that only the cycle collector
 *            can free once the folder is archived; in "weak" folders it is a weak reference, so archived folders
 *            die by reference counting alone.
 *   cache    a dict from document id to Document (a title, a body, a list of tags), with old entries evicted.
 *   audit    the slow leak: an AuditEntry per write appended to a list that nobody ever trims.
 * The three are the program's roots, labelled "projects" (the ring of live folders), "cache" and "audit"
 * (ms_root_name): `memscope why docstore AuditEntry` answers `audit (list, 1 external ref) -[i]-> AuditEntry`.
 *
 * Run it under memscoped without changing a line: MEMSCOPE_SOCKET=... ./docstore. Flags:
 *   --duration S     stop after S seconds (default 0: until SIGINT/SIGTERM)
 *   --tick-ms MS     one round of work every MS milliseconds (default 100)
 *   --docs N         documents written per tick (default 50)
 *   --leak N         audit entries leaked per tick (default 5)
 *   --weak-percent P share of folders using weak back-pointers (default 50)
 *   --gc off         start with the automatic collector disabled (garbage cycles pile up until a remote collect)
 *   --quiet          no progress lines
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memscope/memscope.h>

typedef struct folder {
    MS_OBJECT_HEAD;
    ms_object *name;     /* str */
    ms_object *children; /* list of Folder or Document */
    ms_object *parent;   /* Folder (strong: a cycle) or NULL */
    ms_weakref *weak_parent;
} folder;

typedef struct document {
    MS_OBJECT_HEAD;
    ms_object *title, *body, *tags;
    long id;
} document;

typedef struct audit_entry {
    MS_OBJECT_HEAD;
    ms_object *what;
    long when;
} audit_entry;

/* The types name their reference fields (ms_type.ref_names, parallel to ref_offsets): heap snapshots and
 * `memscope why` then show a path through a field as `Folder -.parent-> Folder` rather than `<ref 2>`. A Folder's
 * weak_parent is the weak reference object (an object of its own, which the folder owns); the parent it points
 * to is not kept alive through it. */
static const size_t folder_refs[] = {offsetof(folder, name), offsetof(folder, children), offsetof(folder, parent),
                                     offsetof(folder, weak_parent), 0};
static const char *const folder_ref_names[] = {"name", "children", "parent", "weak_parent"};
static const ms_type folder_type = {
    .name = "Folder", .size = sizeof(folder), .flags = MS_TYPE_GC, .ref_offsets = folder_refs,
    .ref_names = folder_ref_names};

static const size_t document_refs[] = {offsetof(document, title), offsetof(document, body),
                                       offsetof(document, tags), 0};
static const char *const document_ref_names[] = {"title", "body", "tags"};
static const ms_type document_type = {
    .name = "Document", .size = sizeof(document), .flags = MS_TYPE_GC, .ref_offsets = document_refs,
    .ref_names = document_ref_names};

static const size_t audit_refs[] = {offsetof(audit_entry, what), 0};
static const char *const audit_ref_names[] = {"what"};
static const ms_type audit_type = {
    .name = "AuditEntry", .size = sizeof(audit_entry), .flags = MS_TYPE_GC, .ref_offsets = audit_refs,
    .ref_names = audit_ref_names};

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static unsigned long rng = 88172645463325252UL;
static unsigned long rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A new folder under parent (NULL: a root). Returns a new reference, or NULL when memory ran out. */
static folder *folder_new(const char *name, folder *parent, int weak)
{
    folder *f = (folder *)ms_new(&folder_type);
    if (f == NULL)
        return NULL;
    f->name = ms_str_new(name);
    f->children = ms_list_new();
    if (parent) {
        if (weak) {
            f->weak_parent = ms_weakref_new((ms_object *)parent, NULL, NULL);
        } else {
            ms_incref((ms_object *)parent);
            f->parent = (ms_object *)parent; /* the cycle: parent -> children -> f -> parent */
        }
        ms_list_append(parent->children, (ms_object *)f);
    }
    if (f->name == NULL || f->children == NULL) {
        ms_decref((ms_object *)f);
        return NULL;
    }
    return f;
}

static document *document_new(long id)
{
    char title[64], body[600];
    snprintf(title, sizeof title, "document %ld", id);
    /* Bodies of 40..600 bytes: some pooled, some from the system. */
    size_t n = 40 + rnd() % 560;
    for (size_t i = 0; i < n - 1; i++)
        body[i] = (char)('a' + (i + (size_t)id) % 26);
    body[n - 1] = '\0';
    document *d = (document *)ms_new(&document_type);
    if (d == NULL)
        return NULL;
    d->id = id;
    d->title = ms_str_new(title);
    d->body = ms_str_new(body);
    d->tags = ms_list_new();
    for (int t = 0; d->tags && t < (int)(rnd() % 4); t++)
        ms_list_append_take(d->tags, ms_int_new((long)(rnd() % 300))); /* small ints come from the cache */
    return d;
}

static long parse_long(const char *flag, const char *v, long lo, long hi)
{
    char *end;
    errno = 0;
    long x = strtol(v ? v : "", &end, 10);
    if (v == NULL || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "docstore: %s needs a number from %ld to %ld\n", flag, lo, hi);
        exit(2);
    }
    return x;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: docstore [--duration S] [--tick-ms MS] [--docs N] [--leak N] [--weak-percent P] "
                 "[--gc on|off] [--quiet]\n");
}

int main(int argc, char **argv)
{
    long duration = 0, tick_ms = 100, docs_per_tick = 50, leak_per_tick = 5, weak_percent = 50;
    int quiet = 0, gc_on = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--duration") == 0) duration = parse_long(a, v, 0, 1000000), i++;
        else if (strcmp(a, "--tick-ms") == 0) tick_ms = parse_long(a, v, 1, 60000), i++;
        else if (strcmp(a, "--docs") == 0) docs_per_tick = parse_long(a, v, 0, 100000), i++;
        else if (strcmp(a, "--leak") == 0) leak_per_tick = parse_long(a, v, 0, 100000), i++;
        else if (strcmp(a, "--weak-percent") == 0) weak_percent = parse_long(a, v, 0, 100), i++;
        else if (strcmp(a, "--gc") == 0 && v && (strcmp(v, "on") == 0 || strcmp(v, "off") == 0))
            gc_on = strcmp(v, "on") == 0, i++;
        else if (strcmp(a, "--quiet") == 0) quiet = 1;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); return 0; }
        else { fprintf(stderr, "docstore: unknown argument '%s'\n", a); usage(stderr); return 2; }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (!gc_on)
        ms_gc_disable();

    ms_object *cache = ms_dict_new();
    ms_object *audit = ms_list_new(); /* never trimmed: the leak */
    ms_object *live_folders = ms_list_new();
    if (cache == NULL || audit == NULL || live_folders == NULL) {
        fprintf(stderr, "docstore: out of memory\n");
        return 1;
    }
    /* The roots by name: what `memscope why docstore AuditEntry` answers with (`audit (list) -[i]-> AuditEntry`)
     * and what a heap snapshot's (roots) node lists. A label adds no reference. */
    const struct { ms_object *o; const char *name; } roots[] = {
        {cache, "cache"}, {audit, "audit"}, {live_folders, "projects"}};
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        int rc = ms_root_name(roots[i].o, roots[i].name);
        if (rc < 0)
            fprintf(stderr, "docstore: cannot label the root '%s': %s\n", roots[i].name, ms_strerror(rc));
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long next_id = 0, tick = 0;

    while (!stop_requested) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (duration && now.tv_sec - start.tv_sec >= duration)
            break;

        /* A project folder with a few subfolders holding this tick's documents. */
        char name[32];
        snprintf(name, sizeof name, "project-%ld", tick);
        int weak = (long)(rnd() % 100) < weak_percent;
        folder *root = folder_new(name, NULL, weak);
        for (long k = 0; root && k < docs_per_tick; k++) {
            folder *sub = folder_new("drafts", root, weak);
            document *d = document_new(next_id);
            if (sub && d) {
                ms_list_append(sub->children, (ms_object *)d);
                ms_object *key = ms_int_new(next_id);
                ms_dict_set(cache, key, (ms_object *)d);
                ms_xdecref(key);
            }
            ms_xdecref((ms_object *)d);
            ms_xdecref((ms_object *)sub);
            next_id++;
        }
        /* Archive: the 20 newest projects live in a ring; the one replaced leaves garbage cycles (strong
         * folders) or is freed at once (weak folders). */
        if (root) {
            if (ms_list_len(live_folders) < 20)
                ms_list_append(live_folders, (ms_object *)root);
            else
                ms_list_set(live_folders, (size_t)(tick % 20), (ms_object *)root);
            ms_decref((ms_object *)root);
        }
        /* Evict cache entries older than 2000 documents. */
        for (long id = next_id - docs_per_tick - 2000; id >= 0 && id < next_id - 2000; id++) {
            ms_object *key = ms_int_new(id);
            if (key) {
                ms_dict_del(cache, key);
                ms_decref(key);
            }
        }
        /* The leak. */
        for (long k = 0; k < leak_per_tick; k++) {
            audit_entry *e = (audit_entry *)ms_new(&audit_type);
            if (e == NULL)
                break;
            e->what = ms_str_new("write");
            e->when = tick;
            ms_list_append_take(audit, (ms_object *)e);
        }

        ms_poll(); /* a safe point for the daemon's requests */
        if (!quiet && tick % 50 == 0) {
            ms_object_stats os;
            ms_object_stats_get(&os);
            printf("tick %ld: %llu objects alive, %zd cached documents, %zd audit entries\n", tick,
                   (unsigned long long)os.alive, ms_dict_len(cache), ms_list_len(audit));
            fflush(stdout);
        }
        tick++;
        /* Sleep until the next tick, waking for nothing else: the agent thread does the talking. */
        poll(NULL, 0, (int)tick_ms);
    }

    ms_decref(live_folders);
    ms_decref(cache);
    ms_decref(audit);
    ms_gc_collect(2);
    ms_agent_stop();
    if (!quiet) {
        ms_object_stats os;
        ms_object_stats_get(&os);
        printf("done: %llu objects alive after cleanup\n", (unsigned long long)os.alive);
    }
    return 0;
}
