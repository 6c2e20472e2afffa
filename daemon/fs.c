/*
 * daemon/fs.c — see fs.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"

int msd_mkdir_private(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return -ENOMEM;
    /* Each prefix that ends at a '/' (or the whole path), shortest first. */
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST) {
            int e = errno;
            free(p);
            return -e;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    return 0;
}
