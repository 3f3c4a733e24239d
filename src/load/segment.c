/* segment: the division of a run into segments and workers (segment.h);
 * the engines' variables for --segment auto and --start-at's formats. */
#include "load/segment.h"

#include "load/executor.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t segment_share(uint64_t total, uint32_t n, uint32_t i)
{
    return total / n + (i < total % n);
}

/* The open model's division is executor_slice's (load/executor): one rule. */
uint64_t segment_first_iter(segment s, uint32_t nworkers, uint32_t worker)
{
    return executor_slice(s.k, s.n, worker, nworkers).first;
}

uint64_t segment_iter_stride(segment s, uint32_t nworkers)
{
    return executor_slice(s.k, s.n, 0, nworkers).stride;
}

uint32_t segment_worker_vus(segment s, uint32_t total, uint32_t nworkers, uint32_t worker)
{
    uint64_t mine = segment_share(total, s.n, s.k - 1);
    return (uint32_t)segment_share(mine, nworkers, worker);
}

uint32_t segment_vu_index(segment s, uint32_t nworkers, uint32_t worker, uint32_t j)
{
    uint64_t local = (uint64_t)worker + (uint64_t)j * nworkers; /* within the segment */
    return (uint32_t)((s.k - 1) + local * s.n);
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

uint64_t segment_worker_quota(segment s, uint64_t total, uint32_t vus, uint32_t nworkers,
                              uint32_t worker)
{
    /* Only segments and workers that got a VU can run iterations. */
    uint32_t segs = min_u32(vus, s.n);
    if (s.k - 1 >= segs)
        return 0;
    uint64_t seg_total = segment_share(total, segs, s.k - 1);
    uint32_t workers = min_u32((uint32_t)segment_share(vus, s.n, s.k - 1), nworkers);
    return worker < workers ? segment_share(seg_total, workers, worker) : 0;
}

static int env_u32(char *(*get)(const char *), const char *name, uint32_t *out, err *e)
{
    const char *v = get(name);
    char *end;
    errno = 0;
    unsigned long x = v && *v ? strtoul(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || x > 1000000 || !isdigit((unsigned char)*v))
        return err_set(e, VOLLEY_EINVAL, "--segment auto: %s is %s%s%s", name,
                       v ? "'" : "not set", v ? v : "", v ? "', not a number" : "");
    *out = (uint32_t)x;
    return 0;
}

static int from_env(char *(*get)(const char *), const char *idx, const char *cnt, segment *out,
                    err *e)
{
    uint32_t i, n;
    int rc = env_u32(get, idx, &i, e);
    if (rc || (rc = env_u32(get, cnt, &n, e)))
        return rc;
    if (n == 0 || i >= n)
        return err_set(e, VOLLEY_EINVAL, "--segment auto: %s=%u is not below %s=%u", idx, i,
                       cnt, n);
    *out = (segment){i + 1, n};
    return 0;
}

int segment_parse(const char *text, char *(*get)(const char *), segment *out, err *e)
{
    if (!strcmp(text, "auto")) {
        bool k8s = get("JOB_COMPLETION_INDEX") || get("VOLLEY_SEGMENTS");
        bool slurm = get("SLURM_PROCID") || get("SLURM_NTASKS");
        if (k8s && slurm)
            return err_set(e, VOLLEY_EINVAL, "--segment auto: both JOB_COMPLETION_INDEX/"
                           "VOLLEY_SEGMENTS and SLURM_PROCID/SLURM_NTASKS are set");
        if (k8s)
            return from_env(get, "JOB_COMPLETION_INDEX", "VOLLEY_SEGMENTS", out, e);
        if (slurm)
            return from_env(get, "SLURM_PROCID", "SLURM_NTASKS", out, e);
        return err_set(e, VOLLEY_EINVAL, "--segment auto: neither JOB_COMPLETION_INDEX with "
                       "VOLLEY_SEGMENTS (Kubernetes) nor SLURM_PROCID with SLURM_NTASKS "
                       "(Slurm) is set");
    }
    unsigned k, n;
    char extra;
    if (sscanf(text, "%u/%u%c", &k, &n, &extra) != 2 || n == 0 || k == 0 || k > n ||
        !isdigit((unsigned char)text[0]))
        return err_set(e, VOLLEY_EINVAL, "--segment: '%s' is not K/N with 1 <= K <= N, or auto",
                       text);
    *out = (segment){k, n};
    return 0;
}

/* Digits of a fraction ".123456789" as ns; returns the chars used. */
static size_t frac_ns(const char *s, uint64_t *ns)
{
    size_t i = 0;
    uint64_t v = 0, scale = 100000000;
    if (s[0] != '.')
        return 0;
    for (i = 1; isdigit((unsigned char)s[i]); i++, scale /= 10)
        if (scale)
            v += (uint64_t)(s[i] - '0') * scale;
    *ns = v;
    return i > 1 ? i : 0;
}

static int parse_unix(const char *s, uint64_t *out, err *e)
{
    char *end;
    errno = 0;
    unsigned long long sec = strtoull(s, &end, 10);
    uint64_t ns = 0;
    end += frac_ns(end, &ns);
    if (*end || errno || sec > 10000000000ULL)
        return err_set(e, VOLLEY_EINVAL, "--start-at: '%s' is not RFC 3339 or Unix seconds", s);
    *out = (uint64_t)sec * 1000000000ULL + ns;
    return 0;
}

int segment_parse_start_at(const char *s, uint64_t *out, err *e)
{
    if (!strchr(s, '-'))
        return parse_unix(s, out, e);
    struct tm tm = {0};
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2d%*[Tt ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 || n == 0)
        goto bad;
    uint64_t ns = 0;
    const char *p = s + n;
    p += frac_ns(p, &ns);
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1])) {
        int hh, mm, m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &m) != 2 || m != 5 || hh > 23 || mm > 59)
            goto bad;
        off = (*p == '-' ? -1 : 1) * (hh * 3600L + mm * 60L);
        p += 6;
    } else {
        goto bad;
    }
    if (*p || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1970)
        goto bad;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm) - off;
    if (t < 0)
        goto bad;
    *out = (uint64_t)t * 1000000000ULL + ns;
    return 0;
bad:
    return err_set(e, VOLLEY_EINVAL, "--start-at: '%s' is not RFC 3339 "
                   "(2026-12-02T04:00:00Z, with a zone) or Unix seconds", s);
}
