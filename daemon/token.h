/*
 * daemon/token.h — the secret that authorizes state-changing API requests (Jupyter-style).
 */
#ifndef MEMSCOPE_DAEMON_TOKEN_H
#define MEMSCOPE_DAEMON_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define MSD_TOKEN_MAX 64

/*
 * Fills out (MSD_TOKEN_MAX + 1 bytes) with the token: read from token_file when it is not NULL (first line,
 * 16..64 characters of [A-Za-z0-9._~-]), else 24 random bytes from getrandom() as 48 hex digits. Then writes it,
 * followed by a newline, to write_path with mode 0600 (replacing the file atomically), unless write_path is NULL.
 * Returns 0 or a negative errno after printing why.
 */
int msd_token_init(const char *token_file, const char *write_path, char *out);

/* Checks an Authorization header value against the token: true iff it is "Bearer <token>". Constant time in
 * the token's length. header may be NULL. */
bool msd_token_check(const char *token, const char *header);

#endif /* MEMSCOPE_DAEMON_TOKEN_H */
