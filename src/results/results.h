/* results: what a run produced, in memory: the plan it ran, exact totals,
 * merged histograms and per-second series, for the whole run, per endpoint
 * and per sweep step. Built by the engine, written by results_json, read
 * back by results_json_read for reports, comparisons and merges. */
#ifndef VOLLEY_RESULTS_H
#define VOLLEY_RESULTS_H

#include "metrics/hist.h"
#include "metrics/metrics.h"
#include "metrics/series.h"
#include "results/results_script.h"
#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The plan as recorded in results.json (what was asked for). */
typedef struct results_plan {
    char url[4200];        /* first endpoint's URL (or the only one) */
    char method[32];
    char executor[32];     /* constant-vus, ramping-vus, constant-arrival-rate, ... */
    char mode[16];         /* "per-endpoint" or "mixed" */
    char label[128];
    char command[1024];    /* the command line as given, secrets masked ("" if unknown) */
    uint32_t connections;  /* closed model VUs; open model: the pool cap */
    uint32_t pipeline;     /* --pipeline: requests in flight per connection (0 read as 1) */
    uint32_t threads;
    uint64_t duration_ns;
    uint64_t requests;     /* -n, 0 = none */
    uint64_t timeout_ns;
    uint64_t connect_timeout_ns;
    uint64_t warmup_ns;
    double rate_per_s;     /* open model target; 0 in the closed model */
    char stages[512];      /* --stages as given, "" if none */
    bool keepalive;
    uint64_t body_bytes;
    uint32_t nheaders;
    char ok_status[128];   /* --ok-status as given ("" = the default 200-399) */
    bool compressed;       /* --compressed */
    bool share_tls_sessions; /* --share-tls-sessions */
    uint32_t redirects;    /* --redirects (URL runs; a script's own default otherwise) */
    char route[600];       /* how targets were reached (--proxy, --unix-socket, --resolve,
                              --connect-to, --dns-spread), "" = by their names */
} results_plan;

/* One block of statistics: used for the whole run, an endpoint, a step. */
typedef struct results_stats {
    metrics_totals tot;
    METRICS_DIST_FIELDS; /* see metrics.h: latency, service, ttfb, ... */
    series sec;      /* per-second rows */
    uint64_t elapsed_ns; /* load time: rates are over it */
    uint64_t drain_ns;   /* after the load until the last outcome (not in rates) */
} results_stats;

typedef struct results_endpoint {
    char name[64];
    char method[32];
    char url[4200];
    double weight;   /* mixed mode */
    results_stats st;
} results_endpoint;

typedef struct results_step {
    uint32_t index;
    double target_rps;     /* sweep step's rate (0: closed model) */
    uint32_t target_vus;
    uint64_t offset_ns;    /* start of the step from the start of the run */
    results_stats st;
    results_endpoint *eps; /* per endpoint, neps of them (same order as results.eps) */
} results_step;

/* A threshold's verdict. */
typedef struct results_threshold {
    char expr[256];
    bool ok;
    double actual;         /* ns for time aggregates, fraction for errors, ... */
    char actual_text[32];  /* formatted in the threshold's unit */
} results_threshold;

/* CPU and memory of the server under test, sampled every interval. */
typedef struct monitor_sample {
    double t_s;            /* from the start of the measured load */
    double cpu_pct;        /* of one core, over the last interval (may exceed 100) */
    uint64_t rss_bytes;    /* the process and its children */
} monitor_sample;

typedef struct results_monitor {
    int pid;               /* 0 = no monitor */
    char command[256];     /* --exec command, or /proc/PID/comm */
    double interval_s;
    monitor_sample *samples;
    size_t nsamples;
    double cpu_seconds;    /* user+sys during the measured load */
    uint64_t rss_max_bytes;
} results_monitor;

/* --cold: the first request to a server just started by --exec, measured
 * apart from the load (which then sees a warm server). */
typedef struct results_cold {
    bool measured;
    double ready_ms;       /* exec to ready (TCP connect, or --ready answered) */
    double start_ms;       /* exec to the first successful response complete */
    double first_ms;       /* that request's latency: connect to last byte */
    int status;            /* its status */
    uint32_t attempts;     /* requests sent until one succeeded */
} results_cold;
/* The generator's own honesty (monitor/selfmon): did volley keep the
 * schedule it was asked for, or did it measure itself? */
#define RESULTS_GEN_MAX_THREADS 64
typedef struct results_generator {
    bool measured;             /* selfmon ran during the load */
    uint32_t nthreads;         /* worker threads seen (for at least 0.3 s) */
    double thread_cpu_pct[RESULTS_GEN_MAX_THREADS]; /* each: % of its life running
                                  or runnable (waiting for a CPU) */
    double cpu_max_pct;        /* the busiest worker thread */
    double wait_max_pct;       /* of which waiting on the run queue (the host
                                  gave the CPU to other processes) */
    double cpu_seconds;        /* the whole process during the load */
    uint64_t rss_max_bytes;
    double *sec_cpu_pct;       /* per second of the load: process CPU % */
    size_t nsec;
    uint64_t lag_p50_ns, lag_p90_ns, lag_p99_ns; /* open model: send lag */
    double lag_mean_ns;
    double target_rps;         /* open model, constant rate; 0 otherwise */
    double sent_share;         /* requests + dropped over the scheduled count */
    bool behind;               /* the verdict: the generator fell behind */
    char why[400];             /* the verdict in plain words, with the fix */
    char note[240];            /* not the generator's fault, worth knowing */
} results_generator;

typedef struct results {
    char run_id[64];       /* unique per run: time, segment, random (session) */
    results_plan plan;
    uint64_t start_wall_ns, end_wall_ns;
    bool interrupted;      /* stopped by a signal */
    results_stats st;      /* the whole run, all endpoints */
    results_endpoint *eps;
    size_t neps;
    results_step *steps;   /* sweeps only; nsteps == 0 otherwise */
    size_t nsteps;
    uint64_t series_overruns;
    uint64_t warmup_requests; /* outcomes during --warmup, not in any stats */
    char warning[256];     /* a condition the user must know (e.g. out of fds) */
    results_threshold *thresholds;
    size_t nthresholds;
    bool thresholds_aborted; /* --abort-on-fail stopped the run */
    results_monitor monitor;
    results_cold cold;
    results_generator generator;
    /* Distributed runs (docs/distributed.md): where and which part ran. */
    char host[128];          /* gethostname() of the generator */
    uint32_t segment_k, segment_n; /* --segment K/N; 0/0 = the whole plan */
    uint64_t start_at_ns;    /* --start-at as Unix ns; 0 = not used */
    int64_t start_late_ns;   /* how late the schedule began after start_at */
    results_script script;   /* a script's own results ("script" in results.json) */
} results;

int results_stats_init(results_stats *s);
void results_stats_free(results_stats *s);
/* dst += src (counts, histograms; series are not merged). */
void results_stats_merge(results_stats *dst, const results_stats *src);

/* Allocates the run's stats. Returns 0 or VOLLEY_ENOMEM. */
int results_init(results *r);
void results_free(results *r);

/* Adds an endpoint (stats allocated) and returns it, or NULL. */
results_endpoint *results_add_endpoint(results *r, const char *name, const char *method,
                                       const char *url);
/* Makes endpoint name the whole run (its stats replace the run's and each
 * step's; the other endpoints are dropped), for a report of one endpoint.
 * VOLLEY_EINVAL naming the endpoints there are when there is no such one. */
int results_keep_endpoint(results *r, const char *name, err *e);
/* The server under test during step st: the mean CPU % (of one core, to
 * 0.1) and
 * the peak RSS of the monitor's samples whose interval falls mostly inside
 * the step. False when there is no monitor or no such sample. */
bool results_step_monitor(const results *r, const results_step *st, double *cpu_pct,
                          uint64_t *rss_max_bytes);
/* Adds a step with one stats block per existing endpoint, or NULL. */
results_step *results_add_step(results *r, double target_rps, uint32_t target_vus);

struct threshold;
/* Evaluates thresholds on r (the whole run or the named endpoint) and stores
 * the verdicts in r->thresholds. Returns the number that failed, or
 * VOLLEY_EINVAL (with e) when one names an unknown endpoint. */
int results_eval_thresholds(results *r, const struct threshold *t, size_t n, err *e);
bool results_thresholds_ok(const results *r);

/* Closed model: fills every stats block's latency_corrected from its
 * latency by HdrHistogram's expected-interval method, as wrk corrects: with
 * E = elapsed x connections / requests (each connection's mean interval),
 * a value v > E also counts v-E, v-2E, ... down to E - the requests a
 * stalled connection would have sent. Open-model runs are left empty. */
void results_correct_closed(results *r);

/* Appends a monitor sample. Returns 0 or VOLLEY_ENOMEM. */
int results_monitor_add(results_monitor *m, const monitor_sample *s);

/* The share of the run's (or a step's) target rate that endpoint i gets:
 * all of it in per-endpoint mode (each endpoint the full load), its weight's
 * share in mixed mode. A block's total target is the sum over endpoints. */
double results_target_share(const results *r, size_t i);

/* Achieved outcomes per second of a stats block. */
double results_stats_rps(const results_stats *s);
double results_rps(const results *r);

#endif
