/* Tests for core/parse: durations, sizes, bounded integers, decimals and
 * the short duration format, including that every error message names the
 * flag or field passed as `what`. */
#include "core/clock.h"
#include "core/parse.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

typedef struct dur_case {
    const char *s;
    uint64_t ns;
} dur_case;

static const dur_case DURATIONS[] = {
    {"500ms", 500 * NS_PER_MS},
    {"10s", 10 * NS_PER_S},
    {"1.5s", 1500 * NS_PER_MS},
    {"2m", 120 * NS_PER_S},
    {"1h30m", 5400 * NS_PER_S},
    {"1m30s", 90 * NS_PER_S},
    {"250us", 250 * NS_PER_US},
    {"250µs", 250 * NS_PER_US},
    {"75ns", 75},
    {"10", 10 * NS_PER_S}, /* bare number: seconds */
    {"0.5", 500 * NS_PER_MS},
    {".5s", 500 * NS_PER_MS},
    {"0", 0},
    {"0s", 0},
    {"1h1m1s1ms1us1ns", 3661 * NS_PER_S + NS_PER_MS + NS_PER_US + 1},
};

Test(parse, durations_with_units_and_bare_seconds)
{
    for (size_t i = 0; i < sizeof DURATIONS / sizeof DURATIONS[0]; i++) {
        uint64_t v = 12345;
        err e = {0};
        int rc = parse_duration_ns(DURATIONS[i].s, "--duration", &v, &e);
        cr_assert_eq(rc, 0, "'%s': %s", DURATIONS[i].s, e.msg);
        cr_assert_eq(v, DURATIONS[i].ns, "'%s' = %llu", DURATIONS[i].s, (unsigned long long)v);
    }
}

static void assert_duration_rejected(const char *s)
{
    uint64_t v = 777;
    err e = {0};
    int rc = parse_duration_ns(s, "--ramp-up", &v, &e);
    cr_assert_lt(rc, 0, "'%s' accepted as %llu", s, (unsigned long long)v);
    cr_assert_eq(e.code, rc);
    cr_assert_neq(strstr(e.msg, "--ramp-up"), NULL, "'%s': message '%s' lacks the flag", s, e.msg);
    cr_assert_eq(v, 777, "'%s': output written on error", s);
}

Test(parse, duration_errors_name_the_flag)
{
    static const char *bad[] = {"",    "abc", "10x",  "-5s",  "1e3s", "s",     "10s5",
                                "1.2.3s", " 5s", "5s ", "5 s", "0x10s", "ms",   "5sm",
                                "inf", "nan", "1e400", "+5s", "5S"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_duration_rejected(bad[i]);
}

Test(parse, duration_too_long_is_a_range_error)
{
    uint64_t v;
    err e = {0};
    cr_assert_eq(parse_duration_ns("999999999999h", "-d", &v, &e), VOLLEY_ERANGE);
    cr_assert_neq(strstr(e.msg, "-d"), NULL, "%s", e.msg);
    cr_assert_eq(parse_duration_ns("200000h", "-d", &v, &e), 0, "about 23 years fits");
    cr_assert_eq(v, 200000 * 3600 * NS_PER_S);
}

Test(parse, duration_null_is_an_error_not_a_crash)
{
    uint64_t v;
    err e = {0};
    cr_assert_lt(parse_duration_ns(NULL, "--timeout", &v, &e), 0);
    cr_assert_neq(strstr(e.msg, "--timeout"), NULL);
    cr_assert_lt(parse_duration_ns("abc", "--timeout", &v, NULL), 0, "err may be NULL");
}

Test(parse, sizes_are_powers_of_1024)
{
    static const struct {
        const char *s;
        uint64_t bytes;
    } ok[] = {
        {"512", 512},          {"0", 0},
        {"64k", 64 << 10},     {"64K", 64 << 10},
        {"64KB", 64 << 10},    {"64KiB", 64 << 10},
        {"16MiB", 16 << 20},   {"16m", 16 << 20},
        {"1G", 1ULL << 30},    {"2GB", 2ULL << 30},
        {"1.5k", 1536},        {"100b", 100},
        {"100B", 100},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 1;
        err e = {0};
        cr_assert_eq(parse_size_bytes(ok[i].s, "--body-size", &v, &e), 0, "'%s': %s", ok[i].s,
                     e.msg);
        cr_assert_eq(v, ok[i].bytes, "'%s' = %llu", ok[i].s, (unsigned long long)v);
    }
}

Test(parse, size_errors_name_the_field)
{
    static const char *bad[] = {"", "k", "abc", "10x", "-1", "1e3", "64kx", "64KBB",
                                "16Mi", "1T", " 1k", "1 k", "99999999999G"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 9;
        err e = {0};
        int rc = parse_size_bytes(bad[i], "max_body", &v, &e);
        cr_assert_lt(rc, 0, "'%s' accepted as %llu", bad[i], (unsigned long long)v);
        cr_assert_neq(strstr(e.msg, "max_body"), NULL, "'%s': %s", bad[i], e.msg);
        cr_assert_eq(v, 9);
    }
}

Test(parse, u64_accepts_only_digits_within_bounds)
{
    uint64_t v = 0;
    err e = {0};
    cr_assert_eq(parse_u64("50", "-c", 1, 100, &v, &e), 0);
    cr_assert_eq(v, 50);
    cr_assert_eq(parse_u64("1", "-c", 1, 100, &v, &e), 0, "min is inclusive");
    cr_assert_eq(parse_u64("100", "-c", 1, 100, &v, &e), 0, "max is inclusive");
    cr_assert_eq(parse_u64("18446744073709551615", "-n", 0, UINT64_MAX, &v, &e), 0);
    cr_assert_eq(v, UINT64_MAX);

    v = 3;
    cr_assert_eq(parse_u64("0", "-c", 1, 100, &v, &e), VOLLEY_ERANGE);
    cr_assert_neq(strstr(e.msg, "-c"), NULL, "%s", e.msg);
    cr_assert_eq(parse_u64("101", "-c", 1, 100, &v, &e), VOLLEY_ERANGE);
    cr_assert_eq(parse_u64("18446744073709551616", "-n", 0, UINT64_MAX, &v, &e), VOLLEY_ERANGE,
                 "overflow is out of range, not wrapped");
    static const char *bad[] = {"", "-1", "+1", "1.0", "1k", " 1", "1 ", "0x10", "abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear(&e);
        cr_assert_lt(parse_u64(bad[i], "--threads", 0, 1000, &v, &e), 0, "'%s'", bad[i]);
        cr_assert_neq(strstr(e.msg, "--threads"), NULL, "'%s': %s", bad[i], e.msg);
    }
    cr_assert_eq(v, 3, "output untouched by every failure");
}

Test(parse, double_accepts_plain_non_negative_decimals)
{
    double v = -1;
    err e = {0};
    cr_assert_eq(parse_double("2500", "--rate", &v, &e), 0);
    cr_assert_eq(v, 2500.0);
    cr_assert_eq(parse_double("0.5", "--rate", &v, &e), 0);
    cr_assert_eq(v, 0.5);
    static const char *bad[] = {"", "-1", "1e3", "abc", "1.5/s", "inf", "nan", "0x1p3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_lt(parse_double(bad[i], "--rate", &v, &e), 0, "'%s'", bad[i]);
        cr_assert_neq(strstr(e.msg, "--rate"), NULL, "'%s': %s", bad[i], e.msg);
    }
}

static void assert_format(uint64_t ns, const char *want)
{
    char out[32];
    parse_format_duration(ns, out, sizeof out);
    cr_assert_str_eq(out, want, "%llu ns", (unsigned long long)ns);
}

Test(parse, format_duration_picks_the_unit_by_magnitude)
{
    assert_format(0, "0ns");
    assert_format(999, "999ns");
    assert_format(1230000, "1.23ms");
    assert_format(999999, "1000.00us"); /* rounds inside its unit */
    assert_format(45 * NS_PER_US, "45.00us");
    assert_format(2 * NS_PER_S, "2.00s");
    assert_format(90 * NS_PER_S, "90.00s");
}

Test(parse, format_duration_truncates_to_capacity)
{
    char out[4];
    memset(out, 'Z', sizeof out);
    parse_format_duration(1230000, out, sizeof out);
    cr_assert_str_eq(out, "1.2");
}

Test(parse, formatted_durations_parse_back_close_to_the_value)
{
    static const uint64_t vals[] = {999, 45 * NS_PER_US, 1230000, 2 * NS_PER_S};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        char out[32];
        uint64_t back;
        err e = {0};
        parse_format_duration(vals[i], out, sizeof out);
        cr_assert_eq(parse_duration_ns(out, "x", &back, &e), 0, "'%s': %s", out, e.msg);
        cr_assert_eq(back, vals[i], "'%s'", out);
    }
}

Test(parse, cpu_lists_single_comma_and_ranges)
{
    uint16_t c[16];
    size_t n;
    err e = {0};
    cr_assert_eq(parse_cpu_list("0", "--cpus", c, 16, &n, 64, &e), 0, "%s", e.msg);
    cr_assert_eq(n, 1);
    cr_assert_eq(c[0], 0);
    cr_assert_eq(parse_cpu_list("3,0-2,7", "--cpus", c, 16, &n, 64, &e), 0, "%s", e.msg);
    cr_assert_eq(n, 5);
    uint16_t want[] = {3, 0, 1, 2, 7};
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(c[i], want[i]);
}

Test(parse, cpu_list_errors_name_the_flag)
{
    static const char *bad[] = {"", "a", "1,", ",1", "1-", "3-1", "1,1", "0-1,1", "64",
                                "1 2", "1-2-3", "-1", "99999999999999999999"};
    uint16_t c[16];
    size_t n;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err e = {0};
        cr_assert_neq(parse_cpu_list(bad[i], "--cpus", c, 16, &n, 64, &e), 0, "'%s'", bad[i]);
        cr_assert(strstr(e.msg, "--cpus"), "%s", e.msg);
    }
    err e = {0};
    cr_assert_neq(parse_cpu_list("0-20", "--cpus", c, 16, &n, 64, &e), 0); /* over cap */
}
