/* segment: which iterations and virtual users belong to segment K of N of
 * a run and to worker W of T within it (ARCHITECTURE.md decision 6). Pure
 * functions, used by load/worker and script/lua_worker, so that N
 * processes with --segment 1/N .. N/N run exactly the iterations and VUs
 * of one unsegmented run, none twice (tests/unit/test_segment.c). Also
 * --segment auto (the engines' variables) and --start-at parsing. */
#ifndef VOLLEY_SEGMENT_H
#define VOLLEY_SEGMENT_H

#include "core/err.h"

#include <stdint.h>

/* k is 1-based; a whole run is 1/1. */
typedef struct segment {
    uint32_t k, n;
} segment;

/* How many of the indexes 0..total-1 fall to part i (0-based) of n when
 * index j goes to part j mod n. */
uint64_t segment_share(uint64_t total, uint32_t n, uint32_t i);

/* Open model and arrival-rate scenarios: iteration i of the run belongs to
 * segment (i mod N) + 1 and, within it, to worker (i div N) mod T. A
 * worker's iterations are first, first + stride, ... */
uint64_t segment_first_iter(segment s, uint32_t nworkers, uint32_t worker);
uint64_t segment_iter_stride(segment s, uint32_t nworkers);

/* Closed model: VU v of the run (0-based; the ramp runs v while v <
 * target(t)) belongs to segment (v mod N) + 1; within the segment the
 * segment's VUs are dealt to workers in turn. segment_worker_vus is how
 * many a worker gets out of total, segment_vu_index the run-wide index of
 * its j-th. */
uint32_t segment_worker_vus(segment s, uint32_t total, uint32_t nworkers, uint32_t worker);
uint32_t segment_vu_index(segment s, uint32_t nworkers, uint32_t worker, uint32_t j);

/* -n / shared iterations run by vus VUs: the part of total of this
 * segment, then of this worker; only segments and workers that have a VU
 * get a part, so the parts always add up to total. */
uint64_t segment_worker_quota(segment s, uint64_t total, uint32_t vus, uint32_t nworkers,
                              uint32_t worker);

/* "K/N", or "auto": from JOB_COMPLETION_INDEX (0-based) and
 * VOLLEY_SEGMENTS (a Kubernetes Indexed Job), else SLURM_PROCID and
 * SLURM_NTASKS (srun). getenv_fn reads a variable (getenv in volley, a
 * table in tests). Errors (VOLLEY_EINVAL) name the flag or the variables. */
int segment_parse(const char *text, char *(*getenv_fn)(const char *), segment *out, err *e);

/* --start-at: RFC 3339 ("2026-12-02T04:00:00Z", "...+01:00", fractions
 * allowed) or Unix seconds ("1796184000", "1796184000.5"), to Unix ns. */
int segment_parse_start_at(const char *text, uint64_t *unix_ns, err *e);

#endif
