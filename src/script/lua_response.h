/* lua_response: a script's response object (see lua_response.c). The
 * response table holds status, body and _r, one raw string made by
 * script/lua_http: LUA_T_COUNT doubles (the timings, ms), then the method,
 * the protocol ("" when nothing was sent) and the URL, each ended by a
 * NUL, then the head as it came. Response.__index makes res.timings,
 * res.headers, res.method, res.url and res.proto from it on first read;
 * res.timings is a small userdata read like the table of seven numbers. */
#ifndef VOLLEY_LUA_RESPONSE_H
#define VOLLEY_LUA_RESPONSE_H

#include <lua.h>
#include <stdbool.h>

/* res.timings' fields, in their order. */
enum { LUA_T_DURATION, LUA_T_CONNECTING, LUA_T_SENDING, LUA_T_WAITING, LUA_T_RECEIVING,
       LUA_T_FIRST_BODY, LUA_T_DECODING, LUA_T_COUNT };

/* Makes the timings metatable of L (once per state, before the prelude). */
void lua_response_install(lua_State *L);
/* If the value at idx is a res.timings, pushes a plain table
 * of its fields (the seven numbers and what the script set) and returns
 * true (json.encode); false, nothing pushed, otherwise. */
bool lua_response_timings_table(lua_State *L, int idx);
/* If the value at idx is a response, pushes a plain table of what a script
 * reads from it (status, body, headers, method, url, proto, timings,
 * redirects, error, error_code, truncated when set, and the script's own
 * fields), without the raw string _r, and returns true (json.encode);
 * false, nothing pushed, otherwise. */
bool lua_response_json_table(lua_State *L, int idx);
/* C.response_index(CIHeaders, methods): Response.__index (res.timings,
 * res.headers, res.method, res.url, res.proto, res.redirects and the
 * methods). */
int lua_response_index(lua_State *L);

#endif
