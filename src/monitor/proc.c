/* proc: /proc sampling of the server under test and --exec (see proc.h).
 * Descendants are found by walking /proc/<pid>/stat parent links once per
 * sample, so a server started through `sh -c` or that forks workers
 * (nginx, gunicorn) is measured whole. */
#include "monitor/proc.h"

#include "core/clock.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Reads ppid, utime+stime+cutime+cstime (ticks) of one process. */
static bool read_stat(pid_t pid, pid_t *ppid, uint64_t *ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* comm may contain spaces and parentheses: parse after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    char state;
    int pp;
    unsigned long long ut, st;
    long long cut, cst;
    if (sscanf(p + 2,
               "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
               &state, &pp, &ut, &st, &cut, &cst) != 6)
        return false;
    *ppid = pp;
    *ticks = ut + st + (uint64_t)(cut > 0 ? cut : 0) + (uint64_t)(cst > 0 ? cst : 0);
    return true;
}

static uint64_t read_rss(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    unsigned long long size, resident;
    int ok = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    return ok == 2 ? resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* Seconds since boot, the clock of a thread's starttime. */
static double uptime_s(void)
{
    FILE *f = fopen("/proc/uptime", "r");
    double up = 0;
    if (f) {
        if (fscanf(f, "%lf", &up) != 1)
            up = 0;
        fclose(f);
    }
    return up;
}

/* Nanoseconds tid waited on a run queue (field 2 of schedstat). */
static double thread_wait_s(pid_t tid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)tid);
    FILE *f = fopen(path, "r");
    unsigned long long run, wait;
    int ok = f ? fscanf(f, "%llu %llu", &run, &wait) : 0;
    if (f)
        fclose(f);
    return ok == 2 ? (double)wait / 1e9 : 0;
}

bool proc_thread_usage(pid_t tid, double *cpu_s, double *wait_s, double *age_s)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long long ut, st, start;
    /* Fields 14, 15 (utime, stime) and 22 (starttime), counted from 1. */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
                            "%*d %*d %*d %llu", &ut, &st, &start) != 3)
        return false;
    double hz = (double)sysconf(_SC_CLK_TCK);
    *cpu_s = (double)(ut + st) / hz;
    *age_s = uptime_s() - (double)start / hz;
    *wait_s = thread_wait_s(tid);
    return true;
}

bool proc_usage(pid_t root, double *cpu_s, uint64_t *rss_bytes)
{
    pid_t pp;
    uint64_t ticks;
    if (!read_stat(root, &pp, &ticks))
        return false;
    /* Collect every process with its parent, then add root's descendants. */
    size_t n = 0, cap = 256;
    struct { pid_t pid, ppid; uint64_t ticks; } *all = malloc(cap * sizeof *all);
    DIR *d = opendir("/proc");
    if (!all || !d) {
        free(all);
        if (d)
            closedir(d);
        *cpu_s = (double)ticks / (double)sysconf(_SC_CLK_TCK);
        *rss_bytes = read_rss(root);
        return true;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(de->d_name);
        pid_t ppid;
        uint64_t t;
        if (!read_stat(pid, &ppid, &t))
            continue;
        if (n == cap) {
            void *q = realloc(all, (cap *= 2) * sizeof *all);
            if (!q)
                break;
            all = q;
        }
        all[n].pid = pid;
        all[n].ppid = ppid;
        all[n].ticks = t;
        n++;
    }
    closedir(d);
    uint64_t total_ticks = ticks, rss = read_rss(root);
    /* Breadth-first over the parent links, marking by a small set. */
    pid_t *q = malloc((n + 1) * sizeof *q);
    size_t qh = 0, qt = 0;
    if (q) {
        q[qt++] = root;
        while (qh < qt) {
            pid_t cur = q[qh++];
            for (size_t i = 0; i < n; i++)
                if (all[i].ppid == cur && all[i].pid != root && qt <= n) {
                    q[qt++] = all[i].pid;
                    total_ticks += all[i].ticks;
                    rss += read_rss(all[i].pid);
                }
        }
    }
    free(q);
    free(all);
    *cpu_s = (double)total_ticks / (double)sysconf(_SC_CLK_TCK);
    *rss_bytes = rss;
    return true;
}

struct monitor {
    pid_t pid;
    double interval_s;
    pthread_t th;
    atomic_bool stop;
    pthread_mutex_t mu;
    uint64_t t0_ns;
    double cpu0, last_cpu;
    uint64_t last_ns;
    results_monitor out;
};

static void *sampler(void *arg)
{
    monitor *m = arg;
    uint64_t step = (uint64_t)(m->interval_s * NS_PER_S);
    uint64_t next = clock_now_ns() + step;
    while (!atomic_load(&m->stop)) {
        uint64_t now = clock_now_ns();
        if (now < next) {
            clock_sleep_ns(next - now > 20 * NS_PER_MS ? 20 * NS_PER_MS : next - now);
            continue;
        }
        next += step;
        double cpu;
        uint64_t rss;
        if (!proc_usage(m->pid, &cpu, &rss))
            continue; /* gone (or restarting): keep what we have */
        pthread_mutex_lock(&m->mu);
        double dt = (double)(now - m->last_ns) / NS_PER_S;
        monitor_sample s = {
            .t_s = (double)((int64_t)now - (int64_t)m->t0_ns) / NS_PER_S,
            .cpu_pct = dt > 0 ? (cpu - m->last_cpu) / dt * 100.0 : 0,
            .rss_bytes = rss,
        };
        m->last_cpu = cpu;
        m->last_ns = now;
        results_monitor_add(&m->out, &s);
        pthread_mutex_unlock(&m->mu);
    }
    return NULL;
}

monitor *monitor_start(pid_t pid, double interval_s, err *e)
{
    double cpu;
    uint64_t rss;
    if (!proc_usage(pid, &cpu, &rss)) {
        err_set(e, VOLLEY_EINVAL, "--monitor-pid: no process %d", (int)pid);
        return NULL;
    }
    monitor *m = calloc(1, sizeof *m);
    if (!m) {
        err_set(e, VOLLEY_ENOMEM, "monitor: out of memory");
        return NULL;
    }
    m->pid = pid;
    m->interval_s = interval_s;
    m->t0_ns = m->last_ns = clock_now_ns();
    m->cpu0 = m->last_cpu = cpu;
    pthread_mutex_init(&m->mu, NULL);
    atomic_init(&m->stop, false);
    m->out.pid = pid;
    m->out.interval_s = interval_s;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(m->out.command, sizeof m->out.command, f))
            m->out.command[strcspn(m->out.command, "\n")] = 0;
        fclose(f);
    }
    int rc = pthread_create(&m->th, NULL, sampler, m);
    if (rc) {
        errno = rc;
        err_sys(e, "monitor: cannot start thread");
        pthread_mutex_destroy(&m->mu);
        free(m);
        return NULL;
    }
    return m;
}

void monitor_mark(monitor *m)
{
    if (!m)
        return;
    double cpu;
    uint64_t rss;
    pthread_mutex_lock(&m->mu);
    m->t0_ns = clock_now_ns();
    bool alive = proc_usage(m->pid, &cpu, &rss);
    if (alive) {
        m->cpu0 = m->last_cpu = cpu;
        m->last_ns = m->t0_ns;
    }
    /* Samples taken before the measured load (warm-up, start-up) are dropped;
     * the peak RSS starts from the RSS now. */
    m->out.nsamples = 0;
    m->out.rss_max_bytes = alive ? rss : 0;
    pthread_mutex_unlock(&m->mu);
}

void monitor_stop(monitor *m, results_monitor *out)
{
    if (!m)
        return;
    atomic_store(&m->stop, true);
    pthread_join(m->th, NULL);
    double cpu;
    uint64_t rss;
    if (proc_usage(m->pid, &cpu, &rss)) {
        m->last_cpu = cpu;
        /* A load shorter than the interval has no sample: its peak RSS is
         * at least the RSS at the start (monitor_mark) and at the end. */
        if (rss > m->out.rss_max_bytes)
            m->out.rss_max_bytes = rss;
    }
    m->out.cpu_seconds = m->last_cpu - m->cpu0;
    char command[256];
    snprintf(command, sizeof command, "%s", out->command[0] ? out->command : m->out.command);
    *out = m->out;
    snprintf(out->command, sizeof out->command, "%s", command);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* Where the child's stdout and stderr go: the log file, /dev/null (quiet)
 * or stderr (stdout is volley's: --json). -1 on error. */
static int output_fd(const char *log_path, bool quiet, err *e)
{
    if (!log_path && !quiet)
        return dup(STDERR_FILENO);
    const char *path = log_path ? log_path : "/dev/null";
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        err_sys(e, "--exec: cannot open '%s' for the command's output", path);
    return fd;
}

pid_t proc_spawn(const char *cmd, const char *log_path, bool quiet, err *e)
{
    int out = output_fd(log_path, quiet, e);
    if (out < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(out);
        err_sys(e, "--exec: fork");
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGPIPE, SIG_DFL);
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(out);
    setpgid(pid, pid); /* also here: no race with the child's own call */
    return pid;
}

bool proc_alive(pid_t pid)
{
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    return r == 0;
}

/* True while a process of group pgid runs (zombies do not count: they hold
 * no sockets, and an init that never reaps would keep them forever). */
static bool group_running(pid_t pgid)
{
    DIR *d = opendir("/proc");
    if (!d)
        return false;
    bool running = false;
    struct dirent *de;
    while (!running && (de = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        char path[64], buf[512], state = 0;
        int pg = 0;
        snprintf(path, sizeof path, "/proc/%d/stat", atoi(de->d_name));
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        running = p && sscanf(p + 2, "%c %*d %d", &state, &pg) == 2 && pg == pgid &&
                  state != 'Z' && state != 'X';
    }
    closedir(d);
    return running;
}

/* SIGKILL to what is left of the group, and wait (up to 1 s) until none of
 * it runs: kill() returns before a process has died, and a server that still
 * holds its port after the run would answer the next one. */
static void kill_group(pid_t pid)
{
    if (kill(-pid, SIGKILL) != 0)
        return;
    for (int i = 0; i < 100 && group_running(pid); i++)
        clock_sleep_ns(10 * NS_PER_MS);
}

int proc_stop(pid_t pid, unsigned grace_ms)
{
    int st = -1;
    if (waitpid(pid, &st, WNOHANG) == pid) {
        kill_group(pid); /* the shell is gone; its children may not be */
        return st;
    }
    kill(-pid, SIGTERM);
    for (unsigned waited = 0; waited < grace_ms; waited += 20) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            kill_group(pid); /* stragglers of the group */
            return st;
        }
        clock_sleep_ns(20 * NS_PER_MS);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, &st, 0);
    kill_group(pid);
    return st;
}
