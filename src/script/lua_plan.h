/* lua_plan: the script's `options` table read into scenarios, before any
 * load (k6 semantics). `options.scenarios` names each scenario and its
 * executor; the shortcut `vus` / `duration` / `iterations` / `stages` makes
 * one scenario "default". Errors name the scenario and the field:
 * "options.scenarios.api.duration: bad duration 'ten'". */
#ifndef VOLLEY_LUA_PLAN_H
#define VOLLEY_LUA_PLAN_H

#include "core/err.h"
#include "load/executor.h"

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
} lua_plan_threshold;

typedef struct lua_plan {
    lua_scenario sc[LUA_PLAN_MAX_SCENARIOS];
    size_t nsc;
    lua_plan_threshold *thr;  /* malloc'd */
    size_t nthr;
} lua_plan;

/* Reads the global `options` of L (absent: one VU, one iteration, like k6)
 * and checks that every scenario's exec names a global function. */
int lua_plan_read(lua_State *L, lua_plan *p, err *e);
void lua_plan_free(lua_plan *p);

const char *lua_plan_kind_name(lua_exec_kind k);
/* Offset of the scenario's end from the run's start (startTime + its
 * duration or maxDuration), without the graceful stop. */
uint64_t lua_plan_end_ns(const lua_scenario *s);
/* The number of VUs the scenario may use at once. */
uint32_t lua_plan_max_vus(const lua_scenario *s);

#endif
