/*
 * A tiny app built outside the source tree against the *installed* libmemscope (tests/install/test_install.sh):
 * it uses the allocator, objects and the collector through the public headers only, then prints which file the
 * library was loaded from, so the test can check it is the installed copy and not the build tree's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <memscope/memscope.h>

int main(void)
{
    if (ms_init() < 0)
        return 1;
    void *p = ms_malloc(100);
    ms_object *list = ms_list_new();
    ms_object *s = ms_str_new("installed");
    if (!p || !list || !s || ms_list_append(list, s) < 0)
        return 1;
    ms_heap_stats hs;
    ms_heap_stats_get(&hs);
    if (hs.blocks_in_use == 0 || strcmp(ms_str_data(s), "installed") != 0)
        return 1;
    ms_decref(s);
    ms_decref(list);
    ms_free(p);
    ms_gc_collect(2);
    Dl_info info;
    /* For a static link dladdr names the executable itself: the test tells the two cases apart. */
    if (!dladdr((void *)&ms_version, &info) || !info.dli_fname)
        return 1;
    printf("memscope %s from %s\n", ms_version(), info.dli_fname);
    return 0;
}
