/*
 * daemon/ipc.c — the Unix socket server for apps. See ipc.h; the protocol is docs/PROTOCOL.md.
 * Read conn_read() first: every byte an app sends goes through it. Requests to apps and their replies are in
 * request.c; the structures both share are in ipc_internal.h.
 *
 * A connection's states:  accepted --hello--> app (registered) --close/EOF/protocol error--> closing -> freed.
 * Invariants:
 *   - c->app != NULL iff a valid hello was accepted and the connection is not closing; then c->app->conn == c.
 *   - c->buf holds bytes read but not yet decoded; it never holds a complete frame between reads. When it is
 *     empty, reads go to the shared scratch buffer instead (see struct msd_ipc).
 * A protocol error closes that connection only; the daemon never exits because of what an app sent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define MSD_IPC_PRIVATE
#include "ipc_internal.h"

typedef struct write_req {
    uv_write_t req;
    msd_conn *c;
    size_t len;
    uint8_t data[];
} write_req;


/* ---- Writing ------------------------------------------------------------------------------------------------ */

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    msd_conn *c = w->c;
    free(w);
    if (status < 0 && status != UV_ECANCELED)
        msd_conn_close(c, uv_strerror(status));
    else if (c->close_after_write && !c->closing && uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) == 0)
        msd_conn_close(c, NULL);
}

int msd_conn_send(msd_conn *c, const cJSON *msg)
{
    if (c->closing)
        return -ECONNRESET;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) > WRITE_QUEUE_MAX)
        return -ENOBUFS;
    char *text = cJSON_PrintUnformatted(msg);
    if (!text)
        return -ENOMEM;
    size_t n = strlen(text);
    if (n > MSD_FRAME_MAX) {
        free(text);
        return -EMSGSIZE;
    }
    write_req *w = malloc(sizeof(*w) + MSD_FRAME_HEADER + n);
    if (!w) {
        free(text);
        return -ENOMEM;
    }
    w->c = c;
    w->len = MSD_FRAME_HEADER + n;
    msd_frame_header(w->data, n);
    memcpy(w->data + MSD_FRAME_HEADER, text, n);
    free(text);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_written);
    if (rc < 0) {
        free(w);
        return rc;
    }
    return 0;
}

/* Takes c out of the read set: nothing it sends is read any more. Idempotent. */
static void stop_reading(msd_conn *c)
{
    if (c->fd >= 0)
        epoll_ctl(c->d->ipc->rfd, EPOLL_CTL_DEL, c->fd, NULL);
    c->fd = -1;
}

static void send_refused(msd_conn *c, const char *reason)
{
    cJSON *m = cJSON_CreateObject();
    if (m && cJSON_AddStringToObject(m, "type", "refused") &&
        cJSON_AddNumberToObject(m, "protocol", MSD_PROTOCOL_VERSION) && cJSON_AddStringToObject(m, "reason", reason) &&
        msd_conn_send(c, m) == 0) {
        cJSON_Delete(m);
        c->close_after_write = true;
        stop_reading(c);
        msd_log("refused an app: %s", reason);
        return;
    }
    cJSON_Delete(m);
    msd_conn_close(c, reason);
}

/* ---- Reading ------------------------------------------------------------------------------------------------ */

static void handle_hello(msd_conn *c, msd_msg *m)
{
    char reason[160];
    if (m->protocol != MSD_PROTOCOL_VERSION) {
        snprintf(reason, sizeof(reason), "unsupported protocol version %d (this daemon speaks %d)", m->protocol,
                 MSD_PROTOCOL_VERSION);
        send_refused(c, reason);
        return;
    }
    msd_app *app = msd_registry_add(c->d->reg, m);
    if (!app) {
        send_refused(c, "daemon out of memory");
        return;
    }
    c->app = app;
    app->conn = c;
    cJSON *w = cJSON_CreateObject();
    int rc = -ENOMEM;
    if (w && cJSON_AddStringToObject(w, "type", "welcome") &&
        cJSON_AddNumberToObject(w, "protocol", MSD_PROTOCOL_VERSION) &&
        cJSON_AddStringToObject(w, "daemon", MSD_VERSION) && cJSON_AddNumberToObject(w, "app_id", (double)app->id))
        rc = msd_conn_send(c, w);
    cJSON_Delete(w);
    if (rc < 0) {
        msd_conn_close(c, "cannot send welcome");
        return;
    }
    msd_log("app %llu connected: %s (pid %lld)", (unsigned long long)app->id, app->name, (long long)app->pid);
}

/* Handles one frame's payload. Closes the connection on a protocol error. */
static void handle_payload(msd_conn *c, const uint8_t *p, size_t n)
{
    msd_msg m;
    char err[200];
    if (msd_msg_parse(p, n, c->d->ipc->scratch, &m, err, sizeof(err)) < 0) {
        c->d->counters.frames_malformed++;
        msd_conn_close(c, err);
        return;
    }
    if (!c->app && m.type != MSD_MSG_HELLO) {
        msd_conn_close(c, "first message is not hello");
    } else {
        switch (m.type) {
        case MSD_MSG_HELLO:
            if (c->app)
                msd_conn_close(c, "second hello");
            else
                handle_hello(c, &m);
            break;
        case MSD_MSG_STATS:
            if (msd_registry_stats(c->d->reg, c->app, &c->d->ipc->scratch, msd_now_mono(), msd_now_wall()) < 0)
                msd_log("app %llu: out of memory while storing stats", (unsigned long long)c->app->id);
            break;
        case MSD_MSG_REPLY:
            msd_requests_reply(c, &m);
            break;
        case MSD_MSG_BYE:
            c->bye = true;
            break;
        case MSD_MSG_UNKNOWN:
            break;
        }
    }
    msd_msg_free(&m);
}

/* Handles the whole frames at the start of data[0..len); returns how many bytes they took, or -1 when the
 * connection was closed (protocol error or a handler's decision). */
static long handle_frames(msd_conn *c, const uint8_t *data, size_t len)
{
    size_t off = 0;
    while (!c->closing && !c->close_after_write) {
        msd_frame f;
        long r = msd_frame_decode(data + off, len - off, MSD_FRAME_MAX, &f);
        if (r == 0)
            break;
        if (r < 0) {
            c->d->counters.frames_malformed++;
            msd_conn_close(c, "frame length is 0 or larger than 1 MiB (or a binary frame without data)");
            return -1;
        }
        off += (size_t)r;
        c->d->counters.frames_received++;
        if (!f.binary)
            handle_payload(c, f.payload, f.len);
        else if (!c->app) {
            c->d->counters.frames_malformed++;
            msd_conn_close(c, "binary frame before welcome");
        }
        else
            msd_requests_binary(c, f.id, f.data, f.data_len);
    }
    return c->closing ? -1 : (long)off;
}

/*
 * Reads what c's socket holds: into the shared scratch buffer when c holds no partial frame (the usual case: one
 * whole stats message per read), else after the partial frame in c->buf. Frames are handled straight from
 * where they were read; only a partial tail is kept.
 * The read set is edge-triggered (a level-triggered set polls every socket it reported once more, to find it
 * empty), so c is reported again only when something new arrives: what is there now must be read now. A read
 * that does not fill the buffer has emptied the socket, so one read is enough, and another only when it filled
 * the buffer — unless the peer has hung up (hup: the event said so), whose end of file may sit behind the data
 * and is read to the end.
 */
static void conn_read(msd_conn *c, bool hup)
{
    uint8_t *scratch = c->d->ipc->scratch_bytes;
    for (bool more = true; more && !c->closing && c->fd >= 0;) {
        bool lent = c->buf.len == 0;
        /* By the invariant, buf never holds more than one incomplete frame (<= header + max), so below this
         * bound there is always room for a read. */
        if (!lent && msc_buf_reserve_max(&c->buf, READ_CHUNK, MSD_FRAME_HEADER + MSD_FRAME_MAX + READ_CHUNK) < 0) {
            msd_conn_close(c, "out of memory");
            return;
        }
        char *to = lent ? (char *)scratch : msc_buf_tail(&c->buf);
        size_t room = lent ? READ_CHUNK : msc_buf_room(&c->buf);
        ssize_t n = read(c->fd, to, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            msd_conn_close(c, n < 0 ? strerror(errno)
                              : c->buf.len ? "connection ended in the middle of a frame"
                              : c->bye     ? NULL
                                           : "connection lost");
            return;
        }
        more = (size_t)n == room || hup;
        if (lent) {
            long used = handle_frames(c, scratch, (size_t)n);
            /* Keep the partial frame: the connection's buffer is empty here (scratch was lent because it was). */
            if (used >= 0 && (size_t)used < (size_t)n &&
                msc_buf_append(&c->buf, scratch + used, (size_t)n - (size_t)used) < 0)
                msd_conn_close(c, "out of memory");
            continue;
        }
        msc_buf_commit(&c->buf, (size_t)n);
        long used = handle_frames(c, (const uint8_t *)msc_buf_bytes(&c->buf), c->buf.len);
        if (used < 0)
            return;
        msc_buf_consume(&c->buf, (size_t)used);
        msc_buf_shrink_idle(&c->buf, BUF_KEEP); /* idle: give the big buffer back */
    }
}

/* Reads every connection that has bytes, in rounds until the read set is quiet (at most a few rounds, so that
 * a flood from apps cannot starve the HTTP server). Returns how many reads it made. */
static size_t drain(msd_ipc *ipc)
{
    struct epoll_event evs[512];
    size_t total = 0;
    for (int round = 0; round < 4; round++) {
        int n = epoll_wait(ipc->rfd, evs, 512, 0);
        for (int i = 0; i < n; i++) {
            msd_conn *c = evs[i].data.ptr; /* a connection closed earlier in this round is freed only later */
            conn_read(c, evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
        }
        total += n > 0 ? (size_t)n : 0;
        if (n < 512)
            break;
    }
    return total;
}

static void on_batch(uv_timer_t *t);

/* The read set has bytes: read them. When this has been waking the loop more than BATCH_RATE times a second,
 * read on the BATCH_MS beat instead (see struct msd_ipc). */
static void on_apps_readable(uv_poll_t *p, int status, int events)
{
    msd_ipc *ipc = p->data;
    drain(ipc);
    uint64_t now = uv_now(ipc->batch.loop);
    if (++ipc->wakeups < BATCH_RATE / 10)
        return;
    bool fast = now - ipc->window_ms < 100; /* BATCH_RATE / 10 wakeups in less than 100 ms */
    ipc->wakeups = 0;
    ipc->window_ms = now;
    if (fast) {
        uv_poll_stop(&ipc->rpoll);
        uv_timer_start(&ipc->batch, on_batch, BATCH_MS, 0);
    }
}

/* BATCH_MS later: read what came meanwhile. While apps keep sending, keep reading on this beat; after
 * BATCH_IDLE beats that found nothing, go back to waking on the next byte. Switching is rare on purpose: starting
 * and stopping the uv_poll changes libuv's epoll set, and adding an epoll fd to another one makes the kernel check
 * the set for loops, which costs in proportion to the connections. */
static void on_batch(uv_timer_t *t)
{
    msd_ipc *ipc = t->data;
    ipc->idle_beats = drain(ipc) > 0 ? 0 : ipc->idle_beats + 1;
    if (ipc->idle_beats < BATCH_IDLE) {
        uv_timer_start(&ipc->batch, on_batch, BATCH_MS, 0);
        return;
    }
    ipc->idle_beats = 0;
    ipc->wakeups = 0;
    ipc->window_ms = uv_now(t->loop);
    uv_poll_start(&ipc->rpoll, UV_READABLE, on_apps_readable);
}

/* ---- Connections -------------------------------------------------------------------------------------------- */

static void on_conn_closed(uv_handle_t *h)
{
    msd_conn *c = h->data;
    msc_buf_free(&c->buf);
    free(c);
}

void msd_conn_close(msd_conn *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = true;
    msd_ipc *ipc = c->d->ipc;
    if (c->app) {
        if (why)
            msd_log("app %llu (%s, pid %lld) disconnected: %s", (unsigned long long)c->app->id, c->app->name,
                    (long long)c->app->pid, why);
        else
            msd_log("app %llu (%s, pid %lld) disconnected", (unsigned long long)c->app->id, c->app->name,
                    (long long)c->app->pid);
        msd_registry_disconnect(c->d->reg, c->app);
        c->app = NULL;
    } else if (why) {
        msd_log("closed a connection before hello: %s", why);
    }
    msc_list_remove(&c->link);
    ipc->nconns--;
    stop_reading(c);
    uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
    msd_requests_fail(ipc, c, -ECONNRESET);
}

static bool peer_allowed(uv_pipe_t *p)
{
    uv_os_fd_t fd;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (uv_fileno((uv_handle_t *)p, &fd) < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return false;
    if (cred.uid != geteuid()) {
        msd_log("refused a connection from uid %u (pid %d): only uid %u may connect", (unsigned)cred.uid,
                (int)cred.pid, (unsigned)geteuid());
        return false;
    }
    return true;
}

static void on_close_free(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *server, int status)
{
    msd_daemon *d = server->data;
    msd_ipc *ipc = d->ipc;
    if (status < 0) {
        msd_log("accept: %s", uv_strerror(status));
        return;
    }
    msd_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        /* Accept and drop, or the listener would stay readable and spin. */
        uv_pipe_t *tmp = malloc(sizeof(*tmp));
        if (tmp && uv_pipe_init(d->loop, tmp, 0) == 0) {
            (void)uv_accept(server, (uv_stream_t *)tmp);
            uv_close((uv_handle_t *)tmp, on_close_free);
        } else {
            free(tmp);
        }
        return;
    }
    uv_pipe_init(d->loop, &c->pipe, 0);
    msc_list_init(&c->link);
    c->fd = -1;
    c->pipe.data = c;
    c->d = d;
    c->accepted = msd_now_mono();
    if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
        uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
        return;
    }
    if (!peer_allowed(&c->pipe) || ipc->nconns >= (size_t)d->cfg.max_apps) {
        if (ipc->nconns >= (size_t)d->cfg.max_apps)
            msd_log("refused a connection: --max-apps %d reached", d->cfg.max_apps);
        uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
        return;
    }
    msc_list_push_front(&ipc->conns, &c->link);
    ipc->nconns++;
    uv_os_fd_t fd;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c}; /* see conn_read() */
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 || epoll_ctl(ipc->rfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        msd_conn_close(c, strerror(errno));
        return;
    }
    c->fd = fd;
}

/* Request deadlines every tick (request.c); hello deadlines once a second. */
static void on_tick(uv_timer_t *t)
{
    msd_daemon *d = t->data;
    msd_ipc *ipc = d->ipc;
    double now = msd_now_mono();
    msd_requests_expire(ipc, now);
    if (++ipc->ticks % (1000 / TICK_MS) != 0)
        return;
    msc_list_foreach_safe (it, next, &ipc->conns) {
        msd_conn *c = msc_list_entry(it, msd_conn, link);
        /* Also catches a refused peer that never reads its refusal (the write would never complete). */
        if (!c->app && now - c->accepted > HELLO_TIMEOUT_S)
            msd_conn_close(c, c->close_after_write ? "refusal not read within 5 s" : "no hello within 5 s");
    }
}

int msd_ipc_start(msd_daemon *d, int listen_fd)
{
    msd_ipc *ipc = calloc(1, sizeof(*ipc));
    if (!ipc)
        return -ENOMEM;
    ipc->rfd = -1;
    msc_list_init(&ipc->conns);
    msc_list_init(&ipc->requests);
    d->ipc = ipc;
    ipc->scratch = msd_stats_new();
    ipc->rfd = epoll_create1(EPOLL_CLOEXEC);
    int rc = !ipc->scratch ? -ENOMEM : ipc->rfd < 0 ? -errno : uv_poll_init(d->loop, &ipc->rpoll, ipc->rfd);
    if (rc < 0)
        goto fail_free;
    ipc->rpoll.data = ipc;
    uv_timer_init(d->loop, &ipc->batch);
    ipc->batch.data = ipc;
    uv_poll_start(&ipc->rpoll, UV_READABLE, on_apps_readable);
    uv_timer_init(d->loop, &ipc->tick);
    ipc->tick.data = d;
    rc = uv_pipe_init(d->loop, &ipc->server, 0);
    if (rc < 0) {
        uv_close((uv_handle_t *)&ipc->tick, NULL);
        goto fail_handles;
    }
    ipc->server.data = d;
    if ((rc = uv_pipe_open(&ipc->server, listen_fd)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&ipc->server, 511, on_connection)) < 0)
        goto fail_close;
    uv_timer_start(&ipc->tick, on_tick, TICK_MS, TICK_MS);
    return 0;
fail_close:
    uv_close((uv_handle_t *)&ipc->server, NULL);
    uv_close((uv_handle_t *)&ipc->tick, NULL);
fail_handles:
    msd_log("cannot serve the app socket: %s", uv_strerror(rc));
    uv_close((uv_handle_t *)&ipc->rpoll, NULL);
    uv_close((uv_handle_t *)&ipc->batch, NULL);
    ipc->stopped = true; /* msd_ipc_free() frees it once the loop has closed the handles */
    return rc;
fail_free:
    msd_ipc_free(d);
    return rc;
}

void msd_ipc_stop(msd_daemon *d)
{
    msd_ipc *ipc = d->ipc;
    if (!ipc || ipc->stopped)
        return;
    ipc->stopped = true;
    uv_close((uv_handle_t *)&ipc->server, NULL);
    uv_timer_stop(&ipc->tick);
    uv_close((uv_handle_t *)&ipc->tick, NULL);
    uv_poll_stop(&ipc->rpoll);
    uv_close((uv_handle_t *)&ipc->rpoll, NULL);
    uv_timer_stop(&ipc->batch);
    uv_close((uv_handle_t *)&ipc->batch, NULL);
    while (!msc_list_empty(&ipc->conns))
        msd_conn_close(msc_list_entry(msc_list_first(&ipc->conns), msd_conn, link), "daemon shutting down");
    msd_requests_fail(ipc, NULL, -ECONNRESET);
}

void msd_ipc_free(msd_daemon *d)
{
    if (d->ipc) {
        msd_stats_delete(d->ipc->scratch);
        if (d->ipc->rfd >= 0)
            close(d->ipc->rfd);
    }
    free(d->ipc);
    d->ipc = NULL;
}

size_t msd_ipc_connections(const msd_daemon *d)
{
    return d->ipc ? d->ipc->nconns : 0;
}
