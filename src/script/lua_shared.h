/* lua_shared: shared(name, loader) for scripts (see lua_shared.c): data
 * loaded once per process, read by every VU of every thread through a
 * read-only proxy, with no copy per VU or per thread. */
#ifndef VOLLEY_LUA_SHARED_H
#define VOLLEY_LUA_SHARED_H

#include <lua.h>

/* Registers the proxy's metatable and the primitives the prelude wraps. */
void lua_shared_install(lua_State *L);
/* Frees every store (after the run: no Lua state may read them any more). */
void lua_shared_free_all(void);

#endif
