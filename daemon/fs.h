/*
 * daemon/fs.h — the filesystem helpers of the daemon: the socket's directory (sockpath.c) and the snapshot stores
 * (snapstore.c, heapstore.c) make directories; the stores and --web-dir (web.c) read whole files; the stores
 * write theirs atomically.
 */
#ifndef MEMSCOPE_DAEMON_FS_H
#define MEMSCOPE_DAEMON_FS_H

#include <stddef.h>
#include <stdint.h>

/* mkdir -p: creates every missing directory of path with mode 0700 (existing ones are left as they are).
 * 0, or the negative errno of the first mkdir that failed for another reason than EEXIST (-ENOMEM included);
 * -ENOENT for "", as mkdir(2) says. */
int msd_mkdir_private(const char *path);

/* Reads the whole regular file open on fd (at most max bytes) into a malloc'ed buffer followed by a NUL, and
 * closes fd: 0 with *data and *len, or -EINVAL (not a regular file), -EFBIG (larger than max), -EIO (it changed
 * size while being read), -ENOMEM, or fstat's or read's negative errno. */
int msd_read_fd(int fd, size_t max, char **data, size_t *len);

/*
 * Writing a file so that a crash leaves the old one or the new one, never half of either: the bytes go to
 * "<path>.tmp" (mode 0600), which msd_tmpfile_commit() fsyncs, renames over path and makes durable by fsyncing
 * the directory dir. Worker thread only (every call may block on the disk).
 */
typedef struct msd_tmpfile {
    int fd;
    char *tmp;        /* "<path>.tmp", malloc'ed */
    const char *path; /* the caller's, alive until commit or abort */
    uint64_t size;    /* bytes written so far */
} msd_tmpfile;

/* 0, or a negative errno (nothing to undo). */
int msd_tmpfile_open(msd_tmpfile *t, const char *path);
/* Appends p[0..n): 0 or a negative errno (then abort). */
int msd_tmpfile_write(msd_tmpfile *t, const void *p, size_t n);
/* fsync, close, rename, fsync of dir: 0 or a negative errno (the temporary file is removed either way). */
int msd_tmpfile_commit(msd_tmpfile *t, const char *dir);
/* Closes and removes the temporary file. */
void msd_tmpfile_abort(msd_tmpfile *t);

#endif /* MEMSCOPE_DAEMON_FS_H */
