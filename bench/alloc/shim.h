/*
 * bench/alloc/shim.h — which allocator the benchmark calls, chosen at build time.
 *
 * alloc_bench.c is compiled once per allocator with exactly one BENCH_ALLOC_* define; this header turns that
 * choice into two macros and two strings, so the workload code has no #ifdef and every binary runs the same
 * instructions around the allocator calls:
 *
 *   BENCH_MALLOC(n), BENCH_FREE(p)   the allocator under test
 *   BENCH_NAME                       short name printed in the results ("ms", "glibc", ...)
 *   BENCH_LIB_HINT                   part of the file name that must define the process's `malloc` when the
 *                                    binary relies on link-time replacement ("" = no check)
 *   bench_version()                  the version of the library actually running
 *
 * How each competitor is reached (and why):
 *   ms        ms_malloc/ms_free from the static libmemscope, through the public macros (ms_malloc records
 *             __FILE__/__LINE__ for tracing, as in real use).
 *   glibc     malloc/free of the C library (no replacement linked in).
 *   jemalloc  Debian's libjemalloc is built without a symbol prefix: linking it replaces malloc/free for the
 *             whole process (ELF interposition), so plain malloc/free are jemalloc's. alloc_bench.c checks at
 *             start-up, with dladdr(), that `malloc` really resolves into libjemalloc and refuses to run if not.
 *   mimalloc  mi_malloc/mi_free: mimalloc's own entry points, unambiguous whatever the link order.
 *   tcmalloc  tc_malloc/tc_free from libtcmalloc_minimal (gperftools without the heap profiler hooks, the
 *             variant meant for speed).
 * Every competitor is a shared library (Debian ships no static mimalloc), so each of their calls goes through
 * the PLT; ms_malloc is linked statically (a direct call). That difference is ~1 ns per call at most and is
 * noted in bench/README.md.
 */
#ifndef BENCH_ALLOC_SHIM_H
#define BENCH_ALLOC_SHIM_H

#include <stdio.h>
#include <stdlib.h>

#if defined(BENCH_ALLOC_MS)
#  include <memscope/memscope.h>
#  define BENCH_NAME "ms"
#  define BENCH_LIB_HINT ""
#  define BENCH_MALLOC(n) ms_malloc(n)
#  define BENCH_FREE(p) ms_free(p)
static const char *bench_version(void) { return ms_version(); }

#elif defined(BENCH_ALLOC_GLIBC)
#  include <gnu/libc-version.h>
#  define BENCH_NAME "glibc"
#  define BENCH_LIB_HINT "libc.so"
#  define BENCH_MALLOC(n) malloc(n)
#  define BENCH_FREE(p) free(p)
static const char *bench_version(void) { return gnu_get_libc_version(); }

#elif defined(BENCH_ALLOC_JEMALLOC)
#  include <jemalloc/jemalloc.h>
#  define BENCH_NAME "jemalloc"
#  define BENCH_LIB_HINT "libjemalloc"
#  define BENCH_MALLOC(n) malloc(n)
#  define BENCH_FREE(p) free(p)
static const char *bench_version(void)
{
    const char *v = "?";
    size_t len = sizeof v;
    if (mallctl("version", (void *)&v, &len, NULL, 0) != 0)
        return "?";
    return v;
}

#elif defined(BENCH_ALLOC_MIMALLOC)
#  include <mimalloc.h>
#  define BENCH_NAME "mimalloc"
#  define BENCH_LIB_HINT ""
#  define BENCH_MALLOC(n) mi_malloc(n)
#  define BENCH_FREE(p) mi_free(p)
static const char *bench_version(void)
{
    static char buf[32];
    int v = mi_version(); /* 209 for 2.0.9 */
    snprintf(buf, sizeof buf, "%d.%d.%d", v / 100, v / 10 % 10, v % 10);
    return buf;
}

#elif defined(BENCH_ALLOC_TCMALLOC)
#  include <gperftools/tcmalloc.h>
#  define BENCH_NAME "tcmalloc"
#  define BENCH_LIB_HINT ""
#  define BENCH_MALLOC(n) tc_malloc(n)
#  define BENCH_FREE(p) tc_free(p)
static const char *bench_version(void)
{
    int major, minor;
    const char *patch;
    static char buf[32];
    tc_version(&major, &minor, &patch);
    snprintf(buf, sizeof buf, "%d.%d%s", major, minor, patch ? patch : "");
    return buf;
}

#else
#  error "define one of BENCH_ALLOC_MS, _GLIBC, _JEMALLOC, _MIMALLOC, _TCMALLOC"
#endif

#endif /* BENCH_ALLOC_SHIM_H */
