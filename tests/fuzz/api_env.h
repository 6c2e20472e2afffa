/*
 * tests/fuzz/api_env.h — a daemon without a loop for the API fuzzers: a registry with a few apps, a private
 * data directory with two stored snapshots, and a stand-in for ipc.c that records the request msd_api_handle()
 * forwards so the fuzzer can answer it (with a reply it chose, a timeout or a disconnect) the way ipc.c would:
 * later, from outside msd_api_handle().
 */
#ifndef MEMSCOPE_FUZZ_API_ENV_H
#define MEMSCOPE_FUZZ_API_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "ipc.h"

#define FUZZ_TOKEN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* What the stand-in msd_ipc_request() saw last. */
typedef struct fuzz_forward {
    bool pending;
    msd_reply_fn cb;
    void *arg;
    char method[32];
} fuzz_forward;

extern fuzz_forward fuzz_fwd;
extern int fuzz_ipc_fail; /* 0, or the error the next msd_ipc_request() returns (-ENOTCONN, -ENOBUFS, -ENOMEM) */

/* The daemon, built once (aborts when it cannot be: the fuzzer would test nothing). */
msd_daemon *fuzz_daemon(void);

/*
 * Runs one request to completion: msd_api_handle(), then, when it forwarded, the recorded callback with
 * reply_status and the reply text (a whole reply message; when it does not parse as one, the app "times out").
 * Checks that exactly one answer comes, with a plausible status and a JSON body, and frees it.
 */
void fuzz_request(const msd_api_req *req, int reply_status, const char *reply, size_t reply_len);

/* Removes the snapshots a request stored, keeping the two the environment made. */
void fuzz_forget_new_snapshots(void);

#endif
