/*
 * daemon/fs.c — see fs.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

int msd_tmpfile_open(msd_tmpfile *t, const char *path)
{
    *t = (msd_tmpfile){.fd = -1, .path = path};
    if (asprintf(&t->tmp, "%s.tmp", path) < 0) {
        t->tmp = NULL;
        return -ENOMEM;
    }
    t->fd = open(t->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (t->fd < 0) {
        int e = errno;
        free(t->tmp);
        t->tmp = NULL;
        return -e;
    }
    return 0;
}

int msd_tmpfile_write(msd_tmpfile *t, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(t->fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        c += w;
        n -= (size_t)w;
        t->size += (uint64_t)w;
    }
    return 0;
}

void msd_tmpfile_abort(msd_tmpfile *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (t->tmp)
        unlink(t->tmp);
    free(t->tmp);
    t->tmp = NULL;
}

int msd_tmpfile_commit(msd_tmpfile *t, const char *dir)
{
    int rc = fsync(t->fd) < 0 ? -errno : 0;
    if (close(t->fd) < 0 && rc == 0)
        rc = -errno;
    t->fd = -1;
    if (rc == 0 && rename(t->tmp, t->path) < 0)
        rc = -errno;
    if (rc < 0) {
        msd_tmpfile_abort(t);
        return rc;
    }
    free(t->tmp);
    t->tmp = NULL;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* the rename itself, durably */
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}
