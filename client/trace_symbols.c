/*
 * trace_symbols.c — return address -> function, source file, line, with elfutils libdw (dwfl), cached.
 *
 * Symbolization is lazy: the hooks only store raw return addresses; this file runs when a snapshot's
 * statistics, filters, tracebacks or dump need names, and remembers every address it resolved, so a second
 * statistics call costs a hash lookup per address. libdw reads the ELF symbol tables and DWARF line tables of
 * the modules mapped in this process (dwfl_linux_proc_report: /proc/self/maps), plus separate debug files found
 * the standard way (dwfl_standard_find_debuginfo: build-id, .debug directories).
 *
 * Which frames are libmemscope's own: the frames between the user's call and the hook (mem.c, the object
 * layer) must not show in tracebacks. An address is internal when the compilation unit that holds it comes from
 * the same source directory as this file (client/), compared through DWARF's DW_AT_comp_dir + DW_AT_name; that
 * holds whether libmemscope is linked statically or as a shared library. Without debug information it falls
 * back to: same module as this file and a function named ms_*.
 *
 * Inlining: one return address may stand for several source-level frames (a call made from a static helper that
 * the compiler inlined). The DWARF scopes around the address give the chain — innermost inlined function first,
 * each placed at the call site (DW_AT_call_file/line) inside the next one out — as eu-addr2line -i prints it.
 *
 * Cache invariant: every entry's chain lies in `frames`, and its strings point into the interned string table.
 * All of it is guarded by sym_lock (pthread), so snapshot readers need not hold the runtime lock.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bump.h"
#include "hashtable.h"
#include "trace_internal.h"

static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;

void ms__sym_lock(void) { pthread_mutex_lock(&sym_lock); }
void ms__sym_unlock(void) { pthread_mutex_unlock(&sym_lock); }

/* ---- Interned strings: equal names share one copy (hashtable.h, in bump chunks) ---------------------------- */

static const msc_ht_type strs_type = MS__HT_STR_TYPE(256, &ms__trace_mem);
static msc_hashtable strs = MSC_HASHTABLE_INIT;
static ms__bump strs_mem = MS__BUMP_INIT(16u * 1024u, &ms__trace_mem);

/* The interned copy of s, or NULL when out of memory (or s is NULL). */
static const char *str_intern(const char *s)
{
    return s ? ms__str_intern(&strs, &strs_type, &strs_mem, s, strlen(s)) : NULL;
}

/* ---- libdw ------------------------------------------------------------------------------------------------ */

static const Dwfl_Callbacks dwfl_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
};

static Dwfl *dwfl;
static bool dwfl_refreshed;       /* the module list was re-read since dwfl was opened (dlopen after start) */
static const char *own_dir;       /* directory of this file's compilation unit, interned; NULL if unknown */
static Dwfl_Module *own_module;   /* the module holding this file's code */

/* (Re-)reads the modules mapped in this process. Returns false when libdw cannot. */
static bool report_modules(bool keep_old)
{
    if (keep_old)
        dwfl_report_begin_add(dwfl);
    else
        dwfl_report_begin(dwfl);
    int rc = dwfl_linux_proc_report(dwfl, getpid());
    return dwfl_report_end(dwfl, NULL, NULL) == 0 && rc == 0;
}

/* The directory of the source file of the compilation unit holding pc (comp_dir joined with the unit's name up
 * to its last '/'), interned; NULL when there is no DWARF for pc. */
static const char *unit_dir(Dwfl_Module *mod, Dwarf_Addr pc)
{
    Dwarf_Addr bias;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, pc, &bias);
    if (!cu)
        return NULL;
    const char *name = dwarf_diename(cu);
    if (!name)
        return NULL;
    Dwarf_Attribute attr;
    const char *comp_dir = name[0] == '/' ? NULL : dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
    const char *slash = strrchr(name, '/');
    size_t name_dir_len = slash ? (size_t)(slash - name) : 0;
    size_t comp_len = comp_dir ? strlen(comp_dir) : 0;
    char buf[4096];
    if (comp_len + 1 + name_dir_len + 1 > sizeof buf)
        return NULL;
    size_t len = 0;
    if (comp_dir) {
        memcpy(buf, comp_dir, comp_len);
        len = comp_len;
        buf[len++] = '/';
    }
    memcpy(buf + len, name, name_dir_len);
    len += name_dir_len;
    buf[len] = '\0';
    return str_intern(buf);
}

/*
 * libdw joins a line's file name to the compilation directory; the allocation macros' __FILE__ is the name as
 * the compiler was given it, relative to that directory. Strip the directory back off so that a line reads the
 * same whether it came from a macro or from DWARF ("../src/app.c", not "/home/me/build/../src/app.c") and
 * groups as one key.
 */
static const char *relative_to_comp_dir(Dwarf_Die *cu, const char *path)
{
    Dwarf_Attribute attr;
    const char *dir = cu ? dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr)) : NULL;
    size_t n = dir ? strlen(dir) : 0;
    if (n && strncmp(path, dir, n) == 0 && path[n] == '/' && path[n + 1])
        return path + n + 1;
    return path;
}

static bool sym_open(void)
{
    if (dwfl)
        return true;
    dwfl = dwfl_begin(&dwfl_callbacks);
    if (!dwfl)
        return false;
    dwfl_refreshed = false;
    if (!report_modules(false)) {
        dwfl_end(dwfl);
        dwfl = NULL;
        return false;
    }
    Dwarf_Addr self = (Dwarf_Addr)(uintptr_t)&sym_open;
    own_module = dwfl_addrmodule(dwfl, self);
    own_dir = own_module ? unit_dir(own_module, self) : NULL;
    return true;
}

/* ---- The cache ----------------------------------------------------------------------------------------------- */

/*
 * One return address resolves to a chain of frames: with inlining, the innermost inlined function first, then
 * each function it was inlined into, up to the real (out-of-line) function. Chains live in `frames` (a growable
 * array); a cache entry names its slice.
 */
typedef struct sym_frame {
    const char *function; /* interned; NULL when unknown */
    const char *file;     /* interned; NULL when unknown */
    int line;             /* 0 when unknown */
} sym_frame;

typedef struct cache_entry {
    uintptr_t addr; /* 0: empty */
    uint32_t first; /* chain = frames[first .. first + n) */
    uint16_t n;     /* >= 1 */
    bool internal;  /* the address lies in libmemscope's own code */
} cache_entry;

#define MAX_INLINE_DEPTH 16

/* The cache: return address -> chain (hashtable.h; a slot is a cache_entry, addr 0 is empty). */
static bool cache_used(const void *slot) { return ((const cache_entry *)slot)->addr != 0; }
static uint64_t cache_hash(const void *slot) { return ((const cache_entry *)slot)->addr; }
static bool cache_match(const void *slot, const void *addr)
{
    return ((const cache_entry *)slot)->addr == *(const uintptr_t *)addr;
}
static const msc_ht_type cache_type = {sizeof(cache_entry), 512, cache_used, cache_hash, &ms__trace_mem};
static msc_hashtable cache = MSC_HASHTABLE_INIT;
static sym_frame *frames;
static size_t frames_cap, frames_len;

/* The DWARF name of a scope (following DW_AT_abstract_origin for inlined code), interned. */
static const char *scope_name(Dwarf_Die *scope) { return str_intern(dwarf_diename(scope)); }

/* The call site of an inlined subroutine: where the frame that contains it stands. */
static void call_site(Dwarf_Die *cu, Dwarf_Die *inlined, const char **file, int *line)
{
    Dwarf_Attribute attr;
    Dwarf_Word idx = 0, ln = 0;
    Dwarf_Files *files;
    size_t nfiles;
    *file = NULL;
    *line = 0;
    if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_line, &attr), &ln) == 0)
        *line = (int)ln;
    if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_file, &attr), &idx) == 0 &&
        dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && idx < nfiles) {
        const char *src = dwarf_filesrc(files, idx, NULL, NULL);
        *file = src ? str_intern(relative_to_comp_dir(cu, src)) : NULL;
    }
}

/*
 * Resolves pc into out[0..return): the inline chain from DWARF scopes when there is DWARF (eu-addr2line -i),
 * else one frame from the symbol table and the line table. The innermost frame's file:line is the line table's.
 */
static uint16_t resolve_chain(Dwfl_Module *mod, Dwarf_Addr pc, sym_frame *out)
{
    sym_frame f = {0};
    Dwfl_Line *line = dwfl_module_getsrc(mod, pc);
    if (line) {
        int lineno = 0;
        const char *src = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
        f.file = str_intern(src ? relative_to_comp_dir(dwfl_linecu(line), src) : NULL);
        f.line = f.file ? lineno : 0;
    }
    uint16_t n = 0;
    Dwarf_Addr bias;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, pc, &bias);
    Dwarf_Die *scopes = NULL;
    int nscopes = cu ? dwarf_getscopes(cu, pc - bias, &scopes) : 0;
    if (nscopes > 0) {
        /* Past an inlined instance, dwarf_getscopes() continues with the scopes around the inline function's
         * abstract definition; the physical nesting (inlined call inside its caller) comes from the innermost
         * scope's own parents, as eu-addr2line -i gets it. */
        Dwarf_Die innermost = scopes[0];
        free(scopes);
        scopes = NULL;
        nscopes = dwarf_getscopes_die(&innermost, &scopes);
    }
    for (int i = 0; i < nscopes && n < MAX_INLINE_DEPTH; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
            continue; /* lexical blocks */
        f.function = scope_name(&scopes[i]);
        out[n++] = f;
        if (tag == DW_TAG_subprogram)
            break;
        call_site(cu, &scopes[i], &f.file, &f.line); /* the next frame out stands at the call */
    }
    free(scopes);
    if (n == 0 || !out[n - 1].function) {
        /* No DWARF scope (or a nameless one): the symbol table still names the out-of-line function. */
        const char *name = str_intern(dwfl_module_addrname(mod, pc));
        if (n == 0)
            out[n++] = (sym_frame){.function = name, .file = f.file, .line = f.line};
        else
            out[n - 1].function = name;
    }
    return n;
}

/* Resolves a return address into *e (its chain appended to `frames`). */
static void resolve(uintptr_t ret, cache_entry *e)
{
    sym_frame chain[MAX_INLINE_DEPTH];
    uint16_t n = 0;
    e->internal = false;
    /* A return address points after the call; the call itself (and its line) is one byte before. */
    Dwarf_Addr pc = (Dwarf_Addr)ret - 1;
    Dwfl_Module *mod = sym_open() ? dwfl_addrmodule(dwfl, pc) : NULL;
    if (dwfl && !mod && !dwfl_refreshed) {
        dwfl_refreshed = true; /* a library loaded after we looked: read the maps once more */
        if (report_modules(true))
            mod = dwfl_addrmodule(dwfl, pc);
    }
    if (mod) {
        n = resolve_chain(mod, pc, chain);
        const char *dir = own_dir ? unit_dir(mod, pc) : NULL;
        if (dir)
            e->internal = dir == own_dir; /* interned: equal directories are the same pointer */
        else
            e->internal = mod == own_module && chain[n - 1].function &&
                          strncmp(chain[n - 1].function, "ms_", 3) == 0;
    } else {
        chain[n++] = (sym_frame){0};
    }
    e->n = 0;
    e->first = (uint32_t)frames_len;
    if (frames_len + n > frames_cap) {
        size_t cap = frames_cap ? frames_cap * 2 : 1024;
        while (cap < frames_len + n)
            cap *= 2;
        sym_frame *t = ms__trace_mem_realloc(frames, frames_cap * sizeof *frames, cap * sizeof *frames);
        if (!t)
            return; /* out of memory: e->n == 0 tells the caller */
        frames = t;
        frames_cap = cap;
    }
    memcpy(frames + frames_len, chain, n * sizeof *chain);
    frames_len += n;
    e->n = n;
}

static const sym_frame unknown_frame = {0};

/* The cache entry of ret, resolving it on a miss. On out of memory, returns a one-frame unknown entry in *tmp
 * that is not cached. Entry pointers are valid until the next lookup. */
static const cache_entry *lookup(uintptr_t ret, cache_entry *tmp, const sym_frame **chain)
{
    cache_entry *e = tmp;
    /* Out of memory for the cache (or a 0 address, which cannot be a key): resolve without caching. */
    if (ret && msc_ht_reserve(&cache, &cache_type) == 0) {
        e = msc_ht_probe(&cache, &cache_type, ret, cache_match, &ret);
        if (e->addr) {
            *chain = frames + e->first;
            return e;
        }
    }
    resolve(ret, e);
    if (e->n == 0) { /* out of memory while storing the chain */
        *e = (cache_entry){0}; /* an empty slot is all zero */
        *tmp = (cache_entry){.n = 1};
        *chain = &unknown_frame;
        return tmp;
    }
    if (e != tmp) {
        e->addr = ret;
        msc_ht_added(&cache);
    }
    *chain = frames + e->first;
    return e;
}

size_t ms__sym_frames(const char *file, int line, const uintptr_t *addrs, uint32_t naddrs, int limit,
                      ms_frame *out)
{
    cache_entry tmp;
    const sym_frame *chain = &unknown_frame;
    const cache_entry *e = NULL;
    uint32_t i = 0;
    /* Skip libmemscope's frames: the first address outside it is in the function holding the call site. */
    for (; i < naddrs; i++) {
        e = lookup(addrs[i], &tmp, &chain);
        if (!e->internal)
            break;
    }
    bool have_user = i < naddrs;
    /* Frame 0: the macro's file:line with the innermost function at the user's first address; without a
     * macro, that innermost frame as DWARF has it. */
    if (file)
        out[0] = (ms_frame){.filename = file, .lineno = line, .function = have_user ? chain[0].function : NULL};
    else if (have_user && chain[0].file)
        out[0] = (ms_frame){.filename = chain[0].file, .lineno = chain[0].line, .function = chain[0].function};
    else
        out[0] = (ms_frame){.filename = MS__UNKNOWN_FILE, .lineno = 0,
                            .function = have_user ? chain[0].function : NULL};
    size_t n = 1;
    /* Then the rest of that chain (the functions the allocating one was inlined into), then the callers. */
    uint16_t k = 1;
    while (have_user && n < (size_t)limit) {
        if (k == e->n) {
            if (++i == naddrs)
                break;
            e = lookup(addrs[i], &tmp, &chain);
            k = 0;
        }
        const sym_frame *f = &chain[k++];
        out[n++] = (ms_frame){.filename = f->file ? f->file : MS__UNKNOWN_FILE, .lineno = f->line,
                              .function = f->function};
    }
    return n;
}

void ms__sym_release(void)
{
    if (dwfl)
        dwfl_end(dwfl);
    dwfl = NULL;
    own_module = NULL;
    own_dir = NULL;
    msc_ht_free(&cache, &cache_type);
    ms__trace_mem_free(frames, frames_cap * sizeof *frames);
    frames = NULL;
    frames_cap = frames_len = 0;
    msc_ht_free(&strs, &strs_type);
    ms__bump_free(&strs_mem);
}
