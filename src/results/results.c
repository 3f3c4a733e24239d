/* results: a run's outcome in memory (see results.h). */
#include "results/results.h"

#include "core/clock.h"
#include "core/err.h"

#include <string.h>

int results_init(results *r)
{
    memset(r, 0, sizeof *r);
    series_init(&r->sec);
    r->latency = hist_new();
    r->service = hist_new();
    r->ttfb = hist_new();
    r->connect = hist_new();
    if (!r->latency || !r->service || !r->ttfb || !r->connect) {
        results_free(r);
        return VOLLEY_ENOMEM;
    }
    return 0;
}

void results_free(results *r)
{
    hist_free(r->latency);
    hist_free(r->service);
    hist_free(r->ttfb);
    hist_free(r->connect);
    r->latency = r->service = r->ttfb = r->connect = NULL;
    series_free(&r->sec);
}

double results_rps(const results *r)
{
    if (!r->elapsed_ns)
        return 0;
    return (double)r->tot.requests / ((double)r->elapsed_ns / NS_PER_S);
}
