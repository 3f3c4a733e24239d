/* lua_ws: WebSocket for scripts (see lua_ws.c). */
#ifndef VOLLEY_LUA_WS_H
#define VOLLEY_LUA_WS_H

#include "script/lua_vu.h"

#include <lua.h>

/* C.ws_open(url, params) -> sock | nil, err (yields until open or failed). */
int lua_ws_open(lua_State *L);
/* Pushes the results of vu's finished WebSocket wait onto co. */
int lua_ws_push_result(lua_State *co, lua_vu *vu);
/* Registers the "volley.ws" socket metatable (methods get w as upvalue). */
void lua_ws_install(lua_State *L, lua_worker *w);

#endif
