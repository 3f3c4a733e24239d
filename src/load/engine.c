/* engine: warm-up, steps, workers, per-second series and merging (see
 * engine.h). The main thread never touches a connection: it reads only
 * what the workers publish (closed intervals, relaxed progress counters,
 * raw records) and, after joining them, their shards. */
#include "load/engine.h"

#include "core/clock.h"
#include "load/worker.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define POLL_NS (50 * NS_PER_MS)
#define PROGRESS_NS (250 * NS_PER_MS)

/* ---- the HTTP worker as an engine_worker_ops ---- */

typedef struct http_ctx {
    const plan *p;
    const executor *x;
    uint32_t pool_cap, backlog_cap;
    uint8_t step;
} http_ctx;

static void *hw_create(void *ctx, const engine_worker_args *a, err *e)
{
    const http_ctx *h = ctx;
    uint32_t n = a->nworkers, i = a->id;
    worker_config cfg = {
        .p = h->p,
        .x = h->x,
        .id = i,
        .nworkers = n,
        .start_ns = a->start_ns,
        .duration_ns = a->duration_ns,
        .pool_cap = h->pool_cap / n + (i < h->pool_cap % n),
        .backlog_cap = h->backlog_cap / n + (i < h->backlog_cap % n),
        .step = h->step,
    };
    return worker_new(&cfg, e);
}

static int hw_start(void *w, err *e) { return worker_start(w, e); }
static void hw_request_stop(void *w) { worker_request_stop(w); }
static void hw_abort(void *w) { worker_abort(w); }
static void hw_join(void *w) { worker_join(w); }
static void hw_destroy(void *w) { worker_free(w); }
static bool hw_done(void *w) { return worker_done(w); }
static metrics_shard *hw_shard(void *w, uint32_t g) { return worker_shard(w, g); }
static uint32_t hw_active(void *w) { return worker_active(w); }
static uint64_t hw_end_ns(void *w) { return worker_end_ns(w); }
static uint64_t hw_current_second(void *w) { return worker_current_second(w); }
static const char *hw_fatal(void *w) { return worker_fatal(w); }
static size_t hw_drain_raw(void *w, engine_raw_fn fn, void *ctx) { return worker_raw_drain(w, fn, ctx); }
static uint64_t hw_raw_dropped(void *w) { return worker_raw_dropped(w); }

static const engine_worker_ops http_ops = {
    hw_create, hw_start, hw_request_stop, hw_abort, hw_join, hw_destroy, hw_done,
    hw_shard, hw_active, hw_end_ns, hw_current_second, hw_fatal, hw_drain_raw, hw_raw_dropped,
};

typedef struct engine {
    const plan *p;  /* NULL for custom workers */
    uint32_t ngroups;
    const engine_worker_ops *ops;
    void *ops_ctx;
    const engine_options *opt;
    results *out;
    sig_atomic_t seen_irq;
    bool stopping;
    bool aligned;   /* --start-at was applied (to the first shape only) */
    bool late_pending; /* the aligned shape's lateness is still to be noted */
    uint64_t stop_ns;  /* when a stop was first asked for (0: never) */
    hist *scratch_ep, *scratch_all, *lag_ep, *lag_all, *ws_ep, *ws_all;
    uint64_t cpu_ns, cpu_at_ns; /* process CPU at the last row, and when */
} engine;

/* One run of a shape: a step, the whole run, or the warm-up. */
typedef struct shape_run {
    engine *eng;
    const executor *x;
    void **w;
    uint32_t n;
    uint64_t start_ns;
    uint64_t duration_ns;
    uint64_t next_second;
    uint64_t second_offset;  /* added to row seconds (sweeps) */
    results_stats *all;
    results_endpoint *eps;   /* neps of them; NULL when discarding */
    size_t first_row;        /* all's rows before this shape (ep_rows_deferred) */
    bool warmup;
    uint32_t step, nsteps;
    uint64_t next_progress;
} shape_run;

static bool irq_check(engine *g, shape_run *r)
{
    sig_atomic_t irq = g->opt && g->opt->interrupts ? *g->opt->interrupts : 0;
    if (irq <= g->seen_irq)
        return false;
    g->seen_irq = irq;
    g->out->interrupted = true;
    if (!g->stopping)
        g->stop_ns = clock_now_ns();
    g->stopping = true;
    if (r)
        for (uint32_t i = 0; i < r->n; i++) {
            if (irq >= 2)
                g->ops->abort(r->w[i]);
            else
                g->ops->request_stop(r->w[i]);
        }
    return true;
}

static double ep_share(engine *g, uint32_t ep)
{
    const plan *p = g->p;
    if (!p)
        return 1.0;
    double s = p->mode == PLAN_MIXED ? p->eps[ep].weight / p->weight_sum : 1.0;
    return s / p->segment_n;
}

/* Target iterations in second s of the shape (open model). */
static double target_in_second(const shape_run *r, uint64_t s)
{
    if (!r->x || !executor_is_open(r->x))
        return 0;
    return executor_count_at(r->x, (s + 1) * NS_PER_S) - executor_count_at(r->x, s * NS_PER_S);
}

/* final: the shard's worker has finished (joined, or done: it records
 * nothing more), so its open interval is complete and may be read too. */
static bool shard_has(metrics_shard *sh, uint64_t s, bool final)
{
    /* A slot older than the ring was reused: skip it (counted as overrun). */
    if (s + METRICS_RING <= sh->cur)
        return false;
    return metrics_interval_ready(sh, s) || (final && sh->cur == s);
}

static uint64_t process_cpu_ns(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * NS_PER_S +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* The generator's CPU since the previous row, in % of one core. */
static double cpu_pct_since_last(engine *g)
{
    uint64_t cpu = process_cpu_ns(), now = clock_now_ns();
    double pct = g->cpu_at_ns && now > g->cpu_at_ns && cpu >= g->cpu_ns
                     ? (double)(cpu - g->cpu_ns) * 100.0 / (double)(now - g->cpu_at_ns)
                     : 0;
    g->cpu_ns = cpu;
    g->cpu_at_ns = now;
    return pct;
}

/* Adds one shard's interval into row (counts, classes, kinds). */
static void row_add_interval(series_row *row, const metrics_interval *iv)
{
    row->requests += iv->requests;
    row->responses += iv->responses;
    row->errors += iv->errors;
    row->transport_errors += iv->transport_errors;
    row->bytes_in += iv->bytes_in;
    row->bytes_out += iv->bytes_out;
    row->dropped += iv->dropped;
    row->retries += iv->retries;
    for (int c = 0; c < METRICS_STATUS_CLASSES; c++)
        row->status_class[c] += iv->status_class[c];
    for (int k = 0; k < ERRK_COUNT; k++)
        row->err_kind[k] += iv->err_kind[k];
    row->ws_opened += iv->ws_opened;
    row->ws_closed += iv->ws_closed;
    row->ws_sent += iv->ws_sent;
    row->ws_received += iv->ws_received;
    row->ws_open += iv->ws_open;
    row->ws_rtts += iv->ws_rtts;
}

/* What an interval counted (requests, dropped iterations, WebSocket
 * sessions, messages and round trips): 0 means an empty second. */
static uint64_t interval_events(const metrics_interval *iv)
{
    return iv->requests + iv->dropped + iv->ws_opened + iv->ws_closed + iv->ws_sent +
           iv->ws_received + iv->ws_rtts;
}

/* Adds an endpoint's row into the run's (the counts; not percentiles). */
static void row_add_counts(series_row *all, const series_row *row)
{
    metrics_interval iv = {.requests = row->requests, .responses = row->responses,
                           .errors = row->errors, .transport_errors = row->transport_errors,
                           .bytes_in = row->bytes_in, .bytes_out = row->bytes_out,
                           .dropped = row->dropped, .retries = row->retries,
                           .ws_opened = row->ws_opened, .ws_closed = row->ws_closed,
                           .ws_sent = row->ws_sent, .ws_received = row->ws_received,
                           .ws_open = row->ws_open, .ws_rtts = row->ws_rtts};
    memcpy(iv.status_class, row->status_class, sizeof iv.status_class);
    memcpy(iv.err_kind, row->err_kind, sizeof iv.err_kind);
    row_add_interval(all, &iv);
    all->target_rps += row->target_rps;
}

static void row_from_hist(series_row *row, const hist *h)
{
    row->p50_ns = hist_percentile(h, 50);
    row->p90_ns = hist_percentile(h, 90);
    row->p99_ns = hist_percentile(h, 99);
    row->max_ns = hist_max(h);
    row->mean_ns = hist_mean(h);
}

/* With one endpoint, its rows are the run's but for cpu_pct (0 in endpoint
 * rows): finish copies them from the run's series when the shape ends
 * instead of keeping both while it runs (bench/soak.sh: the series were
 * half of a long run's growth). Nothing reads an endpoint's series before
 * then (the live outputs get each row as it is made). */
static bool ep_rows_deferred(const shape_run *r)
{
    return r->eps && r->all && r->eng->ngroups == 1;
}

static void copy_deferred_ep_rows(shape_run *r)
{
    series *src = &r->all->sec, *dst = &r->eps[0].st.sec;
    series_reserve(dst, dst->len + (src->len - r->first_row)); /* one block, not doublings */
    for (size_t i = r->first_row; i < src->len; i++) {
        series_row row = src->rows[i];
        row.cpu_pct = 0;
        series_append(dst, &row);
    }
}

/* Merges second s of every worker into one row per endpoint and one for
 * all. final: the workers are joined, their open interval may be read. */
static void add_second(shape_run *r, uint64_t s, bool final)
{
    engine *g = r->eng;
    uint32_t active = 0;
    for (uint32_t i = 0; i < r->n; i++)
        active += r->eng->ops->active(r->w[i]);
    double target = target_in_second(r, s);
    series_row all = {.second = (uint32_t)(s + r->second_offset)};
    /* The scratch histograms are empty here: each is reset as soon as it
     * has been used, so pages a stall's latencies made resident go back
     * at once (hist_reset) instead of staying until the next second. */
    for (uint32_t ep = 0; ep < g->ngroups; ep++) {
        series_row row = {.second = all.second};
        for (uint32_t i = 0; i < r->n; i++) {
            metrics_shard *sh = r->eng->ops->shard(r->w[i], ep);
            /* A worker that is done stopped before closing second s: its
             * open interval is final; skipping it would lose its requests. */
            if (!shard_has(sh, s, final || g->ops->done(r->w[i])))
                continue;
            const metrics_interval *iv = metrics_interval_get(sh, s);
            row_add_interval(&row, iv);
            hist_merge(g->scratch_ep, iv->latency);
            hist_merge(g->lag_ep, iv->send_lag);
            if (iv->ws_rtt)
                hist_merge(g->ws_ep, iv->ws_rtt);
            metrics_interval_release(sh, s);
        }
        row_from_hist(&row, g->scratch_ep);
        row.send_lag_p99_ns = hist_percentile(g->lag_ep, 99);
        row.ws_rtt_p50_ns = hist_percentile(g->ws_ep, 50);
        row.ws_rtt_p99_ns = hist_percentile(g->ws_ep, 99);
        hist_merge(g->ws_all, g->ws_ep);
        row.target_rps = target * ep_share(g, ep);
        row.active = final ? 0 : active;
        hist_merge(g->scratch_all, g->scratch_ep);
        hist_merge(g->lag_all, g->lag_ep);
        hist_reset(g->scratch_ep);
        hist_reset(g->lag_ep);
        hist_reset(g->ws_ep);
        row_add_counts(&all, &row);
        if (r->eps && !ep_rows_deferred(r))
            series_append(&r->eps[ep].st.sec, &row);
        const engine_options *eo = g->opt;
        if (!final && !r->warmup && r->eps && eo && eo->on_endpoint_second)
            eo->on_endpoint_second(eo->ctx, ep, r->eps[ep].name, &row);
    }
    all.send_lag_p99_ns = hist_percentile(g->lag_all, 99);
    all.ws_rtt_p50_ns = hist_percentile(g->ws_all, 50);
    all.ws_rtt_p99_ns = hist_percentile(g->ws_all, 99);
    all.cpu_pct = cpu_pct_since_last(g);
    row_from_hist(&all, g->scratch_all);
    all.active = final ? 0 : active;
    if (r->all)
        series_append(&r->all->sec, &all);
    const engine_options *o = g->opt;
    if (!final && !r->warmup && o && o->on_second && o->on_second(o->ctx, &all, g->scratch_all) &&
        !g->stopping) {
        g->stopping = true;
        g->stop_ns = clock_now_ns();
        for (uint32_t i = 0; i < r->n; i++)
            g->ops->request_stop(r->w[i]);
    }
    hist_reset(g->scratch_all);
    hist_reset(g->lag_all);
    hist_reset(g->ws_all);
}

static bool second_closed_everywhere(shape_run *r, uint64_t s)
{
    bool any = false;
    for (uint32_t i = 0; i < r->n; i++) {
        bool ready = metrics_interval_ready(r->eng->ops->shard(r->w[i], 0), s);
        if (!ready && !r->eng->ops->done(r->w[i]))
            return false;
        any |= ready;
    }
    return any;
}

static void collect_seconds(shape_run *r)
{
    while (second_closed_everywhere(r, r->next_second))
        add_second(r, r->next_second++, false);
}

static void drain_raw(shape_run *r)
{
    const engine_options *o = r->eng->opt;
    /* URL runs: the plan asks; scripts (no plan here): the options do. */
    if ((r->eng->p && !r->eng->p->raw) || !o || !o->raw || r->warmup)
        return;
    if (!r->eng->ops->drain_raw)
        return;
    for (uint32_t i = 0; i < r->n; i++)
        r->eng->ops->drain_raw(r->w[i], o->raw, o->raw_ctx);
}

static void progress(shape_run *r, bool stopping)
{
    const engine_options *o = r->eng->opt;
    if (!o || !o->progress)
        return;
    engine_progress pr = {0};
    uint64_t now = clock_now_ns();
    pr.elapsed_ns = now > r->start_ns ? now - r->start_ns : 0;
    pr.total_ns = r->duration_ns;
    pr.planned_requests = r->eng->p ? r->eng->p->requests : 0;
    pr.stopping = stopping || r->eng->stopping;
    pr.warmup = r->warmup;
    pr.step = r->step;
    pr.nsteps = r->nsteps;
    if (r->x && r->eng->p && executor_is_open(r->x))
        pr.target_rps = executor_rate_at(r->x, pr.elapsed_ns) / r->eng->p->segment_n *
                        (r->eng->p->mode == PLAN_MIXED ? 1 : (double)r->eng->ngroups);
    for (uint32_t i = 0; i < r->n; i++) {
        for (uint32_t ep = 0; ep < r->eng->ngroups; ep++) {
            metrics_shard *sh = r->eng->ops->shard(r->w[i], ep);
            pr.requests += atomic_load_explicit(&sh->live_requests, memory_order_relaxed);
            pr.errors += atomic_load_explicit(&sh->live_errors, memory_order_relaxed);
        }
        pr.active += r->eng->ops->active(r->w[i]);
    }
    const series_row *last = r->all ? series_last(&r->all->sec) : NULL;
    if (last && last->second >= r->second_offset) {
        pr.have_second = true;
        pr.last_rps = (double)last->requests;
        pr.last_p50_ns = last->p50_ns;
        pr.last_p99_ns = last->p99_ns;
    }
    o->progress(o->ctx, &pr);
}

static bool all_done(shape_run *r)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (!r->eng->ops->done(r->w[i]))
            return false;
    return true;
}

static void merge_shard_into(results_stats *st, metrics_shard *sh)
{
    metrics_totals_add(&st->tot, &sh->tot);
    metrics_dists_merge(st->dist, sh->dist);
}

/* When the load ended: the planned duration, or with -n the last scheduled
 * start if earlier (open model), or with -n alone the last outcome (closed
 * model); a stop, if earlier; never after the workers ended. last: the last
 * outcome (0: unknown). */
static uint64_t load_end(const shape_run *r, uint64_t workers_end, uint64_t last)
{
    const plan *p = r->eng->p;
    uint64_t end = last ? last : workers_end;
    if (r->duration_ns)
        end = r->start_ns + r->duration_ns;
    uint64_t t = p && p->requests && r->x && executor_is_open(r->x)
                     ? executor_time_of(r->x, p->requests - 1)
                     : UINT64_MAX;
    if (t != UINT64_MAX && (!r->duration_ns || r->start_ns + t < end))
        end = r->start_ns + t;
    if (r->eng->stop_ns > r->start_ns && r->eng->stop_ns < end)
        end = r->eng->stop_ns;
    if (workers_end < end)
        end = workers_end;
    return end > r->start_ns ? end : r->start_ns;
}

/* Rates are over the load time (elapsed_ns); what followed until the last
 * outcome is the drain (in-flight requests finishing), reported apart. An
 * endpoint's load time is its own (with -n, a fast endpoint finishes long
 * before a slow one). */
static void set_load_times(shape_run *r, uint64_t workers_end)
{
    engine *g = r->eng;
    uint64_t run_last = 0;
    for (uint32_t ep = 0; ep < g->ngroups; ep++) {
        uint64_t last = 0;
        for (uint32_t i = 0; i < r->n; i++) {
            uint64_t t = g->ops->shard(r->w[i], ep)->last_outcome_ns;
            last = t > last ? t : last;
        }
        run_last = last > run_last ? last : run_last;
        if (!r->eps)
            continue;
        uint64_t end = load_end(r, workers_end, last);
        r->eps[ep].st.elapsed_ns = end - r->start_ns;
        r->eps[ep].st.drain_ns = last > end ? last - end : 0;
    }
    if (!r->all)
        return;
    uint64_t end = load_end(r, workers_end, run_last);
    uint64_t last = run_last ? run_last : workers_end;
    r->all->elapsed_ns = end - r->start_ns;
    r->all->drain_ns = last > end ? last - end : 0;
}

static void finish(shape_run *r)
{
    engine *g = r->eng;
    results *out = g->out;
    uint64_t last_second = 0, end_ns = r->start_ns;
    for (uint32_t i = 0; i < r->n; i++) {
        void *w = r->w[i];
        if (g->ops->current_second(w) > last_second)
            last_second = g->ops->current_second(w);
        if (g->ops->end_ns(w) > end_ns)
            end_ns = g->ops->end_ns(w);
        for (uint32_t ep = 0; ep < g->ngroups; ep++) {
            metrics_shard *sh = r->eng->ops->shard(w, ep);
            if (r->warmup) {
                out->warmup_requests += sh->tot.requests;
                continue;
            }
            merge_shard_into(r->eps ? &r->eps[ep].st : r->all, sh);
            out->series_overruns += sh->overruns;
        }
        if (!out->warning[0] && g->ops->fatal(w))
            snprintf(out->warning, sizeof out->warning, "%s", g->ops->fatal(w));
        uint64_t lost = g->ops->raw_dropped ? g->ops->raw_dropped(w) : 0;
        if (!out->warning[0] && lost)
            snprintf(out->warning, sizeof out->warning,
                     "requests.csv: %llu rows dropped (the writer could not keep up)",
                     (unsigned long long)lost);
    }
    if (r->warmup)
        return;
    /* The run's block is the sum of its endpoints' (each shard merged once). */
    if (r->eps && r->all)
        for (uint32_t ep = 0; ep < g->ngroups; ep++)
            results_stats_merge(r->all, &r->eps[ep].st);
    /* The last partial second is kept only if something happened in it. */
    while (r->next_second <= last_second) {
        uint64_t s = r->next_second++;
        uint64_t n = 0;
        for (uint32_t i = 0; i < r->n; i++)
            for (uint32_t ep = 0; ep < g->ngroups; ep++) {
                metrics_shard *sh = r->eng->ops->shard(r->w[i], ep);
                if (shard_has(sh, s, true))
                    n += interval_events(metrics_interval_get(sh, s));
            }
        if (s < last_second || n)
            add_second(r, s, true);
    }
    if (ep_rows_deferred(r))
        copy_deferred_ep_rows(r);
    set_load_times(r, end_ns);
}

static uint32_t threads_for(const plan *p, const executor *x)
{
    uint32_t t = p->threads ? p->threads : 1;
    if (!executor_is_open(x)) {
        uint32_t vus = executor_max_vus(x);
        if (vus && t > vus)
            t = vus;
    }
    return t;
}

/* The monotonic start of a shape: a little ahead of now, or, for the first
 * shape with --start-at, the monotonic time of that wall-clock instant
 * (waited for here, interruptibly). A start already past stays where it
 * was: the schedule's intended times do not move, so the segments still
 * add up to one run, and the lateness is recorded. A shape without a
 * duration (-n alone: VUs until the requests are done) has no schedule to
 * keep and begins now; so does one whose start is older than this
 * machine's monotonic clock (it cannot be expressed on it). */
static uint64_t shape_start(engine *g, uint64_t duration_ns)
{
    uint64_t at = g->opt ? g->opt->start_at_wall_ns : 0;
    if (!at || g->aligned)
        return clock_now_ns() + 20 * NS_PER_MS;
    g->aligned = g->late_pending = true;
    g->out->start_at_ns = at;
    while (!g->stopping && clock_wall_ns() + NS_PER_S < at) {
        clock_sleep_ns(POLL_NS);
        irq_check(g, NULL);
    }
    uint64_t wall = clock_wall_ns(), now = clock_now_ns();
    if (at >= wall)
        return now + (at - wall);
    return duration_ns && wall - at < now ? now - (wall - at) : now;
}

/* A --start-at so far past that the aligned shape's whole schedule is
 * already over (a stale time, or a segment restarted long after the
 * others) would run nothing on time: refused, before any load, instead of
 * sending every iteration at once and timing it out from the past. */
static int check_stale_start(engine *g, const shape_run *r, err *e)
{
    uint64_t at = g->out->start_at_ns, wall = clock_wall_ns();
    if (!r->duration_ns || wall <= at || wall - at < r->duration_ns)
        return 0;
    char t[40];
    clock_format_rfc3339(at, t, sizeof t);
    return err_set(e, VOLLEY_EINVAL, "--start-at %s was %.3f s ago: the %s (%.3f s) would "
                   "already be over; give every segment the same instant in the future", t,
                   (double)(wall - at) / 1e9, r->warmup ? "warm-up" : "run",
                   (double)r->duration_ns / 1e9);
}

static void note_lateness(engine *g)
{
    uint64_t at = g->out->start_at_ns, wall = clock_wall_ns();
    g->late_pending = false;
    if (wall > at)
        g->out->start_late_ns = (int64_t)(wall - at);
}

/* Starts worker i with ops->start; with --cpus on its CPU: a new thread
 * takes its creator's affinity, so the main thread wears the worker's mask
 * for the moment of the start (and its own again afterwards). */
static int start_worker(engine *g, void *w, uint32_t i, err *e)
{
    const engine_options *o = g->opt;
    if (!o || !o->ncpus)
        return g->ops->start(w, e);
    cpu_set_t mine, one;
    CPU_ZERO(&one);
    CPU_SET(o->cpus[i % o->ncpus], &one);
    int rc = pthread_getaffinity_np(pthread_self(), sizeof mine, &mine);
    if (!rc)
        rc = pthread_setaffinity_np(pthread_self(), sizeof one, &one);
    if (rc) {
        errno = rc;
        return err_sys(e, "--cpus: cannot run worker %u on CPU %u", i,
                       (unsigned)o->cpus[i % o->ncpus]);
    }
    int src = g->ops->start(w, e);
    pthread_setaffinity_np(pthread_self(), sizeof mine, &mine);
    return src;
}

/* Runs one shape to its end with nthreads workers made by g->ops.
 * Returns 0 or an error (nothing was sent). */
static int run_workers(shape_run *r, uint32_t nthreads, err *e)
{
    engine *g = r->eng;
    r->n = nthreads;
    r->w = calloc(nthreads, sizeof *r->w);
    if (!r->w)
        return err_set(e, VOLLEY_ENOMEM, "out of memory");
    /* A common start a little ahead, so every thread is waiting when it comes. */
    r->start_ns = shape_start(g, r->duration_ns);
    /* A run of known length gets its rows at once (bench/soak.sh: grown by
     * doubling, each copy left its old block in the heap, steps of RSS). */
    if (r->duration_ns && r->all) {
        size_t rows = (size_t)(r->duration_ns / NS_PER_S) + 3;
        series_reserve(&r->all->sec, r->all->sec.len + rows);
        for (uint32_t ep = 0; r->eps && !ep_rows_deferred(r) && ep < g->ngroups; ep++)
            series_reserve(&r->eps[ep].st.sec, r->eps[ep].st.sec.len + rows);
    }
    r->first_row = r->all ? r->all->sec.len : 0;
    int rc = g->late_pending && g->opt->refuse_stale_start ? check_stale_start(g, r, e) : 0;
    for (uint32_t i = 0; i < nthreads && !rc; i++) {
        engine_worker_args a = {.id = i, .nworkers = nthreads, .start_ns = r->start_ns,
                                .duration_ns = r->duration_ns};
        if (!(r->w[i] = g->ops->create(g->ops_ctx, &a, e)))
            rc = e && e->code ? e->code : VOLLEY_ENOMEM;
    }
    /* The shards judge each status where they record it (URL runs and
     * scripts alike). */
    for (uint32_t i = 0; i < nthreads && !rc; i++)
        for (uint32_t ep = 0; ep < g->ngroups; ep++)
            g->ops->shard(r->w[i], ep)->ok = g->opt ? g->opt->ok_status : NULL;
    if (!rc && !g->out->start_wall_ns)
        g->out->start_wall_ns = clock_wall_ns() + (r->start_ns - clock_now_ns());
    for (uint32_t i = 0; i < nthreads && !rc; i++)
        if ((rc = start_worker(g, r->w[i], i, e)))
            for (uint32_t j = 0; j < i; j++)
                g->ops->abort(r->w[j]);
    if (!rc && g->late_pending)
        note_lateness(g);
    if (!rc) {
        r->next_progress = r->start_ns;
        if (g->stopping)
            for (uint32_t i = 0; i < nthreads; i++)
                r->eng->ops->request_stop(r->w[i]);
        while (!all_done(r)) {
            clock_sleep_ns(POLL_NS);
            irq_check(g, r);
            if (!r->warmup)
                collect_seconds(r);
            drain_raw(r);
            if (clock_now_ns() >= r->next_progress) {
                progress(r, false);
                r->next_progress += PROGRESS_NS;
            }
        }
    }
    for (uint32_t i = 0; i < nthreads; i++)
        if (r->w[i])
            g->ops->join(r->w[i]);
    if (!rc) {
        drain_raw(r);
        finish(r);
        progress(r, true);
    }
    for (uint32_t i = 0; i < nthreads; i++)
        if (r->w[i])
            g->ops->destroy(r->w[i]);
    free(r->w);
    r->w = NULL;
    return rc;
}

static int run_shape(shape_run *r, err *e)
{
    const plan *p = r->eng->p;
    http_ctx h = {.p = p, .x = r->x, .pool_cap = plan_pool_cap(p, r->x),
                  .backlog_cap = plan_backlog_cap(p, r->x), .step = (uint8_t)r->step};
    r->eng->ops = &http_ops;
    r->eng->ops_ctx = &h;
    return run_workers(r, threads_for(p, r->x), e);
}

static void fill_plan(results_plan *rp, const plan *p)
{
    const plan_endpoint *e0 = &p->eps[0];
    snprintf(rp->url, sizeof rp->url, "%s", e0->url_text);
    snprintf(rp->method, sizeof rp->method, "%s", e0->method);
    snprintf(rp->executor, sizeof rp->executor, "%s", executor_name(p->shape.kind));
    snprintf(rp->mode, sizeof rp->mode, "%s", p->mode == PLAN_MIXED ? "mixed" : "per-endpoint");
    snprintf(rp->label, sizeof rp->label, "%s", p->label);
    rp->connections = executor_is_open(&p->shape) || p->nrates ? plan_pool_cap(p, &p->shape)
                                                               : executor_max_vus(&p->shape);
    rp->pipeline = p->pipeline;
    rp->threads = threads_for(p, &p->shape);
    rp->duration_ns = p->shape.duration_ns;
    rp->requests = p->requests;
    rp->timeout_ns = p->timeout_ns;
    rp->connect_timeout_ns = p->connect_timeout_ns;
    rp->warmup_ns = p->warmup_ns;
    rp->rate_per_s = p->shape.kind == EXEC_CONSTANT_RATE ? p->shape.rate : 0;
    rp->keepalive = p->keepalive;
    rp->body_bytes = p->body_len;
    rp->nheaders = (uint32_t)p->nheaders;
    size_t off = 0;
    rp->stages[0] = 0;
    for (size_t i = 0; i < p->shape.nstages && off < sizeof rp->stages - 40; i++)
        off += (size_t)snprintf(rp->stages + off, sizeof rp->stages - off, "%s%g:%.3fs",
                                i ? "," : "", p->shape.stages[i].target,
                                (double)p->shape.stages[i].duration_ns / NS_PER_S);
}

/* Sleeps for ns, waking early on an interrupt. */
static void pause_ns(engine *g, uint64_t ns)
{
    uint64_t end = clock_now_ns() + ns;
    while (!g->stopping && clock_now_ns() < end) {
        clock_sleep_ns(POLL_NS);
        irq_check(g, NULL);
    }
}

static int run_sweep(engine *g, err *e)
{
    const plan *p = g->p;
    results *out = g->out;
    uint64_t offset_ns = 0, t0 = 0;
    for (size_t k = 0; k < p->nrates && !g->stopping; k++) {
        executor x = {.kind = EXEC_CONSTANT_RATE, .rate = p->rates[k],
                      .duration_ns = p->shape.duration_ns};
        results_step *st = results_add_step(out, p->rates[k], 0);
        if (!st)
            return err_set(e, VOLLEY_ENOMEM, "out of memory");
        uint64_t now = clock_now_ns();
        if (k == 0)
            t0 = now;
        offset_ns = now - t0;
        st->offset_ns = offset_ns;
        /* A step's rows start after the previous step's last row (its drain
         * may have spilled into the second the next step starts in). */
        uint64_t first = offset_ns / NS_PER_S;
        const series_row *prev = series_last(&out->st.sec);
        if (prev && prev->second + 1u > first)
            first = prev->second + 1u;
        shape_run r = {.eng = g, .x = &x, .duration_ns = x.duration_ns,
                       .second_offset = first, .all = &st->st, .eps = st->eps,
                       .step = (uint32_t)k, .nsteps = (uint32_t)p->nrates};
        int rc = run_shape(&r, e);
        if (rc)
            return rc;
        /* The whole run: counts and histograms add up; series rows are the
         * steps' rows placed at their offsets. */
        results_stats_merge(&out->st, &st->st);
        for (size_t i = 0; i < st->st.sec.len; i++)
            series_append(&out->st.sec, &st->st.sec.rows[i]);
        for (size_t ep = 0; ep < p->neps; ep++) {
            results_stats_merge(&out->eps[ep].st, &st->eps[ep].st);
            for (size_t i = 0; i < st->eps[ep].st.sec.len; i++)
                series_append(&out->eps[ep].st.sec, &st->eps[ep].st.sec.rows[i]);
        }
        if (k + 1 < p->nrates && p->cooldown_ns)
            pause_ns(g, p->cooldown_ns);
    }
    /* The whole run's rate is over the time load was applied: the steps'
     * load times, without their drains or the cool-downs. */
    out->st.elapsed_ns = out->st.drain_ns = 0;
    for (size_t ep = 0; ep < p->neps; ep++)
        out->eps[ep].st.elapsed_ns = out->eps[ep].st.drain_ns = 0;
    for (size_t k = 0; k < out->nsteps; k++) {
        out->st.elapsed_ns += out->steps[k].st.elapsed_ns;
        out->st.drain_ns += out->steps[k].st.drain_ns;
        for (size_t ep = 0; ep < p->neps; ep++) {
            out->eps[ep].st.elapsed_ns += out->steps[k].eps[ep].st.elapsed_ns;
            out->eps[ep].st.drain_ns += out->steps[k].eps[ep].st.drain_ns;
        }
    }
    return 0;
}

/* The histograms a row is built in; 0 or VOLLEY_ENOMEM. Starts the CPU
 * clock of the first row. */
static int scratch_new(engine *g)
{
    g->scratch_ep = hist_new();
    g->scratch_all = hist_new();
    g->lag_ep = hist_new();
    g->lag_all = hist_new();
    g->ws_ep = hist_new();
    g->ws_all = hist_new();
    cpu_pct_since_last(g);
    return g->scratch_ep && g->scratch_all && g->lag_ep && g->lag_all && g->ws_ep && g->ws_all
               ? 0
               : VOLLEY_ENOMEM;
}

static void scratch_free(engine *g)
{
    hist_free(g->scratch_ep);
    hist_free(g->scratch_all);
    hist_free(g->lag_ep);
    hist_free(g->lag_all);
    hist_free(g->ws_ep);
    hist_free(g->ws_all);
}

int engine_run(const plan *p, const engine_options *opt, results *out, err *e)
{
    if (results_init(out))
        return err_set(e, VOLLEY_ENOMEM, "out of memory");
    fill_plan(&out->plan, p);
    for (size_t i = 0; i < p->neps; i++)
        if (!results_add_endpoint(out, p->eps[i].name, p->eps[i].method, p->eps[i].url_text))
            return err_set(e, VOLLEY_ENOMEM, "out of memory");
    engine g = {.p = p, .ngroups = (uint32_t)p->neps, .opt = opt, .out = out};
    for (size_t i = 0; i < p->neps; i++)
        out->eps[i].weight = p->eps[i].weight;
    int rc = 0;
    if (scratch_new(&g)) {
        rc = err_set(e, VOLLEY_ENOMEM, "out of memory");
        goto done;
    }
    if (p->warmup_ns) {
        executor x = p->nrates ? (executor){.kind = EXEC_CONSTANT_RATE, .rate = p->rates[0]}
                               : p->shape;
        x.duration_ns = p->warmup_ns;
        if (x.kind == EXEC_RAMPING_RATE || x.kind == EXEC_RAMPING_VUS) {
            /* Warm up at the first stage's target. */
            bool open = x.kind == EXEC_RAMPING_RATE;
            double t = x.nstages ? x.stages[0].target : 0;
            x = open ? (executor){.kind = EXEC_CONSTANT_RATE, .rate = t}
                     : (executor){.kind = EXEC_CONSTANT_VUS, .vus = (uint32_t)t};
            x.duration_ns = p->warmup_ns;
        }
        shape_run r = {.eng = &g, .x = &x, .duration_ns = p->warmup_ns, .warmup = true};
        if ((rc = run_shape(&r, e)))
            goto done;
        out->start_wall_ns = 0; /* the measured run starts after the warm-up */
    }
    if (g.stopping)
        goto done;
    if (opt && opt->on_measure_start)
        opt->on_measure_start(opt->ctx);
    if (p->nrates) {
        rc = run_sweep(&g, e);
    } else {
        shape_run r = {.eng = &g, .x = &p->shape, .duration_ns = p->shape.duration_ns,
                       .all = &out->st, .eps = out->eps};
        rc = run_shape(&r, e);
    }
done:
    if (!out->start_wall_ns)
        out->start_wall_ns = clock_wall_ns();
    out->end_wall_ns = clock_wall_ns();
    scratch_free(&g);
    return rc;
}

int engine_run_custom(const engine_custom *c, const engine_options *opt, results *out, err *e)
{
    if (results_init(out))
        return err_set(e, VOLLEY_ENOMEM, "out of memory");
    if (c->plan)
        out->plan = *c->plan;
    for (uint32_t i = 0; i < c->ngroups; i++)
        if (!results_add_endpoint(out, c->group_names[i], "", ""))
            return err_set(e, VOLLEY_ENOMEM, "out of memory");
    engine g = {.ngroups = c->ngroups, .ops = c->ops, .ops_ctx = c->ctx, .opt = opt, .out = out};
    int rc;
    if (scratch_new(&g)) {
        rc = err_set(e, VOLLEY_ENOMEM, "out of memory");
    } else {
        rc = 0;
        if (c->warmup_ns && c->warmup_ctx) {
            g.ops_ctx = c->warmup_ctx;
            shape_run w = {.eng = &g, .duration_ns = c->warmup_ns, .warmup = true};
            rc = run_workers(&w, c->nthreads ? c->nthreads : 1, e);
            g.ops_ctx = c->ctx;
            out->start_wall_ns = 0; /* the measured run starts after the warm-up */
        }
        shape_run r = {.eng = &g, .duration_ns = c->duration_ns, .all = &out->st, .eps = out->eps};
        if (!rc && !g.stopping && opt && opt->on_measure_start)
            opt->on_measure_start(opt->ctx);
        if (!rc && !g.stopping)
            rc = run_workers(&r, c->nthreads ? c->nthreads : 1, e);
    }
    if (!out->start_wall_ns)
        out->start_wall_ns = clock_wall_ns();
    out->end_wall_ns = clock_wall_ns();
    scratch_free(&g);
    return rc;
}
