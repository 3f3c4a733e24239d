/* results: a run's outcome in memory (see results.h). */
#include "results/results.h"

#include "core/clock.h"
#include "core/err.h"
#include "metrics/threshold.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int results_stats_init(results_stats *s)
{
    memset(s, 0, sizeof *s);
    series_init(&s->sec);
    if (metrics_dists_new(s->dist)) {
        results_stats_free(s);
        return VOLLEY_ENOMEM;
    }
    return 0;
}

void results_stats_free(results_stats *s)
{
    metrics_dists_free(s->dist);
    series_free(&s->sec);
}

void results_stats_merge(results_stats *dst, const results_stats *src)
{
    metrics_totals_add(&dst->tot, &src->tot);
    metrics_dists_merge(dst->dist, src->dist);
}

typedef struct correct_ctx {
    hist *dst;
    uint64_t interval_ns;
} correct_ctx;

/* One bucket of the raw latency: its midpoint stands for its values. */
static void correct_bucket(void *ctx, size_t idx, uint64_t count)
{
    const correct_ctx *c = ctx;
    uint64_t v = hist_bucket_low(idx) / 2 + hist_bucket_high(idx) / 2;
    for (uint64_t x = v; x > c->interval_ns && x - c->interval_ns >= c->interval_ns;) {
        x -= c->interval_ns;
        hist_record_n(c->dst, x, count);
    }
}

static void correct_stats(results_stats *s, uint64_t vus)
{
    hist_reset(s->latency_corrected);
    if (!s->tot.requests || !vus || !s->elapsed_ns)
        return;
    correct_ctx c = {.dst = s->latency_corrected,
                     .interval_ns = (uint64_t)((double)s->elapsed_ns * vus / (double)s->tot.requests)};
    hist_merge(c.dst, s->latency);
    if (c.interval_ns)
        hist_foreach(s->latency, correct_bucket, &c);
}

void results_correct_closed(results *r)
{
    if (strstr(r->plan.executor, "arrival") || !r->plan.connections)
        return;
    uint32_t vus = r->plan.connections;
    bool mixed = !strcmp(r->plan.mode, "mixed");
    correct_stats(&r->st, mixed || r->neps < 2 ? vus : vus * (uint32_t)r->neps);
    /* Per endpoint each has all the connections; mixed: they share them,
     * so an endpoint's interval is the whole run's. */
    for (size_t i = 0; i < r->neps; i++) {
        results_stats *s = &r->eps[i].st;
        if (!mixed) {
            correct_stats(s, vus);
            continue;
        }
        uint64_t req = s->tot.requests;
        s->tot.requests = r->st.tot.requests;
        correct_stats(s, vus);
        s->tot.requests = req;
    }
}

int results_init(results *r)
{
    memset(r, 0, sizeof *r);
    return results_stats_init(&r->st);
}

static void free_endpoints(results_endpoint *eps, size_t n)
{
    if (!eps)
        return;
    for (size_t i = 0; i < n; i++)
        results_stats_free(&eps[i].st);
    free(eps);
}

void results_free(results *r)
{
    results_stats_free(&r->st);
    free_endpoints(r->eps, r->neps);
    for (size_t i = 0; i < r->nsteps; i++) {
        results_stats_free(&r->steps[i].st);
        free_endpoints(r->steps[i].eps, r->neps);
    }
    free(r->steps);
    results_script_free(&r->script);
    free(r->thresholds);
    free(r->monitor.samples);
    free(r->generator.sec_cpu_pct);
    r->generator.sec_cpu_pct = NULL;
    r->thresholds = NULL;
    r->monitor.samples = NULL;
    r->nthresholds = r->monitor.nsamples = 0;
    r->eps = NULL;
    r->steps = NULL;
    r->neps = r->nsteps = 0;
}

double results_target_share(const results *r, size_t i)
{
    if (strcmp(r->plan.mode, "mixed") || i >= r->neps)
        return 1;
    double sum = 0;
    for (size_t k = 0; k < r->neps; k++)
        sum += r->eps[k].weight;
    return sum > 0 ? r->eps[i].weight / sum : 1.0 / (double)r->neps;
}

results_endpoint *results_add_endpoint(results *r, const char *name, const char *method,
                                       const char *url)
{
    if (r->nsteps)
        return NULL; /* steps hold per-endpoint arrays sized at creation */
    results_endpoint *e = realloc(r->eps, (r->neps + 1) * sizeof *e);
    if (!e)
        return NULL;
    r->eps = e;
    results_endpoint *ep = &e[r->neps];
    memset(ep, 0, sizeof *ep);
    if (results_stats_init(&ep->st))
        return NULL;
    snprintf(ep->name, sizeof ep->name, "%s", name);
    snprintf(ep->method, sizeof ep->method, "%s", method);
    snprintf(ep->url, sizeof ep->url, "%s", url);
    ep->weight = 1;
    r->neps++;
    return ep;
}

results_step *results_add_step(results *r, double target_rps, uint32_t target_vus)
{
    results_step *s = realloc(r->steps, (r->nsteps + 1) * sizeof *s);
    if (!s)
        return NULL;
    r->steps = s;
    results_step *st = &s[r->nsteps];
    memset(st, 0, sizeof *st);
    st->index = (uint32_t)r->nsteps;
    st->target_rps = target_rps;
    st->target_vus = target_vus;
    if (results_stats_init(&st->st))
        return NULL;
    st->eps = calloc(r->neps ? r->neps : 1, sizeof *st->eps);
    if (!st->eps) {
        results_stats_free(&st->st);
        return NULL;
    }
    for (size_t i = 0; i < r->neps; i++) {
        st->eps[i] = r->eps[i];
        if (results_stats_init(&st->eps[i].st)) {
            free_endpoints(st->eps, i);
            results_stats_free(&st->st);
            return NULL;
        }
    }
    r->nsteps++;
    return st;
}

double results_stats_rps(const results_stats *s)
{
    if (!s->elapsed_ns)
        return 0;
    return (double)s->tot.requests / ((double)s->elapsed_ns / NS_PER_S);
}

double results_rps(const results *r)
{
    return results_stats_rps(&r->st);
}

int results_eval_thresholds(results *r, const threshold *t, size_t n, err *e)
{
    free(r->thresholds);
    r->thresholds = calloc(n ? n : 1, sizeof *r->thresholds);
    r->nthresholds = 0;
    if (!r->thresholds)
        return err_set(e, VOLLEY_ENOMEM, "out of memory");
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        const results_stats *st = &r->st;
        if (t[i].endpoint[0]) {
            st = NULL;
            for (size_t k = 0; k < r->neps; k++)
                if (!strcmp(r->eps[k].name, t[i].endpoint))
                    st = &r->eps[k].st;
            if (!st)
                return err_set(e, VOLLEY_EINVAL, "threshold '%s': no endpoint named '%s'",
                               t[i].expr, t[i].endpoint);
        }
        threshold_input in = {.tot = &st->tot, .elapsed_ns = st->elapsed_ns};
        memcpy(in.dist, st->dist, sizeof in.dist);
        results_threshold *v = &r->thresholds[r->nthresholds++];
        snprintf(v->expr, sizeof v->expr, "%s", t[i].expr);
        v->actual = threshold_actual(&t[i], &in);
        v->ok = threshold_check(&t[i], v->actual);
        threshold_format_actual(&t[i], v->actual, v->actual_text, sizeof v->actual_text);
        failed += !v->ok;
    }
    return failed;
}

bool results_thresholds_ok(const results *r)
{
    for (size_t i = 0; i < r->nthresholds; i++)
        if (!r->thresholds[i].ok)
            return false;
    return !r->thresholds_aborted;
}

int results_monitor_add(results_monitor *m, const monitor_sample *s)
{
    if ((m->nsamples & (m->nsamples - 1)) == 0) {
        size_t cap = m->nsamples ? m->nsamples * 2 : 64;
        monitor_sample *p = realloc(m->samples, cap * sizeof *p);
        if (!p)
            return VOLLEY_ENOMEM;
        m->samples = p;
    }
    m->samples[m->nsamples++] = *s;
    if (s->rss_bytes > m->rss_max_bytes)
        m->rss_max_bytes = s->rss_bytes;
    return 0;
}

/* dst becomes a copy of src (counts, histograms and series rows). */
static int stats_copy(results_stats *dst, const results_stats *src)
{
    int rc = results_stats_init(dst);
    if (rc)
        return rc;
    results_stats_merge(dst, src);
    for (size_t i = 0; i < src->sec.len && !rc; i++)
        rc = series_append(&dst->sec, &src->sec.rows[i]);
    dst->elapsed_ns = src->elapsed_ns;
    return rc;
}

/* Moves endpoint k's stats into *run (freeing the run's), leaves a copy of
 * them as the only endpoint of eps. */
static int keep_one(results_stats *run, results_endpoint *eps, size_t neps, size_t k)
{
    results_stats_free(run);
    *run = eps[k].st;
    for (size_t i = 0; i < neps; i++)
        if (i != k)
            results_stats_free(&eps[i].st);
    eps[0] = eps[k];
    return stats_copy(&eps[0].st, run);
}

/* The run becomes the one endpoint NAME (a report of it alone). */
int results_keep_endpoint(results *r, const char *name, err *e)
{
    size_t k = 0;
    while (k < r->neps && strcmp(r->eps[k].name, name))
        k++;
    if (k == r->neps) {
        char names[512] = "";
        size_t o = 0;
        for (size_t i = 0; i < r->neps && o < sizeof names - 1; i++)
            o += (size_t)snprintf(names + o, sizeof names - o, "%s'%s'", i ? ", " : "", r->eps[i].name);
        return err_set(e, VOLLEY_EINVAL, "--endpoint: no endpoint '%s' in these results (%s)", name, names);
    }
    snprintf(r->plan.url, sizeof r->plan.url, "%s", r->eps[k].url);
    if (r->eps[k].method[0])
        snprintf(r->plan.method, sizeof r->plan.method, "%s", r->eps[k].method);
    int rc = keep_one(&r->st, r->eps, r->neps, k);
    for (size_t s = 0; s < r->nsteps && !rc; s++)
        rc = keep_one(&r->steps[s].st, r->steps[s].eps, r->neps, k);
    r->neps = 1;
    return rc ? err_set(e, VOLLEY_ENOMEM, "out of memory") : 0;
}

bool results_step_monitor(const results *r, const results_step *st, double *cpu_pct,
                          uint64_t *rss_max_bytes)
{
    const results_monitor *m = &r->monitor;
    if (!m->pid || !m->nsamples)
        return false;
    double from = (double)st->offset_ns / 1e9, to = from + (double)st->st.elapsed_ns / 1e9;
    double half = m->interval_s > 0 ? m->interval_s / 2 : 0.25, sum = 0;
    size_t n = 0;
    *rss_max_bytes = 0;
    for (size_t i = 0; i < m->nsamples; i++) {
        /* A sample covers (t - interval, t]: it counts where its middle is. */
        double mid = m->samples[i].t_s - half;
        if (mid < from || mid > to)
            continue;
        sum += m->samples[i].cpu_pct;
        if (m->samples[i].rss_bytes > *rss_max_bytes)
            *rss_max_bytes = m->samples[i].rss_bytes;
        n++;
    }
    /* Rounded here, so the table, summary.csv, results.json and the chart
     * show the same figure. */
    *cpu_pct = n ? round(sum / (double)n * 10) / 10 : 0;
    return n > 0;
}
