/* html: report.html from a results struct (cmd/report): tables built here,
 * charts from report/chart drawn to SVG in memory and inlined (their ids
 * prefixed per chart, since cairo numbers glyphs and clips the same way in
 * every SVG), inline CSS and a few lines of JS to sort tables. */
#include "report/html.h"

#include "core/fileio.h"

#include "core/clock.h"
#include "core/parse.h"
#include "report/summary.h"
#include "results/csv.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef VOLLEY_VERSION
#define VOLLEY_VERSION "0.1.0"
#endif

typedef struct out {
    buf *b;
    int rc;
} out;

static void put(out *o, const char *s)
{
    if (!o->rc && buf_append(o->b, s, strlen(s)))
        o->rc = VOLLEY_ENOMEM;
}

static void putf(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(out *o, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof tmp) {
        /* Rare (a long URL): format again into the buffer itself. */
        if (!o->rc && buf_reserve(o->b, (size_t)n + 1))
            o->rc = VOLLEY_ENOMEM;
        if (o->rc)
            return;
        va_start(ap, fmt);
        vsnprintf(buf_wpos(o->b), (size_t)n + 1, fmt, ap);
        va_end(ap);
        o->b->len += (size_t)n;
        return;
    }
    put(o, tmp);
}

/* Text content and attribute values. */
static void esc(out *o, const char *s)
{
    for (; *s && !o->rc; s++) {
        switch (*s) {
        case '&': put(o, "&amp;"); break;
        case '<': put(o, "&lt;"); break;
        case '>': put(o, "&gt;"); break;
        case '"': put(o, "&quot;"); break;
        case '\'': put(o, "&#39;"); break;
        default:
            if (buf_append(o->b, s, 1))
                o->rc = VOLLEY_ENOMEM;
        }
    }
}

static const char css[] =
    "*{box-sizing:border-box}"
    "body{font:14px/1.45 -apple-system,'Segoe UI','DejaVu Sans',Arial,sans-serif;color:#222;"
    "margin:0;background:#f6f7f9}"
    "main{max-width:1400px;margin:0 auto;padding:20px 16px 40px}"
    "h1{font-size:24px;margin:8px 0 2px;overflow-wrap:anywhere}h3{font-size:15px;margin:18px 0 6px}h2{font-size:18px;margin:28px 0 10px;"
    "border-bottom:1px solid #ddd;padding-bottom:4px}"
    ".sub{color:#666;margin:0 0 12px;word-break:break-all}"
    ".cards{display:flex;flex-wrap:wrap;gap:10px}"
    ".card{background:#fff;border:1px solid #e2e4e8;border-radius:6px;padding:10px 14px;"
    "min-width:150px}"
    ".card b{display:block;font-size:20px}.card span{color:#666;font-size:12px}"
    ".warn{background:#fff4e5;border:1px solid #f0b46a;border-radius:6px;padding:8px 12px;"
    "margin:10px 0}"
    ".scroll{overflow-x:auto}"
    "table{border-collapse:collapse;background:#fff;border:1px solid #e2e4e8;margin:6px 0}"
    "th,td{padding:4px 5px;font-size:13px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}"
    "td.n{white-space:normal;overflow-wrap:anywhere;min-width:160px;max-width:280px}"
    "td.n small{display:block;color:#666;font-size:11px}"
    "p.cmd code{background:#fff;border:1px solid #e2e4e8;border-radius:4px;padding:3px 6px;"
    "display:inline-block;overflow-wrap:anywhere;font-size:12px}"
    ".pass,.better{color:#1a7f37;font-weight:600}.fail,.worse{color:#cf222e;font-weight:600}"
    "th{background:#f0f2f5;font-weight:600;cursor:pointer;user-select:none}"
    "th.s-asc:after{content:' \\25B2'}th.s-desc:after{content:' \\25BC'}"
    "td.t,th.t{text-align:left}td.u{max-width:420px;overflow:hidden;text-overflow:ellipsis}"
    "tr.total td{font-weight:600;background:#fafbfc}"
    "figure{background:#fff;border:1px solid #e2e4e8;border-radius:6px;margin:0 0 16px;"
    "padding:8px}"
    "figure svg{display:block;width:100%;height:auto}"
    "figcaption{color:#555;font-size:13px;padding:4px 6px}"
    "footer{color:#888;font-size:12px;margin-top:30px}";

/* Click a header to sort by it; cells with data-v sort by that number.
 * The last line tells tests (and people) that the page ran to the end. */
static const char js[] =
    "(function(){\n"
    "function key(td){var v=td.getAttribute('data-v');"
    "return v===null?td.textContent:parseFloat(v);}\n"
    "document.querySelectorAll('table.sortable').forEach(function(t){\n"
    " t.querySelectorAll('th').forEach(function(th,i){\n"
    "  th.addEventListener('click',function(){\n"
    "   var asc=!th.classList.contains('s-asc');\n"
    "   t.querySelectorAll('th').forEach(function(h){h.classList.remove('s-asc','s-desc');});\n"
    "   th.classList.add(asc?'s-asc':'s-desc');\n"
    "   var tb=t.tBodies[0],rows=Array.prototype.slice.call(tb.rows);\n"
    "   rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);\n"
    "    var c=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));\n"
    "    return asc?c:-c;});\n"
    "   rows.forEach(function(r){tb.appendChild(r);});\n"
    "  });\n"
    " });\n"
    "});\n"
    "var svgs=document.querySelectorAll('figure svg'),ok=0;\n"
    "svgs.forEach(function(s){var b=s.getBoundingClientRect();if(b.width>0&&b.height>0)ok++;});\n"
    "document.body.setAttribute('data-charts-rendered',ok+'/'+svgs.length);\n"
    "})();\n";

/* ---- cells ----------------------------------------------------------------------- */

static void td_text(out *o, const char *s, const char *cls)
{
    putf(o, "<td class=\"%s\">", cls);
    esc(o, s);
    put(o, "</td>");
}

static void td_u64(out *o, uint64_t v)
{
    putf(o, "<td data-v=\"%llu\">%llu</td>", (unsigned long long)v, (unsigned long long)v);
}

static void td_num(out *o, double v, int dec, const char *suffix)
{
    if (!isfinite(v)) {
        put(o, "<td data-v=\"-1\">-</td>");
        return;
    }
    putf(o, "<td data-v=\"%.6f\">%.*f%s</td>", v, dec, v, suffix);
}

static void td_dur(out *o, uint64_t ns, bool empty)
{
    if (empty) {
        put(o, "<td data-v=\"-1\">-</td>");
        return;
    }
    char t[32];
    parse_format_duration(ns, t, sizeof t);
    putf(o, "<td data-v=\"%llu\">%s</td>", (unsigned long long)ns, t);
}

static void td_bytes(out *o, uint64_t v)
{
    char t[32];
    summary_format_bytes((double)v, t, sizeof t);
    putf(o, "<td data-v=\"%llu\">%s</td>", (unsigned long long)v, t);
}

/* An endpoint's whole name, and under it its method and URL, wrapping:
 * no column is wasted on them, so the numbers fit 1,400 px. */
static void td_endpoint(out *o, const char *name, const char *method, const char *url)
{
    put(o, "<td class=\"t n\">");
    esc(o, name);
    if (method[0] || url[0]) {
        put(o, "<small>");
        esc(o, method);
        put(o, " ");
        esc(o, url);
        put(o, "</small>");
    }
    put(o, "</td>");
}

static double pct(uint64_t n, uint64_t of)
{
    return of ? 100.0 * (double)n / (double)of : NAN;
}

static double ok_pct(const metrics_totals *t)
{
    return t->requests ? metrics_ok_pct(t) : pct(0, 0);
}

static double rps(const results_stats *s, uint64_t parent_ns)
{
    uint64_t el = s->elapsed_ns ? s->elapsed_ns : parent_ns;
    return el ? (double)s->tot.requests / ((double)el / NS_PER_S) : 0;
}

/* ---- sections -------------------------------------------------------------------- */

static void card(out *o, const char *value, const char *label)
{
    put(o, "<div class=\"card\"><b>");
    esc(o, value);
    put(o, "</b><span>");
    esc(o, label);
    put(o, "</span></div>");
}

/* What the run was, in a few words: its label, the script, the one
 * endpoint, or how many endpoints (never just the first one's URL). */
static void run_name(const results *r, char *dst, size_t cap)
{
    const results_plan *p = &r->plan;
    if (p->label[0])
        snprintf(dst, cap, "%s", p->label);
    else if (r->script.present || !strcmp(p->mode, "script"))
        snprintf(dst, cap, "script %s", p->url);
    else if (r->neps > 1)
        snprintf(dst, cap, "%zu endpoints (%s)", r->neps, p->mode);
    else
        snprintf(dst, cap, "%s %s", p->method, p->url);
}

static void head_section(out *o, const results *r)
{
    const results_plan *p = &r->plan;
    char t[64], d[32], name[4400], plan[1024];
    run_name(r, name, sizeof name);
    put(o, "<h1>");
    esc(o, name);
    put(o, "</h1>");
    if (p->command[0]) {
        put(o, "<p class=\"cmd\"><code>");
        esc(o, p->command);
        put(o, "</code></p>");
    }
    put(o, "<p class=\"sub\">");
    summary_plan_text(r, plan, sizeof plan);
    esc(o, plan);
    clock_format_rfc3339(r->start_wall_ns, t, sizeof t);
    parse_format_duration(r->st.elapsed_ns, d, sizeof d);
    putf(o, " &middot; started %s &middot; ran %s</p>", t, d);
    if (r->interrupted)
        put(o, "<div class=\"warn\">The run was interrupted (Ctrl-C or a signal): the numbers "
               "cover only the time it ran.</div>");
    if (r->warning[0]) {
        put(o, "<div class=\"warn\">Warning: ");
        esc(o, r->warning);
        put(o, "</div>");
    }
    if (r->series_overruns)
        putf(o, "<div class=\"warn\">%llu per-second intervals were lost (the main thread "
                "fell behind); totals are not affected.</div>",
             (unsigned long long)r->series_overruns);
    const metrics_totals *tot = &r->st.tot;
    char v[64];
    put(o, "<div class=\"cards\">");
    snprintf(v, sizeof v, "%llu", (unsigned long long)tot->requests);
    card(o, v, "requests");
    snprintf(v, sizeof v, "%.1f", results_rps(r));
    card(o, v, "requests/s");
    double okp = ok_pct(tot);
    snprintf(v, sizeof v, isfinite(okp) ? "%.2f%%" : "-", okp);
    card(o, v, "not failed");
    snprintf(v, sizeof v, "%llu", (unsigned long long)tot->errors);
    card(o, v, "failed");
    bool lat = hist_count(r->st.latency) > 0;
    static const double ps[] = {50, 99};
    for (int i = 0; i < 2; i++) {
        if (lat)
            parse_format_duration(hist_percentile(r->st.latency, ps[i]), v, sizeof v);
        else
            snprintf(v, sizeof v, "-");
        card(o, v, i ? "latency p99" : "latency p50");
    }
    summary_format_bytes((double)tot->bytes_in, v, sizeof v);
    card(o, v, "data in");
    if (tot->dropped) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)tot->dropped);
        card(o, v, "dropped iterations");
    }
    if (tot->h2_conns) { /* HTTP/2: streams per connection, what HPACK saved */
        snprintf(v, sizeof v, "%.1f", (double)tot->h2_responses / (double)tot->h2_conns);
        card(o, v, "HTTP/2 streams per connection");
        summary_format_bytes((double)tot->wire_in, v, sizeof v);
        card(o, v, "on the wire in (frames)");
    }
    if (tot->h2_max_streams) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)tot->h2_max_streams);
        card(o, v, "server stream limit (clamped --max-streams)");
    }
    put(o, "</div>");
}

static void stats_head(out *o, const char *first_cols)
{
    putf(o, "<div class=\"scroll\"><table class=\"sortable\"><thead><tr>%s"
            "<th>requests</th><th>responses</th><th>failed</th><th>not failed</th>"
            "<th>req/s</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>max</th>"
            "<th>mean</th><th>TTFB p50</th><th>TTFB p99</th><th>1st body p50</th><th>bytes in</th><th>dropped</th>"
            "</tr></thead><tbody>",
         first_cols);
}

static void stats_cells(out *o, const results_stats *s, uint64_t parent_ns)
{
    const metrics_totals *t = &s->tot;
    td_u64(o, t->requests);
    td_u64(o, t->responses);
    td_u64(o, t->errors);
    td_num(o, ok_pct(t), 2, "%");
    td_num(o, rps(s, parent_ns), 1, "");
    const hist *h = s->latency;
    bool none = !hist_count(h);
    td_dur(o, hist_percentile(h, 50), none);
    td_dur(o, hist_percentile(h, 90), none);
    td_dur(o, hist_percentile(h, 95), none);
    td_dur(o, hist_percentile(h, 99), none);
    td_dur(o, hist_max(h), none);
    td_dur(o, (uint64_t)hist_mean(h), none);
    bool nt = !hist_count(s->ttfb);
    td_dur(o, hist_percentile(s->ttfb, 50), nt);
    td_dur(o, hist_percentile(s->ttfb, 99), nt);
    const hist *fb = s->dist[METRICS_DIST_FIRST_BODY];
    td_dur(o, hist_percentile(fb, 50), !hist_count(fb));
    td_bytes(o, t->bytes_in);
    td_u64(o, t->dropped);
}

static void endpoints_section(out *o, const results *r)
{
    put(o, "<h2>Endpoints</h2>");
    stats_head(o, "<th class=\"t\">endpoint</th>");
    for (size_t i = 0; i < r->neps; i++) {
        put(o, "<tr>");
        td_endpoint(o, r->eps[i].name, r->eps[i].method, r->eps[i].url);
        stats_cells(o, &r->eps[i].st, r->st.elapsed_ns);
        put(o, "</tr>");
    }
    put(o, "<tr class=\"total\">");
    td_endpoint(o, "total", r->neps ? "" : r->plan.method, r->neps ? "" : r->plan.url);
    stats_cells(o, &r->st, 0);
    put(o, "</tr></tbody></table></div>");
}

static void steps_section(out *o, const results *r)
{
    if (!r->nsteps)
        return;
    put(o, "<h2>Sweep steps</h2>");
    stats_head(o, "<th>step</th><th>target req/s</th><th>target VUs</th>"
                  "<th class=\"t\">endpoint</th>");
    for (size_t i = 0; i < r->nsteps; i++) {
        const results_step *s = &r->steps[i];
        double sum = 0; /* the step's total asks for what its endpoints ask */
        for (size_t k = 0; k <= r->neps; k++) {
            bool total = k == r->neps;
            double target = s->target_rps * results_target_share(r, k);
            sum += total ? 0 : target;
            put(o, total ? "<tr class=\"total\">" : "<tr>");
            td_u64(o, s->index);
            td_num(o, total && r->neps ? sum : target, 2, "");
            td_u64(o, s->target_vus);
            td_text(o, total ? "total" : s->eps[k].name, "t");
            stats_cells(o, total ? &s->st : &s->eps[k].st, s->st.elapsed_ns);
            put(o, "</tr>");
        }
    }
    put(o, "</tbody></table></div>");
}

/* The server under test: its cost per sweep step, and --cold's first
 * request beside the warm load. */
static void server_section(out *o, const results *r)
{
    bool steps = r->monitor.pid && r->nsteps;
    if (!steps && !r->cold.measured)
        return;
    put(o, "<h2>Server under test</h2>");
    if (r->cold.measured) {
        const results_cold *c = &r->cold;
        putf(o, "<p class=\"cold\">Cold start: %.1f ms from --exec to the first %d response "
                "(ready after %.1f ms, %u attempt%s); that first request took %.2f ms. The "
                "tables above are the warm load that followed.</p>",
             c->start_ms, c->status, c->ready_ms, c->attempts, c->attempts == 1 ? "" : "s",
             c->first_ms);
    }
    if (!steps)
        return;
    put(o, "<div class=\"scroll\"><table class=\"sortable\"><thead><tr><th>step</th>"
           "<th>target req/s</th><th>server CPU % (mean)</th><th>server RSS (peak)</th>"
           "</tr></thead><tbody>");
    for (size_t i = 0; i < r->nsteps; i++) {
        double cpu;
        uint64_t rss;
        char b[32] = "-";
        bool have = results_step_monitor(r, &r->steps[i], &cpu, &rss);
        if (have)
            summary_format_bytes((double)rss, b, sizeof b);
        put(o, "<tr>");
        td_u64(o, r->steps[i].index);
        td_num(o, r->steps[i].target_rps, 2, "");
        if (have)
            td_num(o, cpu, 1, "");
        else
            td_text(o, "-", "");
        td_text(o, b, "");
        put(o, "</tr>");
    }
    put(o, "</tbody></table></div>");
}

static void hist_row(out *o, const char *name, const hist *h)
{
    static const double ps[] = {50, 75, 90, 95, 99, 99.9, 99.99};
    bool none = !hist_count(h);
    put(o, "<tr>");
    td_text(o, name, "t");
    td_u64(o, hist_count(h));
    td_dur(o, hist_min(h), none);
    td_dur(o, (uint64_t)hist_mean(h), none);
    td_dur(o, (uint64_t)hist_stddev(h), none);
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        td_dur(o, hist_percentile(h, ps[i]), none);
    td_dur(o, hist_max(h), none);
    put(o, "</tr>");
}

static void latency_section(out *o, const results *r)
{
    put(o, "<h2>Timings (whole run)</h2><div class=\"scroll\"><table class=\"sortable\">"
           "<thead><tr><th class=\"t\">measure</th><th>count</th><th>min</th><th>mean</th>"
           "<th>stddev</th><th>p50</th><th>p75</th><th>p90</th><th>p95</th><th>p99</th>"
           "<th>p99.9</th><th>p99.99</th><th>max</th></tr></thead><tbody>");
    bool open = strstr(r->plan.executor, "arrival") != NULL;
    for (int i = 0; i < METRICS_DIST_COUNT; i++)
        if (summary_dist_shown(&r->st, (metrics_dist)i, open))
            hist_row(o, metrics_dists[i].label, r->st.dist[i]);
    put(o, "</tbody></table></div><p class=\"sub\">latency: from the intended start of each "
           "request to its last byte (a timed-out request at its timeout, a lower bound); "
           "service: first byte written to last byte read; ttfb: first byte written to first "
           "byte read; 1st body: first byte written to first body byte (first chunk or event); "
           "latency ok: the requests that did not fail.</p>");
}

static void outcome_row(out *o, const char *name, const results *r, int status, int kind)
{
    put(o, "<tr>");
    td_text(o, name, "t");
    const metrics_totals *t = &r->st.tot;
    uint64_t n = status >= 0 ? t->status[status] : t->err_kind[kind];
    td_u64(o, n);
    td_num(o, pct(n, t->requests), 2, "%");
    for (size_t i = 0; i < r->neps && r->neps > 1; i++) {
        const metrics_totals *et = &r->eps[i].st.tot;
        td_u64(o, status >= 0 ? et->status[status] : et->err_kind[kind]);
    }
    put(o, "</tr>");
}

static void outcome_head(out *o, const results *r, const char *first)
{
    putf(o, "<div class=\"scroll\"><table class=\"sortable\"><thead><tr><th class=\"t\">%s"
            "</th><th>count</th><th>share</th>",
         first);
    for (size_t i = 0; i < r->neps && r->neps > 1; i++) {
        put(o, "<th>");
        esc(o, r->eps[i].name);
        put(o, "</th>");
    }
    put(o, "</tr></thead><tbody>");
}

/* Thresholds as the text summary shows them: verdict, expression, value. */
static void thresholds_section(out *o, const results *r)
{
    if (!r->nthresholds)
        return;
    size_t failed = 0;
    for (size_t i = 0; i < r->nthresholds; i++)
        failed += !r->thresholds[i].ok;
    putf(o, "<h2>Thresholds: %s</h2>", failed ? "FAILED" : "all passed");
    if (r->thresholds_aborted)
        put(o, "<div class=\"warn\">A threshold with abortOnFail failed during the run and "
               "stopped it.</div>");
    put(o, "<table id=\"thresholds\"><thead><tr><th class=\"t\">verdict</th>"
           "<th class=\"t\">threshold</th><th>value</th></tr></thead><tbody>");
    for (size_t i = 0; i < r->nthresholds; i++) {
        const results_threshold *t = &r->thresholds[i];
        put(o, "<tr>");
        td_text(o, t->ok ? "pass" : "FAIL", t->ok ? "t pass" : "t fail");
        char v[64];
        summary_threshold_value(r, t, v, sizeof v);
        td_text(o, t->expr, "t");
        td_text(o, v, "");
        put(o, "</tr>");
    }
    put(o, "</tbody></table>");
}

static void td_ms(out *o, double ms)
{
    td_dur(o, ms > 0 ? (uint64_t)llround(ms * 1e6) : 0, false);
}

static void script_scenarios(out *o, const results_script *s)
{
    put(o, "<h3>Scenarios</h3><div class=\"scroll\"><table class=\"sortable\"><thead><tr>"
           "<th class=\"t\">scenario</th><th class=\"t\">executor</th><th class=\"t\">exec</th>"
           "<th>iterations</th><th>errors</th><th>dropped</th><th>iteration avg</th>"
           "<th>p50</th><th>p95</th><th>max</th><th>ws sessions</th><th>ws sent</th>"
           "<th>ws received</th><th>ws rtt p50</th></tr></thead><tbody>");
    for (size_t i = 0; i < s->nsc; i++) {
        const rs_scenario *c = &s->sc[i];
        put(o, "<tr>");
        td_text(o, c->name, "t n");
        td_text(o, c->executor, "t");
        td_text(o, c->exec, "t");
        td_u64(o, c->iterations);
        td_u64(o, c->iteration_errors);
        td_u64(o, c->dropped);
        td_ms(o, c->it_avg_ms);
        td_ms(o, c->it_p50_ms);
        td_ms(o, c->it_p95_ms);
        td_ms(o, c->it_max_ms);
        td_u64(o, c->ws_sessions);
        td_u64(o, c->ws_sent);
        td_u64(o, c->ws_received);
        td_dur(o, (uint64_t)llround(c->ws_rtt_p50_ms * 1e6), !c->ws_rtt_count);
        put(o, "</tr>");
    }
    put(o, "</tbody></table></div>");
}

/* Locust's per-name rows. */
static void script_names(out *o, const results_script *s)
{
    if (!s->nnames)
        return;
    putf(o, "<h3>Requests by name%s</h3><div class=\"scroll\"><table class=\"sortable\" "
            "id=\"names\"><thead><tr><th class=\"t\">name</th><th>requests</th><th>failures</th>"
            "<th>avg</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>max</th>"
            "<th>TTFB p50</th><th>bytes in</th></tr></thead><tbody>",
         s->names_folded ? " (past 200 names: other)" : "");
    for (size_t i = 0; i < s->nnames; i++) {
        const rs_name *n = &s->names[i];
        put(o, "<tr>");
        td_text(o, n->name, "t n");
        td_u64(o, n->requests);
        td_u64(o, n->failures);
        td_ms(o, n->avg_ms);
        td_ms(o, n->p50_ms);
        td_ms(o, n->p90_ms);
        td_ms(o, n->p95_ms);
        td_ms(o, n->p99_ms);
        td_ms(o, n->max_ms);
        td_ms(o, n->ttfb_p50_ms);
        td_bytes(o, n->bytes_in);
        put(o, "</tr>");
    }
    put(o, "</tbody></table></div>");
}

/* Checks with their group ("group::check"), passes and fails. */
static void script_checks(out *o, const results_script *s)
{
    if (!s->nchecks)
        return;
    put(o, "<h3>Checks</h3><table class=\"sortable\" id=\"checks\"><thead><tr>"
           "<th class=\"t\">group</th><th class=\"t\">check</th><th>passed</th>"
           "<th>passes</th><th>fails</th></tr></thead><tbody>");
    for (size_t i = 0; i < s->nchecks; i++) {
        const rs_check *c = &s->checks[i];
        const char *sep = strstr(c->name, "::");
        char group[160];
        snprintf(group, sizeof group, "%.*s", sep ? (int)(sep - c->name) : 0, c->name);
        put(o, "<tr>");
        td_text(o, group, "t");
        td_text(o, sep ? sep + 2 : c->name, c->fails ? "t fail" : "t pass");
        td_num(o, pct(c->passes, c->passes + c->fails), 2, "%");
        td_u64(o, c->passes);
        td_u64(o, c->fails);
        put(o, "</tr>");
    }
    put(o, "</tbody></table>");
}

static void script_metrics(out *o, const results_script *s)
{
    if (!s->nmetrics)
        return;
    put(o, "<h3>Custom metrics</h3><table id=\"metrics\"><thead><tr><th class=\"t\">metric"
           "</th><th class=\"t\">type</th><th class=\"t\">values</th></tr></thead><tbody>");
    for (size_t i = 0; i < s->nmetrics; i++) {
        char v[256];
        summary_metric_text(&s->metrics[i], v, sizeof v);
        put(o, "<tr>");
        td_text(o, s->metrics[i].name, "t n");
        td_text(o, s->metrics[i].type, "t");
        td_text(o, v, "t");
        put(o, "</tr>");
    }
    put(o, "</tbody></table>");
}

/* What only scripts have: scenarios, names, checks, custom metrics and
 * iteration errors (issue 17: the report shows what the summary shows). */
static void script_section(out *o, const results *r)
{
    const results_script *s = &r->script;
    if (!s->present)
        return;
    put(o, "<h2>Script</h2><p class=\"sub\">");
    esc(o, s->file);
    putf(o, " &middot; %llu iterations, %llu with an error &middot; seed %llu</p>",
         (unsigned long long)s->iterations, (unsigned long long)s->iteration_errors,
         (unsigned long long)s->seed);
    script_scenarios(o, s);
    script_names(o, s);
    script_checks(o, s);
    script_metrics(o, s);
    if (s->nerrors) {
        put(o, "<h3>Iteration errors</h3><table><tbody>");
        for (size_t i = 0; i < s->nerrors; i++) {
            put(o, "<tr>");
            td_u64(o, s->errors[i].count);
            td_text(o, s->errors[i].msg, "t n");
            td_text(o, s->errors[i].where, "t");
            put(o, "</tr>");
        }
        put(o, "</tbody></table>");
    }
}

static void outcomes_section(out *o, const results *r)
{
    const metrics_totals *t = &r->st.tot;
    put(o, "<h2>Responses by status</h2>");
    if (!t->responses) {
        put(o, "<p class=\"sub\">No responses.</p>");
    } else {
        outcome_head(o, r, "status");
        for (int i = 0; i < METRICS_STATUS_MAX; i++) {
            if (!t->status[i])
                continue;
            char k[16];
            snprintf(k, sizeof k, "%d", i);
            outcome_row(o, k, r, i, 0);
        }
        put(o, "</tbody></table></div>");
    }
    put(o, "<h2>Transport errors by kind</h2>");
    if (!t->transport_errors) {
        put(o, "<p class=\"sub\">No errors: every request got a complete response.</p>");
        return;
    }
    outcome_head(o, r, "kind");
    for (int i = 0; i < ERRK_COUNT; i++)
        if (t->err_kind[i])
            outcome_row(o, metrics_err_kind_name((err_kind)i), r, -1, i);
    put(o, "</tbody></table></div>");
}

/* Copies one cairo SVG into the page: from "<svg" on, with our own root
 * tag (scalable by CSS through its viewBox) and every id and reference to
 * one prefixed, so the glyphs of one chart never resolve to another's. */
static void inline_svg(out *o, const char *svg, size_t idx, int w, int h, const char *label)
{
    const char *p = strstr(svg, "<svg");
    const char *body = p ? strchr(p, '>') : NULL;
    if (!body)
        return;
    body++;
    putf(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" "
            "xmlns:xlink=\"http://www.w3.org/1999/xlink\" viewBox=\"0 0 %d %d\" "
            "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"",
         w, h, w, h);
    esc(o, label);
    put(o, "\">");
    char pre[24];
    snprintf(pre, sizeof pre, "c%zu-", idx);
    static const char *marks[] = {"id=\"", "href=\"#", "url(#"};
    const char *s = body;
    while (*s && !o->rc) {
        const char *next = NULL;
        size_t mlen = 0;
        for (size_t m = 0; m < 3; m++) {
            const char *q = strstr(s, marks[m]);
            if (q && (!next || q < next)) {
                next = q;
                mlen = strlen(marks[m]);
            }
        }
        if (!next) {
            put(o, s);
            break;
        }
        if (buf_append(o->b, s, (size_t)(next - s) + mlen))
            o->rc = VOLLEY_ENOMEM;
        put(o, pre);
        s = next + mlen;
    }
}

static void figure(out *o, const chart_fig *f, int w, int h, size_t idx, const char *id,
                   const char *caption, err *e)
{
    buf svg = {0};
    if (chart_svg_buf(f, w, h, &svg, e)) {
        buf_free(&svg);
        o->rc = e && e->code ? e->code : VOLLEY_EIO;
        return;
    }
    put(o, "<figure id=\"");
    esc(o, id);
    put(o, "\">");
    inline_svg(o, svg.data, idx, w, chart_fig_height(f, h), caption);
    put(o, "<figcaption>");
    esc(o, caption);
    put(o, "</figcaption></figure>");
    buf_free(&svg);
}

static void charts_section(out *o, const chart_set *charts, int w, int h, err *e)
{
    if (!charts || !charts->n)
        return;
    put(o, "<h2>Charts</h2>");
    for (size_t i = 0; i < charts->n && !o->rc; i++)
        figure(o, charts->items[i].fig, w, h, i, charts->items[i].stem, charts->items[i].caption,
               e);
}

static void plan_row(out *o, const char *k, const char *v)
{
    put(o, "<tr>");
    td_text(o, k, "t");
    td_text(o, v, "t u");
    put(o, "</tr>");
}

static void plan_section(out *o, const results *r)
{
    const results_plan *p = &r->plan;
    char v[64];
    put(o, "<h2>Plan</h2><table><tbody>");
    if (r->neps > 1) { /* plan.url and plan.method are the first endpoint's */
        snprintf(v, sizeof v, "%zu, in the Endpoints table above", r->neps);
        plan_row(o, "endpoints", v);
    } else {
        plan_row(o, "URL", p->url);
        plan_row(o, "method", p->method);
    }
    plan_row(o, "executor", p->executor);
    plan_row(o, "mode", p->mode[0] ? p->mode : "per-endpoint");
    if (p->label[0])
        plan_row(o, "label", p->label);
    snprintf(v, sizeof v, "%u", p->connections);
    plan_row(o, "connections", v);
    snprintf(v, sizeof v, "%u", p->threads);
    plan_row(o, "threads", v);
    parse_format_duration(p->duration_ns, v, sizeof v);
    plan_row(o, "duration", p->duration_ns ? v : "until done");
    if (p->requests) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)p->requests);
        plan_row(o, "requests", v);
    }
    if (p->rate_per_s > 0) {
        snprintf(v, sizeof v, "%.2f/s", p->rate_per_s);
        plan_row(o, "rate", v);
    }
    if (p->stages[0])
        plan_row(o, "stages", p->stages);
    if (p->warmup_ns) {
        parse_format_duration(p->warmup_ns, v, sizeof v);
        plan_row(o, "warm-up", v);
        snprintf(v, sizeof v, "%llu (not in any statistic)",
                 (unsigned long long)r->warmup_requests);
        plan_row(o, "warm-up requests", v);
    }
    parse_format_duration(p->timeout_ns, v, sizeof v);
    plan_row(o, "timeout", v);
    parse_format_duration(p->connect_timeout_ns, v, sizeof v);
    plan_row(o, "connect timeout", v);
    plan_row(o, "keep-alive", p->keepalive ? "yes" : "no");
    snprintf(v, sizeof v, "%u", p->nheaders);
    plan_row(o, "headers", v);
    snprintf(v, sizeof v, "%llu bytes", (unsigned long long)p->body_bytes);
    plan_row(o, "body", v);
    clock_format_rfc3339(r->start_wall_ns, v, sizeof v);
    plan_row(o, "start", v);
    clock_format_rfc3339(r->end_wall_ns, v, sizeof v);
    plan_row(o, "end", v);
    put(o, "</tbody></table>");
}

static void page_head(out *o, const char *title)
{
    put(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
           /* Nothing may be fetched: the report must be self-contained. */
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
           "<title>");
    esc(o, title);
    put(o, "</title><style>");
    put(o, css);
    put(o, "</style></head><body><main>\n");
}

int html_render(const results *r, const chart_set *charts, int w, int h, buf *b, err *e)
{
    out o = {.b = b, .rc = 0};
    char name[4400], title[4500];
    run_name(r, name, sizeof name);
    snprintf(title, sizeof title, "volley report: %s", name);
    page_head(&o, title);
    head_section(&o, r);
    thresholds_section(&o, r);
    endpoints_section(&o, r);
    script_section(&o, r);
    steps_section(&o, r);
    server_section(&o, r);
    latency_section(&o, r);
    outcomes_section(&o, r);
    charts_section(&o, charts, w, h, e);
    plan_section(&o, r);
    putf(&o, "<footer>Made by volley %s from results.json (schema 1).</footer>\n",
         VOLLEY_VERSION);
    put(&o, "</main><script>");
    put(&o, js);
    put(&o, "</script></body></html>\n");
    if (o.rc == VOLLEY_ENOMEM)
        return err_set(e, VOLLEY_ENOMEM, "HTML report: out of memory");
    return o.rc;
}

int html_write(const results *r, const chart_set *charts, int w, int h, const char *path,
               err *e)
{
    buf b = {0};
    int rc = html_render(r, charts, w, h, &b, e);
    if (rc) {
        buf_free(&b);
        return rc;
    }
    rc = file_write_atomic(path, b.data, b.len, e);
    buf_free(&b);
    return rc;
}

int html_write_report(const results *r, const char *dir_of_results, const char *path, err *e)
{
    scatter sc;
    int rc = scatter_init(&sc, r, 0, e);
    if (rc)
        return rc;
    bool have_sc = false;
    if (dir_of_results) {
        char rq[4200];
        struct stat st;
        /* requests.csv is optional: without it the route views draw
         * per-second percentiles, so a bad one is ignored, not fatal. */
        if (snprintf(rq, sizeof rq, "%s/requests.csv", dir_of_results) < (int)sizeof rq &&
            stat(rq, &st) == 0) {
            err ignore = {0};
            have_sc = scatter_read_csv(&sc, rq, &ignore) == 0;
        }
    }
    chart_set cs;
    rc = chart_build_all(r, have_sc ? &sc : NULL, &cs, e);
    scatter_free(&sc);
    if (rc)
        return rc;
    rc = html_write(r, &cs, CHART_DEFAULT_W, CHART_DEFAULT_H, path, e);
    chart_set_free(&cs);
    return rc;
}

void html_escape(buf *b, const char *s)
{
    out o = {.b = b, .rc = 0};
    esc(&o, s);
}

void html_page_open(buf *b, const char *title)
{
    out o = {.b = b, .rc = 0};
    page_head(&o, title);
}

void html_page_close(buf *b)
{
    out o = {.b = b, .rc = 0};
    put(&o, "</main><script>");
    put(&o, js);
    put(&o, "</script></body></html>\n");
}

int html_figure(buf *b, const chart_fig *f, int w, int h, size_t idx, const char *id,
                const char *caption, err *e)
{
    out o = {.b = b, .rc = 0};
    figure(&o, f, w, h, idx, id, caption, e);
    return o.rc;
}
