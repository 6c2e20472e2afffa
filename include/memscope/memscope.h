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
#include <memscope/object.h>
#include <memscope/gc.h>
#include <memscope/weakref.h>
#include <memscope/builtins.h>
#include <memscope/trace.h>
#include <memscope/agent.h>
#include <memscope/heapsnapshot.h>

#endif /* MEMSCOPE_MEMSCOPE_H */
