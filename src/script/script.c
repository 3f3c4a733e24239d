/* script: `volley run flow.lua` from file to results (see script.h). The
 * script is first run once in a checking state (no load: syntax errors,
 * top-level errors and bad options stop here, exit 2), then each worker of
 * script/lua_worker loads it again in its own state. The script's own
 * results (checks, custom metrics, ws, iterations) are merged from the
 * workers and written by script_results_json / script_summary_print. */
#include "script/script.h"

#include "core/clock.h"
#include "core/parse.h"
#include "script/lua_api.h"
#include "script/lua_plan.h"
#include "script/lua_worker.h"

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

/* Loads the script once with no worker: errors before any load. */
static int check_script(const char *path, const char *dir, const script_opts *o, lua_plan *p,
                        err *e)
{
    lua_State *L = luaL_newstate();
    if (!L)
        return err_set(e, VOLLEY_ENOMEM, "out of memory for Lua");
    int rc = lua_api_install(L, NULL, dir, o ? o->env : NULL, o ? o->nenv : 0, e);
    if (!rc)
        rc = lua_api_load(L, path, e);
    if (!rc)
        rc = lua_plan_read(L, p, e);
    if (!rc && o && o->shape)
        rc = lua_plan_override(L, p, o->shape, e);
    lua_close(L);
    if (!rc && o)
        rc = set_http_defaults(p, o, e);
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
    ctx->quiet = o->quiet;
    ctx->no_retry = o->no_retry;
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
    for (size_t i = 0; i < lp->nthr; i++) {
        script_threshold *t = realloc(ctx->agg->thresholds, (i + 1) * sizeof *t);
        if (!t)
            break;
        ctx->agg->thresholds = t;
        snprintf(t[i].metric, sizeof t[i].metric, "%s", lp->thr[i].metric);
        snprintf(t[i].expr, sizeof t[i].expr, "%s", lp->thr[i].expr);
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
    engine_custom c = {
        .ops = &lua_worker_ops,
        .ctx = ctx,
        .nthreads = threads,
        .ngroups = (uint32_t)lp->nsc,
        .group_names = names,
        .duration_ns = end_ns,
        .plan = &rp,
    };
    rc = engine_run_custom(&c, eo, out, e);
done:
    if (o->res && !rc) {
        *o->res = ctx->agg;
        ctx->agg = NULL;
    }
    script_results_free(ctx->agg);
    lua_plan_free(lp);
    free(lp);
    free(ctx);
    return rc;
}
