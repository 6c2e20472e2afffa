/*
 * common/heapgraph.h — a heap graph: the object graph of one process at one instant, as libmemscope walks it,
 * the agent sends it (docs/PROTOCOL.md section 6) and memscoped stores and analyses it. One layout for all three,
 * and one writer of Chrome's `.heapsnapshot` JSON (V8's src/profiler/heap-snapshot-generator.cc, whose
 * HeapSnapshotJSONSerializer this follows field for field), so that ms_heapsnapshot_write() and the daemon's
 * download produce the same bytes from the same graph.
 *
 * The graph (V8's, with node and edge indices instead of array offsets):
 *
 *     nodes [0] synthetic "(roots)"   edges of node 0: one per root, node 1 among them
 *           [1] synthetic "(unreachable)"   edges of node 1: the objects no root reaches (cycles waiting for the
 *           [2] object "list"               collector), so that every node is reachable from node 0
 *           [3] object "AuditEntry"  ...
 *     edges: those of node 0, then those of node 1, ...; node i owns edge_count[i] of them, in order
 *
 *   - Node 0 is the synthetic root. Its edges go to the roots (objects referenced from outside the graph: their
 *     refcount exceeds the references other nodes hold, by `external_refs`); a labelled root's edge is a
 *     property edge named by its label (ms_root_name), the others element edges numbered from 0; and one element
 *     edge to node 1.
 *   - Node 1 is the synthetic "(unreachable)" node, always present; its element edges go to the objects that no
 *     root reaches (they are garbage the collector has not freed yet). Its own external_refs is 0.
 *   - Every other node is an object: type MSC_HG_NODE_OBJECT, named by its type's name, self_size = ms_sizeof,
 *     id stable for the object's life across the snapshots of a process. Ids are odd: 1 root, 3 unreachable,
 *     objects from 5 by 2, as V8's.
 *   - Edge names: property edges carry a string (a field of the type's ref_names: "parent"; a dict value:
 *     "['cache']" for a str key, "[<int>]" for a key of another type, by type name), element edges an index
 *     (a list's), internal edges a string ("<ref 3>": the 4th reference a traverse reported, "<key>": a dict's
 *     reference to its key), weak edges "<weak>" (a weak reference to its referent: never keeps anything alive,
 *     so analyses skip them).
 *   - strings[0] is "<dummy>" (V8's convention); strings are UTF-8 as far as the program's were: the JSON writer
 *     replaces an invalid byte by U+FFFD.
 *
 * Wire image (little-endian u32 words, each section 4-byte aligned), what msc_hg_wire_copy produces and
 * msc_hg_parse reads:
 *
 *     +--------+---------+------------+------------+--------------+-------------------+
 *     | "MSHG" | version | node_count | edge_count | string_count | string_bytes_len  |   header, 24 bytes
 *     +--------+---------+------------+------------+--------------+-------------------+
 *     | string_offsets[string_count + 1]: string i is bytes[off[i] .. off[i+1])        |
 *     | string bytes (string_bytes_len, zero-padded to a multiple of 4)                |
 *     | nodes[node_count]  (msc_hg_node, 24 bytes each)                                |
 *     | edges[edge_count]  (msc_hg_edge, 12 bytes each)                                |
 *     +--------------------------------------------------------------------------------+
 *
 * Invariants msc_hg_parse checks (it is fed bytes from a peer): sizes add up exactly; offsets ascend and end at
 * string_bytes_len; every string index < string_count; every node and edge type is one of the enums below;
 * edge_count of the nodes sums to edge_count; every edge's `to` < node_count; node 0 and node 1 are synthetic;
 * node_count <= MSC_HG_NODES_MAX.
 */
#ifndef MEMSCOPE_COMMON_HEAPGRAPH_H
#define MEMSCOPE_COMMON_HEAPGRAPH_H

#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

#define MSC_HG_MAGIC "MSHG"
#define MSC_HG_VERSION 1u
/* V8's to_node is node index * node field count in a Uint32Array (DevTools): keep it far below 2^32. */
#define MSC_HG_NODES_MAX (1u << 28)
#define MSC_HG_EDGES_MAX (1u << 30)

/* Node types: V8's list, in V8's order (snapshot.meta.node_types[0]); memscope uses two of them. */
enum {
    MSC_HG_NODE_HIDDEN = 0,
    MSC_HG_NODE_OBJECT = 3,
    MSC_HG_NODE_SYNTHETIC = 9,
    MSC_HG_NODE_TYPES = 15,
};
/* Edge types, V8's order (snapshot.meta.edge_types[0]). */
enum {
    MSC_HG_EDGE_ELEMENT = 1,  /* name_or_index is an index */
    MSC_HG_EDGE_PROPERTY = 2, /* name_or_index is a string index */
    MSC_HG_EDGE_INTERNAL = 3, /* string index */
    MSC_HG_EDGE_WEAK = 6,     /* string index; keeps nothing alive */
    MSC_HG_EDGE_TYPES = 7,
};

#define MSC_HG_ROOT 0u        /* node index of the synthetic root */
#define MSC_HG_UNREACHABLE 1u /* node index of the synthetic "(unreachable)" node */

typedef struct msc_hg_node {
    uint32_t type;          /* MSC_HG_NODE_* */
    uint32_t name;          /* string index: the type's name */
    uint32_t id;            /* odd; stable for the object's life */
    uint32_t self_size;     /* ms_sizeof, saturated at UINT32_MAX */
    uint32_t edge_count;    /* edges owned by this node */
    uint32_t external_refs; /* refcount - references held by other nodes (0: not a root) */
} msc_hg_node;

typedef struct msc_hg_edge {
    uint32_t type;          /* MSC_HG_EDGE_* */
    uint32_t name_or_index; /* an index for element edges, else a string index */
    uint32_t to;            /* node index */
} msc_hg_edge;

_Static_assert(sizeof(msc_hg_node) == 24 && sizeof(msc_hg_edge) == 12, "the wire layout is the struct layout");

/* A graph: arrays owned by whoever built it (the client's walk, or a received wire image for the daemon). */
typedef struct msc_hg {
    uint32_t node_count, edge_count, string_count;
    const msc_hg_node *nodes;
    const msc_hg_edge *edges;
    const uint32_t *string_offsets; /* string_count + 1 entries */
    const char *string_bytes;
} msc_hg;

static inline const char *msc_hg_string(const msc_hg *g, uint32_t i, size_t *len)
{
    *len = g->string_offsets[i + 1] - g->string_offsets[i];
    return g->string_bytes + g->string_offsets[i];
}

/* The size of g's wire image in bytes. */
uint64_t msc_hg_wire_size(const msc_hg *g);
/* Copies bytes [offset, offset + n) of g's wire image to dst (offset + n <= msc_hg_wire_size(g)): the agent
 * sends a graph in frames without first assembling it in one buffer. */
void msc_hg_wire_copy(const msc_hg *g, uint64_t offset, void *dst, size_t n);

/* Reads a wire image of len bytes in place (g points into buf, which must stay alive and 4-byte aligned): 0, or
 * -EINVAL with the broken rule in err. O(len). */
int msc_hg_parse(const void *buf, size_t len, msc_hg *g, char *err, size_t errlen);

/* Where the JSON writer sends its bytes: returns 0 or a negative errno, which stops the writer. */
typedef int (*msc_hg_sink)(void *ctx, const void *bytes, size_t n);

/* Writes g as a V8 `.heapsnapshot` document: 0, or the sink's negative errno, or -ENOMEM. Output is buffered
 * (the sink sees chunks of about 64 KiB). O(size). */
int msc_hg_write_v8(const msc_hg *g, msc_hg_sink sink, void *ctx);

#pragma GCC visibility pop

#endif /* MEMSCOPE_COMMON_HEAPGRAPH_H */
