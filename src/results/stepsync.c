/* stepsync: find-max's segments meet in a shared folder (see stepsync.h).
 * A step file is a results document written atomically (temp + rename), with
 * a "stepsync" member giving its write time; reading polls for the others'
 * files, then feeds them, in segment order, to results/merge. */
#include "results/stepsync.h"

#include "core/clock.h"
#include "core/fileio.h"
#include "results/merge.h"
#include "results/results_json.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often the folder is listed while waiting (a shared NFS folder is
 * listed by every segment: not too often). */
#define POLL_NS (100 * NS_PER_MS)

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

/* Marks in seen[] the segments whose file of the step is in the folder.
 * The folder is listed, not each file stat'ed: opening a directory makes an
 * NFS client revalidate it, where a stat of a missing name may be answered
 * from its cache of names that did not exist. Returns how many are missing. */
static uint32_t scan(const stepsync_config *c, uint32_t step, bool *seen)
{
    char prefix[96];
    int plen = snprintf(prefix, sizeof prefix, "find-max-%llu-step%03u-seg",
                        (unsigned long long)c->run_key, step + 1);
    DIR *d = opendir(c->dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            unsigned k, n;
            char tail[8];
            if (strncmp(de->d_name, prefix, (size_t)plen) ||
                sscanf(de->d_name + plen, "%uof%u%7s", &k, &n, tail) != 3 || n != c->n ||
                strcmp(tail, ".json") || k < 1 || k > n)
                continue;
            seen[k - 1] = true;
        }
        closedir(d);
    }
    uint32_t missing = 0;
    for (uint32_t k = 0; k < c->n; k++)
        missing += !seen[k];
    return missing;
}

/* "2/3, 3/3": the segments not seen yet; *first gets the first of them. */
static void list_missing(const stepsync_config *c, const bool *seen, char *out, size_t cap,
                         uint32_t *first)
{
    size_t len = 0;
    out[0] = '\0';
    *first = 0;
    for (uint32_t k = 1; k <= c->n && len < cap - 16; k++) {
        if (seen[k - 1])
            continue;
        len += (size_t)snprintf(out + len, cap - len, "%s%u/%u", *first ? ", " : "", k, c->n);
        *first = *first ? *first : k;
    }
}

/* Waits until every segment's file of the step is there, or the deadline. */
static int await_all(const stepsync_config *c, uint32_t step, err *e)
{
    uint64_t deadline = clock_now_ns() + c->timeout_ns;
    sig_atomic_t irq = c->interrupts ? *c->interrupts : 0;
    bool *seen = calloc(c->n, sizeof *seen);
    if (!seen)
        return err_set(e, VOLLEY_ENOMEM, "out of memory");
    int rc = 0;
    while (scan(c, step, seen)) {
        bool stop = c->interrupts && *c->interrupts != irq;
        if (stop || clock_now_ns() >= deadline) {
            char missing[256], path[4096];
            uint32_t first;
            list_missing(c, seen, missing, sizeof missing, &first);
            stepsync_path(c, step, first, path, sizeof path);
            rc = stop ? err_set(e, VOLLEY_EAGAIN, "interrupted while waiting for segment %s",
                                missing)
                      : err_set(e, VOLLEY_EAGAIN,
                                "--segment: segment %s wrote no result for step %u within "
                                "%.1fs (waited for %s); is it running, with the same "
                                "--start-at and --sync-dir?", missing, step + 1,
                                (double)c->timeout_ns / NS_PER_S, path);
            break;
        }
        clock_sleep_ns(POLL_NS);
    }
    free(seen);
    return rc;
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
