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

/* A graph walked by ms__heapgraph_build and made whole by ms__heapgraph_finish: `g` points into arrays the struct
 * owns (libc memory, never the memscope heap), so any thread may finish, read and free it once it is walked. */
typedef struct ms__heapgraph {
    msc_hg g; /* valid once finished */
    msc_hg_node *nodes;
    msc_hg_edge *edges;
    uint32_t *string_offsets;
    char *string_bytes;
    struct ms__heapgraph_builder *walk; /* the walk's state until finished, NULL after */
} ms__heapgraph;

/*
 * The memory of one graph, made ready before the walk by a thread that does not hold the runtime (the agent's,
 * when a request arrives), so that the walk, the app's pause, does not spend its time in page faults: on a
 * virtual machine a first touch costs ~2 us a page, 40 ms of every million objects' 75 MB of arrays. Sized from
 * the objects alive and the shape of the last graph; a build that needs more grows the arrays as it goes.
 */
typedef struct ms__heapgraph_reserve ms__heapgraph_reserve;
/* A reserve for the next graph, its pages touched: any thread, no lock. NULL when memory is short (a build
 * without one allocates as it goes). O(the memory). */
ms__heapgraph_reserve *ms__heapgraph_reserve_new(void);
/* Frees what the build left in rs (what it did not use), NULL accepted: any thread. */
void ms__heapgraph_reserve_free(ms__heapgraph_reserve *rs);

/*
 * The walk of the whole heap now, the part of a graph that needs the heap: 0 and *out (finish it with
 * ms__heapgraph_finish, free it with ms__heapgraph_free), or -EBUSY inside a collection, -ENOMEM, -E2BIG when
 * the graph has more nodes or edges than the layout allows (MSC_HG_NODES_MAX, MSC_HG_EDGES_MAX). rs (NULL: none)
 * provides the memory; what the walk does not use stays in it. Needs the runtime. Runs no code of the program's
 * types but their traverse and size_extra; the heap is as it was afterwards, except that every object in the
 * graph now has an id (a side-table entry). O(objects + references): two passes over the objects, one over
 * the references.
 */
int ms__heapgraph_build(ms__heapgraph_reserve *rs, ms__heapgraph **out);
/*
 * The rest, which reads only the walk's arrays, so any thread may run it after the pause, without the runtime:
 * the roots (refcount minus the references the walk counted), what they reach, the edges of nodes 0 and 1.
 * Then hg->g is the graph in common/heapgraph.h's layout. 0 (also when hg was finished already), -ENOMEM or
 * -E2BIG (hg stays to be freed). O(nodes + edges).
 */
int ms__heapgraph_finish(ms__heapgraph *hg);
void ms__heapgraph_free(ms__heapgraph *hg);

/* o's node id in the snapshots, 0 when it has none yet (it never was in a snapshot, nor labelled). Needs the
 * runtime. O(1). */
uint32_t ms__heapgraph_id_of(const ms_object *o);
/* Objects with a side-table entry (an id or a label) now: what the tests check dead objects leave. O(1). */
size_t ms__heapgraph_side_count(void);

#pragma GCC visibility pop

#endif /* MEMSCOPE_CLIENT_HEAPGRAPH_INTERNAL_H */
