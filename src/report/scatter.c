/* scatter: the streaming reduction of requests.csv for report/chart's
 * per-endpoint scatter (see scatter.h). Columns start at the run's elapsed
 * time / ncols; a row beyond the last column merges neighbouring columns
 * pairwise (min of the mins, max of the maxes), so memory never grows. */
#include "report/scatter.h"

#include "core/clock.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Adds the extremes of cell b to a; an empty b adds nothing (its
 * infinities must not become a's extremes). */
static void cell_merge(scatter_cell *a, const scatter_cell *b)
{
    if (b->lo.y_ms > b->hi.y_ms)
        return;
    cell_add(a, b->lo);
    cell_add(a, b->hi);
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
                cell_merge(&m, &c[(2 * i + 1) * SCATTER_NCLASS + (size_t)k]);
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

/* Folds b (the same results, read from a later part of the file) into a:
 * both at the coarser column width, cells combined, b's failures after
 * a's (file order). */
static int merge_into(scatter *a, scatter *b)
{
    while (a->col_ms < b->col_ms)
        merge_pairs(a);
    while (b->col_ms < a->col_ms)
        merge_pairs(b);
    a->rows += b->rows;
    for (size_t e = 0; e < a->neps; e++) {
        scatter_ep *x = &a->eps[e], *y = &b->eps[e];
        for (size_t i = 0; i < a->ncols * SCATTER_NCLASS; i++)
            cell_merge(&x->cells[i], &y->cells[i]);
        x->rows += y->rows;
        uint64_t failures = x->failures + y->failures;
        for (size_t i = 0; i < y->nfails; i++)
            if (keep_failure(x, y->fails[i], y->fail_class[i]))
                return VOLLEY_ENOMEM;
        x->failures = failures;
    }
    return 0;
}

typedef struct part_job {
    scatter sc;
    const char *path;
    int rc;
    err e;
} part_job;

static void *read_part(void *p)
{
    part_job *j = p;
    j->rc = csv_scan_requests_part(j->path, true, 1, 2, add_row, &j->sc, &j->e);
    return NULL;
}

/* Files this big are read by two threads, each half of it (about 1.2M
 * rows and up; a 10M-row file then takes half the wall time). */
#define PARALLEL_BYTES (64u << 20)

int scatter_read_csv(scatter *s, const char *path, err *e)
{
    struct stat st;
    bool big = stat(path, &st) == 0 && (uint64_t)st.st_size >= PARALLEL_BYTES &&
               sysconf(_SC_NPROCESSORS_ONLN) > 1;
    return scatter_read_csv_split(s, path, big, e);
}

int scatter_read_csv_split(scatter *s, const char *path, bool split, err *e)
{
    part_job *j = NULL;
    pthread_t th;
    bool two = split && (j = calloc(1, sizeof *j)) && scatter_init(&j->sc, s->r, s->ncols, e) == 0;
    if (two) {
        j->path = path;
        two = pthread_create(&th, NULL, read_part, j) == 0;
        if (!two)
            scatter_free(&j->sc);
    }
    int rc = csv_scan_requests_part(path, true, 0, two ? 2 : 1, add_row, s, e);
    if (two) {
        pthread_join(th, NULL);
        if (!rc && j->rc)
            *e = j->e, rc = j->rc;
        if (!rc)
            rc = merge_into(s, &j->sc);
        if (rc == VOLLEY_ENOMEM && !e->msg[0])
            err_set(e, rc, "scatter: out of memory");
        scatter_free(&j->sc);
    }
    free(j);
    return rc;
}
