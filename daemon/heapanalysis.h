/*
 * daemon/heapanalysis.h — what keeps a heap graph's objects alive (core layer: a pure function of a graph, no
 * I/O, no loop; the heap snapshot store runs it on its worker thread).
 *
 * Contract
 *   - msd_heap_analyse(g) computes, over the strong edges of g (every edge but MSC_HG_EDGE_WEAK), from node 0:
 *       the dominator tree (SEMI-NCA: near-linear, iterative, no recursion — a 10-million-node chain costs no
 *         stack; not Cooper-Harvey-Kennedy, which is quadratic on deep cyclic graphs);
 *       each node's retained size: its self_size plus the retained sizes of the nodes it immediately dominates;
 *       each node's shortest path from node 0 (breadth-first, first edge in edge order wins ties);
 *     and summarises them per type (node name) and per group of retainer paths. The result copies every string
 *     it needs: g may be freed afterwards.
 *   - Per type: count, self_bytes (sum of self_size), retained_bytes (the bytes freed if every object of the type
 *     went: the sum of the retained sizes of its objects that no other object of the same type dominates, as
 *     DevTools' Summary counts it). Synthetic nodes are no type.
 *   - Retainer groups of a type: its objects grouped by their shortest path's signature — the root (its label,
 *     or none, and its type), then for each step the edge (element indices collapsed to "[i]") and the type it
 *     leads to. retained_bytes of a group counts, like the type's, the objects no other object of the group
 *     dominates (which is all of them: a dominator lies on the shortest path, so it is shallower, and a group's
 *     paths have one length). Objects reached only through node 1 have the root "(unreachable)". Two groups
 *     are one only when their whole sequences are equal (the signature interns (parent's signature, edge,
 *     type) triples, compared exactly). An object node 0 does not reach at all (a graph without node 1's
 *     edges to it) counts in its type's count and self_bytes, in no group and in no retained size.
 *   - Edge labels in paths: element "[1532]" ("[i]" when grouped), property "parent" -> ".parent", a property
 *     whose name starts with '[' (a dict key: "['cache']") as is, internal edges as named ("<ref 0>").
 *   - Costs: O(nodes + edges) time but the semidominators' path compression (O(m log n) at worst; SEMI-NCA's
 *     second pass is quadratic only on contrived graphs); while it runs, about 60 bytes per node plus 4 per
 *     strong edge (measured: bench/heapsnapshot); the result keeps 12 bytes per node (idom, retained) plus 24
 *     per group, 28 per node on the groups' example paths and the strings it names.
 *   - The documents may be built from one result by several threads at once (they only read it).
 */
#ifndef MEMSCOPE_DAEMON_HEAPANALYSIS_H
#define MEMSCOPE_DAEMON_HEAPANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "heapgraph.h"

typedef struct msd_heap_analysis msd_heap_analysis;

/* 0; -EINVAL when g breaks heapgraph.h's invariants (no node, edge counts that do not add up, an edge to no node,
 * a string index out of range: what msc_hg_parse refuses); -ENOMEM. err says which. *out is NULL on failure. */
int msd_heap_analyse(const msc_hg *g, msd_heap_analysis **out, char *err, size_t errlen);
void msd_heap_analysis_free(msd_heap_analysis *a);

/* Per node (index as in g), for tests and for the memlab comparison: the immediate dominator (node 0's is 0; a
 * node node 0 does not reach, UINT32_MAX) and the retained size. */
const uint32_t *msd_heap_idom(const msd_heap_analysis *a);
const uint64_t *msd_heap_retained(const msd_heap_analysis *a);

/* {"objects": N, "edges": M, "types": [{"type", "count", "self_bytes", "retained_bytes"}, ...]}, largest
 * retained_bytes first (ties: by name, bytewise). N counts the object (non-synthetic) nodes, M every edge, weak
 * ones included. Strings are escaped, invalid UTF-8 bytes replaced by U+FFFD. Appends to out: 0, or -ENOMEM
 * with out as it was. */
int msd_heap_types_json(const msd_heap_analysis *a, msc_buf *out);

/* The document of GET .../retainers for type (type_len bytes), at most limit groups, largest count first (ties:
 * larger retained_bytes, then the order the paths were first met breadth-first); "groups" counts them all:
 *   {"type": T, "objects": N, "groups": G, "paths": [{"count", "retained_bytes",
 *     "root": {"name": "audit" | null, "type": "list", "external_refs": 1},
 *     "path": [{"type": "list", "edge": "[i]"}, ..., {"type": "AuditEntry"}],
 *     "example": [{"type": "list", "edge": "[1532]", "id": 5}, ..., {"type": "AuditEntry", "id": 77}]}]}
 * path[0] is the root object itself; the last element is an object of T. "example" is the path of one object of
 * the group with its real indices and node ids. 0, -ENOENT when no object has that type, -ENOMEM. */
int msd_heap_retainers_json(const msd_heap_analysis *a, const char *type, size_t type_len, unsigned limit,
                            msc_buf *out);

#endif /* MEMSCOPE_DAEMON_HEAPANALYSIS_H */
