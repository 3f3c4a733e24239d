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
#include "script/lua_api.h"
#include "script/lua_vu.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define RAMP_CHECK_NS (10 * NS_PER_MS)
#define STOP_GRACE_NS (5 * NS_PER_S) /* engine stop (Ctrl-C): the longest wait */
#define MAX_LOGGED_ERRORS 5

static void scen_finish_check(lua_worker *w, lw_scen *sc);
static void vu_try_start(lua_vu *vu);

void lua_worker_active_add(lua_worker *w, int delta)
{
    uint32_t a = atomic_load_explicit(&w->active, memory_order_relaxed);
    atomic_store_explicit(&w->active, a + (uint32_t)delta, memory_order_relaxed);
}

static bool is_rate(const lw_scen *sc)
{
    return sc->s->kind == LSX_CONSTANT_RATE || sc->s->kind == LSX_RAMPING_RATE;
}

static bool may_start(lua_worker *w, lw_scen *sc, lua_vu *vu)
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

static void scen_finish_check(lua_worker *w, lw_scen *sc)
{
    if (sc->finished || !sc->started || sc->busy)
        return;
    bool more = false;
    if (is_rate(sc))
        more = !sc->ended && sc->next_i < sc->limit;
    else
        for (uint32_t i = 0; i < sc->nvus && !more; i++)
            more = may_start(w, sc, &sc->vus[i]) ||
                   (sc->s->kind == LSX_RAMPING_VUS && !sc->ended && !w->stopping);
    if (more)
        return;
    sc->finished = true;
    loop_timer_stop(w->lp, &sc->end_t);
    loop_timer_stop(w->lp, &sc->sched_t);
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
    lw_scen *sc = &vu->w->sc[vu->scen];
    sc->busy++;
    vu->iteration = vu->iters_done;
    lua_vu_begin(vu);
}

static void vu_try_start(lua_vu *vu)
{
    lua_worker *w = vu->w;
    lw_scen *sc = &w->sc[vu->scen];
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
    if (w->ctx->quiet || w->errors_logged >= MAX_LOGGED_ERRORS)
        return;
    w->errors_logged++;
    log_warn("script error (%s): %s%s", where, msg,
             w->errors_logged == MAX_LOGGED_ERRORS ? " (further errors are only counted)" : "");
}

void lua_worker_iteration_done(lua_vu *vu, const char *error)
{
    lua_worker *w = vu->w;
    lw_scen *sc = &w->sc[vu->scen];
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
    if (is_rate(sc)) {
        vu->next_free = sc->free;
        sc->free = vu;
        scen_finish_check(w, sc);
        return;
    }
    loop_timer_start(w->lp, &vu->next, now, on_next, vu);
}

/* ---- executors ---- */

static uint64_t scen_t0(lua_worker *w, lw_scen *sc)
{
    return w->start_ns + sc->s->start_ns;
}

static void on_ramp(loop *l, void *data)
{
    lw_scen *sc = data;
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

static void on_sched(loop *l, void *data)
{
    lw_scen *sc = data;
    lua_worker *w = sc->w;
    uint64_t now = loop_update_now(l), t0 = scen_t0(w, sc);
    uint64_t dur = executor_duration_ns(&sc->s->x);
    while (!sc->ended && !w->stopping && sc->next_i < sc->limit) {
        uint64_t off = executor_time_of(&sc->s->x, sc->next_i);
        if (off == UINT64_MAX || off >= dur) {
            sc->next_i = sc->limit;
            break;
        }
        if (t0 + off > now) {
            loop_timer_start(l, &sc->sched_t, t0 + off, on_sched, sc);
            return;
        }
        lua_vu *vu = sc->free;
        if (vu) {
            sc->free = vu->next_free;
            start_iteration(vu);
        } else {
            metrics_record_dropped(w->shards[sc->idx]);
            w->res->sc[sc->idx].dropped++;
        }
        sc->next_i += sc->stride;
    }
    scen_finish_check(w, sc);
}

static void scen_kill(loop *l, void *data)
{
    (void)l;
    lw_scen *sc = data;
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

static void scen_end(lua_worker *w, lw_scen *sc, uint64_t grace_ns)
{
    if (sc->ended)
        return;
    sc->ended = true;
    loop_timer_stop(w->lp, &sc->sched_t);
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
    lw_scen *sc = data;
    scen_end(sc->w, sc, sc->s->graceful_stop_ns);
}

static void on_scen_start(loop *l, void *data)
{
    lw_scen *sc = data;
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
        on_sched(l, sc);
        break;
    default:
        for (uint32_t i = 0; i < sc->nvus; i++)
            vu_try_start(&sc->vus[i]);
        break;
    }
    scen_finish_check(w, sc);
}

/* ---- run control ---- */

static void on_tick(loop *l, void *data)
{
    lua_worker *w = data;
    for (uint32_t i = 0; i < w->nsc; i++)
        metrics_close_interval(w->shards[i]);
    loop_timer_start(l, &w->tick_timer, w->start_ns + (w->shards[0]->cur + 1) * NS_PER_S,
                     on_tick, w);
}

static void on_start(loop *l, void *data)
{
    lua_worker *w = data;
    loop_timer_start(l, &w->tick_timer, w->start_ns + NS_PER_S, on_tick, w);
    for (uint32_t i = 0; i < w->nsc; i++) {
        lw_scen *sc = &w->sc[i];
        loop_timer_start(l, &sc->start_t, scen_t0(w, sc), on_scen_start, sc);
    }
}

static void begin_stop(lua_worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    for (uint32_t i = 0; i < w->nsc; i++) {
        lw_scen *sc = &w->sc[i];
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

/* Posted by the engine: 1 = stop gracefully, 2 = stop now. */
static void on_post(loop *l, int level, void *data)
{
    if (level >= 2)
        loop_stop(l);
    else
        begin_stop(data);
}

static void *worker_main(void *arg)
{
    lua_worker *w = arg;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    loop_timer_start(w->lp, &w->start_timer, w->start_ns, on_start, w);
    if (loop_posted(w->lp) < 2)
        loop_run(w->lp);
    /* Whatever is still running has no outcome: cancelled, and counted. */
    for (uint32_t i = 0; i < w->nsc; i++)
        for (uint32_t j = 0; j < w->sc[i].nvus; j++)
            lua_vu_cancel(&w->sc[i].vus[j]);
    w->end_ns = clock_now_ns();
    atomic_store_explicit(&w->done, true, memory_order_release);
    return NULL;
}

/* ---- setup ---- */

static void lw_destroy(void *p);

static int setup_scenario(lua_worker *w, uint32_t i, err *e)
{
    const lua_worker_ctx *ctx = w->ctx;
    const lua_scenario *s = &ctx->plan->sc[i];
    lw_scen *sc = &w->sc[i];
    sc->w = w;
    sc->s = s;
    sc->idx = i;
    loop_timer_init(&sc->start_t);
    loop_timer_init(&sc->end_t);
    loop_timer_init(&sc->sched_t);
    loop_timer_init(&sc->ramp_t);
    loop_timer_init(&sc->grace_t);
    uint32_t T = w->nworkers, id = w->id;
    uint32_t total = lua_plan_max_vus(s);
    segment sg = ctx->seg.n ? ctx->seg : (segment){1, 1};
    sc->nvus = segment_worker_vus(sg, total, T, id);
    /* Only segments and workers that got a VU share the iterations. */
    if (s->kind == LSX_SHARED_ITERATIONS)
        sc->quota = segment_worker_quota(sg, s->iterations, total, T, id);
    if (is_rate(sc)) {
        sc->stride = segment_iter_stride(sg, T);
        sc->next_i = segment_first_iter(sg, T, id);
        sc->limit = executor_total(&s->x);
    }
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
        vu->scen = i;
        /* run-wide, interleaved over segments and workers, so ramps spread */
        vu->index = segment_vu_index(sg, T, id, j);
        vu->id = ctx->vu_base[i] + vu->index + 1;
        vu->co_ref = LUA_NOREF;
        loop_timer_init(&vu->timer);
        loop_timer_init(&vu->wake);
        loop_timer_init(&vu->next);
        for (int k = 0; k < VU_POOL; k++)
            vu->pool[k].c.fd = -1;
        int rc = lua_vu_init(vu, e);
        if (rc)
            return rc;
        vu->next_free = sc->free;
        sc->free = vu;
    }
    return 0;
}

static void *lw_create(void *ctxp, const engine_worker_args *a, err *e)
{
    const lua_worker_ctx *ctx = ctxp;
    lua_worker *w = calloc(1, sizeof *w);
    if (!w) {
        err_set(e, VOLLEY_ENOMEM, "out of memory");
        return NULL;
    }
    w->ctx = ctx;
    w->id = a->id;
    w->nworkers = a->nworkers;
    w->start_ns = a->start_ns;
    w->rng = (clock_now_ns() ^ ((uint64_t)(a->id + 1) * 0x9E3779B97F4A7C15ULL)) | 1;
    w->nsc = (uint32_t)ctx->plan->nsc;
    atomic_init(&w->done, false);
    atomic_init(&w->active, 0);
    loop_timer_init(&w->start_timer);
    loop_timer_init(&w->tick_timer);
    loop_timer_init(&w->stop_grace);
    if (!(w->lp = loop_new(e)))
        goto fail;
    for (uint32_t i = 0; i < w->nsc; i++)
        if (!(w->shards[i] = metrics_shard_new())) {
            err_set(e, VOLLEY_ENOMEM, "out of memory");
            goto fail;
        }
    if (!(w->res = script_results_new(ctx->path, ctx->plan))) {
        err_set(e, VOLLEY_ENOMEM, "out of memory");
        goto fail;
    }
    if (!(w->L = luaL_newstate())) {
        err_set(e, VOLLEY_ENOMEM, "out of memory for Lua");
        goto fail;
    }
    if (lua_api_install(w->L, w, ctx->dir, ctx->env, ctx->nenv, e) ||
        lua_api_load(w->L, ctx->path, e))
        goto fail;
    for (uint32_t i = 0; i < w->nsc; i++)
        if (setup_scenario(w, i, e))
            goto fail;
    loop_set_post_handler(w->lp, on_post, w);
    return w;
fail:
    lw_destroy(w);
    return NULL;
}

static int lw_start(void *p, err *e)
{
    lua_worker *w = p;
    int rc = pthread_create(&w->th, NULL, worker_main, w);
    if (rc) {
        errno = rc;
        return err_sys(e, "script worker %u: cannot start thread", w->id);
    }
    w->th_started = true;
    return 0;
}

static void lw_request_stop(void *p) { loop_post(((lua_worker *)p)->lp, 1); }
static void lw_abort(void *p) { loop_post(((lua_worker *)p)->lp, 2); }

static void lw_join(void *p)
{
    lua_worker *w = p;
    if (w->th_started) {
        pthread_join(w->th, NULL);
        w->th_started = false;
    }
}

static void lw_destroy(void *p)
{
    lua_worker *w = p;
    if (!w)
        return;
    if (w->res && w->ctx->agg)
        script_results_merge(w->ctx->agg, w->res);
    for (uint32_t i = 0; i < w->nsc; i++)
        for (uint32_t j = 0; j < w->sc[i].nvus; j++)
            if (w->sc[i].vus[j].w)
                lua_vu_cancel(&w->sc[i].vus[j]);
    /* Closing the state runs the __gc of open WebSockets (they close their
     * connections on the loop, which must still exist). */
    if (w->L)
        lua_close(w->L);
    for (uint32_t i = 0; i < w->nsc; i++) {
        for (uint32_t j = 0; j < w->sc[i].nvus; j++)
            if (w->sc[i].vus[j].w)
                lua_vu_free(&w->sc[i].vus[j]);
        free(w->sc[i].vus);
    }
    loop_free(w->lp);
    for (uint32_t i = 0; i < w->nsc; i++)
        metrics_shard_free(w->shards[i]);
    script_results_free(w->res);
    free(w);
}

static bool lw_done(void *p) { return atomic_load_explicit(&((lua_worker *)p)->done, memory_order_acquire); }
static metrics_shard *lw_shard(void *p, uint32_t g) { return ((lua_worker *)p)->shards[g]; }
static uint32_t lw_active(void *p) { return atomic_load_explicit(&((lua_worker *)p)->active, memory_order_relaxed); }
static uint64_t lw_end_ns(void *p) { return ((lua_worker *)p)->end_ns; }
static uint64_t lw_current_second(void *p) { return ((lua_worker *)p)->shards[0]->cur; }
static const char *lw_fatal(void *p) { return ((lua_worker *)p)->fatal[0] ? ((lua_worker *)p)->fatal : NULL; }

const engine_worker_ops lua_worker_ops = {
    lw_create, lw_start, lw_request_stop, lw_abort, lw_join, lw_destroy, lw_done,
    lw_shard, lw_active, lw_end_ns, lw_current_second, lw_fatal,
};
