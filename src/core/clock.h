/* clock: monotonic time in nanoseconds for measuring, wall time for outputs.
 * Decision 2 of ARCHITECTURE.md: every measurement uses CLOCK_MONOTONIC. */
#ifndef VOLLEY_CLOCK_H
#define VOLLEY_CLOCK_H

#include <stdint.h>

#define NS_PER_US 1000ULL
#define NS_PER_MS 1000000ULL
#define NS_PER_S 1000000000ULL

/* CLOCK_MONOTONIC in ns. */
uint64_t clock_now_ns(void);

/* CLOCK_REALTIME in ns since the epoch (for outputs only). */
uint64_t clock_wall_ns(void);

/* Formats a wall time as RFC 3339 UTC with milliseconds into out (>= 32 bytes). */
void clock_format_rfc3339(uint64_t wall_ns, char *out, unsigned long cap);

/* Sleeps ns (restarting on EINTR); only for the main thread's pacing. */
void clock_sleep_ns(uint64_t ns);

#endif
