/*
 * common/array.h — growing an array of fixed-size elements, for the tables that are arrays rather than bytes
 * (common/buf.h is for bytes): the daemon's models, listeners and indexes.
 *
 * msc_array_grow() makes room for one more element by doubling the capacity (from 16), so appending n elements
 * costs O(n) amortized. On failure the array is unchanged. Header-only (static inline).
 */
#ifndef MEMSCOPE_COMMON_ARRAY_H
#define MEMSCOPE_COMMON_ARRAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Makes room for element number *n (the next one) of the array *arr of capacity *cap, each elem bytes, and counts
 * it: returns its address (its bytes are not cleared), or NULL when out of memory (nothing changes). *arr may be
 * NULL with *cap 0.
 */
static inline void *msc_array_push(void *arr, size_t *n, size_t *cap, size_t elem)
{
    void **a = (void **)arr;
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        if (ncap > SIZE_MAX / elem)
            return NULL;
        void *na = realloc(*a, ncap * elem);
        if (!na)
            return NULL;
        *a = na;
        *cap = ncap;
    }
    return (char *)*a + (*n)++ * elem;
}

#endif /* MEMSCOPE_COMMON_ARRAY_H */
