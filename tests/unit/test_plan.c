/* Tests for load/plan's endpoint handling: NAME=METHOD URL specs, weights,
 * filters and the mixed-mode pick (every window of consecutive iterations
 * follows the weights closely; a weight of 0 is never picked; the pick is
 * a function of i alone). No network: plan_compile resolves loopback only. */
#include "load/plan.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static plan *new_plan(void)
{
    plan *p = calloc(1, sizeof *p);
    cr_assert(p);
    plan_init(p);
    return p;
}

static void del_plan(plan *p)
{
    plan_free(p);
    free(p);
}

static void add(plan *p, const char *spec)
{
    err e = {0};
    cr_assert_eq(plan_add_endpoint(p, spec, "--endpoint", &e), 0, "%s: %s", spec, e.msg);
}

Test(plan, endpoint_specs)
{
    plan *p = new_plan();
    add(p, "http://127.0.0.1:9/health?x=1");
    add(p, "login=POST http://127.0.0.1:9/login");
    add(p, "DELETE http://127.0.0.1:9/items/1");
    cr_assert_eq(p->neps, 3);
    cr_expect_str_eq(p->eps[0].name, "/health");
    cr_expect_str_eq(p->eps[0].method, "");
    cr_expect_str_eq(p->eps[1].name, "login");
    cr_expect_str_eq(p->eps[1].method, "POST");
    cr_expect_str_eq(p->eps[1].url_text, "http://127.0.0.1:9/login");
    cr_expect_str_eq(p->eps[2].method, "DELETE");
    err e = {0};
    cr_expect_neq(plan_add_endpoint(p, "login=http://127.0.0.1:9/x", "--endpoint", &e), 0);
    cr_expect(strstr(e.msg, "used twice") != NULL, "%s", e.msg);
    cr_expect_neq(plan_add_endpoint(p, "=http://127.0.0.1:9/x", "--endpoint", &e), 0);
    cr_expect(strstr(e.msg, "bad endpoint name") != NULL, "%s", e.msg);
    del_plan(p);
}

Test(plan, weights_and_filter)
{
    plan *p = new_plan();
    add(p, "a=http://127.0.0.1:9/api/a");
    add(p, "b=http://127.0.0.1:9/api/b");
    add(p, "c=http://127.0.0.1:9/other");
    err e = {0};
    cr_expect_eq(plan_set_weight(p, "b=3.5", &e), 0);
    cr_expect_float_eq(p->eps[1].weight, 3.5, 1e-12);
    cr_expect_float_eq(p->eps[0].weight, 1, 1e-12);
    cr_expect_neq(plan_set_weight(p, "zz=1", &e), 0);
    cr_expect(strstr(e.msg, "no endpoint named 'zz'") != NULL, "%s", e.msg);
    cr_expect_neq(plan_set_weight(p, "b", &e), 0);
    cr_expect(strstr(e.msg, "not NAME=WEIGHT") != NULL, "%s", e.msg);
    cr_expect_eq(plan_filter(p, "/api", &e), 0, "%s", e.msg);
    cr_expect_eq(p->neps, 2);
    cr_expect_str_eq(p->eps[1].name, "b");
    del_plan(p);
}

/* A mixed plan with the given weights, without compiling (no sockets). */
static plan *mixed(const double *w, size_t n)
{
    plan *p = new_plan();
    p->mode = PLAN_MIXED;
    for (size_t i = 0; i < n; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "e%zu=http://127.0.0.1:9/%zu", i, i);
        add(p, spec);
        p->eps[i].weight = w[i];
        p->weight_sum += w[i];
    }
    return p;
}

Test(plan, pick_follows_weights_in_every_window)
{
    static const double w[4] = {1, 2, 0, 5};
    plan *p = mixed(w, 4);
    /* Any 800 consecutive iterations: within 1.5 % of the weights. */
    for (uint64_t start = 0; start < 100000; start += 9973) {
        uint64_t count[4] = {0};
        for (uint64_t i = start; i < start + 800; i++) {
            uint32_t k = plan_pick_endpoint(p, i);
            cr_assert_lt(k, 4);
            count[k]++;
        }
        cr_expect_eq(count[2], 0, "a weight of 0 was picked");
        for (size_t k = 0; k < 4; k++)
            cr_expect(fabs((double)count[k] - 800 * w[k] / 8) <= 12, "start %lu ep %zu: %lu",
                      (unsigned long)start, k, (unsigned long)count[k]);
    }
    /* A function of i alone. */
    for (uint64_t i = 0; i < 1000; i++)
        cr_expect_eq(plan_pick_endpoint(p, i * 7919), plan_pick_endpoint(p, i * 7919));
    del_plan(p);
}

Test(plan, single_endpoint_is_always_picked)
{
    static const double w[1] = {0.25};
    plan *p = mixed(w, 1);
    for (uint64_t i = 0; i < 100; i++)
        cr_expect_eq(plan_pick_endpoint(p, i), 0);
    del_plan(p);
}

Test(plan, default_names)
{
    char n[64];
    plan_default_name("http://h:1/a/b?c=d", n, sizeof n);
    cr_expect_str_eq(n, "/a/b");
    plan_default_name("http://h:1", n, sizeof n);
    cr_expect_str_eq(n, "/");
}

/* Found by fuzzing: "GET " with no URL was an endpoint with an empty URL. */
Test(plan, targets_file_method_without_url_is_an_error)
{
    char path[] = "/tmp/volley-targets-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    static const char text[] = "# name: x\nGET   \n";
    cr_assert_eq(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    plan *p = new_plan();
    err e = {0};
    cr_expect_neq(plan_load_targets(p, path, &e), 0);
    cr_expect(strstr(e.msg, ":2: expected 'METHOD URL'") != NULL, "%s", e.msg);
    cr_expect_eq(p->neps, 0);
    del_plan(p);
    unlink(path);
}
