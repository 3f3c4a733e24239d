/* libFuzzer target for the user-facing value parsers in core/parse
 * (durations first, sizes and integers from the same bytes): never crash,
 * every error names the flag, and a parsed duration is within the range
 * parse.h allows and survives a format/parse round trip approximately. */
#include "core/parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_err(int rc, const err *e)
{
    if (rc)
        check(rc < 0 && e->code == rc && strstr(e->msg, "--fuzz") != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    /* The parsers take C strings: stop at the first NUL as a flag would. */
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    err e = {0};
    uint64_t v = 0;
    int rc = parse_duration_ns(s, "--fuzz", &v, &e);
    check_err(rc, &e);
    if (!rc) {
        check(v <= 1000000000000000000ULL);
        char out[64];
        uint64_t back;
        parse_format_duration(v, out, sizeof out);
        check(parse_duration_ns(out, "--fuzz", &back, &e) == 0);
        /* Two decimals in the printed unit: within 0.5% or 10 ns. */
        uint64_t diff = back > v ? back - v : v - back;
        check(diff <= v / 200 + 10);
    }
    err_clear(&e);
    check_err(parse_size_bytes(s, "--fuzz", &v, &e), &e);
    err_clear(&e);
    check_err(parse_u64(s, "--fuzz", 1, 1000, &v, &e), &e);
    if (!e.code)
        check(v >= 1 && v <= 1000);
    double d;
    err_clear(&e);
    check_err(parse_double(s, "--fuzz", &d, &e), &e);
    free(s);
    return 0;
}
