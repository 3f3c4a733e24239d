/* lua_plan: reads the script's `options` into scenarios (see lua_plan.h).
 * Field names and defaults follow k6 so scripts port over; durations are
 * strings with units ("1m30s") or numbers of seconds; rates are per
 * timeUnit. Unknown fields are errors, so a typo never silently runs a
 * different test. */
#include "script/lua_plan.h"

#include "core/clock.h"
#include "core/parse.h"

#include <lauxlib.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    lua_exec_kind kind;
} kinds[] = {
    {"constant-vus", LSX_CONSTANT_VUS},
    {"ramping-vus", LSX_RAMPING_VUS},
    {"constant-arrival-rate", LSX_CONSTANT_RATE},
    {"ramping-arrival-rate", LSX_RAMPING_RATE},
    {"per-vu-iterations", LSX_PER_VU_ITERATIONS},
    {"shared-iterations", LSX_SHARED_ITERATIONS},
};

const char *lua_plan_kind_name(lua_exec_kind k)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].kind == k)
            return kinds[i].name;
    return "?";
}

/* What a field of a scenario is called in messages. */
typedef struct where {
    char prefix[160]; /* "options.scenarios.api" or "options" */
} where;

static int field_err(err *e, const where *w, const char *field, const char *fmt, const char *arg)
{
    char m[256];
    snprintf(m, sizeof m, fmt, arg);
    return err_set(e, VOLLEY_EINVAL, "%s.%s: %s", w->prefix, field, m);
}

/* Reads t[field] (t at index idx) as a duration; absent: *out unchanged, 1. */
static int get_duration(lua_State *L, int idx, const where *w, const char *field, uint64_t *out,
                        err *e)
{
    int rc = 1;
    lua_getfield(L, idx, field);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 1;
    }
    if (lua_type(L, -1) == LUA_TNUMBER) {
        double s = lua_tonumber(L, -1);
        if (!(s >= 0) || s > 1e7)
            rc = field_err(e, w, field, "bad duration %s", lua_tostring(L, -1));
        else
            *out = (uint64_t)llround(s * 1e9), rc = 0;
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        char what[200];
        snprintf(what, sizeof what, "%s.%s", w->prefix, field);
        rc = parse_duration_ns(lua_tostring(L, -1), what, out, e);
    } else {
        rc = field_err(e, w, field, "expected a duration like \"30s\", got a %s",
                       luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return rc;
}

static int get_number(lua_State *L, int idx, const where *w, const char *field, double min,
                      double max, double *out, err *e)
{
    lua_getfield(L, idx, field);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 1;
    }
    int isnum = 0;
    double v = lua_tonumberx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum || !(v >= min && v <= max)) {
        char r[64];
        snprintf(r, sizeof r, "%g..%g", min, max);
        return field_err(e, w, field, "expected a number in %s", r);
    }
    *out = v;
    return 0;
}

static int get_string(lua_State *L, int idx, const where *w, const char *field, char *out,
                      size_t cap, err *e)
{
    lua_getfield(L, idx, field);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 1;
    }
    if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 1);
        return field_err(e, w, field, "expected a string%s", "");
    }
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    if (n >= cap) {
        lua_pop(L, 1);
        return field_err(e, w, field, "longer than %s characters", cap > 100 ? "200" : "63");
    }
    memcpy(out, s, n + 1);
    lua_pop(L, 1);
    return 0;
}

/* stages = {{target = N, duration = "30s"}, ...} */
static int get_stages(lua_State *L, int idx, const where *w, executor *x, double scale, err *e)
{
    lua_getfield(L, idx, "stages");
    if (!lua_istable(L, -1)) {
        int t = lua_type(L, -1);
        lua_pop(L, 1);
        return t == LUA_TNIL ? field_err(e, w, "stages", "required for this executor%s", "")
                             : field_err(e, w, "stages", "expected a list of {target=, duration=}%s", "");
    }
    int top = lua_gettop(L);
    lua_Integer n = luaL_len(L, top);
    if (n < 1 || n > EXEC_MAX_STAGES) {
        lua_pop(L, 1);
        return field_err(e, w, "stages", "expected 1..64 stages%s", "");
    }
    x->nstages = 0;
    x->duration_ns = 0;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, top, i);
        where ws;
        snprintf(ws.prefix, sizeof ws.prefix, "%.120s.stages[%lld]", w->prefix, (long long)i);
        int rc = 0;
        if (!lua_istable(L, -1)) {
            rc = err_set(e, VOLLEY_EINVAL, "%s: expected {target=, duration=}", ws.prefix);
        } else {
            double target = 0;
            uint64_t d = 0;
            rc = get_number(L, -1, &ws, "target", 0, 1e9, &target, e);
            if (rc == 1)
                rc = err_set(e, VOLLEY_EINVAL, "%s.target: required", ws.prefix);
            if (!rc) {
                rc = get_duration(L, lua_gettop(L), &ws, "duration", &d, e);
                if (rc == 1)
                    rc = err_set(e, VOLLEY_EINVAL, "%s.duration: required", ws.prefix);
            }
            x->stages[x->nstages].target = target * scale;
            x->stages[x->nstages].duration_ns = d;
            x->nstages++;
            x->duration_ns += d;
        }
        lua_pop(L, 1);
        if (rc) {
            lua_pop(L, 1);
            return rc;
        }
    }
    lua_pop(L, 1);
    return 0;
}

static const char *const known_fields[] = {
    "executor", "exec", "vus", "duration", "rate", "timeUnit", "stages", "startVUs",
    "startRate", "preAllocatedVUs", "maxVUs", "iterations", "maxDuration", "startTime",
    "gracefulStop", "gracefulRampDown", "tags", "env", NULL,
};

/* Edit distance of a and b (short names), for "did you mean". */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t sub = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    return row[lb];
}

/* Every key of the table at idx must be one of names; an unknown one is an
 * error naming its path and the nearest valid name. */
static int check_keys(lua_State *L, int idx, const where *w, const char *const *names, err *e)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            return err_set(e, VOLLEY_EINVAL, "%s: field names must be strings", w->prefix);
        }
        const char *k = lua_tostring(L, -1);
        const char *near = NULL;
        size_t best = 99;
        for (size_t i = 0; names[i]; i++) {
            if (!strcmp(k, names[i])) /* exact: a key in another case is never read */
                goto next;
            size_t d = distance(k, names[i]);
            if (d < best)
                best = d, near = names[i];
        }
        char hint[96] = "";
        if (near && best <= 1 + strlen(k) / 3)
            snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
        int rc = err_set(e, VOLLEY_EINVAL, "%s.%s: unknown field%s", w->prefix, k, hint);
        lua_pop(L, 1);
        return rc;
    next:;
    }
    return 0;
}

static int check_fields(lua_State *L, int idx, const where *w, err *e)
{
    return check_keys(L, idx, w, known_fields, e);
}

static int get_u32(lua_State *L, int idx, const where *w, const char *f, uint32_t min,
                   uint32_t *out, err *e)
{
    double v;
    int rc = get_number(L, idx, w, f, min, 1e7, &v, e);
    if (rc == 0) {
        if (v != floor(v))
            return field_err(e, w, f, "expected a whole number%s", "");
        *out = (uint32_t)v;
    }
    return rc < 0 ? rc : 0;
}

static int get_tags(lua_State *L, int idx, const where *w, lua_scenario *s, err *e)
{
    lua_getfield(L, idx, "tags");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return field_err(e, w, "tags", "expected a table%s", "");
    }
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (s->ntags < LUA_PLAN_MAX_TAGS && lua_type(L, -2) == LUA_TSTRING &&
            lua_isstring(L, -1)) {
            snprintf(s->tag_keys[s->ntags], sizeof s->tag_keys[0], "%s", lua_tostring(L, -2));
            snprintf(s->tag_vals[s->ntags], sizeof s->tag_vals[0], "%s", lua_tostring(L, -1));
            s->ntags++;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return 0;
}

/* The scenario table is at idx. */
static int read_scenario(lua_State *L, int idx, const where *w, lua_scenario *s, err *e)
{
    int rc;
    if ((rc = check_fields(L, idx, w, e)))
        return rc;
    char ex[40] = "";
    rc = get_string(L, idx, w, "executor", ex, sizeof ex, e);
    if (rc == 1)
        return field_err(e, w, "executor", "required (one of constant-vus, ramping-vus, "
                         "constant-arrival-rate, ramping-arrival-rate, per-vu-iterations, "
                         "shared-iterations)%s", "");
    if (rc)
        return rc;
    bool found = false;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(ex, kinds[i].name))
            s->kind = kinds[i].kind, found = true;
    if (!found)
        return field_err(e, w, "executor", "unknown executor '%s'", ex);
    snprintf(s->exec, sizeof s->exec, "default");
    if ((rc = get_string(L, idx, w, "exec", s->exec, sizeof s->exec, e)) < 0)
        return rc;
    s->graceful_stop_ns = 30 * NS_PER_S;
    s->max_duration_ns = 600 * NS_PER_S;
    if (get_duration(L, idx, w, "startTime", &s->start_ns, e) < 0 ||
        get_duration(L, idx, w, "gracefulStop", &s->graceful_stop_ns, e) < 0 ||
        get_duration(L, idx, w, "maxDuration", &s->max_duration_ns, e) < 0)
        return e ? e->code : VOLLEY_EINVAL;
    if ((rc = get_tags(L, idx, w, s, e)))
        return rc;
    uint64_t unit = NS_PER_S, dur = 0;
    if (get_duration(L, idx, w, "timeUnit", &unit, e) < 0)
        return VOLLEY_EINVAL;
    if (unit == 0)
        return field_err(e, w, "timeUnit", "must be more than 0%s", "");
    double scale = (double)NS_PER_S / (double)unit; /* per timeUnit -> per second */
    executor *x = &s->x;
    memset(x, 0, sizeof *x);
    s->vus = 1;
    switch (s->kind) {
    case LSX_CONSTANT_VUS:
        x->kind = EXEC_CONSTANT_VUS;
        if ((rc = get_u32(L, idx, w, "vus", 0, &s->vus, e)))
            return rc;
        rc = get_duration(L, idx, w, "duration", &dur, e);
        if (rc)
            return rc == 1 ? field_err(e, w, "duration", "required%s", "") : rc;
        x->vus = s->vus;
        x->duration_ns = dur;
        break;
    case LSX_RAMPING_VUS: {
        x->kind = EXEC_RAMPING_VUS;
        uint32_t start = 1;
        if ((rc = get_u32(L, idx, w, "startVUs", 0, &start, e)))
            return rc;
        x->start_target = start;
        if ((rc = get_stages(L, idx, w, x, 1.0, e)))
            return rc;
        s->vus = executor_max_vus(x);
        break;
    }
    case LSX_CONSTANT_RATE:
    case LSX_RAMPING_RATE: {
        double r = 0;
        if (s->kind == LSX_CONSTANT_RATE) {
            x->kind = EXEC_CONSTANT_RATE;
            rc = get_number(L, idx, w, "rate", 0, 1e7, &r, e);
            if (rc)
                return rc == 1 ? field_err(e, w, "rate", "required%s", "") : rc;
            x->rate = r * scale;
            rc = get_duration(L, idx, w, "duration", &dur, e);
            if (rc)
                return rc == 1 ? field_err(e, w, "duration", "required%s", "") : rc;
            x->duration_ns = dur;
        } else {
            x->kind = EXEC_RAMPING_RATE;
            if ((rc = get_number(L, idx, w, "startRate", 0, 1e7, &r, e)) < 0)
                return rc;
            x->start_target = r * scale;
            if ((rc = get_stages(L, idx, w, x, scale, e)))
                return rc;
        }
        uint32_t pre = 0, maxv = 0;
        if ((rc = get_u32(L, idx, w, "preAllocatedVUs", 0, &pre, e)) ||
            (rc = get_u32(L, idx, w, "maxVUs", 0, &maxv, e)))
            return rc;
        if (!pre) /* one second of arrivals, at least 1: enough for fast iterations */
            pre = (uint32_t)fmin(1e5, fmax(1, ceil(executor_max_rate(x))));
        if (maxv < pre)
            maxv = pre;
        s->pre_vus = pre;
        s->vus = maxv;
        break;
    }
    case LSX_PER_VU_ITERATIONS:
    case LSX_SHARED_ITERATIONS: {
        if ((rc = get_u32(L, idx, w, "vus", 1, &s->vus, e)))
            return rc;
        double it = 1;
        if ((rc = get_number(L, idx, w, "iterations", 1, 1e12, &it, e)) < 0)
            return rc;
        s->iterations = (uint64_t)it;
        if (s->kind == LSX_SHARED_ITERATIONS && s->iterations < s->vus)
            s->vus = (uint32_t)s->iterations;
        x->kind = EXEC_CONSTANT_VUS;
        x->vus = s->vus;
        x->duration_ns = s->max_duration_ns;
        break;
    }
    }
    if (executor_max_vus(x) > 1000000 || s->vus > 1000000)
        return field_err(e, w, "vus", "at most 1000000%s", "");
    return 0;
}

/* options.vus / duration / iterations / stages: one scenario "default". */
static int read_shortcut(lua_State *L, int idx, lua_plan *p, err *e)
{
    where w = {"options"};
    lua_scenario *s = &p->sc[0];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "default");
    snprintf(s->exec, sizeof s->exec, "default");
    s->graceful_stop_ns = 30 * NS_PER_S;
    s->max_duration_ns = 600 * NS_PER_S;
    p->nsc = 1;
    uint32_t vus = 1;
    uint64_t dur = 0;
    double it = 0;
    int rc, has_dur = 0, has_stages;
    bool has_vus;
    if (idx) {
        lua_getfield(L, idx, "vus");
        has_vus = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if ((rc = get_u32(L, idx, &w, "vus", has_vus ? 0 : 1, &vus, e)))
            return rc;
        if ((rc = get_duration(L, idx, &w, "duration", &dur, e)) < 0)
            return rc;
        has_dur = rc == 0;
        if ((rc = get_number(L, idx, &w, "iterations", 1, 1e12, &it, e)) < 0)
            return rc;
        lua_getfield(L, idx, "stages");
        has_stages = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (has_stages) {
            s->kind = LSX_RAMPING_VUS;
            s->x.kind = EXEC_RAMPING_VUS;
            s->x.start_target = has_vus ? vus : 1;
            if ((rc = get_stages(L, idx, &w, &s->x, 1.0, e)))
                return rc;
            s->vus = executor_max_vus(&s->x);
            return 0;
        }
    }
    s->vus = vus ? vus : 1;
    if (has_dur && !it) {
        s->kind = LSX_CONSTANT_VUS;
        s->x = (executor){.kind = EXEC_CONSTANT_VUS, .vus = s->vus, .duration_ns = dur};
        return 0;
    }
    s->kind = it ? LSX_SHARED_ITERATIONS : LSX_PER_VU_ITERATIONS;
    s->iterations = it ? (uint64_t)it : 1;
    if (has_dur)
        s->max_duration_ns = dur;
    if (s->kind == LSX_SHARED_ITERATIONS && s->iterations < s->vus)
        s->vus = (uint32_t)s->iterations;
    s->x = (executor){.kind = EXEC_CONSTANT_VUS, .vus = s->vus, .duration_ns = s->max_duration_ns};
    return 0;
}

static int add_threshold(lua_plan *p, const char *metric, const char *expr)
{
    if (!expr)
        return VOLLEY_EINVAL;
    lua_plan_threshold *t = realloc(p->thr, (p->nthr + 1) * sizeof *t);
    if (!t)
        return VOLLEY_ENOMEM;
    p->thr = t;
    memset(&t[p->nthr], 0, sizeof t[p->nthr]);
    snprintf(t[p->nthr].metric, sizeof t->metric, "%s", metric);
    snprintf(t[p->nthr].expr, sizeof t->expr, "%s", expr);
    p->nthr++;
    return 0;
}

/* {threshold = "expr", abortOnFail = bool, delayAbortEval = "10s"} (k6). */
static int threshold_object(lua_State *L, int t, const char *m, lua_Integer i, lua_plan *p,
                            err *e)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        if (strcmp(k, "threshold") && strcmp(k, "abortOnFail") && strcmp(k, "delayAbortEval")) {
            lua_pop(L, 2);
            return err_set(e, VOLLEY_EINVAL, "options.thresholds.%s[%lld].%s: unknown field "
                           "(threshold, abortOnFail, delayAbortEval)", m, (long long)i, k);
        }
        lua_pop(L, 1);
    }
    lua_getfield(L, t, "threshold");
    if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 1);
        return err_set(e, VOLLEY_EINVAL, "options.thresholds.%s[%lld].threshold: expected a "
                       "string like \"p(95)<500\"", m, (long long)i);
    }
    int rc = add_threshold(p, m, lua_tostring(L, -1));
    lua_pop(L, 1);
    if (rc)
        return err_set(e, VOLLEY_ENOMEM, "out of memory");
    lua_plan_threshold *th = &p->thr[p->nthr - 1];
    lua_getfield(L, t, "abortOnFail");
    th->abort_on_fail = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, t, "delayAbortEval");
    if (!lua_isnil(L, -1)) {
        char what[200];
        snprintf(what, sizeof what, "options.thresholds.%s[%lld].delayAbortEval", m, (long long)i);
        if (lua_type(L, -1) != LUA_TSTRING ||
            parse_duration_ns(lua_tostring(L, -1), what, &th->delay_abort_ns, e)) {
            lua_pop(L, 1);
            return e->code ? e->code : err_set(e, VOLLEY_EINVAL, "%s: expected a duration", what);
        }
    }
    lua_pop(L, 1);
    return 0;
}

/* thresholds = { metric = "expr" | {"expr", {threshold = "expr"}, ...} } */
static int read_thresholds(lua_State *L, int idx, lua_plan *p, err *e)
{
    lua_getfield(L, idx, "thresholds");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return err_set(e, VOLLEY_EINVAL, "options.thresholds: expected a table");
    }
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        const char *m = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (!m) {
            lua_pop(L, 2);
            return err_set(e, VOLLEY_EINVAL, "options.thresholds: keys must be metric names");
        }
        int v = lua_gettop(L);
        if (lua_type(L, v) == LUA_TSTRING) {
            add_threshold(p, m, lua_tostring(L, v));
        } else if (lua_istable(L, v)) {
            lua_Integer n = luaL_len(L, v);
            for (lua_Integer i = 1; i <= n; i++) {
                lua_geti(L, v, i);
                if (lua_istable(L, -1)) {
                    int rc = threshold_object(L, lua_gettop(L), m, i, p, e);
                    if (rc) {
                        lua_pop(L, 4);
                        return rc;
                    }
                    lua_pushnil(L);
                } else {
                    lua_pushvalue(L, -1);
                }
                if (lua_type(L, -1) == LUA_TSTRING)
                    add_threshold(p, m, lua_tostring(L, -1));
                else if (!lua_isnil(L, -1) || !lua_istable(L, -2)) {
                    lua_pop(L, 4);
                    return err_set(e, VOLLEY_EINVAL, "options.thresholds.%s[%lld]: expected a "
                                   "string like \"p(95)<500\"", m, (long long)i);
                }
                lua_pop(L, 2);
            }
        } else {
            lua_pop(L, 2);
            return err_set(e, VOLLEY_EINVAL, "options.thresholds.%s: expected a string or a "
                           "list of strings", m);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return 0;
}

static int check_exec(lua_State *L, const lua_plan *p, err *e)
{
    for (size_t i = 0; i < p->nsc; i++) {
        lua_getglobal(L, p->sc[i].exec);
        bool fn = lua_isfunction(L, -1);
        lua_pop(L, 1);
        if (!fn) {
            if (!strcmp(p->sc[i].name, "default") && !strcmp(p->sc[i].exec, "default"))
                return err_set(e, VOLLEY_EINVAL, "the script defines no function 'default' "
                               "(one iteration of a virtual user)");
            return err_set(e, VOLLEY_EINVAL, "options.scenarios.%s.exec: no global function "
                           "named '%s'", p->sc[i].name, p->sc[i].exec);
        }
    }
    return 0;
}

static int read_scenarios(lua_State *L, int idx, lua_plan *p, err *e)
{
    int t = lua_gettop(L);
    (void)idx;
    /* Sorted by name so that every worker and every run sees one order. */
    const char *names[LUA_PLAN_MAX_SCENARIOS];
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            return err_set(e, VOLLEY_EINVAL, "options.scenarios: keys must be names");
        }
        if (n == LUA_PLAN_MAX_SCENARIOS) {
            lua_pop(L, 1);
            return err_set(e, VOLLEY_EINVAL, "options.scenarios: at most %d scenarios",
                           LUA_PLAN_MAX_SCENARIOS);
        }
        names[n++] = lua_tostring(L, -1); /* anchored by the table */
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *x = names[j];
            names[j] = names[j - 1];
            names[j - 1] = x;
        }
    if (n == 0)
        return err_set(e, VOLLEY_EINVAL, "options.scenarios: empty");
    for (size_t i = 0; i < n; i++) {
        lua_scenario *s = &p->sc[i];
        memset(s, 0, sizeof *s);
        where w;
        snprintf(w.prefix, sizeof w.prefix, "options.scenarios.%.100s", names[i]);
        if (strlen(names[i]) >= sizeof s->name)
            return err_set(e, VOLLEY_EINVAL, "%s: name too long", w.prefix);
        snprintf(s->name, sizeof s->name, "%s", names[i]);
        lua_getfield(L, t, names[i]);
        int rc = lua_istable(L, -1) ? read_scenario(L, lua_gettop(L), &w, s, e)
                                    : err_set(e, VOLLEY_EINVAL, "%s: expected a table", w.prefix);
        lua_pop(L, 1);
        if (rc)
            return rc;
    }
    p->nsc = n;
    return 0;
}

/* options.batch and options.batchPerHost (k6's names and defaults). */
static int read_batch(lua_State *L, int o, lua_plan *p, err *e)
{
    where w = {"options"};
    int rc = get_u32(L, o, &w, "batch", 1, &p->batch, e);
    if (rc < 0)
        return rc;
    if (p->batch > LUA_PLAN_BATCH_MAX) {
        char m[16];
        snprintf(m, sizeof m, "%d", LUA_PLAN_BATCH_MAX);
        return field_err(e, &w, "batch", "expected at most %s (requests in flight per "
                         "http.batch call)", m);
    }
    rc = get_u32(L, o, &w, "batchPerHost", 0, &p->batch_per_host, e);
    return rc < 0 ? rc : 0;
}

int lua_plan_read(lua_State *L, lua_plan *p, err *e)
{
    memset(p, 0, sizeof *p);
    p->batch = LUA_PLAN_BATCH;
    p->batch_per_host = LUA_PLAN_BATCH_PER_HOST;
    int top = lua_gettop(L);
    int rc = 0;
    lua_getglobal(L, "options");
    int o = lua_gettop(L);
    if (lua_isnil(L, o)) {
        rc = read_shortcut(L, 0, p, e);
    } else if (!lua_istable(L, o)) {
        rc = err_set(e, VOLLEY_EINVAL, "options: expected a table");
    } else {
        static const char *const keys[] = {"vus", "duration", "iterations", "stages",
                                           "scenarios", "thresholds", "batch",
                                           "batchPerHost", NULL};
        where w = {"options"};
        rc = check_keys(L, o, &w, keys, e);
        lua_getfield(L, o, "scenarios");
        if (rc)
            ;
        else if (lua_isnil(L, -1))
            rc = read_shortcut(L, o, p, e);
        else if (!lua_istable(L, -1))
            rc = err_set(e, VOLLEY_EINVAL, "options.scenarios: expected a table");
        else
            rc = read_scenarios(L, o, p, e);
        lua_settop(L, o);
        if (!rc)
            rc = read_thresholds(L, o, p, e);
        if (!rc)
            rc = read_batch(L, o, p, e);
    }
    if (!rc)
        rc = check_exec(L, p, e);
    lua_settop(L, top);
    if (rc)
        lua_plan_free(p);
    return rc;
}

void lua_plan_free(lua_plan *p)
{
    free(p->thr);
    p->thr = NULL;
    p->nthr = 0;
}

uint64_t lua_plan_end_ns(const lua_scenario *s)
{
    uint64_t d = s->kind == LSX_PER_VU_ITERATIONS || s->kind == LSX_SHARED_ITERATIONS
                     ? s->max_duration_ns
                     : executor_duration_ns(&s->x);
    return s->start_ns + d;
}

uint32_t lua_plan_max_vus(const lua_scenario *s)
{
    if (s->kind == LSX_RAMPING_VUS)
        return executor_max_vus(&s->x);
    return s->vus;
}

int lua_plan_override(lua_State *L, lua_plan *p, const lua_plan_shape *o, err *e)
{
    lua_scenario *s = &p->sc[0];
    uint64_t script_dur = p->nsc == 1 && s->kind == LSX_CONSTANT_VUS ? s->x.duration_ns : 0;
    memset(p->sc, 0, sizeof p->sc);
    p->nsc = 1;
    snprintf(s->name, sizeof s->name, "default");
    snprintf(s->exec, sizeof s->exec, "default");
    s->graceful_stop_ns = 30 * NS_PER_S;
    s->max_duration_ns = o->max_duration_ns ? o->max_duration_ns : 600 * NS_PER_S;
    s->x = o->x;
    switch (o->x.kind) {
    case EXEC_CONSTANT_VUS:
        s->vus = o->x.vus;
        if (o->iterations) {
            s->kind = LSX_SHARED_ITERATIONS;
            s->iterations = o->iterations;
            if (s->iterations < s->vus)
                s->vus = (uint32_t)s->iterations;
            s->x.vus = s->vus;
            s->x.duration_ns = s->max_duration_ns;
        }
        else
            s->kind = LSX_CONSTANT_VUS;
        if (!o->iterations && o->keep_duration && script_dur) /* k6 --vus alone */
            s->x.duration_ns = script_dur;
        break;
    case EXEC_RAMPING_VUS:
        s->kind = LSX_RAMPING_VUS;
        s->vus = executor_max_vus(&s->x);
        break;
    case EXEC_CONSTANT_RATE:
    case EXEC_RAMPING_RATE:
        s->kind = o->x.kind == EXEC_CONSTANT_RATE ? LSX_CONSTANT_RATE : LSX_RAMPING_RATE;
        s->pre_vus = (uint32_t)fmin(1e5, fmax(1, ceil(executor_max_rate(&s->x))));
        if (o->max_vus)
            s->pre_vus = o->max_vus;
        s->vus = s->pre_vus;
        break;
    }
    if (s->vus < 1)
        s->vus = 1;
    return check_exec(L, p, e);
}

size_t lua_plan_http_headers(const lua_plan *p, http1_header *hv, size_t nh, size_t max)
{
    size_t own = nh;
    for (size_t i = 0; i < p->http_nheaders && nh < max; i++) {
        bool named = false;
        for (size_t k = 0; k < own && !named; k++)
            named = !strcasecmp(hv[k].name, p->http_headers[i].name);
        if (!named)
            hv[nh++] = p->http_headers[i];
    }
    return nh;
}
