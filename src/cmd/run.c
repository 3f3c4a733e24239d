/* run: `volley run URL|flow.lua [options]` - the flag table, flags into a
 * plan (or a script's overrides) and a session config, then the session
 * runs it and returns the exit code. Every flag applies to URL runs, to
 * scripts, or both; one that does not apply exits 2 naming it. */
#include "cmd/cmd.h"
#include "cmd/flags.h"

#include "core/clock.h"
#include "core/fileio.h"
#include "core/parse.h"
#include "load/executor.h"
#include "core/log.h"
#include "load/har.h"
#include "load/openapi.h"
#include "load/plan.h"
#include "load/segment.h"
#include "proto/decode.h"
#include "metrics/threshold.h"
#include "report/chart.h"
#include "output/outputs.h"
#include "script/lua_plan.h"
#include "script/lua_wrk.h"
#include "session/session.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum {
    OPT_BODY_FILE = 256,
    OPT_TIMEOUT,
    OPT_CONNECT_TIMEOUT,
    OPT_NO_KEEPALIVE,
    OPT_NO_RETRY,
    OPT_OUT,
    OPT_JSON,
    OPT_GRACE,
    OPT_MAX_HEADER,
    OPT_STAGES,
    OPT_HOLD,
    OPT_EXECUTOR,
    OPT_MAX_CONN,
    OPT_MAX_BACKLOG,
    OPT_WARMUP,
    OPT_RATES,
    OPT_COOLDOWN,
    OPT_SEGMENT,
    OPT_ENDPOINT,
    OPT_TARGETS,
    OPT_MODE,
    OPT_WEIGHT,
    OPT_FILTER,
    OPT_LABEL,
    OPT_NO_SAVE,
    OPT_NO_REPORT,
    OPT_RAW,
    OPT_THRESHOLD,
    OPT_ABORT_ON_FAIL,
    OPT_MONITOR_PID,
    OPT_EXEC,
    OPT_READY,
    OPT_READY_URL,
    OPT_EXEC_TIMEOUT,
    OPT_COLD,
    OPT_OPENAPI,
    OPT_PATH_PARAM,
    OPT_HAR,
    OPT_BASELINE,
    OPT_SAVE_BASELINE,
    OPT_FAIL_IF,
    OPT_INSECURE,
    OPT_SHARE_TLS_SESSIONS,
    OPT_CACERT,
    OPT_CERT,
    OPT_KEY,
    OPT_HELP_MARKDOWN,
    OPT_START_AT,
    OPT_CPUS,
    OPT_SEED,
    OPT_STRICT,
    OPT_OK_STATUS,
    OPT_PIPELINE,
    OPT_MAX_STREAMS,
    OPT_COMPRESSED,
    OPT_REDIRECTS,
    OPT_PROXY,
    OPT_RESOLVE,
    OPT_CONNECT_TO,
    OPT_DNS_SPREAD,
    OPT_UNIX_SOCKET,
    OPT_LATENCY,
    OPT_HTTP,
    OPT_H2C,
    OPT_OUTPUT, /* OUTPUTS_NFLAGS values from here: output/outputs.h */
};

#define B FLAG_BOTH
#define U FLAG_URL
#define S FLAG_SCRIPT
#define LOAD_S "with a script, replaces its scenarios with one (as k6 run --vus/--duration)"

static const flag_def run_flags[] = {
    {'c', "connections", 'c', "N", B, "load",
     "closed model: concurrent connections/VUs (default 50; 1 for a script); open model: caps "
     "the pool like --max-connections", LOAD_S},
    {'r', "rate", 'r', "R", B, "load",
     "open model: R requests (script: iterations) per second; with --stages the rate the ramp "
     "starts from", "one constant-arrival-rate scenario"},
    {OPT_STAGES, "stages", 0, "T:D,...", B, "load",
     "ramp linearly to target T over D, stage after stage (VUs in the closed model, req/s in the "
     "open model); or T1,T2,... with -d TOTAL split evenly over them", "one ramping-vus (or ramping-arrival-rate) scenario"},
    {OPT_HOLD, "hold", 0, "D", B, "load", "hold each stage's target for D before the next", NULL},
    {OPT_EXECUTOR, "executor", 0, "NAME", B, "load",
     "constant-vus | ramping-vus | constant-arrival-rate | ramping-arrival-rate (default: from "
     "the flags above)", NULL},
    {'d', "duration", 'd', "D", B, "load", "how long to send (default 10s; ms, s, m, h)", LOAD_S},
    {'n', "requests", 'n', "N", B, "load",
     "exactly N requests per scenario (alone: until done; with -d: whichever comes first)",
     "N shared iterations over -c VUs (k6 --iterations)"},
    {'t', "threads", 't', "N", B, "load", "worker threads (default: number of cores; at most 4 x "
     "cores, 256 in all: more only compete for CPUs)", NULL},
    {OPT_CPUS, "cpus", 0, "LIST", B, "load",
     "pin worker thread i to the i-th CPU of LIST, cycling (e.g. 0,2-3)", NULL},
    {OPT_MAX_CONN, "max-connections", 0, "N", B, "load",
     "open model: connection pool cap (default: rate/10, at least 64)",
     "arrival rate: the scenario's VUs"},
    {OPT_PIPELINE, "pipeline", 0, "N", U, "load",
     "requests in flight per connection (default 1; HTTP/1.1 pipelining, h2load -m): closed "
     "model: -c connections x N VUs; open model: N slots per pooled connection", NULL},
    {OPT_MAX_STREAMS, "max-streams", 0, "N", U, "load",
     "requests in flight per connection: HTTP/2 streams (h2load -m; a server's lower "
     "SETTINGS_MAX_CONCURRENT_STREAMS clamps it), HTTP/1.1 pipelining depth (as --pipeline)",
     NULL},
    {OPT_MAX_BACKLOG, "max-backlog", 0, "N", U, "load",
     "open model: iterations that may wait for a connection (default: one second of "
     "arrivals); beyond: dropped", NULL},
    {OPT_WARMUP, "warmup", 0, "D", B, "load", "run the load for D first; its results are "
     "discarded", "the first D of the timeline, each scenario from its startTime (first "
     "stage's target; iterations: its VUs)"},
    {OPT_RATES, "rates", 0, "R1,R2,...", U, "load", "sweep: one -d long step per rate (open "
     "model)", NULL},
    {OPT_COOLDOWN, "cooldown", 0, "D", U, "load", "pause between sweep steps", NULL},
    {OPT_SEGMENT, "segment", 0, "K/N|auto", B, "load",
     "run only segment K of N of the run: iterations, VUs, -n and every scenario of a script "
     "(split a run over N processes or machines; volley merge the results); auto: K/N from "
     "JOB_COMPLETION_INDEX+VOLLEY_SEGMENTS or SLURM_PROCID+SLURM_NTASKS", NULL},
    {OPT_START_AT, "start-at", 0, "TIME", B, "load",
     "begin the schedule at TIME (RFC 3339 with a zone, or Unix seconds), the same instant "
     "for every segment; how late it began is in results.json and the summary", NULL},
    {OPT_ENDPOINT, "endpoint", 0, "NAME=URL", U, "endpoints",
     "add an endpoint (repeatable); also NAME=METHOD URL", NULL},
    {OPT_TARGETS, "targets", 0, "FILE", U, "endpoints", "endpoints from a vegeta-style targets "
     "file", NULL},
    {OPT_MODE, "mode", 0, "M", U, "endpoints",
     "per-endpoint (default: each endpoint gets the full load) or mixed (one load spread over "
     "endpoints by weight)", NULL},
    {OPT_WEIGHT, "weight", 0, "NAME=W", U, "endpoints", "weight of an endpoint in mixed mode "
     "(default 1)", NULL},
    {OPT_FILTER, "filter", 0, "PREFIX", U, "endpoints", "keep endpoints whose path starts with "
     "PREFIX (the leading / may be left out), or whose HOST[:PORT] is PREFIX (optionally "
     "followed by a path prefix)", NULL},
    {OPT_OPENAPI, "openapi", 0, "URL|FILE", U, "endpoints",
     "the GET/POST/PUT/PATCH operations of an OpenAPI 3 document as endpoints; values come "
     "from examples or schemas; skipped operations are listed with their reason", NULL},
    {OPT_PATH_PARAM, "path-param", 0, "NAME=VALUE", U, "endpoints",
     "the value of OpenAPI parameter NAME (repeatable)", NULL},
    {OPT_HAR, "har", 0, "FILE", U, "endpoints",
     "the requests of a browser recording (HAR) as endpoints, weighted by how often each "
     "was sent", NULL},
    {'m', "method", 'm', "M", U, "request", "HTTP method (default GET)", NULL},
    {'H', "header", 'H', "'K: V'", B, "request",
     "add a request header (repeatable; a later one replaces an earlier one of the same name)",
     "default headers of http.* requests (a request's own win)"},
    {'b', "body", 'b', "TEXT", U, "request", "request body", NULL},
    {OPT_BODY_FILE, "body-file", 0, "FILE", U, "request", "request body from a file (a regular "
     "file of at most 1 GiB, else exit 2; held in memory once)", NULL},
    {OPT_NO_KEEPALIVE, "no-keepalive", 0, NULL, U, "request", "a new connection for every "
     "request", NULL},
    {OPT_NO_RETRY, "no-retry", 0, NULL, B, "request",
     "a keep-alive connection the server closed as it was reused is a stale_connection error "
     "(default: an idempotent request is sent once more on a new connection, counted in "
     "retries)", NULL},
    {OPT_COMPRESSED, "compressed", 0, NULL, B, "request",
     "send Accept-Encoding: gzip, deflate, br, zstd (a -H Accept-Encoding wins) and decode "
     "the bodies: bytes_decoded beside bytes_in, decoding time as the decode distribution, "
     "kept out of latency; a body that does not decode is a decode_error", NULL},
    {OPT_REDIRECTS, "redirects", 0, "N", B, "request",
     "follow up to N redirects (301, 302, 303, 307, 308 with a Location), each hop a request "
     "of its own in the numbers and counted in redirects; 303 (and 301/302 after POST) become "
     "GET (default 0: a URL run measures the URL given)",
     "default of params.redirects (else 10, as k6)"},
    {OPT_PROXY, "proxy", 0, "URL", B, "connection",
     "send through the HTTP proxy URL: absolute-form requests for http://, a CONNECT tunnel "
     "for https:// and ws(s)://; a proxy that cannot be reached is a proxy_error", NULL},
    {OPT_RESOLVE, "resolve", 0, "HOST:PORT:ADDR", B, "connection",
     "connect to ADDR (numeric; a comma-separated list) for HOST:PORT, as curl; the Host "
     "header and TLS name stay HOST (repeatable)", NULL},
    {OPT_CONNECT_TO, "connect-to", 0, "H1:P1:H2:P2", B, "connection",
     "connect to H2:P2 instead of H1:P1, as curl (an empty part matches any / keeps it); "
     "the Host header and TLS name stay H1 (repeatable)", NULL},
    {OPT_DNS_SPREAD, "dns-spread", 0, NULL, B, "connection",
     "spread new connections over all the addresses of a name in turn (default: the first "
     "that works, then that one)", NULL},
    {OPT_UNIX_SOCKET, "unix-socket", 0, "PATH", B, "connection",
     "connect to the Unix socket PATH; the URL gives the Host header and the path", NULL},
    {OPT_HTTP, "http", 0, "1.1|2|auto", B, "http",
     "protocol (default auto: https offers h2 and http/1.1 by ALPN and the server picks; http "
     "stays HTTP/1.1); 2: https must choose h2, http:// speaks h2c", NULL},
    {OPT_H2C, "h2c", 0, NULL, B, "http",
     "http:// targets speak HTTP/2 in cleartext with prior knowledge", NULL},
    {OPT_INSECURE, "insecure", 0, NULL, B, "tls", "do not verify the server's certificate or "
     "name", NULL},
    {OPT_SHARE_TLS_SESSIONS, "share-tls-sessions", 0, NULL, B, "tls",
     "the connections of a worker thread to one host resume the thread's latest TLS session, "
     "as a client with a session cache; until it has one they handshake one at a time "
     "(default: each connection makes its own full handshake first and resumes only its own "
     "session when it reconnects)", NULL},
    {OPT_CACERT, "cacert", 0, "FILE", B, "tls", "trust the CA certificates in FILE (PEM)", NULL},
    {OPT_CERT, "cert", 0, "FILE", B, "tls", "client certificate (PEM), with --key FILE", NULL},
    {OPT_KEY, "key", 0, "FILE", B, "tls", "the client certificate's private key (PEM)", NULL},
    {OPT_TIMEOUT, "timeout", 0, "D", B, "limits", "per request, from its intended start "
     "(default 30s)", "default timeout of http.* requests (else 60s)"},
    {OPT_CONNECT_TIMEOUT, "connect-timeout", 0, "D", U, "limits", "connect timeout (default "
     "10s)", NULL},
    {OPT_GRACE, "grace", 0, "D", U, "limits", "wait for in-flight requests at the end (default "
     "5s)", NULL},
    {OPT_MAX_HEADER, "max-header-size", 0, "S", U, "limits", "largest response header block "
     "(default 64k)", NULL},
    {OPT_OK_STATUS, "ok-status", 0, "LIST", B, "limits", "expected statuses, e.g. 200-299,404 "
     "(default 200-399, as k6); a request fails when it got no complete response or a status "
     "outside LIST, and errors (errors<1%) counts failed requests", NULL},
    {OPT_THRESHOLD, "threshold", 0, "EXPR", B, "CI gate",
     "pass/fail criterion, repeatable: p(99)<50ms, avg<10ms, max<1s, rate>=1000, errors<1%, "
     "ttfb:p(95)<20ms, endpoint=NAME:p(99)<50ms; exit code 99 if any fails", NULL},
    {OPT_ABORT_ON_FAIL, "abort-on-fail", 0, NULL, B, "CI gate", "stop as soon as a threshold "
     "fails (checked each second)", NULL},
    {OPT_STRICT, "strict", 0, NULL, B, "CI gate", "exit 3 when the generator fell behind (the "
     "summary's verdict; generator:lag_p99<1ms gates the send lag)", NULL},
    {OPT_BASELINE, "baseline", 0, "FILE", B, "CI gate",
     "compare this run with a saved results.json (or the run folder holding it; see volley "
     "compare)", NULL},
    {OPT_FAIL_IF, "fail-if", 0, "EXPR", B, "CI gate",
     "with --baseline: exit 99 on a regression beyond EXPR, e.g. 'p(99)>+10%'", NULL},
    {OPT_SAVE_BASELINE, "save-baseline", 0, "FILE", B, "CI gate", "save this run's "
     "results.json as FILE too", NULL},
    {OPT_MONITOR_PID, "monitor-pid", 0, "PID", B, "server under test",
     "sample CPU and RSS of PID and its children every 500ms", NULL},
    {OPT_EXEC, "exec", 0, "'CMD'", B, "server under test",
     "start CMD, wait until it answers (--ready), load it, stop it",
     "needs --ready URL"},
    {OPT_READY, "ready", 0, "URL", B, "server under test",
     "with --exec: a URL that must answer a GET before the load (default: a TCP connect "
     "to the first endpoint; never the load's own request)", NULL},
    {OPT_READY_URL, "ready-url", 0, "URL", B, "server under test", "the same as --ready", NULL},
    {OPT_EXEC_TIMEOUT, "exec-timeout", 0, "D", B, "server under test",
     "with --exec: how long the command may take to be ready (default 15s)", NULL},
    {OPT_COLD, "cold", 0, NULL, B, "server under test",
     "with --exec: time from exec to the first successful response, and that request's "
     "latency, apart from the warm load (http or https)",
     "the run's first successful http.* response is the cold one (it stays in the load's "
     "numbers); --ready URL is then only connected to, not requested"},
    {OPT_OUTPUT + OUTPUTS_FLAG_METRICS_LISTEN, "metrics-listen", 0, "ADDR", B, "live outputs",
     "serve Prometheus /metrics during the run (PORT alone: 127.0.0.1:PORT; docs/outputs.md)",
     NULL},
    {OPT_OUTPUT + OUTPUTS_FLAG_METRICS_LINGER, "metrics-linger", 0, "D", B, "live outputs",
     "keep /metrics and the dashboard up D after the run (a new Ctrl-C ends it)", NULL},
    {OPT_OUTPUT + OUTPUTS_FLAG_DASHBOARD, "dashboard", 0, "ADDR", B, "live outputs",
     "live web dashboard at http://ADDR/ (Server-Sent Events at /events, report at /report)",
     NULL},
    {OPT_OUTPUT + OUTPUTS_FLAG_OUT_INFLUX, "out-influx", 0, "URL", B, "live outputs",
     "InfluxDB 1.x line protocol, a point a second (a URL with no path writes to database "
     "volley)", NULL},
    {OPT_OUTPUT + OUTPUTS_FLAG_OUT_OTLP, "out-otlp", 0, "URL", B, "live outputs",
     "OTLP/HTTP JSON metrics each second (default path /v1/metrics)", NULL},
    {OPT_OUTPUT + OUTPUTS_FLAG_PUSHGATEWAY, "pushgateway", 0, "URL", B, "live outputs",
     "push the final numbers to a Prometheus Pushgateway (default path /metrics/job/volley)",
     NULL},
    {OPT_OUTPUT + OUTPUTS_FLAG_TUI, "tui", 0, NULL, B, "live outputs",
     "live terminal view (stdout must be a terminal; not with --json or -q)", NULL},
    {OPT_OUT, "out", 0, "DIR", B, "output",
     "where to write results, checked before any load (default: a new "
     "volley-results/<time>[-segKofN][-label])", NULL},
    {OPT_LABEL, "label", 0, "TEXT", B, "output", "a name for the run (in the directory and "
     "results)", NULL},
    {OPT_NO_SAVE, "no-save", 0, NULL, B, "output", "write no files (and so no report)", NULL},
    {OPT_NO_REPORT, "no-report", 0, NULL, B, "output", "write results.json and summary.csv "
     "but not report.html and charts/", NULL},
    {OPT_RAW, "raw", 0, NULL, B, "output", "also write requests.csv (one row per request; a "
     "script's rows name its scenario)",
     NULL},
    {OPT_JSON, "json", 0, NULL, B, "output", "print results JSON to stdout (summary to stderr)",
     NULL},
    {'e', "env", 'e', "KEY=VALUE", S, "output", "a parameter for a Lua script (ENV.KEY), "
     "repeatable", NULL},
    {'s', "script", 's', "FILE", S, "output",
     "run FILE as a wrk script, unchanged, against the URL: volley run -s FILE URL [-- ARGS] "
     "(wrk's -c -t -d -H --timeout --latency; defaults as wrk: -c 10 -t 2 -d 10s)", NULL},
    {OPT_LATENCY, "latency", 0, NULL, B, "output",
     "print wrk's latency distribution (50/75/90/99%) after the summary", NULL},
    {OPT_SEED, "seed", 0, "N", S, "output", "seed of a script's rand(), uuid() and math.random "
     "(default: a random one; results.json records it, so a run can be repeated)", NULL},
    {'q', "quiet", 'q', NULL, B, "output", "no progress and no summary", NULL},
    {'h', "help", 'h', NULL, B, "output", "this help", NULL},
    {OPT_HELP_MARKDOWN, "help-markdown", 0, NULL, B, "output",
     "print this flag table as Markdown (the README's table is made from it)", NULL},
};

#undef B
#undef U
#undef S

#define NFLAGS (sizeof run_flags / sizeof run_flags[0])

static void usage(FILE *f)
{
    fputs("usage: volley run URL [options]\n"
          "       volley run --endpoint NAME=URL [--endpoint NAME=URL ...] [options]\n"
          "       volley run flow.lua [options]\n"
          "       volley run -s wrk-script.lua URL [options] [-- ARGS]\n"
          "\n"
          "Closed model (default): -c connections, each sends its next request when the\n"
          "previous response is complete; latency runs from when it was ready.\n"
          "Open model (--rate, --rates, or --stages with --executor ramping-arrival-rate):\n"
          "requests start on a fixed schedule; latency runs from the scheduled time, so\n"
          "a stalled server shows in the percentiles (no coordinated omission).\n"
          "With a script, load flags replace its scenarios with one. Flags marked [URL runs]\n"
          "or [scripts] apply only there; elsewhere they exit 2 naming the flag.\n"
          "\n",
          f);
    flags_print_help(f, run_flags, NFLAGS);
    fputs("\n"
          "Ctrl-C, SIGTERM and SIGHUP stop the load, wait up to --grace for in-flight\n"
          "requests and still write the results (exit 130, 143, 129); a second signal\n"
          "stops at once. Exit codes: 0 ok, 1 runtime error, 2 bad usage or input,\n"
          "99 a threshold or --fail-if gate failed.\n",
          f);
}

#define MAX_ENV 128

/* Flags whose meaning depends on others are kept and resolved at the end. */
typedef struct run_opts {
    session_config *s;
    bool duration_set, conns_set, rate_set, redirects_set;
    const char *stages, *executor, *filter;
    const char *weights[PLAN_MAX_ENDPOINTS];
    size_t nweights;
    uint64_t hold_ns;
    const char *openapi;
    const char *path_params[PLAN_MAX_ENDPOINTS];
    size_t npath_params;
    const char *har;
    uint64_t seed;           /* --seed, 0: none given */
    const char *env[MAX_ENV];
    size_t nenv;
    uint32_t conns;
    double rate;
    uint64_t duration_ns;
    outputs_config outs;
    bool seen[NFLAGS];         /* which rows were given */
    const char *wrk_script;    /* -s FILE */
    lua_wrk_opts wrk;          /* its URL, init(args), --latency */
} run_opts;

static int parse_rates(plan *p, const char *s, err *e)
{
    char tmp[1024];
    if (strlen(s) >= sizeof tmp)
        return err_set(e, VOLLEY_EINVAL, "--rates: list too long");
    strcpy(tmp, s);
    p->nrates = 0;
    for (char *save = NULL, *tok = strtok_r(tmp, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (p->nrates == PLAN_MAX_RATES)
            return err_set(e, VOLLEY_EINVAL, "--rates: more than %d rates", PLAN_MAX_RATES);
        double r;
        int rc = parse_double(tok, "--rates", &r, e);
        if (rc)
            return rc;
        if (r <= 0)
            return err_set(e, VOLLEY_EINVAL, "--rates: rate '%s' must be more than 0", tok);
        p->rates[p->nrates++] = r;
    }
    if (!p->nrates)
        return err_set(e, VOLLEY_EINVAL, "--rates: empty list");
    return 0;
}

static int parse_segment(plan *p, const char *s, err *e)
{
    segment sg;
    int rc = segment_parse(s, getenv, &sg, e);
    if (!rc) {
        p->segment_k = sg.k;
        p->segment_n = sg.n;
    }
    return rc;
}

static int positive_duration(const char *arg, const char *what, uint64_t *out, err *e)
{
    int rc = parse_duration_ns(arg, what, out, e);
    if (!rc && !*out)
        rc = err_set(e, VOLLEY_EINVAL, "%s: must be more than 0", what);
    return rc;
}

/* --cpus LIST: every CPU must be one this process may run on. */
static int parse_cpus(plan *p, const char *arg, err *e)
{
    int rc = parse_cpu_list(arg, "--cpus", p->cpus, PLAN_MAX_CPUS, &p->ncpus, PLAN_MAX_CPUS, e);
    cpu_set_t allowed;
    if (rc || sched_getaffinity(0, sizeof allowed, &allowed))
        return rc ? rc : err_sys(e, "--cpus: cannot read this process's CPUs");
    for (size_t i = 0; i < p->ncpus; i++)
        if (!CPU_ISSET(p->cpus[i], &allowed))
            return err_set(e, VOLLEY_EINVAL, "--cpus: CPU %u is not available to this process",
                           (unsigned)p->cpus[i]);
    return 0;
}

static int parse_flag(plan *p, run_opts *o, int c, const char *arg, err *e)
{
    session_config *s = o->s;
    uint64_t v;
    int rc = 0;
    switch (c) {
    case 'c':
        if (!(rc = parse_u64(arg, "--connections", 1, 1000000, &v, e)))
            o->conns = (uint32_t)v, o->conns_set = true;
        return rc;
    case 'r':
        if (!(rc = parse_double(arg, "--rate", &o->rate, e)) && o->rate <= 0)
            rc = err_set(e, VOLLEY_EINVAL, "--rate: must be more than 0");
        o->rate_set = true;
        return rc;
    case 'd':
        o->duration_set = true;
        return positive_duration(arg, "--duration", &o->duration_ns, e);
    case 'n':
        return parse_u64(arg, "--requests", 1, UINT64_MAX / 2, &p->requests, e);
    case OPT_READY:
    case OPT_READY_URL:
        s->ready_url = arg;
        return 0;
    case OPT_EXEC_TIMEOUT:
        return positive_duration(arg, "--exec-timeout", &s->exec_timeout_ns, e);
    case OPT_COLD:
        s->cold = true;
        return 0;
    case 't':
        if (!(rc = parse_u64(arg, "--threads", 1, 1024, &v, e)))
            p->threads = plan_cap_threads((uint32_t)v);
        return rc;
    case OPT_CPUS:
        return parse_cpus(p, arg, e);
    case 'm':
        if (strlen(arg) >= sizeof p->method)
            return err_set(e, VOLLEY_EINVAL, "--method: '%s' is too long", arg);
        snprintf(p->method, sizeof p->method, "%s", arg);
        return 0;
    case 'H':
        return plan_add_header(p->headers, &p->nheaders, arg, "--header", e);
    case 'b': {
        char *b = strdup(arg);
        if (!b)
            return err_set(e, VOLLEY_ENOMEM, "--body: out of memory");
        plan_take_body(p, b, strlen(b));
        return 0;
    }
    case OPT_BODY_FILE: {
        char *b = NULL;
        size_t n = 0;
        if ((rc = file_read_all(arg, "--body-file", &b, &n, e)))
            return rc;
        plan_take_body(p, b, n);
        return 0;
    }
    case OPT_TIMEOUT:
        return positive_duration(arg, "--timeout", &p->timeout_ns, e);
    case OPT_CONNECT_TIMEOUT:
        return positive_duration(arg, "--connect-timeout", &p->connect_timeout_ns, e);
    case OPT_GRACE:
        return parse_duration_ns(arg, "--grace", &p->grace_ns, e);
    case OPT_OK_STATUS:
        o->s->ok_status_text = arg;
        return metrics_status_set_parse(&o->s->ok_status, arg, "--ok-status", e);
    case OPT_MAX_HEADER:
        if (!(rc = parse_size_bytes(arg, "--max-header-size", &v, e)) && v < 256)
            rc = err_set(e, VOLLEY_EINVAL, "--max-header-size: at least 256 bytes");
        p->max_header_bytes = v;
        return rc;
    case OPT_NO_KEEPALIVE:
        p->keepalive = false;
        return 0;
    case OPT_NO_RETRY:
        p->no_retry = true;
        return 0;
    case OPT_COMPRESSED:
        p->compressed = true;
        return 0;
    case OPT_REDIRECTS:
        if (!(rc = parse_u64(arg, "--redirects", 0, 100, &v, e)))
            p->redirects = (uint32_t)v, o->redirects_set = true;
        return rc;
    case OPT_PROXY:
        return route_set_proxy(&p->route, arg, e);
    case OPT_RESOLVE:
        return route_add_resolve(&p->route, arg, e);
    case OPT_CONNECT_TO:
        return route_add_connect_to(&p->route, arg, e);
    case OPT_DNS_SPREAD:
        p->route.dns_spread = true;
        return 0;
    case OPT_UNIX_SOCKET:
        return route_set_unix(&p->route, arg, e);
    case OPT_STAGES:
        o->stages = arg;
        return 0;
    case OPT_HOLD:
        return positive_duration(arg, "--hold", &o->hold_ns, e);
    case OPT_EXECUTOR:
        if (executor_kind_from_name(arg) < 0)
            return err_set(e, VOLLEY_EINVAL,
                           "--executor: unknown '%s' (constant-vus, ramping-vus, "
                           "constant-arrival-rate, ramping-arrival-rate)",
                           arg);
        o->executor = arg;
        return 0;
    case OPT_MAX_CONN:
        if (!(rc = parse_u64(arg, "--max-connections", 1, 1000000, &v, e)))
            p->max_connections = (uint32_t)v;
        return rc;
    case OPT_PIPELINE:
    case OPT_MAX_STREAMS:
        if (!(rc = parse_u64(arg, c == OPT_PIPELINE ? "--pipeline" : "--max-streams", 1, 1024,
                             &v, e)))
            p->pipeline = (uint32_t)v;
        return rc;
    case OPT_HTTP:
        return plan_set_http(p, arg, e);
    case OPT_H2C:
        p->h2c = true;
        return plan_http_check(p, e);
    case OPT_MAX_BACKLOG:
        if (!(rc = parse_u64(arg, "--max-backlog", 1, 100000000, &v, e)))
            p->max_backlog = (uint32_t)v;
        return rc;
    case OPT_WARMUP:
        return positive_duration(arg, "--warmup", &p->warmup_ns, e);
    case OPT_RATES:
        return parse_rates(p, arg, e);
    case OPT_COOLDOWN:
        return parse_duration_ns(arg, "--cooldown", &p->cooldown_ns, e);
    case OPT_SEGMENT:
        s->segment_given = true;
        return parse_segment(p, arg, e);
    case OPT_START_AT:
        return segment_parse_start_at(arg, &s->start_at_ns, e);
    case OPT_ENDPOINT:
        return plan_add_endpoint(p, arg, "--endpoint", e);
    case OPT_TARGETS:
        return plan_load_targets(p, arg, e);
    case OPT_MODE:
        if (!strcmp(arg, "per-endpoint"))
            p->mode = PLAN_PER_ENDPOINT;
        else if (!strcmp(arg, "mixed"))
            p->mode = PLAN_MIXED;
        else
            return err_set(e, VOLLEY_EINVAL, "--mode: unknown '%s' (per-endpoint or mixed)", arg);
        return 0;
    case OPT_WEIGHT:
        if (o->nweights == PLAN_MAX_ENDPOINTS)
            return err_set(e, VOLLEY_EINVAL, "--weight: too many");
        o->weights[o->nweights++] = arg;
        return 0;
    case OPT_FILTER:
        o->filter = arg;
        return 0;
    case OPT_LABEL:
        for (const char *q = arg; *q; q++)
            if (*q == '/' || (unsigned char)*q < ' ')
                return err_set(e, VOLLEY_EINVAL, "--label: '%s' may not contain '/' or control characters", arg);
        snprintf(p->label, sizeof p->label, "%s", arg);
        return 0;
    case OPT_NO_SAVE:
        s->no_save = true;
        return 0;
    case OPT_NO_REPORT:
        s->no_report = true;
        return 0;
    case OPT_RAW:
        p->raw = true;
        s->raw = true;
        return 0;
    case OPT_THRESHOLD:
        if (s->nthresholds == SESSION_MAX_THRESHOLDS)
            return err_set(e, VOLLEY_EINVAL, "--threshold: too many");
        return threshold_parse(arg, &s->thresholds[s->nthresholds++], e);
    case OPT_ABORT_ON_FAIL:
        s->abort_on_fail = true;
        return 0;
    case OPT_STRICT:
        s->strict = true;
        return 0;
    case OPT_MONITOR_PID:
        if (!(rc = parse_u64(arg, "--monitor-pid", 1, 4194304, &v, e)))
            s->monitor_pid = (int)v;
        return rc;
    case OPT_EXEC:
        if (!*arg)
            return err_set(e, VOLLEY_EINVAL, "--exec: empty command");
        s->exec_cmd = arg;
        return 0;
    case OPT_PATH_PARAM:
        if (!strchr(arg, '=') || arg[0] == '=')
            return err_set(e, VOLLEY_EINVAL, "--path-param: expected NAME=VALUE, got '%s'", arg);
        if (o->npath_params == PLAN_MAX_ENDPOINTS)
            return err_set(e, VOLLEY_EINVAL, "--path-param: too many");
        o->path_params[o->npath_params++] = arg;
        return 0;
    case OPT_HAR:
        o->har = arg;
        return 0;
    case OPT_OPENAPI:
        o->openapi = arg;
        return 0;
    case OPT_INSECURE:
        p->tls_opts.insecure = true;
        return 0;
    case OPT_SHARE_TLS_SESSIONS:
        p->share_tls_sessions = true;
        return 0;
    case OPT_CACERT:
        p->tls_opts.cafile = arg;
        return 0;
    case OPT_CERT:
        p->tls_opts.certfile = arg;
        return 0;
    case OPT_KEY:
        p->tls_opts.keyfile = arg;
        return 0;
    case OPT_BASELINE:
        s->baseline = arg;
        return 0;
    case OPT_SAVE_BASELINE:
        s->save_baseline = arg;
        return 0;
    case OPT_FAIL_IF:
        if (s->cmp.ngates == SESSION_MAX_GATES)
            return err_set(e, VOLLEY_EINVAL, "--fail-if: too many");
        return compare_gate_parse(arg, &s->cmp.gates[s->cmp.ngates++], e);
    case OPT_OUT:
        s->out_dir = arg;
        return 0;
    case OPT_JSON:
        s->json = true;
        return 0;
    case 'e':
        if (!strchr(arg, '=') || arg[0] == '=')
            return err_set(e, VOLLEY_EINVAL, "--env: '%s' is not KEY=VALUE", arg);
        if (o->nenv == MAX_ENV)
            return err_set(e, VOLLEY_EINVAL, "--env: more than %d", MAX_ENV);
        o->env[o->nenv++] = arg;
        return 0;
    case OPT_SEED:
        return parse_u64(arg, "--seed", 1, (1ull << 53) - 1, &o->seed, e);
    case 's':
        o->wrk_script = arg;
        return 0;
    case OPT_LATENCY:
        s->latency_dist = true;
        return 0;
    case 'q':
        s->quiet = true;
        return 0;
    case OPT_OUTPUT ... OPT_OUTPUT + OUTPUTS_NFLAGS - 1:
        return outputs_parse_flag(&o->outs, c - OPT_OUTPUT, arg, e);
    }
    return err_set(e, VOLLEY_EINVAL, "unknown option");
}

/* Turns the load flags into the run's shape (executor). */
static int resolve_shape(plan *p, run_opts *o, err *e)
{
    executor *x = &p->shape;
    int kind;
    if (o->executor)
        kind = executor_kind_from_name(o->executor);
    else if (o->stages)
        kind = o->rate_set ? EXEC_RAMPING_RATE : EXEC_RAMPING_VUS;
    else if (o->rate_set || p->nrates)
        kind = EXEC_CONSTANT_RATE;
    else
        kind = EXEC_CONSTANT_VUS;
    x->kind = (executor_kind)kind;
    if (p->nrates && (kind != EXEC_CONSTANT_RATE || o->stages))
        return err_set(e, VOLLEY_EINVAL, "--rates: a sweep runs constant rates; drop --stages/--executor");
    if (p->nrates && o->rate_set)
        return err_set(e, VOLLEY_EINVAL, "--rates and --rate: give one of them");
    bool ramping = kind == EXEC_RAMPING_VUS || kind == EXEC_RAMPING_RATE;
    if (ramping && !o->stages)
        return err_set(e, VOLLEY_EINVAL, "--executor %s needs --stages", executor_name(x->kind));
    if (!ramping && o->stages)
        return err_set(e, VOLLEY_EINVAL, "--stages: not used by --executor %s", executor_name(x->kind));
    if (o->hold_ns && !o->stages)
        return err_set(e, VOLLEY_EINVAL, "--hold: only with --stages");
    if (kind == EXEC_CONSTANT_RATE && !p->nrates && !o->rate_set)
        return err_set(e, VOLLEY_EINVAL, "--executor constant-arrival-rate needs --rate");
    if (ramping) {
        bool total = executor_stages_need_total(o->stages);
        if (!total && o->duration_set)
            return err_set(e, VOLLEY_EINVAL, "--duration: not used with --stages (their durations add up)");
        int rc = executor_parse_stages_total(x, o->stages, o->hold_ns,
                                             o->duration_set ? o->duration_ns : 0, e);
        if (rc)
            return rc;
        if (kind == EXEC_RAMPING_RATE && o->conns_set && !p->max_connections)
            p->max_connections = o->conns;
        if (kind == EXEC_RAMPING_VUS && o->rate_set)
            return err_set(e, VOLLEY_EINVAL, "--rate: not used by ramping-vus");
        if (o->rate_set) /* --rate with --stages: the rate the ramp starts from */
            x->start_target = o->rate;
        return 0;
    }
    x->vus = o->conns_set ? o->conns : 50;
    x->rate = o->rate;
    if (kind == EXEC_CONSTANT_RATE && o->conns_set && !p->max_connections)
        p->max_connections = o->conns; /* -c caps the pool in the open model */
    if (o->duration_set)
        x->duration_ns = o->duration_ns;
    else if (p->requests && kind == EXEC_CONSTANT_VUS)
        x->duration_ns = 0; /* -n alone: until the requests are done */
    else if (p->requests && kind == EXEC_CONSTANT_RATE && !p->nrates)
        x->duration_ns = (uint64_t)ceil((double)p->requests / o->rate * NS_PER_S) + 1;
    else
        x->duration_ns = 10 * NS_PER_S;
    return 0;
}

static void openapi_skipped(void *ctx, const char *method, const char *path, const char *why)
{
    (void)ctx;
    log_warn("--openapi: skipped %s %s: %s", method, path, why);
}

static void har_skipped(void *ctx, const char *method, const char *u, const char *why)
{
    (void)ctx;
    log_warn("--har: skipped %s %s: %s", method, u, why);
}

/* The client flags that depend on others (docs/client.md). */
static int client_flags(plan *p, run_opts *o, bool script, err *e)
{
    if (p->compressed) {
        /* The decoder sits in the HTTP/1.1 driver: HTTP/2 would send
         * Accept-Encoding and count encoded bodies as they came. */
        if (p->http == PLAN_HTTP_2 || p->h2c)
            return err_set(e, VOLLEY_EINVAL, "--compressed: HTTP/1.1 only (not with --http 2 "
                           "or --h2c)");
        p->http = PLAN_HTTP_11; /* auto: https offers http/1.1 alone */
        int hc = plan_http_check(p, e);
        if (hc)
            return hc;
        bool given = false;
        for (size_t i = 0; i < p->nheaders; i++)
            given |= !strcasecmp(p->headers[i].name, "Accept-Encoding");
        int rc = given ? 0 : plan_add_header(p->headers, &p->nheaders,
                                             "Accept-Encoding: " DECODE_ACCEPT, "--compressed", e);
        if (rc)
            return rc;
    }
    if (!script && p->redirects && p->pipeline > 1)
        return err_set(e, VOLLEY_EINVAL, "--redirects: not with --pipeline/--max-streams (a hop "
                       "may need another connection)");
    if (script && o->redirects_set)
        o->s->script.redirects_given = true, o->s->script.redirects = p->redirects;
    if (p->route.has_proxy && p->route.unix_path[0])
        return err_set(e, VOLLEY_EINVAL, "--proxy and --unix-socket: give one of them");
    if (p->route.has_proxy && p->h2c)
        return err_set(e, VOLLEY_EINVAL, "--proxy: not with --h2c (an HTTP/1.1 proxy forwards "
                       "HTTP/1.1; https goes through a CONNECT tunnel and may speak h2)");
    return 0;
}

static int finish_flags(plan *p, run_opts *o, int argc, char **argv, err *e)
{
    if (optind < argc - 1)
        return err_set(e, VOLLEY_EINVAL, "expected one URL, got extra argument '%s'", argv[optind + 1]);
    if (o->npath_params && !o->openapi)
        return err_set(e, VOLLEY_EINVAL, "--path-param applies to --openapi only");
    if (o->har && o->openapi)
        return err_set(e, VOLLEY_EINVAL, "--har and --openapi: give one of them");
    if (o->har) {
        if (optind < argc)
            return err_set(e, VOLLEY_EINVAL, "--har: the URLs come from the recording; drop '%s'",
                           argv[optind]);
        har_options ho = {.filter = o->filter, .on_skip = har_skipped};
        int n = har_load(p, o->har, &ho, e);
        if (n < 0)
            return n;
    } else if (o->openapi) {
        /* With --openapi the URL argument, if any, is the base of the paths. */
        openapi_options oo = {.path_params = o->path_params, .npath_params = o->npath_params,
                              .on_skip = openapi_skipped};
        int n = openapi_load(p, o->openapi, optind == argc - 1 ? argv[optind] : NULL, &oo, e);
        if (n < 0)
            return n;
    } else if (optind == argc - 1) {
        /* The positional URL is an endpoint like the others, and the first. */
        char name[64];
        plan_default_name(argv[optind], name, sizeof name);
        for (size_t i = 0; i < p->neps; i++)
            if (!strcmp(p->eps[i].name, name))
                snprintf(name, sizeof name, "url");
        if (!plan_add_endpoint_parts(p, name, NULL, argv[optind], "URL", e))
            return VOLLEY_EINVAL;
        static plan_endpoint first;
        first = p->eps[p->neps - 1];
        memmove(&p->eps[1], &p->eps[0], (p->neps - 1) * sizeof p->eps[0]);
        p->eps[0] = first;
    }
    if (p->neps == 0)
        return err_set(e, VOLLEY_EINVAL, "missing URL (volley run URL [options], or --endpoint NAME=URL)");
    for (size_t i = 0; i < o->nweights; i++) {
        int rc = plan_set_weight(p, o->weights[i], e);
        if (rc)
            return rc;
    }
    if (o->nweights && p->mode != PLAN_MIXED)
        return err_set(e, VOLLEY_EINVAL, "--weight: only with --mode mixed");
    if (o->filter) {
        int rc = plan_filter(p, o->filter, e);
        if (rc)
            return rc;
    }
    int rc = resolve_shape(p, o, e);
    if (rc)
        return rc;
    const session_config *s = o->s;
    for (size_t i = 0; i < s->nthresholds; i++) {
        bool found = !s->thresholds[i].endpoint[0];
        for (size_t k = 0; k < p->neps && !found; k++)
            found = !strcmp(p->eps[k].name, s->thresholds[i].endpoint);
        if (!found)
            return err_set(e, VOLLEY_EINVAL, "--threshold '%s': no endpoint named '%s'",
                           s->thresholds[i].expr, s->thresholds[i].endpoint);
    }
    return plan_compile(p, e);
}

/* ---- modes: a flag given where it does not apply is refused ---- */

/* A seed for a run that was given none: recorded, so the run can be repeated. */
static uint64_t random_seed(void)
{
    uint64_t x = clock_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (x & ((1ull << 53) - 1)) | 1;
}

static bool given(const run_opts *o, int id)
{
    const flag_def *f = flags_find(run_flags, NFLAGS, id);
    return f && o->seen[f - run_flags];
}

static int check_modes(const run_opts *o, bool script, err *e)
{
    unsigned mode = script ? FLAG_SCRIPT : FLAG_URL;
    for (size_t i = 0; i < NFLAGS; i++) {
        if (!o->seen[i] || (run_flags[i].modes & mode))
            continue;
        if (script)
            return err_set(e, VOLLEY_EINVAL, "--%s: not used with a script (it applies to URL "
                           "runs; see volley run --help)", run_flags[i].name);
        return err_set(e, VOLLEY_EINVAL, "--%s: only with a script (volley run flow.lua)",
                       run_flags[i].name);
    }
    return 0;
}

/* Load flags with a script: one scenario replacing the script's, as k6 run
 * --vus/--duration/--iterations/--stage do. VUs default to 1 (as k6). */
static int script_shape(plan *p, run_opts *o, lua_plan_shape *sh, err *e)
{
    if (p->requests && (o->rate_set || o->stages || o->executor))
        return err_set(e, VOLLEY_EINVAL, "--requests: with a script, only with -c and -d "
                       "(shared iterations)");
    if (!o->conns_set && !o->rate_set && !o->stages) {
        o->conns_set = true;
        o->conns = 1;
    }
    int rc = resolve_shape(p, o, e);
    if (rc)
        return rc;
    memset(sh, 0, sizeof *sh);
    sh->x = p->shape;
    sh->iterations = p->requests;
    if (p->requests) {
        sh->max_duration_ns = o->duration_set ? o->duration_ns : 0;
        sh->x.duration_ns = 0;
    }
    sh->max_vus = p->max_connections;
    sh->keep_duration = !o->duration_set && !p->requests && !o->rate_set && !o->stages;
    return 0;
}

/* The live outputs (output/outputs) as one session sink. */
static int add_outputs(run_opts *o, const plan *p, err *e)
{
    session_config *s = o->s;
    if (o->outs.tui && (s->quiet || s->json))
        return err_set(e, VOLLEY_EINVAL, "--tui: not with %s", s->quiet ? "--quiet" : "--json");
    outputs_config c = o->outs;
    c.thresholds = s->thresholds;
    c.nthresholds = s->nthresholds;
    outputs *outs = outputs_new(&c, p->label, stdout, e);
    if (!outs)
        return e->code;
    session_sink k = {.name = "outputs", .progress = outputs_sink_progress,
                      .second = outputs_sink_second,
                      .endpoint_second = outputs_sink_endpoint_second, .end = outputs_sink_end,
                      .close = outputs_sink_close, .replaces_progress = outputs_draws_progress(outs),
                      .ctx = outs};
    int rc = session_add_sink(s, &k, e);
    if (rc)
        outputs_free(outs);
    return rc;
}

static bool is_script(const run_opts *o, int argc, char **argv)
{
    if (o->wrk_script)
        return true;
    if (optind != argc - 1)
        return false;
    size_t n = strlen(argv[optind]);
    return n > 4 && !strcmp(argv[optind] + n - 4, ".lua");
}

/* -s FILE URL [ARGS]: wrk's command line; its defaults (-c 10 -t 2 -d 10s). */
static int finish_wrk(plan *p, run_opts *o, int argc, char **argv, err *e)
{
    if (optind >= argc)
        return err_set(e, VOLLEY_EINVAL, "--script: give the URL to load (volley run -s %s URL)",
                       o->wrk_script);
    size_t n = strlen(argv[optind]);
    if (n > 4 && !strcmp(argv[optind] + n - 4, ".lua"))
        return err_set(e, VOLLEY_EINVAL, "--script: the argument after the options is the URL, "
                       "not a second script (%s)", argv[optind]);
    o->wrk.url = argv[optind];
    o->wrk.args = (const char *const *)argv + optind + 1;
    o->wrk.nargs = (size_t)(argc - optind - 1);
    o->s->script.wrk = &o->wrk;
    if (!o->conns_set && !o->rate_set && !o->stages)
        o->conns_set = true, o->conns = 10;
    if (!o->duration_set && !p->requests)
        o->duration_set = true, o->duration_ns = 10 * NS_PER_S;
    if (!p->threads)
        p->threads = 2;
    return 0;
}

static int finish_script(plan *p, run_opts *o, lua_plan_shape *sh, err *e)
{
    session_config *s = o->s;
    s->script.env = o->env;
    s->script.nenv = o->nenv;
    s->script.http_timeout_ns = given(o, OPT_TIMEOUT) ? p->timeout_ns : 0;
    s->script.seed = o->seed ? o->seed : random_seed();
    s->script.http_headers = p->headers;
    s->script.warmup_ns = p->warmup_ns;
    s->script.http_nheaders = p->nheaders;
    if (o->conns_set || o->rate_set || o->duration_set || o->stages || o->executor ||
        p->requests || o->hold_ns) {
        int rc = script_shape(p, o, sh, e);
        if (rc)
            return rc;
        s->script.shape = sh;
    } else if (p->max_connections) {
        return err_set(e, VOLLEY_EINVAL, "--max-connections: with a script, only with "
                       "--rate or --stages (it sets their VUs)");
    }
    for (size_t i = 0; i < s->nthresholds; i++)
        if (s->thresholds[i].endpoint[0])
            return err_set(e, VOLLEY_EINVAL, "--threshold '%s': a script's groups are its "
                           "scenarios; endpoint= thresholds are for URL runs",
                           s->thresholds[i].expr);
    return 0;
}

static int parse_args(plan *p, run_opts *o, int argc, char **argv, err *e)
{
    static struct option longs[NFLAGS + 1];
    char shorts[64];
    flags_getopt(run_flags, NFLAGS, longs, shorts, sizeof shorts);
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        if (c == 'h' || c == OPT_HELP_MARKDOWN)
            return c;
        if (c == '?' || c == ':')
            return err_set(e, VOLLEY_EINVAL, "%s '%s'\ntry 'volley run --help'",
                           c == ':' ? "missing value for option" : "unknown option",
                           argv[optind - 1]);
        const flag_def *f = flags_find(run_flags, NFLAGS, c);
        if (f)
            o->seen[f - run_flags] = true;
        int rc = parse_flag(p, o, c, optarg, e);
        if (rc)
            return rc;
    }
    return 0;
}

/* Whether a header's or a variable's value is a secret, by its name. */
static bool secret_name(const char *name, size_t len)
{
    static const char *const words[] = {"auth", "cookie", "token", "secret", "pass", "key"};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
        for (size_t i = 0; i + strlen(words[w]) <= len; i++)
            if (!strncasecmp(name + i, words[w], strlen(words[w])))
                return true;
    return false;
}

/* arg with its secret masked: "Authorization: ***", "TOKEN=***",
 * "http://user:***@host"; prev is the argument before it. */
static void mask_arg(const char *prev, const char *arg, char *out, size_t cap)
{
    bool header = prev && (!strcmp(prev, "-H") || !strcmp(prev, "--header"));
    bool env = prev && (!strcmp(prev, "-e") || !strcmp(prev, "--env"));
    const char *sep = header ? strchr(arg, ':') : env ? strchr(arg, '=') : NULL;
    if (sep && secret_name(arg, (size_t)(sep - arg))) {
        snprintf(out, cap, "%.*s%s***", (int)(sep - arg + 1), arg, header ? " " : "");
        return;
    }
    const char *scheme = strstr(arg, "://"), *at = scheme ? strchr(scheme, '@') : NULL;
    const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
    if (at && colon && colon < at && !memchr(scheme + 3, '/', (size_t)(at - scheme - 3))) {
        snprintf(out, cap, "%.*s***%s", (int)(colon - arg + 1), arg, at);
        return;
    }
    snprintf(out, cap, "%s", arg);
}

/* "volley run ARGS" for results.json and the report's header, each
 * argument quoted for a shell when it needs it, secrets masked. */
static void command_line(int argc, char **argv, char *out, size_t cap)
{
    size_t len = (size_t)snprintf(out, cap, "volley");
    for (int i = 0; i < argc && len < cap; i++) {
        char a[1024];
        mask_arg(i ? argv[i - 1] : NULL, argv[i], a, sizeof a);
        bool plain = a[0] && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789-_./:=,@%+") == strlen(a);
        len += (size_t)snprintf(out + len, cap - len, plain ? " %s" : " '%s'", a);
    }
}

int cmd_run(int argc, char **argv)
{
    static plan p; /* large (endpoints); one per process */
    static session_config sc;
    static run_opts o;
    plan_init(&p);
    memset(&sc, 0, sizeof sc);
    memset(&o, 0, sizeof o);
    sc.who = "volley run";
    static char command[1024];
    command_line(argc, argv, command, sizeof command);
    sc.command = command;
    o.s = &sc;
    err e = {0};
    lua_plan_shape shape;
    int rc = parse_args(&p, &o, argc, argv, &e);
    if (rc == 'h' || rc == OPT_HELP_MARKDOWN) {
        if (rc == 'h')
            usage(stdout);
        else
            flags_print_markdown(stdout, run_flags, NFLAGS);
        plan_free(&p);
        return 0;
    }
    bool script = !rc && is_script(&o, argc, argv);
    if (!rc)
        rc = check_modes(&o, script, &e);
    if (!rc && o.wrk_script)
        rc = finish_wrk(&p, &o, argc, argv, &e);
    if (!rc)
        rc = client_flags(&p, &o, script, &e);
    if (!rc)
        rc = script ? finish_script(&p, &o, &shape, &e) : finish_flags(&p, &o, argc, argv, &e);
    if (!rc)
        rc = add_outputs(&o, &p, &e);
    int code;
    if (rc) {
        fprintf(stderr, "volley run: %s\n", e.msg);
        code = EXIT_USAGE;
    } else {
        code = session_run(&sc, &p, !script ? NULL : o.wrk_script ? o.wrk_script : argv[optind]);
    }
    plan_free(&p);
    chart_shutdown();
    return code;
}
