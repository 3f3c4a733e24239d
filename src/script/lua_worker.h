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
#include "script/script.h"

#include <pthread.h>

struct tls_client_ctx;

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
    /* Filled by destroy (the main thread, one worker after another). */
    script_results *agg;
    /* Errors logged so far by all workers: the first five of the run are. */
    _Atomic uint32_t *errors_logged;
    /* setup()/teardown(): the JSON of what setup returned (NULL: none),
     * passed to every iteration; a setup phase stores its return here. */
    const char *setup_json;
    char **phase_result;
    const char *phase;             /* "setup", "teardown", or NULL: the scenarios */
};

extern const engine_worker_ops lua_worker_ops;

#endif
