/* hist: an HDR-style log-linear histogram of durations in nanoseconds.
 * Range 1 µs .. 1 h, 3 significant decimal digits: buckets are 1 µs wide
 * up to 2.048 ms and at most 1/1024 of their value above (a reported
 * percentile is within max(1 µs, value/1024) of the exact one); fixed
 * layout (HdrHistogram_c's, unit 1 µs) so that merging two
 * histograms adds counts bucket by bucket and percentiles of a merge equal
 * those of one big run (ARCHITECTURE.md decision 5). Values below 1 µs are
 * recorded in the lowest bucket, above 1 h in the highest (and counted as
 * clamped). min, max and the sum are kept exactly beside the buckets.
 * Not thread-safe: each worker owns its own and the main thread merges. */
#ifndef VOLLEY_HIST_H
#define VOLLEY_HIST_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

#define HIST_LOWEST_NS 1000ULL                /* 1 µs: the unit of the buckets */
#define HIST_HIGHEST_NS 3600000000000ULL      /* 1 h */
#define HIST_SIG_DIGITS 3

typedef struct hist hist;

/* A histogram is a private anonymous mapping of its own (~185 KiB, page
 * aligned): a range of counts never written costs no memory. hist_reset
 * clears the range used since the last reset, and gives the whole pages of
 * it above 2.048 ms back to the kernel (madvise), so that a histogram reset
 * every second does not keep the pages a stall's latencies once touched. */
hist *hist_new(void);
void hist_free(hist *h);
void hist_reset(hist *h);

/* Records one value (the hot path: no allocation, no division by a
 * variable; the bucket is a multiply, a count-leading-zeros and a shift,
 * and the other branches are rarely taken). */
void hist_record(hist *h, uint64_t value_ns);
void hist_record_n(hist *h, uint64_t value_ns, uint64_t count);

/* dst += src. Both have the same fixed layout, so this cannot fail. */
void hist_merge(hist *dst, const hist *src);

uint64_t hist_count(const hist *h);
uint64_t hist_min(const hist *h);   /* 0 when empty; exact */
uint64_t hist_max(const hist *h);   /* 0 when empty; exact */
double hist_mean(const hist *h);    /* ns; 0 when empty; exact (sum/count) */
double hist_stddev(const hist *h);  /* ns; from bucket midpoints */
uint64_t hist_sum(const hist *h);   /* exact sum of recorded values, ns */
uint64_t hist_clamped(const hist *h); /* values recorded above HIST_HIGHEST_NS */

/* The value at percentile p (0..100) in ns: the highest value equivalent
 * to the bucket holding the p-th ranked sample, clipped to [min, max], as
 * HdrHistogram does. 0 when empty. */
uint64_t hist_percentile(const hist *h, double p);

/* Bucket access, for exact encoding in results.json:
 * hist_nbuckets() is the fixed number of buckets; bucket i covers
 * [hist_bucket_low(i), hist_bucket_high(i)] ns (bucket 0 also holds values
 * below 1 µs, the last one values above 1 h; an i out of range is read as
 * the last bucket, and its count as 0). */
size_t hist_nbuckets(void);
uint64_t hist_bucket_low(size_t i);
uint64_t hist_bucket_high(size_t i);
uint64_t hist_bucket_count(const hist *h, size_t i);
/* Index of the bucket a value falls in. */
size_t hist_bucket_of(uint64_t value_ns);

/* Calls fn for every bucket with a non-zero count, in increasing order. */
void hist_foreach(const hist *h, void (*fn)(void *ctx, size_t idx, uint64_t count), void *ctx);

/* Rebuilding from an encoding: adds count to bucket idx (VOLLEY_ERANGE if
 * idx is out of range or a count would overflow), and sets the exact
 * summary values afterwards (until then min/max are the buckets' bounds;
 * hist_set_summary on an empty histogram does nothing). */
int hist_add_bucket(hist *h, size_t idx, uint64_t count, err *e);
void hist_set_summary(hist *h, uint64_t min_ns, uint64_t max_ns, uint64_t sum_ns,
                      uint64_t clamped);

/* Compact text encoding: "v1;min;max;sum;clamped;idx:count,idx:count,..."
 * (indexes ascending, run of consecutive indexes as "idx:c1:c2:c3"; an empty
 * histogram is "v1;0;0;0;0;"). Only non-zero buckets appear, so each
 * histogram has exactly one encoding. Appends to out (NUL-terminated, the
 * NUL not counted in out->len); returns 0 or VOLLEY_ENOMEM. */
struct buf;
int hist_encode(const hist *h, struct buf *out);
/* Parses an encoding into h (which is reset first). Accepts only what
 * hist_encode writes: decimal numbers without sign or leading zeros, zero
 * counts left out, indexes < hist_nbuckets(), counts whose total fits in
 * uint64, and a summary that agrees with the buckets. Returns 0, or
 * VOLLEY_EPARSE / VOLLEY_ERANGE with a message naming the byte offset; on
 * error h is left empty. Never reads past s[len - 1]. */
int hist_decode(hist *h, const char *s, size_t len, err *e);

#endif
