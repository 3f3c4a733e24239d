/* lua_vu: virtual users as Lua coroutines on a worker's event loop, and the
 * worker-side types the script layer shares (lua_worker.c runs the
 * executors, lua_api.c implements the calls that wait). A VU's coroutine
 * runs a small driver that calls the scenario's function once per
 * iteration, the iterations under one xpcall (an error ends its iteration
 * and the driver enters the next); a call that waits (http, ws, sleep)
 * records what it waits for in vu->wait and yields; the completion defers
 * vu->wake to the end of the loop's batch, which pushes the results and
 * resumes the VU, so a coroutine is never resumed from inside an I/O
 * callback. */
#ifndef VOLLEY_LUA_VU_H
#define VOLLEY_LUA_VU_H

#include "core/buf.h"
#include "load/exchange.h"
#include "load/shell.h"
#include "load/executor.h"
#include "metrics/metrics.h"
#include "net/addr.h"
#include "net/conn.h"
#include "net/loop.h"
#include "proto/http1.h"
#include "script/lua_plan.h"
#include "script/script.h"

#include <lua.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct lua_worker lua_worker;
typedef struct lua_vu lua_vu;
struct tls_client_ctx;

/* What a suspended VU waits for. */
typedef enum {
    VW_NONE,      /* not suspended by us (idle between iterations) */
    VW_SLEEP,
    VW_HTTP,
    VW_WS,        /* ws.open / recv / close / event: see vu->ws */
    VW_ITER_END,  /* the driver finished an iteration */
    VW_BATCH,     /* http.batch: the VU waits for its helpers; a helper is done */
} vu_wait;

typedef struct vu_http vu_http; /* script/lua_http.c */

struct lua_vu {
    lua_worker *w;           /* opaque here: lua_worker.h has its accessors */
    /* Copied from the worker at set-up, for the hot path (no call up). */
    loop *lp;                /* the worker's event loop */
    lua_State *L;            /* the worker's main state */
    const struct lua_vu_hooks *hooks;
    struct metrics_shard *shard; /* the scenario's metrics shard */
    int fn_ref;              /* the scenario's exec function */
    const char *phase;       /* "setup", "teardown" or NULL (lua_worker_ctx.phase) */
    uint32_t scen;           /* scenario index */
    uint32_t index;          /* among the scenario's VUs (all workers), for ramping */
    uint64_t id;             /* vu.id: 1-based, unique in the run */
    lua_State *co;
    int co_ref;              /* registry reference anchoring co */
    vu_wait wait;
    bool in_iter;            /* between the start and the end of an iteration */
    bool wanted;             /* ramping: the executor wants this VU running */
    bool dead;               /* the coroutine died outside an iteration: recreate */
    bool waited;             /* the iteration waited (yielded) at least once */
    bool in_stop;            /* running its stop hooks (vu_stop, a user's on_stop) */
    struct lua_batch *batch; /* http.batch helpers (script/lua_batch), lazily */
    lua_vu *parent;          /* a batch helper: the VU it works for */
    uint64_t iteration;      /* vu.iteration: 0-based, of this VU */
    uint64_t iters_done;
    uint64_t iter_start_ns;
    loop_timer timer;        /* sleep, ws timeouts */
    loop_defer wake;         /* deferred resume (end of the loop's batch) */
    loop_timer next;         /* the next iteration (between iterations) */
    vu_http *http;           /* lazily allocated (lua_http.c) */
    struct ws_sock *ws;      /* the socket a VW_WS wait is about */
    int ws_op;               /* which ws call waits (lua_api.c) */
    lua_vu *next_free;       /* arrival rate: free list */
    bool has_err;            /* the iteration ended with an error */
    uint64_t rng;            /* rand()/uuid() stream (lua_util), 0 until first use */
    char errmsg[300];
};

/* Read-only, shared by every worker (lua_worker_ctx in lua_worker.h). */
typedef struct lua_worker_ctx lua_worker_ctx;

/* What a VU needs from the layers above it, given by lua_worker (so lua_vu
 * calls nothing above itself): the results of the wait that ended, the
 * call in flight abandoned or freed, the iteration's end. */
typedef struct lua_vu_hooks {
    int (*push_results)(lua_vu *vu);
    void (*cancel_call)(lua_vu *vu);
    void (*free_calls)(lua_vu *vu);
    void (*iteration_done)(lua_vu *vu, const char *error);
    /* The iteration ended inside the coroutine: if the VU may start the
     * next one at once, account both and return true (no resume). */
    bool (*next_at_once)(lua_vu *vu, const char *error);
} lua_vu_hooks;

#define LUA_TARGETS 32

/* Resolved hosts of a worker, by "scheme://host:port". */
typedef struct lua_targets {
    char key[LUA_TARGETS][320];
    xch_target t[LUA_TARGETS];
    uint32_t n;
    uint32_t gen;            /* bumped when a slot is given to another host */
} lua_targets;

/* The VU running on thread co (NULL outside a VU coroutine). */
lua_vu *lua_vu_of(lua_State *co);

/* Creates the coroutine of vu (driver + exec function fn_ref). */
int lua_vu_init(lua_vu *vu, err *e);
/* Starts an iteration: resumes the driver. The VU must be idle. */
void lua_vu_begin(lua_vu *vu);
/* The scenario is over: runs the VU's stop hooks as one more call of its
 * driver (ends through iteration_done with vu->in_stop set). */
void lua_vu_begin_stop(lua_vu *vu);
/* The wait is over: resume vu from the loop soon (never re-entrant). */
void lua_vu_wake(lua_vu *vu);
/* The running iteration of vu ended (from inside its coroutine): true if
 * the next one starts at once in the same coroutine, false if the VU must
 * yield (VW_ITER_END) for the worker to decide. An iteration that never
 * waited always yields, so the loop keeps turning. */
bool lua_vu_next_at_once(lua_vu *vu);
/* Ends whatever vu waits for (abort): in-flight HTTP counted as cancelled. */
void lua_vu_cancel(lua_vu *vu);
/* Frees the VU's connections and buffers (not the coroutine: lua_close). */
void lua_vu_free(lua_vu *vu);


#endif
