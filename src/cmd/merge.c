/* cmd/merge: `volley merge RESULTS... --out DIR`: merges the results of the
 * segments of one run (results/merge), evaluates the runs' thresholds (or
 * --threshold) on the merged run, writes DIR/results.json and makes the
 * reports through `volley report`'s code (cmd/report). */
#include "cmd/cmd.h"

#include "core/buf.h"
#include "metrics/threshold.h"
#include "results/csv.h"
#include "results/merge.h"
#include "results/results_json.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
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

/* Reads a whole file (or stdin for "-") into b, reusing its memory from
 * one input to the next: a thousand inputs should not cost a thousand
 * fresh mappings. */
static int read_all(const char *path, buf *b, err *e)
{
    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
    if (fd < 0)
        return err_sys(e, "cannot open '%s'", path);
    b->off = b->len = 0;
    int rc = 0;
    for (;;) {
        if (buf_reserve(b, 1 << 16)) {
            rc = err_set(e, VOLLEY_ENOMEM, "out of memory reading '%s'", path);
            break;
        }
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = err_sys(e, "cannot read '%s'", path);
            break;
        }
        if (n == 0)
            break;
        b->len += (size_t)n;
    }
    if (fd > 0)
        close(fd);
    if (!rc)
        b->data[b->len] = '\0';
    return rc;
}

static int add_input(merger *m, const char *path, buf *b, err *e)
{
    int rc = read_all(path, b, e);
    if (!rc)
        rc = merge_add_text(m, b->data, b->len, strcmp(path, "-") ? path : "stdin", e);
    return rc;
}

/* Some of the inputs, merged by one thread. */
typedef struct merge_part {
    merger *m;
    char **files;
    int n;
    int rc;
    err e;
} merge_part;

static void *merge_part_run(void *arg)
{
    merge_part *p = arg;
    buf b = {0};
    for (int i = 0; i < p->n && !p->rc; i++)
        p->rc = add_input(p->m, p->files[i], &b, &p->e);
    buf_free(&b);
    return NULL;
}

/* Many files are read and merged by two threads, each into its own merger
 * (aligned on the first file's start), then one absorbs the other; stdin
 * and a few files go in order on this thread. */
static int merge_inputs(merger *m, char **files, int n, bool force, err *e)
{
    bool stdin_in = false;
    for (int i = 0; i < n; i++)
        stdin_in |= !strcmp(files[i], "-");
    merge_part a = {.m = m, .files = files, .n = n};
    if (n < 16 || stdin_in) {
        merge_part_run(&a);
        *e = a.e;
        return a.rc;
    }
    buf b = {0};
    int rc = read_all(files[0], &b, e);
    if (rc) {
        buf_free(&b);
        return rc;
    }
    uint64_t ref = merge_peek_start(b.data, b.len);
    buf_free(&b);
    merge_part z = {.m = merge_new(force, e), .files = files + n / 2, .n = n - n / 2};
    a.n = n / 2;
    pthread_t t;
    if (!z.m)
        return VOLLEY_ENOMEM;
    merge_set_reference(m, ref);
    merge_set_reference(z.m, ref);
    bool threaded = pthread_create(&t, NULL, merge_part_run, &z) == 0;
    merge_part_run(&a);
    if (threaded)
        pthread_join(t, NULL);
    else
        merge_part_run(&z);
    rc = a.rc ? a.rc : z.rc;
    *e = a.rc ? a.e : z.e;
    if (!rc)
        rc = merge_absorb(m, z.m, e);
    merge_free(z.m);
    return rc;
}

/* Evaluates the thresholds on the merged run: returns how many failed, or
 * -1 (message printed) when one given with --threshold cannot be parsed.
 * A run's own threshold in a script's k6 grammar (on a script metric) is
 * not judged here: it is named in a warning, to be given as --threshold. */
static int eval_thresholds(results *r, const char *const *exprs, size_t n, bool given)
{
    threshold t[MERGE_MAX_THRESHOLDS];
    size_t nt = 0;
    err e = {0};
    for (size_t i = 0; i < n && nt < MERGE_MAX_THRESHOLDS; i++) {
        if (!threshold_parse(exprs[i], &t[nt], &e)) {
            nt++;
        } else if (given) {
            fprintf(stderr, "volley merge: %s\n", e.msg);
            return -1;
        } else {
            fprintf(stderr, "volley merge: warning: the runs' threshold '%s' is not judged on "
                    "the merged run (a script's metric); give it as --threshold in volley's "
                    "grammar\n", exprs[i]);
        }
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

/* Writes DIR/results.json and summary.csv; returns an exit code. */
static int write_results(const merge_cli *c, merger *m, const results *r, char *path,
                         size_t cap)
{
    err e = {0};
    snprintf(path, cap, "%s/results.json", c->out);
    if (mkdir_p(c->out) || results_json_write_ext(r, path, merge_write_extra, m, &e)) {
        fprintf(stderr, "volley merge: cannot write %s: %s\n", path,
                e.msg[0] ? e.msg : strerror(errno));
        return 1;
    }
    snprintf(path, cap, "%s/summary.csv", c->out);
    if (csv_write_summary(r, path, &e)) {
        fprintf(stderr, "volley merge: %s\n", e.msg);
        return 1;
    }
    snprintf(path, cap, "%s/results.json", c->out);
    fprintf(stderr, "volley merge: %zu results merged into %s\n", merge_count(m), path);
    return 0;
}

/* The report, by `volley report`'s code on the file just written. */
static int write_report(const merge_cli *c, char *path)
{
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
    rc = merge_inputs(m, argv + optind, argc - optind, c.force, &e) ? -2 : -1;
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
    int failed = c.nthr ? eval_thresholds(&r, c.thr, c.nthr, true)
                         : eval_thresholds(&r, exprs, nthr, false);
    char path[4200];
    rc = failed < 0 ? EXIT_USAGE : write_results(&c, m, &r, path, sizeof path);
    print_verdicts(&r);
    results_free(&r);
    merge_free(m); /* before the report reads the file again: one copy at a time */
    if (!rc)
        rc = write_report(&c, path);
    if (!rc && failed > 0)
        rc = EXIT_THRESHOLDS;
    return rc;
}
