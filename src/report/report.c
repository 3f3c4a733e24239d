/* report: see report.h. summary.csv (results/csv), junit.xml, latency.hgrm
 * and metrics.prom (report/ciexport), the chart set (report/chart, with
 * requests.csv reduced by report/scatter) written as PNG/SVG under charts/,
 * and report.html (report/html) that embeds the same charts. */
#include "report/report.h"

#include "core/fileio.h"
#include "report/chart.h"
#include "report/ciexport.h"
#include "report/html.h"
#include "report/scatter.h"
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

/* junit.xml, latency.hgrm, metrics.prom (report/ciexport). */
static int write_exports(const results *r, const report_opts *o, err *e)
{
    static const struct {
        unsigned bit;
        const char *file;
    } ex[] = {{REPORT_FMT_JUNIT, "junit.xml"},
              {REPORT_FMT_HGRM, "latency.hgrm"},
              {REPORT_FMT_PROM, "metrics.prom"}};
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        if (!(o->formats & ex[i].bit))
            continue;
        buf b = {0};
        int rc = ex[i].bit == REPORT_FMT_JUNIT  ? ciexport_junit(r, &b)
                 : ex[i].bit == REPORT_FMT_HGRM ? ciexport_hgrm(r->st.latency, &b)
                                                : ciexport_prom(r, &b);
        char path[PATH_CAP + 64];
        snprintf(path, sizeof path, "%s/%s", o->out_dir, ex[i].file);
        if (rc)
            rc = err_set(e, rc, "%s: out of memory", path);
        else if (!(rc = file_write_atomic(path, b.data, b.len, e)))
            say(o, path);
        buf_free(&b);
        if (rc)
            return rc;
    }
    return 0;
}

/* requests.csv reduced for the scatter charts; false without one (or a bad
 * one: optional input, the charts fall back to per-second data). */
static bool read_scatter(scatter *sc, const report_opts *o)
{
    char path[PATH_CAP + 64];
    struct stat st;
    snprintf(path, sizeof path, "%s/requests.csv", o->src_dir ? o->src_dir : o->out_dir);
    if (stat(path, &st) != 0)
        return false;
    err ce = {0};
    if (!scatter_read_csv(sc, path, &ce))
        return true;
    fprintf(stderr, "%s: warning: %s (scatter charts skipped)\n", o->who ? o->who : "volley",
            ce.msg);
    return false;
}

/* Charts (and the HTML that embeds them) from r and requests.csv. */
static int write_visuals(const results *r, const report_opts *o, err *e)
{
    scatter sc;
    int rc = scatter_init(&sc, r, 0, e);
    if (rc)
        return rc;
    bool have_sc = read_scatter(&sc, o);
    chart_set cs;
    rc = chart_build_all(r, have_sc ? &sc : NULL, &cs, e);
    scatter_free(&sc);
    if (rc)
        return rc;
    if (o->formats & (REPORT_FMT_PNG | REPORT_FMT_SVG))
        rc = write_charts(&cs, o, e);
    if (!rc && (o->formats & REPORT_FMT_HTML)) {
        char path[PATH_CAP + 64];
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
        if (r->script.nnames) { /* a script's per-name rows */
            snprintf(path, sizeof path, "%s/names.csv", o->out_dir);
            if ((rc = csv_write_names(r, path, e)))
                return rc;
            say(o, path);
        }
    }
    if ((rc = write_exports(r, o, e)))
        return rc;
    if (!(o->formats & (REPORT_FMT_PNG | REPORT_FMT_SVG | REPORT_FMT_HTML)))
        return 0;
    return write_visuals(r, o, e);
}
