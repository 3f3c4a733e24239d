/* lua_summary: handle_summary(data) after the run (see lua_summary.h). The
 * script's top level runs once more in a fresh checking state, as k6 runs
 * its init code again for handleSummary; data is results.json decoded, and
 * text_summary() returns the summary volley would have printed. */
#include "script/lua_summary.h"

#include "script/lua_api.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <string.h>

static int write_entry(const char *key, const char *text, size_t len, const char *dir,
                       FILE *out, err *e)
{
    if (!strcmp(key, "stdout") || !strcmp(key, "stderr")) {
        FILE *f = !strcmp(key, "stderr") ? stderr : out ? out : stdout;
        fwrite(text, 1, len, f);
        fflush(f);
        return 0;
    }
    char path[4400];
    if (key[0] == '/' || !dir)
        snprintf(path, sizeof path, "%s", key);
    else
        snprintf(path, sizeof path, "%s/%s", dir, key);
    FILE *f = fopen(path, "w");
    if (!f)
        return err_sys(e, "handle_summary: cannot write '%s'", path);
    bool ok = fwrite(text, 1, len, f) == len;
    if (fclose(f) || !ok)
        return err_set(e, VOLLEY_ESYS, "handle_summary: error writing '%s': %s", path,
                       strerror(errno ? errno : EIO));
    return 0;
}

/* The table handle_summary returned is at the top of L. */
static int write_all(lua_State *L, const char *dir, FILE *out, err *e)
{
    if (lua_isnil(L, -1))
        return 0;
    if (!lua_istable(L, -1))
        return err_set(e, VOLLEY_EINVAL, "handle_summary: must return a table of "
                       "{ [\"stdout\" or a path] = text }, not a %s", luaL_typename(L, -1));
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            return err_set(e, VOLLEY_EINVAL, "handle_summary: entry '%s' must be a string "
                           "keyed by \"stdout\", \"stderr\" or a path (got a %s)", k,
                           luaL_typename(L, -1));
        }
        size_t len;
        const char *text = lua_tolstring(L, -1, &len);
        int rc = write_entry(lua_tostring(L, -2), text, len, dir, out, e);
        if (rc)
            return rc;
        lua_pop(L, 1);
    }
    return 0;
}

static int call_summary(lua_State *L, const char *json, const char *dir, FILE *out, err *e)
{
    if (lua_getglobal(L, "handle_summary") != LUA_TFUNCTION)
        return 0;
    lua_getglobal(L, "json");
    lua_getfield(L, -1, "decode");
    lua_pushstring(L, json);
    if (lua_pcall(L, 1, 1, 0))
        return err_set(e, VOLLEY_EINVAL, "handle_summary: results: %s", lua_tostring(L, -1));
    lua_remove(L, -2);
    if (lua_pcall(L, 1, 1, 0))
        return err_set(e, VOLLEY_EINVAL, "handle_summary: %s", luaL_tolstring(L, -1, NULL));
    return write_all(L, dir, out, e);
}

static int text_summary(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    return 1;
}

int lua_summary_run(const char *path, const script_opts *o, const char *json, const char *text,
                    const char *dir, FILE *out, err *e)
{
    char sdir[4096];
    snprintf(sdir, sizeof sdir, "%s", path);
    char *slash = strrchr(sdir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(sdir, sizeof sdir, ".");
    lua_State *L = luaL_newstate();
    if (!L)
        return err_set(e, VOLLEY_ENOMEM, "out of memory for Lua");
    int rc = lua_api_install(L, NULL, sdir, o->env, o->nenv, e);
    if (!rc) { /* before the script, which may keep a reference at its top level */
        lua_pushstring(L, text ? text : "");
        lua_pushcclosure(L, text_summary, 1);
        lua_setglobal(L, "text_summary");
        rc = lua_api_load(L, path, e);
    }
    if (!rc)
        rc = call_summary(L, json, dir, out, e);
    lua_close(L);
    return rc;
}
