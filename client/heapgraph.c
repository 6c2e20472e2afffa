/* client/heapgraph.c — placeholder of the contracts commit: the client helper replaces it. */
#include <errno.h>

#include <memscope/heapsnapshot.h>

int ms_root_name(ms_object *o, const char *name)
{
    (void)o;
    (void)name;
    return -ENOSYS;
}

int ms_heapsnapshot_write(const char *path)
{
    (void)path;
    return -ENOSYS;
}
