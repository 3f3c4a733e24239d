/* chart_search: the figure of `volley find-max` - latency and failures
 * against the target rate of each step, with the SLO line, the found
 * maximum and the knee marked. Built on report/chart's model. */
#ifndef VOLLEY_CHART_SEARCH_H
#define VOLLEY_CHART_SEARCH_H

#include "core/err.h"
#include "load/search.h"
#include "report/chart.h"

/* slo_ms > 0 draws the SLO's latency bound. Returns NULL (e) on ENOMEM. */
chart_fig *chart_search_figure(const search *s, double slo_ms, err *e);

#endif
