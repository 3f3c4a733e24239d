/* Tests for load/segment: the property that N segments of a run, each
 * split over T workers, run exactly the iterations and VUs of one
 * unsegmented run (same count, same intended times and mixed-mode
 * endpoints, none twice), for random plans of every model (open, closed,
 * ramping stages, -n, 1..8 weighted endpoints) and
 * random script scenarios (lua_plan); and the parsing of --segment auto
 * and --start-at. */
#include "load/segment.h"

#include "core/clock.h"
#include "load/executor.h"
#include "load/plan.h"
#include "script/lua_plan.h"

#include <criterion/criterion.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static executor random_shape(bool open)
{
    executor x = {0};
    if (rnd(2)) {
        x.kind = open ? EXEC_CONSTANT_RATE : EXEC_CONSTANT_VUS;
        x.rate = 1 + rnd(3000) / 7.0;
        x.vus = 1 + rnd(40);
        x.duration_ns = (1 + rnd(5)) * NS_PER_S + rnd(1000) * NS_PER_MS;
        return x;
    }
    x.kind = open ? EXEC_RAMPING_RATE : EXEC_RAMPING_VUS;
    x.nstages = 1 + rnd(4);
    for (size_t i = 0; i < x.nstages; i++) {
        x.stages[i].target = open ? rnd(2000) / 3.0 : rnd(30);
        x.stages[i].duration_ns = (1 + rnd(3)) * NS_PER_S + rnd(500) * NS_PER_MS;
        x.duration_ns += x.stages[i].duration_ns;
    }
    return x;
}

/* One iteration as a worker sends it: its intended time and endpoint. */
typedef struct sent {
    uint64_t at_ns;
    uint32_t ep;
} sent;

static int sent_cmp(const void *a, const void *b)
{
    const sent *x = a, *y = b;
    if (x->at_ns != y->at_ns)
        return x->at_ns < y->at_ns ? -1 : 1;
    return (x->ep > y->ep) - (x->ep < y->ep);
}

/* The iterations N segments of T workers send, walked as worker.c and
 * lua_worker.c walk them (first, first + stride, ... below the limit),
 * each with the intended time and the mixed-mode endpoint it is sent
 * with; sorted. *n is how many. */
static sent *walk(const executor *x, const plan *p, uint64_t limit, uint32_t N, uint32_t T,
                  uint64_t *n)
{
    sent *out = malloc((limit ? limit : 1) * sizeof *out);
    uint64_t count = 0;
    for (uint32_t k = 1; k <= N; k++)
        for (uint32_t w = 0; w < T; w++) {
            segment s = {k, N};
            for (uint64_t i = segment_first_iter(s, T, w); i < limit;
                 i += segment_iter_stride(s, T)) {
                cr_assert_lt(count, limit, "more than %llu iterations (N=%u T=%u)",
                             (unsigned long long)limit, N, T);
                out[count++] = (sent){executor_time_of(x, i), plan_pick_endpoint(p, i)};
            }
        }
    qsort(out, count, sizeof *out, sent_cmp);
    *n = count;
    return out;
}

/* Open model: the segments together send what one unsegmented run of one
 * worker sends (the same intended times, the same endpoints, as many),
 * and no iteration is sent by two workers. */
static void check_open(const executor *x, const plan *p, uint64_t requests, uint32_t N,
                       uint32_t T)
{
    uint64_t limit = executor_total(x);
    if (requests && requests < limit)
        limit = requests;
    uint8_t *seen = calloc(limit ? limit : 1, 1);
    for (uint32_t k = 1; k <= N; k++)
        for (uint32_t w = 0; w < T; w++) {
            segment s = {k, N};
            for (uint64_t i = segment_first_iter(s, T, w); i < limit;
                 i += segment_iter_stride(s, T)) {
                cr_assert_eq(seen[i], 0, "iteration %llu in two places (N=%u T=%u)",
                             (unsigned long long)i, N, T);
                seen[i] = 1;
            }
        }
    free(seen);
    uint64_t n1, nN;
    sent *one = walk(x, p, limit, 1, 1, &n1), *segs = walk(x, p, limit, N, T, &nN);
    cr_assert_eq(n1, limit);
    cr_assert_eq(nN, n1, "N=%u T=%u: %llu of %llu iterations", N, T, (unsigned long long)nN,
                 (unsigned long long)n1);
    for (uint64_t i = 0; i < n1; i++)
        cr_assert(one[i].at_ns == segs[i].at_ns && one[i].ep == segs[i].ep,
                  "N=%u T=%u: sorted iteration %llu is (%llu ns, endpoint %u), "
                  "(%llu ns, endpoint %u) in one run", N, T, (unsigned long long)i,
                  (unsigned long long)segs[i].at_ns, segs[i].ep,
                  (unsigned long long)one[i].at_ns, one[i].ep);
    free(one);
    free(segs);
}

/* A mixed-mode plan of 1..8 endpoints of random weights (plan_pick_endpoint
 * reads only neps, the weights and weight_sum). */
static void random_endpoints(plan *p)
{
    p->mode = PLAN_MIXED;
    p->neps = 1 + rnd(8);
    p->weight_sum = 0;
    for (size_t e = 0; e < p->neps; e++) {
        p->eps[e].weight = 1 + rnd(20) / 4.0;
        p->weight_sum += p->eps[e].weight;
    }
}

/* Closed model: the run-wide VU indexes of all segments are 0..vus-1, each
 * once; so at any time the VUs running (index < target(t)) add up to the
 * unsegmented run's target(t). */
static void check_closed(const executor *x, uint32_t N, uint32_t T)
{
    uint32_t vus = executor_max_vus(x);
    uint8_t *seen = calloc(vus ? vus : 1, 1);
    uint32_t count = 0;
    for (uint32_t k = 1; k <= N; k++)
        for (uint32_t w = 0; w < T; w++) {
            segment s = {k, N};
            uint32_t n = segment_worker_vus(s, vus, T, w);
            for (uint32_t j = 0; j < n; j++) {
                uint32_t v = segment_vu_index(s, T, w, j);
                cr_assert_lt(v, vus, "VU %u of %u (N=%u T=%u)", v, vus, N, T);
                cr_assert_eq(seen[v], 0, "VU %u in two places (N=%u T=%u)", v, N, T);
                seen[v] = 1;
                count++;
            }
        }
    cr_assert_eq(count, vus);
    for (uint64_t t = 0; t < executor_duration_ns(x); t += 250 * NS_PER_MS) {
        uint32_t want = executor_vus_at(x, t), running = 0;
        for (uint32_t v = 0; v < vus; v++)
            running += seen[v] && v < want;
        cr_assert_eq(running, want);
    }
    free(seen);
}

/* -n and shared iterations: the parts add up to the total, and only a
 * worker with a VU gets a part (else iterations would be lost). */
static void check_quota(uint64_t total, uint32_t vus, uint32_t N, uint32_t T)
{
    uint64_t sum = 0;
    for (uint32_t k = 1; k <= N; k++)
        for (uint32_t w = 0; w < T; w++) {
            segment s = {k, N};
            uint64_t q = segment_worker_quota(s, total, vus, T, w);
            if (q)
                cr_assert_gt(segment_worker_vus(s, vus, T, w), 0,
                             "quota %llu for a worker without VUs (N=%u T=%u vus=%u)",
                             (unsigned long long)q, N, T, vus);
            sum += q;
        }
    cr_assert_eq(sum, vus ? total : 0, "N=%u T=%u vus=%u: %llu of %llu", N, T, vus,
                 (unsigned long long)sum, (unsigned long long)total);
}

Test(segment, test_segments_partition_every_model)
{
    plan *p = calloc(1, sizeof *p);
    cr_assert_not_null(p);
    for (int round = 0; round < 300; round++) {
        uint32_t N = 1 + (uint32_t)round % 8, T = 1 + rnd(4);
        executor o = random_shape(true), c = random_shape(false);
        uint64_t requests = rnd(3) ? 0 : rnd(5000);
        random_endpoints(p);
        check_open(&o, p, requests, N, T);
        check_closed(&c, N, T);
        check_quota(rnd(100000), executor_max_vus(&c), N, T);
        check_quota(rnd(50), 1 + rnd(5), N, T);
    }
    free(p);
}

static int read_plan(const char *src, lua_plan *p)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    cr_assert_eq(luaL_dostring(L, src), 0, "%s", lua_tostring(L, -1));
    err e = {0};
    int rc = lua_plan_read(L, p, &e);
    cr_assert_eq(rc, 0, "%s: %s", src, e.msg);
    lua_close(L);
    return rc;
}

/* A script's scenarios of every kind split as lua_worker.c splits them. */
Test(segment, test_segments_partition_script_scenarios)
{
    plan *one_endpoint = calloc(1, sizeof *one_endpoint); /* a script picks its own */
    cr_assert_not_null(one_endpoint);
    one_endpoint->neps = 1;
    for (int round = 0; round < 80; round++) {
        char src[1024];
        snprintf(src, sizeof src,
                 "options = { scenarios = {"
                 " a = { executor = 'constant-vus', vus = %u, duration = '2s' },"
                 " b = { executor = 'ramping-vus', stages = { { target = %u, duration = '2s' },"
                 "       { target = %u, duration = '1s' } } },"
                 " c = { executor = 'constant-arrival-rate', rate = %u, timeUnit = '1s',"
                 "       duration = '3s', preAllocatedVUs = %u },"
                 " d = { executor = 'shared-iterations', vus = %u, iterations = %u },"
                 " e = { executor = 'per-vu-iterations', vus = %u, iterations = %u },"
                 " f = { executor = 'ramping-arrival-rate', startRate = %u, timeUnit = '1s',"
                 "       preAllocatedVUs = %u, stages = { { target = %u, duration = '2s' },"
                 "       { target = %u, duration = '1500ms' } } } } }"
                 " function default() end",
                 1 + rnd(20), rnd(20), rnd(20), 1 + rnd(900), 1 + rnd(30), 1 + rnd(10),
                 1 + rnd(500), 1 + rnd(10), 1 + rnd(9), rnd(300), 1 + rnd(30), rnd(900), rnd(900));
        lua_plan p;
        read_plan(src, &p);
        cr_assert_eq(p.nsc, 6);
        uint32_t N = 1 + (uint32_t)round % 8, T = 1 + rnd(4);
        for (size_t i = 0; i < p.nsc; i++) {
            const lua_scenario *s = &p.sc[i];
            uint32_t vus = lua_plan_max_vus(s);
            if (s->kind == LSX_CONSTANT_RATE || s->kind == LSX_RAMPING_RATE)
                check_open(&s->x, one_endpoint, 0, N, T);
            if (s->kind == LSX_CONSTANT_VUS || s->kind == LSX_RAMPING_VUS)
                check_closed(&s->x, N, T);
            if (s->kind == LSX_SHARED_ITERATIONS)
                check_quota(s->iterations, vus, N, T);
            if (s->kind == LSX_PER_VU_ITERATIONS) { /* each VU once: its iterations once */
                executor x = {.kind = EXEC_CONSTANT_VUS, .vus = vus, .duration_ns = NS_PER_S};
                check_closed(&x, N, T);
            }
        }
        lua_plan_free(&p);
    }
    free(one_endpoint);
}

static const char *const *env_table;

static char *fake_getenv(const char *name)
{
    size_t n = strlen(name);
    for (const char *const *v = env_table; v && *v; v++)
        if (!strncmp(*v, name, n) && (*v)[n] == '=')
            return (char *)*v + n + 1;
    return NULL;
}

static int parse_with(const char *const *env, const char *text, segment *s, err *e)
{
    env_table = env;
    return segment_parse(text, fake_getenv, s, e);
}

Test(segment, test_segment_auto_reads_the_engines_variables)
{
    segment s;
    err e = {0};
    const char *k8s[] = {"JOB_COMPLETION_INDEX=2", "VOLLEY_SEGMENTS=4", NULL};
    cr_assert_eq(parse_with(k8s, "auto", &s, &e), 0, "%s", e.msg);
    cr_assert(s.k == 3 && s.n == 4);
    const char *slurm[] = {"SLURM_PROCID=0", "SLURM_NTASKS=5", NULL};
    cr_assert_eq(parse_with(slurm, "auto", &s, &e), 0, "%s", e.msg);
    cr_assert(s.k == 1 && s.n == 5);
    const char *missing[] = {"JOB_COMPLETION_INDEX=1", NULL};
    cr_assert_neq(parse_with(missing, "auto", &s, &e), 0);
    cr_assert(strstr(e.msg, "VOLLEY_SEGMENTS"), "%s", e.msg);
    const char *beyond[] = {"SLURM_PROCID=4", "SLURM_NTASKS=4", NULL};
    cr_assert_neq(parse_with(beyond, "auto", &s, &e), 0);
    cr_assert(strstr(e.msg, "SLURM_PROCID=4"), "%s", e.msg);
    const char *both[] = {"SLURM_PROCID=0", "SLURM_NTASKS=2", "JOB_COMPLETION_INDEX=0",
                          "VOLLEY_SEGMENTS=2", NULL};
    cr_assert_neq(parse_with(both, "auto", &s, &e), 0);
    cr_assert(strstr(e.msg, "both"), "%s", e.msg);
    const char *none[] = {NULL};
    cr_assert_neq(parse_with(none, "auto", &s, &e), 0);
    const char *bad[] = {"JOB_COMPLETION_INDEX=x", "VOLLEY_SEGMENTS=2", NULL};
    cr_assert_neq(parse_with(bad, "auto", &s, &e), 0);
    cr_assert(strstr(e.msg, "JOB_COMPLETION_INDEX"), "%s", e.msg);
    cr_assert_eq(parse_with(none, "3/7", &s, &e), 0);
    cr_assert(s.k == 3 && s.n == 7);
    cr_assert_neq(parse_with(none, "0/2", &s, &e), 0);
    cr_assert_neq(parse_with(none, "3/2", &s, &e), 0);
    cr_assert_neq(parse_with(none, "1/2x", &s, &e), 0);
}

Test(segment, test_start_at_formats)
{
    uint64_t ns;
    err e = {0};
    cr_assert_eq(segment_parse_start_at("1796184000", &ns, &e), 0);
    cr_assert_eq(ns, 1796184000ULL * NS_PER_S);
    cr_assert_eq(segment_parse_start_at("1796184000.25", &ns, &e), 0);
    cr_assert_eq(ns, 1796184000ULL * NS_PER_S + 250 * NS_PER_MS);
    cr_assert_eq(segment_parse_start_at("2026-12-02T04:00:00Z", &ns, &e), 0, "%s", e.msg);
    cr_assert_eq(ns, 1796184000ULL * NS_PER_S);
    cr_assert_eq(segment_parse_start_at("2026-12-02T05:00:00.5+01:00", &ns, &e), 0);
    cr_assert_eq(ns, 1796184000ULL * NS_PER_S + 500 * NS_PER_MS);
    cr_assert_eq(segment_parse_start_at("2026-12-02T03:30:00-00:30", &ns, &e), 0);
    cr_assert_eq(ns, 1796184000ULL * NS_PER_S);
    cr_assert_neq(segment_parse_start_at("2026-12-02T04:00:00", &ns, &e), 0); /* no zone */
    cr_assert_neq(segment_parse_start_at("tomorrow", &ns, &e), 0);
    cr_assert_neq(segment_parse_start_at("2026-13-02T04:00:00Z", &ns, &e), 0);
    cr_assert_neq(segment_parse_start_at("17961840x", &ns, &e), 0);
    cr_assert(strstr(e.msg, "--start-at"), "%s", e.msg);
}
