/* lua_plan: the script's `options` table read into scenarios, before any
 * load (k6 semantics). `options.scenarios` names each scenario and its
 * executor; the shortcut `vus` / `duration` / `iterations` / `stages` makes
 * one scenario "default". Errors name the scenario and the field:
 * "options.scenarios.api.duration: bad duration 'ten'". */
#ifndef VOLLEY_LUA_PLAN_H
#define VOLLEY_LUA_PLAN_H

#include "core/err.h"
#include "load/executor.h"
#include "proto/http1.h"

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    LSX_CONSTANT_VUS,
    LSX_RAMPING_VUS,
    LSX_CONSTANT_RATE,
    LSX_RAMPING_RATE,
    LSX_PER_VU_ITERATIONS,
    LSX_SHARED_ITERATIONS,
} lua_exec_kind;

#define LUA_PLAN_MAX_SCENARIOS 32
#define LUA_PLAN_MAX_TAGS 8

typedef struct lua_scenario {
    char name[64];
    char exec[64];            /* function to call per iteration ("default") */
    lua_exec_kind kind;
    executor x;               /* the shape, for the first four kinds */
    uint32_t vus;             /* VUs: constant/per-vu/shared; arrival rate: max VUs */
    uint32_t pre_vus;         /* arrival rate: preAllocatedVUs (we allocate maxVUs up front) */
    uint64_t iterations;      /* per VU (per-vu-iterations) or in all (shared) */
    uint64_t max_duration_ns; /* iteration kinds: stop after this (default 10m) */
    uint64_t start_ns;        /* startTime */
    uint64_t graceful_stop_ns;/* in-flight iterations may finish this long (30s) */
    char tag_keys[LUA_PLAN_MAX_TAGS][32];
    char tag_vals[LUA_PLAN_MAX_TAGS][64];
    size_t ntags;
} lua_scenario;

typedef struct lua_plan_threshold {
    char metric[160];
    char expr[200];
    bool abort_on_fail;       /* {threshold = ..., abortOnFail = true} */
    uint64_t delay_abort_ns;  /* delayAbortEval */
} lua_plan_threshold;

#define LUA_PLAN_MAX_HEADERS 64
#define LUA_PLAN_BATCH 20          /* k6's defaults of batch and batchPerHost */
#define LUA_PLAN_BATCH_PER_HOST 6
#define LUA_PLAN_BATCH_MAX 1000    /* helpers (sub-VUs) one batch may make */

typedef struct lua_plan {
    lua_scenario sc[LUA_PLAN_MAX_SCENARIOS];
    size_t nsc;
    lua_plan_threshold *thr;  /* malloc'd */
    size_t nthr;
    /* Defaults of every http.* request (volley run --timeout, -H); a
     * request's own params.timeout and params.headers win. */
    uint64_t http_timeout_ns; /* 0: the built-in default */
    http1_header http_headers[LUA_PLAN_MAX_HEADERS];
    size_t http_nheaders;
    uint64_t seed;            /* rand()/uuid()/math.random (volley run --seed) */
    /* http.batch: requests in flight per call (options.batch, k6's 20) and
     * per host of that call (options.batchPerHost, k6's 6; 0: no limit). */
    uint32_t batch, batch_per_host;
    bool has_setup, has_teardown; /* the script defines setup() / teardown(data) */
    bool has_summary;        /* ... handle_summary(data) */
} lua_plan;

/* Reads the global `options` of L (absent: one VU, one iteration, like k6)
 * and checks that every scenario's exec names a global function. */
int lua_plan_read(lua_State *L, lua_plan *p, err *e);
void lua_plan_free(lua_plan *p);

/* Load flags given on the command line (volley run flow.lua -c/-d/-n/
 * --rate/--stages) replace the scenarios with one "default" scenario, as
 * k6 run --vus/--duration/--iterations/--stage do; thresholds stay. */
typedef struct lua_plan_shape {
    executor x;               /* constant-vus, ramping-vus, constant or ramping rate */
    uint64_t iterations;      /* with constant-vus: shared iterations over x.vus */
    uint64_t max_duration_ns; /* shared iterations: stop after this (0: 10m) */
    uint32_t max_vus;         /* arrival rate: VUs (0: one second of arrivals) */
    bool keep_duration;       /* -c alone: a one-scenario constant-vus script keeps its duration */
} lua_plan_shape;
/* Appends the plan's default headers to the nh request headers in hv (at
 * most max) unless the request names the same header (any case); returns
 * the new count. */
size_t lua_plan_http_headers(const lua_plan *p, http1_header *hv, size_t nh, size_t max);
int lua_plan_override(lua_State *L, lua_plan *p, const lua_plan_shape *o, err *e);

const char *lua_plan_kind_name(lua_exec_kind k);
/* Offset of the scenario's end from the run's start (startTime + its
 * duration or maxDuration), without the graceful stop. */
uint64_t lua_plan_end_ns(const lua_scenario *s);
/* The number of VUs the scenario may use at once. */
uint32_t lua_plan_max_vus(const lua_scenario *s);

#endif
