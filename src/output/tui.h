/* tui: the live terminal view (--tui, oha-style) on the alternate screen:
 * progress bar, req/s sparkline, latency histogram, counts and failures.
 * Drawn from the engine's progress (4 times a second) and the snapshot,
 * fitted to the terminal's size (followed on SIGWINCH); stderr is held
 * while the view is up; tui_stop (also run at exit) gives the terminal
 * back as it was and prints what stderr got meanwhile. */
#ifndef VOLLEY_TUI_H
#define VOLLEY_TUI_H

#include "core/err.h"
#include "load/engine.h"
#include "output/snap.h"

#include <stdio.h>

typedef struct tui tui;

/* Fails (VOLLEY_EINVAL) unless f is a terminal. The alternate screen is
 * entered at the first draw. */
tui *tui_start(FILE *f, err *e);
/* Records a second's req/s for the sparkline. */
void tui_second(tui *t, const series_row *row);
void tui_draw(tui *t, const engine_progress *pr, const snap *s);
/* Leaves the alternate screen and shows the cursor; frees t. NULL: no-op. */
void tui_stop(tui *t);

#endif
