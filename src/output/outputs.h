/* outputs: the run's live outputs as one set of sinks, fed once a second
 * from the engine's per-second hand-off and once at the end from the
 * results: /metrics and the dashboard (output/httpd), InfluxDB and OTLP
 * pushes (output/post), the Pushgateway at the end, and the terminal view.
 * Everything runs on the main thread or a thread of its own; the load's
 * threads are never reached and nothing waits on the network. */
#ifndef VOLLEY_OUTPUTS_H
#define VOLLEY_OUTPUTS_H

#include "core/err.h"
#include "load/engine.h"
#include "metrics/series.h"
#include "results/results.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The flags, in this order (outputs_parse_flag's index). */
enum {
    OUTPUTS_FLAG_METRICS_LISTEN,
    OUTPUTS_FLAG_METRICS_LINGER,
    OUTPUTS_FLAG_DASHBOARD,
    OUTPUTS_FLAG_OUT_INFLUX,
    OUTPUTS_FLAG_OUT_OTLP,
    OUTPUTS_FLAG_PUSHGATEWAY,
    OUTPUTS_FLAG_TUI,
    OUTPUTS_NFLAGS
};
/* Their long names and whether they take a value, for getopt tables. */
extern const char *const outputs_flag_names[OUTPUTS_NFLAGS];
extern const bool outputs_flag_has_arg[OUTPUTS_NFLAGS];

typedef struct outputs_config {
    const char *metrics_listen, *dashboard;
    uint64_t linger_ns;            /* keep serving this long after the run */
    const char *influx_url, *otlp_url, *pushgateway_url;
    bool tui;
    const struct threshold *thresholds; /* shown (and judged live) on the dashboard */
    size_t nthresholds;
    volatile sig_atomic_t *interrupts;  /* a new Ctrl-C cuts the linger short */
} outputs_config;

typedef struct outputs outputs;

/* Parses flag idx (OUTPUTS_FLAG_*) with its value into c. */
int outputs_parse_flag(outputs_config *c, int idx, const char *arg, err *e);
bool outputs_configured(const outputs_config *c);

/* Starts the configured outputs. run: names the run (a tag/attribute);
 * term: where the terminal view draws. Returns NULL with e set on error;
 * NULL with e->code == 0 when nothing is configured. */
outputs *outputs_new(const outputs_config *c, const char *run, FILE *term, err *e);
/* One collected second of the measured run. */
void outputs_second(outputs *o, const series_row *row, const hist *latency);
/* One collected second of one endpoint (before outputs_second). */
void outputs_endpoint_second(outputs *o, uint32_t ep, const char *name, const series_row *row);
/* The engine's progress: draws the terminal view, if any. */
void outputs_progress(outputs *o, const engine_progress *pr);
/* True when the terminal view draws the progress (no plain line then). */
bool outputs_draws_progress(const outputs *o);
/* The run is over: final numbers to every output (r after thresholds;
 * report: the results' path or NULL), the terminal given back, the pushes
 * flushed (for a few seconds at most); what could not be delivered is
 * reported on log. Returns the number of outputs that failed to deliver. */
int outputs_finish(outputs *o, const results *r, const char *report, FILE *log);
/* Keeps /metrics and the dashboard up for the linger (until a new
 * interrupt), then stops all. */
void outputs_free(outputs *o);

/* The same as callbacks of a run session's sink (session_sink), ctx being
 * the outputs: end reports on stderr, close frees. */
void outputs_sink_progress(void *ctx, const engine_progress *pr);
bool outputs_sink_second(void *ctx, const series_row *row, const hist *latency);
void outputs_sink_endpoint_second(void *ctx, uint32_t ep, const char *name, const series_row *row);
void outputs_sink_end(void *ctx, const results *r, const char *dir);
void outputs_sink_close(void *ctx, volatile sig_atomic_t *interrupts);

#endif
