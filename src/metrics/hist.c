/* hist: log-linear latency histogram in the layout of HdrHistogram_c (unit
 * 1 µs, 2048 sub-buckets, so 3 significant digits), with exact min, max and
 * sum beside the counts, and its "v1;" text encoding for results.json.
 * Used by metrics (recording, one per worker shard) and results (encode,
 * decode, merge). See hist.h for the contract. */
#include "metrics/hist.h"

#include "core/buf.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Layout, as HdrHistogram_c computes it for lowest = 1 unit, 3 significant
 * digits: sub_bucket_count = 2^ceil(log2(2 * 10^3)) = 2048. Bucket 0 holds
 * values 0..2047 µs one µs apart; bucket b >= 1 holds its upper half only
 * (1024..2047 << b), so each index below is used exactly once. */
#define SUB_BITS 11                     /* log2(sub-bucket count) */
#define HALF_BITS (SUB_BITS - 1)        /* log2(half count) */
#define HALF_COUNT (1u << HALF_BITS)    /* 1024 */
#define SUB_MASK ((1ull << SUB_BITS) - 1)
#define HIGHEST_US (HIST_HIGHEST_NS / HIST_LOWEST_NS)
/* index_of(HIGHEST_US): 3.6e9 µs has its top bit at 31, so bucket 21 and
 * sub-bucket 3.6e9 >> 21 = 1716; index = (21 << 10) + 1716. Checked in
 * tests (hist_bucket_of(HIST_HIGHEST_NS) == hist_nbuckets() - 1). Indexes
 * above it could only hold values above 1 h, which are clamped, so the
 * layout stops there. */
#define NBUCKETS ((21u << HALF_BITS) + 1716u + 1u)

struct hist {
    uint64_t count;
    uint64_t sum;     /* ns, saturating */
    uint64_t min;     /* ns; UINT64_MAX when empty */
    uint64_t max;     /* ns; 0 when empty */
    uint64_t clamped;
    /* Lowest and highest index ever given a count since the last reset: the
     * scans (percentile, foreach, merge, reset) stay inside them. They are
     * updated only when min or max moves, so recording pays nothing more. */
    size_t lo, hi;
    uint64_t counts[NBUCKETS];
};

/* The whole layout computation: one OR, one clz, one shift. */
static inline size_t index_of_us(uint64_t us)
{
    unsigned bucket = (unsigned)(63 - __builtin_clzll(us | SUB_MASK)) - HALF_BITS;
    return ((size_t)bucket << HALF_BITS) + (size_t)(us >> bucket);
}

static inline uint64_t clamp_us(uint64_t value_ns)
{
    uint64_t us = value_ns / HIST_LOWEST_NS; /* constant divisor: a multiply */
    return us > HIGHEST_US ? HIGHEST_US : us;
}

/* First value of bucket i and its width, in µs. */
static inline uint64_t low_us(size_t i, uint64_t *width_us)
{
    if (i < 2 * HALF_COUNT) {
        *width_us = 1;
        return i;
    }
    unsigned shift = (unsigned)(i >> HALF_BITS) - 1;
    *width_us = 1ull << shift;
    return ((uint64_t)(i & (HALF_COUNT - 1)) + HALF_COUNT) << shift;
}

static void clear_summary(hist *h)
{
    h->count = 0;
    h->sum = 0;
    h->min = UINT64_MAX;
    h->max = 0;
    h->clamped = 0;
    h->lo = SIZE_MAX;
    h->hi = 0;
}

/* Buckets below this index (values up to 2.048 ms, the first 16 KiB of
 * counts) are cleared by hist_reset with memset: they are where latency
 * lives most of the time, so their pages are resident anyway. */
#define KEEP_BUCKETS (2u * HALF_COUNT)

static size_t page_bytes(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    return pg > 0 ? (size_t)pg : 4096;
}

/* A histogram is a private anonymous mapping of whole pages: untouched
 * ranges of the counts are zero pages that cost no memory, and hist_reset
 * can give whole pages back to the kernel. */
static size_t map_bytes(void)
{
    size_t pg = page_bytes();
    return (sizeof(hist) + pg - 1) / pg * pg;
}

hist *hist_new(void)
{
    hist *h = mmap(NULL, map_bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (h == MAP_FAILED)
        return NULL;
    clear_summary(h);
    return h;
}

void hist_free(hist *h)
{
    if (h)
        munmap(h, map_bytes());
}

/* Zeroes counts[lo..hi]. The whole pages of that span above KEEP_BUCKETS
 * are given back with MADV_DONTNEED (they read as zero again and are
 * resident only when written again), the rest is cleared with memset. A
 * per-second histogram that once saw a stall's latencies (seconds, spread
 * over tens of pages) would otherwise keep those pages for the whole run,
 * in every ring slot the stall reached; the price is a page fault when a
 * released page is written again. */
static void clear_counts(hist *h, size_t lo, size_t hi)
{
    char *from = (char *)&h->counts[lo], *to = (char *)&h->counts[hi + 1];
    uintptr_t pg = page_bytes();
    uintptr_t keep = (uintptr_t)&h->counts[lo > KEEP_BUCKETS ? lo : KEEP_BUCKETS];
    char *p0 = (char *)((keep + pg - 1) / pg * pg), *p1 = (char *)((uintptr_t)to / pg * pg);
    if (p1 > p0 && madvise(p0, (size_t)(p1 - p0), MADV_DONTNEED) == 0) {
        memset(from, 0, (size_t)(p0 - from));
        memset(p1, 0, (size_t)(to - p1));
        return;
    }
    memset(from, 0, (size_t)(to - from));
}

void hist_reset(hist *h)
{
    /* Per-second interval histograms are reset often; clear only the
     * range that was used. */
    if (h->lo <= h->hi)
        clear_counts(h, h->lo, h->hi);
    clear_summary(h);
}

static inline void note_extremes(hist *h, uint64_t value_ns, size_t i)
{
    if (value_ns < h->min) {
        h->min = value_ns;
        if (i < h->lo)
            h->lo = i;
    }
    if (value_ns > h->max) {
        h->max = value_ns;
        if (i > h->hi)
            h->hi = i;
    }
}

void hist_record(hist *h, uint64_t value_ns)
{
    if (__builtin_expect(value_ns > HIST_HIGHEST_NS, 0))
        h->clamped++;
    size_t i = index_of_us(clamp_us(value_ns));
    h->counts[i]++;
    h->count++;
    if (__builtin_add_overflow(h->sum, value_ns, &h->sum))
        h->sum = UINT64_MAX;
    note_extremes(h, value_ns, i);
}

void hist_record_n(hist *h, uint64_t value_ns, uint64_t count)
{
    if (count == 0)
        return;
    if (value_ns > HIST_HIGHEST_NS)
        h->clamped += count;
    size_t i = index_of_us(clamp_us(value_ns));
    h->counts[i] += count;
    h->count += count;
    uint64_t add;
    if (__builtin_mul_overflow(value_ns, count, &add) ||
        __builtin_add_overflow(h->sum, add, &h->sum))
        h->sum = UINT64_MAX;
    note_extremes(h, value_ns, i);
}

static inline uint64_t sat_add(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

void hist_merge(hist *dst, const hist *src)
{
    if (src->lo > src->hi)
        return; /* nothing was ever counted in src */
    /* Counts saturate rather than wrap: a wrapped count would move every
     * percentile, a saturated one only the impossible 2^64-th sample. */
    for (size_t i = src->lo; i <= src->hi; i++)
        dst->counts[i] = sat_add(dst->counts[i], src->counts[i]);
    dst->count = sat_add(dst->count, src->count);
    dst->sum = sat_add(dst->sum, src->sum);
    dst->clamped = sat_add(dst->clamped, src->clamped);
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    if (src->lo < dst->lo)
        dst->lo = src->lo;
    if (src->hi > dst->hi)
        dst->hi = src->hi;
}

uint64_t hist_count(const hist *h) { return h->count; }
uint64_t hist_min(const hist *h) { return h->count ? h->min : 0; }
uint64_t hist_max(const hist *h) { return h->count ? h->max : 0; }
uint64_t hist_sum(const hist *h) { return h->sum; }
uint64_t hist_clamped(const hist *h) { return h->clamped; }

double hist_mean(const hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}

static double mid_ns(size_t i)
{
    return ((double)hist_bucket_low(i) + (double)hist_bucket_high(i)) / 2.0;
}

double hist_stddev(const hist *h)
{
    if (h->count < 2)
        return 0.0;
    /* Mean from the same midpoints, so a single occupied bucket gives 0
     * and a saturated sum cannot skew the spread. */
    double n = (double)h->count, mean = 0.0, var = 0.0;
    for (size_t i = h->lo; i <= h->hi; i++)
        if (h->counts[i])
            mean += mid_ns(i) * (double)h->counts[i];
    mean /= n;
    for (size_t i = h->lo; i <= h->hi; i++) {
        if (h->counts[i]) {
            double d = mid_ns(i) - mean;
            var += d * d * (double)h->counts[i];
        }
    }
    return sqrt(var / n);
}

uint64_t hist_percentile(const hist *h, double p)
{
    if (h->count == 0)
        return 0;
    /* NaN and p <= 0 land here too: the lowest sample is min, exactly. */
    if (!(p > 0.0))
        return h->min;
    if (p >= 100.0)
        return h->max;
    double r = ceil(p / 100.0 * (double)h->count);
    uint64_t rank = r >= (double)h->count ? h->count : (uint64_t)r;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    size_t i = h->lo;
    for (; i < h->hi; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            break;
    }
    uint64_t v = hist_bucket_high(i);
    if (v < h->min)
        v = h->min;
    if (v > h->max)
        v = h->max;
    return v;
}

size_t hist_nbuckets(void) { return NBUCKETS; }

uint64_t hist_bucket_low(size_t i)
{
    uint64_t w;
    if (i >= NBUCKETS)
        i = NBUCKETS - 1; /* out of contract; clamp rather than shift by > 63 */
    return low_us(i, &w) * HIST_LOWEST_NS;
}

uint64_t hist_bucket_high(size_t i)
{
    uint64_t w;
    if (i >= NBUCKETS)
        i = NBUCKETS - 1;
    uint64_t lo = low_us(i, &w);
    return (lo + w) * HIST_LOWEST_NS - 1;
}

uint64_t hist_bucket_count(const hist *h, size_t i)
{
    return i < NBUCKETS ? h->counts[i] : 0;
}

size_t hist_bucket_of(uint64_t value_ns)
{
    return index_of_us(clamp_us(value_ns));
}

void hist_foreach(const hist *h, void (*fn)(void *ctx, size_t idx, uint64_t count), void *ctx)
{
    for (size_t i = h->lo; i <= h->hi && i < NBUCKETS; i++)
        if (h->counts[i])
            fn(ctx, i, h->counts[i]);
}

int hist_add_bucket(hist *h, size_t idx, uint64_t count, err *e)
{
    if (idx >= NBUCKETS)
        return err_set(e, VOLLEY_ERANGE, "histogram: bucket index %zu out of range (< %u)", idx,
                       (unsigned)NBUCKETS);
    if (count == 0)
        return 0;
    uint64_t c, total;
    if (__builtin_add_overflow(h->counts[idx], count, &c) ||
        __builtin_add_overflow(h->count, count, &total))
        return err_set(e, VOLLEY_ERANGE, "histogram: count of bucket %zu overflows", idx);
    h->counts[idx] = c;
    h->count = total;
    if (idx < h->lo)
        h->lo = idx;
    if (idx > h->hi)
        h->hi = idx;
    /* Bucket bounds stand in for min/max until hist_set_summary gives the
     * exact ones, so a caller that never sets them still gets sane values. */
    if (hist_bucket_low(idx) < h->min)
        h->min = hist_bucket_low(idx);
    if (hist_bucket_high(idx) > h->max)
        h->max = hist_bucket_high(idx);
    return 0;
}

void hist_set_summary(hist *h, uint64_t min_ns, uint64_t max_ns, uint64_t sum_ns,
                      uint64_t clamped)
{
    /* An empty histogram stays empty: its summary is all zero by definition. */
    if (h->count == 0)
        return;
    h->sum = sum_ns;
    h->clamped = clamped;
    h->min = min_ns;
    h->max = max_ns;
}

/* ---- text encoding: "v1;min;max;sum;clamped;idx:c1:c2,idx:c1,..." ---- */

#define ENC_PREFIX "v1;"

/* Writes v in decimal at p; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

typedef struct enc {
    buf *out;
    char chunk[4096];
    size_t n;
    size_t next;  /* index that would continue the current run */
    bool any;
    int rc;
} enc;

static void enc_flush(enc *x)
{
    if (!x->rc && x->n)
        x->rc = buf_append(x->out, x->chunk, x->n);
    x->n = 0;
}

static void enc_bucket(void *ctx, size_t idx, uint64_t count)
{
    enc *x = ctx;
    /* ",%zu:%llu" is at most 1 + 20 + 1 + 20 bytes. */
    if (sizeof x->chunk - x->n < 48)
        enc_flush(x);
    char *p = x->chunk + x->n;
    if (!x->any || idx != x->next) {
        if (x->any)
            *p++ = ',';
        p = put_u64(p, idx);
    }
    *p++ = ':';
    p = put_u64(p, count);
    x->n = (size_t)(p - x->chunk);
    x->next = idx + 1;
    x->any = true;
}

int hist_encode(const hist *h, buf *out)
{
    enc xs = {.out = out};
    enc *x = &xs;
    char *p = x->chunk;
    memcpy(p, ENC_PREFIX, strlen(ENC_PREFIX));
    p += strlen(ENC_PREFIX);
    const uint64_t head[4] = {hist_min(h), hist_max(h), h->sum, h->clamped};
    for (int k = 0; k < 4; k++) {
        p = put_u64(p, head[k]);
        *p++ = ';';
    }
    x->n = (size_t)(p - x->chunk);
    hist_foreach(h, enc_bucket, x);
    enc_flush(x);
    if (x->rc)
        return VOLLEY_ENOMEM;
    /* NUL-terminate without counting it, so encodings can be appended. */
    if (buf_reserve(out, 1))
        return VOLLEY_ENOMEM;
    out->data[out->len] = '\0';
    return 0;
}

typedef struct dec {
    const char *s;
    size_t len, pos;
    err *e;
} dec;

static int dec_fail(dec *d, size_t at, int code, const char *why)
{
    return err_set(d->e, code, "histogram encoding: at byte %zu: %s", at, why);
}

/* A canonical decimal u64: digits, no sign, no leading zero, no overflow. */
static int dec_u64(dec *d, uint64_t *out)
{
    size_t start = d->pos;
    if (d->pos >= d->len)
        return dec_fail(d, d->pos, VOLLEY_EPARSE, "unexpected end, expected a number");
    if (d->s[d->pos] < '0' || d->s[d->pos] > '9')
        return dec_fail(d, d->pos, VOLLEY_EPARSE, "expected a digit");
    uint64_t v = 0;
    while (d->pos < d->len && d->s[d->pos] >= '0' && d->s[d->pos] <= '9') {
        unsigned dig = (unsigned)(d->s[d->pos] - '0');
        if (v > (UINT64_MAX - dig) / 10)
            return dec_fail(d, start, VOLLEY_ERANGE, "number overflows 64 bits");
        v = v * 10 + dig;
        d->pos++;
    }
    if (d->s[start] == '0' && d->pos - start > 1)
        return dec_fail(d, start, VOLLEY_EPARSE, "number with a leading zero");
    *out = v;
    return 0;
}

static int dec_char(dec *d, char c)
{
    if (d->pos >= d->len || d->s[d->pos] != c) {
        char why[40];
        snprintf(why, sizeof why, "expected '%c'", c);
        return dec_fail(d, d->pos, VOLLEY_EPARSE, why);
    }
    d->pos++;
    return 0;
}

/* The bucket list: runs "idx:c1:c2..." separated by ','; indexes strictly
 * ascending, runs never adjacent and counts never 0, so that every
 * histogram has exactly one encoding (the fuzzer checks re-encoding). */
static int dec_buckets(dec *d, hist *h)
{
    size_t next = 0; /* lowest index the next run may start at */
    bool first = true;
    while (d->pos < d->len) {
        int rc;
        if (!first && (rc = dec_char(d, ',')))
            return rc;
        size_t at = d->pos;
        uint64_t idx;
        if ((rc = dec_u64(d, &idx)))
            return rc;
        /* Syntax first, so a corrupt byte is reported where it is. */
        if (d->pos >= d->len || d->s[d->pos] != ':')
            return dec_fail(d, d->pos, VOLLEY_EPARSE, "expected ':' after a bucket index");
        if (idx >= NBUCKETS)
            return dec_fail(d, at, VOLLEY_ERANGE, "bucket index out of range");
        if (!first && idx <= next)
            return dec_fail(d, at, VOLLEY_EPARSE,
                            idx == next ? "run continues the previous one (join them)"
                                        : "bucket indexes not ascending");
        while (d->pos < d->len && d->s[d->pos] == ':') {
            d->pos++;
            if (idx >= NBUCKETS)
                return dec_fail(d, d->pos, VOLLEY_ERANGE, "run of counts past the last bucket");
            size_t cat = d->pos;
            uint64_t c;
            if ((rc = dec_u64(d, &c)))
                return rc;
            if (c == 0)
                return dec_fail(d, cat, VOLLEY_EPARSE, "zero count (empty buckets are left out)");
            if (__builtin_add_overflow(h->count, c, &h->count))
                return dec_fail(d, cat, VOLLEY_ERANGE, "total count overflows 64 bits");
            h->counts[idx] = c;
            if (idx < h->lo)
                h->lo = idx;
            h->hi = idx;
            idx++;
        }
        next = idx;
        first = false;
    }
    return 0;
}

/* An unsaturated sum lies between the sum of the buckets' low bounds and
 * of their high bounds (unbounded when values were clamped). This catches
 * a changed or truncated count, which the format has no field to check. */
static bool sum_fits_buckets(const hist *h, uint64_t sum, uint64_t clamped)
{
    double lo = 0, hi = 0;
    for (size_t i = h->lo; i <= h->hi; i++) {
        if (h->counts[i]) {
            lo += (double)hist_bucket_low(i) * (double)h->counts[i];
            hi += (double)hist_bucket_high(i) * (double)h->counts[i];
        }
    }
    /* Doubles round; allow a relative hair so exact sums always pass. */
    double s = (double)sum;
    return s >= lo * (1 - 1e-9) && (clamped || s <= hi * (1 + 1e-9));
}

/* The summary must agree with the buckets, or percentiles clipped to
 * [min, max] would contradict the counts. */
static int dec_check_summary(dec *d, hist *h, const uint64_t sum[4], const size_t at[4])
{
    uint64_t min = sum[0], max = sum[1], total = sum[2], clamped = sum[3];
    if (h->count == 0) {
        for (int k = 0; k < 4; k++)
            if (sum[k])
                return dec_fail(d, at[k], VOLLEY_EPARSE, "non-zero summary with no buckets");
        return 0;
    }
    if (min > max)
        return dec_fail(d, at[0], VOLLEY_EPARSE, "min greater than max");
    if (hist_bucket_of(min) != h->lo)
        return dec_fail(d, at[0], VOLLEY_EPARSE, "min is not in the first bucket");
    if (hist_bucket_of(max) != h->hi)
        return dec_fail(d, at[1], VOLLEY_EPARSE, "max is not in the last bucket");
    if (total < (h->count > 1 ? sat_add(min, max) : max))
        return dec_fail(d, at[2], VOLLEY_EPARSE, "sum smaller than min + max");
    if (h->count == 1 && min != max)
        return dec_fail(d, at[1], VOLLEY_EPARSE, "min and max differ with one value");
    if (h->count == 1 && total != max)
        return dec_fail(d, at[2], VOLLEY_EPARSE, "sum differs from the only value");
    if (total != UINT64_MAX && !sum_fits_buckets(h, total, clamped))
        return dec_fail(d, at[2], VOLLEY_EPARSE, "sum disagrees with the bucket counts");
    if (clamped > h->counts[NBUCKETS - 1] || (clamped > 0) != (max > HIST_HIGHEST_NS))
        return dec_fail(d, at[3], VOLLEY_EPARSE, "clamped count disagrees with the buckets");
    return 0;
}

int hist_decode(hist *h, const char *s, size_t len, err *e)
{
    hist_reset(h);
    dec d = {.s = s, .len = len, .pos = 0, .e = e};
    for (const char *p = ENC_PREFIX; *p; p++, d.pos++)
        if (d.pos >= len || s[d.pos] != *p)
            return dec_fail(&d, d.pos, VOLLEY_EPARSE, "expected \"" ENC_PREFIX "\" (version 1)");
    uint64_t summary[4];
    size_t at[4];
    int rc = 0;
    for (int k = 0; k < 4 && !rc; k++) {
        at[k] = d.pos;
        rc = dec_u64(&d, &summary[k]);
        if (!rc)
            rc = dec_char(&d, ';');
    }
    if (!rc)
        rc = dec_buckets(&d, h);
    if (!rc)
        rc = dec_check_summary(&d, h, summary, at);
    if (rc) {
        hist_reset(h);
        return rc;
    }
    hist_set_summary(h, summary[0], summary[1], summary[2], summary[3]);
    return 0;
}
