/* lua_worker: a scripted load thread (see lua_worker.h). Executors decide
 * when a VU starts an iteration: closed kinds restart a VU when its
 * iteration ends (through the loop, never recursively), ramping VUs follow
 * executor_vus_at, arrival-rate kinds hand the iteration scheduled at
 * executor_time_of(i) to a free VU or count it as dropped. A scenario that
 * ends lets running iterations finish for its gracefulStop, then drops
 * them (their HTTP requests in flight are counted as cancelled). */
#include "script/lua_worker.h"

#include "core/clock.h"
#include "core/log.h"
#include "load/rawq.h"
#include "script/lua_api.h"
#include "script/lua_pool.h"
#include "script/lua_vu.h"
#include "script/lua_wrk.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAMP_CHECK_NS (10 * NS_PER_MS)
#define STOP_GRACE_NS (5 * NS_PER_S) /* engine stop (Ctrl-C): the longest wait */
#define MAX_LOGGED_ERRORS 5

/* Per scenario, per worker. */
typedef struct lua_worker_scen {
    lua_worker *w;
    const lua_scenario *s;
    uint32_t idx;
    lua_vu *vus;
    uint32_t nvus;
    uint64_t issued, quota;  /* iteration kinds: started and allowed (per worker) */
    shell_sched walk;        /* arrival rate: this worker's schedule (load/shell) */
    lua_vu *free;
    uint32_t busy;           /* VUs in an iteration */
    bool started, ended, finished, killed;
    bool stops_begun;        /* the VUs' stop hooks were started (or there are none) */
    loop_timer start_t, end_t, ramp_t, grace_t;
    int fn_ref;              /* the exec function */
} lua_worker_scen;

/* Private: the rest of the script layer uses the accessors in
 * lua_worker.h, and VUs the copies in lua_vu. */
struct lua_worker {
    shell sh;                /* thread, loop, tick, stop mailbox (load/shell) */
    const lua_vu_hooks *hooks;
    const lua_worker_ctx *ctx;
    uint32_t id, nworkers;
    uint64_t start_ns;
    loop *lp;                /* sh.lp */
    lua_State *L;
    pool *pool;              /* L's allocator (script/lua_pool over core/pool) */
    metrics_shard *shards[LUA_PLAN_MAX_SCENARIOS];
    lua_worker_scen sc[LUA_PLAN_MAX_SCENARIOS];
    uint32_t nsc;
    script_results *res;     /* this worker's checks, metrics, errors (merged at the end) */
    uint64_t rng;
    bool stopping;
    xch_ctx xctx;            /* the exchange's per-thread context */
    lua_targets targets;
    uint32_t direct_starts;  /* nesting of iterations started from an iteration's end */
    struct rawq *raw;        /* --raw records (load/rawq), NULL without */
    char rbuf[64 * 1024];
};

static void scen_finish_check(lua_worker *w, lua_worker_scen *sc);
static void vu_try_start(lua_vu *vu);
static void scen_kill(loop *l, void *data);


static bool is_rate(const lua_worker_scen *sc)
{
    return sc->s->kind == LSX_CONSTANT_RATE || sc->s->kind == LSX_RAMPING_RATE;
}

static bool may_start(lua_worker *w, lua_worker_scen *sc, lua_vu *vu)
{
    if (!sc->started || sc->ended || w->stopping)
        return false;
    switch (sc->s->kind) {
    case LSX_CONSTANT_VUS:
        return true;
    case LSX_RAMPING_VUS:
        return vu->wanted;
    case LSX_PER_VU_ITERATIONS:
        return vu->iters_done < sc->s->iterations;
    case LSX_SHARED_ITERATIONS:
        return sc->issued < sc->quota;
    default:
        return false; /* arrival rate: the schedule starts iterations */
    }
}

static void all_finished_check(lua_worker *w)
{
    for (uint32_t i = 0; i < w->nsc; i++)
        if (!w->sc[i].finished)
            return;
    loop_stop(w->lp);
}

/* Whether the script has per-VU stop hooks: vu_stop(data), or a user
 * class with on_stop (the prelude marks the registry). */
static bool has_stop_hooks(lua_worker *w)
{
    if (w->ctx->phase || w->ctx->wrk)
        return false;
    bool fn = lua_getglobal(w->L, "vu_stop") == LUA_TFUNCTION;
    bool user = lua_getfield(w->L, LUA_REGISTRYINDEX, "volley.want_stop") == LUA_TBOOLEAN;
    lua_pop(w->L, 2);
    return fn || user;
}

/* Every VU of sc that ran an iteration runs its stop hooks once, within
 * the scenario's gracefulStop (what is left of it if iterations were still
 * finishing; at most STOP_GRACE_NS after a stop). Returns true if any
 * started. */
static bool begin_stops(lua_worker *w, lua_worker_scen *sc)
{
    sc->stops_begun = true;
    if (sc->killed || !has_stop_hooks(w))
        return false;
    sc->busy++; /* hooks that end at once must not finish sc under this loop */
    for (uint32_t i = 0; i < sc->nvus; i++) {
        lua_vu *vu = &sc->vus[i];
        if (!vu->iters_done || vu->dead || !vu->co || vu->in_iter)
            continue;
        loop_timer_stop(w->lp, &vu->next);
        sc->busy++;
        lua_vu_begin_stop(vu);
    }
    sc->busy--;
    if (sc->busy && !loop_timer_active(&sc->grace_t)) {
        uint64_t g = sc->s->graceful_stop_ns;
        if (w->stopping && g > STOP_GRACE_NS) /* Ctrl-C, abortOnFail: as begin_stop */
            g = STOP_GRACE_NS;
        loop_timer_start(w->lp, &sc->grace_t, loop_update_now(w->lp) + g, scen_kill, sc);
    }
    return sc->busy > 0;
}

static void scen_finish_check(lua_worker *w, lua_worker_scen *sc)
{
    if (sc->finished || !sc->started || sc->busy)
        return;
    bool more = false;
    if (is_rate(sc))
        more = !sc->ended && !sc->walk.over && sc->walk.next_i < sc->walk.limit;
    else
        for (uint32_t i = 0; i < sc->nvus && !more; i++)
            more = may_start(w, sc, &sc->vus[i]) ||
                   (sc->s->kind == LSX_RAMPING_VUS && !sc->ended && !w->stopping);
    if (more)
        return;
    if (!sc->stops_begun && begin_stops(w, sc))
        return;
    sc->finished = true;
    loop_timer_stop(w->lp, &sc->end_t);
    shell_sched_stop(&sc->walk);
    loop_timer_stop(w->lp, &sc->ramp_t);
    loop_timer_stop(w->lp, &sc->grace_t);
    all_finished_check(w);
}

/* ---- iterations ---- */

static void on_next(loop *l, void *data)
{
    (void)l;
    vu_try_start(data);
}

static void start_iteration(lua_vu *vu)
{
    lua_worker_scen *sc = &vu->w->sc[vu->scen];
    sc->busy++;
    vu->iteration = vu->iters_done;
    lua_vu_begin(vu);
}

static void vu_try_start(lua_vu *vu)
{
    lua_worker *w = vu->w;
    lua_worker_scen *sc = &w->sc[vu->scen];
    if (vu->in_iter)
        return;
    if (!may_start(w, sc, vu)) {
        scen_finish_check(w, sc);
        return;
    }
    if (sc->s->kind == LSX_SHARED_ITERATIONS)
        sc->issued++;
    start_iteration(vu);
}

static void note_error(lua_worker *w, const char *msg, const char *where)
{
    if (w->ctx->quiet || !w->ctx->errors_logged)
        return;
    /* The first few of the whole run, whichever thread met them. */
    uint32_t n = atomic_fetch_add_explicit(w->ctx->errors_logged, 1, memory_order_relaxed) + 1;
    if (n > MAX_LOGGED_ERRORS)
        return;
    log_warn("script error (%s): %s%s", where, msg,
             n == MAX_LOGGED_ERRORS ? " (further errors are only counted)" : "");
}

/* The VU's stop hooks (begin_stops) ended. */
static void stop_done(lua_vu *vu, const char *error)
{
    lua_worker *w = vu->w;
    lua_worker_scen *sc = &w->sc[vu->scen];
    sc->busy--;
    vu->in_stop = false;
    if (error) {
        char where[96];
        snprintf(where, sizeof where, "VU %llu, scenario %s, on_stop",
                 (unsigned long long)vu->id, sc->s->name);
        script_results_error(w->res, error, where, 1);
        note_error(w, error, where);
    }
    scen_finish_check(w, sc);
}

/* What every iteration's end records. Returns the time it ended. */
static uint64_t record_end(lua_vu *vu, const char *error)
{
    lua_worker *w = vu->w;
    lua_worker_scen *sc = &w->sc[vu->scen];
    script_scenario *rs = &w->res->sc[vu->scen];
    uint64_t now = loop_update_now(w->lp);
    sc->busy--;
    vu->iters_done++;
    rs->iterations++;
    hist_record(rs->iteration_ns, now - vu->iter_start_ns);
    if (error) {
        char where[96];
        snprintf(where, sizeof where, "VU %llu, scenario %s", (unsigned long long)vu->id,
                 sc->s->name);
        rs->iteration_errors++;
        script_results_error(w->res, error, where, 1);
        note_error(w, error, where);
    }
    return now;
}

static void iteration_done(lua_vu *vu, const char *error)
{
    lua_worker *w = vu->w;
    lua_worker_scen *sc = &w->sc[vu->scen];
    if (vu->in_stop) { /* its stop hooks: not an iteration */
        stop_done(vu, error);
        return;
    }
    uint64_t now = record_end(vu, error);
    if (is_rate(sc)) {
        vu->next_free = sc->free;
        sc->free = vu;
        scen_finish_check(w, sc);
        return;
    }
    /* The next iteration at once, unless this end is itself inside a
     * direct start (an iteration that never waited): then through the loop,
     * so a VU function that never yields cannot recurse. */
    if (w->direct_starts == 0) {
        w->direct_starts++;
        vu_try_start(vu);
        w->direct_starts--;
        return;
    }
    loop_timer_start(w->lp, &vu->next, now, on_next, vu);
}

/* The iteration of a closed kind ended inside the VU's coroutine, and the
 * VU may start its next one now: the same as iteration_done followed by
 * vu_try_start, without leaving the coroutine (lua_vu_next_at_once). */
static bool next_at_once(lua_vu *vu, const char *error)
{
    lua_worker *w = vu->w;
    lua_worker_scen *sc = &w->sc[vu->scen];
    if (is_rate(sc) || w->direct_starts || !sc->started || sc->ended || w->stopping ||
        vu->in_stop)
        return false;
    bool more;
    switch (sc->s->kind) {
    case LSX_CONSTANT_VUS:
        more = true;
        break;
    case LSX_RAMPING_VUS:
        more = vu->wanted;
        break;
    case LSX_PER_VU_ITERATIONS:
        more = vu->iters_done + 1 < sc->s->iterations;
        break;
    case LSX_SHARED_ITERATIONS:
        more = sc->issued < sc->quota;
        break;
    default:
        more = false;
    }
    if (!more)
        return false;
    vu->iter_start_ns = record_end(vu, error);
    if (sc->s->kind == LSX_SHARED_ITERATIONS)
        sc->issued++;
    sc->busy++;
    vu->iteration = vu->iters_done;
    return true;
}

/* ---- executors ---- */

static uint64_t scen_t0(lua_worker *w, lua_worker_scen *sc)
{
    return w->start_ns + sc->s->start_ns;
}

static void on_ramp(loop *l, void *data)
{
    lua_worker_scen *sc = data;
    lua_worker *w = sc->w;
    uint64_t now = loop_now(l), t0 = scen_t0(w, sc);
    uint32_t want = executor_vus_at(&sc->s->x, now > t0 ? now - t0 : 0);
    for (uint32_t i = 0; i < sc->nvus; i++) {
        lua_vu *vu = &sc->vus[i];
        vu->wanted = vu->index < want;
        if (vu->wanted && !vu->in_iter && !loop_timer_active(&vu->next))
            vu_try_start(vu);
    }
    if (!sc->ended && !w->stopping)
        loop_timer_start(l, &sc->ramp_t, now + RAMP_CHECK_NS, on_ramp, sc);
}

/* The walker (load/shell) says iteration i is due: a free VU runs it. */
static void sched_fire(void *ctx, uint64_t i, uint64_t at_ns)
{
    (void)i;
    (void)at_ns;
    lua_worker_scen *sc = ctx;
    lua_vu *vu = sc->free;
    if (vu) {
        sc->free = vu->next_free;
        start_iteration(vu);
    } else {
        sc->w->res->sc[sc->idx].dropped++;
        metrics_record_dropped(sc->w->shards[sc->idx]);
    }
}

static void sched_drop(void *ctx, uint64_t n)
{
    lua_worker_scen *sc = ctx;
    metrics_shard *m = sc->w->shards[sc->idx];
    m->tot.dropped += n;
    metrics_cur(m)->dropped += n;
    sc->w->res->sc[sc->idx].dropped += n;
}

static bool sched_can_take(void *ctx) { return ((lua_worker_scen *)ctx)->free != NULL; }

static void sched_done(void *ctx)
{
    lua_worker_scen *sc = ctx;
    scen_finish_check(sc->w, sc);
}

static void scen_kill(loop *l, void *data)
{
    (void)l;
    lua_worker_scen *sc = data;
    for (uint32_t i = 0; i < sc->nvus; i++) {
        lua_vu *vu = &sc->vus[i];
        loop_timer_stop(vu->w->lp, &vu->next);
        if (vu->in_iter) {
            lua_vu_cancel(vu);
            sc->busy--;
        }
    }
    sc->killed = true;
    scen_finish_check(sc->w, sc);
}

static void scen_end(lua_worker *w, lua_worker_scen *sc, uint64_t grace_ns)
{
    if (sc->ended)
        return;
    sc->ended = true;
    shell_sched_stop(&sc->walk);
    loop_timer_stop(w->lp, &sc->ramp_t);
    loop_timer_stop(w->lp, &sc->start_t);
    if (!sc->started) {
        sc->started = true; /* never will: nothing to wait for */
        scen_finish_check(w, sc);
        return;
    }
    for (uint32_t i = 0; i < sc->nvus; i++)
        loop_timer_stop(w->lp, &sc->vus[i].next);
    if (sc->busy)
        loop_timer_start(w->lp, &sc->grace_t, loop_update_now(w->lp) + grace_ns, scen_kill, sc);
    scen_finish_check(w, sc);
}

static void on_scen_end(loop *l, void *data)
{
    (void)l;
    lua_worker_scen *sc = data;
    if (is_rate(sc))
        shell_sched_flush(&sc->walk);
    scen_end(sc->w, sc, sc->s->graceful_stop_ns);
}

static void on_scen_start(loop *l, void *data)
{
    lua_worker_scen *sc = data;
    if (!sc->vus) { /* this worker has no VU of the scenario */
        sc->started = sc->ended = sc->finished = true;
        all_finished_check(sc->w);
        return;
    }
    lua_worker *w = sc->w;
    sc->started = true;
    loop_timer_start(l, &sc->end_t, scen_t0(w, sc) + lua_plan_end_ns(sc->s) - sc->s->start_ns,
                     on_scen_end, sc);
    switch (sc->s->kind) {
    case LSX_RAMPING_VUS:
        on_ramp(l, sc);
        break;
    case LSX_CONSTANT_RATE:
    case LSX_RAMPING_RATE:
        sc->walk.t0_ns = scen_t0(w, sc);
        shell_sched_start(&sc->walk);
        break;
    default:
        for (uint32_t i = 0; i < sc->nvus; i++)
            vu_try_start(&sc->vus[i]);
        break;
    }
    scen_finish_check(w, sc);
}

/* ---- run control ---- */

/* shell_driver.start: the common start; each scenario at its startTime. */
static void drv_start(void *d)
{
    lua_worker *w = d;
    for (uint32_t i = 0; i < w->nsc; i++) {
        lua_worker_scen *sc = &w->sc[i];
        loop_timer_start(w->lp, &sc->start_t, scen_t0(w, sc), on_scen_start, sc);
    }
}

static void begin_stop(lua_worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    for (uint32_t i = 0; i < w->nsc; i++) {
        lua_worker_scen *sc = &w->sc[i];
        uint64_t g = sc->s->graceful_stop_ns < STOP_GRACE_NS ? sc->s->graceful_stop_ns
                                                             : STOP_GRACE_NS;
        if (sc->ended && loop_timer_active(&sc->grace_t)) {
            if (sc->grace_t.when_ns > loop_now(w->lp) + g)
                loop_timer_start(w->lp, &sc->grace_t, loop_now(w->lp) + g, scen_kill, sc);
            continue;
        }
        if (!sc->vus) {
            sc->started = sc->ended = sc->finished = true;
            continue;
        }
        scen_end(w, sc, g);
    }
    all_finished_check(w);
}

static void drv_stop(void *d) { begin_stop(d); }

void lua_worker_stop(lua_worker *w) { begin_stop(w); }

void lua_worker_raw(lua_vu *vu, const xch_req *x, const xch_outcome *o)
{
    lua_worker *w = vu->w;
    if (!w->raw)
        return;
    worker_raw rr = {
        .intended_ns = x->intended_ns > w->start_ns ? x->intended_ns - w->start_ns : 0,
        .latency_ns = o->latency_ns, .service_ns = o->service_ns, .ttfb_ns = o->ttfb_ns,
        .bytes_in = o->bytes_in, .bytes_out = o->bytes_out,
        .status = (uint16_t)(o->err < 0 ? o->status : 0),
        .ep = (uint8_t)vu->scen, .err = (int8_t)o->err,
    };
    rawq_push(w->raw, &rr);
}

/* shell_driver.cancel: whatever is still running has no outcome:
 * cancelled, and counted. */
static void drv_cancel(void *d)
{
    lua_worker *w = d;
    for (uint32_t i = 0; i < w->nsc; i++)
        for (uint32_t j = 0; j < w->sc[i].nvus; j++)
            lua_vu_cancel(&w->sc[i].vus[j]);
}

static const shell_driver driver = {drv_start, drv_stop, drv_cancel};

/* ---- accessors (lua_worker.h) ---- */

const lua_worker_ctx *lua_worker_context(const lua_worker *w) { return w->ctx; }
script_results *lua_worker_results(const lua_worker *w) { return w->res; }
uint64_t *lua_worker_rng(lua_worker *w) { return &w->rng; }
lua_targets *lua_worker_targets(lua_worker *w) { return &w->targets; }
xch_ctx *lua_worker_xch(lua_worker *w) { return &w->xctx; }
loop *lua_worker_loop(const lua_worker *w) { return w->lp; }
uint32_t lua_worker_id(const lua_worker *w) { return w->id; }

char *lua_worker_rbuf(lua_worker *w, size_t *cap)
{
    *cap = sizeof w->rbuf;
    return w->rbuf;
}

const char *lua_worker_scenario_name(const lua_worker *w, uint32_t scen)
{
    return scen < w->nsc ? w->sc[scen].s->name : "";
}

/* ---- setup ---- */

static void op_destroy(void *p);

static int setup_scenario(lua_worker *w, uint32_t i, err *e)
{
    const lua_worker_ctx *ctx = w->ctx;
    const lua_scenario *s = &ctx->plan->sc[i];
    lua_worker_scen *sc = &w->sc[i];
    sc->w = w;
    sc->s = s;
    sc->idx = i;
    loop_timer_init(&sc->start_t);
    loop_timer_init(&sc->end_t);
    loop_timer_init(&sc->walk.timer);
    loop_timer_init(&sc->ramp_t);
    loop_timer_init(&sc->grace_t);
    uint32_t T = w->nworkers, id = w->id;
    uint32_t total = lua_plan_max_vus(s);
    segment sg = ctx->seg.n ? ctx->seg : (segment){1, 1};
    sc->nvus = segment_worker_vus(sg, total, T, id);
    /* Only segments and workers that got a VU share the iterations. */
    if (s->kind == LSX_SHARED_ITERATIONS)
        sc->quota = segment_worker_quota(sg, s->iterations, total, T, id);
    if (is_rate(sc))
        sc->walk = (shell_sched){.x = &s->x, .lp = w->lp, .dur_ns = executor_duration_ns(&s->x),
                                 .stride = segment_iter_stride(sg, T),
                                 .next_i = segment_first_iter(sg, T, id),
                                 .limit = executor_total(&s->x),
                                 .fire = sched_fire, .drop = sched_drop, .can_take = sched_can_take,
                                 .done = sched_done,
                                 .ctx = sc, .timer = sc->walk.timer};
    lua_getglobal(w->L, s->exec);
    if (!lua_isfunction(w->L, -1)) {
        lua_pop(w->L, 1);
        return err_set(e, VOLLEY_EINVAL, "options.scenarios.%s.exec: no function '%s'",
                       s->name, s->exec);
    }
    sc->fn_ref = luaL_ref(w->L, LUA_REGISTRYINDEX);
    if (!sc->nvus)
        return 0;
    sc->vus = calloc(sc->nvus, sizeof *sc->vus);
    if (!sc->vus)
        return err_set(e, VOLLEY_ENOMEM, "out of memory for %u VUs", sc->nvus);
    for (uint32_t j = sc->nvus; j-- > 0;) {
        lua_vu *vu = &sc->vus[j];
        vu->w = w;
        vu->lp = w->lp;
        vu->L = w->L;
        vu->hooks = w->hooks;
        vu->shard = w->shards[i];
        vu->fn_ref = sc->fn_ref;
        vu->phase = ctx->phase;
        vu->scen = i;
        /* run-wide, interleaved over segments and workers, so ramps spread */
        vu->index = segment_vu_index(sg, T, id, j);
        vu->id = ctx->vu_base[i] + vu->index + 1;
        vu->co_ref = LUA_NOREF;
        loop_timer_init(&vu->timer);
        vu->wake = (loop_defer){0};
        loop_timer_init(&vu->next);
        int rc = lua_vu_init(vu, e);
        if (rc)
            return rc;
        vu->next_free = sc->free;
        sc->free = vu;
    }
    return 0;
}

static const lua_vu_hooks hooks = {lua_api_push_results, lua_api_cancel, lua_api_vu_free,
                                   iteration_done, next_at_once};

static void *op_create(void *ctxp, const engine_worker_args *a, err *e)
{
    const lua_worker_ctx *ctx = ctxp;
    lua_worker *w = calloc(1, sizeof *w);
    if (!w) {
        err_set(e, VOLLEY_ENOMEM, "out of memory");
        return NULL;
    }
    w->ctx = ctx;
    w->hooks = &hooks;
    w->id = a->id;
    w->nworkers = a->nworkers;
    w->start_ns = a->start_ns;
    w->rng = (clock_now_ns() ^ ((uint64_t)(a->id + 1) * 0x9E3779B97F4A7C15ULL)) | 1;
    w->nsc = (uint32_t)ctx->plan->nsc;
    if (shell_init(&w->sh, a->id, a->start_ns, w->shards, w->nsc, &driver, w, e))
        goto fail;
    w->sh.name = "script worker";
    w->lp = w->sh.lp;
    w->xctx = (xch_ctx){.lp = w->lp, .rbuf = w->rbuf, .rbuf_len = sizeof w->rbuf,
                        .active = &w->sh.active, .retry = !ctx->no_retry, .decode = ctx->compressed,
                        .fatal = w->sh.fatal, .fatal_cap = sizeof w->sh.fatal};
    for (uint32_t i = 0; i < w->nsc; i++)
        if (!(w->shards[i] = metrics_shard_new())) {
            err_set(e, VOLLEY_ENOMEM, "out of memory");
            goto fail;
        }
    if (ctx->raw && !(w->raw = rawq_new())) {
        err_set(e, VOLLEY_ENOMEM, "out of memory for --raw");
        goto fail;
    }
    if (!(w->res = script_results_new(ctx->path, ctx->plan))) {
        err_set(e, VOLLEY_ENOMEM, "out of memory");
        goto fail;
    }
    /* Small blocks reused from free lists, not malloc'd and freed each
     * request. */
    if (!(w->pool = lua_pool_new()) || !(w->L = lua_pool_newstate(w->pool))) {
        err_set(e, VOLLEY_ENOMEM, "out of memory for Lua");
        goto fail;
    }
    /* Generational GC: a request's response table and strings die young. */
    lua_gc(w->L, LUA_GCGEN, 0, 0);
    if (lua_api_install(w->L, w, ctx->dir, ctx->env, ctx->nenv, e) ||
        (ctx->wrk ? lua_wrk_worker_load(w->L, ctx->wrk, w, w->id, ctx->path, e)
                  : lua_api_load(w->L, ctx->path, e)))
        goto fail;
    for (uint32_t i = 0; i < w->nsc; i++)
        if (setup_scenario(w, i, e))
            goto fail;
    return w;
fail:
    op_destroy(w);
    return NULL;
}

static int op_start(void *p, err *e) { return shell_start(&((lua_worker *)p)->sh, e); }
static void op_request_stop(void *p) { shell_request_stop(&((lua_worker *)p)->sh); }
static void op_abort(void *p) { shell_abort(&((lua_worker *)p)->sh); }
static void op_join(void *p) { shell_join(&((lua_worker *)p)->sh); }

static void op_destroy(void *p)
{
    lua_worker *w = p;
    if (!w)
        return;
    if (w->res && w->ctx->agg)
        script_results_merge(w->ctx->agg, w->res);
    if (w->ctx->wrk)
        lua_wrk_collect(w->ctx->wrk, w->id, w->L);
    for (uint32_t i = 0; i < w->nsc; i++)
        for (uint32_t j = 0; j < w->sc[i].nvus; j++)
            if (w->sc[i].vus[j].w)
                lua_vu_cancel(&w->sc[i].vus[j]);
    /* Closing the state runs the __gc of open WebSockets (they close their
     * connections on the loop, which must still exist). */
    if (w->L)
        lua_close(w->L);
    pool_free(w->pool);
    for (uint32_t i = 0; i < w->nsc; i++) {
        for (uint32_t j = 0; j < w->sc[i].nvus; j++)
            if (w->sc[i].vus[j].w)
                lua_vu_free(&w->sc[i].vus[j]);
        free(w->sc[i].vus);
    }
    /* after the VUs' connections: their SSLs hold the slots until freed */
    for (uint32_t i = 0; i < w->targets.n; i++)
        tls_session_free(w->targets.t[i].share.session);
    shell_destroy(&w->sh);
    for (uint32_t i = 0; i < w->nsc; i++)
        metrics_shard_free(w->shards[i]);
    script_results_free(w->res);
    rawq_free(w->raw);
    free(w);
}

static bool op_done(void *p) { return shell_done(&((lua_worker *)p)->sh); }
static metrics_shard *op_shard(void *p, uint32_t g) { return ((lua_worker *)p)->shards[g]; }
static uint32_t op_active(void *p) { return shell_active(&((lua_worker *)p)->sh); }
static uint64_t op_end_ns(void *p) { return ((lua_worker *)p)->sh.end_ns; }
static uint64_t op_current_second(void *p) { return ((lua_worker *)p)->shards[0]->cur; }
static const char *op_fatal(void *p) { return shell_fatal(&((lua_worker *)p)->sh); }

static size_t op_drain_raw(void *p, engine_raw_fn fn, void *ctx)
{
    lua_worker *w = p;
    return w->raw ? rawq_drain(w->raw, fn, ctx) : 0;
}

static uint64_t op_raw_dropped(void *p)
{
    lua_worker *w = p;
    return w->raw ? rawq_dropped(w->raw) : 0;
}

const engine_worker_ops lua_worker_ops = {
    op_create, op_start, op_request_stop, op_abort, op_join, op_destroy, op_done,
    op_shard, op_active, op_end_ns, op_current_second, op_fatal, op_drain_raw, op_raw_dropped,
};
