/*
 * agent.c — the agent thread: connects to memscoped, says hello, sends statistics every interval, receives
 * requests and sends their replies (docs/PROTOCOL.md). Read agent_main() first.
 *
 * The app must never wait for the agent, so:
 *   - the socket is non-blocking and written with MSG_NOSIGNAL; the thread blocks every signal, so none that is
 *     meant for the app is delivered here;
 *   - the outgoing buffer is bounded (ms_agent_config.max_buffered): a stats message that does not fit is dropped and counted, never
 *     queued behind a daemon that does not read;
 *   - the daemon may be absent or restart: the agent reconnects with a backoff of 100 ms doubling to 1 s;
 *   - the app thread and the agent thread share only atomics and the request queue, whose mutex is held for a few
 *     pointer moves (agent_internal.h);
 *   - a heap graph (heapsnapshot, docs/PROTOCOL.md section 6) leaves in binary frames, appended only while the
 *     outgoing buffer is less than half full, so that stats and replies always find room behind them; a daemon
 *     that reads nothing for MSC_HEAPSNAPSHOT_STALL_MS loses the transfer (pump_transfer).
 *
 * Connection states:   DOWN --connect()--> HELLO_SENT --welcome--> READY --error/EOF--> DOWN (after backoff)
 *                                                     --refused--> DOWN (30 s backoff: retrying will not help)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <memscope/agent.h>
#include <memscope/mem.h>

#include "agent_internal.h"
#include "buf.h"
#include "heapgraph_internal.h"
#include "internal.h"
#include "protocol.h"
#include "trace_internal.h"

/* The protocol's version and frame size are common/protocol.h's (docs/PROTOCOL.md). */
#define OUT_MAX_DEFAULT ((size_t)4 << 20) /* bound of the outgoing buffer */
#define PENDING_MAX 64                 /* requests waiting for a safe point */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define REFUSED_BACKOFF_MS 30000

typedef enum { DOWN, HELLO_SENT, READY } conn_state;

static struct {
    /* Configuration, fixed while the thread runs. */
    char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char app_name[MSC_APP_NAME_MAX + 1];
    unsigned interval_ms, request_timeout_ms;
    size_t out_max;

    /* Owned by the agent thread. */
    int fd;
    conn_state state;
    uint64_t generation; /* bumped per connection: replies of an older connection are dropped */
    msc_buf in, out; /* frames received and not yet handled; frames queued for the socket */
    uint64_t next_connect_ns, next_stats_ns, seq;
    unsigned backoff_ms;
    /* The heap graph being sent (graph != NULL), one at a time; hs_busy from the moment a heapsnapshot request is
     * queued until its reply is queued (or its connection gone). */
    struct {
        ms__heapgraph *graph;
        cJSON *reply;           /* sent after the last byte */
        uint32_t id;            /* the request's, in every frame */
        uint64_t sent, total;   /* wire image bytes queued so far / in all */
        uint64_t progress_ns;   /* when the socket last took a byte (or the transfer started) */
    } xfer;
    bool hs_busy;

    /* Lifecycle (under lifecycle_lock). */
    pthread_t thread;
    int wake[2]; /* app -> agent: "replies are ready" / "stop" */

    /* The request queue (under queue_lock). */
    pthread_mutex_t queue_lock;
    ms__request *pending, *done;
    size_t npending;
} agent = {.fd = -1, .in = MSC_BUF_INIT, .out = MSC_BUF_INIT, .wake = {-1, -1},
           .queue_lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_mutex_t lifecycle_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool running, stopping;
static _Thread_local bool in_agent_thread;

atomic_int ms__agent_pending;
atomic_bool ms__lock_adopted;

static struct {
    atomic_bool connected;
    _Atomic uint64_t app_id, connects, stats_sent, stats_dropped, requests_done, requests_timed_out, protocol_errors;
} status;

void ms__note_lock_taken(void)
{
    if (!in_agent_thread && !atomic_load_explicit(&ms__lock_adopted, memory_order_relaxed))
        atomic_store(&ms__lock_adopted, true);
}

/* ---- The request queue ------------------------------------------------------------------------------------- */

static void request_free(ms__request *r)
{
    cJSON_Delete(r->params);
    cJSON_Delete(r->result);
    ms__heapgraph_free(r->graph);
    ms__heapgraph_reserve_free(r->reserve);
    free(r);
}

static void free_list(ms__request *r)
{
    while (r) {
        ms__request *next = r->next;
        request_free(r);
        r = next;
    }
}

static void wake_agent(void)
{
    int fd = agent.wake[1];
    if (fd >= 0) {
        char b = 1;
        ssize_t rc = write(fd, &b, 1); /* non-blocking: a full pipe already means "wake up" */
        (void)rc;
    }
}

/* Appends the list `head` (in order) to *listp. Caller holds queue_lock. */
static void list_append(ms__request **listp, ms__request *head)
{
    while (*listp)
        listp = &(*listp)->next;
    *listp = head;
}

void ms__agent_run_pending(void)
{
    pthread_mutex_lock(&agent.queue_lock);
    ms__request *list = agent.pending;
    agent.pending = NULL;
    agent.npending = 0;
    atomic_store_explicit(&ms__agent_pending, 0, memory_order_relaxed);
    pthread_mutex_unlock(&agent.queue_lock);
    if (list == NULL)
        return;

    for (ms__request *r = list; r; r = r->next)
        ms__agent_execute(r);

    pthread_mutex_lock(&agent.queue_lock);
    list_append(&agent.done, list);
    pthread_mutex_unlock(&agent.queue_lock);
    wake_agent();
}

void ms_poll(void)
{
    ms__agent_safepoint();
    ms__mem_decay_tick();
    if (MS_DEBUG >= 3)
        (void)ms_mem_validate(); /* debug_level 3: a full heap walk at every safe point (reported if broken) */
}

/* Moves requests whose deadline passed from pending to done, answered with a timeout. */
static void expire_requests(uint64_t now)
{
    pthread_mutex_lock(&agent.queue_lock);
    ms__request **pp = &agent.pending, *expired = NULL;
    while (*pp) {
        ms__request *r = *pp;
        if (r->deadline_ns <= now) {
            *pp = r->next;
            r->next = NULL;
            snprintf(r->error, sizeof r->error,
                     "timeout: the app reached no safe point within %u ms (it must call ms_poll(), allocate "
                     "GC objects, or use ms_lock())",
                     agent.request_timeout_ms);
            list_append(&expired, r);
            agent.npending--;
            atomic_fetch_add(&status.requests_timed_out, 1);
        } else {
            pp = &r->next;
        }
    }
    if (agent.pending == NULL)
        atomic_store_explicit(&ms__agent_pending, 0, memory_order_relaxed);
    list_append(&agent.done, expired);
    pthread_mutex_unlock(&agent.queue_lock);
}

/* ---- Frames ---------------------------------------------------------------------------------------------------- */

/* Queues msg as one frame. A droppable frame (stats) that would push the buffer past out_max is dropped:
 * returns -ENOBUFS. Other errors: -ENOMEM, -EMSGSIZE (payload over MSC_FRAME_MAX), -ENOBUFS for a reply beyond
 * out_max + 2 frames (even replies stop somewhere). */
static int send_frame(const cJSON *msg, bool droppable)
{
    char *text = cJSON_PrintUnformatted(msg);
    if (text == NULL)
        return -ENOMEM;
    size_t len = strlen(text);
    int rc;
    if (len == 0 || len > MSC_FRAME_MAX) {
        rc = -EMSGSIZE;
    } else {
        size_t max = droppable ? agent.out_max : agent.out_max + 2 * (size_t)MSC_FRAME_MAX;
        unsigned char h[MSC_FRAME_HEADER] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                                             (unsigned char)(len >> 8), (unsigned char)len};
        rc = msc_buf_reserve_max(&agent.out, sizeof h + len, max);
        if (rc == 0) { /* both appends fit now: the frame goes in whole */
            msc_buf_append(&agent.out, h, sizeof h);
            msc_buf_append(&agent.out, text, len);
        }
    }
    cJSON_free(text);
    return rc;
}

/* Forgets the transfer, if any (the reply was sent, or never will be). */
static void xfer_end(void)
{
    ms__heapgraph_free(agent.xfer.graph);
    cJSON_Delete(agent.xfer.reply);
    agent.xfer.graph = NULL;
    agent.xfer.reply = NULL;
}

static void disconnect(bool refused)
{
    if (agent.fd >= 0)
        close(agent.fd);
    agent.fd = -1;
    agent.state = DOWN;
    msc_buf_clear(&agent.in);
    msc_buf_clear(&agent.out);
    xfer_end();
    agent.hs_busy = false;
    agent.generation++;
    atomic_store(&status.connected, false);
    atomic_store(&status.app_id, 0);
    uint64_t wait = refused ? REFUSED_BACKOFF_MS : agent.backoff_ms;
    agent.next_connect_ns = ms__now_ns() + wait * 1000000u;
    agent.backoff_ms = agent.backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : agent.backoff_ms * 2;

    /* Requests of this connection can no longer be answered. Those being executed right now come back through
     * `done` later and are dropped by their generation. */
    pthread_mutex_lock(&agent.queue_lock);
    ms__request *pending = agent.pending, *done = agent.done;
    agent.pending = agent.done = NULL;
    agent.npending = 0;
    atomic_store(&ms__agent_pending, 0);
    pthread_mutex_unlock(&agent.queue_lock);
    free_list(pending);
    free_list(done);
}

static cJSON *argv_json(void)
{
    cJSON *arr = cJSON_CreateArray();
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (arr == NULL || fd < 0) {
        if (fd >= 0)
            close(fd);
        return arr;
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    for (ssize_t i = 0; i < n;) {
        buf[n] = '\0';
        cJSON_AddItemToArray(arr, cJSON_CreateString(buf + i));
        i += (ssize_t)strlen(buf + i) + 1;
    }
    return arr;
}

static void try_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        disconnect(false);
        return;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, agent.socket_path, sizeof sa.sun_path);
    /* A Unix stream connect completes at once or fails at once (ENOENT, ECONNREFUSED; EAGAIN when the daemon's
     * backlog is full): either way there is no in-progress state to track. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        disconnect(false);
        return;
    }
    agent.fd = fd;
    agent.state = HELLO_SENT;

    cJSON *hello = cJSON_CreateObject();
    cJSON_AddStringToObject(hello, "type", "hello");
    cJSON_AddNumberToObject(hello, "protocol", MSC_PROTOCOL_VERSION);
    cJSON_AddNumberToObject(hello, "pid", (double)getpid());
    cJSON_AddStringToObject(hello, "app", agent.app_name);
    cJSON_AddItemToObject(hello, "argv", argv_json());
    cJSON_AddStringToObject(hello, "library", ms_version());
    cJSON_AddNumberToObject(hello, "small_threshold", (double)ms_mem_small_threshold());
    cJSON_AddNumberToObject(hello, "interval_ms", agent.interval_ms);
    if (send_frame(hello, false) != 0)
        disconnect(false);
    cJSON_Delete(hello);
}

static void on_request(const cJSON *msg, uint64_t now)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");
    if (!cJSON_IsNumber(id) || !cJSON_IsString(method)) {
        atomic_fetch_add(&status.protocol_errors, 1);
        return;
    }
    ms__request *r = calloc(1, sizeof *r);
    if (r == NULL)
        return; /* the daemon times out: the best we can do without memory */
    r->id = id->valuedouble;
    r->generation = agent.generation;
    snprintf(r->method, sizeof r->method, "%s", method->valuestring);
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
    r->params = params ? cJSON_Duplicate(params, 1) : NULL;
    r->deadline_ns = now + (uint64_t)agent.request_timeout_ms * 1000000u;
    bool busy = false;
    if (strcmp(r->method, "heapsnapshot") == 0) {
        busy = agent.hs_busy;
        agent.hs_busy = true;
    }

    /* The snapshot's memory, touched here so that the app's pause is only its walk (heapgraph_internal.h). */
    if (!busy && strcmp(r->method, "heapsnapshot") == 0)
        r->reserve = ms__heapgraph_reserve_new();
    pthread_mutex_lock(&agent.queue_lock);
    if (busy) {
        snprintf(r->error, sizeof r->error,
                 "busy: a heap snapshot is already being taken or sent (one at a time: retry when it is done)");
        list_append(&agent.done, r);
    } else if (agent.npending >= PENDING_MAX) {
        snprintf(r->error, sizeof r->error, "too many requests waiting for a safe point (%d)", PENDING_MAX);
        list_append(&agent.done, r);
    } else {
        list_append(&agent.pending, r);
        agent.npending++;
        atomic_store(&ms__agent_pending, 1);
    }
    pthread_mutex_unlock(&agent.queue_lock);
}

static void on_message(const cJSON *msg, uint64_t now)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(msg, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    if (agent.state == HELLO_SENT) {
        if (strcmp(t, "welcome") == 0) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "app_id");
            agent.state = READY;
            agent.backoff_ms = BACKOFF_MIN_MS;
            agent.next_stats_ns = now; /* first stats at once: the app shows up with data */
            /* Checked before the conversion: a double outside uint64_t's range converts to undefined behaviour. */
            bool valid = cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble < 18446744073709551616.0;
            atomic_store(&status.app_id, valid ? (uint64_t)id->valuedouble : 0);
            atomic_store(&status.connected, true);
            atomic_fetch_add(&status.connects, 1);
        } else if (strcmp(t, "refused") == 0) {
            const cJSON *why = cJSON_GetObjectItemCaseSensitive(msg, "reason");
            fprintf(stderr, "memscope agent: the daemon refused us: %s\n",
                    cJSON_IsString(why) ? why->valuestring : "(no reason)");
            disconnect(true);
        } else {
            atomic_fetch_add(&status.protocol_errors, 1);
            disconnect(false);
        }
        return;
    }
    if (strcmp(t, "request") == 0)
        on_request(msg, now);
    /* Anything else is ignored: newer daemons may send more (PROTOCOL.md section 7). */
}

/* Reads what the socket has and handles every complete frame. */
static void read_frames(uint64_t now)
{
    for (;;) {
        if (msc_buf_reserve(&agent.in, 65536) != 0) {
            disconnect(false);
            return;
        }
        ssize_t n = recv(agent.fd, msc_buf_tail(&agent.in), msc_buf_room(&agent.in), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            disconnect(false);
            return;
        }
        if (n < 0)
            break;
        msc_buf_commit(&agent.in, (size_t)n);
    }
    while (agent.fd >= 0 && agent.in.len >= MSC_FRAME_HEADER) {
        const unsigned char *p = (const unsigned char *)msc_buf_bytes(&agent.in);
        uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (len == 0 || len > MSC_FRAME_MAX) {
            atomic_fetch_add(&status.protocol_errors, 1);
            disconnect(false);
            return;
        }
        if (agent.in.len - MSC_FRAME_HEADER < len)
            break;
        cJSON *msg = cJSON_ParseWithLength((const char *)p + MSC_FRAME_HEADER, len);
        msc_buf_consume(&agent.in, MSC_FRAME_HEADER + len);
        if (!cJSON_IsObject(msg)) {
            cJSON_Delete(msg);
            atomic_fetch_add(&status.protocol_errors, 1);
            disconnect(false);
            return;
        }
        on_message(msg, now);
        cJSON_Delete(msg);
    }
}

static void flush_out(void)
{
    while (agent.out.len) {
        ssize_t n = send(agent.fd, msc_buf_bytes(&agent.out), agent.out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            disconnect(false);
            return;
        }
        msc_buf_consume(&agent.out, (size_t)n);
        if (n > 0)
            agent.xfer.progress_ns = ms__now_ns();
    }
}

/* Turns executed requests into reply frames. */
/* A heapsnapshot's graph, walked at the safe point, made whole here, off the app's pause; its sizes join the
 * result. On failure the request becomes an error. */
static void finish_graph(ms__request *r)
{
    ms__heapgraph_reserve_free(r->reserve); /* what the walk did not use */
    r->reserve = NULL;
    int rc = ms__heapgraph_finish(r->graph);
    const msc_hg *g = &r->graph->g;
    if (rc == 0 && r->result &&
        (!cJSON_AddNumberToObject(r->result, "objects", (double)(g->node_count - 2)) ||
         !cJSON_AddNumberToObject(r->result, "edges", (double)g->edge_count) ||
         !cJSON_AddNumberToObject(r->result, "graph_bytes", (double)msc_hg_wire_size(g))))
        rc = -ENOMEM;
    if (rc != 0) {
        snprintf(r->error, sizeof r->error, "cannot take a heap snapshot: %s", ms_strerror(rc));
        cJSON_Delete(r->result);
        r->result = NULL;
        ms__heapgraph_free(r->graph);
        r->graph = NULL;
    }
}

static void send_replies(void)
{
    pthread_mutex_lock(&agent.queue_lock);
    ms__request *list = agent.done;
    agent.done = NULL;
    pthread_mutex_unlock(&agent.queue_lock);
    for (ms__request *r = list; r; r = r->next) {
        if (r->generation != agent.generation)
            continue; /* asked on a connection that is gone */
        bool snapshot = strcmp(r->method, "heapsnapshot") == 0;
        cJSON *reply = cJSON_CreateObject();
        if (reply == NULL) {
            agent.hs_busy &= !snapshot;
            continue;
        }
        cJSON_AddStringToObject(reply, "type", "reply");
        cJSON_AddNumberToObject(reply, "id", r->id);
        if (r->graph)
            finish_graph(r);
        if (r->graph && r->result && !agent.xfer.graph) {
            /* The graph goes first (pump_transfer), this reply after its last byte. */
            cJSON_AddBoolToObject(reply, "ok", 1);
            cJSON_AddItemToObject(reply, "result", r->result);
            r->result = NULL;
            agent.xfer.graph = r->graph;
            r->graph = NULL;
            agent.xfer.reply = reply;
            agent.xfer.id = (uint32_t)r->id; /* checked by the executor: an integer in 1 .. 2^32 - 1 */
            agent.xfer.sent = 0;
            agent.xfer.total = msc_hg_wire_size(&agent.xfer.graph->g);
            agent.xfer.progress_ns = ms__now_ns();
            continue;
        }
        if (r->graph) /* cannot happen: hs_busy admits one heapsnapshot at a time */
            snprintf(r->error, sizeof r->error, "busy: a heap snapshot is already being sent");
        else if (snapshot)
            agent.hs_busy = false; /* failed: answered now */
        if (r->result && r->graph == NULL) {
            cJSON_AddBoolToObject(reply, "ok", 1);
            cJSON_AddItemToObject(reply, "result", r->result);
            r->result = NULL;
        } else {
            cJSON_AddBoolToObject(reply, "ok", 0);
            cJSON_AddStringToObject(reply, "error", r->error[0] ? r->error : "failed");
        }
        if (send_frame(reply, false) == -EMSGSIZE) {
            cJSON_Delete(reply);
            reply = cJSON_CreateObject();
            cJSON_AddStringToObject(reply, "type", "reply");
            cJSON_AddNumberToObject(reply, "id", r->id);
            cJSON_AddBoolToObject(reply, "ok", 0);
            cJSON_AddStringToObject(reply, "error", "result larger than the frame limit (MSC_FRAME_MAX, 1 MiB)");
            send_frame(reply, false);
        }
        cJSON_Delete(reply);
        atomic_fetch_add(&status.requests_done, 1);
    }
    free_list(list);
}

/*
 * Appends the next binary frames of the transfer while the outgoing buffer is below half its bound (the other half
 * stays for stats, which are dropped rather than queued when they do not fit, and replies), then the reply once
 * the last byte is queued. Each frame: the length word with MSC_FRAME_BINARY, the request id (u32 BE), and up to
 * MSC_FRAME_MAX - 4 bytes copied from the wire image straight into the buffer. A transfer whose socket took
 * nothing for MSC_HEAPSNAPSHOT_STALL_MS is abandoned: the graph freed, the daemon told "dropped" (after whatever
 * frames are queued already: it may still read them). Never blocks. O(bytes appended).
 */
static void pump_transfer(uint64_t now)
{
    if (!agent.xfer.graph || agent.state != READY)
        return;
    /* progress_ns may be a moment after `now` (flush_out reads the clock again). */
    if (now > agent.xfer.progress_ns && now - agent.xfer.progress_ns >= (uint64_t)MSC_HEAPSNAPSHOT_STALL_MS * 1000000u) {
        cJSON *reply = cJSON_CreateObject();
        if (reply) {
            cJSON_AddStringToObject(reply, "type", "reply");
            cJSON_AddNumberToObject(reply, "id", agent.xfer.id);
            cJSON_AddBoolToObject(reply, "ok", 0);
            cJSON_AddStringToObject(reply, "error", "dropped: the daemon read nothing for 10 s");
            send_frame(reply, false);
            cJSON_Delete(reply);
        }
        xfer_end();
        agent.hs_busy = false;
        atomic_fetch_add(&status.requests_done, 1);
        return;
    }
    size_t budget = agent.out_max / 2;
    size_t min_chunk = budget / 4 < 65536 ? budget / 4 : 65536;
    while (agent.xfer.sent < agent.xfer.total) {
        uint64_t left = agent.xfer.total - agent.xfer.sent;
        size_t room = budget > agent.out.len + 2 * MSC_FRAME_HEADER ? budget - agent.out.len - 2 * MSC_FRAME_HEADER : 0;
        size_t n = MSC_FRAME_MAX - MSC_BINARY_ID_BYTES;
        if (left < n)
            n = (size_t)left;
        if (room < n) {
            if (room < min_chunk || room == 0)
                return; /* the socket drains it first (POLLOUT) */
            n = room;
        }
        size_t frame = MSC_FRAME_HEADER + MSC_BINARY_ID_BYTES + n;
        if (msc_buf_reserve(&agent.out, frame) != 0)
            return; /* out of memory: retried at the next turn, or dropped by the stall rule */
        uint32_t len = (uint32_t)(MSC_BINARY_ID_BYTES + n) | MSC_FRAME_BINARY, id = agent.xfer.id;
        unsigned char h[8] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                              (unsigned char)len,         (unsigned char)(id >> 24),  (unsigned char)(id >> 16),
                              (unsigned char)(id >> 8),   (unsigned char)id};
        msc_buf_append(&agent.out, h, sizeof h);
        msc_hg_wire_copy(&agent.xfer.graph->g, agent.xfer.sent, msc_buf_tail(&agent.out), n);
        msc_buf_commit(&agent.out, n);
        agent.xfer.sent += n;
    }
    send_frame(agent.xfer.reply, false);
    xfer_end();
    agent.hs_busy = false;
    atomic_fetch_add(&status.requests_done, 1);
}

static void send_stats(void)
{
    uint64_t dropped = atomic_load(&status.stats_dropped);
    cJSON *msg = ms__agent_stats_json(++agent.seq, dropped);
    if (msg == NULL) {
        atomic_fetch_add(&status.stats_dropped, 1);
        return;
    }
    if (send_frame(msg, true) == 0)
        atomic_fetch_add(&status.stats_sent, 1);
    else
        atomic_fetch_add(&status.stats_dropped, 1);
    cJSON_Delete(msg);
}

static int ms_until(uint64_t when, uint64_t now)
{
    if (when <= now)
        return 0;
    uint64_t ms = (when - now + 999999) / 1000000;
    return ms > 60000 ? 60000 : (int)ms;
}

static void *agent_main(void *arg)
{
    (void)arg;
    in_agent_thread = true;
    agent.backoff_ms = BACKOFF_MIN_MS;
    agent.next_connect_ns = 0;

    while (!atomic_load(&stopping)) {
        uint64_t now = ms__now_ns();
        ms__trace_tick();
        if (agent.state == DOWN && now >= agent.next_connect_ns)
            try_connect();
        if (agent.state == READY && now >= agent.next_stats_ns) {
            send_stats();
            agent.next_stats_ns += (uint64_t)agent.interval_ms * 1000000u;
            if (agent.next_stats_ns <= now) /* we fell behind (a stopped process): do not burst */
                agent.next_stats_ns = now + (uint64_t)agent.interval_ms * 1000000u;
        }
        /* Programs that follow the lock protocol get their requests run here whenever the lock is free. */
        if (atomic_load(&ms__agent_pending) && atomic_load(&ms__lock_adopted) && ms_trylock()) {
            ms__agent_run_pending();
            ms_unlock();
        }
        expire_requests(now);
        if (agent.state != DOWN)
            send_replies();
        pump_transfer(now);
        if (agent.fd >= 0 && agent.out.len)
            flush_out();
        pump_transfer(ms__now_ns()); /* refill what the socket just took */

        int timeout = 60000;
        if (agent.state == DOWN)
            timeout = ms_until(agent.next_connect_ns, now);
        else if (agent.state == READY)
            timeout = ms_until(agent.next_stats_ns, now);
        if (atomic_load(&ms__agent_pending)) {
            int t = atomic_load(&ms__lock_adopted) ? 5 : 50; /* retry the lock, or check deadlines */
            timeout = timeout < t ? timeout : t;
        }
        if (agent.xfer.graph) { /* the stall rule's deadline */
            int t = ms_until(agent.xfer.progress_ns + (uint64_t)MSC_HEAPSNAPSHOT_STALL_MS * 1000000u, now);
            timeout = timeout < t ? timeout : t;
        }
        struct pollfd pfd[2] = {{.fd = agent.wake[0], .events = POLLIN}, {.fd = agent.fd, .events = POLLIN}};
        if (agent.fd >= 0 && agent.out.len)
            pfd[1].events |= POLLOUT;
        int n = poll(pfd, agent.fd >= 0 ? 2 : 1, timeout);
        if (n <= 0)
            continue;
        if (pfd[0].revents) {
            char drain[64];
            while (read(agent.wake[0], drain, sizeof drain) > 0) {
            }
        }
        if (agent.fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
            read_frames(ms__now_ns());
        if (agent.fd >= 0 && (pfd[1].revents & POLLOUT))
            flush_out();
    }

    /* Goodbye: best effort, never waiting. */
    if (agent.state == READY) {
        cJSON *bye = cJSON_CreateObject();
        cJSON_AddStringToObject(bye, "type", "bye");
        send_frame(bye, false);
        cJSON_Delete(bye);
        flush_out();
    }
    disconnect(false);
    return NULL;
}

/* ---- Lifecycle ------------------------------------------------------------------------------------------------ */

static unsigned env_uint(const char *name, unsigned dflt, unsigned lo, unsigned hi)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return dflt;
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (*end != '\0' || x < lo || x > hi) {
        fprintf(stderr, "memscope agent: ignoring %s=%s (want %u..%u)\n", name, v, lo, hi);
        return dflt;
    }
    return (unsigned)x;
}

int ms_agent_start(const ms_agent_config *cfg)
{
    ms_agent_config env = {0};
    if (cfg == NULL) {
        env.socket_path = getenv("MEMSCOPE_SOCKET");
        env.app_name = getenv("MEMSCOPE_APP_NAME");
        env.interval_ms = env_uint("MEMSCOPE_INTERVAL_MS", 1000, 10, 3600000);
        cfg = &env;
    }
    if (cfg->socket_path == NULL || cfg->socket_path[0] == '\0' ||
        strlen(cfg->socket_path) >= sizeof agent.socket_path)
        return -EINVAL;

    pthread_mutex_lock(&lifecycle_lock);
    if (atomic_load(&running)) {
        pthread_mutex_unlock(&lifecycle_lock);
        return -EALREADY;
    }
    memset(agent.socket_path, 0, sizeof agent.socket_path);
    memcpy(agent.socket_path, cfg->socket_path, strlen(cfg->socket_path));
    const char *name = cfg->app_name && cfg->app_name[0] ? cfg->app_name : program_invocation_short_name;
    snprintf(agent.app_name, sizeof agent.app_name, "%s", name);
    agent.interval_ms = cfg->interval_ms ? cfg->interval_ms : 1000;
    agent.request_timeout_ms = cfg->request_timeout_ms ? cfg->request_timeout_ms : 4000;
    agent.out_max = cfg->max_buffered ? cfg->max_buffered : OUT_MAX_DEFAULT;
    agent.state = DOWN;
    agent.fd = -1;

    int rc = 0;
    if (pipe2(agent.wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        rc = -errno;
        goto fail;
    }
    /* The thread inherits a full signal mask: signals stay with the app's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    atomic_store(&stopping, false);
    int err = pthread_create(&agent.thread, NULL, agent_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        rc = -err;
        goto fail_pipe;
    }
    atomic_store(&running, true);
    pthread_mutex_unlock(&lifecycle_lock);
    return 0;

fail_pipe:
    close(agent.wake[0]);
    close(agent.wake[1]);
    agent.wake[0] = agent.wake[1] = -1;
fail:
    pthread_mutex_unlock(&lifecycle_lock);
    return rc;
}

void ms_agent_stop(void)
{
    pthread_mutex_lock(&lifecycle_lock);
    if (!atomic_load(&running)) {
        pthread_mutex_unlock(&lifecycle_lock);
        return;
    }
    atomic_store(&stopping, true);
    wake_agent();
    pthread_join(agent.thread, NULL);
    close(agent.wake[0]);
    close(agent.wake[1]);
    agent.wake[0] = agent.wake[1] = -1;
    msc_buf_free(&agent.in);
    msc_buf_free(&agent.out);
    atomic_store(&running, false);
    pthread_mutex_unlock(&lifecycle_lock);
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

static void init_runtime(void)
{
    const char *disable = getenv("MEMSCOPE_DISABLE");
    if (disable && strcmp(disable, "1") == 0)
        return;
    if (getenv("MEMSCOPE_SOCKET") == NULL)
        return;
    init_result = ms_agent_start(NULL);
    if (init_result != 0 && init_result != -EALREADY)
        fprintf(stderr, "memscope agent: not started: %s\n", ms_strerror(init_result));
}

int ms_init(void)
{
    pthread_once(&init_once, init_runtime);
    return init_result == -EALREADY ? 0 : init_result;
}

void ms_agent_status_get(ms_agent_status *out)
{
    out->running = atomic_load(&running);
    out->connected = atomic_load(&status.connected);
    out->app_id = atomic_load(&status.app_id);
    out->connects = atomic_load(&status.connects);
    out->stats_sent = atomic_load(&status.stats_sent);
    out->stats_dropped = atomic_load(&status.stats_dropped);
    out->requests_done = atomic_load(&status.requests_done);
    out->requests_timed_out = atomic_load(&status.requests_timed_out);
    out->protocol_errors = atomic_load(&status.protocol_errors);
}
