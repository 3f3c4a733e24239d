/* session: everything around one load (see session.h). session_run walks
 * fixed phases - check the output, read the baseline, open raw records,
 * start the server under test, run, judge, write - and every phase leaves
 * its resources in one `state`, freed on one path at the end. */
#include "session/session.h"
#include "script/lua_summary.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/parse.h"
#include "monitor/proc.h"
#include "report/chart.h"
#include "report/report.h"
#include "monitor/selfmon.h"
#include "report/summary.h"
#include "results/csv.h"
#include "results/results_json.h"
#include "results/results_read.h"
#include "session/outdir.h"
#include "session/session_parts.h"
#include "session/sut.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static volatile sig_atomic_t interrupts;
static volatile sig_atomic_t first_signal;

static void on_signal(int sig)
{
    if (!first_signal)
        first_signal = sig;
    interrupts++;
}

/* INT, TERM and HUP all stop gracefully (a second one stops at once). */
static void install_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    interrupts = 0;
    first_signal = 0;
}

int session_add_sink(session_config *c, const session_sink *s, err *e)
{
    if (c->nsinks == SESSION_MAX_SINKS)
        return err_set(e, VOLLEY_EINVAL, "too many live outputs (at most %d)", SESSION_MAX_SINKS);
    c->sinks[c->nsinks++] = *s;
    return 0;
}

/* ---- the run's state: one place, one clean-up ---- */

typedef struct live_check {
    const session_config *c;
    metrics_totals tot;
    hist *latency;
    uint64_t seconds;
    bool failed;
    char why[300];
} live_check;

typedef struct progress_state {
    FILE *f;
    bool tty;
    unsigned calls;
    size_t last_len;
} progress_state;

typedef struct state {
    session_config *c;
    plan *p;
    char dir[4200];
    results base;
    bool have_base;
    session_raw raw;
    sut server;
    script_cold scold;          /* --cold with a script */
    progress_state ps;
    live_check lc;
    results r;
    bool have_r;
    script_results *sres;
    const char *script_path;
    tls_client_ctx *tls, *ws_tls; /* scripts: http.* and wss:// (ALPN http/1.1) */
    FILE *out;                 /* summary and information */
    /* The script defines handle_summary: it replaces volley's summary, so
     * stdout carries only what it returns (and --json's document); the
     * progress and the other end-of-run lines go to stderr. */
    bool hook_summary;
    char *summary_text;        /* volley's summary, for text_summary() */
    session_sink sinks[SESSION_MAX_SINKS + 2]; /* the config's and the built-in ones */
    size_t nsinks;
    int exit_code;
} state;

static void fail(state *s, int code, const err *e)
{
    fprintf(stderr, "%s: %s\n", s->c->who ? s->c->who : "volley", e->msg);
    if (!s->exit_code)
        s->exit_code = code;
}

/* ---- sinks: the engine's callbacks fan out to them ---- */

static void on_progress(void *ctx, const engine_progress *pr)
{
    state *s = ctx;
    for (size_t i = 0; i < s->nsinks; i++)
        if (s->sinks[i].progress)
            s->sinks[i].progress(s->sinks[i].ctx, pr);
}

static bool on_second(void *ctx, const series_row *row, const hist *latency)
{
    state *s = ctx;
    bool stop = false;
    for (size_t i = 0; i < s->nsinks; i++)
        if (s->sinks[i].second)
            stop |= s->sinks[i].second(s->sinks[i].ctx, row, latency);
    return stop;
}

static void on_endpoint_second(void *ctx, uint32_t ep, const char *name, const series_row *row)
{
    state *s = ctx;
    for (size_t i = 0; i < s->nsinks; i++)
        if (s->sinks[i].endpoint_second)
            s->sinks[i].endpoint_second(s->sinks[i].ctx, ep, name, row);
}

static void on_measure_start(void *ctx)
{
    sut_mark(&((state *)ctx)->server);
}

static void progress_draw(void *ctx, const engine_progress *pr)
{
    progress_state *ps = ctx;
    ps->calls++;
    /* Plain output gets one line a second, a terminal four refreshes. */
    if (!ps->tty && (ps->calls % 4 != 0 || pr->stopping))
        return;
    char el[16], tot[32], p50[16] = "-", p99[16] = "-", pre[48] = "", rate[48] = "";
    snprintf(el, sizeof el, "%.1fs", (double)pr->elapsed_ns / NS_PER_S);
    if (pr->total_ns)
        snprintf(tot, sizeof tot, "/%.0fs", (double)pr->total_ns / NS_PER_S);
    else
        snprintf(tot, sizeof tot, "/%llu req", (unsigned long long)pr->planned_requests);
    if (pr->have_second) {
        parse_format_duration(pr->last_p50_ns, p50, sizeof p50);
        parse_format_duration(pr->last_p99_ns, p99, sizeof p99);
    }
    if (pr->warmup)
        snprintf(pre, sizeof pre, "warm-up ");
    else if (pr->nsteps)
        snprintf(pre, sizeof pre, "step %u/%u ", pr->step + 1, pr->nsteps);
    if (pr->target_rps > 0)
        snprintf(rate, sizeof rate, "/%.0f", pr->target_rps);
    /* Before the first whole second is collected, the rate so far: never
     * a false 0 on the first line. */
    double rps = pr->have_second ? pr->last_rps
                 : pr->elapsed_ns ? (double)pr->requests * NS_PER_S / (double)pr->elapsed_ns
                                  : 0;
    char line[320];
    int n = snprintf(line, sizeof line,
                     "[%s%s%s] requests %llu  rps %.0f%s  errors %llu  p50 %s  p99 %s  conns %u%s",
                     pre, el, tot, (unsigned long long)pr->requests, rps, rate,
                     (unsigned long long)pr->errors, p50, p99, pr->active,
                     pr->stopping ? "  (stopping)" : "");
    if (ps->tty) {
        size_t len = (size_t)(n < 0 ? 0 : n);
        fprintf(ps->f, "\r%s", line);
        for (size_t i = len; i < ps->last_len; i++)
            fputc(' ', ps->f);
        ps->last_len = len;
    } else {
        fprintf(ps->f, "%s\n", line);
    }
    fflush(ps->f);
}

/* --abort-on-fail: whole-run latency and count thresholds on the seconds
 * collected so far; the rest wait for the end. */
static bool live_second(void *ctx, const series_row *row, const hist *latency)
{
    live_check *lc = ctx;
    if (lc->failed)
        return false;
    lc->tot.requests += row->requests;
    lc->tot.responses += row->responses;
    lc->tot.errors += row->errors;
    lc->tot.transport_errors += row->transport_errors;
    lc->tot.dropped += row->dropped;
    lc->seconds++;
    hist_merge(lc->latency, latency);
    threshold_input in = {.tot = &lc->tot, .elapsed_ns = lc->seconds * NS_PER_S};
    in.dist[METRICS_DIST_LATENCY] = lc->latency;
    for (size_t i = 0; i < lc->c->nthresholds; i++) {
        const threshold *t = &lc->c->thresholds[i];
        if (t->endpoint[0] || !threshold_live(t))
            continue;
        double a = threshold_actual(t, &in);
        if (!threshold_check(t, a)) {
            char v[32];
            threshold_format_actual(t, a, v, sizeof v);
            snprintf(lc->why, sizeof lc->why, "threshold '%.200s' failed after %llus (%s)", t->expr,
                     (unsigned long long)lc->seconds, v);
            lc->failed = true;
            return true;
        }
    }
    return false;
}

/* The config's sinks, then the progress line and live thresholds. */
static int add_sinks(state *s, err *e)
{
    session_config *c = s->c;
    bool drawn = false;
    for (size_t i = 0; i < c->nsinks; i++) {
        s->sinks[s->nsinks++] = c->sinks[i];
        drawn |= c->sinks[i].replaces_progress;
    }
    s->ps.f = s->hook_summary ? stderr : s->out;
    s->ps.tty = isatty(fileno(s->ps.f));
    if (!c->quiet && !drawn)
        s->sinks[s->nsinks++] = (session_sink){.name = "progress", .progress = progress_draw,
                                               .ctx = &s->ps};
    if (c->abort_on_fail) {
        s->lc = (live_check){.c = c, .latency = hist_new()};
        if (!s->lc.latency)
            return err_set(e, VOLLEY_ENOMEM, "out of memory");
        s->sinks[s->nsinks++] = (session_sink){.name = "abort-on-fail", .second = live_second,
                                               .ctx = &s->lc};
    }
    return 0;
}

/* ---- before any load ---- */

/* Many connections need many descriptors: take the hard limit. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* --cold and --exec-timeout need --exec; --cold sends the load's request
 * itself, so only a URL run's request (http, or https over TLS). */
static int check_cold(const session_config *c, const plan *p, const char *script_path, err *e)
{
    if (c->exec_timeout_ns && !c->exec_cmd)
        return err_set(e, VOLLEY_EINVAL, "--exec-timeout: only with --exec");
    if (!c->cold)
        return 0;
    if (!c->exec_cmd)
        return err_set(e, VOLLEY_EINVAL, "--cold: only with --exec (the server must start "
                                         "with the run)");
    /* With a script the cold request is the run's first successful http.*
     * response; a URL run sends its own request before the load. */
    if (script_path)
        return 0;
    if (!p->neps)
        return err_set(e, VOLLEY_EINVAL, "--cold: no endpoint");
    /* The cold request is sent by a blocking probe: TLS yes, a proxy's
     * CONNECT tunnel no. */
    if (p->target_tunnel[p->eps[0].target_idx][0])
        return err_set(e, VOLLEY_EINVAL, "--cold: not with --proxy for an https target");
    return 0;
}

/* The server under test: its options from the config and the plan. */
static int start_sut(state *s, const char *script_path, err *e)
{
    const session_config *c = s->c;
    const plan *p = s->p;
    char log[4400];
    bool url_run = !script_path && p->neps;
    snprintf(log, sizeof log, "%s/server.log", s->dir);
    sut_options o = {.exec_cmd = c->exec_cmd, .monitor_pid = c->monitor_pid,
                     .ready_url = c->ready_url,
                     .ready_connect_only = c->cold && script_path,
                     .connect_addr = url_run ? &p->targets[p->eps[0].target_idx] : NULL,
                     .exec_timeout_ns = c->exec_timeout_ns,
                     .log_path = c->no_save ? NULL : log, .quiet = c->quiet,
                     .cold_request = c->cold && url_run ? &p->eps[0].request : NULL,
                     .cold_head = url_run && p->eps[0].head,
                     .cold_tls = url_run && p->target_tls[p->eps[0].target_idx] ? p->tls : NULL,
                     .cold_sni = url_run ? p->target_hosts[p->eps[0].target_idx] : NULL};
    return sut_start(&s->server, &o, e);
}

static int prepare(state *s, const char *script_path, err *e)
{
    session_config *c = s->c;
    int rc;
    /* A bad script is refused before any file or server exists. */
    if (script_path && (rc = script_preflight(script_path, &c->script, &s->hook_summary, e)))
        return rc;
    if (c->cmp.ngates && !c->baseline)
        return err_set(e, VOLLEY_EINVAL, "--fail-if: needs --baseline FILE");
    if (c->monitor_pid && c->exec_cmd)
        return err_set(e, VOLLEY_EINVAL, "--monitor-pid and --exec: give one of them");
    if (c->ready_url && !c->exec_cmd)
        return err_set(e, VOLLEY_EINVAL, "--ready: only with --exec");
    if ((rc = check_cold(c, s->p, script_path, e)))
        return rc;
    if (c->raw && c->no_save)
        return err_set(e, VOLLEY_EINVAL, "--raw: needs an output directory (drop --no-save)");
    if (c->baseline) {
        /* Read before any load: a bad baseline must not cost a run. */
        if ((rc = results_json_read(c->baseline, &s->base, e)))
            return rc;
        s->have_base = true;
    }
    if (!c->no_save) {
        outdir_name name = {.prefix = c->dir_prefix, .label = s->p->label,
                            .segment_k = s->p->segment_k, .segment_n = s->p->segment_n};
        if ((rc = outdir_prepare(c->out_dir, &name, s->dir, sizeof s->dir, e)))
            return rc;
        snprintf(c->out_used, sizeof c->out_used, "%s", s->dir);
    }
    if (c->raw && (rc = session_raw_open(&s->raw, s->p, s->dir, e)))
        return rc;
    raise_fd_limit();
    return add_sinks(s, e);
}

/* ---- the load ---- */

static int run_load(state *s, const char *script_path, err *e)
{
    session_config *c = s->c;
    engine_options eo = {.progress = on_progress, .ctx = s, .interrupts = &interrupts,
                         .on_second = on_second, .on_endpoint_second = on_endpoint_second,
                         .on_measure_start = on_measure_start, .cpus = s->p->cpus,
                         .ncpus = s->p->ncpus, .start_at_wall_ns = c->start_at_ns,
                         .refuse_stale_start = true,
                         .ok_status = c->ok_status_text ? &c->ok_status : NULL};
    if (c->raw) {
        eo.raw = session_raw_record;
        eo.raw_ctx = &s->raw;
    }
    int rc;
    selfmon *sm = selfmon_start(NULL); /* generator honesty (monitor/selfmon) */
    if (!script_path) {
        rc = engine_run(s->p, &eo, &s->r, e);
    } else {
        /* A script may never use https: the trust store is loaded by its
         * first https host (lua_http_target, before any timing). */
        tls_client_opts to = s->p->tls_opts;
        to.lazy_trust = true;
        if (!(s->tls = tls_client_ctx_new(&to, e)))
            return e->code ? e->code : VOLLEY_EINVAL;
        tls_client_opts wo = s->p->tls_opts;
        wo.alpn = TLS_ALPN_HTTP11; /* WebSocket stays on HTTP/1.1 (no RFC 8441) */
        wo.lazy_trust = true;
        if (s->p->tls_opts.alpn != TLS_ALPN_HTTP11 && !(s->ws_tls = tls_client_ctx_new(&wo, e)))
            return e->code ? e->code : VOLLEY_EINVAL;
        script_opts so = c->script;
        so.threads = s->p->threads;
        so.out_dir = c->no_save ? NULL : s->dir;
        so.quiet = c->quiet;
        so.raw = c->raw;
        s->raw.r = &s->r;
        so.res = &s->sres;
        so.tls = s->tls;
        so.ws_tls = s->ws_tls;
        so.h2c = s->p->h2c || s->p->http == PLAN_HTTP_2;
        so.h2_only = s->p->http == PLAN_HTTP_2;
        so.no_retry = s->p->no_retry;
        so.route = &s->p->route;
        so.compressed = s->p->compressed;
        so.share_tls_sessions = s->p->share_tls_sessions;
        so.cold = c->cold ? &s->scold : NULL;
        so.segment_k = s->p->segment_k;
        so.segment_n = s->p->segment_n;
        rc = script_run(script_path, &so, &eo, &s->r, e);
    }
    s->have_r = rc == 0;
    results_generator unused = {0};
    selfmon_stop(sm, rc ? &unused : &s->r.generator);
    free(unused.sec_cpu_pct);
    if (!rc) {
        selfmon_judge(&s->r);
        results_correct_closed(&s->r);
    }
    if (s->have_r) {
        snprintf(s->r.plan.ok_status, sizeof s->r.plan.ok_status, "%s",
                 c->ok_status_text ? c->ok_status_text : "");
        s->r.plan.compressed = s->p->compressed;
        s->r.plan.share_tls_sessions = s->p->share_tls_sessions;
        s->r.plan.redirects = s->p->redirects;
        route_describe(&s->p->route, s->r.plan.route, sizeof s->r.plan.route);
    }
    if (s->ps.tty && s->ps.last_len)
        fputc('\n', s->ps.f);
    return rc;
}

/* ---- after the load ---- */

static int script_extra(json_t *root, const void *ctx)
{
    return ctx ? script_results_json(ctx, root) : 0;
}

/* The script's block as results.json has it, into r: the summary and the
 * report show what `volley report` will show later. */
static void script_into_results(state *s)
{
    json_t *root = json_object();
    if (root && s->sres && !script_results_json(s->sres, root))
        results_script_from_json(&s->r.script, json_object_get(root, "script"));
    json_decref(root);
}

/* report.html and the PNG charts, as `volley report DIR` would write them. */
static int write_report(state *s, err *e)
{
    if (s->c->no_report)
        return 0;
    report_opts ro = {.formats = REPORT_FMT_HTML | REPORT_FMT_PNG, .width = CHART_DEFAULT_W,
                      .height = CHART_DEFAULT_H, .src_dir = s->dir, .out_dir = s->dir,
                      .who = s->c->who};
    return report_write(&s->r, &ro, e);
}

static int write_outputs(state *s, err *e)
{
    const session_config *c = s->c;
    if (!c->no_save) {
        char path[4400];
        snprintf(path, sizeof path, "%s/results.json", s->dir);
        int rc = results_json_write_ext(&s->r, path, script_extra, s->sres, e);
        if (rc)
            return rc;
        snprintf(path, sizeof path, "%s/summary.csv", s->dir);
        if ((rc = csv_write_summary(&s->r, path, e)))
            return rc;
        bool names = s->r.script.nnames > 0;
        snprintf(path, sizeof path, "%s/names.csv", s->dir);
        if (names && (rc = csv_write_names(&s->r, path, e)))
            return rc;
        if ((rc = write_report(s, e)))
            return rc;
        if (!c->quiet) /* with handle_summary, stdout is the hook's alone */
            fprintf(s->hook_summary ? stderr : s->out,
                    "  results: %s/results.json, summary.csv%s%s%s\n", s->dir,
                    names ? ", names.csv" : "", c->raw ? ", requests.csv" : "",
                    c->no_report ? "" : ", report.html, charts/");
    }
    if (c->json) {
        char *js = results_json_dump_ext(&s->r, script_extra, s->sres, e);
        if (!js)
            return VOLLEY_ENOMEM;
        puts(js);
        free(js);
    }
    return 0;
}

/* Where and which part of a distributed run this was. */
static void record_dist(state *s)
{
    results *r = &s->r;
    if (gethostname(r->host, sizeof r->host))
        r->host[0] = '\0';
    r->host[sizeof r->host - 1] = '\0';
    if (s->c->segment_given) {
        r->segment_k = s->p->segment_k;
        r->segment_n = s->p->segment_n;
    }
}

static void print_summary(state *s, FILE *f)
{
    summary_print(f, &s->r); /* with the script's part, from r->script */
    if (s->c->latency_dist)
        summary_print_latency_dist(f, &s->r);
    if (s->lc.failed)
        fprintf(f, "  aborted: %s\n", s->lc.why);
}

/* The summary as text (NULL if out of memory), for handle_summary. */
static char *summary_text(state *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    print_summary(s, f);
    if (fclose(f)) {
        free(text);
        return NULL;
    }
    return text;
}

static void judge(state *s)
{
    const session_config *c = s->c;
    err e = {0};
    results *r = &s->r;
    r->thresholds_aborted = s->lc.failed;
    if (c->nthresholds && results_eval_thresholds(r, c->thresholds, c->nthresholds, &e) < 0)
        fail(s, 1, &e);
    if (s->sres)
        session_script_thresholds(s->sres, r);
    for (size_t i = 0; i < s->nsinks; i++)
        if (s->sinks[i].end)
            s->sinks[i].end(s->sinks[i].ctx, r, c->no_save ? NULL : s->dir);
    if (s->hook_summary)
        s->summary_text = summary_text(s);
    else if (!c->quiet)
        print_summary(s, s->out);
}

/* A script's handle_summary(data): results.json's document in, files out. */
static int handle_summary(state *s, err *e)
{
    char *js = results_json_dump_ext(&s->r, script_extra, s->sres, e);
    if (!js)
        return e->code ? e->code : VOLLEY_ENOMEM;
    int rc = lua_summary_run(s->script_path, &s->c->script, js, s->summary_text,
                             s->c->no_save ? NULL : s->dir, s->out, e);
    free(js);
    /* The hook failed: volley's summary then, so the run's outcome is not
     * lost with it (entries written before the error stay written). */
    if (rc && !s->c->quiet && s->summary_text)
        fputs(s->summary_text, s->out);
    return rc;
}

static void finish(state *s)
{
    const session_config *c = s->c;
    err e = {0};
    results *r = &s->r;
    outdir_name id = {.label = s->p->label, .segment_k = s->p->segment_k,
                      .segment_n = s->p->segment_n};
    outdir_run_id(&id, r->run_id, sizeof r->run_id);
    snprintf(r->plan.command, sizeof r->plan.command, "%s", c->command ? c->command : "");
    if (!r->plan.label[0]) /* scripts: the engine does not see the plan */
        snprintf(r->plan.label, sizeof r->plan.label, "%s", s->p->label);
    record_dist(s);
    if (r->segment_n) /* the generator's verdict on this segment's share of the rate */
        selfmon_judge(r);
    script_into_results(s);
    judge(s);
    if (write_outputs(s, &e))
        fail(s, 1, &e);
    if (c->save_baseline && results_json_write_ext(r, c->save_baseline, script_extra, s->sres, &e)) {
        err e2 = {0};
        err_set(&e2, VOLLEY_EINVAL, "--save-baseline: %s", e.msg);
        fail(s, 1, &e2);
    }
    if (s->hook_summary && handle_summary(s, &e))
        fail(s, 1, &e);
    if (s->sres && s->sres->hook_error[0]) {
        err_set(&e, VOLLEY_EINVAL, "%s", s->sres->hook_error);
        fail(s, 1, &e);
    }
    int code = 0;
    if (s->have_base) {
        session_compare cmp = c->cmp;
        cmp.out = s->hook_summary ? stderr : s->out;
        code = session_compare_report(c->baseline, "this run", &s->base, r, &cmp);
    }
    if (r->interrupted)
        s->exit_code = 128 + (first_signal ? first_signal : SIGINT);
    else if (!s->exit_code && !results_thresholds_ok(r))
        s->exit_code = SESSION_EXIT_THRESHOLDS;
    else if (!s->exit_code && c->strict && r->generator.behind)
        s->exit_code = SESSION_EXIT_GENERATOR;
    else if (!s->exit_code)
        s->exit_code = code;
    if (r->warning[0])
        log_warn("%s", r->warning);
}

/* --cold with a script: the first successful response of the run, timed
 * from --exec (sut_stop copies it into the results). */
static void script_cold_result(state *s)
{
    uint64_t done = atomic_load(&s->scold.done_ns);
    if (!s->c->cold || !done)
        return;
    s->server.cold = (results_cold){
        .measured = true, .ready_ms = s->server.ready_ms,
        .start_ms = (double)(done - s->server.exec_ns) / NS_PER_MS,
        .first_ms = (double)s->scold.latency_ns / NS_PER_MS,
        .status = s->scold.status, .attempts = atomic_load(&s->scold.attempts)};
}

static void release(state *s)
{
    /* The config's sinks, also when prepare failed before listing them. */
    for (size_t i = 0; i < s->c->nsinks; i++)
        if (s->c->sinks[i].close)
            s->c->sinks[i].close(s->c->sinks[i].ctx, &interrupts);
    sut_stop(&s->server, NULL);
    if (s->raw.f) {
        err e = {0};
        if (session_raw_close(&s->raw, &e))
            fail(s, 1, &e);
    }
    hist_free(s->lc.latency);
    if (s->have_base)
        results_free(&s->base);
    if (s->have_r)
        results_free(&s->r);
    script_results_free(s->sres);
    free(s->summary_text);
    tls_client_ctx_free(s->tls);
    tls_client_ctx_free(s->ws_tls);
}

int session_run(session_config *c, plan *p, const char *script_path)
{
    static state s; /* large; one run at a time per process */
    memset(&s, 0, sizeof s);
    s.c = c;
    s.p = p;
    s.out = c->json ? stderr : stdout;
    s.script_path = script_path;
    c->out_used[0] = 0;
    install_signals(); /* before anything slow (--exec): a signal stops, never kills */
    err e = {0};
    int rc = prepare(&s, script_path, &e);
    if (!rc)
        rc = start_sut(&s, script_path, &e);
    if (rc) {
        fail(&s, SESSION_EXIT_USAGE, &e);
    } else if ((rc = run_load(&s, script_path, &e))) {
        fail(&s, rc == VOLLEY_EINVAL || rc == VOLLEY_EPARSE ? SESSION_EXIT_USAGE : 1, &e);
    } else {
        script_cold_result(&s);
        sut_stop(&s.server, &s.r);
        if (s.raw.f && session_raw_close(&s.raw, &e))
            fail(&s, 1, &e);
        finish(&s);
    }
    release(&s);
    return s.exit_code;
}
