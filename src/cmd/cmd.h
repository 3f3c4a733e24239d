/* cmd: one function per subcommand. Each takes the arguments after the
 * subcommand name (argv[0] is the subcommand) and returns the process exit
 * code: 0 success, 1 runtime failure, 2 bad usage or input, 99 thresholds
 * failed (as k6). Only cmd/ may exit or print to stdout directly. */
#ifndef VOLLEY_CMD_H
#define VOLLEY_CMD_H

#define EXIT_USAGE 2
#define EXIT_THRESHOLDS 99

int cmd_serve(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_merge(int argc, char **argv);

/* Shared by compare and run --baseline. */
#include "report/compare.h"
#include "results/results.h"
#include <stdbool.h>
#include <stdio.h>
typedef struct compare_opts {
    bool json;
    const char *html;
    cmp_gate gates[16];
    size_t ngates;
    FILE *out;
} compare_opts;
int compare_parse_gate(compare_opts *o, const char *arg);
int compare_and_report(const char *base_path, const char *new_path, const results *base,
                       const results *cur, const compare_opts *o);
int cmd_report(int argc, char **argv);

#endif
