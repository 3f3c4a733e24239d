/* Tests for session/outdir: default directories are new for every run
 * (exclusive, suffixed), a given --out is created and must be a writable
 * directory, run ids differ. */
#include "session/outdir.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/volley-outdir-XXXXXX";

static void enter(void)
{
    cr_assert(mkdtemp(tmpdir));
    cr_assert_eq(chdir(tmpdir), 0);
}

static void leave(void)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    cr_assert_eq(chdir("/"), 0);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(outdir, .init = enter, .fini = leave);

Test(outdir, default_names_never_repeat)
{
    outdir_name n = {.label = "x", .segment_k = 2, .segment_n = 3};
    char a[512], b[512], c[512];
    err e;
    cr_assert_eq(outdir_prepare(NULL, &n, a, sizeof a, &e), 0, "%s", e.msg);
    cr_assert_eq(outdir_prepare(NULL, &n, b, sizeof b, &e), 0, "%s", e.msg);
    cr_assert_eq(outdir_prepare(NULL, &n, c, sizeof c, &e), 0, "%s", e.msg);
    cr_assert_str_neq(a, b);
    cr_assert_str_neq(b, c);
    cr_assert(strstr(a, "-seg2of3-x"), "%s", a);
    cr_assert(strncmp(a, "volley-results/", 15) == 0, "%s", a);
}

Test(outdir, given_dir_is_created_and_must_be_a_directory)
{
    char out[512];
    err e;
    cr_assert_eq(outdir_prepare("a/b/c", NULL, out, sizeof out, &e), 0, "%s", e.msg);
    struct stat st;
    cr_assert_eq(stat("a/b/c", &st), 0);
    FILE *f = fopen("file", "w");
    cr_assert(f);
    fclose(f);
    cr_assert_eq(outdir_prepare("file", NULL, out, sizeof out, &e), VOLLEY_EINVAL);
    cr_assert(strstr(e.msg, "--out: 'file' exists and is not a directory"), "%s", e.msg);
    cr_assert_eq(outdir_prepare("file/sub", NULL, out, sizeof out, &e), VOLLEY_EINVAL);
    cr_assert(strstr(e.msg, "--out"), "%s", e.msg);
}

Test(outdir, run_ids_differ)
{
    outdir_name n = {.segment_k = 1, .segment_n = 2};
    char a[64], b[64];
    outdir_run_id(&n, a, sizeof a);
    outdir_run_id(&n, b, sizeof b);
    cr_assert_str_neq(a, b);
    cr_assert(strstr(a, "-seg1of2-"), "%s", a);
}
