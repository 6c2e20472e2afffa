/*
 * nohook.c — ms_malloc_at/ms_free as mem.c writes them, minus the tracing-hook check: the "build without
 * tracing" that the tracing-off cost is measured against.
 *
 * The fast paths below are mem.c's fast paths line for line (same pool helpers from client/obmalloc.h, same
 * statistics counter, same signatures), compiled in their own translation unit; the benchmark calls both these
 * and the real ones through the same function pointers from the same loop, so that only the callee differs. What
 * is left out is what tracing costs when it is off: malloc compares against an immediate instead of the
 * malloc_fast_limit variable, and free skips the `hooks() == NULL` load and branch. Anything that leaves the fast path
 * falls back to the real functions (tracing is off, so they behave identically). If mem.c's fast path changes,
 * change this file too: bench/trace/run.sh prints both so a drift shows as a ratio far from 1.
 */
#include <memscope/mem.h>

#include "internal.h"
#include "obmalloc.h"

#include "nohook.h"

__attribute__((noinline)) void *nohook_malloc_at(size_t n, const char *file, int line)
{
    if (MS_LIKELY(n - 1 < MS_SMALL_THRESHOLD - 1)) {
        unsigned cls = MS__SIZE_CLASS(n);
        pool_header *pool = ms__pool_fast(cls);
        if (MS_LIKELY(pool != NULL))
            return ms__pool_take(pool, cls);
    }
    return ms_malloc_at(n, file, line);
}

__attribute__((noinline)) void nohook_free(void *p)
{
    pool_header *pool;
    if (MS_LIKELY((pool = ms__pool_lookup(p)) != NULL && ms__pool_try_push(pool, p)))
        return;
    ms_free(p);
}
