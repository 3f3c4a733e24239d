/* Golden text for report/summary and report/term: a fixed results file
 * (tests/unit/data/golden-results.json: two endpoints, 200s and 500s;
 * golden-sweep.json: a sweep of two rates) gives exactly the committed
 * console summary and txt reports. After an intended
 * change of the output, VOLLEY_GOLDEN_UPDATE=1 rewrites the golden files;
 * read the diff before committing it. */
#include "report/summary.h"
#include "report/term.h"
#include "results/results_read.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA "tests/unit/data/"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *s = NULL;
    size_t cap = 0;
    FILE *m = open_memstream(&s, &cap);
    char b[4096];
    size_t n;
    while ((n = fread(b, 1, sizeof b, f)) > 0)
        fwrite(b, 1, n, m);
    fclose(f);
    fclose(m);
    *len = cap;
    return s;
}

static void golden(void (*print)(FILE *, const results *), const char *src, const char *name)
{
    results r;
    err e = {0};
    char in[256];
    snprintf(in, sizeof in, DATA "%s", src);
    cr_assert_eq(results_json_read(in, &r, &e), 0, "%s", e.msg);
    char *got = NULL;
    size_t glen = 0;
    FILE *f = open_memstream(&got, &glen);
    print(f, &r);
    fclose(f);
    results_free(&r);
    char path[256];
    snprintf(path, sizeof path, DATA "%s", name);
    if (getenv("VOLLEY_GOLDEN_UPDATE")) {
        FILE *o = fopen(path, "wb");
        cr_assert(o && fwrite(got, 1, glen, o) == glen && fclose(o) == 0);
    }
    size_t wlen = 0;
    char *want = slurp(path, &wlen);
    cr_assert(want, "%s missing (VOLLEY_GOLDEN_UPDATE=1 writes it)", path);
    cr_expect(glen == wlen && !memcmp(got, want, glen), "%s differs; got:\n%s", name, got);
    free(got);
    free(want);
}

Test(golden, console_summary)
{
    golden(summary_print, "golden-results.json", "summary.golden");
}

Test(golden, txt_report)
{
    golden(term_print, "golden-results.json", "term.golden");
}

/* A sweep of two rates over 2 s: per-step tables and per-second charts. */
Test(golden, txt_report_of_a_sweep)
{
    golden(term_print, "golden-sweep.json", "term-sweep.golden");
}

/* A script of two scenarios (ramping-arrival-rate, shared-iterations): the
 * plan line counts VUs, says "1 thread"/"2 threads" and "at most 10m"
 * without a dangling comma; the script's part shows scenarios, names,
 * checks under their group and custom metrics with units (wait_ms in ms,
 * page_bytes in B). */
Test(golden, script_summary)
{
    golden(summary_print, "golden-script.json", "summary-script.golden");
}
