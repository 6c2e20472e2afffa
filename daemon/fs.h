/*
 * daemon/fs.h — the filesystem helper that the socket's directory (sockpath.c) and the snapshot store
 * (snapshot.c) share.
 */
#ifndef MEMSCOPE_DAEMON_FS_H
#define MEMSCOPE_DAEMON_FS_H

/* mkdir -p: creates every missing directory of path with mode 0700 (existing ones are left as they are).
 * 0, or the negative errno of the first mkdir that failed for another reason than EEXIST (-ENOMEM included). */
int msd_mkdir_private(const char *path);

#endif /* MEMSCOPE_DAEMON_FS_H */
