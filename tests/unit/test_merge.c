/* Tests for results/merge: the percentiles of a merge of N results equal
 * those of one histogram over the union of their samples; merged
 * per-second series are the sum of the inputs' rows on wall-clock seconds;
 * endpoints match by name; different plans, a repeated segment, parts of
 * another split, whole runs and missing
 * segments are refused or reported; unknown counters add generically. */
#include "results/merge.h"

#include "core/clock.h"
#include "results/results_json.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(uint64_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng % n;
}

#define T0 1796184000000000000ULL

/* One segment's results: samples drawn at random (also recorded into the
 * union histograms), two endpoints, three series rows. */
static char *segment_json(uint32_t k, uint32_t n, uint64_t start_ns, hist *all, hist *ep_b,
                          double rate)
{
    results r;
    cr_assert_eq(results_init(&r), 0);
    snprintf(r.plan.url, sizeof r.plan.url, "http://127.0.0.1:1/");
    snprintf(r.plan.method, sizeof r.plan.method, "GET");
    snprintf(r.plan.executor, sizeof r.plan.executor, "constant-arrival-rate");
    r.plan.rate_per_s = rate;
    r.plan.duration_ns = 3 * NS_PER_S;
    r.plan.threads = 1;
    r.start_wall_ns = start_ns;
    r.end_wall_ns = start_ns + 3 * NS_PER_S;
    r.segment_k = k;
    r.segment_n = n;
    r.st.elapsed_ns = 3 * NS_PER_S;
    cr_assert(results_add_endpoint(&r, "a", "GET", "http://127.0.0.1:1/a"));
    cr_assert(results_add_endpoint(&r, "b", "POST", "http://127.0.0.1:1/b"));
    results_endpoint *a = &r.eps[0], *b = &r.eps[1]; /* after the reallocs */
    uint64_t ns = 100 + rnd(2000);
    for (uint64_t i = 0; i < ns; i++) {
        /* heavy tail: 20 µs .. ~2 s */
        uint64_t v = 20000 + rnd(1000000) * (1 + rnd(4) * rnd(1000));
        results_endpoint *ep = i % 3 ? a : b;
        hist_record(ep->st.latency, v);
        hist_record(r.st.latency, v);
        hist_record(all, v);
        if (ep == b)
            hist_record(ep_b, v);
        ep->st.tot.requests++;
        ep->st.tot.responses++;
        ep->st.tot.status[i % 7 ? 200 : 503]++;
        r.st.tot.requests++;
        r.st.tot.responses++;
        r.st.tot.status[i % 7 ? 200 : 503]++;
    }
    for (uint32_t s = 0; s < 3; s++) {
        series_row w = {.second = s, .requests = 10 * k + s, .responses = 10 * k + s,
                        .bytes_in = 100 * k, .p99_ns = 1000000 * k, .max_ns = 2000000 * k,
                        .mean_ns = 500000.0 * k, .active = k};
        cr_assert_eq(series_append(&r.st.sec, &w), 0);
    }
    err e = {0};
    char *s = results_json_dump(&r, &e);
    cr_assert(s, "%s", e.msg);
    results_free(&r);
    return s;
}

static void assert_same_hist(const hist *got, const hist *want)
{
    cr_assert_eq(hist_count(got), hist_count(want));
    cr_assert_eq(hist_min(got), hist_min(want));
    cr_assert_eq(hist_max(got), hist_max(want));
    cr_assert_eq(hist_sum(got), hist_sum(want));
    for (double p = 0; p <= 100; p += 0.25)
        cr_assert_eq(hist_percentile(got, p), hist_percentile(want, p), "p%.2f", p);
    cr_assert_eq(hist_percentile(got, 99.99), hist_percentile(want, 99.99));
}

Test(merge, test_merged_percentiles_equal_one_histogram_of_all_samples)
{
    for (uint32_t n = 1; n <= 8; n++) {
        hist *all = hist_new(), *ep_b = hist_new();
        err e = {0};
        merger *m = merge_new(false, &e);
        uint64_t requests = 0;
        for (uint32_t k = n; k >= 1; k--) { /* any order */
            char *s = segment_json(k, n, T0 + rnd(3000000), all, ep_b, 1000);
            cr_assert_eq(merge_add_text(m, s, strlen(s), "seg", &e), 0, "%s", e.msg);
            free(s);
        }
        results r;
        cr_assert_eq(merge_finish(m, &r, &e), 0, "%s", e.msg);
        assert_same_hist(r.st.latency, all);
        cr_assert_eq(r.neps, 2);
        cr_assert_str_eq(r.eps[1].name, "b");
        assert_same_hist(r.eps[1].st.latency, ep_b);
        requests = hist_count(all);
        cr_assert_eq(r.st.tot.requests, requests);
        cr_assert_eq(r.st.tot.status[200] + r.st.tot.status[503], requests);
        cr_assert_eq(r.eps[0].st.tot.requests + r.eps[1].st.tot.requests, requests);
        cr_assert_str_eq(merge_warnings(m), "");
        results_free(&r);
        merge_free(m);
        hist_free(all);
        hist_free(ep_b);
    }
}

Test(merge, test_series_align_on_wall_clock_seconds)
{
    /* Segment k starts k-1 seconds after the first (plus a few ms), so its
     * row s is the merged run's row s + k - 1. */
    hist *all = hist_new(), *b = hist_new();
    err e = {0};
    merger *m = merge_new(false, &e);
    uint32_t n = 3;
    for (uint32_t k = 1; k <= n; k++) {
        char *s = segment_json(k, n, T0 + (k - 1) * NS_PER_S + k * 7 * NS_PER_MS, all, b, 10);
        cr_assert_eq(merge_add_text(m, s, strlen(s), "seg", &e), 0, "%s", e.msg);
        free(s);
    }
    results r;
    cr_assert_eq(merge_finish(m, &r, &e), 0, "%s", e.msg);
    cr_assert_eq(r.start_wall_ns, T0 + 7 * NS_PER_MS);
    cr_assert_eq(r.st.sec.len, 5);
    for (uint32_t sec = 0; sec < 5; sec++) {
        uint64_t req = 0, bytes = 0, maxv = 0;
        uint32_t active = 0;
        for (uint32_t k = 1; k <= n; k++) {
            int64_t s = (int64_t)sec - (int64_t)(k - 1); /* the input's own row */
            if (s < 0 || s > 2)
                continue;
            req += 10 * k + (uint64_t)s;
            bytes += 100 * k;
            active += k;
            maxv = 2000000ULL * k > maxv ? 2000000ULL * k : maxv;
        }
        const series_row *w = &r.st.sec.rows[sec];
        cr_assert_eq(w->second, sec);
        cr_assert_eq(w->requests, req, "second %u", sec);
        cr_assert_eq(w->bytes_in, bytes);
        cr_assert_eq(w->active, active);
        cr_assert_eq(w->max_ns, maxv);
    }
    results_free(&r);
    merge_free(m);
    hist_free(all);
    hist_free(b);
}

static merger *two(bool force, double rate2, uint32_t k2, int *rc, err *e)
{
    hist *a = hist_new(), *b = hist_new();
    merger *m = merge_new(force, e);
    char *s1 = segment_json(1, 3, T0, a, b, 1000), *s2 = segment_json(k2, 3, T0, a, b, rate2);
    cr_assert_eq(merge_add_text(m, s1, strlen(s1), "one.json", e), 0);
    *rc = merge_add_text(m, s2, strlen(s2), "two.json", e);
    free(s1);
    free(s2);
    hist_free(a);
    hist_free(b);
    return m;
}

Test(merge, test_different_plans_refused_naming_the_field)
{
    err e = {0};
    int rc;
    merger *m = two(false, 2000, 2, &rc, &e);
    cr_assert_eq(rc, VOLLEY_EINVAL);
    cr_assert(strstr(e.msg, "plan.rate_per_s"), "%s", e.msg);
    cr_assert(strstr(e.msg, "two.json") && strstr(e.msg, "one.json"), "%s", e.msg);
    merge_free(m);
    m = two(true, 2000, 2, &rc, &e);
    cr_assert_eq(rc, 0);
    cr_assert(strstr(merge_warnings(m), "plan.rate_per_s"), "%s", merge_warnings(m));
    merge_free(m);
}

Test(merge, test_segment_twice_refused_and_missing_warned)
{
    err e = {0};
    int rc;
    merger *m = two(false, 1000, 1, &rc, &e);
    cr_assert_eq(rc, VOLLEY_EINVAL);
    cr_assert(strstr(e.msg, "segment 1/3 was given twice"), "%s", e.msg);
    merge_free(m);
    m = two(false, 1000, 3, &rc, &e);
    cr_assert_eq(rc, 0, "%s", e.msg);
    results r;
    cr_assert_eq(merge_finish(m, &r, &e), 0, "%s", e.msg);
    cr_assert(strstr(merge_warnings(m), "segments missing: 2 of 3"), "%s", merge_warnings(m));
    cr_assert(strstr(r.warning, "not whole"), "%s", r.warning);
    results_free(&r);
    merge_free(m);
}

/* Parts of different splits (1/3 and 2/4), and two whole runs (no
 * --segment, so nothing says they are parts of one run), are refused
 * naming both files; --force merges them with a warning. */
static int add_seg(merger *m, uint32_t k, uint32_t n, const char *name, err *e)
{
    hist *a = hist_new(), *b = hist_new();
    char *s = segment_json(k, n, T0, a, b, 1000);
    int rc = merge_add_text(m, s, strlen(s), name, e);
    free(s);
    hist_free(a);
    hist_free(b);
    return rc;
}

Test(merge, test_other_split_and_whole_runs_refused_unless_forced)
{
    const uint32_t splits[][4] = {{1, 3, 2, 4}, {0, 0, 0, 0}};
    const char *const want[] = {"segment 2/4 is not of the same split as one.json (segment 1/3)",
                                "one.json and two.json are whole runs (no --segment)"};
    for (int i = 0; i < 2; i++)
        for (int force = 0; force <= 1; force++) {
            err e = {0};
            merger *m = merge_new(force, &e);
            cr_assert_eq(add_seg(m, splits[i][0], splits[i][1], "one.json", &e), 0, "%s", e.msg);
            int rc = add_seg(m, splits[i][2], splits[i][3], "two.json", &e);
            cr_assert(strstr(e.msg, want[i]), "%s", e.msg);
            if (!force) {
                cr_assert_eq(rc, VOLLEY_EINVAL);
            } else {
                cr_assert_eq(rc, 0);
                cr_assert(strstr(merge_warnings(m), want[i]) &&
                              strstr(merge_warnings(m), "merged anyway: --force"),
                          "%s", merge_warnings(m));
                cr_assert_eq(merge_count(m), 2);
            }
            merge_free(m);
        }
}

/* Fields volley does not model (a script's block, a newer counter) add
 * without code for them; several documents in one text, with log lines
 * between them, are all read. */
Test(merge, test_unknown_counters_add_and_concatenated_documents)
{
    hist *a = hist_new(), *b = hist_new();
    char *s1 = segment_json(1, 2, T0, a, b, 5), *s2 = segment_json(2, 2, T0, a, b, 5);
    json_t *j1 = json_loads(s1, 0, NULL), *j2 = json_loads(s2, 0, NULL);
    json_object_set_new(j1, "script", json_pack("{s:I,s:{s:I}}", "iterations", 5, "ws", "sessions", 2));
    json_object_set_new(j2, "script", json_pack("{s:I,s:{s:I}}", "iterations", 7, "ws", "sessions", 3));
    char *t1 = json_dumps(j1, JSON_INDENT(1)), *t2 = json_dumps(j2, JSON_INDENT(1));
    size_t cap = strlen(t1) + strlen(t2) + 100;
    char *text = malloc(cap);
    snprintf(text, cap, "pod-0 starting\n%s\nlog line {not json}\n%s\n", t1, t2);
    err e = {0};
    merger *m = merge_new(false, &e);
    cr_assert_eq(merge_add_text(m, text, strlen(text), "stdin", &e), 0, "%s", e.msg);
    cr_assert_eq(merge_count(m), 2);
    results r;
    cr_assert_eq(merge_finish(m, &r, &e), 0, "%s", e.msg);
    cr_assert_eq(r.st.tot.requests, hist_count(a));
    json_t *out = json_object();
    cr_assert_eq(merge_write_extra(out, m), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(out, "script"), "iterations")), 12);
    json_t *ws = json_object_get(json_object_get(out, "script"), "ws");
    cr_assert_eq(json_integer_value(json_object_get(ws, "sessions")), 5);
    json_t *inputs = json_object_get(json_object_get(out, "merge"), "inputs");
    cr_assert_eq(json_array_size(inputs), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(inputs, 1), "segment")), "2/2");
    json_decref(out);
    results_free(&r);
    merge_free(m);
    json_decref(j1);
    json_decref(j2);
    free(s1);
    free(s2);
    free(t1);
    free(t2);
    free(text);
    hist_free(a);
    hist_free(b);
}

/* Two mergers given halves of the inputs (as volley merge does with two
 * threads), one absorbing the other, give what one merger gives. */
Test(merge, test_absorbed_halves_equal_one_merge)
{
    err e = {0};
    char *docs[6];
    hist *all = hist_new(), *b = hist_new();
    for (uint32_t k = 1; k <= 6; k++)
        docs[k - 1] = segment_json(k, 6, T0 + (k % 3) * NS_PER_S + k * NS_PER_MS, all, b, 50);
    merger *one = merge_new(false, &e), *a = merge_new(false, &e), *z = merge_new(false, &e);
    uint64_t ref = merge_peek_start(docs[0], strlen(docs[0]));
    cr_assert_eq(ref, T0 + NS_PER_S + NS_PER_MS);
    merge_set_reference(a, ref);
    merge_set_reference(z, ref);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(merge_add_text(one, docs[i], strlen(docs[i]), "d", &e), 0, "%s", e.msg);
        cr_assert_eq(merge_add_text(i < 3 ? a : z, docs[i], strlen(docs[i]), "d", &e), 0);
    }
    cr_assert_eq(merge_absorb(a, z, &e), 0, "%s", e.msg);
    results r1, r2;
    cr_assert_eq(merge_finish(one, &r1, &e), 0, "%s", e.msg);
    cr_assert_eq(merge_finish(a, &r2, &e), 0, "%s", e.msg);
    assert_same_hist(r2.st.latency, all);
    assert_same_hist(r2.eps[1].st.latency, r1.eps[1].st.latency);
    cr_assert_eq(r2.start_wall_ns, r1.start_wall_ns);
    cr_assert_eq(r2.st.sec.len, r1.st.sec.len);
    for (size_t i = 0; i < r1.st.sec.len; i++)
        cr_assert_eq(r2.st.sec.rows[i].requests, r1.st.sec.rows[i].requests, "row %zu", i);
    cr_assert_eq(merge_count(a), 6);
    results_free(&r1);
    results_free(&r2);
    merge_free(one);
    merge_free(a);
    merge_free(z);
    /* a segment in both halves is refused when they meet */
    a = merge_new(false, &e);
    z = merge_new(false, &e);
    cr_assert_eq(merge_add_text(a, docs[0], strlen(docs[0]), "x.json", &e), 0);
    cr_assert_eq(merge_add_text(z, docs[0], strlen(docs[0]), "y.json", &e), 0);
    cr_assert_eq(merge_absorb(a, z, &e), VOLLEY_EINVAL);
    cr_assert(strstr(e.msg, "given twice"), "%s", e.msg);
    merge_free(a);
    merge_free(z);
    for (int i = 0; i < 6; i++)
        free(docs[i]);
    hist_free(all);
    hist_free(b);
}

Test(merge, test_series_column_with_escapes_refused_with_its_offset)
{
    /* Column names are read raw (no tree per input): an escaped one is
     * refused by name and byte, not misread. */
    hist *all = hist_new(), *b = hist_new();
    char *s = segment_json(1, 1, T0, all, b, 10);
    char *cols = strstr(s, "\"columns\"");
    cr_assert_not_null(cols);
    char *sec = strstr(cols, "\"second\"");
    cr_assert_not_null(sec);
    size_t len = strlen(s), at = (size_t)(sec - s);
    char *t = malloc(len + 8);
    snprintf(t, len + 8, "%.*s\"se\\u0063ond\"%s", (int)at, s, sec + 8);
    err e = {0};
    merger *m = merge_new(false, &e);
    cr_assert_neq(merge_add_text(m, t, strlen(t), "esc.json", &e), 0);
    cr_assert(strstr(e.msg, "esc.json: malformed JSON at byte ") &&
                  strstr(e.msg, "a series column name with escapes"),
              "%s", e.msg);
    merge_free(m);
    free(t);
    free(s);
    hist_free(all);
    hist_free(b);
}

Test(merge, test_members_in_another_order_merge_by_name)
{
    /* The second input lists the members of "script" in another order: the
     * cursor misses and each member is found by name (a lookup that once
     * took a copy of the key for the object's own and read freed memory). */
    hist *a = hist_new(), *b = hist_new();
    char *s1 = segment_json(1, 2, T0, a, b, 5), *s2 = segment_json(2, 2, T0, a, b, 5);
    json_t *j1 = json_loads(s1, 0, NULL), *j2 = json_loads(s2, 0, NULL);
    json_object_set_new(j1, "script", json_pack("{s:I,s:{s:I},s:I}", "iterations", 5, "ws",
                                                 "sessions", 2, "extra", 1));
    json_object_set_new(j2, "script", json_pack("{s:I,s:{s:I},s:I}", "extra", 4, "ws",
                                                 "sessions", 3, "iterations", 7));
    char *t1 = json_dumps(j1, JSON_COMPACT), *t2 = json_dumps(j2, JSON_COMPACT);
    err e = {0};
    merger *m = merge_new(false, &e);
    cr_assert_eq(merge_add_text(m, t1, strlen(t1), "one", &e), 0, "%s", e.msg);
    cr_assert_eq(merge_add_text(m, t2, strlen(t2), "two", &e), 0, "%s", e.msg);
    results r;
    cr_assert_eq(merge_finish(m, &r, &e), 0, "%s", e.msg);
    json_t *out = json_object();
    cr_assert_eq(merge_write_extra(out, m), 0);
    json_t *sc = json_object_get(out, "script");
    cr_assert_eq(json_integer_value(json_object_get(sc, "iterations")), 12);
    cr_assert_eq(json_integer_value(json_object_get(sc, "extra")), 5);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(sc, "ws"), "sessions")), 5);
    json_decref(out);
    results_free(&r);
    merge_free(m);
    json_decref(j1);
    json_decref(j2);
    free(s1);
    free(s2);
    free(t1);
    free(t2);
    hist_free(a);
    hist_free(b);
}

Test(merge, test_a_later_input_with_an_unknown_histogram_encoding_is_refused)
{
    /* Only the histogram of a metric met before is read: one that is not a
     * v1 encoding is refused, not skipped with its samples. */
    hist *all = hist_new(), *b = hist_new();
    char *s1 = segment_json(1, 2, T0, all, b, 5), *s2 = segment_json(2, 2, T0, all, b, 5);
    char *h = strstr(s2, "\"histogram\"");
    cr_assert_not_null(h);
    char *v = strstr(h, "\"v1;");
    cr_assert_not_null(v);
    v[2] = '9';
    err e = {0};
    merger *m = merge_new(false, &e);
    cr_assert_eq(merge_add_text(m, s1, strlen(s1), "one", &e), 0, "%s", e.msg);
    cr_assert_neq(merge_add_text(m, s2, strlen(s2), "two", &e), 0);
    cr_assert(strstr(e.msg, "two: malformed JSON at byte ") &&
                  strstr(e.msg, "a histogram encoding (v1;...) expected"),
              "%s", e.msg);
    merge_free(m);
    free(s1);
    free(s2);
    hist_free(all);
    hist_free(b);
}
