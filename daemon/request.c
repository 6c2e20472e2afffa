/*
 * daemon/request.c — requests from the API to apps (docs/PROTOCOL.md §5): sending them, matching replies and
 * binary frames (§6) by id, deadlines. Entry point: msd_ipc_request().
 *
 * Invariants: every request is on ipc->requests (npending of them) from msd_ipc_request() until its callback
 * has run — exactly once: on the reply, on the deadline (msd_requests_expire, from ipc.c's tick) or when its
 * connection closes (msd_requests_fail) — and then it is freed. Ids are per connection and never reused.
 * The list is unordered and scanned linearly: requests are few (one per waiting HTTP client).
 */
#include <errno.h>
#include <stdlib.h>

#define MSD_IPC_PRIVATE
#include "ipc_internal.h"

/* Runs the callback once and frees the request. */
static void request_finish(msd_ipc *ipc, msd_request *r, int status, msd_msg *reply)
{
    msc_list_remove(&r->link);
    ipc->npending--;
    r->cb(r->arg, status, reply);
    free(r);
}

/* The first request of connection c (of any connection when c is NULL), or NULL. */
static msd_request *first_of(msd_ipc *ipc, const msd_conn *c)
{
    msc_list_foreach (it, &ipc->requests) {
        msd_request *r = msc_list_entry(it, msd_request, link);
        if (!c || r->c == c)
            return r;
    }
    return NULL;
}

/* The list is re-scanned after each callback because a callback may start new requests. */
void msd_requests_fail(msd_ipc *ipc, msd_conn *c, int status)
{
    for (msd_request *r; (r = first_of(ipc, c));)
        request_finish(ipc, r, status, NULL);
}

int msd_ipc_request(msd_daemon *d, msd_app *app, const char *method, cJSON *params, int timeout_ms,
                    msd_reply_fn cb, void *arg)
{
    return msd_ipc_request_bytes(d, app, method, params, timeout_ms, NULL, cb, arg);
}

int msd_ipc_request_bytes(msd_daemon *d, msd_app *app, const char *method, cJSON *params, int timeout_ms,
                          msd_bytes_fn bytes, msd_reply_fn cb, void *arg)
{
    msd_ipc *ipc = d->ipc;
    msd_conn *c = app->conn;
    if (!app->connected || !c || c->closing) {
        cJSON_Delete(params);
        return -ENOTCONN;
    }
    if (!params)
        params = cJSON_CreateObject();
    msd_request *r = calloc(1, sizeof(*r));
    cJSON *m = cJSON_CreateObject();
    if (!r || !m || !params) {
        free(r);
        cJSON_Delete(m);
        cJSON_Delete(params);
        return -ENOMEM;
    }
    r->c = c;
    r->id = ++c->next_id;
    r->deadline = msd_now_mono() + timeout_ms / 1000.0;
    r->timeout_ms = timeout_ms;
    r->bytes = bytes;
    r->cb = cb;
    r->arg = arg;
    int rc = -ENOMEM;
    if (cJSON_AddStringToObject(m, "type", "request") && cJSON_AddNumberToObject(m, "id", (double)r->id) &&
        cJSON_AddStringToObject(m, "method", method)) {
        if (cJSON_AddItemToObject(m, "params", params)) {
            params = NULL;
            rc = msd_conn_send(c, m);
        }
    }
    cJSON_Delete(params);
    cJSON_Delete(m);
    if (rc < 0) {
        free(r);
        return rc == -ENOBUFS || rc == -ENOMEM ? rc : -ENOTCONN;
    }
    msc_list_push_front(&ipc->requests, &r->link);
    ipc->npending++;
    return 0;
}

void msd_requests_reply(msd_conn *c, msd_msg *m)
{
    msd_ipc *ipc = c->d->ipc;
    msc_list_foreach (it, &ipc->requests) {
        msd_request *r = msc_list_entry(it, msd_request, link);
        if (r->c == c && r->id == m->id) {
            request_finish(ipc, r, 0, m);
            return;
        }
    }
    msd_debug(c->d, "app %llu: reply to unknown or expired request %llu ignored", (unsigned long long)c->app->id,
              (unsigned long long)m->id);
}

void msd_requests_binary(msd_conn *c, uint32_t id, const uint8_t *data, size_t len)
{
    msd_ipc *ipc = c->d->ipc;
    msc_list_foreach (it, &ipc->requests) {
        msd_request *r = msc_list_entry(it, msd_request, link);
        if (r->c != c || r->id != id || !r->bytes)
            continue;
        r->deadline = msd_now_mono() + r->timeout_ms / 1000.0;
        int rc = r->bytes(r->arg, data, len);
        if (rc < 0)
            request_finish(ipc, r, rc, NULL);
        return;
    }
    /* A request that timed out or failed (over --heapsnapshot-max) while its app went on sending. */
    msd_debug(c->d, "app %llu: binary frame for unknown or finished request %u ignored",
              (unsigned long long)c->app->id, (unsigned)id);
}

void msd_requests_expire(msd_ipc *ipc, double now)
{
    /* The callback may change the list: start over after each (expired ones are gone). */
    for (bool again = true; again;) {
        again = false;
        msc_list_foreach (it, &ipc->requests) {
            msd_request *r = msc_list_entry(it, msd_request, link);
            if (now >= r->deadline) {
                request_finish(ipc, r, -ETIMEDOUT, NULL);
                again = true;
                break;
            }
        }
    }
}

size_t msd_ipc_pending(const msd_daemon *d)
{
    return d->ipc ? d->ipc->npending : 0;
}
