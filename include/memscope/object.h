/*
 * memscope/object.h — objects, types and reference counting (CPython's object model for C programs).
 *
 * Contract
 *   - An object is a struct whose first member is MS_OBJECT_HEAD; a pointer to it converts to ms_object * and
 *     back. Objects are created by ms_new() (zeroed, reference count 1) and die when their count drops to 0.
 *   - A type is a `static ms_type` (const or not) that outlives every object of it. Its callbacks:
 *       traverse(self, visit, arg)  call visit(o, arg) for every ms_object *o that self owns a reference to
 *                                   (use MS_VISIT, which skips NULL and stops on a non-zero return). Needed by
 *                                   MS_TYPE_GC types unless ref_offsets / ref_array_offset describe the
 *                                   references (faster: see the fields); used by ms_gc_get_referents() for any
 *                                   type. It must not change, nor read, any reference count (a heap
                                   snapshot's walk keeps its own numbers in them meanwhile, heapsnapshot.h).
 *       clear(self)                 drop the references self owns (use MS_CLEAR) and leave self consistent:
 *                                   the cycle collector calls it on a cycle that is garbage, and the object
 *                                   lives on until its count reaches 0, when clear() is called once more.
 *                                   So clear() must be idempotent.
 *       finalize(self)              PEP 442's tp_finalize: called at most once per tracked object (each time
 *                                   its count reaches 0 for untracked types, as in CPython), before anything
 *                                   is torn down. It may resurrect self by storing a new reference somewhere.
 *       dealloc(self)               release what is not an object reference (files, ms_malloc'd buffers that
 *                                   hold no references). Called last, after clear(); never frees self.
 *     Every callback may be NULL.
 *   - Decref to zero, in this order: untrack, finalize (if any and not yet run; a resurrected object is tracked
 *     again and stops here), clear the weak references to the object and run their callbacks, clear, dealloc,
 *     free the memory. From the moment the count is 0, weak references read the object as dead.
 *     NOTE the order clear-then-dealloc: dealloc may free buffers that clear() needed (a list's item array), so
 *     it runs last, as in CPython's subtype_dealloc where the base dealloc comes after the slots are cleared.
 *   - Destruction never recurses deeper than a small constant: a 10-million-node chain freed from its head is
 *     freed iteratively (a trashcan, as in CPython).
 *   - Reference counts are not atomic: see memscope/runtime.h for the threading model (one thread at a time
 *     holds the runtime). The statistics getters at the bottom may be called from any thread without it.
 *   - GC-tracked objects carry a 16-byte header *before* the object (see client/gc.c); ms_sizeof() counts it.
 */
#ifndef MEMSCOPE_OBJECT_H
#define MEMSCOPE_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <memscope/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ms_object ms_object;
typedef struct ms_type ms_type;

/*
 * The object header (16 bytes on 64-bit). Apps read the count through ms_refcount() and the type through
 * ms_type_of(): `type_bits` carries private flags in its low bits (whether weak references to the object
 * exist), so it is deliberately not a pointer.
 */
struct ms_object {
    intptr_t refcnt;     /* read-only for apps */
    uintptr_t type_bits; /* private: the ms_type pointer | MS__OBJ_* flags */
};

/* First member of every object struct:  typedef struct { MS_OBJECT_HEAD; ms_object *next; } node; */
#define MS_OBJECT_HEAD ms_object ob_base

typedef int (*ms_visit_fn)(ms_object *obj, void *arg);

/* Type flags. */
#define MS_TYPE_GC (1u << 0)               /* instances are tracked by the cycle collector (have a GC header) */
#define MS_TYPE_LEGACY_FINALIZER (1u << 1) /* a garbage cycle containing one is uncollectable (ms_gc_garbage) */
#define MS_TYPE_VAR (1u << 2) /* instances carry size_extra(self) more bytes at their end (ms_new_var), like a str */

struct ms_type {
    const char *name;  /* shown in statistics; required */
    size_t size;       /* instance size in bytes, >= sizeof(ms_object); required */
    unsigned flags;    /* MS_TYPE_* */
    int (*traverse)(ms_object *self, ms_visit_fn visit, void *arg);
    void (*clear)(ms_object *self);
    void (*finalize)(ms_object *self);
    void (*dealloc)(ms_object *self);
    /* Optional: bytes owned outside the instance (a list's item array), added by ms_sizeof(). */
    size_t (*size_extra)(const ms_object *self);
    /* Optional fast path for fixed-layout types: the byte offsets (offsetof) of the ms_object * fields that are
     * ALL the references the instance owns, terminated by 0. When set, the collector reads these fields
     * directly instead of calling traverse (no indirect calls), and clear may be left NULL: the fields are then
     * cleared with MS_CLEAR in order. traverse may then be NULL too. */
    const size_t *ref_offsets;
    /* Optional fast path for types that keep their references in one array (a list's items): the byte offsets
     * of the `ms_object **` array pointer and of the `size_t` count of used entries (NULL entries are skipped).
     * Both 0 when unused. Like ref_offsets, it replaces traverse for the collector (the fields, then the array,
     * when both are set); unlike ref_offsets it does not replace clear, which must drop and free the array. */
    size_t ref_array_offset;
    size_t ref_array_len_offset;
    /* Optional fast teardown for the cycle collector, for containers whose clear() only drops references and
     * frees the memory that held them (the built-in list and dict use it). Empties self as clear() would, but
     * drops nothing: returns an array of the *n references self owned (no NULL among them), whose ownership
     * passes to the caller, and stores in *buffer a block for the caller to ms_free() once it has dropped them
     * (NULL: none). The array may lie inside self or inside *buffer; it must stay valid until then. It must not
     * run other code, allocate, or touch other objects. When a garbage cycle consists only of objects whose
     * types have it or have ref_offsets without clear (and none has dealloc, MS_TYPE_VAR,
     * MS_TYPE_LEGACY_FINALIZER, a pending finalize or weak references), the collector tears the cycle down
     * itself: it drops the returned references from the last to the first and frees each object when its count
     * reaches 0, without a call to clear() or through ms_object_dealloc (bench/gc: the garbage column). clear()
     * is still required: every other teardown calls it. */
    ms_object **(*detach_refs)(ms_object *self, size_t *n, void **buffer);
    /* Optional: the names of the ref_offsets fields, in the same order (one per non-zero offset; NULL entries
     * and a NULL array mean unnamed). Heap snapshots and retainer paths show an edge through a named field as
     * `Folder -.parent-> Folder` (memscope/heapsnapshot.h). It lengthens ms_type: a type compiled against a
     * header without it must be recompiled (the library reads the field of every type). */
    const char *const *ref_names;
};

/* Private flag bits in ms_object.type_bits; types are at least 8-byte aligned. HAS_WEAKREFS: weak references to
 * the object exist (client/weakref.c); HAS_SIDE: the object has a heap snapshot id or a root label
 * (client/heapgraph.c), so that the death of an object without either costs one bit test; IN_WALK: only while a
 * heap snapshot walks the heap (client/heapgraph.c), refcnt holds the object's node there, not its count. */
#define MS__OBJ_HAS_WEAKREFS ((uintptr_t)1)
#define MS__OBJ_HAS_SIDE ((uintptr_t)2)
#define MS__OBJ_IN_WALK ((uintptr_t)4)
#define MS__OBJ_FLAGS_MASK ((uintptr_t)7)

/* Inside a traverse function: MS_VISIT(self->next); */
#define MS_VISIT(p)                                                                                            \
    do {                                                                                                       \
        if (p) {                                                                                               \
            int ms_visit_rc_ = visit((ms_object *)(p), arg);                                                   \
            if (ms_visit_rc_)                                                                                  \
                return ms_visit_rc_;                                                                           \
        }                                                                                                      \
    } while (0)

/*
 * A new object of type t: zeroed past the header, reference count 1, tracked by the cycle collector when t has
 * MS_TYPE_GC (creating a tracked object may first run an automatic collection). NULL with errno = ENOMEM on
 * failure, EINVAL when t->size < sizeof(ms_object). The allocation is traced at the caller's file:line.
 */
MS_API ms_object *ms_new_at(const ms_type *t, const char *file, int line);
MS_API ms_object *ms_new(const ms_type *t);
#define ms_new(t) ms_new_at((t), __FILE__, __LINE__)

/*
 * A variable-size object (CPython's PyObject_NewVar): like ms_new, with `extra` more bytes after t->size in the
 * same block. t must have MS_TYPE_VAR and a size_extra() that returns `extra` for the object's whole life (the
 * statistics subtract it when the object dies). EINVAL otherwise, ENOMEM when extra is absurd or memory is out.
 */
MS_API ms_object *ms_new_var_at(const ms_type *t, size_t extra, const char *file, int line);
MS_API ms_object *ms_new_var(const ms_type *t, size_t extra);
#define ms_new_var(t, extra) ms_new_var_at((t), (extra), __FILE__, __LINE__)

/* Called by ms_decref() when the count reaches 0. Public only because the inline code calls it. */
MS_API void ms_object_dealloc(ms_object *o);

static inline void ms_incref(ms_object *o) { o->refcnt++; }
static inline void ms_decref(ms_object *o)
{
    if (--o->refcnt == 0)
        ms_object_dealloc(o);
}
static inline void ms_xincref(ms_object *o)
{
    if (o)
        ms_incref(o);
}
static inline void ms_xdecref(ms_object *o)
{
    if (o)
        ms_decref(o);
}

/* Py_CLEAR: sets the field to NULL *before* dropping the reference, so that code run by the decref never sees
 * a dangling pointer. p is an lvalue of any object pointer type. */
#define MS_CLEAR(p)                                                                                            \
    do {                                                                                                       \
        ms_object *ms_clear_tmp_ = (ms_object *)(p);                                                           \
        if (ms_clear_tmp_) {                                                                                   \
            (p) = NULL;                                                                                        \
            ms_decref(ms_clear_tmp_);                                                                          \
        }                                                                                                      \
    } while (0)

/* Py_SETREF: replaces the reference in field p with the new reference v, dropping the old one last. */
#define MS_SETREF(p, v)                                                                                        \
    do {                                                                                                       \
        ms_object *ms_setref_tmp_ = (ms_object *)(p);                                                          \
        (p) = (v);                                                                                             \
        ms_xdecref(ms_setref_tmp_);                                                                            \
    } while (0)

/* The number of references to o (sys.getrefcount(o) - 1). */
static inline intptr_t ms_refcount(const ms_object *o) { return o->refcnt; }
static inline const ms_type *ms_type_of(const ms_object *o)
{
    return (const ms_type *)(o->type_bits & ~MS__OBJ_FLAGS_MASK);
}
MS_API const char *ms_type_name(const ms_object *o);
/* sys.getsizeof(o): instance size + GC header (if the type is MS_TYPE_GC) + size_extra(o). */
MS_API size_t ms_sizeof(const ms_object *o);

/* ---- Statistics (any thread, no lock) -------------------------------------------------------------------- */

/* Process-wide object counts, since the start of the process unless "alive". */
typedef struct ms_object_stats {
    uint64_t alive;     /* objects created and not yet destroyed */
    uint64_t created;   /* ms_new calls that succeeded */
    uint64_t destroyed; /* objects whose memory was freed */
} ms_object_stats;
MS_API void ms_object_stats_get(ms_object_stats *out);

/* One type, as seen by the statistics. Types are registered when their first object is created. */
typedef struct ms_type_stats {
    const ms_type *type;
    const char *name;
    uint64_t live_count;      /* objects of this type alive */
    uint64_t live_bytes;      /* instance size + GC header of the live objects, with the variable part of
                               * MS_TYPE_VAR instances; other size_extra (out-of-line buffers) not included */
    uint64_t created_total;   /* objects of this type ever created */
    uint64_t destroyed_total; /* objects of this type ever freed */
} ms_type_stats;

/* Number of registered types; indexes 0 .. count-1 are stable (a type keeps its index for the process' life). */
MS_API size_t ms_type_stats_count(void);
/* Fills *out for type index i: 0, or -ENOENT when i >= ms_type_stats_count(). */
MS_API int ms_type_stats_get(size_t i, ms_type_stats *out);
/* The statistics of type t: 0, or -ENOENT when no object of t was ever created. */
MS_API int ms_type_stats_find(const ms_type *t, ms_type_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* MEMSCOPE_OBJECT_H */
