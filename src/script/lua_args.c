/* lua_args: argument helpers of the script API (see lua_args.h). */
#include "script/lua_args.h"

#include "core/err.h"
#include "core/parse.h"

#include <lauxlib.h>
#include <math.h>

lua_worker *lua_args_worker(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

lua_vu *lua_args_need_vu(lua_State *L, const char *what)
{
    lua_vu *vu = lua_args_worker(L) ? lua_vu_of(L) : NULL;
    if (!vu || !lua_isyieldable(L))
        luaL_error(L, "%s can only be called inside a VU function (not at the top level of "
                      "the script, nor inside a coroutine of its own)", what);
    return vu;
}

uint64_t lua_args_duration(lua_State *L, int idx, const char *what, uint64_t dflt)
{
    if (lua_isnoneornil(L, idx))
        return dflt;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double s = lua_tonumber(L, idx);
        if (!(s >= 0) || s > 1e7)
            luaL_error(L, "%s: bad duration %f", what, s);
        return (uint64_t)llround(s * 1e9);
    }
    uint64_t ns;
    err e;
    if (parse_duration_ns(luaL_checkstring(L, idx), what, &ns, &e))
        luaL_error(L, "%s", e.msg);
    return ns;
}
