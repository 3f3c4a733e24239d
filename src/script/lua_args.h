/* lua_args: argument helpers shared by the parts of the script API
 * (lua_api, lua_http, lua_ws): the calling worker and VU, durations. A
 * leaf: it calls nothing of the script layer but lua_vu_of. */
#ifndef VOLLEY_LUA_ARGS_H
#define VOLLEY_LUA_ARGS_H

#include "script/lua_vu.h"

#include <lua.h>
#include <stdint.h>

/* The worker of the running API function (its first upvalue; NULL in the
 * checking state of script_run). */
lua_worker *lua_args_worker(lua_State *L);
/* The VU of the running coroutine, or a Lua error naming the call. */
lua_vu *lua_args_need_vu(lua_State *L, const char *what);
/* A duration argument: seconds as a number, or "250ms"-style text. */
uint64_t lua_args_duration(lua_State *L, int idx, const char *what, uint64_t dflt);

static inline double lua_args_ms(uint64_t ns) { return (double)ns / 1e6; }

#endif
