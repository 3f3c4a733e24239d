/* compare: `volley compare BASE.json NEW.json` - what got better or worse,
 * as text, JSON or an HTML page, with --fail-if gates for CI. The work is
 * in report/compare; results are read by results/results_read. */
#include "cmd/cmd.h"

#include "report/compare.h"
#include "results/results_read.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: volley compare BASE.json NEW.json [options]\n"
          "\n"
          "A run folder (volley run --out DIR) stands for its results.json.\n"
          "\n"
          "Per endpoint and for the whole run: requests/s, mean, p50, p90 and p99 latency\n"
          "and error rate of both runs, the change with its 99% interval, p, and a\n"
          "verdict (better, worse, same). better or worse only when p < 0.01 and the\n"
          "change is at least 10% (error rates: 0.1 percentage points). p: t test of\n"
          "the whole-run values, each with the larger of its sampling error over all\n"
          "requests and the spread of its per-second values (pooled over both runs:\n"
          "the allowance for correlated requests); runs under 3 seconds double the\n"
          "sampling error instead. Error rates: two-proportion test widened by the\n"
          "per-second dispersion. Open model: a latency change that the change of\n"
          "volley's own send lag accounts for, while its thread waited for a CPU (a\n"
          "busy host), is \"same (host)\". See docs/compare.md.\n"
          "\n"
          "  --json             print the comparison as JSON\n"
          "  --html FILE        write an HTML page with both runs' charts overlaid\n"
          "  --same-plan        refuse (exit 2) when the two runs' plans differ; without\n"
          "                     it a difference is a warning in every output\n"
          "  --fail-if EXPR     exit 99 if the whole run's metric changed beyond EXPR,\n"
          "                     repeatable: 'p(99)>+10%', 'avg>+20%', 'rate<-5%',\n"
          "                     'errors>+1%' (percentage points for errors)\n"
          "  -h, --help         this help\n",
          f);
}

/* --fail-if EXPR into o (exit 2 on a bad one). */
static int add_gate(session_compare *o, const char *arg)
{
    err e = {0};
    if (o->ngates == SESSION_MAX_GATES) {
        fprintf(stderr, "volley compare: --fail-if: too many\n");
        return EXIT_USAGE;
    }
    if (compare_gate_parse(arg, &o->gates[o->ngates], &e)) {
        fprintf(stderr, "volley compare: %s\n", e.msg);
        return EXIT_USAGE;
    }
    o->ngates++;
    return 0;
}

int cmd_compare(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"html", required_argument, NULL, 'w'},
        {"fail-if", required_argument, NULL, 'f'},
        {"same-plan", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    session_compare o = {.out = stdout};
    bool same_plan = false;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': o.json = true; break;
        case 'w': o.html = optarg; break;
        case 's': same_plan = true; break;
        case 'f':
            if (add_gate(&o, optarg))
                return EXIT_USAGE;
            break;
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, "volley compare: %s '%s'\n",
                    c == ':' ? "missing value for option" : "unknown option", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "volley compare: expected BASE.json NEW.json\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    results a, b;
    err e = {0};
    if (results_json_read(argv[optind], &a, &e)) {
        fprintf(stderr, "volley compare: %s\n", e.msg);
        return EXIT_USAGE;
    }
    if (results_json_read(argv[optind + 1], &b, &e)) {
        fprintf(stderr, "volley compare: %s\n", e.msg);
        results_free(&a);
        return EXIT_USAGE;
    }
    char why[600];
    if (compare_plan_diff(&a, &b, why, sizeof why)) {
        fprintf(stderr, "volley compare: %s: the plans differ: %s\n",
                same_plan ? "refused (--same-plan)" : "warning", why);
        if (same_plan) {
            results_free(&a);
            results_free(&b);
            return EXIT_USAGE;
        }
    }
    int rc = session_compare_report(argv[optind], argv[optind + 1], &a, &b, &o);
    results_free(&a);
    results_free(&b);
    return rc;
}
