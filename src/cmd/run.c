/* run: `volley run URL [options]` - flags into a plan, the engine runs it,
 * then the summary, the output files and the exit code. Live progress is
 * drawn here from what the engine reports. */
#include "cmd/cmd.h"

#include "core/clock.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/parse.h"
#include "load/engine.h"
#include "load/openapi.h"
#include "load/plan.h"
#include "load/worker.h"
#include "metrics/metrics.h"
#include "metrics/threshold.h"
#include "monitor/proc.h"
#include "report/summary.h"
#include "results/csv.h"
#include "results/results_read.h"
#include "script/script.h"
#include "results/results_json.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t interrupts;

static void on_signal(int sig)
{
    (void)sig;
    interrupts++;
}

static void usage(FILE *f)
{
    fputs("usage: volley run URL [options]\n"
          "       volley run --endpoint NAME=URL [--endpoint NAME=URL ...] [options]\n"
          "\n"
          "Closed model (default): -c connections, each sends its next request when the\n"
          "previous response is complete; latency runs from when it was ready.\n"
          "Open model (--rate, --rates, or --stages with --executor ramping-arrival-rate):\n"
          "requests start on a fixed schedule; latency runs from the scheduled time, so\n"
          "a stalled server shows in the percentiles (no coordinated omission).\n"
          "\n"
          "load:\n"
          "  -c, --connections N      closed model: concurrent connections/VUs (default 50)\n"
          "  -r, --rate R             open model: R requests per second\n"
          "      --stages T:D,...     ramp linearly to target T over D, stage after stage\n"
          "                           (VUs in the closed model, req/s in the open model)\n"
          "      --hold D             hold each stage's target for D before the next\n"
          "      --executor NAME      constant-vus | ramping-vus | constant-arrival-rate |\n"
          "                           ramping-arrival-rate (default: from the flags above)\n"
          "  -d, --duration D         how long to send (default 10s; ms, s, m, h)\n"
          "  -n, --requests N         exactly N requests per scenario (alone: until done)\n"
          "  -t, --threads N          worker threads (default: number of cores)\n"
          "      --max-connections N  open model: connection pool cap (default: rate/10, >= 64)\n"
          "      --max-backlog N      open model: iterations that may wait for a connection\n"
          "                           (default: one second of arrivals); beyond: dropped\n"
          "      --warmup D           run the load for D first; its results are discarded\n"
          "      --rates R1,R2,...    sweep: one -d long step per rate (open model)\n"
          "      --cooldown D         pause between sweep steps\n"
          "      --segment K/N        run only segment K of N of the schedule (split a run\n"
          "                           over N processes or machines; merge the results)\n"
          "endpoints:\n"
          "      --endpoint NAME=URL  add an endpoint (repeatable); also NAME=METHOD URL\n"
          "      --targets FILE       endpoints from a vegeta-style targets file\n"
          "      --mode M             per-endpoint (default: each endpoint gets the full load)\n"
          "                           or mixed (one load spread over endpoints by weight)\n"
          "      --weight NAME=W      weight of an endpoint in mixed mode (default 1)\n"
          "      --filter PREFIX      keep endpoints whose path starts with PREFIX\n"
          "request:\n"
          "  -m, --method M           HTTP method (default GET)\n"
          "  -H, --header 'K: V'      add a request header (repeatable)\n"
          "  -b, --body TEXT          request body\n"
          "      --body-file FILE     request body from a file\n"
          "      --no-keepalive       a new connection for every request\n"
          "tls (https:// URLs; certificates are verified unless --insecure):\n"
          "      --insecure           do not verify the server's certificate or name\n"
          "      --cacert FILE        trust the CA certificates in FILE (PEM)\n"
          "      --cert FILE          client certificate (PEM), with --key FILE\n"
          "limits:\n"
          "      --timeout D          per request, from its intended start (default 30s)\n"
          "      --connect-timeout D  connect timeout (default 10s)\n"
          "      --grace D            wait for in-flight requests at the end (default 5s)\n"
          "      --max-header-size S  largest response header block (default 64k)\n"
          "      --ok-status LIST     expected statuses, e.g. 200-299,404 (default 200-399);\n"
          "                           a request fails if it got no complete response or\n"
          "                           a status outside LIST (errors, errors<1% count these)\n"
          "CI gate:\n"
          "      --threshold EXPR     pass/fail criterion, repeatable: p(99)<50ms, avg<10ms,\n"
          "                           max<1s, rate>=1000, errors<1%, ttfb:p(95)<20ms,\n"
          "                           endpoint=NAME:p(99)<50ms; exit code 99 if any fails\n"
          "      --abort-on-fail      stop as soon as a threshold fails (checked each second)\n"
          "      --baseline FILE      compare this run with a saved results.json (see\n"
          "                           volley compare); --fail-if EXPR exits 99 on a\n"
          "                           regression beyond EXPR, e.g. 'p(99)>+10%'\n"
          "      --save-baseline FILE save this run's results.json as FILE too\n"
          "server under test:\n"
          "      --monitor-pid PID    sample CPU and RSS of PID and its children every 500ms\n"
          "      --exec 'CMD'         start CMD, wait until the URL answers, load it, stop it\n"
          "      --openapi URL|FILE   load the GET (and example-body POST) operations of an\n"
          "                           OpenAPI 3 document as endpoints (honours --filter)\n"
          "output:\n"
          "      --out DIR            where to write results (default\n"
          "                           volley-results/<timestamp>[-label])\n"
          "      --label TEXT         a name for the run (in the directory and results)\n"
          "      --no-save            write no files\n"
          "      --raw                also write requests.csv (one row per request)\n"
          "      --json               print results JSON to stdout (summary to stderr)\n"
          "  -e, --env KEY=VALUE      a parameter for a Lua script (ENV.KEY), repeatable\n"
          "  -q, --quiet              no progress and no summary\n"
          "  -h, --help               this help\n"
          "\n"
          "Ctrl-C stops the load, waits up to --grace for in-flight requests and still\n"
          "writes the results; a second Ctrl-C stops at once.\n",
          f);
}

enum {
    OPT_BODY_FILE = 256,
    OPT_TIMEOUT,
    OPT_CONNECT_TIMEOUT,
    OPT_NO_KEEPALIVE,
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
    OPT_RAW,
    OPT_THRESHOLD,
    OPT_ABORT_ON_FAIL,
    OPT_MONITOR_PID,
    OPT_EXEC,
    OPT_OPENAPI,
    OPT_BASELINE,
    OPT_SAVE_BASELINE,
    OPT_FAIL_IF,
    OPT_INSECURE,
    OPT_CACERT,
    OPT_CERT,
    OPT_KEY,
    OPT_OK_STATUS,
};

#define MAX_ENV 128

static const struct option long_opts[] = {
    {"connections", required_argument, NULL, 'c'},
    {"rate", required_argument, NULL, 'r'},
    {"duration", required_argument, NULL, 'd'},
    {"requests", required_argument, NULL, 'n'},
    {"threads", required_argument, NULL, 't'},
    {"method", required_argument, NULL, 'm'},
    {"header", required_argument, NULL, 'H'},
    {"body", required_argument, NULL, 'b'},
    {"body-file", required_argument, NULL, OPT_BODY_FILE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"no-keepalive", no_argument, NULL, OPT_NO_KEEPALIVE},
    {"out", required_argument, NULL, OPT_OUT},
    {"json", no_argument, NULL, OPT_JSON},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"max-header-size", required_argument, NULL, OPT_MAX_HEADER},
    {"stages", required_argument, NULL, OPT_STAGES},
    {"hold", required_argument, NULL, OPT_HOLD},
    {"executor", required_argument, NULL, OPT_EXECUTOR},
    {"max-connections", required_argument, NULL, OPT_MAX_CONN},
    {"max-backlog", required_argument, NULL, OPT_MAX_BACKLOG},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"rates", required_argument, NULL, OPT_RATES},
    {"cooldown", required_argument, NULL, OPT_COOLDOWN},
    {"segment", required_argument, NULL, OPT_SEGMENT},
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"targets", required_argument, NULL, OPT_TARGETS},
    {"mode", required_argument, NULL, OPT_MODE},
    {"weight", required_argument, NULL, OPT_WEIGHT},
    {"filter", required_argument, NULL, OPT_FILTER},
    {"label", required_argument, NULL, OPT_LABEL},
    {"no-save", no_argument, NULL, OPT_NO_SAVE},
    {"raw", no_argument, NULL, OPT_RAW},
    {"threshold", required_argument, NULL, OPT_THRESHOLD},
    {"abort-on-fail", no_argument, NULL, OPT_ABORT_ON_FAIL},
    {"monitor-pid", required_argument, NULL, OPT_MONITOR_PID},
    {"exec", required_argument, NULL, OPT_EXEC},
    {"openapi", required_argument, NULL, OPT_OPENAPI},
    {"baseline", required_argument, NULL, OPT_BASELINE},
    {"save-baseline", required_argument, NULL, OPT_SAVE_BASELINE},
    {"fail-if", required_argument, NULL, OPT_FAIL_IF},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"ok-status", required_argument, NULL, OPT_OK_STATUS},
    {"env", required_argument, NULL, 'e'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Flags whose meaning depends on others are kept and resolved at the end. */
typedef struct run_opts {
    const char *out_dir;
    bool json, quiet, no_save, raw_csv;
    bool duration_set, conns_set, rate_set;
    const char *stages, *executor, *filter;
    const char *weights[PLAN_MAX_ENDPOINTS];
    size_t nweights;
    uint64_t hold_ns;
    threshold thresholds[64];
    size_t nthresholds;
    bool abort_on_fail;
    int monitor_pid;
    const char *exec_cmd;
    const char *openapi;
    const char *baseline, *save_baseline;
    const char *env[MAX_ENV];
    size_t nenv;
    compare_opts cmp;
    uint32_t conns;
    double rate;
    uint64_t duration_ns;
    const char *ok_status_text; /* --ok-status; NULL: the default 200-399 */
    metrics_status_set ok_status;
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
    unsigned k, n;
    char extra;
    if (sscanf(s, "%u/%u%c", &k, &n, &extra) != 2 || n == 0 || k == 0 || k > n)
        return err_set(e, VOLLEY_EINVAL, "--segment: '%s' is not K/N with 1 <= K <= N", s);
    p->segment_k = k;
    p->segment_n = n;
    return 0;
}

static int positive_duration(const char *arg, const char *what, uint64_t *out, err *e)
{
    int rc = parse_duration_ns(arg, what, out, e);
    if (!rc && !*out)
        rc = err_set(e, VOLLEY_EINVAL, "%s: must be more than 0", what);
    return rc;
}

static int parse_flag(plan *p, run_opts *o, int c, const char *arg, err *e)
{
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
    case 't':
        if (!(rc = parse_u64(arg, "--threads", 1, 1024, &v, e)))
            p->threads = (uint32_t)v;
        return rc;
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
    case OPT_OK_STATUS:
        o->ok_status_text = arg;
        return metrics_status_set_parse(&o->ok_status, arg, "--ok-status", e);
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
    case OPT_MAX_HEADER:
        if (!(rc = parse_size_bytes(arg, "--max-header-size", &v, e)) && v < 256)
            rc = err_set(e, VOLLEY_EINVAL, "--max-header-size: at least 256 bytes");
        p->max_header_bytes = v;
        return rc;
    case OPT_NO_KEEPALIVE:
        p->keepalive = false;
        return 0;
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
        return parse_segment(p, arg, e);
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
        o->no_save = true;
        return 0;
    case OPT_RAW:
        p->raw = true;
        o->raw_csv = true;
        return 0;
    case OPT_THRESHOLD:
        if (o->nthresholds == sizeof o->thresholds / sizeof o->thresholds[0])
            return err_set(e, VOLLEY_EINVAL, "--threshold: too many");
        return threshold_parse(arg, &o->thresholds[o->nthresholds++], e);
    case OPT_ABORT_ON_FAIL:
        o->abort_on_fail = true;
        return 0;
    case OPT_MONITOR_PID:
        if (!(rc = parse_u64(arg, "--monitor-pid", 1, 4194304, &v, e)))
            o->monitor_pid = (int)v;
        return rc;
    case OPT_EXEC:
        if (!*arg)
            return err_set(e, VOLLEY_EINVAL, "--exec: empty command");
        o->exec_cmd = arg;
        return 0;
    case OPT_OPENAPI:
        o->openapi = arg;
        return 0;
    case OPT_INSECURE:
        p->tls_opts.insecure = true;
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
        o->baseline = arg;
        return 0;
    case OPT_SAVE_BASELINE:
        o->save_baseline = arg;
        return 0;
    case OPT_FAIL_IF:
        if (o->cmp.ngates == sizeof o->cmp.gates / sizeof o->cmp.gates[0])
            return err_set(e, VOLLEY_EINVAL, "--fail-if: too many");
        return compare_gate_parse(arg, &o->cmp.gates[o->cmp.ngates++], e);
    case OPT_OUT:
        o->out_dir = arg;
        return 0;
    case OPT_JSON:
        o->json = true;
        return 0;
    case 'e':
        if (!strchr(arg, '=') || arg[0] == '=')
            return err_set(e, VOLLEY_EINVAL, "--env: '%s' is not KEY=VALUE", arg);
        if (o->nenv == MAX_ENV)
            return err_set(e, VOLLEY_EINVAL, "--env: more than %d", MAX_ENV);
        o->env[o->nenv++] = arg;
        return 0;
    case 'q':
        o->quiet = true;
        return 0;
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
        int rc = executor_parse_stages(x, o->stages, o->hold_ns, e);
        if (rc)
            return rc;
        if (o->duration_set)
            return err_set(e, VOLLEY_EINVAL, "--duration: not used with --stages (their durations add up)");
        if (kind == EXEC_RAMPING_RATE && o->conns_set && !p->max_connections)
            p->max_connections = o->conns;
        if (kind == EXEC_RAMPING_VUS && o->rate_set)
            return err_set(e, VOLLEY_EINVAL, "--rate: not used by ramping-vus");
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

/* ---- progress ---- */

struct progress_state;
struct live_check;
struct sut;
typedef struct run_ctx {
    struct progress_state *ps;
    struct live_check *lc;
    struct sut *server;
} run_ctx;

typedef struct progress_state {
    FILE *f;
    bool tty;
    unsigned calls;
    size_t last_len;
} progress_state;

static void on_progress(void *ctx, const engine_progress *pr)
{
    progress_state *ps = ((run_ctx *)ctx)->ps;
    ps->calls++;
    /* Plain output gets one line a second, a terminal four refreshes. */
    if (!ps->tty && (ps->calls % 4 != 0 || pr->stopping))
        return;
    char el[16], tot[32], p50[16] = "-", p99[16] = "-", pre[48] = "", rate[48] = "";
    snprintf(el, sizeof el, "%.1fs", (double)pr->elapsed_ns / NS_PER_S);
    if (pr->total_ns)
        snprintf(tot, sizeof tot, "/%.0fs", (double)pr->total_ns / NS_PER_S);
    else
        snprintf(tot, sizeof tot, "/%llu req", (unsigned long long)pr->planned_requests);
    if (pr->have_second) {
        parse_format_duration(pr->last_p50_ns, p50, sizeof p50);
        parse_format_duration(pr->last_p99_ns, p99, sizeof p99);
    }
    if (pr->warmup)
        snprintf(pre, sizeof pre, "warm-up ");
    else if (pr->nsteps)
        snprintf(pre, sizeof pre, "step %u/%u ", pr->step + 1, pr->nsteps);
    if (pr->target_rps > 0)
        snprintf(rate, sizeof rate, "/%.0f", pr->target_rps);
    char line[320];
    int n = snprintf(line, sizeof line,
                     "[%s%s%s] requests %llu  rps %.0f%s  errors %llu  p50 %s  p99 %s  conns %u%s",
                     pre, el, tot, (unsigned long long)pr->requests, pr->last_rps, rate,
                     (unsigned long long)pr->errors, p50, p99, pr->active,
                     pr->stopping ? "  (stopping)" : "");
    if (ps->tty) {
        size_t len = (size_t)(n < 0 ? 0 : n);
        fprintf(ps->f, "\r%s", line);
        for (size_t i = len; i < ps->last_len; i++)
            fputc(' ', ps->f);
        ps->last_len = len;
    } else {
        fprintf(ps->f, "%s\n", line);
    }
    fflush(ps->f);
}

/* ---- outputs ---- */

typedef struct raw_writer {
    FILE *f;
    const plan *p;
    uint64_t rows;
} raw_writer;

static void ms3(FILE *f, uint64_t ns)
{
    fprintf(f, "%llu.%03llu", (unsigned long long)(ns / NS_PER_MS),
            (unsigned long long)(ns % NS_PER_MS / NS_PER_US));
}

static void on_raw(void *ctx, const worker_raw *r)
{
    raw_writer *rw = ctx;
    FILE *f = rw->f;
    ms3(f, r->intended_ns);
    fprintf(f, ",%u,%s,%u,", (unsigned)r->step, rw->p->eps[r->ep].name, (unsigned)r->status);
    ms3(f, r->latency_ns);
    fputc(',', f);
    ms3(f, r->service_ns);
    fputc(',', f);
    ms3(f, r->ttfb_ns);
    fprintf(f, ",%llu,%llu,%s\n", (unsigned long long)r->bytes_in,
            (unsigned long long)r->bytes_out,
            r->err >= 0 ? metrics_err_kind_name((err_kind)r->err) : "");
    rw->rows++;
}

static int mkdir_p(const char *dir, err *e)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp)
        return err_set(e, VOLLEY_EINVAL, "--out: path too long");
    for (char *q = tmp + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = 0;
        if (mkdir(tmp, 0777) && errno != EEXIST)
            return err_sys(e, "--out: cannot create '%s'", tmp);
        *q = '/';
    }
    if (mkdir(tmp, 0777) && errno != EEXIST)
        return err_sys(e, "--out: cannot create '%s'", tmp);
    return 0;
}

static void default_out_dir(const plan *p, char *out, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
    snprintf(out, cap, "volley-results/%s%s%s", ts, p->label[0] ? "-" : "", p->label);
}

static int script_extra(json_t *root, const void *ctx)
{
    return ctx ? script_results_json(ctx, root) : 0;
}

static int write_outputs(const results *r, const run_opts *o, const char *dir,
                         const script_results *sres, err *e)
{
    FILE *info = o->json ? stderr : stdout;
    if (dir) {
        char path[4400];
        snprintf(path, sizeof path, "%s/results.json", dir);
        int rc = results_json_write_ext(r, path, script_extra, sres, e);
        if (rc)
            return rc;
        snprintf(path, sizeof path, "%s/summary.csv", dir);
        if ((rc = csv_write_summary(r, path, e)))
            return rc;
        if (!o->quiet)
            fprintf(info, "  results: %s/results.json, summary.csv%s\n", dir,
                    o->raw_csv ? ", requests.csv" : "");
    }
    if (o->json) {
        char *s = results_json_dump_ext(r, script_extra, sres, e);
        if (!s)
            return VOLLEY_ENOMEM;
        puts(s);
        free(s);
    }
    return 0;
}

static int finish_flags(plan *p, run_opts *o, int argc, char **argv, err *e)
{
    if (optind < argc - 1)
        return err_set(e, VOLLEY_EINVAL, "expected one URL, got extra argument '%s'", argv[optind + 1]);
    if (o->openapi) {
        /* With --openapi the URL argument, if any, is the base of the paths. */
        int n = openapi_load(p, o->openapi, optind == argc - 1 ? argv[optind] : NULL, e);
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
    if (o->monitor_pid && o->exec_cmd)
        return err_set(e, VOLLEY_EINVAL, "--monitor-pid and --exec: give one of them");
    for (size_t i = 0; i < o->nthresholds; i++) {
        bool found = !o->thresholds[i].endpoint[0];
        for (size_t k = 0; k < p->neps && !found; k++)
            found = !strcmp(p->eps[k].name, o->thresholds[i].endpoint);
        if (!found)
            return err_set(e, VOLLEY_EINVAL, "--threshold '%s': no endpoint named '%s'",
                           o->thresholds[i].expr, o->thresholds[i].endpoint);
    }
    return plan_compile(p, e);
}

/* ---- --abort-on-fail: thresholds on the seconds collected so far ---- */

typedef struct live_check {
    const run_opts *o;
    metrics_totals tot;
    hist *latency;
    uint64_t seconds;
    bool failed;
    char why[300];
} live_check;

static bool on_second(void *ctx, const series_row *row, const hist *latency)
{
    live_check *lc = ((run_ctx *)ctx)->lc;
    if (!lc->latency || lc->failed)
        return false;
    lc->tot.requests += row->requests;
    lc->tot.responses += row->responses;
    lc->tot.errors += row->errors;
    lc->tot.transport_errors += row->transport_errors;
    lc->tot.dropped += row->dropped;
    lc->seconds++;
    hist_merge(lc->latency, latency);
    threshold_input in = {.tot = &lc->tot, .elapsed_ns = lc->seconds * NS_PER_S};
    in.dist[METRICS_DIST_LATENCY] = lc->latency;
    for (size_t i = 0; i < lc->o->nthresholds; i++) {
        const threshold *t = &lc->o->thresholds[i];
        /* Only whole-run latency and count thresholds are judged live; the
         * rest wait for the end. A rate needs a full second to mean much. */
        if (t->endpoint[0] || !threshold_live(t))
            continue;
        double a = threshold_actual(t, &in);
        if (!threshold_check(t, a)) {
            char v[32];
            threshold_format_actual(t, a, v, sizeof v);
            snprintf(lc->why, sizeof lc->why, "threshold '%s' failed after %llus (%s)", t->expr,
                     (unsigned long long)lc->seconds, v);
            lc->failed = true;
            return true;
        }
    }
    return false;
}

/* ---- the server under test ---- */

typedef struct sut {
    pid_t exec_pid;
    monitor *mon;
} sut;

static void on_measure_start(void *ctx)
{
    sut *s = ((run_ctx *)ctx)->server;
    monitor_mark(s->mon);
}

/* Waits until the first endpoint accepts a connection and answers. */
static int wait_answering(const plan *p, pid_t pid, err *e)
{
    const addr *a = &p->targets[p->eps[0].target_idx];
    uint64_t deadline = clock_now_ns() + 15 * NS_PER_S;
    while (clock_now_ns() < deadline) {
        if (!proc_alive(pid))
            return err_set(e, VOLLEY_EINVAL, "--exec: the command exited before %s answered",
                           p->eps[0].url_text);
        int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (const struct sockaddr *)&a->sa, a->len) == 0) {
            const buf *req = &p->eps[0].request;
            char tmp[16];
            struct timeval tv = {.tv_sec = 2};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            if (send(fd, req->data, req->len, MSG_NOSIGNAL) == (ssize_t)req->len &&
                read(fd, tmp, sizeof tmp) > 0) {
                close(fd);
                return 0;
            }
        }
        if (fd >= 0)
            close(fd);
        clock_sleep_ns(50 * NS_PER_MS);
    }
    return err_set(e, VOLLEY_EINVAL, "--exec: %s did not answer within 15s", p->eps[0].url_text);
}

static int sut_start(sut *s, const run_opts *o, const plan *p, err *e)
{
    if (o->exec_cmd) {
        s->exec_pid = proc_spawn(o->exec_cmd, e);
        if (s->exec_pid < 0)
            return VOLLEY_ESYS;
        int rc = wait_answering(p, s->exec_pid, e);
        if (rc)
            return rc;
    }
    int pid = o->monitor_pid ? o->monitor_pid : s->exec_pid;
    if (pid) {
        s->mon = monitor_start(pid, 0.5, e);
        if (!s->mon)
            return VOLLEY_EINVAL;
    }
    return 0;
}

static void sut_stop(sut *s, const run_opts *o, results *r)
{
    if (s->mon) {
        if (r)
            snprintf(r->monitor.command, sizeof r->monitor.command, "%s",
                     o->exec_cmd ? o->exec_cmd : "");
        results_monitor tmp = {0};
        monitor_stop(s->mon, r ? &r->monitor : &tmp);
        free(tmp.samples);
        s->mon = NULL;
    }
    if (s->exec_pid > 0) {
        proc_stop(s->exec_pid, 5000);
        s->exec_pid = 0;
    }
}

/* k6 thresholds of a script's options, in volley's terms where they map:
 * http_req_duration -> latency (bare numbers are ms, as in k6),
 * http_req_failed -> errors, checks -> the pass rate of all checks. */
static void script_thresholds(const script_results *sr, results *r, bool *failed)
{
    for (size_t i = 0; i < sr->nthresholds; i++) {
        const script_threshold *t = &sr->thresholds[i];
        char expr[512];
        err e = {0};
        threshold th;
        bool ok = false, known = true;
        char actual[32] = "";
        if (!strcmp(t->metric, "checks")) {
            uint64_t pass = 0, all = 0;
            for (size_t k = 0; k < sr->nchecks; k++) {
                pass += sr->checks[k].passes;
                all += sr->checks[k].passes + sr->checks[k].fails;
            }
            double rate = all ? (double)pass / (double)all : 0, v;
            char op[3] = "";
            if (sscanf(t->expr, "rate%2[<>=!]%lf", op, &v) == 2) {
                ok = !strcmp(op, ">") ? rate > v : !strcmp(op, ">=") ? rate >= v
                   : !strcmp(op, "<") ? rate < v : !strcmp(op, "<=") ? rate <= v : rate == v;
                snprintf(actual, sizeof actual, "%.4f", rate);
            } else {
                known = false;
            }
            snprintf(expr, sizeof expr, "checks:%s", t->expr);
        } else if (!strcmp(t->metric, "http_req_duration") || !strcmp(t->metric, "http_req_failed")) {
            bool dur = t->metric[9] == 'd';
            const char *x = t->expr;
            size_t n = strlen(x);
            bool bare = n && (x[n - 1] >= '0' && x[n - 1] <= '9');
            if (dur)
                snprintf(expr, sizeof expr, "%s%s", x, bare ? "ms" : "");
            else if (!strncmp(x, "rate", 4))
                snprintf(expr, sizeof expr, "errors%s", x + 4);
            else
                snprintf(expr, sizeof expr, "%s", x);
            if (threshold_parse(expr, &th, &e) == 0) {
                threshold_input in = {.tot = &r->st.tot, .elapsed_ns = r->st.elapsed_ns};
                memcpy(in.dist, r->st.dist, sizeof in.dist);
                double a = threshold_actual(&th, &in);
                ok = threshold_check(&th, a);
                threshold_format_actual(&th, a, actual, sizeof actual);
            } else {
                known = false;
            }
        } else {
            known = false;
            snprintf(expr, sizeof expr, "%s:%s", t->metric, t->expr);
        }
        if (!known) {
            log_warn("threshold %s: %s is not evaluated by volley", t->metric, t->expr);
            continue;
        }
        results_threshold *v = realloc(r->thresholds, (r->nthresholds + 1) * sizeof *v);
        if (!v)
            return;
        r->thresholds = v;
        v = &r->thresholds[r->nthresholds++];
        snprintf(v->expr, sizeof v->expr, "%.255s", expr);
        v->ok = ok;
        snprintf(v->actual_text, sizeof v->actual_text, "%s", actual);
        *failed |= !ok;
    }
}

/* `volley run flow.lua`: virtual-user flows (script/). */
static int run_script(const char *path, plan *p, run_opts *o)
{
    err e = {0};
    char dir[4200] = "";
    int rc = 0;
    if (!o->no_save) {
        if (o->out_dir)
            snprintf(dir, sizeof dir, "%s", o->out_dir);
        else
            default_out_dir(p, dir, sizeof dir);
        rc = mkdir_p(dir, &e);
    }
    tls_client_ctx *tls = NULL;
    if (!rc && !(tls = tls_client_ctx_new(&p->tls_opts, &e)))
        rc = e.code ? e.code : VOLLEY_EINVAL;
    if (rc) {
        fprintf(stderr, "volley run: %s\n", e.msg);
        return EXIT_USAGE;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    progress_state ps = {.f = o->json ? stderr : stdout};
    ps.tty = isatty(fileno(ps.f));
    run_ctx ctx = {.ps = &ps};
    engine_options eo = {.progress = o->quiet ? NULL : on_progress, .ctx = &ctx,
                         .interrupts = &interrupts,
                         .ok_status = o->ok_status_text ? &o->ok_status : NULL};
    script_results *sres = NULL;
    script_opts so = {.env = o->env, .nenv = o->nenv, .threads = p->threads,
                      .out_dir = o->no_save ? NULL : dir, .quiet = o->quiet, .res = &sres,
                      .tls = tls};
    results r;
    rc = script_run(path, &so, &eo, &r, &e);
    if (ps.tty && ps.last_len)
        fputc('\n', ps.f);
    if (rc) {
        fprintf(stderr, "volley run: %s\n", e.msg);
        tls_client_ctx_free(tls);
        script_results_free(sres);
        return rc == VOLLEY_EINVAL || rc == VOLLEY_EPARSE ? EXIT_USAGE : 1;
    }
    snprintf(r.plan.ok_status, sizeof r.plan.ok_status, "%s",
             o->ok_status_text ? o->ok_status_text : "");
    int exit_code = 0;
    bool failed = false;
    if (o->nthresholds && results_eval_thresholds(&r, o->thresholds, o->nthresholds, &e) < 0) {
        fprintf(stderr, "volley run: %s\n", e.msg);
        exit_code = 1;
    }
    if (sres)
        script_thresholds(sres, &r, &failed);
    FILE *f = o->json ? stderr : stdout;
    if (!o->quiet) {
        summary_print(f, &r);
        if (sres)
            script_summary_print(f, sres);
    }
    if (write_outputs(&r, o, o->no_save ? NULL : dir, sres, &e)) {
        fprintf(stderr, "volley run: %s\n", e.msg);
        exit_code = 1;
    }
    if (r.interrupted)
        exit_code = 130;
    else if (!exit_code && !results_thresholds_ok(&r))
        exit_code = EXIT_THRESHOLDS;
    if (r.warning[0])
        log_warn("%s", r.warning);
    script_results_free(sres);
    results_free(&r);
    tls_client_ctx_free(tls);
    return exit_code;
}

int cmd_run(int argc, char **argv)
{
    static plan p; /* large (endpoints); one per process */
    plan_init(&p);
    run_opts o = {0};
    err e = {0};
    int c, rc = 0;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":c:r:d:n:t:m:H:b:e:qh", long_opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            plan_free(&p);
            return 0;
        }
        if (c == '?' || c == ':') {
            const char *bad = argv[optind - 1];
            fprintf(stderr, "volley run: %s '%s'\n",
                    c == ':' ? "missing value for option" : "unknown option", bad);
            fprintf(stderr, "try 'volley run --help'\n");
            plan_free(&p);
            return EXIT_USAGE;
        }
        if ((rc = parse_flag(&p, &o, c, optarg, &e)))
            break;
    }
    if (!rc && optind == argc - 1 && strlen(argv[optind]) > 4 &&
        !strcmp(argv[optind] + strlen(argv[optind]) - 4, ".lua")) {
        int src = run_script(argv[optind], &p, &o);
        plan_free(&p);
        return src;
    }
    if (!rc)
        rc = finish_flags(&p, &o, argc, argv, &e);
    static results base;
    bool have_base = false;
    if (!rc && o.cmp.ngates && !o.baseline)
        rc = err_set(&e, VOLLEY_EINVAL, "--fail-if: needs --baseline FILE");
    if (!rc && o.baseline) {
        /* Read before any load: a bad baseline must not cost a run. */
        rc = results_json_read(o.baseline, &base, &e);
        have_base = rc == 0;
    }
    char dir[4200] = "";
    if (!rc && !o.no_save) {
        if (o.out_dir)
            snprintf(dir, sizeof dir, "%s", o.out_dir);
        else
            default_out_dir(&p, dir, sizeof dir);
        rc = mkdir_p(dir, &e);
    }
    raw_writer rw = {.p = &p};
    if (!rc && p.raw) {
        if (o.no_save)
            rc = err_set(&e, VOLLEY_EINVAL, "--raw: needs an output directory (drop --no-save)");
        char path[4400];
        snprintf(path, sizeof path, "%s/requests.csv", dir);
        if (!rc && !(rw.f = fopen(path, "w")))
            rc = err_sys(&e, "--raw: cannot write '%s'", path);
        if (rw.f) {
            setvbuf(rw.f, NULL, _IOFBF, 1 << 20);
            fputs("offset_ms,step,endpoint,status,latency_ms,service_ms,ttfb_ms,bytes_in,bytes_out,error\n",
                  rw.f);
        }
    }
    if (rc) {
        fprintf(stderr, "volley run: %s\n", e.msg);
        if (rw.f)
            fclose(rw.f);
        if (have_base)
            results_free(&base);
        plan_free(&p);
        return EXIT_USAGE;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* Many connections need many descriptors: take the hard limit, as a
     * load generator should, before anything is opened. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sut server = {0};
    if (sut_start(&server, &o, &p, &e)) {
        fprintf(stderr, "volley run: %s\n", e.msg);
        sut_stop(&server, &o, NULL);
        if (rw.f)
            fclose(rw.f);
        plan_free(&p);
        return EXIT_USAGE;
    }
    progress_state ps = {.f = o.json ? stderr : stdout};
    ps.tty = isatty(fileno(ps.f));
    live_check lc = {.o = &o, .latency = o.abort_on_fail ? hist_new() : NULL};
    engine_options eo = {.progress = o.quiet ? NULL : on_progress, .ctx = &ps,
                         .interrupts = &interrupts, .raw = on_raw, .raw_ctx = &rw,
                         .on_second = o.abort_on_fail ? on_second : NULL,
                         .on_measure_start = on_measure_start,
                         .ok_status = o.ok_status_text ? &o.ok_status : NULL};
    /* Both callbacks share one context: the engine passes eo.ctx. */
    run_ctx rc_ctx = {.ps = &ps, .lc = &lc, .server = &server};
    eo.ctx = &rc_ctx;
    results r;
    rc = engine_run(&p, &eo, &r, &e);
    sut_stop(&server, &o, rc ? NULL : &r);
    hist_free(lc.latency);
    if (ps.tty && ps.last_len)
        fputc('\n', ps.f);
    int exit_code = 0;
    if (rw.f && fclose(rw.f) != 0) {
        fprintf(stderr, "volley run: --raw: error writing requests.csv: %s\n", strerror(errno));
        exit_code = 1;
    }
    if (rc) {
        fprintf(stderr, "volley run: %s\n", e.msg);
        results_free(&r);
        plan_free(&p);
        return 1;
    }
    r.thresholds_aborted = lc.failed;
    snprintf(r.plan.ok_status, sizeof r.plan.ok_status, "%s",
             o.ok_status_text ? o.ok_status_text : "");
    if (o.nthresholds && results_eval_thresholds(&r, o.thresholds, o.nthresholds, &e) < 0) {
        fprintf(stderr, "volley run: %s\n", e.msg);
        exit_code = 1;
    }
    if (!o.quiet)
        summary_print(o.json ? stderr : stdout, &r);
    if (lc.failed && !o.quiet)
        fprintf(o.json ? stderr : stdout, "  aborted: %s\n", lc.why);
    if (r.interrupted)
        exit_code = 130;
    else if (!results_thresholds_ok(&r))
        exit_code = EXIT_THRESHOLDS;
    if (write_outputs(&r, &o, o.no_save ? NULL : dir, NULL, &e)) {
        fprintf(stderr, "volley run: %s\n", e.msg);
        exit_code = 1;
    }
    if (o.save_baseline && results_json_write(&r, o.save_baseline, &e)) {
        fprintf(stderr, "volley run: --save-baseline: %s\n", e.msg);
        exit_code = 1;
    }
    if (have_base) {
        o.cmp.out = o.json ? stderr : stdout;
        int crc = compare_and_report(o.baseline, "this run", &base, &r, &o.cmp);
        if (crc && exit_code == 0)
            exit_code = crc;
        results_free(&base);
    }
    if (r.warning[0])
        log_warn("%s", r.warning);
    results_free(&r);
    plan_free(&p);
    return exit_code;
}
