/*
 * common/heapgraph.c — a heap graph's wire image and its `.heapsnapshot` JSON (heapgraph.h has the layout).
 */
#include "heapgraph.h"
#include "jsonstr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_BYTES 24u

static uint64_t pad4(uint64_t n) { return (n + 3) & ~(uint64_t)3; }

/* Byte offsets of the sections of g's wire image. */
typedef struct layout {
    uint64_t offsets, bytes, nodes, edges, end;
} layout;

static layout layout_of(uint32_t node_count, uint32_t edge_count, uint32_t string_count, uint64_t string_bytes)
{
    layout l;
    l.offsets = HEADER_BYTES;
    l.bytes = l.offsets + ((uint64_t)string_count + 1) * 4;
    l.nodes = l.bytes + pad4(string_bytes);
    l.edges = l.nodes + (uint64_t)node_count * sizeof(msc_hg_node);
    l.end = l.edges + (uint64_t)edge_count * sizeof(msc_hg_edge);
    return l;
}

static uint64_t string_bytes_len(const msc_hg *g) { return g->string_offsets[g->string_count]; }

uint64_t msc_hg_wire_size(const msc_hg *g)
{
    return layout_of(g->node_count, g->edge_count, g->string_count, string_bytes_len(g)).end;
}

/* Copies the part of section [start, start + size) (whose bytes are at src, or zeros when src is NULL) that falls
 * in [offset, offset + n) to dst. */
static void copy_section(uint64_t start, uint64_t size, const void *src, uint64_t offset, unsigned char *dst,
                         size_t n)
{
    uint64_t lo = offset > start ? offset : start;
    uint64_t hi = offset + n < start + size ? offset + n : start + size;
    if (lo >= hi)
        return;
    if (src)
        memcpy(dst + (lo - offset), (const unsigned char *)src + (lo - start), hi - lo);
    else
        memset(dst + (lo - offset), 0, hi - lo);
}

void msc_hg_wire_copy(const msc_hg *g, uint64_t offset, void *dst, size_t n)
{
    uint64_t sb = string_bytes_len(g);
    layout l = layout_of(g->node_count, g->edge_count, g->string_count, sb);
    uint32_t header[6] = {0, MSC_HG_VERSION, g->node_count, g->edge_count, g->string_count, (uint32_t)sb};
    memcpy(&header[0], MSC_HG_MAGIC, 4);
    unsigned char *d = dst;
    copy_section(0, HEADER_BYTES, header, offset, d, n);
    copy_section(l.offsets, l.bytes - l.offsets, g->string_offsets, offset, d, n);
    copy_section(l.bytes, sb, g->string_bytes, offset, d, n);
    copy_section(l.bytes + sb, l.nodes - l.bytes - sb, NULL, offset, d, n);
    copy_section(l.nodes, l.edges - l.nodes, g->nodes, offset, d, n);
    copy_section(l.edges, l.end - l.edges, g->edges, offset, d, n);
}

static int refuse(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int msc_hg_parse(const void *buf, size_t len, msc_hg *g, char *err, size_t errlen)
{
    const unsigned char *b = buf;
    if (((uintptr_t)buf & 3) != 0)
        return refuse(err, errlen, "heap graph buffer is not 4-byte aligned");
    if (len < HEADER_BYTES)
        return refuse(err, errlen, "heap graph of %zu bytes is shorter than its 24-byte header", len);
    uint32_t h[6];
    memcpy(h, b, sizeof h);
    if (memcmp(b, MSC_HG_MAGIC, 4) != 0)
        return refuse(err, errlen, "heap graph does not start with \"MSHG\"");
    if (h[1] != MSC_HG_VERSION)
        return refuse(err, errlen, "heap graph version %u (this reader knows %u)", h[1], MSC_HG_VERSION);
    uint32_t nn = h[2], ne = h[3], ns = h[4], sb = h[5];
    if (nn < 2 || nn > MSC_HG_NODES_MAX)
        return refuse(err, errlen, "heap graph with %u nodes (2 .. %u)", nn, MSC_HG_NODES_MAX);
    if (ne > MSC_HG_EDGES_MAX)
        return refuse(err, errlen, "heap graph with %u edges (at most %u)", ne, MSC_HG_EDGES_MAX);
    if (ns < 1 || ns > MSC_HG_EDGES_MAX)
        return refuse(err, errlen, "heap graph with %u strings (1 .. %u)", ns, MSC_HG_EDGES_MAX);
    layout l = layout_of(nn, ne, ns, sb);
    if (l.end != len)
        return refuse(err, errlen, "heap graph of %zu bytes, its header says %llu", len, (unsigned long long)l.end);

    const uint32_t *off = (const uint32_t *)(const void *)(b + l.offsets);
    if (off[0] != 0 || off[ns] != sb)
        return refuse(err, errlen, "heap graph string offsets do not span the %u string bytes", sb);
    for (uint32_t i = 0; i < ns; i++)
        if (off[i + 1] < off[i])
            return refuse(err, errlen, "heap graph string %u ends before it starts", i);

    const msc_hg_node *nodes = (const msc_hg_node *)(const void *)(b + l.nodes);
    const msc_hg_edge *edges = (const msc_hg_edge *)(const void *)(b + l.edges);
    uint64_t edges_owned = 0;
    for (uint32_t i = 0; i < nn; i++) {
        const msc_hg_node *n = &nodes[i];
        if (n->type >= MSC_HG_NODE_TYPES)
            return refuse(err, errlen, "heap graph node %u has type %u", i, n->type);
        if (n->name >= ns)
            return refuse(err, errlen, "heap graph node %u names string %u of %u", i, n->name, ns);
        edges_owned += n->edge_count;
    }
    if (nodes[MSC_HG_ROOT].type != MSC_HG_NODE_SYNTHETIC || nodes[MSC_HG_UNREACHABLE].type != MSC_HG_NODE_SYNTHETIC)
        return refuse(err, errlen, "heap graph nodes 0 and 1 must be synthetic");
    if (edges_owned != ne)
        return refuse(err, errlen, "heap graph nodes own %llu edges, its header says %u",
                      (unsigned long long)edges_owned, ne);
    for (uint32_t i = 0; i < ne; i++) {
        const msc_hg_edge *e = &edges[i];
        if (e->type >= MSC_HG_EDGE_TYPES)
            return refuse(err, errlen, "heap graph edge %u has type %u", i, e->type);
        if (e->to >= nn)
            return refuse(err, errlen, "heap graph edge %u points to node %u of %u", i, e->to, nn);
        if (e->type != MSC_HG_EDGE_ELEMENT && e->name_or_index >= ns)
            return refuse(err, errlen, "heap graph edge %u names string %u of %u", i, e->name_or_index, ns);
    }
    *g = (msc_hg){nn, ne, ns, nodes, edges, off, (const char *)(b + l.bytes)};
    return 0;
}

/* ---- The .heapsnapshot writer ----------------------------------------------------------------------------- */

#define OUT_CAP (64u << 10)

typedef struct out {
    msc_hg_sink sink;
    void *ctx;
    int rc;
    size_t len;
    char buf[OUT_CAP];
} out;

static void flush(out *o)
{
    if (o->rc == 0 && o->len)
        o->rc = o->sink(o->ctx, o->buf, o->len);
    o->len = 0;
}

/* Room for n more bytes (n <= OUT_CAP). */
static inline char *room(out *o, size_t n)
{
    if (o->len + n > OUT_CAP)
        flush(o);
    return o->buf + o->len;
}

static void put(out *o, const char *s, size_t n)
{
    while (n) {
        if (o->len == OUT_CAP)
            flush(o);
        size_t k = OUT_CAP - o->len < n ? OUT_CAP - o->len : n;
        memcpy(o->buf + o->len, s, k);
        o->len += k;
        s += k;
        n -= k;
    }
}

static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }

/* A u32 in decimal, then `after` (a separator, or 0 for none). */
static inline void put_u32(out *o, uint32_t v, char after)
{
    char *p = room(o, 12), tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    if (after)
        p[n++] = after;
    o->len += (size_t)n;
}

/* s as a JSON string (common/jsonstr.h: control bytes escaped, invalid UTF-8 replaced by U+FFFD). */
static void put_string(out *o, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str, *e = s + n;
    put(o, "\"", 1);
    while (s < e) {
        char *p = room(o, 4096);
        o->len += msc_json_escape(p, 4096, &s, e);
    }
    put(o, "\"", 1);
}

/* The fixed part: V8's meta, with the node field memscope adds (external_refs) last. DevTools and memlab find
 * each field by its name in node_fields, so an extra one is read past, and trace_node_id 0 means "no
 * allocation trace". */
static const char META[] =
    "{\"snapshot\":{\"meta\":{"
    "\"node_fields\":[\"type\",\"name\",\"id\",\"self_size\",\"edge_count\",\"trace_node_id\",\"detachedness\","
    "\"external_refs\"],"
    "\"node_types\":[[\"hidden\",\"array\",\"string\",\"object\",\"code\",\"closure\",\"regexp\",\"number\","
    "\"native\",\"synthetic\",\"concatenated string\",\"sliced string\",\"symbol\",\"bigint\",\"object shape\"],"
    "\"string\",\"number\",\"number\",\"number\",\"number\",\"number\",\"number\"],"
    "\"edge_fields\":[\"type\",\"name_or_index\",\"to_node\"],"
    "\"edge_types\":[[\"context\",\"element\",\"property\",\"internal\",\"hidden\",\"shortcut\",\"weak\"],"
    "\"string_or_number\",\"node\"],"
    "\"trace_function_info_fields\":[\"function_id\",\"name\",\"script_name\",\"script_id\",\"line\",\"column\"],"
    "\"trace_node_fields\":[\"id\",\"function_info_index\",\"count\",\"size\",\"children\"],"
    "\"sample_fields\":[\"timestamp_us\",\"last_assigned_id\"],"
    "\"location_fields\":[\"object_index\",\"script_id\",\"line\",\"column\"]},";

enum { NODE_FIELDS = 8 }; /* the entries of node_fields above */

int msc_hg_write_v8(const msc_hg *g, msc_hg_sink sink, void *ctx)
{
    out *o = malloc(sizeof *o);
    if (o == NULL)
        return -ENOMEM;
    o->sink = sink;
    o->ctx = ctx;
    o->rc = 0;
    o->len = 0;

    puts_(o, META);
    puts_(o, "\"node_count\":");
    put_u32(o, g->node_count, ',');
    puts_(o, "\"edge_count\":");
    put_u32(o, g->edge_count, ',');
    puts_(o, "\"trace_function_count\":0},\n\"nodes\":[");
    for (uint32_t i = 0; i < g->node_count && o->rc == 0; i++) {
        const msc_hg_node *n = &g->nodes[i];
        if (i)
            put(o, ",\n", 2);
        put_u32(o, n->type, ',');
        put_u32(o, n->name, ',');
        put_u32(o, n->id, ',');
        put_u32(o, n->self_size, ',');
        put_u32(o, n->edge_count, ',');
        put(o, "0,0,", 4); /* trace_node_id, detachedness (unknown) */
        put_u32(o, n->external_refs, 0);
    }
    puts_(o, "],\n\"edges\":[");
    for (uint32_t i = 0; i < g->edge_count && o->rc == 0; i++) {
        const msc_hg_edge *e = &g->edges[i];
        if (i)
            put(o, ",\n", 2);
        put_u32(o, e->type, ',');
        put_u32(o, e->name_or_index, ',');
        put_u32(o, e->to * NODE_FIELDS, 0); /* to_node is an offset into nodes */
    }
    puts_(o, "],\n\"trace_function_infos\":[],\n\"trace_tree\":[],\n\"samples\":[],\n\"locations\":[],\n\"strings\":[");
    for (uint32_t i = 0; i < g->string_count && o->rc == 0; i++) {
        size_t len;
        const char *s = msc_hg_string(g, i, &len);
        if (i)
            put(o, ",\n", 2);
        put_string(o, s, len);
    }
    puts_(o, "]}\n");
    flush(o);
    int rc = o->rc;
    free(o);
    return rc;
}
