/* engine: runs a plan. Splits connections and request counts over workers
 * (deterministically: worker w gets an exact share), starts them at one
 * common time, builds the per-second series from their closed intervals
 * while they run, reports progress, stops them (at the end, on request or
 * on a second interrupt at once) and merges their shards into results. */
#ifndef VOLLEY_ENGINE_H
#define VOLLEY_ENGINE_H

#include "core/err.h"
#include "load/plan.h"
#include "metrics/metrics.h"
#include "results/results.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct engine_progress {
    uint64_t elapsed_ns;
    uint64_t total_ns;       /* planned duration (0 with -n only) */
    uint64_t requests;       /* outcomes so far */
    uint64_t errors;
    uint64_t planned_requests;
    uint32_t active;         /* open connections */
    bool have_second;        /* last_* are valid */
    double last_rps;
    uint64_t last_p50_ns, last_p99_ns;
    bool stopping;
    bool warmup;             /* the warm-up phase is running */
    uint32_t step, nsteps;   /* sweep position (nsteps 0: no sweep) */
    double target_rps;       /* open model: the schedule's current rate */
    uint64_t dropped;
} engine_progress;

typedef void (*engine_progress_fn)(void *ctx, const engine_progress *pr);

struct worker_raw;
typedef void (*engine_raw_fn)(void *ctx, const struct worker_raw *r);

typedef struct engine_options {
    engine_progress_fn progress; /* called ~4 times a second from the main thread */
    void *ctx;
    /* Incremented by a signal handler: 1 = stop gracefully, 2+ = stop now. */
    volatile sig_atomic_t *interrupts;
    /* Called once per collected second of the measured run with the row and
     * the latency histogram of that second (all endpoints); returning true
     * stops the run gracefully (--abort-on-fail). May be NULL. */
    bool (*on_second)(void *ctx, const series_row *row, const hist *latency);
    /* Called before on_second with each endpoint's (stat group's) row of
     * that second and its name. May be NULL. */
    void (*on_endpoint_second)(void *ctx, uint32_t ep, const char *name, const series_row *row);
    /* Called when the measured load starts (after any warm-up). May be NULL. */
    void (*on_measure_start)(void *ctx);
    /* With plan.raw: receives every request's record, on the main thread. */
    engine_raw_fn raw;
    void *raw_ctx;
    /* --start-at: the schedule begins at this Unix time (ns); 0 = now. */
    uint64_t start_at_wall_ns;
    /* The user gave that time (volley run --start-at): refuse it, before any
     * load (VOLLEY_EINVAL), when the first shape's whole duration is already
     * past. find-max's later steps, timed by the segments themselves, run
     * however late. */
    bool refuse_stale_start;
    /* Expected statuses; others count as failed requests. NULL: 200-399. */
    const metrics_status_set *ok_status;
    /* --cpus: worker thread i runs on cpus[i % ncpus] only (any kind of
     * worker: the thread inherits the mask it is started with). */
    const uint16_t *cpus;
    size_t ncpus;
} engine_options;

/* ---- other kinds of workers (scripted virtual users) ----
 * The engine drives any worker through these operations; load/worker is
 * one kind, script/lua_worker another. A worker keeps one metrics shard per
 * stat group (an endpoint, or a scenario of a script) and closes a second
 * interval in every shard at each second boundary after start_ns. */
typedef struct engine_worker_args {
    uint32_t id, nworkers;
    uint64_t start_ns;     /* common monotonic start */
    uint64_t duration_ns;  /* 0: the worker decides when it is done */
} engine_worker_args;

typedef struct engine_worker_ops {
    void *(*create)(void *ctx, const engine_worker_args *a, err *e);
    int (*start)(void *w, err *e);          /* starts the thread */
    void (*request_stop)(void *w);          /* thread-safe, graceful */
    void (*abort)(void *w);                 /* thread-safe, at once */
    void (*join)(void *w);
    void (*destroy)(void *w);
    bool (*done)(void *w);                  /* thread-safe */
    metrics_shard *(*shard)(void *w, uint32_t group);
    uint32_t (*active)(void *w);            /* thread-safe, relaxed */
    uint64_t (*end_ns)(void *w);            /* after join */
    uint64_t (*current_second)(void *w);    /* after join */
    const char *(*fatal)(void *w);          /* after join; NULL if none */
    /* Raw records (main thread, while running and after join): hands the
     * queued ones to fn, returns how many; and how many were lost. Either
     * may be NULL (no raw records). */
    size_t (*drain_raw)(void *w, engine_raw_fn fn, void *ctx);
    uint64_t (*raw_dropped)(void *w);
} engine_worker_ops;

typedef struct engine_custom {
    const engine_worker_ops *ops;
    void *ctx;                 /* passed to ops->create */
    uint32_t nthreads;
    uint32_t ngroups;          /* stat groups; become results endpoints */
    const char *const *group_names;
    uint64_t duration_ns;      /* planned, for progress (0: unknown) */
    const results_plan *plan;  /* recorded in results */
    uint64_t warmup_ns;        /* run workers made with warmup_ctx this long first */
    void *warmup_ctx;          /* (results discarded, counted in warmup_requests) */
} engine_custom;

/* Runs workers of another kind; results has one endpoint per group. */
int engine_run_custom(const engine_custom *c, const engine_options *opt, results *out, err *e);

/* Runs p (compiled) to completion: the warm-up if any, then the run or
 * each step of a sweep, and fills out (initialised by the engine). Returns
 * 0, or an error before any load was sent. */
int engine_run(const plan *p, const engine_options *opt, results *out, err *e);

#endif
