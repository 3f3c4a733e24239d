/* libFuzzer target for hist_decode, the reader of histograms in results
 * files. Any input must decode or fail with an offset inside it, never
 * crash or read past len; what decodes must re-encode to the same bytes
 * (the encoding is canonical) and answer queries consistently. */
#include "core/buf.h"
#include "metrics/hist.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hist *h;
    if (!h)
        h = hist_new(); /* reused: decode must reset it */
    err e = {0};
    int rc = hist_decode(h, (const char *)data, size, &e);
    if (rc) {
        check(rc == VOLLEY_EPARSE || rc == VOLLEY_ERANGE);
        const char *at = strstr(e.msg, "at byte ");
        check(at != NULL);
        unsigned long off = strtoul(at + strlen("at byte "), NULL, 10);
        check(off <= size);
        check(hist_count(h) == 0);
        return 0;
    }
    buf b = {0};
    check(hist_encode(h, &b) == 0);
    check(b.len == size && memcmp(b.data, data, size) == 0);
    buf_free(&b);
    uint64_t mn = hist_min(h), mx = hist_max(h), prev = mn;
    check(mn <= mx);
    check(hist_percentile(h, 0) == mn && hist_percentile(h, 100) == mx);
    for (double p = 1; p < 100; p += 7.5) {
        uint64_t v = hist_percentile(h, p);
        check(v >= prev && v <= mx);
        prev = v;
    }
    return 0;
}
