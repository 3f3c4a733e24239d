/* find_max: `volley find-max URL --slo EXPR` - the highest open-model rate at
 * which the target meets its SLO. load/search picks each step's rate, the
 * engine runs it as a constant-arrival-rate plan, the SLO is judged with
 * metrics/threshold; then the step table, the chart (report/chart_search)
 * and results.json with a "search" block (docs/capacity.md). */
#include "cmd/cmd.h"

#include "core/clock.h"
#include "core/parse.h"
#include "load/engine.h"
#include "load/plan.h"
#include "load/search.h"
#include "load/segment.h"
#include "metrics/threshold.h"
#include "monitor/selfmon.h"
#include "net/tls.h"
#include "script/script.h"
#include "report/chart.h"
#include "report/chart_search.h"
#include "results/results_json.h"
#include "results/stepsync.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define FM_MAX_SLO 32
#define FM_MAX_ENV 64
/* More dropped iterations than this share fail a step (the server did not
 * take the load even if the latency of what it took was fine). */
#define FM_DROP_LIMIT 0.01
/* --segment: the next step starts this long after the last segment wrote
 * its result (beside --cooldown), so every segment has read it by then. */
#define FM_SYNC_SLACK_NS (500 * NS_PER_MS)

static volatile sig_atomic_t fm_interrupts;

static void on_signal(int sig)
{
    (void)sig;
    fm_interrupts++;
}

typedef struct fm_opts {
    search_config sc;
    threshold slo[FM_MAX_SLO];
    size_t nslo;
    uint64_t step_min_ns, step_max_ns, cooldown_ns;
    uint64_t absorb_ns;        /* --absorb: excess work a target may hide */
    const char *out_dir;
    const char *script;        /* a Lua script: its arrival rate is ENV.RATE */
    const char *env[FM_MAX_ENV];
    size_t nenv;
    const char *weights[PLAN_MAX_ENDPOINTS];
    size_t nweights;
    bool no_save, json, quiet;
    segment seg;               /* --segment K/N; n == 0: not segmented */
    const char *sync_dir;      /* --sync-dir: where the segments meet */
    uint64_t start_at_ns;      /* --start-at, Unix ns: step 1 of every segment */
    uint64_t sync_timeout_ns;  /* --sync-timeout */
} fm_opts;

static void usage(FILE *f)
{
    fputs("usage: volley find-max URL --slo EXPR[,EXPR...] [options]\n"
          "       volley find-max --endpoint NAME=URL [...] --slo EXPR [options]\n"
          "       volley find-max SCRIPT.lua --slo EXPR [-e KEY=VALUE ...] [options]\n"
          "\n"
          "Searches the highest arrival rate (open model) at which the target meets\n"
          "every SLO expression: exponential probing, then bisection to --precision.\n"
          "Each step runs long enough for its highest SLO percentile to hold at least\n"
          "10/(1-q) samples (p99: 1,000) and for a queue --precision over capacity to\n"
          "break the SLO's latency bound L ((L + --absorb) / (precision x q)), within\n"
          "--step-min..--step-max. Prints every step, the maximum with its margin and\n"
          "the knee (where the median latency starts to rise steeply); writes\n"
          "results.json (with a \"search\" block) and find-max.png.\n"
          "Exit: 0 found, 99 the SLO fails even at the lowest rate, 3 the generator\n"
          "could not reach the rate asked for (the answer is \"at least X\").\n"
          "\n"
          "search:\n"
          "      --slo EXPRS          SLO, --threshold grammar, comma-separated\n"
          "                           (e.g. 'p(99)<50ms,errors<1%'; required; without\n"
          "                           an errors bound, errors<1% is added)\n"
          "      --start-rate R       first probe in req/s (default 100)\n"
          "      --min-rate R         probing down stops below R (default 1)\n"
          "      --max-rate R         probing up stops at R (default 1000000)\n"
          "      --precision P        stop when the bracket is within P (default 5%)\n"
          "      --max-steps N        at most N steps (default 20, at most 64)\n"
          "      --step-min D         shortest step (default 1s)\n"
          "      --step-max D         longest step (default 10s)\n"
          "      --cooldown D         pause between steps (default 1s)\n"
          "      --absorb D           work the target may take on unseen before its queue\n"
          "                           shows in latency (a burst allowance; default 50ms);\n"
          "                           steps last long enough for a rate --precision over\n"
          "                           capacity to push the SLO's latency past its bound\n"
          "      --retries N          run a failing rate again up to N times; it fails\n"
          "                           only if every attempt fails (default 1, max 5)\n"
          "load and request (as in volley run):\n"
          "      --endpoint NAME=URL  add an endpoint (repeatable)\n"
          "      --mode M             per-endpoint (each gets the rate) or mixed\n"
          "      --weight NAME=W      mixed mode weight\n"
          "  -t, --threads N          worker threads (default: number of cores)\n"
          "  -m, --method M           HTTP method (default GET)\n"
          "  -H, --header 'K: V'      add a request header (repeatable)\n"
          "  -b, --body TEXT          request body\n"
          "      --timeout D          per request (default 30s)\n"
          "      --max-connections N  connection pool cap (default: rate/10, >= 64)\n"
          "      --no-keepalive       a new connection for every request\n"
          "output:\n"
          "      --out DIR            where to write (default volley-results/find-max-<time>)\n"
          "      --no-save            write no files\n"
          "      --json               print the search block as JSON to stdout\n"
          "  -e, --env KEY=VALUE      a parameter for a Lua script (ENV.KEY); each step sets\n"
          "                           ENV.RATE and ENV.DURATION, which its arrival-rate\n"
          "                           scenarios read\n"
          "  -q, --quiet              only the result\n"
          "  -h, --help               this help\n"
          "several machines (docs/capacity.md, docs/distributed.md):\n"
          "      --segment K/N|auto   run segment K of N of every step, in lock-step with\n"
          "                           the others (each runs rate/N of the step)\n"
          "      --sync-dir DIR       a folder every segment shares: each writes its step's\n"
          "                           results there and merges all of them before deciding\n"
          "                           the next rate (required with --segment)\n"
          "      --start-at T         common start of step 1: RFC 3339 or Unix seconds\n"
          "                           (required with --segment)\n"
          "      --sync-timeout D     wait at most D for the other segments' step results,\n"
          "                           then exit 1 naming the missing ones (default 60s)\n",
          f);
}

enum {
    FO_SLO = 1000, FO_START, FO_MIN, FO_MAX, FO_PRECISION, FO_STEPS, FO_STEP_MIN,
    FO_STEP_MAX, FO_COOLDOWN, FO_ENDPOINT, FO_MODE, FO_WEIGHT, FO_TIMEOUT, FO_MAXCONN,
    FO_NOKA, FO_OUT, FO_NOSAVE, FO_JSON, FO_SEGMENT, FO_RETRIES, FO_SYNC_DIR, FO_START_AT,
    FO_SYNC_TIMEOUT, FO_ABSORB,
};

static const struct option fm_long[] = {
    {"slo", required_argument, NULL, FO_SLO},
    {"start-rate", required_argument, NULL, FO_START},
    {"min-rate", required_argument, NULL, FO_MIN},
    {"max-rate", required_argument, NULL, FO_MAX},
    {"precision", required_argument, NULL, FO_PRECISION},
    {"max-steps", required_argument, NULL, FO_STEPS},
    {"step-min", required_argument, NULL, FO_STEP_MIN},
    {"step-max", required_argument, NULL, FO_STEP_MAX},
    {"cooldown", required_argument, NULL, FO_COOLDOWN},
    {"absorb", required_argument, NULL, FO_ABSORB},
    {"retries", required_argument, NULL, FO_RETRIES},
    {"endpoint", required_argument, NULL, FO_ENDPOINT},
    {"mode", required_argument, NULL, FO_MODE},
    {"weight", required_argument, NULL, FO_WEIGHT},
    {"threads", required_argument, NULL, 't'},
    {"method", required_argument, NULL, 'm'},
    {"header", required_argument, NULL, 'H'},
    {"body", required_argument, NULL, 'b'},
    {"timeout", required_argument, NULL, FO_TIMEOUT},
    {"max-connections", required_argument, NULL, FO_MAXCONN},
    {"no-keepalive", no_argument, NULL, FO_NOKA},
    {"out", required_argument, NULL, FO_OUT},
    {"no-save", no_argument, NULL, FO_NOSAVE},
    {"json", no_argument, NULL, FO_JSON},
    {"segment", required_argument, NULL, FO_SEGMENT},
    {"sync-dir", required_argument, NULL, FO_SYNC_DIR},
    {"start-at", required_argument, NULL, FO_START_AT},
    {"sync-timeout", required_argument, NULL, FO_SYNC_TIMEOUT},
    {"env", required_argument, NULL, 'e'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_slo(fm_opts *o, const char *arg, err *e)
{
    char tmp[1024];
    if (strlen(arg) >= sizeof tmp)
        return err_set(e, VOLLEY_EINVAL, "--slo: too long");
    snprintf(tmp, sizeof tmp, "%s", arg);
    char *save = NULL;
    for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (o->nslo == FM_MAX_SLO)
            return err_set(e, VOLLEY_EINVAL, "--slo: more than %d expressions", FM_MAX_SLO);
        int rc = threshold_parse(tok, &o->slo[o->nslo++], e);
        if (rc)
            return rc;
    }
    return o->nslo ? 0 : err_set(e, VOLLEY_EINVAL, "--slo: empty");
}

static int parse_rate(const char *arg, const char *what, double *out, err *e)
{
    int rc = parse_double(arg, what, out, e);
    if (!rc && !(*out > 0))
        rc = err_set(e, VOLLEY_EINVAL, "%s: must be more than 0", what);
    return rc;
}

/* "5%" or "0.05". */
static int parse_precision(const char *arg, double *out, err *e)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s", arg);
    size_t n = strlen(tmp);
    bool pct = n && tmp[n - 1] == '%';
    if (pct)
        tmp[n - 1] = 0;
    int rc = parse_double(tmp, "--precision", out, e);
    if (!rc && pct)
        *out /= 100;
    return rc;
}

static int parse_search_flag(fm_opts *o, int c, const char *arg, err *e)
{
    uint64_t v;
    int rc;
    switch (c) {
    case FO_SLO: return parse_slo(o, arg, e);
    case FO_START: return parse_rate(arg, "--start-rate", &o->sc.start_rate, e);
    case FO_MIN: return parse_rate(arg, "--min-rate", &o->sc.min_rate, e);
    case FO_MAX: return parse_rate(arg, "--max-rate", &o->sc.max_rate, e);
    case FO_PRECISION: return parse_precision(arg, &o->sc.precision, e);
    case FO_STEPS:
        if (!(rc = parse_u64(arg, "--max-steps", 2, SEARCH_MAX_STEPS, &v, e)))
            o->sc.max_steps = (uint32_t)v;
        return rc;
    case FO_RETRIES:
        if (!(rc = parse_u64(arg, "--retries", 0, 5, &v, e)))
            o->sc.retries = (uint32_t)v;
        return rc;
    case FO_STEP_MIN: return parse_duration_ns(arg, "--step-min", &o->step_min_ns, e);
    case FO_STEP_MAX: return parse_duration_ns(arg, "--step-max", &o->step_max_ns, e);
    case FO_COOLDOWN: return parse_duration_ns(arg, "--cooldown", &o->cooldown_ns, e);
    case FO_ABSORB: return parse_duration_ns(arg, "--absorb", &o->absorb_ns, e);
    }
    return 1; /* not a search flag */
}

static int parse_flag(plan *p, fm_opts *o, int c, const char *arg, err *e)
{
    int rc = parse_search_flag(o, c, arg, e);
    if (rc != 1)
        return rc;
    uint64_t v;
    switch (c) {
    case FO_ENDPOINT: return plan_add_endpoint(p, arg, "--endpoint", e);
    case FO_MODE:
        if (!strcmp(arg, "per-endpoint") || !strcmp(arg, "mixed")) {
            p->mode = arg[0] == 'm' ? PLAN_MIXED : PLAN_PER_ENDPOINT;
            return 0;
        }
        return err_set(e, VOLLEY_EINVAL, "--mode: '%s' (per-endpoint or mixed)", arg);
    case FO_WEIGHT:
        if (o->nweights == PLAN_MAX_ENDPOINTS)
            return err_set(e, VOLLEY_EINVAL, "--weight: too many");
        o->weights[o->nweights++] = arg;
        return 0;
    case 't':
        rc = parse_u64(arg, "--threads", 1, 1024, &v, e);
        p->threads = (uint32_t)v;
        return rc;
    case 'm':
        if (strlen(arg) >= sizeof p->method)
            return err_set(e, VOLLEY_EINVAL, "--method: '%s' is too long", arg);
        snprintf(p->method, sizeof p->method, "%s", arg);
        return 0;
    case 'H': return plan_add_header(p->headers, &p->nheaders, arg, "--header", e);
    case 'b': {
        char *b = strdup(arg);
        if (!b)
            return err_set(e, VOLLEY_ENOMEM, "--body: out of memory");
        plan_take_body(p, b, strlen(b));
        return 0;
    }
    case FO_TIMEOUT: return parse_duration_ns(arg, "--timeout", &p->timeout_ns, e);
    case FO_MAXCONN:
        rc = parse_u64(arg, "--max-connections", 1, 1000000, &v, e);
        p->max_connections = (uint32_t)v;
        return rc;
    case FO_NOKA: p->keepalive = false; return 0;
    case FO_OUT: o->out_dir = arg; return 0;
    case FO_NOSAVE: o->no_save = true; return 0;
    case FO_JSON: o->json = true; return 0;
    case 'q': o->quiet = true; return 0;
    case 'e':
        if (o->nenv == FM_MAX_ENV - 2)
            return err_set(e, VOLLEY_EINVAL, "-e: more than %d", FM_MAX_ENV - 2);
        o->env[o->nenv++] = arg;
        return 0;
    case FO_SEGMENT:
        if ((rc = segment_parse(arg, getenv, &o->seg, e)))
            return rc;
        p->segment_k = o->seg.k;
        p->segment_n = o->seg.n;
        return 0;
    case FO_SYNC_DIR: o->sync_dir = arg; return 0;
    case FO_START_AT: return segment_parse_start_at(arg, &o->start_at_ns, e);
    case FO_SYNC_TIMEOUT:
        if ((rc = parse_duration_ns(arg, "--sync-timeout", &o->sync_timeout_ns, e)))
            return rc;
        return o->sync_timeout_ns ? 0 : err_set(e, VOLLEY_EINVAL, "--sync-timeout: must be "
                                                "more than 0");
    }
    return err_set(e, VOLLEY_EINVAL, "internal: unhandled option");
}

/* The samples rule: long enough for the highest SLO percentile q to rest on
 * 10/(1-q) samples (p99: 1,000; at least 100), in seconds at rate. */
static double samples_s(const fm_opts *o, double rate)
{
    double q = 0;
    for (size_t i = 0; i < o->nslo; i++)
        if (o->slo[i].agg == TH_PCT && o->slo[i].pct > q)
            q = o->slo[i].pct;
    /* ceil, less a hair: 10 / (1 - 0.99) is 999.99... in binary */
    double need = q > 0 && q < 100 ? ceil(10.0 / (1 - q / 100) - 1e-6) : 100;
    if (need < 100)
        need = 100;
    return need / rate;
}

/* The share of a step that must lie past the bound for expression t to
 * fail: 1 - q for p(q), a half for the median and the mean (ample for the
 * mean), next to none for max (one request); 0 when t is no upper bound on
 * latency (no overload rule). */
static double tail_share(const threshold *t)
{
    if (t->metric != METRICS_DIST_LATENCY || (t->op != TH_LT && t->op != TH_LE))
        return 0;
    switch (t->agg) {
    case TH_PCT: return t->pct > 0 && t->pct < 100 ? 1 - t->pct / 100 : 0;
    case TH_MED:
    case TH_AVG: return 0.5;
    case TH_MAX: return 1e-9;
    default: return 0;
    }
}

/* The overload rule (load/search: (L + absorb) / (precision x q)), the
 * longest over the SLO's upper bounds on latency; 0 without one. */
static double overload_s(const fm_opts *o)
{
    double t_max = 0;
    for (size_t i = 0; i < o->nslo; i++) {
        double tail = tail_share(&o->slo[i]);
        if (tail <= 0)
            continue;
        double t = search_overload_s((uint64_t)o->slo[i].value, o->absorb_ns,
                                     o->sc.precision, 1 - tail);
        if (t > t_max)
            t_max = t;
    }
    return t_max;
}

/* The step's length: the longer of the samples rule and the overload rule,
 * within --step-min..--step-max. */
static uint64_t step_duration_ns(const fm_opts *o, double rate)
{
    double s = samples_s(o, rate), ov = overload_s(o);
    double ns = ceil((s > ov ? s : ov) * NS_PER_S);
    if (ns < (double)o->step_min_ns)
        return o->step_min_ns;
    if (ns > (double)o->step_max_ns)
        return o->step_max_ns;
    return (uint64_t)ns;
}

/* The state find-max keeps beside the search: each step's length and the
 * full results of the best passing step (for results.json). */
typedef struct fm_run {
    search s;
    tls_client_ctx *tls; /* scripts: for https:// and wss:// */
    uint64_t dur_ns[SEARCH_MAX_STEPS];
    results best;
    bool have_best;
    double best_rate;
    uint64_t next_start_ns; /* --segment: wall-clock start of the next step */
} fm_run;

/* Would the SLO hold on the server's own time (service time in place of
 * latency from the schedule)? Then a late generator is all that failed. */
static bool server_meets_slo(const results *r, const fm_opts *o)
{
    for (size_t i = 0; i < o->nslo; i++) {
        const threshold *t = &o->slo[i];
        const results_stats *s = &r->st;
        for (size_t k = 0; k < r->neps && t->endpoint[0]; k++)
            if (!strcmp(r->eps[k].name, t->endpoint))
                s = &r->eps[k].st;
        threshold_input in = {.tot = &s->tot, .elapsed_ns = s->elapsed_ns};
        for (int d = 0; d < METRICS_DIST_COUNT; d++)
            in.dist[d] = s->dist[d];
        in.dist[METRICS_DIST_LATENCY] = s->service; /* judged on the server's own time */
        if (!threshold_check(t, threshold_actual(t, &in)))
            return false;
    }
    return true;
}

/* Reads one step's numbers and verdict off its results. */
static int judge_step(results *r, const fm_opts *o, double rate, uint64_t dur_ns,
                      search_step *st, err *e)
{
    const results_stats *s = &r->st;
    int failed = results_eval_thresholds(r, o->slo, o->nslo, e);
    if (failed < 0)
        return failed;
    double planned = rate * (double)dur_ns / NS_PER_S;
    *st = (search_step){.target_rps = rate, .achieved_rps = results_stats_rps(s),
                        .p50_ns = hist_percentile(s->latency, 50),
                        .p95_ns = hist_percentile(s->latency, 95),
                        .p99_ns = hist_percentile(s->latency, 99),
                        .requests = s->tot.requests, .failures = s->tot.errors,
                        .dropped = s->tot.dropped};
    st->pass = failed == 0 && (double)s->tot.dropped <= FM_DROP_LIMIT * planned;
    /* The run's own honesty verdict (monitor/selfmon: a saturated worker
     * thread, or late sends from a busy one with nothing dropped) while the
     * server's own times meet the SLO: the generator missed the schedule.
     * Late sends from idle threads are the host's; such a step is judged
     * (and retried) like any other. */
    st->gen_short = r->generator.behind && server_meets_slo(r, o);
    return 0;
}

static void print_step_header(FILE *f)
{
    fprintf(f, "  %-4s %10s %10s %9s %9s %9s %9s %8s  %s\n", "step", "target/s", "achieved/s",
            "p50", "p95", "p99", "failures", "dropped", "verdict");
}

static const char *verdict(const search_step *st)
{
    return st->gen_short ? "generator short"
           : st->pass    ? "pass"
           : st->retried ? "fail (retrying)"
                         : "FAIL";
}

static void print_step(FILE *f, size_t i, const search_step *st)
{
    char a[16], b[16], c[16];
    parse_format_duration(st->p50_ns, a, sizeof a);
    parse_format_duration(st->p95_ns, b, sizeof b);
    parse_format_duration(st->p99_ns, c, sizeof c);
    fprintf(f, "  %-4zu %10.1f %10.1f %9s %9s %9s %9llu %8llu  %s\n", i + 1, st->target_rps,
            st->achieved_rps, a, b, c, (unsigned long long)st->failures,
            (unsigned long long)st->dropped, verdict(st));
    fflush(f);
}

/* Sleeps d unless interrupted. */
static void cool_down(uint64_t d)
{
    uint64_t end = clock_now_ns() + d;
    while (!fm_interrupts) {
        uint64_t now = clock_now_ns();
        if (now >= end)
            return;
        uint64_t left = end - now < 50 * NS_PER_MS ? end - now : 50 * NS_PER_MS;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)left};
        nanosleep(&ts, NULL);
    }
}

/* One step of a script: ENV.RATE and ENV.DURATION set last, so they win. */
static int run_script_step(const plan *p, const fm_opts *o, fm_run *fr, double rate,
                           uint64_t dur_ns, const engine_options *eo, results *r, err *e)
{
    char kv_rate[64], kv_dur[64];
    const char *env[FM_MAX_ENV];
    memcpy(env, o->env, o->nenv * sizeof env[0]);
    snprintf(kv_rate, sizeof kv_rate, "RATE=%.3f", rate);
    snprintf(kv_dur, sizeof kv_dur, "DURATION=%.3fs", (double)dur_ns / NS_PER_S);
    env[o->nenv] = kv_rate;
    env[o->nenv + 1] = kv_dur;
    script_results *sres = NULL;
    script_opts so = {.env = env, .nenv = o->nenv + 2, .threads = p->threads, .quiet = true,
                      .res = &sres, .tls = fr->tls, .segment_k = o->seg.k,
                      .segment_n = o->seg.n};
    int rc = script_run(o->script, &so, eo, r, e);
    script_results_free(sres);
    return rc;
}

/* --segment: our part of the step into the shared folder, the merged step
 * (every segment's part) back in r; the next step's common start. */
static int sync_step(const fm_opts *o, fm_run *fr, results *r, bool *any_behind, err *e)
{
    stepsync_config c = {.dir = o->sync_dir, .run_key = o->start_at_ns, .k = o->seg.k,
                         .n = o->seg.n, .timeout_ns = o->sync_timeout_ns,
                         .interrupts = &fm_interrupts};
    results merged;
    stepsync_info info;
    int rc = stepsync_exchange(&c, (uint32_t)fr->s.nsteps, r, &merged, &info, e);
    results_free(r);
    if (rc)
        return rc;
    *r = merged;
    *any_behind = info.any_behind;
    fr->next_start_ns = info.last_written_ns + o->cooldown_ns + FM_SYNC_SLACK_NS;
    return 0;
}

/* Keeps r (taken) as the results to write when it is the best pass so far
 * (or the first step), else frees it. */
static void keep_best(fm_run *fr, results *r, const search_step *st, double rate)
{
    bool keep = (st->pass && rate > fr->best_rate) || !fr->have_best;
    if (r->interrupted || !keep) {
        results_free(r);
        return;
    }
    if (fr->have_best)
        results_free(&fr->best);
    fr->best = *r;
    fr->have_best = true;
    fr->best_rate = st->pass ? rate : 0;
}

/* Runs one step at rate (with --segment: our share, then the merged step);
 * keeps its results when it is the best pass. */
static int run_step(plan *p, const fm_opts *o, fm_run *fr, double rate, err *e)
{
    uint64_t dur = step_duration_ns(o, rate);
    p->shape.rate = rate;
    p->shape.duration_ns = dur;
    engine_options eo = {.interrupts = &fm_interrupts, .start_at_wall_ns = fr->next_start_ns};
    results r;
    selfmon *sm = selfmon_start(NULL);
    int rc = o->script ? run_script_step(p, o, fr, rate, dur, &eo, &r, e)
                       : engine_run(p, &eo, &r, e);
    results_generator g = {0};
    selfmon_stop(sm, rc ? &g : &r.generator);
    free(g.sec_cpu_pct);
    if (rc)
        return rc;
    r.segment_k = o->seg.k;
    r.segment_n = o->seg.n;
    selfmon_judge(&r);
    bool behind = r.generator.behind;
    if (o->seg.n && fm_interrupts) { /* stopped: no part to share; the others time out */
        results_free(&r);
        return 0;
    }
    if (o->seg.n && (rc = sync_step(o, fr, &r, &behind, e)))
        return rc;
    r.generator.behind = behind;
    search_step st;
    if ((rc = judge_step(&r, o, rate, dur, &st, e))) {
        results_free(&r);
        return rc;
    }
    fr->dur_ns[fr->s.nsteps] = dur;
    search_record(&fr->s, &st);
    if (!o->quiet)
        print_step(o->json ? stderr : stdout, fr->s.nsteps - 1, &fr->s.steps[fr->s.nsteps - 1]);
    keep_best(fr, &r, &st, rate);
    return 0;
}

typedef struct fm_json_ctx {
    const fm_run *fr;
    const fm_opts *o;
} fm_json_ctx;

static json_t *step_json(const search_step *st, size_t i, uint64_t dur_ns)
{
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:s}", "index",
                     (json_int_t)i, "target_rps", st->target_rps, "achieved_rps",
                     st->achieved_rps, "duration_s", (double)dur_ns / NS_PER_S, "p50_ms",
                     (double)st->p50_ns / NS_PER_MS, "p95_ms", (double)st->p95_ns / NS_PER_MS,
                     "p99_ms", (double)st->p99_ns / NS_PER_MS, "requests",
                     (json_int_t)st->requests, "failures", (json_int_t)st->failures, "dropped",
                     (json_int_t)st->dropped, "verdict",
                     st->gen_short ? "generator-short"
                     : st->pass    ? "pass"
                     : st->retried ? "fail-retried"
                                   : "fail");
}

/* The "search" block of results.json (docs/results-format.md). */
static json_t *search_json(const fm_run *fr, const fm_opts *o)
{
    const search *s = &fr->s;
    json_t *slo = json_array(), *steps = json_array();
    for (size_t i = 0; i < o->nslo; i++)
        json_array_append_new(slo, json_string(o->slo[i].expr));
    for (size_t i = 0; i < s->nsteps; i++)
        json_array_append_new(steps, step_json(&s->steps[i], i, fr->dur_ns[i]));
    return json_pack("{s:o, s:s, s:f, s:f, s:f, s:f, s:f, s:I, s:o}", "slo", slo, "outcome",
                     search_state_name(s->state), "max_rps", s->pass_rate, "fail_rps",
                     s->fail_rate, "margin", search_margin(s), "knee_rps", search_knee(s),
                     "precision", s->cfg.precision, "max_steps", (json_int_t)s->cfg.max_steps,
                     "steps", steps);
}

static int search_extra(json_t *root, const void *ctx)
{
    const fm_json_ctx *c = ctx;
    json_t *j = search_json(c->fr, c->o);
    return j && !json_object_set_new(root, "search", j) ? 0 : VOLLEY_ENOMEM;
}

/* The answer in words, and the exit code it means. */
static int print_answer(FILE *f, const fm_run *fr)
{
    const search *s = &fr->s;
    double knee = search_knee(s);
    switch (s->state) {
    case SEARCH_FOUND:
    case SEARCH_STEP_LIMIT:
        fprintf(f, "  max sustainable rate: %.1f req/s (SLO met; %.1f req/s failed: margin %.1f%%)%s\n",
                s->pass_rate, s->fail_rate, search_margin(s) * 100,
                s->state == SEARCH_STEP_LIMIT ? " - step limit reached before the precision" : "");
        break;
    case SEARCH_CEILING:
        fprintf(f, "  max sustainable rate: at least %.1f req/s (SLO met at --max-rate)\n",
                s->pass_rate);
        break;
    case SEARCH_NONE:
        fprintf(f, "  the SLO fails even at the lowest rate tried (%.1f req/s)\n",
                s->steps[s->nsteps - 1].target_rps);
        break;
    case SEARCH_GEN_LIMIT:
        fprintf(f, "  max sustainable rate: at least %.1f req/s - the generator fell behind at "
                "%.1f req/s, so the server's limit was not reached; use more threads (-t) or "
                "a bigger machine\n", s->pass_rate, s->steps[s->nsteps - 1].target_rps);
        break;
    case SEARCH_RUNNING:
        fprintf(f, "  search interrupted; highest passing rate so far: %.1f req/s\n",
                s->pass_rate);
        break;
    }
    if (knee > 0)
        fprintf(f, "  knee: %.1f req/s (the median latency rises steeply above it)\n", knee);
    else if (s->nsteps)
        fprintf(f, "  knee: not seen (the median latency never rose steeply over the rates tried)\n");
    return s->state == SEARCH_NONE ? EXIT_THRESHOLDS
           : s->state == SEARCH_GEN_LIMIT ? EXIT_GENERATOR
           : s->state == SEARCH_RUNNING ? 130 : 0;
}

/* The latency bound of the SLO to draw (the first p(N)/avg/max < X), or 0. */
static double slo_line_ms(const fm_opts *o)
{
    for (size_t i = 0; i < o->nslo; i++) {
        const threshold *t = &o->slo[i];
        if (t->metric == METRICS_DIST_LATENCY && !t->endpoint[0] &&
            (t->agg == TH_PCT || t->agg == TH_AVG || t->agg == TH_MAX) &&
            (t->op == TH_LT || t->op == TH_LE))
            return t->value / NS_PER_MS;
    }
    return 0;
}

static int write_files(const fm_run *fr, const fm_opts *o, const char *dir, err *e)
{
    char path[4400];
    if (mkdir(dir, 0755) && errno != EEXIST)
        return err_sys(e, "--out: cannot create '%s'", dir);
    fm_json_ctx ctx = {.fr = fr, .o = o};
    snprintf(path, sizeof path, "%s/results.json", dir);
    int rc = results_json_write_ext(&fr->best, path, search_extra, &ctx, e);
    if (rc)
        return rc;
    chart_fig *fig = chart_search_figure(&fr->s, slo_line_ms(o), e);
    if (!fig)
        return VOLLEY_ENOMEM;
    snprintf(path, sizeof path, "%s/find-max.png", dir);
    rc = chart_write_png(fig, path, CHART_DEFAULT_W, CHART_DEFAULT_H, e);
    chart_fig_free(fig);
    if (!rc && !o->quiet)
        fprintf(o->json ? stderr : stdout, "  results: %s/results.json, find-max.png\n", dir);
    return rc;
}

/* --segment needs a shared folder and a common start; those flags mean
 * nothing without it. */
static int check_segment(fm_opts *o, err *e)
{
    if (!o->seg.n) {
        const char *stray = o->sync_dir ? "--sync-dir" : o->start_at_ns ? "--start-at"
                            : o->sync_timeout_ns ? "--sync-timeout" : NULL;
        return stray ? err_set(e, VOLLEY_EINVAL, "%s: only with --segment K/N", stray) : 0;
    }
    if (!o->sync_dir)
        return err_set(e, VOLLEY_EINVAL, "--segment needs --sync-dir DIR (a folder every "
                       "segment shares, where they exchange each step's results)");
    if (!o->start_at_ns)
        return err_set(e, VOLLEY_EINVAL, "--segment needs --start-at T (the common start of "
                       "step 1, the same for every segment)");
    struct stat st;
    if (stat(o->sync_dir, &st) || !S_ISDIR(st.st_mode))
        return err_set(e, VOLLEY_EINVAL, "--sync-dir: '%s' is not a folder", o->sync_dir);
    if (!o->sync_timeout_ns)
        o->sync_timeout_ns = 60 * NS_PER_S;
    return 0;
}

static int check_search(fm_opts *o, err *e)
{
    int src = check_segment(o, e);
    if (src)
        return src;
    if (!o->nslo)
        return err_set(e, VOLLEY_EINVAL, "--slo is required (e.g. --slo 'p(99)<50ms,errors<1%%')");
    /* A latency SLO alone would pass a step whose requests all failed (no
     * latency to judge): without an errors bound, errors<1% is implied. */
    bool errors = false;
    for (size_t i = 0; i < o->nslo; i++)
        errors |= o->slo[i].agg == TH_ERRORS;
    if (!errors && o->nslo < FM_MAX_SLO) {
        int rc = threshold_parse("errors<1%", &o->slo[o->nslo], e);
        if (rc)
            return rc;
        o->nslo++;
    }
    const char *bad = search_config_check(&o->sc);
    if (bad)
        return err_set(e, VOLLEY_EINVAL, "%s", bad);
    if (!o->step_min_ns || o->step_min_ns > o->step_max_ns)
        return err_set(e, VOLLEY_EINVAL, "--step-min must be more than 0 and at most --step-max");
    return 0;
}

/* A script: its scenarios make the requests; find-max sets ENV.RATE and
 * ENV.DURATION of each step (docs/capacity.md). Flags that shape requests
 * belong to the script and are refused. */
static int finish_script(plan *p, fm_opts *o, const char *path, err *e)
{
    if (p->neps || p->nheaders || p->body || strcmp(p->method, "GET") || o->nweights ||
        p->mode != PLAN_PER_ENDPOINT || !p->keepalive || p->max_connections)
        return err_set(e, VOLLEY_EINVAL, "a Lua script makes its own requests: --endpoint, "
                       "--mode, --weight, -m, -H, -b, --max-connections and --no-keepalive "
                       "do not apply");
    o->script = path;
    return check_search(o, e);
}

/* The positional URL (first endpoint), weights, and the open-model shape. */
static int finish_plan(plan *p, fm_opts *o, int argc, char **argv, err *e)
{
    if (optind < argc - 1)
        return err_set(e, VOLLEY_EINVAL, "expected one URL, got extra argument '%s'",
                       argv[optind + 1]);
    if (optind == argc - 1) {
        const char *u = argv[optind];
        size_t n = strlen(u);
        if (n > 4 && !strcmp(u + n - 4, ".lua"))
            return finish_script(p, o, u, e);
        if (!plan_add_endpoint_parts(p, NULL, NULL, u, "URL", e))
            return VOLLEY_EINVAL;
        if (p->neps > 1) { /* the positional URL comes first */
            plan_endpoint first = p->eps[p->neps - 1];
            memmove(&p->eps[1], &p->eps[0], (p->neps - 1) * sizeof p->eps[0]);
            p->eps[0] = first;
        }
    }
    if (!p->neps)
        return err_set(e, VOLLEY_EINVAL, "missing URL (volley find-max URL --slo EXPR)");
    for (size_t i = 0; i < o->nweights; i++) {
        int rc = plan_set_weight(p, o->weights[i], e);
        if (rc)
            return rc;
    }
    if (o->nweights && p->mode != PLAN_MIXED)
        return err_set(e, VOLLEY_EINVAL, "--weight: only with --mode mixed");
    if (o->nenv)
        return err_set(e, VOLLEY_EINVAL, "-e: only with a Lua script");
    int rc = check_search(o, e);
    if (rc)
        return rc;
    p->shape.kind = EXEC_CONSTANT_RATE;
    p->shape.rate = o->sc.start_rate;
    p->shape.duration_ns = o->step_min_ns;
    return plan_compile(p, e);
}

static int parse_args(plan *p, fm_opts *o, int argc, char **argv, err *e)
{
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":t:m:H:b:e:qh", fm_long, NULL)) != -1) {
        if (c == 'h')
            return 1;
        if (c == '?' || c == ':')
            return err_set(e, VOLLEY_EINVAL, "%s '%s'",
                           c == ':' ? "missing value for option" : "unknown option",
                           argv[optind - 1]);
        int rc = parse_flag(p, o, c, optarg, e);
        if (rc)
            return rc;
    }
    return finish_plan(p, o, argc, argv, e);
}

static void default_dir(char *out, size_t cap, segment sg)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    mkdir("volley-results", 0755);
    int n = snprintf(out, cap, "volley-results/find-max-%04d%02d%02d-%02d%02d%02d",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec);
    if (sg.n && n > 0 && (size_t)n < cap) /* segments on one host: a folder each */
        snprintf(out + n, cap - (size_t)n, "-seg%uof%u", sg.k, sg.n);
}

static int search_loop(plan *p, const fm_opts *o, fm_run *fr, err *e)
{
    double rate;
    fr->next_start_ns = o->start_at_ns;
    while ((rate = search_next(&fr->s)) > 0 && !fm_interrupts) {
        if (fr->s.nsteps && !o->seg.n) /* segments: the common start includes it */
            cool_down(o->cooldown_ns);
        if (fm_interrupts)
            break;
        int rc = run_step(p, o, fr, rate, e);
        if (rc)
            return rc;
    }
    return 0;
}

static void print_header(FILE *info, const plan *p, const fm_opts *o)
{
    fprintf(info, "find-max: %s, SLO", o->script ? o->script : p->eps[0].url_text);
    for (size_t i = 0; i < o->nslo; i++)
        fprintf(info, " %s", o->slo[i].expr);
    fprintf(info, ", precision %.1f%%\n", o->sc.precision * 100);
    double ov = overload_s(o), max_s = (double)o->step_max_ns / NS_PER_S;
    if (ov > max_s)
        /* The clamp wins: only a larger overload shows within a step. */
        fprintf(info, "  note: a queue %.1f%% over capacity needs %.1fs to break the SLO's "
                "latency bound (--absorb %.0fms); --step-max %.1fs lets a rate up to %.1f%% "
                "over capacity pass\n", o->sc.precision * 100, ov,
                (double)o->absorb_ns / NS_PER_MS, max_s, o->sc.precision * ov / max_s * 100);
    else if (ov > 0)
        fprintf(info, "  steps last at least %.1fs: a queue %.1f%% over capacity breaks the "
                "SLO's latency bound within that (--absorb %.0fms)\n", ov,
                o->sc.precision * 100, (double)o->absorb_ns / NS_PER_MS);
    print_step_header(info);
}

/* results.json + chart, and --json; returns exit_code, or 1 if it was 0
 * and a file could not be written. */
static int outputs(const fm_run *fr, const fm_opts *o, int exit_code)
{
    err e = {0};
    char dir[4200];
    if (!o->no_save && fr->have_best) {
        if (o->out_dir)
            snprintf(dir, sizeof dir, "%s", o->out_dir);
        else
            default_dir(dir, sizeof dir, o->seg);
        if (write_files(fr, o, dir, &e)) {
            fprintf(stderr, "volley find-max: %s\n", e.msg);
            exit_code = exit_code ? exit_code : 1;
        }
    }
    if (o->json) {
        json_t *j = search_json(fr, o);
        char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        if (s)
            puts(s);
        free(s);
        json_decref(j);
    }
    return exit_code;
}

static void fm_free(fm_run *fr, plan *p)
{
    if (fr->have_best)
        results_free(&fr->best);
    fr->have_best = false;
    tls_client_ctx_free(fr->tls);
    fr->tls = NULL;
    plan_free(p);
}

/* Parses the flags; 0 to go on, else the exit code (help: 0 via *done). */
static int setup(plan *p, fm_opts *o, fm_run *fr, int argc, char **argv, bool *done)
{
    err e = {0};
    int rc = parse_args(p, o, argc, argv, &e);
    *done = rc != 0;
    if (rc == 1) {
        usage(stdout);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "volley find-max: %s\n(see 'volley find-max --help')\n", e.msg);
        return EXIT_USAGE;
    }
    /* A rise of the median worth calling a knee: half the SLO's latency
     * budget when it has one (a busy host's noise moves it less). */
    if (slo_line_ms(o) > 0)
        o->sc.knee_floor_ns = (uint64_t)(slo_line_ms(o) * NS_PER_MS / 2);
    memset(fr, 0, sizeof *fr);
    search_init(&fr->s, &o->sc);
    /* Scripts under find-max speak HTTP/1.1 (their wss:// shares this context). */
    tls_client_opts to = p->tls_opts;
    to.alpn = TLS_ALPN_HTTP11;
    if (o->script && !(fr->tls = tls_client_ctx_new(&to, &e))) {
        fprintf(stderr, "volley find-max: %s\n", e.msg);
        *done = true;
        return EXIT_USAGE;
    }
    return 0;
}

int cmd_find_max(int argc, char **argv)
{
    static plan p;
    static fm_run fr;
    plan_init(&p);
    fm_opts o = {.step_min_ns = NS_PER_S, .step_max_ns = 10 * NS_PER_S, .cooldown_ns = NS_PER_S,
                 .absorb_ns = 50 * NS_PER_MS};
    search_config_defaults(&o.sc);
    bool done;
    int rc = setup(&p, &o, &fr, argc, argv, &done);
    if (done) {
        fm_free(&fr, &p);
        return rc;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    FILE *info = o.json ? stderr : stdout; /* --json: stdout is the JSON alone */
    if (!o.quiet)
        print_header(info, &p, &o);
    err e = {0};
    if ((rc = search_loop(&p, &o, &fr, &e))) {
        fprintf(stderr, "volley find-max: %s\n", e.msg);
        fm_free(&fr, &p);
        return o.script && (rc == VOLLEY_EINVAL || rc == VOLLEY_EPARSE) ? EXIT_USAGE : 1;
    }
    int exit_code = outputs(&fr, &o, print_answer(info, &fr));
    fm_free(&fr, &p);
    return exit_code;
}
