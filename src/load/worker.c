/* worker: a load thread's event loop, connections and iterations (see
 * worker.h). Closed model: each client is a virtual user with its own
 * connection; when a response is complete the VU starts its next request
 * at once, and its latency runs from that moment. Open model: iteration i
 * of the schedule starts at a fixed time; it takes an idle connection, opens
 * a new one under the pool cap, waits in a bounded backlog, or is dropped
 * and counted. Its latency runs from the scheduled time, so time spent
 * waiting for a connection shows (no coordinated omission). */
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#define READ_BUF_BYTES (64 * 1024)
#define RAMP_CHECK_NS (10 * NS_PER_MS)
#define RAW_RING 65536 /* records per worker; a power of two */

typedef struct iter {
    uint64_t intended_ns; /* monotonic */
    uint32_t ep;
} iter;

typedef struct backlog {
    iter *items;
    uint32_t cap, head, len;
} backlog;

typedef struct client client;

typedef struct pool {
    client *idle;    /* open connections waiting for work (stack) */
    client *spare;   /* clients with no connection, not counted as open */
    uint32_t used;   /* clients taken from spare */
    backlog wait;
} pool;

struct client {
    conn c;
    worker *w;
    http1_resp resp;
    loop_timer timer;     /* connect or request timeout */
    loop_timer retry;     /* deferred next iteration (closed model) */
    uint32_t target;
    /* closed model */
    int32_t vu_ep;        /* fixed endpoint (per-endpoint mode), -1 mixed */
    uint32_t vu_index;    /* index among its scenario's VUs, for ramping */
    uint64_t vu_iters;
    bool vu_running;
    /* the current exchange */
    iter cur;
    uint64_t connect_ns, sent_ns, first_byte_ns, last_read_ns;
    uint64_t bytes_in;
    bool in_flight, got_bytes, sent;
    client *next;         /* pool list link (open model) */
};

struct worker {
    worker_config cfg;
    const plan *p;
    const executor *x;
    bool open;
    loop *lp;
    metrics_shard *shards[PLAN_MAX_ENDPOINTS];
    uint32_t nshards;
    client *clients;
    uint32_t nclients;
    uint32_t in_flight;
    _Atomic uint32_t active;
    bool stopping;
    /* closed: requests per scenario (endpoint, or 0 in mixed mode) */
    uint64_t issued[PLAN_MAX_ENDPOINTS];
    uint64_t quota[PLAN_MAX_ENDPOINTS];
    /* open: this worker's part of the schedule */
    uint64_t next_i, stride, limit;
    bool schedule_done;
    pool pools[PLAN_MAX_TARGETS];
    loop_timer sched_timer;
    loop_timer start_timer, end_timer, tick_timer, grace_timer, ramp_timer;
    uint64_t end_ns;
    pthread_t th;
    bool th_started;
    _Atomic bool done;
    char fatal[256];
    /* raw records: single producer (worker), single consumer (main) */
    worker_raw *raw;
    _Atomic uint64_t raw_head, raw_tail;
    uint64_t raw_dropped;
    char rbuf[READ_BUF_BYTES];
};

static void client_next(client *cl);
static void on_retry(loop *l, void *data);
static void on_open_retry(loop *l, void *data);
static void open_take_work(client *cl);
static void exchange_start(client *cl);

/* ---- small helpers ---- */

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

static uint32_t scenario_of(const worker *w, uint32_t ep)
{
    return w->p->mode == PLAN_MIXED ? 0 : ep;
}

static bool closed_can_issue(worker *w, uint32_t scen)
{
    return !w->stopping && w->issued[scen] < w->quota[scen];
}

static bool backlog_empty(worker *w)
{
    for (size_t t = 0; t < w->p->ntargets; t++)
        if (w->pools[t].wait.len)
            return false;
    return true;
}

static bool all_quotas_done(worker *w)
{
    for (uint32_t s = 0; s < w->nshards; s++)
        if (w->issued[s] < w->quota[s])
            return false;
    return true;
}

static void maybe_finish(worker *w)
{
    if (w->in_flight)
        return;
    if (w->open) {
        if ((w->schedule_done || w->stopping) && backlog_empty(w))
            loop_stop(w->lp);
    } else if (w->stopping || all_quotas_done(w)) {
        loop_stop(w->lp);
    }
}

static void raw_push(worker *w, const worker_raw *r)
{
    if (!w->raw)
        return;
    uint64_t head = atomic_load_explicit(&w->raw_head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&w->raw_tail, memory_order_acquire);
    if (head - tail >= RAW_RING) {
        w->raw_dropped++;
        return;
    }
    w->raw[head & (RAW_RING - 1)] = *r;
    atomic_store_explicit(&w->raw_head, head + 1, memory_order_release);
}

static uint64_t req_len(const client *cl)
{
    return cl->w->p->eps[cl->cur.ep].request.len;
}

/* ---- outcomes ---- */

/* The exchange is over (response or error); the client is free. */
static void exchange_end(client *cl, bool failed)
{
    worker *w = cl->w;
    loop_timer_stop(w->lp, &cl->timer);
    cl->in_flight = false;
    w->in_flight--;
    if (w->open) {
        if (failed && !w->stopping && w->pools[cl->target].wait.len) {
            /* Through the loop: a run of immediate failures (EMFILE) must
             * not recurse once per waiting iteration. */
            loop_timer_start(w->lp, &cl->retry, loop_now(w->lp), on_open_retry, cl);
            return;
        }
        open_take_work(cl);
        maybe_finish(w);
        return;
    }
    uint32_t scen = cl->vu_ep >= 0 ? (uint32_t)cl->vu_ep : 0;
    if (!cl->vu_running || !closed_can_issue(w, scen)) {
        cl->vu_running = false;
        client_close(cl, false);
        maybe_finish(w);
        return;
    }
    cl->cur.intended_ns = loop_now(w->lp);
    /* After a failure go through the loop once, so a refused port cannot
     * recurse or starve the other connections. */
    if (failed)
        loop_timer_start(w->lp, &cl->retry, cl->cur.intended_ns, on_retry, cl);
    else
        client_next(cl);
}

static void client_fail(client *cl, err_kind k)
{
    worker *w = cl->w;
    uint64_t out = cl->sent ? req_len(cl) : 0;
    metrics_record_failure(w->shards[cl->cur.ep], k, loop_now(w->lp) - cl->cur.intended_ns,
                           cl->bytes_in, out);
    w->shards[cl->cur.ep]->last_outcome_ns = loop_now(w->lp);
    if (w->raw) {
        uint64_t now = loop_now(w->lp);
        worker_raw r = {
            .intended_ns = cl->cur.intended_ns - w->cfg.start_ns,
            .latency_ns = now - cl->cur.intended_ns,
            .bytes_in = cl->bytes_in,
            .bytes_out = out,
            .ep = (uint8_t)cl->cur.ep,
            .step = w->cfg.step,
            .err = (int8_t)k,
        };
        raw_push(w, &r);
    }
    /* RST: an abandoned exchange must not linger in TIME_WAIT or be reused. */
    client_close(cl, true);
    exchange_end(cl, true);
}

static void client_done(client *cl)
{
    worker *w = cl->w;
    uint64_t now = loop_update_now(w->lp);
    http1_resp *r = &cl->resp;
    metrics_sample m = {
        .status = r->status,
        .latency_ns = now - cl->cur.intended_ns,
        .service_ns = now - cl->sent_ns,
        .ttfb_ns = cl->first_byte_ns - cl->sent_ns,
        .bytes_in = cl->bytes_in,
        .bytes_out = req_len(cl),
        .chunks = r->chunked ? r->chunks : 0,
    };
    metrics_record_response(w->shards[cl->cur.ep], &m);
    w->shards[cl->cur.ep]->last_outcome_ns = now;
    if (w->raw) {
        worker_raw rr = {
            .intended_ns = cl->cur.intended_ns - w->cfg.start_ns,
            .latency_ns = m.latency_ns,
            .service_ns = m.service_ns,
            .ttfb_ns = m.ttfb_ns,
            .bytes_in = m.bytes_in,
            .bytes_out = m.bytes_out,
            .status = (uint16_t)r->status,
            .ep = (uint8_t)cl->cur.ep,
            .step = w->cfg.step,
            .err = -1,
        };
        raw_push(w, &rr);
    }
    if (!r->keep_alive || !w->p->keepalive)
        client_close(cl, false);
    exchange_end(cl, false);
}

/* ---- the exchange on the wire ---- */

static void on_timeout(loop *l, void *data)
{
    (void)l;
    client *cl = data;
    client_fail(cl, cl->c.state == CONN_CONNECTING ? ERRK_CONNECT_TIMEOUT : ERRK_TIMEOUT);
}

static void send_request(client *cl)
{
    worker *w = cl->w;
    const plan_endpoint *ep = &w->p->eps[cl->cur.ep];
    http1_resp_begin(&cl->resp, ep->head, NULL);
    cl->resp.max_header_bytes = w->p->max_header_bytes;
    cl->got_bytes = false;
    cl->sent = true;
    cl->sent_ns = loop_update_now(w->lp);
    if (w->open)
        hist_record(w->shards[cl->cur.ep]->send_lag, cl->sent_ns - cl->cur.intended_ns);
    int rc = conn_send(&cl->c, ep->request.data, ep->request.len);
    if (rc < 0)
        client_fail(cl, ERRK_RESET);
}

static void on_connect(conn *c, int status)
{
    client *cl = c->owner;
    worker *w = cl->w;
    if (status == CONN_ETLS) {
        if (!w->fatal[0])
            snprintf(w->fatal, sizeof w->fatal, "TLS: %s (%s)", conn_tls_error(c),
                     w->p->target_names[cl->target]);
        client_fail(cl, ERRK_TLS);
        return;
    }
    if (status < 0) {
        client_fail(cl, status == -ECONNREFUSED ? ERRK_CONNECT_REFUSED : ERRK_CONNECT);
        return;
    }
    uint64_t now = loop_update_now(w->lp);
    metrics_record_connect(w->shards[cl->cur.ep], now - cl->connect_ns);
    if (c->ssl) {
        hist_record(w->shards[cl->cur.ep]->tls_handshake, c->handshake_ns);
        w->shards[cl->cur.ep]->tot.tls_resumed += c->resumed;
    }
    set_active(w, 1);
    loop_timer_start(w->lp, &cl->timer, cl->cur.intended_ns + w->p->timeout_ns, on_timeout, cl);
    send_request(cl);
}

static void start_connect(client *cl)
{
    worker *w = cl->w;
    cl->connect_ns = loop_update_now(w->lp);
    const plan *p = w->p;
    conn_set_tls(&cl->c, p->target_tls[cl->target] ? p->tls : NULL,
                 p->target_hosts[cl->target]);
    int rc = conn_open(&cl->c, &p->targets[cl->target]);
    if (rc < 0) {
        if ((rc == -EMFILE || rc == -ENFILE) && !w->fatal[0]) {
            struct rlimit rl = {0};
            getrlimit(RLIMIT_NOFILE, &rl);
            snprintf(w->fatal, sizeof w->fatal,
                     "out of file descriptors (%s; ulimit -n is %llu): raise it with "
                     "'ulimit -n %llu' (beyond the hard limit %llu needs root) or use fewer "
                     "connections",
                     strerror(-rc), (unsigned long long)rl.rlim_cur,
                     (unsigned long long)rl.rlim_cur * 2, (unsigned long long)rl.rlim_max);
        }
        client_fail(cl, ERRK_CONNECT);
        return;
    }
    uint64_t deadline = cl->connect_ns + w->p->connect_timeout_ns;
    uint64_t req_deadline = cl->cur.intended_ns + w->p->timeout_ns;
    loop_timer_start(w->lp, &cl->timer, deadline < req_deadline ? deadline : req_deadline,
                     on_timeout, cl);
}

/* Starts cl->cur on cl: reuses its connection or opens one. */
static void exchange_start(client *cl)
{
    worker *w = cl->w;
    w->in_flight++;
    cl->in_flight = true;
    cl->sent = false;
    cl->bytes_in = 0;
    if (cl->c.state == CONN_OPEN) {
        loop_timer_start(w->lp, &cl->timer, cl->cur.intended_ns + w->p->timeout_ns, on_timeout,
                         cl);
        send_request(cl);
    } else {
        start_connect(cl);
    }
}

/* A read or write error: TLS record failures (-EPROTO from the TLS
 * transport) are tls_error, with their reason kept as the run's warning. */
static err_kind io_error_kind(conn *c, int status)
{
    if (status == -EPROTO && c->tls_ctx) {
        worker *w = ((client *)c->owner)->w;
        if (!w->fatal[0])
            snprintf(w->fatal, sizeof w->fatal, "TLS: %s", conn_tls_error(c));
        return ERRK_TLS;
    }
    return status == -ECONNRESET || status == -EPIPE ? ERRK_RESET : ERRK_CLOSED;
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
            client_fail(cl, io_error_kind(c, (int)n));
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
        uint64_t now = loop_update_now(w->lp);
        if (!cl->got_bytes) {
            cl->got_bytes = true;
            cl->first_byte_ns = now;
        } else if (cl->resp.chunked && cl->resp.headers_done) {
            hist_record(w->shards[cl->cur.ep]->chunk_gap, now - cl->last_read_ns);
        }
        cl->last_read_ns = now;
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
    client_fail(cl, io_error_kind(c, status));
}

static const conn_handlers handlers = {
    .on_connect = on_connect,
    .on_readable = on_readable,
    .on_sent = NULL,
    .on_write_error = on_write_error,
};

/* ---- closed model: virtual users ---- */

/* The VU's next iteration: picks the endpoint, takes a ticket, starts. */
static void client_next(client *cl)
{
    worker *w = cl->w;
    uint32_t ep;
    if (cl->vu_ep >= 0) {
        ep = (uint32_t)cl->vu_ep;
    } else {
        /* Mixed: a per-VU sequence spread by the VU's index. */
        ep = plan_pick_endpoint(w->p, cl->vu_iters * 7919u + cl->vu_index);
    }
    uint32_t scen = scenario_of(w, ep);
    if (!closed_can_issue(w, scen)) {
        cl->vu_running = false;
        client_close(cl, false);
        maybe_finish(w);
        return;
    }
    w->issued[scen]++;
    cl->vu_iters++;
    cl->cur.ep = ep;
    if (cl->target != w->p->eps[ep].target_idx) {
        client_close(cl, false);
        cl->target = w->p->eps[ep].target_idx;
    }
    exchange_start(cl);
}

static void on_retry(loop *l, void *data)
{
    (void)l;
    client *cl = data;
    if (!cl->vu_running)
        return;
    cl->cur.intended_ns = loop_now(cl->w->lp);
    client_next(cl);
}

static void vu_start(client *cl)
{
    if (cl->vu_running)
        return;
    cl->vu_running = true;
    cl->cur.intended_ns = loop_now(cl->w->lp);
    if (!cl->in_flight && !loop_timer_active(&cl->retry))
        client_next(cl);
}

/* Ramping VUs: VU index v of a scenario runs while v < target(t). A VU
 * that must stop finishes its current iteration first (k6's graceful
 * ramp-down). */
static void ramp_check(loop *l, void *data)
{
    worker *w = data;
    uint64_t t = loop_now(l) - w->cfg.start_ns;
    uint32_t want = executor_vus_at(w->x, t);
    for (uint32_t i = 0; i < w->nclients; i++) {
        client *cl = &w->clients[i];
        if (cl->vu_index < want)
            vu_start(cl);
        else
            cl->vu_running = false;
    }
    if (!w->stopping)
        loop_timer_start(l, &w->ramp_timer, loop_now(l) + RAMP_CHECK_NS, ramp_check, w);
}

/* ---- open model: the schedule and the pool ---- */

static void pool_push(client **list, client *cl)
{
    cl->next = *list;
    *list = cl;
}

static client *pool_pop(client **list)
{
    client *cl = *list;
    if (cl)
        *list = cl->next;
    return cl;
}

static bool backlog_push(backlog *b, const iter *it)
{
    if (b->len == b->cap)
        return false;
    b->items[(b->head + b->len) % b->cap] = *it;
    b->len++;
    return true;
}

static bool backlog_pop(backlog *b, iter *it)
{
    if (!b->len)
        return false;
    *it = b->items[b->head];
    b->head = (b->head + 1) % b->cap;
    b->len--;
    return true;
}

/* A free client takes the oldest waiting iteration, or rests. */
static void open_take_work(client *cl)
{
    worker *w = cl->w;
    pool *pl = &w->pools[cl->target];
    iter it;
    if (!w->stopping && backlog_pop(&pl->wait, &it)) {
        cl->cur = it;
        exchange_start(cl);
        return;
    }
    if (cl->c.state == CONN_OPEN && !w->stopping) {
        pool_push(&pl->idle, cl);
        return;
    }
    client_close(cl, false);
    pl->used--;
    pool_push(&pl->spare, cl);
}

static void on_open_retry(loop *l, void *data)
{
    (void)l;
    client *cl = data;
    open_take_work(cl);
    maybe_finish(cl->w);
}

static void dispatch(worker *w, uint32_t ep, uint64_t intended_ns)
{
    uint32_t t = w->p->eps[ep].target_idx;
    pool *pl = &w->pools[t];
    iter it = {intended_ns, ep};
    client *cl = pool_pop(&pl->idle);
    if (!cl && (cl = pool_pop(&pl->spare)) != NULL)
        pl->used++;
    if (cl) {
        cl->cur = it;
        exchange_start(cl);
        return;
    }
    if (!backlog_push(&pl->wait, &it))
        metrics_record_dropped(w->shards[ep]);
}

static void on_schedule(loop *l, void *data)
{
    worker *w = data;
    uint64_t now = loop_update_now(l);
    while (!w->stopping && w->next_i < w->limit) {
        uint64_t off = executor_time_of(w->x, w->next_i);
        if (off == UINT64_MAX || (w->cfg.duration_ns && off >= w->cfg.duration_ns)) {
            w->next_i = w->limit;
            break;
        }
        uint64_t at = w->cfg.start_ns + off;
        if (at > now) {
            loop_timer_start(l, &w->sched_timer, at, on_schedule, w);
            return;
        }
        if (w->p->mode == PLAN_MIXED) {
            dispatch(w, plan_pick_endpoint(w->p, w->next_i), at);
        } else {
            for (uint32_t ep = 0; ep < w->p->neps; ep++)
                dispatch(w, ep, at);
        }
        w->next_i += w->stride;
    }
    w->schedule_done = true;
    maybe_finish(w);
}

/* ---- run control ---- */

static void on_tick(loop *l, void *data)
{
    worker *w = data;
    for (uint32_t i = 0; i < w->nshards; i++)
        metrics_close_interval(w->shards[i]);
    loop_timer_start(l, &w->tick_timer, w->cfg.start_ns + (w->shards[0]->cur + 1) * NS_PER_S,
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
    loop_timer_stop(w->lp, &w->sched_timer);
    loop_timer_stop(w->lp, &w->ramp_timer);
    /* Iterations still waiting for a connection never started: dropped. */
    for (size_t t = 0; t < w->p->ntargets; t++) {
        iter it;
        while (backlog_pop(&w->pools[t].wait, &it))
            metrics_record_dropped(w->shards[it.ep]);
    }
    for (uint32_t i = 0; i < w->nclients; i++) {
        client *cl = &w->clients[i];
        loop_timer_stop(w->lp, &cl->retry);
        cl->vu_running = false;
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
    if (w->cfg.duration_ns)
        loop_timer_start(l, &w->end_timer, w->cfg.start_ns + w->cfg.duration_ns, on_end, w);
    loop_timer_start(l, &w->tick_timer, w->cfg.start_ns + NS_PER_S, on_tick, w);
    if (w->open) {
        on_schedule(l, w);
    } else if (w->x->kind == EXEC_RAMPING_VUS) {
        ramp_check(l, w);
    } else {
        for (uint32_t i = 0; i < w->nclients; i++)
            vu_start(&w->clients[i]);
    }
    maybe_finish(w);
}

/* Posted by the engine: 1 = stop gracefully, 2 = stop now. */
static void on_post(loop *l, int level, void *data)
{
    if (level >= 2)
        loop_stop(l);
    else
        begin_stop(data);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    /* The default 50 us timer slack would delay every scheduled request. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    loop_timer_start(w->lp, &w->start_timer, w->cfg.start_ns, on_start, w);
    if (loop_posted(w->lp) < 2)
        loop_run(w->lp);
    /* What is still in flight has no outcome: it is cancelled, and counted,
     * so that every request has exactly one outcome. Iterations still
     * waiting never started: dropped. */
    for (uint32_t i = 0; i < w->nclients; i++) {
        client *cl = &w->clients[i];
        if (cl->in_flight) {
            metrics_record_error(w->shards[cl->cur.ep], ERRK_CANCELLED, cl->bytes_in,
                                 cl->sent ? req_len(cl) : 0);
            cl->in_flight = false;
            w->in_flight--;
        }
        loop_timer_stop(w->lp, &cl->timer);
        loop_timer_stop(w->lp, &cl->retry);
        client_close(cl, true);
    }
    for (size_t t = 0; t < w->p->ntargets; t++) {
        iter it;
        while (backlog_pop(&w->pools[t].wait, &it))
            metrics_record_dropped(w->shards[it.ep]);
    }
    w->end_ns = clock_now_ns();
    atomic_store_explicit(&w->done, true, memory_order_release);
    return NULL;
}

/* ---- setup ---- */

static uint64_t share(uint64_t total, uint32_t n, uint32_t i)
{
    return total / n + (i < total % n);
}

static int setup_closed(worker *w, err *e)
{
    const plan *p = w->p;
    uint32_t T = w->cfg.nworkers, id = w->cfg.id;
    uint32_t vus = executor_max_vus(w->x);
    uint32_t nscen = p->mode == PLAN_MIXED ? 1 : (uint32_t)p->neps;
    uint32_t per = (uint32_t)share(vus, T, id);
    w->nclients = per * nscen;
    w->clients = calloc(w->nclients ? w->nclients : 1, sizeof *w->clients);
    if (!w->clients)
        return err_set(e, VOLLEY_ENOMEM, "worker: out of memory");
    uint32_t k = 0;
    for (uint32_t s = 0; s < nscen; s++) {
        w->quota[s] = p->requests ? share(p->requests, T, id) : UINT64_MAX;
        for (uint32_t j = 0; j < per; j++, k++) {
            client *cl = &w->clients[k];
            /* VU indexes interleave over workers so ramps spread evenly. */
            cl->vu_index = id + j * T;
            cl->vu_ep = p->mode == PLAN_MIXED ? -1 : (int32_t)s;
            cl->cur.ep = p->mode == PLAN_MIXED ? 0 : s;
            cl->target = p->eps[cl->cur.ep].target_idx;
        }
    }
    return 0;
}

static int setup_open(worker *w, err *e)
{
    const plan *p = w->p;
    uint32_t per_target = w->cfg.pool_cap ? w->cfg.pool_cap : 1;
    w->nclients = per_target * (uint32_t)p->ntargets;
    w->clients = calloc(w->nclients, sizeof *w->clients);
    if (!w->clients)
        return err_set(e, VOLLEY_ENOMEM, "worker: out of memory for %u connections", w->nclients);
    for (uint32_t t = 0; t < p->ntargets; t++) {
        pool *pl = &w->pools[t];
        pl->wait.cap = w->cfg.backlog_cap ? w->cfg.backlog_cap : 1;
        pl->wait.items = calloc(pl->wait.cap, sizeof *pl->wait.items);
        if (!pl->wait.items)
            return err_set(e, VOLLEY_ENOMEM, "worker: out of memory for the backlog");
        for (uint32_t j = per_target; j-- > 0;) {
            client *cl = &w->clients[t * per_target + j];
            cl->target = t;
            pool_push(&pl->spare, cl);
        }
    }
    /* Iteration i belongs to segment i mod n, and within it to worker
     * (i div n) mod T: disjoint and complete, whatever T and n are. */
    uint64_t segk = p->segment_k - 1, segn = p->segment_n;
    w->stride = segn * w->cfg.nworkers;
    w->next_i = segk + segn * w->cfg.id;
    w->limit = executor_total(w->x);
    if (p->requests && p->requests < w->limit)
        w->limit = p->requests;
    return 0;
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
    w->x = cfg->x;
    w->open = executor_is_open(cfg->x);
    w->nshards = (uint32_t)w->p->neps;
    w->lp = loop_new(e);
    if (!w->lp)
        goto fail;
    for (uint32_t i = 0; i < w->nshards; i++)
        if (!(w->shards[i] = metrics_shard_new())) {
            err_set(e, VOLLEY_ENOMEM, "worker: out of memory");
            goto fail;
        }
    if ((w->open ? setup_open(w, e) : setup_closed(w, e)))
        goto fail;
    if (w->p->raw && !(w->raw = calloc(RAW_RING, sizeof *w->raw))) {
        err_set(e, VOLLEY_ENOMEM, "worker: out of memory for --raw");
        goto fail;
    }
    loop_set_post_handler(w->lp, on_post, w);
    loop_timer_init(&w->start_timer);
    loop_timer_init(&w->end_timer);
    loop_timer_init(&w->tick_timer);
    loop_timer_init(&w->grace_timer);
    loop_timer_init(&w->ramp_timer);
    loop_timer_init(&w->sched_timer);
    for (uint32_t i = 0; i < w->nclients; i++) {
        client *cl = &w->clients[i];
        conn_init(&cl->c, w->lp, &handlers, cl);
        cl->w = w;
        loop_timer_init(&cl->timer);
        loop_timer_init(&cl->retry);
    }
    atomic_init(&w->done, false);
    atomic_init(&w->active, 0);
    atomic_init(&w->raw_head, 0);
    atomic_init(&w->raw_tail, 0);
    return w;
fail:
    worker_free(w);
    return NULL;
}

void worker_free(worker *w)
{
    if (!w)
        return;
    if (w->clients)
        for (uint32_t i = 0; i < w->nclients; i++)
            conn_release(&w->clients[i].c);
    free(w->clients);
    for (size_t t = 0; t < PLAN_MAX_TARGETS; t++)
        free(w->pools[t].wait.items);
    loop_free(w->lp);
    for (uint32_t i = 0; i < w->nshards; i++)
        metrics_shard_free(w->shards[i]);
    free(w->raw);
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

void worker_request_stop(worker *w) { loop_post(w->lp, 1); }
void worker_abort(worker *w) { loop_post(w->lp, 2); }

void worker_join(worker *w)
{
    if (w->th_started) {
        pthread_join(w->th, NULL);
        w->th_started = false;
    }
}

bool worker_done(worker *w) { return atomic_load_explicit(&w->done, memory_order_acquire); }
metrics_shard *worker_shard(worker *w, uint32_t ep) { return w->shards[ep]; }
uint32_t worker_active(worker *w) { return atomic_load_explicit(&w->active, memory_order_relaxed); }
uint64_t worker_end_ns(worker *w) { return w->end_ns; }
uint64_t worker_current_second(worker *w) { return w->shards[0]->cur; }
const char *worker_fatal(worker *w) { return w->fatal[0] ? w->fatal : NULL; }
uint64_t worker_raw_dropped(worker *w) { return w->raw_dropped; }

size_t worker_raw_drain(worker *w, void (*fn)(void *ctx, const worker_raw *r), void *ctx)
{
    if (!w->raw)
        return 0;
    uint64_t tail = atomic_load_explicit(&w->raw_tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&w->raw_head, memory_order_acquire);
    for (uint64_t i = tail; i < head; i++)
        fn(ctx, &w->raw[i & (RAW_RING - 1)]);
    atomic_store_explicit(&w->raw_tail, head, memory_order_release);
    return (size_t)(head - tail);
}
