/* daemon/heapanalysis.c — placeholder of the contracts commit: the analysis helper replaces it. */
#include "heapanalysis.h"

#include <errno.h>

int msd_heap_analyse(const msc_hg *g, msd_heap_analysis **out, char *err, size_t errlen)
{
    (void)g;
    (void)err;
    (void)errlen;
    *out = NULL;
    return -ENOSYS;
}
void msd_heap_analysis_free(msd_heap_analysis *a) { (void)a; }
const uint32_t *msd_heap_idom(const msd_heap_analysis *a) { (void)a; return NULL; }
const uint64_t *msd_heap_retained(const msd_heap_analysis *a) { (void)a; return NULL; }
int msd_heap_types_json(const msd_heap_analysis *a, msc_buf *out) { (void)a; (void)out; return -ENOSYS; }
int msd_heap_retainers_json(const msd_heap_analysis *a, const char *type, size_t type_len, unsigned limit,
                            msc_buf *out)
{
    (void)a; (void)type; (void)type_len; (void)limit; (void)out;
    return -ENOSYS;
}
