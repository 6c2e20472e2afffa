/*
 * bare_mhd — the competitor of memscoped's API in bench/daemon/run.sh: a libmicrohttpd server that answers every
 * GET with the same static buffer of N bytes, with the same threading model as memscoped (one thread, epoll)
 * and nothing else. What memscoped does beyond this (routing, Host and token checks, the registry lookup, the
 * cached document) is what the benchmark prices.
 *
 *   bare_mhd PORT BYTES      serves until SIGINT/SIGTERM
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

static char *body;
static size_t body_len;

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls, (void)url, (void)version, (void)upload, (void)upload_size;
    if (strcmp(method, "GET") != 0)
        return MHD_NO;
    /* Answer from the second call, as memscoped does: libmicrohttpd 0.9.75 closes the connection after a response
     * queued from the first call ("early"), so answering there would make every request a new connection. */
    if (*con_cls == NULL) {
        *con_cls = &body;
        return MHD_YES;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bare_mhd PORT BYTES\n");
        return 2;
    }
    int port = atoi(argv[1]);
    body_len = (size_t)strtoul(argv[2], NULL, 10);
    body = malloc(body_len + 1);
    if (body == NULL || port <= 0 || port > 65535)
        return 2;
    memset(body, 'x', body_len);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD, (uint16_t)port, NULL, NULL, answer, NULL,
                                            MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "bare_mhd: cannot listen on port %d\n", port);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!stop)
        pause();
    MHD_stop_daemon(d);
    free(body);
    return 0;
}
