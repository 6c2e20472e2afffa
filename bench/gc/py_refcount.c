/*
 * py_refcount.c — CPython's Py_INCREF + Py_DECREF pair, timed exactly as gc_ring.c times ms_incref + ms_decref
 * (the same loop, the same compiler barriers), against the headers and library of the system's CPython 3.11.
 *
 * Python code cannot time a bare incref (every bytecode does several), so the benchmark embeds the interpreter
 * and measures its own inline functions. Output: `py refcount <ns per pair>` (best of 3).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <time.h>

#include "../cpu_clock.h"

static unsigned long long now_ns(void) { return bench_cpu_ns(); }

int main(void)
{
    Py_Initialize();
    PyObject *o = PyList_New(0);
    if (!o)
        return 1;
    const long loops = 100 * 1000 * 1000;
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        unsigned long long t0 = now_ns();
        for (long i = 0; i < loops; i++) {
            Py_INCREF(o);
            __asm__ volatile("" : : "r"(o) : "memory");
            Py_DECREF(o);
            __asm__ volatile("" : : "r"(o) : "memory");
        }
        unsigned long long t1 = now_ns();
        double ns = (double)(t1 - t0) / (double)loops;
        best = ns < best ? ns : best;
    }
    int ok = Py_REFCNT(o) == 1;
    Py_DECREF(o);
    printf("py refcount %.3f\n", best);
    Py_Finalize();
    return ok ? 0 : 1;
}
