/*
 * bump.c — the bump allocator (bump.h), and libc as an msc_mem_ops for the tables that are not the tracer's (and
 * for the largest of them, libc's pages in huge pages).
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


/* Large arrays in huge pages: a table probed at random addresses costs a TLB miss a probe in 4 KiB pages (its
 * 32 MB are 8192 of them; a core's TLB holds ~2000), none in 2 MiB ones. The transparent huge pages the kernel
 * gives where asked (madvise mode, Debian's default) or everywhere; in 4 KiB pages where it gives none. */
#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_MIN (2 * HUGE_PAGE)

static size_t huge_span(size_t n) { return (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1); }

static void *huge_zalloc(size_t n)
{
    if (n < HUGE_MIN)
        return calloc(1, n);
    void *p = ms__os_map_aligned(huge_span(n), HUGE_PAGE); /* fresh pages: zeroes */
    if (p)
        ms__os_advise_huge(p, huge_span(n));
    return p;
}

static void huge_release(void *p, size_t n)
{
    if (n < HUGE_MIN)
        free(p);
    else
        ms__os_unmap(p, huge_span(n));
}

const msc_mem_ops ms__huge_mem = {huge_zalloc, huge_release};

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

/* ---- String sets ------------------------------------------------------------------------------------------- */

typedef struct str_key {
    const char *s;
    size_t len;
} str_key;

static bool str_match(const void *slot, const void *key)
{
    const char *have = *(const char *const *)slot;
    const str_key *k = key;
    return strncmp(have, k->s, k->len) == 0 && have[k->len] == '\0';
}

const char *ms__str_intern(msc_hashtable *t, const msc_ht_type *ty, ms__bump *strings, const char *s,
                              size_t len)
{
    /* The same descriptor with its functions known here, so that the probe below is inlined with them. */
    const msc_ht_type local = MS__HT_STR_TYPE(ty->min_cap, ty->mem);
    if (msc_ht_reserve(t, &local) < 0)
        return NULL;
    str_key key = {s, len};
    const char **slot = msc_ht_probe(t, &local, msc_hash_bytes(s, len, 0), str_match, &key);
    if (*slot)
        return *slot;
    char *copy = ms__bump_alloc(strings, len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    *slot = copy;
    msc_ht_added(t);
    return copy;
}
