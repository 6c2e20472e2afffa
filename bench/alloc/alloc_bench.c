/*
 * bench/alloc/alloc_bench.c — small-object allocator benchmark: ms_malloc against glibc, jemalloc, mimalloc
 * and tcmalloc. Read main() first, then the three run_* functions.
 *
 * The same file is built once per allocator (see shim.h); bench/alloc/run.sh runs every binary, one process per
 * (allocator, workload), and prints the comparison table. A process runs one workload REPS times and prints one
 * line of key=value pairs (the median and the spread of the timings, the peak RSS).
 *
 * Workloads (issue 2). Every random choice is precomputed before timing, from a fixed-seed PRNG, into memory
 * obtained with mmap (not from the allocator under test), so all allocators see the same sequence of calls and
 * the timed loops do nothing but allocate, touch and free:
 *   a  churn:   a working set of 1,000 blocks; 10M times, pick a random slot, free its block and put a new block
 *               of a random size in 8..255 bytes there.       ns/op = time / 10M   (one op = one free + one malloc)
 *   b  batch, random free order:   1M blocks of 16..255 bytes allocated, then all freed in a random order.
 *                                                             ns/op = time / 1M    (one op = one malloc + one free)
 *   c  batch, allocation order:    the same 1M sizes, freed in the order they were allocated.
 *
 * Honesty rules:
 *   - Each new block is touched: its first and last bytes are written, so an allocator that hands out untouched
 *     pages pays its page faults inside the timing. Before a block is freed its first byte is read into a checksum
 *     that is printed, so the compiler cannot drop the writes (or the malloc/free pair) as dead.
 *   - Repetitions run back to back in one process (the allocator keeps whatever it cached from the previous one,
 *     as in a long-running program); the median is reported, and the first (cold) repetition separately: it is
 *     the only one where every allocator starts from fresh pages, while later ones show what an allocator's
 *     policy of keeping or returning memory costs.
 *   - Peak RSS is the kernel's VmHWM for the whole process at the end; base RSS is VmRSS just before the first
 *     timed repetition (program, libraries and the precomputed workload). heap = peak - base is what the
 *     allocator added.
 */
#include "shim.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#define WS_SLOTS 1000          /* working set of workload a; slot indexes fit in 10 bits */
#define SLOT_BITS 10
#define DEFAULT_OPS_A 10000000 /* 10M malloc/free pairs */
#define DEFAULT_OPS_BC 1000000 /* 1M blocks */
#define DEFAULT_REPS 5
#define MAX_REPS 101
#define SEED 0x6d656d73636f7065ULL /* "memscope" */

_Static_assert(WS_SLOTS <= (1u << SLOT_BITS), "slot index must fit in SLOT_BITS");

/* ---- fixed-seed PRNG (xoshiro256**, seeded by splitmix64) ---- */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [lo, hi] (Lemire's multiply-shift; the bias is below 2^-32 for these ranges). */
static uint32_t rng_range(rng *r, uint32_t lo, uint32_t hi)
{
    uint64_t span = (uint64_t)hi - lo + 1;
    return lo + (uint32_t)(((rng_next(r) >> 32) * span) >> 32);
}

/* ---- process helpers ---- */

/* Memory for the precomputed workloads, straight from the kernel so that no allocator under test serves it.
 * Exits on failure (a benchmark has nothing to fall back to). */
static void *map_or_die(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("bench-alloc: mmap");
        exit(1);
    }
    return p;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A "VmXXX:   1234 kB" field of /proc/self/status, in KiB; -1 when unavailable. */
static long proc_status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    size_t len = strlen(field);
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kib = strtol(line + len + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

static long peak_rss_kib(void)
{
    long kib = proc_status_kib("VmHWM");
    if (kib < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kib = ru.ru_maxrss; /* KiB on Linux */
    }
    return kib;
}

/* The file that defines the process's `malloc`, for the sanity check of link-time replacement. */
static const char *malloc_provider(void)
{
    Dl_info info;
    void *sym = dlsym(RTLD_DEFAULT, "malloc");
    if (!sym || !dladdr(sym, &info) || !info.dli_fname)
        return "?";
    return info.dli_fname;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n-1], n >= 1; sorts v. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- workloads ---- */

/* The checksum of bytes read back before each free; printed so the touches are observable. */
static uint64_t checksum;

/* Writes the first and last byte of a fresh block of n >= 1 bytes. */
static inline void touch(unsigned char *p, uint32_t n, uint32_t tag)
{
    p[0] = (unsigned char)tag;
    p[n - 1] = (unsigned char)(tag >> 8);
}

typedef struct workload_a {
    size_t ops;
    uint32_t *op;      /* op[i] = size << SLOT_BITS | slot */
    uint32_t *initial; /* sizes of the WS_SLOTS blocks present before the timed loop */
    unsigned char **ws;
} workload_a;

static void prepare_a(workload_a *w, size_t ops)
{
    rng r;
    rng_seed(&r, SEED);
    w->ops = ops;
    w->op = map_or_die(ops * sizeof *w->op);
    w->initial = map_or_die(WS_SLOTS * sizeof *w->initial);
    w->ws = map_or_die(WS_SLOTS * sizeof *w->ws);
    for (size_t i = 0; i < WS_SLOTS; i++)
        w->initial[i] = rng_range(&r, 8, 255);
    for (size_t i = 0; i < ops; i++) {
        uint32_t slot = rng_range(&r, 0, WS_SLOTS - 1);
        uint32_t size = rng_range(&r, 8, 255);
        w->op[i] = size << SLOT_BITS | slot;
    }
}

/* One repetition of workload a; returns the timed nanoseconds (the initial fill and the final drain are not
 * timed: 1,000 calls each against 10M). */
static double run_a(const workload_a *w)
{
    unsigned char **ws = w->ws;
    for (size_t s = 0; s < WS_SLOTS; s++) {
        ws[s] = BENCH_MALLOC(w->initial[s]);
        touch(ws[s], w->initial[s], (uint32_t)s);
    }
    double t0 = now_ns();
    uint64_t sum = 0;
    for (size_t i = 0; i < w->ops; i++) {
        uint32_t op = w->op[i];
        uint32_t slot = op & ((1u << SLOT_BITS) - 1);
        uint32_t size = op >> SLOT_BITS;
        unsigned char *old = ws[slot];
        sum += old[0];
        BENCH_FREE(old);
        unsigned char *p = BENCH_MALLOC(size);
        touch(p, size, (uint32_t)i);
        ws[slot] = p;
    }
    double t1 = now_ns();
    for (size_t s = 0; s < WS_SLOTS; s++) {
        sum += ws[s][0];
        BENCH_FREE(ws[s]);
    }
    checksum += sum;
    return t1 - t0;
}

typedef struct workload_bc {
    size_t n;
    uint32_t *size;  /* size[i] of the i-th allocation, 16..255 */
    uint32_t *order; /* order of the frees: a random permutation (b) or the identity (c) */
    unsigned char **blk;
} workload_bc;

static void prepare_bc(workload_bc *w, size_t n, bool random_order)
{
    rng r;
    rng_seed(&r, SEED ^ 0xb);
    w->n = n;
    w->size = map_or_die(n * sizeof *w->size);
    w->order = map_or_die(n * sizeof *w->order);
    w->blk = map_or_die(n * sizeof *w->blk);
    memset(w->blk, 0, n * sizeof *w->blk); /* fault the pointer array in before the baseline */
    for (size_t i = 0; i < n; i++) {
        w->size[i] = rng_range(&r, 16, 255);
        w->order[i] = (uint32_t)i;
    }
    if (random_order) {
        /* Fisher-Yates; the loop keeps order[0..i] a permutation of what was not yet placed. */
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = rng_range(&r, 0, (uint32_t)i);
            uint32_t t = w->order[i];
            w->order[i] = w->order[j];
            w->order[j] = t;
        }
    }
}

/* One repetition of workload b or c: allocate all, then free all in w->order. Both phases are timed. */
static double run_bc(const workload_bc *w, double *alloc_ns)
{
    unsigned char **blk = w->blk;
    uint64_t sum = 0;
    double t0 = now_ns();
    for (size_t i = 0; i < w->n; i++) {
        unsigned char *p = BENCH_MALLOC(w->size[i]);
        touch(p, w->size[i], (uint32_t)i);
        blk[i] = p;
    }
    double t1 = now_ns();
    for (size_t i = 0; i < w->n; i++) {
        unsigned char *p = blk[w->order[i]];
        sum += p[0];
        BENCH_FREE(p);
    }
    double t2 = now_ns();
    checksum += sum;
    *alloc_ns = t1 - t0;
    return t2 - t0;
}

/* ---- driver ---- */

static void usage(FILE *out, const char *argv0)
{
    fprintf(out,
            "usage: %s -w a|b|c [-r REPS] [-n N]\n"
            "  -w  workload: a churn (10M ops, 1,000-block working set, 8..255 B),\n"
            "      b 1M blocks of 16..255 B freed in random order, c the same freed in allocation order\n"
            "  -r  repetitions in this process, the median is reported (default %d)\n"
            "  -n  operations (a) or blocks (b, c) instead of the default, for quick runs\n"
            "Prints one line of key=value pairs; bench/alloc/run.sh collects them into a table.\n",
            argv0, DEFAULT_REPS);
}

int main(int argc, char **argv)
{
    char workload = 0;
    int reps = DEFAULT_REPS;
    long n = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout, argv[0]);
            return 0;
        } else if (strcmp(arg, "-w") == 0 && val && strlen(val) == 1 && strchr("abc", val[0])) {
            workload = val[0];
        } else if (strcmp(arg, "-r") == 0 && val) {
            reps = atoi(val);
        } else if (strcmp(arg, "-n") == 0 && val) {
            n = atol(val);
        } else {
            usage(stderr, argv[0]);
            return 2;
        }
        i++;
    }
    if (!workload || reps < 1 || reps > MAX_REPS || n < 0 || n > 100000000) {
        usage(stderr, argv[0]);
        return 2;
    }

    /* A linked-in replacement that lost the interposition race would silently benchmark glibc. */
    const char *provider = malloc_provider();
    if (BENCH_LIB_HINT[0] && !strstr(provider, BENCH_LIB_HINT)) {
        fprintf(stderr, "bench-alloc-%s: malloc resolves to %s, expected %s; not benchmarking the wrong allocator\n",
                BENCH_NAME, provider, BENCH_LIB_HINT);
        return 1;
    }

    workload_a wa = {0};
    workload_bc wbc = {0};
    size_t ops;
    if (workload == 'a') {
        ops = n ? (size_t)n : DEFAULT_OPS_A;
        prepare_a(&wa, ops);
    } else {
        ops = n ? (size_t)n : DEFAULT_OPS_BC;
        prepare_bc(&wbc, ops, workload == 'b');
    }

    /* Let the allocator initialise itself outside the timing and the baseline. */
    void *warm = BENCH_MALLOC(16);
    BENCH_FREE(warm);

    long base_kib = proc_status_kib("VmRSS");
    double ns[MAX_REPS], alloc_ns[MAX_REPS];
    for (int r = 0; r < reps; r++) {
        alloc_ns[r] = 0;
        ns[r] = workload == 'a' ? run_a(&wa) : run_bc(&wbc, &alloc_ns[r]);
    }
    long peak_kib = peak_rss_kib();

    double first = ns[0]; /* the cold repetition: fresh memory for every allocator */
    double med_alloc = median(alloc_ns, reps) / (double)ops;
    double med = median(ns, reps); /* sorts ns: ns[0] is the minimum, ns[reps - 1] the maximum */

    printf("alloc=%s version=%s workload=%c ops=%zu reps=%d ns_per_op=%.2f first=%.2f min=%.2f max=%.2f "
           "alloc_phase_ns=%.2f peak_rss_kib=%ld base_rss_kib=%ld heap_kib=%ld malloc_from=%s checksum=%" PRIu64 "\n",
           BENCH_NAME, bench_version(), workload, ops, reps, med / (double)ops, first / (double)ops, ns[0] / (double)ops,
           ns[reps - 1] / (double)ops, med_alloc, peak_kib, base_kib, peak_kib - base_kib, provider, checksum);
    return 0;
}
