/* html: the self-contained HTML report of a run: summary, endpoint, step,
 * latency, status and error tables, the plan, and every chart of
 * report/chart inlined as SVG. No external resource of any kind (no fonts,
 * scripts or styles from the network; a CSP forbids them), so the file can
 * be mailed or archived and opened anywhere. */
#ifndef VOLLEY_HTML_H
#define VOLLEY_HTML_H

#include "core/buf.h"
#include "core/err.h"
#include "report/chart.h"
#include "results/results.h"

/* Appends the report to out, with charts (may be NULL: no charts) drawn
 * at w x h. */
int html_render(const results *r, const chart_set *charts, int w, int h, buf *out, err *e);

/* Writes the report to path (temp file + rename) with the given charts. */
int html_write(const results *r, const chart_set *charts, int w, int h, const char *path,
               err *e);

/* The whole job: charts at the default size, with the per-request scatter
 * when dir_of_results/requests.csv exists (dir_of_results may be NULL). */
int html_write_report(const results *r, const char *dir_of_results, const char *path, err *e);

#endif
