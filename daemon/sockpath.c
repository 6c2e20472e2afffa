/*
 * daemon/sockpath.c — see sockpath.h. Entry point: msd_socket_listen().
 *
 * Who owns the socket path is decided by a lock file beside it (flock, released by the kernel when the owner
 * dies, so a crash never leaves the path "taken"). Holding the lock, a leftover socket file is stale by
 * definition — but we still try to connect to it first, so that a daemon of an older build that did not take the
 * lock is never robbed of its socket. The lock file itself is never removed: unlinking it would let two daemons
 * lock two different inodes of the same name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "fs.h"
#include "sockpath.h"

char *msd_socket_default_path(void)
{
    const char *base;
    char *out = NULL;
    if (geteuid() == 0)
        base = "/run";
    else if (!(base = getenv("XDG_RUNTIME_DIR")) || base[0] != '/')
        return NULL;
    if (asprintf(&out, "%s/memscope/memscoped.sock", base) < 0)
        return NULL;
    return out;
}

char *msd_socket_sibling(const char *socket_path, const char *suffix)
{
    size_t n = strlen(socket_path);
    if (n > 5 && strcmp(socket_path + n - 5, ".sock") == 0)
        n -= 5;
    char *out = NULL;
    if (asprintf(&out, "%.*s%s", (int)n, socket_path, suffix) < 0)
        return NULL;
    return out;
}

/* mkdir -p with mode 0700 for what it creates; warns about an existing directory others can enter. */
static int make_private_dir(const char *dir)
{
    int rc = msd_mkdir_private(dir);
    if (rc < 0) {
        msd_log("cannot create directory %s: %s", dir, strerror(-rc));
        return rc;
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        msd_log("%s is not a directory", dir);
        return -ENOTDIR;
    }
    if (st.st_uid == geteuid() && (st.st_mode & 077) && !(st.st_mode & S_ISVTX))
        msd_log("warning: %s is accessible to other users (mode %03o); the socket itself is 0600", dir,
                (unsigned)(st.st_mode & 0777));
    return 0;
}

/* 1 when something accepts connections on path, 0 when not. */
static int socket_is_live(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return live;
}

int msd_socket_listen(const char *path, int *listen_fd, int *lock_fd)
{
    *listen_fd = *lock_fd = -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        msd_log("socket path too long (max %zu bytes): %s", sizeof(sa.sun_path) - 1, path);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    char *dir = strdup(path);
    if (!dir)
        return -ENOMEM;
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        rc = make_private_dir(dir);
    }
    free(dir);
    if (rc < 0)
        return rc;

    char *lock_path = msd_socket_sibling(path, ".lock");
    if (!lock_path)
        return -ENOMEM;
    int lfd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lfd < 0) {
        rc = -errno;
        msd_log("cannot open lock file %s: %s", lock_path, strerror(errno));
        free(lock_path);
        return rc;
    }
    if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
        if (rc == -EADDRINUSE)
            msd_log("another memscoped is running on %s (it holds %s); not starting", path, lock_path);
        else
            msd_log("cannot lock %s: %s", lock_path, strerror(-rc));
        free(lock_path);
        close(lfd);
        return rc;
    }
    free(lock_path);

    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            msd_log("%s exists and is not a socket; not touching it", path);
            close(lfd);
            return -EEXIST;
        }
        if (socket_is_live(path)) {
            msd_log("a live server answers on %s; not starting", path);
            close(lfd);
            return -EADDRINUSE;
        }
        msd_log("removing stale socket %s", path);
        unlink(path);
    }

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = -errno;
        close(lfd);
        return rc;
    }
    /* The umask makes the socket 0600 from birth: there is no window in which another user could connect. */
    mode_t old = umask(0177);
    int b = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    umask(old);
    if (b < 0 || chmod(path, 0600) < 0 || listen(fd, 511) < 0) {
        rc = -(b < 0 ? e : errno);
        msd_log("cannot listen on %s: %s", path, strerror(-rc));
        if (b == 0)
            unlink(path);
        close(fd);
        close(lfd);
        return rc;
    }
    *listen_fd = fd;
    *lock_fd = lfd;
    return 0;
}

void msd_socket_close(const char *path, int lock_fd)
{
    unlink(path);
    if (lock_fd >= 0)
        close(lock_fd); /* last: the path is free only once the socket file is gone */
}
