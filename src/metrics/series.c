/* series: per-second rows of a run (see series.h). */
#include "metrics/series.h"

#include "core/err.h"

#include <stdlib.h>

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
