/* parse: user-facing value parsers shared by flags, scripts and thresholds:
 * durations ("250ms", "1.5s", "2m", "1h30m"), sizes ("64k", "1MiB"), plain
 * integers and rates. Errors name the flag or field given as `what`. */
#ifndef VOLLEY_PARSE_H
#define VOLLEY_PARSE_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

/* Duration with units ns, us, ms, s, m, h; components may be chained
 * ("1m30s"); a bare number is seconds. Result in ns. */
int parse_duration_ns(const char *s, const char *what, uint64_t *out, err *e);

/* Size in bytes: bare number, or k/K/KB/KiB, m/M/MB/MiB, g/G/GB/GiB
 * (all powers of 1024). */
int parse_size_bytes(const char *s, const char *what, uint64_t *out, err *e);

/* Unsigned decimal integer in [min, max]. */
int parse_u64(const char *s, const char *what, uint64_t min, uint64_t max, uint64_t *out,
              err *e);

/* Non-negative decimal number (e.g. a rate "2500" or "0.5"). */
int parse_double(const char *s, const char *what, double *out, err *e);

/* A CPU list as taskset and cgroups write it: "0", "0,2", "0-3,6"; CPUs
 * below max_cpu, each once, in the order given (ranges ascending). Fills
 * out (cap entries) and *n. */
int parse_cpu_list(const char *s, const char *what, uint16_t *out, size_t cap, size_t *n,
                   unsigned max_cpu, err *e);

/* Formats ns as a short human duration ("1.23ms", "45us", "2.0s") into out. */
void parse_format_duration(uint64_t ns, char *out, unsigned long cap);

#endif
