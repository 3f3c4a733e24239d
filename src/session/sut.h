/* sut: the server under test around a run. --exec starts a command and
 * waits until a URL answers; --monitor-pid (or the --exec child) is sampled
 * for CPU and RSS while the load runs; both are stopped after it. */
#ifndef VOLLEY_SUT_H
#define VOLLEY_SUT_H

#include "core/err.h"
#include "monitor/proc.h"
#include "results/results.h"

#include <sys/types.h>

typedef struct sut {
    pid_t exec_pid;
    monitor *mon;
    const char *exec_cmd;
} sut;

/* Starts exec_cmd (if any) and waits for ready_url to answer (needed with
 * exec_cmd), then monitors monitor_pid or the child. */
int sut_start(sut *s, const char *exec_cmd, int monitor_pid, const char *ready_url, err *e);
/* The measured load starts now (after any warm-up). */
void sut_mark(sut *s);
/* Stops monitoring and the command; the samples go to r (may be NULL). */
void sut_stop(sut *s, results *r);

#endif
