/*
 * test_builtins.c — int, str, list and dict: values, ownership (who holds which reference after each call),
 * errors, CPython-compatible sizes and growth, reentrancy of the calls that drop references, collection of cycles
 * through lists and dicts, and attribution of every allocation to the caller's line.
 *
 * "Freed" is observed through weak references and the live object count, never by reading freed memory. Each
 * test ends by checking that live objects and heap blocks are back to where they were when it started.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#include "helpers.h"
#include "leakcheck.h"

/* Every CHECKED_TEST ends with the live objects and heap blocks back where they were (leakcheck.h). */
LEAK_START
static void no_leaks(void) { leak_check(leak_start); }
TestSuite(builtins, .init = leak_start_take);
TestSuite(int, .init = leak_start_take);
TestSuite(str, .init = leak_start_take);
TestSuite(list, .init = leak_start_take);
TestSuite(dict, .init = leak_start_take);

/* ---- Helpers ------------------------------------------------------------------------------------------------ */

/* ---- int ------------------------------------------------------------------------------------------------------ */

CHECKED_TEST(int, values_round_trip)
{
    const long values[] = {LONG_MIN, -1000, -6, -5, -1, 0, 1, 256, 257, 1000, LONG_MAX};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        ms_object *o = ms_int_new(values[i]);
        cr_assert_not_null(o);
        cr_expect(ms_int_check(o));
        cr_expect_eq(ms_int_value(o), values[i]);
        cr_expect_str_eq(ms_type_name(o), "int");
        cr_expect_not(ms_gc_is_tracked(o), "ints hold no references and are not tracked");
        ms_decref(o);
    }
}

CHECKED_TEST(int, small_cache_boundaries_and_counts)
{
    ms_object *lo = ms_int_new(MS_SMALL_INT_MIN), *hi = ms_int_new(MS_SMALL_INT_MAX);
    intptr_t lo_count = ms_refcount(lo);
    ms_object *lo2 = ms_int_new(MS_SMALL_INT_MIN);
    cr_expect_eq(lo2, lo);
    cr_expect_eq(ms_refcount(lo), lo_count + 1, "a cached int gains a reference per ms_int_new");
    ms_decref(lo2);
    cr_expect_eq(ms_refcount(lo), lo_count);
    /* Cached ints allocate nothing: no object, no block. */
    cr_expect_eq(leak_baseline_take().pool_blocks, leak_start.pool_blocks);
    cr_expect_eq(leak_baseline_take().objects, leak_start.objects);
    ms_object *out = ms_int_new(MS_SMALL_INT_MAX + 1);
    cr_expect_eq(objects_alive(), leak_start.objects + 1, "257 is a new object");
    cr_expect_eq(ms_sizeof(out), 24, "header + long");
    ms_decref(out);
    ms_decref(lo);
    ms_decref(hi);
}

Test(int, value_of_non_int)
{
    ms_object *s = ms_str_new("7");
    errno = 0;
    cr_expect_eq(ms_int_value(s), 0);
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(ms_int_value(NULL), 0);
    cr_expect_eq(errno, EINVAL);
    ms_decref(s);
}

/* ---- str ------------------------------------------------------------------------------------------------------ */

CHECKED_TEST(str, contents_length_hash)
{
    ms_object *a = ms_str_new("hello"), *b = ms_str_new("hello"), *c = ms_str_new("hellp");
    cr_assert(a && b && c);
    cr_expect(ms_str_check(a));
    cr_expect_str_eq(ms_str_data(a), "hello");
    cr_expect_eq(ms_str_len(a), 5);
    cr_expect_neq(a, b, "strs are not interned");
    cr_expect(ms_str_equal(a, b));
    cr_expect_not(ms_str_equal(a, c));
    cr_expect_eq(ms_str_hash(a), ms_str_hash(b));
    cr_expect_eq(ms_str_hash(a), ms_str_hash_bytes("hello", 5));
    cr_expect_neq(ms_str_hash(a), ms_str_hash(c), "one changed byte changes the hash");
    cr_expect_eq(ms_sizeof(a), 32 + 5 + 1, "header, length, hash, bytes, NUL");

    /* Embedded NULs are kept. */
    ms_object *z = ms_str_new_len("a\0b", 3);
    cr_assert_not_null(z);
    cr_expect_eq(ms_str_len(z), 3);
    cr_expect_eq(memcmp(ms_str_data(z), "a\0b", 4), 0, "3 bytes and the terminating NUL");
    ms_object *e = ms_str_new_len(NULL, 0);
    cr_assert_not_null(e);
    cr_expect_eq(ms_str_len(e), 0);
    cr_expect_str_eq(ms_str_data(e), "");

    ms_decref(a);
    ms_decref(b);
    ms_decref(c);
    ms_decref(z);
    ms_decref(e);
}

Test(str, errors)
{
    errno = 0;
    cr_expect_null(ms_str_new(NULL));
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_null(ms_str_new_len(NULL, 1));
    cr_expect_eq(errno, EINVAL);
    ms_object *i = ms_int_new(3);
    cr_expect_null(ms_str_data(i));
    cr_expect_eq(ms_str_len(i), -EINVAL);
    cr_expect_not(ms_str_equal(i, i), "an int is not a str, even compared to itself");
}

CHECKED_TEST(str, long_strings)
{
    size_t n = 100000;
    char *buf = malloc(n + 1);
    cr_assert_not_null(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + i % 26);
    buf[n] = '\0';
    ms_object *s = ms_str_new(buf);
    cr_assert_not_null(s);
    cr_expect_eq(ms_str_len(s), (ssize_t)n);
    cr_expect_eq(memcmp(ms_str_data(s), buf, n + 1), 0);
    cr_expect_not(ms_mem_is_pooled(s));
    ms_decref(s);
    free(buf);
}

/* ---- list ----------------------------------------------------------------------------------------------------- */

CHECKED_TEST(list, append_get_len_and_ownership)
{
    ms_object *l = ms_list_new();
    cr_assert_not_null(l);
    cr_expect(ms_list_check(l));
    cr_expect(ms_gc_is_tracked(l), "lists are tracked from creation");
    cr_expect_eq(ms_list_len(l), 0);
    cr_expect_null(ms_list_get(l, 0));

    ms_object *x = ms_int_new(1000);
    cr_expect_eq(ms_list_append(l, x), 0);
    cr_expect_eq(ms_refcount(x), 2, "append takes its own reference");
    cr_expect_eq(ms_list_append(l, x), 0);
    cr_expect_eq(ms_refcount(x), 3);
    cr_expect_eq(ms_list_len(l), 2);
    cr_expect_eq(ms_list_get(l, 1), x);
    cr_expect_eq(ms_refcount(x), 3, "get is borrowed");
    cr_expect_null(ms_list_get(l, 2));

    ms_weakref *wx = watch(x);
    ms_decref(x);
    cr_expect_not(dead(wx), "the list keeps the item alive");
    ms_decref(l);
    cr_expect(dead(wx), "freeing the list releases its items");
    ms_decref((ms_object *)wx);
}

CHECKED_TEST(list, append_take)
{
    ms_object *l = ms_list_new();
    ms_object *x = ms_int_new(5000);
    cr_expect_eq(ms_list_append_take(l, x), 0);
    cr_expect_eq(ms_refcount(x), 1, "the caller's reference went to the list");
    cr_expect_eq(ms_list_append_take(l, NULL), -ENOMEM, "a failed constructor's NULL is reported as ENOMEM");
    ms_object *y = ms_int_new(6000);
    ms_weakref *wy = watch(y);
    cr_expect_eq(ms_list_append_take(ms_int_new(1), y), -EINVAL, "not a list");
    cr_expect(dead(wy), "on failure the stolen item is released");
    cr_expect_eq(ms_list_len(l), 1);
    ms_decref((ms_object *)wy);
    ms_decref(l);
}

CHECKED_TEST(list, set_replaces_and_drops_old)
{
    ms_object *l = ms_list_new();
    ms_object *old = ms_int_new(1001), *neu = ms_int_new(1002);
    cr_assert_eq(ms_list_append(l, old), 0);
    ms_weakref *wold = watch(old);
    ms_decref(old);
    cr_expect_eq(ms_list_set(l, 0, neu), 0);
    cr_expect(dead(wold), "the list's reference to the old item was the last one");
    cr_expect_eq(ms_list_get(l, 0), neu);
    cr_expect_eq(ms_refcount(neu), 2, "set takes its own reference");
    cr_expect_eq(ms_list_set(l, 1, neu), -ERANGE);
    cr_expect_eq(ms_list_set(l, 0, NULL), -EINVAL);
    cr_expect_eq(ms_list_set(neu, 0, neu), -EINVAL);
    cr_expect_eq(ms_refcount(neu), 2, "failed calls take no reference");
    /* Setting the item already there must not free it in between. */
    ms_decref(neu);
    cr_expect_eq(ms_list_set(l, 0, ms_list_get(l, 0)), 0);
    cr_expect_eq(ms_int_value(ms_list_get(l, 0)), 1002);
    ms_decref((ms_object *)wold);
    ms_decref(l);
}

CHECKED_TEST(list, pop_and_clear)
{
    ms_object *l = ms_list_new();
    for (long i = 0; i < 10; i++)
        cr_assert_eq(ms_list_append_take(l, ms_int_new(1000 + i)), 0);
    ms_object *last = ms_list_pop(l);
    cr_expect_eq(ms_int_value(last), 1009);
    cr_expect_eq(ms_refcount(last), 1, "pop hands the list's reference over");
    cr_expect_eq(ms_list_len(l), 9);
    ms_decref(last);
    uint64_t alive = objects_alive();
    ms_list_clear(l);
    cr_expect_eq(ms_list_len(l), 0);
    cr_expect_eq(objects_alive(), alive - 9);
    ms_object *empty = ms_list_new();
    cr_expect_eq(ms_sizeof(l), ms_sizeof(empty), "clear frees the item array");
    ms_decref(empty);
    cr_expect_null(ms_list_pop(l));
    cr_expect_eq(ms_list_append_take(l, ms_int_new(7)), 0, "a cleared list is usable");
    cr_expect_eq(ms_list_len(l), 1);
    ms_decref(l);
}

/*
 * Capacities follow CPython 3.11's list_resize (0, 4, 8, 16, 24, 32, 40, 52, 64, 76, 92: read off
 * sys.getsizeof() = 56 + 8 * capacity while appending). memscope keeps the first 2 items inside the object (one
 * 64-byte block with the GC header), so ms_sizeof() is 64 for 0 to 2 items; the 3rd append moves them to a
 * separate array of 8 slots (CPython's formula for 3 items), and from 5 items on the capacity is CPython's.
 */
CHECKED_TEST(list, sizes_and_growth)
{
    ms_object *l = ms_list_new();
    const size_t fixed = 16 + 48; /* GC header + {header, len, cap, 2 inline slots | items} */
    cr_expect_eq(ms_sizeof(l), fixed);
    const struct {
        size_t len;
        size_t cpython_getsizeof;
    } expect[] = {{1, 88},  {2, 88},  {3, 88},  {4, 88},  {5, 120}, {8, 120}, {9, 184},
                  {17, 248}, {25, 312}, {33, 376}, {41, 472}, {53, 568}, {65, 664}, {77, 792}};
    size_t k = 0;
    for (size_t n = 1; n <= 77; n++) {
        cr_assert_eq(ms_list_append_take(l, ms_int_new(0)), 0);
        if (k < sizeof expect / sizeof *expect && expect[k].len == n) {
            size_t cpython_cap = (expect[k].cpython_getsizeof - 56) / 8;
            size_t want = n <= 2 ? fixed : n <= 4 ? fixed + 8 * 8 : fixed + 8 * cpython_cap;
            cr_expect_eq(ms_sizeof(l), want, "ms_sizeof after %zu appends (CPython capacity %zu)", n, cpython_cap);
            k++;
        }
    }
    cr_expect_eq(k, sizeof expect / sizeof *expect);
    for (size_t i = 0; i < 77; i++)
        cr_assert_eq(ms_int_value(ms_list_get(l, i)), 0);
    ms_decref(l);
}

/* Inline slots: one block for up to 2 items; the 3rd append moves the items to a separate array, in order, and a
 * cleared list uses its inline slots again. */
CHECKED_TEST(list, inline_items_move_out_in_order)
{
    ms_object *l = ms_list_new();
    for (long i = 0; i < 2; i++)
        cr_assert_eq(ms_list_append_take(l, ms_int_new(1000 + i)), 0);
    ms_heap_stats hs;
    ms_heap_stats_get(&hs);
    uint64_t blocks = hs.blocks_in_use + hs.system_blocks_in_use;
    cr_expect_eq(blocks, leak_start.pool_blocks + leak_start.system_blocks + 1 + 2, "the list (one block) and 2 ints");
    cr_assert_eq(ms_list_append_take(l, ms_int_new(1002)), 0);
    ms_heap_stats_get(&hs);
    blocks = hs.blocks_in_use + hs.system_blocks_in_use;
    cr_expect_eq(blocks, leak_start.pool_blocks + leak_start.system_blocks + 1 + 1 + 3, "the list, its array and 3 ints");
    for (long i = 3; i < 20; i++)
        cr_assert_eq(ms_list_append_take(l, ms_int_new(1000 + i)), 0);
    for (size_t i = 0; i < 20; i++)
        cr_expect_eq(ms_int_value(ms_list_get(l, i)), 1000 + (long)i);
    ms_list_clear(l);
    cr_expect_eq(ms_list_len(l), 0);
    for (long i = 0; i < 2; i++)
        cr_assert_eq(ms_list_append_take(l, ms_int_new(2000 + i)), 0);
    cr_expect_eq(ms_int_value(ms_list_get(l, 1)), 2001, "a cleared list uses its inline slots again");
    ms_heap_stats_get(&hs);
    blocks = hs.blocks_in_use + hs.system_blocks_in_use;
    cr_expect_eq(blocks, leak_start.pool_blocks + leak_start.system_blocks + 1 + 2, "no array after clear");
    ms_object *last = ms_list_pop(l);
    cr_expect_eq(ms_int_value(last), 2001, "pop reads the inline slots");
    ms_decref(last);
    ms_decref(l);
}

Test(list, errors)
{
    ms_object *i = ms_int_new(1);
    cr_expect_eq(ms_list_append(i, i), -EINVAL);
    cr_expect_eq(ms_list_append(NULL, i), -EINVAL);
    ms_object *l = ms_list_new();
    cr_expect_eq(ms_list_append(l, NULL), -EINVAL);
    cr_expect_eq(ms_list_len(i), -EINVAL);
    cr_expect_null(ms_list_get(i, 0));
    cr_expect_null(ms_list_pop(i));
    ms_list_clear(i); /* no-op */
    ms_decref(l);
}

/* A list that contains itself: l.append(l); del l; gc.collect() == 1. */
CHECKED_TEST(list, self_cycle_is_collected)
{
    ms_object *l = ms_list_new();
    cr_assert_eq(ms_list_append(l, l), 0);
    ms_object *referents[2];
    cr_expect_eq(ms_gc_get_referents(l, referents, 2), 1);
    cr_expect_eq(referents[0], l);
    ms_weakref *w = watch(l);
    ms_decref(l);
    cr_expect_not(dead(w));
    cr_expect_eq(ms_gc_collect(2), 1);
    cr_expect(dead(w));
    ms_decref((ms_object *)w);
}

/* ---- Reentrancy: a dropped reference may run code that looks at the container ------------------------------- */

/* An object whose finalizer records what the container looked like when the object died. */
typedef struct spy {
    MS_OBJECT_HEAD;
} spy;

static struct {
    ms_object *container;
    ms_object *key; /* for dicts */
    bool ran;
    ssize_t len_seen;
    ms_object *item0_seen;
    ms_object *value_seen;
} spy_log;

static void spy_finalize(ms_object *self)
{
    (void)self;
    spy_log.ran = true;
    if (ms_list_check(spy_log.container)) {
        spy_log.len_seen = ms_list_len(spy_log.container);
        spy_log.item0_seen = ms_list_get(spy_log.container, 0);
    } else {
        spy_log.len_seen = ms_dict_len(spy_log.container);
        spy_log.value_seen = ms_dict_get(spy_log.container, spy_log.key);
    }
}

static const ms_type spy_type = {.name = "spy", .size = sizeof(spy), .finalize = spy_finalize};

CHECKED_TEST(list, old_item_dies_after_the_list_is_consistent)
{
    ms_object *l = ms_list_new();
    ms_object *s = ms_new(&spy_type);
    cr_assert_not_null(s);
    cr_assert_eq(ms_list_append_take(l, s), 0);
    ms_object *neu = ms_int_new(4242);
    spy_log.container = l;
    cr_assert_eq(ms_list_set(l, 0, neu), 0);
    cr_expect(spy_log.ran);
    cr_expect_eq(spy_log.item0_seen, neu, "when the old item dies, the list already holds the new one");
    ms_decref(neu);
    ms_decref(l);
}

/* An object whose finalizer appends a new item to the list being cleared: clear must still end empty. */
static int appender_runs;
static void appender_finalize(ms_object *self)
{
    (void)self;
    if (appender_runs++ < 3)
        cr_assert_eq(ms_list_append_take(spy_log.container, ms_int_new(7000 + appender_runs)), 0);
}
static const ms_type appender_type = {.name = "appender", .size = sizeof(spy), .finalize = appender_finalize};

static void clear_with_appenders(size_t items)
{
    leak_baseline base = leak_baseline_take();
    ms_object *l = ms_list_new();
    for (size_t i = 0; i < items; i++) {
        ms_object *a = ms_new(&appender_type);
        cr_assert_not_null(a);
        cr_assert_eq(ms_list_append_take(l, a), 0);
    }
    spy_log.container = l;
    appender_runs = 0;
    ms_list_clear(l);
    cr_expect_eq(appender_runs, (int)items, "every item died");
    cr_expect_eq(ms_list_len(l), 0, "items appended by finalizers during clear were dropped too");
    ms_decref(l);
    leak_check(base);
}

Test(list, clear_survives_appends_from_finalizers_inline) { clear_with_appenders(3); }
Test(list, clear_survives_appends_from_finalizers_separate) { clear_with_appenders(10); }

CHECKED_TEST(dict, old_value_dies_after_the_dict_is_consistent)
{
    ms_object *d = ms_dict_new();
    ms_object *k = ms_str_new("k");
    ms_object *s = ms_new(&spy_type);
    cr_assert(d && k && s);
    cr_assert_eq(ms_dict_set(d, k, s), 0);
    ms_decref(s);
    spy_log.container = d;
    spy_log.key = k;
    cr_assert_eq(ms_dict_del(d, k), 0);
    cr_expect(spy_log.ran);
    cr_expect_eq(spy_log.len_seen, 0, "the item is gone before its value dies");
    cr_expect_null(spy_log.value_seen);
    ms_decref(k);
    ms_decref(d);
}

/* ---- dict ----------------------------------------------------------------------------------------------------- */

CHECKED_TEST(dict, set_get_del_by_value)
{
    ms_object *d = ms_dict_new();
    cr_assert_not_null(d);
    cr_expect(ms_dict_check(d));
    cr_expect(ms_gc_is_tracked(d));
    cr_expect_eq(ms_dict_len(d), 0);

    ms_object *k1 = ms_int_new(1000), *k1b = ms_int_new(1000);
    ms_object *ks = ms_str_new("name"), *ksb = ms_str_new("name");
    ms_object *v1 = ms_str_new("one thousand"), *v2 = ms_list_new();
    cr_assert(k1 && k1b && ks && ksb && v1 && v2);
    cr_expect_eq(ms_dict_set(d, k1, v1), 0);
    cr_expect_eq(ms_refcount(k1), 2, "a new key is referenced by the dict");
    cr_expect_eq(ms_refcount(v1), 2);
    cr_expect_eq(ms_dict_set(d, ks, v2), 0);
    cr_expect_eq(ms_dict_len(d), 2);
    cr_expect_eq(ms_dict_get(d, k1b), v1, "int keys compare by value");
    cr_expect_eq(ms_dict_get(d, ksb), v2, "str keys compare by value");
    cr_expect_eq(ms_dict_get_str(d, "name"), v2);
    cr_expect_null(ms_dict_get_str(d, "nam"));
    cr_expect_eq(ms_refcount(v1), 2, "get is borrowed");

    /* Replacing keeps the first key object (as CPython) and swaps the value. */
    cr_expect_eq(ms_dict_set(d, k1b, v2), 0);
    cr_expect_eq(ms_dict_len(d), 2);
    cr_expect_eq(ms_refcount(v1), 1, "the replaced value lost the dict's reference");
    cr_expect_eq(ms_refcount(k1b), 1, "an existing key is not replaced");
    cr_expect_eq(ms_dict_get(d, k1), v2);

    cr_expect_eq(ms_dict_del(d, k1b), 0);
    cr_expect_eq(ms_refcount(k1), 1, "del drops the dict's key reference");
    cr_expect_eq(ms_dict_del(d, k1b), -ENOENT);
    cr_expect_null(ms_dict_get(d, k1));
    cr_expect_eq(ms_dict_len(d), 1);

    ms_object *objs[] = {k1, k1b, ks, ksb, v1, v2};
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++)
        ms_decref(objs[i]);
    ms_decref(d);
}

Test(dict, errors)
{
    ms_object *d = ms_dict_new(), *l = ms_list_new(), *k = ms_int_new(1);
    cr_expect_eq(ms_dict_set(d, l, k), -EINVAL, "a list is not a valid key (unhashable)");
    cr_expect_eq(ms_dict_set(d, k, NULL), -EINVAL);
    cr_expect_eq(ms_dict_set(d, NULL, k), -EINVAL);
    cr_expect_eq(ms_dict_set(l, k, k), -EINVAL);
    cr_expect_null(ms_dict_get(d, l));
    cr_expect_null(ms_dict_get(l, k));
    cr_expect_eq(ms_dict_del(d, k), -ENOENT);
    cr_expect_eq(ms_dict_del(d, l), -EINVAL);
    cr_expect_eq(ms_dict_len(l), -EINVAL);
    cr_expect_eq(ms_refcount(l), 1, "failed calls take no reference");
    ms_decref(d);
    ms_decref(l);
    ms_decref(k);
}

/* Random inserts, replacements and deletes against a plain array model, then the insertion order. */
CHECKED_TEST(dict, randomized_against_model)
{
    enum { KEYS = 3000, OPS = 60000 };
    static long model[KEYS];   /* value + 1, 0 = absent */
    static long order[KEYS];   /* insertion counter of the live key */
    ms_object *d = ms_dict_new();
    srand(12345);
    long counter = 0;
    for (int op = 0; op < OPS; op++) {
        int k = rand() % KEYS;
        bool str = k % 2; /* odd keys as strs, even keys as ints */
        char name[32];
        snprintf(name, sizeof name, "key-%d", k);
        ms_object *key = str ? ms_str_new(name) : ms_int_new(k * 7919L - 5);
        cr_assert_not_null(key);
        if (rand() % 3) {
            long v = rand();
            ms_object *value = ms_int_new(v);
            cr_assert_not_null(value);
            cr_assert_eq(ms_dict_set(d, key, value), 0);
            ms_decref(value);
            if (!model[k])
                order[k] = counter++;
            model[k] = v + 1;
        } else {
            int rc = ms_dict_del(d, key);
            cr_assert_eq(rc, model[k] ? 0 : -ENOENT, "del of key %d", k);
            model[k] = 0;
        }
        ms_decref(key);
    }
    size_t live = 0;
    for (int k = 0; k < KEYS; k++) {
        char name[32];
        snprintf(name, sizeof name, "key-%d", k);
        ms_object *key = k % 2 ? ms_str_new(name) : ms_int_new(k * 7919L - 5);
        ms_object *v = ms_dict_get(d, key);
        if (model[k]) {
            live++;
            cr_assert_not_null(v, "key %d present", k);
            cr_assert_eq(ms_int_value(v), model[k] - 1);
        } else {
            cr_assert_null(v, "key %d absent", k);
        }
        ms_decref(key);
    }
    cr_expect_eq(ms_dict_len(d), (ssize_t)live);
    /* Iteration visits every live item once, in insertion order. */
    size_t pos = 0, seen = 0;
    long last_order = -1;
    ms_object *key, *value;
    while (ms_dict_next(d, &pos, &key, &value)) {
        int k;
        if (ms_str_check(key))
            cr_assert_eq(sscanf(ms_str_data(key), "key-%d", &k), 1);
        else
            k = (int)((ms_int_value(key) + 5) / 7919);
        cr_assert(model[k]);
        cr_assert_eq(ms_int_value(value), model[k] - 1);
        cr_assert_gt(order[k], last_order, "insertion order");
        last_order = order[k];
        seen++;
    }
    cr_expect_eq(seen, live);
    ms_decref(d);
}

CHECKED_TEST(dict, clear_and_cycle)
{
    ms_object *d = ms_dict_new();
    ms_object *k = ms_str_new("self");
    cr_assert_eq(ms_dict_set(d, k, d), 0, "d['self'] = d");
    ms_weakref *w = watch(d);
    ms_object *referents[4];
    cr_expect_eq(ms_gc_get_referents(d, referents, 4), 2, "a dict visits its keys and values");
    ms_decref(d);
    cr_expect_not(dead(w));
    cr_expect_eq(ms_gc_collect(2), 1, "the dict is the only tracked garbage (the key is an untracked str)");
    cr_expect(dead(w));
    ms_decref((ms_object *)w);

    d = ms_dict_new();
    for (long i = 0; i < 100; i++) {
        ms_object *key = ms_int_new(i * 1000);
        cr_assert_eq(ms_dict_set(d, key, k), 0);
        ms_decref(key);
    }
    cr_expect_eq(ms_refcount(k), 101);
    size_t big = ms_sizeof(d);
    ms_dict_clear(d);
    cr_expect_eq(ms_dict_len(d), 0);
    cr_expect_eq(ms_refcount(k), 1);
    cr_expect_lt(ms_sizeof(d), big, "clear frees the table");
    cr_expect_eq(ms_dict_set(d, k, k), 0, "a cleared dict is usable");
    ms_decref(d);
    ms_decref(k);
}

/* ---- Tracing: every block a builtin allocates is charged to the caller's line ----------------------------- */

/* The seed's  a = [i for i in range(100000)]  then tracemalloc's top statistic is that line. */
CHECKED_TEST(builtins, allocations_are_attributed_to_the_caller_line)
{
    cr_assert_eq(ms_trace_start(1), 0);
    const int n = 100000;
    ms_object *a = ms_list_new(); for (long i = 0; i < n; i++) cr_assert_eq(ms_list_append_take(a, ms_int_new(i)), 0);
    int line = __LINE__ - 1;
    ms_object *d = ms_dict_new();
    int dline = __LINE__ + 2;
    for (size_t i = 0; i < 1000; i++) {
        ms_object *v = ms_str_new("v"); cr_assert_eq(ms_dict_set(d, ms_list_get(a, i + 1000), v), 0); ms_decref(v);
    }
    ms_snapshot *snap = ms_trace_take_snapshot();
    cr_assert_not_null(snap);
    ms_stat *stats = NULL;
    size_t nstats = ms_snapshot_statistics(snap, MS_STAT_LINENO, false, &stats);
    cr_assert_gt(nstats, 0);
    cr_expect_str_eq(stats[0].filename, __FILE__);
    cr_expect_eq(stats[0].lineno, line, "the top line is the one that built the list");
    /* The list object, its item array (one block, however many times it grew) and the non-cached ints. */
    size_t ints = (size_t)n - (MS_SMALL_INT_MAX + 1);
    cr_expect_eq(stats[0].count, 1 + 1 + ints);
    ms_object *probe = ms_int_new(1000);
    cr_expect_eq(stats[0].size, ms_sizeof(a) + ints * ms_sizeof(probe),
                 "list header + item array (ms_sizeof(a)) + one int block each");
    ms_decref(probe);
    bool found = false;
    for (size_t i = 0; i < nstats; i++) {
        if (stats[i].lineno == dline) {
            found = true;
            /* 1000 strs "v" and the dict's table (the dict object itself came from another line). */
            cr_expect_eq(stats[i].count, 1000 + 1, "the strs and the dict's table");
        }
    }
    cr_expect(found, "the dict's table growth is charged to the line calling ms_dict_set");
    free(stats);
    ms_snapshot_free(snap);
    ms_trace_stop();
    ms_decref(a);
    ms_decref(d);
}

/* The allocating functions are macros adding the call site; their plain versions can still be named and called. */
CHECKED_TEST(builtins, plain_functions_can_be_taken_by_address)
{
    ms_object *(*int_new)(long) = ms_int_new;
    ms_object *(*str_new)(const char *) = ms_str_new;
    ms_object *(*list_new)(void) = ms_list_new;
    ms_object *(*dict_new)(void) = ms_dict_new;
    int (*list_append)(ms_object *, ms_object *) = ms_list_append;
    int (*list_set)(ms_object *, size_t, ms_object *) = ms_list_set;
    int (*dict_set)(ms_object *, ms_object *, ms_object *) = ms_dict_set;
    ms_object *i = int_new(123456), *s = str_new("k"), *l = list_new(), *d = dict_new();
    cr_assert(i && s && l && d);
    cr_expect_eq(list_append(l, i), 0);
    cr_expect_eq(list_set(l, 0, s), 0);
    cr_expect_eq(dict_set(d, s, i), 0);
    cr_expect_eq(ms_dict_get_str(d, "k"), i);
    cr_expect_eq(ms_list_get(l, 0), s);
    ms_decref(i);
    ms_decref(s);
    ms_decref(l);
    ms_decref(d);
}
