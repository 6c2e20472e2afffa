/*
 * mallocstats — the seed's section 3 ("小对象 vs 大对象") as a program: small requests come from pools, large
 * ones from the system, and sys._debugmallocstats() shows where the memory sits.
 *
 *   $ ./build/examples/mallocstats [N]
 */
#include <stdio.h>
#include <stdlib.h>

#include <memscope/memscope.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
    if (n <= 0) {
        fprintf(stderr, "usage: %s [BLOCKS]   (BLOCKS > 0)\n", argv[0]);
        return 2;
    }
    void **blocks = malloc(sizeof(void *) * (size_t)n);
    if (blocks == NULL)
        return 1;

    void *small = ms_malloc(100), *large = ms_malloc(1000);
    printf("ms_malloc(100):  pooled=%s\n", ms_mem_is_pooled(small) ? "yes" : "no");
    printf("ms_malloc(1000): pooled=%s   (threshold %zu bytes)\n\n", ms_mem_is_pooled(large) ? "yes" : "no",
           ms_mem_small_threshold());

    for (long i = 0; i < n; i++)
        blocks[i] = ms_malloc((size_t)(1 + (i * 37) % 300)); /* sizes 1..300: mostly pooled, some system */
    for (long i = 0; i < n; i += 2) /* free every other block: pools stay half full */
        ms_free(blocks[i]);
    ms_debug_mallocstats(stdout);

    for (long i = 1; i < n; i += 2)
        ms_free(blocks[i]);
    ms_free(small);
    ms_free(large);
    free(blocks);

    ms_heap_stats hs;
    ms_heap_stats_get(&hs);
    printf("\nafter freeing everything: blocks in use %llu, arenas mapped %llu (released %llu)\n",
           (unsigned long long)hs.blocks_in_use, (unsigned long long)hs.arenas_mapped,
           (unsigned long long)hs.arenas_released_total);
    return hs.blocks_in_use == 0 ? 0 : 1;
}
