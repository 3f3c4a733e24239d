/* session: one run from a resolved plan (or a Lua script) to an exit code,
 * for `volley run`, `volley demo` and later find-max and merge. It owns
 * what surrounds the load: the output directory (checked before any load),
 * signals, the server under test (--exec, --monitor-pid), raw records,
 * sinks fed once a second (progress, live thresholds; later Prometheus and
 * dashboards), thresholds, the summary, the files, the baseline comparison
 * and the exit code, with one clean-up path. */
#ifndef VOLLEY_SESSION_H
#define VOLLEY_SESSION_H

#include "core/err.h"
#include "load/engine.h"
#include "load/plan.h"
#include "metrics/threshold.h"
#include "report/compare.h"
#include "results/results.h"
#include "script/script.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define SESSION_EXIT_USAGE 2
#define SESSION_EXIT_THRESHOLDS 99
#define SESSION_EXIT_GENERATOR 3 /* --strict: the generator fell behind */
#define SESSION_MAX_THRESHOLDS 64
#define SESSION_MAX_GATES 16
#define SESSION_MAX_SINKS 8

/* A live output. progress is called about four times a second from the
 * main thread; second once per collected second of the measured run with
 * that second's row and latency histogram (all endpoints): returning true
 * stops the run gracefully; endpoint_second just before it with each
 * endpoint's (a script's scenario's) row of that second. end gets the
 * results once the thresholds are judged, before the summary is printed
 * (dir: the output directory, NULL with --no-save); close is called last,
 * also when the run failed (interrupts: the signal count, so that a sink
 * that lingers can stop at a new signal). Any may be NULL.
 * replaces_progress: the sink draws the progress itself (--tui), so the
 * plain progress line is left out. */
typedef struct session_sink {
    const char *name;
    void (*progress)(void *ctx, const engine_progress *pr);
    bool (*second)(void *ctx, const series_row *row, const hist *latency);
    void (*endpoint_second)(void *ctx, uint32_t ep, const char *name, const series_row *row);
    void (*end)(void *ctx, const results *r, const char *dir);
    void (*close)(void *ctx, volatile sig_atomic_t *interrupts);
    bool replaces_progress;
    void *ctx;
} session_sink;

/* What `volley compare` and `run --baseline` print and gate on. */
typedef struct session_compare {
    bool json;
    const char *html;
    cmp_gate gates[SESSION_MAX_GATES];
    size_t ngates;
    FILE *out;
} session_compare;

typedef struct session_config {
    const char *who;           /* message prefix: "volley run" */
    const char *command;       /* the command line, secrets masked, for results.json */
    const char *out_dir;       /* NULL: a new volley-results/<time>[-segK-N][-label] */
    const char *dir_prefix;    /* before the time in the default name ("demo-") */
    bool no_save, quiet, json, raw;
    bool latency_dist;         /* --latency: wrk's latency distribution after the summary */
    bool no_report;            /* no report.html and charts after the run */
    threshold thresholds[SESSION_MAX_THRESHOLDS];
    size_t nthresholds;
    bool abort_on_fail;
    bool strict;               /* the generator falling behind fails the run (exit 3) */
    int monitor_pid;
    const char *exec_cmd;
    const char *ready_url;     /* --exec waits for a GET to answer (default: a TCP
                                  connect to the first endpoint's address) */
    uint64_t exec_timeout_ns;  /* --exec-timeout (0: 15 s) */
    bool cold;                 /* --cold: time the first request apart */
    const char *baseline, *save_baseline;
    session_compare cmp;
    /* Scripts: env, load overrides, http.* defaults. The session fills in
     * threads, out_dir, quiet, res and tls. */
    script_opts script;
    /* Distributed runs (docs/distributed.md): --segment was given (recorded
     * in results.json with the host), --start-at as Unix ns (0: now). */
    bool segment_given;
    uint64_t start_at_ns;
    session_sink sinks[SESSION_MAX_SINKS];
    size_t nsinks;
    char out_used[4200];       /* out: the directory written ("" if none) */
    const char *ok_status_text; /* --ok-status; NULL: the default 200-399 */
    metrics_status_set ok_status;
} session_config;

/* Adds a sink; returns VOLLEY_EINVAL when the list is full. */
int session_add_sink(session_config *c, const session_sink *s, err *e);

/* Runs the compiled plan p, or the script at script_path (p then only
 * carries threads, TLS options and label), and returns the exit code: 0,
 * 1 runtime failure, 2 bad input (before any load), 99 thresholds or a
 * baseline gate failed, 128+N stopped by signal N (INT, TERM, HUP). */
int session_run(session_config *c, plan *p, const char *script_path);

/* Compares cur with base and prints it (text or JSON, optional HTML) to
 * o->out; 0, 1 (error) or 99 (a gate failed). */
int session_compare_report(const char *base_path, const char *new_path, const results *base,
                           const results *cur, const session_compare *o);

#endif
