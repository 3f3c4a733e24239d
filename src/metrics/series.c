/* series: per-second rows of a run (see series.h). */
#include "metrics/series.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>

/* Status classes first (the order of status_class[]), then the error kinds
 * (the order of err_kind; tests/unit/test_series.c checks the names). */
static const char *const breakdown_names[SERIES_NBREAKDOWN] = {
    "status_other",           "status_1xx",           "status_2xx",
    "status_3xx",             "status_4xx",           "status_5xx",
    "errors_connect_refused", "errors_connect_timeout", "errors_connect_error",
    "errors_timeout",         "errors_reset",         "errors_parse_error",
    "errors_closed_early",    "errors_tls_error",     "errors_cancelled",
    "errors_stale_connection"};

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

int series_append(series *s, const series_row *row)
{
    if (s->len == s->cap) {
        size_t n = s->cap ? s->cap * 2 : 64;
        series_row *r = realloc(s->rows, n * sizeof *r);
        if (!r)
            return VOLLEY_ENOMEM;
        s->rows = r;
        s->cap = n;
    }
    s->rows[s->len++] = *row;
    return 0;
}

const series_row *series_last(const series *s)
{
    return s->len ? &s->rows[s->len - 1] : NULL;
}

const char *series_breakdown_name(size_t i)
{
    return i < SERIES_NBREAKDOWN ? breakdown_names[i] : NULL;
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
        if (!strcmp(name, breakdown_names[i]))
            return (int)i;
    return -1;
}
