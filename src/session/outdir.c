/* outdir: see outdir.h. mkdir without -p for the last part of a default
 * name is the exclusive step: EEXIST means another run took the name, so
 * the next suffix is tried. A test file proves the directory is writable
 * before the load, not after it. */
#include "session/outdir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int mkdir_parents(const char *dir, err *e)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp)
        return err_set(e, VOLLEY_EINVAL, "--out: path too long");
    for (char *q = tmp + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = 0;
        if (mkdir(tmp, 0777) && errno != EEXIST)
            return err_sys(e, "--out: cannot create '%s'", tmp);
        *q = '/';
    }
    return 0;
}

static int check_writable(const char *dir, err *e)
{
    struct stat st;
    if (stat(dir, &st))
        return err_sys(e, "--out: cannot use '%s'", dir);
    if (!S_ISDIR(st.st_mode))
        return err_set(e, VOLLEY_EINVAL, "--out: '%s' exists and is not a directory", dir);
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.volley-write-test-%d", dir, (int)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        err_sys(e, "--out: cannot write in '%s'", dir);
        e->code = VOLLEY_EINVAL;
        return VOLLEY_EINVAL;
    }
    close(fd);
    unlink(probe);
    return 0;
}

static void stamp(const outdir_name *n, char *out, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char ts[32], seg[32] = "";
    strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
    if (n && n->segment_n > 1)
        snprintf(seg, sizeof seg, "-seg%uof%u", n->segment_k, n->segment_n);
    snprintf(out, cap, "%s%s%s", n && n->prefix ? n->prefix : "", ts, seg);
}

static int make_default(const outdir_name *n, char *out, size_t cap, err *e)
{
    char base[512];
    stamp(n, base, sizeof base);
    const char *label = n && n->label ? n->label : "";
    int rc = mkdir_parents("volley-results/x", e);
    for (unsigned i = 1; !rc && i < 10000; i++) {
        char suffix[16] = "";
        if (i > 1)
            snprintf(suffix, sizeof suffix, "-%u", i);
        snprintf(out, cap, "volley-results/%s%s%s%s", base, label[0] ? "-" : "", label, suffix);
        if (mkdir(out, 0777) == 0)
            return 0;
        if (errno != EEXIST)
            return err_sys(e, "--out: cannot create '%s'", out);
    }
    return rc ? rc : err_set(e, VOLLEY_EINVAL, "--out: no free name for '%s'", base);
}

int outdir_prepare(const char *given, const outdir_name *n, char *out, size_t cap, err *e)
{
    int rc;
    if (!given) {
        rc = make_default(n, out, cap, e);
    } else {
        if (snprintf(out, cap, "%s", given) >= (int)cap)
            return err_set(e, VOLLEY_EINVAL, "--out: path too long");
        rc = mkdir_parents(out, e);
        if (!rc && mkdir(out, 0777) && errno != EEXIST)
            rc = err_sys(e, "--out: cannot create '%s'", out);
    }
    if (rc) {
        e->code = VOLLEY_EINVAL;
        return VOLLEY_EINVAL;
    }
    return check_writable(out, e);
}

void outdir_run_id(const outdir_name *n, char *out, size_t cap)
{
    unsigned char rnd[6] = {0};
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long x = (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 20);
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(x >> (i * 8));
    }
    outdir_name plain = n ? *n : (outdir_name){0};
    plain.prefix = NULL;
    char base[128];
    stamp(&plain, base, sizeof base);
    snprintf(out, cap, "%s-%02x%02x%02x%02x%02x%02x", base, rnd[0], rnd[1], rnd[2], rnd[3],
             rnd[4], rnd[5]);
}
