/*
 * runtime.c — the runtime lock, the fault handler, error strings, the version, and the start of the agent when the
 * program starts.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memscope/agent.h>
#include <memscope/runtime.h>

#include "internal.h"

static pthread_mutex_t runtime_lock = PTHREAD_MUTEX_INITIALIZER;

void ms_lock(void)
{
    pthread_mutex_lock(&runtime_lock);
    ms__note_lock_taken();
}

bool ms_trylock(void)
{
    if (pthread_mutex_trylock(&runtime_lock) != 0)
        return false;
    ms__note_lock_taken();
    return true;
}
void ms_unlock(void) { pthread_mutex_unlock(&runtime_lock); }

const char *ms_version(void) { return MS_VERSION_STRING; }

const char *ms_strerror(int code)
{
    switch (code) {
    case 0: return "success";
    case -ENOMEM: return "out of memory";
    case -EINVAL: return "invalid argument";
    case -EFAULT: return "heap corruption detected";
    case -EBUSY: return "busy";
    case -EALREADY: return "already running";
    case -ENOENT: return "not found";
    case -EIO: return "input/output error";
    case -ETIMEDOUT: return "timed out";
    case -EPROTO: return "protocol error";
    case -ENOTSUP: return "not supported";
    default: break;
    }
    /* strerror() covers the rest of the errno space; its text is static for known codes on glibc. */
    return code < 0 ? strerror(-code) : "unknown error";
}

static void default_fault(const char *what, const void *ptr, void *arg)
{
    (void)arg;
    fprintf(stderr, "memscope: fatal: %s (address %p)\n", what, ptr);
    abort();
}

static _Atomic(ms_fault_fn) fault_fn = default_fault;
static void *_Atomic fault_arg;

void ms_set_fault_handler(ms_fault_fn fn, void *arg)
{
    atomic_store(&fault_arg, arg);
    atomic_store(&fault_fn, fn ? fn : default_fault);
}

void ms__fault(const char *what, const void *ptr)
{
    ms_fault_fn fn = atomic_load(&fault_fn);
    fn(what, ptr, atomic_load(&fault_arg));
}

/*
 * Zero code for the agent (memscope/agent.h): libmemscope's constructor runs when the program starts (before
 * main(), or when the shared library is loaded) and starts the agent when the environment names a daemon.
 * Here, and not on some first allocation, so that a program connects whatever it does: one whose blocks are all
 * large, one that only collects. Without MEMSCOPE_SOCKET it costs one getenv() and leaves ms_init() for an
 * explicit call (a program that sets the variables itself). This file is in every program that links the
 * library, even statically: the allocator's fault reports live here.
 */
__attribute__((constructor)) static void start_agent_from_environment(void)
{
    const char *socket = getenv("MEMSCOPE_SOCKET");
    if (socket && socket[0])
        (void)ms_init(); /* failures are reported on stderr by ms_init; the program runs either way */
}
