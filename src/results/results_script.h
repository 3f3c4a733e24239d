/* results_script: a script's own results (the "script" block of
 * results.json: per-name requests, checks, custom metrics, scenarios and
 * their iterations, WebSocket numbers, iteration errors) as plain data, for
 * the reports. Read from the JSON the script layer writes, so a report made
 * later shows what the end of the run showed. */
#ifndef VOLLEY_RESULTS_SCRIPT_H
#define VOLLEY_RESULTS_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_t;

typedef struct rs_name {
    char name[160];
    uint64_t requests, failures, bytes_in;
    double avg_ms, p50_ms, p90_ms, p95_ms, p99_ms, max_ms, ttfb_p50_ms;
} rs_name;

typedef struct rs_check {
    char name[160]; /* "group::name" inside groups */
    uint64_t passes, fails;
} rs_check;

/* A custom metric: type "counter" (count, adds), "gauge" (value, min,
 * max), "rate" (rate, passes, fails) or "trend" (count, min, max, avg, med,
 * p90, p95, p99). */
typedef struct rs_metric {
    char name[160];
    char type[8];
    double count, value, min, max, avg, med, p90, p95, p99, rate;
    uint64_t adds, passes, fails;
} rs_metric;

typedef struct rs_scenario {
    char name[64], executor[32], exec[64];
    uint64_t iterations, iteration_errors, dropped;
    uint64_t it_count;
    double it_avg_ms, it_p50_ms, it_p95_ms, it_max_ms;
    uint64_t ws_sessions, ws_errors, ws_sent, ws_received, ws_rtt_count;
    double ws_rtt_p50_ms, ws_rtt_p95_ms, ws_connect_p50_ms;
} rs_scenario;

typedef struct rs_error {
    char msg[300], where[96];
    uint64_t count;
} rs_error;

typedef struct rs_phase {
    bool ran;
    uint64_t requests, errors;
    double duration_ms;
    char error[300];
} rs_phase;

typedef struct results_script {
    bool present;             /* the run was a script */
    char file[1024];
    uint64_t seed, iterations, iteration_errors, errors_other;
    bool names_folded;
    rs_phase setup, teardown;
    rs_name *names;
    size_t nnames;
    rs_check *checks;
    size_t nchecks;
    rs_metric *metrics;
    size_t nmetrics;
    rs_scenario *sc;
    size_t nsc;
    rs_error *errors;
    size_t nerrors;
} results_script;

/* Fills s from a "script" object (missing members read as 0). Returns 0
 * or VOLLEY_ENOMEM; s is freed on failure. */
int results_script_from_json(results_script *s, const struct json_t *o);
void results_script_free(results_script *s);

/* The unit of a custom metric, from the end of its name (k6 habit:
 * "step_ms", "size_bytes"): "ms", "s", "us", "B", "%" or "" (none). The
 * part before a tag filter "{...}" is used. */
const char *results_script_unit(const char *name);

/* A custom metric's value with its unit ("12.5ms", "3.20 kB", "0.27"). */
void results_script_fmt(const char *name, double v, char *out, size_t cap);

#endif
