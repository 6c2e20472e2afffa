/*
 * os.c — page mapping, the allocator's only contact with the operating system's virtual memory.
 *
 * Arenas must be aligned to their own size so that a block's arena is found by masking its address (see
 * obmalloc.c). mmap only promises page alignment, so we map size + align and trim both ends.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "internal.h"

void *ms__os_map_aligned(size_t size, size_t align)
{
    size_t span = size + align;
    if (span < size)
        return NULL;
    uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = start - (uintptr_t)raw;
    size_t tail = span - head - size;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((uint8_t *)start + size, tail);
    return (void *)start;
}

void ms__os_unmap(void *p, size_t size) { munmap(p, size); }

void *ms__os_reserve(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void ms__os_advise_huge(void *p, size_t size)
{
#ifdef MADV_HUGEPAGE
    (void)madvise(p, size, MADV_HUGEPAGE);
#else
    (void)p;
    (void)size;
#endif
}
