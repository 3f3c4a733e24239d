/* csv: summary.csv from a results struct (cmd/run after a run, cmd/report
 * from results.json; both must give the same bytes, so only exact data is
 * used and every number has a fixed format), and the streaming requests.csv
 * reader behind report/scatter (the per-route scatter plots). */
#include "results/csv.h"

#include "core/fileio.h"

#include "core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Each endpoint row with its own target (its share of the block's), the
 * total row with the sum of theirs: a target beside the rate it asked for. */
static int summary_block(buf *b, const results *r, const row_head *total, double target,
                         const results_endpoint *eps, const results_stats *all)
{
    int rc = 0;
    char t[48];
    double sum = 0;
    for (size_t i = 0; i < r->neps && !rc; i++) {
        double share = target * results_target_share(r, i);
        sum += share;
        snprintf(t, sizeof t, "%.2f", share);
        row_head h = {total->step, t, eps[i].name, eps[i].method, eps[i].url, NULL};
        rc = summary_row(b, &h, &eps[i].st, all->elapsed_ns);
    }
    snprintf(t, sizeof t, "%.2f", r->neps ? sum : target);
    row_head h = *total;
    h.target = t;
    return rc ? rc : summary_row(b, &h, all, 0);
}

int csv_summary_dump(const results *r, buf *out)
{
    char step[16], server[64];
    if (buf_printf(out, "%s\n", CSV_SUMMARY_HEADER))
        return VOLLEY_ENOMEM;
    server_cols(r, NULL, server, sizeof server);
    if (!r->nsteps) {
        row_head h = {"", "", "total", "", "", server};
        return summary_block(out, r, &h, r->plan.rate_per_s, r->eps, &r->st);
    }
    int rc = 0;
    for (size_t i = 0; i < r->nsteps && !rc; i++) {
        const results_step *s = &r->steps[i];
        char step_server[64];
        snprintf(step, sizeof step, "%u", s->index);
        server_cols(r, s, step_server, sizeof step_server);
        row_head h = {step, "", "total", "", "", step_server};
        rc = summary_block(out, r, &h, s->target_rps, s->eps, &s->st);
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

int csv_names_dump(const results *r, buf *out)
{
    int rc = buf_printf(out, "%s\n", CSV_NAMES_HEADER);
    for (size_t i = 0; i < r->script.nnames && !rc; i++) {
        const rs_name *n = &r->script.names[i];
        rc = csv_field(out, n->name) ||
             buf_printf(out, ",%llu,%llu,%.2f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%llu\n",
                        (unsigned long long)n->requests, (unsigned long long)n->failures,
                        n->requests ? 100.0 * (double)n->failures / (double)n->requests : 0,
                        n->avg_ms, n->p50_ms, n->p90_ms, n->p95_ms, n->p99_ms, n->max_ms,
                        n->ttfb_p50_ms, (unsigned long long)n->bytes_in);
    }
    return rc ? VOLLEY_ENOMEM : 0;
}

int csv_write_names(const results *r, const char *path, err *e)
{
    buf b = {0};
    if (csv_names_dump(r, &b)) {
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
        } else { /* unquoted: in place as it is */
            while (*p && *p != ',')
                p++;
            w = p;
        }
        if (*p != ',') {
            *w = '\0';
            return *p ? -1 : n; /* text after a closing quote */
        }
        p++;
        *w = '\0';
    }
}

static const double pow10_tab[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

/* Plain decimals ("123.456", the way volley writes them) without strtod:
 * the digits as an integer over a power of ten, both exact in a double, so
 * the quotient is the correctly rounded value. Anything else (signs,
 * exponents, long mantissas) goes to strtod. */
/* Parses the number at *pp, which ends at a ',' or the end of the line,
 * and leaves *pp there. */
static int num_at(char **pp, double *out)
{
    char *s = *pp, *p = s;
    uint64_t m = 0;
    while ((unsigned)(*p - '0') < 10)
        m = m * 10 + (uint64_t)(*p++ - '0');
    size_t ip = (size_t)(p - s), frac = 0;
    if (*p == '.') {
        char *q = ++p;
        while ((unsigned)(*p - '0') < 10)
            m = m * 10 + (uint64_t)(*p++ - '0');
        frac = (size_t)(p - q);
    }
    if ((*p == ',' || !*p) && ip + frac <= 15 && frac < 10) {
        *pp = p;
        *out = ip + frac ? (double)m / pow10_tab[frac] : 0; /* empty is 0 */
        return ip + frac || p == s ? 0 : -1;                /* "." is not */
    }
    char *end = strchrnul(p, ','), c = *end;
    *end = '\0';
    char *e;
    errno = 0;
    *out = strtod(s, &e);
    int bad = e != end || errno || e == s;
    *end = c;
    *pp = end;
    return bad ? -1 : 0;
}

/* A whole field (NUL-terminated) as a number. */
static int num(char *s, double *out)
{
    return num_at(&s, out) || *s ? -1 : 0;
}

static const int numeric[] = {RQ_OFFSET, RQ_STATUS, RQ_LATENCY, RQ_SERVICE, RQ_TTFB,
                              RQ_BYTES_IN, RQ_BYTES_OUT};
#define NNUMERIC (sizeof numeric / sizeof numeric[0])

/* A row from its fields; v holds its numbers when the caller parsed them
 * already (NULL: parsed here). */
static int parse_row(char **f, int nf, const int *col, const double *pre, csv_request_row *r)
{
    double v[RQ_NCOLS] = {0};
    for (size_t k = 0; !pre && k < NNUMERIC; k++) {
        int c = col[numeric[k]];
        if (c >= 0 && (c >= nf || num(f[c], &v[numeric[k]])))
            return -1;
    }
    if (pre)
        memcpy(v, pre, sizeof v);
    r->endpoint[0] = '\0';
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
    if (col[RQ_ENDPOINT] >= 0 && col[RQ_ENDPOINT] < nf) {
        size_t len = strnlen(f[col[RQ_ENDPOINT]], sizeof r->endpoint - 1);
        memcpy(r->endpoint, f[col[RQ_ENDPOINT]], len);
        r->endpoint[len] = '\0';
    }
    r->err_kind = -1;
    if (col[RQ_ERROR] >= 0 && col[RQ_ERROR] < nf && f[col[RQ_ERROR]][0])
        r->err_kind = (int8_t)metrics_err_kind_from_name(f[col[RQ_ERROR]]);
    return 0;
}

static int read_header(char *line, const char *path, int *col, err *e)
{
    if (!line)
        return err_set(e, VOLLEY_EPARSE, "%s:1: empty file (expected a header line)", path);
    char *fields[RQ_MAX_FIELDS];
    int nf = split(line, fields, RQ_MAX_FIELDS);
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

/* A file read in big blocks, handed out line by line (NUL-terminated in
 * place, CR/LF removed): no copy and no allocation per row. */
typedef struct line_reader {
    int fd;
    char *buf;
    size_t cap, start, len; /* unread bytes: buf[start .. len) */
    uint64_t base;          /* file offset of buf[0] */
    bool eof;
    int err; /* errno of a failed read, ENOMEM for an impossible line */
} line_reader;

#define LR_BLOCK (4u << 20)

/* The next line, or NULL at the end of the file (or on an error: lr->err). */
static char *next_line(line_reader *lr)
{
    for (;;) {
        char *b = lr->buf + lr->start;
        char *nl = memchr(b, '\n', lr->len - lr->start);
        if (nl || (lr->eof && lr->start < lr->len)) {
            char *end = nl ? nl : lr->buf + lr->len;
            lr->start = nl ? (size_t)(nl - lr->buf) + 1 : lr->len;
            *end = '\0';
            if (end > b && end[-1] == '\r')
                end[-1] = '\0';
            return b;
        }
        if (lr->eof)
            return NULL;
        memmove(lr->buf, b, lr->len - lr->start);
        lr->len -= lr->start;
        lr->base += lr->start;
        lr->start = 0;
        if (lr->len + 1 >= lr->cap) { /* a line longer than the buffer */
            char *nb = realloc(lr->buf, lr->cap * 2);
            if (!nb) {
                lr->err = ENOMEM;
                return NULL;
            }
            lr->buf = nb;
            lr->cap *= 2;
        }
        ssize_t r = read(lr->fd, lr->buf + lr->len, lr->cap - 1 - lr->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            lr->err = errno;
            return NULL;
        }
        lr->len += (size_t)r;
        lr->eof = r == 0;
        lr->buf[lr->len] = '\0';
    }
}

/* One pass over a line: the numeric fields parsed as they go by (kind[i]:
 * the column kind of field i, or -1), then the fields cut in place. A line
 * with a quoted field returns 1, untouched, for split(). */
static int fast_row(char *line, const int *kind, const int *col, bool brief, csv_request_row *r)
{
    char *f[RQ_MAX_FIELDS];
    double v[RQ_NCOLS] = {0};
    int nf = 0;
    char *p = line;
    for (;;) {
        if (*p == '"')
            return 1; /* nothing cut yet: split() takes the line as it is */
        f[nf] = p;
        int k = kind[nf];
        bool skip = brief && k >= RQ_SERVICE && k <= RQ_BYTES_OUT;
        if (k >= 0 && k != RQ_STEP && k != RQ_ENDPOINT && k != RQ_ERROR && !skip) {
            if (num_at(&p, &v[k]))
                return -1;
        } else {
            while (*p && *p != ',')
                p++;
        }
        if (!*p || ++nf == RQ_MAX_FIELDS)
            break;
        p++;
    }
    nf += nf < RQ_MAX_FIELDS;
    for (int i = 1; i < nf; i++)
        f[i][-1] = '\0'; /* the commas end the fields before */
    *p = '\0';
    for (size_t k = 0; k < NNUMERIC; k++)
        if (col[numeric[k]] >= nf)
            return -1;
    return parse_row(f, nf, col, v, r);
}

/* Moves the reader to file offset off (an empty buffer). */
static int reader_seek(line_reader *lr, uint64_t off)
{
    if (lseek(lr->fd, (off_t)off, SEEK_SET) < 0)
        return -1;
    lr->start = lr->len = 0;
    lr->base = off;
    lr->eof = false;
    lr->buf[0] = '\0';
    return 0;
}

/* The rows of one part: those whose line starts in [from, to) (see
 * csv_scan_requests_part); line numbers are known only in part 0. */
static int scan_rows(line_reader *lr, const char *path, bool brief, uint64_t from, uint64_t to,
                     csv_row_fn fn, void *ctx, err *e)
{
    int col[RQ_NCOLS];
    int rc = read_header(next_line(lr), path, col, e);
    int kind[RQ_MAX_FIELDS];
    for (int i = 0; i < RQ_MAX_FIELDS; i++)
        kind[i] = -1;
    for (int k = 0; !rc && k < RQ_NCOLS; k++)
        if (col[k] >= 0)
            kind[col[k]] = k;
    if (!rc && from > 0) { /* into the part: skip the line that straddles from */
        if (reader_seek(lr, from - 1))
            lr->err = errno;
        else
            next_line(lr);
    }
    size_t lineno = from ? 0 : 1;
    csv_request_row row;
    char *line;
    while (!rc && (line = next_line(lr))) {
        uint64_t at = lr->base + (uint64_t)(line - lr->buf);
        if (at >= to)
            break;
        lineno += lineno > 0;
        if (!line[0])
            continue;
        int bad = fast_row(line, kind, col, brief, &row);
        if (bad == 1) {
            char *fields[RQ_MAX_FIELDS];
            int nf = split(line, fields, RQ_MAX_FIELDS);
            bad = nf < 0 || parse_row(fields, nf, col, NULL, &row);
        }
        if (bad && lineno)
            rc = err_set(e, VOLLEY_EPARSE, "%s:%zu: malformed row", path, lineno);
        else if (bad)
            rc = err_set(e, VOLLEY_EPARSE, "%s: malformed row at byte %llu", path,
                         (unsigned long long)at);
        else if ((rc = fn(&row, ctx)))
            err_set(e, rc, "%s: row at byte %llu: %s", path, (unsigned long long)at,
                    err_str(rc));
    }
    if (lr->err) {
        errno = lr->err;
        rc = err_sys(e, "cannot read '%s'", path);
    }
    return rc;
}

int csv_scan_requests_part(const char *path, bool brief, unsigned part, unsigned nparts,
                           csv_row_fn fn, void *ctx, err *e)
{
    line_reader lr = {.cap = LR_BLOCK};
    if ((lr.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return err_sys(e, "cannot open '%s'", path);
    struct stat st;
    if (fstat(lr.fd, &st) < 0) {
        int rc = err_sys(e, "cannot read '%s'", path);
        close(lr.fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) { /* /dev/zero would never end (any size is fine) */
        close(lr.fd);
        return err_set(e, VOLLEY_EINVAL, "requests.csv: '%s' is not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    uint64_t from = nparts > 1 ? size * part / nparts : 0;
    uint64_t to = part + 1 < nparts ? size * (part + 1) / nparts : UINT64_MAX;
    if (!(lr.buf = malloc(lr.cap))) {
        close(lr.fd);
        return err_set(e, VOLLEY_ENOMEM, "%s: out of memory", path);
    }
    lr.buf[0] = '\0';
    int rc = scan_rows(&lr, path, brief, from, to, fn, ctx, e);
    free(lr.buf);
    close(lr.fd);
    return rc;
}

int csv_scan_requests(const char *path, bool brief, csv_row_fn fn, void *ctx, err *e)
{
    return csv_scan_requests_part(path, brief, 0, 1, fn, ctx, e);
}
