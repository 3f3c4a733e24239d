/* cmd/merge: `volley merge RESULTS... --out DIR`: merges the results of the
 * segments of one run (results/merge), evaluates the runs' thresholds (or
 * --threshold) on the merged run, writes DIR/results.json and makes the
 * reports through `volley report`'s code (cmd/report). */
#include "cmd/cmd.h"

#include "core/fileio.h"
#include "metrics/threshold.h"
#include "results/csv.h"
#include "results/merge.h"
#include "results/results_json.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MERGE_MAX_THRESHOLDS 64

typedef struct merge_cli {
    const char *out, *format;
    bool force;
    const char *thr[MERGE_MAX_THRESHOLDS];
    size_t nthr;
} merge_cli;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: volley merge RESULTS.json... --out DIR [options]\n\n"
            "Merges the results of the segments of one run (volley run --segment K/N)\n"
            "into one: counts add, histograms add bucket by bucket (exact percentiles),\n"
            "per-second series align on wall-clock seconds. '-' reads concatenated JSON\n"
            "documents from stdin (e.g. kubectl logs of runs with --json).\n\n"
            "  -o, --out DIR         where to write results.json, summary.csv and the report\n"
            "      --threshold EXPR  evaluate EXPR on the merged run instead of the runs'\n"
            "                        own thresholds (repeatable)\n"
            "      --force           merge runs of different plans or a repeated segment\n"
            "  -f, --format LIST     report formats (as volley report; default\n"
            "                        html,png,txt); results.json and summary.csv always\n"
            "  -h, --help            this help\n\n"
            "Exit codes: 0 merged, 1 a file could not be written, 2 bad usage, unreadable\n"
            "input, different plans or a segment given twice, 99 a threshold failed.\n");
}

static int parse_cli(int argc, char **argv, merge_cli *c)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},    {"threshold", required_argument, NULL, 't'},
        {"force", no_argument, NULL, 'F'},        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "o:f:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'o': c->out = optarg; break;
        case 'f': c->format = optarg; break;
        case 'F': c->force = true; break;
        case 't':
            if (c->nthr == MERGE_MAX_THRESHOLDS) {
                fprintf(stderr, "volley merge: --threshold: at most %d\n", MERGE_MAX_THRESHOLDS);
                return EXIT_USAGE;
            }
            c->thr[c->nthr++] = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc || !c->out) {
        fprintf(stderr, "volley merge: %s\n\n", optind >= argc ? "no results given" : "--out DIR is required");
        usage(stderr);
        return EXIT_USAGE;
    }
    return -1;
}

static int read_stdin(char **out, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t got = fread(b + n, 1, cap - n - 1, stdin);
        n += got;
        if (got == 0)
            break;
        if (cap - n < 2) {
            char *nb = realloc(b, cap * 2);
            if (!nb)
                free(b);
            b = nb;
            cap *= 2;
        }
    }
    if (!b)
        return VOLLEY_ENOMEM;
    b[n] = '\0';
    *out = b;
    *len = n;
    return ferror(stdin) ? VOLLEY_EIO : 0;
}

static int add_input(merger *m, const char *path, err *e)
{
    char *text = NULL;
    size_t len = 0;
    int rc;
    if (!strcmp(path, "-")) {
        if ((rc = read_stdin(&text, &len)))
            err_set(e, rc, "cannot read stdin");
    } else {
        rc = file_read_all(path, "results", &text, &len, e);
    }
    if (!rc)
        rc = merge_add_text(m, text, len, strcmp(path, "-") ? path : "stdin", e);
    free(text);
    return rc;
}

/* Evaluates the thresholds on the merged run: returns how many failed, or
 * -1 (message printed) when one cannot be parsed or evaluated. */
static int eval_thresholds(results *r, const char *const *exprs, size_t n)
{
    threshold t[MERGE_MAX_THRESHOLDS];
    size_t nt = 0;
    err e = {0};
    for (size_t i = 0; i < n && nt < MERGE_MAX_THRESHOLDS; i++) {
        if (threshold_parse(exprs[i], &t[nt], &e)) {
            fprintf(stderr, "volley merge: %s\n", e.msg);
            return -1;
        }
        nt++;
    }
    int failed = results_eval_thresholds(r, t, nt, &e);
    if (failed < 0)
        fprintf(stderr, "volley merge: %s\n", e.msg);
    return failed;
}

static int mkdir_p(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *q = tmp + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = 0;
        if (mkdir(tmp, 0777) && errno != EEXIST)
            return -1;
        *q = '/';
    }
    return mkdir(tmp, 0777) && errno != EEXIST ? -1 : 0;
}

static void print_verdicts(const results *r)
{
    for (size_t i = 0; i < r->nthresholds; i++)
        fprintf(stderr, "  threshold %-28s %s (%s)\n", r->thresholds[i].expr,
                r->thresholds[i].ok ? "ok" : "FAILED", r->thresholds[i].actual_text);
}

/* Writes DIR/results.json and the report; returns an exit code. */
static int write_outputs(const merge_cli *c, merger *m, const results *r)
{
    char path[4200];
    err e = {0};
    snprintf(path, sizeof path, "%s/results.json", c->out);
    if (mkdir_p(c->out) || results_json_write_ext(r, path, merge_write_extra, m, &e)) {
        fprintf(stderr, "volley merge: cannot write %s: %s\n", path,
                e.msg[0] ? e.msg : strerror(errno));
        return 1;
    }
    snprintf(path, sizeof path, "%s/summary.csv", c->out);
    if (csv_write_summary(r, path, &e)) {
        fprintf(stderr, "volley merge: %s\n", e.msg);
        return 1;
    }
    snprintf(path, sizeof path, "%s/results.json", c->out);
    fprintf(stderr, "volley merge: %zu results merged into %s\n", merge_count(m), path);
    char *rargv[] = {"report", path, "--format",
                     (char *)(c->format ? c->format : "html,png,txt"), NULL};
    return cmd_report(4, rargv);
}

int cmd_merge(int argc, char **argv)
{
    merge_cli c = {0};
    int rc = parse_cli(argc, argv, &c);
    if (rc >= 0)
        return rc;
    err e = {0};
    merger *m = merge_new(c.force, &e);
    if (!m) {
        fprintf(stderr, "volley merge: %s\n", e.msg);
        return 1;
    }
    for (int i = optind; i < argc && rc == -1; i++)
        rc = add_input(m, argv[i], &e) ? -2 : -1;
    results r;
    if (rc == -1 && merge_finish(m, &r, &e))
        rc = -2;
    if (rc == -2) {
        fprintf(stderr, "volley merge: %s\n", e.msg);
        merge_free(m);
        return EXIT_USAGE;
    }
    for (const char *w = merge_warnings(m); *w; w += strcspn(w, "\n") + (w[strcspn(w, "\n")] != 0))
        fprintf(stderr, "volley merge: warning: %.*s\n", (int)strcspn(w, "\n"), w);
    size_t nthr;
    const char *const *exprs = merge_thresholds(m, &nthr);
    int failed = c.nthr ? eval_thresholds(&r, c.thr, c.nthr) : eval_thresholds(&r, exprs, nthr);
    rc = failed < 0 ? EXIT_USAGE : write_outputs(&c, m, &r);
    print_verdicts(&r);
    if (!rc && failed > 0)
        rc = EXIT_THRESHOLDS;
    results_free(&r);
    merge_free(m);
    return rc;
}
