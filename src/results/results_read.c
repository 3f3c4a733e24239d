/* results_read: results.json (as results_json.c writes it) back into a
 * results struct, with jansson. Exact fields are the source of truth:
 * histograms via hist_decode, durations from *_ns; the rounded
 * milliseconds beside them are for people and are not read. Every message
 * names the file and the JSON path of the bad value. Used by cmd/report
 * (and later compare, merge). */
#include "results/results_read.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/fileio.h"
#include "results/results_json.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define RPATH 192 /* longest JSON path in a message, e.g. steps[12].endpoints[3].ttfb.histogram */

typedef struct rd {
    const char *name;
    err *e;
} rd;

static int fail(rd *d, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(rd *d, int code, const char *path, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(d->e, code, "%s: %s: %s", d->name, path[0] ? path : "(top level)", msg);
}

static void sub(char *out, const char *path, const char *key)
{
    /* A path cut short in a message is still useful: ignore truncation. */
    if ((path[0] ? snprintf(out, RPATH, "%s.%s", path, key)
                 : snprintf(out, RPATH, "%s", key)) >= RPATH)
        out[RPATH - 1] = '\0';
}

static void sub_idx(char *out, const char *path, size_t i)
{
    if (snprintf(out, RPATH, "%s[%zu]", path, i) >= RPATH)
        out[RPATH - 1] = '\0';
}

/* The member key of object o, or an error if it is missing and required.
 * *v is NULL when it is missing and optional. */
static int member(rd *d, json_t *o, const char *path, const char *key, bool opt, json_t **v,
                  char *p)
{
    sub(p, path, key);
    *v = json_object_get(o, key);
    if (!*v && !opt)
        return fail(d, VOLLEY_EPARSE, p, "missing");
    return 0;
}

static int need_object(rd *d, json_t *v, const char *p)
{
    return json_is_object(v) ? 0 : fail(d, VOLLEY_EPARSE, p, "must be an object");
}

static int need_array(rd *d, json_t *v, const char *p)
{
    return json_is_array(v) ? 0 : fail(d, VOLLEY_EPARSE, p, "must be an array");
}

static int int_value(rd *d, json_t *v, const char *p, uint64_t max, uint64_t *out)
{
    if (!json_is_integer(v))
        return fail(d, VOLLEY_EPARSE, p, "must be an integer");
    json_int_t x = json_integer_value(v);
    if (x < 0)
        return fail(d, VOLLEY_ERANGE, p, "must not be negative");
    if ((uint64_t)x > max)
        return fail(d, VOLLEY_ERANGE, p, "%lld is too large", (long long)x);
    *out = (uint64_t)x;
    return 0;
}

static int get_u64(rd *d, json_t *o, const char *path, const char *key, bool opt,
                   uint64_t *out)
{
    json_t *v;
    char p[RPATH];
    int rc = member(d, o, path, key, opt, &v, p);
    if (rc || !v)
        return rc;
    return int_value(d, v, p, UINT64_MAX, out);
}

static int get_u32(rd *d, json_t *o, const char *path, const char *key, bool opt,
                   uint32_t *out)
{
    uint64_t x = *out;
    int rc = get_u64(d, o, path, key, opt, &x);
    if (rc)
        return rc;
    if (x > UINT32_MAX) {
        char p[RPATH];
        sub(p, path, key);
        return fail(d, VOLLEY_ERANGE, p, "too large");
    }
    *out = (uint32_t)x;
    return 0;
}

static int num_value(rd *d, json_t *v, const char *p, double *out)
{
    if (!json_is_number(v))
        return fail(d, VOLLEY_EPARSE, p, "must be a number");
    double x = json_number_value(v);
    if (!isfinite(x) || x < 0)
        return fail(d, VOLLEY_ERANGE, p, "must be a non-negative number");
    *out = x;
    return 0;
}

static int get_num(rd *d, json_t *o, const char *path, const char *key, bool opt, double *out)
{
    json_t *v;
    char p[RPATH];
    int rc = member(d, o, path, key, opt, &v, p);
    if (rc || !v)
        return rc;
    return num_value(d, v, p, out);
}

/* Seconds (a number) to ns; the plan keeps only seconds. */
static int get_secs_ns(rd *d, json_t *o, const char *path, const char *key, bool opt,
                       uint64_t *out)
{
    double s = -1;
    int rc = get_num(d, o, path, key, opt, &s);
    if (rc || s < 0)
        return rc;
    if (s * 1e9 >= 1.8e19) {
        char p[RPATH];
        sub(p, path, key);
        return fail(d, VOLLEY_ERANGE, p, "too large");
    }
    *out = (uint64_t)llround(s * 1e9);
    return 0;
}

static int get_str(rd *d, json_t *o, const char *path, const char *key, bool opt, char *out,
                   size_t cap)
{
    json_t *v;
    char p[RPATH];
    int rc = member(d, o, path, key, opt, &v, p);
    if (rc || !v)
        return rc;
    if (!json_is_string(v))
        return fail(d, VOLLEY_EPARSE, p, "must be a string");
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n >= cap)
        return fail(d, VOLLEY_ERANGE, p, "longer than %zu bytes", cap - 1);
    if (memchr(s, '\0', n))
        return fail(d, VOLLEY_EPARSE, p, "contains a NUL character");
    memcpy(out, s, n + 1);
    return 0;
}

static int get_bool(rd *d, json_t *o, const char *path, const char *key, bool opt, bool *out)
{
    json_t *v;
    char p[RPATH];
    int rc = member(d, o, path, key, opt, &v, p);
    if (rc || !v)
        return rc;
    if (!json_is_boolean(v))
        return fail(d, VOLLEY_EPARSE, p, "must be true or false");
    *out = json_is_true(v);
    return 0;
}

/* "2024-05-01T12:00:00.123Z" (clock_format_rfc3339) to ns since the epoch. */
static int get_rfc3339(rd *d, json_t *o, const char *path, const char *key, uint64_t *out)
{
    char s[64], p[RPATH];
    int rc = get_str(d, o, path, key, false, s, sizeof s);
    if (rc)
        return rc;
    sub(p, path, key);
    struct tm tm = {0};
    unsigned ms = 0;
    int used = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3uZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &used) != 7 ||
        (size_t)used != strlen(s) || tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12)
        return fail(d, VOLLEY_EPARSE, p, "must be a time like 2024-05-01T12:00:00.000Z");
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t < 0)
        return fail(d, VOLLEY_ERANGE, p, "time out of range");
    *out = (uint64_t)t * NS_PER_S + (uint64_t)ms * NS_PER_MS;
    return 0;
}

/* ---- plan ---------------------------------------------------------------- */

static int parse_plan(rd *d, json_t *root, results_plan *pl)
{
    json_t *o;
    char p[RPATH];
    int rc = member(d, root, "", "plan", false, &o, p);
    if (rc || (rc = need_object(d, o, p)))
        return rc;
    uint64_t headers = 0, conns = 0, threads = 0, redirects = 0;
    if ((rc = get_str(d, o, p, "url", false, pl->url, sizeof pl->url)) ||
        (rc = get_str(d, o, p, "method", false, pl->method, sizeof pl->method)) ||
        (rc = get_str(d, o, p, "executor", false, pl->executor, sizeof pl->executor)) ||
        (rc = get_str(d, o, p, "mode", true, pl->mode, sizeof pl->mode)) ||
        (rc = get_str(d, o, p, "label", true, pl->label, sizeof pl->label)) ||
        (rc = get_str(d, o, p, "command", true, pl->command, sizeof pl->command)) ||
        (rc = get_u64(d, o, p, "connections", false, &conns)) ||
        (rc = get_u64(d, o, p, "threads", false, &threads)) ||
        (rc = get_secs_ns(d, o, p, "duration_s", false, &pl->duration_ns)) ||
        (rc = get_u64(d, o, p, "requests", false, &pl->requests)) ||
        (rc = get_num(d, o, p, "rate_per_s", true, &pl->rate_per_s)) ||
        (rc = get_str(d, o, p, "stages", true, pl->stages, sizeof pl->stages)) ||
        (rc = get_secs_ns(d, o, p, "warmup_s", true, &pl->warmup_ns)) ||
        (rc = get_secs_ns(d, o, p, "timeout_s", false, &pl->timeout_ns)) ||
        (rc = get_secs_ns(d, o, p, "connect_timeout_s", false, &pl->connect_timeout_ns)) ||
        (rc = get_bool(d, o, p, "keepalive", false, &pl->keepalive)) ||
        (rc = get_u64(d, o, p, "headers", false, &headers)) ||
        (rc = get_u64(d, o, p, "body_bytes", false, &pl->body_bytes)) ||
        (rc = get_str(d, o, p, "ok_status", true, pl->ok_status, sizeof pl->ok_status)) ||
        (rc = get_bool(d, o, p, "compressed", true, &pl->compressed)) ||
        (rc = get_bool(d, o, p, "share_tls_sessions", true, &pl->share_tls_sessions)) ||
        (rc = get_u64(d, o, p, "redirects", true, &redirects)) ||
        (rc = get_str(d, o, p, "route", true, pl->route, sizeof pl->route)))
        return rc;
    pl->redirects = redirects > UINT32_MAX ? UINT32_MAX : (uint32_t)redirects;
    /* The writer prints these through json_integer of a uint32_t. */
    if (conns > UINT32_MAX || threads > UINT32_MAX || headers > UINT32_MAX)
        return fail(d, VOLLEY_ERANGE, p, "connections, threads or headers too large");
    pl->connections = (uint32_t)conns;
    pl->threads = (uint32_t)threads;
    pl->nheaders = (uint32_t)headers;
    return 0;
}

/* ---- measurements, totals, series ----------------------------------------- */

static int parse_hist(rd *d, json_t *parent, const char *path, const char *key, bool opt,
                      hist *h)
{
    json_t *o;
    char p[RPATH], hp[RPATH];
    int rc = member(d, parent, path, key, opt, &o, p);
    if (rc || !o)
        return rc;
    if ((rc = need_object(d, o, p)))
        return rc;
    json_t *enc;
    if ((rc = member(d, o, p, "histogram", false, &enc, hp)))
        return rc;
    if (!json_is_string(enc))
        return fail(d, VOLLEY_EPARSE, hp, "must be a string");
    err he = {0};
    rc = hist_decode(h, json_string_value(enc), json_string_length(enc), &he);
    if (rc)
        return fail(d, rc, hp, "%s", he.msg);
    uint64_t count = 0;
    if ((rc = get_u64(d, o, p, "count", false, &count)))
        return rc;
    if (count != hist_count(h)) {
        sub(hp, p, "count");
        return fail(d, VOLLEY_EPARSE, hp, "%llu, but the histogram holds %llu values",
                    (unsigned long long)count, (unsigned long long)hist_count(h));
    }
    return 0;
}

/* "404" -> 404: canonical decimal below METRICS_STATUS_MAX. */
static int status_code(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 3 || (k[0] == '0' && n > 1))
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < '0' || k[i] > '9')
            return -1;
        v = v * 10 + (k[i] - '0');
    }
    return v < METRICS_STATUS_MAX ? v : -1;
}

/* An object of counts keyed by status code or error kind: index_of maps a
 * key to its slot in counts (or -1), and the counts are summed for the
 * consistency check of the totals. */
static int parse_counts(rd *d, json_t *o, const char *p, int (*index_of)(const char *),
                        const char *bad_key, uint64_t *counts, uint64_t *sum)
{
    const char *k;
    json_t *v;
    char q[RPATH];
    int rc;
    json_object_foreach(o, k, v) {
        sub(q, p, k);
        int i = index_of(k);
        if (i < 0)
            return fail(d, VOLLEY_EPARSE, q, "%s", bad_key);
        if ((rc = int_value(d, v, q, UINT64_MAX, &counts[i])))
            return rc;
        if (__builtin_add_overflow(*sum, counts[i], sum))
            return fail(d, VOLLEY_ERANGE, q, "counts overflow");
    }
    return 0;
}

/* Older files (no transport_errors): errors were the transport errors
 * alone; failed requests add the statuses outside the default --ok-status. */
static void old_totals(metrics_totals *t)
{
    t->transport_errors = t->errors;
    for (int i = 0; i < METRICS_STATUS_MAX; i++)
        if (!metrics_status_ok(NULL, i))
            t->errors += t->status[i];
}

static int parse_totals(rd *d, json_t *parent, const char *path, metrics_totals *t)
{
    json_t *o, *st, *ek;
    char p[RPATH], sp[RPATH], ep[RPATH];
    int rc = member(d, parent, path, "totals", false, &o, p);
    if (rc || (rc = need_object(d, o, p)))
        return rc;
    memset(t, 0, sizeof *t);
    if ((rc = get_u64(d, o, p, "requests", false, &t->requests)) ||
        (rc = get_u64(d, o, p, "responses", false, &t->responses)) ||
        (rc = get_u64(d, o, p, "errors", false, &t->errors)) ||
        (rc = get_u64(d, o, p, "transport_errors", true, &t->transport_errors)) ||
        (rc = get_u64(d, o, p, "dropped_iterations", true, &t->dropped)) ||
        (rc = get_u64(d, o, p, "bytes_in", false, &t->bytes_in)) ||
        (rc = get_u64(d, o, p, "bytes_out", false, &t->bytes_out)) ||
        (rc = get_u64(d, o, p, "connections_opened", false, &t->connects)) ||
        (rc = get_u64(d, o, p, "chunks", true, &t->chunks)) ||
        (rc = get_u64(d, o, p, "tls_resumed", true, &t->tls_resumed)) ||
        (rc = get_u64(d, o, p, "retries", true, &t->retries)) ||
        (rc = get_u64(d, o, p, "write_errors", true, &t->write_errors)) ||
        (rc = get_u64(d, o, p, "bytes_decoded", true, &t->bytes_decoded)) ||
        (rc = get_u64(d, o, p, "redirects", true, &t->redirects)) ||
        (rc = get_u64(d, o, p, "wire_bytes_in", true, &t->wire_in)) ||
        (rc = get_u64(d, o, p, "wire_bytes_out", true, &t->wire_out)) ||
        (rc = get_u64(d, o, p, "h2_connections", true, &t->h2_conns)) ||
        (rc = get_u64(d, o, p, "h2_responses", true, &t->h2_responses)) ||
        (rc = get_u64(d, o, p, "h2_max_streams_clamp", true, &t->h2_max_streams)))
        return rc;
    bool old = !json_object_get(o, "transport_errors");
    uint64_t nstatus = 0, nkinds = 0;
    if ((rc = member(d, o, p, "responses_by_status", false, &st, sp)) ||
        (rc = need_object(d, st, sp)) ||
        (rc = parse_counts(d, st, sp, status_code, "not a status code (0..599)", t->status,
                           &nstatus)) ||
        (rc = member(d, o, p, "errors_by_kind", false, &ek, ep)) ||
        (rc = need_object(d, ek, ep)) ||
        (rc = parse_counts(d, ek, ep, metrics_err_kind_from_name, "unknown error kind",
                           t->err_kind, &nkinds)))
        return rc;
    if (old)
        old_totals(t);
    /* Decision 7: every request is exactly one response or one transport
     * error; failures are the transport errors and some responses. */
    uint64_t x = t->transport_errors;
    if (t->responses + x != t->requests || t->responses + x < t->responses)
        return fail(d, VOLLEY_EPARSE, p,
                    "inconsistent counts: requests %llu != responses %llu + transport_errors %llu",
                    (unsigned long long)t->requests, (unsigned long long)t->responses,
                    (unsigned long long)x);
    if (t->errors < x || t->errors > t->requests)
        return fail(d, VOLLEY_EPARSE, p,
                    "inconsistent counts: errors %llu not between transport_errors %llu and "
                    "requests %llu", (unsigned long long)t->errors, (unsigned long long)x,
                    (unsigned long long)t->requests);
    if (nstatus != t->responses)
        return fail(d, VOLLEY_EPARSE, sp, "sums to %llu, but responses is %llu",
                    (unsigned long long)nstatus, (unsigned long long)t->responses);
    if (nkinds != x)
        return fail(d, VOLLEY_EPARSE, ep, "sums to %llu, but transport_errors is %llu",
                    (unsigned long long)nkinds, (unsigned long long)x);
    return 0;
}

enum { COL_U32, COL_U64, COL_MS, COL_MEAN, COL_REAL };

static const struct {
    const char *name;
    int kind;
    size_t off;
} series_cols[] = {
    {"second", COL_U32, offsetof(series_row, second)},
    {"requests", COL_U64, offsetof(series_row, requests)},
    {"responses", COL_U64, offsetof(series_row, responses)},
    {"errors", COL_U64, offsetof(series_row, errors)},
    {"transport_errors", COL_U64, offsetof(series_row, transport_errors)},
    {"bytes_in", COL_U64, offsetof(series_row, bytes_in)},
    {"bytes_out", COL_U64, offsetof(series_row, bytes_out)},
    {"p50_ms", COL_MS, offsetof(series_row, p50_ns)},
    {"p90_ms", COL_MS, offsetof(series_row, p90_ns)},
    {"p99_ms", COL_MS, offsetof(series_row, p99_ns)},
    {"max_ms", COL_MS, offsetof(series_row, max_ns)},
    {"mean_ms", COL_MEAN, offsetof(series_row, mean_ns)},
    {"active", COL_U32, offsetof(series_row, active)},
    {"target_rps", COL_REAL, offsetof(series_row, target_rps)},
    {"dropped", COL_U64, offsetof(series_row, dropped)},
    {"retries", COL_U64, offsetof(series_row, retries)},
    {"send_lag_p99_ms", COL_MS, offsetof(series_row, send_lag_p99_ns)},
    {"cpu_pct", COL_REAL, offsetof(series_row, cpu_pct)},
    {"ws_sessions", COL_U64, offsetof(series_row, ws_opened)},
    {"ws_closed", COL_U64, offsetof(series_row, ws_closed)},
    {"ws_open", COL_U64, offsetof(series_row, ws_open)},
    {"ws_msgs_sent", COL_U64, offsetof(series_row, ws_sent)},
    {"ws_msgs_received", COL_U64, offsetof(series_row, ws_received)},
    {"ws_rtts", COL_U64, offsetof(series_row, ws_rtts)},
    {"ws_rtt_p50_ms", COL_MS, offsetof(series_row, ws_rtt_p50_ns)},
    {"ws_rtt_p99_ms", COL_MS, offsetof(series_row, ws_rtt_p99_ns)},
};
#define NSERIES_COLS (sizeof series_cols / sizeof series_cols[0])

static int series_cell(rd *d, json_t *v, const char *p, int kind, void *field)
{
    uint64_t u;
    double x;
    int rc;
    switch (kind) {
    case COL_U32:
        if ((rc = int_value(d, v, p, UINT32_MAX, &u)))
            return rc;
        *(uint32_t *)field = (uint32_t)u;
        return 0;
    case COL_U64:
        return int_value(d, v, p, UINT64_MAX, (uint64_t *)field);
    case COL_MS:
        if ((rc = num_value(d, v, p, &x)))
            return rc;
        if (x * 1e6 >= 1.8e19)
            return fail(d, VOLLEY_ERANGE, p, "too large");
        *(uint64_t *)field = (uint64_t)llround(x * 1e6);
        return 0;
    case COL_MEAN:
        if ((rc = num_value(d, v, p, &x)))
            return rc;
        *(double *)field = round(x * 1e6);
        return 0;
    default:
        if ((rc = num_value(d, v, p, &x)))
            return rc;
        *(double *)field = x;
        return 0;
    }
}

/* Cell i of a row into w; col as in parse_series's map. */
static int series_col(rd *d, json_t *v, const char *q, size_t i, int col, series_row *w)
{
    char c[RPATH];
    bool fixed = col < (int)NSERIES_COLS;
    const char *name = fixed ? series_cols[col].name : series_breakdown_name((size_t)col - NSERIES_COLS);
    if (snprintf(c, sizeof c, "%s[%zu] (%s)", q, i, name) >= RPATH)
        c[RPATH - 1] = '\0';
    if (!fixed)
        return series_cell(d, v, c, COL_U64, series_breakdown_field(w, (size_t)col - NSERIES_COLS));
    return series_cell(d, v, c, series_cols[col].kind, (char *)w + series_cols[col].off);
}

static int parse_series(rd *d, json_t *parent, const char *path, series *s)
{
    json_t *o, *cols, *rows;
    char p[RPATH], cp[RPATH], rp[RPATH], q[RPATH];
    int rc = member(d, parent, path, "series", false, &o, p);
    if (rc || (rc = need_object(d, o, p)) || (rc = member(d, o, p, "columns", false, &cols, cp)) ||
        (rc = need_array(d, cols, cp)) || (rc = member(d, o, p, "rows", false, &rows, rp)) ||
        (rc = need_array(d, rows, rp)))
        return rc;
    size_t ncols = json_array_size(cols);
    /* column -> series_cols index, NSERIES_COLS + breakdown column, or -1 */
    int *map = calloc(ncols ? ncols : 1, sizeof *map);
    if (!map)
        return err_set(d->e, VOLLEY_ENOMEM, "%s: out of memory", d->name);
    for (size_t i = 0; i < ncols; i++) {
        json_t *name = json_array_get(cols, i);
        map[i] = -1;
        if (!json_is_string(name)) {
            sub_idx(q, cp, i);
            free(map);
            return fail(d, VOLLEY_EPARSE, q, "must be a string");
        }
        for (size_t k = 0; k < NSERIES_COLS; k++)
            if (!strcmp(json_string_value(name), series_cols[k].name))
                map[i] = (int)k; /* unknown columns (a newer writer) are skipped */
        int b = series_breakdown_find(json_string_value(name));
        if (b >= 0)
            map[i] = (int)NSERIES_COLS + b;
    }
    for (size_t r = 0; r < json_array_size(rows) && !rc; r++) {
        json_t *row = json_array_get(rows, r);
        sub_idx(q, rp, r);
        if ((rc = need_array(d, row, q)))
            break;
        if (json_array_size(row) != ncols) {
            rc = fail(d, VOLLEY_EPARSE, q, "has %zu values for %zu columns",
                      json_array_size(row), ncols);
            break;
        }
        series_row w = {0}; /* a missing column reads as 0 */
        for (size_t i = 0; i < ncols && !rc; i++)
            if (map[i] >= 0)
                rc = series_col(d, json_array_get(row, i), q, i, map[i], &w);
        if (!rc && series_append(s, &w))
            rc = err_set(d->e, VOLLEY_ENOMEM, "%s: out of memory", d->name);
    }
    free(map);
    return rc;
}

/* The fields of a stats block, found directly in o (top level, an endpoint
 * or a step). */
static int parse_stats(rd *d, json_t *o, const char *p, results_stats *s)
{
    int rc;
    json_t *dn = json_object_get(o, "duration_ns");
    if (dn) {
        char q[RPATH];
        sub(q, p, "duration_ns");
        rc = int_value(d, dn, q, UINT64_MAX, &s->elapsed_ns);
    } else { /* older files: milliseconds are exact enough */
        rc = get_secs_ns(d, o, p, "duration_s", false, &s->elapsed_ns);
    }
    if (!rc)
        rc = get_secs_ns(d, o, p, "drain_s", true, &s->drain_ns);
    if (rc || (rc = parse_totals(d, o, p, &s->tot)) ||
        (rc = parse_series(d, o, p, &s->sec)))
        return rc;
    /* The first four were always written; later ones may be absent. */
    for (int i = 0; i < METRICS_DIST_COUNT && !rc; i++)
        rc = parse_hist(d, o, p, metrics_dists[i].json, i > METRICS_DIST_CONNECT, s->dist[i]);
    return rc;
}

static int parse_endpoint_head(rd *d, json_t *o, const char *p, char *name, char *method,
                               char *url, double *weight)
{
    int rc;
    if ((rc = need_object(d, o, p)) || (rc = get_str(d, o, p, "name", false, name, 64)) ||
        (rc = get_str(d, o, p, "method", false, method, 32)) ||
        (rc = get_str(d, o, p, "url", false, url, 4200)) ||
        (rc = get_num(d, o, p, "weight", true, weight)))
        return rc;
    return 0;
}

static int parse_endpoints(rd *d, json_t *root, results *r)
{
    json_t *a;
    char p[RPATH], q[RPATH];
    int rc = member(d, root, "", "endpoints", true, &a, p);
    if (rc || !a)
        return rc;
    if ((rc = need_array(d, a, p)))
        return rc;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        sub_idx(q, p, i);
        char name[64] = "", method[32] = "", url[4200] = "";
        double weight = 1;
        if ((rc = parse_endpoint_head(d, o, q, name, method, url, &weight)))
            return rc;
        results_endpoint *ep = results_add_endpoint(r, name, method, url);
        if (!ep)
            return err_set(d->e, VOLLEY_ENOMEM, "%s: out of memory", d->name);
        ep->weight = weight;
        if ((rc = parse_stats(d, o, q, &ep->st)))
            return rc;
    }
    return 0;
}

static int parse_step(rd *d, json_t *o, const char *p, results *r)
{
    int rc;
    double target = 0;
    uint32_t vus = 0, index = 0;
    if ((rc = need_object(d, o, p)) || (rc = get_u32(d, o, p, "index", false, &index)) ||
        (rc = get_num(d, o, p, "target_rps", false, &target)) ||
        (rc = get_u32(d, o, p, "target_vus", false, &vus)))
        return rc;
    results_step *st = results_add_step(r, target, vus);
    if (!st)
        return err_set(d->e, VOLLEY_ENOMEM, "%s: out of memory", d->name);
    st->index = index;
    if ((rc = get_u64(d, o, p, "offset_ns", true, &st->offset_ns)) ||
        (rc = parse_stats(d, o, p, &st->st)))
        return rc;
    json_t *a;
    char ap[RPATH], q[RPATH];
    if ((rc = member(d, o, p, "endpoints", false, &a, ap)) || (rc = need_array(d, a, ap)))
        return rc;
    if (json_array_size(a) != r->neps)
        return fail(d, VOLLEY_EPARSE, ap, "has %zu endpoints, the run has %zu",
                    json_array_size(a), r->neps);
    for (size_t i = 0; i < r->neps; i++) {
        results_endpoint *ep = &st->eps[i];
        sub_idx(q, ap, i);
        if ((rc = parse_endpoint_head(d, json_array_get(a, i), q, ep->name, ep->method, ep->url,
                                      &ep->weight)) ||
            (rc = parse_stats(d, json_array_get(a, i), q, &ep->st)))
            return rc;
    }
    return 0;
}

/* Any finite number (a threshold's actual value may be negative). */
static int get_real(rd *d, json_t *o, const char *path, const char *key, double *out)
{
    json_t *v;
    char p[RPATH];
    int rc = member(d, o, path, key, false, &v, p);
    if (rc)
        return rc;
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return fail(d, VOLLEY_EPARSE, p, "must be a number");
    *out = json_number_value(v);
    return 0;
}

static int parse_thresholds(rd *d, json_t *root, results *r)
{
    json_t *a;
    char p[RPATH], q[RPATH];
    int rc = member(d, root, "", "thresholds", true, &a, p);
    if (rc || !a)
        return rc;
    if ((rc = need_array(d, a, p)))
        return rc;
    size_t n = json_array_size(a);
    r->thresholds = calloc(n ? n : 1, sizeof *r->thresholds);
    if (!r->thresholds)
        return err_set(d->e, VOLLEY_ENOMEM, "%s: out of memory", d->name);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(a, i);
        results_threshold *t = &r->thresholds[i];
        sub_idx(q, p, i);
        if ((rc = need_object(d, o, q)) ||
            (rc = get_str(d, o, q, "expr", false, t->expr, sizeof t->expr)) ||
            (rc = get_bool(d, o, q, "ok", false, &t->ok)) ||
            (rc = get_real(d, o, q, "actual", &t->actual)) ||
            (rc = get_str(d, o, q, "actual_text", false, t->actual_text,
                          sizeof t->actual_text)))
            return rc;
        r->nthresholds++;
    }
    return get_bool(d, root, "", "thresholds_aborted", true, &r->thresholds_aborted);
}

static int parse_monitor(rd *d, json_t *root, results_monitor *m)
{
    json_t *o, *cols, *rows;
    char p[RPATH], cp[RPATH], rp[RPATH], q[RPATH];
    int rc = member(d, root, "", "monitor", true, &o, p);
    if (rc || !o)
        return rc;
    uint64_t pid = 0;
    if ((rc = need_object(d, o, p)) || (rc = get_u64(d, o, p, "pid", false, &pid)) ||
        (rc = get_str(d, o, p, "command", false, m->command, sizeof m->command)) ||
        (rc = get_num(d, o, p, "interval_s", false, &m->interval_s)) ||
        (rc = get_num(d, o, p, "cpu_seconds", false, &m->cpu_seconds)) ||
        (rc = get_u64(d, o, p, "rss_max_bytes", false, &m->rss_max_bytes)) ||
        (rc = member(d, o, p, "columns", false, &cols, cp)) || (rc = need_array(d, cols, cp)) ||
        (rc = member(d, o, p, "rows", false, &rows, rp)) || (rc = need_array(d, rows, rp)))
        return rc;
    if (pid == 0 || pid > INT32_MAX)
        return fail(d, VOLLEY_ERANGE, p, "pid out of range");
    m->pid = (int)pid;
    /* Columns by name, as in the per-second series. */
    int col[3] = {-1, -1, -1};
    static const char *names[3] = {"t_s", "cpu_pct", "rss_bytes"};
    for (size_t i = 0; i < json_array_size(cols); i++)
        for (int k = 0; k < 3; k++)
            if (json_is_string(json_array_get(cols, i)) &&
                !strcmp(json_string_value(json_array_get(cols, i)), names[k]))
                col[k] = (int)i;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        sub_idx(q, rp, i);
        if ((rc = need_array(d, row, q)))
            return rc;
        if (json_array_size(row) != json_array_size(cols))
            return fail(d, VOLLEY_EPARSE, q, "has %zu values for %zu columns",
                        json_array_size(row), json_array_size(cols));
        monitor_sample sm = {0};
        if ((col[0] >= 0 && (rc = num_value(d, json_array_get(row, (size_t)col[0]), q, &sm.t_s))) ||
            (col[1] >= 0 &&
             (rc = num_value(d, json_array_get(row, (size_t)col[1]), q, &sm.cpu_pct))) ||
            (col[2] >= 0 && (rc = int_value(d, json_array_get(row, (size_t)col[2]), q,
                                            UINT64_MAX, &sm.rss_bytes))))
            return rc;
        if (results_monitor_add(m, &sm))
            return err_set(d->e, VOLLEY_ENOMEM, "%s: out of memory", d->name);
    }
    return 0;
}

/* "cold" (--cold): optional. */
static int parse_cold(rd *d, json_t *root, results_cold *c)
{
    json_t *o;
    char p[RPATH];
    uint64_t status = 0, attempts = 0;
    int rc = member(d, root, "", "cold", true, &o, p);
    if (rc || !o)
        return rc;
    if ((rc = need_object(d, o, p)) || (rc = get_num(d, o, p, "ready_ms", false, &c->ready_ms)) ||
        (rc = get_num(d, o, p, "start_ms", false, &c->start_ms)) ||
        (rc = get_num(d, o, p, "first_request_ms", false, &c->first_ms)) ||
        (rc = get_u64(d, o, p, "status", false, &status)) ||
        (rc = get_u64(d, o, p, "attempts", false, &attempts)))
        return rc;
    if (status > 999 || attempts > UINT32_MAX)
        return fail(d, VOLLEY_ERANGE, p, "status or attempts out of range");
    c->status = (int)status;
    c->attempts = (uint32_t)attempts;
    c->measured = true;
    return 0;
}

/* The generator's honesty block (monitor/selfmon), so reports show it. */
static int parse_generator(rd *d, json_t *root, results_generator *g)
{
    json_t *o, *th;
    char p[RPATH], tp[RPATH], q[RPATH], verdict[16] = "";
    double p50 = 0, p90 = 0, p99 = 0, mean = 0;
    int rc = member(d, root, "", "generator", true, &o, p);
    if (rc || !o)
        return rc;
    if ((rc = need_object(d, o, p)) ||
        (rc = get_str(d, o, p, "verdict", false, verdict, sizeof verdict)) ||
        (rc = get_str(d, o, p, "why", true, g->why, sizeof g->why)) ||
        (rc = get_str(d, o, p, "note", true, g->note, sizeof g->note)) ||
        (rc = get_num(d, o, p, "cpu_max_pct", true, &g->cpu_max_pct)) ||
        (rc = get_num(d, o, p, "wait_max_pct", true, &g->wait_max_pct)) ||
        (rc = get_num(d, o, p, "cpu_seconds", true, &g->cpu_seconds)) ||
        (rc = get_u64(d, o, p, "rss_max_bytes", true, &g->rss_max_bytes)) ||
        (rc = get_num(d, o, p, "send_lag_p50_ms", true, &p50)) ||
        (rc = get_num(d, o, p, "send_lag_p90_ms", true, &p90)) ||
        (rc = get_num(d, o, p, "send_lag_p99_ms", true, &p99)) ||
        (rc = get_num(d, o, p, "send_lag_mean_ms", true, &mean)) ||
        (rc = get_num(d, o, p, "target_rps", true, &g->target_rps)) ||
        (rc = get_num(d, o, p, "sent_share", true, &g->sent_share)) ||
        (rc = member(d, o, p, "thread_cpu_pct", true, &th, tp)))
        return rc;
    if (strcmp(verdict, "ok") && strcmp(verdict, "behind"))
        return fail(d, VOLLEY_EPARSE, p, "verdict must be \"ok\" or \"behind\"");
    g->measured = true;
    g->behind = verdict[0] == 'b';
    g->lag_p50_ns = (uint64_t)(p50 * 1e6);
    g->lag_p90_ns = (uint64_t)(p90 * 1e6);
    g->lag_p99_ns = (uint64_t)(p99 * 1e6);
    g->lag_mean_ns = mean * 1e6;
    if (th && (rc = need_array(d, th, tp)))
        return rc;
    for (size_t i = 0; th && i < json_array_size(th) && i < RESULTS_GEN_MAX_THREADS; i++) {
        sub_idx(q, tp, i);
        if ((rc = num_value(d, json_array_get(th, i), q, &g->thread_cpu_pct[i])))
            return rc;
        g->nthreads = (uint32_t)i + 1;
    }
    return 0;
}

/* Host, segment and common start (all optional: older files lack them). */
static int parse_dist(rd *d, json_t *root, results *r)
{
    int rc;
    json_t *seg = json_object_get(root, "segment"), *late;
    if ((rc = get_str(d, root, "", "host", true, r->host, sizeof r->host)) ||
        (rc = get_u64(d, root, "", "start_at_unix_ns", true, &r->start_at_ns)))
        return rc;
    if ((late = json_object_get(root, "start_late_ns"))) {
        if (!json_is_integer(late))
            return fail(d, VOLLEY_EPARSE, "start_late_ns", "must be an integer");
        r->start_late_ns = (int64_t)json_integer_value(late);
    }
    if (!seg || json_is_null(seg))
        return 0;
    if ((rc = need_object(d, seg, "segment")) ||
        (rc = get_u32(d, seg, "segment", "index", false, &r->segment_k)) ||
        (rc = get_u32(d, seg, "segment", "count", false, &r->segment_n)))
        return rc;
    if (r->segment_k < 1 || r->segment_k > r->segment_n)
        return fail(d, VOLLEY_ERANGE, "segment", "%u/%u is not K/N with 1 <= K <= N",
                    r->segment_k, r->segment_n);
    return 0;
}

static int parse_root(rd *d, json_t *root, results *r)
{
    int rc;
    if (!json_is_object(root))
        return fail(d, VOLLEY_EPARSE, "", "must be a JSON object");
    json_t *ver;
    char p[RPATH];
    if ((rc = member(d, root, "", "schema_version", false, &ver, p)))
        return rc;
    if (!json_is_integer(ver))
        return fail(d, VOLLEY_EPARSE, p, "must be an integer");
    if (json_integer_value(ver) != RESULTS_SCHEMA_VERSION)
        return fail(d, VOLLEY_ERANGE, p, "unknown version %lld (this volley reads version %d)",
                    (long long)json_integer_value(ver), RESULTS_SCHEMA_VERSION);
    if ((rc = parse_plan(d, root, &r->plan)))
        return rc;
    if (json_object_get(root, "start_unix_ns"))
        rc = get_u64(d, root, "", "start_unix_ns", false, &r->start_wall_ns);
    else
        rc = get_rfc3339(d, root, "", "start", &r->start_wall_ns);
    if (rc || (rc = get_rfc3339(d, root, "", "end", &r->end_wall_ns)) ||
        (rc = get_bool(d, root, "", "interrupted", false, &r->interrupted)) ||
        (rc = get_str(d, root, "", "warning", true, r->warning, sizeof r->warning)) ||
        (rc = get_u64(d, root, "", "warmup_requests", true, &r->warmup_requests)) ||
        (rc = get_u64(d, root, "", "series_overruns", true, &r->series_overruns)) ||
        (rc = parse_stats(d, root, "", &r->st)) || (rc = parse_endpoints(d, root, r)))
        return rc;
    json_t *steps;
    if ((rc = member(d, root, "", "steps", true, &steps, p)))
        return rc;
    if (steps && (rc = need_array(d, steps, p)))
        return rc;
    char q[RPATH];
    for (size_t i = 0; steps && i < json_array_size(steps) && !rc; i++) {
        sub_idx(q, p, i);
        rc = parse_step(d, json_array_get(steps, i), q, r);
    }
    if (rc || (rc = parse_thresholds(d, root, r)) || (rc = parse_dist(d, root, r)))
        return rc;
    if ((rc = parse_cold(d, root, &r->cold)) || (rc = parse_monitor(d, root, &r->monitor)))
        return rc;
    if (results_script_from_json(&r->script, json_object_get(root, "script")))
        return fail(d, VOLLEY_ENOMEM, "script", "out of memory");
    return parse_generator(d, root, &r->generator);
}

int results_json_parse(const char *text, size_t len, const char *name, results *out, err *e)
{
    rd d = {.name = name ? name : "results", .e = e};
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return err_set(e, VOLLEY_EPARSE, "%s:%d:%d: %s (byte %d)", d.name, je.line, je.column,
                       je.text, je.position);
    if (results_init(out)) {
        json_decref(root);
        return err_set(e, VOLLEY_ENOMEM, "%s: out of memory", d.name);
    }
    int rc = parse_root(&d, root, out);
    json_decref(root);
    if (rc)
        results_free(out);
    return rc;
}

bool results_json_in_folder(const char *path, char *out, size_t cap)
{
    struct stat st;
    return !stat(path, &st) && S_ISDIR(st.st_mode) &&
           snprintf(out, cap, "%s/results.json", path) < (int)cap && !stat(out, &st);
}

int results_json_read(const char *path, results *out, err *e)
{
    char in_dir[4096];
    if (results_json_in_folder(path, in_dir, sizeof in_dir))
        path = in_dir; /* a run folder (volley run --out DIR) */
    FILE *f = file_open_input(path, "results", FILE_RESULTS_MAX, NULL, e);
    if (!f)
        return e && e->code ? e->code : VOLLEY_EINVAL;
    buf b = {0};
    int rc = 0;
    for (;;) {
        if (buf_reserve(&b, 1 << 16)) {
            rc = err_set(e, VOLLEY_ENOMEM, "%s: out of memory", path);
            break;
        }
        size_t n = fread(buf_wpos(&b), 1, buf_room(&b), f);
        b.len += n;
        if (n == 0) {
            if (ferror(f))
                rc = err_sys(e, "cannot read '%s'", path);
            break;
        }
    }
    fclose(f);
    if (!rc)
        rc = results_json_parse(b.data ? b.data : "", b.len, path, out, e);
    buf_free(&b);
    return rc;
}
