/* search: the rate search of `volley find-max`, as a pure state machine.
 * The caller asks search_next() for the next rate, runs one open-model step
 * at it, and hands the verdict to search_record(). Exponential probing finds
 * a passing and a failing rate, bisection narrows them to the precision;
 * the knee is where the median latency leaves the flat part of the curve. No clock, no I/O:
 * unit-tested against simulated targets. */
#ifndef VOLLEY_SEARCH_H
#define VOLLEY_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEARCH_MAX_STEPS 64

typedef struct search_config {
    double start_rate;  /* first probe, req/s (> 0) */
    double min_rate;    /* probing down stops below this (> 0) */
    double max_rate;    /* probing up stops here (>= start_rate) */
    double precision;   /* stop when (fail - pass) / pass <= precision (0.05 = 5%) */
    uint32_t max_steps; /* <= SEARCH_MAX_STEPS */
    double growth;      /* probing factor (> 1; 2 doubles) */
    double knee_factor; /* p50 above knee_factor x the flat p50 (and
                           knee_floor_ns more) is "risen" (> 1) */
    uint64_t knee_floor_ns; /* smaller rises are noise (default 1 ms) */
    uint32_t retries;   /* a failing rate is run again up to this many times
                           and fails only if every attempt fails (noise) */
} search_config;

/* One step as run. */
typedef struct search_step {
    double target_rps;
    double achieved_rps;   /* completed outcomes per second */
    uint64_t p50_ns, p95_ns, p99_ns;
    uint64_t requests, failures, dropped;
    bool pass;             /* every SLO expression held */
    bool gen_short;        /* the generator did not reach the target (its fault) */
    bool retried;          /* set by search_record: failed, then run again */
} search_step;

typedef enum {
    SEARCH_RUNNING,
    SEARCH_FOUND,      /* max is the highest passing rate; fail_rate failed */
    SEARCH_CEILING,    /* passed at max_rate: the answer is "at least max" */
    SEARCH_NONE,       /* failed even at the lowest rate tried */
    SEARCH_GEN_LIMIT,  /* the generator could not reach the rate: "at least max" */
    SEARCH_STEP_LIMIT, /* max_steps reached before the precision */
} search_state;

typedef struct search {
    search_config cfg;
    search_state state;
    search_step steps[SEARCH_MAX_STEPS];
    size_t nsteps;
    double pass_rate;  /* highest passing target (0: none yet) */
    double fail_rate;  /* lowest failing target above it (0: none yet) */
    double next_rate;
    uint32_t tries;    /* failed attempts at next_rate so far */
} search;

/* Defaults: start 100/s, min 1/s, max 1e6/s, precision 5 %, 20 steps,
 * growth 2, knee factor 2 and floor 1 ms, 1 retry. */
void search_config_defaults(search_config *c);

/* Checks the config; returns NULL or a message naming the bad field. */
const char *search_config_check(const search_config *c);

void search_init(search *s, const search_config *c);

/* The rate to run next, or 0 once the search is over (s->state says why). */
double search_next(const search *s);

/* Records the step run at search_next()'s rate and moves on (or asks for
 * the same rate again: a failure with retries left is marked retried). */
void search_record(search *s, const search_step *st);

/* The knee: midpoint between the highest step still on the flat part (p50
 * within knee_factor of the lowest p50 of any step) and the lowest step
 * above it from which every step has risen. 0 when none rose. */
double search_knee(const search *s);

/* The overload rule of a step's length, in seconds (rounded up to the
 * millisecond): how long a queue fed precision (0.05 = 5 %) faster than it
 * drains takes to push the q-quantile (0 < q <= 1) of the step's waits past
 * bound_ns, when the target first hides absorb_ns of excess work:
 * (bound + absorb) / (precision x q). docs/capacity.md. */
double search_overload_s(uint64_t bound_ns, uint64_t absorb_ns, double precision, double q);

/* The margin of the answer: (fail_rate - pass_rate) / pass_rate, or 0. */
double search_margin(const search *s);

const char *search_state_name(search_state st);

#endif
