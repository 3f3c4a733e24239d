/* report: see report.h. summary.csv (results/csv), the chart set
 * (report/chart) written as PNG/SVG under charts/, and report.html
 * (report/html) that embeds the same charts. */
#include "report/report.h"

#include "report/chart.h"
#include "report/html.h"
#include "results/csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PATH_CAP 4200

static int mkdirs(const char *path)
{
    char tmp[PATH_CAP];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static void say(const report_opts *o, const char *path)
{
    if (o->said)
        fprintf(o->said, "  wrote %s\n", path);
}

static int write_charts(const chart_set *cs, const report_opts *o, err *e)
{
    char dir[PATH_CAP + 16], path[PATH_CAP + 128];
    snprintf(dir, sizeof dir, "%s/charts", o->out_dir);
    if (mkdirs(dir))
        return err_sys(e, "cannot create '%s'", dir);
    for (size_t i = 0; i < cs->n; i++) {
        int rc;
        if (o->formats & REPORT_FMT_PNG) {
            snprintf(path, sizeof path, "%s/%s.png", dir, cs->items[i].stem);
            if ((rc = chart_write_png(cs->items[i].fig, path, o->width, o->height, e)))
                return rc;
            say(o, path);
        }
        if (o->formats & REPORT_FMT_SVG) {
            snprintf(path, sizeof path, "%s/%s.svg", dir, cs->items[i].stem);
            if ((rc = chart_write_svg(cs->items[i].fig, path, o->width, o->height, e)))
                return rc;
            say(o, path);
        }
    }
    return 0;
}

/* Charts (and the HTML that embeds them) from r and requests.csv. */
static int write_visuals(const results *r, const report_opts *o, err *e)
{
    char path[PATH_CAP + 64];
    csv_request_row *rows = NULL;
    size_t n = 0;
    struct stat st;
    snprintf(path, sizeof path, "%s/requests.csv", o->src_dir ? o->src_dir : o->out_dir);
    if (stat(path, &st) == 0) {
        err ce = {0};
        /* Optional input: charts fall back to per-second data without it. */
        if (csv_read_requests(path, &rows, &n, &ce))
            fprintf(stderr, "%s: warning: %s (scatter charts skipped)\n",
                    o->who ? o->who : "volley", ce.msg);
    }
    chart_set cs;
    int rc = chart_build_all(r, rows, n, &cs, e);
    free(rows);
    if (rc)
        return rc;
    if (o->formats & (REPORT_FMT_PNG | REPORT_FMT_SVG))
        rc = write_charts(&cs, o, e);
    if (!rc && (o->formats & REPORT_FMT_HTML)) {
        snprintf(path, sizeof path, "%s/report.html", o->out_dir);
        if (!(rc = html_write(r, &cs, o->width, o->height, path, e)))
            say(o, path);
    }
    chart_set_free(&cs);
    return rc;
}

int report_write(const results *r, const report_opts *o, err *e)
{
    if (!(o->formats & ~(unsigned)REPORT_FMT_TXT))
        return 0;
    if (mkdirs(o->out_dir))
        return err_sys(e, "cannot create '%s'", o->out_dir);
    char path[PATH_CAP + 64];
    int rc;
    if (o->formats & REPORT_FMT_CSV) {
        snprintf(path, sizeof path, "%s/summary.csv", o->out_dir);
        if ((rc = csv_write_summary(r, path, e)))
            return rc;
        say(o, path);
    }
    if (!(o->formats & (REPORT_FMT_PNG | REPORT_FMT_SVG | REPORT_FMT_HTML)))
        return 0;
    return write_visuals(r, o, e);
}
