/*
 * snapshot_io.c — ms_snapshot_dump / ms_snapshot_load: the snapshot file format, version 1.
 *
 * The format is specified in docs/TRACE_FORMAT.md; keep the two in step. In short (all integers little-endian):
 *     header   magic "MSTRACE\0", version, flags, file_size, timestamp_ns, traced_peak, traceback_limit,
 *              nstrings, ntraces, reserved                                        (HEADER_SIZE = 56 bytes)
 *     strings  nstrings x { u32 len, len bytes }
 *     traces   ntraces x { u64 size, u64 count, u32 nframes, nframes x { u32 file, u32 function, i32 line } }
 *     trailer  u32 CRC-32 (IEEE, as zlib's crc32) of every byte before it
 * A loader trusts nothing: the file's length must equal file_size, the CRC must match, every count and index is
 * bounds-checked against the bytes that remain, and parsing must end exactly at the trailer. A failure names
 * the first problem found and leaves no half-built snapshot behind.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "buf.h"
#include "trace_internal.h"

#define FORMAT_VERSION 1u
#define HEADER_SIZE 56u
#define NO_STRING UINT32_MAX
#define MAX_FILE_SIZE (UINT64_C(1) << 32) /* a sanity bound for load: 4 GiB */

static const unsigned char magic[8] = {'M', 'S', 'T', 'R', 'A', 'C', 'E', '\0'};

/* zlib's CRC-32 (the IEEE polynomial the format names). crc32() takes a uInt length: feed it in pieces. */
static uint32_t crc32_ieee(const unsigned char *p, size_t n)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)crc;
}

/* ---- Writing ---------------------------------------------------------------------------------------------- */

/* The writer appends to msc_buf byte buffers (common/buf.h); an allocation failure is remembered in `failed`, so
 * that the writing code reads straight through and checks once at the end. */
typedef struct wbuf {
    msc_buf b;
    bool failed;
} wbuf;

static void put_bytes(wbuf *w, const void *p, size_t n)
{
    if (!w->failed && msc_buf_append(&w->b, p, n) < 0)
        w->failed = true;
}

static void put_u32(wbuf *w, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put_bytes(w, x, 4);
}

static void put_u64(wbuf *w, uint64_t v)
{
    put_u32(w, (uint32_t)v);
    put_u32(w, (uint32_t)(v >> 32));
}

static void set_u64(wbuf *w, size_t at, uint64_t v)
{
    unsigned char *d = (unsigned char *)msc_buf_bytes(&w->b);
    for (int i = 0; i < 8; i++)
        d[at + (size_t)i] = (unsigned char)(v >> (8 * i));
}

/* Snapshot strings are interned, so string identity is pointer identity: a pointer -> index map suffices
 * (hashtable.h; the value is the index). */
static const msc_ht_type ids_type = MSC_HT_PTR_TYPE(64, &msc_libc_mem);

typedef struct str_ids {
    msc_hashtable map;
    uint32_t count;
    bool failed; /* out of memory */
} str_ids;

static uint32_t str_id(str_ids *m, wbuf *strings, const char *s)
{
    if (!s)
        return NO_STRING;
    if (msc_ht_reserve(&m->map, &ids_type) < 0) {
        m->failed = true;
        return NO_STRING;
    }
    msc_ht_ptr_slot *slot = msc_ht_ptr_probe(&m->map, &ids_type, s);
    if (slot->key)
        return (uint32_t)(uintptr_t)slot->value;
    *slot = (msc_ht_ptr_slot){s, (void *)(uintptr_t)m->count};
    msc_ht_added(&m->map);
    size_t len = strlen(s);
    put_u32(strings, (uint32_t)len);
    put_bytes(strings, s, len);
    return m->count++;
}

static int write_file(const char *path, const unsigned char *data, size_t len)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    if (!tmp)
        return -ENOMEM;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".XXXXXX", 8);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return -e;
    }
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno != EINTR)
            rc = -errno;
        else if (w > 0)
            off += (size_t)w;
    }
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

int ms_snapshot_dump(const ms_snapshot *s, const char *path)
{
    if (!s || !path)
        return -EINVAL;
    int rc = ms__snapshot_symbolize(s);
    if (rc)
        return rc;
    str_ids ids = {MSC_HASHTABLE_INIT, 0, false};
    wbuf strings = {MSC_BUF_INIT, false}, traces = {MSC_BUF_INIT, false}, out = {MSC_BUF_INIT, false};
    for (size_t i = 0; i < s->ntraces; i++) {
        const ms__snap_trace *t = &s->traces[i];
        put_u64(&traces, t->size);
        put_u64(&traces, t->count);
        put_u32(&traces, (uint32_t)t->tb->nframes);
        for (size_t j = 0; j < t->tb->nframes; j++) {
            const ms_frame *f = &t->tb->frames[j];
            put_u32(&traces, str_id(&ids, &strings, f->filename));
            put_u32(&traces, str_id(&ids, &strings, f->function));
            put_u32(&traces, (uint32_t)f->lineno);
        }
    }
    put_bytes(&out, magic, sizeof magic);
    put_u32(&out, FORMAT_VERSION);
    put_u32(&out, 0); /* flags */
    put_u64(&out, 0); /* file_size, set below */
    put_u64(&out, s->timestamp_ns);
    put_u64(&out, s->traced_peak);
    put_u32(&out, (uint32_t)s->traceback_limit);
    put_u32(&out, ids.count);
    put_u32(&out, (uint32_t)s->ntraces);
    put_u32(&out, 0); /* reserved */
    MS_ASSERT_1(out.failed || out.b.len == HEADER_SIZE);
    put_bytes(&out, msc_buf_bytes(&strings.b), strings.b.len);
    put_bytes(&out, msc_buf_bytes(&traces.b), traces.b.len);
    if (out.failed || strings.failed || traces.failed || ids.failed) {
        rc = -ENOMEM;
        goto done;
    }
    set_u64(&out, 16, out.b.len + 4);
    put_u32(&out, crc32_ieee((const unsigned char *)msc_buf_bytes(&out.b), out.b.len));
    rc = out.failed ? -ENOMEM : write_file(path, (const unsigned char *)msc_buf_bytes(&out.b), out.b.len);

done:
    msc_ht_free(&ids.map, &ids_type);
    msc_buf_free(&strings.b);
    msc_buf_free(&traces.b);
    msc_buf_free(&out.b);
    return rc;
}

/* ---- Reading ---------------------------------------------------------------------------------------------- */

typedef struct rbuf {
    const unsigned char *p;
    size_t len, pos;
    bool short_read; /* a read ran past the end */
} rbuf;

static uint32_t get_u32(rbuf *b)
{
    if (b->len - b->pos < 4) {
        b->short_read = true;
        b->pos = b->len;
        return 0;
    }
    const unsigned char *x = b->p + b->pos;
    b->pos += 4;
    return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}

static uint64_t get_u64(rbuf *b)
{
    uint64_t lo = get_u32(b);
    return lo | (uint64_t)get_u32(b) << 32;
}

/* Formats the reason into errbuf and returns NULL with errno = err. */
__attribute__((format(printf, 4, 5))) static ms_snapshot *fail_load(char *errbuf, size_t errlen, int err,
                                                                    const char *fmt, ...)
{
    if (errbuf && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    errno = err;
    return NULL;
}

/* Reads the whole file into *out (a byte buffer, common/buf.h). 0 or a negative errno; at most MAX_FILE_SIZE
 * bytes (-EFBIG beyond). */
static int read_file(const char *path, msc_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    int rc = 0;
    for (;;) {
        if ((rc = msc_buf_reserve_max(out, 65536, MAX_FILE_SIZE)) < 0) {
            rc = rc == -ENOBUFS ? -EFBIG : rc;
            break;
        }
        size_t r = fread(msc_buf_tail(out), 1, msc_buf_room(out), f);
        msc_buf_commit(out, r);
        if (r == 0) {
            if (ferror(f))
                rc = -EIO;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* Parses a verified buffer (length and CRC checked) into a snapshot. */
static ms_snapshot *parse(const unsigned char *data, size_t len, char *errbuf, size_t errlen)
{
    rbuf b = {.p = data, .len = len - 4, .pos = 8 + 4 + 4 + 8}; /* after magic, version, flags, file_size */
    uint64_t timestamp = get_u64(&b);
    uint64_t peak = get_u64(&b);
    int32_t limit = (int32_t)get_u32(&b);
    uint32_t nstrings = get_u32(&b);
    uint32_t ntraces = get_u32(&b);
    (void)get_u32(&b); /* reserved */
    if (limit < 1 || limit > MS_TRACE_MAX_FRAMES)
        return fail_load(errbuf, errlen, EBADMSG, "bad traceback limit %d", (int)limit);
    /* Every string takes at least 4 bytes, every trace at least 20 + 12: reject absurd counts before
     * allocating for them. */
    if ((uint64_t)nstrings * 4 > b.len - b.pos || (uint64_t)ntraces * 32 > b.len - b.pos)
        return fail_load(errbuf, errlen, EBADMSG, "counts (%u strings, %u traces) exceed the file", nstrings,
                         ntraces);
    ms_snapshot *s = ms__snapshot_new(limit);
    const char **strs = calloc(nstrings ? nstrings : 1, sizeof *strs);
    ms_frame *frames = malloc(MS_TRACE_MAX_FRAMES * sizeof *frames);
    const char *why = NULL;
    int err = EBADMSG;
    if (!s || !strs || !frames) {
        err = ENOMEM;
        why = "out of memory";
        goto fail;
    }
    s->timestamp_ns = timestamp;
    s->traced_peak = peak;
    atomic_store_explicit(&s->symbolized, true, memory_order_relaxed);
    for (uint32_t i = 0; i < nstrings; i++) {
        uint32_t n = get_u32(&b);
        if (b.short_read || n > b.len - b.pos) {
            why = "string runs past the end";
            goto fail;
        }
        const char *str = (const char *)b.p + b.pos;
        if (memchr(str, '\0', n)) {
            why = "string holds a NUL byte";
            goto fail;
        }
        strs[i] = ms__snapshot_intern(s, str, n);
        if (!strs[i]) {
            err = ENOMEM;
            why = "out of memory";
            goto fail;
        }
        b.pos += n;
    }
    for (uint32_t i = 0; i < ntraces; i++) {
        uint64_t size = get_u64(&b);
        uint64_t count = get_u64(&b);
        uint32_t nframes = get_u32(&b);
        if (b.short_read || nframes < 1 || nframes > (uint32_t)limit) {
            why = b.short_read ? "trace runs past the end" : "bad frame count";
            goto fail;
        }
        for (uint32_t j = 0; j < nframes; j++) {
            uint32_t file = get_u32(&b), func = get_u32(&b);
            int32_t line = (int32_t)get_u32(&b);
            if (b.short_read || file >= nstrings || (func != NO_STRING && func >= nstrings) || line < 0) {
                why = b.short_read ? "frame runs past the end" : "frame refers to a missing string";
                goto fail;
            }
            frames[j] = (ms_frame){.filename = strs[file], .function = func == NO_STRING ? NULL : strs[func],
                                   .lineno = line};
        }
        ms_traceback *tb = ms__snapshot_add_traceback(s, frames, nframes);
        if (!tb || ms__snapshot_append(s, tb, size, count)) {
            err = ENOMEM;
            why = "out of memory";
            goto fail;
        }
    }
    if (b.pos != b.len) {
        why = "extra bytes after the last trace";
        goto fail;
    }
    free(strs);
    free(frames);
    return s;

fail:
    free(strs);
    free(frames);
    ms_snapshot_free(s);
    return fail_load(errbuf, errlen, err, "%s", why);
}

ms_snapshot *ms_snapshot_load_verbose(const char *path, char *errbuf, size_t errlen)
{
    if (!path)
        return fail_load(errbuf, errlen, EINVAL, "no path");
    msc_buf file = MSC_BUF_INIT;
    int rc = read_file(path, &file);
    if (rc) {
        msc_buf_free(&file);
        return fail_load(errbuf, errlen, -rc, "%s: %s", path, strerror(-rc));
    }
    const unsigned char *data = (const unsigned char *)msc_buf_bytes(&file);
    size_t len = file.len;
    ms_snapshot *s = NULL;
    rbuf h = {.p = data, .len = len};
    if (len < 12 || memcmp(data, magic, sizeof magic) != 0) {
        fail_load(errbuf, errlen, EBADMSG, "%s: not a memscope snapshot (bad magic)", path);
        goto done;
    }
    h.pos = 8;
    uint32_t version = get_u32(&h);
    if (version != FORMAT_VERSION) {
        fail_load(errbuf, errlen, version > FORMAT_VERSION ? ENOTSUP : EBADMSG,
                  "%s: format version %u, this library reads version %u", path, version, FORMAT_VERSION);
        goto done;
    }
    (void)get_u32(&h); /* flags: none defined in version 1; ignored so that later writers may add hints */
    uint64_t file_size = get_u64(&h);
    if (h.short_read || len < HEADER_SIZE + 4 || file_size != len) {
        fail_load(errbuf, errlen, EBADMSG, "%s: truncated or padded: header says %llu bytes, file has %zu", path,
                  (unsigned long long)file_size, len);
        goto done;
    }
    rbuf t = {.p = data, .len = len, .pos = len - 4};
    uint32_t crc = get_u32(&t);
    if (crc != crc32_ieee(data, len - 4)) {
        fail_load(errbuf, errlen, EBADMSG, "%s: checksum mismatch (file corrupted)", path);
        goto done;
    }
    char why[128] = "";
    s = parse(data, len, why, sizeof why);
    if (!s) {
        int e = errno;
        fail_load(errbuf, errlen, e, "%s: %s", path, why);
    }

done:
    msc_buf_free(&file);
    return s;
}

ms_snapshot *ms_snapshot_load(const char *path) { return ms_snapshot_load_verbose(path, NULL, 0); }
