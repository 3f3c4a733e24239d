/* verdict: judging a finished run beyond --threshold - a script's own k6
 * thresholds in volley's terms, and the comparison with a baseline (also
 * `volley compare`) with its --fail-if gates. */
#include "session/session.h"
#include "session/session_parts.h"

#include "core/buf.h"
#include "core/log.h"

#include <stdlib.h>
#include <string.h>

static bool checks_rate(const script_results *sr, const char *expr, char *actual, size_t cap,
                        bool *known)
{
    uint64_t pass = 0, all = 0;
    for (size_t k = 0; k < sr->nchecks; k++) {
        pass += sr->checks[k].passes;
        all += sr->checks[k].passes + sr->checks[k].fails;
    }
    double rate = all ? (double)pass / (double)all : 0, v;
    char op[3] = "";
    if (sscanf(expr, "rate%2[<>=!]%lf", op, &v) != 2) {
        *known = false;
        return false;
    }
    snprintf(actual, cap, "%.4f", rate);
    return !strcmp(op, ">") ? rate > v : !strcmp(op, ">=") ? rate >= v
         : !strcmp(op, "<") ? rate < v : !strcmp(op, "<=") ? rate <= v : rate == v;
}

/* http_req_duration -> latency (bare numbers are ms, as in k6),
 * http_req_failed -> errors. */
static bool http_metric(const script_threshold *t, const results *r, char *expr, size_t ecap,
                        char *actual, size_t cap, bool *known)
{
    bool dur = t->metric[9] == 'd';
    const char *x = t->expr;
    size_t n = strlen(x);
    bool bare = n && (x[n - 1] >= '0' && x[n - 1] <= '9');
    if (dur)
        snprintf(expr, ecap, "%s%s", x, bare ? "ms" : "");
    else if (!strncmp(x, "rate", 4))
        snprintf(expr, ecap, "errors%s", x + 4);
    else
        snprintf(expr, ecap, "%s", x);
    threshold th;
    err e = {0};
    if (threshold_parse(expr, &th, &e)) {
        *known = false;
        return false;
    }
    threshold_input in = {.tot = &r->st.tot, .elapsed_ns = r->st.elapsed_ns};
    memcpy(in.dist, r->st.dist, sizeof in.dist);
    double a = threshold_actual(&th, &in);
    threshold_format_actual(&th, a, actual, cap);
    return threshold_check(&th, a);
}

static void add_verdict(results *r, const char *expr, bool ok, const char *actual)
{
    results_threshold *v = realloc(r->thresholds, (r->nthresholds + 1) * sizeof *v);
    if (!v)
        return;
    r->thresholds = v;
    v = &r->thresholds[r->nthresholds++];
    snprintf(v->expr, sizeof v->expr, "%.255s", expr);
    v->ok = ok;
    snprintf(v->actual_text, sizeof v->actual_text, "%s", actual);
}

void session_script_thresholds(const script_results *sr, results *r)
{
    for (size_t i = 0; i < sr->nthresholds; i++) {
        const script_threshold *t = &sr->thresholds[i];
        char expr[512], actual[32] = "";
        bool ok = false, known = true;
        if (!strcmp(t->metric, "checks")) {
            ok = checks_rate(sr, t->expr, actual, sizeof actual, &known);
            snprintf(expr, sizeof expr, "checks:%s", t->expr);
        } else if (!strcmp(t->metric, "http_req_duration") ||
                   !strcmp(t->metric, "http_req_failed")) {
            ok = http_metric(t, r, expr, sizeof expr, actual, sizeof actual, &known);
        } else {
            known = false;
        }
        if (!known)
            log_warn("threshold %s: %s is not evaluated by volley", t->metric, t->expr);
        else
            add_verdict(r, expr, ok, actual);
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
