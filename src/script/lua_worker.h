/* lua_worker: the engine_worker_ops of scripted runs. One thread, one event
 * loop and one lua_State per worker; the script is loaded once per worker
 * (so data read at the top level is shared by its VUs, read-only), and
 * each scenario's VUs are spread over the workers. The executors of
 * load/executor give when iterations start; every scenario records into
 * its own metrics shard (one stat group each). */
#ifndef VOLLEY_LUA_WORKER_H
#define VOLLEY_LUA_WORKER_H

#include "load/engine.h"
#include "load/segment.h"
#include "script/lua_plan.h"
#include "script/lua_vu.h"
#include "script/script.h"

#include <pthread.h>

struct tls_client_ctx;
struct lua_wrk;
struct lua_worker;

struct lua_worker_ctx {
    const char *path;              /* the script */
    char dir[4096];                /* its directory (open, csv) */
    const char *const *env;
    size_t nenv;
    const lua_plan *plan;
    uint32_t vu_base[LUA_PLAN_MAX_SCENARIOS]; /* vu.id offset of each scenario */
    struct tls_client_ctx *tls;    /* NULL: https/wss refused */
    struct tls_client_ctx *ws_tls; /* wss:// (ALPN http/1.1 only) */
    bool h2c, h2_only;             /* --h2c / --http 2 (see script_opts) */
    bool quiet;
    segment seg;                   /* --segment K/N (1/1: the whole run) */
    bool no_retry;                 /* --no-retry: stale connections are errors */
    const struct route_opts *route;/* --resolve, --proxy, ... (NULL: none) */
    bool compressed;               /* --compressed: bodies are decoded */
    bool share_tls_sessions;       /* --share-tls-sessions (lua_http_target) */
    int redirects;                 /* default of params.redirects (--redirects; 10) */
    script_cold *cold;             /* --cold: the first successful response */
    /* Filled by destroy (the main thread, one worker after another). */
    script_results *agg;
    /* Errors logged so far by all workers: the first five of the run are. */
    _Atomic uint32_t *errors_logged;
    /* setup()/teardown(): the JSON of what setup returned (NULL: none),
     * passed to every iteration; a setup phase stores its return here. */
    const char *setup_json;
    char **phase_result;
    const char *phase;             /* "setup", "teardown", or NULL: the scenarios */
    bool raw;                      /* --raw: keep per-request records (load/rawq) */
    struct lua_wrk *wrk;           /* -s: a wrk script (script/lua_wrk); NULL: volley's */
};

extern const engine_worker_ops lua_worker_ops;

struct lua_vu;
struct xch_req;
struct xch_outcome;
/* --raw: the record of one of vu's requests (no-op without --raw). */
void lua_worker_raw(struct lua_vu *vu, const struct xch_req *x, const struct xch_outcome *o);

/* Stops this worker's scenarios as a signal would (wrk's thread:stop()). */
void lua_worker_stop(struct lua_worker *w);

/* struct lua_worker is private to lua_worker.c. What the calls of its VUs
 * (lua_api, lua_http, lua_ws) need of it; the hot path reads the copies in
 * lua_vu instead (loop, state, hooks, shard). */
const lua_worker_ctx *lua_worker_context(const lua_worker *w);
/* This worker's checks, metrics, names and errors (merged at the end). */
script_results *lua_worker_results(const lua_worker *w);
/* The worker's random stream (keys, target slots). */
uint64_t *lua_worker_rng(lua_worker *w);
/* Resolved hosts (lua_http_target). */
lua_targets *lua_worker_targets(lua_worker *w);
/* The exchange's per-thread context. */
xch_ctx *lua_worker_xch(lua_worker *w);
loop *lua_worker_loop(const lua_worker *w);
uint32_t lua_worker_id(const lua_worker *w);
/* The worker's read buffer (one per thread) and its size. */
char *lua_worker_rbuf(lua_worker *w, size_t *cap);
const char *lua_worker_scenario_name(const lua_worker *w, uint32_t scen);

#endif
