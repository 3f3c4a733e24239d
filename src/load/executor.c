/* executor: run shapes and the open-model schedule (see executor.h).
 * For a linear ramp from r0 to r1 over D, the cumulative count after tau is
 * N = r0*tau + (r1-r0)*tau^2/(2D); iteration i starts where N = i, found by
 * solving that quadratic, so the schedule needs no state and any worker can
 * compute any iteration's time. */
#include "load/executor.h"

#include "core/clock.h"
#include "core/parse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *names[] = {
    [EXEC_CONSTANT_VUS] = "constant-vus",
    [EXEC_RAMPING_VUS] = "ramping-vus",
    [EXEC_CONSTANT_RATE] = "constant-arrival-rate",
    [EXEC_RAMPING_RATE] = "ramping-arrival-rate",
};

const char *executor_name(executor_kind k)
{
    return (unsigned)k <= EXEC_RAMPING_RATE ? names[k] : "unknown";
}

int executor_kind_from_name(const char *s)
{
    for (int i = 0; i <= EXEC_RAMPING_RATE; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

bool executor_is_open(const executor *x)
{
    return x->kind == EXEC_CONSTANT_RATE || x->kind == EXEC_RAMPING_RATE;
}

/* The seeds' form: "10,50,100" with one total duration, split evenly. */
static int parse_stage_targets(executor *x, const char *s, uint64_t hold_ns, uint64_t total_ns, err *e)
{
    size_t n = 1;
    for (const char *c = s; *c; c++)
        n += *c == ',';
    if (!total_ns)
        return err_set(e, VOLLEY_EINVAL,
                       "--stages '%s': targets without durations need the total as -d DURATION "
                       "(or write TARGET:DURATION,...)", s);
    if (n * (hold_ns ? 2 : 1) > EXEC_MAX_STAGES)
        return err_set(e, VOLLEY_EINVAL, "--stages: more than %d stages", EXEC_MAX_STAGES);
    x->nstages = 0;
    const char *p = s;
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(p, ",");
        char item[64];
        if (len == 0 || len >= sizeof item)
            return err_set(e, VOLLEY_EINVAL, "--stages: bad target at position %zu of '%s'",
                           (size_t)(p - s) + 1, s);
        memcpy(item, p, len);
        item[len] = 0;
        double target;
        int rc = parse_double(item, "--stages target", &target, e);
        if (rc)
            return rc;
        /* The last stage takes the remainder, so the stages add up exactly. */
        uint64_t d = i + 1 < n ? total_ns / n : total_ns - (n - 1) * (total_ns / n);
        x->stages[x->nstages++] = (exec_stage){target, d};
        if (hold_ns)
            x->stages[x->nstages++] = (exec_stage){target, hold_ns};
        p += len + (p[len] == ',');
    }
    x->duration_ns = total_ns + n * hold_ns;
    return 0;
}

int executor_parse_stages(executor *x, const char *s, uint64_t hold_ns, err *e)
{
    return executor_parse_stages_total(x, s, hold_ns, 0, e);
}

bool executor_stages_need_total(const char *s)
{
    return *s && !strchr(s, ':');
}

int executor_parse_stages_total(executor *x, const char *s, uint64_t hold_ns, uint64_t total_ns, err *e)
{
    if (executor_stages_need_total(s))
        return parse_stage_targets(x, s, hold_ns, total_ns, e);
    x->nstages = 0;
    const char *p = s;
    if (!*p)
        return err_set(e, VOLLEY_EINVAL, "--stages: empty (expected TARGET:DURATION,...)");
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[128];
        if (len == 0 || len >= sizeof item)
            return err_set(e, VOLLEY_EINVAL, "--stages: bad stage at position %zu of '%s'",
                           (size_t)(p - s) + 1, s);
        memcpy(item, p, len);
        item[len] = 0;
        char *colon = strchr(item, ':');
        if (!colon)
            return err_set(e, VOLLEY_EINVAL,
                           "--stages: '%s' at position %zu is not TARGET:DURATION", item,
                           (size_t)(p - s) + 1);
        *colon = 0;
        double target;
        uint64_t d;
        int rc = parse_double(item, "--stages target", &target, e);
        if (!rc)
            rc = parse_duration_ns(colon + 1, "--stages duration", &d, e);
        if (rc)
            return rc;
        size_t need = hold_ns ? 2 : 1;
        if (x->nstages + need > EXEC_MAX_STAGES)
            return err_set(e, VOLLEY_EINVAL, "--stages: more than %d stages", EXEC_MAX_STAGES);
        x->stages[x->nstages++] = (exec_stage){target, d};
        if (hold_ns)
            x->stages[x->nstages++] = (exec_stage){target, hold_ns};
        p = end ? end + 1 : p + len;
        if (end && !*p)
            return err_set(e, VOLLEY_EINVAL, "--stages: trailing ',' in '%s'", s);
    }
    x->duration_ns = 0;
    for (size_t i = 0; i < x->nstages; i++)
        x->duration_ns += x->stages[i].duration_ns;
    if (!x->duration_ns)
        return err_set(e, VOLLEY_EINVAL, "--stages: total duration is 0");
    return 0;
}

static bool ramping(const executor *x)
{
    return x->kind == EXEC_RAMPING_RATE || x->kind == EXEC_RAMPING_VUS;
}

uint64_t executor_duration_ns(const executor *x)
{
    return x->duration_ns;
}

/* The staged value at t (linear between stage ends). */
static double staged_at(const executor *x, uint64_t t)
{
    double from = x->start_target;
    uint64_t at = 0;
    for (size_t i = 0; i < x->nstages; i++) {
        const exec_stage *s = &x->stages[i];
        if (t < at + s->duration_ns) {
            double f = (double)(t - at) / (double)s->duration_ns;
            return from + (s->target - from) * f;
        }
        at += s->duration_ns;
        from = s->target;
    }
    return from;
}

uint32_t executor_vus_at(const executor *x, uint64_t t_ns)
{
    if (!ramping(x))
        return x->vus;
    double v = staged_at(x, t_ns);
    return v <= 0 ? 0 : (uint32_t)floor(v + 1e-9);
}

uint32_t executor_max_vus(const executor *x)
{
    if (!ramping(x))
        return x->vus;
    double m = x->start_target;
    for (size_t i = 0; i < x->nstages; i++)
        if (x->stages[i].target > m)
            m = x->stages[i].target;
    return (uint32_t)ceil(m);
}

double executor_rate_at(const executor *x, uint64_t t_ns)
{
    if (t_ns >= x->duration_ns)
        return 0;
    return ramping(x) ? staged_at(x, t_ns) : x->rate;
}

double executor_max_rate(const executor *x)
{
    if (!ramping(x))
        return x->rate;
    double m = x->start_target;
    for (size_t i = 0; i < x->nstages; i++)
        if (x->stages[i].target > m)
            m = x->stages[i].target;
    return m;
}

double executor_count_at(const executor *x, uint64_t t_ns)
{
    if (t_ns > x->duration_ns)
        t_ns = x->duration_ns;
    if (!ramping(x))
        return x->rate * ((double)t_ns / NS_PER_S);
    double n = 0, from = x->start_target;
    uint64_t at = 0;
    for (size_t i = 0; i < x->nstages; i++) {
        const exec_stage *s = &x->stages[i];
        double D = (double)s->duration_ns / NS_PER_S;
        if (t_ns < at + s->duration_ns) {
            double tau = (double)(t_ns - at) / NS_PER_S;
            return n + from * tau + (s->target - from) * tau * tau / (2 * D);
        }
        n += (from + s->target) / 2 * D;
        at += s->duration_ns;
        from = s->target;
    }
    return n;
}

uint64_t executor_total(const executor *x)
{
    /* Iterations i = 0, 1, ... start while N(t) = i is reached before the
     * end: that is ceil(N(end)) of them. A tiny epsilon keeps R*D = 20000.0
     * from becoming 20001 through rounding. */
    double n = executor_count_at(x, x->duration_ns);
    return (uint64_t)ceil(n - 1e-6);
}

uint64_t executor_time_of(const executor *x, uint64_t i)
{
    if (i >= executor_total(x))
        return UINT64_MAX;
    double target = (double)i;
    if (!ramping(x)) {
        if (x->rate <= 0)
            return UINT64_MAX;
        return (uint64_t)llround(target * NS_PER_S / x->rate);
    }
    double n = 0, from = x->start_target;
    uint64_t at = 0;
    for (size_t k = 0; k < x->nstages; k++) {
        const exec_stage *s = &x->stages[k];
        double D = (double)s->duration_ns / NS_PER_S;
        double seg = (from + s->target) / 2 * D;
        if (target < n + seg || k == x->nstages - 1) {
            double need = target - n;
            double a = (s->target - from) / (2 * D), b = from, tau;
            if (fabs(a) < 1e-12)
                tau = b > 0 ? need / b : 0;
            else
                tau = (-b + sqrt(b * b + 4 * a * need)) / (2 * a);
            if (tau < 0)
                tau = 0;
            if (tau > D)
                tau = D;
            return at + (uint64_t)llround(tau * NS_PER_S);
        }
        n += seg;
        at += s->duration_ns;
        from = s->target;
    }
    return UINT64_MAX;
}

exec_slice executor_slice(uint32_t seg_k, uint32_t seg_n, uint32_t worker, uint32_t nworkers)
{
    uint64_t n = seg_n ? seg_n : 1, k = seg_k ? seg_k - 1 : 0;
    return (exec_slice){.first = k + n * worker, .stride = n * (nworkers ? nworkers : 1)};
}
