/* prom: snapshot -> Prometheus text format (see prom.h). Labels are
 * bounded by construction: status class, error kind, endpoint name (from
 * the plan, never a raw URL). */
#include "output/prom.h"

#include <stdio.h>

const double prom_buckets_s[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const unsigned prom_nbuckets = sizeof prom_buckets_s / sizeof prom_buckets_s[0];

typedef struct le_ctx {
    uint64_t bound_ns, n;
} le_ctx;

static void le_add(void *ctx, size_t idx, uint64_t count)
{
    le_ctx *c = ctx;
    if (hist_bucket_low(idx) <= c->bound_ns) /* a bucket holds equivalent values */
        c->n += count;
}

uint64_t prom_hist_le(const hist *h, uint64_t bound_ns)
{
    le_ctx c = {.bound_ns = bound_ns};
    hist_foreach(h, le_add, &c);
    return c.n;
}

static int family(buf *o, const char *name, const char *type, const char *help)
{
    return buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int counter(buf *o, const char *name, const char *help, uint64_t v)
{
    int rc = family(o, name, "counter", help);
    return rc ? rc : buf_printf(o, "%s %llu\n", name, (unsigned long long)v);
}

static int gauge(buf *o, const char *name, const char *help, double v)
{
    int rc = family(o, name, "gauge", help);
    return rc ? rc : buf_printf(o, "%s %.9g\n", name, v);
}

static int latency(buf *o, const snap *s)
{
    const char *n = "volley_request_duration_seconds";
    int rc = family(o, n, "histogram", "Latency from the intended send time (all requests).");
    for (unsigned i = 0; !rc && i < prom_nbuckets; i++)
        rc = buf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", n, prom_buckets_s[i],
                        (unsigned long long)prom_hist_le(s->latency,
                                                         (uint64_t)(prom_buckets_s[i] * 1e9)));
    if (!rc)
        rc = buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", n,
                        (unsigned long long)hist_count(s->latency), n,
                        (double)hist_sum(s->latency) / 1e9, n,
                        (unsigned long long)hist_count(s->latency));
    return rc;
}

static int breakdown(buf *o, const snap *s)
{
    int rc = family(o, "volley_responses_by_status_total", "counter",
                    "Responses by status class (moves each second of the run).");
    for (int c = 1; !rc && c < SNAP_STATUS_CLASSES; c++)
        rc = buf_printf(o, "volley_responses_by_status_total{status_class=\"%s\"} %llu\n",
                        snap_status_class_name(c), (unsigned long long)s->status_class[c]);
    if (!rc)
        rc = family(o, "volley_errors_by_kind_total", "counter",
                    "Requests without a response, by kind (moves each second of the run).");
    for (int k = 0; !rc && k < ERRK_COUNT; k++)
        rc = buf_printf(o, "volley_errors_by_kind_total{kind=\"%s\"} %llu\n",
                        metrics_err_kind_name((err_kind)k), (unsigned long long)s->err_kind[k]);
    return rc;
}

/* A label value escapes backslash, double quote and newline. */
static int label(buf *o, const char *v)
{
    int rc = 0;
    for (; *v && !rc; v++)
        rc = *v == '\\' ? buf_append(o, "\\\\", 2)
           : *v == '"'   ? buf_append(o, "\\\"", 2)
           : *v == '\n' ? buf_append(o, "\\n", 2)
                         : buf_append(o, v, 1);
    return rc;
}

static int per_endpoint(buf *o, const char *name, const snap *s, bool failed)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < s->neps; i++) {
        rc = buf_printf(o, "%s{endpoint=\"", name);
        rc = rc ? rc : label(o, s->eps[i].name);
        rc = rc ? rc : buf_printf(o, "\"} %llu\n", (unsigned long long)(failed ? s->eps[i].errors
                                                                              : s->eps[i].requests));
    }
    return rc;
}

static int endpoints(buf *o, const snap *s)
{
    int rc = family(o, "volley_endpoint_requests_total", "counter",
                    "Completed requests per endpoint.");
    rc = rc ? rc : per_endpoint(o, "volley_endpoint_requests_total", s, false);
    if (!rc)
        rc = family(o, "volley_endpoint_failed_requests_total", "counter",
                    "Failed requests per endpoint.");
    return rc ? rc : per_endpoint(o, "volley_endpoint_failed_requests_total", s, true);
}

int prom_encode(const snap *s, buf *o)
{
    int rc = counter(o, "volley_requests_total", "Completed requests (responses + errors).",
                     s->requests);
    if (!rc)
        rc = counter(o, "volley_responses_total", "Requests that got a response.", s->responses);
    if (!rc)
        rc = counter(o, "volley_failed_requests_total",
                     "Failed requests (errors as counted in results.json).", s->errors);
    if (!rc)
        rc = counter(o, "volley_bytes_received_total", "Bytes read.", s->bytes_in);
    if (!rc)
        rc = counter(o, "volley_bytes_sent_total", "Bytes written.", s->bytes_out);
    if (!rc)
        rc = counter(o, "volley_dropped_iterations_total",
                     "Open model: iterations that could not start.", s->dropped);
    if (!rc)
        rc = counter(o, "volley_retries_total",
                     "Requests sent again after a stale keep-alive connection.", s->retries);
    if (!rc)
        rc = gauge(o, "volley_active_connections", "Open connections / active VUs.", s->active);
    if (!rc)
        rc = gauge(o, "volley_target_rate", "Open model: the schedule's rate (req/s).",
                   s->target_rps);
    if (!rc)
        rc = gauge(o, "volley_last_second_requests", "Requests completed in the last second.",
                   s->have_last ? (double)s->last.requests : 0);
    if (!rc)
        rc = family(o, "volley_generator_cpu_seconds_total", "counter",
                    "CPU seconds used by volley itself (user + system).");
    if (!rc)
        rc = buf_printf(o, "volley_generator_cpu_seconds_total %.6f\n", s->cpu_s);
    if (!rc)
        rc = gauge(o, "volley_generator_cpu_percent",
                   "The generator's CPU in the last second (100 = one core).",
                   s->have_last ? s->last.cpu_pct : 0);
    if (!rc)
        rc = gauge(o, "volley_send_lag_p99_seconds",
                   "Open model: p99 of first byte written - scheduled time (the last second; "
                   "the run's once finished).", (double)s->send_lag_p99_ns / 1e9);
    if (!rc)
        rc = gauge(o, "volley_run_finished", "1 once the run has ended (values are final).",
                   s->final);
    if (!rc)
        rc = latency(o, s);
    if (!rc && s->have_breakdown)
        rc = breakdown(o, s);
    if (!rc && s->neps)
        rc = endpoints(o, s);
    return rc;
}
