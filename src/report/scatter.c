/* scatter: the streaming reduction of requests.csv for report/chart's
 * per-endpoint scatter (see scatter.h). Columns start at the run's elapsed
 * time / ncols; a row beyond the last column merges neighbouring columns
 * pairwise (min of the mins, max of the maxes), so memory never grows. */
#include "report/scatter.h"

#include "core/clock.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void cells_clear(scatter_cell *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        c[i] = (scatter_cell){{0, INFINITY}, {0, -INFINITY}};
}

int scatter_init(scatter *s, const results *r, size_t ncols, err *e)
{
    memset(s, 0, sizeof *s);
    s->r = r;
    s->ncols = ncols ? (ncols + 1) / 2 * 2 : SCATTER_COLS; /* even: merged in pairs */
    double el_ms = (double)r->st.elapsed_ns / NS_PER_MS;
    s->col_ms = (el_ms > 1 ? el_ms : 1000) / (double)s->ncols;
    s->neps = r->neps < SCATTER_MAX_EPS ? r->neps : SCATTER_MAX_EPS;
    if (s->neps && !(s->eps = calloc(s->neps, sizeof *s->eps)))
        return err_set(e, VOLLEY_ENOMEM, "scatter: out of memory");
    size_t ncells = s->ncols * SCATTER_NCLASS;
    for (size_t i = 0; i < s->neps; i++) {
        if (!(s->eps[i].cells = malloc(ncells * sizeof *s->eps[i].cells))) {
            scatter_free(s);
            return err_set(e, VOLLEY_ENOMEM, "scatter: out of memory");
        }
        cells_clear(s->eps[i].cells, ncells);
    }
    return 0;
}

void scatter_free(scatter *s)
{
    for (size_t i = 0; i < s->neps; i++) {
        free(s->eps[i].cells);
        free(s->eps[i].fails);
        free(s->eps[i].fail_class);
    }
    free(s->eps);
    memset(s, 0, sizeof *s);
}

int scatter_class(int status)
{
    return status == 0    ? SCATTER_ERRORS
           : status < 300 ? SCATTER_2XX
           : status < 400 ? SCATTER_3XX
           : status < 500 ? SCATTER_4XX
                          : SCATTER_5XX;
}

static void cell_add(scatter_cell *c, scatter_pt p)
{
    if (p.y_ms < c->lo.y_ms)
        c->lo = p;
    if (p.y_ms > c->hi.y_ms)
        c->hi = p;
}

/* Halves the resolution: column i takes columns 2i and 2i+1. */
static void merge_pairs(scatter *s)
{
    size_t half = s->ncols / 2;
    for (size_t e = 0; e < s->neps; e++) {
        scatter_cell *c = s->eps[e].cells;
        for (size_t i = 0; i < half; i++)
            for (int k = 0; k < SCATTER_NCLASS; k++) {
                scatter_cell m = c[2 * i * SCATTER_NCLASS + (size_t)k];
                cell_add(&m, c[(2 * i + 1) * SCATTER_NCLASS + (size_t)k].lo);
                cell_add(&m, c[(2 * i + 1) * SCATTER_NCLASS + (size_t)k].hi);
                c[i * SCATTER_NCLASS + (size_t)k] = m;
            }
        cells_clear(c + half * SCATTER_NCLASS, (s->ncols - half) * SCATTER_NCLASS);
    }
    s->col_ms *= 2;
}

/* The endpoint a row belongs to, or -1. */
static long find_ep(scatter *s, const char *name)
{
    if (s->last_ep < s->neps && !strcmp(s->r->eps[s->last_ep].name, name))
        return (long)s->last_ep;
    for (size_t i = 0; i < s->neps; i++)
        if (!strcmp(s->r->eps[i].name, name))
            return (long)(s->last_ep = i);
    /* a one-endpoint run may leave the column empty */
    return s->r->neps == 1 && !name[0] ? 0 : -1;
}

static int keep_failure(scatter_ep *ep, scatter_pt p, int cls)
{
    ep->failures++;
    if (ep->nfails == SCATTER_FAIL_MAX)
        return 0; /* the columns still hold their extremes */
    if (ep->nfails == ep->fail_cap) {
        size_t cap = ep->fail_cap ? ep->fail_cap * 2 : 1024;
        scatter_pt *f = realloc(ep->fails, cap * sizeof *f);
        if (f)
            ep->fails = f;
        uint8_t *k = realloc(ep->fail_class, cap);
        if (k)
            ep->fail_class = k;
        if (!f || !k)
            return VOLLEY_ENOMEM;
        ep->fail_cap = cap;
    }
    ep->fails[ep->nfails] = p;
    ep->fail_class[ep->nfails++] = (uint8_t)cls;
    return 0;
}

int scatter_add(scatter *s, const csv_request_row *row)
{
    s->rows++;
    long e = find_ep(s, row->endpoint);
    if (e < 0)
        return 0;
    scatter_ep *ep = &s->eps[e];
    ep->rows++;
    double off = row->offset_ms > 0 ? row->offset_ms : 0;
    while (off / s->col_ms >= (double)s->ncols)
        merge_pairs(s);
    size_t col = (size_t)(off / s->col_ms);
    int cls = scatter_class(row->status);
    scatter_pt p = {(float)(off / 1000), (float)row->latency_ms};
    cell_add(&ep->cells[col * SCATTER_NCLASS + (size_t)cls], p);
    if (cls == SCATTER_ERRORS || cls == SCATTER_4XX || cls == SCATTER_5XX)
        return keep_failure(ep, p, cls);
    return 0;
}

static int add_row(const csv_request_row *row, void *ctx)
{
    return scatter_add(ctx, row);
}

int scatter_read_csv(scatter *s, const char *path, err *e)
{
    return csv_scan_requests(path, true, add_row, s, e);
}
