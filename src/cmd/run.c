/* run: `volley run URL [options]` - flags into a plan, the engine runs it,
 * then the summary, results.json and the exit code. Live progress is drawn
 * here from what the engine reports. */
#include "cmd/cmd.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/parse.h"
#include "load/engine.h"
#include "load/plan.h"
#include "report/summary.h"
#include "results/results_json.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
          "\n"
          "Closed model: N connections, each sends its next request when the previous\n"
          "response is complete. Latency runs from when the connection was ready.\n"
          "\n"
          "load:\n"
          "  -c, --connections N      concurrent connections (default 50)\n"
          "  -d, --duration D         how long to send (default 10s; ms, s, m, h)\n"
          "  -n, --requests N         stop after exactly N requests (with -d: whichever first)\n"
          "  -t, --threads N          worker threads (default: number of cores)\n"
          "request:\n"
          "  -m, --method M           HTTP method (default GET)\n"
          "  -H, --header 'K: V'      add a request header (repeatable)\n"
          "  -b, --body TEXT          request body\n"
          "      --body-file FILE     request body from a file\n"
          "      --no-keepalive       a new connection for every request\n"
          "limits:\n"
          "      --timeout D          per-request timeout (default 30s)\n"
          "      --connect-timeout D  connect timeout (default 10s)\n"
          "      --grace D            wait for in-flight requests at the end (default 5s)\n"
          "      --max-header-size S  largest response header block (default 64k)\n"
          "output:\n"
          "      --out DIR            write DIR/results.json\n"
          "      --json               print results JSON to stdout (summary to stderr)\n"
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
};

static const struct option long_opts[] = {
    {"connections", required_argument, NULL, 'c'},
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
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct run_opts {
    const char *out_dir;
    bool json;
    bool quiet;
    bool duration_set;
} run_opts;

static int read_file(const char *path, char **out, size_t *len, err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_sys(e, "--body-file: cannot open '%s'", path);
    buf b = {0};
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (buf_append(&b, tmp, n)) {
            fclose(f);
            buf_free(&b);
            return err_set(e, VOLLEY_ENOMEM, "--body-file: '%s' is too large", path);
        }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        buf_free(&b);
        return err_sys(e, "--body-file: cannot read '%s'", path);
    }
    *out = b.data ? b.data : calloc(1, 1);
    *len = b.len;
    return 0;
}

static int parse_flag(plan *p, run_opts *o, int c, const char *arg, err *e)
{
    uint64_t v;
    int rc = 0;
    switch (c) {
    case 'c':
        if (!(rc = parse_u64(arg, "--connections", 1, 1000000, &v, e)))
            p->connections = (uint32_t)v;
        return rc;
    case 'd':
        if (!(rc = parse_duration_ns(arg, "--duration", &p->duration_ns, e)) && !p->duration_ns)
            rc = err_set(e, VOLLEY_EINVAL, "--duration: must be more than 0");
        o->duration_set = true;
        return rc;
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
        return plan_add_header(p, arg, e);
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
        if ((rc = read_file(arg, &b, &n, e)))
            return rc;
        plan_take_body(p, b, n);
        return 0;
    }
    case OPT_TIMEOUT:
        if (!(rc = parse_duration_ns(arg, "--timeout", &p->timeout_ns, e)) && !p->timeout_ns)
            rc = err_set(e, VOLLEY_EINVAL, "--timeout: must be more than 0");
        return rc;
    case OPT_CONNECT_TIMEOUT:
        if (!(rc = parse_duration_ns(arg, "--connect-timeout", &p->connect_timeout_ns, e)) &&
            !p->connect_timeout_ns)
            rc = err_set(e, VOLLEY_EINVAL, "--connect-timeout: must be more than 0");
        return rc;
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
    case OPT_OUT:
        o->out_dir = arg;
        return 0;
    case OPT_JSON:
        o->json = true;
        return 0;
    case 'q':
        o->quiet = true;
        return 0;
    }
    return err_set(e, VOLLEY_EINVAL, "unknown option");
}

/* ---- progress ---- */

typedef struct progress_state {
    FILE *f;
    bool tty;
    unsigned calls;
    size_t last_len;
} progress_state;

static void on_progress(void *ctx, const engine_progress *pr)
{
    progress_state *ps = ctx;
    ps->calls++;
    /* Plain output gets one line a second, a terminal four refreshes. */
    if (!ps->tty && ps->calls % 4 != 0 && !pr->stopping)
        return;
    if (!ps->tty && pr->stopping)
        return;
    char el[16], tot[24], p50[16] = "-", p99[16] = "-";
    snprintf(el, sizeof el, "%.1fs", (double)pr->elapsed_ns / NS_PER_S);
    if (pr->total_ns)
        snprintf(tot, sizeof tot, "/%.0fs", (double)pr->total_ns / NS_PER_S);
    else
        snprintf(tot, sizeof tot, "/%llu req", (unsigned long long)pr->planned_requests);
    if (pr->have_second) {
        parse_format_duration(pr->last_p50_ns, p50, sizeof p50);
        parse_format_duration(pr->last_p99_ns, p99, sizeof p99);
    }
    char line[256];
    int n = snprintf(line, sizeof line,
                     "[%s%s] requests %llu  rps %.0f  errors %llu  p50 %s  p99 %s  conns %u%s",
                     el, tot, (unsigned long long)pr->requests, pr->last_rps,
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

static int write_outputs(const results *r, const run_opts *o, err *e)
{
    if (o->out_dir) {
        int rc = mkdir_p(o->out_dir, e);
        if (rc)
            return rc;
        char path[4200];
        snprintf(path, sizeof path, "%s/results.json", o->out_dir);
        if ((rc = results_json_write(r, path, e)))
            return rc;
        if (!o->quiet)
            fprintf(o->json ? stderr : stdout, "  results: %s\n", path);
    }
    if (o->json) {
        char *s = results_json_dump(r, e);
        if (!s)
            return VOLLEY_ENOMEM;
        puts(s);
        free(s);
    }
    return 0;
}

int cmd_run(int argc, char **argv)
{
    plan p;
    plan_init(&p);
    run_opts o = {0};
    err e = {0};
    int c, rc = 0;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":c:d:n:t:m:H:b:qh", long_opts, NULL)) != -1) {
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
    if (!rc && optind != argc - 1)
        rc = err_set(&e, VOLLEY_EINVAL, optind >= argc ? "missing URL (volley run URL [options])"
                                                        : "expected one URL, got extra argument '%s'",
                     optind < argc ? argv[optind + 1] : "");
    if (!rc) {
        if (p.requests && !o.duration_set)
            p.duration_ns = 0; /* -n alone: run until the requests are done */
        snprintf(p.url_text, sizeof p.url_text, "%s", argv[optind]);
        rc = plan_compile(&p, &e);
    }
    if (rc) {
        fprintf(stderr, "volley run: %s\n", e.msg);
        plan_free(&p);
        return EXIT_USAGE;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    progress_state ps = {.f = o.json ? stderr : stdout};
    ps.tty = isatty(fileno(ps.f));
    engine_options eo = {.progress = o.quiet ? NULL : on_progress, .ctx = &ps,
                         .interrupts = &interrupts};
    results r;
    rc = engine_run(&p, &eo, &r, &e);
    if (ps.tty && ps.last_len)
        fputc('\n', ps.f);
    if (rc) {
        fprintf(stderr, "volley run: %s\n", e.msg);
        results_free(&r);
        plan_free(&p);
        return 1;
    }
    if (!o.quiet)
        summary_print(o.json ? stderr : stdout, &r);
    int exit_code = r.interrupted ? 130 : 0;
    if (write_outputs(&r, &o, &e)) {
        fprintf(stderr, "volley run: %s\n", e.msg);
        exit_code = 1;
    }
    if (r.warning[0])
        log_warn("%s", r.warning);
    results_free(&r);
    plan_free(&p);
    return exit_code;
}
