/* flags: one table per subcommand describes its flags once; from it come
 * the getopt long options and short-option string, the --help text and
 * the README's flag table (Markdown), and which modes each flag applies to
 * (curl's tool_getparam style: one row per flag). */
#ifndef VOLLEY_FLAGS_H
#define VOLLEY_FLAGS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum { FLAG_URL = 1, FLAG_SCRIPT = 2, FLAG_BOTH = 3 };

typedef struct flag_def {
    int id;              /* getopt value: the short letter, or >= 256 */
    const char *name;    /* long name without "--" */
    char short_name;     /* 0: none */
    const char *arg;     /* value name ("N", "D"), NULL: no value */
    unsigned modes;      /* FLAG_URL | FLAG_SCRIPT */
    const char *section; /* --help heading; a new one starts a group */
    const char *help;    /* one sentence; '\n' breaks lines in --help */
    const char *script;  /* with a script: how it applies, or why refused */
} flag_def;

/* Fills opts (n + 1 entries, the last zero) and shorts ("c:r:...", cap). */
void flags_getopt(const flag_def *t, size_t n, struct option *opts, char *shorts, size_t cap);
const flag_def *flags_find(const flag_def *t, size_t n, int id);
/* "-c, --connections N" */
void flags_spec(const flag_def *f, char *out, size_t cap);
void flags_print_help(FILE *out, const flag_def *t, size_t n);
void flags_print_markdown(FILE *out, const flag_def *t, size_t n);

#endif
