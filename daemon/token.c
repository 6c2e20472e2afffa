/*
 * daemon/token.c — generating, reading, storing and checking the API token. See token.h.
 *
 * The token file beside the socket is how local tools (the CLI, scripts, the tests) find the token without
 * scraping stdout; it is as private as the socket (0600 in the 0700 directory).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "token.h"

static bool token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '~' || c == '-';
}

static int read_token(const char *file, char *out)
{
    FILE *f = fopen(file, "re");
    if (!f) {
        int e = errno;
        msd_log("cannot read token file %s: %s", file, strerror(e));
        return -e;
    }
    char line[256];
    char *got = fgets(line, sizeof(line), f);
    fclose(f);
    size_t n = got ? strcspn(line, "\r\n") : 0;
    line[n] = '\0';
    bool ok = n >= 16 && n <= MSD_TOKEN_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = token_char(line[i]);
    if (!ok) {
        msd_log("token file %s: the first line must be 16 to 64 characters of [A-Za-z0-9._~-]", file);
        return -EINVAL;
    }
    memcpy(out, line, n + 1);
    return 0;
}

static int random_token(char *out)
{
    unsigned char raw[24];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            msd_log("getrandom: %s", strerror(e));
            return -e;
        }
        got += (size_t)r;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static int write_token(const char *path, const char *token)
{
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp%ld", path, (long)getpid()) < 0)
        return -ENOMEM;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    int rc = 0;
    if (fd < 0) {
        rc = -errno;
    } else {
        size_t n = strlen(token);
        if (fchmod(fd, 0600) < 0 || write(fd, token, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
            rc = errno ? -errno : -EIO;
        if (close(fd) < 0 && rc == 0)
            rc = -errno;
        if (rc == 0 && rename(tmp, path) < 0)
            rc = -errno;
        if (rc < 0)
            unlink(tmp);
    }
    if (rc < 0)
        msd_log("cannot write token file %s: %s", path, strerror(-rc));
    free(tmp);
    return rc;
}

int msd_token_init(const char *token_file, const char *write_path, char *out)
{
    int rc = token_file ? read_token(token_file, out) : random_token(out);
    if (rc < 0)
        return rc;
    return write_path ? write_token(write_path, out) : 0;
}

bool msd_token_check(const char *token, const char *header)
{
    static const char prefix[] = "Bearer ";
    if (!header || strncmp(header, prefix, sizeof(prefix) - 1) != 0)
        return false;
    header += sizeof(prefix) - 1;
    size_t tn = strlen(token), hn = strlen(header);
    /* Compare every byte of the token whatever the header holds, so timing tells nothing but the length. */
    unsigned char diff = (unsigned char)(tn != hn);
    for (size_t i = 0; i < tn; i++)
        diff |= (unsigned char)(token[i] ^ (i < hn ? header[i] : 0));
    return diff == 0;
}
