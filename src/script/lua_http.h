/* lua_http: http.* for scripts over load/exchange (see lua_http.c). The
 * VU's call yields; the outcome wakes the VU and lua_http_push_result turns
 * it into the response table. */
#ifndef VOLLEY_LUA_HTTP_H
#define VOLLEY_LUA_HTTP_H

#include "script/lua_vu.h"

#include <lua.h>

/* The worker's resolved target for u (resolved on first use; http and ws
 * share it), or NULL with e set. */
xch_target *lua_http_target(lua_worker *w, const url *u, err *e);
/* Header pairs of params.headers (the table at index params) into hv;
 * their strings stay anchored on L's stack. Returns how many. */
size_t lua_http_headers(lua_State *L, int params, http1_header *hv, size_t max);

/* C.http(method, url, body, params): yields until the response. */
int lua_http_call(lua_State *L);
/* The most requests one wrk request() string may pipeline. */
#define LUA_HTTP_PIPE_MAX 1024
/* C.pipe(list, params): a wrk pipeline (list[i] = {method, url, bytes}),
 * sent in one write on one connection; yields until every response. */
int lua_http_pipeline(lua_State *L);
/* Pushes the results of vu's finished C.http call onto co (status, body,
 * raw, set_cookie, then error, error_code, truncated when one is not
 * nil; returns how many), or for a pipeline status, body, raw of each
 * request (returns 3 x its length). None for http_get (its continuation
 * makes the response). */
int lua_http_push_result(lua_State *co, lua_vu *vu);
/* C.http_getter(Response): http_get(url), the plain http.get(url) that
 * makes the response table in C (lua_http.c). */
int lua_http_getter(lua_State *L);
/* The run stopped: the call in flight is counted as cancelled. */
void lua_http_cancel(lua_vu *vu);
/* Frees vu's HTTP state and pooled connections. */
void lua_http_vu_free(lua_vu *vu);

/* C.redirect: the next hop of a redirect (proto/redirect), or the default
 * number of hops. */
int lua_http_redirect(lua_State *L);

#endif
