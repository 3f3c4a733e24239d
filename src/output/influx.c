/* influx: series rows and the final snapshot -> line protocol (see
 * influx.h). Integers carry the "i" suffix, times are nanoseconds. */
#include "output/influx.h"

#include <stdio.h>
#include <string.h>

/* Tag values escape commas, spaces and equals signs. */
static int tag_value(buf *out, const char *s)
{
    int rc = 0;
    for (; *s && !rc; s++) {
        if (*s == ',' || *s == ' ' || *s == '=' || *s == '\\')
            rc = buf_append(out, "\\", 1);
        if (!rc)
            rc = buf_append(out, s, *s == '\n' ? 0 : 1);
    }
    return rc;
}

static int head(buf *out, const char *measurement, const char *tag)
{
    int rc = buf_printf(out, "%s,run=", measurement);
    return rc ? rc : tag_value(out, tag);
}

/* ",status_2xx=..i,...,errors_timeout=..i": the row's breakdown fields. */
static int breakdown(buf *out, const series_row *r)
{
    series_row copy = *r;
    int rc = 0;
    for (size_t i = 0; !rc && i < SERIES_NBREAKDOWN; i++)
        rc = buf_printf(out, ",%s=%llui", series_breakdown_name(i),
                        (unsigned long long)*series_breakdown_field(&copy, i));
    return rc;
}

int influx_second(buf *out, const char *tag, const series_row *r, uint64_t wall_ns)
{
    int rc = head(out, "volley", tag);
    if (!rc)
        rc = buf_printf(out,
                        " requests=%llui,responses=%llui,errors=%llui,bytes_in=%llui,"
                        "bytes_out=%llui,dropped=%llui,retries=%llui,active=%ui,target_rps=%.3f,"
                        "p50_ms=%.3f,p90_ms=%.3f,p99_ms=%.3f,max_ms=%.3f,mean_ms=%.3f,"
                        "send_lag_p99_ms=%.3f,cpu_pct=%.1f",
                        (unsigned long long)r->requests, (unsigned long long)r->responses,
                        (unsigned long long)r->errors, (unsigned long long)r->bytes_in,
                        (unsigned long long)r->bytes_out, (unsigned long long)r->dropped,
                        (unsigned long long)r->retries, r->active, r->target_rps, r->p50_ns / 1e6, r->p90_ns / 1e6,
                        r->p99_ns / 1e6, r->max_ns / 1e6, r->mean_ns / 1e6,
                        r->send_lag_p99_ns / 1e6, r->cpu_pct);
    if (!rc)
        rc = breakdown(out, r);
    return rc ? rc : buf_printf(out, " %llu\n", (unsigned long long)wall_ns);
}

static uint64_t rest(uint64_t fin, uint64_t summed) { return fin > summed ? fin - summed : 0; }

static int counts(buf *out, const char *m, const char *tag, const char *key, const char *val,
                  uint64_t n, uint64_t wall_ns)
{
    int rc = head(out, m, tag);
    if (!rc)
        rc = buf_printf(out, ",%s=%s count=%llui %llu\n", key, val, (unsigned long long)n,
                        (unsigned long long)wall_ns);
    return rc;
}

int influx_final(buf *out, const char *tag, const snap *sum, const snap *fin)
{
    /* One nanosecond after the last second's point, so it never replaces it. */
    uint64_t t = (fin->wall_ns > sum->wall_ns ? fin->wall_ns : sum->wall_ns + 1);
    series_row r = {.requests = rest(fin->requests, sum->requests),
                    .responses = rest(fin->responses, sum->responses),
                    .errors = rest(fin->errors, sum->errors),
                    .bytes_in = rest(fin->bytes_in, sum->bytes_in),
                    .bytes_out = rest(fin->bytes_out, sum->bytes_out),
                    .dropped = rest(fin->dropped, sum->dropped),
                    .retries = rest(fin->retries, sum->retries)};
    for (int c = 0; c < SNAP_STATUS_CLASSES; c++)
        r.status_class[c] = rest(fin->status_class[c], sum->status_class[c]);
    for (int k = 0; k < ERRK_COUNT; k++)
        r.err_kind[k] = rest(fin->err_kind[k], sum->err_kind[k]);
    int rc = influx_second(out, tag, &r, t), lines = 1;
    for (int c = 1; !rc && c < SNAP_STATUS_CLASSES; c++, lines++)
        rc = counts(out, "volley_status", tag, "status_class", snap_status_class_name(c),
                    fin->status_class[c], t);
    for (int k = 0; !rc && k < ERRK_COUNT; k++, lines++)
        rc = counts(out, "volley_error", tag, "kind", metrics_err_kind_name((err_kind)k),
                    fin->err_kind[k], t);
    return rc ? rc : lines;
}
