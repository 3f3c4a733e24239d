/* lua_wrk: wrk scripts unchanged (`volley run -s script.lua URL`). The
 * `wrk` table, wrk.format/lookup/connect, thread objects and the hooks
 * setup(thread), init(args), delay(), request(), response() and
 * done(summary, latency, requests), over volley's workers and VUs: a
 * worker thread is one of wrk's threads, a VU one of its connections. */
#ifndef VOLLEY_LUA_WRK_H
#define VOLLEY_LUA_WRK_H

#include "core/err.h"
#include "results/results.h"

#include <lua.h>
#include <stdbool.h>
#include <stdio.h>

struct script_opts;
struct lua_worker;

/* From volley run's flags (-s FILE URL [-- args]). */
typedef struct lua_wrk_opts {
    const char *url;
    const char *const *args; /* init(args) */
    size_t nargs;
} lua_wrk_opts;

typedef struct lua_wrk lua_wrk;

/* The checking state: the wrk table, the script, its iteration as
 * `default` (no hook is called). */
int lua_wrk_check(lua_State *L, const struct script_opts *o, const char *path, err *e);
/* The main state: loads the script and calls setup(thread) for each of
 * nthreads threads. NULL with e set on an error. */
lua_wrk *lua_wrk_new(const char *path, const struct script_opts *o, uint32_t nthreads, err *e);
/* A worker's state (after lua_api_install): the wrk table with its thread,
 * the script, the values setup() set on the thread, then init(args). */
int lua_wrk_worker_load(lua_State *L, lua_wrk *wk, struct lua_worker *w, uint32_t id,
                        const char *path, err *e);
/* At the worker's end: its globals, for thread:get() in done(). */
void lua_wrk_collect(lua_wrk *wk, uint32_t id, lua_State *L);
/* After the run: done(summary, latency, requests). */
int lua_wrk_done(lua_wrk *wk, const results *r, err *e);
void lua_wrk_free(lua_wrk *wk);

#endif
