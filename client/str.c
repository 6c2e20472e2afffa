/*
 * str.c — the str type: immutable byte strings stored inline (CPython's compact ASCII str, without encodings).
 *
 * Entry point: ms_str_new_len_at().
 *
 * Layout: one block, header and characters together, as CPython's PyASCIIObject:
 *
 *     +---------+-----------+--------+--------+-----------------------+----+
 *     | refcnt  | type_bits | length | hash   | length bytes          | \0 |
 *     +---------+-----------+--------+--------+-----------------------+----+
 *     <--------------- sizeof(str_object) = 32 ---------------------->
 *
 * ms_sizeof(s) = 32 + length + 1 is exactly the block size requested from the allocator, so the seed's
 * "small objects (< 256 bytes) come from pools, large ones from the system" shows through strs: a str of
 * ms_sizeof 255 is pooled, one of 256 is not.
 *
 * Invariants: data[length] == '\0'; hash == ms_str_hash_bytes(data, length), computed once at creation (a str never
 * changes, and computing it while the bytes are hot in cache costs little).
 */
#include <errno.h>
#include <string.h>

#include <memscope/builtins.h>
#include <memscope/mem.h>
#include <memscope/object.h>

#include "hashtable.h"
#include "internal.h"

typedef struct str_object {
    MS_OBJECT_HEAD;
    size_t length;
    uint64_t hash;
    char data[]; /* length + 1 bytes */
} str_object;

static size_t str_size_extra(const ms_object *self) { return ((const str_object *)self)->length + 1; }

MS__BUILTIN_TYPE(str_type, ms_str_type, is_str,
    .name = "str",
    .size = sizeof(str_object),
    .flags = MS_TYPE_VAR,
    .size_extra = str_size_extra);

/* The library's one byte-string hash (hashtable.h), whose every output bit depends on every byte, so that the
 * low bits that dict's power-of-two table uses first are as good as the high ones. Not keyed: dicts here are not
 * exposed to hostile input. O(n). */
uint64_t ms_str_hash_bytes(const char *s, size_t n) { return msc_hash_bytes(s, n, 0); }

ms_object *ms_str_new_len_at(const char *s, size_t n, const char *file, int line)
{
    if (!s && n) {
        errno = EINVAL;
        return NULL;
    }
    if (n > SIZE_MAX - sizeof(str_object) - 1) {
        errno = ENOMEM;
        return NULL;
    }
    /* One block: the header, then the characters (CPython's compact str). */
    str_object *o = (str_object *)ms_new_var_at(&str_type, n + 1, file, line);
    if (!o)
        return NULL; /* errno set by ms_new_var_at */
    if (n)
        memcpy(o->data, s, n);
    o->data[n] = '\0';
    o->length = n;
    o->hash = ms_str_hash_bytes(o->data, n);
    return &o->ob_base;
}

ms_object *(ms_str_new_len)(const char *s, size_t n) { return ms_str_new_len_at(s, n, NULL, 0); }

ms_object *ms_str_new_at(const char *s, const char *file, int line)
{
    if (!s) {
        errno = EINVAL;
        return NULL;
    }
    return ms_str_new_len_at(s, strlen(s), file, line);
}

ms_object *(ms_str_new)(const char *s) { return ms_str_new_at(s, NULL, 0); }

const char *ms_str_data(const ms_object *o) { return is_str(o) ? ((const str_object *)o)->data : NULL; }

ssize_t ms_str_len(const ms_object *o)
{
    return is_str(o) ? (ssize_t)((const str_object *)o)->length : -EINVAL;
}

uint64_t ms_str_hash(const ms_object *o) { return is_str(o) ? ((const str_object *)o)->hash : 0; }

bool ms_str_equal(const ms_object *a, const ms_object *b)
{
    if (!is_str(a) || !is_str(b))
        return false;
    if (a == b)
        return true;
    const str_object *x = (const str_object *)a, *y = (const str_object *)b;
    return x->length == y->length && x->hash == y->hash && memcmp(x->data, y->data, x->length) == 0;
}
