/*
 * memscope/runtime.h — the runtime as a whole: version, error codes, the runtime lock, the fault handler.
 *
 * Contract
 *   - One runtime per process. Like CPython's interpreter, it is used by one thread at a time: a program with
 *     several threads that touch memscope objects or the memscope heap must hold the runtime lock
 *     (ms_lock()/ms_unlock()) around every such use, exactly as CPython code holds the GIL. A single-threaded
 *     program never needs to take it.
 *   - Statistics getters (ms_heap_stats_get, ms_pool_class_stats_get, ...) are the exception: any thread may call
 *     them at any time without the lock. Each counter is read atomically (never torn); counters read in one call
 *     may come from slightly different moments.
 *   - Setup calls return 0 or a negative errno-style code (-ENOMEM, -EINVAL, ...); ms_strerror() turns it into
 *     text. Hot paths (allocation, refcounting) return NULL or nothing and report heap corruption through the
 *     fault handler below.
 */
#ifndef MEMSCOPE_RUNTIME_H
#define MEMSCOPE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include <memscope/config.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#  define MS_API __attribute__((visibility("default")))
#  define MS_LIKELY(x) __builtin_expect(!!(x), 1)
#  define MS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define MS_API
#  define MS_LIKELY(x) (x)
#  define MS_UNLIKELY(x) (x)
#endif

/* The library's version as "MAJOR.MINOR.PATCH"; the headers' version is MS_VERSION_STRING in config.h. */
MS_API const char *ms_version(void);

/* Text for a negative errno-style return code of any memscope call (never NULL). */
MS_API const char *ms_strerror(int code);

/*
 * The runtime lock (CPython's GIL). Not recursive: a thread that already holds it must not take it again.
 * ms_trylock() returns true when it took the lock.
 */
MS_API void ms_lock(void);
MS_API bool ms_trylock(void);
MS_API void ms_unlock(void);

/*
 * Fault handler: called when the heap finds proof of misuse or corruption that it cannot report through a return
 * value (ms_free of a pointer that memscope never returned or of a block already free: memscope/mem.h says which
 * are caught in which build; a broken pool list found by ms_mem_validate). `what` is a one-line description, `ptr` the address involved. The default handler prints the message on
 * stderr and aborts, as glibc's free() does; a program may install its own (for example to log and keep going, in
 * which case the faulty operation is skipped). Passing NULL restores the default.
 */
typedef void (*ms_fault_fn)(const char *what, const void *ptr, void *arg);
MS_API void ms_set_fault_handler(ms_fault_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* MEMSCOPE_RUNTIME_H */
