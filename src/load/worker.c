/* worker: a load thread's event loop, connections and iterations (see
 * worker.h). Closed model: each client is a virtual user with its own
 * connection; when a response is complete the VU starts its next request
 * at once, and its latency runs from that moment. Open model: iteration i
 * of the schedule starts at a fixed time; it takes an idle connection, opens
 * a new one under the pool cap, waits in a bounded backlog, or is dropped
 * and counted. Its latency runs from the scheduled time, so time spent
 * waiting for a connection shows (no coordinated omission). */
#include "load/worker.h"

#include "load/segment.h"

#include "core/clock.h"
#include "load/exchange.h"
#include "load/rawq.h"
#include "load/shell.h"
#include "proto/redirect.h"
#include "net/loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#define READ_BUF_BYTES (64 * 1024)
#define RAMP_CHECK_NS (10 * NS_PER_MS)

typedef struct iter {
    uint64_t intended_ns; /* monotonic */
    uint32_t ep;
} iter;

typedef struct backlog {
    iter *items;
    uint32_t cap, head, len;
} backlog;

typedef struct client client;

#define REDIRECT_TARGETS 8 /* hosts a worker reaches only through redirects */

/* --redirects: a client's chain of hops (allocated only with the flag). */
typedef struct redir {
    http1_callbacks cb;   /* captures Location */
    char line[8192];
    char loc[4096];
    bool has_loc;
    uint32_t hops;
    char url[4200];       /* the current hop's URL */
    char method[32];
    buf req;              /* the current hop's request bytes */
} redir;

typedef struct pool {
    client *idle;    /* open connections waiting for work (stack) */
    client *spare;   /* clients with no connection, not counted as open */
    uint32_t used;   /* clients taken from spare */
    backlog wait;
} pool;

/* A client is one request slot: a VU (closed model) or a pool slot (open
 * model). --pipeline N gives each connection N clients. */
struct client {
    xch_conn *xc;         /* its connection (load/exchange), shared by N clients */
    worker *w;
    client *next;         /* pool list link (open model) */
    redir *rd;            /* --redirects */
    xch_req req;          /* its one request in flight */
    loop_timer retry;     /* deferred next iteration */
    iter cur;
    uint32_t target;
    bool in_flight;
    /* closed model */
    bool vu_running;
    int32_t vu_ep;        /* fixed endpoint (per-endpoint mode), -1 mixed */
    uint32_t vu_index;    /* index among its scenario's VUs, for ramping */
    uint64_t vu_iters;
};

struct worker {
    shell sh;             /* thread, loop, tick, stop mailbox (load/shell) */
    worker_config cfg;
    const plan *p;
    const executor *x;
    bool open;
    loop *lp;             /* sh.lp */
    xch_ctx xctx;
    xch_target targets[PLAN_MAX_TARGETS];
    xch_target rtargets[REDIRECT_TARGETS]; /* reached only by redirects */
    uint32_t nrtargets;
    bool idempotent[PLAN_MAX_ENDPOINTS];
    metrics_shard *shards[PLAN_MAX_ENDPOINTS];
    uint32_t nshards;
    client *clients;
    uint32_t nclients;
    xch_conn *conns;      /* nclients / depth connections; client k uses k / depth */
    uint32_t nconns, depth;
    uint32_t in_flight;
    bool stopping;
    /* closed: requests per scenario (endpoint, or 0 in mixed mode) */
    uint64_t issued[PLAN_MAX_ENDPOINTS];
    uint64_t quota[PLAN_MAX_ENDPOINTS];
    /* open: this worker's part of the schedule */
    shell_sched sched;
    bool schedule_done;
    pool pools[PLAN_MAX_TARGETS];
    loop_timer end_timer, grace_timer, ramp_timer;
    rawq *raw;            /* --raw records, to the main thread (load/rawq) */
    char rbuf[READ_BUF_BYTES];
};

static void client_next(client *cl);
static void on_retry(loop *l, void *data);
static void on_open_retry(loop *l, void *data);
static void open_take_work(client *cl);

/* ---- small helpers ---- */

/* Closes cl's connection unless other clients have requests in flight on it. */
static void client_close(client *cl, bool reset)
{
    if (!xch_in_flight(cl->xc))
        xch_close(cl->xc, reset);
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

/* ---- outcomes ---- */

/* The exchange is over (response or error); the client is free. */
static void exchange_end(client *cl, bool failed)
{
    worker *w = cl->w;
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

/* ---- --redirects ---- */

static void rd_header(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
    redir *rd = ctx;
    if (nlen == 8 && !strncasecmp(name, "location", 8) && vlen < sizeof rd->loc) {
        memcpy(rd->loc, value, vlen);
        rd->loc[vlen] = 0;
        rd->has_loc = true;
    }
}

/* A client's redirect state, made at its first request (an open-model
 * pool may have thousands of clients that never send one). Without
 * memory the client simply does not follow redirects. */
static void redirect_setup(client *cl)
{
    if (!(cl->rd = calloc(1, sizeof *cl->rd)))
        return;
    cl->rd->cb = (http1_callbacks){.on_header = rd_header, .ctx = cl->rd,
                                   .line_buf = cl->rd->line, .line_cap = sizeof cl->rd->line};
    cl->req.cb = &cl->rd->cb;
}

/* The worker's target for u: one of the plan's, or one resolved now (once
 * per host and worker; NULL when too many hosts or it does not resolve). */
static xch_target *redirect_target(worker *w, const url *u)
{
    const plan *p = w->p;
    for (size_t t = 0; t < p->ntargets; t++)
        if (!strcmp(p->target_names[t], u->hostport) && p->target_tls[t] == u->tls)
            return &w->targets[t];
    for (uint32_t i = 0; i < w->nrtargets; i++)
        if (!strcmp(w->rtargets[i].name, u->hostport) && (w->rtargets[i].tls != NULL) == u->tls)
            return &w->rtargets[i];
    err e;
    if (w->nrtargets == REDIRECT_TARGETS || (u->tls && !p->tls))
        return NULL;
    xch_target *t = &w->rtargets[w->nrtargets];
    if (xch_target_resolve(t, u, &p->route, "redirect", &e))
        return NULL;
    t->tls = u->tls ? p->tls : NULL;
    t->share_session = p->share_tls_sessions;
    w->nrtargets++;
    return t;
}

/* The next hop's request bytes: the endpoint's headers, and its body
 * unless the method became GET. */
static int redirect_build(worker *w, client *cl, const url *u, bool keep_body)
{
    const plan *p = w->p;
    const plan_endpoint *ep = &p->eps[cl->cur.ep];
    http1_header all[2 * PLAN_MAX_HEADERS + 2];
    size_t n = 0;
    for (size_t i = 0; i < p->nheaders; i++)
        all[n++] = p->headers[i];
    bool has_auth = false;
    for (size_t i = 0; i < ep->nheaders; i++)
        all[n++] = ep->headers[i];
    for (size_t i = 0; i < n; i++)
        has_auth |= !strcasecmp(all[i].name, "Authorization");
    /* user:password@ goes along to the same origin only (as curl). */
    if (!has_auth && ep->basic_auth[0] && !strcmp(u->hostport, ep->target.hostport) &&
        u->tls == ep->target.tls)
        all[n++] = (http1_header){"Authorization", ep->basic_auth};
    size_t blen = ep->body_len ? ep->body_len : p->body_len;
    if (blen > ep->request.len)
        blen = 0;
    char absolute[4600];
    bool abs_form = route_absolute_form(&p->route, u, absolute, sizeof absolute);
    http1_request_spec spec = {
        .method = cl->rd->method, .host = u->hostport, .path = abs_form ? absolute : u->path,
        .headers = all, .nheaders = n, .keepalive = p->keepalive,
        .body = keep_body && blen ? ep->request.data + ep->request.len - blen : NULL,
        .body_len = keep_body ? blen : 0,
    };
    buf_reset(&cl->rd->req);
    err e;
    return http1_request_build(&spec, &cl->rd->req, &e);
}

/* A response came: if it is a redirect to follow, the next hop starts on
 * the client (a request of its own: its latency from now) and true. */
static bool follow(client *cl, int status)
{
    worker *w = cl->w;
    redir *rd = cl->rd;
    const plan_endpoint *ep = &w->p->eps[cl->cur.ep];
    if (!redirect_status(status) || !rd->has_loc || rd->hops >= w->p->redirects || w->stopping) {
        rd->hops = 0;
        return false;
    }
    char next[sizeof rd->url];
    url u;
    err e;
    bool keep_body;
    if (redirect_resolve(rd->hops ? rd->url : ep->url_text, rd->loc, next, sizeof next) ||
        addr_parse_url(next, "redirect", &u, &e) || strncmp(u.scheme, "http", 4)) {
        rd->hops = 0;
        return false;
    }
    char prev[sizeof rd->method];
    snprintf(prev, sizeof prev, "%s", rd->hops ? rd->method : ep->method);
    redirect_method(status, prev, rd->method, &keep_body);
    xch_target *t = redirect_target(w, &u);
    if (!t || redirect_build(w, cl, &u, keep_body)) {
        rd->hops = 0;
        return false;
    }
    memcpy(rd->url, next, sizeof next);
    rd->hops++;
    w->shards[cl->cur.ep]->tot.redirects++;
    if (cl->xc->t != t)
        xch_conn_retarget(cl->xc, t);
    xch_req *r = &cl->req;
    r->data = rd->req.data;
    r->len = rd->req.len;
    r->head = !strcmp(rd->method, "HEAD");
    r->idempotent = xch_method_idempotent(rd->method);
    r->intended_ns = loop_now(w->lp);
    r->record_send_lag = false;
    rd->has_loc = false;
    xch_submit(cl->xc, r);
    return true;
}

/* req->on_done: the exchange recorded the outcome; keep the raw record. */
static void on_outcome(xch_req *r, const xch_outcome *o)
{
    client *cl = r->owner;
    worker *w = cl->w;
    if (w->raw) {
        worker_raw rr = {
            .intended_ns = cl->cur.intended_ns - w->cfg.start_ns,
            .latency_ns = o->latency_ns,
            .service_ns = o->service_ns,
            .ttfb_ns = o->ttfb_ns,
            .bytes_in = o->bytes_in,
            .bytes_out = o->bytes_out,
            .status = (uint16_t)(o->err < 0 ? o->status : 0),
            .ep = (uint8_t)cl->cur.ep,
            .step = w->cfg.step,
            .err = (int8_t)o->err,
        };
        rawq_push(w->raw, &rr);
    }
    if (cl->rd && o->err < 0 && follow(cl, o->status))
        return;
    exchange_end(cl, o->err >= 0);
}

/* Starts cl->cur on cl: the exchange reuses its connection or opens one. */
static void exchange_start(client *cl)
{
    worker *w = cl->w;
    const plan *p = w->p;
    const plan_endpoint *ep = &p->eps[cl->cur.ep];
    w->in_flight++;
    cl->in_flight = true;
    xch_req *r = &cl->req;
    /* After a redirect to another host, back to the endpoint's. */
    if (cl->xc->t != &w->targets[cl->target])
        xch_conn_retarget(cl->xc, &w->targets[cl->target]);
    if (p->redirects && !cl->rd)
        redirect_setup(cl);
    if (cl->rd) {
        cl->rd->hops = 0;
        cl->rd->has_loc = false;
    }
    r->data = ep->request.data;
    r->len = ep->request.len;
    r->head = ep->head;
    r->idempotent = w->idempotent[cl->cur.ep];
    r->close_after = !p->keepalive;
    r->record_send_lag = w->open;
    r->intended_ns = cl->cur.intended_ns;
    r->timeout_ns = p->timeout_ns;
    r->connect_timeout_ns = p->connect_timeout_ns;
    r->max_header_bytes = p->max_header_bytes;
    r->shard = w->shards[cl->cur.ep];
    xch_submit(cl->xc, r);
}

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
        cl->target = w->p->eps[ep].target_idx;
        xch_conn_retarget(cl->xc, &w->targets[cl->target]);
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
    /* Emptied, it starts again at the first slot: the slots ever used
     * (pages made resident) are the deepest backlog, not a head that
     * wanders round the whole ring (~320 KiB at 20k req/s) over a long
     * run's many short queues. */
    if (--b->len == 0)
        b->head = 0;
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
    if (xch_is_open(cl->xc) && !w->stopping) {
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

/* The walker (load/shell) says iteration i is due at at_ns. */
static void sched_fire(void *ctx, uint64_t i, uint64_t at_ns)
{
    worker *w = ctx;
    if (w->p->mode == PLAN_MIXED) {
        dispatch(w, plan_pick_endpoint(w->p, i), at_ns);
    } else {
        for (uint32_t ep = 0; ep < w->p->neps; ep++)
            dispatch(w, ep, at_ns);
    }
}

/* Iterations the generator itself could not start in time: dropped. */
static void sched_drop(void *ctx, uint64_t n)
{
    worker *w = ctx;
    const plan *p = w->p;
    double wsum = 0;
    for (uint32_t ep = 0; ep < p->neps; ep++)
        wsum += p->eps[ep].weight;
    uint64_t left = n;
    /* Mixed: shared by weight (the rest to the first), not picked one by one. */
    for (uint32_t ep = (uint32_t)p->neps; ep-- > 0;) {
        uint64_t k = n;
        if (p->mode == PLAN_MIXED)
            k = ep == 0 ? left : (uint64_t)((double)n * p->eps[ep].weight / wsum);
        left -= p->mode == PLAN_MIXED ? k : 0;
        metrics_shard *sh = w->shards[ep];
        sh->tot.dropped += k;
        metrics_cur(sh)->dropped += k;
    }
}

/* Could an iteration due now start or wait (any target)? */
static bool sched_can_take(void *ctx)
{
    worker *w = ctx;
    for (size_t t = 0; t < w->p->ntargets; t++) {
        const pool *pl = &w->pools[t];
        if (pl->idle || pl->spare || pl->wait.len < pl->wait.cap)
            return true;
    }
    return false;
}

static void sched_done(void *ctx)
{
    worker *w = ctx;
    w->schedule_done = true;
    maybe_finish(w);
}

/* ---- run control ---- */

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
    if (w->open)
        shell_sched_stop(&w->sched);
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
    worker *w = data;
    if (w->open)
        shell_sched_flush(&w->sched);
    begin_stop(w);
}

/* shell_driver.start: the common start time. */
static void drv_start(void *d)
{
    worker *w = d;
    if (w->cfg.duration_ns)
        loop_timer_start(w->lp, &w->end_timer, w->cfg.start_ns + w->cfg.duration_ns, on_end, w);
    if (w->open) {
        shell_sched_start(&w->sched);
    } else if (w->x->kind == EXEC_RAMPING_VUS) {
        ramp_check(w->lp, w);
    } else {
        for (uint32_t i = 0; i < w->nclients; i++)
            vu_start(&w->clients[i]);
    }
    maybe_finish(w);
}

static void drv_stop(void *d) { begin_stop(d); }

/* shell_driver.cancel: what is still in flight has no outcome: it is
 * cancelled, and counted. Iterations still waiting never started: dropped. */
static void drv_cancel(void *d)
{
    worker *w = d;
    for (uint32_t i = 0; i < w->nclients; i++) {
        client *cl = &w->clients[i];
        if (cl->in_flight) {
            xch_cancel(cl->xc);
            cl->in_flight = false;
            w->in_flight--;
        }
        loop_timer_stop(w->lp, &cl->retry);
        client_close(cl, true);
    }
    for (size_t t = 0; t < w->p->ntargets; t++) {
        iter it;
        while (backlog_pop(&w->pools[t].wait, &it))
            metrics_record_dropped(w->shards[it.ep]);
    }
}

static const shell_driver driver = {drv_start, drv_stop, drv_cancel};

/* ---- setup ---- */

/* The connections, and each client's (client k uses connection k / depth). */
static int setup_conns(worker *w, err *e)
{
    w->nconns = w->nclients / w->depth;
    w->conns = calloc(w->nconns ? w->nconns : 1, sizeof *w->conns);
    if (!w->conns)
        return err_set(e, VOLLEY_ENOMEM, "worker: out of memory for %u connections", w->nconns);
    for (uint32_t i = 0; i < w->nconns; i++) {
        xch_conn *xc = &w->conns[i];
        xch_conn_init(xc, &w->xctx, &w->targets[w->clients[i * w->depth].target]);
        xc->depth = w->depth;
    }
    for (uint32_t i = 0; i < w->nclients; i++)
        w->clients[i].xc = &w->conns[i / w->depth];
    return 0;
}

static int setup_closed(worker *w, err *e)
{
    const plan *p = w->p;
    uint32_t T = w->cfg.nworkers, id = w->cfg.id;
    uint32_t vus = executor_max_vus(w->x);
    uint32_t nscen = p->mode == PLAN_MIXED ? 1 : (uint32_t)p->neps;
    segment sg = {p->segment_k, p->segment_n};
    uint32_t per = segment_worker_vus(sg, vus, T, id) * w->depth;
    w->nclients = per * nscen;
    w->clients = calloc(w->nclients ? w->nclients : 1, sizeof *w->clients);
    if (!w->clients)
        return err_set(e, VOLLEY_ENOMEM, "worker: out of memory");
    uint32_t k = 0;
    for (uint32_t s = 0; s < nscen; s++) {
        w->quota[s] = p->requests ? segment_worker_quota(sg, p->requests, vus, T, id)
                                  : UINT64_MAX;
        for (uint32_t j = 0; j < per; j++, k++) {
            client *cl = &w->clients[k];
            /* Run-wide VU indexes interleave over segments and workers, so
             * a ramp spreads evenly and N segments run one run's VUs; the
             * VUs of one connection share its index. */
            cl->vu_index = segment_vu_index(sg, T, id, j / w->depth);
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
    uint32_t per_target = (w->cfg.pool_cap ? w->cfg.pool_cap : 1) * w->depth;
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
    /* Disjoint and complete over segments and workers (executor_slice). */
    exec_slice sl = executor_slice(p->segment_k, p->segment_n, w->cfg.id, w->cfg.nworkers);
    shell_sched *sc = &w->sched;
    *sc = (shell_sched){.x = w->x, .lp = w->lp, .t0_ns = w->cfg.start_ns,
                        .dur_ns = w->cfg.duration_ns, .stride = sl.stride,
                        .next_i = sl.first, .limit = executor_total(w->x),
                        .fire = sched_fire, .drop = sched_drop, .can_take = sched_can_take,
                        .done = sched_done, .ctx = w};
    if (p->requests && p->requests < sc->limit)
        sc->limit = p->requests;
    loop_timer_init(&sc->timer);
    return 0;
}

/* The exchange context and the per-thread targets (address fallback is
 * remembered per worker). */
static void setup_exchange(worker *w)
{
    const plan *p = w->p;
    w->xctx = (xch_ctx){.lp = w->lp, .rbuf = w->rbuf, .rbuf_len = sizeof w->rbuf,
                        .active = &w->sh.active, .retry = !p->no_retry,
                        .fatal = w->sh.fatal, .fatal_cap = sizeof w->sh.fatal,
                        .decode = p->compressed};
    for (size_t t = 0; t < p->ntargets; t++) {
        xch_target *xt = &w->targets[t];
        xt->naddrs = p->target_naddrs[t] ? p->target_naddrs[t] : 1;
        if (p->target_naddrs[t])
            memcpy(xt->addrs, p->target_addrs[t], sizeof xt->addrs);
        else
            xt->addrs[0] = p->targets[t];
        xt->tls = p->target_tls[t] ? p->tls : NULL;
        xt->share_session = p->share_tls_sessions;
        xt->h2c = !xt->tls && (p->h2c || p->http == PLAN_HTTP_2);
        xt->h2_only = xt->tls && p->http == PLAN_HTTP_2;
        snprintf(xt->sni, sizeof xt->sni, "%s", p->target_hosts[t]);
        snprintf(xt->name, sizeof xt->name, "%s", p->target_names[t]);
        snprintf(xt->tunnel, sizeof xt->tunnel, "%s", p->target_tunnel[t]);
        xt->via_proxy = p->route.has_proxy && !p->route.unix_path[0];
        xt->spread = p->route.dns_spread;
    }
    for (size_t i = 0; i < p->neps; i++)
        w->idempotent[i] = xch_method_idempotent(p->eps[i].method[0] ? p->eps[i].method
                                                                       : p->method);
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
    w->depth = w->p->pipeline ? w->p->pipeline : 1;
    if (shell_init(&w->sh, cfg->id, cfg->start_ns, w->shards, w->nshards, &driver, w, e))
        goto fail;
    w->lp = w->sh.lp;
    for (uint32_t i = 0; i < w->nshards; i++)
        if (!(w->shards[i] = metrics_shard_new())) {
            err_set(e, VOLLEY_ENOMEM, "worker: out of memory");
            goto fail;
        }
    if ((w->open ? setup_open(w, e) : setup_closed(w, e)))
        goto fail;
    if (w->p->raw && !(w->raw = rawq_new())) {
        err_set(e, VOLLEY_ENOMEM, "worker: out of memory for --raw");
        goto fail;
    }
    loop_timer_init(&w->end_timer);
    loop_timer_init(&w->grace_timer);
    loop_timer_init(&w->ramp_timer);
    setup_exchange(w);
    if (setup_conns(w, e))
        goto fail;
    for (uint32_t i = 0; i < w->nclients; i++) {
        client *cl = &w->clients[i];
        cl->w = w;
        cl->req.owner = cl;
        cl->req.on_done = on_outcome;
        loop_timer_init(&cl->retry);
    }
    return w;
fail:
    worker_free(w);
    return NULL;
}

void worker_free(worker *w)
{
    if (!w)
        return;
    if (w->conns)
        for (uint32_t i = 0; i < w->nconns; i++)
            xch_conn_release(&w->conns[i]);
    free(w->conns);
    /* after the conns: their SSLs hold the slots until freed */
    for (size_t t = 0; t < PLAN_MAX_TARGETS; t++)
        tls_session_free(w->targets[t].share.session);
    for (uint32_t i = 0; i < w->nrtargets; i++)
        tls_session_free(w->rtargets[i].share.session);
    for (uint32_t i = 0; w->clients && i < w->nclients; i++)
        if (w->clients[i].rd) {
            buf_free(&w->clients[i].rd->req);
            free(w->clients[i].rd);
        }
    free(w->clients);
    for (size_t t = 0; t < PLAN_MAX_TARGETS; t++)
        free(w->pools[t].wait.items);
    shell_destroy(&w->sh);
    for (uint32_t i = 0; i < w->nshards; i++)
        metrics_shard_free(w->shards[i]);
    rawq_free(w->raw);
    free(w);
}

int worker_start(worker *w, err *e) { return shell_start(&w->sh, e); }
void worker_request_stop(worker *w) { shell_request_stop(&w->sh); }
void worker_abort(worker *w) { shell_abort(&w->sh); }
void worker_join(worker *w) { shell_join(&w->sh); }
bool worker_done(worker *w) { return shell_done(&w->sh); }
metrics_shard *worker_shard(worker *w, uint32_t ep) { return w->shards[ep]; }
uint32_t worker_active(worker *w) { return shell_active(&w->sh); }
uint64_t worker_end_ns(worker *w) { return w->sh.end_ns; }
uint64_t worker_current_second(worker *w) { return w->shards[0]->cur; }
const char *worker_fatal(worker *w) { return shell_fatal(&w->sh); }
uint64_t worker_raw_dropped(worker *w) { return w->raw ? rawq_dropped(w->raw) : 0; }

size_t worker_raw_drain(worker *w, void (*fn)(void *ctx, const worker_raw *r), void *ctx)
{
    return w->raw ? rawq_drain(w->raw, fn, ctx) : 0;
}
