/* cmd/report: `volley report RESULTS.json...`: reads results files
 * (results/results_read) and writes reports again without any load:
 * report.html (report/html), charts as PNG and SVG (report/chart),
 * summary.csv (results/csv) and the text summary on stdout (report/term). */
#include "cmd/cmd.h"

#include "report/chart.h"
#include "report/report.h"
#include "report/term.h"
#include "results/results_read.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { FMT_HTML = REPORT_FMT_HTML, FMT_PNG = REPORT_FMT_PNG, FMT_SVG = REPORT_FMT_SVG,
       FMT_TXT = REPORT_FMT_TXT, FMT_CSV = REPORT_FMT_CSV, FMT_JUNIT = REPORT_FMT_JUNIT,
       FMT_HGRM = REPORT_FMT_HGRM, FMT_PROM = REPORT_FMT_PROM };
#define FMT_DEFAULT (FMT_HTML | FMT_PNG | FMT_TXT)
#define PATH_CAP 4200

static void usage(FILE *f)
{
    fprintf(f,
            "usage: volley report RESULTS.json|DIR... [options]\n\n"
            "Makes reports again from results files, without sending any load. A folder\n"
            "stands for its results.json, or, in a folder of runs (volley-results/), for\n"
            "the newest run's.\n\n"
            "  -o, --out DIR        where to write (default: the results file's directory;\n"
            "                       with several files, DIR/NAME for each, NAME being the\n"
            "                       file's directory name)\n"
            "  -f, --format LIST    comma-separated: html, png, svg, txt, csv, junit,\n"
            "                       hgrm, prom (default html,png,txt; txt goes to stdout)\n"
            "  -s, --size WxH       chart size in pixels (default %dx%d)\n"
            "  -e, --endpoint NAME  report one endpoint alone\n"
            "  -h, --help           this help\n\n"
            "Writes DIR/report.html, DIR/charts/NAME.png|svg, DIR/summary.csv (and\n"
            "DIR/names.csv, a script's requests by name),\n"
            "DIR/junit.xml (a test case per threshold), DIR/latency.hgrm (HdrHistogram\n"
            "percentile distribution, ms) and DIR/metrics.prom (Prometheus text). The\n"
            "per-request scatter charts use requests.csv beside the results file when\n"
            "it exists. Exit codes: 0 done, 1 a file could not be written, 2 bad\n"
            "option or unreadable results file.\n",
            CHART_DEFAULT_W, CHART_DEFAULT_H);
}

static int parse_formats(const char *s, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"html", FMT_HTML}, {"png", FMT_PNG}, {"svg", FMT_SVG},
                 {"txt", FMT_TXT},   {"csv", FMT_CSV},   {"junit", FMT_JUNIT},
                 {"hgrm", FMT_HGRM}, {"prom", FMT_PROM}};
    *out = 0;
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, ",");
        bool found = false;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (n == strlen(names[i].name) && !strncmp(p, names[i].name, n)) {
                *out |= names[i].bit;
                found = true;
            }
        if (!found) {
            fprintf(stderr, "volley report: --format: unknown format '%.*s' "
                            "(known: html, png, svg, txt, csv, junit, hgrm, prom)\n",
                    (int)n, p);
            return -1;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (!*out) {
        fprintf(stderr, "volley report: --format: empty list\n");
        return -1;
    }
    return 0;
}

static int parse_size(const char *s, int *w, int *h)
{
    char *end;
    errno = 0;
    long a = strtol(s, &end, 10);
    if (end == s || (*end != 'x' && *end != 'X'))
        goto bad;
    const char *q = end + 1;
    long b = strtol(q, &end, 10);
    if (end == q || *end || errno)
        goto bad;
    if (a < 200 || b < 150 || a > 10000 || b > 10000) {
        fprintf(stderr, "volley report: --size: %s out of range (200x150 .. 10000x10000)\n", s);
        return -1;
    }
    *w = (int)a;
    *h = (int)b;
    return 0;
bad:
    fprintf(stderr, "volley report: --size: '%s' is not WIDTHxHEIGHT (e.g. 1200x600)\n", s);
    return -1;
}

static void dir_of(const char *file, char *out, size_t cap)
{
    char tmp[PATH_CAP];
    snprintf(tmp, sizeof tmp, "%s", file);
    snprintf(out, cap, "%s", dirname(tmp));
}

/* DIR/NAME for one of several files: NAME is the file's directory name (a
 * run's --out), or the file name without .json when it sits in ".". */
static void multi_out(const char *out, const char *file, size_t idx, char *dst, size_t cap)
{
    char d[PATH_CAP], tmp[PATH_CAP], name[256];
    dir_of(file, d, sizeof d);
    snprintf(tmp, sizeof tmp, "%s", d);
    const char *base = basename(tmp);
    if (!strcmp(base, ".") || !strcmp(base, "/")) {
        snprintf(tmp, sizeof tmp, "%s", file);
        snprintf(name, sizeof name, "%s", basename(tmp));
        char *dot = strrchr(name, '.');
        if (dot && dot != name)
            *dot = '\0';
    } else {
        snprintf(name, sizeof name, "%s", base);
    }
    if (snprintf(dst, cap, "%s/%zu-%s", out, idx + 1, name) >= (int)cap)
        dst[cap - 1] = '\0';
}

typedef struct job {
    const char *file;
    char path[PATH_CAP]; /* the results file an argument stands for */
    bool many; /* one of several files: name it above its text summary */
    char src_dir[PATH_CAP];
    char out_dir[PATH_CAP];
    results r;
} job;

static int run_job(job *j, unsigned fmt, int w, int h, err *e)
{
    bool txt = fmt & FMT_TXT;
    if (txt) {
        if (j->many)
            printf("\n  %s\n", j->file);
        term_print(stdout, &j->r);
        fflush(stdout);
    }
    /* With the summary on stdout, the list of files goes to stderr. */
    report_opts ro = {.formats = fmt, .width = w, .height = h, .src_dir = j->src_dir,
                      .out_dir = j->out_dir, .said = txt ? stderr : stdout,
                      .who = "volley report"};
    return report_write(&j->r, &ro, e);
}

/* A folder stands for its results.json, or for the newest (by
 * modification time) results.json one level down: `volley report
 * volley-results` reports the last run. */
static int resolve_input(const char *arg, char *out, size_t cap, err *e)
{
    struct stat st;
    if (stat(arg, &st) || !S_ISDIR(st.st_mode)) {
        snprintf(out, cap, "%s", arg);
        return 0;
    }
    if (results_json_in_folder(arg, out, cap))
        return 0;
    DIR *d = opendir(arg);
    if (!d)
        return err_sys(e, "cannot read folder '%s'", arg);
    struct dirent *de;
    struct timespec best = {0};
    out[0] = 0;
    char cand[PATH_CAP];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (snprintf(cand, sizeof cand, "%s/%s/results.json", arg, de->d_name) >= (int)sizeof cand ||
            stat(cand, &st))
            continue;
        if (!out[0] || st.st_mtim.tv_sec > best.tv_sec ||
            (st.st_mtim.tv_sec == best.tv_sec && st.st_mtim.tv_nsec > best.tv_nsec)) {
            best = st.st_mtim;
            snprintf(out, cap, "%s", cand);
        }
    }
    closedir(d);
    if (!out[0])
        return err_set(e, VOLLEY_EINVAL, "'%s' is a folder with no results.json in it or in its subfolders", arg);
    return 0;
}

/* What a wrong file is, when it is not a results file: said before the
 * JSON parser's complaint, which would only give a position. */
static void explain_wrong_input(const char *path)
{
    FILE *f = fopen(path, "r");
    char head[256] = "";
    size_t n = f ? fread(head, 1, sizeof head - 1, f) : 0;
    if (f)
        fclose(f);
    head[n] = 0;
    const char *p = head;
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    const char *dot = strrchr(path, '.');
    if (*p == '{' || *p == '[' || n == 0)
        return;
    const char *what = dot && !strcmp(dot, ".csv") ? "a CSV file"
                     : !strncmp(p, "<!", 2) || !strncmp(p, "<html", 5) ? "an HTML page"
                     : !strncmp(p, "\x89PNG", 4) ? "a PNG image"
                     : strchr(head, ',') ? "a CSV or text file" : "not JSON";
    fprintf(stderr, "volley report: %s is %s; volley report reads the results.json that "
                    "`volley run --out DIR` writes, or that folder\n", path, what);
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},    {"format", required_argument, NULL, 'f'},
        {"size", required_argument, NULL, 's'},   {"help", no_argument, NULL, 'h'},
        {"endpoint", required_argument, NULL, 'e'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *only_ep = NULL;
    unsigned fmt = FMT_DEFAULT;
    int w = CHART_DEFAULT_W, h = CHART_DEFAULT_H, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:f:s:e:h", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            only_ep = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'f':
            if (parse_formats(optarg, &fmt))
                return EXIT_USAGE;
            break;
        case 's':
            if (parse_size(optarg, &w, &h))
                return EXIT_USAGE;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    size_t nfiles = (size_t)(argc - optind);
    if (!nfiles) {
        fprintf(stderr, "volley report: no results file given\n\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    job *jobs = calloc(nfiles, sizeof *jobs);
    if (!jobs) {
        fprintf(stderr, "volley report: out of memory\n");
        return 1;
    }
    /* Read every file first: a bad one stops everything before any output. */
    int status = 0;
    size_t loaded = 0;
    err e = {0};
    for (size_t i = 0; i < nfiles; i++, loaded++) {
        job *j = &jobs[i];
        j->many = nfiles > 1;
        if (resolve_input(argv[optind + (int)i], j->path, sizeof j->path, &e)) {
            fprintf(stderr, "volley report: %s\n", e.msg);
            status = EXIT_USAGE;
            break;
        }
        j->file = j->path;
        if (results_json_read(j->file, &j->r, &e)) {
            explain_wrong_input(j->file);
            fprintf(stderr, "volley report: %s\n", e.msg);
            status = EXIT_USAGE;
            break;
        }
        if (only_ep && results_keep_endpoint(&j->r, only_ep, &e)) {
            fprintf(stderr, "volley report: %s: %s\n", j->file, e.msg);
            status = EXIT_USAGE;
            loaded++;
            break;
        }
        dir_of(j->file, j->src_dir, sizeof j->src_dir);
        if (!out)
            snprintf(j->out_dir, sizeof j->out_dir, "%s", j->src_dir);
        else if (nfiles == 1)
            snprintf(j->out_dir, sizeof j->out_dir, "%s", out);
        else
            multi_out(out, j->file, i, j->out_dir, sizeof j->out_dir);
    }
    for (size_t i = 0; i < loaded && !status; i++) {
        if (run_job(&jobs[i], fmt, w, h, &e)) {
            fprintf(stderr, "volley report: %s\n", e.msg);
            status = 1;
        }
    }
    for (size_t i = 0; i < loaded; i++)
        results_free(&jobs[i].r);
    free(jobs);
    chart_shutdown();
    return status;
}
