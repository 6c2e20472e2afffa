/*
 * memscope/builtins.h — built-in types: int, str, list, dict (CPython's int, str, list and dict for C programs).
 *
 * Contract
 *   - Every constructor returns a NEW reference (count 1, or one more on a cached small int) that the caller
 *     owns and must drop with ms_decref(). On failure it returns NULL with errno set (ENOMEM, EINVAL).
 *   - Getters (ms_list_get, ms_dict_get, ms_str_data) return BORROWED references: valid while the container
 *     holds the item; ms_incref() it to keep it longer.
 *   - Storing functions (ms_list_append, ms_list_set, ms_dict_set) take their OWN reference to what they store
 *     (they incref it, as CPython's PyList_Append and PyDict_SetItem do); the caller keeps its reference and
 *     still has to drop it. A replaced item (ms_list_set, ms_dict_set on an existing key) or a removed one
 *     (ms_dict_del) loses the container's reference, which may free it and run its finalizer and weakref
 *     callbacks; the container is already in its new, consistent state when that happens.
 *     ms_list_append_take() is the exception that steals: it is meant for ms_list_append_take(l, ms_int_new(i)).
 *   - Errors: functions returning int return 0 or a negative errno code (-EINVAL for an argument of the wrong
 *     type or NULL, -ERANGE for an index out of range, -ENOENT for a missing key, -ENOMEM); on error the
 *     container is unchanged. Functions returning an object return NULL.
 *   - int and str are immutable and not tracked by the collector (they hold no references). list and dict are
 *     MS_TYPE_GC: tracked from creation, so cycles through them are collected.
 *   - ints from -5 to 256 are cached, as in CPython: ms_int_new(10) returns the same object every time. Cached
 *     ints live in static storage (no heap block, never freed, not counted by ms_object_stats_get). The cache
 *     holds one reference to each; dropping more references than one owns is a bug that ends, as for any
 *     object, in the fault handler.
 *   - Allocation tracing: every function that allocates is a macro that passes the caller's __FILE__ and
 *     __LINE__ to its *_at function, so that tracing (memscope/trace.h) attributes to the caller's own line both
 *     the objects and the buffers they grow (a list's item array, a dict's table). `(ms_int_new)(v)` or taking
 *     the function's address calls the same code without a call site.
 *   - Threads: the runtime holder only (memscope/runtime.h).
 */
#ifndef MEMSCOPE_BUILTINS_H
#define MEMSCOPE_BUILTINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <memscope/object.h>
#include <memscope/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The types, to recognise instances (ms_type_of(o) == ms_int_type()) and to find their statistics
 * (ms_type_stats_find). Functions rather than exported variables, as ms_weakref_type(): a variable exported by the
 * shared library can be duplicated into the program by a copy relocation, leaving the library and the program
 * with different addresses for one type.
 */
MS_API const ms_type *ms_int_type(void);
MS_API const ms_type *ms_str_type(void);
MS_API const ms_type *ms_list_type(void);
MS_API const ms_type *ms_dict_type(void);

static inline bool ms_int_check(const ms_object *o) { return o && ms_type_of(o) == ms_int_type(); }
static inline bool ms_str_check(const ms_object *o) { return o && ms_type_of(o) == ms_str_type(); }
static inline bool ms_list_check(const ms_object *o) { return o && ms_type_of(o) == ms_list_type(); }
static inline bool ms_dict_check(const ms_object *o) { return o && ms_type_of(o) == ms_dict_type(); }

/* ---- int ------------------------------------------------------------------------------------------------ */

/* The smallest and largest cached ints (CPython's _PY_NSMALLNEGINTS and _PY_NSMALLPOSINTS - 1). */
#define MS_SMALL_INT_MIN (-5)
#define MS_SMALL_INT_MAX 256

/* A new reference to an int of value v. Cached for MS_SMALL_INT_MIN..MS_SMALL_INT_MAX (never fails, allocates
 * nothing); otherwise a new 24-byte object, NULL with errno = ENOMEM on failure. O(1). */
MS_API ms_object *ms_int_new_at(long v, const char *file, int line);
MS_API ms_object *ms_int_new(long v);
#define ms_int_new(v) ms_int_new_at((v), __FILE__, __LINE__)

/* The value of int o; 0 with errno = EINVAL when o is not an int. */
MS_API long ms_int_value(const ms_object *o);

/* ---- str ------------------------------------------------------------------------------------------------ */

/* A new str holding a copy of the NUL-terminated s (bytes, no encoding assumed). The object and its characters
 * are one block of ms_sizeof() = 33 + length bytes, so a short str is pooled and a long one is not, exactly at
 * the allocator's threshold. NULL with errno = EINVAL (s NULL) or ENOMEM. O(length). */
MS_API ms_object *ms_str_new_at(const char *s, const char *file, int line);
MS_API ms_object *ms_str_new(const char *s);
#define ms_str_new(s) ms_str_new_at((s), __FILE__, __LINE__)

/* The same from n bytes at s (which may contain NUL bytes; s may be NULL when n is 0). */
MS_API ms_object *ms_str_new_len_at(const char *s, size_t n, const char *file, int line);
MS_API ms_object *ms_str_new_len(const char *s, size_t n);
#define ms_str_new_len(s, n) ms_str_new_len_at((s), (n), __FILE__, __LINE__)

/* The characters of str o, NUL-terminated, valid as long as o lives; NULL when o is not a str. */
MS_API const char *ms_str_data(const ms_object *o);
/* The length in bytes (without the terminating NUL); -EINVAL when o is not a str. */
MS_API ssize_t ms_str_len(const ms_object *o);
/* The hash of str o (computed once, at creation): equal strings hash equally. 0 when o is not a str. */
MS_API uint64_t ms_str_hash(const ms_object *o);
/* The hash ms_str_hash() gives a str of the n bytes at s (for lookups by C string, as ms_dict_get_str). */
MS_API uint64_t ms_str_hash_bytes(const char *s, size_t n);
/* True iff a and b are strs with the same bytes. O(length). */
MS_API bool ms_str_equal(const ms_object *a, const ms_object *b);

/* ---- list ----------------------------------------------------------------------------------------------- */

/* A new empty list. Tracked by the collector (may run an automatic collection first). Up to 2 items live in the
 * object itself: with its collector header, one 64-byte block (ms_sizeof = 64 for 0 to 2 items; CPython's
 * sys.getsizeof of an empty list is 56). The 3rd item moves them all to a separate array of 8 slots, which then
 * grows as CPython's does (ms_sizeof = 64 + 8 per slot). NULL with errno = ENOMEM. O(1). */
MS_API ms_object *ms_list_new_at(const char *file, int line);
MS_API ms_object *ms_list_new(void);
#define ms_list_new() ms_list_new_at(__FILE__, __LINE__)

/* Appends item (the list takes its own reference). 0, -EINVAL (not a list, item NULL), -ENOMEM (the list is
 * unchanged). Amortized O(1): the item array grows by about 1/8 as CPython's does, attributed to file:line. */
MS_API int ms_list_append_at(ms_object *list, ms_object *item, const char *file, int line);
MS_API int ms_list_append(ms_object *list, ms_object *item);
#define ms_list_append(list, item) ms_list_append_at((list), (item), __FILE__, __LINE__)

/* Appends item and takes over the caller's reference to it (steals), on success and failure alike: on failure
 * the item is released. item may be NULL, as returned by a failed constructor: -ENOMEM then, so that
 * `ms_list_append_take(l, ms_int_new(i))` needs a single error check. */
MS_API int ms_list_append_take_at(ms_object *list, ms_object *item, const char *file, int line);
MS_API int ms_list_append_take(ms_object *list, ms_object *item);
#define ms_list_append_take(list, item) ms_list_append_take_at((list), (item), __FILE__, __LINE__)

/* Borrowed reference to item i; NULL when list is not a list or i >= length. O(1). */
MS_API ms_object *ms_list_get(const ms_object *list, size_t i);

/* Replaces item i with item (the list takes its own reference) and then drops the list's reference to the old
 * item. 0, -EINVAL (not a list, item NULL), -ERANGE (i >= length). O(1). Allocates nothing: the _at form exists
 * for symmetry with the other storing functions and ignores file:line. */
MS_API int ms_list_set_at(ms_object *list, size_t i, ms_object *item, const char *file, int line);
MS_API int ms_list_set(ms_object *list, size_t i, ms_object *item);
#define ms_list_set(list, i, item) ms_list_set_at((list), (i), (item), __FILE__, __LINE__)

/* Removes the last item and returns the list's reference to it (a new reference for the caller); NULL when the
 * list is empty or not a list. O(1). */
MS_API ms_object *ms_list_pop(ms_object *list);

/* Drops every item (list.clear()); the item array is freed. No-op on a non-list. O(length). */
MS_API void ms_list_clear(ms_object *list);

/* Number of items; -EINVAL when list is not a list. */
MS_API ssize_t ms_list_len(const ms_object *list);

/* ---- dict ----------------------------------------------------------------------------------------------- */

/*
 * A hash table from int or str keys to any objects, in insertion order (CPython's compact dict: an index table
 * plus an entry array). Keys compare by value: ms_int_new(1000) twice names the same key. Other key types are
 * rejected with -EINVAL (CPython's "unhashable type").
 */

/* A new empty dict (no table yet). Tracked by the collector. NULL with errno = ENOMEM. O(1). */
MS_API ms_object *ms_dict_new_at(const char *file, int line);
MS_API ms_object *ms_dict_new(void);
#define ms_dict_new() ms_dict_new_at(__FILE__, __LINE__)

/* d[key] = value. The dict takes its own references to key (when the key is new) and value, and drops its
 * reference to a replaced value. 0, -EINVAL (d not a dict, key not an int or str, value NULL), -ENOMEM (d is
 * unchanged). Amortized O(1); a table resize is attributed to file:line. */
MS_API int ms_dict_set_at(ms_object *d, ms_object *key, ms_object *value, const char *file, int line);
MS_API int ms_dict_set(ms_object *d, ms_object *key, ms_object *value);
#define ms_dict_set(d, key, value) ms_dict_set_at((d), (key), (value), __FILE__, __LINE__)

/* Borrowed reference to d[key]; NULL when missing (or d, key of the wrong type). O(1) on average. */
MS_API ms_object *ms_dict_get(const ms_object *d, const ms_object *key);
/* The same with a C string key (no object created). */
MS_API ms_object *ms_dict_get_str(const ms_object *d, const char *key);

/* del d[key]: drops the dict's references to the key and value. 0, -ENOENT, -EINVAL. O(1) on average. */
MS_API int ms_dict_del(ms_object *d, const ms_object *key);

/* Number of items; -EINVAL when d is not a dict. */
MS_API ssize_t ms_dict_len(const ms_object *d);

/* Iteration in insertion order, as PyDict_Next: start with *pos = 0; each call that returns true sets the
 * borrowed *key and *value (either pointer may be NULL) and advances *pos. The dict must not be changed during
 * the iteration, except by ms_dict_set on an existing key. */
MS_API bool ms_dict_next(const ms_object *d, size_t *pos, ms_object **key, ms_object **value);

/* Drops every item (dict.clear()); the table is freed. No-op on a non-dict. O(size). */
MS_API void ms_dict_clear(ms_object *d);

#ifdef __cplusplus
}
#endif
#endif /* MEMSCOPE_BUILTINS_H */
