/*
 * dict.c — the dict type: int/str keys to objects, in insertion order (CPython 3.6+'s compact dict,
 * Objects/dictobject.c, reduced to what memscope's key types need).
 *
 * Entry points: lookup() (read it first), then ms_dict_set_at() and dict_resize().
 *
 * Layout: the dict object {header, used, keys} points to one "keys" block holding a sparse index table and a
 * dense entry array, as CPython's PyDictKeysObject:
 *
 *     keys block (ms_malloc'd, attributed to the line that made it grow)
 *     +---------------------------+-------------------------------+-------------------------------------+
 *     | nslots | usable | nentries | indices[nslots] (int32)       | entries[usable] {hash, key, value}  |
 *     +---------------------------+-------------------------------+-------------------------------------+
 *
 *   indices[i]  EMPTY (-1): never used, ends a probe sequence
 *               DUMMY (-2): its entry was deleted; probing continues past it
 *               ix >= 0   : entries[ix] holds a key whose probe sequence passes through slot i
 *   entries[ix] for ix < nentries: a live entry, or a deleted one (key == NULL); in insertion order.
 *
 * Invariants
 *   - nslots is a power of two >= 8; usable = nslots * 2 / 3 < nslots, and nentries <= usable: so at least
 *     nslots - usable slots stay EMPTY and every probe sequence ends.
 *   - used == number of live entries <= nentries; a live entry owns one reference to its key and one to its
 *     value; deleted entries own nothing.
 *   - keys == NULL <=> the dict never had an item since its creation or its last clear (used == 0).
 *   - Keys are ints or strs only: comparing them runs no user code, so a lookup cannot change the dict (unlike
 *     CPython's, which must restart when __eq__ mutates it). Dropping a reference (replaced value, deleted item,
 *     clear) may run user code, and always happens last, when the dict is already consistent.
 *
 * Probing is CPython's: slot = hash & mask, then slot = 5*slot + perturb + 1 with perturb >>= 5 each step, so
 * every bit of the hash eventually takes part and the sequence visits every slot.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <memscope/builtins.h>
#include <memscope/mem.h>
#include <memscope/object.h>

#include "internal.h"

#define EMPTY (-1)
#define DUMMY (-2)
#define MIN_SLOTS 8
/* Indices are int32: at most 2^31 - 1 entries (a dict past that gets -ENOMEM). */
#define MAX_SLOTS ((size_t)1 << 31)

typedef struct dict_entry {
    uint64_t hash;
    ms_object *key; /* NULL: deleted */
    ms_object *value;
} dict_entry;

typedef struct dict_keys {
    size_t nslots;
    size_t usable;
    size_t nentries;
    int32_t indices[]; /* nslots, then the entries */
} dict_keys;

typedef struct dict_object {
    MS_OBJECT_HEAD;
    size_t used;
    dict_keys *keys;
} dict_object;

/* nslots * 4 is a multiple of 32 and the header 24 bytes: the entries are 8-byte aligned. */
static inline dict_entry *entries_of(dict_keys *k) { return (dict_entry *)(void *)(k->indices + k->nslots); }

static size_t keys_bytes(size_t nslots) { return sizeof(dict_keys) + nslots * sizeof(int32_t) + nslots * 2 / 3 * sizeof(dict_entry); }

static bool key_ok(const ms_object *key) { return ms_int_check(key) || ms_str_check(key); }

static uint64_t key_hash(const ms_object *key)
{
    /* As in CPython, an int hashes to itself; the perturbation mixes in the high bits. */
    return ms_int_check(key) ? (uint64_t)ms_int_value(key) : ms_str_hash(key);
}

static bool key_equal(const ms_object *a, const ms_object *b)
{
    if (a == b)
        return true;
    if (ms_int_check(a))
        return ms_int_check(b) && ms_int_value(a) == ms_int_value(b);
    return ms_str_equal(a, b);
}

/* The probe key: an object, or (when obj is NULL) raw bytes compared to str keys. */
typedef struct probe {
    const ms_object *obj;
    const char *bytes;
    size_t len;
    uint64_t hash;
} probe;

static bool probe_matches(const probe *p, const dict_entry *e)
{
    if (e->hash != p->hash)
        return false;
    if (p->obj)
        return key_equal(e->key, p->obj);
    return ms_str_check(e->key) && (size_t)ms_str_len(e->key) == p->len &&
           memcmp(ms_str_data(e->key), p->bytes, p->len) == 0;
}

/* The entry index of the key, -1 when absent; *slot_out (if not NULL) gets its slot. O(1) on average. */
static ssize_t lookup(dict_keys *k, const probe *p, size_t *slot_out)
{
    size_t mask = k->nslots - 1;
    size_t perturb = (size_t)p->hash;
    size_t i = (size_t)p->hash & mask;
    dict_entry *entries = entries_of(k);
    for (;;) {
        int32_t ix = k->indices[i];
        if (ix == EMPTY)
            return -1;
        if (ix >= 0 && probe_matches(p, &entries[ix])) {
            if (slot_out)
                *slot_out = i;
            return ix;
        }
        perturb >>= 5;
        i = (i * 5 + perturb + 1) & mask;
    }
}

/* The first EMPTY slot on hash's probe sequence (DUMMY slots are left alone: they may be on other keys'
 * sequences, and the table is rebuilt without them at the next resize). */
static size_t find_empty_slot(const dict_keys *k, uint64_t hash)
{
    size_t mask = k->nslots - 1;
    size_t perturb = (size_t)hash;
    size_t i = (size_t)hash & mask;
    while (k->indices[i] != EMPTY) {
        perturb >>= 5;
        i = (i * 5 + perturb + 1) & mask;
    }
    return i;
}

/*
 * Replaces the keys block by one with room for about 3 * used entries (CPython's GROWTH_RATE), copying the live
 * entries in order and dropping the deleted ones. Moves references, drops none: runs no user code.
 * 0 or -ENOMEM (the dict unchanged). O(used).
 */
static int dict_resize(dict_object *d, const char *file, int line)
{
    size_t want = d->used * 3;
    size_t nslots = MIN_SLOTS;
    while (nslots * 2 / 3 < want) {
        if (nslots >= MAX_SLOTS)
            return -ENOMEM;
        nslots *= 2;
    }
    dict_keys *nk = ms_malloc_at(keys_bytes(nslots), file, line);
    if (!nk)
        return -ENOMEM;
    nk->nslots = nslots;
    nk->usable = nslots * 2 / 3;
    nk->nentries = 0;
    memset(nk->indices, 0xff, nslots * sizeof(int32_t)); /* all EMPTY (-1) */
    dict_keys *ok = d->keys;
    if (ok) {
        dict_entry *src = entries_of(ok), *dst = entries_of(nk);
        for (size_t ix = 0; ix < ok->nentries; ix++) {
            if (!src[ix].key)
                continue;
            dst[nk->nentries] = src[ix];
            nk->indices[find_empty_slot(nk, src[ix].hash)] = (int32_t)nk->nentries;
            nk->nentries++;
        }
        ms_free(ok);
    }
    d->keys = nk;
    return 0;
}

/* Drops every item and frees the table. Idempotent (clear() contract); the table is detached before any
 * reference is dropped, and a table rebuilt meanwhile by code those decrefs ran is cleared too. O(entries). */
static void dict_clear(ms_object *self)
{
    dict_object *d = (dict_object *)self;
    while (d->keys) {
        dict_keys *k = d->keys;
        d->keys = NULL;
        d->used = 0;
        dict_entry *e = entries_of(k);
        for (size_t ix = 0; ix < k->nentries; ix++) {
            if (e[ix].key) {
                ms_decref(e[ix].key);
                ms_decref(e[ix].value);
            }
        }
        ms_free(k);
    }
}

/*
 * The collector's teardown of a garbage dict (detach_refs, memscope/object.h): the dict lets go of its items
 * without dropping them. The live entries' keys and values are packed, in entry order, over the front of the
 * entry array: a pair takes 16 of an entry's 24 bytes, so no write reaches an entry still to be read. The keys
 * block is the buffer to free afterwards. O(entries).
 */
static ms_object **dict_detach_refs(ms_object *self, size_t *n, void **buffer)
{
    dict_object *d = (dict_object *)self;
    dict_keys *k = d->keys;
    d->keys = NULL;
    d->used = 0;
    *n = 0;
    *buffer = k;
    if (!k)
        return NULL;
    dict_entry *e = entries_of(k);
    ms_object **refs = (ms_object **)(void *)e;
    size_t m = 0;
    for (size_t ix = 0; ix < k->nentries; ix++) {
        ms_object *key = e[ix].key, *value = e[ix].value; /* both read before the pair's slot is written */
        if (key) {
            refs[m++] = key;
            refs[m++] = value;
        }
    }
    *n = m;
    return refs;
}

static int dict_traverse(ms_object *self, ms_visit_fn visit, void *arg)
{
    dict_object *d = (dict_object *)self;
    dict_keys *k = d->keys;
    if (!k)
        return 0;
    dict_entry *e = entries_of(k);
    for (size_t ix = 0; ix < k->nentries; ix++) {
        if (e[ix].key) {
            MS_VISIT(e[ix].key);
            MS_VISIT(e[ix].value);
        }
    }
    return 0;
}

static size_t dict_size_extra(const ms_object *self)
{
    const dict_object *d = (const dict_object *)self;
    return d->keys ? keys_bytes(d->keys->nslots) : 0;
}

MS__BUILTIN_TYPE(dict_type, ms_dict_type, is_dict,
    .name = "dict",
    .size = sizeof(dict_object),
    .flags = MS_TYPE_GC,
    .traverse = dict_traverse,
    .clear = dict_clear,
    .detach_refs = dict_detach_refs, /* the collector's teardown of garbage dicts */
    /* No dealloc: clear() frees the table and always runs first. */
    .size_extra = dict_size_extra);

ms_object *ms_dict_new_at(const char *file, int line) { return ms_new_at(&dict_type, file, line); }

ms_object *(ms_dict_new)(void) { return ms_dict_new_at(NULL, 0); }

int ms_dict_set_at(ms_object *dict, ms_object *key, ms_object *value, const char *file, int line)
{
    if (!is_dict(dict) || !key_ok(key) || !value)
        return -EINVAL;
    dict_object *d = (dict_object *)dict;
    probe p = {.obj = key, .hash = key_hash(key)};
    if (d->keys) {
        ssize_t ix = lookup(d->keys, &p, NULL);
        if (ix >= 0) {
            dict_entry *e = &entries_of(d->keys)[ix];
            ms_object *old = e->value;
            ms_incref(value);
            e->value = value;
            ms_decref(old); /* last: the dict is consistent whatever this runs */
            return 0;
        }
    }
    if (!d->keys || d->keys->nentries == d->keys->usable) {
        int rc = dict_resize(d, file, line);
        if (rc < 0)
            return rc;
    }
    dict_keys *k = d->keys;
    size_t slot = find_empty_slot(k, p.hash);
    size_t ix = k->nentries++;
    ms_incref(key);
    ms_incref(value);
    entries_of(k)[ix] = (dict_entry){.hash = p.hash, .key = key, .value = value};
    k->indices[slot] = (int32_t)ix;
    d->used++;
    return 0;
}

int(ms_dict_set)(ms_object *d, ms_object *key, ms_object *value) { return ms_dict_set_at(d, key, value, NULL, 0); }

ms_object *ms_dict_get(const ms_object *dict, const ms_object *key)
{
    if (!is_dict(dict) || !key_ok(key))
        return NULL;
    const dict_object *d = (const dict_object *)dict;
    if (!d->keys)
        return NULL;
    probe p = {.obj = key, .hash = key_hash(key)};
    ssize_t ix = lookup(d->keys, &p, NULL);
    return ix >= 0 ? entries_of(d->keys)[ix].value : NULL;
}

ms_object *ms_dict_get_str(const ms_object *dict, const char *key)
{
    if (!is_dict(dict) || !key)
        return NULL;
    const dict_object *d = (const dict_object *)dict;
    if (!d->keys)
        return NULL;
    size_t n = strlen(key);
    probe p = {.bytes = key, .len = n, .hash = ms_str_hash_bytes(key, n)};
    ssize_t ix = lookup(d->keys, &p, NULL);
    return ix >= 0 ? entries_of(d->keys)[ix].value : NULL;
}

int ms_dict_del(ms_object *dict, const ms_object *key)
{
    if (!is_dict(dict) || !key_ok(key))
        return -EINVAL;
    dict_object *d = (dict_object *)dict;
    if (!d->keys)
        return -ENOENT;
    probe p = {.obj = key, .hash = key_hash(key)};
    size_t slot;
    ssize_t ix = lookup(d->keys, &p, &slot);
    if (ix < 0)
        return -ENOENT;
    dict_entry *e = &entries_of(d->keys)[ix];
    ms_object *old_key = e->key, *old_value = e->value;
    e->key = NULL;
    e->value = NULL;
    d->keys->indices[slot] = DUMMY;
    d->used--;
    ms_decref(old_key);
    ms_decref(old_value);
    return 0;
}

ssize_t ms_dict_len(const ms_object *dict)
{
    return is_dict(dict) ? (ssize_t)((const dict_object *)dict)->used : -EINVAL;
}

bool ms_dict_next(const ms_object *dict, size_t *pos, ms_object **key, ms_object **value)
{
    if (!is_dict(dict) || !pos)
        return false;
    dict_keys *k = ((const dict_object *)dict)->keys;
    if (!k)
        return false;
    dict_entry *e = entries_of(k);
    for (size_t ix = *pos; ix < k->nentries; ix++) {
        if (e[ix].key) {
            if (key)
                *key = e[ix].key;
            if (value)
                *value = e[ix].value;
            *pos = ix + 1;
            return true;
        }
    }
    *pos = k->nentries;
    return false;
}

void ms_dict_clear(ms_object *dict)
{
    if (is_dict(dict))
        dict_clear(dict);
}
