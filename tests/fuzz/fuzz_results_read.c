/* libFuzzer target for the results.json reader (results/results_read),
 * which reads untrusted files: never crash or leak; a failure names the
 * file and leaves nothing allocated; a file that reads is dumped again and
 * read back to the same bytes (the reader is the dumper's exact inverse). */
#include "results/results_json.h"
#include "results/results_read.h"

#include <stdint.h>
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
    if (size > 1 << 16)
        return 0;
    results r;
    err e = {0};
    int rc = results_json_parse((const char *)data, size, "fuzz.json", &r, &e);
    if (rc) {
        check(rc < 0 && e.code == rc && strstr(e.msg, "fuzz.json") != NULL);
        return 0;
    }
    char *a = results_json_dump(&r, &e);
    check(a != NULL);
    results r2;
    err_clear(&e);
    check(results_json_parse(a, strlen(a), "again.json", &r2, &e) == 0);
    char *b = results_json_dump(&r2, &e);
    check(b != NULL && !strcmp(a, b));
    free(a);
    free(b);
    results_free(&r);
    results_free(&r2);
    return 0;
}
