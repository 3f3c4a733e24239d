/* Tests for metrics/hist: layout, accuracy against exact sorted data,
 * merging shards, clamping, and the "v1;" encoding (round trip and
 * rejection of truncated or corrupt text with the byte offset named). */
#include "core/buf.h"
#include "metrics/hist.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Deterministic PRNG so a failure reproduces. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Log-uniform in [lo, hi] ns: latency data spans decades. */
static uint64_t rng_log(uint64_t *s, uint64_t lo, uint64_t hi)
{
    double u = (double)(rng_next(s) >> 11) / 9007199254740992.0;
    double v = exp(log((double)lo) + u * (log((double)hi) - log((double)lo)));
    uint64_t r = (uint64_t)v;
    return r < lo ? lo : r > hi ? hi : r;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The rank rule of hist.h, applied to exact sorted data. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double p)
{
    if (p <= 0)
        return sorted[0];
    double r = ceil(p / 100.0 * (double)n);
    size_t rank = r >= (double)n ? n : (size_t)r;
    if (rank == 0)
        rank = 1;
    return sorted[rank - 1];
}

static const double PCTS[] = {0,  1,  10, 25, 50,   75,    90,     95,
                              99, 99.9, 99.99, 99.999, 33.3, 66.6, 100};
#define NPCTS (sizeof PCTS / sizeof PCTS[0])

static void assert_same_hist(const hist *a, const hist *b)
{
    cr_assert_eq(hist_count(a), hist_count(b));
    cr_assert_eq(hist_min(a), hist_min(b));
    cr_assert_eq(hist_max(a), hist_max(b));
    cr_assert_eq(hist_sum(a), hist_sum(b));
    cr_assert_eq(hist_clamped(a), hist_clamped(b));
    for (size_t i = 0; i < hist_nbuckets(); i++)
        cr_assert_eq(hist_bucket_count(a, i), hist_bucket_count(b, i), "bucket %zu", i);
}

Test(hist, layout_covers_one_hour_with_contiguous_buckets)
{
    size_t n = hist_nbuckets();
    cr_assert_eq(hist_bucket_of(HIST_HIGHEST_NS), n - 1);
    cr_assert_eq(hist_bucket_low(0), 0);
    for (size_t i = 0; i < n; i++) {
        uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);
        cr_assert_leq(lo, hi);
        cr_assert_eq(hist_bucket_of(lo), i, "low of %zu", i);
        cr_assert_eq(hist_bucket_of(hi), i, "high of %zu", i);
        if (i + 1 < n)
            cr_assert_eq(hist_bucket_low(i + 1), hi + 1, "gap after %zu", i);
        /* 3 significant digits: width <= max(1 µs, low / 1024). */
        uint64_t w = hi - lo + 1;
        cr_assert(w <= HIST_LOWEST_NS || w <= lo / 1024, "bucket %zu too wide", i);
    }
}

Test(hist, empty_histogram_reports_zeros)
{
    hist *h = hist_new();
    cr_assert_eq(hist_count(h), 0);
    cr_assert_eq(hist_min(h), 0);
    cr_assert_eq(hist_max(h), 0);
    cr_assert_eq(hist_sum(h), 0);
    cr_assert_eq(hist_percentile(h, 50), 0);
    cr_assert_eq(hist_percentile(h, 100), 0);
    cr_assert_eq(hist_mean(h), 0.0);
    cr_assert_eq(hist_stddev(h), 0.0);
    hist_free(h);
    hist_free(NULL);
}

static void check_accuracy(uint64_t lo, uint64_t hi, bool pure_relative)
{
    enum { N = 200000 };
    uint64_t seed = lo ^ hi;
    uint64_t *v = malloc(N * sizeof *v);
    hist *h = hist_new();
    for (size_t i = 0; i < N; i++) {
        v[i] = rng_log(&seed, lo, hi);
        hist_record(h, v[i]);
    }
    qsort(v, N, sizeof *v, cmp_u64);
    for (int k = 0; k < 2000; k++) {
        double p = k < (int)NPCTS ? PCTS[k] : (double)(rng_next(&seed) % 100001) / 1000.0;
        uint64_t want = exact_percentile(v, N, p);
        uint64_t got = hist_percentile(h, p);
        /* The highest equivalent value: never below the exact one. */
        cr_assert_geq(got, want, "p%.3f", p);
        uint64_t tol = want / 1024;
        if (!pure_relative && tol < HIST_LOWEST_NS - 1)
            tol = HIST_LOWEST_NS - 1;
        cr_assert_leq(got - want, tol, "p%.3f: got %llu want %llu", p, (unsigned long long)got,
                      (unsigned long long)want);
    }
    free(v);
    hist_free(h);
}

Test(hist, percentiles_within_one_microsecond_or_1_in_1024_over_whole_range)
{
    check_accuracy(HIST_LOWEST_NS, HIST_HIGHEST_NS, false);
}

Test(hist, percentiles_within_1_in_1024_relative_above_2ms)
{
    check_accuracy(2048 * HIST_LOWEST_NS, HIST_HIGHEST_NS, true);
}

Test(hist, p0_is_min_and_p100_is_max_exactly)
{
    uint64_t seed = 7;
    hist *h = hist_new();
    uint64_t mn = UINT64_MAX, mx = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_log(&seed, 1500, 90000000000ULL) + 1;
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
        hist_record(h, x);
    }
    cr_assert_eq(hist_percentile(h, 0), mn);
    cr_assert_eq(hist_percentile(h, -5), mn);
    cr_assert_eq(hist_percentile(h, NAN), mn);
    cr_assert_eq(hist_percentile(h, 100), mx);
    cr_assert_eq(hist_percentile(h, 150), mx);
    cr_assert_eq(hist_min(h), mn);
    cr_assert_eq(hist_max(h), mx);
    hist_free(h);
}

Test(hist, percentile_rank_is_ceiling_of_p_times_count)
{
    hist *h = hist_new();
    for (uint64_t ms = 1; ms <= 4; ms++)
        hist_record(h, ms * 1000000);
    /* 1 and 2 ms fall in 1 µs wide buckets (highest equivalent = +999 ns),
     * 3 ms in a 2 µs wide one. */
    cr_assert_eq(hist_percentile(h, 25), 1000999);
    cr_assert_eq(hist_percentile(h, 25.0001), 2000999);
    cr_assert_eq(hist_percentile(h, 50), 2000999);
    cr_assert_eq(hist_percentile(h, 75), 3001999);
    cr_assert_eq(hist_percentile(h, 99), 4000000); /* clipped to max */
    cr_assert_eq(hist_percentile(h, 0.001), 1000000 + 999);
    hist_free(h);
}

Test(hist, single_value_is_every_percentile)
{
    hist *h = hist_new();
    hist_record(h, 123456789);
    for (size_t k = 0; k < NPCTS; k++)
        cr_assert_eq(hist_percentile(h, PCTS[k]), 123456789);
    cr_assert_eq(hist_mean(h), 123456789.0);
    cr_assert_eq(hist_stddev(h), 0.0);
    hist_free(h);
}

Test(hist, values_below_one_microsecond_go_to_bucket_zero)
{
    hist *h = hist_new();
    hist_record(h, 0);
    hist_record(h, 1);
    hist_record(h, 999);
    cr_assert_eq(hist_bucket_of(0), 0);
    cr_assert_eq(hist_bucket_of(999), 0);
    cr_assert_eq(hist_bucket_of(1000), 1);
    cr_assert_eq(hist_bucket_count(h, 0), 3);
    cr_assert_eq(hist_count(h), 3);
    cr_assert_eq(hist_min(h), 0);
    cr_assert_eq(hist_max(h), 999);
    cr_assert_eq(hist_sum(h), 1000);
    cr_assert_eq(hist_percentile(h, 0), 0);
    cr_assert_eq(hist_percentile(h, 50), 999);
    cr_assert_eq(hist_clamped(h), 0);
    hist_free(h);
}

Test(hist, values_above_one_hour_are_clamped_to_top_bucket)
{
    hist *h = hist_new();
    size_t top = hist_nbuckets() - 1;
    hist_record(h, HIST_HIGHEST_NS); /* exactly 1 h: in range */
    hist_record(h, HIST_HIGHEST_NS + 1);
    hist_record(h, 2 * HIST_HIGHEST_NS);
    hist_record(h, UINT64_MAX);
    cr_assert_eq(hist_clamped(h), 3);
    cr_assert_eq(hist_bucket_count(h, top), 4);
    cr_assert_eq(hist_bucket_of(UINT64_MAX), top);
    cr_assert_eq(hist_max(h), UINT64_MAX);
    cr_assert_eq(hist_percentile(h, 100), UINT64_MAX);
    cr_assert_eq(hist_percentile(h, 0), HIST_HIGHEST_NS);
    cr_assert_eq(hist_sum(h), UINT64_MAX, "sum saturates instead of wrapping");
    hist_free(h);
}

Test(hist, record_n_equals_n_records)
{
    hist *a = hist_new(), *b = hist_new();
    uint64_t seed = 11;
    for (int i = 0; i < 500; i++) {
        uint64_t x = rng_log(&seed, 1, 2 * HIST_HIGHEST_NS);
        uint64_t n = rng_next(&seed) % 5;
        hist_record_n(a, x, n);
        for (uint64_t k = 0; k < n; k++)
            hist_record(b, x);
    }
    assert_same_hist(a, b);
    hist_free(a);
    hist_free(b);
}

Test(hist, record_n_saturates_sum)
{
    hist *h = hist_new();
    hist_record_n(h, UINT64_MAX / 2, 3);
    cr_assert_eq(hist_sum(h), UINT64_MAX);
    cr_assert_eq(hist_count(h), 3);
    hist_free(h);
}

Test(hist, mean_is_exact_and_stddev_from_buckets)
{
    hist *h = hist_new();
    hist_record_n(h, 10000000, 1000); /* 10 ms */
    hist_record_n(h, 30000000, 1000); /* 30 ms */
    hist_record(h, 20000000);
    cr_assert_eq(hist_mean(h), 20000000.0);
    double sd = sqrt(2000.0 * 1e14 / 2001.0);
    cr_assert(fabs(hist_stddev(h) - sd) < sd / 1000, "stddev %f want %f", hist_stddev(h), sd);
    hist_free(h);
}

static void collect(void *ctx, size_t idx, uint64_t count)
{
    uint64_t *a = ctx; /* a[0] = calls, a[1] = total, a[2] = last idx + 1 */
    cr_assert_gt(count, 0);
    cr_assert_geq(idx + 1, a[2] + (a[0] ? 1 : 0), "not ascending at %zu", idx);
    a[0]++;
    a[1] += count;
    a[2] = idx + 1;
}

Test(hist, foreach_visits_nonzero_buckets_ascending)
{
    hist *h = hist_new();
    uint64_t seed = 3, acc[3] = {0, 0, 0};
    size_t nonzero = 0;
    for (int i = 0; i < 3000; i++)
        hist_record(h, rng_log(&seed, 1, 2 * HIST_HIGHEST_NS));
    for (size_t i = 0; i < hist_nbuckets(); i++)
        nonzero += hist_bucket_count(h, i) != 0;
    hist_foreach(h, collect, acc);
    cr_assert_eq(acc[0], nonzero);
    cr_assert_eq(acc[1], hist_count(h));
    hist_free(h);
}

Test(hist, reset_empties_and_allows_reuse)
{
    hist *h = hist_new();
    hist_record(h, 5000);
    hist_record(h, 7 * HIST_HIGHEST_NS);
    hist_reset(h);
    for (size_t i = 0; i < hist_nbuckets(); i++)
        cr_assert_eq(hist_bucket_count(h, i), 0);
    cr_assert_eq(hist_count(h) + hist_sum(h) + hist_clamped(h) + hist_max(h), 0);
    hist_record(h, 42000);
    cr_assert_eq(hist_min(h), 42000);
    cr_assert_eq(hist_max(h), 42000);
    cr_assert_eq(hist_percentile(h, 50), 42000);
    hist_free(h);
}

/* Resident pages (mincore) among the pages of h's counts, from the page h
 * starts in: whole pages of h's own. */
static size_t resident_pages(const hist *h)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = hist_nbuckets() * sizeof(uint64_t) / pg;
    unsigned char vec[256];
    cr_assert(n <= sizeof vec);
    cr_assert_eq(mincore((void *)((uintptr_t)h / pg * pg), n * pg, vec), 0);
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        r += vec[i] & 1;
    return r;
}

Test(hist, reset_gives_back_the_pages_a_stall_made_resident)
{
    hist *h = hist_new();
    /* The usual: latencies up to 2 ms, one in every bucket. */
    for (uint64_t us = 1; us < 2048; us++)
        hist_record(h, us * 1000);
    size_t before = resident_pages(h);
    /* A stall: latencies from 2 ms to 1 h, one in every bucket. */
    for (size_t i = hist_bucket_of(2048000); i < hist_nbuckets(); i++)
        hist_record(h, hist_bucket_low(i));
    size_t stalled = resident_pages(h);
    cr_assert_geq(stalled, 40, "%zu pages before, %zu after the stall", before, stalled);
    hist_reset(h);
    /* What stays: the pages below 2.048 ms and the last, partial page of
     * the counts (cleared, not given back). */
    size_t after = resident_pages(h);
    cr_assert_leq(after, before + 1, "%zu pages before, %zu after the reset", before, after);
    for (size_t i = 0; i < hist_nbuckets(); i++)
        cr_assert_eq(hist_bucket_count(h, i), 0, "bucket %zu", i);
    hist_free(h);
}

Test(hist, counts_stay_exact_across_resets_with_far_apart_values)
{
    uint64_t seed = 11;
    hist *h = hist_new();
    for (int round = 0; round < 30; round++) {
        hist *ref = hist_new();
        /* Each round its own spread: some only below 2 ms, some a stall
         * up to an hour, some values only far apart. */
        uint64_t lo = round % 3 == 2 ? 500000000 : 1000;
        uint64_t hi = round % 3 == 0 ? 2000000 : 2 * HIST_HIGHEST_NS;
        int n = 1 + (int)(rng_next(&seed) % 3000);
        for (int i = 0; i < n; i++) {
            uint64_t v = rng_log(&seed, lo, hi);
            hist_record(h, v);
            hist_record(ref, v);
        }
        assert_same_hist(h, ref);
        hist_free(ref);
        hist_reset(h);
        cr_assert_eq(hist_count(h), 0);
        for (size_t i = 0; i < hist_nbuckets(); i++)
            cr_assert_eq(hist_bucket_count(h, i), 0, "round %d, bucket %zu", round, i);
    }
    hist_free(h);
}

Test(hist, percentiles_of_merge_equal_one_big_histogram)
{
    enum { SHARDS = 8 };
    hist *big = hist_new(), *merged = hist_new(), *shard[SHARDS];
    uint64_t seed = 99;
    for (int s = 0; s < SHARDS; s++)
        shard[s] = hist_new();
    for (int i = 0; i < 100000; i++) {
        /* Shards see different ranges, as workers behind different
         * endpoints would; a few values clamp. */
        int s = (int)(rng_next(&seed) % SHARDS);
        uint64_t x = rng_log(&seed, 1 + (uint64_t)s * 1000, HIST_HIGHEST_NS >> (SHARDS - s - 1));
        if (i % 9999 == 0)
            x = HIST_HIGHEST_NS + (uint64_t)i;
        hist_record(shard[s], x);
        hist_record(big, x);
    }
    hist *empty = hist_new();
    hist_merge(merged, empty); /* merging an empty one changes nothing */
    for (int s = 0; s < SHARDS; s++)
        hist_merge(merged, shard[s]);
    hist_merge(merged, empty);
    assert_same_hist(merged, big);
    for (double p = 0; p <= 100; p += 0.125)
        cr_assert_eq(hist_percentile(merged, p), hist_percentile(big, p), "p%f", p);
    cr_assert_eq(hist_mean(merged), hist_mean(big));
    cr_assert_eq(hist_stddev(merged), hist_stddev(big));
    for (int s = 0; s < SHARDS; s++)
        hist_free(shard[s]);
    hist_free(empty);
    hist_free(big);
    hist_free(merged);
}

Test(hist, merge_into_empty_copies_min_and_max)
{
    hist *a = hist_new(), *b = hist_new();
    hist_record(b, 5000000);
    hist_record(b, 9000000);
    hist_merge(a, b);
    cr_assert_eq(hist_min(a), 5000000);
    cr_assert_eq(hist_max(a), 9000000);
    cr_assert_eq(hist_count(a), 2);
    cr_assert_eq(hist_sum(a), 14000000);
    hist_free(a);
    hist_free(b);
}

/* ---- encoding ---- */

static char *encode(const hist *h, size_t *len)
{
    buf b = {0};
    cr_assert_eq(hist_encode(h, &b), 0);
    cr_assert_eq(b.data[b.len], '\0', "encoding is NUL-terminated");
    cr_assert_eq(strlen(b.data), b.len);
    *len = b.len;
    return b.data;
}

/* Decodes from an exactly sized heap copy, so ASan sees any over-read. */
static int decode_exact(hist *h, const char *s, size_t len, err *e)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, s, len);
    int rc = hist_decode(h, copy, len, e);
    free(copy);
    return rc;
}

static void assert_round_trip(const hist *h)
{
    size_t len;
    char *s = encode(h, &len);
    hist *d = hist_new();
    err e = {0};
    cr_assert_eq(decode_exact(d, s, len, &e), 0, "decode '%.200s': %s", s, e.msg);
    assert_same_hist(d, h);
    for (size_t k = 0; k < NPCTS; k++)
        cr_assert_eq(hist_percentile(d, PCTS[k]), hist_percentile(h, PCTS[k]));
    size_t len2;
    char *s2 = encode(d, &len2);
    cr_assert_str_eq(s2, s, "re-encoding is identical");
    free(s);
    free(s2);
    hist_free(d);
}

Test(hist, encoding_of_empty_and_small_histograms_is_as_documented)
{
    hist *h = hist_new();
    size_t len;
    char *s = encode(h, &len);
    cr_assert_str_eq(s, "v1;0;0;0;0;");
    free(s);
    hist_record(h, 5000);
    hist_record(h, 5999);
    hist_record(h, 6000);
    hist_record(h, 9000);
    s = encode(h, &len);
    cr_assert_str_eq(s, "v1;5000;9000;25999;0;5:2:1,9:1");
    free(s);
    hist_free(h);
}

Test(hist, encode_appends_to_existing_buffer)
{
    hist *h = hist_new();
    hist_record(h, 1000);
    buf b = {0};
    buf_append(&b, "x=", 2);
    cr_assert_eq(hist_encode(h, &b), 0);
    cr_assert_eq(b.len, strlen("x=v1;1000;1000;1000;0;1:1"));
    cr_assert_str_eq(b.data, "x=v1;1000;1000;1000;0;1:1");
    buf_free(&b);
    hist_free(h);
}

Test(hist, encode_decode_round_trip_is_exact)
{
    uint64_t seed = 2024;
    hist *h = hist_new();
    assert_round_trip(h); /* empty */
    hist_record(h, 777);
    assert_round_trip(h); /* single value below 1 µs */
    hist_reset(h);
    hist_record(h, 3 * HIST_HIGHEST_NS);
    assert_round_trip(h); /* single clamped value */
    hist_record_n(h, UINT64_MAX, 1ULL << 62);
    assert_round_trip(h); /* saturated sum, huge counts */
    for (int round = 0; round < 40; round++) {
        hist_reset(h);
        int n = (int)(rng_next(&seed) % 5000);
        uint64_t hi = round % 3 ? HIST_HIGHEST_NS * 2 : 1 + rng_next(&seed) % 100000000;
        for (int i = 0; i < n; i++)
            hist_record_n(h, rng_log(&seed, 1, hi), 1 + rng_next(&seed) % 3);
        assert_round_trip(h);
    }
    /* Every bucket non-zero: one long run. */
    hist_reset(h);
    for (size_t i = 0; i < hist_nbuckets(); i++)
        hist_record(h, hist_bucket_low(i));
    assert_round_trip(h);
    hist_free(h);
}

Test(hist, add_bucket_and_set_summary_rebuild_a_histogram)
{
    hist *h = hist_new(), *r = hist_new();
    uint64_t seed = 5;
    for (int i = 0; i < 2000; i++)
        hist_record(h, rng_log(&seed, 1, 3 * HIST_HIGHEST_NS));
    err e = {0};
    for (size_t i = 0; i < hist_nbuckets(); i++)
        cr_assert_eq(hist_add_bucket(r, i, hist_bucket_count(h, i), &e), 0);
    hist_set_summary(r, hist_min(h), hist_max(h), hist_sum(h), hist_clamped(h));
    assert_same_hist(r, h);
    cr_assert_eq(hist_add_bucket(r, hist_nbuckets(), 1, &e), VOLLEY_ERANGE);
    cr_assert_neq(strstr(e.msg, "out of range"), NULL, "%s", e.msg);
    cr_assert_eq(hist_add_bucket(r, 0, UINT64_MAX, &e), VOLLEY_ERANGE, "count overflow");
    hist_free(h);
    hist_free(r);
}

/* Asserts decode fails and, when at >= 0, that the message names byte `at`. */
static void assert_rejected(const char *s, long at)
{
    hist *h = hist_new();
    hist_record(h, 1234567); /* must be emptied on failure */
    err e = {0};
    int rc = decode_exact(h, s, strlen(s), &e);
    cr_assert(rc == VOLLEY_EPARSE || rc == VOLLEY_ERANGE, "'%s' accepted (rc %d)", s, rc);
    cr_assert_eq(e.code, rc);
    cr_assert_neq(strstr(e.msg, "at byte "), NULL, "'%s': %s", s, e.msg);
    if (at >= 0) {
        char want[32];
        snprintf(want, sizeof want, "at byte %ld:", at);
        cr_assert_neq(strstr(e.msg, want), NULL, "'%s': want %s, got %s", s, want, e.msg);
    }
    cr_assert_eq(hist_count(h), 0);
    cr_assert_eq(hist_bucket_count(h, hist_bucket_of(1234567)), 0);
    hist_free(h);
}

Test(hist, decode_rejects_malformed_text_naming_the_offset)
{
    assert_rejected("", 0);
    assert_rejected("v2;0;0;0;0;", 1);
    assert_rejected("V1;0;0;0;0;", 0);
    assert_rejected("v1;0;0;0;0", 10);            /* missing ';' */
    assert_rejected("v1;0;0;0;", 9);              /* missing field */
    assert_rejected("v1;0;0;0;0;;", 11);
    assert_rejected("v1;-1;0;0;0;", 3);
    assert_rejected("v1;+1;0;0;0;", 3);
    assert_rejected("v1; 1;0;0;0;", 3);
    assert_rejected("v1;01;1;1;0;", 3);           /* leading zero */
    assert_rejected("v1;1000;1000;1000;0;1:1,", 24);  /* trailing comma */
    assert_rejected("v1;1000;1000;1000;0;1:1:", 24);  /* dangling ':' */
    assert_rejected("v1;1000;1000;1000;0;1", 21);     /* index without count */
    assert_rejected("v1;1000;1000;1000;0;1:0", 22);   /* zero count */
    assert_rejected("v1;1000;1000;1000;0;1:1x", 23);
    assert_rejected("v1;5000;6000;11000;0;6:1,5:1", 25); /* descending */
    assert_rejected("v1;5000;6000;11000;0;5:1,5:1", 25); /* repeated */
    assert_rejected("v1;5000;6000;11000;0;5:1,6:1", 25); /* runs not joined */
    assert_rejected("v1;1000;1000;1000;0;1:1\n", 23);
    assert_rejected("v1;0;0;0;0;99999999:1", 11);      /* index out of range */
    assert_rejected("v1;0;0;0;0;18446744073709551616:1", 11); /* index overflow */
    assert_rejected("v1;1000;1000;18446744073709551616;0;1:1", 13);
    assert_rejected("v1;1000;1000;1000;0;1:18446744073709551616", 22);
    /* Each count fits, their total does not. */
    assert_rejected("v1;1000;2000;18446744073709551615;0;1:18446744073709551615:1", 59);
    /* A run that walks off the end of the layout. */
    char run[128];
    snprintf(run, sizeof run, "v1;0;0;0;0;%zu:1:1", hist_nbuckets() - 1);
    assert_rejected(run, (long)strlen(run) - 1);
    /* Summary that contradicts the buckets. */
    assert_rejected("v1;0;0;5;0;", 7);                 /* sum with no buckets */
    assert_rejected("v1;2000;1000;3000;0;1:1:1", 3); /* min > max */
    assert_rejected("v1;1000;2000;3000;0;2:2", 3);     /* min in another bucket */
    assert_rejected("v1;1000;3000;4000;0;1:1:1", 8); /* max in another bucket */
    assert_rejected("v1;1000;2000;2500;0;1:1:1", 13); /* sum < min + max */
    assert_rejected("v1;1000;1000;1001;0;1:1", 13);    /* sum of one value */
    assert_rejected("v1;1000;2000;99999;0;1:1:1", 13); /* sum beyond bucket bounds */
    assert_rejected("v1;1000;2000;3000;1;1:1:1", 18); /* clamped below 1 h */
}

Test(hist, decode_rejects_nul_inside_the_length)
{
    static const char s[] = "v1;1000;1000;1000;0;1:1\0";
    hist *h = hist_new();
    err e = {0};
    cr_assert_neq(decode_exact(h, s, sizeof s - 1, &e), 0);
    cr_assert_neq(strstr(e.msg, "at byte 23"), NULL, "%s", e.msg);
    /* ...and reads no further than len even without a terminator. */
    cr_assert_eq(decode_exact(h, s, sizeof s - 2, &e), 0, "%s", e.msg);
    hist_free(h);
}

static hist *sample_hist(uint64_t seed, int n)
{
    hist *h = hist_new();
    for (int i = 0; i < n; i++)
        hist_record(h, rng_log(&seed, 2048 * HIST_LOWEST_NS, 2 * HIST_HIGHEST_NS));
    return h;
}

Test(hist, decode_rejects_every_truncation)
{
    /* Values above 2 ms and a few thousand samples: small enough that a
     * shortened last count is caught by the sum check (see hist.c). */
    hist *h = sample_hist(77, 3000);
    hist_record_n(h, 50000000, 4321);
    size_t len;
    char *s = encode(h, &len);
    hist *d = hist_new();
    for (size_t cut = 0; cut < len; cut++) {
        err e = {0};
        cr_assert_neq(decode_exact(d, s, cut, &e), 0, "prefix of %zu bytes accepted", cut);
        cr_assert_neq(strstr(e.msg, "at byte "), NULL, "%s", e.msg);
    }
    free(s);
    hist_free(d);
    hist_free(h);
}

Test(hist, decode_reports_the_offset_of_a_corrupt_byte)
{
    hist *h = sample_hist(78, 200);
    size_t len;
    char *s = encode(h, &len);
    hist *d = hist_new();
    for (size_t i = 0; i < len; i++) {
        char saved = s[i];
        s[i] = 'x';
        err e = {0};
        char want[32];
        snprintf(want, sizeof want, "at byte %zu:", i);
        cr_assert_neq(decode_exact(d, s, len, &e), 0);
        cr_assert_neq(strstr(e.msg, want), NULL, "corrupt byte %zu: %s", i, e.msg);
        /* Other corruptions may form another valid histogram; they must
         * never crash or read out of bounds (ASan build). */
        static const char alt[] = "0:,;9";
        for (const char *a = alt; *a; a++) {
            s[i] = *a;
            decode_exact(d, s, len, &e);
        }
        s[i] = saved;
    }
    free(s);
    hist_free(d);
    hist_free(h);
}
