// cxx_app.cpp — the public headers compile as C++ with the allocator's attributes (memscope/mem.h), and a C++
// program links and runs against the library.
#include <memscope/memscope.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

int main()
{
    char *p = static_cast<char *>(ms_malloc(32));
    void *q = ms_calloc(4, 8);
    if (!p || !q)
        return 1;
    std::strcpy(p, "memscope from C++");
    p = static_cast<char *>(ms_realloc(p, 300));
    if (!p || std::strcmp(p, "memscope from C++") != 0)
        return 1;
    ms_free(p);
    ms_free(q);
    ms_object *l = ms_list_new();
    if (!l || ms_list_append_take(l, ms_int_new(1000)) != 0)
        return 1;
    if (ms_root_name(l, "cxx") != 0 || ms_heapsnapshot_write(nullptr) != -EINVAL)
        return 1;
    ms_decref(l);
    return ms_gc_collect(2) < 0;
}
