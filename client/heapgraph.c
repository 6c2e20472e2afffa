/*
 * heapgraph.c — "why is it alive?": the heap graph walk, stable node ids, root labels and ms_heapsnapshot_write
 * (memscope/heapsnapshot.h has the contract, common/heapgraph.h the layout). Read ms__heapgraph_build() first.
 *
 * The walk (the runtime held, never inside a collection):
 *   1. walk            every object of every GC list, in list order, and every object reached from one becomes a
 *                      node when first met (new_node): appended, its count moved to saved_rc and its header's
 *                      refcnt holding its node index, flag MS__OBJ_IN_WALK. "Is this referent in the graph yet,
 *                      and which node is it?", the walk's commonest question, is then one load from the
 *                      referent's header, which the edge needs anyway: no table. The nodes are walked in index
 *                      order (walk_node: its type's name, its size, its edges in the order its type reports them),
 *                      each list object's new referents right after it, while they are likely in the cache;
 *                      leaves (an int, a str) are filled when met. Every strong edge counts one reference in
 *                      indeg[target]. The GC lists are only read.
 *   2. close_walk      one pass over the nodes puts every count back and gives each node its id (side table).
 *                      Between 1 and 2 nothing runs that looks at a count: the program's code runs only in
 *                      traverse and size_extra, which must not (memscope/object.h).
 *   3. finish          (ms__heapgraph_finish, on any thread: it reads only the walk's arrays) external_refs =
 *                      refcount - indeg, clamped at 0; the nodes where it is > 0 are the roots (CPython's gc_refs
 *                      after subtract_refs, over the whole heap). Node 0 gets an edge to each and one to node 1;
 *                      a walk from the roots over strong edges finds what they reach, and node 1 gets an edge to
 *                      every object it did not. The edges of nodes 0 and 1 go in front of the objects', in the
 *                      room left for them: the layout keeps each node's edges together in node order, and those
 *                      two are known last.
 *
 * Ids and labels: a side table address -> {id, labelled} (16 bytes an entry) and, for the few labelled objects,
 * a second one address -> label. MS__OBJ_HAS_SIDE in type_bits says an object has an entry, so the death of any
 * other object costs one bit test (object.c destroy(), gc.c free_done() call ms__heapgraph_forget). Ids are odd,
 * from 5 by 2 (V8's: 1 is the root, 3 the "(unreachable)" node), given when an object is first in a snapshot or
 * first labelled; after 2^31 ids the counter wraps and an id could repeat.
 *
 * All memory here is the C library's: the graph must not disturb the heap it describes, nor show in its
 * statistics.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memscope/builtins.h>
#include <memscope/heapsnapshot.h>
#include <memscope/weakref.h>

#include "array.h"
#include "buf.h"
#include "gc_internal.h"
#include "hashtable.h"
#include "heapgraph_internal.h"
#include "internal.h"
#include "list_internal.h"

typedef ms__gc_head gc_head;

#define NONE UINT32_MAX

/* ---- Ids and labels ---------------------------------------------------------------------------------------- */

/* Invariant: MS__OBJ_HAS_SIDE set <=> the object has a side slot; labelled <=> it has a `labels` entry. */
typedef struct side_slot {
    const void *key;
    uint32_t id;
    uint32_t labelled;
} side_slot;
_Static_assert(sizeof(side_slot) == 16, "an id costs 16 bytes (memscope/heapsnapshot.h)");

static bool side_match(const void *s, const void *key) { return ((const side_slot *)s)->key == key; }
/* The key is the slot's first member, as in msc_ht_ptr_slot: its used() and hash() fit. */
static const msc_ht_type side_type = {sizeof(side_slot), 64, msc_ht_ptr_used, msc_ht_ptr_hash, &ms__huge_mem};
static msc_hashtable side = MSC_HASHTABLE_INIT;
static const msc_ht_type label_type = MSC_HT_PTR_TYPE(16, &msc_libc_mem);
static msc_hashtable labels = MSC_HASHTABLE_INIT; /* object -> its label (malloc'd) */
static uint32_t next_id = 5;

static inline side_slot *side_find(const ms_object *o)
{
    return msc_ht_find(&side, &side_type, (uintptr_t)o, side_match, o);
}

/* o's slot, made with a new id when o has none. NULL when out of memory. O(1). */
static inline side_slot *side_get(ms_object *o)
{
    if (o->type_bits & MS__OBJ_HAS_SIDE)
        return side_find(o);
    if (msc_ht_reserve(&side, &side_type) < 0)
        return NULL;
    side_slot *s = msc_ht_probe(&side, &side_type, (uintptr_t)o, side_match, o);
    *s = (side_slot){o, next_id, 0};
    next_id = next_id >= UINT32_MAX - 2 ? 5 : next_id + 2;
    msc_ht_added(&side);
    o->type_bits |= MS__OBJ_HAS_SIDE;
    return s;
}

/* o's slot, made with a new id when o has none: side_get without the look at o's flag, for the walk's id pass,
 * whose slots are prefetched. NULL when out of memory. */
static inline side_slot *side_take(ms_object *o)
{
    if (MS_UNLIKELY(msc_ht_reserve(&side, &side_type) < 0))
        return NULL;
    side_slot *s = msc_ht_probe(&side, &side_type, (uintptr_t)o, side_match, o);
    if (MS_LIKELY(s->key != NULL))
        return s;
    *s = (side_slot){o, next_id, 0};
    next_id = next_id >= UINT32_MAX - 2 ? 5 : next_id + 2;
    msc_ht_added(&side);
    o->type_bits |= MS__OBJ_HAS_SIDE;
    return s;
}

static const char *label_of(const ms_object *o)
{
    msc_ht_ptr_slot *l = msc_ht_ptr_find(&labels, &label_type, o);
    return l ? l->value : NULL;
}

void ms__heapgraph_forget(ms_object *o)
{
    side_slot *s = side_find(o);
    MS_ASSERT_1(s != NULL);
    if (s) {
        if (s->labelled) {
            msc_ht_ptr_slot *l = msc_ht_ptr_find(&labels, &label_type, o);
            MS_ASSERT_1(l != NULL);
            if (l) {
                free(l->value);
                msc_ht_remove(&labels, &label_type, l);
            }
        }
        msc_ht_remove(&side, &side_type, s);
    }
    o->type_bits &= ~MS__OBJ_HAS_SIDE;
}

uint32_t ms__heapgraph_id_of(const ms_object *o)
{
    if (!(o->type_bits & MS__OBJ_HAS_SIDE))
        return 0;
    side_slot *s = side_find(o);
    return s ? s->id : 0;
}

size_t ms__heapgraph_side_count(void) { return side.count; }

int ms_root_name(ms_object *o, const char *name)
{
    if (!o || !name || !*name)
        return -EINVAL;
    char *copy = strdup(name);
    if (!copy)
        return -ENOMEM;
    side_slot *s = NULL;
    if (msc_ht_reserve(&labels, &label_type) < 0 || !(s = side_get(o))) {
        free(copy);
        return -ENOMEM;
    }
    msc_ht_ptr_slot *l = msc_ht_ptr_probe(&labels, &label_type, o);
    if (l->key) {
        free(l->value);
    } else {
        l->key = o;
        msc_ht_added(&labels);
    }
    l->value = copy;
    s->labelled = 1;
    return 0;
}

/* ---- The builder --------------------------------------------------------------------------------------------- */

/* How a type's references become edges. */
enum { KIND_NONE, KIND_FIELDS, KIND_TRAVERSE, KIND_LIST, KIND_DICT, KIND_WEAKREF };

typedef struct type_info {
    int kind;
    uint32_t name;     /* string: the type's name */
    uint32_t key_name; /* string "[<name>]", a dict value's edge under a key of this type; NONE until needed */
    msc_hg_edge field[]; /* KIND_FIELDS: type and name of the edge of each ref_offsets field (`to` unused) */
} type_info;

/* "<ref i>" names for i below this are interned once per graph. */
#define REF_NAMES_CACHED 64
#define TYPE_CACHE 16 /* 2^4 */
#define KEY_CACHE 256 /* 2^8 */
/* A cache slot of pointer p, for caches of 2^bits slots: Fibonacci hashing, whose top bits depend on every bit of
 * p (the low bits of statically allocated types are alike, and (p >> 4) % 16 put two of the demo's in one slot). */
#define CACHE_SLOT(p, bits) ((size_t)(((uintptr_t)(p) * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - (bits))))

/* A string of the graph: its hash, index + 1 (0: the slot is empty) and length; the bytes are in `bytes`. */
typedef struct str_slot {
    uint64_t hash;
    uint32_t index1;
    uint32_t len;
} str_slot;

typedef struct ms__heapgraph_builder {
    /* Nodes: objs[i] is node i's object (i >= 2); nodes[i] is filled when node i is walked (its type is
     * MSC_HG_NODE_HIDDEN until then); indeg[i] counts the strong edges into it so far; saved_rc[i] is its
     * reference count, which its header gets back in close_walk. nn <= ncap, the capacity of the four; indeg has
     * one more (finish() puts the edges' offsets there, nn + 1 of them). */
    ms_object **objs;
    msc_hg_node *nodes;
    uint32_t *indeg;
    intptr_t *saved_rc;
    size_t nn, ncap;
    /* The edges of the object nodes, in node order, at ebase[room ..]: the first `room` slots are left for the
     * edges of nodes 0 and 1, which finish() writes in front of them when it knows them (no memmove of them all).
     * ne <= ecap, both counted from ebase + room. */
    msc_hg_edge *ebase;
    size_t room, ne, ecap;
    unsigned char *seen; /* finish(): what the roots reach; NULL, or the reserve's (ncap bytes) */
    /* Strings: string i is bytes[offsets[i] .. offsets[i + 1]); noff = strings + 1. */
    msc_buf bytes;
    uint32_t *offsets;
    size_t noff, offcap;
    msc_hashtable strings;   /* str_slot: every string once */
    msc_hashtable types;     /* ms_type -> type_info */
    type_info **infos;       /* every type_info, to free them */
    size_t ninfos, infocap;
    struct {
        const ms_type *type;
        type_info *info;
    } type_cache[TYPE_CACHE]; /* direct-mapped, in front of `types`: a walk meets a handful of types */
    struct {
        const ms_object *key;
        uint32_t name;
    } key_cache[KEY_CACHE]; /* direct-mapped: a dict key object -> its value edge's name (keys are shared) */
    const ms_type *list_t, *dict_t, *weakref_t;
    uint32_t ref_names[REF_NAMES_CACHED]; /* NONE until interned */
    uint32_t s_weak, s_key, s_roots, s_unreachable;
    msc_buf scratch; /* a dict key's edge name being built */
    /* The labelled nodes, in node order, with their label's string: close_walk finds them, finish() names the
     * roots among them without a look at the heap. */
    struct labelled {
        uint32_t node, name;
    } *labelled;
    size_t nlabelled, labelledcap;
    int rc; /* the first failure: the walk stops */
} builder;

static const msc_ht_type ptr_type = MSC_HT_PTR_TYPE(64, &msc_libc_mem);

static uint32_t fail(builder *b, int rc)
{
    if (!b->rc)
        b->rc = rc;
    return NONE;
}

static bool str_used(const void *s) { return ((const str_slot *)s)->index1 != 0; }
static uint64_t str_hash(const void *s) { return ((const str_slot *)s)->hash; }
static const msc_ht_type str_type = {sizeof(str_slot), 256, str_used, str_hash, &msc_libc_mem};

typedef struct str_key {
    const char *s;
    size_t len;
    uint64_t hash;
    const builder *b;
} str_key;

static bool str_match(const void *slot, const void *key)
{
    const str_slot *s = slot;
    const str_key *k = key;
    return s->hash == k->hash && s->len == k->len &&
           (k->len == 0 || memcmp(msc_buf_bytes(&k->b->bytes) + k->b->offsets[s->index1 - 1], k->s, k->len) == 0);
}

/* The index of string s[0 .. len) (any bytes), added when new. NONE on failure (b->rc set). O(len). */
static uint32_t intern(builder *b, const char *s, size_t len)
{
    if (b->rc)
        return NONE;
    uint64_t h = msc_hash_bytes(s, len, 0);
    if (msc_ht_reserve(&b->strings, &str_type) < 0)
        return fail(b, -ENOMEM);
    str_key k = {s, len, h, b};
    str_slot *slot = msc_ht_probe(&b->strings, &str_type, h, str_match, &k);
    if (slot->index1)
        return slot->index1 - 1;
    if (len > UINT32_MAX - b->bytes.len || b->noff > MSC_HG_EDGES_MAX)
        return fail(b, -E2BIG);
    uint32_t *end = msc_array_push(&b->offsets, &b->noff, &b->offcap, sizeof *end);
    if (!end)
        return fail(b, -ENOMEM);
    if (len && msc_buf_append(&b->bytes, s, len) < 0) {
        b->noff--;
        return fail(b, -ENOMEM);
    }
    *end = (uint32_t)b->bytes.len;
    uint32_t index = (uint32_t)(b->noff - 2);
    *slot = (str_slot){h, index + 1, (uint32_t)len};
    msc_ht_added(&b->strings);
    return index;
}

static uint32_t intern_cstr(builder *b, const char *s) { return intern(b, s, strlen(s)); }

/* "<ref i>": an unnamed field, or the i-th reference a traverse reported. */
static uint32_t ref_name(builder *b, size_t i)
{
    if (i < REF_NAMES_CACHED && b->ref_names[i] != NONE)
        return b->ref_names[i];
    char name[32];
    int n = snprintf(name, sizeof name, "<ref %zu>", i);
    uint32_t s = intern(b, name, (size_t)n);
    if (i < REF_NAMES_CACHED)
        b->ref_names[i] = s;
    return s;
}

/* Capacity for cap nodes in the four node arrays: false when out of memory (each array keeps what it got; the
 * capacity grows only once all four did). */
static bool nodes_reserve(builder *b, size_t cap)
{
    if (cap <= b->ncap)
        return true;
    ms_object **objs = realloc(b->objs, cap * sizeof *objs);
    if (objs)
        b->objs = objs;
    msc_hg_node *nodes = objs ? realloc(b->nodes, cap * sizeof *nodes) : NULL;
    if (nodes)
        b->nodes = nodes;
    uint32_t *indeg = nodes ? realloc(b->indeg, (cap + 1) * sizeof *indeg) : NULL;
    if (indeg)
        b->indeg = indeg;
    intptr_t *saved = indeg ? realloc(b->saved_rc, cap * sizeof *saved) : NULL;
    if (!saved)
        return false;
    b->saved_rc = saved;
    b->ncap = cap;
    free(b->seen); /* a reserve's, too small now: finish() makes one of the size it needs */
    b->seen = NULL;
    return true;
}

/* Room for one more object edge: false when out of memory (b->rc set). Amortized O(1). */
static inline bool edges_reserve(builder *b)
{
    if (MS_LIKELY(b->ne < b->ecap))
        return true;
    size_t cap = b->ecap ? b->ecap * 2 : 4096;
    msc_hg_edge *e = cap <= MSC_HG_EDGES_MAX ? realloc(b->ebase, (b->room + cap) * sizeof *e) : NULL;
    if (!e) {
        fail(b, cap <= MSC_HG_EDGES_MAX ? -ENOMEM : -E2BIG);
        return false;
    }
    b->ebase = e;
    b->ecap = cap;
    return true;
}

/* Appends a node for o: its index, or NONE (b->rc set). Amortized O(1). */
static uint32_t add_node(builder *b, ms_object *o)
{
    if (b->nn >= MSC_HG_NODES_MAX)
        return fail(b, -E2BIG);
    if (b->nn == b->ncap && !nodes_reserve(b, b->ncap ? b->ncap * 2 : 4096))
        return fail(b, -ENOMEM);
    b->objs[b->nn] = o;
    b->indeg[b->nn] = 0;
    return (uint32_t)b->nn++;
}

/* What the builder knows of type t, made on first sight. NULL on failure (b->rc set). */
static __attribute__((noinline)) type_info *info_slow(builder *b, const ms_type *t)
{
    msc_ht_ptr_slot *slot = msc_ht_ptr_find(&b->types, &ptr_type, t);
    size_t c = CACHE_SLOT(t, 4);
    if (slot) {
        b->type_cache[c].type = t;
        b->type_cache[c].info = slot->value;
        return slot->value;
    }
    size_t nfields = 0;
    while (t->ref_offsets && t->ref_offsets[nfields])
        nfields++;
    type_info **entry = NULL;
    type_info *ti = calloc(1, sizeof *ti + nfields * sizeof(msc_hg_edge));
    if (!ti || msc_ht_reserve(&b->types, &ptr_type) < 0 ||
        !(entry = msc_array_push(&b->infos, &b->ninfos, &b->infocap, sizeof *entry))) {
        free(ti);
        fail(b, -ENOMEM);
        return NULL;
    }
    *entry = ti;
    ti->name = intern_cstr(b, t->name ? t->name : "?");
    ti->key_name = NONE;
    if (t == b->weakref_t)
        ti->kind = KIND_WEAKREF;
    else if (t == b->list_t)
        ti->kind = KIND_LIST;
    else if (t == b->dict_t)
        ti->kind = KIND_DICT;
    else if (t->ref_offsets || t->ref_array_offset)
        ti->kind = KIND_FIELDS; /* what the collector reads, even when there is a traverse too */
    else
        ti->kind = t->traverse ? KIND_TRAVERSE : KIND_NONE;
    for (size_t j = 0; j < nfields; j++) {
        const char *name = t->ref_names ? t->ref_names[j] : NULL;
        ti->field[j] = name ? (msc_hg_edge){MSC_HG_EDGE_PROPERTY, intern_cstr(b, name), 0}
                            : (msc_hg_edge){MSC_HG_EDGE_INTERNAL, ref_name(b, j), 0};
    }
    *msc_ht_ptr_probe(&b->types, &ptr_type, t) = (msc_ht_ptr_slot){t, ti};
    msc_ht_added(&b->types);
    if (b->rc)
        return NULL;
    b->type_cache[c].type = t;
    b->type_cache[c].info = ti;
    return ti;
}

static inline type_info *info_for(builder *b, const ms_type *t)
{
    size_t c = CACHE_SLOT(t, 4);
    return MS_LIKELY(b->type_cache[c].type == t) ? b->type_cache[c].info : info_slow(b, t);
}

static inline uint32_t u32_sat(uint64_t v) { return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v; }

/* Node i, but its id (close_walk). external_refs holds the reference count rc until finish() subtracts indeg. */
static inline void fill_node(builder *b, uint32_t i, const ms_object *o, intptr_t rc, const type_info *ti,
                             size_t edges)
{
    b->nodes[i] = (msc_hg_node){MSC_HG_NODE_OBJECT, ti->name, 0, u32_sat(ms_sizeof(o)), (uint32_t)edges,
                                rc > 0 ? u32_sat((uint64_t)rc) : 0};
}

/* The node of an object met for the first time: appended, its count saved, its header pointing at it. A leaf
 * (an int, a str) is filled at once, while its header is in the cache: it has no edges, so its node needs nothing
 * from the walk's order, which skips it. NONE on failure. */
static inline uint32_t new_node(builder *b, ms_object *o)
{
    uint32_t i = add_node(b, o);
    if (i == NONE)
        return NONE;
    intptr_t rc = b->saved_rc[i] = o->refcnt;
    b->nodes[i].type = MSC_HG_NODE_HIDDEN; /* not filled in yet */
    type_info *ti = info_for(b, ms_type_of(o));
    if (ti && ti->kind == KIND_NONE)
        fill_node(b, i, o, rc, ti, 0);
    o->refcnt = (intptr_t)i;
    o->type_bits |= MS__OBJ_IN_WALK;
    return i;
}

/* o's node index: in its header once it is in the graph (new_node). */
static inline uint32_t node_of(builder *b, ms_object *o)
{
    return MS_LIKELY(o->type_bits & MS__OBJ_IN_WALK) ? (uint32_t)o->refcnt : new_node(b, o);
}

static inline void add_edge(builder *b, uint32_t type, uint32_t name_or_index, ms_object *to)
{
    uint32_t t = node_of(b, to);
    if (t == NONE || name_or_index == NONE || !edges_reserve(b))
        return;
    b->ebase[b->room + b->ne++] = (msc_hg_edge){type, name_or_index, t};
    if (type != MSC_HG_EDGE_WEAK)
        b->indeg[t]++;
}

/* The name of the edge from a dict to the value under `key`: "['bytes']" for a str (its bytes as they are),
 * "[<type>]" for a key of another type. */
static uint32_t dict_value_name(builder *b, const ms_object *key)
{
    size_t c = CACHE_SLOT(key, 8);
    if (b->key_cache[c].key == key)
        return b->key_cache[c].name;
    if (ms_str_check(key)) {
        ssize_t n = ms_str_len(key);
        msc_buf_clear(&b->scratch);
        if (msc_buf_append(&b->scratch, "['", 2) < 0 || msc_buf_append(&b->scratch, ms_str_data(key), (size_t)n) < 0 ||
            msc_buf_append(&b->scratch, "']", 2) < 0)
            return fail(b, -ENOMEM);
        uint32_t name = intern(b, msc_buf_bytes(&b->scratch), b->scratch.len);
        if (name != NONE) {
            b->key_cache[c].key = key;
            b->key_cache[c].name = name;
        }
        return name;
    }
    type_info *ki = info_for(b, ms_type_of(key));
    if (!ki)
        return NONE;
    if (ki->key_name == NONE) {
        const char *tn = ms_type_of(key)->name ? ms_type_of(key)->name : "?";
        msc_buf_clear(&b->scratch);
        if (msc_buf_printf(&b->scratch, "[<%s>]", tn) < 0)
            return fail(b, -ENOMEM);
        ki->key_name = intern(b, msc_buf_bytes(&b->scratch), b->scratch.len);
    }
    return ki->key_name;
}

typedef struct traverse_ctx {
    builder *b;
    size_t n;
} traverse_ctx;

static int visit_ref(ms_object *o, void *arg)
{
    traverse_ctx *c = arg;
    add_edge(c->b, MSC_HG_EDGE_INTERNAL, ref_name(c->b, c->n++), o);
    return c->b->rc != 0;
}

/* Node i: its fields, and its edges appended to b->edges. */
static void walk_node(builder *b, uint32_t i)
{
    ms_object *o = b->objs[i];
    const ms_type *t = ms_type_of(o);
    type_info *ti = info_for(b, t);
    if (!ti)
        return;
    size_t first = b->ne;
    switch (ti->kind) {
    case KIND_FIELDS: {
        const size_t *off = t->ref_offsets;
        for (size_t j = 0; off && off[j]; j++) {
            ms_object *c = *(ms_object **)(void *)((char *)o + off[j]);
            if (c)
                add_edge(b, ti->field[j].type, ti->field[j].name_or_index, c);
        }
        if (t->ref_array_offset) {
            ms_object **items = *(ms_object ***)(void *)((char *)o + t->ref_array_offset);
            size_t n = *(size_t *)(void *)((char *)o + t->ref_array_len_offset);
            for (size_t k = 0; k < n; k++)
                if (items[k])
                    add_edge(b, MSC_HG_EDGE_ELEMENT, u32_sat(k), items[k]);
        }
        break;
    }
    case KIND_LIST: {
        const ms__list_object *l = (const ms__list_object *)(const void *)o;
        ms_object **items = ms__list_items(l);
        for (size_t k = 0; k < l->len; k++)
            add_edge(b, MSC_HG_EDGE_ELEMENT, u32_sat(k), items[k]);
        break;
    }
    case KIND_DICT: {
        size_t pos = 0;
        ms_object *key, *value;
        while (ms_dict_next(o, &pos, &key, &value) && !b->rc) {
            add_edge(b, MSC_HG_EDGE_INTERNAL, b->s_key, key);
            add_edge(b, MSC_HG_EDGE_PROPERTY, dict_value_name(b, key), value);
        }
        break;
    }
    case KIND_WEAKREF: {
        ms_object *r = ms_weakref_peek((ms_weakref *)o);
        if (r)
            add_edge(b, MSC_HG_EDGE_WEAK, b->s_weak, r);
        break;
    }
    case KIND_TRAVERSE: {
        traverse_ctx c = {b, 0};
        (void)t->traverse(o, visit_ref, &c);
        break;
    }
    default:
        break;
    }
    fill_node(b, i, o, b->saved_rc[i], ti, b->ne - first);
}

/* Step 1: the walk. Each GC list object joins the graph (unless an edge brought it in already), then every node
 * appended since is walked: its new referents right after it. Stops at the first failure; close_walk repairs
 * every object that joined. */
static void walk(builder *b, gc_head *const lists[MS__GC_NLISTS])
{
    size_t next = 2;
    for (int l = 0; l < MS__GC_NLISTS; l++) {
        for (gc_head *g = (gc_head *)lists[l]->next; g != lists[l] && !b->rc; g = (gc_head *)g->next) {
            ms_object *o = MS__GC_OBJ(g);
            if (!(o->type_bits & MS__OBJ_IN_WALK) && new_node(b, o) == NONE)
                return;
            for (; next < b->nn && !b->rc; next++)
                if (b->nodes[next].type != MSC_HG_NODE_OBJECT)
                    walk_node(b, next);
        }
    }
}

/* Grows t until n more entries fit (best effort: the table grows again on demand). */
static void presize(msc_hashtable *t, const msc_ht_type *ty, size_t n)
{
    while ((t->count + n) * 2 > t->cap && msc_ht_grow(t, ty) == 0) {
    }
}

/* How far ahead close_walk asks for the cache lines of a node: the side table's slot for the node's object, and
 * the object's header. */
#define PREFETCH 16

/* Node i (object o) is labelled: its label joins the graph's strings and b->labelled. false on failure. */
static __attribute__((noinline)) bool name_label(builder *b, uint32_t i, const ms_object *o)
{
    const char *label = label_of(o);
    uint32_t name = label ? intern_cstr(b, label) : NONE;
    struct labelled *l = name != NONE ? msc_array_push(&b->labelled, &b->nlabelled, &b->labelledcap, sizeof *l) : NULL;
    if (!l)
        return fail(b, -ENOMEM), false;
    *l = (struct labelled){i, name};
    return true;
}

/*
 * Step 2: the last pass over the nodes puts every count back and, when `ids`, gives each node its id. It must run
 * whether the walk failed or not.
 *
 * The side table is far larger than the caches once the heap is (16 bytes an object, at most half full), and an
 * object's slot lies at a random place in it: looked up cold, every id costs a miss to memory (and, but for the
 * huge pages of ms__huge_mem, one of the TLB). The pass asks for the slot of the node PREFETCH ahead (where a
 * probe for it starts: its home), so that the misses overlap instead of queueing (bench, 1M objects: the walk
 * with lookups in line took 550 ms, a separate pass 40); the header it restores is asked for as well.
 */
static void close_walk(builder *b, bool ids)
{
    const size_t n = b->nn;
    for (size_t i = 2; i < n; i++) {
        if (i + PREFETCH < n) {
            ms_object *ahead = b->objs[i + PREFETCH];
            if (ids)
                __builtin_prefetch(msc_ht_slot(&side, &side_type, msc_ht_home(&side, (uintptr_t)ahead)), 1);
            __builtin_prefetch(ahead, 1);
        }
        ms_object *o = b->objs[i];
        o->refcnt = b->saved_rc[i];
        o->type_bits &= ~MS__OBJ_IN_WALK;
        if (!ids)
            continue;
        side_slot *slot = side_take(o);
        if (slot) {
            b->nodes[i].id = slot->id;
            if (MS_UNLIKELY(slot->labelled) && !name_label(b, (uint32_t)i, o))
                ids = false;
        } else {
            fail(b, -ENOMEM);
            ids = false; /* the counts still need the rest of the pass */
        }
    }
}

/* The shape of the last graph, for the next reserve (written by builds, read by any thread), and the id table's
 * size after it. */
static _Atomic size_t last_nodes, last_edges, last_front, last_side_count, last_side_cap;

/* Pushes edge e onto the array (*a, *n, *cap); false when out of memory. */
static bool push_edge(msc_hg_edge **a, size_t *n, size_t *cap, msc_hg_edge e)
{
    msc_hg_edge *p = msc_array_push(a, n, cap, sizeof *p);
    if (p)
        *p = e;
    return p != NULL;
}

/* Step 4, on any thread (it reads nothing of the heap): external refs, the edges of nodes 0 and 1, the graph's
 * arrays into hg. */
static int finish(builder *b, ms__heapgraph *hg)
{
    size_t nn = b->nn;
    msc_hg_edge *front = NULL;
    size_t nfront = 0, fcap = 0;
    int rc = -ENOMEM;

    /* Roots: node 0's edges, in node order; the labelled ones by their label. */
    uint32_t element = 0;
    size_t next_label = 0;
    for (size_t i = 2; i < nn; i++) {
        msc_hg_node *n = &b->nodes[i];
        uint32_t in = b->indeg[i];
        n->external_refs = n->external_refs > in ? n->external_refs - in : 0;
        while (next_label < b->nlabelled && b->labelled[next_label].node < i)
            next_label++;
        if (!n->external_refs)
            continue;
        msc_hg_edge e = {MSC_HG_EDGE_ELEMENT, 0, (uint32_t)i};
        if (next_label < b->nlabelled && b->labelled[next_label].node == i) {
            e.type = MSC_HG_EDGE_PROPERTY;
            e.name_or_index = b->labelled[next_label].name;
        } else {
            e.name_or_index = element++;
        }
        if (!push_edge(&front, &nfront, &fcap, e))
            goto out;
    }
    if (!push_edge(&front, &nfront, &fcap, (msc_hg_edge){MSC_HG_EDGE_ELEMENT, element, MSC_HG_UNREACHABLE}))
        goto out;
    size_t nroot = nfront;

    /* What the roots reach through strong edges. A scan in node order processes each marked node's edges; a
     * node marked behind the scan (an edge to a lower index) goes on a stack and is processed at once, so every
     * marked node is processed exactly once and each node is pushed at most once. When most edges point ahead
     * (to nodes found later, or allocated later) the edges are read mostly in order, where a depth-first walk
     * reads them in the order of the stack. Its arrays are the walk's, done with: the edges' offsets go where
     * indeg was (nn + 1 of them fit), the stack where objs was. */
    if (!b->seen && !(b->seen = malloc(nn)))
        goto out;
    memset(b->seen, 0, nn);
    unsigned char *seen = b->seen;
    uint32_t *first = b->indeg, *stack = (uint32_t *)(void *)b->objs;
    const msc_hg_edge *edges = b->ebase + b->room;
    uint32_t at = 0;
    for (size_t i = 2; i < nn; i++) {
        first[i] = at;
        at += b->nodes[i].edge_count;
    }
    first[nn] = at;
    for (size_t k = 0; k + 1 < nroot; k++)
        seen[front[k].to] = 1;
    for (size_t i = 2; i < nn; i++) {
        if (!seen[i])
            continue;
        size_t top = 0;
        uint32_t v = (uint32_t)i;
        for (;;) {
            for (uint32_t k = first[v]; k < first[v + 1]; k++) {
                const msc_hg_edge *e = &edges[k];
                if (e->type != MSC_HG_EDGE_WEAK && !seen[e->to]) {
                    seen[e->to] = 1;
                    if (e->to < i)
                        stack[top++] = e->to;
                }
            }
            if (!top)
                break;
            v = stack[--top];
        }
    }
    element = 0;
    for (size_t i = 2; i < nn; i++)
        if (!seen[i] && !push_edge(&front, &nfront, &fcap, (msc_hg_edge){MSC_HG_EDGE_ELEMENT, element++, (uint32_t)i}))
            goto out;

    rc = -E2BIG;
    if (b->ne + nfront > MSC_HG_EDGES_MAX)
        goto out;
    rc = -ENOMEM;
    if (nfront > b->room) { /* more roots and garbage than the room kept for them: the object edges move */
        size_t room = nfront;
        msc_hg_edge *e = realloc(b->ebase, (room + b->ne) * sizeof *e);
        if (!e)
            goto out;
        memmove(e + room, e + b->room, b->ne * sizeof *e);
        b->ebase = e;
        b->room = room;
        b->ecap = b->ne;
    }
    msc_hg_edge *all = b->ebase + b->room - nfront;
    memcpy(all, front, nfront * sizeof *all);
    b->nodes[MSC_HG_ROOT] = (msc_hg_node){MSC_HG_NODE_SYNTHETIC, b->s_roots, 1, 0, (uint32_t)nroot, 0};
    b->nodes[MSC_HG_UNREACHABLE] =
        (msc_hg_node){MSC_HG_NODE_SYNTHETIC, b->s_unreachable, 3, 0, (uint32_t)(nfront - nroot), 0};

    hg->nodes = b->nodes;
    hg->edges = b->ebase;
    hg->string_offsets = b->offsets;
    hg->string_bytes = msc_buf_bytes(&b->bytes);
    hg->g = (msc_hg){(uint32_t)nn, (uint32_t)(b->ne + nfront), (uint32_t)(b->noff - 1), hg->nodes, all,
                     hg->string_offsets, hg->string_bytes};
    b->nodes = NULL;
    b->ebase = NULL;
    b->offsets = NULL;
    b->bytes = (msc_buf)MSC_BUF_INIT; /* off is 0: nothing was consumed, data is what was allocated */
    rc = 0;
    last_front = nfront;
out:
    free(front);
    return rc;
}

/* ---- The reserve ---------------------------------------------------------------------------------------------- */

/* The arrays a build takes from a reserve (it leaves the id table's when it does not need it). */
struct ms__heapgraph_reserve {
    ms_object **objs;
    msc_hg_node *nodes;
    uint32_t *indeg; /* ncap + 1 */
    intptr_t *saved_rc;
    size_t ncap;
    msc_hg_edge *ebase; /* room + ecap */
    size_t room, ecap;
    unsigned char *seen; /* ncap */
    void *side_slots;    /* an all-zero array of side_cap slots for the id table, from its memory ops */
    size_t side_cap;
};


/* Touches every page of p[0 .. n) so that the walk does not take their faults: a write of a zero, which leaves
 * a fresh array (or calloc's) as it was. */
static void touch_pages(void *p, size_t n)
{
    volatile unsigned char *c = p;
    for (size_t i = 0; i < n; i += 4096)
        c[i] = 0;
    if (n)
        c[n - 1] = 0;
}

static void *touched(size_t n)
{
    void *p = malloc(n);
    if (p)
        touch_pages(p, n);
    return p;
}

ms__heapgraph_reserve *ms__heapgraph_reserve_new(void)
{
    ms__heapgraph_reserve *rs = calloc(1, sizeof *rs);
    if (!rs)
        return NULL;
    /* Nodes: at most every object alive (and the few static ones, the small ints), plus nodes 0 and 1. Edges: in
     * the last graph's proportion, or a docstore's (3 a node) before the first. */
    ms_object_stats st;
    ms_object_stats_get(&st);
    size_t nodes = (size_t)st.alive + 1024, ln = last_nodes;
    size_t edges = ln ? (size_t)((double)last_edges / (double)ln * (double)nodes) + 1024 : 3 * nodes;
    if (nodes > MSC_HG_NODES_MAX)
        nodes = MSC_HG_NODES_MAX;
    if (edges > MSC_HG_EDGES_MAX)
        edges = MSC_HG_EDGES_MAX;
    rs->room = last_front + 1024;
    rs->objs = touched(nodes * sizeof *rs->objs);
    rs->nodes = touched(nodes * sizeof *rs->nodes);
    rs->indeg = touched((nodes + 1) * sizeof *rs->indeg);
    rs->seen = touched(nodes);
    rs->saved_rc = touched(nodes * sizeof *rs->saved_rc);
    rs->ebase = touched((rs->room + edges) * sizeof *rs->ebase);
    if (!rs->objs || !rs->nodes || !rs->indeg || !rs->seen || !rs->saved_rc || !rs->ebase) {
        ms__heapgraph_reserve_free(rs);
        return NULL;
    }
    rs->ncap = nodes;
    rs->ecap = edges;
    /* The id table, when the build would grow it: at most half full with an entry for every node. */
    size_t want = last_side_count > nodes ? last_side_count : nodes, cap = side_type.min_cap;
    while (cap < 2 * want)
        cap *= 2;
    if (cap > last_side_cap && (rs->side_slots = side_type.mem->zalloc(cap * side_type.slot_size)) != NULL) {
        touch_pages(rs->side_slots, cap * side_type.slot_size);
        rs->side_cap = cap;
    }
    return rs;
}

void ms__heapgraph_reserve_free(ms__heapgraph_reserve *rs)
{
    if (!rs)
        return;
    free(rs->objs);
    free(rs->nodes);
    free(rs->indeg);
    free(rs->seen);
    free(rs->saved_rc);
    free(rs->ebase);
    if (rs->side_slots)
        side_type.mem->release(rs->side_slots, rs->side_cap * side_type.slot_size);
    free(rs);
}

/* The reserve's arrays become the builder's. */
static void take_reserve(builder *b, ms__heapgraph_reserve *rs)
{
    b->objs = rs->objs;
    b->nodes = rs->nodes;
    b->indeg = rs->indeg;
    b->ncap = rs->ncap;
    b->saved_rc = rs->saved_rc;
    b->ebase = rs->ebase;
    b->room = rs->room;
    b->ecap = rs->ecap;
    b->seen = rs->seen;
    rs->objs = NULL;
    rs->nodes = NULL;
    rs->indeg = NULL;
    rs->saved_rc = NULL;
    rs->ebase = NULL;
    rs->seen = NULL;
}

/* Room in the id table for every node. With a reserve, its array, when it is larger: the table moves there
 * without allocating (and touching) anything. A failure here is none yet: side_id grows the table as needed,
 * and fails if it cannot. */
static void side_presize(size_t nodes, ms__heapgraph_reserve *rs)
{
    size_t more = nodes > side.count ? nodes - side.count : 0;
    if ((side.count + more) * 2 <= side.cap)
        return;
    if (rs && rs->side_slots && rs->side_cap > side.cap && (side.count + more) * 2 <= rs->side_cap) {
        msc_ht_grow_into(&side, &side_type, rs->side_slots, rs->side_cap);
        rs->side_slots = NULL;
        return;
    }
    presize(&side, &side_type, more);
}

/* ---- The build -------------------------------------------------------------------------------------------------- */

static void builder_init(builder *b)
{
    memset(b, 0, sizeof *b);
    b->bytes = (msc_buf)MSC_BUF_INIT;
    b->scratch = (msc_buf)MSC_BUF_INIT;
    b->strings = b->types = (msc_hashtable)MSC_HASHTABLE_INIT;
    b->list_t = ms_list_type();
    b->dict_t = ms_dict_type();
    b->weakref_t = ms_weakref_type();
    for (size_t i = 0; i < REF_NAMES_CACHED; i++)
        b->ref_names[i] = NONE;
    uint32_t *zero = msc_array_push(&b->offsets, &b->noff, &b->offcap, sizeof *zero);
    if (!zero) {
        fail(b, -ENOMEM);
        return;
    }
    *zero = 0;
    intern_cstr(b, "<dummy>"); /* strings[0], V8's convention */
    b->s_roots = intern_cstr(b, "(roots)");
    b->s_unreachable = intern_cstr(b, "(unreachable)");
    b->s_weak = intern_cstr(b, "<weak>");
    b->s_key = intern_cstr(b, "<key>");
}

static void builder_free(builder *b)
{
    if (!b)
        return;
    free(b->objs);
    free(b->nodes);
    free(b->indeg);
    free(b->saved_rc);
    free(b->ebase);
    free(b->seen);
    free(b->labelled);
    free(b->offsets);
    msc_buf_free(&b->bytes);
    msc_buf_free(&b->scratch);
    msc_ht_free(&b->strings, &str_type);
    msc_ht_free(&b->types, &ptr_type);
    for (size_t i = 0; i < b->ninfos; i++)
        free(b->infos[i]);
    free(b->infos);
    free(b);
}

int ms__heapgraph_build(ms__heapgraph_reserve *rs, ms__heapgraph **out)
{
    *out = NULL;
    gc_head *lists[MS__GC_NLISTS];
    int rc = ms__gc_lists(lists);
    if (rc)
        return rc;
    ms__heapgraph *hg = calloc(1, sizeof *hg);
    builder *b = malloc(sizeof *b);
    if (!hg || !b) {
        free(hg);
        free(b);
        return -ENOMEM;
    }
    builder_init(b);
    if (rs) {
        take_reserve(b, rs);
    } else { /* the last graph's sizes, best effort: the next one is likely alike */
        size_t ln = last_nodes, le = last_edges;
        b->room = last_front + 64;
        (void)nodes_reserve(b, ln);
        if (le + b->room <= MSC_HG_EDGES_MAX && (b->ebase = malloc((b->room + le) * sizeof *b->ebase)) != NULL)
            b->ecap = le;
    }
    if (!b->rc && add_node(b, NULL) != NONE) /* 0 and 1: filled by finish() */
        add_node(b, NULL);
    if (!b->rc)
        walk(b, lists);
    if (!b->rc)
        side_presize(b->nn, rs);
    close_walk(b, !b->rc);
    last_side_count = side.count;
    last_side_cap = side.cap;
    if ((rc = b->rc) != 0) {
        builder_free(b);
        free(hg);
        return rc;
    }
    last_nodes = b->nn;
    last_edges = b->ne;
    hg->walk = b;
    *out = hg;
    return 0;
}

int ms__heapgraph_finish(ms__heapgraph *hg)
{
    if (!hg->walk)
        return 0;
    int rc = finish(hg->walk, hg);
    builder_free(hg->walk);
    hg->walk = NULL;
    return rc;
}

void ms__heapgraph_free(ms__heapgraph *hg)
{
    if (!hg)
        return;
    builder_free(hg->walk);
    free(hg->nodes);
    free(hg->edges);
    free(hg->string_offsets);
    free(hg->string_bytes);
    free(hg);
}

/* ---- ms_heapsnapshot_write ----------------------------------------------------------------------------------- */

static int write_fd(void *ctx, const void *bytes, size_t n)
{
    int fd = *(int *)ctx;
    const char *p = bytes;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int ms_heapsnapshot_write(const char *path)
{
    if (!path || !*path)
        return -EINVAL;
    ms__heapgraph *hg;
    int rc = ms__heapgraph_build(NULL, &hg);
    if (rc == 0)
        rc = ms__heapgraph_finish(hg);
    if (rc) {
        ms__heapgraph_free(hg);
        return rc;
    }
    size_t n = strlen(path);
    char *tmp = malloc(n + sizeof ".tmp");
    if (!tmp) {
        ms__heapgraph_free(hg);
        return -ENOMEM;
    }
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", sizeof ".tmp");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        rc = -errno;
    } else {
        rc = msc_hg_write_v8(&hg->g, write_fd, &fd);
        if (rc == 0 && fsync(fd) != 0)
            rc = -errno;
        if (close(fd) != 0 && rc == 0)
            rc = -errno;
        if (rc == 0 && rename(tmp, path) != 0)
            rc = -errno;
        if (rc != 0)
            unlink(tmp);
    }
    free(tmp);
    ms__heapgraph_free(hg);
    return rc;
}
