/* stepsync: find-max's segments meet in a shared folder (see stepsync.h).
 * A step file is a results document written atomically (temp + rename), with
 * a "stepsync" member giving its write time; reading polls for the others'
 * files, then feeds them, in segment order, to results/merge. */
#include "results/stepsync.h"

#include "core/clock.h"
#include "core/fileio.h"
#include "results/merge.h"
#include "results/results_json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define POLL_NS (20 * NS_PER_MS)

void stepsync_path(const stepsync_config *c, uint32_t step, uint32_t k, char *out, size_t cap)
{
    snprintf(out, cap, "%s/find-max-%llu-step%03u-seg%uof%u.json", c->dir,
             (unsigned long long)c->run_key, step + 1, k, c->n);
}

static int add_written(json_t *root, const void *ctx)
{
    const uint64_t *at = ctx;
    json_t *o = json_pack("{s:I}", "written_unix_ns", (json_int_t)*at);
    return o && !json_object_set_new(root, "stepsync", o) ? 0 : VOLLEY_ENOMEM;
}

static int write_ours(const stepsync_config *c, uint32_t step, const results *r, err *e)
{
    char path[4096];
    stepsync_path(c, step, c->k, path, sizeof path);
    uint64_t at = clock_wall_ns();
    char *txt = results_json_dump_ext(r, add_written, &at, e);
    if (!txt)
        return e && e->code ? e->code : VOLLEY_ENOMEM;
    int rc = file_write_atomic(path, txt, strlen(txt), e);
    free(txt);
    return rc;
}

/* Waits until every segment's file of the step exists, or the deadline. */
static int await_all(const stepsync_config *c, uint32_t step, err *e)
{
    uint64_t deadline = clock_now_ns() + c->timeout_ns;
    sig_atomic_t seen = c->interrupts ? *c->interrupts : 0;
    char path[4096], missing[256];
    for (;;) {
        size_t len = 0;
        uint32_t first = 0, nmissing = 0;
        missing[0] = '\0';
        for (uint32_t k = 1; k <= c->n; k++) {
            struct stat st;
            stepsync_path(c, step, k, path, sizeof path);
            if (stat(path, &st) == 0)
                continue;
            first = first ? first : k;
            nmissing++;
            if (len < sizeof missing - 16)
                len += (size_t)snprintf(missing + len, sizeof missing - len, "%s%u/%u",
                                        nmissing > 1 ? ", " : "", k, c->n);
        }
        if (!nmissing)
            return 0;
        if (c->interrupts && *c->interrupts != seen)
            return err_set(e, VOLLEY_EAGAIN, "interrupted while waiting for segment %s", missing);
        if (clock_now_ns() >= deadline) {
            stepsync_path(c, step, first, path, sizeof path);
            return err_set(e, VOLLEY_EAGAIN,
                           "--segment: segment %s wrote no result for step %u within %.1fs "
                           "(waited for %s); is it running, with the same --start-at and "
                           "--sync-dir?", missing, step + 1, (double)c->timeout_ns / NS_PER_S,
                           path);
        }
        clock_sleep_ns(POLL_NS);
    }
}

/* The write time and the generator verdict of one segment's file. */
static void read_info(const char *txt, size_t len, stepsync_info *info)
{
    json_t *root = json_loadb(txt, len, 0, NULL);
    json_int_t at = 0;
    const char *verdict = NULL;
    json_unpack(root, "{s:{s:I}}", "stepsync", "written_unix_ns", &at);
    json_unpack(root, "{s:{s:s}}", "generator", "verdict", &verdict);
    if (at > 0 && (uint64_t)at > info->last_written_ns)
        info->last_written_ns = (uint64_t)at;
    info->any_behind |= verdict && !strcmp(verdict, "behind");
    json_decref(root);
}

static int merge_all(const stepsync_config *c, uint32_t step, results *merged,
                     stepsync_info *info, err *e)
{
    merger *m = merge_new(false, e);
    if (!m)
        return VOLLEY_ENOMEM;
    char path[4096];
    int rc = 0;
    for (uint32_t k = 1; k <= c->n && !rc; k++) {
        char *txt = NULL;
        size_t len = 0;
        stepsync_path(c, step, k, path, sizeof path);
        if (!(rc = file_read_all(path, "--sync-dir", &txt, &len, e))) {
            read_info(txt, len, info);
            rc = merge_add_text(m, txt, len, path, e);
        }
        free(txt);
    }
    if (!rc)
        rc = merge_finish(m, merged, e);
    merge_free(m);
    return rc;
}

int stepsync_exchange(const stepsync_config *c, uint32_t step, const results *r,
                      results *merged, stepsync_info *info, err *e)
{
    *info = (stepsync_info){0};
    int rc = write_ours(c, step, r, e);
    if (!rc)
        rc = await_all(c, step, e);
    return rc ? rc : merge_all(c, step, merged, info, e);
}
