/*
 * client/heapgraph_internal.h — the heap graph walk (heapgraph.c), for ms_heapsnapshot_write and the agent's
 * `heapsnapshot` request (agent_requests.c builds a graph at a safe point, agent.c sends it and frees it).
 */
#ifndef MEMSCOPE_CLIENT_HEAPGRAPH_INTERNAL_H
#define MEMSCOPE_CLIENT_HEAPGRAPH_INTERNAL_H

#ifndef MS_BUILDING_LIBRARY
#  error "client/heapgraph_internal.h is private to libmemscope"
#endif

#include <stdint.h>

#include <memscope/object.h>

#include "heapgraph.h"

#pragma GCC visibility push(hidden)

/* A graph built by ms__heapgraph_build: `g` points into arrays the struct owns (libc memory, never the memscope
 * heap), so any thread may read and free it once it is built. */
typedef struct ms__heapgraph {
    msc_hg g;
    msc_hg_node *nodes;
    msc_hg_edge *edges;
    uint32_t *string_offsets;
    char *string_bytes;
} ms__heapgraph;

/*
 * The graph of the whole heap now, in common/heapgraph.h's layout: 0 and *out (free it with ms__heapgraph_free),
 * or -EBUSY inside a collection, -ENOMEM, -E2BIG when the graph has more nodes or edges than the layout allows
 * (MSC_HG_NODES_MAX, MSC_HG_EDGES_MAX). Needs the runtime. Runs no code of the program's types but their
 * traverse and size_extra; the heap is as it was afterwards, except that every object in the graph now has an
 * id (a side-table entry). O(objects + references): two walks over the objects, one over the edges.
 */
int ms__heapgraph_build(ms__heapgraph **out);
void ms__heapgraph_free(ms__heapgraph *hg);

/* o's node id in the snapshots, 0 when it has none yet (it never was in a snapshot, nor labelled). Needs the
 * runtime. O(1). */
uint32_t ms__heapgraph_id_of(const ms_object *o);
/* Objects with a side-table entry (an id or a label) now: what the tests check dead objects leave. O(1). */
size_t ms__heapgraph_side_count(void);

#pragma GCC visibility pop

#endif /* MEMSCOPE_CLIENT_HEAPGRAPH_INTERNAL_H */
