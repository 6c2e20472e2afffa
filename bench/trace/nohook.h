/* nohook.h — ms_malloc_at/ms_free without the tracing-hook check (see nohook.c). */
#ifndef MEMSCOPE_BENCH_TRACE_NOHOOK_H
#define MEMSCOPE_BENCH_TRACE_NOHOOK_H
#include <stddef.h>
void *nohook_malloc_at(size_t n, const char *file, int line);
void nohook_free(void *p);
#endif
