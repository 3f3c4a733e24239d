/* compare: two runs side by side with a noise-aware verdict (see
 * compare.h for the rule). Whole-run values and their sampling errors come
 * from the exact histograms; the per-second series adds the allowance for
 * correlation; Student's t turns the difference into a p-value. */
#include "report/compare.h"

#include "core/clock.h"
#include "core/fileio.h"
#include "report/chart.h"
#include "report/html.h"
#include "report/summary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SIG_P 0.01
#define MIN_PCT 10.0
#define MIN_ERROR_PP 0.1      /* error rates: percentage points */
#define MIN_SECONDS 3         /* per-second spread counted from 3 seconds on */
#define SHORT_RUN_FACTOR 2.0  /* shorter runs: sampling error counted twice */
#define HOST_LAG_MIN_MS 0.5   /* a send-lag p99 difference worth a warning */

const char *compare_verdict_name(cmp_verdict v)
{
    return v == CMP_BETTER ? "better" : v == CMP_WORSE ? "worse" : "same";
}

typedef struct pair {
    double v;
    int g;
} pair;

static int cmp_pair(const void *a, const void *b)
{
    double x = ((const pair *)a)->v, y = ((const pair *)b)->v;
    return x < y ? -1 : x > y;
}

double compare_mann_whitney(const double *a, size_t na, const double *b, size_t nb)
{
    size_t n = na + nb;
    if (!na || !nb)
        return 1;
    pair *all = malloc(n * sizeof *all);
    if (!all)
        return 1;
    for (size_t i = 0; i < na; i++)
        all[i] = (pair){a[i], 0};
    for (size_t i = 0; i < nb; i++)
        all[na + i] = (pair){b[i], 1};
    qsort(all, n, sizeof *all, cmp_pair);
    double ra = 0, tie = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && all[j].v == all[i].v)
            j++;
        double rank = (double)(i + j + 1) / 2.0; /* average of ranks i+1..j */
        double t = (double)(j - i);
        tie += t * t * t - t;
        for (size_t k = i; k < j; k++)
            if (all[k].g == 0)
                ra += rank;
        i = j;
    }
    free(all);
    double n1 = (double)na, n2 = (double)nb, N = (double)n;
    double u = ra - n1 * (n1 + 1) / 2;
    double mu = n1 * n2 / 2;
    double var = n1 * n2 / 12.0 * ((N + 1) - tie / (N * (N - 1)));
    if (var <= 0)
        return 1;
    double z = (fabs(u - mu) - 0.5) / sqrt(var);
    if (z < 0)
        z = 0;
    return erfc(z / sqrt(2.0));
}

typedef enum { M_RPS, M_MEAN, M_P50, M_P90, M_P99, M_ERRORS, M_COUNT } metric_id;
static const char *metric_names[M_COUNT] = {"rps", "mean", "p50", "p90", "p99", "errors"};
static const double metric_q[M_COUNT] = {0, 0, 0.50, 0.90, 0.99, 0};

/* ---- Student's t, for a test whose noise estimate has few degrees of freedom ---- */

/* Continued fraction of the regularized incomplete beta (modified Lentz). */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    d = 1 / (fabs(d) < tiny ? tiny : d);
    double h = d;
    for (int m = 1; m <= 300; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
        for (int half = 0; half < 2; half++) {
            d = 1 + num * d;
            d = 1 / (fabs(d) < tiny ? tiny : d);
            c = 1 + num / (fabs(c) < tiny ? tiny : c);
            h *= d * c;
            num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
        }
        if (fabs(d * c - 1) < 1e-14)
            break;
    }
    return h;
}

static double beta_reg(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log(1 - x);
    if (x < (a + 1) / (a + b + 2))
        return exp(lbt) * beta_cf(a, b, x) / a;
    return 1 - exp(lbt) * beta_cf(b, a, 1 - x) / b;
}

double compare_t_p(double t, double df)
{
    if (!isfinite(t))
        return isnan(t) ? 1 : 0;
    if (df >= CMP_DF_LARGE)
        return erfc(fabs(t) / sqrt(2.0));
    return beta_reg(df / 2, 0.5, df / (df + t * t));
}

/* The t for which the two-sided p is alpha (bisection; p falls with t). */
static double t_critical(double alpha, double df)
{
    double lo = 0, hi = 1e4;
    for (int i = 0; i < 100; i++) {
        double mid = (lo + hi) / 2;
        if (compare_t_p(mid, df) > alpha)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

/* ---- one run's estimate of a metric and its standard error ---- */

typedef struct estimate {
    double v, samp; /* value and its sampling error, in the row's unit */
    double spread;  /* sample variance of the per-second values */
    double sec_mean; /* their mean */
    int seconds;    /* per-second values available */
    uint64_t n;     /* requests */
    double se;      /* standard error used by the test */
} estimate;

/* Per-second values of a metric, in the row's unit: seconds with requests,
 * the last one only if it holds at least half the others' average (it is
 * usually cut short by the end of the run). */
static size_t per_second(const results_stats *s, metric_id m, double *out)
{
    size_t n = s->sec.len, k = 0;
    if (n > 1) {
        uint64_t sum = 0;
        for (size_t i = 0; i + 1 < n; i++)
            sum += s->sec.rows[i].requests;
        if (s->sec.rows[n - 1].requests * 2 * (n - 1) < sum)
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        const series_row *r = &s->sec.rows[i];
        if (!r->requests)
            continue;
        switch (m) {
        case M_RPS: out[k++] = (double)r->requests; break;
        case M_MEAN: out[k++] = r->mean_ns / NS_PER_MS; break;
        case M_P50: out[k++] = (double)r->p50_ns / NS_PER_MS; break;
        case M_P90: out[k++] = (double)r->p90_ns / NS_PER_MS; break;
        case M_P99: out[k++] = (double)r->p99_ns / NS_PER_MS; break;
        case M_ERRORS: out[k++] = (double)r->errors / (double)r->requests; break;
        default: break;
        }
    }
    return k;
}

/* Sample variance of k >= 2 values. */
static double variance_of(const double *x, size_t k)
{
    double mean = 0, ss = 0;
    for (size_t i = 0; i < k; i++)
        mean += x[i] / (double)k;
    for (size_t i = 0; i < k; i++)
        ss += (x[i] - mean) * (x[i] - mean);
    return ss / (double)(k - 1);
}

/* Sampling error of the whole-run value as if requests were independent:
 * mean: sd/sqrt(n); percentile q: half the distance between the
 * percentiles one binomial standard deviation of rank either side of q
 * (distribution-free); rps: Poisson; errors: binomial. */
static double sampling_se(const results_stats *s, metric_id m, double v)
{
    double n = (double)s->tot.requests, secs = (double)s->elapsed_ns / 1e9;
    if (n < 1)
        return 0;
    switch (m) {
    case M_RPS: return secs > 0 ? sqrt(n) / secs : 0;
    case M_ERRORS: return sqrt(v * (1 - v) / n);
    case M_MEAN: return hist_stddev(s->latency) / NS_PER_MS / sqrt(n);
    default: break;
    }
    double c = (double)hist_count(s->latency);
    if (c < 1)
        return 0;
    double q = metric_q[m], d = sqrt(q * (1 - q) / c);
    double lo = (double)hist_percentile(s->latency, fmax(0, q - d) * 100);
    double hi = (double)hist_percentile(s->latency, fmin(1, q + d) * 100);
    return (hi - lo) / 2 / NS_PER_MS;
}

static double whole(const results_stats *s, metric_id m)
{
    switch (m) {
    case M_RPS: return results_stats_rps(s);
    case M_MEAN: return hist_mean(s->latency) / NS_PER_MS;
    case M_P50:
    case M_P90:
    case M_P99: return (double)hist_percentile(s->latency, metric_q[m] * 100) / NS_PER_MS;
    case M_ERRORS:
        return s->tot.requests ? (double)s->tot.errors / (double)s->tot.requests : 0;
    default: return 0;
    }
}

static estimate estimate_of(const results_stats *s, metric_id m, double *scratch)
{
    estimate es = {.v = whole(s, m), .n = s->tot.requests};
    es.samp = sampling_se(s, m, es.v);
    size_t k = per_second(s, m, scratch);
    es.seconds = (int)k;
    es.spread = k >= 2 ? variance_of(scratch, k) : 0;
    for (size_t i = 0; i < k; i++)
        es.sec_mean += scratch[i] / (double)k;
    return es;
}

/* Each run's standard error is the larger of its sampling error and the
 * spread of per-second values (pooled over both runs, as a slow second
 * moves many neighbouring requests at once: the allowance for their
 * correlation) divided by sqrt(seconds). Returns the degrees of freedom.
 * With fewer than MIN_SECONDS seconds in a run there is no spread to
 * measure, so the sampling error counts SHORT_RUN_FACTOR times. */
static double standard_errors(estimate *a, estimate *b)
{
    if (a->seconds < MIN_SECONDS || b->seconds < MIN_SECONDS) {
        a->se = a->samp * SHORT_RUN_FACTOR;
        b->se = b->samp * SHORT_RUN_FACTOR;
        return CMP_DF_LARGE;
    }
    double df = (double)(a->seconds + b->seconds - 2);
    double pooled = ((a->seconds - 1) * a->spread + (b->seconds - 1) * b->spread) / df;
    double sa = sqrt(pooled / a->seconds), sb = sqrt(pooled / b->seconds);
    a->se = fmax(a->samp, sa);
    b->se = fmax(b->samp, sb);
    return sa > a->samp || sb > b->samp ? df : CMP_DF_LARGE;
}

/* Error rates: the pooled two-proportion z, its variance scaled up by how
 * much more the per-second rates spread than binomial noise would. */
static double errors_p(const estimate *a, const estimate *b)
{
    double n1 = (double)a->n, n2 = (double)b->n;
    if (n1 < 1 || n2 < 1)
        return 1;
    double pool = (a->v * n1 + b->v * n2) / (n1 + n2);
    double se = sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2));
    if (se <= 0)
        return a->v == b->v ? 1 : 0;
    double binom = a->v * (1 - a->v) / n1 + b->v * (1 - b->v) / n2;
    double seen = a->se * a->se + b->se * b->se;
    double inflate = binom > 0 && seen > binom ? sqrt(seen / binom) : 1;
    return erfc(fabs(a->v - b->v) / (se * inflate) / sqrt(2.0));
}

static void judge(cmp_row *row, metric_id m)
{
    bool changed;
    if (m == M_ERRORS)
        changed = row->p_value < SIG_P && fabs(row->cur - row->base) * 100 >= MIN_ERROR_PP;
    else
        changed = row->p_value < SIG_P && fabs(row->pct) >= MIN_PCT;
    if (!changed)
        row->verdict = CMP_SAME;
    else if ((row->cur > row->base) == (m == M_RPS))
        row->verdict = CMP_BETTER;
    else
        row->verdict = CMP_WORSE;
}

static void fill_row(cmp_row *row, metric_id m, estimate *a, estimate *b)
{
    row->base = a->v;
    row->cur = b->v;
    row->pct = a->v != 0 ? (b->v - a->v) / a->v * 100.0 : 0;
    row->df = standard_errors(a, b);
    row->se_base = a->se;
    row->se_cur = b->se;
    row->samples_base = (int)(a->n > INT32_MAX ? INT32_MAX : a->n);
    row->samples_cur = (int)(b->n > INT32_MAX ? INT32_MAX : b->n);
    row->seconds_base = a->seconds;
    row->seconds_cur = b->seconds;
    double se = sqrt(a->se * a->se + b->se * b->se);
    if (m == M_ERRORS) {
        row->p_value = errors_p(a, b);
        row->df = CMP_DF_LARGE; /* a z test */
        row->ci = t_critical(SIG_P, row->df) * se * 100; /* percentage points */
    } else {
        row->p_value = se > 0 ? compare_t_p((b->v - a->v) / se, row->df) : (a->v == b->v ? 1 : 0);
        /* The spread measures the noise of the mean of the seconds: their
         * difference must be significant too, or one bad second (which can
         * own a whole run's p99) would decide alone. */
        if (row->df < CMP_DF_LARGE && se > 0)
            row->p_value = fmax(row->p_value, compare_t_p((b->sec_mean - a->sec_mean) / se, row->df));
        row->ci = a->v != 0 ? t_critical(SIG_P, row->df) * se / fabs(a->v) * 100 : 0;
    }
    judge(row, m);
}

static int add_rows(cmp_report *c, const char *name, const results_stats *a,
                    const results_stats *b, err *e)
{
    size_t na = a->sec.len + 1, nb = b->sec.len + 1;
    double *va = malloc(na * sizeof *va), *vb = malloc(nb * sizeof *vb);
    cmp_row *rows = realloc(c->rows, (c->n + M_COUNT) * sizeof *rows);
    if (!va || !vb || !rows) {
        free(va);
        free(vb);
        if (rows)
            c->rows = rows;
        return err_set(e, VOLLEY_ENOMEM, "compare: out of memory");
    }
    c->rows = rows;
    for (int m = 0; m < M_COUNT; m++) {
        cmp_row *row = &c->rows[c->n++];
        memset(row, 0, sizeof *row);
        snprintf(row->endpoint, sizeof row->endpoint, "%s", name);
        snprintf(row->metric, sizeof row->metric, "%s", metric_names[m]);
        estimate ea = estimate_of(a, (metric_id)m, va), eb = estimate_of(b, (metric_id)m, vb);
        fill_row(row, (metric_id)m, &ea, &eb);
    }
    free(va);
    free(vb);
    return 0;
}

static void diff(char *out, size_t cap, int *n, const char *what, const char *a, const char *b)
{
    if (!strcmp(a, b))
        return;
    size_t len = strlen(out);
    snprintf(out + len, cap - len, "%s%s %s vs %s", *n ? "; " : "", what, a[0] ? a : "-",
             b[0] ? b : "-");
    (*n)++;
}

static void endpoint_names(const results *r, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i < r->neps; i++) {
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s", i ? "," : "", r->eps[i].name);
    }
}

int compare_plan_diff(const results *a, const results *b, char *out, size_t cap)
{
    const results_plan *p = &a->plan, *q = &b->plan;
    char x[256], y[256];
    int n = 0;
    out[0] = '\0';
    diff(out, cap, &n, "executor", p->executor, q->executor);
    diff(out, cap, &n, "mode", p->mode, q->mode);
#define NUMDIFF(what, fmt, va, vb)                                                             \
    do {                                                                                      \
        snprintf(x, sizeof x, fmt, va);                                                       \
        snprintf(y, sizeof y, fmt, vb);                                                       \
        diff(out, cap, &n, what, x, y);                                                       \
    } while (0)
    NUMDIFF("connections", "%u", p->connections, q->connections);
    NUMDIFF("threads", "%u", p->threads, q->threads);
    NUMDIFF("duration", "%.3gs", (double)p->duration_ns / 1e9, (double)q->duration_ns / 1e9);
    NUMDIFF("rate", "%.6g/s", p->rate_per_s, q->rate_per_s);
    NUMDIFF("requests", "%llu", (unsigned long long)p->requests, (unsigned long long)q->requests);
    NUMDIFF("pipeline", "%u", p->pipeline ? p->pipeline : 1, q->pipeline ? q->pipeline : 1);
    NUMDIFF("keep-alive", "%s", p->keepalive ? "on" : "off", q->keepalive ? "on" : "off");
    NUMDIFF("body", "%lluB", (unsigned long long)p->body_bytes, (unsigned long long)q->body_bytes);
#undef NUMDIFF
    diff(out, cap, &n, "stages", p->stages, q->stages);
    endpoint_names(a, x, sizeof x);
    endpoint_names(b, y, sizeof y);
    diff(out, cap, &n, "endpoints", x, y);
    return n;
}

/* The generator's own send lag at a latency row's statistic, ms (open
 * model; 0 in the closed model, where sends are never scheduled). */
static double lag_at(const results_generator *g, const char *metric)
{
    if (!strcmp(metric, "mean"))
        return g->lag_mean_ns / NS_PER_MS;
    if (!strcmp(metric, "p50"))
        return (double)g->lag_p50_ns / NS_PER_MS;
    if (!strcmp(metric, "p90"))
        return (double)g->lag_p90_ns / NS_PER_MS;
    if (!strcmp(metric, "p99"))
        return (double)g->lag_p99_ns / NS_PER_MS;
    return 0;
}

/* Open-model latency runs from the intended start, so a send that volley
 * itself made late (its thread waited for a CPU the host gave to other
 * processes) adds to latency. A latency change is judged again with the
 * change of the send lag at the same statistic taken out; one that is then
 * no longer significant and large enough is the machine's, not the
 * server's: "same", marked. Only when the later run's thread shows the
 * host's doing (it waited for a CPU longer than it ran) and no iteration
 * was dropped: sends that waited for a connection the server held are the
 * server's doing. (Latency is lag plus the rest only approximately at a
 * percentile; the lag is the whole run's, also for endpoint rows.) */
static bool host_short(const results *r)
{
    const results_generator *g = &r->generator;
    return g->measured && 2 * g->wait_max_pct > g->cpu_max_pct && !r->st.tot.dropped;
}

static void hold_host_changes(cmp_report *c, const results *base, const results *cur)
{
    const results_generator *ga = &base->generator, *gb = &cur->generator;
    for (size_t i = 0; i < c->n; i++) {
        cmp_row *r = &c->rows[i];
        double dl = lag_at(gb, r->metric) - lag_at(ga, r->metric);
        if (r->verdict == CMP_SAME || dl == 0 || r->base == 0 ||
            !host_short(dl > 0 ? cur : base) || base->st.tot.dropped || cur->st.tot.dropped)
            continue;
        double rest = r->cur - r->base - dl;
        double se = sqrt(r->se_base * r->se_base + r->se_cur * r->se_cur);
        double p = se > 0 ? compare_t_p(rest / se, r->df) : (rest == 0 ? 1 : 0);
        if (p < SIG_P && fabs(rest / r->base) * 100 >= MIN_PCT &&
            (rest > 0) == (r->cur > r->base))
            continue;
        r->verdict = CMP_SAME;
        r->host = true;
    }
    double la = (double)ga->lag_p99_ns / NS_PER_MS, lb = (double)gb->lag_p99_ns / NS_PER_MS;
    double p99 = 0;
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->rows[i].endpoint, "total") && !strcmp(c->rows[i].metric, "p99"))
            p99 = fmin(c->rows[i].base, c->rows[i].cur);
    bool held = false;
    for (size_t i = 0; i < c->n; i++)
        held |= c->rows[i].host;
    if (held || (fabs(lb - la) >= HOST_LAG_MIN_MS && fabs(lb - la) * 100 >= MIN_PCT * p99 &&
                 host_short(lb > la ? cur : base)))
        snprintf(c->host_diff, sizeof c->host_diff,
                 "volley's own send-lag p99 was %.2f ms in base and %.2f ms in new", la, lb);
}

int compare_results(const results *base, const results *cur, cmp_report *out, err *e)
{
    memset(out, 0, sizeof *out);
    compare_plan_diff(base, cur, out->plan_diff, sizeof out->plan_diff);
    summary_plan_text(base, out->base_plan, sizeof out->base_plan);
    summary_plan_text(cur, out->cur_plan, sizeof out->cur_plan);
    int rc = add_rows(out, "total", &base->st, &cur->st, e);
    for (size_t i = 0; i < base->neps && !rc; i++)
        for (size_t k = 0; k < cur->neps && !rc; k++)
            if (!strcmp(base->eps[i].name, cur->eps[k].name) &&
                (base->neps > 1 || cur->neps > 1))
                rc = add_rows(out, base->eps[i].name, &base->eps[i].st, &cur->eps[k].st, e);
    if (rc)
        compare_free(out);
    else
        hold_host_changes(out, base, cur);
    return rc;
}

void compare_free(cmp_report *c)
{
    free(c->rows);
    c->rows = NULL;
    c->n = 0;
}

static void fmt_value(const cmp_row *r, double v, char *out, size_t cap)
{
    if (!strcmp(r->metric, "errors"))
        snprintf(out, cap, "%.3f%%", v * 100);
    else if (!strcmp(r->metric, "rps"))
        snprintf(out, cap, "%.1f/s", v);
    else
        snprintf(out, cap, "%.3fms", v);
}

/* The rule, as printed under every comparison. */
static const char *const rule_text =
    "  better/worse: p < 0.01 and a change of at least 10% (errors: 0.1 points).\n"
    "  p: t test of the whole-run values; each has the larger of its sampling error\n"
    "  (all requests; rank interval for percentiles) and the spread of the per-second\n"
    "  values (pooled; correlated requests), and then the means of the seconds must\n"
    "  differ too; under 3 seconds, sampling error x2. same (host): a latency change\n"
    "  that is not one once the change of volley's own send lag is taken out.\n"
    "  +-: 99% interval of the change; n: requests/seconds of base, new.\n";

void compare_print(FILE *f, const cmp_report *c, const char *base_name, const char *cur_name)
{
    fprintf(f, "\n  base: %s\n        %s\n  new:  %s\n        %s\n", base_name, c->base_plan,
            cur_name, c->cur_plan);
    if (c->plan_diff[0])
        fprintf(f, "  WARNING: the plans differ (%s): a change may come from the plan, not "
                   "the server\n", c->plan_diff);
    if (c->host_diff[0])
        fprintf(f, "  WARNING: %s: the host was busier during one run; a latency change the "
                   "lag accounts for is \"same (host)\"\n", c->host_diff);
    fputc('\n', f);
    int nw = 20; /* as wide as the longest name: names are never cut */
    for (size_t i = 0; i < c->n; i++)
        if ((int)strlen(c->rows[i].endpoint) > nw)
            nw = (int)strlen(c->rows[i].endpoint);
    fprintf(f, "  %-*s %-7s %12s %12s %9s %8s %9s %15s  %s\n", nw, "endpoint", "metric", "base",
            "new", "change", "+-", "p", "n", "verdict");
    for (size_t i = 0; i < c->n; i++) {
        const cmp_row *r = &c->rows[i];
        char a[32], b[32], n[48];
        fmt_value(r, r->base, a, sizeof a);
        fmt_value(r, r->cur, b, sizeof b);
        snprintf(n, sizeof n, "%d/%d,%d/%d", r->samples_base, r->seconds_base, r->samples_cur,
                 r->seconds_cur);
        if (!strcmp(r->metric, "errors"))
            fprintf(f, "  %-*s %-7s %12s %12s %+7.2fpp %6.2fpp %9.4f %15s  %s\n",
                    nw, r->endpoint, r->metric, a, b, (r->cur - r->base) * 100, r->ci, r->p_value, n,
                    compare_verdict_name(r->verdict));
        else
            fprintf(f, "  %-*s %-7s %12s %12s %+8.1f%% %7.1f%% %9.4f %15s  %s%s\n", nw, r->endpoint,
                    r->metric, a, b, r->pct, r->ci, r->p_value, n,
                    compare_verdict_name(r->verdict), r->host ? " (host)" : "");
    }
    fprintf(f, "\n");
    fputs(rule_text, f);
    fprintf(f, "\n");
}

static void json_str(buf *o, const char *s)
{
    buf_append(o, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_printf(o, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            buf_printf(o, "\\u%04x", (unsigned char)*s);
        else
            buf_append(o, s, 1);
    }
    buf_append(o, "\"", 1);
}

int compare_json(const cmp_report *c, const char *base_name, const char *cur_name, buf *o,
                 err *e)
{
    buf_printf(o, "{\n  \"base\": ");
    json_str(o, base_name);
    buf_printf(o, ",\n  \"new\": ");
    json_str(o, cur_name);
    buf_printf(o, ",\n  \"plans_differ\": ");
    json_str(o, c->plan_diff);
    buf_printf(o, ",\n  \"host_differs\": ");
    json_str(o, c->host_diff);
    buf_printf(o, ",\n  \"rows\": [\n");
    for (size_t i = 0; i < c->n; i++) {
        const cmp_row *r = &c->rows[i];
        buf_printf(o, "    {\"endpoint\": ");
        json_str(o, r->endpoint);
        buf_printf(o,
                   ", \"metric\": \"%s\", \"base\": %.6g, \"new\": %.6g, \"change_pct\": %.3f, "
                   "\"p_value\": %.6g, \"samples_base\": %d, \"samples_new\": %d, "
                   "\"seconds_base\": %d, \"seconds_new\": %d, \"se_base\": %.6g, "
                   "\"se_new\": %.6g, \"df\": %.6g, \"ci99\": %.6g, \"verdict\": \"%s\", "
                   "\"host\": %s}%s\n",
                   r->metric, r->base, r->cur, r->pct, r->p_value, r->samples_base,
                   r->samples_cur, r->seconds_base, r->seconds_cur, r->se_base, r->se_cur, r->df,
                   r->ci, compare_verdict_name(r->verdict), r->host ? "true" : "false",
                   i + 1 < c->n ? "," : "");
    }
    if (buf_printf(o, "  ]\n}\n"))
        return err_set(e, VOLLEY_ENOMEM, "compare: out of memory");
    return 0;
}

int compare_gate_parse(const char *s, cmp_gate *g, err *e)
{
    memset(g, 0, sizeof *g);
    snprintf(g->expr, sizeof g->expr, "%s", s);
    const char *op = strpbrk(s, "<>");
    if (!op)
        return err_set(e, VOLLEY_EINVAL, "--fail-if '%s': expected METRIC>+N%% or METRIC<-N%%", s);
    char m[16];
    size_t ml = (size_t)(op - s);
    if (ml == 0 || ml >= sizeof m)
        return err_set(e, VOLLEY_EINVAL, "--fail-if '%s': at position 1: expected a metric", s);
    memcpy(m, s, ml);
    m[ml] = 0;
    if (!strcmp(m, "p(50)") || !strcmp(m, "med"))
        strcpy(m, "p50");
    else if (!strcmp(m, "p(90)"))
        strcpy(m, "p90");
    else if (!strcmp(m, "p(99)"))
        strcpy(m, "p99");
    else if (!strcmp(m, "avg"))
        strcpy(m, "mean");
    else if (!strcmp(m, "rate"))
        strcpy(m, "rps");
    bool known = false;
    for (int i = 0; i < M_COUNT; i++)
        known |= !strcmp(m, metric_names[i]);
    if (!known)
        return err_set(e, VOLLEY_EINVAL,
                       "--fail-if '%s': at position 1: unknown metric '%s' (p(50), p(90), "
                       "p(99), avg, rate, errors)",
                       s, m);
    snprintf(g->metric, sizeof g->metric, "%s", m);
    g->increase = *op == '>';
    char *end;
    double v = strtod(op + 1, &end);
    if (end == op + 1 || *end != '%' || end[1])
        return err_set(e, VOLLEY_EINVAL, "--fail-if '%s': at position %zu: expected a change like +10%%",
                       s, (size_t)(op - s) + 2);
    g->pct = fabs(v);
    return 0;
}

bool compare_gate_fails(const cmp_gate *g, const cmp_report *c, char *why, size_t cap)
{
    for (size_t i = 0; i < c->n; i++) {
        const cmp_row *r = &c->rows[i];
        if (strcmp(r->endpoint, "total") || strcmp(r->metric, g->metric))
            continue;
        double pct = r->pct;
        if (!strcmp(r->metric, "errors")) /* percentage points for error rates */
            pct = (r->cur - r->base) * 100.0;
        bool fail = g->increase ? pct > g->pct : pct < -g->pct;
        if (fail)
            snprintf(why, cap, "--fail-if '%s': %s changed %+.2f%s", g->expr, r->metric, pct,
                     !strcmp(r->metric, "errors") ? " percentage points" : "%");
        return fail;
    }
    return false;
}

/* ---- HTML with the two runs overlaid ---- */

static void add_series_line(chart *c, const char *name, const results_stats *s, metric_id m,
                            uint32_t color, chart_dash dash)
{
    chart_series *cs = chart_add_series(c, name, CHART_LINE, color);
    if (!cs)
        return;
    cs->dash = dash;
    /* base and new on the same values stay apart by their markers */
    cs->marker = dash == CHART_SOLID ? CHART_MARK_CIRCLE : CHART_MARK_SQUARE;
    for (size_t i = 0; i < s->sec.len; i++) {
        const series_row *r = &s->sec.rows[i];
        double v = m == M_RPS ? (double)r->requests
                   : m == M_P99 ? (double)r->p99_ns / NS_PER_MS
                                : (double)r->p50_ns / NS_PER_MS;
        chart_series_add(cs, (double)r->second, r->requests || m == M_RPS ? v : NAN);
    }
}

static void spectrum(chart *c, const char *name, const hist *h, uint32_t color, chart_dash dash)
{
    chart_series *cs = chart_add_series(c, name, CHART_LINE, color);
    if (!cs)
        return;
    cs->dash = dash;
    /* base and new on the same values stay apart by their markers */
    cs->marker = dash == CHART_SOLID ? CHART_MARK_CIRCLE : CHART_MARK_SQUARE;
    static const double ps[] = {0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        chart_series_add(cs, ps[i], (double)hist_percentile(h, ps[i]) / NS_PER_MS);
}

static chart_fig *overlay(const results *a, const results *b)
{
    chart_fig *f = chart_fig_new("base vs new", 3, 1);
    if (!f)
        return NULL;
    chart *c = &f->panels[0];
    snprintf(c->title, sizeof c->title, "Latency p50 and p99 per second");
    snprintf(c->note, sizeof c->note, "base solid, new dashed");
    snprintf(c->x.label, sizeof c->x.label, "time since start (s)");
    snprintf(c->y.label, sizeof c->y.label, "latency (ms)");
    add_series_line(c, "base p50", &a->st, M_P50, chart_color(0), CHART_SOLID);
    add_series_line(c, "base p99", &a->st, M_P99, chart_color(1), CHART_SOLID);
    add_series_line(c, "new p50", &b->st, M_P50, chart_color(0), CHART_DASHED);
    add_series_line(c, "new p99", &b->st, M_P99, chart_color(1), CHART_DASHED);
    c = &f->panels[1];
    snprintf(c->title, sizeof c->title, "Requests per second");
    snprintf(c->x.label, sizeof c->x.label, "time since start (s)");
    snprintf(c->y.label, sizeof c->y.label, "requests/s");
    add_series_line(c, "base", &a->st, M_RPS, chart_color(2), CHART_SOLID);
    add_series_line(c, "new", &b->st, M_RPS, chart_color(3), CHART_DASHED);
    c = &f->panels[2];
    snprintf(c->title, sizeof c->title, "Latency by percentile");
    snprintf(c->x.label, sizeof c->x.label, "percentile");
    snprintf(c->y.label, sizeof c->y.label, "latency (ms)");
    c->x.scale = CHART_NINES;
    spectrum(c, "base", a->st.latency, chart_color(2), CHART_SOLID);
    spectrum(c, "new", b->st.latency, chart_color(3), CHART_DASHED);
    return f;
}

/* The server under test of both runs (--exec, --monitor-pid), side by
 * side: what the same load cost it. */
static void monitor_table(buf *o, const results *a, const results *b)
{
    if (!a->monitor.pid && !b->monitor.pid)
        return;
    buf_printf(o, "<h2>Server under test</h2><table id=\"monitor\"><thead><tr>"
                  "<th class=\"t\">run</th><th class=\"t\">process</th><th>CPU seconds</th>"
                  "<th>CPU %% of one core</th><th>CPU-s per 1000 requests</th><th>peak RSS</th>"
                  "</tr></thead><tbody>");
    const results *r2[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const results_monitor *m = &r2[i]->monitor;
        buf_printf(o, "<tr><td class=\"t\">%s</td><td class=\"t\">", i ? "new" : "base");
        if (!m->pid) {
            buf_printf(o, "no monitor</td><td>-</td><td>-</td><td>-</td><td>-</td></tr>");
            continue;
        }
        buf_printf(o, "pid %d ", m->pid);
        html_escape(o, m->command);
        double secs = (double)r2[i]->st.elapsed_ns / NS_PER_S;
        uint64_t req = r2[i]->st.tot.requests;
        char rss[32];
        summary_format_bytes((double)m->rss_max_bytes, rss, sizeof rss);
        buf_printf(o, "</td><td>%.2f</td><td>%.1f</td><td>%.4f</td><td>%s</td></tr>",
                   m->cpu_seconds, secs > 0 ? m->cpu_seconds / secs * 100 : 0,
                   req ? m->cpu_seconds * 1000.0 / (double)req : 0, rss);
    }
    buf_printf(o, "</tbody></table>");
}

/* The server's CPU over time for both runs, when either had a monitor. */
static chart_fig *monitor_overlay(const results *a, const results *b)
{
    if (!a->monitor.nsamples && !b->monitor.nsamples)
        return NULL;
    chart_fig *f = chart_fig_new("", 1, 1);
    if (!f)
        return NULL;
    chart *c = &f->panels[0];
    snprintf(c->title, sizeof c->title, "Server CPU");
    snprintf(c->note, sizeof c->note, "base solid, new dashed");
    snprintf(c->x.label, sizeof c->x.label, "time since start (s)");
    snprintf(c->y.label, sizeof c->y.label, "cpu (%% of one core)");
    c->y.has_min = true;
    const results *r2[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        chart_series *s = chart_add_series(c, i ? "new" : "base", CHART_LINE, chart_color(2 + i));
        if (!s)
            break;
        s->dash = i ? CHART_DASHED : CHART_SOLID;
        s->marker = i ? CHART_MARK_SQUARE : CHART_MARK_CIRCLE;
        for (size_t k = 0; k < r2[i]->monitor.nsamples; k++)
            chart_series_add(s, r2[i]->monitor.samples[k].t_s, r2[i]->monitor.samples[k].cpu_pct);
    }
    return f;
}

static void run_line(buf *o, const char *role, const char *name, const results *r)
{
    buf_printf(o, "<p class=\"sub\"><b>%s</b>: ", role);
    html_escape(o, name);
    char plan[1024];
    summary_plan_text(r, plan, sizeof plan);
    buf_printf(o, " &middot; ");
    html_escape(o, plan);
    if (r->plan.command[0]) {
        buf_printf(o, "<br><code>");
        html_escape(o, r->plan.command);
        buf_printf(o, "</code>");
    }
    buf_printf(o, "</p>");
}

static void rows_table(buf *o, const cmp_report *c)
{
    buf_printf(o, "<div class=\"scroll\"><table class=\"sortable\" id=\"compare\"><thead><tr>"
                  "<th class=\"t\">endpoint</th><th class=\"t\">metric</th><th>base</th>"
                  "<th>new</th><th>change</th><th>&plusmn; (99%%)</th><th>p</th>"
                  "<th class=\"t\">verdict</th></tr></thead><tbody>");
    for (size_t i = 0; i < c->n; i++) {
        const cmp_row *r = &c->rows[i];
        char va[32], vb[32];
        fmt_value(r, r->base, va, sizeof va);
        fmt_value(r, r->cur, vb, sizeof vb);
        bool err_rate = !strcmp(r->metric, "errors");
        buf_printf(o, "<tr><td class=\"t n\">");
        html_escape(o, r->endpoint);
        buf_printf(o, "</td><td class=\"t\">%s</td><td>%s</td><td>%s</td>", r->metric, va, vb);
        if (err_rate)
            buf_printf(o, "<td>%+.2fpp</td><td>%.2fpp</td>", (r->cur - r->base) * 100, r->ci);
        else
            buf_printf(o, "<td>%+.1f%%</td><td>%.1f%%</td>", r->pct, r->ci);
        buf_printf(o, "<td>%.4f</td><td class=\"t %s\">%s%s</td></tr>", r->p_value,
                   compare_verdict_name(r->verdict), compare_verdict_name(r->verdict),
                   r->host ? " (host)" : "");
    }
    buf_printf(o, "</tbody></table></div>");
}

int compare_html(const results *a, const results *b, const cmp_report *c, const char *base_name,
                 const char *cur_name, const char *path, err *e)
{
    buf o = {0};
    html_page_open(&o, "volley compare");
    buf_printf(&o, "<h1>volley compare</h1>");
    run_line(&o, "base", base_name, a);
    run_line(&o, "new", cur_name, b);
    if (c->plan_diff[0]) {
        buf_printf(&o, "<div class=\"warn\">The plans differ (");
        html_escape(&o, c->plan_diff);
        buf_printf(&o, "): a change may come from the plan, not the server.</div>");
    }
    if (c->host_diff[0]) {
        buf_printf(&o, "<div class=\"warn\">");
        html_escape(&o, c->host_diff);
        buf_printf(&o, ": the host was busier during one run; a latency change the lag "
                       "accounts for is &ldquo;same (host)&rdquo;.</div>");
    }
    rows_table(&o, c);
    /* The rule, in the words of the text output's legend. */
    buf_printf(&o, "<pre class=\"sub\">");
    html_escape(&o, rule_text);
    buf_printf(&o, "</pre>");
    monitor_table(&o, a, b);
    buf_printf(&o, "<h2>Charts</h2>");
    chart_fig *f = overlay(a, b), *m = monitor_overlay(a, b);
    int rc = f ? html_figure(&o, f, 1200, 1300, 0, "overlay",
                             "Latency, requests per second and the latency spectrum: base solid, "
                             "new dashed.", e)
               : 0;
    if (!rc && m)
        rc = html_figure(&o, m, 1200, 450, 1, "server", "The server's CPU: base solid, new dashed.",
                         e);
    chart_fig_free(f);
    chart_fig_free(m);
    html_page_close(&o);
    if (!rc)
        rc = file_write_atomic(path, o.data, o.len, e);
    buf_free(&o);
    return rc;
}
