/* worker: a load thread's event loop and its virtual users (see worker.h).
 * Closed model: each client is one connection and one VU; when a response
 * is complete the VU is ready again and its next request starts at once.
 * Latency runs from when the VU became ready (so connect time after a
 * server close counts), service time from the first byte written. */
#include "load/worker.h"

#include "core/clock.h"
#include "net/conn.h"
#include "net/loop.h"
#include "proto/http1.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define READ_BUF_BYTES (64 * 1024)

typedef struct client {
    conn c;
    worker *w;
    http1_resp resp;
    loop_timer timer;       /* connect or request timeout */
    loop_timer retry;       /* deferred next iteration */
    uint64_t ready_ns;      /* intended start of the current request */
    uint64_t connect_ns;    /* connect started */
    uint64_t sent_ns;       /* first byte written */
    uint64_t first_byte_ns;
    uint64_t bytes_in;
    bool in_flight;         /* an iteration holds a ticket and has no outcome yet */
    bool got_bytes;
    bool sent;
} client;

struct worker {
    worker_config cfg;
    const plan *p;
    loop *lp;
    metrics_shard *shard;
    client *clients;
    uint32_t nclients;
    uint64_t issued;
    uint32_t in_flight;
    _Atomic uint32_t active;
    bool stopping;
    bool started;
    int wakefd;
    _Atomic int stop_req;    /* 1 graceful, 2 abort */
    loop_timer start_timer, end_timer, tick_timer, grace_timer;
    uint64_t end_ns;
    pthread_t th;
    bool th_started;
    _Atomic bool done;
    char fatal[256];
    char rbuf[READ_BUF_BYTES];
};

static void client_next(client *cl);
static void client_fail(client *cl, err_kind k);

/* ---- bookkeeping ---- */

static bool can_issue(worker *w)
{
    if (w->stopping)
        return false;
    return w->issued < w->cfg.requests;
}

static void maybe_finish(worker *w)
{
    if (w->in_flight == 0 && (w->stopping || !can_issue(w)))
        loop_stop(w->lp);
}

static void set_active(worker *w, int delta)
{
    uint32_t a = atomic_load_explicit(&w->active, memory_order_relaxed);
    atomic_store_explicit(&w->active, a + (uint32_t)delta, memory_order_relaxed);
}

static void client_close(client *cl, bool reset)
{
    if (cl->c.fd >= 0) {
        if (cl->c.state == CONN_OPEN)
            set_active(cl->w, -1);
        conn_close(&cl->c, reset);
    }
}

static void on_retry(loop *l, void *data);

/* Ends the current iteration; the VU is ready again now. defer: start the
 * next one from the loop (after a failure, so that a refused port cannot
 * recurse or starve the other connections). */
static void iteration_end(client *cl, bool defer)
{
    worker *w = cl->w;
    loop_timer_stop(w->lp, &cl->timer);
    cl->in_flight = false;
    w->in_flight--;
    cl->ready_ns = loop_now(w->lp);
    if (!can_issue(w)) {
        client_close(cl, false);
        maybe_finish(w);
        return;
    }
    if (defer)
        loop_timer_start(w->lp, &cl->retry, cl->ready_ns, on_retry, cl);
    else
        client_next(cl);
}

static void client_fail(client *cl, err_kind k)
{
    worker *w = cl->w;
    metrics_record_error(w->shard, k, cl->bytes_in, cl->sent ? w->p->request.len : 0);
    /* RST: an abandoned exchange must not linger in TIME_WAIT or be reused. */
    client_close(cl, true);
    iteration_end(cl, true);
}

static void client_done(client *cl)
{
    worker *w = cl->w;
    uint64_t now = loop_update_now(w->lp);
    http1_resp *r = &cl->resp;
    metrics_record_response(w->shard, r->status, now - cl->ready_ns, now - cl->sent_ns,
                            cl->first_byte_ns - cl->sent_ns, cl->bytes_in, w->p->request.len);
    if (!r->keep_alive || !w->p->keepalive)
        client_close(cl, false);
    iteration_end(cl, false);
}

/* ---- the exchange ---- */

static void send_request(client *cl)
{
    worker *w = cl->w;
    http1_resp_begin(&cl->resp, strcmp(w->p->method, "HEAD") == 0, NULL);
    cl->resp.max_header_bytes = w->p->max_header_bytes;
    cl->bytes_in = 0;
    cl->got_bytes = false;
    cl->sent = true;
    cl->sent_ns = loop_update_now(w->lp);
    int rc = conn_send(&cl->c, w->p->request.data, w->p->request.len);
    if (rc < 0)
        client_fail(cl, ERRK_RESET);
}

static void on_timeout(loop *l, void *data)
{
    (void)l;
    client *cl = data;
    client_fail(cl, cl->c.state == CONN_CONNECTING ? ERRK_CONNECT_TIMEOUT : ERRK_TIMEOUT);
}

static err_kind connect_kind(int status)
{
    return status == -ECONNREFUSED ? ERRK_CONNECT_REFUSED : ERRK_CONNECT;
}

static void on_connect(conn *c, int status)
{
    client *cl = c->owner;
    worker *w = cl->w;
    if (status < 0) {
        client_fail(cl, connect_kind(status));
        return;
    }
    uint64_t now = loop_update_now(w->lp);
    metrics_record_connect(w->shard, now - cl->connect_ns);
    set_active(w, 1);
    loop_timer_start(w->lp, &cl->timer, cl->ready_ns + w->p->timeout_ns, on_timeout, cl);
    send_request(cl);
}

static void start_connect(client *cl)
{
    worker *w = cl->w;
    cl->sent = false;
    cl->connect_ns = loop_update_now(w->lp);
    int rc = conn_open(&cl->c, &w->p->address);
    if (rc < 0) {
        if ((rc == -EMFILE || rc == -ENFILE) && !w->fatal[0])
            snprintf(w->fatal, sizeof w->fatal,
                     "out of file descriptors (%s); raise the limit with 'ulimit -n'",
                     strerror(-rc));
        client_fail(cl, ERRK_CONNECT);
        return;
    }
    uint64_t deadline = cl->connect_ns + w->p->connect_timeout_ns;
    uint64_t req_deadline = cl->ready_ns + w->p->timeout_ns;
    loop_timer_start(w->lp, &cl->timer, deadline < req_deadline ? deadline : req_deadline,
                     on_timeout, cl);
}

static void on_retry(loop *l, void *data)
{
    (void)l;
    client *cl = data;
    if (!can_issue(cl->w)) {
        maybe_finish(cl->w);
        return;
    }
    client_next(cl);
}

/* Starts the VU's next iteration: takes a ticket, then reuses the
 * connection or opens a new one. */
static void client_next(client *cl)
{
    worker *w = cl->w;
    w->issued++;
    w->in_flight++;
    cl->in_flight = true;
    cl->bytes_in = 0;
    if (cl->c.state == CONN_OPEN) {
        loop_timer_start(w->lp, &cl->timer, cl->ready_ns + w->p->timeout_ns, on_timeout, cl);
        send_request(cl);
    } else {
        start_connect(cl);
    }
}

static void on_readable(conn *c)
{
    client *cl = c->owner;
    worker *w = cl->w;
    for (;;) {
        ssize_t n = conn_read(c, w->rbuf, sizeof w->rbuf);
        if (n == -EAGAIN)
            return;
        if (!cl->in_flight) {
            /* Bytes or EOF on an idle keep-alive connection: the server
             * closed it or sent something unasked; drop the connection. */
            client_close(cl, n != 0);
            return;
        }
        if (n < 0) {
            client_fail(cl, n == -ECONNRESET || n == -EPIPE ? ERRK_RESET : ERRK_CLOSED);
            return;
        }
        if (n == 0) {
            if (cl->got_bytes && http1_resp_eof(&cl->resp) == HTTP1_DONE) {
                cl->resp.keep_alive = false;
                client_done(cl);
            } else {
                client_fail(cl, ERRK_CLOSED);
            }
            return;
        }
        if (!cl->got_bytes) {
            cl->got_bytes = true;
            cl->first_byte_ns = loop_update_now(w->lp);
        }
        cl->bytes_in += (uint64_t)n;
        size_t used = 0;
        int rc = http1_resp_parse(&cl->resp, w->rbuf, (size_t)n, &used);
        if (rc == HTTP1_NEED_MORE)
            continue;
        if (rc < 0) {
            client_fail(cl, ERRK_PARSE);
            return;
        }
        /* HTTP1_DONE. Bytes after the response were never asked for: the
         * stream cannot be trusted any more, so the connection goes. */
        if (used < (size_t)n)
            cl->resp.keep_alive = false;
        client_done(cl);
        return;
    }
}

static void on_write_error(conn *c, int status)
{
    client *cl = c->owner;
    client_fail(cl, status == -ECONNRESET || status == -EPIPE ? ERRK_RESET : ERRK_CLOSED);
}

static const conn_handlers handlers = {
    .on_connect = on_connect,
    .on_readable = on_readable,
    .on_sent = NULL,
    .on_write_error = on_write_error,
};

/* ---- run control ---- */

static void on_tick(loop *l, void *data)
{
    worker *w = data;
    metrics_close_interval(w->shard);
    loop_timer_start(l, &w->tick_timer, w->cfg.start_ns + (w->shard->cur + 1) * NS_PER_S,
                     on_tick, w);
}

static void on_grace_end(loop *l, void *data)
{
    (void)data;
    loop_stop(l);
}

static void begin_stop(worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    loop_timer_stop(w->lp, &w->end_timer);
    for (uint32_t i = 0; i < w->nclients; i++) {
        client *cl = &w->clients[i];
        loop_timer_stop(w->lp, &cl->retry);
        if (!cl->in_flight)
            client_close(cl, false);
    }
    if (w->in_flight == 0) {
        loop_stop(w->lp);
        return;
    }
    loop_timer_start(w->lp, &w->grace_timer, loop_update_now(w->lp) + w->p->grace_ns,
                     on_grace_end, w);
}

static void on_end(loop *l, void *data)
{
    (void)l;
    begin_stop(data);
}

static void on_start(loop *l, void *data)
{
    worker *w = data;
    w->started = true;
    if (w->p->duration_ns)
        loop_timer_start(l, &w->end_timer, w->cfg.start_ns + w->p->duration_ns, on_end, w);
    loop_timer_start(l, &w->tick_timer, w->cfg.start_ns + NS_PER_S, on_tick, w);
    for (uint32_t i = 0; i < w->nclients && can_issue(w); i++) {
        w->clients[i].ready_ns = loop_now(l);
        client_next(&w->clients[i]);
    }
    maybe_finish(w);
}

static void on_wake(loop *l, int fd, void *data, unsigned events)
{
    (void)events;
    worker *w = data;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
    int req = atomic_load(&w->stop_req);
    if (req >= 2)
        loop_stop(l);
    else if (req == 1)
        begin_stop(w);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    loop_timer_start(w->lp, &w->start_timer, w->cfg.start_ns, on_start, w);
    if (atomic_load(&w->stop_req) == 0)
        loop_run(w->lp);
    /* Whatever is still in flight has no outcome: it is cancelled, and
     * counted as such so that every request has exactly one outcome. */
    for (uint32_t i = 0; i < w->nclients; i++) {
        client *cl = &w->clients[i];
        if (cl->in_flight) {
            metrics_record_error(w->shard, ERRK_CANCELLED, cl->bytes_in,
                                 cl->sent ? w->p->request.len : 0);
            cl->in_flight = false;
            w->in_flight--;
        }
        loop_timer_stop(w->lp, &cl->timer);
        loop_timer_stop(w->lp, &cl->retry);
        client_close(cl, true);
    }
    w->end_ns = clock_now_ns();
    atomic_store_explicit(&w->done, true, memory_order_release);
    return NULL;
}

worker *worker_new(const worker_config *cfg, err *e)
{
    worker *w = calloc(1, sizeof *w);
    if (!w) {
        err_set(e, VOLLEY_ENOMEM, "worker: out of memory");
        return NULL;
    }
    w->cfg = *cfg;
    w->p = cfg->p;
    w->wakefd = -1;
    w->nclients = cfg->connections;
    w->lp = loop_new(e);
    w->shard = metrics_shard_new();
    w->clients = calloc(w->nclients ? w->nclients : 1, sizeof *w->clients);
    w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!w->lp || !w->shard || !w->clients || w->wakefd < 0) {
        if (e && !e->code)
            err_set(e, VOLLEY_ENOMEM, "worker: out of memory or file descriptors");
        worker_free(w);
        return NULL;
    }
    if (loop_watch(w->lp, w->wakefd, LOOP_READ, on_wake, w, e)) {
        worker_free(w);
        return NULL;
    }
    loop_timer_init(&w->start_timer);
    loop_timer_init(&w->end_timer);
    loop_timer_init(&w->tick_timer);
    loop_timer_init(&w->grace_timer);
    for (uint32_t i = 0; i < w->nclients; i++) {
        client *cl = &w->clients[i];
        conn_init(&cl->c, w->lp, &handlers, cl);
        cl->w = w;
        loop_timer_init(&cl->timer);
        loop_timer_init(&cl->retry);
    }
    atomic_init(&w->done, false);
    atomic_init(&w->stop_req, 0);
    atomic_init(&w->active, 0);
    return w;
}

void worker_free(worker *w)
{
    if (!w)
        return;
    if (w->clients)
        for (uint32_t i = 0; i < w->nclients; i++)
            conn_close(&w->clients[i].c, true);
    free(w->clients);
    if (w->wakefd >= 0)
        close(w->wakefd);
    loop_free(w->lp);
    metrics_shard_free(w->shard);
    free(w);
}

int worker_start(worker *w, err *e)
{
    int rc = pthread_create(&w->th, NULL, worker_main, w);
    if (rc) {
        errno = rc;
        return err_sys(e, "worker %u: cannot start thread", w->cfg.id);
    }
    w->th_started = true;
    return 0;
}

static void poke(worker *w, int req)
{
    int cur = atomic_load(&w->stop_req);
    if (req > cur)
        atomic_store(&w->stop_req, req);
    uint64_t one = 1;
    ssize_t r = write(w->wakefd, &one, sizeof one);
    (void)r;
}

void worker_request_stop(worker *w) { poke(w, 1); }

void worker_abort(worker *w) { poke(w, 2); }

void worker_join(worker *w)
{
    if (w->th_started) {
        pthread_join(w->th, NULL);
        w->th_started = false;
    }
}

bool worker_done(worker *w) { return atomic_load_explicit(&w->done, memory_order_acquire); }
metrics_shard *worker_shard(worker *w) { return w->shard; }
uint32_t worker_active(worker *w) { return atomic_load_explicit(&w->active, memory_order_relaxed); }
uint64_t worker_end_ns(worker *w) { return w->end_ns; }
const char *worker_fatal(worker *w) { return w->fatal[0] ? w->fatal : NULL; }
uint64_t worker_current_second(worker *w) { return w->shard->cur; }
