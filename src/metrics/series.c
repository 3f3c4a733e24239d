/* series: per-second rows of a run (see series.h). */
#include "metrics/series.h"

#include "core/err.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Status classes first (the order of status_class[]), then "errors_" and
 * each error kind's name (the order of err_kind[]), made once from
 * metrics_err_kind_name so a new kind gets its column. */
static const char *const class_names[METRICS_STATUS_CLASSES] = {
    "status_other", "status_1xx", "status_2xx", "status_3xx", "status_4xx", "status_5xx"};
static char kind_cols[ERRK_COUNT][64];
static pthread_once_t kind_cols_once = PTHREAD_ONCE_INIT;

static void make_kind_cols(void)
{
    for (int k = 0; k < ERRK_COUNT; k++)
        snprintf(kind_cols[k], sizeof kind_cols[k], "errors_%s", metrics_err_kind_name((err_kind)k));
}

void series_init(series *s)
{
    s->rows = NULL;
    s->len = s->cap = 0;
}

void series_free(series *s)
{
    free(s->rows);
    series_init(s);
}

int series_reserve(series *s, size_t rows)
{
    if (rows <= s->cap)
        return 0;
    series_row *r = realloc(s->rows, rows * sizeof *r);
    if (!r)
        return VOLLEY_ENOMEM;
    s->rows = r;
    s->cap = rows;
    return 0;
}

int series_append(series *s, const series_row *row)
{
    if (s->len == s->cap && series_reserve(s, s->cap ? s->cap * 2 : 64))
        return VOLLEY_ENOMEM;
    s->rows[s->len++] = *row;
    return 0;
}

const series_row *series_last(const series *s)
{
    return s->len ? &s->rows[s->len - 1] : NULL;
}

bool series_has_ws(const series *s)
{
    for (size_t i = 0; i < s->len; i++) {
        const series_row *w = &s->rows[i];
        if (w->ws_opened || w->ws_closed || w->ws_sent || w->ws_received || w->ws_open ||
            w->ws_rtts)
            return true;
    }
    return false;
}

const char *series_breakdown_name(size_t i)
{
    if (i < METRICS_STATUS_CLASSES)
        return class_names[i];
    if (i >= SERIES_NBREAKDOWN)
        return NULL;
    pthread_once(&kind_cols_once, make_kind_cols);
    return kind_cols[i - METRICS_STATUS_CLASSES];
}

uint64_t *series_breakdown_field(series_row *r, size_t i)
{
    if (i < METRICS_STATUS_CLASSES)
        return &r->status_class[i];
    return i < SERIES_NBREAKDOWN ? &r->err_kind[i - METRICS_STATUS_CLASSES] : NULL;
}

int series_breakdown_find(const char *name)
{
    for (size_t i = 0; i < SERIES_NBREAKDOWN; i++)
        if (!strcmp(name, series_breakdown_name(i)))
            return (int)i;
    return -1;
}
