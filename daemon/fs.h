/*
 * daemon/fs.h — the filesystem helpers of the daemon: the socket's directory (sockpath.c) and the snapshot store
 * (snapstore.c) make directories; the snapshot store and --web-dir (web.c) read whole files.
 */
#ifndef MEMSCOPE_DAEMON_FS_H
#define MEMSCOPE_DAEMON_FS_H

/* mkdir -p: creates every missing directory of path with mode 0700 (existing ones are left as they are).
 * 0, or the negative errno of the first mkdir that failed for another reason than EEXIST (-ENOMEM included);
 * -ENOENT for "", as mkdir(2) says. */
int msd_mkdir_private(const char *path);

/* Reads the whole regular file open on fd (at most max bytes) into a malloc'ed buffer followed by a NUL, and
 * closes fd: 0 with *data and *len, or -EINVAL (not a regular file), -EFBIG (larger than max), -EIO (it changed
 * size while being read), -ENOMEM, or fstat's or read's negative errno. */
int msd_read_fd(int fd, size_t max, char **data, size_t *len);

#endif /* MEMSCOPE_DAEMON_FS_H */
