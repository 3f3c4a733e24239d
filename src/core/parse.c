/* parse: durations, sizes, integers (see parse.h). */
#include "core/parse.h"

#include "core/clock.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(err *e, const char *what, const char *s, const char *why)
{
    return err_set(e, VOLLEY_EINVAL, "%s: invalid value '%s': %s", what, s, why);
}

/* Reads a non-negative decimal number with optional fraction at *p. */
static int read_number(const char **p, double *out)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s) && !(*s == '.' && isdigit((unsigned char)s[1])))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return -1;
    /* strtod accepts exponents and hex; keep the grammar plain. */
    for (const char *q = s; q < end; q++)
        if (!isdigit((unsigned char)*q) && *q != '.')
            return -1;
    *p = end;
    *out = v;
    return 0;
}

int parse_duration_ns(const char *s, const char *what, uint64_t *out, err *e)
{
    if (!s || !*s)
        return bad(e, what, s ? s : "", "empty duration");
    const char *p = s;
    double total = 0;
    int parts = 0;
    while (*p) {
        double v;
        if (read_number(&p, &v))
            return bad(e, what, s, "expected a number like 500ms, 10s, 2m, 1h");
        double unit;
        if (!*p && parts == 0)
            unit = (double)NS_PER_S; /* bare number: seconds */
        else if (!strncmp(p, "ns", 2)) unit = 1, p += 2;
        else if (!strncmp(p, "us", 2)) unit = (double)NS_PER_US, p += 2;
        else if (!strncmp(p, "µs", strlen("µs"))) unit = (double)NS_PER_US, p += strlen("µs");
        else if (!strncmp(p, "ms", 2)) unit = (double)NS_PER_MS, p += 2;
        else if (*p == 's') unit = (double)NS_PER_S, p++;
        else if (*p == 'm') unit = 60.0 * NS_PER_S, p++;
        else if (*p == 'h') unit = 3600.0 * NS_PER_S, p++;
        else if (*p == 'd') unit = 86400.0 * NS_PER_S, p++;
        else
            return bad(e, what, s, "unknown unit (use ns, us, ms, s, m, h)");
        total += v * unit;
        parts++;
    }
    if (total > 1e18)
        return err_set(e, VOLLEY_ERANGE, "%s: duration '%s' is too long", what, s);
    *out = (uint64_t)llround(total);
    return 0;
}

int parse_size_bytes(const char *s, const char *what, uint64_t *out, err *e)
{
    if (!s || !*s)
        return bad(e, what, s ? s : "", "empty size");
    const char *p = s;
    double v;
    if (read_number(&p, &v))
        return bad(e, what, s, "expected a size like 512, 64k, 16MiB");
    double mul = 1;
    if (*p) {
        char c = (char)tolower((unsigned char)*p);
        if (c == 'b' && p[1] == 0) mul = 1;
        else if (c == 'k') mul = 1024.0;
        else if (c == 'm') mul = 1024.0 * 1024;
        else if (c == 'g') mul = 1024.0 * 1024 * 1024;
        else
            return bad(e, what, s, "unknown size unit (use k, M, G)");
        const char *rest = p + 1;
        if (c != 'b' && *rest && strcmp(rest, "b") && strcmp(rest, "B") && strcmp(rest, "iB") &&
            strcmp(rest, "ib"))
            return bad(e, what, s, "unknown size unit (use k, M, G)");
    }
    double total = v * mul;
    if (total > 1.8e19)
        return err_set(e, VOLLEY_ERANGE, "%s: size '%s' is too large", what, s);
    *out = (uint64_t)total;
    return 0;
}

int parse_u64(const char *s, const char *what, uint64_t min, uint64_t max, uint64_t *out,
              err *e)
{
    if (!s || !*s)
        return bad(e, what, s ? s : "", "expected a number");
    for (const char *q = s; *q; q++)
        if (!isdigit((unsigned char)*q))
            return bad(e, what, s, "expected a whole number");
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno || v < min || v > max)
        return err_set(e, VOLLEY_ERANGE, "%s: value '%s' out of range [%llu, %llu]", what, s,
                       (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return 0;
}

int parse_double(const char *s, const char *what, double *out, err *e)
{
    if (!s || !*s)
        return bad(e, what, s ? s : "", "expected a number");
    const char *p = s;
    double v;
    if (read_number(&p, &v) || *p)
        return bad(e, what, s, "expected a non-negative number");
    *out = v;
    return 0;
}

void parse_format_duration(uint64_t ns, char *out, unsigned long cap)
{
    double v = (double)ns;
    if (ns < NS_PER_US)
        snprintf(out, cap, "%lluns", (unsigned long long)ns);
    else if (ns < NS_PER_MS)
        snprintf(out, cap, "%.2fus", v / NS_PER_US);
    else if (ns < NS_PER_S)
        snprintf(out, cap, "%.2fms", v / NS_PER_MS);
    else
        snprintf(out, cap, "%.2fs", v / NS_PER_S);
}

static int add_cpu(unsigned long c, const char *what, uint16_t *out, size_t cap, size_t *n,
                   unsigned max_cpu, err *e)
{
    if (c >= max_cpu)
        return err_set(e, VOLLEY_EINVAL, "%s: CPU %lu is out of range (0-%u)", what, c,
                       max_cpu - 1);
    for (size_t i = 0; i < *n; i++)
        if (out[i] == c)
            return err_set(e, VOLLEY_EINVAL, "%s: CPU %lu is listed twice", what, c);
    if (*n == cap)
        return err_set(e, VOLLEY_EINVAL, "%s: more than %zu CPUs", what, cap);
    out[(*n)++] = (uint16_t)c;
    return 0;
}

int parse_cpu_list(const char *s, const char *what, uint16_t *out, size_t cap, size_t *n,
                   unsigned max_cpu, err *e)
{
    *n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        if (!isdigit((unsigned char)*p))
            return bad(e, what, s, "expected a CPU list like 0,2-3");
        unsigned long lo = strtoul(p, &end, 10), hi = lo;
        if (*end == '-') {
            if (!isdigit((unsigned char)end[1]))
                return bad(e, what, s, "expected a CPU list like 0,2-3");
            hi = strtoul(end + 1, &end, 10);
            if (hi < lo)
                return bad(e, what, s, "a range must go upwards");
            if (hi >= max_cpu) /* also keeps the loop below short */
                return add_cpu(hi, what, out, cap, n, max_cpu, e);
        }
        if (*end && *end != ',')
            return bad(e, what, s, "expected a CPU list like 0,2-3");
        for (unsigned long c = lo; c <= hi; c++) {
            int rc = add_cpu(c, what, out, cap, n, max_cpu, e);
            if (rc)
                return rc;
        }
        if (!*end)
            return 0;
        p = end + 1; /* after a comma: another item must follow */
    }
}
