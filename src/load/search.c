/* search: exponential probing then bisection over open-model rates, for
 * `volley find-max` (cmd/find_max.c runs the steps through load/engine).
 * Pure: the caller supplies each step's verdict, so tests drive it with a
 * simulated target. The knee is read off the steps' median curve. */
#include "load/search.h"

#include <math.h>
#include <stdlib.h>

void search_config_defaults(search_config *c)
{
    *c = (search_config){.start_rate = 100, .min_rate = 1, .max_rate = 1e6, .precision = 0.05,
                         .max_steps = 20, .growth = 2, .knee_factor = 2, .knee_floor_ns = 1000000, .retries = 1};
}

const char *search_config_check(const search_config *c)
{
    if (!(c->start_rate > 0))
        return "--start-rate must be more than 0";
    if (!(c->min_rate > 0) || c->min_rate > c->start_rate)
        return "--min-rate must be more than 0 and at most --start-rate";
    if (c->max_rate < c->start_rate)
        return "--max-rate must be at least --start-rate";
    if (!(c->precision > 0) || c->precision >= 1)
        return "--precision must be between 0% and 100%";
    if (c->max_steps < 2 || c->max_steps > SEARCH_MAX_STEPS)
        return "--max-steps must be between 2 and 64";
    if (!(c->growth > 1))
        return "growth factor must be more than 1";
    if (!(c->knee_factor > 1))
        return "knee factor must be more than 1";
    if (c->retries > 5)
        return "--retries must be at most 5";
    return NULL;
}

void search_init(search *s, const search_config *c)
{
    *s = (search){.cfg = *c, .state = SEARCH_RUNNING, .next_rate = c->start_rate};
}

double search_next(const search *s)
{
    return s->state == SEARCH_RUNNING ? s->next_rate : 0;
}

/* A failure at or below the best pass (noise, or a server that got worse):
 * the best pass is the highest passing rate below the new failure. */
static void repair_pass(search *s)
{
    double best = 0;
    for (size_t i = 0; i < s->nsteps; i++) {
        const search_step *st = &s->steps[i];
        if (st->pass && !st->retried && st->target_rps < s->fail_rate && st->target_rps > best)
            best = st->target_rps;
    }
    s->pass_rate = best;
}

static void update_bounds(search *s, const search_step *st)
{
    double r = st->target_rps;
    if (st->pass) {
        if (r > s->pass_rate && (!s->fail_rate || r < s->fail_rate))
            s->pass_rate = r;
        return;
    }
    if (!s->fail_rate || r < s->fail_rate)
        s->fail_rate = r;
    if (s->pass_rate >= s->fail_rate)
        repair_pass(s);
}

/* Chooses the next rate or ends the search. */
static void decide(search *s, double r)
{
    const search_config *c = &s->cfg;
    if (!s->fail_rate) { /* probing up */
        if (r >= c->max_rate)
            s->state = SEARCH_CEILING;
        s->next_rate = r * c->growth < c->max_rate ? r * c->growth : c->max_rate;
    } else if (!s->pass_rate) { /* probing down */
        s->next_rate = s->fail_rate / c->growth;
        if (s->next_rate < c->min_rate)
            s->state = SEARCH_NONE;
    } else if ((s->fail_rate - s->pass_rate) / s->pass_rate <= c->precision) {
        s->state = SEARCH_FOUND;
    } else {
        s->next_rate = (s->pass_rate + s->fail_rate) / 2;
    }
    if (s->state == SEARCH_RUNNING && s->nsteps >= c->max_steps)
        s->state = SEARCH_STEP_LIMIT;
}

void search_record(search *s, const search_step *st)
{
    if (s->state != SEARCH_RUNNING || s->nsteps >= SEARCH_MAX_STEPS)
        return;
    search_step *rec = &s->steps[s->nsteps++];
    *rec = *st;
    if (!st->pass && !st->gen_short && s->tries < s->cfg.retries &&
        s->nsteps < s->cfg.max_steps) {
        s->tries++;
        rec->retried = true;
        return;
    }
    s->tries = 0;
    if (st->gen_short) {
        /* Not the server's verdict: what passed before is all we know. */
        if (st->pass && st->achieved_rps > s->pass_rate)
            s->pass_rate = st->achieved_rps;
        s->state = SEARCH_GEN_LIMIT;
        return;
    }
    update_bounds(s, st);
    decide(s, st->target_rps);
}

static int by_rate(const void *a, const void *b)
{
    double x = ((const search_step *)a)->target_rps, y = ((const search_step *)b)->target_rps;
    return (x > y) - (x < y);
}

double search_knee(const search *s)
{
    if (s->nsteps < 2)
        return 0;
    search_step sorted[SEARCH_MAX_STEPS];
    size_t n = 0;
    for (size_t i = 0; i < s->nsteps; i++)
        if (!s->steps[i].gen_short && !s->steps[i].retried)
            sorted[n++] = s->steps[i];
    qsort(sorted, n, sizeof sorted[0], by_rate);
    if (n < 2)
        return 0;
    /* The median, not the tail: one scheduling hiccup of a busy machine
     * moves a step's p99 but not its p50, while a queue moves both. */
    uint64_t base = sorted[0].p50_ns;
    for (size_t i = 1; i < n; i++)
        if (sorted[i].p50_ns < base)
            base = sorted[i].p50_ns;
    double flat = (double)base * s->cfg.knee_factor;
    if (flat < (double)(base + s->cfg.knee_floor_ns))
        flat = (double)(base + s->cfg.knee_floor_ns);
    /* The first step from which every higher step has risen: one noisy
     * step on the flat part is not a knee. */
    size_t first = n;
    for (size_t i = n; i-- > 1;) {
        if ((double)sorted[i].p50_ns <= flat)
            break;
        first = i;
    }
    if (first == n)
        return 0;
    return (sorted[first - 1].target_rps + sorted[first].target_rps) / 2;
}

/* At (1 + P) R into a queue draining R/s each second adds P s of waiting;
 * after the absorbed A a request scheduled at t waits P t - A. More than
 * 1 - q of the step waits past L once P q T - A > L. */
double search_overload_s(uint64_t bound_ns, uint64_t absorb_ns, double precision, double q)
{
    if (!(precision > 0) || !(q > 0))
        return 0;
    double t = ((double)bound_ns + (double)absorb_ns) / 1e9 / (precision * q);
    return ceil(t * 1000 - 1e-6) / 1000;
}

double search_margin(const search *s)
{
    if (!s->pass_rate || !s->fail_rate || s->fail_rate < s->pass_rate)
        return 0;
    return (s->fail_rate - s->pass_rate) / s->pass_rate;
}

const char *search_state_name(search_state st)
{
    switch (st) {
    case SEARCH_RUNNING: return "running";
    case SEARCH_FOUND: return "found";
    case SEARCH_CEILING: return "ceiling";
    case SEARCH_NONE: return "none";
    case SEARCH_GEN_LIMIT: return "generator-limit";
    case SEARCH_STEP_LIMIT: return "step-limit";
    }
    return "?";
}
