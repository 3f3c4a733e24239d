/* verdict: judging a finished run beyond --threshold - a script's own k6
 * thresholds in volley's terms, and the comparison with a baseline (also
 * `volley compare`) with its --fail-if gates. */
#include "session/session.h"
#include "session/session_parts.h"

#include "core/buf.h"
#include "core/log.h"
#include "script/k6thr.h"

#include <stdlib.h>
#include <string.h>

/* value: in the metric's own unit (ms for time, a fraction for rates);
 * 0 with "no data". */
static void add_verdict(results *r, const char *expr, bool ok, double value, const char *actual)
{
    results_threshold *v = realloc(r->thresholds, (r->nthresholds + 1) * sizeof *v);
    if (!v)
        return;
    r->thresholds = v;
    v = &r->thresholds[r->nthresholds++];
    memset(v, 0, sizeof *v);
    v->actual = value;
    snprintf(v->expr, sizeof v->expr, "%.255s", expr);
    v->ok = ok;
    snprintf(v->actual_text, sizeof v->actual_text, "%s", actual);
}

/* A script's k6 thresholds (script/k6thr), judged on the finished run; one
 * that failed live (abortOnFail) stays failed with the value that stopped
 * the run. Verdicts are named "metric{tags}: expr". */
void session_script_thresholds(const script_results *sr, results *r)
{
    k6thr_custom custom[256];
    size_t nc = 0;
    for (size_t i = 0; i < sr->nmetrics && nc < 256; i++)
        custom[nc++] = (k6thr_custom){sr->metrics[i].name, sr->metrics[i].kind};
    for (size_t i = 0; i < sr->nthresholds; i++) {
        const script_threshold *st = &sr->thresholds[i];
        char expr[400], actual[32];
        snprintf(expr, sizeof expr, "%s: %s", st->metric, st->expr);
        k6thr t;
        err e = {0};
        if (k6thr_parse(st->metric, st->expr, custom, nc, &t, &e)) {
            /* A custom metric declared but never added to: no data. */
            add_verdict(r, expr, false, 0, "no data");
            continue;
        }
        double v;
        bool no_data = false;
        bool ok = k6thr_eval(&t, sr, r, &v, &no_data);
        if (st->aborted) {
            ok = false;
            v = st->abort_actual;
            no_data = false;
        }
        if (no_data)
            snprintf(actual, sizeof actual, "no data");
        else
            snprintf(actual, sizeof actual, "%.4g%s", v,
                     t.time ? "ms" : "");
        add_verdict(r, expr, ok, no_data ? 0 : v, actual);
    }
}

int session_compare_report(const char *base_path, const char *new_path, const results *base,
                           const results *cur, const session_compare *o)
{
    cmp_report c;
    err e = {0};
    if (compare_results(base, cur, &c, &e)) {
        fprintf(stderr, "volley compare: %s\n", e.msg);
        return 1;
    }
    int rc = 0;
    if (o->json) {
        buf b = {0};
        if (compare_json(&c, base_path, new_path, &b, &e) == 0)
            fwrite(b.data, 1, b.len, o->out);
        buf_free(&b);
    } else {
        compare_print(o->out, &c, base_path, new_path);
    }
    if (o->html && compare_html(base, cur, &c, base_path, new_path, o->html, &e)) {
        fprintf(stderr, "volley compare: %s\n", e.msg);
        rc = 1;
    }
    for (size_t i = 0; i < o->ngates; i++) {
        char why[256];
        if (compare_gate_fails(&o->gates[i], &c, why, sizeof why)) {
            fprintf(stderr, "volley compare: FAIL %s\n", why);
            rc = SESSION_EXIT_THRESHOLDS;
        }
    }
    compare_free(&c);
    return rc;
}
