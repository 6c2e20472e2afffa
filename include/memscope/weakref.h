/*
 * memscope/weakref.h — weak references (CPython's weakref.ref for C programs).
 *
 * Contract
 *   - A weak reference is an ms_object (type name "weakref", GC-tracked like CPython's) that points to its
 *     referent without owning it. ms_weakref_get() returns a new strong reference while the referent lives,
 *     NULL afterwards.
 *   - When the referent dies (by reference count or in a collected cycle), every weak reference to it is
 *     cleared first, then the callbacks run, newest weak reference first (CPython's order). A callback never
 *     sees the referent: ms_weakref_get(ref) is already NULL. A callback may drop the last reference to its own
 *     weak reference (it is kept alive until the callback returns).
 *   - During a collection, weak references that are themselves garbage are cleared without their callback.
 *   - Threads: the runtime holder only (memscope/runtime.h).
 */
#ifndef MEMSCOPE_WEAKREF_H
#define MEMSCOPE_WEAKREF_H

#include <stddef.h>

#include <memscope/object.h>
#include <memscope/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ms_weakref ms_weakref;
typedef void (*ms_weakref_callback)(ms_weakref *ref, void *arg);

/* A new weak reference to referent (which must be alive), with an optional callback. NULL with errno = ENOMEM
 * on failure, EINVAL when referent is NULL. */
MS_API ms_weakref *ms_weakref_new(ms_object *referent, ms_weakref_callback cb, void *arg);
/* A new (strong) reference to the referent, or NULL once it is dead. */
MS_API ms_object *ms_weakref_get(ms_weakref *w);
/* The referent without a new reference (NULL once dead): for identity checks only. */
MS_API ms_object *ms_weakref_peek(ms_weakref *w);
/* The number of weak references to o (weakref.getweakrefcount). O(1) on average. */
MS_API size_t ms_weakref_count(const ms_object *o);
/* The type of weak references, to recognise them. */
MS_API const ms_type *ms_weakref_type(void);

#ifdef __cplusplus
}
#endif
#endif /* MEMSCOPE_WEAKREF_H */
