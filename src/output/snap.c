/* snap: the snapshot the live outputs read (see snap.h). Kept by the main
 * thread: per-second rows are summed, each second's latency histogram is
 * merged into a cumulative one, and the end replaces it all by the results. */
#include "output/snap.h"

#include "core/clock.h"
#include "metrics/threshold.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

int snap_init(snap *s)
{
    memset(s, 0, sizeof *s);
    s->latency = hist_new();
    return s->latency ? 0 : VOLLEY_ENOMEM;
}

void snap_free(snap *s)
{
    hist_free(s->latency);
    free(s->th);
    memset(s, 0, sizeof *s);
}

double snap_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

const char *snap_status_class_name(int cls)
{
    static const char *n[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    return cls >= 1 && cls <= 5 ? n[cls] : n[0];
}

void snap_add_second(snap *s, const series_row *row, const hist *latency, double cpu_s)
{
    s->seconds++;
    s->wall_ns = clock_wall_ns();
    s->requests += row->requests;
    s->responses += row->responses;
    s->errors += row->errors;
    s->bytes_in += row->bytes_in;
    s->bytes_out += row->bytes_out;
    s->dropped += row->dropped;
    s->retries += row->retries;
    if (latency)
        hist_merge(s->latency, latency);
    s->have_breakdown = true;
    for (int c = 0; c < SNAP_STATUS_CLASSES; c++)
        s->status_class[c] += row->status_class[c];
    for (int k = 0; k < ERRK_COUNT; k++)
        s->err_kind[k] += row->err_kind[k];
    s->send_lag_p99_ns = row->send_lag_p99_ns;
    s->last = *row;
    s->have_last = true;
    s->active = row->active;
    s->rps = (double)row->requests;
    s->target_rps = row->target_rps;
    s->cpu_s = cpu_s;
}

void snap_add_endpoint_second(snap *s, uint32_t ep, const char *name, const series_row *row)
{
    if (ep >= SNAP_MAX_EPS)
        return;
    snap_endpoint *d = &s->eps[ep];
    if (ep >= s->neps) {
        s->neps = ep + 1;
        snprintf(d->name, sizeof d->name, "%s", name);
    }
    d->requests += row->requests;
    d->responses += row->responses;
    d->errors += row->errors;
    d->p50_ns = row->p50_ns;
    d->p99_ns = row->p99_ns;
    d->rps = (double)row->requests;
}

int snap_set_thresholds(snap *s, const threshold *t, size_t n)
{
    free(s->th);
    s->nth = 0;
    if (!(s->th = n ? calloc(n, sizeof *s->th) : NULL))
        return n ? VOLLEY_ENOMEM : 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(s->th[i].expr, sizeof s->th[i].expr, "%s", t[i].expr);
        s->th[i].state = "pending";
    }
    s->nth = n;
    return 0;
}

void snap_judge_thresholds(snap *s, const threshold *t, size_t n)
{
    metrics_totals tot = {.requests = s->requests, .responses = s->responses,
                          .errors = s->errors, .dropped = s->dropped};
    threshold_input in = {.tot = &tot, .elapsed_ns = (uint64_t)s->seconds * NS_PER_S};
    in.dist[METRICS_DIST_LATENCY] = s->latency;
    for (size_t i = 0; i < n && i < s->nth; i++) {
        if (t[i].endpoint[0] || !threshold_live(&t[i]) || !s->seconds)
            continue;
        double a = threshold_actual(&t[i], &in);
        s->th[i].ok = threshold_check(&t[i], a);
        s->th[i].state = s->th[i].ok ? "passing" : "failing";
        threshold_format_actual(&t[i], a, s->th[i].actual, sizeof s->th[i].actual);
    }
}

static void set_endpoints(snap *s, const results *r)
{
    memset(s->eps, 0, sizeof s->eps);
    s->neps = r->neps < SNAP_MAX_EPS ? r->neps : SNAP_MAX_EPS;
    for (size_t i = 0; i < s->neps; i++) {
        const results_endpoint *ep = &r->eps[i];
        snap_endpoint *d = &s->eps[i];
        snprintf(d->name, sizeof d->name, "%s", ep->name);
        d->requests = ep->st.tot.requests;
        d->responses = ep->st.tot.responses;
        d->errors = ep->st.tot.errors;
        d->p50_ns = hist_percentile(ep->st.latency, 50);
        d->p99_ns = hist_percentile(ep->st.latency, 99);
        d->rps = results_stats_rps(&ep->st);
    }
}

static int set_thresholds(snap *s, const results *r)
{
    free(s->th);
    s->th = NULL;
    s->nth = 0;
    if (!r->nthresholds)
        return 0;
    if (!(s->th = calloc(r->nthresholds, sizeof *s->th)))
        return VOLLEY_ENOMEM;
    for (size_t i = 0; i < r->nthresholds; i++) {
        snprintf(s->th[i].expr, sizeof s->th[i].expr, "%s", r->thresholds[i].expr);
        snprintf(s->th[i].actual, sizeof s->th[i].actual, "%s", r->thresholds[i].actual_text);
        s->th[i].ok = r->thresholds[i].ok;
        s->th[i].state = s->th[i].ok ? "ok" : "failed";
    }
    s->nth = r->nthresholds;
    return 0;
}

int snap_set_final(snap *s, const results *r, double cpu_s)
{
    const metrics_totals *t = &r->st.tot;
    s->final = true;
    s->wall_ns = r->end_wall_ns ? r->end_wall_ns : clock_wall_ns();
    s->requests = t->requests;
    s->responses = t->responses;
    s->errors = t->errors;
    s->bytes_in = t->bytes_in;
    s->bytes_out = t->bytes_out;
    s->dropped = t->dropped;
    s->have_breakdown = true;
    memset(s->status_class, 0, sizeof s->status_class);
    for (int st = 0; st < METRICS_STATUS_MAX; st++)
        s->status_class[metrics_status_class(st)] += t->status[st];
    memcpy(s->err_kind, t->err_kind, sizeof s->err_kind);
    s->retries = t->retries;
    hist_reset(s->latency);
    hist_merge(s->latency, r->st.latency);
    s->active = 0;
    s->rps = results_rps(r);
    s->target_rps = r->plan.rate_per_s;
    s->cpu_s = cpu_s;
    s->send_lag_p99_ns = hist_percentile(r->st.send_lag, 99);
    const series_row *last = series_last(&r->st.sec);
    if (last) {
        s->last = *last;
        s->have_last = true;
    }
    s->seconds = (uint32_t)r->st.sec.len;
    set_endpoints(s, r);
    return set_thresholds(s, r);
}
