/*
 * daemon/sockpath.h — the filesystem side of the apps' Unix socket: choosing its path, creating its private
 * directory, making sure no live daemon owns it, binding it with mode 0600, and the files kept beside it
 * (the lock and the token).
 */
#ifndef MEMSCOPE_DAEMON_SOCKPATH_H
#define MEMSCOPE_DAEMON_SOCKPATH_H

#include <stddef.h>

/* $XDG_RUNTIME_DIR/memscope/memscoped.sock, or /run/memscope/memscoped.sock for root. malloc'ed; NULL when
 * neither applies (no XDG_RUNTIME_DIR for a non-root user: the caller asks for --socket) or out of memory. */
char *msd_socket_default_path(void);

/* The path of a file beside the socket: "<socket without .sock><suffix>" (e.g. ".token"). malloc'ed or NULL. */
char *msd_socket_sibling(const char *socket_path, const char *suffix);

/*
 * Creates the socket's directory (mode 0700 for every directory it creates), takes the lock beside the socket,
 * removes a stale socket file, and binds and listens on a new socket with mode 0600.
 * On success returns 0 with *listen_fd (non-blocking, close-on-exec) and *lock_fd (held until exit).
 * Errors (after printing why on stderr): -EADDRINUSE a live daemon holds the path; -EEXIST the path exists and
 * is not a socket; -ENAMETOOLONG; other negative errno from the system calls.
 */
int msd_socket_listen(const char *path, int *listen_fd, int *lock_fd);

/* Removes the socket file and releases the lock (lock_fd may be -1). The listening fd belongs to whoever
 * adopted it (ipc.c closes it with its uv handle). */
void msd_socket_close(const char *path, int lock_fd);

#endif /* MEMSCOPE_DAEMON_SOCKPATH_H */
