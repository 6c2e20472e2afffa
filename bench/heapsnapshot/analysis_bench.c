/*
 * bench/heapsnapshot/analysis_bench.c — what memscoped's heap analysis (daemon/heapanalysis.c) costs on graphs
 * shaped like a real heap: dominators + retained sizes + retainer paths (msd_heap_analyse), then the two
 * documents the API serves from it (msd_heap_types_json, msd_heap_retainers_json of the type with the most
 * objects). Goal (issue 15): under 1 s per million objects.
 *
 * The heap is the demo's docstore, generated from a fixed seed:
 *   (roots) -'docs'-> list -[i]-> Document (a dict: ['title'] -> str (its own), ['author'] -> str (one of 200
 *                                 shared), ['tags'] -> list -[i]-> 2 shared str, ['folder'] -> Folder; <key> -> the
 *                                 4 shared key str)
 *   (roots) -'folders'-> list -[i]-> Folder (.children -> list -[i]-> its 100 Documents: a cycle with ['folder'])
 *   (roots) -'audit'-> AuditEntry -.next-> AuditEntry -> ... (a linked log, one entry per document, each with
 *                                 .doc -> its Document, .msg -> str (its own), and every 16th a weak ref to the
 *                                 previous one)
 *   (unreachable) -[i]-> Session <-> Session cycles (one per 1000 documents: garbage the collector has not freed)
 * 5 objects per document, so N objects are N/5 documents.
 *
 *   analysis_bench [--rounds R] [--sizes N1,N2,...] [--write PREFIX]
 * Defaults: 3 rounds (best of), sizes 100000,1000000,3000000. --write PREFIX also writes each graph as
 * PREFIX-N.heapsnapshot (msc_hg_write_v8: what the daemon serves) so memlab can analyse the same file. Prints, per
 * size: the best time of each step, ns per object of the three, and the analysis' memory per node: its peak while
 * it runs and what its result keeps (RSS growth, measured in a forked child).
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "heapanalysis.h"
#include "heapgraph.h"
#include "../../tests/xorshift.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static long rss_now_kb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/*
 * The analysis' memory, in a child process (fork: its peak RSS starts at its RSS of the moment, so the generator's
 * own peak does not hide the analysis'): peak[0] the RSS growth at its highest during msd_heap_analyse, peak[1]
 * what the result keeps (bytes malloc has handed out and not got back). Both in KiB; -1 when it could not be measured.
 */
static void measure_memory(const msc_hg *g, long peak[2])
{
    int fd[2];
    peak[0] = peak[1] = -1;
    if (pipe(fd) < 0)
        return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        /* A fixed mmap threshold: glibc's sliding one would keep freed work arrays in the heap, counted. */
        mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        long out[2] = {-1, -1}, rss0 = rss_now_kb();
        struct mallinfo2 m0 = mallinfo2();
        msd_heap_analysis *a;
        char err[256];
        if (msd_heap_analyse(g, &a, err, sizeof err) == 0) {
            struct mallinfo2 m1 = mallinfo2();
            out[0] = max_rss_kb() - rss0;
            out[1] = (long)((m1.uordblks + m1.hblkhd) - (m0.uordblks + m0.hblkhd)) / 1024;
        }
        ssize_t w = write(fd[1], out, sizeof out);
        _exit(w == (ssize_t)sizeof out ? 0 : 1);
    }
    close(fd[1]);
    if (pid > 0 && read(fd[0], peak, 2 * sizeof *peak) != (ssize_t)(2 * sizeof *peak))
        peak[0] = peak[1] = -1;
    close(fd[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(uint32_t n) { return (uint32_t)(test_xorshift64(&rng) % n); }

/* ---- The generated graph -------------------------------------------------------------------------------------- */

typedef struct gen {
    msc_hg_node *nodes;
    msc_hg_edge *edges;
    uint32_t nn, ne, capn, cape;
    uint32_t *pending; /* per node: its edges, as (node, edge) pairs appended in any order, then sorted */
    uint32_t *owner;
    char *bytes;
    uint32_t *offs;
    uint32_t ns, nb, caps, capb;
} gen;

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "analysis_bench: out of memory\n");
        exit(1);
    }
    return q;
}

static uint32_t str_add(gen *g, const char *s)
{
    size_t n = strlen(s);
    if (g->ns + 2 > g->caps) {
        g->caps = g->caps ? g->caps * 2 : 1024;
        g->offs = xrealloc(g->offs, g->caps * sizeof *g->offs);
    }
    if (g->nb + n > g->capb) {
        while (g->nb + n > g->capb)
            g->capb = g->capb ? g->capb * 2 : 65536;
        g->bytes = xrealloc(g->bytes, g->capb);
    }
    memcpy(g->bytes + g->nb, s, n);
    g->offs[g->ns] = g->nb;
    g->nb += (uint32_t)n;
    g->offs[g->ns + 1] = g->nb;
    return g->ns++;
}

static uint32_t node(gen *g, uint32_t type, uint32_t name, uint32_t self)
{
    if (g->nn == g->capn) {
        g->capn = g->capn ? g->capn * 2 : 1024;
        g->nodes = xrealloc(g->nodes, g->capn * sizeof *g->nodes);
    }
    uint32_t i = g->nn++;
    g->nodes[i] = (msc_hg_node){.type = type, .name = name, .id = 1 + 2 * i, .self_size = self};
    return i;
}

static void edge(gen *g, uint32_t from, uint32_t type, uint32_t name_or_index, uint32_t to)
{
    if (g->ne == g->cape) {
        g->cape = g->cape ? g->cape * 2 : 1024;
        g->edges = xrealloc(g->edges, g->cape * sizeof *g->edges);
        g->owner = xrealloc(g->owner, g->cape * sizeof *g->owner);
    }
    g->owner[g->ne] = from;
    g->edges[g->ne++] = (msc_hg_edge){type, name_or_index, to};
}

/* Groups the edges by their node (stable counting sort), as a walk would have produced them. */
static msc_hg finish(gen *g)
{
    uint32_t *pos = calloc((size_t)g->nn + 1, sizeof *pos);
    msc_hg_edge *sorted = malloc((size_t)g->ne * sizeof *sorted);
    if (!pos || !sorted)
        exit(1);
    for (uint32_t e = 0; e < g->ne; e++)
        pos[g->owner[e] + 1]++;
    for (uint32_t v = 0; v < g->nn; v++) {
        g->nodes[v].edge_count = pos[v + 1];
        pos[v + 1] += pos[v];
    }
    for (uint32_t e = 0; e < g->ne; e++)
        sorted[pos[g->owner[e]]++] = g->edges[e];
    free(pos);
    free(g->edges);
    free(g->owner);
    g->owner = NULL;
    g->edges = sorted;
    return (msc_hg){g->nn, g->ne, g->ns, g->nodes, g->edges, g->offs, g->bytes};
}

static msc_hg docstore(gen *g, uint32_t objects)
{
    memset(g, 0, sizeof *g);
    uint32_t docs = objects / 5;
    str_add(g, "<dummy>");
    uint32_t s_roots = str_add(g, "(roots)"), s_unr = str_add(g, "(unreachable)"), s_list = str_add(g, "list"),
             s_doc = str_add(g, "Document"), s_str = str_add(g, "str"), s_folder = str_add(g, "Folder"),
             s_audit = str_add(g, "AuditEntry"), s_session = str_add(g, "Session"), l_docs = str_add(g, "docs"),
             l_folders = str_add(g, "folders"), l_audit = str_add(g, "audit"), k_title = str_add(g, "['title']"),
             k_author = str_add(g, "['author']"), k_tags = str_add(g, "['tags']"),
             k_folder = str_add(g, "['folder']"), p_children = str_add(g, "children"), p_next = str_add(g, "next"),
             p_doc = str_add(g, "doc"), p_msg = str_add(g, "msg"), p_peer = str_add(g, "peer"),
             i_key = str_add(g, "<key>"), w_weak = str_add(g, "<weak>");
    node(g, MSC_HG_NODE_SYNTHETIC, s_roots, 0);
    node(g, MSC_HG_NODE_SYNTHETIC, s_unr, 0);
    uint32_t docs_list = node(g, MSC_HG_NODE_OBJECT, s_list, 56 + 8 * docs);
    uint32_t folders_list = node(g, MSC_HG_NODE_OBJECT, s_list, 56 + 8 * (docs / 100 + 1));
    edge(g, 0, MSC_HG_EDGE_PROPERTY, l_docs, docs_list);
    edge(g, 0, MSC_HG_EDGE_PROPERTY, l_folders, folders_list);
    g->nodes[docs_list].external_refs = 1;
    g->nodes[folders_list].external_refs = 1;
    uint32_t keys[4], authors[200], tags[50];
    for (int i = 0; i < 4; i++)
        keys[i] = node(g, MSC_HG_NODE_OBJECT, s_str, 48);
    for (int i = 0; i < 200; i++)
        authors[i] = node(g, MSC_HG_NODE_OBJECT, s_str, 40 + (uint32_t)i % 16);
    for (int i = 0; i < 50; i++)
        tags[i] = node(g, MSC_HG_NODE_OBJECT, s_str, 40);
    uint32_t folder = 0, children = 0, prev_entry = 0, nfolders = 0, nchild = 0;
    for (uint32_t d = 0; d < docs; d++) {
        if (d % 100 == 0) {
            folder = node(g, MSC_HG_NODE_OBJECT, s_folder, 64);
            children = node(g, MSC_HG_NODE_OBJECT, s_list, 56 + 800);
            edge(g, folders_list, MSC_HG_EDGE_ELEMENT, nfolders++, folder);
            edge(g, folder, MSC_HG_EDGE_PROPERTY, p_children, children);
            nchild = 0;
        }
        uint32_t doc = node(g, MSC_HG_NODE_OBJECT, s_doc, 232);
        uint32_t title = node(g, MSC_HG_NODE_OBJECT, s_str, 49 + rnd(40));
        uint32_t tl = node(g, MSC_HG_NODE_OBJECT, s_list, 72);
        edge(g, docs_list, MSC_HG_EDGE_ELEMENT, d, doc);
        edge(g, children, MSC_HG_EDGE_ELEMENT, nchild++, doc);
        edge(g, doc, MSC_HG_EDGE_PROPERTY, k_title, title);
        edge(g, doc, MSC_HG_EDGE_PROPERTY, k_author, authors[rnd(200)]);
        edge(g, doc, MSC_HG_EDGE_PROPERTY, k_tags, tl);
        edge(g, doc, MSC_HG_EDGE_PROPERTY, k_folder, folder);
        for (int k = 0; k < 4; k++)
            edge(g, doc, MSC_HG_EDGE_INTERNAL, i_key, keys[k]);
        edge(g, tl, MSC_HG_EDGE_ELEMENT, 0, tags[rnd(50)]);
        edge(g, tl, MSC_HG_EDGE_ELEMENT, 1, tags[rnd(50)]);
        uint32_t entry = node(g, MSC_HG_NODE_OBJECT, s_audit, 48);
        uint32_t msg = node(g, MSC_HG_NODE_OBJECT, s_str, 60 + rnd(60));
        if (d == 0) {
            edge(g, 0, MSC_HG_EDGE_PROPERTY, l_audit, entry);
            g->nodes[entry].external_refs = 1;
        } else {
            edge(g, prev_entry, MSC_HG_EDGE_PROPERTY, p_next, entry);
            if (d % 16 == 0)
                edge(g, entry, MSC_HG_EDGE_WEAK, w_weak, prev_entry);
        }
        edge(g, entry, MSC_HG_EDGE_PROPERTY, p_doc, doc);
        edge(g, entry, MSC_HG_EDGE_PROPERTY, p_msg, msg);
        prev_entry = entry;
        if (d % 1000 == 999) {
            uint32_t a = node(g, MSC_HG_NODE_OBJECT, s_session, 128), b = node(g, MSC_HG_NODE_OBJECT, s_session, 128);
            edge(g, 1, MSC_HG_EDGE_ELEMENT, d / 1000, a);
            edge(g, a, MSC_HG_EDGE_PROPERTY, p_peer, b);
            edge(g, b, MSC_HG_EDGE_PROPERTY, p_peer, a);
        }
    }
    edge(g, 0, MSC_HG_EDGE_ELEMENT, 0, 1);
    return finish(g);
}

static void gen_free(gen *g)
{
    free(g->nodes);
    free(g->edges);
    free(g->bytes);
    free(g->offs);
}

static int file_sink(void *ctx, const void *bytes, size_t n)
{
    return fwrite(bytes, 1, n, ctx) == n ? 0 : -EIO;
}

/* The type with the most objects in a types document (its first "type" with the largest "count"). */
static int biggest_type(const msc_buf *types, char *name, size_t cap)
{
    const char *p = msc_buf_bytes(types), *e = p + types->len;
    double best = -1;
    while ((p = memmem(p, (size_t)(e - p), "{\"type\":\"", 9))) {
        p += 9;
        const char *q = memchr(p, '"', (size_t)(e - p));
        const char *c = memmem(q, (size_t)(e - q), "\"count\":", 8);
        if (!q || !c)
            break;
        double n = strtod(c + 8, NULL);
        if (n > best && (size_t)(q - p) < cap) {
            best = n;
            memcpy(name, p, (size_t)(q - p));
            name[q - p] = 0;
        }
    }
    return best < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    int rounds = 3;
    const char *sizes = "100000,1000000,3000000", *prefix = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc)
            sizes = argv[++i];
        else if (strcmp(argv[i], "--write") == 0 && i + 1 < argc)
            prefix = argv[++i];
        else {
            fprintf(stderr, "usage: analysis_bench [--rounds R] [--sizes N1,N2,...] [--write PREFIX]\n");
            return 2;
        }
    }
    if (rounds < 1)
        rounds = 1;
    printf("%10s %10s %10s | %9s %9s %9s | %8s %8s %8s | %s\n", "objects", "nodes", "edges", "analyse", "types",
           "retainers", "ns/obj", "peak B/n", "kept B/n", "retainers of");
    for (const char *s = sizes; *s;) {
        char *end;
        unsigned long n = strtoul(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
        if (n < 10 || n > 50000000) {
            fprintf(stderr, "analysis_bench: size %lu out of range\n", n);
            return 2;
        }
        gen gg;
        msc_hg g = docstore(&gg, (uint32_t)n);
        if (prefix) {
            char path[4096];
            snprintf(path, sizeof path, "%s-%lu.heapsnapshot", prefix, n);
            FILE *f = fopen(path, "w");
            if (!f || msc_hg_write_v8(&g, file_sink, f) < 0 || fclose(f) != 0) {
                fprintf(stderr, "analysis_bench: cannot write %s\n", path);
                return 1;
            }
            fprintf(stderr, "wrote %s\n", path);
        }
        double best_a = 1e30, best_t = 1e30, best_r = 1e30;
        long mem[2];
        measure_memory(&g, mem);
        char type[256] = "";
        for (int r = 0; r < rounds; r++) {
            msd_heap_analysis *a;
            char err[256];
            double t0 = now();
            if (msd_heap_analyse(&g, &a, err, sizeof err) < 0) {
                fprintf(stderr, "analysis_bench: %s\n", err);
                return 1;
            }
            double t1 = now();
            msc_buf types = MSC_BUF_INIT, ret = MSC_BUF_INIT;
            if (msd_heap_types_json(a, &types) < 0)
                return 1;
            double t2 = now();
            if (!type[0] && biggest_type(&types, type, sizeof type) < 0)
                return 1;
            double t3 = now();
            if (msd_heap_retainers_json(a, type, strlen(type), 20, &ret) < 0)
                return 1;
            double t4 = now();
            best_a = t1 - t0 < best_a ? t1 - t0 : best_a;
            best_t = t2 - t1 < best_t ? t2 - t1 : best_t;
            best_r = t4 - t3 < best_r ? t4 - t3 : best_r;
            free(types.data);
            free(ret.data);
            msd_heap_analysis_free(a);
        }
        double objs = (double)(g.node_count - 2);
        printf("%10.0f %10u %10u | %7.1fms %7.1fms %7.1fms | %8.0f %8.0f %8.0f | %s\n", objs, g.node_count,
               g.edge_count, best_a * 1e3, best_t * 1e3, best_r * 1e3, (best_a + best_t + best_r) * 1e9 / objs,
               (double)mem[0] * 1024.0 / g.node_count, (double)mem[1] * 1024.0 / g.node_count, type);
        fflush(stdout);
        gen_free(&gg);
    }
    printf("(best of %d rounds; ns/obj: the three steps; peak B/n: RSS growth at its highest during an analysis, per"
           " node; kept B/n: the result's)\n", rounds);
    return 0;
}
