/* libFuzzer target for the threshold grammar (metrics/threshold): never
 * crash; an error names the threshold and a 1-based position inside it;
 * a parsed threshold has a known operator and aggregate, and parsing its
 * stored text again gives the same threshold. */
#include "metrics/threshold.h"

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
    if (size > 512)
        return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    threshold t, again;
    err e = {0};
    int rc = threshold_parse(s, &t, &e);
    if (rc) {
        check(rc < 0 && e.code == rc);
        check(!strncmp(e.msg, "threshold", 9));
        /* "threshold 'EXPR': at position N: why", EXPR as stored. */
        char head[300];
        snprintf(head, sizeof head, "threshold '%s': at position ", t.expr);
        if (!strncmp(e.msg, head, strlen(head))) {
            int pos = atoi(e.msg + strlen(head));
            check(pos >= 1 && (size_t)pos <= strlen(t.expr) + 1);
        }
    } else {
        check(t.op <= TH_NE && t.agg <= TH_DROPPED && (int)t.metric < METRICS_DIST_COUNT);
        check(t.agg != TH_PCT || (t.pct >= 0 && t.pct <= 100));
        err_clear(&e);
        check(threshold_parse(t.expr, &again, &e) == 0);
        check(again.op == t.op && again.agg == t.agg && again.metric == t.metric);
        check(!strcmp(again.endpoint, t.endpoint));
        check(again.value == t.value || (again.value != again.value && t.value != t.value));
        char out[64];
        threshold_format_actual(&t, t.value, out, sizeof out);
        check(threshold_check(&t, t.value) == (t.op == TH_LE || t.op == TH_GE || t.op == TH_EQ) ||
              t.value != t.value);
    }
    free(s);
    return 0;
}
