/* selfmon: volley watching itself - generator honesty. A thread samples
 * every worker thread's CPU (/proc/self/task), the process's CPU and RSS
 * while the load runs; selfmon_judge then reads those with the send lag and
 * the sent count and says whether the generator fell behind (docs/capacity.md). */
#ifndef VOLLEY_SELFMON_H
#define VOLLEY_SELFMON_H

#include "core/err.h"
#include "results/results.h"

typedef struct selfmon selfmon;

/* A worker thread running or runnable (waiting for a CPU) this share of its
 * life or more was saturated: an unsaturated one sleeps between events. */
#define SELFMON_SATURATED_PCT 80.0
/* The median request sent later than this after its scheduled time: the
 * generator did not keep the schedule. */
#define SELFMON_LAG_P50_NS (10 * 1000 * 1000ull)
/* ... counted against the generator only when its busiest thread was busy
 * at least this share of the time; else it is a note about the host. */
#define SELFMON_LATE_BUSY_PCT 50.0
/* Fewer requests sent than this share of the schedule, with nothing dropped
 * and no errors (the server was not the cause): behind. */
#define SELFMON_SENT_SHARE 0.99

/* Starts sampling on a thread of its own (every 100 ms). */
selfmon *selfmon_start(err *e);

/* Stops, joins and stores what it saw in out (sec_cpu_pct owned by out).
 * NULL is a no-op. */
void selfmon_stop(selfmon *m, results_generator *out);

/* Fills r->generator's lag, target and verdict from r (after selfmon_stop,
 * or alone without CPU figures). */
void selfmon_judge(results *r);

#endif
