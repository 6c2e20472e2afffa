/*
 * daemon/fs.c — see fs.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

int msd_mkdir_private(const char *path)
{
    if (path[0] == '\0') /* as mkdir(""): the walk below starts after the first byte */
        return -ENOENT;
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

int msd_read_fd(int fd, size_t max, char **data, size_t *len)
{
    struct stat sb;
    int e = fstat(fd, &sb) < 0 ? errno : !S_ISREG(sb.st_mode) ? EINVAL : (uint64_t)sb.st_size > max ? EFBIG : 0;
    size_t n = e ? 0 : (size_t)sb.st_size, got = 0;
    char *buf = e ? NULL : malloc(n + 1);
    if (!e && !buf)
        e = ENOMEM;
    while (!e && got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            e = r < 0 ? errno : EIO;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (e) {
        free(buf);
        return -e;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}
