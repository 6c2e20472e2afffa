/*
 * bump.c — the bump allocator (bump.h), and libc as an ms__mem_ops for the tables that are not the tracer's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bump.h"

struct ms__bump_chunk {
    ms__bump_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

static void *libc_zalloc(size_t n) { return calloc(1, n); }
static void libc_release(void *p, size_t n)
{
    (void)n;
    free(p);
}

const ms__mem_ops ms__libc_mem = {libc_zalloc, libc_release};

void *ms__bump_alloc(ms__bump *b, size_t n)
{
    if (n > SIZE_MAX - 15 - sizeof(ms__bump_chunk))
        return NULL;
    n = (n + 15) & ~(size_t)15;
    ms__bump_chunk *c = b->head;
    if (!c || c->size - c->used < n) {
        size_t size = n > b->chunk_size ? n : b->chunk_size;
        c = b->mem->zalloc(sizeof *c + size);
        if (!c)
            return NULL;
        c->size = size;
        c->next = b->head;
        b->head = c;
        b->bytes += sizeof *c + size;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

void ms__bump_reset(ms__bump *b)
{
    while (b->head && b->head->next) {
        ms__bump_chunk *c = b->head;
        b->head = c->next;
        b->bytes -= sizeof *c + c->size;
        b->mem->release(c, sizeof *c + c->size);
    }
    if (b->head) {
        memset(b->head->data, 0, b->head->used);
        b->head->used = 0;
    }
}

void ms__bump_free(ms__bump *b)
{
    while (b->head) {
        ms__bump_chunk *c = b->head;
        b->head = c->next;
        b->mem->release(c, sizeof *c + c->size);
    }
    b->bytes = 0;
}
