/* ciexport: JUnit XML, .hgrm and Prometheus text of a results file (see
 * ciexport.h). The .hgrm rows follow HdrHistogram's
 * outputPercentileDistribution: 5 ticks per half distance to 100%, each row
 * the value at that percentile, the count at or below it and 1/(1-p). */
#include "report/ciexport.h"

#include "core/clock.h"
#include "output/prom.h"
#include "output/snap.h"

#include <math.h>
#include <string.h>

static int xml_text(buf *o, const char *s)
{
    int rc = 0;
    for (; *s && !rc; s++) {
        switch (*s) {
        case '<': rc = buf_append(o, "&lt;", 4); break;
        case '>': rc = buf_append(o, "&gt;", 4); break;
        case '&': rc = buf_append(o, "&amp;", 5); break;
        case '"': rc = buf_append(o, "&quot;", 6); break;
        default: rc = (unsigned char)*s < 0x20 ? 0 : buf_append(o, s, 1);
        }
    }
    return rc;
}

static int junit_case(buf *o, const results_threshold *t)
{
    int rc = buf_printf(o, "    <testcase classname=\"volley.thresholds\" name=\"");
    rc = rc ? rc : xml_text(o, t->expr);
    rc = rc ? rc : buf_printf(o, "\" time=\"0\">\n");
    if (!rc && !t->ok) {
        rc = buf_printf(o, "      <failure type=\"threshold\" message=\"actual ");
        rc = rc ? rc : xml_text(o, t->actual_text);
        rc = rc ? rc : buf_printf(o, "\">threshold ");
        rc = rc ? rc : xml_text(o, t->expr);
        rc = rc ? rc : buf_printf(o, " failed: actual ");
        rc = rc ? rc : xml_text(o, t->actual_text);
        rc = rc ? rc : buf_printf(o, "</failure>\n");
    }
    if (!rc)
        rc = buf_printf(o, "      <system-out>actual ");
    rc = rc ? rc : xml_text(o, t->actual_text);
    return rc ? rc : buf_printf(o, "</system-out>\n    </testcase>\n");
}

int ciexport_junit(const results *r, buf *o)
{
    size_t failed = 0;
    for (size_t i = 0; i < r->nthresholds; i++)
        failed += !r->thresholds[i].ok;
    char ts[40];
    clock_format_rfc3339(r->start_wall_ns, ts, sizeof ts);
    double secs = (double)r->st.elapsed_ns / 1e9;
    int rc = buf_printf(o,
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<testsuites name=\"volley\" tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n"
                        "  <testsuite name=\"volley thresholds\" tests=\"%zu\" failures=\"%zu\" "
                        "errors=\"0\" skipped=\"0\" time=\"%.3f\" timestamp=\"%s\">\n"
                        "    <properties>\n      <property name=\"url\" value=\"",
                        r->nthresholds, failed, secs, r->nthresholds, failed, secs, ts);
    rc = rc ? rc : xml_text(o, r->plan.url);
    if (!rc)
        rc = buf_printf(o, "\"/>\n      <property name=\"requests\" value=\"%llu\"/>\n"
                           "      <property name=\"errors\" value=\"%llu\"/>\n    </properties>\n",
                        (unsigned long long)r->st.tot.requests, (unsigned long long)r->st.tot.errors);
    for (size_t i = 0; !rc && i < r->nthresholds; i++)
        rc = junit_case(o, &r->thresholds[i]);
    return rc ? rc : buf_printf(o, "  </testsuite>\n</testsuites>\n");
}

typedef struct below_ctx {
    uint64_t value_ns, n;
} below_ctx;

static void below_add(void *ctx, size_t idx, uint64_t count)
{
    below_ctx *c = ctx;
    if (hist_bucket_low(idx) <= c->value_ns)
        c->n += count;
}

static uint64_t count_at_or_below(const hist *h, uint64_t v)
{
    below_ctx c = {.value_ns = v};
    hist_foreach(h, below_add, &c);
    return c.n;
}

static int hgrm_row(buf *o, const hist *h, double pct)
{
    uint64_t v = hist_percentile(h, pct);
    return buf_printf(o, "%12.3f %2.12f %10llu %14.2f\n", (double)v / 1e6, pct / 100,
                      (unsigned long long)count_at_or_below(h, v), 1 / (1 - pct / 100));
}

/* HdrHistogram's bucket count for the layout of hist (unit 1 µs, 2048
 * sub-buckets, values up to HIST_HIGHEST_NS), computed as HdrHistogram
 * does: double the sub-bucket range until it holds the highest value. */
static int hdr_bucket_count(void)
{
    uint64_t reach = 2048;
    int n = 1;
    while (reach <= HIST_HIGHEST_NS / HIST_LOWEST_NS) {
        reach <<= 1;
        n++;
    }
    return n;
}

int ciexport_hgrm(const hist *h, buf *o)
{
    uint64_t total = hist_count(h);
    int rc = buf_printf(o, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
                        "1/(1-Percentile)");
    /* Rows until every recorded value is covered (at most 1 in 2^30 left). */
    for (double p = 0; !rc && total && p < 100; ) {
        rc = hgrm_row(o, h, p);
        if (count_at_or_below(h, hist_percentile(h, p)) >= total)
            break;
        double half = pow(2, floor(log2(100 / (100 - p))) + 1);
        p += 100 / (5 * half);
        if (100 - p < 100.0 / (1 << 30))
            break;
    }
    if (!rc && total)
        rc = buf_printf(o, "%12.3f %2.12f %10llu\n", (double)hist_max(h) / 1e6, 1.0,
                        (unsigned long long)total);
    if (!rc)
        rc = buf_printf(o, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n"
                           "#[Max     = %12.3f, Total count    = %12llu]\n"
                           "#[Buckets = %12d, SubBuckets     = %12d]\n",
                        hist_mean(h) / 1e6, hist_stddev(h) / 1e6, (double)hist_max(h) / 1e6,
                        (unsigned long long)total, hdr_bucket_count(), 2048);
    return rc;
}

int ciexport_prom(const results *r, buf *o)
{
    snap s;
    int rc = snap_init(&s);
    if (!rc)
        rc = snap_set_final(&s, r, 0);
    if (!rc)
        rc = prom_encode(&s, o);
    snap_free(&s);
    return rc;
}
