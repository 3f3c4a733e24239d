/* csv: summary.csv from a results struct (cmd/run after a run, cmd/report
 * from results.json; both must give the same bytes, so only exact data is
 * used and every number has a fixed format), and the requests.csv reader
 * behind report/chart's per-route scatter plot. */
#include "results/csv.h"

#include "core/fileio.h"

#include "core/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int csv_field(buf *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n"))
        return buf_append(out, s, strlen(s));
    if (buf_append(out, "\"", 1))
        return VOLLEY_ENOMEM;
    for (const char *p = s; *p; p++) {
        if (*p == '"' && buf_append(out, "\"", 1))
            return VOLLEY_ENOMEM;
        if (buf_append(out, p, 1))
            return VOLLEY_ENOMEM;
    }
    return buf_append(out, "\"", 1);
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* Responses with a 1xx..3xx status, of all requests (errors included). */
static double success_pct(const metrics_totals *t)
{
    if (!t->requests)
        return 0;
    uint64_t ok = 0;
    for (int i = 100; i < 400; i++)
        ok += t->status[i];
    return 100.0 * (double)ok / (double)t->requests;
}

typedef struct row_head {
    const char *step, *target, *endpoint, *method, *url;
    const char *server; /* ",CPU%,RSS" of a step's or the run's total row, or ",," */
} row_head;

/* The server under test (--exec, --monitor-pid) during a step (st) or the
 * whole run (st NULL): its mean CPU % and peak RSS; empty without one. */
static void server_cols(const results *r, const results_step *st, char *out, size_t cap)
{
    double cpu = 0;
    uint64_t rss = 0;
    bool have = false;
    if (st) {
        have = results_step_monitor(r, st, &cpu, &rss);
    } else if (r->monitor.pid && r->monitor.nsamples) {
        for (size_t i = 0; i < r->monitor.nsamples; i++)
            cpu += r->monitor.samples[i].cpu_pct / (double)r->monitor.nsamples;
        rss = r->monitor.rss_max_bytes;
        have = true;
    }
    if (have)
        snprintf(out, cap, ",%.1f,%llu", cpu, (unsigned long long)rss);
    else
        snprintf(out, cap, ",,");
}

/* elapsed_ns: the block's own duration, or its parent's when it has none
 * (an endpoint block written without one). */
static int summary_row(buf *b, const row_head *h, const results_stats *s, uint64_t parent_ns)
{
    const metrics_totals *t = &s->tot;
    uint64_t el = s->elapsed_ns ? s->elapsed_ns : parent_ns;
    double rps = el ? (double)t->requests / ((double)el / NS_PER_S) : 0;
    int rc = 0;
    rc |= csv_field(b, h->step);
    rc |= buf_printf(b, ",%s,", h->target);
    rc |= csv_field(b, h->endpoint);
    rc |= buf_append(b, ",", 1);
    rc |= csv_field(b, h->method);
    rc |= buf_append(b, ",", 1);
    rc |= csv_field(b, h->url);
    rc |= buf_printf(b, ",%llu,%llu,%llu,%.2f,%.2f", (unsigned long long)t->requests,
                     (unsigned long long)t->responses, (unsigned long long)t->errors,
                     success_pct(t), rps);
    const hist *l = s->latency;
    rc |= buf_printf(b, ",%.3f,%.3f,%.3f,%.3f,%.3f,%.3f", ms(hist_percentile(l, 50)),
                     ms(hist_percentile(l, 90)), ms(hist_percentile(l, 95)),
                     ms(hist_percentile(l, 99)), ms(hist_max(l)), hist_mean(l) / 1e6);
    rc |= buf_printf(b, ",%.3f,%.3f,%.3f,%.3f", ms(hist_percentile(s->ttfb, 50)),
                     ms(hist_percentile(s->ttfb, 99)), ms(hist_percentile(s->service, 50)),
                     ms(hist_percentile(s->service, 99)));
    rc |= buf_printf(b, ",%llu,%llu,%llu%s\n", (unsigned long long)t->bytes_in,
                     (unsigned long long)t->bytes_out, (unsigned long long)t->dropped,
                     h->server ? h->server : ",,");
    return rc ? VOLLEY_ENOMEM : 0;
}

static int summary_block(buf *b, const row_head *total, const results_endpoint *eps,
                         size_t neps, const results_stats *all)
{
    int rc = 0;
    for (size_t i = 0; i < neps && !rc; i++) {
        row_head h = {total->step, total->target, eps[i].name, eps[i].method, eps[i].url, NULL};
        rc = summary_row(b, &h, &eps[i].st, all->elapsed_ns);
    }
    return rc ? rc : summary_row(b, total, all, 0);
}

int csv_summary_dump(const results *r, buf *out)
{
    char step[16], target[48], server[64];
    if (buf_printf(out, "%s\n", CSV_SUMMARY_HEADER))
        return VOLLEY_ENOMEM;
    server_cols(r, NULL, server, sizeof server);
    if (!r->nsteps) {
        snprintf(target, sizeof target, "%.2f", r->plan.rate_per_s);
        row_head h = {"", target, "total", "", "", server};
        return summary_block(out, &h, r->eps, r->neps, &r->st);
    }
    int rc = 0;
    for (size_t i = 0; i < r->nsteps && !rc; i++) {
        const results_step *s = &r->steps[i];
        char step_server[64];
        snprintf(step, sizeof step, "%u", s->index);
        snprintf(target, sizeof target, "%.2f", s->target_rps);
        server_cols(r, s, step_server, sizeof step_server);
        row_head h = {step, target, "total", "", "", step_server};
        rc = summary_block(out, &h, s->eps, r->neps, &s->st);
    }
    if (rc)
        return rc;
    row_head h = {"", "", "total", "", "", server};
    return summary_row(out, &h, &r->st, 0);
}

int csv_write_summary(const results *r, const char *path, err *e)
{
    buf b = {0};
    if (csv_summary_dump(r, &b)) {
        buf_free(&b);
        return err_set(e, VOLLEY_ENOMEM, "%s: out of memory", path);
    }
    int rc = file_write_atomic(path, b.data, b.len, e);
    buf_free(&b);
    return rc;
}

/* ---- requests.csv ----------------------------------------------------------- */

enum { RQ_OFFSET, RQ_STEP, RQ_ENDPOINT, RQ_STATUS, RQ_LATENCY, RQ_SERVICE, RQ_TTFB,
       RQ_BYTES_IN, RQ_BYTES_OUT, RQ_ERROR, RQ_NCOLS };

static const char *rq_names[RQ_NCOLS] = {"offset_ms", "step",     "endpoint", "status",
                                         "latency_ms", "service_ms", "ttfb_ms", "bytes_in",
                                         "bytes_out", "error"};

#define RQ_MAX_FIELDS 64

/* Splits one CSV record in place (quotes removed, doubled quotes undone).
 * Returns the number of fields, or -1 on an unterminated quote. */
static int split(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max)
            return n;
        char *w = p;
        f[n++] = w;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p)
                    return -1;
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *w++ = *p++;
                }
            }
        } else {
            while (*p && *p != ',')
                *w++ = *p++;
        }
        if (*p != ',') {
            *w = '\0';
            return *p ? -1 : n; /* text after a closing quote */
        }
        p++;
        *w = '\0';
    }
}

static void chomp(char *s, ssize_t *len)
{
    while (*len > 0 && (s[*len - 1] == '\n' || s[*len - 1] == '\r'))
        s[--*len] = '\0';
}

static int num(const char *s, double *out)
{
    if (!*s) {
        *out = 0;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno)
        return -1;
    *out = v;
    return 0;
}

static int parse_row(char **f, int nf, const int *col, csv_request_row *r)
{
    double v[RQ_NCOLS] = {0};
    static const int numeric[] = {RQ_OFFSET, RQ_STATUS, RQ_LATENCY, RQ_SERVICE, RQ_TTFB,
                                  RQ_BYTES_IN, RQ_BYTES_OUT};
    for (size_t k = 0; k < sizeof numeric / sizeof numeric[0]; k++) {
        int c = col[numeric[k]];
        if (c >= 0 && (c >= nf || num(f[c], &v[numeric[k]])))
            return -1;
    }
    memset(r, 0, sizeof *r);
    r->offset_ms = v[RQ_OFFSET];
    r->latency_ms = v[RQ_LATENCY];
    r->service_ms = v[RQ_SERVICE];
    r->ttfb_ms = v[RQ_TTFB];
    /* Beyond 2^63 bytes is no real row (and would not convert). */
    if (!(v[RQ_BYTES_IN] < 9.2e18) || !(v[RQ_BYTES_OUT] < 9.2e18))
        return -1;
    r->bytes_in = v[RQ_BYTES_IN] > 0 ? (uint64_t)v[RQ_BYTES_IN] : 0;
    r->bytes_out = v[RQ_BYTES_OUT] > 0 ? (uint64_t)v[RQ_BYTES_OUT] : 0;
    if (!(v[RQ_STATUS] >= 0 && v[RQ_STATUS] < METRICS_STATUS_MAX)) /* NaN too */
        return -1;
    r->status = (uint16_t)v[RQ_STATUS];
    r->step = -1;
    double st;
    if (col[RQ_STEP] >= 0 && col[RQ_STEP] < nf && f[col[RQ_STEP]][0] &&
        !num(f[col[RQ_STEP]], &st) && st >= 0 && st < 1e9)
        r->step = (int32_t)st;
    if (col[RQ_ENDPOINT] >= 0 && col[RQ_ENDPOINT] < nf)
        snprintf(r->endpoint, sizeof r->endpoint, "%s", f[col[RQ_ENDPOINT]]);
    r->err_kind = -1;
    if (col[RQ_ERROR] >= 0 && col[RQ_ERROR] < nf && f[col[RQ_ERROR]][0])
        r->err_kind = (int8_t)metrics_err_kind_from_name(f[col[RQ_ERROR]]);
    return 0;
}

static int read_header(FILE *f, const char *path, char **line, size_t *cap, int *col, err *e)
{
    ssize_t len = getline(line, cap, f);
    if (len < 0)
        return err_set(e, VOLLEY_EPARSE, "%s:1: empty file (expected a header line)", path);
    chomp(*line, &len);
    char *fields[RQ_MAX_FIELDS];
    int nf = split(*line, fields, RQ_MAX_FIELDS);
    if (nf < 0)
        return err_set(e, VOLLEY_EPARSE, "%s:1: unterminated quote in the header", path);
    for (int k = 0; k < RQ_NCOLS; k++) {
        col[k] = -1;
        for (int i = 0; i < nf; i++)
            if (!strcmp(fields[i], rq_names[k]))
                col[k] = i;
    }
    static const int required[] = {RQ_OFFSET, RQ_STATUS, RQ_LATENCY};
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++)
        if (col[required[k]] < 0)
            return err_set(e, VOLLEY_EPARSE, "%s:1: no column '%s' in the header", path,
                           rq_names[required[k]]);
    return 0;
}

/* Data records (non-empty lines after the header), for the sampling stride. */
static size_t count_records(FILE *f)
{
    size_t n = 0;
    int c, prev = '\n';
    bool header = true;
    while ((c = getc(f)) != EOF) {
        if (c == '\n') {
            if (prev != '\n' && !header)
                n++;
            header = false;
        }
        if (c != '\r')
            prev = c;
    }
    if (prev != '\n' && !header)
        n++;
    return n;
}

int csv_read_requests(const char *path, csv_request_row **rows, size_t *n, err *e)
{
    *rows = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return err_sys(e, "cannot open '%s'", path);
    size_t total = count_records(f);
    rewind(f);
    size_t keep = total < CSV_REQUESTS_MAX_ROWS ? total : CSV_REQUESTS_MAX_ROWS;
    char *line = NULL;
    size_t cap = 0;
    int col[RQ_NCOLS];
    int rc = read_header(f, path, &line, &cap, col, e);
    csv_request_row *out = NULL;
    if (!rc && keep && !(out = malloc(keep * sizeof *out)))
        rc = err_set(e, VOLLEY_ENOMEM, "%s: out of memory", path);
    size_t idx = 0, got = 0, lineno = 1;
    ssize_t len;
    while (!rc && got < keep && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        chomp(line, &len);
        if (!len)
            continue;
        /* Evenly spaced: record idx is kept when it starts a new 1/keep slot. */
        size_t i = idx++;
        if ((unsigned __int128)i * keep / total == (unsigned __int128)(i + 1) * keep / total)
            continue;
        char *fields[RQ_MAX_FIELDS];
        int nf = split(line, fields, RQ_MAX_FIELDS);
        if (nf < 0 || parse_row(fields, nf, col, &out[got]))
            rc = err_set(e, VOLLEY_EPARSE, "%s:%zu: malformed row", path, lineno);
        else
            got++;
    }
    free(line);
    fclose(f);
    if (rc) {
        free(out);
        return rc;
    }
    *rows = out;
    *n = got;
    return 0;
}
