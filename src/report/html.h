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

/* The frame of report.html (CSP, style, the sorting script) for other
 * pages with the same look (`volley compare --html`): open appends the head
 * up to <main>, close the rest. Tables with class "sortable" sort on a
 * click; td.t is text, td.better/td.worse a verdict. */
void html_page_open(buf *b, const char *title);
void html_page_close(buf *b);
/* Appends figure f drawn at w x h as inline SVG in a <figure id=ID> with
 * its caption; idx keeps its SVG ids apart from the page's other charts. */
int html_figure(buf *b, const chart_fig *f, int w, int h, size_t idx, const char *id,
                const char *caption, err *e);
/* Appends s escaped for HTML text and attributes. */
void html_escape(buf *b, const char *s);

#endif
