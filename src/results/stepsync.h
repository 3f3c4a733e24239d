/* stepsync: the rendezvous of `volley find-max --segment K/N`. Each segment
 * writes its step's results into a folder all of them share (--sync-dir, a
 * job's NFS folder), waits a bounded time for the other segments' files of
 * the same step and merges them all exactly (results/merge), in segment
 * order, so every segment judges the same merged step and takes the same
 * next decision without talking to the others. */
#ifndef VOLLEY_STEPSYNC_H
#define VOLLEY_STEPSYNC_H

#include "core/err.h"
#include "results/results.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct stepsync_config {
    const char *dir;       /* the shared folder (exists) */
    uint64_t run_key;      /* names this search's files: the common --start-at, Unix ns */
    uint32_t k, n;         /* this segment, 1-based, of n */
    uint64_t timeout_ns;   /* how long to wait for the others after writing ours */
    volatile sig_atomic_t *interrupts; /* a change stops the wait (NULL: none) */
} stepsync_config;

/* What the segments' files of a step said beside their results. */
typedef struct stepsync_info {
    uint64_t last_written_ns; /* the latest wall-clock write time of any segment */
    bool any_behind;          /* some segment's generator fell behind */
} stepsync_info;

/* Writes r as step `step` of segment k, waits for all n files of the step
 * and merges them into merged (initialised here; the caller frees it).
 * Errors: VOLLEY_EAGAIN when a segment's file is still missing after the
 * timeout (the message names the segments and the file) or the wait was
 * interrupted; VOLLEY_EIO/ESYS when ours cannot be written; the merge's
 * errors for a file that does not merge. */
int stepsync_exchange(const stepsync_config *c, uint32_t step, const results *r,
                      results *merged, stepsync_info *info, err *e);

/* The file of segment k's step (for messages and tests). */
void stepsync_path(const stepsync_config *c, uint32_t step, uint32_t k, char *out, size_t cap);

#endif
