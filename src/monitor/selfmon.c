/* selfmon: the generator's honesty. A sampling thread reads each worker
 * thread's CPU from /proc/self/task/TID/stat (as a share of one core since
 * the thread started, so one sample suffices), the process's CPU and RSS;
 * selfmon_judge adds send lag and the sent count and gives the verdict.
 * Reads /proc only: nothing on the request path changes (see proc.c). */
#include "monitor/selfmon.h"

#include "core/clock.h"
#include "metrics/hist.h"
#include "monitor/proc.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SAMPLE_NS (100 * NS_PER_MS)
#define MIN_AGE_S 0.3 /* younger threads: too little time to judge */

typedef struct thread_use {
    pid_t tid;
    double pct;      /* running or runnable */
    double wait_pct; /* runnable only: waiting for a CPU */
} thread_use;

struct selfmon {
    pthread_t th;
    atomic_bool stop;
    pid_t self_tid;
    thread_use th_use[RESULTS_GEN_MAX_THREADS];
    size_t nth;
    double cpu0_s, cpu_last_s, sec_cpu0_s;
    uint64_t rss_max;
    double *sec;
    size_t nsec, capsec;
};

/* The whole process: utime + stime (s) and RSS (bytes). */
static bool self_usage(double *cpu_s, uint64_t *rss)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    long rss_pages;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
                            "%*d %*d %*d %*u %*u %ld", &ut, &st, &rss_pages) != 3)
        return false;
    *cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    *rss = rss_pages > 0 ? (uint64_t)rss_pages * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
    return true;
}

static void note_thread(selfmon *m, pid_t tid, double pct, double wait_pct)
{
    for (size_t i = 0; i < m->nth; i++)
        if (m->th_use[i].tid == tid) {
            m->th_use[i].pct = pct;
            m->th_use[i].wait_pct = wait_pct;
            return;
        }
    if (m->nth < RESULTS_GEN_MAX_THREADS)
        m->th_use[m->nth++] = (thread_use){.tid = tid, .pct = pct, .wait_pct = wait_pct};
}

static void sample_threads(selfmon *m)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    pid_t main_tid = getpid();
    struct dirent *de;
    while ((de = readdir(d))) {
        pid_t tid = (pid_t)atoi(de->d_name);
        double cpu, wait, age;
        if (tid <= 0 || tid == main_tid || tid == m->self_tid)
            continue;
        /* Busy = running or runnable: on a shared host a saturated thread
         * gets less than a core but never sleeps. */
        if (proc_thread_usage(tid, &cpu, &wait, &age) && age >= MIN_AGE_S)
            note_thread(m, tid, 100.0 * (cpu + wait) / age, 100.0 * wait / age);
    }
    closedir(d);
}

static void sample_process(selfmon *m, bool second)
{
    double cpu;
    uint64_t rss;
    if (!self_usage(&cpu, &rss))
        return;
    m->cpu_last_s = cpu;
    if (rss > m->rss_max)
        m->rss_max = rss;
    if (!second)
        return;
    if (m->nsec == m->capsec) {
        size_t cap = m->capsec ? m->capsec * 2 : 64;
        double *s = realloc(m->sec, cap * sizeof *s);
        if (!s)
            return;
        m->sec = s, m->capsec = cap;
    }
    m->sec[m->nsec++] = 100.0 * (cpu - m->sec_cpu0_s);
    m->sec_cpu0_s = cpu;
}

static void *sampler(void *arg)
{
    selfmon *m = arg;
    m->self_tid = (pid_t)syscall(SYS_gettid);
    for (unsigned k = 1; !atomic_load(&m->stop); k++) {
        clock_sleep_ns(SAMPLE_NS);
        sample_threads(m);
        sample_process(m, k % 10 == 0);
    }
    return NULL;
}

selfmon *selfmon_start(err *e)
{
    selfmon *m = calloc(1, sizeof *m);
    if (!m) {
        err_set(e, VOLLEY_ENOMEM, "generator monitor: out of memory");
        return NULL;
    }
    uint64_t rss;
    self_usage(&m->cpu0_s, &rss);
    m->cpu_last_s = m->sec_cpu0_s = m->cpu0_s;
    m->rss_max = rss;
    if (pthread_create(&m->th, NULL, sampler, m)) {
        free(m);
        err_set(e, VOLLEY_EINVAL, "generator monitor: cannot start its thread");
        return NULL;
    }
    return m;
}

void selfmon_stop(selfmon *m, results_generator *out)
{
    if (!m)
        return;
    atomic_store(&m->stop, true);
    pthread_join(m->th, NULL);
    sample_process(m, false);
    out->measured = true;
    out->nthreads = (uint32_t)m->nth;
    out->cpu_max_pct = 0;
    out->wait_max_pct = 0;
    for (size_t i = 0; i < m->nth; i++) {
        out->thread_cpu_pct[i] = m->th_use[i].pct;
        if (m->th_use[i].pct > out->cpu_max_pct) {
            out->cpu_max_pct = m->th_use[i].pct;
            out->wait_max_pct = m->th_use[i].wait_pct;
        }
    }
    out->cpu_seconds = m->cpu_last_s - m->cpu0_s;
    out->rss_max_bytes = m->rss_max;
    free(out->sec_cpu_pct);
    out->sec_cpu_pct = m->sec;
    out->nsec = m->nsec;
    free(m);
}

/* Appends one reason to the verdict. */
static void because(results_generator *g, const char *reason)
{
    size_t n = strlen(g->why);
    snprintf(g->why + n, sizeof g->why - n, "%s%s", n ? "; " : "", reason);
}

void selfmon_judge(results *r)
{
    results_generator *g = &r->generator;
    const metrics_totals *t = &r->st.tot;
    bool open = strstr(r->plan.executor, "arrival") != NULL;
    g->behind = false;
    g->why[0] = g->note[0] = 0;
    if (open) {
        g->lag_p50_ns = hist_percentile(r->st.send_lag, 50);
        g->lag_p90_ns = hist_percentile(r->st.send_lag, 90);
        g->lag_p99_ns = hist_percentile(r->st.send_lag, 99);
        g->lag_mean_ns = hist_mean(r->st.send_lag);
    }
    if (r->plan.rate_per_s > 0 && !r->nsteps) {
        /* A segment runs its share of the plan's rate. */
        g->target_rps = r->plan.rate_per_s / (r->segment_n ? r->segment_n : 1);
        double sched = g->target_rps * (double)r->plan.duration_ns / NS_PER_S;
        g->sent_share = sched > 0 ? (double)(t->requests + t->dropped) / sched : 0;
    }
    char why[160];
    /* Saturated with a schedule to keep (open model): it fell behind. In the
     * closed model volley sends as fast as answers come, so a busy thread is
     * how such a run is meant to look; it is worth a note, not a verdict. */
    /* Busy mostly waiting for a CPU the host gave to other processes: not
     * volley's own limit (more threads would not help); a verdict only if
     * the sends were late, which the rule below judges. */
    bool host = g->measured && 2 * g->wait_max_pct > g->cpu_max_pct;
    /* ...unless the schedule was not kept: a thread that always wanted to
     * run while iterations were dropped was the limit on the CPU it got
     * (an idle thread would have sent them), host or not. */
    bool saturated = g->measured && g->cpu_max_pct >= SELFMON_SATURATED_PCT && open;
    if (saturated && host && t->dropped) {
        snprintf(why, sizeof why, "a worker thread was busy %.0f%% of the time (%.0f%% of it "
                 "waiting for a CPU) while %llu iterations were dropped", g->cpu_max_pct,
                 g->wait_max_pct, (unsigned long long)t->dropped);
        because(g, why);
    } else if (saturated && host) {
        snprintf(g->note, sizeof g->note, "a worker thread was busy %.0f%% of the time, %.0f%% "
                 "of it waiting for a CPU that other processes had: the host, not volley, "
                 "was short", g->cpu_max_pct, g->wait_max_pct);
    } else if (g->measured && g->cpu_max_pct >= SELFMON_SATURATED_PCT && open) {
        snprintf(why, sizeof why, "a worker thread was busy %.0f%% of the time (saturated)",
                 g->cpu_max_pct);
        because(g, why);
    } else if (g->measured && g->cpu_max_pct >= SELFMON_SATURATED_PCT) {
        snprintf(g->note, sizeof g->note, "a worker thread was busy %.0f%% of the time: in the "
                 "closed model volley sends as fast as answers come, so requests/s may be "
                 "volley's limit rather than the server's (try -t or more machines to see)",
                 g->cpu_max_pct);
    }
    /* Waiting for a connection is the server's doing when the pool ran out
     * (then iterations are dropped); late sends with none dropped are ours. */
    bool late = open && !t->dropped && g->lag_p50_ns > SELFMON_LAG_P50_NS;
    /* Late while its threads mostly slept: the host held the whole process
     * back (other processes' CPU), which more threads would not fix. */
    bool idle = g->measured && g->cpu_max_pct < SELFMON_LATE_BUSY_PCT;
    if (late && !idle) {
        snprintf(why, sizeof why, "the median request left %.1f ms after its scheduled time "
                 "(p99 %.1f ms)", (double)g->lag_p50_ns / NS_PER_MS,
                 (double)g->lag_p99_ns / NS_PER_MS);
        because(g, why);
    } else if (late) {
        snprintf(g->note, sizeof g->note, "sends were late (median %.1f ms) while volley's "
                 "threads were mostly idle: the host delayed the whole process (CPU taken by "
                 "other processes); latencies include that delay",
                 (double)g->lag_p50_ns / NS_PER_MS);
    }
    if (g->target_rps > 0 && !t->dropped && !t->errors && !r->interrupted &&
        g->sent_share < SELFMON_SENT_SHARE) {
        snprintf(why, sizeof why, "it sent %.1f%% of the %.0f requests scheduled",
                 100 * g->sent_share, g->target_rps * (double)r->plan.duration_ns / NS_PER_S);
        because(g, why);
    }
    g->behind = g->why[0] != 0;
}
