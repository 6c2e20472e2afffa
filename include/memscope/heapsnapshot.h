/*
 * memscope/heapsnapshot.h — "why is it alive?": roots, their labels, and heap snapshots in Chrome's format.
 *
 * Contract
 *   - A root is an object referenced from outside the object graph (CPython's definition, InternalDocs/
 *     garbage_collector.md): its reference count exceeds the references the graph's objects hold to it, by its
 *     *external references* (a C global, a local variable, a reference the program leaked). There is no stack
 *     scanning: a count is all the library knows. The graph is every tracked object (MS_TYPE_GC), plus every
 *     untracked object (ints, strs, untracked types) reached from one by a reference; an untracked object no
 *     tracked one reaches is not in it.
 *   - ms_root_name(o, name) labels o: wherever o appears as a root (a snapshot, the daemon's retainer paths) it
 *     shows as `name`. The label is copied, adds no reference, replaces an earlier label of o, and disappears
 *     with o. 0, or -EINVAL for a NULL object or a NULL/empty name, -ENOMEM. A label on an object that is not a
 *     root (nothing external holds it) is kept but shown nowhere until it becomes one.
 *   - Edge names come from the types: ms_type.ref_names (fields), a list's indices, a dict's keys; a traverse
 *     reference without a name is "<ref i>". Weak references are edges of kind weak: they never keep anything
 *     alive.
 *   - ms_heapsnapshot_write(path) writes the whole graph to path as a V8 `.heapsnapshot` (loadable in Chrome
 *     DevTools' Memory tab, memlab, ...): node 0 is a synthetic root whose edges are the roots (a labelled root's
 *     edge is named by its label), node 1 a synthetic "(unreachable)" whose edges are the objects no root reaches
 *     (garbage cycles the collector has not freed yet); every object is a node of type "object" named by its
 *     type's name, with self_size = ms_sizeof() and an extra node field external_refs. An object keeps its node
 *     id in every snapshot of the process (DevTools' Comparison view). The file is written to path + ".tmp" and
 *     renamed, so a reader never sees half a snapshot. 0, or a negative errno (-EBUSY when called from inside a
 *     collection, e.g. by a finalizer or a gc callback; -ENOMEM; -E2BIG for a graph past the layout's limits,
 *     2^28 nodes or 2^30 edges; what open/write/fsync/rename failed with). The file is created with mode 0666
 *     less the umask, as fopen() would; the graph's memory is the C library's and is freed before it returns.
 *   - Cost: the walk visits every object and reference once, plus a pass over the nodes for their ids and one
 *     over the edges for what the roots reach (bench/heapsnapshot: 50-90 ms per million objects for the walk
 *     and the ids, which is the app's whole pause when the agent takes the snapshot: its thread prepares the
 *     memory before and finishes the graph after). The first snapshot gives every object an id: from then on an
 *     object in a snapshot costs a side-table entry (16 bytes) until it dies, and its death a table removal.
 *     While the walk runs, an object's header holds its node in place of its reference count (given back
 *     before the call returns): a traverse or size_extra must not read counts, which they have no reason to.
 *   - Threads: the runtime holder only (memscope/runtime.h), like every other heap call.
 */
#ifndef MEMSCOPE_HEAPSNAPSHOT_H
#define MEMSCOPE_HEAPSNAPSHOT_H

#include <memscope/object.h>
#include <memscope/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

MS_API int ms_root_name(ms_object *o, const char *name);

MS_API int ms_heapsnapshot_write(const char *path);

#ifdef __cplusplus
}
#endif
#endif /* MEMSCOPE_HEAPSNAPSHOT_H */
