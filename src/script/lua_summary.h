/* lua_summary: a script's handle_summary(data) (k6's handleSummary),
 * called after the run with the results as results.json has them; what it
 * returns ({ ["stdout"] = text, ["report.txt"] = text, ... }) is written. */
#ifndef VOLLEY_LUA_SUMMARY_H
#define VOLLEY_LUA_SUMMARY_H

#include "core/err.h"
#include "script/script.h"

#include <stdio.h>

/* Loads the script at path in a state of its own (no waiting calls),
 * calls handle_summary(data) with json decoded, writes each returned entry:
 * "stdout" to out, "stderr" to stderr, a relative path under dir (the
 * results directory; NULL: the current one), an absolute one as given.
 * text (borrowed, may be NULL) is volley's own summary, which the hook
 * replaces: the script gets it from text_summary() (k6's textSummary).
 * Errors name handle_summary and the entry. */
int lua_summary_run(const char *path, const script_opts *o, const char *json, const char *text,
                    const char *dir, FILE *out, err *e);

#endif
