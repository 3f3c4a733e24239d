/* engine: starts workers, gathers their per-second intervals, stops them
 * and merges their shards (see engine.h). The main thread never touches a
 * connection: it reads only what the workers publish. */
#include "load/engine.h"

#include "core/clock.h"
#include "load/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_NS (50 * NS_PER_MS)
#define PROGRESS_NS (250 * NS_PER_MS)

typedef struct run {
    const plan *p;
    worker **w;
    uint32_t n;
    uint64_t start_ns;
    uint64_t next_second;
    hist *scratch;
    results *out;
} run;

static void fill_plan(results_plan *rp, const plan *p, uint32_t threads)
{
    snprintf(rp->url, sizeof rp->url, "%s", p->url_text);
    snprintf(rp->method, sizeof rp->method, "%s", p->method);
    snprintf(rp->executor, sizeof rp->executor, "%s", plan_executor_name(p->executor));
    rp->connections = p->connections;
    rp->threads = threads;
    rp->duration_ns = p->duration_ns;
    rp->requests = p->requests;
    rp->timeout_ns = p->timeout_ns;
    rp->connect_timeout_ns = p->connect_timeout_ns;
    rp->keepalive = p->keepalive;
    rp->body_bytes = p->body_len;
    rp->nheaders = (uint32_t)p->nheaders;
}

/* Merges second s of every worker that has it into one series row.
 * final: workers are joined, so their open interval may be read too. */
static void add_second(run *r, uint64_t s, bool final)
{
    series_row row = {.second = (uint32_t)s};
    hist_reset(r->scratch);
    for (uint32_t i = 0; i < r->n; i++) {
        metrics_shard *sh = worker_shard(r->w[i]);
        bool ready = metrics_interval_ready(sh, s) || (final && sh->cur == s);
        /* A slot older than the ring was reused: skip it (counted as overrun). */
        if (!ready || s + METRICS_RING <= sh->cur)
            continue;
        const metrics_interval *iv = metrics_interval_get(sh, s);
        row.requests += iv->requests;
        row.responses += iv->responses;
        row.errors += iv->errors;
        row.bytes_in += iv->bytes_in;
        row.bytes_out += iv->bytes_out;
        hist_merge(r->scratch, iv->latency);
        metrics_interval_release(sh, s);
    }
    row.p50_ns = hist_percentile(r->scratch, 50);
    row.p90_ns = hist_percentile(r->scratch, 90);
    row.p99_ns = hist_percentile(r->scratch, 99);
    row.max_ns = hist_max(r->scratch);
    row.mean_ns = hist_mean(r->scratch);
    uint32_t active = 0;
    for (uint32_t i = 0; i < r->n; i++)
        active += worker_active(r->w[i]);
    row.active = final ? 0 : active;
    series_append(&r->out->st.sec, &row);
}

/* Adds every second that all workers have closed. */
static void collect_seconds(run *r)
{
    for (;;) {
        for (uint32_t i = 0; i < r->n; i++)
            if (!worker_done(r->w[i]) && !metrics_interval_ready(worker_shard(r->w[i]), r->next_second))
                return;
        /* Every worker has closed this second or has finished. */
        bool any_closed = false;
        for (uint32_t i = 0; i < r->n; i++)
            any_closed |= metrics_interval_ready(worker_shard(r->w[i]), r->next_second);
        if (!any_closed)
            return;
        add_second(r, r->next_second++, false);
    }
}

static void progress(run *r, const engine_options *opt, bool stopping)
{
    if (!opt || !opt->progress)
        return;
    engine_progress pr = {0};
    uint64_t now = clock_now_ns();
    pr.elapsed_ns = now > r->start_ns ? now - r->start_ns : 0;
    pr.total_ns = r->p->duration_ns;
    pr.planned_requests = r->p->requests;
    pr.stopping = stopping;
    for (uint32_t i = 0; i < r->n; i++) {
        metrics_shard *sh = worker_shard(r->w[i]);
        pr.requests += atomic_load_explicit(&sh->live_requests, memory_order_relaxed);
        pr.errors += atomic_load_explicit(&sh->live_errors, memory_order_relaxed);
        pr.active += worker_active(r->w[i]);
    }
    const series_row *last = series_last(&r->out->st.sec);
    if (last) {
        pr.have_second = true;
        pr.last_rps = (double)last->requests;
        pr.last_p50_ns = last->p50_ns;
        pr.last_p99_ns = last->p99_ns;
    }
    opt->progress(opt->ctx, &pr);
}

static bool all_done(run *r)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (!worker_done(r->w[i]))
            return false;
    return true;
}

static void finish(run *r)
{
    results *out = r->out;
    uint64_t last_second = 0, end_ns = r->start_ns;
    for (uint32_t i = 0; i < r->n; i++) {
        worker *w = r->w[i];
        metrics_shard *sh = worker_shard(w);
        if (sh->cur > last_second)
            last_second = sh->cur;
        if (worker_end_ns(w) > end_ns)
            end_ns = worker_end_ns(w);
        metrics_totals_add(&out->st.tot, &sh->tot);
        hist_merge(out->st.latency, sh->latency);
        hist_merge(out->st.service, sh->service);
        hist_merge(out->st.ttfb, sh->ttfb);
        hist_merge(out->st.connect, sh->connect);
        out->series_overruns += sh->overruns;
    }
    /* The last partial second is kept only if something happened in it. */
    while (r->next_second <= last_second) {
        uint64_t s = r->next_second++;
        uint64_t n = 0;
        for (uint32_t i = 0; i < r->n; i++) {
            metrics_shard *sh = worker_shard(r->w[i]);
            if (metrics_interval_ready(sh, s) || sh->cur == s)
                n += metrics_interval_get(sh, s)->requests;
        }
        if (s < last_second || n)
            add_second(r, s, true);
    }
    out->st.elapsed_ns = end_ns - r->start_ns;
    out->end_wall_ns = out->start_wall_ns + out->st.elapsed_ns;
}

int engine_run(const plan *p, const engine_options *opt, results *out, err *e)
{
    uint32_t nthreads = p->threads ? p->threads : 1;
    if (p->connections && nthreads > p->connections)
        nthreads = p->connections;
    if (results_init(out))
        return err_set(e, VOLLEY_ENOMEM, "out of memory");
    fill_plan(&out->plan, p, nthreads);
    run r = {.p = p, .n = nthreads, .out = out};
    r.w = calloc(nthreads, sizeof *r.w);
    r.scratch = hist_new();
    if (!r.w || !r.scratch) {
        free(r.w);
        hist_free(r.scratch);
        return err_set(e, VOLLEY_ENOMEM, "out of memory");
    }
    /* A common start a little ahead, so every thread is waiting when it comes. */
    r.start_ns = clock_now_ns() + 20 * NS_PER_MS;
    int rc = 0;
    for (uint32_t i = 0; i < nthreads && !rc; i++) {
        worker_config cfg = {
            .p = p,
            .id = i,
            .connections = p->connections / nthreads + (i < p->connections % nthreads),
            .requests = p->requests ? p->requests / nthreads + (i < p->requests % nthreads)
                                    : UINT64_MAX,
            .start_ns = r.start_ns,
        };
        r.w[i] = worker_new(&cfg, e);
        if (!r.w[i])
            rc = e && e->code ? e->code : VOLLEY_ENOMEM;
    }
    out->start_wall_ns = clock_wall_ns() + (r.start_ns - clock_now_ns());
    for (uint32_t i = 0; i < nthreads && !rc; i++)
        if ((rc = worker_start(r.w[i], e))) {
            for (uint32_t j = 0; j < i; j++)
                worker_abort(r.w[j]);
        }
    if (!rc) {
        sig_atomic_t seen = 0;
        uint64_t next_progress = r.start_ns;
        bool stopping = false;
        while (!all_done(&r)) {
            clock_sleep_ns(POLL_NS);
            sig_atomic_t irq = opt && opt->interrupts ? *opt->interrupts : 0;
            if (irq > seen) {
                seen = irq;
                out->interrupted = true;
                stopping = true;
                for (uint32_t i = 0; i < nthreads; i++) {
                    if (irq >= 2)
                        worker_abort(r.w[i]);
                    else
                        worker_request_stop(r.w[i]);
                }
            }
            collect_seconds(&r);
            if (clock_now_ns() >= next_progress) {
                progress(&r, opt, stopping);
                next_progress += PROGRESS_NS;
            }
        }
    }
    for (uint32_t i = 0; i < nthreads; i++)
        if (r.w[i])
            worker_join(r.w[i]);
    if (!rc) {
        finish(&r);
        progress(&r, opt, true);
    }
    for (uint32_t i = 0; i < nthreads; i++) {
        if (r.w[i] && !rc && worker_fatal(r.w[i]) && !out->warning[0])
            snprintf(out->warning, sizeof out->warning, "%s", worker_fatal(r.w[i]));
        worker_free(r.w[i]);
    }
    free(r.w);
    hist_free(r.scratch);
    return rc;
}
