/* script: `volley run flow.lua` from file to results (see script.h). The
 * script is first run once in a checking state (no load: syntax errors,
 * top-level errors and bad options stop here, exit 2), then each worker of
 * script/lua_worker loads it again in its own state. The script's own
 * results (checks, custom metrics, ws, iterations) are merged from the
 * workers and written by script_results_json (report/summary.c prints it). */
#include "script/script.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/parse.h"
#include "script/lua_api.h"
#include "script/lua_plan.h"
#include "script/k6thr.h"
#include "script/lua_shared.h"
#include "script/lua_worker.h"
#include "script/lua_wrk.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- running ---- */

static uint32_t cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint32_t)n : 1;
}

static int set_http_defaults(lua_plan *p, const script_opts *o, err *e)
{
    if (o->http_nheaders > LUA_PLAN_MAX_HEADERS)
        return err_set(e, VOLLEY_EINVAL, "--header: at most %d", LUA_PLAN_MAX_HEADERS);
    p->http_timeout_ns = o->http_timeout_ns;
    for (size_t i = 0; i < o->http_nheaders; i++)
        p->http_headers[i] = o->http_headers[i];
    p->http_nheaders = o->http_nheaders;
    p->seed = o->seed;
    return 0;
}

/* ---- abortOnFail: thresholds judged each second ---- */

typedef struct live_abort {
    engine_options next;     /* the session's callbacks, called after ours */
    script_results *sr;
    hist *latency;           /* every request so far */
    uint64_t requests, errors, seconds;
} live_abort;

static void live_progress(void *ctx, const engine_progress *pr)
{
    live_abort *la = ctx;
    if (la->next.progress)
        la->next.progress(la->next.ctx, pr);
}

static void live_measure_start(void *ctx)
{
    live_abort *la = ctx;
    if (la->next.on_measure_start)
        la->next.on_measure_start(la->next.ctx);
}

static void live_endpoint_second(void *ctx, uint32_t ep, const char *name, const series_row *row)
{
    live_abort *la = ctx;
    la->next.on_endpoint_second(la->next.ctx, ep, name, row);
}

static bool live_second(void *ctx, const series_row *row, const hist *latency)
{
    live_abort *la = ctx;
    bool stop = false;
    la->requests += row->requests;
    la->errors += row->errors;
    la->seconds++;
    hist_merge(la->latency, latency);
    for (size_t i = 0; i < la->sr->nthresholds; i++) {
        script_threshold *st = &la->sr->thresholds[i];
        k6thr t;
        err e = {0};
        if (!st->abort_on_fail || st->aborted || la->seconds * NS_PER_S < st->delay_abort_ns ||
            k6thr_parse(st->metric, st->expr, NULL, 0, &t, &e))
            continue;
        double a;
        if (!k6thr_eval_live(&t, la->latency, la->requests, la->errors, la->seconds, &a)) {
            st->aborted = true;
            st->abort_actual = a;
            stop = true;
        }
    }
    bool next = la->next.on_second && la->next.on_second(la->next.ctx, row, latency);
    return stop || next;
}

static int live_abort_setup(live_abort *la, engine_options *eo)
{
    bool any = false;
    for (size_t i = 0; i < la->sr->nthresholds; i++)
        any |= la->sr->thresholds[i].abort_on_fail;
    if (!any)
        return 0;
    if (!(la->latency = hist_new()))
        return VOLLEY_ENOMEM;
    eo->ctx = la;
    eo->progress = la->next.progress ? live_progress : NULL;
    eo->on_measure_start = la->next.on_measure_start ? live_measure_start : NULL;
    /* Every callback that takes eo->ctx is forwarded: the context is ours now. */
    eo->on_endpoint_second = la->next.on_endpoint_second ? live_endpoint_second : NULL;
    eo->on_second = live_second;
    return 0;
}

/* Every threshold is well-formed and names a metric the run can have (a
 * built-in or a custom one declared at the top level), before any load. */
static int check_thresholds(lua_State *L, const lua_plan *p, err *e)
{
    k6thr_custom custom[256];
    size_t nc = 0;
    if (lua_getfield(L, LUA_REGISTRYINDEX, "volley.declared") == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2) && nc < 256) {
            custom[nc].name = lua_tostring(L, -2); /* anchored by the table */
            custom[nc].kind = (script_metric_kind)lua_tointeger(L, -1);
            nc++;
            lua_pop(L, 1);
        }
    }
    int rc = 0;
    for (size_t i = 0; i < p->nthr && !rc; i++) {
        k6thr t;
        rc = k6thr_parse(p->thr[i].metric, p->thr[i].expr, custom, nc, &t, e);
        if (!rc && p->thr[i].abort_on_fail && !k6thr_live(&t))
            rc = err_set(e, VOLLEY_EINVAL,
                         "options.thresholds['%s']: abortOnFail is judged live on "
                         "http_req_duration, http_req_failed and http_reqs (without tag filters); "
                         "volley has no live view of '%s' yet",
                         p->thr[i].metric, p->thr[i].metric);
    }
    lua_pop(L, 1);
    return rc;
}

/* Loads the script once with no worker: errors before any load. */
static int warmup_check(const lua_plan *p, uint64_t d, err *e);

static int check_script(const char *path, const char *dir, const script_opts *o, lua_plan *p,
                        err *e)
{
    lua_State *L = luaL_newstate();
    if (!L)
        return err_set(e, VOLLEY_ENOMEM, "out of memory for Lua");
    int rc = lua_api_install(L, NULL, dir, o ? o->env : NULL, o ? o->nenv : 0, e);
    if (!rc)
        rc = o && o->wrk ? lua_wrk_check(L, o, path, e) : lua_api_load(L, path, e);
    if (!rc)
        rc = lua_plan_read(L, p, e);
    if (!rc)
        rc = check_thresholds(L, p, e);
    if (!rc && !(o && o->wrk)) { /* a wrk script's setup(thread) is wrk's */
        p->has_setup = lua_getglobal(L, "setup") == LUA_TFUNCTION;
        p->has_teardown = lua_getglobal(L, "teardown") == LUA_TFUNCTION;
        p->has_summary = lua_getglobal(L, "handle_summary") == LUA_TFUNCTION;
        lua_pop(L, 3);
    }
    if (!rc && o && o->shape)
        rc = lua_plan_override(L, p, o->shape, e);
    if (!rc && o && o->warmup_ns)
        rc = warmup_check(p, o->warmup_ns, e);
    lua_close(L);
    if (!rc && o)
        rc = set_http_defaults(p, o, e);
    return rc;
}

int script_preflight(const char *path, const script_opts *o, bool *has_summary, err *e)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    lua_plan *lp = calloc(1, sizeof *lp);
    if (!lp)
        return err_set(e, VOLLEY_ENOMEM, "out of memory");
    int rc = check_script(path, dir, o, lp, e);
    if (has_summary)
        *has_summary = !rc && lp->has_summary;
    lua_plan_free(lp); /* thresholds, when the read got that far */
    free(lp);
    return rc;
}

/* --warmup: the first d of the run's timeline, each scenario from its
 * startTime at its first stage's target (as URL runs warm up); iteration
 * kinds as constant VUs. A scenario that starts at or after d has no VU in
 * it (and starts at 0, so the warm-up does not wait for it). */
static void warmup_plan(const lua_plan *lp, lua_plan *wp, uint64_t d)
{
    *wp = *lp;
    wp->thr = NULL;
    wp->nthr = 0;
    for (size_t i = 0; i < wp->nsc; i++) {
        lua_scenario *s = &wp->sc[i];
        double t = s->x.nstages ? s->x.stages[0].target : 0;
        if (s->start_ns >= d) {
            s->start_ns = 0;
            s->kind = LSX_CONSTANT_VUS;
            s->vus = 0;
            s->x = (executor){.kind = EXEC_CONSTANT_VUS, .vus = 0};
            continue;
        }
        if (s->kind == LSX_RAMPING_VUS) {
            s->x = (executor){.kind = EXEC_CONSTANT_VUS, .vus = t >= 1 ? (uint32_t)t : 1};
            s->vus = s->x.vus;
        } else if (s->kind == LSX_RAMPING_RATE) {
            s->x = (executor){.kind = EXEC_CONSTANT_RATE, .rate = t > 0 ? t : 1};
        } else if (s->kind == LSX_PER_VU_ITERATIONS || s->kind == LSX_SHARED_ITERATIONS) {
            s->x = (executor){.kind = EXEC_CONSTANT_VUS, .vus = s->vus};
        }
        s->kind = s->x.kind == EXEC_CONSTANT_VUS ? LSX_CONSTANT_VUS : LSX_CONSTANT_RATE;
        s->x.duration_ns = d - s->start_ns;
    }
}

/* A warm-up that ends before every scenario starts would warm nothing. */
static int warmup_check(const lua_plan *p, uint64_t d, err *e)
{
    size_t first = 0;
    for (size_t i = 0; i < p->nsc; i++) {
        if (p->sc[i].start_ns < d)
            return 0;
        if (p->sc[i].start_ns < p->sc[first].start_ns)
            first = i;
    }
    if (!p->nsc)
        return 0;
    char a[32], b[32];
    parse_format_duration(d, a, sizeof a);
    parse_format_duration(p->sc[first].start_ns, b, sizeof b);
    return err_set(e, VOLLEY_EINVAL, "--warmup %s: ends before the first scenario starts (%s at "
                   "startTime %s); the warm-up follows startTime, so make it longer than that",
                   a, p->sc[first].name, b);
}

/* setup() or teardown(): one VU, one iteration, through the same engine,
 * with its own numbers (ph); setup's return value comes back as JSON. */
static int run_phase(const char *path, const lua_worker_ctx *ctx, const lua_plan *lp,
                     const char *fn, char **result, const engine_options *eo, script_phase *ph,
                     err *e)
{
    lua_plan *sp = malloc(sizeof *sp);
    if (!sp)
        return err_set(e, VOLLEY_ENOMEM, "out of memory");
    *sp = *lp;
    sp->thr = NULL;
    sp->nthr = 0;
    sp->nsc = 1;
    lua_scenario *s = &sp->sc[0];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", fn);
    snprintf(s->exec, sizeof s->exec, "%s", fn);
    s->kind = LSX_PER_VU_ITERATIONS;
    s->vus = 1;
    s->iterations = 1;
    s->max_duration_ns = 600 * NS_PER_S;
    s->graceful_stop_ns = 30 * NS_PER_S;
    s->x = (executor){.kind = EXEC_CONSTANT_VUS, .vus = 1, .duration_ns = s->max_duration_ns};
    lua_worker_ctx pc = *ctx;
    pc.plan = sp;
    pc.phase_result = result;
    pc.phase = fn;
    pc.raw = false; /* setup and teardown are not in requests.csv */
    pc.vu_base[0] = 0;
    pc.agg = script_results_new(path, sp);
    results r;
    memset(&r, 0, sizeof r);
    const char *names[1] = {fn};
    results_plan rp;
    memset(&rp, 0, sizeof rp);
    snprintf(rp.url, sizeof rp.url, "%s", path);
    engine_custom c = {.ops = &lua_worker_ops, .ctx = &pc, .nthreads = 1, .ngroups = 1,
                       .group_names = names, .duration_ns = s->max_duration_ns, .plan = &rp};
    engine_options quiet = {.interrupts = eo->interrupts};
    int rc = pc.agg ? engine_run_custom(&c, &quiet, &r, e) : err_set(e, VOLLEY_ENOMEM, "out of memory");
    if (!rc) {
        ph->ran = true;
        ph->requests = r.st.tot.requests;
        ph->errors = r.st.tot.errors;
        ph->duration_ms = (double)r.st.elapsed_ns / 1e6;
        if (pc.agg->nerrors)
            snprintf(ph->error, sizeof ph->error, "%s", pc.agg->errors[0].msg);
        results_free(&r);
    }
    script_results_free(pc.agg);
    free(sp);
    return rc;
}

int script_run(const char *path, const script_opts *o, const engine_options *eo, results *out,
               err *e)
{
    static const script_opts none = {0};
    if (!o)
        o = &none;
    lua_plan *lp = calloc(1, sizeof *lp);
    lua_worker_ctx *ctx = calloc(1, sizeof *ctx);
    if (!lp || !ctx) {
        free(lp);
        free(ctx);
        return err_set(e, VOLLEY_ENOMEM, "out of memory");
    }
    snprintf(ctx->dir, sizeof ctx->dir, "%s", path);
    char *slash = strrchr(ctx->dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(ctx->dir, sizeof ctx->dir, ".");
    int rc = check_script(path, ctx->dir, o, lp, e);
    if (rc) {
        free(lp);
        free(ctx);
        return rc;
    }
    ctx->path = path;
    ctx->env = o->env;
    ctx->nenv = o->nenv;
    ctx->plan = lp;
    ctx->tls = o->tls;
    ctx->ws_tls = o->ws_tls ? o->ws_tls : o->tls;
    ctx->h2c = o->h2c;
    ctx->h2_only = o->h2_only;
    ctx->quiet = o->quiet;
    ctx->seg = o->segment_n ? (segment){o->segment_k, o->segment_n} : (segment){1, 1};
    ctx->no_retry = o->no_retry;
    ctx->route = o->route;
    ctx->compressed = o->compressed;
    ctx->share_tls_sessions = o->share_tls_sessions;
    ctx->cold = o->cold;
    ctx->redirects = o->redirects_given ? (int)o->redirects : 10;
    ctx->raw = o->raw;
    _Atomic uint32_t errors_logged = 0;
    ctx->errors_logged = &errors_logged;
    /* setup() first: its return value is every iteration's argument; if it
     * raises, the scenarios do not run (as in k6). */
    char *setup_json = NULL;
    script_phase setup_ph = {0};
    if (lp->has_setup) {
        rc = run_phase(path, ctx, lp, "setup", &setup_json, eo, &setup_ph, e);
        if (!rc && setup_ph.error[0])
            rc = err_set(e, VOLLEY_EIO, "setup() failed, so the scenarios did not run: %s",
                         setup_ph.error);
        if (rc)
            goto done;
        ctx->setup_json = setup_json;
    }
    uint32_t total = 0;
    uint64_t end_ns = 0;
    const char *names[LUA_PLAN_MAX_SCENARIOS];
    for (size_t i = 0; i < lp->nsc; i++) {
        ctx->vu_base[i] = total;
        total += lua_plan_max_vus(&lp->sc[i]);
        names[i] = lp->sc[i].name;
        if (lua_plan_end_ns(&lp->sc[i]) > end_ns)
            end_ns = lua_plan_end_ns(&lp->sc[i]);
    }
    ctx->agg = script_results_new(path, lp);
    if (!ctx->agg) {
        rc = err_set(e, VOLLEY_ENOMEM, "out of memory");
        goto done;
    }
    ctx->agg->setup = setup_ph;
    ctx->agg->handle_summary = lp->has_summary;
    for (size_t i = 0; i < lp->nthr; i++) {
        script_threshold *t = realloc(ctx->agg->thresholds, (i + 1) * sizeof *t);
        if (!t)
            break;
        ctx->agg->thresholds = t;
        snprintf(t[i].metric, sizeof t[i].metric, "%s", lp->thr[i].metric);
        snprintf(t[i].expr, sizeof t[i].expr, "%s", lp->thr[i].expr);
        t[i].abort_on_fail = lp->thr[i].abort_on_fail;
        t[i].delay_abort_ns = lp->thr[i].delay_abort_ns;
        t[i].aborted = false;
        ctx->agg->nthresholds = i + 1;
    }
    uint32_t threads = o->threads ? o->threads : cores();
    if (threads > total)
        threads = total ? total : 1;
    results_plan rp;
    memset(&rp, 0, sizeof rp);
    snprintf(rp.url, sizeof rp.url, "%s", path);
    snprintf(rp.method, sizeof rp.method, "script");
    snprintf(rp.executor, sizeof rp.executor, "%s",
             lp->nsc == 1 ? lua_plan_kind_name(lp->sc[0].kind) : "scenarios");
    snprintf(rp.mode, sizeof rp.mode, "script");
    rp.connections = total;
    rp.threads = threads;
    rp.duration_ns = end_ns;
    rp.keepalive = true;
    /* -s: wrk's setup(thread) runs once per thread before the load. */
    if (o->wrk && !(ctx->wrk = lua_wrk_new(path, o, threads, e))) {
        rc = e->code ? e->code : VOLLEY_EINVAL;
        goto done;
    }
    /* --warmup: the same workers on a plan cut to the warm-up, results apart. */
    lua_worker_ctx wctx;
    lua_plan *wp = NULL;
    if (o->warmup_ns) {
        if (!(wp = malloc(sizeof *wp))) {
            rc = err_set(e, VOLLEY_ENOMEM, "out of memory");
            goto done;
        }
        warmup_plan(lp, wp, o->warmup_ns);
        wctx = *ctx;
        wctx.plan = wp;
        wctx.raw = false;
        wctx.agg = NULL; /* its checks and metrics are not kept */
        rp.warmup_ns = o->warmup_ns;
    }
    engine_custom c = {
        .warmup_ns = o->warmup_ns,
        .warmup_ctx = wp ? &wctx : NULL,
        .ops = &lua_worker_ops,
        .ctx = ctx,
        .nthreads = threads,
        .ngroups = (uint32_t)lp->nsc,
        .group_names = names,
        .duration_ns = end_ns,
        .plan = &rp,
    };
    /* abortOnFail thresholds are judged each second, before the session's
     * own per-second work. */
    live_abort la = {.next = *eo, .sr = ctx->agg};
    engine_options leo = *eo;
    if (live_abort_setup(&la, &leo)) {
        rc = err_set(e, VOLLEY_ENOMEM, "out of memory");
        goto done;
    }
    rc = engine_run_custom(&c, &leo, out, e);
    free(wp);
    hist_free(la.latency);
    /* wrk's done(): a failure there fails the run, the results are kept. */
    err de = {0};
    /* done() gets the closed model's corrected latency (the session
     * corrects again, the same way, before results.json). */
    if (!rc && ctx->wrk)
        results_correct_closed(out);
    if (!rc && ctx->wrk && lua_wrk_done(ctx->wrk, out, &de))
        snprintf(ctx->agg->hook_error, sizeof ctx->agg->hook_error, "%s", de.msg);
    if (!rc && ctx->agg->names_folded)
        log_warn("more than %d request names: the rest are counted as 'other' (give related "
                 "URLs one params.name)", SCRIPT_MAX_NAMES);
    /* teardown(data) after the scenarios, even when they were stopped. */
    if (!rc && lp->has_teardown)
        run_phase(path, ctx, lp, "teardown", NULL, eo, &ctx->agg->teardown, e);
done:
    if (o->res && !rc) {
        *o->res = ctx->agg;
        ctx->agg = NULL;
    }
    script_results_free(ctx->agg);
    lua_wrk_free(ctx->wrk);
    free(setup_json);
    lua_shared_free_all();
    lua_plan_free(lp);
    free(lp);
    free(ctx);
    return rc;
}
