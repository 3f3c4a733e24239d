/* raw: requests.csv, one row per request in the order the engine hands
 * them over (--raw). Times are milliseconds with microseconds, from the
 * run's start; a row's error names the kind, empty when it succeeded. */
#include "session/session_parts.h"

#include "core/clock.h"
#include "load/worker.h"
#include "metrics/metrics.h"

#include <errno.h>
#include <string.h>

int session_raw_open(session_raw *w, const plan *p, const char *dir, err *e)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/requests.csv", dir);
    w->p = p;
    if (!(w->f = fopen(path, "w")))
        return err_sys(e, "--raw: cannot write '%s'", path);
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    fputs("offset_ms,step,endpoint,status,latency_ms,service_ms,ttfb_ms,bytes_in,bytes_out,error\n",
          w->f);
    return 0;
}

static void ms3(FILE *f, uint64_t ns)
{
    fprintf(f, "%llu.%03llu", (unsigned long long)(ns / NS_PER_MS),
            (unsigned long long)(ns % NS_PER_MS / NS_PER_US));
}

/* A name as an RFC 4180 field: quoted (quotes doubled) when it holds a
 * comma, a quote or a line break (a script's scenario may be named so). */
static void csv_name(FILE *f, const char *s)
{
    if (!s[strcspn(s, ",\"\r\n")]) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void session_raw_record(void *ctx, const worker_raw *r)
{
    session_raw *w = ctx;
    FILE *f = w->f;
    ms3(f, r->intended_ns);
    const char *name = w->p->neps ? w->p->eps[r->ep].name
                       : w->r && r->ep < w->r->neps ? w->r->eps[r->ep].name : "";
    fprintf(f, ",%u,", (unsigned)r->step);
    csv_name(f, name);
    fprintf(f, ",%u,", (unsigned)r->status);
    ms3(f, r->latency_ns);
    fputc(',', f);
    ms3(f, r->service_ns);
    fputc(',', f);
    ms3(f, r->ttfb_ns);
    fprintf(f, ",%llu,%llu,%s\n", (unsigned long long)r->bytes_in,
            (unsigned long long)r->bytes_out,
            r->err >= 0 ? metrics_err_kind_name((err_kind)r->err) : "");
    w->rows++;
}

int session_raw_close(session_raw *w, err *e)
{
    if (!w->f)
        return 0;
    int bad = ferror(w->f);
    int rc = fclose(w->f);
    w->f = NULL;
    if (bad || rc)
        return err_set(e, VOLLEY_ESYS, "--raw: error writing requests.csv: %s",
                       strerror(errno ? errno : EIO));
    return 0;
}
