/* dash: the live web dashboard (--dashboard): the self-contained page
 * (inline CSS and script, no external fetch) and the JSON event it reads
 * from /events once a second. Served by output/httpd. */
#ifndef VOLLEY_DASH_H
#define VOLLEY_DASH_H

#include "core/buf.h"
#include "output/snap.h"

/* The page (src/output/page.html, compiled in by the Makefile). */
const char *dash_page(void);

/* Appends the event of s (one JSON object on one line) to out.
 * cpu_pct: generator CPU over the last second. Returns 0 or VOLLEY_ENOMEM. */
int dash_event(const snap *s, double cpu_pct, buf *out);

#endif
