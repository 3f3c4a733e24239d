/* sut: the server under test around a run. --exec starts a command (its
 * output into a log file) and waits until it is ready: a TCP connect to
 * the load's address, or --ready URL answering a GET; never the load's own
 * request, which would warm the server. --cold then times the load's first
 * request apart. --monitor-pid (or the --exec child) is sampled for CPU and
 * RSS while the load runs; both are stopped after it. */
#ifndef VOLLEY_SUT_H
#define VOLLEY_SUT_H

#include "core/buf.h"
#include "core/err.h"
#include "monitor/proc.h"
#include "net/addr.h"
#include "results/results.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SUT_EXEC_TIMEOUT_NS (15ull * 1000000000ull)

typedef struct sut_options {
    const char *exec_cmd;       /* NULL: no --exec */
    int monitor_pid;            /* 0: the --exec child, if any */
    const char *ready_url;      /* --ready: answers a GET (any status) */
    bool ready_connect_only;    /* --cold with a script: only a TCP connect to
                                   ready_url's address (no request warms it) */
    const addr *connect_addr;   /* else: accepts a TCP connection */
    uint64_t exec_timeout_ns;   /* for ready and --cold; 0: SUT_EXEC_TIMEOUT_NS */
    const char *log_path;       /* the child's stdout and stderr; NULL: below */
    bool quiet;                 /* without log_path: the output is dropped */
    const buf *cold_request;    /* --cold: the load's first request bytes */
    bool cold_head;             /* it is a HEAD request */
    struct tls_client_ctx *cold_tls; /* https target: the load's TLS context */
    const char *cold_sni;       /* and the URL's host name */
} sut_options;

typedef struct sut {
    pid_t exec_pid;
    monitor *mon;
    const char *exec_cmd;
    results_cold cold;
    uint64_t exec_ns;           /* monotonic time --exec started the command */
    double ready_ms;            /* exec to ready */
} sut;

/* Starts exec_cmd (if any), waits until it is ready, times the cold
 * request (--cold), then monitors monitor_pid or the child. */
int sut_start(sut *s, const sut_options *o, err *e);
/* The measured load starts now (after any warm-up). */
void sut_mark(sut *s);
/* Stops monitoring and the command; samples and cold figures go to r (may
 * be NULL). */
void sut_stop(sut *s, results *r);

#endif
