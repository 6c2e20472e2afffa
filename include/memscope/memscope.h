/*
 * memscope/memscope.h — the umbrella header: includes every public header of libmemscope.
 *
 * Build an app with:  cc app.c $(pkg-config --cflags --libs memscope)
 */
#ifndef MEMSCOPE_MEMSCOPE_H
#define MEMSCOPE_MEMSCOPE_H

#include <memscope/config.h>
#include <memscope/runtime.h>
#include <memscope/mem.h>

#endif /* MEMSCOPE_MEMSCOPE_H */
