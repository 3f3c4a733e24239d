/* executor: decides WHEN iterations start. Closed models give the number of
 * virtual users at time t; open models give the deterministic schedule:
 * iteration i of a run starts at executor_time_of(i), whichever worker,
 * process or machine runs it (ARCHITECTURE.md decision 6). Stages ramp
 * linearly between targets as k6 does, starting from 0. Pure functions of
 * the shape: no clock, no state. */
#ifndef VOLLEY_EXECUTOR_H
#define VOLLEY_EXECUTOR_H

#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    EXEC_CONSTANT_VUS,     /* closed: N VUs for the duration */
    EXEC_RAMPING_VUS,      /* closed: VUs follow the stages */
    EXEC_CONSTANT_RATE,    /* open: R iterations per second */
    EXEC_RAMPING_RATE,     /* open: the rate follows the stages */
} executor_kind;

#define EXEC_MAX_STAGES 64

typedef struct exec_stage {
    double target;         /* VUs or iterations per second at the end of the stage */
    uint64_t duration_ns;
} exec_stage;

typedef struct executor {
    executor_kind kind;
    uint32_t vus;          /* constant-vus */
    double rate;           /* constant-arrival-rate, per second */
    double start_target;   /* ramping: value at t = 0 (default 0) */
    exec_stage stages[EXEC_MAX_STAGES];
    size_t nstages;
    uint64_t duration_ns;  /* constant kinds; ramping: the sum of the stages */
} executor;

const char *executor_name(executor_kind k);
/* Parses "constant-vus", "ramping-vus", "constant-arrival-rate",
 * "ramping-arrival-rate"; returns -1 if unknown. */
int executor_kind_from_name(const char *s);
bool executor_is_open(const executor *x);

/* Parses "TARGET:DURATION,..." (e.g. "100:30s,500:1m"); hold_ns > 0 inserts a
 * stage holding each target that long. */
int executor_parse_stages(executor *x, const char *s, uint64_t hold_ns, err *e);
/* Also takes the seeds' form, targets only ("10,50,100"), which splits
 * total_ns evenly over the stages (the last takes the remainder). */
int executor_parse_stages_total(executor *x, const char *s, uint64_t hold_ns, uint64_t total_ns, err *e);
/* True when s is the targets-only form, which needs a total duration. */
bool executor_stages_need_total(const char *s);

/* Total length of the run shape in ns. */
uint64_t executor_duration_ns(const executor *x);

/* Closed: VUs wanted at offset t (rounded down, as k6). */
uint32_t executor_vus_at(const executor *x, uint64_t t_ns);
/* Closed: the largest number of VUs at any time. */
uint32_t executor_max_vus(const executor *x);

/* Open: the rate at offset t, and the largest rate of the shape. */
double executor_rate_at(const executor *x, uint64_t t_ns);
double executor_max_rate(const executor *x);
/* Open: iterations scheduled in [0, t) (real-valued cumulative count). */
double executor_count_at(const executor *x, uint64_t t_ns);
/* Open: the number of iterations in the whole shape. */
uint64_t executor_total(const executor *x);
/* Open: offset in ns at which iteration i starts; UINT64_MAX if beyond the end. */
uint64_t executor_time_of(const executor *x, uint64_t i);

/* Which iterations one worker runs: segment k of n (1-based; --segment k/n,
 * one per process or machine) split over nworkers threads. Iteration i
 * belongs to segment i mod n, and within it to worker (i div n) mod
 * nworkers, so the worker runs first, first + stride, ...: over all
 * segments and workers, disjoint and complete. */
typedef struct exec_slice {
    uint64_t first, stride;
} exec_slice;

exec_slice executor_slice(uint32_t seg_k, uint32_t seg_n, uint32_t worker, uint32_t nworkers);

#endif
