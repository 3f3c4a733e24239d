/* proc: the server under test, seen from /proc. Samples CPU time and RSS of
 * a process and all its descendants on a thread of its own every interval
 * (--monitor-pid), and starts and stops a server for the run (--exec). */
#ifndef VOLLEY_PROC_H
#define VOLLEY_PROC_H

#include "core/err.h"
#include "results/results.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct monitor monitor;

/* Starts sampling pid (and its descendants) every interval_s. Fails when
 * the process does not exist. */
monitor *monitor_start(pid_t pid, double interval_s, err *e);
/* From now on: t = 0 and the CPU baseline (called when measured load starts). */
void monitor_mark(monitor *m);
/* Stops sampling and stores the samples and totals in out (owned by out). */
void monitor_stop(monitor *m, results_monitor *out);

/* CPU seconds (user + sys, including reaped children) and RSS bytes of pid
 * and its live descendants right now. Returns false if pid is gone. */
bool proc_usage(pid_t pid, double *cpu_s, uint64_t *rss_bytes);

/* One thread of this process: CPU seconds it used (user + sys), seconds it
 * waited runnable for a CPU (schedstat; 0 if the kernel has none) and how
 * long ago it started (/proc/self/task/TID/). False if it is gone. */
bool proc_thread_usage(pid_t tid, double *cpu_s, double *wait_s, double *age_s);

/* Runs `/bin/sh -c cmd` in a new process group, its stdout and stderr into
 * log_path (created or truncated), else /dev/null when quiet, else volley's
 * stderr. */
pid_t proc_spawn(const char *cmd, const char *log_path, bool quiet, err *e);
/* Stops the group of a spawned process: SIGTERM, then SIGKILL after
 * grace_ms; reaps it. Returns its exit status as from waitpid, or -1. */
int proc_stop(pid_t pid, unsigned grace_ms);
/* True while pid has not exited (reaps it if it has). */
bool proc_alive(pid_t pid);

#endif
