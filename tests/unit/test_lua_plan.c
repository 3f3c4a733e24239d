/* Tests for script/lua_plan: k6-style options into scenarios, the
 * shortcut forms, and errors that name the scenario and the field. */
#include "script/lua_plan.h"

#include "core/clock.h"

#include <criterion/criterion.h>
#include <lauxlib.h>
#include <lualib.h>
#include <string.h>

static int read_src(const char *src, lua_plan *p, err *e)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    cr_assert_eq(luaL_dostring(L, src), 0, "%s", lua_tostring(L, -1));
    int rc = lua_plan_read(L, p, e);
    lua_close(L);
    return rc;
}

Test(lua_plan, no_options_is_one_vu_one_iteration)
{
    lua_plan p;
    err e;
    cr_assert_eq(read_src("function default() end", &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.nsc, 1);
    cr_assert_str_eq(p.sc[0].name, "default");
    cr_assert_eq(p.sc[0].kind, LSX_PER_VU_ITERATIONS);
    cr_assert_eq(p.sc[0].vus, 1);
    cr_assert_eq(p.sc[0].iterations, 1);
    lua_plan_free(&p);
}

Test(lua_plan, shortcut_vus_duration)
{
    lua_plan p;
    err e;
    cr_assert_eq(read_src("options = {vus = 10, duration = '1m30s'} function default() end", &p, &e), 0);
    cr_assert_eq(p.sc[0].kind, LSX_CONSTANT_VUS);
    cr_assert_eq(p.sc[0].x.vus, 10);
    cr_assert_eq(p.sc[0].x.duration_ns, 90 * NS_PER_S);
    lua_plan_free(&p);
    cr_assert_eq(read_src("options = {vus = 2, iterations = 7} function default() end", &p, &e), 0);
    cr_assert_eq(p.sc[0].kind, LSX_SHARED_ITERATIONS);
    cr_assert_eq(p.sc[0].iterations, 7);
    lua_plan_free(&p);
}

Test(lua_plan, scenarios_sorted_with_all_executors)
{
    lua_plan p;
    err e;
    const char *src =
        "options = { scenarios = {"
        " z = {executor='constant-vus', vus=3, duration=2},"
        " a = {executor='ramping-vus', startVUs=0, stages={{target=5, duration='1s'},{target=0, duration='1s'}}},"
        " c = {executor='constant-arrival-rate', rate=30, timeUnit='1m', duration='10s', preAllocatedVUs=2, maxVUs=4, exec='other', startTime='5s'},"
        " d = {executor='ramping-arrival-rate', startRate=1, stages={{target=10, duration='2s'}}},"
        " e = {executor='per-vu-iterations', vus=2, iterations=3},"
        " f = {executor='shared-iterations', vus=4, iterations=2, tags={kind='x'}},"
        "}, thresholds = { http_req_duration = {'p(95)<500', {threshold='p(99)<900'}}, checks = 'rate>0.9' } }"
        " function default() end function other() end";
    cr_assert_eq(read_src(src, &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.nsc, 6);
    cr_assert_str_eq(p.sc[0].name, "a");
    cr_assert_eq(p.sc[0].kind, LSX_RAMPING_VUS);
    cr_assert_eq(lua_plan_max_vus(&p.sc[0]), 5);
    cr_assert_eq(p.sc[0].x.duration_ns, 2 * NS_PER_S);
    cr_assert_str_eq(p.sc[1].name, "c");
    cr_assert_float_eq(p.sc[1].x.rate, 0.5, 1e-9);
    cr_assert_eq(p.sc[1].vus, 4);
    cr_assert_str_eq(p.sc[1].exec, "other");
    cr_assert_eq(p.sc[1].start_ns, 5 * NS_PER_S);
    cr_assert_eq(lua_plan_end_ns(&p.sc[1]), 15 * NS_PER_S);
    cr_assert_eq(p.sc[2].kind, LSX_RAMPING_RATE);
    cr_assert_eq(p.sc[3].kind, LSX_PER_VU_ITERATIONS);
    cr_assert_eq(p.sc[4].kind, LSX_SHARED_ITERATIONS);
    cr_assert_eq(p.sc[4].vus, 2, "shared-iterations never has more VUs than iterations");
    cr_assert_eq(p.sc[4].ntags, 1);
    cr_assert_eq(p.sc[5].kind, LSX_CONSTANT_VUS);
    cr_assert_eq(p.nthr, 3);
    lua_plan_free(&p);
}

static void expect_error(const char *src, const char *want)
{
    lua_plan p;
    err e = {0};
    cr_assert_neq(read_src(src, &p, &e), 0, "accepted: %s", src);
    cr_assert(strstr(e.msg, want), "message '%s' lacks '%s'", e.msg, want);
}

Test(lua_plan, errors_name_scenario_and_field)
{
    expect_error("options={scenarios={api={executor='warp-speed', vus=1}}} function default() end",
                 "options.scenarios.api.executor: unknown executor 'warp-speed'");
    expect_error("options={scenarios={api={executor='constant-vus', duration='ten'}}} function default() end",
                 "options.scenarios.api.duration");
    expect_error("options={scenarios={api={executor='constant-vus'}}} function default() end",
                 "options.scenarios.api.duration: required");
    expect_error("options={scenarios={api={executor='constant-vus', duration=1, vuss=3}}} function default() end",
                 "options.scenarios.api.vuss: unknown field");
    expect_error("options={scenarios={api={executor='constant-vus', duration=1, exec='nope'}}} function default() end",
                 "options.scenarios.api.exec: no global function named 'nope'");
    expect_error("options={scenarios={r={executor='ramping-vus'}}} function default() end",
                 "options.scenarios.r.stages: required");
    expect_error("options={duration='5x'} function default() end", "options.duration");
    expect_error("options={vus=1, duration=1}", "no function 'default'");
}

Test(lua_plan, unknown_option_names_path_and_nearest)
{
    lua_plan p;
    err e;
    cr_assert_eq(read_src("options = {duraton = '1s'} function default() end", &p, &e),
                 VOLLEY_EINVAL);
    cr_assert_str_eq(e.msg, "options.duraton: unknown field (did you mean 'duration'?)");
    cr_assert_eq(read_src("options = {scenarios = {a = {executor = 'constant-vus', "
                          "vus = 1, duration = 1, exce = 'x'}}} function default() end",
                          &p, &e), VOLLEY_EINVAL);
    cr_assert_str_eq(e.msg, "options.scenarios.a.exce: unknown field (did you mean 'exec'?)");
    /* Far from every name: no guess. */
    cr_assert_eq(read_src("options = {zzzzzzzz = 1} function default() end", &p, &e),
                 VOLLEY_EINVAL);
    cr_assert_str_eq(e.msg, "options.zzzzzzzz: unknown field");
}

static int override_src(const char *src, const lua_plan_shape *sh, lua_plan *p, err *e)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    cr_assert_eq(luaL_dostring(L, src), 0, "%s", lua_tostring(L, -1));
    int rc = lua_plan_read(L, p, e);
    if (!rc)
        rc = lua_plan_override(L, p, sh, e);
    lua_close(L);
    return rc;
}

Test(lua_plan, cli_shape_replaces_scenarios_keeps_thresholds)
{
    const char *src = "options = { scenarios = { a = {executor='constant-vus', vus=9, "
                      "duration=60}, b = {executor='shared-iterations', iterations=5} }, "
                      "thresholds = { checks = {'rate>0.9'} } } function default() end";
    lua_plan p;
    err e;
    lua_plan_shape sh = {.x = {.kind = EXEC_CONSTANT_VUS, .vus = 3, .duration_ns = NS_PER_S}};
    cr_assert_eq(override_src(src, &sh, &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.nsc, 1);
    cr_assert_str_eq(p.sc[0].name, "default");
    cr_assert_eq(p.sc[0].kind, LSX_CONSTANT_VUS);
    cr_assert_eq(p.sc[0].vus, 3);
    cr_assert_eq(p.nthr, 1);
    lua_plan_free(&p);
    sh = (lua_plan_shape){.x = {.kind = EXEC_CONSTANT_VUS, .vus = 4}, .iterations = 2};
    cr_assert_eq(override_src(src, &sh, &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.sc[0].kind, LSX_SHARED_ITERATIONS);
    cr_assert_eq(p.sc[0].iterations, 2);
    cr_assert_eq(p.sc[0].vus, 2); /* no more VUs than iterations */
    lua_plan_free(&p);
    sh = (lua_plan_shape){.x = {.kind = EXEC_CONSTANT_RATE, .rate = 50, .duration_ns = NS_PER_S},
                          .max_vus = 7};
    cr_assert_eq(override_src(src, &sh, &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.sc[0].kind, LSX_CONSTANT_RATE);
    cr_assert_eq(lua_plan_max_vus(&p.sc[0]), 7);
    lua_plan_free(&p);
}

Test(lua_plan, cli_shape_needs_a_default_function)
{
    lua_plan p;
    err e;
    lua_plan_shape sh = {.x = {.kind = EXEC_CONSTANT_VUS, .vus = 1, .duration_ns = NS_PER_S}};
    cr_assert_eq(override_src("options = { scenarios = { a = {executor='shared-iterations', "
                              "exec='f'} } } function f() end", &sh, &p, &e), VOLLEY_EINVAL);
    cr_assert(strstr(e.msg, "no function 'default'"), "%s", e.msg);
}

Test(lua_plan, default_headers_yield_to_the_request_s_own)
{
    lua_plan p;
    memset(&p, 0, sizeof p);
    p.http_headers[0] = (http1_header){"X-A", "1"};
    p.http_headers[1] = (http1_header){"X-B", "2"};
    p.http_nheaders = 2;
    http1_header hv[4] = {{"x-a", "own"}};
    size_t n = lua_plan_http_headers(&p, hv, 1, 4);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(hv[0].value, "own");
    cr_assert_str_eq(hv[1].name, "X-B");
}

Test(lua_plan, vus_alone_keeps_the_script_s_duration)
{
    lua_plan p;
    err e;
    lua_plan_shape sh = {.x = {.kind = EXEC_CONSTANT_VUS, .vus = 3, .duration_ns = 10 * NS_PER_S},
                         .keep_duration = true};
    cr_assert_eq(override_src("options = {vus = 10, duration = '30s'} function default() end",
                              &sh, &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.sc[0].vus, 3);
    cr_assert_eq(p.sc[0].x.duration_ns, 30 * NS_PER_S);
    lua_plan_free(&p);
}

Test(lua_plan, batch_options_k6_defaults_values_and_errors)
{
    lua_plan p;
    err e;
    cr_assert_eq(read_src("function default() end", &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.batch, 20);
    cr_assert_eq(p.batch_per_host, 6);
    lua_plan_free(&p);
    cr_assert_eq(read_src("options = {batch = 7, batchPerHost = 0} function default() end", &p, &e),
                 0, "%s", e.msg);
    cr_assert_eq(p.batch, 7);
    cr_assert_eq(p.batch_per_host, 0);
    lua_plan_free(&p);
    expect_error("options={batch=0} function default() end",
                 "options.batch: expected a number in 1..");
    expect_error("options={batch=1001} function default() end",
                 "options.batch: expected at most 1000");
    expect_error("options={batchPerHost=-2} function default() end",
                 "options.batchPerHost: expected a number in 0..");
    expect_error("options={batchPerHost=1.5} function default() end",
                 "options.batchPerHost: expected a whole number");
}

Test(lua_plan, a_key_in_another_case_is_unknown)
{
    /* Read case-sensitively, so accepting it would ignore it silently. */
    lua_plan p;
    err e;
    cr_assert_eq(read_src("options = {VUs = 5, duration = 1} function default() end", &p, &e),
                 VOLLEY_EINVAL);
    cr_assert_str_eq(e.msg, "options.VUs: unknown field (did you mean 'vus'?)");
}
